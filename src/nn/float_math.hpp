// exp, sigmoid and tanh in float without calls to libm, so that loops over them vectorize: glibc
// declares its vector math (libmvec) only under -ffast-math, which normlab does not use. GELU, the
// attention softmax, the GRU's gates and the tanh/sigmoid activations use them in float; their
// double paths keep std::exp, std::tanh and std::erf. Each is within a few ulps of the correctly
// rounded value (tests/test_layers.cpp measures it against the double functions).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace normlab::nn {

// x = k ln2 + r (Cody-Waite split), e^r by Cephes' expf polynomial (about 1 ulp), 2^k from the
// exponent bits. x is clamped to [-87, 88]: no infinities, no denormals (e^-87 = 1.6e-38, which
// is 0 for any sum it enters next to a term of order 1, as in a softmax after its max is taken).
inline float exp_float(float x) {
  // Written so that every operation runs unconditionally: with trapping math (the default) GCC
  // does not if-convert a comparison or subtraction it would have to speculate, nor std::floor.
  const float low = x < -87.0f ? -87.0f : x;
  x = low > 88.0f ? 88.0f : low;
  // k = round(x / ln2): adding and subtracting 1.5 * 2^23 rounds to an integer (no reassociation
  // without -ffast-math), and without a comparison GCC would thread into branches
  const float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const std::int32_t ki = std::int32_t(k);
  const float r = x - k * 0.693359375f + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((ki + 127) << 23);
}

// 1 / (1 + e^-x). For x < -87 the clamp inside exp_float gives 1.6e-38 instead of a smaller value.
inline float sigmoid_float(float x) { return 1.0f / (1.0f + exp_float(-x)); }

// tanh x. For |x| < 0.625, x + x^3 P(x^2) with Cephes' tanhf polynomial; beyond,
// 1 - 2 / (e^{2|x|} + 1) with x's sign, which there loses nothing to cancellation (tanh > 0.55).
// Both are computed and one is selected, so that a loop over it vectorizes.
inline float tanh_float(float x) {
  const float a = std::fabs(x);
  const float s = x * x;
  float p = -5.70498872745e-3f;
  p = p * s + 2.06390887954e-2f;
  p = p * s - 5.37397155531e-2f;
  p = p * s + 1.33314422036e-1f;
  p = p * s - 3.33332819422e-1f;
  const float small = x + x * s * p;
  const float large = std::copysign(1.0f - 2.0f / (exp_float(2.0f * a) + 1.0f), x);
  return a < 0.625f ? small : large;
}

}  // namespace normlab::nn
