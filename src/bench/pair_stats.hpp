// The arithmetic of `normlab bench pair` (bench/pair.hpp): the ratio of two arms' step times from
// paired blocks, its confidence interval, and the Amdahl bound from the normalizers' share.
//
// Alternation i times a block of A and a block of B back to back, a_i and b_i (ms per step). The
// pairs share the machine's state at that moment, so the comparison is on r_i = ln(b_i / a_i):
//   ratio = exp(mean r),  95% interval exp(mean r -+ t_{0.975, n-1} sd(r) / sqrt(n))
// (Student's t on the mean log ratio; the log makes the interval's ends ratios, and B/A and A/B
// each other's reciprocals). The ratio is the geometric mean of the per-alternation ratios.
//
// Amdahl: if a share p of A's step is spent in its normalizers, a B that changed only the
// normalizers and whose normalizers cost nothing would take (1 - p) of A's step; no B can be
// faster by more than p. A measured speedup beyond p is noise (or the arms differ elsewhere).
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>

namespace normlab::tools {

struct PairedRatio {
  std::size_t n = 0;                 // alternations
  double mean_log = NAN, sd_log = NAN;  // of ln(b_i / a_i); sd with n - 1
  double t_quantile = NAN;           // t_{(1 + level) / 2, n - 1}
  double ratio = NAN, lo = NAN, hi = NAN;  // exp(mean_log) and the interval's ends
  // The interval contains 1: no difference detected (true while it is undefined, n < 2).
  bool contains_one() const { return !(lo > 1 || hi < 1); }
};

// From the paired block times a_i, b_i (> 0, as many of each); `level` the interval's coverage.
PairedRatio paired_ratio(std::span<const double> a, std::span<const double> b,
                         double level = 0.95);

// "B faster by 4.7% [3.4%, 5.9%]", "B slower by ...", or "no difference detected (...)", with
// `b` and `a` the arms' names.
std::string ratio_verdict(const PairedRatio& r, const std::string& b, const std::string& a);

// Whether a measured ratio B/A claims a speedup beyond the share p (0..1) of A's step that its
// normalizers take: 1 - ratio > p.
bool beyond_amdahl(double ratio, double p);

}  // namespace normlab::tools
