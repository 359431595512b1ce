// The statistics of `normlab table`: t-based intervals and tests over the seeds of a row, for a
// reviewer who asks whether a difference between two normalizers is real, and whether two are
// equivalent within a stated margin. Student's t throughout (Boost.Math's students_t), since a row
// holds a handful of seeds and the normal approximation would make every interval too narrow.
//   - a row's mean with its interval: x̄ ± t_{1−α/2, n−1} s/√n;
//   - a difference of means, row − baseline:
//       paired (the same seeds on both sides): d_i = x_i − y_i, se = s_d/√n, df = n − 1;
//       Welch (otherwise): se² = s_x²/n_x + s_y²/n_y, df by Welch–Satterthwaite,
//         df = se⁴ / ((s_x²/n_x)²/(n_x − 1) + (s_y²/n_y)²/(n_y − 1));
//     t = Δ/se, a two-sided p, Δ ± t_{0.975, df} se;
//   - equivalence (Schuirmann's two one-sided tests, TOST) against a margin m > 0: the larger of
//     P(T ≥ (Δ + m)/se) and P(T ≤ (Δ − m)/se), with the same se and df; p < α exactly when the
//     1 − 2α interval Δ ± t_{1−α, df} se lies inside (−m, m);
//   - Holm's step-down adjustment of a family of p-values (Holm 1979), which keeps the
//     family-wise error rate at α under any dependence between the tests.
// Where a figure is undefined (too few runs, a zero standard error) it is NaN, never a guess.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace normlab::tools {

inline constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

// Mean, sample standard deviation (n − 1) and the mean's t interval at `level`. std and the
// interval are NaN for n < 2; everything is for n = 0.
struct Summary {
  std::size_t n = 0;
  double mean = kNoValue, std = kNoValue, lo = kNoValue, hi = kNoValue;
};
Summary summarize(const std::vector<double>& values, double level = 0.95);

// Student's t with `df` degrees of freedom (df > 0, not necessarily whole): the quantile at
// probability q, and the two-sided p-value of a statistic t, P(|T| ≥ |t|).
double t_quantile(double q, double df);
double t_two_sided_p(double t, double df);

enum class TestKind { kNone, kPaired, kWelch };
std::string test_name(TestKind kind);  // "paired", "welch", "" for kNone

// A difference of means, row − baseline, and what it was tested with.
struct Difference {
  TestKind test = TestKind::kNone;
  double diff = kNoValue;            // row mean − baseline mean (over the pairs when paired)
  double se = kNoValue, df = kNoValue, t = kNoValue, p = kNoValue;
  double lo = kNoValue, hi = kNoValue;  // the two-sided interval at `level`
  // Equivalence against `margin` (NaN when the margin is 0 or the test undefined): the interval
  // at 1 − 2α (the 90% one for α = 0.05) and the TOST p-value.
  double margin = kNoValue, lo_tost = kNoValue, hi_tost = kNoValue, p_tost = kNoValue;
};

// x paired with y element by element (equal sizes, n ≥ 2).
Difference paired_difference(const std::vector<double>& x, const std::vector<double>& y, double level = 0.95);
// x and y independent (n ≥ 2 on each side for a test; the difference alone otherwise).
Difference welch_difference(const std::vector<double>& x, const std::vector<double>& y, double level = 0.95);

// One run's value and what identifies its counterpart in the other row (its seed, and any other
// value of the sweep's axes that the row keys leave out).
struct Observation {
  double value;
  std::string pair_key;
};
// Paired when both rows hold the same set of pair keys, each once, at least 2; Welch otherwise.
// Non-finite values are left out first.
Difference compare_rows(const std::vector<Observation>& row, const std::vector<Observation>& baseline,
                        double level = 0.95);

// Adds the TOST against `margin` (> 0) at `alpha` to d; a margin of 0 leaves it off.
void add_equivalence(Difference& d, double margin, double alpha = 0.05);

// Holm's adjusted p-values, in the order given: sorted ascending p_(1) ≤ ... ≤ p_(m),
// p̃_(i) = min(1, max_{j ≤ i} (m − j + 1) p_(j)). NaN entries stay NaN and do not count in m.
std::vector<double> holm_adjust(const std::vector<double>& p);

}  // namespace normlab::tools
