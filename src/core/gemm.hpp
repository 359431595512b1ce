// GEMM through CBLAS (OpenBLAS): C = alpha * op(A) * op(B) + beta * C, row-major.
// Transposes are flags to the BLAS call, never copies.
#pragma once

#include <cstddef>

namespace normlab {

enum class Trans { no, yes };

// The CPUs this process may run on: its affinity mask (taskset, cgroups' cpusets), else
// std::thread::hardware_concurrency(), at least 1.
int usable_cpus();
// Each OpenBLAS thread maps a buffer of about 128 MiB; under an address-space limit (ulimit -v)
// that runs out, OpenBLAS's allocator loops forever instead of failing (16 threads hang under
// `ulimit -v 2000000`, 14 do not). kBlasThreadAddressSpace is what a thread is given, and
// kBlasBaseAddressSpace what the program maps besides.
inline constexpr double kBlasThreadAddressSpace = 160.0 * 1024 * 1024;
inline constexpr double kBlasBaseAddressSpace = 256.0 * 1024 * 1024;
// The BLAS threads that fit `address_space` bytes (at least 1; `address_space` <= 0: no limit).
int threads_for_address_space(double address_space);
// The process's address-space limit (RLIMIT_AS) in bytes, 0 when there is none.
double address_space_limit();
// `requested` threads capped at `cap` (at least 1).
int capped_threads(int requested, int cap);
// Threads OpenBLAS may use for one call (the trainer sets it from the config's `threads`), capped
// at usable_cpus() (more only contend) and at threads_for_address_space(address_space_limit());
// returns the count set.
int set_blas_threads(int threads);

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
