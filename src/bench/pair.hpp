// `normlab bench pair`: is B's training step faster than A's, by how much, and can this machine
// tell right now? Two workloads built from one config (train/workload.hpp, as the trainer builds
// them, with the same seed, so the same batches at the same step) differ only in each arm's
// overrides. They step in one process in blocks of k training steps (the trainer's step: forward,
// backward, global norm, the optimizer), A B in one alternation and B A in the next, so that a
// machine drifting in speed shifts both alike; each block is timed on the CPU clock. Every
// alternation builds its arms afresh at random heap offsets (bench/pair.cpp, ArmSet says why).
//
// A control pair runs in the same session, on the same schedule: by default two more copies of A,
// the same arithmetic on the same values, which must come out equal. When its interval excludes 1,
// the report says the measurement is not to be trusted on this machine now. l2norm against rmsnorm
// (--control rmsnorm,l2norm: the same normalizer arithmetic, shift_scale.hpp, dividing the sum of
// squares by 1 or by D) is not such a null in a model whose activation kernels branch on values:
// l2norm's outputs are sqrt(D) times smaller, and xsimd's tanh takes its polynomial-only path
// (3.2x cheaper per element here) when all 16 lanes have |x| < 5/8, so the GRU's candidate tanh
// costs less; the GRU's l2norm step came out 0.4-1.9% faster in each of 11 sessions.
// Then a few blocks of A and of B with the normalizer timing hook (nn/norm_site.hpp) on give the
// share p of each step spent in the normalizers, and with it the Amdahl bound: changing only A's
// normalizers cannot make the step faster by more than p.
// The arithmetic is in bench/pair_stats.hpp. Prints figures; asserts nothing about time.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace normlab::tools {

struct PairArm {
  std::string name;               // A, B, C1, C2
  std::vector<std::string> sets;  // its overrides of the shared config
};

struct BenchPairOptions {
  std::string config_path;        // "" : experiments/defaults.toml
  std::vector<std::string> sets;  // key=value overrides of the config, for every arm
  std::vector<std::string> a, b;  // each arm's overrides on top (key=value)
  // The control pair: "copy" (two more copies of A), "none", or two kinds "K1,K2" (model.norm of
  // C1 and C2 on the shared config).
  std::string control = "copy";
  int alternations = 20;          // timed blocks per arm, at least 10
  int block = 0;                  // training steps per block; 0: as many as take block_seconds
  double block_seconds = 0.2;     // of A's step time, for block = 0
  int warmup = 2;                 // untimed rounds of blocks before the timed ones
  int share_blocks = 6;           // blocks of A and of B with the normalizer timing on
  int threads = 1;                // OpenBLAS's and the pool's, for every arm (overrides `threads`)
  std::string clock = "cpu";      // cpu: the process's CPU time; wall: elapsed
  bool raw = false;               // also print every block's time
  std::string command;            // the command line, printed in the report
};

// An arm's overrides from --a/--b: a comma list of key=value, split before each known config key
// (so "model.norm_options=eps=1e-6,eps_mode=outside" stays whole: eps_mode is no config key).
std::vector<std::string> split_assignments(const std::string& list);

// The control arms C1 and C2 of --control (BenchPairOptions::control), none for "none".
std::vector<PairArm> control_arms(const BenchPairOptions& o);

// The overrides of arms A and B from --norms A,B: model.norm of each.
void norms_to_arms(const std::string& norms, BenchPairOptions& o);

// A command line as a shell would take it back ("normlab bench pair 'a b' ...").
std::string command_line(const std::string& program, const std::vector<std::string>& args);

void bench_pair(std::ostream& out, const BenchPairOptions& options);

}  // namespace normlab::tools
