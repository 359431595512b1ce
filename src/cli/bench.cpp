// normlab bench norms | train | stats | sweep: the benchmarks (src/bench).
#include "bench/kernels.hpp"
#include "bench/norms.hpp"
#include "bench/stats.hpp"
#include "bench/sweep.hpp"
#include "bench/train.hpp"
#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::cli {

namespace {

int bench_train(const Args& args, std::ostream& out) {
  tools::BenchTrainOptions o;
  std::string workloads = join(o.workloads, ","), norms = join(o.norms, ","), torch = "auto";
  std::string threads = "1", pythons = join(o.pythons, ",");
  po::options_description desc("options");
  desc.add_options()
      ("threads", po::value(&threads)->default_value(threads),
       "threads on both sides; a list (1,2) measures each and prints the speedup over the first")
      ("steps", po::value(&o.steps)->default_value(o.steps), "timed steps per figure")
      ("warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed steps first")
      ("workloads", po::value(&workloads)->default_value(workloads),
       "mlp, gru, transformer, nanogpt")
      ("norms", po::value(&norms)->default_value(norms), "rmsnorm, layernorm, none")
      ("quick", po::bool_switch(&o.quick), "tiny shapes (a smoke test, not a benchmark)")
      ("torch", po::value(&torch)->default_value(torch),
       "the PyTorch peers: auto (each that imports torch) | on | off")
      ("python", po::value(&pythons)->default_value(pythons),
       "interpreters of the peers, a comma list, one column group each "
       "(e.g. /usr/bin/python3,.venv-torch2/bin/python: scripts/install-torch2.sh)")
      ("compile", po::bool_switch(&o.compile),
       "also time each torch >= 2 peer's models through torch.compile, as a peer of its own")
      ("torch-script", po::value(&o.torch_script), "the peer (default: scripts/bench_train_torch.py)")
      ("phases", po::bool_switch(&o.phases), "also print normlab's time per phase")
      ("clock", po::value(&o.clock)->default_value(o.clock),
       "wall | cpu (process CPU time: on one thread, robust to a loaded machine)");
  po::variables_map vm;
  const std::string usage =
      "usage: normlab bench train [options]\n\n"
      "ms per training step (forward, backward, Adam; AdamW for nanogpt) in float32 for an MLP, a\n"
      "GRU LM, a Transformer LM and nanoGPT's CPU configuration with rmsnorm, layernorm and none,\n"
      "next to the same workloads in PyTorch. Both sides run with the same OPENBLAS_CORETYPE and\n"
      "thread count.";
  if (!parse(args, desc, vm, out, usage)) return 0;
  o.workloads = split(workloads, ',');
  o.norms = split(norms, ',');
  o.threads = tools::parse_thread_counts(threads);
  o.pythons = split(pythons, ',');
  if (o.pythons.empty()) fail("--python: no interpreter given");
  for (const auto& p : o.pythons) {
    if (trim(p).empty()) fail("--python: an empty interpreter name in '", pythons, "'");
  }
  o.torch = tools::parse_torch_peer(torch);
  if (o.quick) o.shapes = tools::BenchTrainShapes::quick();
  tools::bench_train(out, o);
  return 0;
}

int bench_stats(const Args& args, std::ostream& out) {
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

int bench_sweep(const Args& args, std::ostream& out) {
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

int bench_norms(const Args& args, std::ostream& out) {
  std::string what, dims, kinds;
  tools::BenchNormsOptions o;
  po::options_description desc("options");
  desc.add_options()
      ("what", po::value(&what)->required(), "what to benchmark: norms (or train: see bench train --help)")
      ("dims", po::value(&dims)->default_value("64,256,1024,4096"), "feature sizes D")
      ("mib", po::value(&o.mib)->default_value(o.mib), "MiB per (B, D) tensor")
      ("repeats", po::value(&o.repeats)->default_value(o.repeats), "timed runs per figure")
      ("norms", po::value(&kinds), "normalizers to run (default: all)")
      ("clock", po::value(&o.clock)->default_value(o.clock),
       "cpu (this thread's CPU time: robust to a loaded machine) | wall");
  po::options_description old_spelling;
  old_spelling.add_options()("kinds", po::value(&kinds), "--norms, as it was first spelt");
  po::positional_options_description positional;
  positional.add("what", 1);
  po::variables_map vm;
  if (!parse(args, desc, vm, out, "usage: normlab bench norms [options]    (also: bench train, bench stats, bench sweep)", &positional, &old_spelling)) return 0;
  if (what != "norms") usage_fail("bench: unknown benchmark '", what, "'; available: norms, train, stats, sweep, kernels");
  o.dims = parse_positive_integers(dims, "--dims");
  if (o.dims.empty()) fail("--dims: no feature size given");
  if (!kinds.empty()) o.kinds = split(kinds, ',');
  tools::bench_norms(out, o);
  return 0;
}

int bench_kernels(const Args& args, std::ostream& out) {
  tools::BenchKernelsOptions o;
  po::options_description desc("options");
  desc.add_options()
      ("n", po::value(&o.n)->default_value(o.n), "floats per tensor")
      ("rounds", po::value(&o.rounds)->default_value(o.rounds), "rounds (figures are medians)")
      ("calls", po::value(&o.calls)->default_value(o.calls), "calls per timed figure");
  po::variables_map vm;
  if (!parse(args, desc, vm, out, "usage: normlab bench kernels [options]\n\n"
             "The per-ISA kernels (exp, GELU, tanh, sigmoid) on every instruction set this CPU runs,\n"
             "next to a plain libm loop, in millions of elements per second."))
    return 0;
  tools::bench_kernels(out, o);
  return 0;
}

}  // namespace

int cmd_bench(const Args& args, std::ostream& out) {
  const std::string what = args.empty() ? "" : args[0];
  if (what == "train") return bench_train({args.begin() + 1, args.end()}, out);
  if (what == "stats") return bench_stats({args.begin() + 1, args.end()}, out);
  if (what == "sweep") return bench_sweep({args.begin() + 1, args.end()}, out);
  if (what == "kernels") return bench_kernels({args.begin() + 1, args.end()}, out);
  return bench_norms(args, out);
}

}  // namespace normlab::cli
