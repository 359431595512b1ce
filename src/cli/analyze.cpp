// normlab analyze sensitivity | invariance | positions | correlate | recentering (src/analysis,
// docs/ANALYSIS.md).
#include <algorithm>
#include <filesystem>
#include <optional>
#include <sstream>

#include "analysis/files.hpp"
#include "analysis/invariance.hpp"
#include "analysis/positions.hpp"
#include "analysis/recentering.hpp"
#include "analysis/sensitivity.hpp"
#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "io/output_path.hpp"
#include "io/text_file.hpp"

namespace normlab::cli {

namespace {

// Each analysis: its usage line(s), what it does, and (analyze_options) its own options.
struct Analysis {
  const char* name;
  const char* usage;
  const char* about;
};

const Analysis kAnalyses[] = {
    {"sensitivity",
     "normlab analyze sensitivity RUN.h5 [--out FILE|DIR/] [--epsilons LIST] [--reference EPS]\n"
     "                                   [--site NAME] [--control-seed N] [--batches N] [--val-seed N]",
     "sensitivity: loss change on held-out batches when each site's input is scaled by (1+eps), shifted\n"
     "  by eps*RMS(x) in every feature, or moved as far in a random direction; first-order forms from a\n"
     "  backward pass. -> RUN.sensitivity.h5 (group /sensitivity) and a table."},
    {"invariance",
     "normlab analyze invariance  RUN.h5 [--scales LIST] [--shifts LIST] [--tolerance T] [--batches N]\n"
     "                                   [--val-seed N]",
     "invariance: max |logit change| when each normalizer's input is scaled by alpha or shifted by\n"
     "  c*RMS(x), against what theory expects."},
    {"positions", "normlab analyze positions   RUN.h5 [--out FILE|DIR/] [--all] [--batches N] [--val-seed N]",
     "positions: a GRU's recurrent pre-activations W_hh h_{t-1}: mean and std per time step.\n"
     "  -> RUN.positions.h5 (group /positions) and a table."},
    {"correlate", "normlab analyze correlate   FILE_OR_DIR... [--out FILE|DIR/] [--reference EPS] [--residual]",
     "correlate: Spearman rank correlation across sites and runs between |mean|/RMS (and lambda)\n"
     "  recorded at the site inputs and offset sensitivity, from *.sensitivity.h5 files.\n"
     "  -> correlation.h5 in the first directory given (or beside the first file)."},
    {"recentering",
     "normlab analyze recentering RUN.h5 [--out FILE|DIR/] [--overwrite] [--min-mean-leak L]\n"
     "                                   [--min-scale-cv C] [--min-offset-ratio R] [--epsilon EPS]\n"
     "                                   [--control-seed N] [--batches N] [--val-seed N]",
     "recentering: per normalizer site, whether re-centering (LayerNorm) is predicted to matter or gain\n"
     "  control (RMSNorm) suffices, with the evidence (in_mean_share, mean_jitter, scale_cv,\n"
     "  mean_leak, grad_ones_share, ones_response of the next Linear, offset_ratio).\n"
     "  -> RUN.recentering.toml: the run's config with model.norm one kind per layer/block;\n"
     "  -> RUN.recentering.csv: the table, every figure at full precision."},
};

const char* const kReloaded =
    "The model is reloaded in float64 from the run's checkpoint; held-out batches are its validation set.";

// The usage of one analysis ("" : all of them, for `normlab analyze --help`).
std::string analyze_usage(const std::string& what) {
  std::string usages, abouts;
  for (const auto& a : kAnalyses) {
    if (!what.empty() && what != a.name) continue;
    usages += std::string(usages.empty() ? "usage: " : "       ") + a.usage + "\n";
    abouts += std::string(a.about) + "\n";
  }
  std::string text = usages + "\n" + abouts + (what == "correlate" ? "" : kReloaded);
  while (text.back() == '\n') text.pop_back();
  return text;
}

struct AnalyzeArgs {
  std::vector<std::string> inputs;
  std::string out_path, epsilons, scales = "0.5,2,10", shifts = "0.5,2,10", site;
  double reference = 0.1, tolerance = 1e-3;
  std::size_t batches = 0;
  long long val_seed = -1, control_seed = 1;
  bool all = false, residual = false, overwrite = false;
  analysis::RecenterRule rule;
  double epsilon = 0.05;
};

// The options of analysis `what`, and no other's.
po::options_description analyze_options(const std::string& what, AnalyzeArgs& a) {
  const bool run = what != "correlate", writes = what != "invariance";
  po::options_description desc("options");
  auto add = desc.add_options();
  add("inputs", po::value(&a.inputs), "run files (correlate: sensitivity files or directories)");
  if (writes) add("out", po::value(&a.out_path), "output file, or a directory (DIR/) to hold the file the usage names (the default: beside the input)");
  if (run) {
    add("batches", po::value(&a.batches), "held-out batches to use (default: all)");
    add("val-seed", po::value(&a.val_seed), "draw the held-out set with this seed (default: the run's)");
  }
  if (what == "recentering") {
    add("overwrite", "replace an existing output file");
    add("min-mean-leak", po::value(&a.rule.min_mean_leak), "mean_leak that flags a site (default 0.1)");
    add("min-scale-cv", po::value(&a.rule.min_scale_cv), "scale_cv that flags a site (default 0.05)");
    add("min-offset-ratio", po::value(&a.rule.min_offset_ratio), "offset_ratio that flags a site on its own (default 2)");
    add("epsilon", po::value(&a.epsilon), "the +-eps of offset_ratio (default 0.05)");
    add("control-seed", po::value(&a.control_seed), "seed of the random control directions (default 1)");
  }
  if (what == "sensitivity") {
    add("epsilons", po::value(&a.epsilons), "the grid (default -0.2,-0.1,-0.05,-0.01,-0.001 and their negatives)");
    add("site", po::value(&a.site), "only this site (default: every site)");
    add("control-seed", po::value(&a.control_seed), "seed of the random control directions (default 1)");
  }
  if (what == "sensitivity" || what == "correlate") {
    add("reference", po::value(&a.reference), "the eps of the tables (default 0.1)");
  }
  if (what == "invariance") {
    add("scales", po::value(&a.scales), "the factors alpha (default 0.5,2,10)");
    add("shifts", po::value(&a.shifts), "the shifts c, in units of RMS(x) (default 0.5,2,10)");
    add("tolerance", po::value(&a.tolerance), "relative deviation that counts as unchanged (default 1e-3)");
  }
  if (what == "positions") add("all", "print every position (default: a summary)");
  if (what == "correlate") add("residual", "include the residual-stream sites (default: normalizer sites only)");
  return desc;
}

int correlate(const AnalyzeArgs& a, std::ostream& out) {
  std::vector<analysis::SensitivityReport> reports;
  for (const auto& f : analysis::sensitivity_files(a.inputs)) reports.push_back(analysis::read_sensitivity(f));
  const auto c = analysis::correlate(reports, a.reference, !a.residual);
  analysis::print_correlations(out, c);
  const std::string path = io::output_file(a.out_path, analysis::correlation_path(a.inputs));
  io::make_output_directory(a.out_path);
  analysis::write_correlations(path, c, a.reference);
  out << "-> " << path << "\n";
  return 0;
}

// The recommended config beside the run (or at --out), and the table as CSV beside the config
// (its name with .csv for .toml); existing files only with --overwrite.
void recentering(const AnalyzeArgs& a, analysis::LoadedRun& run, std::ostream& out) {
  const std::string written =
      io::output_file(a.out_path, analysis::beside_run(run.path, ".recentering.toml"));
  const std::filesystem::path toml_path(written);
  const std::string csv = (toml_path.parent_path() / toml_path.stem()).string() + ".csv";
  for (const std::string& file : {written, csv}) {  // refused before the work, not after
    if (std::filesystem::exists(file) && !a.overwrite) {
      fail(file, ": exists; --overwrite replaces it, --out FILE writes elsewhere");
    }
  }
  auto r = analysis::analyze_recentering(run, a.rule, a.epsilon, std::uint64_t(a.control_seed));
  const std::string toml = analysis::recommended_config(run, r);
  analysis::print_recentering(out, r);
  io::make_output_directory(a.out_path);
  io::write_text_atomically(written, toml);
  io::write_text_atomically(csv, analysis::recentering_csv(r));
  out << "-> " << written << "\n-> " << csv << "\n";
}

// sensitivity, invariance, positions or recentering of one run.
int analyze_run(const std::string& what, const AnalyzeArgs& a, std::ostream& out) {
  if (a.inputs.size() != 1) usage_fail("analyze ", what, ": one run file, got ", a.inputs.size());
  const std::string& path = a.inputs[0];
  std::ostringstream log;  // the data description lines
  std::optional<std::uint64_t> seed;
  if (a.val_seed >= 0) seed = std::uint64_t(a.val_seed);
  analysis::LoadedRun run = analysis::load_run(path, seed, a.batches, log);
  if (what == "recentering") {
    recentering(a, run, out);
  } else if (what == "sensitivity") {
    const auto grid = a.epsilons.empty() ? analysis::default_epsilons() : parse_doubles(a.epsilons, "--epsilons");
    const auto r = analysis::measure_sensitivity(run, grid, std::uint64_t(a.control_seed), a.site);
    analysis::print_sensitivity(out, r, a.reference);
    const std::string written = io::output_file(a.out_path, analysis::sensitivity_path(path));
    io::make_output_directory(a.out_path);
    analysis::write_sensitivity(written, r, a.reference);
    out << "-> " << written << "\n";
  } else if (what == "invariance") {
    const auto r = analysis::measure_invariance(run, parse_doubles(a.scales, "--scales"),
                                                parse_doubles(a.shifts, "--shifts"));
    analysis::print_invariance(out, r, a.tolerance);
  } else {
    const auto p = analysis::measure_positions(run);
    analysis::print_positions(out, path, p, a.all);
    const std::string written = io::output_file(a.out_path, analysis::positions_path(path));
    io::make_output_directory(a.out_path);
    analysis::write_positions(written, path, p);
    out << "-> " << written << "\n";
  }
  return 0;
}

}  // namespace

int cmd_analyze(const Args& args, std::ostream& out) {
  if (args.empty()) usage_fail("analyze: which analysis?\n", analyze_usage(""));
  if (args[0] == "--help" || args[0] == "-h") {
    out << analyze_usage("") << "\n";
    return 0;
  }
  const std::string what = args[0];
  const std::vector<std::string> whats{"sensitivity", "invariance", "positions", "correlate",
                                       "recentering"};
  if (std::find(whats.begin(), whats.end(), what) == whats.end()) {
    usage_fail("analyze: unknown analysis '", what, "'", did_you_mean(what, whats), "; one of ", join(whats, ", "));
  }
  const std::string usage = analyze_usage(what);
  AnalyzeArgs a;
  const po::options_description desc = analyze_options(what, a);
  po::positional_options_description positional;
  positional.add("inputs", -1);
  po::variables_map vm;
  if (!parse({args.begin() + 1, args.end()}, desc, vm, out, usage, &positional)) return 0;
  a.all = vm.count("all") > 0;
  a.residual = vm.count("residual") > 0;
  a.overwrite = vm.count("overwrite") > 0;
  if (a.inputs.empty()) usage_fail("analyze ", what, ": no input given\n", usage);
  return what == "correlate" ? correlate(a, out) : analyze_run(what, a, out);
}

}  // namespace normlab::cli
