// GEMM through CBLAS (OpenBLAS): C = alpha * op(A) * op(B) + beta * C, row-major.
// Transposes are flags to the BLAS call, never copies.
#pragma once

#include <cstddef>

namespace normlab {

enum class Trans { no, yes };

// Threads OpenBLAS may use for one call (the trainer sets it from the config's `threads`).
void set_blas_threads(int threads);

// The kernel family OpenBLAS chose when it loaded ("SkylakeX", "Haswell", "Prescott", ...).
const char* blas_core();
// The OPENBLAS_CORETYPE this CPU deserves when OpenBLAS chose a lesser one, else nullptr.
// OpenBLAS 0.3.21 misreads some virtual CPUs as "Prescott" and runs its generic SSE3 kernel at
// about a fifth of the AVX-512 speed; the choice is made at load time, so only the environment
// of a new process can correct it (see main.cpp).
const char* better_blas_core();

// C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C; lda/ldb/ldc are row strides as stored.
void gemm(Trans ta, Trans tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
          std::size_t ldc);
void gemm(Trans ta, Trans tb, std::size_t M, std::size_t N, std::size_t K, double alpha,
          const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta,
          double* C, std::size_t ldc);

}  // namespace normlab
