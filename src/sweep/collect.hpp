// `normlab collect DIR`: the index of a sweep directory, one row per run, as DIR/index.csv and
// DIR/index.h5 (one dataset per column along the dimension `run`, which pandas and xarray read).
// Columns: id, status, one per axis key (the run's value, as TOML text), overrides (all of them,
// "key=value; ..."), steps, final_train_loss, final_val_loss, best_val_loss, final_val_metric,
// train_seconds (the sum of the step times), ms_per_step (their median), started, finished, path.
// A status is the run file's (a .partial still "running" is training now, or its process was
// killed), "missing" (no file) or "unreadable" (the reason is in overrides).
// The runs are those of DIR/manifest.toml (a run without a file is "missing") plus any other run
// file in DIR/runs (shards of one sweep on several machines all land there). Both files are written
// through a temporary name, so a reader never sees half an index.
#pragma once

#include <string>
#include <vector>

namespace normlab::sweep {

struct IndexRow {
  std::string id, status, overrides, started, finished, path;
  std::vector<std::string> axis_values;  // in the order of Index::axes
  double steps = 0, final_train_loss = 0, final_val_loss = 0, best_val_loss = 0;
  double final_val_metric = 0, train_seconds = 0, ms_per_step = 0;
};

struct Index {
  std::vector<std::string> axes;
  std::vector<IndexRow> rows;
};

// A config value's TOML text as a table cell: 'rmsnorm' -> rmsnorm, 0.0030000000000000001 -> 0.003,
// [ 'layernorm', 'rmsnorm' ] -> layernorm,rmsnorm (as the index's axis columns show them).
std::string config_cell(const std::string& toml_text);

// Reads the directory; writes index.csv and index.h5 when `write` is set.
Index collect(const std::string& dir, bool write = true);

}  // namespace normlab::sweep
