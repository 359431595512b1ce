// Which sweep definition a sweep directory holds: DIR/manifest.toml lists the run ids of the
// expansion that wrote it, and an id carries the hash of its run's resolved config, so a changed
// --set, [set] or experiment gives other ids. Rerunning a changed sweep into the same directory
// would put old and new runs side by side and `normlab table` would average them; it is refused
// here with the difference named, unless the caller extends or starts over deliberately.
#pragma once

#include <string>
#include <vector>

#include "sweep/sweep.hpp"

namespace normlab::sweep {

enum class OnChange {
  kRefuse,   // throw an Error naming the first differing key (the default)
  kExtend,   // keep the old runs: the manifest lists both (table then averages both)
  kRestart,  // delete the old runs' files (runs/, configs/, logs/, index.*) first
};

// The run ids DIR/manifest.toml lists; empty when there is no manifest.
std::vector<std::string> manifest_ids(const std::string& dir);

// Compares the directory's manifest with `sweep`: nothing there, or the same runs (a shard of the
// same sweep lists the same ids): returns. Otherwise acts as `on_change` says. Returns the ids the
// new manifest must list besides the sweep's own (kExtend: the old ones not in the sweep).
std::vector<std::string> check_definition(const Sweep& sweep, OnChange on_change);

// The first config key (leaving out name and train.out) whose value differs, as
// "key: old -> new"; "" when the two agree.
std::string describe_difference(const io::Config& old_config, const io::Config& new_config);

// Refuses, before any run starts, a run whose data.path is set but does not exist.
void check_data_paths(const Sweep& sweep);

}  // namespace normlab::sweep
