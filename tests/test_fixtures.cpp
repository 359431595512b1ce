// Every normalizer against PyTorch: fixtures written by tests/gen_fixtures.py (torch ops, and
// nn.LayerNorm / F.layer_norm for LayerNorm), compared in float64 and in float32.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>

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
// float32: inputs are float32-exact, arithmetic runs in double, so y and dx are rounded once
// (2^-24 = 6e-8 relative); parameter gradients are accumulated in float over B = 5 rows (at most
// (B + 1) * 2^-24 = 3.6e-7 of the largest term). 1e-6 bounds both with margin.
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

  // Absolute floors, each rtol times the size of the terms that make up the tensor: dx (and
  // d_lambda) are differences of terms of size |dy| * |g| * rstd that cancel to ~0 at D = 1.
  double max_gain = 1, max_mean = 0;
  if (p.gain.size()) {
    double g0 = !normalizer->config().zero_centered_gain ? 0
                : kind == "scalenorm" ? std::sqrt(double(D)) : 1;
    for (T g : p.gain) max_gain = std::max(max_gain, std::abs(g0 + double(g)));
  }
  for (double m : cache.mean) max_mean = std::max(max_mean, std::abs(m));
  const double dx_terms = max_abs(f.read<double>(group + "/dy")) * max_gain *
                          *std::max_element(cache.rstd.begin(), cache.rstd.end());

  INFO("fixture " << f.path() << ":" << group << " " << kind << "(" << options << ") B=" << B
                  << " D=" << D << " " << (sizeof(T) == 4 ? "float32" : "float64"));
  auto check = [&](const std::string& name, const std::vector<T>& actual, double terms) {
    auto ref = f.read<double>(group + "/" + name);
    Tolerance tol{rtol, rtol * std::max(max_abs(ref), terms)};
    NORMLAB_CHECK_CLOSE(name, actual.data(), actual.size(), ref.data(), ref.size(), tol);
  };
  check("y", y, 0);
  check("dx", dx, dx_terms);
  std::size_t offset = 0;
  for (const auto& s : specs) {
    std::vector<T> g(grads.begin() + offset, grads.begin() + offset + s.size);
    check("d_" + s.name, g, s.name == "lambda" ? dx_terms * max_mean * double(B * D) : 0);
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
  for (const auto& group : f.members("/")) {
    REQUIRE(f.read_string_attribute(group, "kind") == kind);
    const std::string options = f.read_string_attribute(group, "options");
    const bool one_pass = options.find("variance=one_pass") != std::string::npos;
    check_case<double>(f, group, one_pass ? kRtol64OnePass : kRtol64);
    check_case<float>(f, group, kRtol32);
    std::size_t D = f.shape(group + "/x")[1];
    largest_D = std::max(largest_D, D);
    with_one += D == 1;
    ++cases;
  }
  // The fixtures cover what the issue names: D = 1, odd D, and for most kinds D = 4097.
  CHECK(cases >= 3);
  CHECK(with_one >= 1);
  if (kind == "rmsnorm" || kind == "layernorm" || kind == "prmsnorm" || kind == "pcnorm") {
    CHECK(largest_D == 4097);
  }
}
