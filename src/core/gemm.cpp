#include "core/gemm.hpp"

#include <cblas.h>

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <thread>

namespace normlab {

namespace {
CBLAS_TRANSPOSE cblas_trans(Trans t) { return t == Trans::yes ? CblasTrans : CblasNoTrans; }
}  // namespace

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return std::max(1, int(std::thread::hardware_concurrency()));
}

int threads_for_address_space(double address_space) {
  if (address_space <= 0) return std::numeric_limits<int>::max();
  const double fit = (address_space - kBlasBaseAddressSpace) / kBlasThreadAddressSpace;
  return fit < 1 ? 1 : fit > 1e6 ? 1000000 : int(fit);
}

double address_space_limit() {
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) != 0 || as.rlim_cur == RLIM_INFINITY) return 0;
  return double(as.rlim_cur);
}

int capped_threads(int requested, int cap) { return std::max(1, std::min(requested, cap)); }

int set_blas_threads(int threads) {
  const int cap = std::min(usable_cpus(), threads_for_address_space(address_space_limit()));
  const int used = capped_threads(threads, cap);
  openblas_set_num_threads(used);
  return used;
}

const char* blas_core() { return openblas_get_corename(); }

const char* better_blas_core() {
  if (std::strcmp(blas_core(), "Prescott") != 0) return nullptr;  // OpenBLAS detected it
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}

void gemm(Trans ta, Trans tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
          std::size_t ldc) {
  cblas_sgemm(CblasRowMajor, cblas_trans(ta), cblas_trans(tb), int(M), int(N), int(K), alpha, A,
              int(lda), B, int(ldb), beta, C, int(ldc));
}

void gemm(Trans ta, Trans tb, std::size_t M, std::size_t N, std::size_t K, double alpha,
          const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta,
          double* C, std::size_t ldc) {
  cblas_dgemm(CblasRowMajor, cblas_trans(ta), cblas_trans(tb), int(M), int(N), int(K), alpha, A,
              int(lda), B, int(ldb), beta, C, int(ldc));
}

}  // namespace normlab
