// Every normalizer and every combination of its options against central finite differences in
// double: input and parameter gradients of loss = sum(y * dy) for a random dy (never sum(y),
// whose gradient vanishes for LayerNorm), relative error ||a - b|| / ||a + b|| <= 1e-6.
#include <catch2/catch.hpp>
#include <map>

#include "compare.hpp"
#include "gradcheck.hpp"
#include "helpers.hpp"
#include "norm/shift_scale.hpp"

namespace {

using namespace normlab;

// The step and its error budget are gradcheck.hpp's (numeric_gradient); 1e-6 is the single-layer
// bound of the style guide.
constexpr double kMaxRelativeError = 1e-6;

double loss(const norm::Normalizer& n, const std::vector<double>& x,
            const std::vector<double>& params, const std::vector<double>& dy, std::size_t B,
            std::size_t D) {
  auto y = test::run(n, x, params, B, D).y;
  double l = 0;
  for (std::size_t i = 0; i < y.size(); ++i) l += y[i] * dy[i];
  return l;
}

// Every combination of the options that apply to `kind`, each option over a few values.
std::vector<norm::NormOptions> option_grid(const norm::KindInfo& kind) {
  const std::map<std::string, std::vector<std::string>> values = {
      {"eps", {"1e-05"}},  // eps itself is varied through eps_mode; its value is data all the same
      {"eps_mode", {"inside", "outside", "clamp"}},
      {"gain", {"true", "false"}},
      {"bias", {"false", "true"}},
      {"zero_centered_gain", {"false", "true"}},
      {"p", {"0.0625", "0.3", "1"}},
      {"lambda", {"0", "0.35", "1"}},
      {"learn_lambda", {"false", "true"}},
      {"variance", {"two_pass", "one_pass", "welford"}},
      {"alpha0", {"0.5", "2"}},  // 2: most of a row in tanh's saturated tails
  };
  std::vector<norm::NormOptions> grid{{}};
  for (const auto& name : kind.options) {
    std::vector<norm::NormOptions> next;
    for (const auto& partial : grid) {
      for (const auto& value : values.at(name)) {
        auto o = partial;
        o[name] = value;
        next.push_back(o);
      }
    }
    grid = next;
  }
  return grid;
}

}  // namespace

TEST_CASE("gradients match central finite differences for every option combination",
          "[finite-difference]") {
  const std::string kind = GENERATE(from_range(norm::kind_names()));
  const std::size_t D = GENERATE(7, 16);
  const std::size_t B = 3;
  std::size_t checked = 0;
  for (const auto& options : option_grid(norm::kind_info(kind))) {
    // A zero-centered gain with gain=false is refused (tests/test_gain_option.cpp).
    if (options.count("gain") && options.at("gain") == "false" &&
        options.count("zero_centered_gain") && options.at("zero_centered_gain") == "true") {
      continue;
    }
    auto n = norm::make_normalizer(kind, options);
    Rng rng(42 + D);
    // Rows with an offset, so that centering and the mean's gradient paths are exercised.
    auto x = test::random_normal(B * D, rng, 0.7, 1.3);
    auto dy = test::random_normal(B * D, rng);
    auto params = test::random_params(*n, D, rng);
    auto analytic = test::run(*n, x, params, B, D, &dy);

    INFO(norm::describe(n->config()) << " B=" << B << " D=" << D);
    auto l = [&] { return loss(*n, x, params, dy, B, D); };
    auto dx = test::numeric_gradient(l, x);
    double e = test::relative_error(analytic.dx, dx);
    INFO("dx relative error " << e);
    CHECK(e <= kMaxRelativeError);
    if (!params.empty()) {
      auto dp = test::numeric_gradient(l, params);
      double ep = test::relative_error(analytic.grads, dp);
      INFO("parameter gradient relative error " << ep);
      CHECK(ep <= kMaxRelativeError);
    }
    ++checked;
  }
  CHECK(checked >= 1);
}

TEST_CASE("pRMSNorm: only the first k features receive the statistic's gradient",
          "[finite-difference]") {
  // With dy = 0 except at a feature j >= k, dx_m for m >= k, m != j must be exactly 0: the
  // statistic does not depend on x_m. For m < k it is not.
  const std::size_t B = 1, D = 16;
  auto n = norm::make_normalizer("prmsnorm", {{"p", "0.25"}});  // k = 4
  Rng rng(3);
  auto x = test::random_normal(D, rng);
  std::vector<double> dy(D, 0.0);
  dy[10] = 1.0;
  auto params = norm::initial_params<double>(n->param_specs(D));
  auto r = test::run(*n, x, params, B, D, &dy);
  for (std::size_t m = 0; m < D; ++m) {
    INFO("feature " << m);
    if (m == 10) CHECK(r.dx[m] != 0.0);
    else if (m < 4) CHECK(std::abs(r.dx[m]) > 1e-6);
    else CHECK(r.dx[m] == 0.0);
  }
}

TEST_CASE("every centered form computes its statistic alike with each variance algorithm",
          "[finite-difference]") {
  // A kind that is not registered (yet): full centering with each statistic and gain shape, as
  // adding a kind by its form alone would make. One-pass and Welford must give the two-pass
  // statistic over the form's divisor (D for an RMS, 1 for a norm), and gradients that match
  // finite differences. They once computed the variance over D whatever the divisor.
  using F = norm::KindForm;
  const std::size_t B = 3, D = 7;
  for (auto statistic : {F::Statistic::mean_square, F::Statistic::sum_square}) {
    for (auto gain : {F::Gain::vector, F::Gain::scalar}) {
      auto kind = norm::shift_scale_kind("centered_test", "", "", {},
                                         {.centering = F::Centering::full,
                                          .statistic = statistic,
                                          .gain = gain});
      std::vector<double> two_pass_y;
      for (auto algo : {norm::VarianceAlgo::two_pass, norm::VarianceAlgo::one_pass,
                        norm::VarianceAlgo::welford}) {
        auto config = kind.defaults;
        config.variance = algo;
        auto n = kind.make(config);
        Rng rng(11);
        auto x = test::random_normal(B * D, rng, 0.7, 1.3);
        auto dy = test::random_normal(B * D, rng);
        auto params = test::random_params(*n, D, rng);
        auto analytic = test::run(*n, x, params, B, D, &dy);
        INFO("sum_square " << (statistic == F::Statistic::sum_square) << ", scalar gain "
                           << (gain == F::Gain::scalar) << ", variance " << int(algo));
        if (algo == norm::VarianceAlgo::two_pass) two_pass_y = analytic.y;
        else CHECK(test::relative_error(analytic.y, two_pass_y) <= 1e-12);
        auto l = [&] { return loss(*n, x, params, dy, B, D); };
        CHECK(test::relative_error(analytic.dx, test::numeric_gradient(l, x)) <= kMaxRelativeError);
      }
    }
  }
}
