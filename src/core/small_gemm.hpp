// GEMM for few rows against a right-hand matrix reused many times: the GRU's recurrent products
// h_{t-1} W_hh^T (B = 32 rows) and dh_{t-1} += d(W_hh h) W_hh, once per time step.
//
// OpenBLAS packs both operands into its blocked layout on every call; for 32 rows against a
// 768 x 256 weight that packing is about a third of the call, repeated for each of the 64 time
// steps with the same weight. Here the right-hand operand is packed once (Panels, per forward or
// backward) and every call after that only computes.
//
// float goes through the register-blocked kernel of the CPU's kernel set (core/kernels.hpp,
// Table::gemm_panel: 6 rows x 64 columns of C in 24 zmm registers with AVX-512, 6 x 16 in 12
// ymm with AVX2), one multiply-add per k in order of k (deterministic). double uses a plain loop
// the compiler vectorizes. With threads() > 1 the row chunks and panels are split among the
// threads; each element is computed by one thread in the same order, so C's bits do not depend
// on the thread count (they may differ between kernel sets: FMA or not).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#include "core/kernels.hpp"

namespace normlab {

// std::allocator with 64-byte (cache-line) alignment.
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
};

// B (K, N) stored as panels of kWidth columns, each (K, kWidth) row-major and contiguous, the
// last one zero-padded: every row of a panel is one 256-byte stretch for the kernel to stream,
// aligned to 64 bytes (a zmm load that straddles two cache lines costs two).
template <class T>
class Panels {
 public:
  static constexpr std::size_t kWidth = kernels::kPanelWidth;
  // From B (K, N), row stride ldb.
  void pack(const T* B, std::size_t ldb, std::size_t K, std::size_t N);
  // From B^T (N, K), row stride ld: B = the transpose of a row-major weight W (N, K).
  void pack_transposed(const T* Bt, std::size_t ld, std::size_t K, std::size_t N);
  std::size_t rows() const { return K_; }
  std::size_t cols() const { return N_; }
  const T* panel(std::size_t p) const { return data_.data() + p * K_ * kWidth; }

 private:
  void resize(std::size_t K, std::size_t N);
  std::vector<T, CacheLineAllocator<T>> data_;
  std::size_t K_ = 0, N_ = 0;
};

// C (M, N) = A (M, K) B (K, N) [+ bias (N) on every row], or C += A B with `accumulate`; row
// strides ldc, lda.
void gemm_panels(float* C, std::size_t ldc, const float* A, std::size_t lda,
                 const Panels<float>& B, std::size_t M, bool accumulate,
                 const float* bias = nullptr);
void gemm_panels(double* C, std::size_t ldc, const double* A, std::size_t lda,
                 const Panels<double>& B, std::size_t M, bool accumulate,
                 const double* bias = nullptr);
// The same with a given kernel set's kernel instead of kernels::active()'s (tests, bench_gemm).
void gemm_panels(const kernels::Table& kernel, float* C, std::size_t ldc, const float* A,
                 std::size_t lda, const Panels<float>& B, std::size_t M, bool accumulate,
                 const float* bias = nullptr);

}  // namespace normlab
