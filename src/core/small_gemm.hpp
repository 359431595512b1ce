// GEMM for few rows against a right-hand matrix reused many times: the GRU's recurrent products
// h_{t-1} W_hh^T (B = 32 rows) and dh_{t-1} += d(W_hh h) W_hh, once per time step.
//
// OpenBLAS packs both operands into its blocked layout on every call; for 32 rows against a
// 768 x 256 weight that packing is about a third of the call, repeated for each of the 64 time
// steps with the same weight. Here the right-hand operand is packed once (Panels, per forward or
// backward) and every call after that only computes.
//
// AVX-512 builds use a register-blocked kernel: 4 rows x 64 columns of C in 16 vector registers,
// K outer products of a panel row of B with a column of A, one fused multiply-add each in order
// of k (deterministic). Other builds, and double, use a plain loop the compiler vectorizes.
#pragma once

#include <cstddef>
#include <type_traits>
#include <vector>

namespace normlab {

// B (K, N) stored as panels of kWidth columns, each (K, kWidth) row-major and contiguous, the
// last one zero-padded: every row of a panel is one 256-byte stretch for the kernel to stream.
template <class T>
class Panels {
 public:
  static constexpr std::size_t kWidth = 64;
  // From B (K, N), row stride ldb.
  void pack(const T* B, std::size_t ldb, std::size_t K, std::size_t N);
  // From B^T (N, K), row stride ld: B = the transpose of a row-major weight W (N, K).
  void pack_transposed(const T* Bt, std::size_t ld, std::size_t K, std::size_t N);
  std::size_t rows() const { return K_; }
  std::size_t cols() const { return N_; }
  const T* panel(std::size_t p) const { return data_.data() + p * K_ * kWidth; }

 private:
  void resize(std::size_t K, std::size_t N);
  std::vector<T> data_;
  std::size_t K_ = 0, N_ = 0;
};

// C (M, N) = A (M, K) B (K, N) [+ bias (N) on every row], or C += A B with `accumulate`; row
// strides ldc, lda.
template <class T>
void gemm_panels(T* C, std::size_t ldc, const T* A, std::size_t lda, const Panels<T>& B,
                 std::size_t M, bool accumulate, const T* bias = nullptr);

// Whether gemm_panels has its register-blocked kernel for T in this build (float with AVX-512);
// otherwise it is a plain vectorized loop, slower than OpenBLAS on large matrices.
template <class T>
inline constexpr bool kPanelKernel =
#if defined(__AVX512F__)
    std::is_same_v<T, float>;
#else
    false;
#endif

}  // namespace normlab
