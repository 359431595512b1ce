#include "core/small_gemm.hpp"

#include <algorithm>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

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

// One row of C against one panel: c[0..cols) (=|+=) a[0..K) * P (K, kWidth) [+ bias[0..cols)].
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

#if defined(__AVX512F__)
// Four rows of C against one panel, the 16 accumulators as named variables: GCC 12 keeps an array
// of them in registers inside the k loop but also stores it to the stack on every iteration, which
// halved the rate. Stores only the first `cols` columns; adds bias[0..cols) when given.
void rows4_panel(float* C, std::size_t ldc, const float* A, std::size_t lda, const float* P,
                 std::size_t K, std::size_t cols, bool accumulate, const float* bias) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00,
         c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00,
         c32 = c00, c33 = c00;
  const float *a0 = A, *a1 = A + lda, *a2 = A + 2 * lda, *a3 = A + 3 * lda;
  for (std::size_t k = 0; k < K; ++k) {
    const float* b = P + k * kWidth;
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16),
                 b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
    __m512 a = _mm512_set1_ps(a0[k]);
    c00 = _mm512_fmadd_ps(a, b0, c00), c01 = _mm512_fmadd_ps(a, b1, c01);
    c02 = _mm512_fmadd_ps(a, b2, c02), c03 = _mm512_fmadd_ps(a, b3, c03);
    a = _mm512_set1_ps(a1[k]);
    c10 = _mm512_fmadd_ps(a, b0, c10), c11 = _mm512_fmadd_ps(a, b1, c11);
    c12 = _mm512_fmadd_ps(a, b2, c12), c13 = _mm512_fmadd_ps(a, b3, c13);
    a = _mm512_set1_ps(a2[k]);
    c20 = _mm512_fmadd_ps(a, b0, c20), c21 = _mm512_fmadd_ps(a, b1, c21);
    c22 = _mm512_fmadd_ps(a, b2, c22), c23 = _mm512_fmadd_ps(a, b3, c23);
    a = _mm512_set1_ps(a3[k]);
    c30 = _mm512_fmadd_ps(a, b0, c30), c31 = _mm512_fmadd_ps(a, b1, c31);
    c32 = _mm512_fmadd_ps(a, b2, c32), c33 = _mm512_fmadd_ps(a, b3, c33);
  }
  auto put = [&](float* out, int v, __m512 sum) {  // vector v of a row: columns 16v .. 16v+15
    const std::size_t from = std::size_t(16 * v);
    if (from >= cols) return;
    const __mmask16 m = cols - from >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (cols - from)) - 1);
    if (bias) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(m, bias + from));
    if (accumulate) sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m, out + from), sum);
    _mm512_mask_storeu_ps(out + from, m, sum);
  };
  put(C, 0, c00), put(C, 1, c01), put(C, 2, c02), put(C, 3, c03);
  put(C + ldc, 0, c10), put(C + ldc, 1, c11), put(C + ldc, 2, c12), put(C + ldc, 3, c13);
  C += 2 * ldc;
  put(C, 0, c20), put(C, 1, c21), put(C, 2, c22), put(C, 3, c23);
  put(C + ldc, 0, c30), put(C + ldc, 1, c31), put(C + ldc, 2, c32), put(C + ldc, 3, c33);
}
#endif

}  // namespace

template <class T>
void gemm_panels(T* C, std::size_t ldc, const T* A, std::size_t lda, const Panels<T>& B,
                 std::size_t M, bool accumulate, const T* bias) {
  const std::size_t K = B.rows(), N = B.cols();
  // Blocking: a (kDepth, 64) slice of a panel (32 KiB in float) stays in L1 while every block of
  // 4 rows of a chunk of A passes over it, and the chunk of A (kChunk rows, at most 512 KiB for
  // K = 512) stays in L2 while the panels pass. C accumulates across the slices.
  constexpr std::size_t kDepth = 128, kChunk = 256;
  for (std::size_t i0 = 0; i0 < M; i0 += kChunk) {
    const std::size_t i1 = std::min(M, i0 + kChunk);
    for (std::size_t j0 = 0; j0 < N; j0 += kWidth) {
      const std::size_t cols = std::min(kWidth, N - j0);
      for (std::size_t k0 = 0; k0 < K || k0 == 0; k0 += kDepth) {
        const std::size_t depth = std::min(kDepth, K - k0);
        const T* P = B.panel(j0 / kWidth) + k0 * kWidth;
        const bool add = accumulate || k0 > 0;
        const T* b = bias && k0 == 0 ? bias + j0 : nullptr;  // added once, with the first slice
        std::size_t i = i0;
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>) {
          for (; i + 4 <= i1; i += 4) {
            rows4_panel(C + i * ldc + j0, ldc, A + i * lda + k0, lda, P, depth, cols, add, b);
          }
        }
#endif
        for (; i < i1; ++i) row_panel(C + i * ldc + j0, A + i * lda + k0, P, depth, cols, add, b);
      }
    }
  }
}

template class Panels<float>;
template class Panels<double>;
template void gemm_panels(float*, std::size_t, const float*, std::size_t, const Panels<float>&,
                          std::size_t, bool, const float*);
template void gemm_panels(double*, std::size_t, const double*, std::size_t,
                          const Panels<double>&, std::size_t, bool, const double*);

}  // namespace normlab
