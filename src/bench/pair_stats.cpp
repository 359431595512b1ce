#include "bench/pair_stats.hpp"

#include <boost/math/distributions/students_t.hpp>

#include "bench/workloads.hpp"
#include "core/error.hpp"

namespace normlab::tools {

PairedRatio paired_ratio(std::span<const double> a, std::span<const double> b, double level) {
  if (a.size() != b.size()) {
    fail("paired_ratio: ", a.size(), " times of A but ", b.size(), " of B; they come in pairs");
  }
  if (!(level > 0 && level < 1)) fail("paired_ratio: the level must be in (0, 1), got ", level);
  PairedRatio r;
  r.n = a.size();
  if (r.n == 0) return r;
  // Two passes in double: the log ratios are small numbers close to each other.
  double sum = 0;
  for (std::size_t i = 0; i < r.n; ++i) {
    if (!(a[i] > 0) || !(b[i] > 0)) fail("paired_ratio: block ", i, " has a time that is not > 0");
    sum += std::log(b[i] / a[i]);
  }
  r.mean_log = sum / double(r.n);
  r.ratio = std::exp(r.mean_log);
  if (r.n < 2) return r;
  double squares = 0;
  for (std::size_t i = 0; i < r.n; ++i) {
    const double d = std::log(b[i] / a[i]) - r.mean_log;
    squares += d * d;
  }
  r.sd_log = std::sqrt(squares / double(r.n - 1));
  const boost::math::students_t t(double(r.n - 1));
  r.t_quantile = boost::math::quantile(t, 0.5 + level / 2);
  const double half = r.t_quantile * r.sd_log / std::sqrt(double(r.n));
  r.lo = std::exp(r.mean_log - half);
  r.hi = std::exp(r.mean_log + half);
  return r;
}

namespace {
std::string percent(double fraction) { return fixed(100 * fraction, 1) + "%"; }
}  // namespace

std::string ratio_verdict(const PairedRatio& r, const std::string& b, const std::string& a) {
  if (!std::isfinite(r.lo) || !std::isfinite(r.hi)) {
    return "no interval (fewer than 2 alternations)";
  }
  if (r.contains_one()) {
    return "no difference detected (" + b + " between " + percent(1 - r.lo) + " faster and " +
           percent(r.hi - 1) + " slower than " + a + ")";
  }
  if (r.hi < 1) {
    return b + " faster by " + percent(1 - r.ratio) + " [" + percent(1 - r.hi) + ", " +
           percent(1 - r.lo) + "]";
  }
  return b + " slower by " + percent(r.ratio - 1) + " [" + percent(r.lo - 1) + ", " +
         percent(r.hi - 1) + "]";
}

bool beyond_amdahl(double ratio, double p) { return 1 - ratio > p; }

}  // namespace normlab::tools
