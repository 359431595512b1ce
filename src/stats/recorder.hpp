// Per-site statistics of one training step (docs/FORMAT.md, "Statistics"): the recorder attaches
// an observer to every probe of a model for the steps it records, sums what passes each site in
// forward and backward, and reads the sites' parameters, gradients and updates around the
// optimizer step. Steps it does not record cost nothing but a null check per site.
//
//   recorder.begin();            // attach: the next forward and backward are watched
//   model forward + backward
//   recorder.after_backward();   // detach; parameters and their gradients
//   optimizer step
//   recorder.after_update();     // the update-to-parameter ratio
//   recorder.values()            // stat-major: values()[stat * sites() + site]
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "io/run_file.hpp"
#include "nn/params.hpp"
#include "nn/probe.hpp"

namespace normlab::stats {

// The statistics, in the order of stat_names(): their names in the run file,
// io::schema::kStatistics.
enum Stat : std::size_t {
  in_mean, in_abs_mean_over_rms, in_rms, in_std, in_max_abs, in_mean_share, out_rms,
  grad_in_rms, grad_out_rms,
  gain_mean, gain_std, gain_min, gain_max, bias_mean, bias_std, lambda,
  gain_grad_norm, bias_grad_norm, lambda_grad_norm, update_ratio,
  alpha, saturated_share,
  kStatCount
};
const std::vector<std::string>& stat_names();

// Sums over the rows one site sees in one step (all of its calls); then the activation and
// gradient statistics (in_* .. grad_out_rms). Public for the tests.
struct ActivationSums {
  double rows = 0, sum_mean = 0, sum_abs_mean_over_rms = 0, sum_rms = 0, sum_std = 0;
  double sum_mean_share = 0, sum_out_rms = 0, max_abs = 0;
  double grad_in_sq = 0, grad_in_count = 0, grad_out_sq = 0, grad_out_count = 0;
  bool saw_output = false;
  // An element-wise kind (DyT): elements with |alpha x| > kSaturation, of `elements` seen.
  double saturated = 0, elements = 0;

  template <class T>
  void add_forward(const T* x, const T* y, std::size_t rows, std::size_t D);
  // Counts the elements of x (rows, D) with |alpha x| > kSaturation.
  template <class T>
  void add_saturation(const T* x, double alpha, std::size_t rows, std::size_t D);
  template <class T>
  void add_backward(const T* dx, const T* dy, std::size_t rows, std::size_t D);
  // Writes the activation statistics into out[in_mean .. grad_out_rms]; NaN for what was not seen.
  void finish(std::span<double> out) const;
};

// Where tanh(alpha x) counts as saturated: |alpha x| > 2 (tanh(2) = 0.964, slope 0.071), the
// threshold the DyT follow-up papers report the share of.
inline constexpr double kSaturation = 2.0;

template <class T>
class Recorder {
 public:
  Recorder(std::vector<nn::Probe<T>*> probes, nn::ParamStore<T>& store);
  ~Recorder();  // detaches its observers
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  std::size_t sites() const { return probes_.size(); }
  const nn::Probe<T>& site(std::size_t i) const { return *probes_[i]; }
  io::SiteTable site_table() const;  // the sites as the run file lists them

  void begin();
  void after_backward();
  void after_update();
  std::span<const double> values() const { return values_; }

 private:
  class SiteObserver;
  double& at(Stat s, std::size_t site) { return values_[s * probes_.size() + site]; }

  std::vector<nn::Probe<T>*> probes_;
  nn::ParamStore<T>& store_;
  std::vector<SiteObserver> observers_;
  std::vector<std::vector<double>> before_;  // per site: its parameters before the update
  std::vector<double> values_;
};

}  // namespace normlab::stats
