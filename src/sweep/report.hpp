// What `normlab sweep` and `normlab collect` print about a sweep: the runs it would start, how
// the runs ended, and the counts of an index.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "sweep/collect.hpp"
#include "sweep/runner.hpp"
#include "sweep/sweep.hpp"

namespace normlab::sweep {

// "12 completed, 1 failed": how many runs ended each way, statuses in alphabetical order.
std::string status_counts(const std::vector<std::string>& statuses);

// The dry run: "N runs -> DIR", then one line per run of the shard with its axis overrides.
void print_plan(std::ostream& out, const Sweep& sweep, int shard, int shards);

// After run_sweep: the status counts of the runs this shard ran (or skipped), then one line per
// failure with its log file.
void print_outcomes(std::ostream& out, const Sweep& sweep, const std::vector<Outcome>& outcomes);

// Runs of the index with a result (completed or diverged).
std::size_t runs_with_result(const Index& index);
// The status of every run of the index, in its order.
std::vector<std::string> statuses(const Index& index);

}  // namespace normlab::sweep
