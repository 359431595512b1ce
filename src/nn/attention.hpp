// Causal multi-head scaled dot-product attention over separate q, k, v buffers.
//   For each sequence b and head h (columns h*hd .. (h+1)*hd of q, k, v, out):
//     S = Q K^T / sqrt(hd)   (len, len);   P = softmax over j <= i of S[i, j] (0 for j > i)
//     O = P V                (len, hd)
// q, k, v, out are (B*len, heads*hd) row-major, batch-major rows (b*len + t). probs (B, heads,
// len, len) is the cache backward needs. The products are GEMMs with strides, no copies; the
// softmax runs in double.
#pragma once

#include <cstddef>

namespace normlab::nn {

template <class T>
void attention_forward(T* out, T* probs, const T* q, const T* k, const T* v, std::size_t B,
                       std::size_t len, std::size_t heads, std::size_t hd);

// dq, dk, dv (B*len, heads*hd) written from dout and the forward's probs, q, k, v.
// dP = dO V^T;  dV = P^T dO;  dS = P * (dP - rowsum(P * dP));  dQ = dS K / sqrt(hd);
// dK = dS^T Q / sqrt(hd). Masked entries have P = 0, so they get no gradient.
// work (len, len) is working memory for dS: a caller stepping repeatedly passes a buffer it keeps
// (no allocation per call); nullptr allocates one here.
template <class T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* probs, const T* q,
                        const T* k, const T* v, std::size_t B, std::size_t len, std::size_t heads,
                        std::size_t hd, T* work = nullptr);

}  // namespace normlab::nn
