#include "sweep/table.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "io/config.hpp"
#include "io/run_file.hpp"
#include "io/run_schema.hpp"
#include "sweep/collect.hpp"

namespace normlab::tools {

namespace fs = std::filesystem;
namespace schema = io::schema;

namespace {

const std::vector<std::string> kMetrics{schema::series::kValLoss, schema::series::kValMetric};

// What the table needs of one run.
struct RunFigures {
  std::string status;
  std::vector<std::string> keys;  // the row keys' values
  std::string pair_key;           // the values of the sweep's other axes (the seed, at least)
  double final_val_loss = kNoValue, final_val_metric = kNoValue, s_per_1k = kNoValue;
  std::vector<double> eval_steps, val_loss;
};

std::vector<std::string> axes_outside(const std::vector<std::string>& axes, const std::vector<std::string>& row_keys) {
  std::vector<std::string> out;
  for (const auto& a : axes) {
    if (std::find(row_keys.begin(), row_keys.end(), a) == row_keys.end()) out.push_back(a);
  }
  return out;
}

RunFigures read_run(const fs::path& dir, const sweep::IndexRow& r, const std::vector<std::string>& row_keys,
                    const std::vector<std::string>& pair_axes) {
  RunFigures run;
  run.status = r.status;
  run.final_val_loss = r.final_val_loss;
  run.final_val_metric = r.final_val_metric;
  run.s_per_1k = r.ms_per_step;  // ms per step × 1000 steps / 1000 ms per s
  std::optional<io::Config> config;
  if (r.status != schema::sweep_index::kMissing && r.status != schema::sweep_index::kUnreadable) {
    try {
      h5::File f = io::open_run(r.path, r.path.ends_with(schema::suffix::kPartial));
      config = io::Config::parse(f.read_string_attribute("/", schema::attr::kConfigToml), r.path);
      run.eval_steps = io::read_series(f, schema::axis::kEvalStep, schema::axis::kEvalStep);
      run.val_loss = io::read_series(f, schema::series::kValLoss, schema::axis::kEvalStep);
    } catch (const Error&) {
      run.status = schema::sweep_index::kUnreadable;
    }
  }
  // A run without a readable file still belongs to a row: its resolved config is in configs/.
  const fs::path saved = dir / "configs" / (r.id + ".toml");
  if (!config && fs::exists(saved)) config = io::Config::load(saved.string());
  auto cell = [&](const std::string& key) {
    return config ? sweep::config_cell(config->value_text(key)) : std::string("?");
  };
  for (const auto& key : row_keys) run.keys.push_back(cell(key));
  for (const auto& axis : pair_axes) run.pair_key += axis + "=" + cell(axis) + ";";
  return run;
}

std::vector<std::string> default_row_keys(const sweep::Index& index) {
  std::vector<std::string> keys;
  for (const auto& a : index.axes) {
    if (a != "seed") keys.push_back(a);
  }
  if (keys.empty()) keys.push_back("model.norm");
  return keys;
}

void check_keys(const std::vector<std::string>& keys, const std::string& what,
                const std::vector<std::string>& valid) {
  for (const auto& k : keys) {
    if (std::find(valid.begin(), valid.end(), k) == valid.end()) {
      fail(what, ": unknown key '", k, "'", did_you_mean(k, valid));
    }
  }
}

// The runs of each row, the rows in the order of their first run.
std::vector<std::vector<RunFigures>> group_runs(Table& t, const sweep::Index& index) {
  t.pair_axes = axes_outside(index.axes, t.row_keys);
  std::vector<std::vector<RunFigures>> groups;
  for (const auto& r : index.rows) {
    RunFigures run = read_run(t.dir, r, t.row_keys, t.pair_axes);
    auto at = std::find_if(t.rows.begin(), t.rows.end(), [&](const TableRow& row) { return row.keys == run.keys; });
    if (at == t.rows.end()) {
      t.rows.push_back(TableRow{});
      t.rows.back().keys = run.keys;
      groups.emplace_back();
      at = t.rows.end() - 1;
    }
    groups[std::size_t(at - t.rows.begin())].push_back(std::move(run));
  }
  return groups;
}

double metric_of(const RunFigures& run, const std::string& metric) {
  return metric == schema::series::kValLoss ? run.final_val_loss : run.final_val_metric;
}

// The observations a row's figure is computed from: its completed runs' values (finite ones).
std::vector<Observation> observations(const std::vector<RunFigures>& runs, const std::string& what) {
  std::vector<Observation> obs;
  for (const RunFigures& run : runs) {
    if (run.status != schema::status::kCompleted) continue;
    const double v = what == "log_time" ? std::log(run.s_per_1k) : metric_of(run, what);
    if (std::isfinite(v)) obs.push_back({v, run.pair_key});
  }
  return obs;
}

std::vector<double> values_of(const std::vector<Observation>& obs) {
  std::vector<double> v;
  for (const auto& o : obs) v.push_back(o.value);
  return v;
}

void count_and_summarize(Table& t, const std::vector<std::vector<RunFigures>>& groups) {
  for (std::size_t g = 0; g < groups.size(); ++g) {
    TableRow& row = t.rows[g];
    std::vector<double> time;
    for (const RunFigures& run : groups[g]) {
      ++row.runs;
      if (run.status == schema::status::kCompleted) {
        ++row.completed;
        if (std::isfinite(run.s_per_1k)) time.push_back(run.s_per_1k);
      } else if (run.status == schema::status::kDiverged) {
        ++row.diverged;
      } else if (run.status == schema::status::kStuck) {
        ++row.stuck;
      } else {
        ++row.unfinished;
      }
    }
    for (const auto& m : t.metrics) {
      row.metrics.push_back(MetricStats{});
      row.metrics.back().summary = summarize(values_of(observations(groups[g], m)));
    }
    row.final_val_loss = summarize(values_of(observations(groups[g], schema::series::kValLoss)));
    row.s_per_1k = summarize(time);
  }
}

// Each row against its baseline row: every metric's test and equivalence, the speedup.
void compare_with_baseline(Table& t, const std::vector<std::vector<RunFigures>>& groups) {
  for (std::size_t g = 0; g < t.rows.size(); ++g) {
    if (!t.is_compared(g)) continue;
    TableRow& row = t.rows[g];
    const auto& base = groups[std::size_t(row.baseline)];
    for (std::size_t m = 0; m < t.metrics.size(); ++m) {
      Difference& d = row.metrics[m].vs_base;
      d = compare_rows(observations(groups[g], t.metrics[m]), observations(base, t.metrics[m]));
      add_equivalence(d, t.margins[m], kAlpha);
    }
    // Welch whatever the seeds: runs of one seed share no clock, so pairing them removes nothing.
    row.log_time_vs_base = welch_difference(values_of(observations(groups[g], "log_time")),
                                            values_of(observations(base, "log_time")));
    const Difference& lt = row.log_time_vs_base;
    row.speedup_pct = 100 * (1 - std::exp(lt.diff));
    row.speedup_lo_pct = 100 * (1 - std::exp(lt.hi));  // the longer time bounds the smaller speedup
    row.speedup_hi_pct = 100 * (1 - std::exp(lt.lo));
  }
}

void steps_to_targets(Table& t, const std::vector<std::vector<RunFigures>>& groups,
                      const std::optional<double>& target) {
  for (std::size_t g = 0; g < groups.size(); ++g) {
    TableRow& row = t.rows[g];
    row.target = target               ? *target
                 : row.baseline >= 0 ? t.rows[std::size_t(row.baseline)].final_val_loss.mean
                                     : kNoValue;
    std::vector<double> steps;
    if (!std::isnan(row.target)) {
      for (const RunFigures& run : groups[g]) {
        if (run.status != schema::status::kCompleted) continue;
        if (auto s = steps_to_target(run.eval_steps, run.val_loss, row.target)) steps.push_back(*s);
      }
    }
    row.reached = steps.size();
    row.steps = summarize(steps);
  }
}

// --baseline's pairs: "VALUE" (of model.norm), "KEY=VALUE", or several KEY=VALUE joined by commas.
// A value may hold commas itself (model.norm_options=eps=1e-6,bias=true): a comma starts a new pair
// only where a row key and '=' follow it.
std::vector<std::pair<std::string, std::string>> parse_baseline(const Table& t, const std::string& spec) {
  std::vector<std::string> pieces;
  for (const std::string& piece : split(spec, ',')) {
    const std::string key(trim(piece.substr(0, piece.find('='))));
    const bool starts_pair = piece.find('=') != std::string::npos &&
                             std::find(t.row_keys.begin(), t.row_keys.end(), key) != t.row_keys.end();
    if (pieces.empty() || starts_pair) pieces.push_back(piece);
    else pieces.back() += "," + piece;
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const std::string& piece : pieces) {
    const std::size_t eq = piece.find('=');
    if (eq == std::string::npos) pairs.emplace_back("model.norm", std::string(trim(piece)));
    else pairs.emplace_back(std::string(trim(piece.substr(0, eq))), std::string(trim(piece.substr(eq + 1))));
  }
  return pairs;
}

// Checks one pair of --baseline against the rows; false (no comparisons) when the default baseline
// (model.norm=layernorm) has no row, so a table without LayerNorm has no comparisons, not an error.
bool check_baseline_pair(const Table& t, const std::string& key, const std::string& value, bool given,
                         bool keyed) {
  const auto at = std::find(t.row_keys.begin(), t.row_keys.end(), key);
  if (at == t.row_keys.end()) {
    if (!given) return false;
    if (keyed) fail("--baseline: '", key, "' is not a row key (the row keys: ", join(t.row_keys, ", "), ")",
                    did_you_mean(key, t.row_keys));
    fail("--baseline ", value, ": model.norm is not a row key (the row keys: ", join(t.row_keys, ", "),
         "); name the key as KEY=VALUE");
  }
  const std::size_t k = std::size_t(at - t.row_keys.begin());
  std::vector<std::string> values;
  for (const auto& row : t.rows) {
    if (std::find(values.begin(), values.end(), row.keys[k]) == values.end()) values.push_back(row.keys[k]);
  }
  if (std::find(values.begin(), values.end(), value) != values.end()) return true;
  if (!given) return false;
  std::string elsewhere;  // a bare value that belongs to another row key: say which
  for (std::size_t j = 0; j < t.row_keys.size() && !keyed; ++j) {
    for (const auto& row : t.rows) {
      if (j != k && row.keys[j] == value && elsewhere.empty()) {
        const std::string& other = t.row_keys[j];
        elsewhere = " ('" + value + "' is a value of " + other + ": --baseline " + other + "=" + value + ")";
      }
    }
  }
  fail("--baseline: no row has ", key, " = '", value, "' (its values: ", join(values, ", "), ")",
       elsewhere.empty() ? did_you_mean(value, values) : elsewhere);
}

// The baseline keys and values of --baseline (spec), checked against the rows.
void resolve_baseline(Table& t, const std::string& spec) {
  const bool given = !spec.empty();
  const auto pairs = given ? parse_baseline(t, spec)
                           : std::vector<std::pair<std::string, std::string>>{{"model.norm", "layernorm"}};
  for (const auto& [key, value] : pairs) {
    const bool keyed = given && spec.find('=') != std::string::npos;
    if (!check_baseline_pair(t, key, value, given, keyed)) return;
    if (std::find(t.baseline_keys.begin(), t.baseline_keys.end(), key) != t.baseline_keys.end()) {
      fail("--baseline: ", key, " is given twice");
    }
    t.baseline_keys.push_back(key);
    t.baseline_values.push_back(value);
  }
}

// Each row's baseline: the row with the baseline values and the row's own values of the other keys.
void assign_baselines(Table& t, const std::string& spec) {
  resolve_baseline(t, spec);
  if (t.baseline_keys.empty()) return;
  std::vector<long> fixed(t.row_keys.size(), -1);  // per row key: its index in baseline_values
  for (std::size_t i = 0; i < t.baseline_keys.size(); ++i) {
    fixed[std::size_t(std::find(t.row_keys.begin(), t.row_keys.end(), t.baseline_keys[i]) - t.row_keys.begin())] = long(i);
  }
  bool any = false;
  for (TableRow& row : t.rows) {
    for (std::size_t b = 0; b < t.rows.size(); ++b) {
      bool match = true;
      for (std::size_t j = 0; j < t.row_keys.size(); ++j) {
        const std::string& want = fixed[j] >= 0 ? t.baseline_values[std::size_t(fixed[j])] : row.keys[j];
        match &= t.rows[b].keys[j] == want;
      }
      if (match) row.baseline = long(b);
    }
    any |= row.baseline >= 0;
  }
  if (!any && !spec.empty()) {
    fail("--baseline: no row has ", join(t.baseline_keys, ", "), " = ", join(t.baseline_values, ", "),
         " together");
  }
}

// Holm over every compared row of the table, per metric, then each row's verdict.
void adjust_and_judge(Table& t) {
  for (std::size_t m = 0; m < t.metrics.size(); ++m) {
    std::vector<double> p;
    for (const TableRow& row : t.rows) p.push_back(row.metrics[m].vs_base.p);  // NaN where none
    const std::vector<double> adjusted = holm_adjust(p);
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      MetricStats& s = t.rows[r].metrics[m];
      s.p_holm = adjusted[r];
      if (std::isnan(s.vs_base.p)) continue;
      s.verdict = s.vs_base.p_tost < kAlpha ? "equivalent" : s.p_holm < kAlpha ? "different" : "inconclusive";
    }
  }
}

}  // namespace

std::vector<double> parse_margins(const std::string& spec, const std::vector<std::string>& metrics) {
  std::vector<double> margins;
  for (const auto& m : metrics) {
    margins.push_back(m == schema::series::kValLoss ? kDefaultLossMargin : kDefaultMetricMargin);
  }
  for (const auto& item : split_list(spec)) {
    const std::size_t eq = item.find('=');
    const std::string metric = eq == std::string::npos ? (metrics.empty() ? "" : metrics[0])
                                                       : std::string(trim(item.substr(0, eq)));
    const double value = parse_double(eq == std::string::npos ? item : item.substr(eq + 1), "--margin " + item);
    const auto at = std::find(metrics.begin(), metrics.end(), metric);
    if (at == metrics.end()) {
      fail("--margin ", item, ": '", metric, "' is not a metric of the table (", join(metrics, ", "), ")",
           did_you_mean(metric, metrics));
    }
    if (!(value >= 0) || !std::isfinite(value)) {
      fail("--margin ", item, ": a margin is a finite number ≥ 0 (0: no test)");
    }
    margins[std::size_t(at - metrics.begin())] = value;
  }
  return margins;
}

std::optional<double> steps_to_target(const std::vector<double>& eval_steps,
                                      const std::vector<double>& val_loss, double target) {
  const std::size_t n = std::min(eval_steps.size(), val_loss.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (val_loss[i] <= target) return eval_steps[i] + 1;
  }
  return std::nullopt;
}

Table make_table(const std::string& dir, const TableOptions& options) {
  const sweep::Index index = sweep::collect(dir, /*write=*/false);
  if (index.rows.empty()) fail(dir, ": no runs (the manifest lists none and runs/ holds none)");
  Table t;
  t.dir = dir;
  t.row_keys = options.rows.empty() ? default_row_keys(index) : options.rows;
  check_keys(t.row_keys, "--rows", io::Config().keys());
  t.metrics = options.metrics;
  check_keys(t.metrics, "--metric", kMetrics);
  t.margins = parse_margins(options.margins, t.metrics);
  t.explicit_target = options.target_loss.has_value();

  const std::vector<std::vector<RunFigures>> groups = group_runs(t, index);
  count_and_summarize(t, groups);
  assign_baselines(t, options.baseline);
  compare_with_baseline(t, groups);
  adjust_and_judge(t);
  steps_to_targets(t, groups, options.target_loss);
  return t;
}

}  // namespace normlab::tools
