// The per-ISA kernels (core/kernels.hpp): every table this CPU runs, against libm in double.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/kernels.hpp"
#include "core/parallel.hpp"

using namespace normlab;

namespace {

// |a - ref| in ulps of float(ref)
double ulps(float a, double ref) {
  const float r = float(ref);
  const float ulp = std::nextafter(std::fabs(r), INFINITY) - std::fabs(r);
  return std::fabs(double(a) - ref) / double(ulp);
}

// A dense grid of [lo, hi] and every float of [-1, 1] in steps of about 1e-6 (where tanh and
// sigmoid change form and GELU's terms cancel).
std::vector<float> grid(float lo, float hi) {
  std::vector<float> x;
  const int steps = 400000;
  for (int i = 0; i <= steps; ++i) x.push_back(lo + (hi - lo) * float(i) / float(steps));
  for (float v = -1.0f; v <= 1.0f; v = std::nextafter(v, 2.0f) + 1e-6f) x.push_back(v);
  return x;
}

constexpr double kInvSqrt2 = 0.70710678118654752440, kInvSqrt2Pi = 0.39894228040143267794;
double cdf(double x) { return 0.5 * std::erfc(-x * kInvSqrt2); }
double pdf(double x) { return kInvSqrt2Pi * std::exp(-0.5 * x * x); }

}  // namespace

TEST_CASE("kernels: the active table is one this CPU runs, and NORMLAB_ISA's names exist",
          "[kernels]") {
  const auto can = kernels::runnable();
  REQUIRE(!can.empty());
  CHECK(can.front()->isa == kernels::Isa::generic);  // the build's own target always runs
  const kernels::Table& a = kernels::active();
  bool listed = false;
  for (const kernels::Table* t : can) listed = listed || t == &a;
  CHECK(listed);
  for (const kernels::Table* t : can) {
    INFO(kernels::describe(*t));
    CHECK(t->float_lanes >= 1);
    CHECK(t->exp_shifted != nullptr);
#if defined(__x86_64__)
    if (t->isa == kernels::Isa::avx2) CHECK(t->float_lanes == 8);
    if (t->isa == kernels::Isa::avx512) CHECK(t->float_lanes == 16);
#endif
  }
}

TEST_CASE("kernels: exp, sigmoid, tanh and GELU are within a few ulps of libm in double, on "
          "every ISA this CPU runs", "[kernels][float-math]") {
  for (const kernels::Table* t : kernels::runnable()) {
    INFO(kernels::describe(*t));
    // The error in ulps of the result, over 1 + the condition number |x f'(x) / f(x)| where one is
    // given: a float x / sqrt(2) (or x^2 / 2) is already off by half an ulp of the argument, which
    // GELU's left tail (condition number about x^2) magnifies; no float algorithm does better
    // than that without carrying the argument in extra precision.
    struct Case {
      const char* name;
      float lo, hi;
      double (*ref)(double);
      double max_ulps;  // measured: see the INFO line of a failure
      double (*cond)(double) = nullptr;
    };
    auto check = [&](const Case& c, auto apply) {
      const std::vector<float> x = grid(c.lo, c.hi);
      std::vector<float> y(x.size());
      apply(y.data(), x.data(), x.size());
      double worst = 0;
      float at = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double e = ulps(y[i], c.ref(double(x[i]))) / (c.cond ? 1 + c.cond(x[i]) : 1);
        if (e > worst) worst = e, at = x[i];
      }
      INFO(c.name << ": worst " << worst << " ulp at x = " << at);
      CHECK(worst <= c.max_ulps);
    };
    check({"exp", -87, 88, [](double v) { return std::exp(v); }, 2},
          [&](float* y, const float* x, std::size_t n) { t->exp_shifted(y, x, n, 0.0f); });
    check({"sigmoid", -80, 30, [](double v) { return 1 / (1 + std::exp(-v)); }, 4},
          [&](float* y, const float* x, std::size_t n) { t->sigmoid(y, x, n); });
    check({"tanh", -20, 20, [](double v) { return std::tanh(v); }, 3},
          [&](float* y, const float* x, std::size_t n) { t->tanh(y, x, n); });
    // GELU's condition number x f'/f = 1 + x phi(x) / Phi(x), about x^2 for x << 0
    check({"gelu", -12, 12, [](double v) { return v * cdf(v); }, 6,
           [](double v) { return std::fabs(1 + v * pdf(v) / cdf(v)); }},
          [&](float* y, const float* x, std::size_t n) { t->gelu_forward(y, x, n); });

    // GELU's derivative Phi(x) + x phi(x) crosses 0 near x = -0.75, where the two terms cancel:
    // there the error is bounded by the terms' size, not the result's; and as above, the terms'
    // own condition number grows as x^2 in the left tail.
    const std::vector<float> x = grid(-12, 12);
    std::vector<float> dy(x.size(), 1.0f), dx(x.size());
    t->gelu_backward(dx.data(), dy.data(), x.data(), x.size());
    double worst = 0;
    float at = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double v = x[i], ref = cdf(v) + v * pdf(v);
      const double scale = cdf(v) + std::fabs(v) * pdf(v);  // the terms' magnitude
      const double e = std::fabs(dx[i] - ref) / (scale * 0x1p-24) / (1 + v * v);
      if (e > worst) worst = e, at = x[i];
    }
    INFO("gelu backward: worst " << worst << " units of 2^-24 (Phi + |x| phi) (1 + x^2) at x = "
         << at);
    CHECK(worst <= 8);
  }
}

TEST_CASE("kernels: special values and limits", "[kernels][float-math]") {
  for (const kernels::Table* t : kernels::runnable()) {
    INFO(kernels::describe(*t));
    const float x[] = {0.0f, 1e-30f, -1e-30f, 100.0f, -100.0f, -200.0f};
    float y[6];
    t->tanh(y, x, 6);
    CHECK(y[0] == 0.0f);
    CHECK(y[1] == 1e-30f);  // tanh x = x to float precision for tiny x
    CHECK(y[3] == 1.0f);
    CHECK(y[4] == -1.0f);
    t->sigmoid(y, x, 6);
    CHECK(y[0] == 0.5f);
    CHECK(y[3] == 1.0f);
    CHECK(y[5] >= 0.0f);
    CHECK(y[5] < 1e-37f);
    t->gelu_forward(y, x, 6);
    CHECK(y[0] == 0.0f);
    CHECK(y[3] == 100.0f);
    CHECK(y[4] == 0.0f);  // -100 Phi(-100): below the smallest float
    t->exp_shifted(y, x, 6, 0.0f);
    CHECK(y[0] == 1.0f);
    CHECK(y[5] == 0.0f);
  }
}

TEST_CASE("kernels: an element's result does not depend on its position or the call's length",
          "[kernels]") {
  // The tail of a call goes through a padded vector, so splitting an array across threads, or
  // calling on a row of any length, changes no bit.
  std::vector<float> x(103);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = -6.0f + 0.117f * float(i);
  for (const kernels::Table* t : kernels::runnable()) {
    INFO(kernels::describe(*t));
    std::vector<float> whole(x.size()), pieces(x.size()), dxw(x.size()), dxp(x.size());
    const std::vector<float> dy(x.size(), 0.5f);
    t->gelu_forward(whole.data(), x.data(), x.size());
    t->gelu_backward(dxw.data(), dy.data(), x.data(), x.size());
    for (std::size_t i = 0; i < x.size(); i += 7) {
      const std::size_t n = std::min<std::size_t>(7, x.size() - i);
      t->gelu_forward(pieces.data() + i, x.data() + i, n);
      t->gelu_backward(dxp.data() + i, dy.data() + i, x.data() + i, n);
    }
    CHECK(whole == pieces);
    CHECK(dxw == dxp);
  }
}
