// Causal multi-head scaled dot-product attention.
//   For each sequence b and head h (columns h*hd .. (h+1)*hd of q, k, v, out):
//     S = Q K^T / sqrt(hd)   (len, len);   P = softmax over j <= i of S[i, j] (0 for j > i)
//     O = P V                (len, hd)
// q, k, v, out are (B*len, heads*hd) matrices with batch-major rows (b*len + t), each stored with
// its own row stride, so that q, k and v can be the three column blocks of one fused (B*len,
// 3*heads*hd) projection. probs (B, heads, len, len) is the cache backward needs. The products are
// GEMMs with strides, no copies. The softmax subtracts the row max before exp; in float it takes
// the kernels' exp (core/kernels.hpp: 1-2 ulp, vectorized) once per score and sums in double; in
// double, std::exp.
// With `drop` (B, heads, len, len), attention dropout (nanoGPT's attn_dropout): O = (P * drop) V,
// drop holding 0 or 1/(1-p) (nn::dropout_mask); probs keeps P, the softmax before the dropout.
// The (b, h) pairs run in parallel (core/parallel.hpp), each writing only its own blocks: the bits
// do not depend on the thread count.
#pragma once

#include <cstddef>

namespace normlab::nn {

// A row-major matrix whose rows are `ld` elements apart.
template <class T>
struct Strided {
  T* data;
  std::size_t ld;
};

template <class T>
void attention_forward(Strided<T> out, T* probs, Strided<const T> q, Strided<const T> k,
                       Strided<const T> v, std::size_t B, std::size_t len, std::size_t heads,
                       std::size_t hd, const T* drop = nullptr);

// dq, dk, dv (B*len, heads*hd) written from dout and the forward's probs, q, k, v.
// dP = dO V^T;  dV = P^T dO;  dS = P * (dP - rowsum(P * dP));  dQ = dS K / sqrt(hd);
// dK = dS^T Q / sqrt(hd). Masked entries have P = 0, so they get no gradient. With `drop` (the
// forward's): dV = (P * drop)^T dO and dP = (dO V^T) * drop.
// dS (len, len), one per part of the split across threads, lives in a buffer the calling thread
// keeps from call to call: no allocation once it has seen the largest len.
template <class T>
void attention_backward(Strided<T> dq, Strided<T> dk, Strided<T> dv, Strided<const T> dout,
                        const T* probs, Strided<const T> q, Strided<const T> k, Strided<const T> v,
                        std::size_t B, std::size_t len, std::size_t heads, std::size_t hd,
                        const T* drop = nullptr);

}  // namespace normlab::nn
