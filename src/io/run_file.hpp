// One run's HDF5 file (format "normlab-run", docs/FORMAT.md), written while the run goes on:
//  - created as NAME.h5.partial in HDF5's latest format, status "running";
//  - the layout is declared first (attributes, per-step and per-evaluation series, the sites and
//    their statistics), then start() creates the appendable datasets with their dimension scales
//    (`step`, `eval_step`, `stat_step`, `site`) and enters SWMR writing, so a reader opening with
//    SWMR sees every row up to the last flush();
//  - finish() flushes and closes the .partial, which is never opened for writing again; copies it
//    to NAME.h5.tmp, writes the final datasets (the checkpoint) and the status there, syncs,
//    renames it to NAME.h5 and deletes the .partial. A kill at any instant leaves the .partial
//    intact (and the resume checkpoint, which the trainer deletes only after the rename), or the
//    completed NAME.h5; a reader globbing *.h5 never sees a half-written run.
// A run that ends otherwise (a signal) is closed with status "interrupted" the same way, the copy
// renamed over the .partial; after an exception the file is only closed. A process killed
// outright leaves a .partial that a SWMR reader and a resume read as it is (`h5clear -s` makes it
// readable normally). A resumed run starts a new file and copies the old one's rows into it
// (copy_rows_before).
// RunFile is the lifecycle, for series of any names; RunWriter (below) is the run file of a
// training run, which owns its layout: the root attributes, the series and their order, the site
// statistics, the final parameters, all named by io/run_schema.hpp.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "io/run_schema.hpp"

namespace normlab::io {

inline constexpr long long kRunFormatVersion = schema::kRunFormatVersion;

// The sites statistics are taken at, in forward order (datasets site, site_kind, ...).
struct SiteTable {
  std::vector<std::string> names, kinds;
  std::vector<long long> layers, features;
};

// Opens a run file for reading, checking that it is one: the `format` attribute must be
// "normlab-run" and `format_version` at most kRunFormatVersion; otherwise throws an Error naming
// the file and what is wrong. `swmr` reads a file still being written.
h5::File open_run(const std::string& path, bool swmr = false);

// The resolved config a run file holds (config_toml), with the values an older format named
// differently brought up to date, each change written to `notes` as a line naming the file:
//   format <= 3, model.placement "peri" -> "reordered" (x + N(F(x)); Peri-LN is "sandwich").
// The model the config builds is the same, parameter for parameter, so the analysis commands
// rebuild an old run's model from it; building from an un-upgraded "peri" is an error that says
// the same (models/transformer_lm.cpp).
Config run_config(const h5::File& f, const std::string& path, std::ostream& notes);

// A 1-D series of a run file as a reader should take it: cut to the rows its axis (`step`,
// `eval_step`) has, since values are written before their axis; empty when either is absent.
std::vector<double> read_series(const h5::File& f, const std::string& name, const std::string& axis);

class RunFile {
 public:
  explicit RunFile(std::string path);  // creates path + ".partial" with status "running"
  RunFile(const RunFile&) = delete;
  RunFile& operator=(const RunFile&) = delete;
  ~RunFile();  // an unfinished run is closed with status "interrupted" and left as .partial

  h5::File& file() { return file_; }  // attributes and fixed datasets: before start() only
  const std::string& path() const { return path_; }

  // The series, declared before start(): float64 values, one per step (dimension `step`) or one
  // per evaluation (dimension `eval_step`), in the order record_step / record_eval take them.
  void add_step_series(const std::string& name);
  void add_eval_series(const std::string& name);
  // Statistics per site: one (stat_step, site) float64 series per name in `stats`. A table
  // without sites adds nothing.
  void add_site_stats(const SiteTable& sites, const std::vector<std::string>& stats);
  // Creates the series and their scales and starts SWMR writing.
  void start();

  // Buffers one row; flush() writes the buffered rows and makes them visible to readers.
  void record_step(long long step, const std::vector<double>& values);
  void record_eval(long long step, const std::vector<double>& values);
  // One row per statistic, statistic-major: values[stat * sites + site].
  void record_stats(long long step, std::span<const double> values);
  void flush();

  // Resuming: records again the rows of `from` (an earlier file of this run, with the same
  // series) whose step is below `before`, the rows written before the resume checkpoint; later
  // rows are left out. After start(). Returns the number of per-step rows copied.
  std::size_t copy_rows_before(const h5::File& from, long long before);

  // Flushes and closes; then, in a copy (NAME.h5.tmp), `final_writes` adds datasets and attributes
  // and the status is set; the copy is renamed to its final path and the .partial deleted.
  void finish(const std::string& status, const std::function<void(h5::File&)>& final_writes = {});
  // Flushes and closes with `status` (e.g. "interrupted"), keeping the .partial name (the status
  // is set in a copy renamed over it).
  void abandon(const std::string& status);

 private:
  struct Series {
    explicit Series(std::string axis_name) : axis(std::move(axis_name)) {}
    std::string axis;                   // "step", "eval_step" or "stat_step"
    std::size_t columns = 0;            // 0: 1-D series; otherwise (rows, columns), along `site`
    std::vector<std::string> names;     // the value series on that axis
    std::vector<long long> pending_axis;
    std::vector<std::vector<double>> pending;  // per name, rows of max(columns, 1) values
  };
  void record(Series& s, long long step, std::span<const double> values);
  void close_partial();  // flushes and closes the .partial for good

  std::string path_;
  h5::File file_;
  Series steps_{schema::axis::kStep}, evals_{schema::axis::kEvalStep},
      stats_{schema::axis::kStatStep};
  SiteTable sites_;
  bool started_ = false, finished_ = false, closed_ = false;
};

// The root attributes a training run declares (docs/FORMAT.md, "Root attributes"); RunFile
// writes format, format_version, normlab_version and status itself.
struct RunAttributes {
  std::string run_id, config_toml;
  std::string family, norm, norm_options, task, optimizer, dtype;  // flat copies of the config
  long long seed = 0;
  double lr = 0;
  long long stats_every = 0;
  std::string val_metric_name;        // what val_metric measures, from the task
  double chance_loss = 0;             // the task's chance-level loss (Workload::chance_loss)
  std::string started;                // the first session's start
  std::vector<long long> resumed_from;  // the step of each resume so far
};

// One row of the step series and of the evaluation series (schema::kStepSeries, kEvalSeries).
struct StepRow {
  double train_loss, lr, grad_norm, step_time;
};
struct EvalRow {
  double val_loss, val_metric;
};

// What finish() adds to a completed or diverged run.
struct RunEnd {
  std::string finished;  // the UTC timestamp
  double peak_rss_mib = 0;
  // Writes the final parameters into the reopened file, each as schema::checkpoint_dataset(name).
  std::function<void(h5::File&)> write_parameters;
};

// The run file of one training run, created and started (SWMR) by the constructor.
class RunWriter {
 public:
  RunWriter(const std::string& path, const RunAttributes& attributes, const SiteTable& sites);

  void record_step(long long step, const StepRow& row);
  void record_eval(long long step, const EvalRow& row);
  void record_stats(long long step, std::span<const double> values) { file_.record_stats(step, values); }
  void flush() { file_.flush(); }
  // As RunFile::copy_rows_before: the rows of an earlier file of this run below step `before`.
  std::size_t copy_rows_before(const h5::File& from, long long before) {
    return file_.copy_rows_before(from, before);
  }
  // Completed or diverged: closes, adds `end`, sets the status and renames to the final path.
  void finish(const std::string& status, const RunEnd& end);
  // Interrupted: closed with `status`, left as NAME.h5.partial.
  void abandon(const std::string& status) { file_.abandon(status); }

 private:
  RunFile file_;
};

}  // namespace normlab::io
