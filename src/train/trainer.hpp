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
  std::string path;    // the run file written (NAME.h5, or NAME.h5.partial when interrupted)
  std::string status;  // completed | diverged | interrupted
  std::int64_t steps = 0;          // steps done, those before a resume included
  std::int64_t resumed_from = -1;  // the step this session continued from; -1: started afresh
  double final_train_loss = 0, val_loss = 0, val_metric = 0;
  double ms_per_step = 0;  // median over this session's steps
  double peak_rss_mib = 0;  // the process's peak resident set size at the end (getrusage)
};

struct TrainOptions {
  // Continue from the checkpoint NAME.resume.h5 beside the run file when there is one (refused
  // with an Error naming the key when the config differs, train.out aside); without one the run
  // starts afresh. The resumed run's file is bit-identical to an uninterrupted run's in every
  // value but step_time.
  bool resume = false;
  // Stop once this many steps are done, as SIGINT would (status "interrupted", a checkpoint
  // written); 0: never. For tests, and for jobs given a step budget per session.
  std::int64_t stop_at_step = 0;
  // The progress as one line redrawn in place (train/progress.hpp): for a terminal.
  bool progress_line = false;
};

// Runs one experiment; `out_dir` "" uses train.out. Progress lines go to `log`.
// Every train.checkpoint_every steps, and when SIGINT or SIGTERM stops it, the run saves a resume
// checkpoint (the protocol of train/resume.hpp); it is deleted when the run completes or diverges.
TrainResult run(const io::Config& config, const std::string& out_dir, std::ostream& log,
                const TrainOptions& options = {});

// The run name: name, or "<family>-<norms>-s<seed>" derived from the config. A given name must be
// one plain file name (check_run_name), else an Error names the key.
void check_run_name(const std::string& name);
std::string run_name(const io::Config& config);

}  // namespace normlab::train
