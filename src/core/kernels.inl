// The kernels of kernels.hpp, over xsimd::batch<float, Arch>. Included once by each per-ISA
// translation unit, which defines NORMLAB_KERNEL_ARCH (an xsimd architecture) and
// NORMLAB_KERNEL_NAMESPACE (a namespace of its own) first.
//
// Only xsimd and plain loops here, no standard-library templates: an inline function instantiated
// in two units compiled for different ISAs is one symbol to the linker, which keeps either copy,
// and the AVX-512 one would then run on a CPU without it. xsimd's functions are templates over the
// architecture, so each unit's are distinct symbols.
#include <cstddef>

// GCC 12 warns falsely about _mm512_undefined_ps() inside the AVX-512 intrinsics xsimd calls
// (-Wmaybe-uninitialized, and -Wuninitialized under the sanitizers); the unit is this file's
// instantiations only. Clang does not warn there (and knows neither group as GCC spells it).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <xsimd/xsimd.hpp>

#include "core/kernels.hpp"

namespace normlab::kernels::NORMLAB_KERNEL_NAMESPACE {
namespace {

using Arch = NORMLAB_KERNEL_ARCH;
using Vec = xsimd::batch<float, Arch>;
constexpr std::size_t kLanes = Vec::size;

// Applies f (Vec -> Vec) to x[0..n) into y; the last n % kLanes elements go through a padded
// vector, so that every element's result is that of the vector path wherever it lies.
template <class F>
inline void map1(float* y, const float* x, std::size_t n, F f) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) f(Vec::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) {
    alignas(64) float buf[kLanes] = {};
    for (std::size_t j = 0; i + j < n; ++j) buf[j] = x[i + j];
    f(Vec::load_aligned(buf)).store_aligned(buf);
    for (std::size_t j = 0; i + j < n; ++j) y[i + j] = buf[j];
  }
}

// The same for two inputs.
template <class F>
inline void map2(float* y, const float* a, const float* b, std::size_t n, F f) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    f(Vec::load_unaligned(a + i), Vec::load_unaligned(b + i)).store_unaligned(y + i);
  }
  if (i < n) {
    alignas(64) float ba[kLanes] = {}, bb[kLanes] = {};
    for (std::size_t j = 0; i + j < n; ++j) ba[j] = a[i + j], bb[j] = b[i + j];
    f(Vec::load_aligned(ba), Vec::load_aligned(bb)).store_aligned(ba);
    for (std::size_t j = 0; i + j < n; ++j) y[i + j] = ba[j];
  }
}

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

// Phi(x) = erfc(-x / sqrt 2) / 2: accurate in both tails (no 1 - small cancellation below 0).
inline Vec normal_cdf(Vec x) { return Vec(0.5f) * xsimd::erfc(x * Vec(-kInvSqrt2)); }

void exp_shifted(float* y, const float* x, std::size_t n, float shift) {
  const Vec s(shift);
  map1(y, x, n, [s](Vec v) { return xsimd::exp(v - s); });
}

void gelu_forward(float* y, const float* x, std::size_t n) {
  map1(y, x, n, [](Vec v) { return v * normal_cdf(v); });
}

void gelu_backward(float* dx, const float* dy, const float* x, std::size_t n) {
  map2(dx, dy, x, n, [](Vec g, Vec v) {
    const Vec pdf = Vec(kInvSqrt2Pi) * xsimd::exp(Vec(-0.5f) * v * v);
    return g * (normal_cdf(v) + v * pdf);
  });
}

void tanh(float* y, const float* x, std::size_t n) {
  map1(y, x, n, [](Vec v) { return xsimd::tanh(v); });
}

void sigmoid(float* y, const float* x, std::size_t n) {
  // e^-x overflows to inf for x < -88.7: 1 / inf = 0, the right limit
  map1(y, x, n, [](Vec v) { return Vec(1.0f) / (Vec(1.0f) + xsimd::exp(-v)); });
}

// The panel GEMM (Table::gemm_panel). A block of R rows x V vectors of C lives in R * V registers
// through the whole k loop; each k loads V vectors of the panel row, broadcasts one element of A
// per row and does R * V multiply-adds. A panel (64 columns) is covered by strips of V vectors,
// the rows by blocks of R. R and V were chosen by measurement (tests/bench_gemm, Zen 4 VM, one
// core, GFLOP/s at the GRU's 32 x 256 x 768 / Transformer's 2048 x 512 x 128 forward):
//   32 registers of 16 lanes (AVX-512): 6 x 4, a full panel per strip (24 accumulators, 4 panel
//     vectors, 1 broadcast): 103-107 / 96-100; 4 x 4 gave 79-84 / 65-77 (16 multiply-adds per k
//     against 8 loads), 8 x 2 103 / 91-94, 12 x 2 105 / 87-100;
//   16 registers of 8 lanes (AVX2): 6 x 2 (12 accumulators + 2 + 1), strips of 16 columns:
//     93-100 / 70-91; 4 x 3 (strips of 24, 16 at a panel's end) 66-75 / 61-65;
//   16 registers of 4 lanes (SSE2, no FMA: one more register for the product): 6 x 2;
//   32 registers of 4 lanes (NEON): 6 x 4. (Neither measured here: no such machine.)
#if defined(NORMLAB_GEMM_ROWS)  // for measuring other blocks: -DNORMLAB_GEMM_ROWS=... on the unit
constexpr std::size_t kGemmRows = NORMLAB_GEMM_ROWS, kGemmVecs = NORMLAB_GEMM_VECS;
#elif defined(__AVX512F__)
constexpr std::size_t kGemmRows = 6, kGemmVecs = 4;  // also the generic unit under -march=native
#elif defined(__aarch64__)
constexpr std::size_t kGemmRows = 6, kGemmVecs = 4;
#else
constexpr std::size_t kGemmRows = 6, kGemmVecs = 2;
#endif
static_assert(kPanelWidth % kLanes == 0, "a panel row is whole vectors");

// Stores sum (+ bias) (+ C) into the first n (<= kLanes) floats of c.
inline void put(float* c, Vec sum, std::size_t n, bool accumulate, const float* bias) {
  if (n == kLanes) {
    if (bias) sum = sum + Vec::load_unaligned(bias);
    if (accumulate) sum = Vec::load_unaligned(c) + sum;
    sum.store_unaligned(c);
    return;
  }
  alignas(64) float buf[kLanes] = {}, tmp[kLanes] = {};
  if (bias) {
    for (std::size_t j = 0; j < n; ++j) tmp[j] = bias[j];
    sum = sum + Vec::load_aligned(tmp);
  }
  if (accumulate) {
    for (std::size_t j = 0; j < n; ++j) tmp[j] = c[j];
    sum = Vec::load_aligned(tmp) + sum;
  }
  sum.store_aligned(buf);
  for (std::size_t j = 0; j < n; ++j) c[j] = buf[j];
}

// R rows x V vectors of C from K rows of the panel; stores the first `cols` columns.
template <std::size_t R, std::size_t V>
inline void gemm_block(float* C, std::size_t ldc, const float* A, std::size_t lda, const float* P,
                       std::size_t K, std::size_t cols, bool accumulate, const float* bias) {
  Vec acc[R][V];
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t v = 0; v < V; ++v) acc[r][v] = Vec(0.0f);
  for (std::size_t k = 0; k < K; ++k) {
    const float* p = P + k * kPanelWidth;
    Vec b[V];
    for (std::size_t v = 0; v < V; ++v) b[v] = Vec::load_unaligned(p + v * kLanes);
    for (std::size_t r = 0; r < R; ++r) {
      const Vec a(A[r * lda + k]);
      for (std::size_t v = 0; v < V; ++v) acc[r][v] = xsimd::fma(a, b[v], acc[r][v]);
    }
  }
  for (std::size_t r = 0; r < R; ++r) {
    for (std::size_t v = 0; v < V && v * kLanes < cols; ++v) {
      const std::size_t n = cols - v * kLanes < kLanes ? cols - v * kLanes : kLanes;
      put(C + r * ldc + v * kLanes, acc[r][v], n, accumulate, bias ? bias + v * kLanes : nullptr);
    }
  }
}

// gemm_block with R = rows (1 <= rows <= kGemmRows) chosen at run time.
template <std::size_t R, std::size_t V>
inline void gemm_rows(std::size_t rows, float* C, std::size_t ldc, const float* A,
                      std::size_t lda, const float* P, std::size_t K, std::size_t cols,
                      bool accumulate, const float* bias) {
  if (rows == R) return gemm_block<R, V>(C, ldc, A, lda, P, K, cols, accumulate, bias);
  if constexpr (R > 1) gemm_rows<R - 1, V>(rows, C, ldc, A, lda, P, K, cols, accumulate, bias);
}

// ... and V = vecs (1 <= vecs <= kGemmVecs): the strip at a panel's ragged end.
template <std::size_t V>
inline void gemm_strip(std::size_t vecs, std::size_t rows, float* C, std::size_t ldc,
                       const float* A, std::size_t lda, const float* P, std::size_t K,
                       std::size_t cols, bool accumulate, const float* bias) {
  if (vecs == V) {
    return gemm_rows<kGemmRows, V>(rows, C, ldc, A, lda, P, K, cols, accumulate, bias);
  }
  if constexpr (V > 1) gemm_strip<V - 1>(vecs, rows, C, ldc, A, lda, P, K, cols, accumulate, bias);
}

void gemm_panel(float* C, std::size_t ldc, const float* A, std::size_t lda, const float* P,
                std::size_t K, std::size_t rows, std::size_t cols, bool accumulate,
                const float* bias) {
  constexpr std::size_t kStrip = kGemmVecs * kLanes;
  // Strip by strip, all rows: a narrow strip's K x kStrip slice of the panel (16 columns with
  // AVX2: 16 KiB at K 256) stays in L1 while the rows of A pass over it; AVX-512's strip is the
  // whole panel, from L2.
  for (std::size_t j = 0; j < cols; j += kStrip) {
    const std::size_t w = cols - j < kStrip ? cols - j : kStrip;
    const std::size_t vecs = (w + kLanes - 1) / kLanes;
    const float* b = bias ? bias + j : nullptr;
    // The rows in blocks of equal height, not full blocks and a short one: the GRU's 32 rows as
    // 6 6 5 5 5 5 rather than 6 6 6 6 6 2 (a 2-row block does 8 multiply-adds per 6 loads).
    const std::size_t blocks = (rows + kGemmRows - 1) / kGemmRows;
    for (std::size_t n = 0, i = 0; n < blocks; ++n) {
      const std::size_t r = rows / blocks + (n < rows % blocks ? 1 : 0);
      gemm_strip<kGemmVecs>(vecs, r, C + i * ldc + j, ldc, A + i * lda, lda, P + j, K, w,
                            accumulate, b);
      i += r;
    }
  }
}

}  // namespace

const Table* table() {
  static const Table t = [] {
    Table k;
    k.isa = NORMLAB_KERNEL_ISA;
    k.name = NORMLAB_KERNEL_ISA_NAME;
    k.detail = Arch::name();
    k.float_lanes = kLanes;
    k.exp_shifted = exp_shifted;
    k.gelu_forward = gelu_forward;
    k.gelu_backward = gelu_backward;
    k.tanh = tanh;
    k.sigmoid = sigmoid;
    k.gemm_panel = gemm_panel;
    k.gemm_rows = kGemmRows;
    k.gemm_cols = kGemmVecs * kLanes;
    return k;
  }();
  return &t;
}

}  // namespace normlab::kernels::NORMLAB_KERNEL_NAMESPACE
