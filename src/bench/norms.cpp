#include "bench/norms.hpp"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <memory>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/timer.hpp"
#include "norm/registry.hpp"

namespace normlab::tools {

namespace {

// Seconds per call of fn, timed over enough calls to last about a millisecond (an in-cache call
// takes microseconds, below what one clock reading resolves well).
template <class Fn>
double seconds_per_call(Fn&& fn) {
  Timer once;
  fn();
  const double first = once.seconds();
  const int calls = int(std::clamp(1e-3 / std::max(first, 1e-9), 1.0, 10000.0));
  Timer t;
  for (int c = 0; c < calls; ++c) fn();
  return t.seconds() / calls;
}

// One normalizer with its parameters, gradients and cache, ready to run on (B, D).
struct Subject {
  std::string kind;
  std::unique_ptr<norm::Normalizer> normalizer;
  std::vector<float> params, grads;
  norm::NormParams<const float> p;
  norm::NormParams<float> g;
  norm::NormCache cache;
  std::vector<double> fwd, both;  // seconds per call, one per round
};

// One table: every kind at every D over tensors of `bytes` each. Each round times memcpy, then
// every kind's forward and forward+backward, so a busy machine slows all of a round alike and
// the per-round ratios stay meaningful; the figures are medians over rounds.
void bench_regime(std::ostream& out, const std::vector<std::string>& kinds,
                  const std::vector<std::size_t>& dims, double bytes, int repeats) {
  const std::size_t N = std::size_t(bytes / sizeof(float));
  std::vector<float> x(N), y(N), dy(N), dx(N);  // value-initialised: every page touched
  Rng rng(1);
  fill_normal(std::span<float>(x), rng, 0.5, 2.0);
  fill_normal(std::span<float>(dy), rng);

  std::vector<std::pair<std::size_t, std::pair<double, double>>> ln_over_rms;
  for (std::size_t D : dims) {
    const std::size_t B = N / D, n = B * D;
    if (B == 0) fail("bench norms: D = ", D, " does not fit one row in ", bytes, " bytes");
    std::span<const float> xs(x.data(), n), dys(dy.data(), n);
    std::span<float> ys(y.data(), n), dxs(dx.data(), n);
    std::vector<Subject> subjects;
    for (const auto& kind : kinds) {
      Subject s{kind, norm::make_normalizer(kind), {}, {}, {}, {}, {}, {}, {}};
      auto specs = s.normalizer->param_specs(D);
      s.params = norm::initial_params<float>(specs);
      s.grads.assign(s.params.size(), 0.0f);
      s.p = norm::bind_params<const float>(specs, std::span<const float>(s.params));
      s.g = norm::bind_params<float>(specs, std::span<float>(s.grads));
      subjects.push_back(std::move(s));
    }
    const std::size_t tensor_bytes = n * sizeof(float);
    const double gb = double(tensor_bytes) / 1e9;
    std::vector<double> copy;
    for (int r = 0; r < repeats; ++r) {
      copy.push_back(seconds_per_call([&] { std::memcpy(ys.data(), xs.data(), tensor_bytes); }));
      for (auto& s : subjects) {
        auto& nz = *s.normalizer;
        s.fwd.push_back(seconds_per_call([&] { nz.forward(ys, s.cache, xs, s.p, B, D); }));
        s.both.push_back(seconds_per_call([&] {
          nz.forward(ys, s.cache, xs, s.p, B, D);
          nz.backward(dxs, s.g, s.cache, dys, xs, s.p, B, D);
        }));
      }
    }
    // Median over rounds of a per-round quantity.
    auto median_of = [&](auto&& per_round) {
      std::vector<double> v;
      for (int r = 0; r < repeats; ++r) v.push_back(per_round(std::size_t(r)));
      return median(std::move(v));
    };
    out << "\nD = " << D << ", B = " << B << ": memcpy " << std::setprecision(1)
        << 2 * gb / median(copy) << " GB/s\n"
        << "  kind          fwd GB/s  %memcpy   fwd+bwd GB/s  %memcpy\n";
    const Subject *ln = nullptr, *rms = nullptr;
    for (const auto& s : subjects) {
      if (s.kind == "layernorm") ln = &s;
      if (s.kind == "rmsnorm") rms = &s;
      out << "  " << std::left << std::setw(12) << s.kind << std::right << std::setprecision(1)
          << std::setw(10) << 2 * gb / median(s.fwd) << std::setw(8)
          << 100 * median_of([&](std::size_t r) { return copy[r] / s.fwd[r]; }) << "%"
          << std::setw(15) << 5 * gb / median(s.both) << std::setw(8)
          << 100 * median_of([&](std::size_t r) { return 2.5 * copy[r] / s.both[r]; }) << "%\n";
    }
    if (ln && rms) {
      ln_over_rms.push_back(
          {D,
           {median_of([&](std::size_t r) { return ln->fwd[r] / rms->fwd[r]; }),
            median_of([&](std::size_t r) { return ln->both[r] / rms->both[r]; })}});
    }
  }
  if (!ln_over_rms.empty()) {
    out << "\nLayerNorm / RMSNorm time ratio (> 1: RMSNorm faster; median of per-round ratios)\n"
        << "  D       fwd   fwd+bwd\n";
    for (const auto& [D, r] : ln_over_rms) {
      out << "  " << std::left << std::setw(6) << D << std::right << std::setprecision(2)
          << std::setw(6) << r.first << std::setw(10) << r.second << "\n";
    }
  }
}

}  // namespace

void bench_norms(std::ostream& out, const BenchNormsOptions& o) {
  std::vector<std::string> kinds = o.kinds.empty() ? norm::kind_names() : o.kinds;
  for (const auto& k : kinds) norm::kind_info(k);  // unknown names fail before any work
  if (o.repeats < 1) fail("--repeats must be at least 1");
  if (!(o.mib > 0)) fail("--mib must be > 0");

  out << std::fixed << std::setprecision(0)
      << "# normlab bench norms: float32, one thread, median of " << o.repeats
      << " rounds (each round: memcpy, then every kind)\n"
      << "# GB/s counts the tensors a kernel must move: forward reads x, writes y (2);\n"
      << "# forward+backward also reads dy and x, writes dx (5). memcpy moves 2. Stores to lines\n"
      << "# not in cache read them first, memcpy's as the kernels': see bench/norms.hpp.\n";
  out << "\n## Beyond the caches: " << std::setprecision(o.mib < 1 ? 2 : 0) << o.mib
      << " MiB per (B, D) tensor\n";
  bench_regime(out, kinds, o.dims, o.mib * 1024 * 1024, o.repeats);
  if (!o.cached_dims.empty()) {
    out << "\n## In cache: " << std::setprecision(0) << o.cached_kib
        << " KiB per tensor (x, y, dy, dx stay in L2); the rate is the kernel's compute rate\n";
    bench_regime(out, kinds, o.cached_dims, o.cached_kib * 1024, o.repeats);
  }
}

}  // namespace normlab::tools
