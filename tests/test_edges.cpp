// Rows at the edges of the floating-point range, in every kind: a row x * 2^k must give what x
// gives, scaled as the kind says (y * 2^k without a rescale, else y; dx * 2^-k with a rescale,
// else dx; parameter gradients alike). Scaling by a power of two is exact, so the two agree to a
// few ulps unless an intermediate overflows or underflows: before the rows were rescaled
// (norm/shift_scale.cpp, "rows at the edges"), |x| >= 1.4e154 gave y = 0 in double (the sum of
// squares overflowed), 1.7e308 gave NaN, and the float backward was 17-86% off from |x| ~ 1e20.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "helpers.hpp"
#include "norm/registry.hpp"

namespace {

using namespace normlab;

// Rows of small values (|x| <= 4): random, offset by 10 sd (the sum overflows at the top of the
// range), and of mixed sign around a large mean of each sign.
std::vector<double> small_rows(std::size_t B, std::size_t D, Rng& rng) {
  std::vector<double> x = test::random_normal(B * D, rng);
  for (std::size_t i = 0; i < B; ++i) {
    double offset = i % 3 == 1 ? 3.0 : i % 3 == 2 ? -2.5 : 0.0;
    double m = 0;
    for (std::size_t j = 0; j < D; ++j) m = std::max(m, std::fabs(x[i * D + j] += offset));
    for (std::size_t j = 0; j < D; ++j) x[i * D + j] *= 2.0 / m;  // |x| <= 2
  }
  return x;
}

// max over elements of |a * 2^-k - ref| / (ulp(T) * max over the row of |ref|): a's scaled
// error in ulps at the row's scale, beyond the rounding of a subnormal a (half T's smallest
// subnormal, which no method avoids: dx at 1.7e308 is subnormal). Infinity for a non-finite a.
template <class T>
double worst_ulps(const std::vector<T>& a, int k, const std::vector<T>& ref, std::size_t D) {
  const double subnormal_rounding =
      std::ldexp(double(std::numeric_limits<T>::denorm_min()), -k - 1);
  double worst = 0;
  for (std::size_t i = 0; i < ref.size() / D; ++i) {
    double scale = 0;
    for (std::size_t j = 0; j < D; ++j) scale = std::max(scale, std::fabs(double(ref[i * D + j])));
    for (std::size_t j = 0; j < D; ++j) {
      if (!std::isfinite(a[i * D + j])) return std::numeric_limits<double>::infinity();
      if (scale == 0) continue;
      const double e = std::max(
          0.0, std::fabs(std::ldexp(double(a[i * D + j]), -k) - double(ref[i * D + j])) -
                   subnormal_rounding);
      worst = std::max(worst, e / (std::numeric_limits<T>::epsilon() * scale));
    }
  }
  return worst;
}

// x * 2^k under `big_config` against x under `config` (which differ in eps at most) for one kind
// in T, D features: y, dx and the parameter gradients.
template <class T>
void check_scaled(const norm::NormConfig& config, const norm::NormConfig& big_config, int k,
                  std::size_t D, double max_ulps) {
  const std::size_t B = 6;
  auto n = norm::make_normalizer(config), big_n = norm::make_normalizer(big_config);
  const bool rescale = norm::form(config, D).rescale;
  Rng rng(D + 7);
  const auto x64 = small_rows(B, D, rng);
  const auto dy64 = test::random_normal(B * D, rng);
  const auto p64 = test::random_params(*n, D, rng);
  std::vector<T> x(x64.begin(), x64.end()), dy(dy64.begin(), dy64.end()), p(p64.begin(), p64.end());
  std::vector<T> big(x.size());
  for (std::size_t j = 0; j < x.size(); ++j) big[j] = std::ldexp(x[j], k);
  const auto small_pass = test::run<T>(*n, x, p, B, D, &dy);
  const auto big_pass = test::run<T>(*big_n, big, p, B, D, &dy);
  INFO(norm::describe(big_config) << " T=" << (sizeof(T) == 4 ? "float" : "double") << " D=" << D
                              << " max|x|=" << std::ldexp(2.0, k));
  CHECK(worst_ulps(big_pass.y, rescale ? 0 : k, small_pass.y, D) <= max_ulps);
  CHECK(worst_ulps(big_pass.dx, rescale ? -k : 0, small_pass.dx, D) <= max_ulps);
  // The gradients of the gain and of lambda scale as y does; the bias's does not.
  std::size_t offset = 0;
  for (const auto& s : n->param_specs(D)) {
    auto part = [&](const std::vector<T>& g) {
      return std::vector<T>(g.begin() + offset, g.begin() + offset + s.size);
    };
    INFO("gradient of " << s.name);
    CHECK(worst_ulps(part(big_pass.grads), rescale || s.name == "bias" ? 0 : k,
                     part(small_pass.grads), s.size) <= max_ulps);
    offset += s.size;
  }
}

// Every kind with its defaults, and with each option that changes its arithmetic, where it has it.
std::vector<std::pair<norm::KindInfo, norm::NormOptions>> variants() {
  const std::vector<norm::NormOptions> changes = {
      {},
      {{"variance", "one_pass"}},  // E[x^2] overflows first: its NaN must reach the rescaling
      {{"variance", "welford"}},
      {{"eps_mode", "outside"}},
      {{"eps_mode", "clamp"}},
      {{"learn_lambda", "true"}},  // dlambda = -mean * sum(dz) from the scaled row
      {{"zero_centered_gain", "true"}}};
  std::vector<std::pair<norm::KindInfo, norm::NormOptions>> out;
  for (const auto& info : norm::kinds()) {
    // An element-wise kind (DyT) saturates: tests/test_dyt.cpp checks its rows at the edges.
    if (info.form.family == norm::KindForm::Family::elementwise) continue;
    for (const auto& change : changes) {
      const bool applies = std::all_of(change.begin(), change.end(), [&](const auto& option) {
        return std::count(info.options.begin(), info.options.end(), option.first) > 0;
      });
      if (applies) out.emplace_back(info, change);
    }
  }
  return out;
}

// 2^k with max|x| = 2^(k+1) at about `magnitude`, not above it.
int exponent_for(double magnitude) { return std::ilogb(magnitude) - 1; }

}  // namespace

TEST_CASE("rows near overflow give what the same rows scaled down give, in every kind",
          "[norm][edges]") {
  // Measured (gcc 12, -O3 -march=native): 0 ulps, bit for bit, in double and float alike (up to
  // 2.6 before the subnormal rounding of dx at 1.7e308 and 3e38 was set aside). Before the rows
  // were rescaled: y = 0 or NaN in double from 1e150, the float dx ~2.5e6 ulps (15% of the row's
  // largest value) from 1e19.
  constexpr double kMaxUlps = 4;
  for (const auto& [info, options] : variants()) {
    // The big rows with the kind's eps (1e-5, say), the small ones with 1e-300: far below the
    // statistic at either scale, so that both compute the same y.
    norm::NormConfig big = norm::resolve(info.name, options), small = big;
    small.eps = 1e-300;
    // Without a rescale y = g (x - lambda mean) scales with x only without a bias, and is kept
    // an eighth below the top so that it exists.
    const bool rescale = norm::form(big, 8).rescale;
    if (!rescale) big.bias = small.bias = false;
    const double room = rescale ? 1.0 : 0.125;
    for (std::size_t D : {5, 64}) {
      for (double m : {1e150, 1e200, 1e300, 1.7e308}) {
        check_scaled<double>(small, big, exponent_for(m * room), D, kMaxUlps);
      }
      for (double m : {1e19, 1e20, 1e30, 3e38}) {
        check_scaled<float>(small, big, exponent_for(m * room), D, kMaxUlps);
      }
    }
  }
}

TEST_CASE("rows far from 1 keep eps exact: eps scaled with the row gives the same y",
          "[norm][edges]") {
  // eps enters the unscaled statistic: a row x * 2^k with eps * 4^k (inside the root) or eps * 2^k
  // (outside, clamp) is the row x with eps, exactly, and eps here is large enough to matter (0.3:
  // a clamp that binds on some rows). Rows scaled up as well as down, where the rescaling applies
  // (double beyond 2^256, float beyond 2^32) and where it does not.
  constexpr double kMaxUlps = 4;
  for (const auto& info : norm::kinds()) {
    norm::NormConfig config = norm::resolve(info.name, {});
    if (!norm::form(config, 8).rescale) continue;
    for (auto mode : {norm::EpsMode::inside, norm::EpsMode::outside, norm::EpsMode::clamp}) {
      config.eps_mode = mode;
      const int power = mode == norm::EpsMode::inside ? 2 : 1;
      config.eps = 0.3;
      norm::NormConfig big = config;
      for (int k : {-400, -300, 20, 300, 400}) {
        big.eps = std::ldexp(0.3, power * k);
        check_scaled<double>(config, big, k, 64, kMaxUlps);
      }
      for (int k : {-50, -40, 20, 40, 60}) {
        big.eps = std::ldexp(0.3, power * k);
        check_scaled<float>(config, big, k, 64, kMaxUlps);
      }
    }
  }
}

TEST_CASE("emulated precisions run rows at the edges unscaled: their overflow is the measurement",
          "[norm][edges]") {
  // storage/accumulate emulate what bfloat16 or float16 hardware computes (norm/emulated*.cpp),
  // so the rows are not rescaled there: they must run without a crash, and a value beyond the
  // format's range overflows as on the hardware (float16 holds at most 65504).
  const std::size_t B = 6, D = 64;
  Rng rng(3);
  const auto x64 = small_rows(B, D, rng);
  const auto dy64 = test::random_normal(B * D, rng);
  for (const auto& info : norm::kinds()) {
    if (info.form.family == norm::KindForm::Family::elementwise) continue;  // no emulated form
    for (auto storage : {norm::Storage::float32, norm::Storage::bfloat16, norm::Storage::float16}) {
      norm::NormConfig config = norm::resolve(info.name, {});
      config.storage = storage;
      config.accumulate = norm::Accumulate::storage;
      auto n = norm::make_normalizer(config);
      const auto p64 = test::random_params(*n, D, rng);
      INFO(norm::describe(config));
      for (int k : {100, 1000}) {  // |x| to 2^101 (float16: inf) and 2^1001 (float32 too)
        std::vector<double> x(x64.size());
        for (std::size_t j = 0; j < x.size(); ++j) x[j] = std::ldexp(x64[j], k);
        test::Pass<double> pass;
        REQUIRE_NOTHROW(pass = test::run<double>(*n, x, p64, B, D, &dy64));
        const bool overflows = storage == norm::Storage::float16 || k == 1000;
        const auto finite = [](double v) { return std::isfinite(v); };
        if (overflows) CHECK_FALSE(std::all_of(pass.y.begin(), pass.y.end(), finite));
      }
    }
  }
}
