#include "nn/swiglu.hpp"

#include <cmath>
#include <type_traits>

#include "core/kernels.hpp"
#include "core/parallel.hpp"

namespace normlab::nn {

namespace {

// s[0..m) = sigmoid(g[0..m)): in float the kernels' vectorized sigmoid (core/kernels.hpp, 1-2
// ulp), in double std::exp.
template <class T>
void sigmoid_row(T* s, const T* g, std::size_t m) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::active().sigmoid(s, g, m);
  } else {
    for (std::size_t j = 0; j < m; ++j) s[j] = 1 / (1 + std::exp(-g[j]));
  }
}

}  // namespace

template <class T>
void swiglu_forward(T* y, const T* hg, std::size_t N, std::size_t m) {
  parallel_for(N, block_rows(2 * m), [&](std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) {
      const T *h = hg + i * 2 * m, *g = h + m;
      T* out = y + i * m;
      sigmoid_row(out, g, m);
#pragma omp simd
      for (std::size_t j = 0; j < m; ++j) out[j] = g[j] * out[j] * h[j];
    }
  });
}

template <class T>
void swiglu_backward(T* dhg, const T* dy, const T* hg, std::size_t N, std::size_t m) {
  parallel_for(N, block_rows(2 * m), [&](std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) {
      const T *h = hg + i * 2 * m, *g = h + m, *d = dy + i * m;
      T *dh = dhg + i * 2 * m, *dg = dh + m;
      sigmoid_row(dg, g, m);  // s, overwritten by dg below
#pragma omp simd
      for (std::size_t j = 0; j < m; ++j) {
        const T s = dg[j];
        dh[j] = d[j] * g[j] * s;
        dg[j] = d[j] * h[j] * s * (T(1) + g[j] * (T(1) - s));
      }
    }
  });
}

template void swiglu_forward<float>(float*, const float*, std::size_t, std::size_t);
template void swiglu_forward<double>(double*, const double*, std::size_t, std::size_t);
template void swiglu_backward<float>(float*, const float*, const float*, std::size_t, std::size_t);
template void swiglu_backward<double>(double*, const double*, const double*, std::size_t,
                                      std::size_t);

}  // namespace normlab::nn
