#include "nn/layers.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <string>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "core/parallel.hpp"
#include "core/small_gemm.hpp"
#include "core/strings.hpp"

namespace normlab::nn {

// Which products of a Linear layer go through gemm_panels (the weight packed on every call) and
// which through OpenBLAS: measured with tests/bench_gemm (Zen 4 VM, one core, OpenBLAS 0.3.21's
// Cooperlake kernels at 85-97 GFLOP/s; panels including the per-call packing, relative to sgemm):
//   rows 2048, N (the product's columns) 64 or 128: Transformer proj fwd 1.06, out fwd (K 512)
//     1.13, qkv/proj/fc/head dx 1.11/1.07/1.12/1.04, GRU W_ih dx (K 768, N 64) 1.29;
//   rows 2048, N 384 or more: qkv fwd 0.92, fc fwd 0.89, out dx (N 512) 0.90, GRU W_ih fwd 0.94,
//     GRU head dx (N 256) 0.97;
//   N not a multiple of 64 (the 65-token head): 0.90-0.94, the last panel being mostly padding;
//   rows 128 (the MLP): 0.97-1.06, no gain worth the rule.
// A likely reason: OpenBLAS packs A too, a cost per element of A that its 2N flops amortize less
// at small N. The AVX2 kernel (NORMLAB_ISA=avx2 against the same AVX-512 OpenBLAS) ties at best
// (0.89-1.03) and the SSE2/NEON ones are slower, so only the AVX-512 kernel set takes these
// products; the GRU's recurrent products, packed once per sequence, take panels on every ISA
// (gru_lm.cpp). The rule before (every product of >= 512 rows) came from an Intel SkylakeX
// machine and the former 4 x 64 kernel.
constexpr std::size_t kPanelRows = 512;

template <class T>
bool linear_uses_panels(std::size_t rows, std::size_t cols) {
  return std::is_same_v<T, float> && rows >= kPanelRows && cols % Panels<T>::kWidth == 0 &&
         cols <= 2 * Panels<T>::kWidth && kernels::active().isa == kernels::Isa::avx512;
}

std::string linear_gemm_paths() {
  return cat("Linear products in float of >= ", kPanelRows, " rows and ", Panels<float>::kWidth,
             " or ", 2 * Panels<float>::kWidth, " output columns through the panel kernel ",
             kernels::active().isa == kernels::Isa::avx512 ? "(here: yes, the avx512 set)"
                                                           : "(here: no, only on the avx512 set)",
             ", every other Linear product and every weight gradient through OpenBLAS");
}

// The weight packed for gemm_panels, per thread, reused by every call (no allocation once grown).
template <class T>
Panels<T>& weight_panels() {
  thread_local Panels<T> panels;
  return panels;
}

template <class T>
void linear_forward(T* y, const T* x, const T* W, const T* b, std::size_t B, std::size_t in,
                    std::size_t out) {
  if (linear_uses_panels<T>(B, out)) {
    // W^T packed once per call (1-3% of the product at the Transformer's shapes; not worth
    // keeping across the step, and the backward packs W, not W^T, a layout of its own), then
    // y = x W^T + b with the bias added in the kernel.
    Panels<T>& Wt = weight_panels<T>();
    Wt.pack_transposed(W, in, in, out);
    gemm_panels(y, out, x, in, Wt, B, false, b);
    return;
  }
  if (b) {
    for (std::size_t i = 0; i < B; ++i) std::copy(b, b + out, y + i * out);
  }
  gemm(Trans::no, Trans::yes, B, out, in, T(1), x, in, W, in, b ? T(1) : T(0), y, out);
}

template <class T>
void linear_backward(T* dx, T* dW, T* db, const T* dy, const T* x, const T* W, std::size_t B,
                     std::size_t in, std::size_t out) {
  if (dx) {
    if (linear_uses_panels<T>(B, in)) {
      Panels<T>& Wp = weight_panels<T>();
      Wp.pack(W, in, out, in);  // dx (B, in) = dy (B, out) W (out, in)
      gemm_panels(dx, in, dy, out, Wp, B, false);
    } else {
      gemm(Trans::no, Trans::no, B, in, out, T(1), dy, out, W, in, T(0), dx, in);
    }
  }
  // dW (out, in) += dy^T x stays with OpenBLAS: panels would first transpose dy and pack x, and
  // that copying (bench_gemm wgrad: kernel 107-109 GFLOP/s, 32-62 with a plain transpose) loses
  // to sgemm's 88-92.
  gemm(Trans::yes, Trans::no, out, in, B, T(1), dy, out, x, in, T(1), dW, in);
  if (db) add_column_sums(db, dy, B, out);
}

template <class T>
void add_column_sums(T* db, const T* dy, std::size_t rows, std::size_t n) {
  for (std::size_t i = 0; i < rows; ++i) {
    const T* row = dy + i * n;
#pragma omp simd
    for (std::size_t j = 0; j < n; ++j) db[j] += row[j];
  }
}

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::relu;
  if (name == "gelu") return Activation::gelu;
  if (name == "tanh") return Activation::tanh;
  if (name == "sigmoid") return Activation::sigmoid;
  fail("model.activation: unknown activation '", name, "'; valid: relu, gelu, tanh, sigmoid",
       name == "swiglu" ? " (swiglu is the Transformer's MLP only)"
                        : did_you_mean(name, {"relu", "gelu", "tanh", "sigmoid"}));
}

const char* to_string(Activation a) {
  switch (a) {
    case Activation::relu: return "relu";
    case Activation::gelu: return "gelu";
    case Activation::tanh: return "tanh";
    case Activation::sigmoid: return "sigmoid";
  }
  return "?";
}

namespace {
// GELU as torch.nn.GELU() (approximate='none'): x * Phi(x), Phi the standard normal CDF.
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// The float nonlinearities run through the per-ISA kernels (core/kernels.hpp: xsimd's exp, erfc
// and tanh, vectorized on whatever CPU the binary lands on). The double paths keep libm's
// functions, which the tests check against exactly.

// y = a(x) over one range of elements.
template <class T>
void forward_range(T* y, const T* x, std::size_t n, Activation a) {
  if constexpr (std::is_same_v<T, float>) {
    const kernels::Table& k = kernels::active();
    switch (a) {
      case Activation::relu: break;
      case Activation::gelu: k.gelu_forward(y, x, n); return;
      case Activation::tanh: k.tanh(y, x, n); return;
      case Activation::sigmoid: k.sigmoid(y, x, n); return;
    }
  }
  switch (a) {
    case Activation::relu:
      for (std::size_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
      break;
    case Activation::gelu:
      for (std::size_t i = 0; i < n; ++i)
        y[i] = T(double(x[i]) * 0.5 * (1 + std::erf(double(x[i]) * kInvSqrt2)));
      break;
    case Activation::tanh:
      for (std::size_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      break;
    case Activation::sigmoid:
      for (std::size_t i = 0; i < n; ++i) y[i] = T(1 / (1 + std::exp(-double(x[i]))));
      break;
  }
}

// dx = dy a'(x) over one range of elements (y = a(x), read by tanh and sigmoid only).
template <class T>
void backward_range(T* dx, const T* dy, const T* x, const T* y, std::size_t n, Activation a) {
  switch (a) {
    case Activation::relu:
      for (std::size_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : T(0);
      break;
    case Activation::gelu:
      if constexpr (std::is_same_v<T, float>) {
        kernels::active().gelu_backward(dx, dy, x, n);
      } else {
        for (std::size_t i = 0; i < n; ++i) {
          double v = x[i];
          double cdf = 0.5 * (1 + std::erf(v * kInvSqrt2));
          double pdf = kInvSqrt2Pi * std::exp(-0.5 * v * v);
          dx[i] = T(double(dy[i]) * (cdf + v * pdf));
        }
      }
      break;
    case Activation::tanh:
#pragma omp simd
      for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
      break;
    case Activation::sigmoid:
#pragma omp simd
      for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
      break;
  }
}

// Element-wise, so split across the run's threads in ranges of at least kGrain elements with no
// bit changed (core/parallel.hpp parallel_for_elements; the kernels' tails are padded vectors).
constexpr std::size_t kGrain = 8192;
}  // namespace

template <class T>
void activation_forward(T* y, const T* x, std::size_t n, Activation a) {
  parallel_for_elements(n, kGrain, [&](std::size_t first, std::size_t last) {
    forward_range(y + first, x + first, last - first, a);
  });
}

template <class T>
void activation_backward(T* dx, const T* dy, const T* x, const T* y, std::size_t n, Activation a) {
  parallel_for_elements(n, kGrain, [&](std::size_t first, std::size_t last) {
    backward_range(dx + first, dy + first, x + first, y ? y + first : nullptr, last - first, a);
  });
}

std::size_t scored_targets(const std::int32_t* targets, std::size_t n) {
  return std::size_t(std::count_if(targets, targets + n, [](std::int32_t t) { return t != kIgnore; }));
}

// The loss of each block of rows (block_rows), summed over the blocks in order: the same bits on
// any thread count. On the calling thread, grown once.
namespace {
std::span<double> block_losses(std::size_t blocks) {
  thread_local std::vector<double> losses;
  if (losses.size() < blocks) losses.resize(blocks);
  return {losses.data(), blocks};
}
}  // namespace

template <class T>
double cross_entropy_forward(T* probs, const T* logits, const std::int32_t* targets, std::size_t B,
                             std::size_t V) {
  const std::size_t rows = block_rows(V), blocks = (B + rows - 1) / rows;
  const std::span<double> losses = block_losses(blocks);
  parallel_for(blocks, 1, [&](std::size_t first, std::size_t last) {
    for (std::size_t block = first; block < last; ++block) {
      double total = 0;
      for (std::size_t i = block * rows; i < std::min(B, (block + 1) * rows); ++i) {
        const T* z = logits + i * V;
        T* p = probs + i * V;
        if (targets[i] != kIgnore && (targets[i] < 0 || std::size_t(targets[i]) >= V)) {
          fail("cross entropy: target ", targets[i], " at row ", i, " is outside [0, ", V, ")");
        }
        double max = double(*std::max_element(z, z + V));  // subtract the max: no exp overflows
        double sum = 0;
        for (std::size_t j = 0; j < V; ++j) sum += std::exp(double(z[j]) - max);
        double log_sum = std::log(sum);
        for (std::size_t j = 0; j < V; ++j) p[j] = T(std::exp(double(z[j]) - max - log_sum));
        if (targets[i] != kIgnore) total += log_sum + max - double(z[targets[i]]);
      }
      losses[block] = total;
    }
  });
  double total = 0;
  for (double loss : losses) total += loss;
  const std::size_t n = scored_targets(targets, B);
  return n ? total / double(n) : 0.0;
}

template <class T>
void cross_entropy_backward(T* dlogits, const T* probs, const std::int32_t* targets,
                            std::size_t B, std::size_t V, double scale) {
  const std::size_t n = scored_targets(targets, B);
  const double s = n ? scale / double(n) : 0.0;
  parallel_for(B, block_rows(V), [&](std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) {
      const double si = targets[i] == kIgnore ? 0.0 : s;
      for (std::size_t j = 0; j < V; ++j) dlogits[i * V + j] = T(si * double(probs[i * V + j]));
      if (targets[i] != kIgnore) dlogits[i * V + targets[i]] -= T(s);
    }
  });
}

template <class T>
void embedding_forward(T* y, const std::int32_t* tokens, const T* E, std::size_t N, std::size_t V,
                       std::size_t D) {
  parallel_for(N, block_rows(D), [&](std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) {
      if (tokens[i] < 0 || std::size_t(tokens[i]) >= V) {
        fail("embedding: token ", tokens[i], " at position ", i,
             " is outside the vocabulary [0, ", V, ")");
      }
      std::copy(E + std::size_t(tokens[i]) * D, E + (std::size_t(tokens[i]) + 1) * D, y + i * D);
    }
  });
}

template <class T>
void embedding_backward(T* dE, const T* dy, const std::int32_t* tokens, std::size_t N,
                        std::size_t D) {
  // Rows of one token add into the same row of dE: the threads split the columns instead, each
  // adding every row in order, so every dE entry gets the sum it gets on one thread.
  const std::size_t grain = std::max<std::size_t>(1, 8192 / std::max<std::size_t>(N, 1));
  parallel_for(D, grain, [&](std::size_t first, std::size_t last) {
    for (std::size_t i = 0; i < N; ++i) {
      T* row = dE + std::size_t(tokens[i]) * D;
      for (std::size_t j = first; j < last; ++j) row[j] += dy[i * D + j];
    }
  });
}

template <class T>
void dropout_mask(std::vector<T>& mask, std::size_t n, double p, Rng& rng) {
  if (!(p >= 0 && p < 1)) fail("dropout: p must be in [0, 1), got ", p);
  mask.resize(n);
  std::bernoulli_distribution keep(1 - p);
  const T scale = T(1 / (1 - p));
  for (std::size_t i = 0; i < n; ++i) mask[i] = keep(rng) ? scale : T(0);
}

template <class T>
void dropout_forward(T* y, std::vector<T>& mask, const T* x, std::size_t n, double p, Rng& rng) {
  dropout_mask(mask, n, p, rng);
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * mask[i];
}

template <class T>
void dropout_backward(T* dx, const T* dy, const std::vector<T>& mask, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * mask[i];
}

template <class T>
double lm_loss_forward(T* probs, std::vector<double>& log_z, T* logits, const std::int32_t* targets,
                       std::size_t B, std::size_t V, LossOptions o) {
  const std::size_t n = B * V;
  if (o.softcap > 0) {
    parallel_for_elements(n, kGrain, [&](std::size_t first, std::size_t last) {
      for (std::size_t i = first; i < last; ++i) {
        logits[i] = T(o.softcap * std::tanh(double(logits[i]) / o.softcap));
      }
    });
  }
  const double loss = cross_entropy_forward(probs, logits, targets, B, V);
  log_z.clear();
  if (o.z_loss > 0) {  // log Z = max + log sum exp(z - max), in double
    log_z.resize(B);
    parallel_for(B, block_rows(V), [&](std::size_t first, std::size_t last) {
      for (std::size_t i = first; i < last; ++i) {
        const T* z = logits + i * V;
        const double max = double(*std::max_element(z, z + V));
        double sum = 0;
        for (std::size_t j = 0; j < V; ++j) sum += std::exp(double(z[j]) - max);
        log_z[i] = max + std::log(sum);
      }
    });
  }
  return loss;
}

double z_loss_value(const std::vector<double>& log_z, const std::int32_t* targets, std::size_t B) {
  const std::size_t n = scored_targets(targets, B);
  double sum = 0;
  for (std::size_t i = 0; i < log_z.size(); ++i) {
    if (targets[i] != kIgnore) sum += log_z[i] * log_z[i];
  }
  return n ? sum / double(n) : 0.0;
}

template <class T>
void lm_loss_backward(T* dlogits, const T* probs, const std::vector<double>& log_z,
                      const T* logits, const std::int32_t* targets, std::size_t B, std::size_t V,
                      LossOptions o) {
  cross_entropy_backward(dlogits, probs, targets, B, V);
  const std::size_t scored = scored_targets(targets, B);
  if (o.z_loss > 0 && scored > 0) {  // d (log Z)^2 / dz_j = 2 log Z p_j
    const double s = 2 * o.z_loss / double(scored);
    parallel_for(B, block_rows(V), [&](std::size_t first, std::size_t last) {
      for (std::size_t i = first; i < last; ++i) {
        if (targets[i] == kIgnore) continue;
        const double si = s * log_z[i];
        for (std::size_t j = 0; j < V; ++j) {
          dlogits[i * V + j] = T(double(dlogits[i * V + j]) + si * double(probs[i * V + j]));
        }
      }
    });
  }
  if (o.softcap > 0) {  // d c tanh(x / c) / dx = 1 - tanh^2 = 1 - (y / c)^2
    parallel_for_elements(B * V, kGrain, [&](std::size_t first, std::size_t last) {
      for (std::size_t i = first; i < last; ++i) {
        const double t = double(logits[i]) / o.softcap;
        dlogits[i] = T(double(dlogits[i]) * (1 - t * t));
      }
    });
  }
}

#define NORMLAB_INSTANTIATE(T)                                                                  \
  template void linear_forward<T>(T*, const T*, const T*, const T*, std::size_t, std::size_t,   \
                                  std::size_t);                                                 \
  template void linear_backward<T>(T*, T*, T*, const T*, const T*, const T*, std::size_t,       \
                                   std::size_t, std::size_t);                                   \
  template void add_column_sums<T>(T*, const T*, std::size_t, std::size_t);                     \
  template void activation_forward<T>(T*, const T*, std::size_t, Activation);                   \
  template void activation_backward<T>(T*, const T*, const T*, const T*, std::size_t,           \
                                       Activation);                                             \
  template double cross_entropy_forward<T>(T*, const T*, const std::int32_t*, std::size_t,      \
                                           std::size_t);                                        \
  template void cross_entropy_backward<T>(T*, const T*, const std::int32_t*, std::size_t,       \
                                          std::size_t, double);                                 \
  template void embedding_forward<T>(T*, const std::int32_t*, const T*, std::size_t,            \
                                     std::size_t, std::size_t);                                 \
  template void embedding_backward<T>(T*, const T*, const std::int32_t*, std::size_t,           \
                                      std::size_t);                                             \
  template void dropout_forward<T>(T*, std::vector<T>&, const T*, std::size_t, double, Rng&);   \
  template void dropout_mask<T>(std::vector<T>&, std::size_t, double, Rng&);                    \
  template double lm_loss_forward<T>(T*, std::vector<double>&, T*, const std::int32_t*,         \
                                     std::size_t, std::size_t, LossOptions);                    \
  template void lm_loss_backward<T>(T*, const T*, const std::vector<double>&, const T*,         \
                                    const std::int32_t*, std::size_t, std::size_t, LossOptions); \
  template void dropout_backward<T>(T*, const T*, const std::vector<T>&, std::size_t);
NORMLAB_INSTANTIATE(float)
NORMLAB_INSTANTIATE(double)
#undef NORMLAB_INSTANTIATE

}  // namespace normlab::nn
