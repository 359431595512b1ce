// What the statistics and the invariance theory say about an element-wise kind (DyT): its alpha,
// the share of inputs it saturates (|alpha x| > 2) counted here by hand, NaN for what it does not
// have, and the update ratio over all its parameters, alpha included.
#include <catch2/catch.hpp>

#include <cmath>

#include "analysis/invariance.hpp"
#include "helpers.hpp"
#include "io/run_schema.hpp"
#include "nn/norm_site.hpp"
#include "stats/recorder.hpp"

using namespace normlab;

namespace {

double value(const stats::Recorder<double>& rec, const char* name, std::size_t site) {
  const auto& names = stats::stat_names();
  const std::size_t s = std::size_t(std::find(names.begin(), names.end(), name) - names.begin());
  REQUIRE(s < names.size());
  return rec.values()[s * rec.sites() + site];
}

}  // namespace

TEST_CASE("dyt statistics: alpha and the saturated share as counted by hand; NaN elsewhere",
          "[stats][dyt]") {
  const std::size_t B = 4, D = 16;
  nn::ParamStore<double> store;
  nn::NormSite<double> dyt(store, "a", "dyt", {{"alpha0", "0.7"}}, D, 0);
  nn::NormSite<double> rms(store, "b", "rmsnorm", {}, D, 0);
  store.allocate();
  Rng rng(5);
  store.initialize(0.0, 0.02, rng);
  stats::Recorder<double> rec({&dyt.probe(), &rms.probe()}, store);
  // x spread over the threshold |0.7 x| = 2 (|x| = 2.857): N(0, 3^2) saturates about a third.
  auto x = test::random_normal(B * D, rng, 0.0, 3.0);
  const auto dy = test::random_normal(B * D, rng);
  std::vector<double> y(B * D), dx(B * D);
  rec.begin();
  for (int call = 0; call < 2; ++call) {  // two calls in a step: both counted
    dyt.forward(store, y.data(), x.data(), B, std::size_t(call));
    rms.forward(store, y.data(), x.data(), B, std::size_t(call));
  }
  dyt.backward(store, dx.data(), dy.data(), x.data(), B, 0);
  rms.backward(store, dx.data(), dy.data(), x.data(), B, 0);
  rec.after_backward();
  double saturated = 0;
  for (double v : x) saturated += std::abs(0.7 * v) > 2.0;
  const double share = saturated / double(x.size());
  CHECK(share > 0.2);
  CHECK(share < 0.6);
  CHECK(value(rec, io::schema::stat::kAlpha, 0) == Approx(0.7).epsilon(1e-15));
  CHECK(value(rec, io::schema::stat::kSaturatedShare, 0) == Approx(share).epsilon(1e-15));
  CHECK(std::isnan(value(rec, io::schema::stat::kLambda, 0)));  // dyt has no lambda
  CHECK(value(rec, io::schema::stat::kGainMean, 0) == 1.0);
  // A shift-scale kind has neither.
  CHECK(std::isnan(value(rec, io::schema::stat::kAlpha, 1)));
  CHECK(std::isnan(value(rec, io::schema::stat::kSaturatedShare, 1)));
  // The update ratio covers alpha: change only alpha by 1% of the parameters' norm.
  const auto before = std::vector<double>(store.value(dyt.probe().gain).begin(),
                                          store.value(dyt.probe().gain).end());
  double norm2 = 0;
  for (double v : before) norm2 += v * v;
  for (double v : store.value(dyt.probe().bias)) norm2 += v * v;
  norm2 += 0.7 * 0.7;
  store.value(dyt.probe().alpha)[0] += 0.01 * std::sqrt(norm2);
  rec.after_update();
  CHECK(value(rec, io::schema::stat::kUpdateRatio, 0) == Approx(0.01).epsilon(1e-12));
}

TEST_CASE("invariance theory: dyt is invariant to neither scale nor shift", "[analysis][dyt]") {
  CHECK_FALSE(analysis::expected_invariant("dyt", "scale", 0.5));
  CHECK_FALSE(analysis::expected_invariant("dyt", "shift", 0.5));
  CHECK(analysis::expected_invariant("rmsnorm", "scale", 0.5));
}
