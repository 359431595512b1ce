// A sweep as a Slurm job array: one array task per shard, each running `normlab sweep` on its
// shard (the shard comes from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT), all writing into
// the same sweep directory; `normlab collect` merges them (each task also rewrites the index).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "sweep/sweep.hpp"

namespace normlab::sweep {

struct SlurmOptions {
  int tasks = 0;           // array tasks (shards); 0: one per run, at most 1000
  int cpus = 1;            // --cpus-per-task; each task runs that many runs at a time
  std::string time = "01:00:00";
  std::string partition;   // "" leaves Slurm's default
  int max_running = 0;     // the array's %limit (0: none)
  std::string output;      // the tasks' output files (sbatch --output); "": DIR/slurm/%A_%a.out
  std::string binary;      // the normlab executable the tasks run
  std::vector<std::string> sbatch;  // more `#SBATCH` lines, each an sbatch option ("--mem=8G")
};

// The sbatch script for `sweep`; paths in it are absolute.
std::string sbatch_script(const Sweep& sweep, const SlurmOptions& options);

// DIR/slurm/sweep.sbatch, where write_sbatch_script puts the script.
std::string sbatch_script_path(const Sweep& sweep);

// Writes the script to DIR/slurm/sweep.sbatch and returns its path.
std::string write_sbatch_script(const Sweep& sweep, const SlurmOptions& options);

// The shard of `normlab sweep --shard I/N`: "I/N" -> (I, N) with 0 <= I < N; "" reads
// SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (an array task), else (0, 1) (the whole sweep).
std::pair<int, int> parse_shard(const std::string& text);

// Submits the script with sbatch (`wait`: sbatch --wait, until every task has ended); returns
// sbatch's output. Throws when sbatch is missing or refuses the job.
std::string submit(const std::string& script_path, bool wait);

}  // namespace normlab::sweep
