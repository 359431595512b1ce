#include "tools/bench_norms.hpp"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <map>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/timer.hpp"
#include "norm/registry.hpp"

namespace normlab::tools {

namespace {

template <class Fn>
double median_seconds(int repeats, Fn&& fn) {
  fn();  // warm-up: first touch of the pages, instruction cache
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    Timer t;
    fn();
    times.push_back(t.seconds());
  }
  return median(std::move(times));
}

}  // namespace

void bench_norms(std::ostream& out, const BenchNormsOptions& o) {
  std::vector<std::string> kinds = o.kinds.empty() ? norm::kind_names() : o.kinds;
  for (const auto& k : kinds) norm::kind_info(k);  // unknown names fail before any work
  if (o.repeats < 1) fail("--repeats must be at least 1");
  const std::size_t N = std::size_t(o.mib * 1024 * 1024 / sizeof(float));

  std::vector<float> x(N), y(N), dy(N), dx(N);
  Rng rng(1);
  fill_normal(std::span<float>(x), rng, 0.5, 2.0);
  fill_normal(std::span<float>(dy), rng);

  out << "# normlab bench norms: float32, one thread, " << o.mib << " MiB per (B, D) tensor, median of "
      << o.repeats << " runs\n"
      << "# GB/s counts the bytes a kernel must move: forward reads x, writes y (2 tensors);\n"
      << "# forward+backward also reads dy and x, writes dx (5 tensors). memcpy moves 2.\n";
  out << std::fixed;
  std::map<std::pair<std::string, std::size_t>, std::pair<double, double>> seconds;
  for (std::size_t D : o.dims) {
    const std::size_t B = N / D, n = B * D;
    const double tensor_gb = double(n) * sizeof(float) / 1e9;
    double copy = median_seconds(o.repeats, [&] { std::memcpy(y.data(), x.data(), n * sizeof(float)); });
    out << "\nD = " << D << ", B = " << B << ": memcpy " << std::setprecision(1)
        << 2 * tensor_gb / copy << " GB/s\n";
    out << "  kind          fwd GB/s  %memcpy   fwd+bwd GB/s  %memcpy\n";
    for (const auto& kind : kinds) {
      auto normalizer = norm::make_normalizer(kind);
      auto specs = normalizer->param_specs(D);
      std::vector<float> params = norm::initial_params<float>(specs);
      std::vector<float> grads(params.size());
      auto p = norm::bind_params<const float>(specs, std::span<const float>(params));
      auto g = norm::bind_params<float>(specs, std::span<float>(grads));
      std::span<const float> xs(x.data(), n), dys(dy.data(), n);
      std::span<float> ys(y.data(), n), dxs(dx.data(), n);
      norm::NormCache cache;
      double fwd = median_seconds(o.repeats, [&] { normalizer->forward(ys, cache, xs, p, B, D); });
      double both = median_seconds(o.repeats, [&] {
        normalizer->forward(ys, cache, xs, p, B, D);
        normalizer->backward(dxs, g, cache, dys, xs, p, B, D);
      });
      seconds[{kind, D}] = {fwd, both};
      out << "  " << std::left << std::setw(12) << kind << std::right << std::setprecision(1)
          << std::setw(10) << 2 * tensor_gb / fwd << std::setw(8) << 100 * copy / fwd << "%"
          << std::setw(15) << 5 * tensor_gb / both << std::setw(8) << 100 * (2.5 * copy) / both
          << "%\n";
    }
  }
  if (std::count(kinds.begin(), kinds.end(), "layernorm") &&
      std::count(kinds.begin(), kinds.end(), "rmsnorm")) {
    out << "\nLayerNorm / RMSNorm time ratio (> 1: RMSNorm faster)\n  D       fwd   fwd+bwd\n";
    for (std::size_t D : o.dims) {
      auto ln = seconds[{"layernorm", D}], rms = seconds[{"rmsnorm", D}];
      out << "  " << std::left << std::setw(6) << D << std::right << std::setprecision(2)
          << std::setw(6) << ln.first / rms.first << std::setw(10) << ln.second / rms.second
          << "\n";
    }
  }
}

}  // namespace normlab::tools
