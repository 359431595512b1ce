// Rotary position embedding (RoPE; Su et al., "RoFormer", 2021) in the half-split convention of
// GPT-NeoX and Hugging Face's LLaMA (`rotate_half`), not the interleaved pairs of Meta's LLaMA
// code: within each head of hd features, feature j and feature j + hd/2 (j < hd/2) form one
// pair, turned by the angle t * theta_j, t the token's position in its sequence:
//   theta_j = base^(-2j / hd)
//   y_j        = x_j cos - x_{j+hd/2} sin
//   y_{j+hd/2} = x_{j+hd/2} cos + x_j sin
// The backward is the rotation by the opposite angle (the transpose of a rotation):
//   dx_j = dy_j cos + dy_{j+hd/2} sin;   dx_{j+hd/2} = dy_{j+hd/2} cos - dy_j sin.
// Rows are batch-major (b*len + t), as in nn/attention.hpp. The angles, cosines and sines are
// computed in double once per shape (RopeTable) and each output rounded to T once.
#pragma once

#include <cstddef>
#include <vector>

#include "nn/attention.hpp"

namespace normlab::nn {

struct RopeTable {
  std::size_t len = 0, hd = 0;
  double base = 0;
  std::vector<double> cos, sin;  // (len, hd/2): position t, pair j
};

// The table for sequences of up to `len` positions and heads of `hd` features (hd even, base > 0).
RopeTable rope_table(std::size_t len, std::size_t hd, double base);

// x (B*len, heads*hd) rotated in place: row i has position i % len.
template <class T>
void rope_forward(Strided<T> x, const RopeTable& table, std::size_t rows, std::size_t len,
                  std::size_t heads);
// dx (B*len, heads*hd) in place: the gradient after the rotation in, before it out.
template <class T>
void rope_backward(Strided<T> dx, const RopeTable& table, std::size_t rows, std::size_t len,
                   std::size_t heads);

}  // namespace normlab::nn
