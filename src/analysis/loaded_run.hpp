// A trained model reloaded from its run file (docs/FORMAT.md): the config from `config_toml`, the
// model and data rebuilt as the trainer builds them (train/workload.hpp), always in float64, the
// final parameters from `checkpoint/<param>`, and the sites' statistics of the last stat step.
// The held-out set is the run's validation set (data.val_size, in batches of train.batch), or one
// drawn with another seed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "io/config.hpp"
#include "io/run_file.hpp"
#include "train/workload.hpp"

namespace normlab::analysis {

struct LoadedRun {
  std::string path;
  io::Config config;
  std::unique_ptr<train::Workload<double>> work;
  std::vector<nn::Probe<double>*> probes;  // in forward order, as the run file's `site`
  // Per probe, from the run file's last stat step (NaN when not recorded): |mean|/RMS at the input
  // (in_abs_mean_over_rms), partial centering's lambda and the mean's share of the squared norm
  // (in_mean_share).
  std::vector<double> recorded_abs_mean_over_rms, recorded_lambda, recorded_mean_share;
  std::size_t batches = 0;  // held-out batches used (the first `batches` of the set)
};

// Throws an Error naming the file when it is not a run file, has no checkpoint, or its checkpoint
// does not match the model its config builds. `val_seed` draws another held-out set; `batches` 0
// takes the whole set. Lines about the data go to `log`.
LoadedRun load_run(const std::string& path, std::optional<std::uint64_t> val_seed,
                   std::size_t batches, std::ostream& log);

// Mean loss over the held-out batches (each batch's mean loss weighted by its rows or scored
// targets); with `backward` the gradients are accumulated too (zeroed first).
double held_out_loss(LoadedRun& run, bool backward = false);

// Per row r of x (rows, D): sqrt(mean(x_r^2)), in double.
template <class T>
double row_rms(const T* x_row, std::size_t D);

// Spearman's rank correlation of a and b (ties take their mean rank); NaN with fewer than 3
// finite pairs. Pairs where either value is not finite are left out.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace normlab::analysis
