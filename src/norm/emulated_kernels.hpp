// The shift-and-scale normalizers (norm/shift_scale.hpp) in emulated precision: every input,
// parameter, output and gradient is rounded to a storage format, every intermediate (each
// product, each partial sum, the mean, the statistic, the root, its reciprocal) to an
// accumulation format. "Accumulating in the storage format" rounds each partial sum to
// bfloat16/float16 after every add. The same kernels run in long double with no rounding as the
// reference.
//
//   z = x - lambda * mean(x)                     mean: one sum, then / D
//   s = sum_{j<k} z_j^2 / m                      two-pass, or for LayerNorm one-pass / Welford
//   y_j = (z_j * rstd) * g_j + b_j,  rstd = 1 / r(s)   r by eps mode (inside, outside, clamp)
//   backward (dn_j = dy_j g_j, A = sum_j dn_j z_j, c = A rstd^2 r'(s) / m):
//   dx_j = rstd dn_j - [j < k] z_j c - lambda * mean(dz)
//
// Summation is sequential (left to right), as a scalar loop would do it; the library's float
// path instead sums in double (README, "Numerics").
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "norm/form.hpp"
#include "norm/options.hpp"
#include "core/number_format.hpp"

namespace normlab::norm {

// What the kernels need to know about one normalizer at D features is its Form (norm/form.hpp),
// the same the library's ShiftScaleNorm reads; a learned lambda's current value goes in lambda.
using EmulatedNorm = Form;

// The Form of config.kind at D features; throws naming the kind if it is not a shift-scale one.
EmulatedNorm emulated_norm(const norm::NormConfig& config, std::size_t D);

// Precision policies: `real` is the type computed in, st() rounds to storage, ac() to accumulation.
template <class Storage, class Accumulation>
struct Emulated {
  using real = double;
  static double st(double v) { return Storage::round(v); }
  static double ac(double v) { return Accumulation::round(v); }
};
struct Exact {  // the reference: long double (64-bit significand on x86-64), nothing rounded
  using real = long double;
  static long double st(long double v) { return v; }
  static long double ac(long double v) { return v; }
};

template <class Real>
struct RowStats {
  Real mean = 0, stat = 0, rstd = 1;
};

// sum_{j<n} (x_j - shift)^p for p = 1 or 2, every product and partial sum rounded.  x: (n)
template <class P, int Power>
typename P::real emulated_sum(const typename P::real* x, typename P::real shift, std::size_t n) {
  typename P::real s = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const auto z = P::ac(x[j] - shift);
    s = P::ac(s + (Power == 2 ? P::ac(z * z) : z));
  }
  return s;
}

// LayerNorm's mean and variance by the naive one pass E[x^2] - E[x]^2 (clamped at 0, as the
// library does) or by Welford's update.  x: (D)
template <class P>
RowStats<typename P::real> emulated_mean_variance(const typename P::real* x, std::size_t D,
                                                  norm::VarianceAlgo algo) {
  using R = typename P::real;
  R mean = 0, m2 = 0;
  if (algo == norm::VarianceAlgo::one_pass) {
    R s = 0, s2 = 0;
    for (std::size_t j = 0; j < D; ++j) {
      s = P::ac(s + x[j]);
      s2 = P::ac(s2 + P::ac(x[j] * x[j]));
    }
    mean = P::ac(s / R(D));
    return {mean, std::max(R(0), P::ac(P::ac(s2 / R(D)) - P::ac(mean * mean))), 1};
  }
  for (std::size_t j = 0; j < D; ++j) {  // Welford
    const R delta = P::ac(x[j] - mean);
    mean = P::ac(mean + P::ac(delta / R(j + 1)));
    m2 = P::ac(m2 + P::ac(delta * P::ac(x[j] - mean)));
  }
  return {mean, P::ac(m2 / R(D)), 1};
}

// The denominator r(s), and 2 dr/ds (subgradient 0 where r is not differentiable, as the library).
template <class P>
typename P::real emulated_denominator(typename P::real s, typename P::real eps, norm::EpsMode mode) {
  using std::sqrt;
  const auto root = P::ac(sqrt(s));
  if (mode == norm::EpsMode::inside) return P::ac(sqrt(P::ac(s + eps)));
  if (mode == norm::EpsMode::outside) return P::ac(root + eps);
  return std::max(root, eps);
}
template <class P>
typename P::real emulated_slope(typename P::real s, typename P::real eps, norm::EpsMode mode) {
  using R = typename P::real;
  using std::sqrt;
  if (mode == norm::EpsMode::inside) return P::ac(R(1) / P::ac(sqrt(P::ac(s + eps))));
  const R root = P::ac(sqrt(s));
  const bool passes = mode == norm::EpsMode::outside ? root > 0 : root >= eps;
  return passes ? P::ac(R(1) / root) : R(0);
}

// One row forward: y (D) <- N(x (D)) with the applied gain g ((D), (1) or none) and bias b
// ((D) or null); x, g, b are storage values. Returns the row's statistics (the cache).
template <class P>
RowStats<typename P::real> emulated_forward_row(typename P::real* y, const typename P::real* x,
                                                const typename P::real* g,
                                                const typename P::real* b, const EmulatedNorm& n,
                                                std::size_t D) {
  using R = typename P::real;
  RowStats<R> rs;
  const R eps = P::ac(R(n.eps));
  const bool full_centering = n.subtract == Form::Subtract::mean;  // the variance algorithm applies
  if (n.rescale && full_centering && n.variance != norm::VarianceAlgo::two_pass) {
    rs = emulated_mean_variance<P>(x, D, n.variance);
  } else {
    if (n.lambda != 0) rs.mean = P::ac(emulated_sum<P, 1>(x, 0, D) / R(D));
    const R shift = P::ac(R(n.lambda) * rs.mean);
    if (n.rescale) rs.stat = P::ac(emulated_sum<P, 2>(x, shift, n.k) / R(n.divisor));
  }
  if (n.rescale) rs.rstd = P::ac(R(1) / emulated_denominator<P>(rs.stat, eps, n.eps_mode));
  const R shift = P::ac(R(n.lambda) * rs.mean);
  const R scale = n.gain == EmulatedNorm::Gain::scalar ? P::ac(rs.rstd * g[0]) : rs.rstd;
  for (std::size_t j = 0; j < D; ++j) {
    R v = P::ac(P::ac(x[j] - shift) * scale);
    if (n.gain == EmulatedNorm::Gain::vector) v = P::ac(v * g[j]);
    if (b) v = P::ac(v + b[j]);
    y[j] = P::st(v);
  }
  return rs;
}

// One row backward: dx (D) written from dy (D); the parameter gradients, when their pointers are
// given, ACCUMULATE in double from the rounded values (dg (D) or (1), db (D), dlambda (1)).
template <class P>
void emulated_backward_row(typename P::real* dx, double* dg, double* db, double* dlambda,
                           const RowStats<typename P::real>& rs, const typename P::real* dy,
                           const typename P::real* x, const typename P::real* g,
                           const EmulatedNorm& n, std::size_t D) {
  using R = typename P::real;
  const R shift = P::ac(R(n.lambda) * rs.mean), eps = P::ac(R(n.eps));
  const R gs = n.gain == EmulatedNorm::Gain::scalar ? g[0] : R(1);
  auto dn = [&](std::size_t j) { return n.gain == EmulatedNorm::Gain::vector ? P::ac(dy[j] * g[j])
                                                                             : P::ac(dy[j] * gs); };
  R a = 0, dn_sum = 0, z_sum = 0;
  for (std::size_t j = 0; j < D; ++j) {
    const R z = P::ac(x[j] - shift);
    a = P::ac(a + P::ac(dn(j) * z));
    dn_sum = P::ac(dn_sum + dn(j));
    if (j < n.k) z_sum = P::ac(z_sum + z);
    if (dg) dg[n.gain == EmulatedNorm::Gain::vector ? j : 0] += double(dy[j] * z * rs.rstd);
    if (db) db[j] += double(dy[j]);
  }
  const R c = n.rescale ? P::ac(P::ac(P::ac(P::ac(a * rs.rstd) * rs.rstd) *
                                      emulated_slope<P>(rs.stat, eps, n.eps_mode)) / R(n.divisor))
                        : R(0);
  const R dz_sum = P::ac(P::ac(rs.rstd * dn_sum) - P::ac(c * z_sum));
  const R correction = P::ac(R(n.lambda) * P::ac(dz_sum / R(D)));
  for (std::size_t j = 0; j < D; ++j) {
    const R z = P::ac(x[j] - shift);
    const R dz = P::ac(P::ac(rs.rstd * dn(j)) - (j < n.k ? P::ac(z * c) : R(0)));
    dx[j] = P::st(P::ac(dz - correction));
  }
  if (dlambda) *dlambda -= double(rs.mean * dz_sum);
}

// ---- whole batches at run-time precisions (the dispatch over format pairs lives in the .cpp) ----

struct Precision {
  fp::Format storage = fp::Format::float32;
  fp::Format accumulation = fp::Format::float32;
};

// Inputs and parameters of one batch, as doubles; the kernels round them to storage first.
struct BatchInput {
  const double* x;   // (B, D)
  const double* dy;  // (B, D), or null: forward only
  const double* g;   // applied gain (D) or (1), or null when the kind has none
  const double* b;   // (D) or null
};
struct BatchOutput {
  double* y;                 // (B, D)
  double* dx;                // (B, D), with dy
  RowStats<double>* stats;   // (B), or null
};

// The forward and backward separately, as a Normalizer calls them (norm/registry.cpp wraps a kind
// in these when its storage/accumulate options ask for it). Inputs are rounded to storage first;
// stats (B) carries the forward's row statistics to the backward. The parameter gradients
// (dg (D) or (1), db (D), dlambda (1); each may be null) ACCUMULATE in double.
void emulated_forward(double* y, RowStats<double>* stats, const double* x, const double* g,
                      const double* b, const EmulatedNorm& n, Precision p, std::size_t B,
                      std::size_t D);
void emulated_backward(double* dx, double* dg, double* db, double* dlambda,
                       const RowStats<double>* stats, const double* dy, const double* x,
                       const double* g, const EmulatedNorm& n, Precision p, std::size_t B,
                       std::size_t D);

// Forward (and backward when in.dy) of n in emulated precision p over B rows.
void emulated_batch(BatchOutput out, BatchInput in, const EmulatedNorm& n, Precision p,
                    std::size_t B, std::size_t D);
// The same in long double without rounding: the reference.
void reference_batch(BatchOutput out, BatchInput in, const EmulatedNorm& n, std::size_t B,
                     std::size_t D);

}  // namespace normlab::norm
