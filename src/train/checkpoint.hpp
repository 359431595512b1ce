// The resume checkpoint of a run, NAME.resume.h5 beside NAME.h5.partial (docs/FORMAT.md,
// "Resuming"; its names are io::schema::resume's): everything a run carries from one step to the
// next, so that a run continued from it ends bit-identical to one that never stopped:
//   - the steps done; the parameters and the optimizer's moments and step count, exact in the
//     run's dtype;
//   - the training-data and dropout generators (std::mt19937_64, as the text operator<< writes);
//   - the resolved config, so that a resume with another config is refused.
// The data pipeline keeps no state of its own between steps: every task draws its batch from
// distributions made fresh for each call (no std::normal_distribution keeps a spare value from one
// batch to the next), so the generator's state is the data position.
// save_checkpoint writes NAME.resume.h5.tmp, syncs it and renames it over the old checkpoint, so a
// kill at any moment leaves either the old or the new checkpoint, complete. When a run writes one
// and what a resume checks is the protocol of train/resume.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "io/config.hpp"
#include "io/run_schema.hpp"
#include "nn/optim.hpp"

namespace normlab::train {

inline constexpr long long kCheckpointFormatVersion = io::schema::resume::kFormatVersion;

template <class T>
struct Checkpoint {
  std::int64_t step = 0;    // steps done: the run continues with step number `step`
  std::string config_toml;  // the resolved config of the run
  std::vector<T> params;    // (P) the model's flat parameter store
  nn::OptimizerState<T> optimizer;
  Rng train_rng, dropout_rng;
  // The last training loss and evaluation before `step`, for the run's summary (NaN: none yet).
  double train_loss = NAN, val_loss = NAN, val_metric = NAN;
};

// The checkpoint beside a run file: DIR/NAME.h5 -> DIR/NAME.resume.h5.
std::string checkpoint_path(const std::string& run_path);

template <class T>
void save_checkpoint(const std::string& path, const Checkpoint<T>& checkpoint);

// Throws an Error naming the file when it is not a checkpoint of format version 2, was written
// in another dtype than T, or a part of it does not match its SHA-256 (train/checkpoint_digest.hpp).
template <class T>
Checkpoint<T> load_checkpoint(const std::string& path);

// The first key (in config order) whose value differs between two configs, leaving out train.out
// (the directory, which --out may change); "" when they agree.
std::string config_difference(const io::Config& a, const io::Config& b);

}  // namespace normlab::train
