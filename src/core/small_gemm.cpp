#include "core/small_gemm.hpp"

#include <algorithm>

#include "core/parallel.hpp"

namespace normlab {

template <class T>
void Panels<T>::resize(std::size_t K, std::size_t N) {
  K_ = K;
  N_ = N;
  data_.resize((N + kWidth - 1) / kWidth * kWidth * K);  // kept once grown: no allocation
  // pack() and pack_transposed() write every column below N; only the last panel's padding is
  // zeroed here (the kernel reads it, and its products are never stored).
  if (const std::size_t used = N % kWidth; used != 0) {
    T* last = data_.data() + N / kWidth * kWidth * K;
    for (std::size_t k = 0; k < K; ++k) {
      std::fill(last + k * kWidth + used, last + (k + 1) * kWidth, T(0));
    }
  }
}

template <class T>
void Panels<T>::pack(const T* B, std::size_t ldb, std::size_t K, std::size_t N) {
  resize(K, N);
  for (std::size_t j0 = 0; j0 < N; j0 += kWidth) {
    T* p = data_.data() + j0 * K;
    const std::size_t w = std::min(kWidth, N - j0);
    for (std::size_t k = 0; k < K; ++k) std::copy_n(B + k * ldb + j0, w, p + k * kWidth);
  }
}

template <class T>
void Panels<T>::pack_transposed(const T* Bt, std::size_t ld, std::size_t K, std::size_t N) {
  resize(K, N);
  // In 16 x 16 tiles: each reads 16 rows of B^T and writes 16 panel rows, both within a few
  // cache lines (one element at a time down the columns missed the cache on every write).
  constexpr std::size_t kTile = 16;
  for (std::size_t j0 = 0; j0 < N; j0 += kTile) {
    for (std::size_t k0 = 0; k0 < K; k0 += kTile) {
      const std::size_t j1 = std::min(N, j0 + kTile), k1 = std::min(K, k0 + kTile);
      for (std::size_t j = j0; j < j1; ++j) {
        T* p = data_.data() + j / kWidth * kWidth * K + j % kWidth;
        const T* row = Bt + j * ld;  // column j of B
        for (std::size_t k = k0; k < k1; ++k) p[k * kWidth] = row[k];
      }
    }
  }
}

namespace {

constexpr std::size_t kWidth = Panels<float>::kWidth;

// One row of C against one panel, for double: c[0..cols) (=|+=) a[0..K) * P (K, kWidth)
// [+ bias[0..cols)].
template <class T>
void row_panel(T* c, const T* a, const T* P, std::size_t K, std::size_t cols, bool accumulate,
               const T* bias) {
  T acc[kWidth] = {};
  for (std::size_t k = 0; k < K; ++k) {
    const T ak = a[k];
    const T* b = P + k * kWidth;
#pragma omp simd
    for (std::size_t j = 0; j < kWidth; ++j) acc[j] += ak * b[j];
  }
  for (std::size_t j = 0; j < cols; ++j) {
    const T sum = bias ? acc[j] + bias[j] : acc[j];
    c[j] = accumulate ? c[j] + sum : sum;
  }
}

// Blocking: a (kDepth, 64) slice of a panel (64 KiB in float; the AVX2 kernel's 16-column strip
// of it, 16 KiB, in L1) stays in L2 while a chunk of A's rows passes over it, and the chunk of A
// (kChunk rows, at most 512 KiB for K = 512) stays in L2 while the panels pass. C accumulates
// across the slices, the first adding the bias. Depth 256 rather than 128 (half the passes over
// C): 2048 x 512 x 128 forward 96-100 GFLOP/s against 86-96, the AVX2 kernel no worse.
constexpr std::size_t kDepth = 256, kChunk = 256;

// C's rows [i0, i1) x panel p: every k-slice in order.
template <class T, class RowsFn>
void chunk_panel(T* C, std::size_t ldc, const T* A, std::size_t lda, const Panels<T>& B,
                 std::size_t i0, std::size_t i1, std::size_t p, bool accumulate, const T* bias,
                 RowsFn rows_fn) {
  const std::size_t K = B.rows(), j0 = p * kWidth, cols = std::min(kWidth, B.cols() - j0);
  for (std::size_t k0 = 0; k0 < K || k0 == 0; k0 += kDepth) {
    const std::size_t depth = std::min(kDepth, K - k0);
    rows_fn(C + i0 * ldc + j0, A + i0 * lda + k0, B.panel(p) + k0 * kWidth, depth, i1 - i0,
            cols, accumulate || k0 > 0, bias && k0 == 0 ? bias + j0 : nullptr);
  }
}

// Splits C into (row chunk, panel) tasks, chunk-major, among threads(): each task is computed
// whole by one thread, in the same order of k whatever the split.
template <class T, class RowsFn>
void gemm_tasks(T* C, std::size_t ldc, const T* A, std::size_t lda, const Panels<T>& B,
                std::size_t M, bool accumulate, const T* bias, RowsFn rows_fn) {
  const std::size_t panels = (B.cols() + kWidth - 1) / kWidth, chunks = (M + kChunk - 1) / kChunk;
  // Fewer than ~64k multiply-adds are not worth waking a thread for (the GRU's task, 32 rows x
  // 256 deep x 64 columns, is 512k; a test's 8 x 16 x 16 product is not).
  const std::size_t task_macs = std::min(M, kChunk) * std::max<std::size_t>(B.rows(), 1) * kWidth;
  const std::size_t grain = std::max<std::size_t>(1, (std::size_t(1) << 16) / task_macs);
  parallel_for(chunks * panels, grain, [&](std::size_t begin, std::size_t end) {
    for (std::size_t t = begin; t < end; ++t) {
      const std::size_t i0 = t / panels * kChunk, p = t % panels;
      chunk_panel(C, ldc, A, lda, B, i0, std::min(M, i0 + kChunk), p, accumulate, bias, rows_fn);
    }
  });
}

}  // namespace

void gemm_panels(const kernels::Table& kernel, float* C, std::size_t ldc, const float* A,
                 std::size_t lda, const Panels<float>& B, std::size_t M, bool accumulate,
                 const float* bias) {
  if (M == 0 || B.cols() == 0) return;
  const auto fn = kernel.gemm_panel;
  gemm_tasks(C, ldc, A, lda, B, M, accumulate, bias,
             [ldc, lda, fn](float* c, const float* a, const float* P, std::size_t depth,
                            std::size_t rows, std::size_t cols, bool add, const float* b) {
               fn(c, ldc, a, lda, P, depth, rows, cols, add, b);
             });
}

void gemm_panels(float* C, std::size_t ldc, const float* A, std::size_t lda,
                 const Panels<float>& B, std::size_t M, bool accumulate, const float* bias) {
  gemm_panels(kernels::active(), C, ldc, A, lda, B, M, accumulate, bias);
}

void gemm_panels(double* C, std::size_t ldc, const double* A, std::size_t lda,
                 const Panels<double>& B, std::size_t M, bool accumulate, const double* bias) {
  if (M == 0 || B.cols() == 0) return;
  gemm_tasks(C, ldc, A, lda, B, M, accumulate, bias,
             [ldc, lda](double* c, const double* a, const double* P, std::size_t depth,
                        std::size_t rows, std::size_t cols, bool add, const double* b) {
               for (std::size_t i = 0; i < rows; ++i) {
                 row_panel(c + i * ldc, a + i * lda, P, depth, cols, add, b);
               }
             });
}

template class Panels<float>;
template class Panels<double>;

}  // namespace normlab
