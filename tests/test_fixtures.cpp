// Every normalizer against PyTorch: fixtures written by tests/gen_fixtures.py (torch ops, and
// nn.LayerNorm / F.layer_norm for LayerNorm), compared in float64 and in float32.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>

#include "compare.hpp"
#include "io/hdf5.hpp"
#include "norm/registry.hpp"

namespace {

using namespace normlab;
using normlab::test::Tolerance;

// float64: both sides compute the same math in double; 1e-10 leaves room for the different
// summation orders (torch's and ours) over up to 4097 terms.
constexpr double kRtol64 = 1e-10;
// The naive one-pass variance E[x^2] - E[x]^2 is a different algorithm: on the fixture row with
// mean 1000 and std 1 it loses log10(mean^2/var) = 6 of double's 16 digits (measured 1.5e-10
// relative in y), so it is held to 1e-8.
constexpr double kRtol64OnePass = 1e-8;
// float32: inputs are float32-exact, the reductions (parameter-gradient sums included) run in
// double and the per-element arithmetic in float, so an output carries a few float roundings
// (2^-24 = 6e-8 relative each; test_float_path.cpp measures at most 3 ulps); 1e-6 is 16 ulp.
constexpr double kRtol32 = 1e-6;

double max_abs(const xt::xarray<double>& a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

template <class T>
std::vector<T> to(const xt::xarray<double>& a) {
  return std::vector<T>(a.begin(), a.end());
}

// Runs one fixture case in precision T and compares every output with the reference.
template <class T>
void check_case(const h5::File& f, const std::string& group, double rtol) {
  const std::string kind = f.read_string_attribute(group, "kind");
  const std::string options = f.read_string_attribute(group, "options");
  auto normalizer = norm::make_normalizer(kind, norm::parse_options(options));
  const auto xs = f.read<double>(group + "/x");
  const std::size_t B = xs.shape()[0], D = xs.shape()[1];
  const auto specs = normalizer->param_specs(D);

  std::vector<T> x = to<T>(xs), dy = to<T>(f.read<double>(group + "/dy")), params;
  for (const auto& s : specs) {
    auto values = f.read<double>(group + "/" + s.name);
    REQUIRE(values.size() == s.size);
    params.insert(params.end(), values.begin(), values.end());
  }
  auto p = norm::bind_params<const T>(specs, std::span<const T>(params));
  std::vector<T> y(B * D), dx(B * D), grads(params.size(), T(0));
  norm::NormCache cache;
  normalizer->forward(std::span<T>(y), cache, std::span<const T>(x), p, B, D);
  normalizer->backward(std::span<T>(dx), norm::bind_params<T>(specs, std::span<T>(grads)), cache,
                       std::span<const T>(dy), std::span<const T>(x), p, B, D);

  // Absolute floors, rtol times the size of the terms that cancel into a value. dx_ij is a
  // difference of terms of size rstd_i * |dy_ij * g_j| (at D = 1 it cancels to ~1e-14), so each
  // row gets the floor rtol * rstd_i * max_j |dy_ij * g_j|. d_lambda = -sum_i mean_i * sum_j dz_ij,
  // whose terms are |mean_i| * rstd_i * sum_j |dy_ij * g_j|. DyT's d_alpha = sum_ij dy_ij g_j
  // (1 - t_ij^2) x_ij, whose terms are at most |dy_ij * g_j * x_ij| (in float 1 - t^2 is exact to
  // ulp(1) only, where t is near 1: a saturated element's term keeps 1e-7 of |dy g x|). y and the
  // gain and bias gradients get rtol * max |ref|.
  const auto dy_ref = f.read<double>(group + "/dy");
  const double g0 = norm::form(normalizer->config(), D).g0;  // the applied gain is g0 + stored
  auto gain_at = [&](std::size_t j) {
    if (p.gain.empty()) return 1.0;
    return std::abs(g0 + double(p.gain[p.gain.size() == 1 ? 0 : j]));
  };
  std::vector<double> dx_floor(B * D), lambda_floor(1, 0.0), alpha_floor(1, 0.0);
  for (std::size_t i = 0; i < B; ++i) {
    double row_max = 0, row_sum = 0;
    for (std::size_t j = 0; j < D; ++j) {
      double term = std::abs(dy_ref(i, j)) * gain_at(j);
      row_max = std::max(row_max, term);
      row_sum += term;
      alpha_floor[0] += rtol * term * std::abs(xs(i, j));
    }
    std::fill_n(dx_floor.begin() + i * D, D, rtol * cache.rstd[i] * row_max);
    lambda_floor[0] += rtol * std::abs(cache.mean[i]) * cache.rstd[i] * row_sum;
  }

  INFO("fixture " << f.path() << ":" << group << " " << kind << "(" << options << ") B=" << B
                  << " D=" << D << " " << (sizeof(T) == 4 ? "float32" : "float64"));
  auto check = [&](const std::string& name, const std::vector<T>& actual,
                   std::vector<double> floor) {
    auto ref = f.read<double>(group + "/" + name);
    Tolerance tol{rtol, rtol * max_abs(ref), std::move(floor)};
    NORMLAB_CHECK_CLOSE(name, actual.data(), actual.size(), ref.data(), ref.size(), tol);
  };
  check("y", y, {});
  check("dx", dx, dx_floor);
  std::size_t offset = 0;
  for (const auto& s : specs) {
    std::vector<T> g(grads.begin() + offset, grads.begin() + offset + s.size);
    check("d_" + s.name, g,
          s.name == "lambda"  ? lambda_floor
          : s.name == "alpha" ? alpha_floor
                              : std::vector<double>{});
    offset += s.size;
  }
  // No reference gradient may go unchecked: every d_* in the fixture is a parameter we have.
  for (const auto& member : f.members(group)) {
    if (member.rfind("d_", 0) == 0) {
      bool known = std::any_of(specs.begin(), specs.end(),
                               [&](const auto& s) { return "d_" + s.name == member; });
      CHECK(known);
    }
  }
}

}  // namespace

TEST_CASE("every normalizer matches its PyTorch fixtures in float64 and float32", "[fixtures]") {
  const std::string kind = GENERATE(from_range(norm::kind_names()));
  const std::string path = std::string(NORMLAB_FIXTURE_DIR) + "/" + kind + ".h5";
  INFO("fixture file " << path << " (regenerate with /usr/bin/python3 tests/gen_fixtures.py)");
  REQUIRE(std::filesystem::exists(path));
  h5::File f = h5::File::open(path);
  std::size_t cases = 0, largest_D = 0, with_one = 0;
  std::map<std::string, std::set<std::string>> values_seen;  // option -> values among the cases
  for (const auto& group : f.members("/")) {
    REQUIRE(f.read_string_attribute(group, "kind") == kind);
    const std::string options = f.read_string_attribute(group, "options");
    auto config = norm::resolve(kind, norm::parse_options(options));
    for (const auto& name : norm::kind_info(kind).options)
      values_seen[name].insert(norm::get_option(config, name));
    const bool one_pass = options.find("variance=one_pass") != std::string::npos;
    check_case<double>(f, group, one_pass ? kRtol64OnePass : kRtol64);
    check_case<float>(f, group, kRtol32);
    std::size_t D = f.shape(group + "/x")[1];
    largest_D = std::max(largest_D, D);
    with_one += D == 1;
    ++cases;
  }
  // Every value of every option of the kind is exercised (every eps mode, both settings of each
  // switch, every variance algorithm, two or more values of each number).
  for (const auto& name : norm::kind_info(kind).options) {
    const std::size_t want = name == "eps_mode" || name == "variance" ? 3 : 2;
    INFO("option " << name << " takes " << values_seen[name].size() << " values in the fixtures");
    CHECK(values_seen[name].size() >= want);
  }
  // The fixtures cover what the issue names: D = 1, odd D, and for most kinds D = 4097.
  CHECK(cases >= 3);
  CHECK(with_one >= 1);
  if (kind == "rmsnorm" || kind == "layernorm" || kind == "prmsnorm" || kind == "pcnorm") {
    CHECK(largest_D == 4097);
  }
}
