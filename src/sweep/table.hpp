// `normlab table SWEEP_DIR`: a sweep as the papers' comparison tables (Zhang & Sennrich 2019,
// tables 2-7; Nguyen & Salazar 2019), one row per value of the row keys (by default every axis of
// the sweep but `seed`), the seeds collapsed into mean ± sample standard deviation:
//   - the final validation loss and metric (the last evaluation of each run);
//   - the time per 1k steps: each run's median step time × 1000, in seconds;
//   - the speedup against LayerNorm, (T_LN − T_x) / T_LN in percent (the RMSNorm paper's
//     convention), T the row's mean time per 1k steps, against the `layernorm` row that has the
//     same values of the other row keys; "—" when there is none (or model.norm is not a row key);
//   - the steps to reach a target validation loss: per run the training steps taken before the
//     first evaluation whose val_loss is at most the target (eval_step + 1, since an eval_step is
//     the 0-based step the evaluation followed); the mean over the runs that reach it, with how many did. The target is
//     --target-loss, or else the mean final val_loss of the row's LayerNorm row (the steps each
//     normalizer takes to reach the quality LayerNorm ends with).
// Only completed runs enter the figures; diverged runs and runs without a result (missing,
// running, interrupted, unreadable) are counted in their own columns, never dropped silently.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "io/run_schema.hpp"

namespace normlab::tools {

struct TableOptions {
  std::vector<std::string> rows;                                // config keys; empty: the axes but seed
  // The final figures shown, in order: run-file series.
  std::vector<std::string> metrics{io::schema::series::kValLoss, io::schema::series::kValMetric};
  std::optional<double> target_loss;
};

// Mean and sample standard deviation (n − 1) of n values; std is NaN for n < 2, both for n = 0.
struct MeanStd {
  double mean, std;
  std::size_t n;
};
MeanStd mean_std(const std::vector<double>& values);

// The steps taken (eval_step + 1) before the first evaluation whose val_loss <= target, or
// nullopt when none reaches it.
std::optional<double> steps_to_target(const std::vector<double>& eval_steps,
                                      const std::vector<double>& val_loss, double target);

struct TableRow {
  std::vector<std::string> keys;  // the row keys' values, as the index shows them
  std::size_t runs = 0, completed = 0, diverged = 0, unfinished = 0;
  std::vector<MeanStd> metrics;   // one per TableOptions::metrics, over the completed runs
  MeanStd final_val_loss{};       // over the completed runs, shown or not (the default target)
  MeanStd s_per_1k{};             // seconds per 1000 steps
  double speedup_pct;             // NaN: no LayerNorm row to compare with
  double target;                  // NaN: no target
  MeanStd steps{};                // steps to the target, over the runs that reach it
  std::size_t reached = 0;
};

struct Table {
  std::string dir;
  std::vector<std::string> row_keys, metrics;
  std::vector<TableRow> rows;     // in the order the sweep runs them
  bool explicit_target = false;
};

// Reads DIR (a `normlab sweep` directory: manifest.toml, runs/, configs/); throws Error naming the
// directory or the offending key (with the nearest valid one).
Table make_table(const std::string& dir, const TableOptions& options);

std::string table_markdown(const Table& t);
std::string table_csv(const Table& t);    // numbers in full precision, empty where there is none
std::string table_latex(const Table& t);  // a tabular environment (no packages needed)

}  // namespace normlab::tools
