// normlab sweep: every run of a sweep file, here (sweep/runner.hpp) or as a Slurm job array
// (sweep/slurm.hpp).
#include <unistd.h>

#include <iostream>
#include <tuple>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "sweep/collect.hpp"
#include "sweep/report.hpp"
#include "sweep/runner.hpp"
#include "sweep/slurm.hpp"
#include "sweep/sweep.hpp"

namespace normlab::cli {

namespace {

struct SweepArgs {
  std::string path, shard, out_dir;
  std::vector<std::string> sets;
  sweep::RunnerOptions runner;
  sweep::SlurmOptions slurm;
};

po::options_description sweep_options(SweepArgs& a) {
  po::options_description desc("options");
  desc.add_options()
      ("sweep", po::value(&a.path), "the sweep file")
      ("jobs", po::value(&a.runner.jobs)->default_value(a.runner.jobs), "runs at a time (each its own process)")
      ("shard", po::value(&a.shard), "I/N: run every N-th run from the I-th (default: from "
                                     "SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, else 0/1)")
      ("out", po::value(&a.out_dir), "the sweep directory (default: the file's `out`, else sweeps/<file stem>)")
      ("set", po::value(&a.sets)->composing(), "key=value for every run, after the file's [set] (not an axis key)")
      ("restart", "the directory holds another definition of the sweep: delete its runs, start over")
      ("extend", "the directory holds another definition: keep its runs beside the new ones")
      ("dry-run", "list the runs and their overrides (with --slurm: print the script); run nothing")
      ("slurm", "write DIR/slurm/sweep.sbatch (a job array, one task per shard) and submit it")
      ("tasks", po::value(&a.slurm.tasks)->default_value(a.slurm.tasks), "--slurm: array tasks (0: one per run)")
      ("cpus", po::value(&a.slurm.cpus)->default_value(a.slurm.cpus), "--slurm: CPUs per task = its runs at a time (--jobs N with --slurm says the same)")
      ("time", po::value(&a.slurm.time)->default_value(a.slurm.time), "--slurm: time limit per task")
      ("partition", po::value(&a.slurm.partition), "--slurm: the partition (default: Slurm's)")
      ("max-running", po::value(&a.slurm.max_running)->default_value(0), "--slurm: tasks at a time (0: no limit)")
      ("slurm-output", po::value(&a.slurm.output),
       "--slurm: the tasks' output files, with sbatch's %A (job) and %a (task) (default: DIR/slurm/%A_%a.out)")
      ("sbatch", po::value(&a.slurm.sbatch)->composing(),
       "--slurm: one more #SBATCH line, e.g. --sbatch=--mem=8G (repeatable)")
      ("wait", "--slurm: wait until every task has ended (sbatch --wait)");
  return desc;
}

// --slurm: write the job array's script and submit it (or print it: --dry-run).
int submit_to_slurm(const sweep::Sweep& s, const SweepArgs& a, const po::variables_map& vm,
                    std::ostream& out) {
  if (!a.sets.empty()) fail("sweep: --set is not passed on to Slurm tasks; put the keys in the file's [set]");
  sweep::check_data_paths(s);
  if (vm.count("dry-run")) {  // prints, writes nothing
    out << "# " << sweep::sbatch_script_path(s) << " (not written: --dry-run)\n" << sweep::sbatch_script(s, a.slurm);
    return 0;
  }
  const std::string script = sweep::write_sbatch_script(s, a.slurm);
  out << "submitting " << script << "\n" << sweep::submit(script, vm.count("wait") > 0);
  if (!vm.count("wait")) return 0;
  const sweep::Index index = sweep::collect(s.out);
  const std::size_t done = sweep::runs_with_result(index);
  out << "index: " << index.rows.size() << " runs, " << done << " with a result -> " << s.out
      << "/index.csv\n";
  return done == index.rows.size() ? 0 : 1;
}

// The runs of this shard here, each its own process, then the index.
int run_here(const sweep::Sweep& s, sweep::RunnerOptions o, std::ostream& out) {
  o.progress_bar = ::isatty(STDOUT_FILENO) && &out == &std::cout;
  sweep::check_data_paths(s);  // before the lock and before any run starts
  sweep::DirectoryLock lock(s.out, o.shard, o.shards);
  const auto outcomes = sweep::run_sweep(s, o, out);
  sweep::print_outcomes(out, s, outcomes);
  sweep::collect(s.out);
  out << "index: " << s.out << "/index.csv, " << s.out << "/index.h5\n";
  return sweep::any_failed(outcomes) ? 1 : 0;
}

}  // namespace

int cmd_sweep(const Args& given, std::ostream& out) {
  check_set_spelling(given);
  Args args;  // `--sbatch --mem=8G`: the value is an sbatch option, not one of ours
  for (std::size_t i = 0; i < given.size(); ++i) {
    if (given[i] == "--sbatch" && i + 1 < given.size()) {
      args.push_back("--sbatch=" + given[++i]);
    } else {
      args.push_back(given[i]);
    }
  }
  SweepArgs a;
  const po::options_description desc = sweep_options(a);
  po::positional_options_description positional;
  positional.add("sweep", 1);
  po::variables_map vm;
  const std::string usage =
      "usage: normlab sweep SWEEP.toml [--jobs N] [--shard I/N] [--out DIR] [--dry-run]\n"
      "       normlab sweep SWEEP.toml ... [--restart | --extend]\n"
      "       normlab sweep SWEEP.toml --slurm [--tasks N] [--cpus N] [--time T] [--partition P]\n"
      "                                        [--max-running N] [--sbatch=OPTION ...] [--wait] [--dry-run]\n\n"
      "Expands the sweep file (an experiment and axes over its keys) and trains every run as its\n"
      "own process. Again, it skips the runs already done and reruns the others. At the end it\n"
      "writes DIR/index.csv and DIR/index.h5 (normlab collect). A directory that holds another\n"
      "definition of the sweep (a changed --set, [set] or experiment) is refused with the\n"
      "difference named, unless --restart or --extend says what to do with the old runs.";
  if (!parse(args, desc, vm, out, usage, &positional)) return 0;
  if (a.path.empty()) usage_fail("sweep: no sweep file given\n", usage);
  sweep::Sweep s = sweep::load(a.path, a.sets);
  if (!a.out_dir.empty()) s.out = a.out_dir;
  std::tie(a.runner.shard, a.runner.shards) = sweep::parse_shard(a.shard);
  if (vm.count("restart") && vm.count("extend")) usage_fail("sweep: --restart or --extend, not both");
  if (vm.count("restart")) a.runner.on_change = sweep::OnChange::kRestart;
  if (vm.count("extend")) a.runner.on_change = sweep::OnChange::kExtend;
  a.runner.binary = a.slurm.binary = self_executable();
  if (vm.count("slurm")) {
    // One meaning of --jobs: runs at a time, here or in each array task.
    if (!vm["jobs"].defaulted() && vm["cpus"].defaulted()) a.slurm.cpus = a.runner.jobs;
    return submit_to_slurm(s, a, vm, out);
  }
  if (vm.count("dry-run")) {
    sweep::print_plan(out, s, a.runner.shard, a.runner.shards);
    return 0;
  }
  return run_here(s, a.runner, out);
}

}  // namespace normlab::cli
