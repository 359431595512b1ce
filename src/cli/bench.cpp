// normlab bench norms | train | stats | sweep | kernels | pair: the benchmarks (src/bench).
#include "bench/kernels.hpp"
#include "bench/norms.hpp"
#include "bench/pair.hpp"
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
  if (!parse(args, desc, vm, out, "usage: normlab bench norms [options]    (also: bench train, stats, sweep, kernels, pair)", &positional, &old_spelling)) return 0;
  if (what != "norms") usage_fail("bench: unknown benchmark '", what, "'; available: norms, train, stats, sweep, kernels, pair");
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

const char* const kPairUsage =
    "usage: normlab bench pair [CONFIG.toml] [key=value ...]\n"
    "                          (--norms A,B | --a K=V[,K=V] --b K=V[,K=V]) [--control copy]\n"
    "                          [--alternations 20] [--threads 1] [--clock cpu] [options]\n\n"
    "Is B's training step faster than A's? Two arms of one config (the file and key=value\n"
    "overrides, as `normlab train` takes them) that differ by their own overrides, built as the\n"
    "trainer builds them with the same seed (the same batches), step in one process in blocks of\n"
    "k steps (A B, then B A; every alternation builds its arms afresh), after warm-up rounds,\n"
    "each block timed on the CPU clock.\n"
    "Reports each arm's median ms per step and B/A with a 95% interval (t on the paired log\n"
    "ratios): \"B faster by x% [lo, hi]\" or \"no difference detected\". A control pair, two\n"
    "more copies of A (--control copy), runs on the same schedule and must come out equal; when\n"
    "it does not, the report says this machine cannot be trusted now. (l2norm against rmsnorm,\n"
    "--control rmsnorm,l2norm, is the same normalizer arithmetic but not the same step: its\n"
    "smaller outputs take a cheaper path in the GRU's tanh.) Then the normalizers'\n"
    "share p of A's step (blocks of their own, timing every normalizer call) bounds any speedup\n"
    "from changing them (Amdahl: at most p); a measured speedup beyond it is flagged impossible.\n"
    "Pin it to one core on a shared machine: taskset -c 1 normlab bench pair ...\n\n"
    "  normlab bench pair experiments/gru.toml data.task=text --norms layernorm,rmsnorm\n"
    "  normlab bench pair experiments/transformer.toml --a model.placement=pre \\\n"
    "                     --b model.placement=post";

int bench_pair(const Args& args, std::ostream& out) {
  tools::BenchPairOptions o;
  std::string norms, block = "auto";
  std::vector<std::string> sets, positionals, a, b;
  po::options_description desc("options");
  desc.add_options()
      ("norms", po::value(&norms), "A,B: the arms' model.norm (--norms layernorm,rmsnorm)")
      ("a", po::value(&a)->composing(), "arm A's overrides, key=value[,key=value] (repeatable)")
      ("b", po::value(&b)->composing(), "arm B's overrides, as --a")
      ("set", po::value(&sets)->composing(),
       "override a key of the config for every arm (repeatable)")
      ("alternations", po::value(&o.alternations)->default_value(o.alternations),
       "timed blocks per arm (at least 10)")
      ("block", po::value(&block)->default_value(block),
       "training steps per block; auto: as many as take --block-seconds of A's step time")
      ("block-seconds", po::value(&o.block_seconds)->default_value(o.block_seconds, "0.2"),
       "for --block auto")
      ("warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed rounds of blocks first")
      ("share-blocks", po::value(&o.share_blocks)->default_value(o.share_blocks),
       "blocks of A and of B timing the normalizers, for the Amdahl bound")
      ("threads", po::value(&o.threads)->default_value(o.threads),
       "OpenBLAS's and the pool's threads in every arm (overrides the config's `threads`)")
      ("clock", po::value(&o.clock)->default_value(o.clock),
       "cpu (the process's CPU time: robust to a loaded machine) | wall")
      ("control", po::value(&o.control)->default_value(o.control),
       "the control pair: copy (two more copies of A), none, or two kinds K1,K2 (rmsnorm,l2norm)")
      ("raw", po::bool_switch(&o.raw), "also print every block's time and each ln(B/A)");
  po::options_description hidden;
  hidden.add_options()("positionals", po::value(&positionals));
  po::positional_options_description positional;
  positional.add("positionals", -1);
  po::variables_map vm;
  check_set_spelling(args);
  if (!parse(args, desc, vm, out, kPairUsage, &positional, &hidden)) return 0;
  o.config_path = split_config_and_overrides(positionals, sets);
  o.sets = sets;
  if (!norms.empty() && (!a.empty() || !b.empty())) {
    usage_fail("bench pair: --norms or --a/--b, not both");
  }
  if (!norms.empty()) tools::norms_to_arms(norms, o);
  for (const auto& list : a) for (auto& kv : tools::split_assignments(list)) o.a.push_back(kv);
  for (const auto& list : b) for (auto& kv : tools::split_assignments(list)) o.b.push_back(kv);
  if (o.a.empty() || o.b.empty()) {
    usage_fail("bench pair: give the arms: --norms A,B, or --a K=V and --b K=V");
  }
  o.block = block == "auto" ? 0 : int(parse_positive_integers(block, "--block").at(0));
  o.command = tools::command_line("normlab bench pair", args);
  tools::bench_pair(out, o);
  return 0;
}

}  // namespace

int cmd_bench(const Args& args, std::ostream& out) {
  const std::string what = args.empty() ? "" : args[0];
  if (what == "train") return bench_train({args.begin() + 1, args.end()}, out);
  if (what == "stats") return bench_stats({args.begin() + 1, args.end()}, out);
  if (what == "sweep") return bench_sweep({args.begin() + 1, args.end()}, out);
  if (what == "kernels") return bench_kernels({args.begin() + 1, args.end()}, out);
  if (what == "pair") return bench_pair({args.begin() + 1, args.end()}, out);
  return bench_norms(args, out);
}

}  // namespace normlab::cli
