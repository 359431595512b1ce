#include "sweep/table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

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

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const std::vector<std::string> kMetrics{schema::series::kValLoss, schema::series::kValMetric};

// What the table needs of one run.
struct RunFigures {
  std::string status;
  std::vector<std::string> keys;          // the row keys' values
  double final_val_loss = kNaN, final_val_metric = kNaN, s_per_1k = kNaN;
  std::vector<double> eval_steps, val_loss;
};

RunFigures read_run(const fs::path& dir, const sweep::IndexRow& r, const std::vector<std::string>& row_keys) {
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
  for (const auto& key : row_keys) {
    run.keys.push_back(config ? sweep::config_cell(config->value_text(key)) : std::string("?"));
  }
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

// Speedup and the default target: against the layernorm row with the same other row keys.
void compare_with_layernorm(Table& t, const std::optional<double>& target) {
  const auto norm_at = std::find(t.row_keys.begin(), t.row_keys.end(), "model.norm");
  for (TableRow& row : t.rows) {
    row.speedup_pct = kNaN;
    row.target = target.value_or(kNaN);
    if (norm_at == t.row_keys.end()) continue;
    const std::size_t k = std::size_t(norm_at - t.row_keys.begin());
    for (const TableRow& ln : t.rows) {
      if (ln.keys[k] != "layernorm") continue;
      bool same_group = true;
      for (std::size_t j = 0; j < ln.keys.size(); ++j) same_group &= j == k || ln.keys[j] == row.keys[j];
      if (!same_group) continue;
      const double t_ln = ln.s_per_1k.mean, t_x = row.s_per_1k.mean;
      row.speedup_pct = 100.0 * (t_ln - t_x) / t_ln;  // NaN when either row has no completed run
      if (!target) row.target = ln.final_val_loss.mean;
    }
  }
}

}  // namespace

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m{kNaN, kNaN, values.size()};
  if (values.empty()) return m;
  double sum = 0;
  for (double v : values) sum += v;
  m.mean = sum / double(values.size());
  if (values.size() < 2) return m;
  double squares = 0;  // two-pass: the deviations from the mean, not E[x²] − E[x]²
  for (double v : values) squares += (v - m.mean) * (v - m.mean);
  m.std = std::sqrt(squares / double(values.size() - 1));
  return m;
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
  t.explicit_target = options.target_loss.has_value();

  std::vector<std::vector<RunFigures>> groups;
  for (const auto& r : index.rows) {
    RunFigures run = read_run(dir, r, t.row_keys);
    auto at = std::find_if(t.rows.begin(), t.rows.end(), [&](const TableRow& row) { return row.keys == run.keys; });
    if (at == t.rows.end()) {
      t.rows.push_back(TableRow{});
      t.rows.back().keys = run.keys;
      groups.emplace_back();
      at = t.rows.end() - 1;
    }
    groups[std::size_t(at - t.rows.begin())].push_back(std::move(run));
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    TableRow& row = t.rows[g];
    std::vector<double> loss, metric, time;
    for (const RunFigures& run : groups[g]) {
      ++row.runs;
      if (run.status == schema::status::kDiverged) ++row.diverged;
      if (run.status != schema::status::kCompleted) {
        row.unfinished += run.status != schema::status::kDiverged;
        continue;
      }
      ++row.completed;
      loss.push_back(run.final_val_loss);
      metric.push_back(run.final_val_metric);
      time.push_back(run.s_per_1k);
    }
    for (const auto& m : t.metrics) row.metrics.push_back(mean_std(m == schema::series::kValLoss ? loss : metric));
    row.final_val_loss = mean_std(loss);
    row.s_per_1k = mean_std(time);
  }
  compare_with_layernorm(t, options.target_loss);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    TableRow& row = t.rows[g];
    std::vector<double> steps;
    if (!std::isnan(row.target)) {
      for (const RunFigures& run : groups[g]) {
        if (run.status != schema::status::kCompleted) continue;
        if (auto s = steps_to_target(run.eval_steps, run.val_loss, row.target)) steps.push_back(*s);
      }
    }
    row.reached = steps.size();
    row.steps = mean_std(steps);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Output

namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// "1.234 ± 0.012", "1.234" (one run), "—" (none); `pm` is the ± sign of the format.
std::string mean_std_cell(const MeanStd& m, int digits, const std::string& pm, const std::string& none) {
  if (std::isnan(m.mean)) return none;
  if (std::isnan(m.std)) return fixed(m.mean, digits);
  return fixed(m.mean, digits) + pm + fixed(m.std, digits);
}

std::string speedup_cell(double pct, const std::string& percent, const std::string& none) {
  if (std::isnan(pct)) return none;
  std::string s = fixed(pct, 1);
  if (pct >= 0) s.insert(s.begin(), '+');
  return s + percent;
}

std::string steps_cell(const TableRow& r, const std::string& pm, const std::string& none) {
  if (std::isnan(r.target) || r.reached == 0) return none;
  std::string s = mean_std_cell(r.steps, 0, pm, none);
  if (r.reached < r.completed) s += " (" + std::to_string(r.reached) + "/" + std::to_string(r.completed) + ")";
  return s;
}

int digits_of(const std::string& metric) { return metric == schema::series::kValLoss ? 3 : 4; }

std::string metric_title(const std::string& m) {
  return m == schema::series::kValLoss ? "final val loss" : "final val metric";
}

// The header and cells shared by Markdown and LaTeX.
struct Grid {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> cells;
  std::string note;
};

bool single_target(const Table& t) {
  double first = kNaN;
  for (const auto& r : t.rows) {
    if (std::isnan(r.target)) continue;
    if (std::isnan(first)) first = r.target;
    if (r.target != first) return false;
  }
  return true;
}

Grid grid(const Table& t, const std::string& pm, const std::string& none, const std::string& percent) {
  Grid g;
  g.header = t.row_keys;
  for (const char* h : {"n", "diverged"}) g.header.push_back(h);
  bool any_unfinished = false;
  for (const auto& r : t.rows) any_unfinished |= r.unfinished > 0;
  if (any_unfinished) g.header.push_back("no result");
  for (const auto& m : t.metrics) g.header.push_back(metric_title(m));
  g.header.push_back("s / 1k steps");
  g.header.push_back("speedup vs LN");
  const bool one_target = single_target(t);
  if (!one_target) g.header.push_back("target loss");
  g.header.push_back("steps to target");
  for (const auto& r : t.rows) {
    std::vector<std::string> c = r.keys;
    c.push_back(std::to_string(r.completed));
    c.push_back(std::to_string(r.diverged));
    if (any_unfinished) c.push_back(std::to_string(r.unfinished));
    for (std::size_t m = 0; m < t.metrics.size(); ++m) {
      c.push_back(mean_std_cell(r.metrics[m], digits_of(t.metrics[m]), pm, none));
    }
    c.push_back(mean_std_cell(r.s_per_1k, 2, pm, none));
    c.push_back(speedup_cell(r.speedup_pct, percent, none));
    if (!one_target) c.push_back(std::isnan(r.target) ? none : fixed(r.target, 3));
    c.push_back(steps_cell(r, pm, none));
    g.cells.push_back(c);
  }
  std::ostringstream note;
  note << "n: completed runs (mean " << "± sample std over them); s / 1k steps: median step time × 1000; "
       << "speedup: (T_LN − T)/T_LN; steps to target: first evaluation with val loss ≤ ";
  double target = kNaN;
  for (const auto& r : t.rows) if (!std::isnan(r.target)) target = r.target;
  if (std::isnan(target)) note << "a target (none: no --target-loss and no LayerNorm row)";
  else if (t.explicit_target) note << fixed(target, 3) << " (--target-loss)";
  else if (one_target) note << fixed(target, 3) << " (LayerNorm's mean final val loss)";
  else note << "the target loss column (the LayerNorm row's mean final val loss)";
  note << ", mean over the runs that reach it (k/n when not all do).";
  g.note = note.str();
  return g;
}

std::string latex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '_' || c == '%' || c == '&' || c == '#' || c == '$' || c == '{' || c == '}') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string table_markdown(const Table& t) {
  const Grid g = grid(t, " ± ", "—", "%");
  std::ostringstream s;
  s << "|";
  for (const auto& h : g.header) s << " " << h << " |";
  s << "\n|";
  for (std::size_t i = 0; i < g.header.size(); ++i) s << (i < t.row_keys.size() ? " --- |" : " ---: |");
  s << "\n";
  for (const auto& row : g.cells) {
    s << "|";
    for (const auto& c : row) s << " " << c << " |";
    s << "\n";
  }
  s << "\n" << g.note << "\n";
  return s.str();
}

std::string table_csv(const Table& t) {
  std::vector<std::string> header = t.row_keys;
  for (const char* h : {"runs", "completed", "diverged", "no_result"}) header.push_back(h);
  for (const auto& m : t.metrics) {
    header.push_back(m + "_mean");
    header.push_back(m + "_std");
  }
  for (const char* h : {"s_per_1k_steps_mean", "s_per_1k_steps_std", "speedup_vs_layernorm_pct",
                        "target_loss", "steps_to_target_mean", "steps_to_target_std", "reached_target"}) {
    header.push_back(h);
  }
  std::ostringstream s;
  s << csv_record(header);
  for (const auto& r : t.rows) {
    std::vector<std::string> f = r.keys;
    for (std::size_t n : {r.runs, r.completed, r.diverged, r.unfinished}) f.push_back(std::to_string(n));
    for (const auto& m : r.metrics) {
      f.push_back(format_double_or_blank(m.mean));
      f.push_back(format_double_or_blank(m.std));
    }
    for (double v : {r.s_per_1k.mean, r.s_per_1k.std, r.speedup_pct, r.target, r.steps.mean, r.steps.std}) {
      f.push_back(format_double_or_blank(v));
    }
    f.push_back(std::to_string(r.reached));
    s << csv_record(f);
  }
  return s.str();
}

std::string table_latex(const Table& t) {
  const Grid g = grid(t, " $\\pm$ ", "--", "\\%");
  std::ostringstream s;
  s << "% normlab table " << latex_escape(t.dir) << "\n";
  s << "\\begin{tabular}{" << std::string(t.row_keys.size(), 'l')
    << std::string(g.header.size() - t.row_keys.size(), 'r') << "}\n\\hline\n";
  for (std::size_t i = 0; i < g.header.size(); ++i) {
    s << (i ? " & " : "") << latex_escape(g.header[i]);
  }
  s << " \\\\\n\\hline\n";
  for (const auto& row : g.cells) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      // Cells built with LaTeX markup ($\pm$, \%) are kept; the row keys' values are escaped.
      s << (i ? " & " : "") << (i < t.row_keys.size() ? latex_escape(row[i]) : row[i]);
    }
    s << " \\\\\n";
  }
  s << "\\hline\n\\end{tabular}\n";
  return s.str();
}

}  // namespace normlab::tools
