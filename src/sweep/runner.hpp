// Running a sweep on this machine: every run is its own `normlab train` process, at most `jobs`
// at a time, so a crash in one never takes the sweep down. The sweep directory:
//
//   DIR/manifest.toml      the sweep file, its axis keys and every run id (for collect)
//   DIR/configs/ID.toml    each run's resolved config
//   DIR/runs/ID.h5         the run files (ID.h5.partial while running or after a failure)
//   DIR/logs/ID.log        each run's output (appended to on a rerun)
//   DIR/sweep.lock         held (flock) while a sweep writes the directory
//   DIR/index.csv, .h5     one row per run (collect.hpp), rewritten at the end
//
// Running the same sweep again skips the runs that have a final run file (completed or
// diverged: results) and reruns the others (failed, killed, interrupted, never started); every
// run is started with --resume, so one that left a checkpoint continues from it.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "sweep/definition.hpp"
#include "sweep/sweep.hpp"

namespace normlab::sweep {

struct RunnerOptions {
  int jobs = 1;
  std::string binary;        // the normlab executable that trains each run
  int shard = 0, shards = 1;  // run only the runs whose index % shards == shard
  bool progress_bar = false;  // a redrawn status line (a terminal) instead of log lines
  OnChange on_change = OnChange::kRefuse;  // the directory holds another definition (definition.hpp)
};

struct Outcome {
  std::string id;
  std::string status;  // completed | diverged | failed | killed | interrupted | skipped (done before)
  double seconds = 0;  // wall time of its process (0 when skipped)
};

// Runs the sweep's runs of this shard; returns one outcome per run, in expansion order. Before
// any run starts it refuses a directory of another definition (check_definition); `normlab
// sweep` checks the data paths (check_data_paths) before that.
std::vector<Outcome> run_sweep(const Sweep& sweep, const RunnerOptions& options, std::ostream& out);

// A status that is a failure to produce a result: failed, killed, interrupted.
bool is_failure(const std::string& status);
// True when any outcome is such a failure.
bool any_failed(const std::vector<Outcome>& outcomes);

// Holds the sweep directory's lock for its lifetime (flock: released however the process ends);
// throws when another sweep holds it. A whole sweep (shards = 1) locks DIR/sweep.lock exclusively;
// a shard shares that lock with the other shards and locks DIR/sweep.shard-I-of-N.lock alone, so
// the shards of one sweep run side by side while a second copy of any of them is kept out.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& dir, int shard = 0, int shards = 1);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int take(const std::string& path, int operation, const std::string& who);
  int whole_ = -1, shard_ = -1;
};

}  // namespace normlab::sweep
