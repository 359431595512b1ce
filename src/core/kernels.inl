// The kernels of kernels.hpp, over xsimd::batch<float, Arch>. Included once by each per-ISA
// translation unit, which defines NORMLAB_KERNEL_ARCH (an xsimd architecture) and
// NORMLAB_KERNEL_NAMESPACE (a namespace of its own) first.
//
// Only xsimd and plain loops here, no standard-library templates: an inline function instantiated
// in two units compiled for different ISAs is one symbol to the linker, which keeps either copy,
// and the AVX-512 one would then run on a CPU without it. xsimd's functions are templates over the
// architecture, so each unit's are distinct symbols.
#include <cstddef>

// GCC 12 warns falsely about _mm512_undefined_ps() inside the AVX-512 intrinsics xsimd calls; the
// unit is this file's instantiations only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xsimd/xsimd.hpp>

#include "core/kernels.hpp"

namespace normlab::kernels::NORMLAB_KERNEL_NAMESPACE {
namespace {

using Arch = NORMLAB_KERNEL_ARCH;
using Vec = xsimd::batch<float, Arch>;
constexpr std::size_t kLanes = Vec::size;

// Applies f (Vec -> Vec) to x[0..n) into y; the last n % kLanes elements go through a padded
// vector, so that every element's result is that of the vector path wherever it lies.
template <class F>
inline void map1(float* y, const float* x, std::size_t n, F f) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) f(Vec::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) {
    alignas(64) float buf[kLanes] = {};
    for (std::size_t j = 0; i + j < n; ++j) buf[j] = x[i + j];
    f(Vec::load_aligned(buf)).store_aligned(buf);
    for (std::size_t j = 0; i + j < n; ++j) y[i + j] = buf[j];
  }
}

// The same for two inputs.
template <class F>
inline void map2(float* y, const float* a, const float* b, std::size_t n, F f) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    f(Vec::load_unaligned(a + i), Vec::load_unaligned(b + i)).store_unaligned(y + i);
  }
  if (i < n) {
    alignas(64) float ba[kLanes] = {}, bb[kLanes] = {};
    for (std::size_t j = 0; i + j < n; ++j) ba[j] = a[i + j], bb[j] = b[i + j];
    f(Vec::load_aligned(ba), Vec::load_aligned(bb)).store_aligned(ba);
    for (std::size_t j = 0; i + j < n; ++j) y[i + j] = ba[j];
  }
}

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

// Phi(x) = erfc(-x / sqrt 2) / 2: accurate in both tails (no 1 - small cancellation below 0).
inline Vec normal_cdf(Vec x) { return Vec(0.5f) * xsimd::erfc(x * Vec(-kInvSqrt2)); }

void exp_shifted(float* y, const float* x, std::size_t n, float shift) {
  const Vec s(shift);
  map1(y, x, n, [s](Vec v) { return xsimd::exp(v - s); });
}

void gelu_forward(float* y, const float* x, std::size_t n) {
  map1(y, x, n, [](Vec v) { return v * normal_cdf(v); });
}

void gelu_backward(float* dx, const float* dy, const float* x, std::size_t n) {
  map2(dx, dy, x, n, [](Vec g, Vec v) {
    const Vec pdf = Vec(kInvSqrt2Pi) * xsimd::exp(Vec(-0.5f) * v * v);
    return g * (normal_cdf(v) + v * pdf);
  });
}

void tanh(float* y, const float* x, std::size_t n) {
  map1(y, x, n, [](Vec v) { return xsimd::tanh(v); });
}

void sigmoid(float* y, const float* x, std::size_t n) {
  // e^-x overflows to inf for x < -88.7: 1 / inf = 0, the right limit
  map1(y, x, n, [](Vec v) { return Vec(1.0f) / (Vec(1.0f) + xsimd::exp(-v)); });
}

}  // namespace

const Table* table() {
  static const Table t = [] {
    Table k;
    k.isa = NORMLAB_KERNEL_ISA;
    k.name = NORMLAB_KERNEL_ISA_NAME;
    k.detail = Arch::name();
    k.float_lanes = kLanes;
    k.exp_shifted = exp_shifted;
    k.gelu_forward = gelu_forward;
    k.gelu_backward = gelu_backward;
    k.tanh = tanh;
    k.sigmoid = sigmoid;
    return k;
  }();
  return &t;
}

}  // namespace normlab::kernels::NORMLAB_KERNEL_NAMESPACE
