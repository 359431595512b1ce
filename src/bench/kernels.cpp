#include "bench/kernels.hpp"

#include <cmath>
#include <functional>
#include <iomanip>
#include <random>
#include <string>
#include <vector>

#include <time.h>

#include "core/error.hpp"
#include "core/kernels.hpp"
#include "core/timer.hpp"

namespace normlab::tools {

namespace {

struct Op {
  std::string name;
  // the libm loop in float: what the code looks like without the kernels
  std::function<void(float*, const float*, const float*, std::size_t)> scalar;
  std::function<void(const kernels::Table&, float*, const float*, const float*, std::size_t)> kernel;
};

std::vector<Op> ops() {
  constexpr float kInvSqrt2 = 0.70710678118654752440f, kInvSqrt2Pi = 0.39894228040143267794f;
  return {
      {"exp", [](float* y, const float* x, const float*, std::size_t n) {
         for (std::size_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
       },
       [](const kernels::Table& k, float* y, const float* x, const float*, std::size_t n) {
         k.exp_shifted(y, x, n, 0.0f);
       }},
      {"gelu forward", [=](float* y, const float* x, const float*, std::size_t n) {
         for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * 0.5f * std::erfc(-x[i] * kInvSqrt2);
       },
       [](const kernels::Table& k, float* y, const float* x, const float*, std::size_t n) {
         k.gelu_forward(y, x, n);
       }},
      {"gelu backward", [=](float* y, const float* x, const float* dy, std::size_t n) {
         for (std::size_t i = 0; i < n; ++i) {
           const float v = x[i];
           y[i] = dy[i] * (0.5f * std::erfc(-v * kInvSqrt2) +
                           v * kInvSqrt2Pi * std::exp(-0.5f * v * v));
         }
       },
       [](const kernels::Table& k, float* y, const float* x, const float* dy, std::size_t n) {
         k.gelu_backward(y, dy, x, n);
       }},
      {"tanh", [](float* y, const float* x, const float*, std::size_t n) {
         for (std::size_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
       },
       [](const kernels::Table& k, float* y, const float* x, const float*, std::size_t n) {
         k.tanh(y, x, n);
       }},
      {"sigmoid", [](float* y, const float* x, const float*, std::size_t n) {
         for (std::size_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
       },
       [](const kernels::Table& k, float* y, const float* x, const float*, std::size_t n) {
         k.sigmoid(y, x, n);
       }},
  };
}

}  // namespace

void bench_kernels(std::ostream& out, const BenchKernelsOptions& o) {
  if (o.n == 0 || o.rounds < 1 || o.calls < 1) fail("bench kernels: --n, --rounds and --calls must be positive");
  const std::vector<const kernels::Table*> tables = kernels::runnable();
  std::vector<float> x(o.n), dy(o.n), y(o.n);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 2.0f);  // activations' typical range, both signs
  for (std::size_t i = 0; i < o.n; ++i) x[i] = normal(rng), dy[i] = normal(rng);

  out << "kernels: " << kernels::describe(kernels::active()) << " is the set this process uses"
      << " (NORMLAB_ISA picks another)\nruns here:";
  for (const kernels::Table* t : tables) out << "  " << kernels::describe(*t);
  out << "\n\nmillions of elements per second, " << o.n << " floats per tensor, median of "
      << o.rounds << " rounds of " << o.calls << " calls, 1 thread, thread CPU time\n";
  out << std::left << std::setw(16) << "function" << std::right << std::setw(12) << "libm loop";
  for (const kernels::Table* t : tables) out << std::setw(12) << t->name;
  out << std::setw(12) << "best/libm" << "\n";

  // This thread's CPU time: on a shared machine, time spent descheduled is not counted.
  auto now = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  auto time = [&](const std::function<void()>& f) {
    f();  // warm: caches, pages
    const double start = now();
    for (int c = 0; c < o.calls; ++c) f();
    return double(o.calls) * double(o.n) / (now() - start) / 1e6;
  };
  for (const Op& op : ops()) {
    std::vector<std::vector<double>> rates(tables.size() + 1);
    for (int r = 0; r < o.rounds; ++r) {
      rates[0].push_back(time([&] { op.scalar(y.data(), x.data(), dy.data(), o.n); }));
      for (std::size_t t = 0; t < tables.size(); ++t) {
        rates[t + 1].push_back(time([&] { op.kernel(*tables[t], y.data(), x.data(), dy.data(), o.n); }));
      }
    }
    out << std::left << std::setw(16) << op.name << std::right << std::fixed << std::setprecision(0);
    double best = 0;
    for (std::size_t c = 0; c < rates.size(); ++c) {
      const double m = median(rates[c]);
      if (c > 0) best = std::max(best, m);
      out << std::setw(12) << m;
    }
    out << std::setw(11) << std::setprecision(1) << best / median(rates[0]) << "x\n";
  }
  out << "\nThe kernels are xsimd's exp, erfc and tanh over the CPU's vectors (src/core/kernels.inl);\n"
         "the libm loop is std::exp/erfc/tanh per element in float, as a plain loop compiles.\n";
}

}  // namespace normlab::tools
