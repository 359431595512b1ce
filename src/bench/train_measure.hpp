// The measuring half of `normlab bench train` (bench/train.hpp): one workload with one normalizer
// stepped and timed in a forked process of its own, with its heap allocations and peak RSS; the
// GEMM FLOPs of a training step counted from the shapes; and the sgemm rate they are held against.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/train.hpp"

namespace normlab::tools {

// Milliseconds of the timed steps, per step, in total and by phase.
struct StepTimes {
  std::vector<double> total, zero, forward, backward, update;  // update: global norm + Adam
};

// What one workload with one normalizer measured, in a process of its own.
struct Measurement {
  StepTimes times;
  // operator new calls (bench/alloc_count.hpp) from the start of a timed step (zero grads) to the
  // end of its update: the whole step as timed. Mean and most over the timed steps.
  double allocations_per_step = NAN;
  std::uint64_t allocations_max = 0;
  double peak_rss_mib = NAN;  // the process's getrusage ru_maxrss at its end
  std::size_t param_count = 0;  // the model's parameters, to hold against the torch twin's
};

// Builds and steps one workload in a forked child, which sends its figures back through a pipe:
// ru_maxrss only ever grows, so a fresh process per workload is what makes the peak RSS its own.
// A forked child's starts at zero (Linux) and counts the parent's pages as the child touches them.
Measurement measure_in_child(const std::string& workload, const std::string& norm,
                             const BenchTrainOptions& o, double ramp_seconds);

// ---- GEMM floating-point operations per training step, counted from the shapes ----
// A GEMM of (M, K) by (K, N) is 2 M N K FLOPs. Only GEMMs are counted (normalizers, softmax,
// activations, the optimizer are not): the figure to hold against the sgemm rate.
// The formulas, one per workload, are in bench/train_measure.cpp.
double gemm_flops(const std::string& workload, const BenchTrainShapes& s);

// The sgemm rate in this process at the benchmark's thread count: C (M, N) = A (M, K) B (K, N),
// row-major, the median GFLOP/s of `repeats` calls after a few untimed ones.
struct SgemmRate {
  std::size_t M = 2048, K = 128, N = 512;  // the Transformer's Linear GEMMs: B T rows, K = d
  int repeats = 30;
  double gflops = NAN;
};

SgemmRate measure_sgemm(bool cpu_clock, bool quick);

}  // namespace normlab::tools
