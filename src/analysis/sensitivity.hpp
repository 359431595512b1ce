// Gain versus offset sensitivity per site (docs/ANALYSIS.md): how much the held-out loss moves when a
// site's input x (rows, D) is replaced, in every row r and every call of the site, by
//   gain     x_r (1 + eps)
//   offset   x_r + eps * RMS(x_r) * 1                 (the same shift added to every feature)
//   control  x_r + eps * sqrt(D) * RMS(x_r) * u       (u a fixed random unit vector of the site)
// The three have the same norm per row, |eps| * ||x_r||, so their effects compare directly.
// At a normalizer the normalizer sees the perturbed input (a pre-norm residual path does not); at
// a residual site the stream entering the next block is perturbed. First-order forms from one
// backward pass over the same batches: dL/d eps at 0 = sum over rows of <dL/dx_r, v(x_r)>, with
// v the direction above (gain: <dL/dx, x>; offset: <dL/dx, 1> RMS(x)).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "analysis/loaded_run.hpp"

namespace normlab::analysis {

enum class Direction { gain, offset, control };

// The default grid: +-1e-3, +-1e-2, +-0.05, +-0.1, +-0.2, ascending.
std::vector<double> default_epsilons();

// x_r (D) <- x_r + eps * v(x_r) for the direction (u: the control's unit vector, D).
template <class T>
void perturb_row(T* x_r, Direction direction, double eps, const std::vector<double>& u,
                 std::size_t D);

struct SiteSensitivity {
  std::string name, kind;
  long long layer = 0, features = 0;
  // Per epsilon: loss(perturbed) - loss(base) on the held-out batches.
  std::vector<double> gain, offset, control;
  // dL/d eps at 0 per direction (from the backward pass).
  double gain_first_order = 0, offset_first_order = 0, control_first_order = 0;
  double abs_mean_over_rms = 0, lambda = 0;  // recorded in the run file (NaN: not recorded)
};

struct SensitivityReport {
  std::string run, family, norm;
  double base_loss = 0;
  std::size_t batches = 0;
  std::uint64_t control_seed = 0;
  std::vector<double> epsilons;
  std::vector<SiteSensitivity> sites;
};

// Measures every site of the run (`only_site` "": all; otherwise that one, or an Error listing
// the sites). `control_seed` draws the control directions.
SensitivityReport measure_sensitivity(LoadedRun& run, const std::vector<double>& epsilons,
                                      std::uint64_t control_seed, const std::string& only_site = "");

// The central difference (dL(+|eps|) - dL(-|eps|)) / (2 |eps|) of one direction; NaN unless both
// signs of eps are on the grid.
double central_difference(const std::vector<double>& epsilons, const std::vector<double>& dloss,
                          double eps);

// The scalar sensitivities the tables and the correlation use: the mean of |dL(+eps)| and
// |dL(-eps)| at the reference eps (which must be on the grid with both signs).
double sensitivity_at(const std::vector<double>& epsilons, const std::vector<double>& dloss,
                      double eps);

// The group /sensitivity (docs/ANALYSIS.md) in a new file at `path`.
void write_sensitivity(const std::string& path, const SensitivityReport& r, double reference_eps);
SensitivityReport read_sensitivity(const std::string& path);
// One row per site: loss change at +-reference eps for gain, offset and the control, the first-
// order forms against the central differences at the smallest eps, the recorded statistics.
void print_sensitivity(std::ostream& out, const SensitivityReport& r, double reference_eps);

// Spearman's rank correlation across the sites of several reports between a recorded statistic
// and offset sensitivity (sensitivity_at reference eps): per run, pooled over the runs of each
// normalizer configuration (the reports' `norm`), and pooled over all. A sensitivity below
// kRoundingFloor * base loss is float64 rounding of the loss difference, not a measurement, and
// counts as 0 (so a LayerNorm model's exact invariance ranks as ties, not as noise).
inline constexpr double kRoundingFloor = 1e-12;
struct Correlation {
  std::string statistic;  // "abs_mean_over_rms" or "lambda"
  std::vector<std::string> groups;  // each run, then each norm ("norm=rmsnorm"), then "all runs"
  std::vector<double> rho;          // NaN: fewer than 3 sites with the statistic, or ties only
  std::vector<std::size_t> sites;
};
// `normalizer_sites_only` leaves residual sites out.
std::vector<Correlation> correlate(const std::vector<SensitivityReport>& reports,
                                   double reference_eps, bool normalizer_sites_only);
void print_correlations(std::ostream& out, const std::vector<Correlation>& c);
void write_correlations(const std::string& path, const std::vector<Correlation>& c,
                        double reference_eps);

}  // namespace normlab::analysis
