// The dispatcher: `normlab <command> ...` to the subcommand of that name (cli/<command>.cpp).
#include "cli/cli.hpp"

#include <iomanip>
#include <iostream>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::cli {

namespace {

struct Command {
  std::string name;
  std::string summary;
  int (*run)(const Args& args, std::ostream& out);
};

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"demo", "every normalizer on a batch, then the default experiment (the quick-start job)", cmd_demo},
      {"train", "train one model from an experiment file", cmd_train},
      {"sweep", "train every run of a sweep file, in parallel, resumable, sharded", cmd_sweep},
      {"collect", "index a sweep directory: one row per run (CSV and HDF5)", cmd_collect},
      {"table", "a sweep as a comparison table: mean ± std over seeds, time, speedup vs LayerNorm", cmd_table},
      {"plot", "a sweep's plots (PNG): loss vs step and time, per-site statistics, sensitivity, loss vs lr", cmd_plot},
      {"info", "what a run file holds: status, steps, losses, sites, statistics", cmd_info},
      {"analyze", "trained runs: gain/offset sensitivity, invariance, GRU positions, correlation, re-centering", cmd_analyze},
      {"norms", "list the normalizers, their options and defaults", cmd_norms},
      {"apply", "run a normalizer (forward, backward) on activations in an HDF5 file", cmd_apply},
      {"numerics", "precision, cancellation and conditioning of the normalizers (HDF5, table, plot)", cmd_numerics},
      {"bench", "benchmarks: `normlab bench norms`, `bench train`, `bench pair`, `bench stats`, `bench sweep`, `bench kernels`", cmd_bench},
  };
  return list;
}

int print_usage(std::ostream& out) {
  out << "normlab " << NORMLAB_VERSION << ": a toolkit for research on normalization layers\n\n"
      << "usage: normlab <command> [options]    (normlab <command> --help for its options)\n\n"
      << "commands:\n";
  for (const auto& c : commands()) out << "  " << std::left << std::setw(10) << c.name << c.summary << "\n";
  return 0;
}

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  try {
    if (args.empty()) {
      print_usage(err);
      return 2;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      if (args.size() == 2) return run({args[1], "--help"}, out, err);
      return print_usage(out);
    }
    if (args[0] == "--version") {
      out << "normlab " << NORMLAB_VERSION << "\n";
      return 0;
    }
    std::vector<std::string> names;
    for (const auto& c : commands()) {
      if (c.name == args[0]) return c.run({args.begin() + 1, args.end()}, out);
      names.push_back(c.name);
    }
    usage_fail("unknown command '", args[0], "'", did_you_mean(args[0], names), "; commands: ",
         join(names, ", "));
  } catch (const po::error& e) {
    err << "normlab: error: " << e.what() << "\n";
    return 2;
  } catch (const UsageError& e) {
    err << "normlab: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    err << "normlab: error: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace normlab::cli
