// Kernels compiled once per instruction set and chosen when the program starts (runtime
// dispatch): one portable binary (NORMLAB_NATIVE=OFF, e.g. -march=x86-64-v3) runs the AVX-512
// path on a CPU that has it and the AVX2 path elsewhere.
//
// Each kernel is written once, over xsimd's batch types (kernels.inl), and compiled in three
// translation units: kernels_avx512.cpp (-mavx512f/bw/dq/vl), kernels_avx2.cpp (-mavx2 -mfma) and
// kernels_generic.cpp (the build's own target: SSE2 on x86-64, NEON on AArch64). The first two
// exist only on x86-64. active() picks the widest the CPU and OS support; the environment variable
// NORMLAB_ISA (generic | avx2 | avx512) picks a lesser one, to compare paths on one machine or to
// reproduce another machine's bits.
//
// Determinism: a kernel's result for an element does not depend on where in the array the element
// is or on how a caller splits the array (the tail is computed as a full vector, padded), so a
// split across threads changes no bit. Different sets may differ in the last bits: the generic
// set of an x86-64-v1/v2 build has no FMA, so its polynomials and GEMM sums round twice where the
// others round once (run files record the set, README "Speed on other CPUs").
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace normlab::kernels {

// Columns in one panel of the panel GEMM's packed right-hand operand (core/small_gemm.hpp): a
// panel row is 256 bytes, four cache lines, whatever the vector width.
inline constexpr std::size_t kPanelWidth = 64;

enum class Isa { generic, avx2, avx512 };

struct Table {
  Isa isa = Isa::generic;
  const char* name = "";       // "avx512", "avx2", "generic"
  const char* detail = "";     // the xsimd architecture, e.g. "avx512bw", "fma3<avx2>", "sse2"
  std::size_t float_lanes = 1;  // floats per vector register

  // Element-wise float math over n elements; y may equal x (in place).
  // y = e^(x - shift), shift a constant (the softmax's max): xsimd::exp, within 1-2 ulp.
  void (*exp_shifted)(float* y, const float* x, std::size_t n, float shift) = nullptr;
  // GELU as torch.nn.GELU() (approximate='none'): y = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2.
  void (*gelu_forward)(float* y, const float* x, std::size_t n) = nullptr;
  // dx = dy (Phi(x) + x phi(x)), phi the standard normal density.
  void (*gelu_backward)(float* dx, const float* dy, const float* x, std::size_t n) = nullptr;
  void (*tanh)(float* y, const float* x, std::size_t n) = nullptr;
  // y = 1 / (1 + e^-x)
  void (*sigmoid)(float* y, const float* x, std::size_t n) = nullptr;

  // The panel GEMM's register-blocked kernel: C (rows, cols) = A (rows, K) P (K, cols)
  // [+ bias (cols)] [+ C when `accumulate`], P a slice of one packed panel (row stride
  // kPanelWidth, cols <= kPanelWidth; the columns from cols up to the vector width are read and
  // never stored). Row strides ldc, lda. Each element is sum_k a_ik p_kj in order of k, one
  // multiply-add per k from zero, then + bias, then C + that: its bits do not depend on `rows`
  // or on where the element lies in the block, so any split of the rows or panels among threads
  // gives the same C.
  void (*gemm_panel)(float* C, std::size_t ldc, const float* A, std::size_t lda, const float* P,
                     std::size_t K, std::size_t rows, std::size_t cols, bool accumulate,
                     const float* bias) = nullptr;
  // The kernel's register block, rows x columns of C (for bench_gemm and describe()).
  std::size_t gemm_rows = 0, gemm_cols = 0;
};

// The table this process uses: the widest ISA compiled in and supported by the CPU, or the one
// NORMLAB_ISA names (a name this CPU cannot run, or an unknown name, is an error at first use).
const Table& active();
// Every table compiled in that this CPU can run, narrowest first (tests compare them).
std::vector<const Table*> runnable();
// "avx512 (avx512bw, 16 float lanes)": for bench and run files.
std::string describe(const Table& t);

// Defined in the per-ISA translation units; nullptr from a unit not compiled for this target.
const Table* generic_table();
const Table* avx2_table();
const Table* avx512_table();

}  // namespace normlab::kernels
