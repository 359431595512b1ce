// Which normalizer sites need re-centering (docs/ANALYSIS.md, "Re-centering: which sites need it"):
// per site of a trained run, the evidence that the mean of the site's input matters, a verdict
// ("recenter": keep LayerNorm; "gain-only": RMSNorm suffices), and the mixed-stack config that
// follows from the verdicts (model.norm one kind per MLP hidden layer, GRU layer or Transformer
// block). The evidence:
//   in_mean_share        the run's last recorded mean(m_r^2 / q_r^2) at the site (docs/FORMAT.md)
//   ones_response        r = ||W (g*1)|| / (||W diag(g)||_2 sqrt(D)) of the map(s) W reading the
//                        normalizer's output y = g*xhat + b (the largest over several), in [0, 1]
//   ones_response_plain  ||W 1|| / (||W||_2 sqrt(D)), the same without the gain
//   offset_ratio         |offset effect| / |control effect| of analyze sensitivity at +-eps
//   mean_jitter          the standard deviation over held-out rows r of m_r / q_r (row mean over
//                        row RMS) at the input: the part of the mean RMSNorm would pass on
//                        (its output's mean is g m_r / q_r for a uniform gain g) that varies with
//                        the sample, which no bias after it can absorb
//   scale_cv             the coefficient of variation over rows of s_r / q_r = sqrt(1 - m_r^2/q_r^2):
//                        how much RMSNorm's scale of the centered part varies with the sample
//                        (LayerNorm's is 1 for every row)
//   mean_leak            ones_response * mean_jitter / mean_r(s_r / q_r): the sample-dependent mean
//                        RMSNorm would pass, as it reaches the next map, relative to the centered
//                        signal it passes (the map's gain on 1 over its largest gain, times the
//                        spread of m_r / q_r, over the centered part's mean scale)
//   grad_ones_share      sum_r <dy_r, 1>^2 / (D sum_r ||dy_r||^2), dy the loss gradient at the
//                        normalizer's output: the share of it along 1 (1/D for an isotropic one)
// A random Gaussian W (out, D) gives ones_response ~ sqrt(out) / (sqrt(out) + sqrt(D)) (||W 1||
// ~ sigma sqrt(out D), and ||W||_2 ~ sigma (sqrt(out) + sqrt(D)), Marchenko-Pastur's edge): the
// response of a map to a typical direction, so the rule compares ones_response with it.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "analysis/loaded_run.hpp"
#include "analysis/moments.hpp"
#include "nn/probe.hpp"

namespace normlab::analysis {

// ||A||_2 of A (out, D) row-major, by power iteration on A^T A in double from a fixed random
// start, until the residual ||A^T A v - rho v|| <= 1e-9 rho (an eigenvalue of A^T A lies within
// the residual of rho, so sigma = sqrt(rho) is then within 1e-9 relative; the start has a
// component along the top eigenvector with probability 1). Throws when it does not converge.
double spectral_norm(const double* A, std::size_t out, std::size_t D);

// r = ||W g|| / (||W diag(g)||_2 sqrt(D)) for W (out, D) row-major and the gain g (D); 0 when
// W diag(g) is 0. g all ones gives the plain form ||W 1|| / (||W||_2 sqrt(D)).
double ones_response(const double* W, std::size_t out, std::size_t D, const std::vector<double>& g);

// sqrt(out) / (sqrt(out) + sqrt(D)): ones_response of a random Gaussian (out, D) map.
double random_ones_response(std::size_t out, std::size_t D);

// The row statistics behind mean_jitter, scale_cv and grad_ones_share, as an observer of one site
// over any number of forward and backward calls (a GRU's recurrent site: every time step's rows).
// Per input row x_r: m_r / q_r and s_r / q_r = sqrt(1 - m_r^2 / q_r^2) (m_r the row mean, q_r the
// row RMS; a zero row is skipped); per gradient row dy_r: <dy_r, 1>^2 and D ||dy_r||^2.
class RowStatistics : public nn::Observer<double> {
 public:
  void forward(const double* x, const double* y, std::size_t rows, std::size_t D) override;
  void backward(const double* dx, const double* dy, std::size_t rows, std::size_t D) override;
  double mean_jitter() const;      // standard deviation of m_r / q_r over rows (NaN: no row)
  double scale_mean() const;       // mean of s_r / q_r over rows
  double scale_cv() const;         // its standard deviation over its mean
  double grad_ones_share() const;  // sum <dy_r, 1>^2 / (D sum ||dy_r||^2) (NaN: no gradient)

 private:
  Moments mean_, scale_;  // of m_r / q_r and of s_r / q_r
  double grad_ones_ = 0, grad_all_ = 0;
};

// The thresholds of the verdict (the options of `normlab analyze recentering`). A site is
// "recenter" when
//   mean_leak >= min_mean_leak  OR  scale_cv >= min_scale_cv  OR  offset_ratio >= min_offset_ratio
// and "gain-only" otherwise: the first two measure, on the run's own inputs, what RMSNorm would
// pass on that LayerNorm does not (a mean that varies with the sample, as the next map sees it;
// a scale of the centered signal that varies with the sample). The re-centering study
// (results/recentering/README.md) chose the thresholds and states how far they carry.
struct RecenterRule {
  double min_mean_leak = 0.1;   // the varying mean reaches the next map at >= 10% of the signal
  double min_scale_cv = 0.05;   // the centered signal's scale varies by >= 5% between samples
  double min_offset_ratio = 2;  // the loss moves >= 2x more along 1 than along a random direction
};

struct SiteRecentering {
  std::string site, kind, role;
  std::size_t layer = 0;        // the layer or block it belongs to (its probe's)
  double depth = 0;             // layer / model.depth
  std::size_t features = 0;
  std::string readers;          // the maps ones_response reads ("layer1.weight"), or why none
  double in_mean_share = 0, ones_response = 0, ones_response_plain = 0;  // NaN: not available
  double ones_baseline = 0;     // random_ones_response of the map's shape (NaN: no map)
  double offset_ratio = 0;      // NaN: both effects below float64 rounding of the loss
  double mean_jitter = 0, scale_cv = 0, mean_leak = 0, grad_ones_share = 0;  // NaN: not measured
  bool recenter = false;
  std::string reason;
};

struct RecenteringReport {
  std::string run, family;
  double epsilon = 0;  // of offset_ratio
  RecenterRule rule;
  std::vector<SiteRecentering> sites;  // the normalizer sites, in forward order
  std::vector<std::string> kinds;      // the recommended model.norm, one per layer or block
  std::vector<std::string> notes;      // what the config writer changed or kept, for the user
};

// The evidence and the verdicts for every normalizer site of `run` (offset_ratio from
// measure_sensitivity at +-epsilon, control directions drawn with `control_seed`).
RecenteringReport analyze_recentering(LoadedRun& run, const RecenterRule& rule, double epsilon,
                                      std::uint64_t control_seed);

// A figure of the table and the reasons: 3 significant digits ("%.3g"), "n/a" for NaN.
std::string g3(double v);

// The table (one row per site) and the recommended model.norm.
void print_recentering(std::ostream& out, const RecenteringReport& r);

// The same rows as CSV, every figure at full precision (blank where the table prints n/a), for
// scripts and pandas: site, role, layer, depth, features, in_mean_share, mean_jitter, scale_cv,
// mean_leak, grad_ones_share, ones_response, ones_response_plain, ones_baseline, offset_ratio, verdict,
// readers.
std::string recentering_csv(const RecenteringReport& r);

// The run's config with model.norm replaced by the recommended kinds (model.norm_options kept;
// a string of options a recommended kind does not take becomes a table for the run's own kinds),
// as TOML text with a header naming the run. Adds what it changed to r.notes.
std::string recommended_config(const LoadedRun& run, RecenteringReport& r);

}  // namespace normlab::analysis
