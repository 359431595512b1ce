// normlab train: one model from an experiment file (train/trainer.hpp, io/config.hpp).
#include <unistd.h>

#include <iomanip>
#include <new>
#include <iostream>

#include "cli/common.hpp"
#include "core/strings.hpp"
#include "io/config.hpp"
#include "io/run_schema.hpp"
#include "train/output_path.hpp"
#include "train/trainer.hpp"
#include "train/validate.hpp"

namespace normlab::cli {

namespace {

const char* const kUsage =
    "usage: normlab train [CONFIG.toml] [key=value ...] [--set key=value ...] [--out DIR]\n"
    "                     [--resume] [--overwrite] [--print-config]\n\n"
    "Trains one model as the config says (defaults: experiments/defaults.toml, compiled in)\n"
    "and writes DIR/NAME.h5 with the config, loss curves, step times and final parameters.\n"
    "key=value arguments (e.g. optim.lr=3e-4) override keys, as --set does. A finished run of\n"
    "another config at DIR/NAME.h5 is never replaced unless --overwrite says so; one of the\n"
    "same config is reported as done.";

// The header: the run, then every override, as nanoGPT prints them.
void print_header(std::ostream& out, const io::Config& config, const std::string& config_path) {
  const io::Config defaults;
  out << "normlab train " << train::run_name(config) << (config_path.empty() ? "" : " from " + config_path)
      << "\n";
  for (const auto& key : config.keys()) {
    if (config.value_text(key) != defaults.value_text(key))
      out << "  " << key << " = " << shortest_value_text(config.value_text(key)) << "\n";
  }
}

// A run that trained to its end exits 0 whether it learnt or stayed at chance (stuck: the status
// line says which); one that diverged or was interrupted exits 3.
int exit_status(const std::string& status) {
  return status == io::schema::status::kCompleted || status == io::schema::status::kStuck ? 0 : 3;
}

// A finished run already at the path: refused when its config differs (unless --overwrite), the
// same run reported as done. Returns the exit status when there is nothing to do, -1 otherwise.
int check_existing(const io::Config& config, const std::string& out_dir, const po::variables_map& vm,
                   std::ostream& out) {
  const std::string path = train::run_path(config, out_dir);
  const train::ExistingRun e = train::existing_run(path, config);
  if (!e.exists || vm.count("overwrite")) return -1;
  if (!e.difference.empty()) {
    fail(path, " already holds a finished run (", e.status, ") of another config (", e.difference,
         " differs); --overwrite replaces it, --out DIR or name=... writes elsewhere");
  }
  out << path << ": this run is already " << e.status << " (the same config); --overwrite runs it again\n";
  return exit_status(e.status);
}

// The run of one resolved config (cmd_train, after its arguments are parsed).
int train_config(const std::string& config_path, const std::vector<std::string>& sets,
                 const std::string& out_dir, const po::variables_map& vm, std::ostream& out) {
  io::Config config = config_path.empty() ? io::Config() : io::Config::load(config_path);
  for (const auto& s : sets) config.set(s);
  train::validate(config);  // before anything is printed or created
  if (vm.count("print-config")) {
    out << shortest_numbers(config.to_toml());
    return 0;
  }
  if (const int status = check_existing(config, out_dir, vm, out); status >= 0) return status;
  print_header(out, config, config_path);
  train::TrainOptions options;
  options.resume = vm.count("resume") > 0;
  options.progress_line = ::isatty(STDOUT_FILENO) && &out == &std::cout;  // as sweep decides
  train::TrainResult r = train::run(config, out_dir, out, options);
  out << r.status << " after " << r.steps << " steps"
      << (r.resumed_from >= 0 ? " (resumed at step " + std::to_string(r.resumed_from) + ")" : "")
      << ", " << std::setprecision(3) << r.ms_per_step << " ms/step, peak RSS "
      << std::setprecision(4) << r.peak_rss_mib << " MiB -> " << r.path << "\n";
  return exit_status(r.status);
}

}  // namespace

int cmd_train(const Args& args, std::ostream& out) {
  std::string out_dir;
  std::vector<std::string> sets, positionals;
  po::options_description desc("options");
  desc.add_options()
      ("set", po::value(&sets)->composing(), "override a key: --set optim.lr=3e-4 (repeatable)")
      ("out", po::value(&out_dir), "directory of the run file (default: the config's train.out, runs/)")
      ("resume", "continue from the run's checkpoint (NAME.resume.h5) when there is one")
      ("overwrite", "replace a finished run file of another config at DIR/NAME.h5")
      ("print-config", "print the resolved config and exit");
  po::options_description hidden;
  hidden.add_options()("positionals", po::value(&positionals));
  po::positional_options_description positional;
  positional.add("positionals", -1);
  po::variables_map vm;
  check_set_spelling(args);
  if (!parse(args, desc, vm, out, kUsage, &positional, &hidden)) return 0;
  const std::string config_path = split_config_and_overrides(positionals, sets);
  try {
    return train_config(config_path, sets, out_dir, vm, out);
  } catch (const std::bad_alloc&) {  // beyond what validate's memory estimate foresaw
    fail(config_path.empty() ? "the default config" : config_path,
         sets.empty() ? "" : " with " + join(sets, " "), ": out of memory (std::bad_alloc); ",
         "reduce model.width, model.depth, model.context or train.batch");
  }
}

}  // namespace normlab::cli
