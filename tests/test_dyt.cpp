// DyT (norm/elementwise.hpp) beyond its PyTorch fixtures and finite differences: its parameters
// and their roles, the refusal of emulated precision, rows at the edges of the range, and the
// same bits on any thread count.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "helpers.hpp"
#include "nn/norm_site.hpp"

namespace {

using namespace normlab;
using Catch::Matchers::Contains;

}  // namespace

TEST_CASE("dyt: gain, bias and one scalar alpha at alpha0, alpha a non-decayed gain role",
          "[dyt]") {
  auto n = norm::make_normalizer("dyt", {{"alpha0", "0.8"}});
  const auto specs = n->param_specs(6);
  REQUIRE(specs.size() == 3);
  CHECK((specs[0].name == "gain" && specs[0].size == 6 && specs[0].init == 1.0));
  CHECK((specs[1].name == "bias" && specs[1].size == 6 && specs[1].init == 0.0));
  CHECK((specs[2].name == "alpha" && specs[2].size == 1 && specs[2].init == 0.8));
  CHECK(norm::make_normalizer("dyt", {{"bias", "false"}})->param_specs(6).size() == 2);
  CHECK(norm::resolve("dyt", {}).alpha0 == 0.5);
  // Not decayed, like a gain (nn/optim.cpp decays weights and embeddings only).
  CHECK(nn::norm_param_role("alpha") == nn::ParamRole::gain);
  CHECK_THROWS_WITH(nn::norm_param_role("alhpa"), Contains("alhpa"));
  // A site names it <prefix>.alpha with its init.
  nn::ParamStore<double> store;
  nn::NormSite<double> site(store, "block0.attn.norm", "dyt", {{"alpha0", "0.3"}}, 4, 0);
  store.allocate();
  Rng rng(1);
  store.initialize(0.0, 0.02, rng);
  const auto& infos = store.infos();
  REQUIRE(infos.size() == 3);
  CHECK(infos[2].name == "block0.attn.norm.alpha");
  CHECK(store.value(site.probe().alpha)[0] == 0.3);
}

TEST_CASE("dyt: bad alpha0 and emulated precision are refused naming the option", "[dyt]") {
  CHECK_THROWS_WITH(norm::resolve("dyt", {{"alpha0", "0"}}), Contains("alpha0 must be"));
  CHECK_THROWS_WITH(norm::resolve("dyt", {{"alpha0", "nan"}}), Contains("alpha0"));
  CHECK_THROWS_WITH(norm::resolve("dyt", {{"eps", "1e-6"}}),
                    Contains("option 'eps' does not apply to dyt"));
  CHECK_THROWS_WITH(norm::resolve("dyt", {{"storage", "bfloat16"}}),
                    Contains("element-wise") && Contains("storage"));
  CHECK_THROWS_WITH(norm::resolve("dyt", {{"accumulate", "float32"}}), Contains("element-wise"));
  // A configuration built by hand reaches the emulated kernels, which refuse it as well.
  norm::NormConfig c = norm::resolve("dyt", {});
  c.storage = norm::Storage::float16;
  CHECK_THROWS_WITH(norm::make_normalizer(c), Contains("no emulated form") && Contains("dyt"));
  // alpha0 belongs to dyt alone.
  CHECK_THROWS_WITH(norm::resolve("rmsnorm", {{"alpha0", "1"}}),
                    Contains("does not apply to rmsnorm"));
}

TEST_CASE("dyt: rows far beyond 1 saturate to +-g + b with a zero input gradient", "[dyt]") {
  // tanh(alpha x) = +-1 exactly for |alpha x| > 19 (double) or 9 (float): y = +-g + b, dx = 0,
  // and no overflow anywhere, up to the top of the range. Near 0 y = g alpha x + b (to x^3).
  const std::size_t B = 2, D = 5;
  auto n = norm::make_normalizer("dyt", {});
  const std::vector<double> g{0.5, 1, 1.5, 2, -1}, b{0.1, 0.2, 0.3, 0.4, 0.5};
  std::vector<double> params = g;
  params.insert(params.end(), b.begin(), b.end());
  params.push_back(0.5);
  std::vector<double> x{1e300, -1e300, 1.7e308, -3e38, 40, 1e-200, -1e-200, 0, 2e-9, -4e-9};
  std::vector<double> dy(B * D, 1.0);
  auto r = test::run<double>(*n, x, params, B, D, &dy);
  for (std::size_t j = 0; j < D; ++j) {
    CHECK(r.y[j] == std::copysign(1.0, x[j]) * g[j] + b[j]);
    CHECK(r.dx[j] == 0.0);
    CHECK(r.y[D + j] == Approx(g[j] * 0.5 * x[D + j] + b[j]).epsilon(1e-15));
    CHECK(r.dx[D + j] == Approx(g[j] * 0.5).epsilon(1e-15));
  }
  std::vector<float> xf{3e38f, -3e38f, 1e20f, -40, 40}, pf(params.begin(), params.end()),
      dyf(D, 1.0f);
  auto rf = test::run<float>(*n, xf, pf, 1, D, &dyf);
  for (std::size_t j = 0; j < D; ++j) {
    CHECK(rf.y[j] == float(std::copysign(1.0, xf[j]) * g[j] + b[j]));
    CHECK(rf.dx[j] == 0.0f);
    CHECK(std::isfinite(rf.grads[2 * D]));  // dalpha: sum of dy g (1 - t^2) x, 0 * x each
  }
}

TEST_CASE("dyt: the same bits on one thread and on two", "[dyt]") {
  const std::size_t B = 300, D = 48;  // several blocks of rows
  auto n = norm::make_normalizer("dyt", {});
  Rng rng(9);
  const auto x = test::random_normal(B * D, rng, 0.2, 2.0), dy = test::random_normal(B * D, rng);
  const auto params = test::random_params(*n, D, rng);
  const int before = threads();
  set_threads(1);
  const auto one = test::run<double>(*n, x, params, B, D, &dy);
  set_threads(2);
  const auto two = test::run<double>(*n, x, params, B, D, &dy);
  set_threads(before);
  CHECK(one.y == two.y);
  CHECK(one.dx == two.dx);
  CHECK(one.grads == two.grads);
}
