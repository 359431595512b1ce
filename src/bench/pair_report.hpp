// What `normlab bench pair` (bench/pair.hpp) prints: the header, before anything is timed, and the
// report, from the block times and the normalizers' shares.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "bench/pair.hpp"

namespace normlab::tools {

// Untimed steps of every arm after each build: the first step's page faults and buffers, the
// optimizer's first moments. Every arm takes as many, so they stay at the same step.
inline constexpr int kStepsAfterBuild = 2;

// What the session is, for the header.
struct PairSetup {
  const BenchPairOptions& options;
  std::vector<PairArm> arms;  // A, B, then C1, C2 with the control
  std::string workload_log;   // A's workload's lines about its data and normalizer sites
  std::string cpus;           // the affinity mask
  int blas_threads = 1;       // OpenBLAS's thread count as set
};

// The normalizers' time in an arm's instrumented blocks, the hook's clock cost subtracted.
struct Share {
  double norm_seconds = 0, step_seconds = 0;
  std::uint64_t calls = 0, steps = 0;
  double p() const { return norm_seconds / step_seconds; }
};

struct PairTimes {
  int block = 0;                       // steps per block
  std::vector<std::vector<double>> ms;  // [arm][alternation]: ms per step of the block
  Share share[2];                       // A's and B's
  double clock_read_ns = 0;             // one read of the hook's clock
};

void print_pair_header(std::ostream& out, const PairSetup& setup);
void print_pair_report(std::ostream& out, const PairSetup& setup, const PairTimes& times);

}  // namespace normlab::tools
