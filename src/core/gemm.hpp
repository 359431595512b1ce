// GEMM through CBLAS (OpenBLAS): C = alpha * op(A) * op(B) + beta * C, row-major.
// Transposes are flags to the BLAS call, never copies.
#pragma once

#include <cstddef>

namespace normlab {

enum class Trans { no, yes };

// Threads OpenBLAS may use for one call (the trainer sets it from the config's `threads`).
void set_blas_threads(int threads);

// C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C; lda/ldb/ldc are row strides as stored.
void gemm(Trans ta, Trans tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
          std::size_t ldc);
void gemm(Trans ta, Trans tb, std::size_t M, std::size_t N, std::size_t K, double alpha,
          const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta,
          double* C, std::size_t ldc);

}  // namespace normlab
