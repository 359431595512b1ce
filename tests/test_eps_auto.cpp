// eps=auto: the machine epsilon of the compute type (torch.nn.RMSNorm's eps=None). Its PyTorch
// references are in the rmsnorm and layernorm fixtures (y / y_float32); here the description,
// the value each type uses, the emulated formats' own epsilon, and finite differences.
#include <catch2/catch.hpp>
#include <cmath>

#include "gradcheck.hpp"
#include "helpers.hpp"
#include "nn/norm_site.hpp"

namespace {

using namespace normlab;

}  // namespace

TEST_CASE("eps=auto: described as auto, the machine epsilon of float and of double", "[eps-auto]") {
  const auto c = norm::resolve("rmsnorm", {{"eps", "auto"}});
  CHECK(c.eps_auto);
  CHECK(norm::describe(c) == "rmsnorm(eps=auto,eps_mode=inside,bias=false,zero_centered_gain=false)");
  CHECK(norm::resolve("rmsnorm", norm::parse_options(norm::options_string(c))).eps_auto);
  CHECK(norm::eps_for<float>(c) == 1.1920928955078125e-07);
  CHECK(norm::eps_for<double>(c) == 2.220446049250313e-16);
  CHECK(norm::eps_for<double>(norm::resolve("rmsnorm", {})) == 1e-5);
  CHECK_FALSE(norm::resolve("rmsnorm", {{"eps", "1e-6"}}).eps_auto);
  CHECK_THROWS(norm::resolve("rmsnorm", {{"eps", "automatic"}}));
  // A site reports the eps its type uses.
  nn::ParamStore<float> store;
  nn::NormSite<float> site(store, "n", "layernorm", {{"eps", "auto"}}, 4, 0);
  CHECK(site.probe().eps == 1.1920928955078125e-07);
}

TEST_CASE("eps=auto: a row whose mean square is near eps shows which eps each type used",
          "[eps-auto]") {
  // x = 1e-4 everywhere: mean square 1e-8. y = x / sqrt(1e-8 + eps): float's eps (1.19e-7) gives
  // 0.278, double's (2.2e-16) 1 - 1e-8, bfloat16's (2^-7, emulated storage) 0.00113.
  const std::size_t D = 8;
  const double x0 = 1e-4;
  auto expected = [&](double eps) { return x0 / std::sqrt(x0 * x0 + eps); };
  auto n = norm::make_normalizer("rmsnorm", {{"eps", "auto"}});
  const auto pd = norm::initial_params<double>(n->param_specs(D));
  const auto pf = norm::initial_params<float>(n->param_specs(D));
  const auto yd = test::run<double>(*n, std::vector<double>(D, x0), pd, 1, D).y;
  const auto yf = test::run<float>(*n, std::vector<float>(D, float(x0)), pf, 1, D).y;
  CHECK(yd[0] == Approx(expected(2.220446049250313e-16)).epsilon(1e-14));
  CHECK(yf[0] == Approx(expected(1.1920928955078125e-07)).epsilon(1e-6));
  auto bf16 = norm::make_normalizer("rmsnorm", {{"eps", "auto"}, {"storage", "bfloat16"}});
  const auto yb = test::run<double>(*bf16, std::vector<double>(D, x0), pd, 1, D).y;
  CHECK(yb[0] == Approx(expected(std::ldexp(1.0, -7))).epsilon(1e-2));  // bfloat16's 8 bits
}

TEST_CASE("eps=auto: gradients match central finite differences in double", "[eps-auto]") {
  const std::size_t B = 3, D = 9;
  for (const char* kind : {"rmsnorm", "layernorm", "pcnorm"}) {
    for (const char* mode : {"inside", "outside", "clamp"}) {
      auto n = norm::make_normalizer(kind, {{"eps", "auto"}, {"eps_mode", mode}});
      Rng rng(17);
      auto x = test::random_normal(B * D, rng, 0.5, 1.2);
      const auto dy = test::random_normal(B * D, rng);
      const auto params = test::random_params(*n, D, rng);
      const auto analytic = test::run<double>(*n, x, params, B, D, &dy);
      auto loss = [&] {
        const auto y = test::run<double>(*n, x, params, B, D).y;
        double l = 0;
        for (std::size_t i = 0; i < y.size(); ++i) l += y[i] * dy[i];
        return l;
      };
      INFO(kind << " eps_mode=" << mode);
      CHECK(test::relative_error(analytic.dx, test::numeric_gradient(loss, x)) <= 1e-6);
    }
  }
}
