#include "sweep/inference.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include <boost/math/distributions/students_t.hpp>

#include "core/error.hpp"

namespace normlab::tools {

namespace {

using boost::math::students_t;

struct Moments {
  double mean = kNoValue, var = kNoValue;  // var: the sample variance (n − 1)
};

// Two passes, deviations from the mean: a loss of 2.0 ± 1e-3 keeps its spread exactly where
// E[x²] − E[x]² would cancel most of its digits.
Moments moments(const std::vector<double>& v) {
  Moments m;
  if (v.empty()) return m;
  m.mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  if (v.size() < 2) return m;
  double squares = 0;
  for (double x : v) squares += (x - m.mean) * (x - m.mean);
  m.var = squares / double(v.size() - 1);
  return m;
}

// The test's statistic, p-value and interval from diff, se and df; left NaN when se is 0 or not
// finite (every run identical, or too few), where t would be 0/0 or infinite.
void finish_test(Difference& d, double level) {
  if (!(d.se > 0) || !std::isfinite(d.se) || !(d.df > 0)) {
    d.se = d.df = kNoValue;
    return;
  }
  d.t = d.diff / d.se;
  d.p = t_two_sided_p(d.t, d.df);
  const double half = t_quantile(0.5 + level / 2, d.df) * d.se;
  d.lo = d.diff - half;
  d.hi = d.diff + half;
}

}  // namespace

double t_quantile(double q, double df) {
  if (!(df > 0) || !(q > 0 && q < 1)) fail("t_quantile: needs df > 0 and 0 < q < 1 (df ", df, ", q ", q, ")");
  return boost::math::quantile(students_t(df), q);
}

double t_two_sided_p(double t, double df) {
  if (!(df > 0) || std::isnan(t)) fail("t_two_sided_p: needs df > 0 and a t (df ", df, ", t ", t, ")");
  // The upper tail through complement(), not 1 − cdf: a p of 1e-12 keeps its digits.
  return 2 * boost::math::cdf(boost::math::complement(students_t(df), std::fabs(t)));
}

std::string test_name(TestKind kind) {
  switch (kind) {
    case TestKind::kPaired: return "paired";
    case TestKind::kWelch: return "welch";
    case TestKind::kNone: break;
  }
  return "";
}

Summary summarize(const std::vector<double>& values, double level) {
  Summary s;
  s.n = values.size();
  const Moments m = moments(values);
  s.mean = m.mean;
  if (s.n < 2) return s;
  s.std = std::sqrt(m.var);
  if (!(s.std > 0)) {  // every value equal: the interval is the point
    s.lo = s.hi = s.mean;
    return s;
  }
  const double half = t_quantile(0.5 + level / 2, double(s.n - 1)) * s.std / std::sqrt(double(s.n));
  s.lo = s.mean - half;
  s.hi = s.mean + half;
  return s;
}

Difference paired_difference(const std::vector<double>& x, const std::vector<double>& y, double level) {
  if (x.size() != y.size() || x.size() < 2) {
    fail("paired_difference: needs two samples of one size ≥ 2 (", x.size(), " and ", y.size(), ")");
  }
  std::vector<double> d(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) d[i] = x[i] - y[i];
  const Moments m = moments(d);
  Difference r;
  r.test = TestKind::kPaired;
  r.diff = m.mean;
  r.se = std::sqrt(m.var / double(d.size()));
  r.df = double(d.size() - 1);
  finish_test(r, level);
  return r;
}

Difference welch_difference(const std::vector<double>& x, const std::vector<double>& y, double level) {
  Difference r;
  r.test = TestKind::kWelch;
  const Moments mx = moments(x), my = moments(y);
  r.diff = mx.mean - my.mean;  // NaN when either side is empty
  if (x.size() < 2 || y.size() < 2) return r;
  const double vx = mx.var / double(x.size()), vy = my.var / double(y.size());
  r.se = std::sqrt(vx + vy);
  r.df = (vx + vy) * (vx + vy) / (vx * vx / double(x.size() - 1) + vy * vy / double(y.size() - 1));
  finish_test(r, level);
  return r;
}

Difference compare_rows(const std::vector<Observation>& row, const std::vector<Observation>& baseline,
                        double level) {
  auto finite = [](const std::vector<Observation>& obs) {
    std::vector<Observation> kept;
    for (const auto& o : obs) {
      if (std::isfinite(o.value)) kept.push_back(o);
    }
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.pair_key < b.pair_key; });
    return kept;
  };
  const std::vector<Observation> x = finite(row), y = finite(baseline);
  auto keys = [](const std::vector<Observation>& obs) {
    std::vector<std::string> k;
    for (const auto& o : obs) k.push_back(o.pair_key);
    return k;
  };
  const std::vector<std::string> kx = keys(x), ky = keys(y);
  const bool unique = std::set<std::string>(kx.begin(), kx.end()).size() == kx.size();
  auto values = [](const std::vector<Observation>& obs) {
    std::vector<double> v;
    for (const auto& o : obs) v.push_back(o.value);
    return v;
  };
  // Sorted by key, equal key lists mean x[i] and y[i] are the same seed's runs.
  if (x.size() >= 2 && unique && kx == ky) return paired_difference(values(x), values(y), level);
  return welch_difference(values(x), values(y), level);
}

void add_equivalence(Difference& d, double margin, double alpha) {
  if (!(margin > 0) || std::isnan(d.t)) return;
  d.margin = margin;
  const students_t dist(d.df);
  // H0: Δ ≤ −m, rejected for large (Δ + m)/se; H0: Δ ≥ m, rejected for small (Δ − m)/se.
  const double p_lower = boost::math::cdf(boost::math::complement(dist, (d.diff + margin) / d.se));
  const double p_upper = boost::math::cdf(dist, (d.diff - margin) / d.se);
  d.p_tost = std::max(p_lower, p_upper);
  const double half = boost::math::quantile(dist, 1 - alpha) * d.se;
  d.lo_tost = d.diff - half;
  d.hi_tost = d.diff + half;
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!std::isnan(p[i])) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(p.size(), kNoValue);
  const std::size_t m = order.size();
  double running = 0;  // the max over j ≤ i keeps the adjusted values in the order of the raw ones
  for (std::size_t i = 0; i < m; ++i) {
    running = std::max(running, std::min(1.0, double(m - i) * p[order[i]]));
    adjusted[order[i]] = running;
  }
  return adjusted;
}

}  // namespace normlab::tools
