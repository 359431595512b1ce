// The numerics study (issue 7): emulated formats against known bit patterns and PyTorch, the
// emulated kernels against the library, the four known facts as assertions on computed errors,
// the Jacobian's singular values against their closed forms, and the 1/delta gradient scaling.
#include <catch2/catch.hpp>

#include <bit>
#include <cfloat>
#include <cmath>
#include <random>

#include "compare.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "helpers.hpp"
#include "io/hdf5.hpp"
#include "norm/registry.hpp"
#include "numerics/conditioning.hpp"
#include "core/number_format.hpp"
#include "norm/emulated_kernels.hpp"
#include "numerics/study.hpp"

using namespace normlab;
using fp::Format;
using Catch::Matchers::Contains;

namespace {

constexpr double kFloat32Unit = 0x1p-24;  // unit roundoff of float32

std::uint32_t bits(double v, fp::Layout l) { return fp::encode(v, l); }

}  // namespace

TEST_CASE("bfloat16 and float16 rounding: known bit patterns", "[numerics]") {
  using fp::kBFloat16;
  using fp::kFloat16;
  CHECK(bits(1.0, kBFloat16) == 0x3F80);
  CHECK(bits(-2.0, kBFloat16) == 0xC000);
  CHECK(bits(1 + 0x1p-8, kBFloat16) == 0x3F80);      // tie: to the even neighbour 1
  CHECK(bits(1 + 3 * 0x1p-8, kBFloat16) == 0x3F82);  // tie: to the even neighbour 1 + 2^-6
  CHECK(bits(1 + 0x1p-8 + 0x1p-30, kBFloat16) == 0x3F81);  // just above the tie: up
  CHECK(bits(0x1.FEp127, kBFloat16) == 0x7F7F);             // the largest finite bfloat16
  CHECK(bits(0x1.FFp127, kBFloat16) == 0x7F80);             // its tie with 2^128: infinity
  CHECK(bits(0x1.FEFFFFp127, kBFloat16) == 0x7F7F);
  CHECK(bits(INFINITY, kBFloat16) == 0x7F80);
  CHECK(std::isnan(fp::BFloat16::round(NAN)));

  CHECK(bits(1.0, kFloat16) == 0x3C00);
  CHECK(bits(65504, kFloat16) == 0x7BFF);       // the largest finite float16
  CHECK(bits(65519.99, kFloat16) == 0x7BFF);
  CHECK(bits(65520, kFloat16) == 0x7C00);       // the tie with 65536 rounds to even: infinity
  CHECK(bits(-1e5, kFloat16) == 0xFC00);
  CHECK(bits(0x1p-14, kFloat16) == 0x0400);     // the smallest normal
  CHECK(bits(0x1p-24, kFloat16) == 0x0001);     // the smallest subnormal
  CHECK(bits(0x1p-25, kFloat16) == 0x0000);     // half of it: tie to even, zero
  CHECK(bits(1.5 * 0x1p-25, kFloat16) == 0x0001);
  CHECK(bits(3 * 0x1p-25, kFloat16) == 0x0002);  // tie between 1 and 2 subnormal units: 2
  CHECK(bits(1023 * 0x1p-24, kFloat16) == 0x03FF);   // the largest subnormal
  CHECK(bits(1023.5 * 0x1p-24, kFloat16) == 0x0400);  // tie: carries into the smallest normal
  CHECK(bits(-0.0, kFloat16) == 0x8000);
  CHECK(fp::decode(0x0001, kFloat16) == 0x1p-24);
  CHECK(fp::decode(0x7BFF, kFloat16) == 65504);
  CHECK(fp::max_finite(Format::float16) == 65504);
  CHECK(fp::ulp(1.0, Format::bfloat16) == 0x1p-7);
  CHECK(fp::ulp(0.0, Format::float16) == 0x1p-24);
  // A float16 square overflows from |x| = 256 on (256^2 = 65536 > 65504).
  CHECK(std::isfinite(fp::Float16::round(255.0 * 255.0)));
  CHECK(std::isinf(fp::Float16::round(300.0 * 300.0)));
}

TEST_CASE("the bit-level float32 rounding matches the hardware conversion", "[numerics]") {
  Rng rng(11);
  std::uniform_real_distribution<double> exponent(-160, 128), unit(-1, 1);
  for (int i = 0; i < 20000; ++i) {
    const double v = unit(rng) * std::exp2(exponent(rng));
    const std::uint32_t want = std::bit_cast<std::uint32_t>(float(v));
    INFO(v);
    REQUIRE(fp::encode(v, fp::kFloat32) == want);
    REQUIRE(fp::Float32::round(v) == double(float(v)));
  }
  CHECK(std::isinf(fp::Float32::round(1e39)));
  CHECK(fp::Float32::round(double(FLT_MAX) * (1 + 0x1p-26)) == double(FLT_MAX));
}

TEST_CASE("bfloat16 and float16 rounding agree with PyTorch bit for bit", "[numerics]") {
  // Fixture: tests/gen_numerics_fixture.py (torch.tensor(x).to(torch.bfloat16 / torch.float16)).
  h5::File f = h5::File::open(std::string(NORMLAB_FIXTURE_DIR) + "/numerics_rounding.h5");
  auto x = f.read<double>("x");
  auto bf16 = f.read<long long>("bfloat16_bits");
  auto fp16 = f.read<long long>("float16_bits");
  REQUIRE(x.size() > 5000);
  std::size_t bf_mismatch = 0, fp_mismatch = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    bf_mismatch += fp::encode(x(i), fp::kBFloat16) != std::uint32_t(bf16(i));
    fp_mismatch += fp::encode(x(i), fp::kFloat16) != std::uint32_t(fp16(i));
  }
  CHECK(bf_mismatch == 0);
  CHECK(fp_mismatch == 0);
}

TEST_CASE("the fast rounding path equals the bit-level encoder everywhere", "[numerics]") {
  // Random values over every binade of both formats (and beyond), plus exact ties.
  Rng rng(13);
  std::uniform_real_distribution<double> exponent(-140, 130), unit(-1, 1);
  auto same = [](double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); };
  for (int i = 0; i < 200000; ++i) {
    double v = unit(rng) * std::exp2(exponent(rng));
    if (i % 4 == 0) v = fp::round_to(v, Format::float32);  // float values: ties occur
    if (i % 8 == 0) v = (1 + double(rng() % 256 * 2 + 1) / 512) * std::exp2(int(rng() % 60) - 30);
    INFO(v);
    REQUIRE(same(fp::BFloat16::round(v),
                 fp::decode(fp::encode(v, fp::kBFloat16), fp::kBFloat16)));
    REQUIRE(same(fp::Float16::round(v),
                 fp::decode(fp::encode(v, fp::kFloat16), fp::kFloat16)));
  }
  for (double v : {65504.0, 65519.0, 65520.0, 0x1.FEp127, 0x1.FFp127, 0x1p-14, 0x1p-126, -0.0}) {
    CHECK(same(fp::Float16::round(v),
               fp::decode(fp::encode(v, fp::kFloat16), fp::kFloat16)));
    CHECK(same(fp::BFloat16::round(v),
               fp::decode(fp::encode(v, fp::kBFloat16), fp::kBFloat16)));
  }
}

TEST_CASE("emulated kernels in float64 agree with every library normalizer", "[numerics]") {
  // Tolerance: both compute the same formulas in double with different summation orders.
  const test::Tolerance tol{1e-12, 1e-13};
  const std::size_t B = 3, D = 37;
  Rng rng(5);
  std::vector<double> x(B * D), dy(B * D);
  fill_normal(std::span<double>(x), rng, 0.7, 2.0);
  fill_normal(std::span<double>(dy), rng);
  std::vector<std::pair<std::string, norm::NormOptions>> cases;
  for (const auto& k : norm::kinds()) {  // an element-wise kind (DyT) has no emulated form
    if (k.form.family == norm::KindForm::Family::shift_scale) cases.push_back({k.name, {}});
  }
  cases.push_back({"layernorm", {{"variance", "one_pass"}}});
  cases.push_back({"layernorm", {{"variance", "welford"}, {"eps_mode", "outside"}}});
  cases.push_back({"rmsnorm", {{"eps_mode", "clamp"}, {"eps", "1e-3"}}});
  cases.push_back({"pcnorm", {{"lambda", "0.3"}, {"bias", "true"}}});
  cases.push_back({"prmsnorm", {{"p", "0.25"}}});
  for (const auto& [kind, options] : cases) {
    INFO(kind << " " << norm::describe(norm::resolve(kind, options)));
    auto n = norm::make_normalizer(kind, options);
    const auto specs = n->param_specs(D);
    std::vector<double> params = norm::initial_params<double>(specs);
    for (double& p : params) p += 0.1;  // a gain away from 1 and a nonzero bias
    std::vector<double> gain, bias;
    for (std::size_t i = 0, at = 0; i < specs.size(); at += specs[i].size, ++i) {
      auto& dst = specs[i].name == "gain" ? gain : bias;
      dst.assign(params.begin() + std::ptrdiff_t(at), params.begin() + std::ptrdiff_t(at + specs[i].size));
    }
    auto lib = test::run<double>(*n, x, params, B, D, &dy);
    std::vector<double> y(B * D), dx(B * D);
    norm::emulated_batch({y.data(), dx.data(), nullptr},
                             {x.data(), dy.data(), gain.empty() ? nullptr : gain.data(),
                              bias.empty() ? nullptr : bias.data()},
                             norm::emulated_norm(n->config(), D),
                             {Format::float64, Format::float64}, B, D);
    auto cy = test::compare("y", y.data(), y.size(), lib.y.data(), lib.y.size(), tol);
    auto cdx = test::compare("dx", dx.data(), dx.size(), lib.dx.data(), lib.dx.size(), tol);
    CHECK(cy.ok);
    INFO(cy.message << cdx.message);
    CHECK(cdx.ok);
  }
}

namespace {

tools::CaseSpec float32_case(const std::string& kind, const norm::NormOptions& options,
                             tools::Family family, double ratio, std::size_t D, std::size_t B) {
  tools::CaseSpec s;
  s.config = norm::resolve(kind, options);
  s.implementation = "emulated";
  s.precision = {Format::float32, Format::float32};
  s.family = family;
  s.offset_ratio = ratio;
  s.D = D;
  s.B = B;
  return s;
}

bool lost(const tools::ErrorStats& e) { return e.nonfinite > 0 || !(e.max_rel < 0.1); }

}  // namespace

TEST_CASE("fact 1: one-pass LayerNorm in float32 loses every digit at mean/std 1e4", "[numerics]") {
  const double ratio = 1e4;
  auto run = [&](const char* variance) {
    return tools::evaluate_case(float32_case("layernorm", {{"variance", variance}},
                                             tools::Family::offset, ratio, 512, 16), 1);
  };
  const auto one = run("one_pass"), two = run("two_pass"), welford = run("welford");
  INFO("one-pass " << one.y.max_rel << ", two-pass " << two.y.max_rel << ", Welford "
                   << welford.y.max_rel);
  CHECK(lost(one.y));
  // Two-pass and Welford lose only what storing the mean in float32 costs: an error of the order
  // (mean/std) * u. 20x that bound leaves room for the sequential sum's own error over D = 512.
  const double bound = 20 * ratio * kFloat32Unit;  // 1.2e-2
  CHECK(two.y.max_rel <= bound);
  CHECK(welford.y.max_rel <= bound);
  CHECK(two.dx.max_rel <= bound);
  // ... while one-pass is wrong by orders of magnitude more than that.
  CHECK(one.y.max_rel > 100 * two.y.max_rel);
}

TEST_CASE("fact 2: RMSNorm has no such cancellation", "[numerics]") {
  for (double ratio : {1e2, 1e4, 1e6}) {
    auto r = tools::evaluate_case(
        float32_case("rmsnorm", {}, tools::Family::offset, ratio, 512, 16), 1);
    INFO("mean/std " << ratio << ": " << r.y.max_rel);
    // Rounding errors of a sequential float32 sum of 512 squares: bounded by D * u, whatever
    // the mean.
    CHECK(r.y.max_rel <= 512 * kFloat32Unit);
    CHECK(r.dx.max_rel <= 512 * kFloat32Unit);
  }
}

TEST_CASE("fact 3: a float16 sum of squares overflows beyond |x| ~ 256 unless in float32",
          "[numerics]") {
  // Rows of |x| around 300, exactly representable in float16.
  const std::size_t B = 4, D = 8;
  Rng rng(3);
  std::vector<double> x(B * D), dy(B * D), y(B * D), dx(B * D), y_ref(B * D), dx_ref(B * D);
  for (auto& v : x) v = fp::Float16::round((rng() % 2 ? 300.0 : -300.0) + rng() % 20);
  fill_normal(std::span<double>(dy), rng);
  for (auto& v : dy) v = fp::Float16::round(v);
  auto n = norm::emulated_norm(norm::resolve("rmsnorm", {}), D);
  const std::vector<double> gain(D, 1.0);
  const norm::BatchInput in{x.data(), dy.data(), gain.data(), nullptr};
  norm::reference_batch({y_ref.data(), dx_ref.data(), nullptr}, in, n, B, D);
  norm::emulated_batch({y.data(), dx.data(), nullptr}, in, n,
                           {Format::float16, Format::float16}, B, D);
  const auto half = tools::error_stats(y, y_ref, B, D, Format::float16);
  norm::emulated_batch({y.data(), dx.data(), nullptr}, in, n,
                           {Format::float16, Format::float32}, B, D);
  const auto single = tools::error_stats(y, y_ref, B, D, Format::float16);
  INFO("float16 accumulation " << half.max_rel << ", float32 " << single.max_rel);
  CHECK(lost(half));  // the statistic is inf: y is 0 (1/inf) or NaN
  // float32 accumulation: one rounding of y to float16 (half an ulp, 2^-11) plus float32's.
  CHECK(single.max_rel <= 0x1p-11 * 1.01);
  CHECK(single.nonfinite == 0);
}

TEST_CASE("fact 4: eps inside and outside the root differ when mean(x^2) ~ eps", "[numerics]") {
  const double eps = 1e-5;
  const std::size_t D = 16;
  auto y_of = [&](const char* mode, double ms) {
    std::vector<double> x(D), y(D);
    for (std::size_t j = 0; j < D; ++j) x[j] = (j % 2 ? 1 : -1) * std::sqrt(ms);
    auto n = norm::emulated_norm(
        norm::resolve("rmsnorm", {{"eps", "1e-05"}, {"eps_mode", mode}}), D);
    const std::vector<double> gain(D, 1.0);
    norm::emulated_batch({y.data(), nullptr, nullptr}, {x.data(), nullptr, gain.data(), nullptr},
                             n, {Format::float32, Format::float32}, 1, D);
    return y[0];
  };
  const double at_eps = std::abs(y_of("inside", eps) / y_of("outside", eps) - 1);
  const double at_one = std::abs(y_of("inside", 1.0) / y_of("outside", 1.0) - 1);
  INFO("ms = eps: " << at_eps << ", ms = 1: " << at_one);
  CHECK(at_eps > 0.1);   // sqrt(2 eps) vs sqrt(eps) + eps: 29%
  CHECK(at_one < 1e-4);  // eps/2 vs eps: both negligible
  // A large eps biases rows of tiny variance (std 1e-3), not rows of unit variance.
  auto bias = [&](const char* e, tools::Family family) {
    return tools::evaluate_case(float32_case("layernorm", {{"eps", e}}, family, 0, 64, 8), 2)
        .eps_bias;
  };
  CHECK(bias("1e-05", tools::Family::tiny) > 0.1);
  CHECK(bias("1e-05", tools::Family::normal) < 1e-4);
  CHECK(bias("1e-08", tools::Family::tiny) < 0.1);
}

TEST_CASE("singular values: a rotated diagonal matrix gives back its spectrum, zero and 1e-7 included",
          "[numerics]") {
  // M = Q1 diag(s) Q2 with Q1, Q2 products of Givens rotations: singular values s.
  const std::size_t n = 6;
  const std::vector<double> s = {5, 3, 1, 1e-3, 1e-7, 0};
  std::vector<double> m(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) m[i * n + i] = s[i];
  Rng rng(9);
  std::uniform_real_distribution<double> angle(0, 6.28);
  for (int r = 0; r < 30; ++r) {
    const std::size_t p = rng() % n, q = (p + 1 + rng() % (n - 1)) % n;
    const double theta = angle(rng), c = std::cos(theta), sn = std::sin(theta);
    const bool rows = r % 2;
    for (std::size_t k = 0; k < n; ++k) {
      double& a = rows ? m[p * n + k] : m[k * n + p];
      double& b = rows ? m[q * n + k] : m[k * n + q];
      const double ap = a, bq = b;
      a = c * ap - sn * bq;
      b = sn * ap + c * bq;
    }
  }
  auto got = numerics::singular_values(m, n);
  for (std::size_t i = 0; i < n; ++i) {
    INFO(i << ": " << got[i] << " vs " << s[i]);
    CHECK(std::abs(got[i] - s[i]) <= 1e-13 * s[0]);
  }
}

TEST_CASE("Jacobian singular values match the closed forms", "[numerics]") {
  Rng rng(4);
  for (const char* kind : {"rmsnorm", "layernorm", "l2norm", "scalenorm"}) {
    for (double scale : {1e-3, 1.0, 30.0}) {
      for (double mean : {0.0, 2.0}) {
        const std::size_t D = 12;
        std::vector<double> x(D);
        fill_normal(std::span<double>(x), rng, mean * scale, scale);
        auto n = norm::make_normalizer(kind);
        auto J = numerics::jacobian(*n, x, norm::initial_params<double>(n->param_specs(D)));
        auto numeric = numerics::singular_values(J, D);
        auto closed = numerics::closed_form_singular_values(n->config(), x);
        INFO(kind << " scale " << scale << " mean " << mean);
        REQUIRE(closed.size() == D);
        for (std::size_t i = 0; i < D; ++i) {
          INFO(i << ": numeric " << numeric[i] << ", closed " << closed[i]);
          // J's entries carry double rounding errors ~1e-16 sigma_max: the spectrum agrees to
          // that absolute level (the smallest values, 1e-9 sigma_max and less, included).
          CHECK(std::abs(numeric[i] - closed[i]) <= 1e-13 * numeric[0] + 1e-9 * closed[i]);
        }
      }
    }
  }
  // LayerNorm's Jacobian has rank D - 1: the mean direction is annihilated.
  std::vector<double> x = {1, 2, 4, 8, 16};
  auto ln = norm::make_normalizer("layernorm");
  auto s = numerics::singular_values(
      numerics::jacobian(*ln, x, norm::initial_params<double>(ln->param_specs(5))), 5);
  CHECK(s[4] < 1e-14 * s[0]);
  CHECK(s[3] > 1e-9 * s[0]);  // (1/r) eps/(var + eps) along z: small (var = 29.8), not zero
  CHECK(s[2] == Approx(s[0]).epsilon(1e-12));
}

TEST_CASE("RMSNorm's weight gradient scales as 1/delta when the weights scale by delta",
          "[numerics]") {
  const std::size_t B = 8, D = 16, H = 24;
  Rng rng(2);
  std::vector<double> W(H * D), X(B * D), dy(B * H);
  fill_normal(std::span<double>(W), rng, 0, 0.25);
  fill_normal(std::span<double>(X), rng);
  fill_normal(std::span<double>(dy), rng);
  const double eps = 1e-5;
  const double base = numerics::rmsnorm_weight_gradient_norm(1, W, X, dy, eps, B, D, H);
  for (double delta : {0.5, 2.0, 10.0, 100.0}) {
    const double g = numerics::rmsnorm_weight_gradient_norm(delta, W, X, dy, eps, B, D, H);
    INFO("delta " << delta << ": delta * g / g(1) = " << delta * g / base);
    // mean(h^2) ~ 1 >> eps: the law holds up to eps/mean(h^2) ~ 1e-5.
    CHECK(std::abs(delta * g / base - 1) < 1e-4);
  }
  // Where mean(h^2) falls to eps the law breaks: eps, not the weights, sets the scale.
  const double tiny = numerics::rmsnorm_weight_gradient_norm(1e-3, W, X, dy, eps, B, D, H);
  CHECK(std::abs(1e-3 * tiny / base - 1) > 0.1);
}

TEST_CASE("numerics: bad options name the value", "[numerics]") {
  tools::NumericsOptions o;
  o.norms = {"rmsnrom"};
  CHECK_THROWS_WITH(tools::numerics_grid(o), Contains("rmsnrom") && Contains("rmsnorm"));
  o.norms = {};
  o.dims = {0};
  CHECK_THROWS_WITH(tools::numerics_grid(o), Contains("D = 0"));
  CHECK_THROWS_WITH(fp::parse_format("bfloat61"), Contains("bfloat61"));
}

TEST_CASE("numerics: the quick grid writes every documented column", "[numerics]") {
  tools::NumericsOptions o;
  o.quick = true;
  o.dims = {8};
  o.norms = {"rmsnorm", "layernorm"};
  test::TempDir dir;
  o.out = dir / "numerics.h5";
  auto report = tools::run_numerics(o);
  tools::write_numerics(report, o);
  h5::File f = h5::File::open(o.out);
  const std::size_t N = report.cases.size();
  REQUIRE(N > 0);
  for (const char* c : {"kind", "variant", "implementation", "storage", "accumulation", "eps",
                        "eps_mode", "family", "offset_ratio", "D", "B", "y_max_rel",
                        "y_median_rel", "y_max_ulp", "y_nonfinite", "dx_max_rel",
                        "dx_median_rel", "dx_max_ulp", "dx_nonfinite", "eps_bias"}) {
    INFO(c);
    CHECK(f.shape(std::string("cases/") + c) == h5::Shape{N});
  }
  CHECK(f.read_string_attribute("/", "format") == "normlab-numerics");
  CHECK(f.shape("conditioning/sigma_max") == h5::Shape{report.conditioning.size()});
  CHECK(f.shape("gradient_scaling/scaled") == h5::Shape{report.scaling.size()});
}

TEST_CASE("storage/accumulate options: resolved for every kind, described only when set",
          "[numerics]") {
  CHECK(norm::describe(norm::resolve("rmsnorm", {})).find("storage") == std::string::npos);
  auto c = norm::resolve("layernorm", {{"storage", "bfloat16"}, {"accumulate", "storage"}});
  CHECK(c.storage == norm::Storage::bfloat16);
  CHECK(c.accumulate == norm::Accumulate::storage);
  CHECK_THAT(norm::describe(c), Contains("storage=bfloat16,accumulate=storage"));
  CHECK(norm::describe(norm::resolve("layernorm", norm::parse_options(norm::options_string(c)))) ==
        norm::describe(c));
  CHECK_THROWS_WITH(norm::resolve("rmsnorm", {{"storage", "bf8"}}), Contains("bf8"));
  CHECK_THROWS_WITH(norm::resolve("rmsnorm", {{"accumulate", "float128"}}), Contains("float128"));
}

TEST_CASE("emulated normalizers: storage rounding around the library's computation", "[numerics]") {
  // With storage = float32 and float64 accumulation in a double model, and inputs that are
  // float32 values, the only rounding is that of y and dx to float32: they must be the library's
  // double results rounded (up to the last bit: the summation orders differ), and the parameter
  // gradients the library's to double rounding.
  const std::size_t B = 3, D = 19;
  Rng rng(21);
  std::vector<double> x(B * D), dy(B * D);
  fill_normal(std::span<double>(x), rng, 0.5, 1.5);
  fill_normal(std::span<double>(dy), rng);
  for (double& v : x) v = double(float(v));
  for (double& v : dy) v = double(float(v));
  const test::Tolerance outputs{2 * kFloat32Unit, 1e-12};  // one float rounding, order differences
  const test::Tolerance params{1e-11, 1e-12};
  std::vector<std::pair<std::string, norm::NormOptions>> cases;
  for (const auto& k : norm::kinds()) {  // an element-wise kind (DyT) has no emulated form
    if (k.form.family == norm::KindForm::Family::shift_scale) cases.push_back({k.name, {}});
  }
  cases.push_back({"pcnorm", {{"learn_lambda", "true"}, {"bias", "true"}}});
  cases.push_back({"scalenorm", {{"zero_centered_gain", "true"}}});
  cases.push_back({"layernorm", {{"variance", "welford"}, {"eps_mode", "outside"}}});
  for (auto [kind, options] : cases) {
    auto plain = norm::make_normalizer(kind, options);
    options["storage"] = "float32";
    auto emulated = norm::make_normalizer(kind, options);
    INFO(norm::describe(emulated->config()));
    auto p = norm::initial_params<double>(plain->param_specs(D));
    for (double& v : p) v = double(float(v + 0.05));
    auto want = test::run<double>(*plain, x, p, B, D, &dy);
    auto got = test::run<double>(*emulated, x, p, B, D, &dy);
    for (double v : got.y) REQUIRE(v == double(float(v)));  // stored as float32
    auto cy = test::compare("y", got.y.data(), got.y.size(), want.y.data(), want.y.size(), outputs);
    auto cdx = test::compare("dx", got.dx.data(), got.dx.size(), want.dx.data(), want.dx.size(), outputs);
    auto cg = test::compare("grads", got.grads.data(), got.grads.size(), want.grads.data(),
                            want.grads.size(), params);
    INFO(cy.message << cdx.message << cg.message);
    CHECK(cy.ok);
    CHECK(cdx.ok);
    CHECK(cg.ok);
  }
  // bfloat16 storage in a float model: every output is a bfloat16 value.
  auto bf = norm::make_normalizer("rmsnorm", {{"storage", "bfloat16"}, {"accumulate", "float32"}});
  std::vector<float> xf(x.begin(), x.end()), pf(D, 1.0f);
  auto out = test::run<float>(*bf, xf, pf, B, D);
  for (float v : out.y) REQUIRE(double(v) == fp::BFloat16::round(v));
}
