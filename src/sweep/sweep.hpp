// A sweep: one experiment and axes over any of its config keys, expanded into runs.
//
//   experiment = "../experiments/transformer.toml"   # optional; relative to the sweep file
//   out = "sweeps/norms"                              # optional; default sweeps/<file stem>
//   [set]                                             # optional: overrides of the experiment
//   train.steps = 200
//   [grid]                                            # the product over every key
//   "model.norm" = ["rmsnorm", "layernorm"]
//   seed = [0, 1, 2]
//   [[zip]]                                           # one axis of the product whose keys
//   "optim.lr" = [1e-3, 3e-4]                         # advance together (equal lengths)
//   "optim.warmup" = [0, 100]
//
// Expansion is deterministic: axes in the order the file gives them, the last one varying
// fastest. A run's id is its axis values (readable) and a hash of its resolved config (stable
// across re-expansions and machines), e.g. "norm-rmsnorm_seed-0-3f9a2c1b". Every key and value
// is checked by expanding, before any run starts.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "io/config.hpp"

namespace normlab::sweep {

struct Run {
  std::string id;
  std::vector<std::pair<std::string, std::string>> overrides;  // axis key -> value as TOML text
  io::Config config;                                           // resolved; `name` is the id
};

struct Sweep {
  std::string path;                 // the sweep file
  std::string out;                  // the sweep directory
  std::vector<std::string> axis_keys;  // every key an axis sets, in axis order
  std::vector<Run> runs;
};

// Reads and expands a sweep file; throws Error naming the file and the offending key or value.
// `sets` ("key=value", as `normlab sweep --set`) apply to every run after the file's [set]; a key
// that is on an axis is refused.
Sweep load(const std::string& path, const std::vector<std::string>& sets = {});
Sweep parse(const std::string& toml_text, const std::string& path,
            const std::vector<std::string>& sets = {});

// The hash part of a run id: FNV-1a (64 bit) of the resolved config with `name` and `train.out`
// blanked, as 8 hex digits.
std::string config_hash(const io::Config& config);

}  // namespace normlab::sweep
