// Wall-clock timing for benchmarks and step times.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace normlab {

class Timer {
 public:
  Timer() : start_(Clock::now()) {}
  void reset() { start_ = Clock::now(); }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
};

// The median of measured times (the upper middle one for an even count); NaN for none.
inline double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
  return v[v.size() / 2];
}

}  // namespace normlab
