// The table as Markdown, CSV and LaTeX (sweep/table.hpp). Markdown and LaTeX share one grid of
// cells, so they cannot disagree; the CSV holds every figure behind those cells in full precision.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>

#include "core/strings.hpp"
#include "sweep/table.hpp"

namespace normlab::tools {

namespace schema = io::schema;

namespace {

std::string latex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '_' || c == '%' || c == '&' || c == '#' || c == '$' || c == '{' || c == '}') out += '\\';
    out += c;
  }
  return out;
}

// What differs between Markdown and LaTeX cells.
struct Style {
  std::string none, percent, delta, pm, plus_minus, le, lt;
  bool latex;
  std::string text(const std::string& s) const { return latex ? latex_escape(s) : s; }  // a name or value
};
const Style kMarkdown{"—", "%", "Δ", " ± ", "±", "≤", "<", false};
const Style kLatex{"--", "\\%", "$\\Delta$", " $\\pm$ ", "$\\pm$", "$\\le$", "$<$", true};

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string signed_fixed(double v, int digits) {
  const std::string s = fixed(v, digits);
  return s[0] == '-' ? s : "+" + s;
}

// "=0.43", "=0.031", "<0.001", to follow a "p": as many digits as tell the p-value's size.
std::string p_text(double p, const Style& st) {
  if (p < 0.001) return st.lt + "0.001";
  // Appended rather than "=" + text: GCC 12's -Wrestrict misfires on that operator+.
  return std::string("=").append(fixed(p, p < 0.1 ? 3 : 2));
}

// "1.234 [1.221, 1.247]"; "1.234" for one run; `none` for no run.
std::string summary_cell(const Summary& s, int digits, const Style& st) {
  if (std::isnan(s.mean)) return st.none;
  if (std::isnan(s.lo)) return fixed(s.mean, digits);
  return fixed(s.mean, digits) + " [" + fixed(s.lo, digits) + ", " + fixed(s.hi, digits) + "]";
}

// "-0.012 [-0.020, -0.004] p=0.031*", the p Holm-adjusted; the bare difference without a test.
std::string difference_cell(const MetricStats& m, int digits, const Style& st) {
  const Difference& d = m.vs_base;
  if (std::isnan(d.diff)) return st.none;
  if (std::isnan(d.p)) return signed_fixed(d.diff, digits);
  return signed_fixed(d.diff, digits) + " [" + signed_fixed(d.lo, digits) + ", " + signed_fixed(d.hi, digits) +
         "] p" + p_text(m.p_holm, st) + (m.p_holm < kAlpha ? "*" : "");
}

std::string verdict_cell(const MetricStats& m, const Style& st) {
  if (m.verdict.empty()) return st.none;
  if (std::isnan(m.vs_base.p_tost)) return m.verdict;
  return m.verdict + " (TOST p" + p_text(m.vs_base.p_tost, st) + ")";
}

std::string speedup_cell(const TableRow& r, const Style& st) {
  if (std::isnan(r.speedup_pct)) return st.none;
  std::string s = signed_fixed(r.speedup_pct, 1) + st.percent;
  if (!std::isnan(r.speedup_lo_pct)) {
    s += " [" + signed_fixed(r.speedup_lo_pct, 1) + ", " + signed_fixed(r.speedup_hi_pct, 1) + "]";
  }
  return s;
}

std::string steps_cell(const TableRow& r, const Style& st) {
  if (std::isnan(r.target) || r.reached == 0) return st.none;
  std::string s = fixed(r.steps.mean, 0);
  if (!std::isnan(r.steps.std)) s += st.pm + fixed(r.steps.std, 0);
  if (r.reached < r.completed) s += " (" + std::to_string(r.reached) + "/" + std::to_string(r.completed) + ")";
  return s;
}

int digits_of(const std::string& metric) { return metric == schema::series::kValLoss ? 3 : 4; }

std::string metric_title(const std::string& m) { return m == schema::series::kValLoss ? "val loss" : "val metric"; }

bool single_target(const Table& t) {
  double first = kNoValue;
  for (const auto& r : t.rows) {
    if (std::isnan(r.target)) continue;
    if (std::isnan(first)) first = r.target;
    if (r.target != first) return false;
  }
  return true;
}

bool compares(const Table& t) {
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    if (t.is_compared(r)) return true;
  }
  return false;
}

// The baseline's keys and values, "model.norm = layernorm, model.embed_scale = 64" (eq " = ").
std::string baseline_pairs(const Table& t, const char* eq) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < t.baseline_keys.size(); ++i) {
    parts.push_back(t.baseline_keys[i] + eq + t.baseline_values[i]);
  }
  return join(parts, ", ");
}

// "layernorm" for the default key alone, "model.placement=pre" for another.
std::string baseline_name(const Table& t) {
  const bool norm_only = t.baseline_keys.size() == 1 && t.baseline_keys[0] == "model.norm";
  return norm_only ? t.baseline_values[0] : baseline_pairs(t, "=");
}

// The test that gave a p-value; "" where there was none to give (one run on a side).
std::string test_of(const Difference& d) { return std::isnan(d.p) ? "" : test_name(d.test); }

// The rows' tests, "paired" or "paired, welch" when the metrics' differ.
std::string tests_cell(const TableRow& r, const Style& st) {
  std::vector<std::string> names;
  for (const auto& m : r.metrics) {
    const std::string n = test_of(m.vs_base);
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  return names.empty() ? st.none : join(names, ", ");
}

// The header and cells shared by Markdown and LaTeX; row keys and their values unescaped.
struct Grid {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> cells;
};

std::vector<std::string> grid_header(const Table& t, const Style& st, bool any_unfinished, bool one_target) {
  std::vector<std::string> h = t.row_keys;
  for (const char* c : {"n", "diverged", "stuck"}) h.push_back(c);
  if (any_unfinished) h.push_back("no result");
  const bool cmp = compares(t);
  for (std::size_t m = 0; m < t.metrics.size(); ++m) {
    const std::string title = metric_title(t.metrics[m]);
    h.push_back(title + " [95" + st.percent + " CI]");
    if (!cmp) continue;
    h.push_back(st.delta + " " + title + " vs " + st.text(baseline_name(t)) + " [95" + st.percent + " CI], p");
    h.push_back(t.margins[m] > 0 ? "TOST " + st.plus_minus + format_double(t.margins[m]) : "verdict");
  }
  if (cmp) h.push_back("test");
  h.push_back("s / 1k steps [95" + st.percent + " CI]");
  if (cmp) h.push_back("speedup vs " + st.text(baseline_name(t)) + " [95" + st.percent + " CI]");
  if (!one_target) h.push_back("target loss");
  h.push_back("steps to target");
  return h;
}

Grid grid(const Table& t, const Style& st) {
  bool any_unfinished = false;
  for (const auto& r : t.rows) any_unfinished |= r.unfinished > 0;
  const bool one_target = single_target(t), cmp = compares(t);
  Grid g;
  g.header = grid_header(t, st, any_unfinished, one_target);
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const TableRow& r = t.rows[i];
    const bool base = t.is_baseline(i);
    std::vector<std::string> c = r.keys;
    for (std::size_t n : {r.completed, r.diverged, r.stuck}) c.push_back(std::to_string(n));
    if (any_unfinished) c.push_back(std::to_string(r.unfinished));
    for (std::size_t m = 0; m < t.metrics.size(); ++m) {
      c.push_back(summary_cell(r.metrics[m].summary, digits_of(t.metrics[m]), st));
      if (!cmp) continue;
      c.push_back(base ? "baseline" : difference_cell(r.metrics[m], digits_of(t.metrics[m]), st));
      c.push_back(base ? "" : verdict_cell(r.metrics[m], st));
    }
    if (cmp) c.push_back(base ? "" : tests_cell(r, st));
    c.push_back(summary_cell(r.s_per_1k, 2, st));
    if (cmp) c.push_back(base ? "baseline" : speedup_cell(r, st));
    if (!one_target) c.push_back(std::isnan(r.target) ? st.none : fixed(r.target, 3));
    c.push_back(steps_cell(r, st));
    g.cells.push_back(c);
  }
  return g;
}

// "the 8 rows tested", or "the 8 (val loss) and 7 (val metric) rows tested" where a metric had
// rows without a test: Holm's m, per metric.
std::string holm_family(const Table& t) {
  std::vector<std::size_t> m(t.metrics.size(), 0);
  for (const auto& r : t.rows) {
    for (std::size_t k = 0; k < m.size(); ++k) m[k] += !std::isnan(r.metrics[k].vs_base.p);
  }
  if (std::adjacent_find(m.begin(), m.end(), std::not_equal_to<>()) == m.end()) {
    return "the " + std::to_string(m.empty() ? 0 : m[0]) + " rows tested, per metric";
  }
  std::vector<std::string> parts;
  for (std::size_t k = 0; k < m.size(); ++k) {
    parts.push_back(std::to_string(m[k]) + " (" + metric_title(t.metrics[k]) + ")");
  }
  return "the " + join(parts, " and ") + " rows tested";
}

// What the columns mean and which tests made them: the table's caption, in sentences.
std::vector<std::string> note(const Table& t, const Style& st) {
  std::vector<std::string> s;
  s.push_back("n: completed runs. Diverged runs (a non-finite loss) and stuck ones (trained to the end at the "
              "task's chance loss) count as failures and stay out of every figure, as do runs with no result.");
  s.push_back("Means over the completed runs with 95% t intervals (the CSV has the sample std).");
  if (compares(t)) {
    std::ostringstream pairing;  // a stream, not "(" + ...: GCC 12's -Wrestrict misfires on that operator+
    if (t.pair_axes.size() == 1) pairing << t.pair_axes[0];
    else if (t.pair_axes.empty()) pairing << "seed";
    else pairing << "(" << join(t.pair_axes, ", ") << ")";
    std::ostringstream c;
    c << st.delta << ": row - baseline (" << baseline_pairs(t, " = ")
      << ", the row with the same other keys), 95% interval; a paired t-test when both rows' completed runs have "
      << "the same values of " << pairing.str() << ", each once (n >= 2), else Welch's (column test); p: two-sided, "
      << "Holm-adjusted over " << holm_family(t) << "; * p < 0.05 after the correction.";
    s.push_back(c.str());
    std::ostringstream e;
    e << "Equivalence: two one-sided tests (TOST, same t and df) against a margin of";
    for (std::size_t m = 0; m < t.metrics.size(); ++m) {
      e << (m ? " and" : "") << " " << st.plus_minus << format_double(t.margins[m]) << " ("
        << metric_title(t.metrics[m]) << (t.metrics[m] == schema::series::kValLoss ? ", nats)" : ")");
    }
    e << ": equivalent when the TOST p < 0.05 (the 90% interval inside the margin), else different when the "
      << "adjusted p < 0.05, else inconclusive; the TOST p is per row, not adjusted; a margin of 0: no TOST.";
    s.push_back(e.str());
  }
  s.push_back("s / 1k steps: each run's median step time x 1000." +
              std::string(compares(t) ? " Speedup: 100 (1 - T/T_baseline), T the geometric mean time, 95% interval "
                                        "by Welch's t on log times. The runs ran one after another on a machine "
                                        "that may have been shared: a speed claim needs `normlab bench pair` "
                                        "(paired, interleaved timing)."
                                      : ""));
  std::ostringstream steps;
  steps << "Steps to target: the first evaluation with val loss " << st.le << " ";
  double target = kNoValue;
  for (const auto& r : t.rows) if (!std::isnan(r.target)) target = r.target;
  if (std::isnan(target)) steps << "a target (none: no --target-loss and no baseline row)";
  else if (t.explicit_target) steps << fixed(target, 3) << " (--target-loss)";
  else if (single_target(t)) steps << fixed(target, 3) << " (the baseline's mean final val loss)";
  else steps << "the target loss column (the baseline row's mean final val loss)";
  steps << ", mean over the runs that reach it (k/n when not all do).";
  s.push_back(steps.str());
  return s;
}

}  // namespace

std::string table_markdown(const Table& t) {
  const Grid g = grid(t, kMarkdown);
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
  s << "\n" << join(note(t, kMarkdown), " ") << "\n";
  return s.str();
}

std::string table_csv(const Table& t) {
  std::vector<std::string> header = t.row_keys;
  for (const char* h : {"runs", "completed", "diverged", "stuck", "no_result", "baseline"}) header.push_back(h);
  for (const auto& m : t.metrics) {
    for (const char* h : {"n", "mean", "std", "ci_lo", "ci_hi", "test", "diff", "diff_se", "df", "t", "diff_ci_lo",
                          "diff_ci_hi", "p", "p_holm", "significant", "margin", "diff_ci90_lo", "diff_ci90_hi",
                          "p_tost", "verdict"}) {
      header.push_back(m + "_" + h);
    }
  }
  for (const char* h : {"s_per_1k_steps_mean", "s_per_1k_steps_std", "s_per_1k_steps_ci_lo", "s_per_1k_steps_ci_hi",
                        "log_time_diff", "log_time_se", "log_time_df", "speedup_vs_baseline_pct",
                        "speedup_ci_lo_pct", "speedup_ci_hi_pct", "target_loss", "steps_to_target_mean",
                        "steps_to_target_std", "reached_target"}) {
    header.push_back(h);
  }
  auto num = [](std::vector<std::string>& f, std::initializer_list<double> values) {
    for (double v : values) f.push_back(format_double_or_blank(v));
  };
  std::ostringstream s;
  s << csv_record(header);
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const TableRow& r = t.rows[i];
    std::vector<std::string> f = r.keys;
    for (std::size_t n : {r.runs, r.completed, r.diverged, r.stuck, r.unfinished}) f.push_back(std::to_string(n));
    f.push_back(t.is_baseline(i) ? "self" : t.is_compared(i) ? baseline_pairs(t, "=") : "");
    for (const MetricStats& m : r.metrics) {
      const Summary& a = m.summary;
      const Difference& d = m.vs_base;
      f.push_back(std::to_string(a.n));
      num(f, {a.mean, a.std, a.lo, a.hi});
      f.push_back(test_of(d));
      num(f, {d.diff, d.se, d.df, d.t, d.lo, d.hi, d.p, m.p_holm});
      f.push_back(std::isnan(m.p_holm) ? "" : m.p_holm < kAlpha ? "1" : "0");
      num(f, {d.margin, d.lo_tost, d.hi_tost, d.p_tost});
      f.push_back(m.verdict);
    }
    const Difference& lt = r.log_time_vs_base;
    num(f, {r.s_per_1k.mean, r.s_per_1k.std, r.s_per_1k.lo, r.s_per_1k.hi, lt.diff, lt.se, lt.df, r.speedup_pct,
            r.speedup_lo_pct, r.speedup_hi_pct, r.target, r.steps.mean, r.steps.std});
    f.push_back(std::to_string(r.reached));
    s << csv_record(f);
  }
  return s.str();
}

std::string table_latex(const Table& t) {
  const Grid g = grid(t, kLatex);
  std::ostringstream s;
  s << "% normlab table " << latex_escape(t.dir) << "\n";
  // The note as comments: the figures' definitions travel with the file, and \input still works.
  for (const auto& sentence : note(t, kLatex)) s << "% " << sentence << "\n";
  s << "\\begin{tabular}{" << std::string(t.row_keys.size(), 'l')
    << std::string(g.header.size() - t.row_keys.size(), 'r') << "}\n\\hline\n";
  for (std::size_t i = 0; i < g.header.size(); ++i) {
    s << (i ? " & " : "") << (i < t.row_keys.size() ? latex_escape(g.header[i]) : g.header[i]);
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
