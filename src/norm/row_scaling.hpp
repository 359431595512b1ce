// Rows at the edges of the floating-point range, for the shift-scale kernels (shift_scale.cpp).
//
// A row as it is overflows or loses its digits at the edges of the range: in double the sum of
// squares overflows from |x| ~ 1.4e154 (y = 0), and at 1.7e308 the mean and x - mean do (NaN); in
// float the statistic is safe in double, but the backward's c ~ dy * rstd^2 and rstd itself leave
// float's normal range from |x| ~ 1e19 (dx 17-86% off). Such a row is redone as x' = x * 2^-e, its
// largest |x'| in [1, 2). A power of two scales every sum, product and root exactly, so
//   z' = z 2^-e,  s' = s 4^-e,  r'(s') = r(s) 2^-e  with  eps' = eps 4^-e (inside the root) or
//   eps 2^-e (outside, clamp): eps still adds to the unscaled statistic;
//   y = (g0 + g) z' / r'(s') + b is y itself, and dx = 2^-e dx'.
// Where nothing over- or underflows, that is the unscaled result bit for bit (test_edges.cpp).
// The decision is per row, on the finished statistics: the normal path does no work per element.

#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

namespace normlab::norm {

struct RowStatistics {
  double mean = 0;  // the row mean (0 where the kind does not center)
  double stat = 0;  // the statistic s (0 without a rescale)
  double rstd = 1;  // 1 / r(s) (1 without a rescale)
};

// rstd within [1/kRstdRange, kRstdRange] keeps a row's arithmetic in T accurate: s did not over-
// or underflow (double: s within 4^-256..4^256), and c ~ dy rstd^2 is a normal T for any
// reasonable dy (float: dy within 2^-60..2^60).
template <class T>
constexpr double kRstdRange = std::is_same_v<T, float> ? 0x1p32 : 0x1p256;

// Whether a row with these statistics needs the rescaling: without a rescale only the mean can
// overflow (double, the sum of ~1e308s); NaN statistics say yes (and row_exponent says no when x
// itself is not finite).
template <class T>
bool outside_safe_range(const RowStatistics& s, bool rescale) {
  if (!rescale) return !std::isfinite(s.mean);
  return !(s.rstd <= kRstdRange<T> && s.rstd >= 1 / kRstdRange<T>);
}

// e with max_{j<n} |x_j| * 2^-e in [1, 2), raised where eps * 2^(-power*e) would overflow (a tiny
// row with a small eps: eps dominates there, x' < 1 does no harm); 0 when the row cannot be
// rescaled (all zero, or a value not finite).  x: (n)
template <class T>
int row_exponent(const T* x, std::size_t n, double eps, int power) {
  double m = 0;
  bool finite = true;
  for (std::size_t j = 0; j < n; ++j) {
    finite = finite && std::isfinite(x[j]);
    m = std::max(m, std::fabs(double(x[j])));
  }
  if (!finite || m == 0) return 0;
  const int e = std::ilogb(m);
  return eps > 0 ? std::max(e, (std::ilogb(eps) - 1020) / power) : e;  // rounds up: eps' < 2^1021
}

// The row the kernels compute on: x with its statistics (e = 0), or x * 2^-e with the scaled
// row's statistics and eps.
template <class T>
struct KernelRow {
  const T* x;
  RowStatistics stats;
  double eps;
  int e = 0;
  // The statistics of x itself (the stat may overflow to inf: it is not representable); rstd
  // stays 1 without a rescale.
  RowStatistics unscaled(bool rescale) const {
    return {std::ldexp(stats.mean, e), std::ldexp(stats.stat, 2 * e),
            rescale ? std::ldexp(stats.rstd, -e) : 1.0};
  }
};

}  // namespace normlab::norm
