// gemm_panels (core/small_gemm.hpp) against a plain triple loop in double, over shapes that
// exercise every edge: fewer than 4 rows left, more rows than one 256-row chunk, a last panel
// narrower than 64 columns, K not a multiple of the 128-deep slices, K = 0, overwrite and
// accumulate, with and without a bias.
#include <catch2/catch.hpp>

#include <cmath>

#include "compare.hpp"
#include "core/random.hpp"
#include "core/small_gemm.hpp"

namespace {
using namespace normlab;

template <class T>
void check_shape(std::size_t M, std::size_t N, std::size_t K, bool accumulate, bool transposed,
                 bool with_bias) {
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
  gemm_panels(C.data(), ldc, A.data(), lda, P, M, accumulate, with_bias ? bias.data() : nullptr);
  INFO("M " << M << " N " << N << " K " << K << " accumulate " << accumulate << " transposed "
            << transposed << " bias " << with_bias);
  NORMLAB_CHECK_CLOSE("C", C.data(), C.size(), ref.data(), ref.size(),
                      (test::Tolerance{0, 0, bound}));
}
}  // namespace

TEMPLATE_TEST_CASE("gemm_panels equals A B for every edge of its blocking", "[gemm]", float,
                   double) {
  for (std::size_t M : {1, 3, 4, 5, 9, 262})
    for (std::size_t N : {1, 16, 63, 64, 65, 200})
      for (std::size_t K : {0, 1, 127, 128, 129, 300})
        for (bool accumulate : {false, true})
          check_shape<TestType>(M, N, K, accumulate, N == 65 || N == 1, K % 2 == 1);
}
