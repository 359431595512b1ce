// The invariance properties the papers prove, checked numerically, and closed-form cases.
// Invariances are exact only at eps = 0, so these use eps = 1e-16: the eps term moves y by at
// most eps / (2 * s * alpha^2), under 1e-9 for alpha >= 0.05 and statistics s >= 1e-5 (pRMSNorm's
// estimate from k = 2 features can be that small).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "compare.hpp"
#include "core/gemm.hpp"
#include "helpers.hpp"

namespace {

using namespace normlab;

// Largest max |y' - y| allowed where the math says y' = y:
//   double: 1e-8, far above rounding (1e-16) and the eps = 1e-16 term (< 1e-9, see above);
//   float: inputs x -> alpha x, x + c are rounded to float (2^-24 |x + c| <= 5e-7 for |x + c| < 8
//   on rows of std ~1), and y is rounded once; 2e-6 bounds both.
template <class T>
constexpr double kInvariant = sizeof(T) == 8 ? 1e-8 : 2e-6;
// dL/dW relations, relative to max |dL/dW|; float adds the rounding of two float GEMMs.
template <class T>
constexpr double kGradientInvariant = sizeof(T) == 8 ? 1e-8 : 1e-5;
constexpr double kChanged = 1e-2;  // min max|y' - y| where the math says y changes

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

std::vector<double> widen(const auto& v) { return std::vector<double>(v.begin(), v.end()); }

struct Setup {
  std::unique_ptr<norm::Normalizer> n;
  std::vector<double> x, params;
  std::size_t B = 4, D = 24;
};

Setup setup(const std::string& kind, norm::NormOptions options = {}) {
  const auto& names = norm::kind_info(kind).options;
  if (std::find(names.begin(), names.end(), "eps") != names.end()) options["eps"] = "1e-16";
  Setup s;
  s.n = norm::make_normalizer(kind, options);
  Rng rng(11);
  s.x = test::random_normal(s.B * s.D, rng, 0.4, 1.0);
  s.params = test::random_params(*s.n, s.D, rng);
  return s;
}

// y in precision T (inputs and parameters rounded to T first), widened for comparison.
template <class T>
std::vector<double> forward(const Setup& s, const std::vector<double>& x) {
  return widen(test::run<T>(*s.n, cast<T>(x), cast<T>(s.params), s.B, s.D).y);
}

std::vector<double> scaled(std::vector<double> x, double alpha) {
  for (auto& v : x) v *= alpha;
  return x;
}

std::vector<double> shifted(std::vector<double> x, double c) {
  for (auto& v : x) v += c;
  return x;
}

}  // namespace

TEMPLATE_TEST_CASE("re-scaling normalizers are invariant to x -> alpha x", "[invariance]", float,
                   double) {
  const std::string kind = GENERATE("rmsnorm", "layernorm", "scalenorm", "prmsnorm", "l2norm",
                                    "pcnorm");
  const double alpha = GENERATE(0.05, 3.0, 1000.0);
  Setup s = setup(kind);
  INFO(kind << " alpha=" << alpha);
  CHECK(max_diff(forward<TestType>(s, s.x), forward<TestType>(s, scaled(s.x, alpha))) <=
        kInvariant<TestType>);
}

TEMPLATE_TEST_CASE("re-centering normalizers are invariant to x -> x + c, the others are not",
                   "[invariance]", float, double) {
  const double c = GENERATE(-2.0, 5.0);
  for (std::string kind : {"layernorm", "centernorm"}) {
    Setup s = setup(kind);
    INFO(kind << " c=" << c);
    CHECK(max_diff(forward<TestType>(s, s.x), forward<TestType>(s, shifted(s.x, c))) <=
          kInvariant<TestType>);
  }
  for (std::string kind : {"rmsnorm", "scalenorm", "prmsnorm", "l2norm", "pcnorm", "none"}) {
    Setup s = setup(kind);
    INFO(kind << " c=" << c);
    CHECK(max_diff(forward<TestType>(s, s.x), forward<TestType>(s, shifted(s.x, c))) >= kChanged);
  }
}

TEMPLATE_TEST_CASE("centernorm is not invariant to scale, none to neither", "[invariance]", float,
                   double) {
  for (std::string kind : {"centernorm", "none"}) {
    Setup s = setup(kind);
    INFO(kind);
    CHECK(max_diff(forward<TestType>(s, s.x), forward<TestType>(s, scaled(s.x, 3.0))) >= kChanged);
  }
}

TEST_CASE("every kind's Form says which of scale and shift it is invariant to", "[invariance]") {
  // The invariance analysis (src/analysis/invariance.cpp) takes its theory from the Form; here the
  // Form's claims meet the forward, for every registered kind and both settings of the options
  // that could matter (a learned lambda counts with its value, set away from 1 and at 1).
  struct Case {
    std::string kind;
    norm::NormOptions options;
  };
  std::vector<Case> cases;
  for (const auto& k : norm::kinds()) {
    cases.push_back({k.name, {}});
    if (std::find(k.options.begin(), k.options.end(), "lambda") != k.options.end()) {
      cases.push_back({k.name, {{"lambda", "1"}}});
      cases.push_back({k.name, {{"lambda", "1"}, {"learn_lambda", "true"}}});
      cases.push_back({k.name, {{"lambda", "0.5"}, {"learn_lambda", "true"}}});
    }
  }
  for (const auto& c : cases) {
    Setup s = setup(c.kind, c.options);
    norm::Form f = norm::form(s.n->config(), s.D);
    if (f.subtract == norm::Form::Subtract::learned) {  // random_params moved it off its init
      auto p = norm::bind_params<double>(s.n->param_specs(s.D), std::span<double>(s.params));
      if (c.options.at("lambda") == "1") p.lambda[0] = 1.0;
      f.lambda = p.lambda[0];
    }
    const auto base = forward<double>(s, s.x);
    INFO(norm::describe(s.n->config()));
    for (auto [t, moved] : {std::pair{norm::RowTransform::scale, scaled(s.x, 3.0)},
                            std::pair{norm::RowTransform::shift, shifted(s.x, 2.0)}}) {
      INFO(norm::to_string(t));
      if (f.invariant_to(t)) CHECK(max_diff(base, forward<double>(s, moved)) <= kInvariant<double>);
      else CHECK(max_diff(base, forward<double>(s, moved)) >= kChanged);
    }
  }
}

TEMPLATE_TEST_CASE("RMSNorm(W x): y is invariant to W -> delta W; dL/dW is invariant to "
                   "x -> alpha x and scales as 1/delta", "[invariance]", float, double) {
  // h = x W^T (B, D), y = RMSNorm(h), L = sum(y * dy); dL/dW = dh^T x (D, Din).
  using T = TestType;
  const std::size_t B = 5, Din = 9, D = 12;
  auto n = norm::make_normalizer("rmsnorm", {{"eps", "1e-16"}});
  Rng rng(5);
  auto x = test::random_normal(B * Din, rng, 0.3);
  auto W = test::random_normal(D * Din, rng);
  auto dy = cast<T>(test::random_normal(B * D, rng));
  auto params = cast<T>(test::random_params(*n, D, rng));

  struct Out { std::vector<double> y, dW; };
  auto pass = [&](const std::vector<double>& xd, const std::vector<double>& Wd) {
    auto xs = cast<T>(xd), Ws = cast<T>(Wd);
    std::vector<T> h(B * D), dW(D * Din);
    gemm(Trans::no, Trans::yes, B, D, Din, T(1), xs.data(), Din, Ws.data(), Din, T(0), h.data(), D);
    auto r = test::run<T>(*n, h, params, B, D, &dy);
    gemm(Trans::yes, Trans::no, D, Din, B, T(1), r.dx.data(), D, xs.data(), Din, T(0), dW.data(),
         Din);
    return Out{widen(r.y), widen(dW)};
  };
  Out base = pass(x, W);
  double dw_scale = 0;
  for (double v : base.dW) dw_scale = std::max(dw_scale, std::abs(v));
  REQUIRE(dw_scale > 1e-3);  // a non-trivial gradient, so "unchanged" means something

  for (double delta : {0.125, 4.0}) {  // powers of 2: delta W is exact in float too
    INFO("delta=" << delta);
    Out o = pass(x, scaled(W, delta));
    CHECK(max_diff(o.y, base.y) <= kInvariant<T>);
    CHECK(max_diff(scaled(o.dW, delta), base.dW) <= kGradientInvariant<T> * dw_scale);
    CHECK(max_diff(o.dW, base.dW) >= kChanged * dw_scale);  // and it did change
  }
  for (double alpha : {0.2, 7.0}) {
    INFO("alpha=" << alpha);
    Out o = pass(scaled(x, alpha), W);
    CHECK(max_diff(o.dW, base.dW) <= kGradientInvariant<T> * dw_scale);
  }
}

TEST_CASE("special cases coincide: pcnorm at lambda 0 and 1, prmsnorm at p = 1, l2norm",
          "[invariance]") {
  auto same = [](const std::string& a, norm::NormOptions oa, const std::string& b,
                 norm::NormOptions ob, double y_factor) {
    Setup sa = setup(a, oa), sb = setup(b, ob);
    sb.params = sa.params;  // same gain (and bias) on both sides
    auto ya = forward<double>(sa, sa.x), yb = forward<double>(sb, sa.x);
    for (auto& v : yb) v *= y_factor;
    INFO(a << " vs " << b);
    CHECK(max_diff(ya, yb) <= 1e-12);
  };
  same("pcnorm", {{"lambda", "0"}}, "rmsnorm", {}, 1.0);
  same("pcnorm", {{"lambda", "1"}}, "layernorm", {{"bias", "false"}}, 1.0);
  same("prmsnorm", {{"p", "1"}}, "rmsnorm", {}, 1.0);
  // l2norm = rmsnorm / sqrt(D) when eps is scaled accordingly: sqrt(sum + eps) =
  // sqrt(D) * sqrt(mean + eps / D).
  same("l2norm", {{"eps", "0.024"}}, "rmsnorm", {{"eps", "0.001"}}, 1 / std::sqrt(24.0));
}

TEST_CASE("closed-form values", "[invariance]") {
  auto y_of = [](const std::string& kind, norm::NormOptions o, std::vector<double> x) {
    auto n = norm::make_normalizer(kind, o);
    auto params = norm::initial_params<double>(n->param_specs(x.size()));
    return test::run(*n, x, params, 1, x.size()).y;
  };
  // rmsnorm [3, 4]: mean square 12.5
  auto y = y_of("rmsnorm", {{"eps", "0.5"}}, {3, 4});
  CHECK(y[0] == Approx(3 / std::sqrt(13.0)).epsilon(1e-15));
  CHECK(y[1] == Approx(4 / std::sqrt(13.0)).epsilon(1e-15));
  y = y_of("rmsnorm", {{"eps", "0.5"}, {"eps_mode", "outside"}}, {3, 4});
  CHECK(y[1] == Approx(4 / (std::sqrt(12.5) + 0.5)).epsilon(1e-15));
  // layernorm [1, 3]: mean 2, variance 1
  y = y_of("layernorm", {{"eps", "3"}}, {1, 3});
  CHECK(y[0] == Approx(-0.5).epsilon(1e-15));
  CHECK(y[1] == Approx(0.5).epsilon(1e-15));
  for (std::string algo : {"one_pass", "welford"}) {
    y = y_of("layernorm", {{"eps", "3"}, {"variance", algo}}, {1, 3});
    CHECK(y[1] == Approx(0.5).epsilon(1e-15));
  }
  // scalenorm [3, 4]: norm 5, g = sqrt(2); clamped at eps when the norm is smaller
  y = y_of("scalenorm", {}, {3, 4});
  CHECK(y[0] == Approx(std::sqrt(2.0) * 0.6).epsilon(1e-15));
  y = y_of("scalenorm", {{"eps", "10"}}, {3, 4});
  CHECK(y[0] == Approx(std::sqrt(2.0) * 0.3).epsilon(1e-15));
  // prmsnorm p = 0.5 on [2, 100]: the statistic sees only x_0 = 2
  y = y_of("prmsnorm", {{"p", "0.5"}, {"eps", "1e-300"}}, {2, 100});
  CHECK(y[1] == Approx(50.0).epsilon(1e-15));
  // centernorm [1, 2, 6]: mean 3
  y = y_of("centernorm", {}, {1, 2, 6});
  CHECK(y == std::vector<double>{-2, -1, 3});
  // D = 1: layernorm gives its bias (0), rmsnorm x / sqrt(x^2 + eps)
  y = y_of("layernorm", {}, {7});
  CHECK(y[0] == 0.0);
  y = y_of("rmsnorm", {{"eps", "1"}}, {-3});
  CHECK(y[0] == Approx(-3 / std::sqrt(10.0)).epsilon(1e-15));
}

TEST_CASE("a zero row: finite outputs and gradients in every eps mode", "[invariance]") {
  for (std::string mode : {"inside", "outside", "clamp"}) {
    auto n = norm::make_normalizer("rmsnorm", {{"eps_mode", mode}});
    std::vector<double> x(8, 0.0), dy(8, 1.0);
    auto params = norm::initial_params<double>(n->param_specs(8));
    auto r = test::run(*n, x, params, 1, 8, &dy);
    INFO(mode);
    for (double v : r.y) CHECK(v == 0.0);
    // at x = 0 only the direct term survives: dx = dy * g / r(0)
    double r0 = mode == "inside" ? std::sqrt(1e-5) : 1e-5;
    for (double v : r.dx) CHECK(v == Approx(1 / r0).epsilon(1e-12));
  }
}
