// Central finite differences for the layer and model gradient tests (double precision).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "compare.hpp"

namespace normlab::test {

constexpr double kMaxGradientError = 1e-6;  // as the normalizers' check (test_finite_difference)

// Central differences of loss() with respect to every element of v (v is perturbed in place and
// restored). At h = 1e-5 * max(1, |v_i|) the truncation error is O(h^2) ~ 1e-10 and the rounding
// error ~ 1e-16 / h ~ 1e-11 for O(1) inputs, well under the 1e-6 bound.
inline std::vector<double> numeric_gradient(const std::function<double()>& loss,
                                            std::vector<double>& v) {
  std::vector<double> g(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double saved = v[i], h = 1e-5 * std::max(1.0, std::abs(saved));
    v[i] = saved + h;
    double up = loss();
    v[i] = saved - h;
    double down = loss();
    v[i] = saved;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace normlab::test

// Relative error ||a - n|| / ||a + n|| of an analytic against a numeric gradient, at most 1e-6.
#define CHECK_GRADIENT(name, analytic, numeric)                         \
  do {                                                                 \
    double e_ = ::normlab::test::relative_error(analytic, numeric);    \
    INFO(name << " relative error " << e_);                            \
    CHECK(e_ <= ::normlab::test::kMaxGradientError);                   \
  } while (0)
