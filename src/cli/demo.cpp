// normlab demo: the quick-start job (train/demo.hpp).
#include "cli/common.hpp"
#include "core/error.hpp"
#include "train/demo.hpp"

namespace normlab::cli {

int cmd_demo(const Args& args, std::ostream& out) {
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

}  // namespace normlab::cli
