// Element-wise helpers of the Transformer's step (models/transformer_lm.cpp and
// transformer_block.cpp): the residual sums, scalings and gathers between the layers' kernels.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "core/parallel.hpp"

namespace normlab::models::detail {

// v sized to n (contents unspecified: every use writes it before reading), as a pointer.
template <class T>
T* sized(std::vector<T>& v, std::size_t n) {
  v.resize(n);
  return v.data();
}

template <class T>
void add(T* y, const T* a, const T* b, std::size_t n) {  // y = a + b
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

// Element-wise work of a step in ranges across threads (core/parallel.hpp): at least this many
// elements a range, some microseconds of memory traffic for an add (the activations split
// themselves, nn/layers.cpp).
constexpr std::size_t kElementGrain = 16384;

template <class T>
void add_parallel(T* y, const T* a, const T* b, std::size_t n) {  // y = a + b
  parallel_for_elements(n, kElementGrain, [&](std::size_t first, std::size_t last) {
    add(y + first, a + first, b + first, last - first);
  });
}

template <class T>
void axpy_parallel(T* y, T alpha, const T* a, const T* b, std::size_t n) {  // y = alpha a + b
  parallel_for_elements(n, kElementGrain, [&](std::size_t first, std::size_t last) {
#pragma omp simd
    for (std::size_t i = first; i < last; ++i) y[i] = alpha * a[i] + b[i];
  });
}

template <class T>
void scale_parallel(T* y, T alpha, std::size_t n) {  // y *= alpha
  parallel_for_elements(n, kElementGrain, [&](std::size_t first, std::size_t last) {
#pragma omp simd
    for (std::size_t i = first; i < last; ++i) y[i] *= alpha;
  });
}

// dst (N, D) contiguous <- the D columns of src (N, stride) from column `first`, and back.
template <class T>
void gather_columns(T* dst, const T* src, std::size_t N, std::size_t D, std::size_t stride,
                    std::size_t first) {
  for (std::size_t i = 0; i < N; ++i) std::copy_n(src + i * stride + first, D, dst + i * D);
}
template <class T>
void scatter_columns(T* dst, const T* src, std::size_t N, std::size_t D, std::size_t stride,
                     std::size_t first) {
  for (std::size_t i = 0; i < N; ++i) std::copy_n(src + i * D, D, dst + i * stride + first);
}

}  // namespace normlab::models::detail
