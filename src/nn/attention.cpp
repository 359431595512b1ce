#include "nn/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/gemm.hpp"

namespace normlab::nn {

template <class T>
void attention_forward(T* out, T* probs, const T* q, const T* k, const T* v, std::size_t B,
                       std::size_t len, std::size_t heads, std::size_t hd) {
  const std::size_t d = heads * hd;
  const T scale = T(1 / std::sqrt(double(hd)));
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t h = 0; h < heads; ++h) {
      const std::size_t base = b * len * d + h * hd;  // row 0 of this head's columns
      T* P = probs + (b * heads + h) * len * len;
      gemm(Trans::no, Trans::yes, len, len, hd, scale, q + base, d, k + base, d, T(0), P, len);
      for (std::size_t i = 0; i < len; ++i) {  // causal softmax of row i over j <= i
        T* row = P + i * len;
        const double max = double(*std::max_element(row, row + i + 1));
        double sum = 0;
        for (std::size_t j = 0; j <= i; ++j) sum += std::exp(double(row[j]) - max);
        for (std::size_t j = 0; j <= i; ++j) row[j] = T(std::exp(double(row[j]) - max) / sum);
        std::fill(row + i + 1, row + len, T(0));
      }
      gemm(Trans::no, Trans::no, len, hd, len, T(1), P, len, v + base, d, T(0), out + base, d);
    }
  }
}

template <class T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* probs, const T* q,
                        const T* k, const T* v, std::size_t B, std::size_t len, std::size_t heads,
                        std::size_t hd, T* work) {
  const std::size_t d = heads * hd;
  const T scale = T(1 / std::sqrt(double(hd)));
  std::vector<T> own;
  if (!work) own.resize(len * len);
  T* dS = work ? work : own.data();  // (len, len), every entry written before it is read
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t h = 0; h < heads; ++h) {
      const std::size_t base = b * len * d + h * hd;
      const T* P = probs + (b * heads + h) * len * len;
      // dP = dO V^T, then dV = P^T dO
      gemm(Trans::no, Trans::yes, len, len, hd, T(1), dout + base, d, v + base, d, T(0), dS, len);
      gemm(Trans::yes, Trans::no, len, hd, len, T(1), P, len, dout + base, d, T(0), dv + base, d);
      for (std::size_t i = 0; i < len; ++i) {
        T* row = dS + i * len;
        const T* p = P + i * len;
        double dot = 0;
        for (std::size_t j = 0; j <= i; ++j) dot += double(p[j]) * double(row[j]);
        for (std::size_t j = 0; j <= i; ++j) row[j] = T(double(p[j]) * (double(row[j]) - dot));
        std::fill(row + i + 1, row + len, T(0));
      }
      gemm(Trans::no, Trans::no, len, hd, len, scale, dS, len, k + base, d, T(0), dq + base, d);
      gemm(Trans::yes, Trans::no, len, hd, len, scale, dS, len, q + base, d, T(0), dk + base, d);
    }
  }
}

template void attention_forward<float>(float*, float*, const float*, const float*, const float*,
                                       std::size_t, std::size_t, std::size_t, std::size_t);
template void attention_forward<double>(double*, double*, const double*, const double*,
                                        const double*, std::size_t, std::size_t, std::size_t,
                                        std::size_t);
template void attention_backward<float>(float*, float*, float*, const float*, const float*,
                                        const float*, const float*, const float*, std::size_t,
                                        std::size_t, std::size_t, std::size_t, float*);
template void attention_backward<double>(double*, double*, double*, const double*, const double*,
                                         const double*, const double*, const double*, std::size_t,
                                         std::size_t, std::size_t, std::size_t, double*);

}  // namespace normlab::nn
