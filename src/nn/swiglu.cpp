#include "nn/swiglu.hpp"

#include <cmath>

#include "core/parallel.hpp"

namespace normlab::nn {

template <class T>
void swiglu_forward(T* y, const T* hg, std::size_t N, std::size_t m) {
  parallel_for(N, block_rows(2 * m), [&](std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) {
      const T *h = hg + i * 2 * m, *g = h + m;
      for (std::size_t j = 0; j < m; ++j) {
        const double gj = double(g[j]);
        y[i * m + j] = T(gj / (1 + std::exp(-gj)) * double(h[j]));
      }
    }
  });
}

template <class T>
void swiglu_backward(T* dhg, const T* dy, const T* hg, std::size_t N, std::size_t m) {
  parallel_for(N, block_rows(2 * m), [&](std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) {
      const T *h = hg + i * 2 * m, *g = h + m;
      T *dh = dhg + i * 2 * m, *dg = dh + m;
      for (std::size_t j = 0; j < m; ++j) {
        const double gj = double(g[j]), s = 1 / (1 + std::exp(-gj)), d = double(dy[i * m + j]);
        dh[j] = T(d * gj * s);
        dg[j] = T(d * double(h[j]) * s * (1 + gj * (1 - s)));
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
