// normlab table: a sweep as a comparison table (sweep/table.hpp).
#include <cmath>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "io/output_path.hpp"
#include "io/text_file.hpp"
#include "sweep/table.hpp"

namespace normlab::cli {

int cmd_table(const Args& args, std::ostream& out) {
  std::string dir, format = "md", rows, metrics = "val_loss,val_metric", out_path, baseline, margins;
  double target = std::nan("");
  po::options_description desc("options");
  desc.add_options()
      ("dir", po::value(&dir), "the sweep directory")
      ("format", po::value(&format)->default_value(format), "md | csv | latex")
      ("rows", po::value(&rows), "the config keys that make a row, e.g. model.norm,model.placement "
                                 "(default: every axis of the sweep but seed)")
      ("metric", po::value(&metrics)->default_value(metrics), "final figures: val_loss, val_metric or both")
      ("baseline", po::value(&baseline), "the row each row is compared with: a value of model.norm "
                                         "(default layernorm), KEY=VALUE of another row key, or KEY=VALUE,KEY=VALUE "
                                         "(the baseline row has all of them; a row is compared with "
                                         "the one that also has its own values of the other keys)")
      ("margin", po::value(&margins), "equivalence margins, in the metric's units: X for the first metric "
                                      "or METRIC=X[,METRIC=X] (default val_loss=0.02 nats, val_metric=0.005; "
                                      "0: no equivalence test)")
      ("target-loss", po::value(&target), "steps to reach this val loss (default: the baseline "
                                          "row's mean final val loss)")
      ("out", po::value(&out_path), "write the table to this file instead of the terminal, or into "
                                    "this directory (DIR/) as table.md, table.csv or table.tex");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  const std::string usage =
      "usage: normlab table SWEEP_DIR [--format md|csv|latex] [--rows KEY[,KEY]] [--metric M]\n"
      "                               [--baseline VALUE|KEY=VALUE[,KEY=VALUE]] [--margin X|METRIC=X,...]\n"
      "                               [--target-loss X] [--out FILE|DIR/]\n\n"
      "The sweep as a comparison table: one row per value of the row keys, seeds collapsed into\n"
      "the mean with its 95% t interval over the completed runs (diverged, stuck and unfinished\n"
      "runs counted, left out of the figures): final validation loss and metric, seconds per 1k\n"
      "steps. Against the baseline row (same other row keys): the difference with its interval,\n"
      "a paired (same seeds) or Welch t-test, Holm-adjusted over the table, an equivalence test\n"
      "(TOST) against the margin and a verdict; the speedup with its interval (log times); the\n"
      "steps to reach a target validation loss.";
  if (!parse(args, desc, vm, out, usage, &positional)) return 0;
  if (dir.empty()) usage_fail("table: no sweep directory given\n", usage);
  if (format != "md" && format != "csv" && format != "latex") {
    usage_fail("--format: '", format, "' is not one of md, csv, latex",
         did_you_mean(format, {"md", "csv", "latex"}));
  }
  tools::TableOptions o;
  o.rows = split_list(rows);
  o.metrics = split_list(metrics);
  if (vm.count("target-loss")) o.target_loss = target;
  o.baseline = baseline;
  o.margins = margins;
  const tools::Table t = tools::make_table(dir, o);
  std::size_t runs = 0, with_result = 0;
  for (const auto& row : t.rows) {
    runs += row.runs;
    with_result += row.completed + row.diverged + row.stuck;
  }
  if (with_result == 0) {
    fail(dir, ": none of its ", runs, " runs has a result (all missing, failed or unfinished: see ",
         dir, "/logs); no table");
  }
  const std::string text = format == "csv"   ? tools::table_csv(t)
                           : format == "latex" ? tools::table_latex(t)
                                               : tools::table_markdown(t);
  if (out_path.empty()) {
    out << text;
  } else {
    const std::string path = io::output_file(out_path, "table." + std::string(format == "latex" ? "tex" : format));
    io::make_output_directory(out_path);
    io::write_text_atomically(path, text);
    out << t.rows.size() << " rows -> " << path << "\n";
  }
  return 0;
}

}  // namespace normlab::cli
