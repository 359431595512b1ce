// `normlab table SWEEP_DIR`: a sweep as the papers' comparison tables (Zhang & Sennrich 2019,
// tables 2-7; Nguyen & Salazar 2019), one row per value of the row keys (by default every axis of
// the sweep but `seed`), with the statistics a reviewer asks for (sweep/inference.hpp):
//   - each final figure (the last evaluation's val_loss and val_metric) as the mean over the
//     row's completed runs with its 95% t interval (the sample std kept for the CSV);
//   - against the baseline row (the row whose value of the baseline key, model.norm by default,
//     is the baseline value, layernorm by default, and whose other row keys are equal): the
//     difference of means, row − baseline, with its 95% interval and a two-sided p-value, from a
//     paired t-test when both rows' completed runs have the same seeds (the same values of the
//     sweep's axes outside the row keys), each once, n ≥ 2, else Welch's; the p-values of every
//     compared row of the table Holm-adjusted per metric, significant when the adjusted p < 0.05;
//     an equivalence test (TOST) against the metric's margin with its 90% interval, and a verdict:
//     equivalent (TOST p < 0.05), else different (adjusted p < 0.05), else inconclusive;
//   - the time per 1k steps (each run's median step time × 1000, in seconds) with its interval,
//     and the speedup against the baseline, 100 (1 − T/T_b) with T the geometric mean time, its
//     95% interval from Welch's t on log times (times are positive and their spread grows with
//     them; a ratio is a difference of logs);
//   - the steps to reach a target validation loss: per run the training steps taken before the
//     first evaluation whose val_loss is at most the target (eval_step + 1, since an eval_step is
//     the 0-based step the evaluation followed); the mean over the runs that reach it, with how
//     many did. The target is --target-loss, or else the baseline row's mean final val_loss.
// Only completed runs enter the figures; diverged and stuck runs (results: the normalizer failed
// to train) and runs without a result (missing, running, interrupted, unreadable) are counted in
// their own columns, never dropped silently.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "io/run_schema.hpp"
#include "sweep/inference.hpp"

namespace normlab::tools {

// The equivalence margins when --margin does not set them, in each metric's units: 0.02 nats of
// validation loss (1% of a loss near 2, below the gaps the RMSNorm paper's tables report between
// normalizers that differ) and half a point of accuracy.
inline constexpr double kDefaultLossMargin = 0.02, kDefaultMetricMargin = 0.005;
// The level of every test, after Holm's correction for the table's comparisons.
inline constexpr double kAlpha = 0.05;

struct TableOptions {
  std::vector<std::string> rows;                                // config keys; empty: the axes but seed
  // The final figures shown, in order: run-file series.
  std::vector<std::string> metrics{io::schema::series::kValLoss, io::schema::series::kValMetric};
  std::optional<double> target_loss;
  // "VALUE" (of model.norm) or "KEY=VALUE"; empty: model.norm=layernorm, when there is such a row.
  std::string baseline;
  // "X" (the first metric's margin) or "METRIC=X[,METRIC=X]"; the others keep their defaults.
  std::string margins;
};

// The margin of each metric from --margin's text (TableOptions::margins), the defaults where it
// names none; throws Error naming an unknown metric or a negative margin.
std::vector<double> parse_margins(const std::string& spec, const std::vector<std::string>& metrics);

// The steps taken (eval_step + 1) before the first evaluation whose val_loss <= target, or
// nullopt when none reaches it.
std::optional<double> steps_to_target(const std::vector<double>& eval_steps,
                                      const std::vector<double>& val_loss, double target);

// One final metric of a row.
struct MetricStats {
  Summary summary;       // over the completed runs
  Difference vs_base;    // test kNone: the row has no baseline row or is one
  double p_holm = kNoValue;
  std::string verdict;   // equivalent, different, inconclusive; "" without a test
};

struct TableRow {
  std::vector<std::string> keys;  // the row keys' values, as the index shows them
  std::size_t runs = 0, completed = 0, diverged = 0, stuck = 0, unfinished = 0;
  std::vector<MetricStats> metrics;  // one per TableOptions::metrics
  Summary final_val_loss;         // shown or not (the default target)
  Summary s_per_1k;               // seconds per 1000 steps
  Difference log_time_vs_base;    // Welch's t on log s_per_1k, row − baseline
  double speedup_pct = kNoValue, speedup_lo_pct = kNoValue, speedup_hi_pct = kNoValue;
  // The baseline row's index in Table::rows; its own index on a baseline row; -1: none.
  long baseline = -1;
  double target = kNoValue;       // NaN: no target
  Summary steps;                  // steps to the target, over the runs that reach it
  std::size_t reached = 0;
};

struct Table {
  std::string dir;
  std::vector<std::string> row_keys, metrics;
  std::vector<double> margins;    // per metric; 0: no equivalence test
  // The baseline row's values of some row keys (--baseline: model.norm = layernorm by default);
  // a row is compared with the row that has these and the row's own values of the other keys.
  // Empty: no comparisons.
  std::vector<std::string> baseline_keys, baseline_values;
  std::vector<std::string> pair_axes;  // the sweep's axes outside the row keys: what pairs two runs
  std::vector<TableRow> rows;     // in the order the sweep runs them
  bool explicit_target = false;
  bool is_baseline(std::size_t r) const { return rows[r].baseline == long(r); }
  bool is_compared(std::size_t r) const { return rows[r].baseline >= 0 && !is_baseline(r); }
};

// Reads DIR (a `normlab sweep` directory: manifest.toml, runs/, configs/); throws Error naming the
// directory or the offending key or value (with the nearest valid one).
Table make_table(const std::string& dir, const TableOptions& options);

std::string table_markdown(const Table& t);
std::string table_csv(const Table& t);    // numbers in full precision, empty where there is none
std::string table_latex(const Table& t);  // a tabular environment (no packages needed)

}  // namespace normlab::tools
