#include "cli/cli.hpp"

#include <boost/program_options.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "norm/registry.hpp"
#include "analysis/invariance.hpp"
#include "analysis/positions.hpp"
#include "analysis/sensitivity.hpp"
#include "analysis/apply.hpp"
#include "bench/norms.hpp"
#include "bench/stats.hpp"
#include "bench/sweep.hpp"
#include "bench/train.hpp"
#include "train/demo.hpp"
#include "io/info.hpp"
#include "numerics/study.hpp"
#include "sweep/table.hpp"
#include "sweep/collect.hpp"
#include "sweep/runner.hpp"
#include "sweep/slurm.hpp"
#include "sweep/sweep.hpp"
#include "train/trainer.hpp"
#include "io/config.hpp"
#include "io/text_file.hpp"

namespace normlab::cli {

namespace po = boost::program_options;

namespace {

struct Command {
  std::string name;
  std::string summary;
  int (*run)(const std::vector<std::string>& args, std::ostream& out);
};
const std::vector<Command>& commands();

// Parses args against `desc` (+ --help); returns false if help was printed.
bool parse(const std::vector<std::string>& args, const po::options_description& desc,
           po::variables_map& vm, std::ostream& out, const std::string& usage,
           const po::positional_options_description* positional = nullptr) {
  po::options_description all(desc);
  all.add_options()("help,h", "show this help");
  po::command_line_parser parser(args);
  parser.options(all);
  if (positional) parser.positional(*positional);
  po::store(parser.run(), vm);
  if (vm.count("help")) {
    out << usage << "\n\n" << all << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

std::string flag_name(const std::string& option) {  // eps_mode -> eps-mode
  std::string f = option;
  for (char& c : f) if (c == '_') c = '-';
  return f;
}

int cmd_norms(const std::vector<std::string>& args, std::ostream& out) {
  po::options_description desc("options");
  desc.add_options()("json", "print the kinds, options, defaults and forms as JSON");
  po::variables_map vm;
  if (!parse(args, desc, vm, out, "usage: normlab norms [--json]\n\nLists the normalizers, their options and defaults."))
    return 0;
  if (vm.count("json")) {
    out << norm::registry_json();
    return 0;
  }
  out << "normalizers (normlab apply --norm KIND, or norm = \"KIND\" in a config):\n";
  for (const auto& k : norm::kinds()) {
    out << "\n" << k.name << "    " << k.formula << "\n    " << k.reference << "\n";
    if (k.options.empty()) out << "    (no options)\n";
    for (const auto& name : k.options) {
      out << "    --" << std::left << std::setw(20) << flag_name(name)
          << " default " << norm::get_option(k.defaults, name) << "\n";
    }
  }
  out << "\noptions:\n";
  for (const auto& o : norm::all_options()) {
    out << "  " << std::left << std::setw(20) << o.name << std::setw(28) << o.values << o.help
        << "\n";
  }
  return 0;
}

int cmd_apply(const std::vector<std::string>& args, std::ostream& out) {
  tools::ApplyRequest request;
  po::options_description desc("options");
  desc.add_options()
      ("norm", po::value(&request.kind)->required(), "normalizer kind (see `normlab norms`)")
      ("in", po::value(&request.in)->required(), "input HDF5 file")
      ("out", po::value(&request.out), "output HDF5 file (default: IN with .normed.h5)")
      ("dtype", po::value(&request.dtype)->default_value("auto"),
       "auto (as x is stored) | float32 | float64");
  for (const auto& o : norm::all_options()) {
    desc.add_options()(flag_name(o.name).c_str(), po::value<std::string>(),
                       (o.values + ": " + o.help).c_str());
  }
  po::variables_map vm;
  const std::string usage =
      "usage: normlab apply --norm KIND --in X.h5 [--out Y.h5] [--dtype D] [normalizer options]\n\n"
      "Runs a normalizer over the rows of activations stored in HDF5.\n"
      "reads:  x (B, D) required; dy (B, D) optional upstream gradient; parameters by name,\n"
      "        gain (D) (scalenorm: (1)), bias (D), lambda (1), default gain 1, bias 0\n"
      "writes: y (B, D); with dy also dx (B, D) and d_gain, d_bias, d_lambda as the\n"
      "        normalizer has them; attributes normalizer, kind, options, dtype, source\n"
      "The output appears only when complete (written to OUT.partial, then renamed).";
  if (!parse(args, desc, vm, out, usage)) return 0;
  for (const auto& o : norm::all_options()) {
    if (vm.count(flag_name(o.name))) request.options[o.name] = vm[flag_name(o.name)].as<std::string>();
  }
  tools::ApplyResult r = tools::apply_file(request);
  out << "normlab apply: " << r.normalizer << " on " << request.in << " (B = " << r.B
      << ", D = " << r.D << ", " << r.dtype << ")" << (r.backward ? ", forward and backward" : "")
      << " -> " << r.out << "\n";
  return 0;
}

int cmd_bench_train(const std::vector<std::string>& args, std::ostream& out) {
  tools::BenchTrainOptions o;
  std::string workloads = join(o.workloads, ","), norms = join(o.norms, ","), torch = "auto";
  po::options_description desc("options");
  desc.add_options()
      ("threads", po::value(&o.threads)->default_value(o.threads), "threads on both sides")
      ("steps", po::value(&o.steps)->default_value(o.steps), "timed steps per figure")
      ("warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed steps first")
      ("workloads", po::value(&workloads)->default_value(workloads), "mlp, gru, transformer")
      ("norms", po::value(&norms)->default_value(norms), "rmsnorm, layernorm, none")
      ("quick", po::bool_switch(&o.quick), "tiny shapes (a smoke test, not a benchmark)")
      ("torch", po::value(&torch)->default_value(torch),
       "the PyTorch peer: auto (when the interpreter imports torch) | on | off")
      ("python", po::value(&o.python)->default_value(o.python), "interpreter of the peer")
      ("torch-script", po::value(&o.torch_script), "the peer (default: scripts/bench_train_torch.py)")
      ("phases", po::bool_switch(&o.phases), "also print normlab's time per phase")
      ("clock", po::value(&o.clock)->default_value(o.clock),
       "wall | cpu (process CPU time: on one thread, robust to a loaded machine)");
  po::variables_map vm;
  const std::string usage =
      "usage: normlab bench train [options]\n\n"
      "ms per training step (forward, backward, Adam) in float32 for an MLP, a GRU LM and a\n"
      "Transformer LM with rmsnorm, layernorm and none, next to the same workloads in PyTorch.\n"
      "Both sides run with the same OPENBLAS_CORETYPE and thread count.";
  if (!parse(args, desc, vm, out, usage)) return 0;
  o.workloads = split(workloads, ',');
  o.norms = split(norms, ',');
  o.torch = tools::parse_torch_peer(torch);
  if (o.quick) o.shapes = tools::BenchTrainShapes::quick();
  tools::bench_train(out, o);
  return 0;
}

int cmd_bench_stats(const std::vector<std::string>& args, std::ostream& out) {
  tools::BenchStatsOptions o;
  std::string workloads = join(o.workloads, ",");
  po::options_description desc("options");
  desc.add_options()
      ("threads", po::value(&o.threads)->default_value(o.threads), "BLAS threads")
      ("rounds", po::value(&o.rounds)->default_value(o.rounds), "alternations of the conditions")
      ("steps", po::value(&o.steps)->default_value(o.steps), "steps per condition and round")
      ("every", po::value(&o.every)->default_value(o.every),
       "the cadence to compare (0: stats.every of experiments/defaults.toml)")
      ("workloads", po::value(&workloads)->default_value(workloads), "mlp, gru, transformer")
      ("norm", po::value(&o.norm)->default_value(o.norm), "the normalizer at every site")
      ("quick", po::bool_switch(&o.quick), "tiny shapes (a smoke test, not a benchmark)")
      ("clock", po::value(&o.clock)->default_value(o.clock), "wall | cpu");
  po::variables_map vm;
  const std::string usage =
      "usage: normlab bench stats [options]\n\n"
      "What recording per-site statistics costs: ms per training step of the three reference\n"
      "workloads of `bench train` without statistics, at the default cadence, and at every step.";
  if (!parse(args, desc, vm, out, usage)) return 0;
  o.workloads = split(workloads, ',');
  if (o.quick) o.shapes = tools::BenchTrainShapes::quick();
  tools::bench_stats(out, o);
  return 0;
}

// This program's path, for the processes a sweep starts ("" if /proc cannot tell).
std::string self_executable() {
  std::error_code ec;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : path.string();
}

// "12 completed, 1 failed": how many runs ended each way, statuses in alphabetical order.
std::string status_counts(const std::vector<std::string>& statuses) {
  std::map<std::string, int> counts;
  for (const auto& s : statuses) ++counts[s];
  std::vector<std::string> parts;
  for (const auto& [status, count] : counts) parts.push_back(std::to_string(count) + " " + status);
  return join(parts, ", ");
}

int cmd_bench_sweep(const std::vector<std::string>& args, std::ostream& out) {
  tools::BenchSweepOptions o;
  po::options_description desc("options");
  desc.add_options()
      ("runs", po::value(&o.runs)->default_value(o.runs), "runs per sweep")
      ("steps", po::value(&o.steps)->default_value(o.steps), "training steps per run")
      ("jobs", po::value(&o.jobs)->default_value(o.jobs), "processes of the parallel sweep");
  po::variables_map vm;
  if (!parse(args, desc, vm, out, "usage: normlab bench sweep [--runs N] [--steps N] [--jobs N]\n\n"
             "Runs per minute of a sweep of short runs with --jobs 1 and --jobs N, and the ratio."))
    return 0;
  o.binary = self_executable();
  tools::bench_sweep(out, o);
  return 0;
}

int cmd_bench(const std::vector<std::string>& args, std::ostream& out) {
  if (!args.empty() && args[0] == "train") return cmd_bench_train({args.begin() + 1, args.end()}, out);
  if (!args.empty() && args[0] == "stats") return cmd_bench_stats({args.begin() + 1, args.end()}, out);
  if (!args.empty() && args[0] == "sweep") return cmd_bench_sweep({args.begin() + 1, args.end()}, out);
  std::string what, dims, kinds;
  tools::BenchNormsOptions o;
  po::options_description desc("options");
  desc.add_options()
      ("what", po::value(&what)->required(), "what to benchmark: norms (or train: see bench train --help)")
      ("dims", po::value(&dims)->default_value("64,256,1024,4096"), "feature sizes D")
      ("mib", po::value(&o.mib)->default_value(o.mib), "MiB per (B, D) tensor")
      ("repeats", po::value(&o.repeats)->default_value(o.repeats), "timed runs per figure")
      ("kinds", po::value(&kinds), "normalizers to run (default: all)");
  po::positional_options_description positional;
  positional.add("what", 1);
  po::variables_map vm;
  if (!parse(args, desc, vm, out, "usage: normlab bench norms [options]", &positional)) return 0;
  if (what != "norms") fail("bench: unknown benchmark '", what, "'; available: norms, train, stats, sweep");
  o.dims.clear();
  for (const auto& d : split(dims, ',')) {
    double v = parse_double(d, "--dims");
    if (!(v >= 1) || v != std::floor(v)) fail("--dims: '", d, "' is not a positive integer");
    o.dims.push_back(std::size_t(v));
  }
  if (!kinds.empty()) o.kinds = split(kinds, ',');
  tools::bench_norms(out, o);
  return 0;
}

int cmd_demo(const std::vector<std::string>& args, std::ostream& out) {
  std::uint64_t seed = 0;
  std::int64_t steps = 0;
  std::string out_dir = "runs/demo";
  po::options_description desc("options");
  desc.add_options()
      ("seed", po::value(&seed)->default_value(0), "random seed of the batch and the runs")
      ("steps", po::value(&steps)->default_value(0), "training steps per run (0: the experiment's)")
      ("out", po::value(&out_dir)->default_value(out_dir), "directory of the run files");
  po::variables_map vm;
  if (!parse(args, desc, vm, out, "usage: normlab demo [--seed N] [--steps N] [--out DIR]\n\n"
             "Every normalizer on a generated batch: what it removes, what it is invariant to.\n"
             "Then the default experiment: the MLP, GRU LM and Transformer LM of experiments/*.toml,\n"
             "each with rmsnorm, layernorm and none, and a table of losses and time per step."))
    return 0;
  if (steps < 0) fail("--steps must be >= 0, got ", steps);
  tools::run_normalizer_table(out, seed);
  tools::run_default_experiment(out, seed, out_dir, steps);
  return 0;
}

int cmd_train(const std::vector<std::string>& args, std::ostream& out) {
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
  for (const auto& key : config.keys()) {
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

int cmd_info(const std::vector<std::string>& args, std::ostream& out) {
  std::vector<std::string> paths;
  po::options_description desc("options");
  desc.add_options()
      ("runs", po::value(&paths), "run files")
      ("config", "also print each run's whole config");
  po::positional_options_description positional;
  positional.add("runs", -1);
  po::variables_map vm;
  const std::string usage =
      "usage: normlab info RUN.h5 ... [--config]\n\n"
      "What each run file holds: status, config summary, steps, last losses, sites, statistics.\n"
      "A NAME.h5.partial (a run in progress, or one whose writer was killed) is read with SWMR.";
  if (!parse(args, desc, vm, out, usage, &positional)) return 0;
  if (paths.empty()) fail("info: no run file given\n", usage);
  for (const auto& p : paths) tools::print_run_info(out, p, vm.count("config") > 0);
  return 0;
}

// "I/N" -> (I, N); also from Slurm's array variables when no --shard is given.
std::pair<int, int> parse_shard(const std::string& text) {
  if (text.empty()) {
    const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
    if (id && count) return parse_shard(std::string(id) + "/" + count);
    return {0, 1};
  }
  const auto parts = split(text, '/');
  if (parts.size() != 2) fail("--shard: '", text, "' is not I/N");
  const double i = parse_double(parts[0], "--shard"), n = parse_double(parts[1], "--shard");
  if (i != std::floor(i) || n != std::floor(n) || n < 1 || i < 0 || i >= n) {
    fail("--shard: '", text, "' needs whole numbers with 0 <= I < N");
  }
  return {int(i), int(n)};
}

int cmd_sweep(const std::vector<std::string>& args, std::ostream& out) {
  std::string path, shard, out_dir;
  std::vector<std::string> sets;
  sweep::RunnerOptions o;
  sweep::SlurmOptions slurm;
  po::options_description desc("options");
  desc.add_options()
      ("sweep", po::value(&path), "the sweep file")
      ("jobs", po::value(&o.jobs)->default_value(o.jobs), "runs at a time (each its own process)")
      ("shard", po::value(&shard), "I/N: run every N-th run from the I-th (default: from "
                                   "SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, else 0/1)")
      ("out", po::value(&out_dir), "the sweep directory (default: the file's `out`)")
      ("set", po::value(&sets)->composing(), "key=value for every run, after the file's [set] (not an axis key)")
      ("dry-run", "list the runs and their overrides (with --slurm: print the script); run nothing")
      ("slurm", "write DIR/slurm/sweep.sbatch (a job array, one task per shard) and submit it")
      ("tasks", po::value(&slurm.tasks)->default_value(slurm.tasks), "--slurm: array tasks (0: one per run)")
      ("cpus", po::value(&slurm.cpus)->default_value(slurm.cpus), "--slurm: CPUs per task = its runs at a time")
      ("time", po::value(&slurm.time)->default_value(slurm.time), "--slurm: time limit per task")
      ("partition", po::value(&slurm.partition), "--slurm: the partition (default: Slurm's)")
      ("max-running", po::value(&slurm.max_running)->default_value(0), "--slurm: tasks at a time (0: no limit)")
      ("slurm-output", po::value(&slurm.output),
       "--slurm: the tasks' output files, with sbatch's %A (job) and %a (task) (default: DIR/slurm/%A_%a.out)")
      ("wait", "--slurm: wait until every task has ended (sbatch --wait)");
  po::positional_options_description positional;
  positional.add("sweep", 1);
  po::variables_map vm;
  const std::string usage =
      "usage: normlab sweep SWEEP.toml [--jobs N] [--shard I/N] [--out DIR] [--dry-run]\n"
      "       normlab sweep SWEEP.toml --slurm [--tasks N] [--cpus N] [--time T] [--partition P]\n"
      "                                        [--max-running N] [--wait] [--dry-run]\n\n"
      "Expands the sweep file (an experiment and axes over its keys) and trains every run as its\n"
      "own process. Again, it skips the runs already done and reruns the others. At the end it\n"
      "writes DIR/index.csv and DIR/index.h5 (normlab collect).";
  if (!parse(args, desc, vm, out, usage, &positional)) return 0;
  if (path.empty()) fail("sweep: no sweep file given\n", usage);
  sweep::Sweep s = sweep::load(path, sets);
  if (!out_dir.empty()) s.out = out_dir;
  std::tie(o.shard, o.shards) = parse_shard(shard);
  o.binary = slurm.binary = self_executable();
  if (vm.count("slurm")) {
    if (!sets.empty()) fail("sweep: --set is not passed on to Slurm tasks; put the keys in the file's [set]");
    const std::string script = sweep::write_sbatch_script(s, slurm);
    if (vm.count("dry-run")) {
      out << "# " << script << "\n" << sweep::sbatch_script(s, slurm);
      return 0;
    }
    out << "submitting " << script << "\n" << sweep::submit(script, vm.count("wait") > 0);
    if (vm.count("wait")) {
      const sweep::Index index = sweep::collect(s.out);
      int done = 0;
      for (const auto& r : index.rows) done += r.status == "completed" || r.status == "diverged";
      out << "index: " << index.rows.size() << " runs, " << done << " with a result -> " << s.out
          << "/index.csv\n";
      return done == int(index.rows.size()) ? 0 : 1;
    }
    return 0;
  }
  if (vm.count("dry-run")) {
    out << s.runs.size() << " runs -> " << s.out << "\n";
    for (std::size_t i = 0; i < s.runs.size(); ++i) {
      if (int(i % std::size_t(o.shards)) != o.shard) continue;
      std::vector<std::string> sets;
      for (const auto& [k, v] : s.runs[i].overrides) sets.push_back(k + "=" + v);
      out << std::left << std::setw(44) << s.runs[i].id << " " << join(sets, "  ") << "\n";
    }
    return 0;
  }
  o.progress_bar = ::isatty(STDOUT_FILENO) && &out == &std::cout;
  sweep::DirectoryLock lock(s.out, o.shard, o.shards);
  const auto outcomes = sweep::run_sweep(s, o, out);
  std::vector<std::string> statuses;
  for (const auto& r : outcomes) {
    if (!r.status.empty()) statuses.push_back(r.status);  // runs of other shards have none
  }
  out << "summary: " << status_counts(statuses) << "\n";
  for (const auto& r : outcomes) {
    if (sweep::is_failure(r.status)) {
      out << "  " << r.status << ": " << r.id << " (log: " << s.out << "/logs/" << r.id << ".log)\n";
    }
  }
  sweep::collect(s.out);
  out << "index: " << s.out << "/index.csv, " << s.out << "/index.h5\n";
  return sweep::any_failed(outcomes) ? 1 : 0;
}

int cmd_collect(const std::vector<std::string>& args, std::ostream& out) {
  std::string dir;
  po::options_description desc("options");
  desc.add_options()("dir", po::value(&dir), "the sweep directory");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  const std::string usage =
      "usage: normlab collect DIR\n\n"
      "Writes DIR/index.csv and DIR/index.h5: one row per run of the sweep directory (id, status,\n"
      "the axis values, final losses, time), from its run files.";
  if (!parse(args, desc, vm, out, usage, &positional)) return 0;
  if (dir.empty()) fail("collect: no directory given\n", usage);
  const sweep::Index index = sweep::collect(dir);
  std::vector<std::string> statuses;
  for (const auto& r : index.rows) statuses.push_back(r.status);
  out << dir << ": " << index.rows.size() << " runs (" << status_counts(statuses) << ") -> " << dir
      << "/index.csv, " << dir << "/index.h5\n";
  return 0;
}

int cmd_table(const std::vector<std::string>& args, std::ostream& out) {
  std::string dir, format = "md", rows, metrics = "val_loss,val_metric", out_path;
  double target = std::nan("");
  po::options_description desc("options");
  desc.add_options()
      ("dir", po::value(&dir), "the sweep directory")
      ("format", po::value(&format)->default_value(format), "md | csv | latex")
      ("rows", po::value(&rows), "the config keys that make a row, e.g. model.norm,model.placement "
                                 "(default: every axis of the sweep but seed)")
      ("metric", po::value(&metrics)->default_value(metrics), "final figures: val_loss, val_metric or both")
      ("target-loss", po::value(&target), "steps to reach this val loss (default: the LayerNorm "
                                          "row's mean final val loss)")
      ("out", po::value(&out_path), "write the table to this file instead of the terminal");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  const std::string usage =
      "usage: normlab table SWEEP_DIR [--format md|csv|latex] [--rows KEY[,KEY]] [--metric M]\n"
      "                               [--target-loss X] [--out FILE]\n\n"
      "The sweep as a comparison table: one row per value of the row keys, seeds collapsed into\n"
      "mean ± sample std over the completed runs (diverged and unfinished runs counted): final\n"
      "validation loss and metric, seconds per 1k steps, speedup (T_LN - T)/T_LN against the\n"
      "LayerNorm row, steps to reach a target validation loss.";
  if (!parse(args, desc, vm, out, usage, &positional)) return 0;
  if (dir.empty()) fail("table: no sweep directory given\n", usage);
  if (format != "md" && format != "csv" && format != "latex") {
    fail("--format: '", format, "' is not one of md, csv, latex",
         did_you_mean(format, {"md", "csv", "latex"}));
  }
  tools::TableOptions o;
  for (const auto& k : split(rows, ',')) {
    if (!trim(k).empty()) o.rows.push_back(std::string(trim(k)));
  }
  o.metrics.clear();
  for (const auto& k : split(metrics, ',')) {
    if (!trim(k).empty()) o.metrics.push_back(std::string(trim(k)));
  }
  if (vm.count("target-loss")) o.target_loss = target;
  const tools::Table t = tools::make_table(dir, o);
  const std::string text = format == "csv"   ? tools::table_csv(t)
                           : format == "latex" ? tools::table_latex(t)
                                               : tools::table_markdown(t);
  if (out_path.empty()) {
    out << text;
  } else {
    io::write_text_atomically(out_path, text);
    out << t.rows.size() << " rows -> " << out_path << "\n";
  }
  return 0;
}

int cmd_plot(const std::vector<std::string>& args, std::ostream& out) {
  // The plots are Python (analysis/normlab/plots.py, matplotlib); every option is passed on.
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      out << "usage: normlab plot SWEEP_DIR [--out DIR] [--stat NAME[,NAME]] [--sites A,B] [--smooth N]\n\n"
             "Runs /usr/bin/python3 -m normlab.plots (analysis/normlab/plots.py): loss against step\n"
             "and wall time per row, per-site statistics over training (default in_rms), and\n"
             "sensitivity per site when *.sensitivity.h5 files are in the directory. PNGs into --out\n"
             "(default SWEEP_DIR/plots).\n";
      return 0;
    }
  }
  if (args.empty()) fail("plot: no sweep directory given (normlab plot SWEEP_DIR)");
  const std::string analysis = (std::filesystem::path(NORMLAB_SOURCE_DIR) / "analysis").string();
  std::string command = cat("PYTHONPATH='", analysis, "' PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m normlab.plots");
  for (const auto& a : args) {
    if (a.find('\'') != std::string::npos) fail("plot: argument with a quote: ", a);
    command += " '" + a + "'";
  }
  out.flush();
  const int status = std::system(command.c_str());
  return status == 0 ? 0 : 1;
}

int cmd_numerics(const std::vector<std::string>& args, std::ostream& out) {
  tools::NumericsOptions o;
  std::string dims, norms;
  po::options_description desc("options");
  desc.add_options()
      ("out", po::value(&o.out)->default_value(o.out), "the HDF5 file written (docs/NUMERICS.md)")
      ("plot", po::value(&o.plot), "also draw the figure into this PNG (scripts/plot_numerics.py)")
      ("quick", po::bool_switch(&o.quick), "a small grid for tests (D = 8, 64, 512; seconds)")
      ("dims", po::value(&dims), "feature sizes D, e.g. 8,64,512,4096,16384 (the default)")
      ("norms", po::value(&norms), "normalizer kinds (default: every shift-scale kind but none)")
      ("seed", po::value(&o.seed)->default_value(o.seed), "seed of the input draws");
  po::variables_map vm;
  const std::string usage =
      "usage: normlab numerics [--out FILE.h5] [--plot FILE.png] [--quick] [--dims ...] [--norms ...]\n\n"
      "Precision, cancellation and conditioning of the normalizers: forward and backward in\n"
      "emulated bfloat16/float16/float32 (and normlab's own float32) against a long-double\n"
      "reference over input families and D; Jacobian singular values against closed forms;\n"
      "the 1/delta gradient scaling of RMSNorm. Writes HDF5, prints Markdown tables.";
  if (!parse(args, desc, vm, out, usage)) return 0;
  for (const auto& d : split(dims, ',')) {
    if (trim(d).empty()) continue;
    double v = parse_double(d, "--dims");
    if (!(v >= 1) || v != std::floor(v)) fail("--dims: '", d, "' is not a positive integer");
    o.dims.push_back(std::size_t(v));
  }
  for (const auto& k : split(norms, ',')) {
    if (!trim(k).empty()) o.norms.push_back(std::string(trim(k)));
  }
  tools::numerics_grid(o);  // validates the options before the work starts
  const tools::NumericsReport report = tools::run_numerics(o);
  tools::write_numerics(report, o);
  out << tools::numerics_tables(report) << "\n" << report.cases.size() << " cases, "
      << report.conditioning.size() << " Jacobians -> " << o.out << "\n";
  if (!o.plot.empty()) {
    const std::string script =
        (std::filesystem::path(NORMLAB_SOURCE_DIR) / "scripts" / "plot_numerics.py").string();
    const std::string command = cat("/usr/bin/python3 '", script, "' '", o.out, "' '", o.plot, "'");
    if (std::system(command.c_str()) != 0) fail("numerics: the plot command failed: ", command);
    out << "plot -> " << o.plot << "\n";
  }
  return 0;
}

// normlab analyze sensitivity | invariance | positions | correlate (src/analysis, docs/ANALYSIS.md).
std::vector<double> parse_doubles(const std::string& text, const char* option) {
  std::vector<double> v;
  for (const auto& part : split(text, ',')) v.push_back(parse_double(trim(part), option));
  if (v.empty()) fail(option, ": no value given");
  return v;
}

std::string beside(const std::string& run, const std::string& suffix) {  // X.h5 -> X<suffix>
  std::string base = run;
  if (base.ends_with(".h5")) base.resize(base.size() - 3);
  return base + suffix;
}

int cmd_analyze(const std::vector<std::string>& args, std::ostream& out) {
  const std::string usage =
      "usage: normlab analyze sensitivity RUN.h5 [--out FILE] [--epsilons LIST] [--reference EPS]\n"
      "                                      [--site NAME] [--control-seed N] [--batches N] [--val-seed N]\n"
      "       normlab analyze invariance  RUN.h5 [--scales LIST] [--shifts LIST] [--tolerance T] [--batches N]\n"
      "       normlab analyze positions   RUN.h5 [--out FILE] [--all] [--batches N]\n"
      "       normlab analyze correlate   FILE_OR_DIR... [--out FILE] [--reference EPS] [--residual]\n\n"
      "sensitivity: loss change on held-out batches when each site's input is scaled by (1+eps), shifted\n"
      "  by eps*RMS(x) in every feature, or moved as far in a random direction; first-order forms from a\n"
      "  backward pass. -> RUN.sensitivity.h5 (group /sensitivity) and a table.\n"
      "invariance: max |logit change| when each normalizer's input is scaled by alpha or shifted by\n"
      "  c*RMS(x), against what theory expects.\n"
      "positions: a GRU's recurrent pre-activations W_hh h_{t-1}: mean and std per time step.\n"
      "  -> RUN.positions.h5 (group /positions) and a table.\n"
      "correlate: Spearman rank correlation across sites and runs between |mean|/RMS (and lambda)\n"
      "  recorded at the site inputs and offset sensitivity, from *.sensitivity.h5 files.\n"
      "The model is reloaded in float64 from the run's checkpoint; held-out batches are its validation set.";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    out << usage << "\n";
    return 0;
  }
  const std::string what = args[0];
  const std::vector<std::string> whats{"sensitivity", "invariance", "positions", "correlate"};
  if (std::find(whats.begin(), whats.end(), what) == whats.end()) {
    fail("analyze: unknown analysis '", what, "'", did_you_mean(what, whats), "; one of ", join(whats, ", "));
  }
  std::vector<std::string> inputs;
  std::string out_path, epsilons, scales = "0.5,2,10", shifts = "0.5,2,10", site;
  double reference = 0.1, tolerance = 1e-3;
  std::size_t batches = 0;
  long long val_seed = -1, control_seed = 1;
  po::options_description desc("options");
  desc.add_options()
      ("inputs", po::value(&inputs), "run files (correlate: sensitivity files or directories)")
      ("out", po::value(&out_path), "output file (default beside the run)")
      ("batches", po::value(&batches), "held-out batches to use (default: all)")
      ("val-seed", po::value(&val_seed), "draw the held-out set with this seed (default: the run's)")
      ("epsilons", po::value(&epsilons), "sensitivity: the grid (default -0.2,-0.1,-0.05,-0.01,-0.001 and their negatives)")
      ("reference", po::value(&reference), "sensitivity, correlate: the eps of the tables (default 0.1)")
      ("site", po::value(&site), "sensitivity: only this site")
      ("control-seed", po::value(&control_seed), "sensitivity: seed of the random control directions (default 1)")
      ("scales", po::value(&scales), "invariance: the factors alpha (default 0.5,2,10)")
      ("shifts", po::value(&shifts), "invariance: the shifts c, in units of RMS(x) (default 0.5,2,10)")
      ("tolerance", po::value(&tolerance), "invariance: relative deviation that counts as unchanged (default 1e-3)")
      ("all", "positions: print every position")
      ("residual", "correlate: include the residual-stream sites");
  po::positional_options_description positional;
  positional.add("inputs", -1);
  po::variables_map vm;
  if (!parse({args.begin() + 1, args.end()}, desc, vm, out, usage, &positional)) return 0;
  if (inputs.empty()) fail("analyze ", what, ": no input given\n", usage);

  if (what == "correlate") {
    std::vector<std::string> files;
    for (const auto& in : inputs) {
      if (std::filesystem::is_directory(in)) {
        std::vector<std::string> found;
        for (const auto& e : std::filesystem::recursive_directory_iterator(in)) {
          if (e.path().string().ends_with(".sensitivity.h5")) found.push_back(e.path().string());
        }
        if (found.empty()) fail("analyze correlate: no *.sensitivity.h5 file under ", in);
        std::sort(found.begin(), found.end());
        files.insert(files.end(), found.begin(), found.end());
      } else {
        files.push_back(in);
      }
    }
    std::vector<analysis::SensitivityReport> reports;
    for (const auto& f : files) reports.push_back(analysis::read_sensitivity(f));
    const auto c = analysis::correlate(reports, reference, vm.count("residual") == 0);
    analysis::print_correlations(out, c);
    if (out_path.empty()) {
      out_path = (std::filesystem::is_directory(inputs[0]) ? std::filesystem::path(inputs[0])
                                                           : std::filesystem::path(inputs[0]).parent_path()) /
                 "correlation.h5";
    }
    analysis::write_correlations(out_path, c, reference);
    out << "-> " << out_path << "\n";
    return 0;
  }
  if (inputs.size() != 1) fail("analyze ", what, ": one run file, got ", inputs.size());
  std::ostringstream log;  // the data description lines
  std::optional<std::uint64_t> seed;
  if (val_seed >= 0) seed = std::uint64_t(val_seed);
  analysis::LoadedRun run = analysis::load_run(inputs[0], seed, batches, log);
  if (what == "sensitivity") {
    const auto grid = epsilons.empty() ? analysis::default_epsilons() : parse_doubles(epsilons, "--epsilons");
    const auto r = analysis::measure_sensitivity(run, grid, std::uint64_t(control_seed), site);
    analysis::print_sensitivity(out, r, reference);
    if (out_path.empty()) out_path = beside(inputs[0], ".sensitivity.h5");
    analysis::write_sensitivity(out_path, r, reference);
    out << "-> " << out_path << "\n";
  } else if (what == "invariance") {
    const auto r = analysis::measure_invariance(run, parse_doubles(scales, "--scales"),
                                                parse_doubles(shifts, "--shifts"));
    analysis::print_invariance(out, r, tolerance);
  } else {
    const auto p = analysis::measure_positions(run);
    analysis::print_positions(out, inputs[0], p, vm.count("all") > 0);
    if (out_path.empty()) out_path = beside(inputs[0], ".positions.h5");
    analysis::write_positions(out_path, inputs[0], p);
    out << "-> " << out_path << "\n";
  }
  return 0;
}

int print_usage(std::ostream& out) {
  out << "normlab " << NORMLAB_VERSION << ": a toolkit for research on normalization layers\n\n"
      << "usage: normlab <command> [options]    (normlab <command> --help for its options)\n\n"
      << "commands:\n";
  for (const auto& c : commands()) out << "  " << std::left << std::setw(10) << c.name << c.summary << "\n";
  return 0;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"demo", "every normalizer on a batch, then the default experiment (the quick-start job)", cmd_demo},
      {"train", "train one model from an experiment file", cmd_train},
      {"sweep", "train every run of a sweep file, in parallel, resumable, sharded", cmd_sweep},
      {"collect", "index a sweep directory: one row per run (CSV and HDF5)", cmd_collect},
      {"table", "a sweep as a comparison table: mean ± std over seeds, time, speedup vs LayerNorm", cmd_table},
      {"plot", "a sweep's plots (PNG): loss vs step and time, per-site statistics, sensitivity", cmd_plot},
      {"info", "what a run file holds: status, steps, losses, sites, statistics", cmd_info},
      {"analyze", "trained runs: gain/offset sensitivity, invariance, GRU positions, correlation", cmd_analyze},
      {"norms", "list the normalizers, their options and defaults", cmd_norms},
      {"apply", "run a normalizer (forward, backward) on activations in an HDF5 file", cmd_apply},
      {"numerics", "precision, cancellation and conditioning of the normalizers (HDF5, table, plot)", cmd_numerics},
      {"bench", "benchmarks: `normlab bench norms`, `bench train`, `bench stats`, `bench sweep`", cmd_bench},
  };
  return list;
}

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
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
    fail("unknown command '", args[0], "'", did_you_mean(args[0], names), "; commands: ",
         join(names, ", "));
  } catch (const po::error& e) {
    err << "normlab: error: " << e.what() << "\n";
  } catch (const std::exception& e) {
    err << "normlab: error: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace normlab::cli
