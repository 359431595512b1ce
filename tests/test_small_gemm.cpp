// gemm_panels (core/small_gemm.hpp) against a plain triple loop in double, over shapes that
// exercise every edge: fewer rows left than a register block (4 with AVX-512, 6 with AVX2 and
// SSE2), more rows than one 256-row chunk, a last panel narrower than 64 columns and narrower
// than a vector, K not a multiple of the 256-deep slices, K = 0 and 1, overwrite and accumulate,
// with and without a bias; float through every kernel set this CPU runs (kernels::runnable()).
// Then the same bits from 1 and 2 threads.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstring>

#include "compare.hpp"
#include "core/kernels.hpp"
#include "core/parallel.hpp"
#include "core/random.hpp"
#include "core/small_gemm.hpp"

namespace {
using namespace normlab;

// gemm_panels with the given kernel set (float) or the double loop (kernel == nullptr).
void run_panels(const kernels::Table* kernel, float* C, std::size_t ldc, const float* A,
                std::size_t lda, const Panels<float>& P, std::size_t M, bool accumulate,
                const float* bias) {
  gemm_panels(*kernel, C, ldc, A, lda, P, M, accumulate, bias);
}
void run_panels(const kernels::Table*, double* C, std::size_t ldc, const double* A,
                std::size_t lda, const Panels<double>& P, std::size_t M, bool accumulate,
                const double* bias) {
  gemm_panels(C, ldc, A, lda, P, M, accumulate, bias);
}

template <class T>
void check_shape(const kernels::Table* kernel, std::size_t M, std::size_t N, std::size_t K,
                 bool accumulate, bool transposed, bool with_bias) {
  Rng rng(M * 1000 + N * 10 + K);
  std::normal_distribution<double> normal;
  const std::size_t lda = K + 3, ldc = N + 5;  // row strides wider than the rows
  std::vector<T> A(M * lda), B(K * N), Bt(N * K), C(M * ldc), bias(N);
  for (auto& v : A) v = T(normal(rng));
  for (auto& v : bias) v = T(normal(rng));
  for (auto& v : B) v = T(normal(rng));
  for (auto& v : C) v = T(normal(rng));
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t j = 0; j < N; ++j) Bt[j * K + k] = B[k * N + j];
  std::vector<double> ref(C.begin(), C.end()), bound(C.size(), 0.0);
  for (std::size_t i = 0; i < M; ++i) {
    for (std::size_t j = 0; j < N; ++j) {
      double s = 0, abs = 0;
      for (std::size_t k = 0; k < K; ++k) {
        s += double(A[i * lda + k]) * double(B[k * N + j]);
        abs += std::fabs(double(A[i * lda + k]) * double(B[k * N + j]));
      }
      if (with_bias) s += double(bias[j]), abs += std::fabs(double(bias[j]));
      ref[i * ldc + j] = accumulate ? double(C[i * ldc + j]) + s : s;
      // K + 2 roundings of the storage type on the sum of magnitudes (and the old C)
      const double u = std::is_same_v<T, float> ? 0x1p-24 : 0x1p-53;
      bound[i * ldc + j] = (double(K) + 2) * u * (abs + std::fabs(double(C[i * ldc + j])));
    }
  }
  Panels<T> P;
  if (transposed) P.pack_transposed(Bt.data(), K, K, N);
  else P.pack(B.data(), N, K, N);
  run_panels(kernel, C.data(), ldc, A.data(), lda, P, M, accumulate,
             with_bias ? bias.data() : nullptr);
  INFO((kernel ? kernel->name : "double")
       << " M " << M << " N " << N << " K " << K << " accumulate " << accumulate
       << " transposed " << transposed << " bias " << with_bias);
  NORMLAB_CHECK_CLOSE("C", C.data(), C.size(), ref.data(), ref.size(),
                      (test::Tolerance{0, 0, bound}));
}

template <class T>
void check_shapes(const kernels::Table* kernel) {
  for (std::size_t M : {1, 3, 4, 5, 7, 9, 262})
    for (std::size_t N : {1, 7, 16, 63, 64, 65, 200})
      for (std::size_t K : {0, 1, 129, 256, 257, 300})
        for (bool accumulate : {false, true})
          check_shape<T>(kernel, M, N, K, accumulate, N == 65 || N == 1, K % 2 == 1);
}

// C from gemm_panels on the current thread count, for a shape with several row chunks and
// panels (and a ragged edge in each) so that 2 threads split both.
std::vector<float> threaded_product(const kernels::Table& kernel, std::size_t M, std::size_t K,
                                    std::size_t N) {
  Rng rng(M + K + N);
  std::normal_distribution<float> normal;
  std::vector<float> A(M * K), B(K * N), bias(N), C(M * N, 1.0f);
  for (auto* v : {&A, &B, &bias}) {
    for (float& x : *v) x = normal(rng);
  }
  Panels<float> P;
  P.pack(B.data(), N, K, N);
  gemm_panels(kernel, C.data(), N, A.data(), K, P, M, true, bias.data());
  return C;
}
}  // namespace

TEST_CASE("gemm_panels equals A B for every edge of its blocking, every kernel set", "[gemm]") {
  for (const kernels::Table* kernel : kernels::runnable()) check_shapes<float>(kernel);
}

TEST_CASE("gemm_panels in double equals A B for every edge of its blocking", "[gemm]") {
  check_shapes<double>(nullptr);
}

TEST_CASE("gemm_panels gives the same bits on 1 and 2 threads", "[gemm]") {
  // set_threads caps at the CPUs this process may use: under `taskset -c 1` both runs use one
  // thread and the test shows nothing (it cannot fail either).
  struct Restore {
    int before = threads();
    ~Restore() { set_threads(before); }
  } restore;
  for (const kernels::Table* kernel : kernels::runnable()) {
    // The GRU's recurrent shape (one row chunk, 12 panels) and a Transformer-like one (3 chunks
    // of rows, the last ragged; 3 panels, the last ragged).
    for (auto [M, K, N] : {std::array<std::size_t, 3>{32, 256, 768}, {600, 129, 150}}) {
      set_threads(1);
      const std::vector<float> one = threaded_product(*kernel, M, K, N);
      set_threads(2);
      const std::vector<float> two = threaded_product(*kernel, M, K, N);
      INFO(kernel->name << " M " << M << " K " << K << " N " << N << ", threads " << threads());
      CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
    }
  }
}
