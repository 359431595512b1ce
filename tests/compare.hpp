// The one comparison helper of the tests: shape first, then per element
//   |actual - ref| <= atol + rtol * |ref|
// and on failure the tensor's name, the worst index, the max abs and rel error and a few pairs.
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

namespace normlab::test {

struct Tolerance {
  double rtol;
  double atol;
  // Optional per-element absolute floors, added to atol (e.g. a floor per row of a matrix).
  std::vector<double> atol_each = {};
};

struct CompareResult {
  bool ok = true;
  std::string message;
};

template <class A, class R>
CompareResult compare(const std::string& name, const A* actual, std::size_t actual_size,
                      const R* ref, std::size_t ref_size, Tolerance tol) {
  std::ostringstream msg;
  if (actual_size != ref_size) {
    msg << name << ": size " << actual_size << ", reference size " << ref_size;
    return {false, msg.str()};
  }
  std::size_t worst = 0, failures = 0;
  double worst_excess = -1, max_abs = 0, max_rel = 0;
  for (std::size_t i = 0; i < ref_size; ++i) {
    double a = double(actual[i]), r = double(ref[i]);
    double err = std::abs(a - r);
    if (std::isnan(a) != std::isnan(r)) err = INFINITY;
    double bound = tol.atol + tol.rtol * std::abs(r) +
                   (tol.atol_each.empty() ? 0.0 : tol.atol_each[i]);
    max_abs = std::max(max_abs, err);
    if (r != 0) max_rel = std::max(max_rel, err / std::abs(r));
    if (!(err <= bound)) ++failures;
    double excess = err - bound;
    if (excess > worst_excess || std::isnan(excess)) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (failures == 0) return {};
  msg.precision(17);
  msg << name << ": " << failures << " of " << ref_size << " elements out of tolerance (rtol "
      << tol.rtol << ", atol " << tol.atol
      << (tol.atol_each.empty() ? "" : " + per-element floor") << "); worst at index " << worst << ": " << actual[worst]
      << " vs reference " << ref[worst] << "; max abs error " << max_abs << ", max rel error "
      << max_rel << "; first pairs:";
  for (std::size_t i = 0; i < std::min<std::size_t>(ref_size, 4); ++i)
    msg << " (" << actual[i] << ", " << ref[i] << ")";
  return {false, msg.str()};
}

// REQUIRE-style wrapper: records the message as the failure text.
#define NORMLAB_CHECK_CLOSE(name, actual, actual_size, ref, ref_size, tol)                       \
  do {                                                                                          \
    auto normlab_result_ = ::normlab::test::compare(name, actual, actual_size, ref, ref_size,   \
                                                    tol);                                       \
    INFO(normlab_result_.message);                                                              \
    CHECK(normlab_result_.ok);                                                                  \
  } while (0)

// ||a - b|| / ||a + b||: the relative error of the finite-difference checks (mlpack's measure).
inline double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    sum += (a[i] + b[i]) * (a[i] + b[i]);
  }
  return sum == 0 ? std::sqrt(diff) : std::sqrt(diff / sum);
}

}  // namespace normlab::test
