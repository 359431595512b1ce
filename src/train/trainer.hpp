// The trainer: config -> data + model + optimizer -> loop with evaluation -> run file.
// A non-finite loss or gradient norm stops the run with status "diverged" (recorded, not a crash).
// The same config, seed and thread count give bit-identical losses.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "io/config.hpp"

namespace normlab::train {

struct TrainResult {
  std::string path;    // the run file written
  std::string status;  // completed | diverged
  std::int64_t steps = 0;
  double final_train_loss = 0, val_loss = 0, val_metric = 0;
  double ms_per_step = 0;  // median over the steps
};

// Runs one experiment; `out_dir` "" uses train.out. Progress lines go to `log`.
TrainResult run(const io::Config& config, const std::string& out_dir, std::ostream& log);

// The run name: name, or "<family>-<norms>-s<seed>" derived from the config.
std::string run_name(const io::Config& config);

}  // namespace normlab::train
