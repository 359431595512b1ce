#include "nn/attention.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "core/parallel.hpp"

namespace normlab::nn {

namespace {

// row[0..n) <- softmax(row[0..n)): the max subtracted first, so no exp overflows.
template <class T>
void softmax_row(T* row, std::size_t n) {
  T max = row[0];
#pragma omp simd reduction(max : max)
  for (std::size_t j = 0; j < n; ++j) max = row[j] > max ? row[j] : max;
  double sum = 0;
  if constexpr (std::is_same_v<T, float>) {
    kernels::active().exp_shifted(row, row, n, max);  // vectorized on every ISA (core/kernels.hpp)
#pragma omp simd reduction(+ : sum)
    for (std::size_t j = 0; j < n; ++j) sum += double(row[j]);
    const float inv = float(1 / sum);
#pragma omp simd
    for (std::size_t j = 0; j < n; ++j) row[j] *= inv;
  } else {
    for (std::size_t j = 0; j < n; ++j) {
      row[j] = std::exp(row[j] - max);
      sum += row[j];
    }
    for (std::size_t j = 0; j < n; ++j) row[j] /= sum;
  }
}

// row[0..n) <- p * (row - <p, row>): the softmax backward of one row, dP in, dS out.
template <class T>
void softmax_row_backward(T* row, const T* p, std::size_t n) {
  double dot = 0;
#pragma omp simd reduction(+ : dot)
  for (std::size_t j = 0; j < n; ++j) dot += double(p[j]) * double(row[j]);
  const T c = T(dot);
#pragma omp simd
  for (std::size_t j = 0; j < n; ++j) row[j] = p[j] * (row[j] - c);
}

}  // namespace

// The (batch, head) pairs that make a range worth a thread: a pair is two (len, len, hd) GEMMs
// and len softmax rows, some 0.1 ms at len = 64, hd = 32; one pair per range is enough.
constexpr std::size_t kPairsPerRange = 1;

// A (len, len) work matrix per part of a split across threads (parallel_for_parts), kept by the
// calling thread: grown to the largest threads() x len seen, then reused (no allocation per
// call). Slot 0 holds dS in the backward, slot 1 the dropped-out probabilities P * drop.
template <class T, int Slot>
T* square_rows(std::size_t parts, std::size_t len) {
  thread_local std::vector<T> rows;
  if (rows.size() < parts * len * len) rows.resize(parts * len * len);
  return rows.data();
}

// out (len, len) = P * drop, the probabilities after the dropout.
template <class T>
const T* dropped(T* out, const T* P, const T* drop, std::size_t len) {
#pragma omp simd
  for (std::size_t i = 0; i < len * len; ++i) out[i] = P[i] * drop[i];
  return out;
}

template <class T>
void attention_forward(Strided<T> out, T* probs, Strided<const T> q, Strided<const T> k,
                       Strided<const T> v, std::size_t B, std::size_t len, std::size_t heads,
                       std::size_t hd, const T* drop) {
  const T scale = T(1 / std::sqrt(double(hd)));
  T* Pd_parts = drop ? square_rows<T, 1>(std::size_t(threads()), len) : nullptr;
  // Each pair (b, h) reads its own blocks of q, k, v and writes its own of probs and out: the
  // pairs split across threads give the bits of the serial loop.
  parallel_for_parts(B * heads, kPairsPerRange, [&](std::size_t part, std::size_t first,
                                                    std::size_t last) {
    for (std::size_t pair = first; pair < last; ++pair) {
      const std::size_t b = pair / heads, col = (pair % heads) * hd;  // this head's first column
      const T *Q = q.data + b * len * q.ld + col, *K = k.data + b * len * k.ld + col;
      const T* V = v.data + b * len * v.ld + col;
      T* P = probs + pair * len * len;
      gemm(Trans::no, Trans::yes, len, len, hd, scale, Q, q.ld, K, k.ld, T(0), P, len);
      for (std::size_t i = 0; i < len; ++i) {  // causal: row i over j <= i
        T* row = P + i * len;
        softmax_row(row, i + 1);
        std::fill(row + i + 1, row + len, T(0));
      }
      const T* A = drop ? dropped(Pd_parts + part * len * len, P, drop + pair * len * len, len) : P;
      gemm(Trans::no, Trans::no, len, hd, len, T(1), A, len, V, v.ld, T(0),
           out.data + b * len * out.ld + col, out.ld);
    }
  });
}

template <class T>
void attention_backward(Strided<T> dq, Strided<T> dk, Strided<T> dv, Strided<const T> dout,
                        const T* probs, Strided<const T> q, Strided<const T> k, Strided<const T> v,
                        std::size_t B, std::size_t len, std::size_t heads, std::size_t hd,
                        const T* drop) {
  const T scale = T(1 / std::sqrt(double(hd)));
  // as the forward: each pair writes only its own blocks of dq, dk and dv
  T* dS_parts = square_rows<T, 0>(std::size_t(threads()), len);
  T* Pd_parts = drop ? square_rows<T, 1>(std::size_t(threads()), len) : nullptr;
  parallel_for_parts(B * heads, kPairsPerRange, [&](std::size_t part, std::size_t first,
                                                    std::size_t last) {
    T* dS = dS_parts + part * len * len;  // every entry written before it is read
    for (std::size_t pair = first; pair < last; ++pair) {
      const std::size_t b = pair / heads, col = (pair % heads) * hd;
      auto at = [&](auto m) { return m.data + b * len * m.ld + col; };  // (b, h)'s block of m
      const T* P = probs + pair * len * len;
      const T* D = drop ? drop + pair * len * len : nullptr;
      const T* A = D ? dropped(Pd_parts + part * len * len, P, D, len) : P;  // what met V
      // dP = dO V^T, then dV = A^T dO
      gemm(Trans::no, Trans::yes, len, len, hd, T(1), at(dout), dout.ld, at(v), v.ld, T(0), dS,
           len);
      gemm(Trans::yes, Trans::no, len, hd, len, T(1), A, len, at(dout), dout.ld, T(0), at(dv),
           dv.ld);
      for (std::size_t i = 0; i < len; ++i) {
        T* row = dS + i * len;
        if (D) {
          for (std::size_t j = 0; j <= i; ++j) row[j] *= D[i * len + j];
        }
        softmax_row_backward(row, P + i * len, i + 1);
        std::fill(row + i + 1, row + len, T(0));
      }
      gemm(Trans::no, Trans::no, len, hd, len, scale, dS, len, at(k), k.ld, T(0), at(dq), dq.ld);
      gemm(Trans::yes, Trans::no, len, hd, len, scale, dS, len, at(q), q.ld, T(0), at(dk), dk.ld);
    }
  });
}

template void attention_forward<float>(Strided<float>, float*, Strided<const float>,
                                       Strided<const float>, Strided<const float>, std::size_t,
                                       std::size_t, std::size_t, std::size_t, const float*);
template void attention_forward<double>(Strided<double>, double*, Strided<const double>,
                                        Strided<const double>, Strided<const double>, std::size_t,
                                        std::size_t, std::size_t, std::size_t, const double*);
template void attention_backward<float>(Strided<float>, Strided<float>, Strided<float>,
                                        Strided<const float>, const float*, Strided<const float>,
                                        Strided<const float>, Strided<const float>, std::size_t,
                                        std::size_t, std::size_t, std::size_t, const float*);
template void attention_backward<double>(Strided<double>, Strided<double>, Strided<double>,
                                         Strided<const double>, const double*,
                                         Strided<const double>, Strided<const double>,
                                         Strided<const double>, std::size_t, std::size_t,
                                         std::size_t, std::size_t, const double*);

}  // namespace normlab::nn
