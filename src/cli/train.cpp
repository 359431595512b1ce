// normlab train: one model from an experiment file (train/trainer.hpp, io/config.hpp).
#include <iomanip>

#include "cli/common.hpp"
#include "io/config.hpp"
#include "train/trainer.hpp"

namespace normlab::cli {

int cmd_train(const Args& args, std::ostream& out) {
  std::string config_path, out_dir;
  std::vector<std::string> sets;
  po::options_description desc("options");
  desc.add_options()
      ("config", po::value(&config_path), "experiment TOML file (differences from the defaults)")
      ("set", po::value(&sets)->composing(), "override a key: --set optim.lr=3e-4 (repeatable)")
      ("out", po::value(&out_dir), "directory of the run file (default: train.out)")
      ("resume", "continue from the run's checkpoint (NAME.resume.h5) when there is one")
      ("print-config", "print the resolved config and exit");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  const std::string usage =
      "usage: normlab train [CONFIG.toml] [--set key=value ...] [--out DIR] [--resume] [--print-config]\n\n"
      "Trains one model as the config says (defaults: experiments/defaults.toml, compiled in)\n"
      "and writes DIR/NAME.h5 with the config, loss curves, step times and final parameters.";
  if (!parse(args, desc, vm, out, usage, &positional)) return 0;
  io::Config config = config_path.empty() ? io::Config() : io::Config::load(config_path);
  for (const auto& s : sets) config.set(s);
  if (vm.count("print-config")) {
    out << config.to_toml();
    return 0;
  }
  const io::Config defaults;
  out << "normlab train " << train::run_name(config) << (config_path.empty() ? "" : " from " + config_path)
      << "\n";
  for (const auto& key : config.keys()) {  // every override, as nanoGPT prints them
    if (config.value_text(key) != defaults.value_text(key))
      out << "  " << key << " = " << config.value_text(key) << "\n";
  }
  train::TrainOptions options;
  options.resume = vm.count("resume") > 0;
  train::TrainResult r = train::run(config, out_dir, out, options);
  out << r.status << " after " << r.steps << " steps"
      << (r.resumed_from >= 0 ? " (resumed at step " + std::to_string(r.resumed_from) + ")" : "")
      << ", " << std::setprecision(3) << r.ms_per_step << " ms/step, peak RSS "
      << std::setprecision(4) << r.peak_rss_mib << " MiB -> " << r.path << "\n";
  return r.status == "completed" ? 0 : 3;
}

}  // namespace normlab::cli
