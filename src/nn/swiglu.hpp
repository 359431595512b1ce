// SwiGLU (Shazeer, "GLU Variants Improve Transformer", 2020; the MLP of LLaMA):
//   y = silu(g) * h,   silu(g) = g sigmoid(g),
// h and g the two halves of one fused (N, 2m) product [h | g] (h = W1 u + b1 the "fc" or up
// projection, g = Wg u + bg the "gate": Hugging Face LLaMA's up_proj and gate_proj).
//   dh = dy silu(g);   dg = dy h silu'(g),   silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
// In T, the sigmoid from the kernels in float (vectorized, 1-2 ulp) and std::exp in double; rows
// split across the run's threads (the bits do not depend on the count).
#pragma once

#include <cstddef>

namespace normlab::nn {

// y (N, m); hg (N, 2m) rows [h | g]
template <class T>
void swiglu_forward(T* y, const T* hg, std::size_t N, std::size_t m);
// dhg (N, 2m) written, rows [dh | dg]; dy (N, m); hg (N, 2m) the forward's input
template <class T>
void swiglu_backward(T* dhg, const T* dy, const T* hg, std::size_t N, std::size_t m);

}  // namespace normlab::nn
