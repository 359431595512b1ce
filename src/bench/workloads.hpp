// The benchmarks' workloads (bench/train.hpp gives their shapes): a model with one
// normalizer on a fixed random batch, ready to step; and the clock the benchmarks read.
#pragma once

#include <cmath>
#include <functional>
#include <iomanip>
#include <sstream>
#include <memory>
#include <string>
#include <time.h>
#include <vector>

#include "core/random.hpp"
#include "nn/optim.hpp"
#include "nn/params.hpp"
#include "nn/probe.hpp"
#include "bench/train.hpp"

namespace normlab::tools {

// One workload with one normalizer, ready to step: the model, its data, its optimizer.
struct Trainee {
  std::function<double()> forward;  // the mean loss of the fixed batch
  std::function<void()> backward;
  nn::ParamStore<float>* params = nullptr;
  std::function<std::vector<nn::Probe<float>*>()> probes;  // its normalizer sites and streams
  std::shared_ptr<void> model;  // keeps the model alive
  // The update this workload's reference recipe uses: Adam with torch's defaults and lr 1e-3, or
  // nanoGPT's AdamW for `nanogpt` (bench/train.hpp).
  nn::OptimConfig optim;
};

// A figure with `precision` decimals for a benchmark table; "-" when it is not finite.
inline std::string fixed(double v, int precision) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  return s.str();
}

// workload: mlp | gru | transformer | nanogpt; norm: a kind, or "none" (no normalizer sites).
Trainee make_trainee(const std::string& workload, const BenchTrainShapes& shapes,
                     const std::string& norm, Rng& rng);

// Seconds on the clock --clock names: elapsed, or this process's CPU time.
class StepClock {
 public:
  explicit StepClock(bool cpu) : cpu_(cpu) { reset(); }
  void reset() { start_ = now(); }
  double seconds() const { return now() - start_; }

 private:
  double now() const {
    timespec ts;
    clock_gettime(cpu_ ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  bool cpu_;
  double start_ = 0;
};

}  // namespace normlab::tools
