// Where `normlab train` writes a run, and what is there already: a finished run of the same config
// (a rerun may say "already done") or of another one (never replaced silently).
#pragma once

#include <string>

#include "io/config.hpp"

namespace normlab::train {

// DIR/NAME.h5: DIR is `out_dir`, or train.out when it is ""; NAME is run_name(config).
std::string run_path(const io::Config& config, const std::string& out_dir);

struct ExistingRun {
  bool exists = false;     // a finished run file is at the path
  std::string status;      // its status (completed, diverged)
  std::string difference;  // the first config key that differs from ours ("" when the same run)
};

// What is at `path` now, compared with `config` (train.out aside). Throws an Error naming the file
// when something is there that is not a normlab run file.
ExistingRun existing_run(const std::string& path, const io::Config& config);

}  // namespace normlab::train
