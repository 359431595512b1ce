// `normlab bench stats`: what recording per-site statistics costs. The three reference workloads
// of `bench train` (float32, one normalizer kind) are stepped as the trainer steps them (forward,
// backward, global norm, Adam, a row of step series into a run file, a flush every 50 steps),
// without statistics, with statistics every k steps (the default cadence, stats.every), and with
// statistics at every step. The conditions alternate in rounds so that a drifting machine shifts
// them alike; each figure is the median over rounds of the mean step time of a round (the mean,
// since a recorded step costs more than the others). Prints figures and ratios; asserts nothing.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "bench/train.hpp"

namespace normlab::tools {

struct BenchStatsOptions {
  int threads = 1;
  int rounds = 7;   // alternations of the three conditions
  int steps = 60;   // steps per condition and round; a multiple of the cadence is fairest
  int every = 0;    // the cadence compared; 0: stats.every of experiments/defaults.toml
  std::vector<std::string> workloads{"mlp", "gru", "transformer"};
  std::string norm = "rmsnorm";
  BenchTrainShapes shapes;
  bool quick = false;
  std::string clock = "wall";  // wall | cpu, as in bench train
};

void bench_stats(std::ostream& out, const BenchStatsOptions& options);

}  // namespace normlab::tools
