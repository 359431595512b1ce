#include "norm/shift_scale.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/stream_store.hpp"
#include "norm/row_scaling.hpp"

namespace normlab::norm {

// ---- row kernels: free functions over one row of D features, double accumulation ----
namespace {

// sum_j (x_j - shift) over n features.  (n)
template <class T>
double sum_deviation(const T* x, double shift, std::size_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (std::size_t j = 0; j < n; ++j) s += double(x[j]) - shift;
  return s;
}

// sum_j (x_j - shift)^2 over n features: the second pass of a two-pass variance.  (n)
template <class T>
double sum_squared_deviation(const T* x, double shift, std::size_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (std::size_t j = 0; j < n; ++j) {
    double z = double(x[j]) - shift;
    s += z * z;
  }
  return s;
}

struct MeanVariance {
  double mean, variance;
};

// Naive one pass: E[x^2] - E[x]^2. Cancels catastrophically when |mean| >> std; clamped at 0.
template <class T>
MeanVariance mean_variance_one_pass(const T* x, std::size_t D) {
  double s = 0, s2 = 0;
#pragma omp simd reduction(+ : s, s2)
  for (std::size_t j = 0; j < D; ++j) {
    s += double(x[j]);
    s2 += double(x[j]) * double(x[j]);
  }
  double mean = s / double(D);
  // Not std::max(0, v): a NaN from an overflowed s2 must stay NaN to send the row to rescaling.
  const double v = s2 / double(D) - mean * mean;
  return {mean, v < 0 ? 0.0 : v};
}

// Welford's update: stable in one pass, but sequential (does not vectorize).
template <class T>
MeanVariance mean_variance_welford(const T* x, std::size_t D) {
  double mean = 0, m2 = 0;
  for (std::size_t j = 0; j < D; ++j) {
    double delta = double(x[j]) - mean;
    mean += delta / double(j + 1);
    m2 += delta * (double(x[j]) - mean);
  }
  return {mean, m2 / double(D)};
}

// The denominator r(s) for statistic s.
double denominator(double s, double eps, EpsMode mode) {
  switch (mode) {
    case EpsMode::inside: return std::sqrt(s + eps);
    case EpsMode::outside: return std::sqrt(s) + eps;
    case EpsMode::clamp: return std::max(std::sqrt(s), eps);
  }
  return 0;
}

// 2 * dr/ds. Where r is not differentiable (s = 0 with eps outside) the subgradient 0 is used;
// under clamp the gradient passes where sqrt(s) >= eps, as torch.clamp's does.
double denominator_slope(double s, double eps, EpsMode mode) {
  double root = std::sqrt(s);
  switch (mode) {
    case EpsMode::inside: return 1 / std::sqrt(s + eps);
    case EpsMode::outside: return root > 0 ? 1 / root : 0;
    case EpsMode::clamp: return root >= eps ? 1 / root : 0;
  }
  return 0;
}

// A shift (lambda * mean, in double) as two values of the storage type, hi + lo, so that the
// per-element z = (x - hi) - lo keeps what a large offset would otherwise take: for x near the
// mean x - hi is exact (Sterbenz), and lo carries the digits of the mean that hi lost. In double,
// lo is 0 and z = x - shift.
template <class T>
struct SplitShift {
  T hi, lo;
  explicit SplitShift(double shift) : hi(T(shift)), lo(T(shift - double(T(shift)))) {}
};

// y_j = z_j * scale * (g0 + g_j) + b_j with z_j = x_j - shift (x_j where not Centered); the
// gain factor only with VectorGain, the bias only with Bias. Per element in the storage type T
// (the row's reductions ran in double): in float a few roundings instead of one, but no
// conversions to double and back, which made the kernel compute-bound.  y, x, g, b: (n)
template <class T, bool Centered, bool VectorGain, bool Bias>
void affine_row(T* y, const T* x, SplitShift<T> shift, double scale, const T* g, double g0,
                const T* b, std::size_t n) {
  const T s = T(scale), g0t = T(g0);
#pragma omp simd
  for (std::size_t j = 0; j < n; ++j) {
    T v = (Centered ? (x[j] - shift.hi) - shift.lo : x[j]) * s;
    if constexpr (VectorGain) v *= g0t + g[j];
    if constexpr (Bias) v += b[j];
    y[j] = v;
  }
}

struct BackwardSums {
  double dn_dot_z = 0;  // A = sum_j dn_j z_j
  double dn_sum = 0;    // sum_j dn_j (Centered only)
  double z_sum = 0;     // sum_j z_j (Centered only)
  double dy_dot_n = 0;  // sum_j dy_j n_j: the gradient of a scalar gain
};

// First backward pass over a row, everything that reads dy and x once: the sums, and for the
// whole call's double accumulators dg_j += dy_j * n_j (VectorGain) and db_j += dy_j (Bias).
// The applied gain is g0 + g_j (VectorGain), else gs (1 where the kind has none).
// dg, db, dy, x, g: (n)
template <class T, bool Centered, bool VectorGain, bool Bias>
BackwardSums backward_sums(double* dg, double* db, const T* dy, const T* x, double shift,
                           double rstd, const T* g, double g0, double gs, std::size_t n) {
  double a = 0, s = 0, zs = 0, q = 0;
#pragma omp simd reduction(+ : a, s, zs, q)
  for (std::size_t j = 0; j < n; ++j) {
    const double z = Centered ? double(x[j]) - shift : double(x[j]), dyj = double(dy[j]);
    const double dn = dyj * (VectorGain ? g0 + double(g[j]) : gs);
    a += dn * z;
    if constexpr (Centered) s += dn, zs += z;
    if constexpr (VectorGain) dg[j] += dyj * z * rstd;
    else q += dyj * z * rstd;
    if constexpr (Bias) db[j] += dyj;
  }
  return {a, s, zs, q};
}

// dx_j = rstd * dn_j - z_j * c - correction over features [0, n), per element in T as
// affine_row.  dx, dy, x, g: (n)
template <class T, bool Centered, bool VectorGain>
void backward_dx(T* dx, const T* dy, const T* x, SplitShift<T> shift, double rstd, double c,
                 double correction, const T* g, double g0, double gs, std::size_t n) {
  const T r = T(rstd), ct = T(c), corr = T(correction), g0t = T(g0), gst = T(gs);
#pragma omp simd
  for (std::size_t j = 0; j < n; ++j) {
    const T z = Centered ? (x[j] - shift.hi) - shift.lo : x[j];
    dx[j] = r * dy[j] * (VectorGain ? g0t + g[j] : gst) - z * ct - corr;
  }
}

// Per-thread working rows, grown to the largest n seen and then reused: a call in the steady
// state allocates nothing. They carry nothing between calls; each call writes what it reads.
//   kStagingRow: a large output row computed in L1, then streamed out (core/stream_store.hpp),
//   one per part of the split across threads (kept by the calling thread: no worker allocates);
//   kScaledRow: a row rescaled by a power of two (rows at the edges, below);
//   kGradBlocks: the parameter-gradient sums of every block of rows (block_rows), on the caller.
enum WorkRow { kStagingRow, kScaledRow, kGradBlocks };
template <class T, WorkRow Which>
std::span<T> work_row(std::size_t n) {
  thread_local std::vector<T> row;
  if (row.size() < n) row.resize(n);
  return {row.data(), n};
}

// Calls f(std::bool_constant<a>, std::bool_constant<b>, std::bool_constant<c>): one template
// instance of a row kernel per combination of the runtime flags.
template <class F>
void with_flags(bool a, bool b, bool c, F&& f) {
  auto pick = [](bool v, auto&& next) {
    if (v) next(std::true_type{});
    else next(std::false_type{});
  };
  pick(a, [&](auto A) { pick(b, [&](auto B) { pick(c, [&](auto C) { f(A, B, C); }); }); });
}

// ---- rows at the edges of the range (norm/row_scaling.hpp) ----

// What a row's statistics take from the Form, as values: the row loops keep this copy in
// registers, where a Form behind a reference is reloaded after each store to the cache (which
// might alias it, for all the compiler knows): 10-15% more instructions in the forward at D = 64.
struct StatSpec {
  std::size_t D, k;
  double lambda, divisor, eps;
  EpsMode eps_mode;
  VarianceAlgo variance;
  bool centered, rescale;
  bool one_pass_variance;  // LayerNorm's variance by one_pass or welford (not two_pass)
  explicit StatSpec(const Form& f)
      : D(f.D), k(f.k), lambda(f.lambda), divisor(f.divisor), eps(f.eps), eps_mode(f.eps_mode),
        variance(f.variance), centered(f.centered()), rescale(f.rescale),
        one_pass_variance(f.rescale && f.subtract == Form::Subtract::mean &&
                          f.variance != VarianceAlgo::two_pass) {}
};

// The row mean and statistic of x, and rstd = 1 / r(s) with `eps`.  x: (D)
template <class T>
[[gnu::always_inline]] inline RowStatistics row_stats(const T* x, const StatSpec& f, double eps) {
  RowStatistics r;
  if (f.one_pass_variance) {
    auto mv = f.variance == VarianceAlgo::one_pass ? mean_variance_one_pass(x, f.D)
                                                   : mean_variance_welford(x, f.D);
    r.mean = mv.mean;
    r.stat = mv.variance * (double(f.D) / f.divisor);  // the variance is over D; the form's
                                                       // divisor may be 1 (a norm); D / D = 1.
  } else {
    // The mean is kept even at lambda = 0: a learned lambda's gradient needs it.
    if (f.centered) r.mean = sum_deviation(x, 0.0, f.D) / double(f.D);
    if (f.rescale) r.stat = sum_squared_deviation(x, f.lambda * r.mean, f.k) / f.divisor;
  }
  if (f.rescale) r.rstd = 1 / denominator(r.stat, eps, f.eps_mode);
  return r;
}

// x * 2^-e with its statistics, for a row outside_safe_range; x as it is (`own`: its statistics)
// when it cannot be rescaled. Rare: kept out of the row loops.  x: (D)
template <class T>
[[gnu::noinline]] KernelRow<T> rescaled_row(const T* x, RowStatistics own, StatSpec f) {
  const int power = f.eps_mode == EpsMode::inside ? 2 : 1;
  const int e = row_exponent(x, f.rescale ? f.k : f.D, f.eps, power);
  if (e == 0) return {x, own, f.eps};
  std::span<T> xs = work_row<T, kScaledRow>(f.D);
  for (std::size_t j = 0; j < f.D; ++j) xs[j] = std::ldexp(x[j], -e);  // exact where normal
  const double eps = std::ldexp(f.eps, -power * e);
  return {xs.data(), row_stats(xs.data(), f, eps), eps, e};
}

// The forward of a row outside_safe_range: the statistics of x itself, computed from the rescaled
// row, replace those in the cache; returns the row y is computed from: x * 2^-e, or x with its
// statistics where y is not scale-free (no rescale: only the mean needed x * 2^-e).  x: (D)
template <class T>
[[gnu::noinline]] KernelRow<T> rescaled_forward(const T* x, StatSpec f, NormCache& cache,
                                                std::size_t i) {
  const RowStatistics own{cache.mean[i], cache.stat[i], cache.rstd[i]};
  const KernelRow<T> row = rescaled_row(x, own, f);
  if (row.e == 0) return row;
  const RowStatistics unscaled = row.unscaled(f.rescale);
  cache.mean[i] = unscaled.mean;
  cache.stat[i] = unscaled.stat;
  cache.rstd[i] = unscaled.rstd;
  return f.rescale ? row : KernelRow<T>{x, unscaled, f.eps};
}

// y of a row outside_safe_range again, from the rescaled row (rescaled_forward updates the
// cache).  y, x: (D)
template <class T>
[[gnu::noinline]] void redo_forward_row(T* y, const T* x, const Form& f, StatSpec spec,
                                        NormParams<const T> p, NormCache& cache, std::size_t i) {
  const KernelRow<T> row = rescaled_forward(x, spec, cache, i);
  double scale = row.stats.rstd;
  if (f.gain == Form::Gain::scalar) scale *= f.g0 + double(p.gain[0]);
  const double shift = f.lambda * row.stats.mean;
  with_flags(f.centered(), f.gain == Form::Gain::vector, !p.bias.empty(),
             [&](auto Centered, auto VectorGain, auto Bias) {
               affine_row<T, Centered(), VectorGain(), Bias()>(
                   y, row.x, SplitShift<T>(shift), scale, p.gain.data(), f.g0, p.bias.data(), f.D);
             });
}

// What every row of a backward call takes from the Form, as values (StatSpec's reason).
template <class T>
struct BackwardConstants {
  StatSpec spec;
  double g0, gs;  // the gain offset; the applied scalar gain (1 without one)
  const T* g;     // the vector gain, or null
  bool scalar_gain, vector_gain, bias, learn_lambda;
  BackwardConstants(const Form& f, const T* gain, bool with_bias)
      : spec(f), g0(f.g0), gs(f.gain == Form::Gain::scalar ? f.g0 + double(gain[0]) : 1.0),
        g(gain), scalar_gain(f.gain == Form::Gain::scalar), vector_gain(f.gain == Form::Gain::vector),
        bias(with_bias), learn_lambda(f.subtract == Form::Subtract::learned) {}
};

// One row's backward: dx (D) written, its parameter gradients added to dgain (the gain's size),
// dbias (D, or none) and dlambda, the sums of its block.  dx, dy, x: (D)
template <class T>
void backward_row(T* dx, double* dgain, double* dbias, double& dlambda, const T* dy, const T* x,
                  RowStatistics stats, const BackwardConstants<T>& c) {
  const StatSpec& f = c.spec;
  const std::size_t D = f.D, k = f.k;
  // A row the forward rescaled has its unscaled rstd outside the safe range: rescaled again.
  KernelRow<T> row{x, stats, f.eps};
  if (f.rescale && outside_safe_range<T>(row.stats, true)) [[unlikely]] {
    row = rescaled_row(row.x, row.stats, f);
  }
  const T* xr = row.x;
  const double mean = row.stats.mean, rstd = row.stats.rstd, shift = f.lambda * mean;

  BackwardSums sums;
  with_flags(f.centered, c.vector_gain, c.bias, [&](auto Centered, auto VectorGain, auto Bias) {
    sums = backward_sums<T, Centered(), VectorGain(), Bias()>(dgain, dbias, dy, xr, shift, rstd,
                                                              c.g, c.g0, c.gs, D);
  });
  if (c.scalar_gain) dgain[0] += sums.dy_dot_n;
  const double slope = f.rescale ? denominator_slope(row.stats.stat, row.eps, f.eps_mode) : 0;
  const double cz = f.rescale ? sums.dn_dot_z * rstd * rstd * slope / f.divisor : 0.0;
  double dz_sum = 0;
  if (f.lambda != 0 || c.learn_lambda) {
    // sum_{j<k} z_j: the first pass summed all D (no kind both centers and has k < D).
    const double z_sum = k == D ? sums.z_sum : sum_deviation(xr, shift, k);
    dz_sum = rstd * sums.dn_sum - cz * z_sum;
  }
  const double correction = f.lambda * dz_sum / double(D);
  // The statistic's term -z_j * c reaches the first k features only.
  with_flags(f.centered, c.vector_gain, false, [&](auto Centered, auto VectorGain, auto) {
    constexpr bool C = Centered(), G = VectorGain();
    const SplitShift<T> split(shift);
    backward_dx<T, C, G>(dx, dy, xr, split, rstd, cz, correction, c.g, c.g0, c.gs, k);
    backward_dx<T, C, G>(dx + k, dy + k, xr + k, split, rstd, 0.0, correction,
                         G ? c.g + k : c.g, c.g0, c.gs, D - k);
  });
  // dx = 2^-e dx'; mean * dz_sum is scale-free (2^e mean' times 2^-e dz_sum').
  if (row.e) for (std::size_t j = 0; j < D; ++j) dx[j] = std::ldexp(dx[j], -row.e);
  dlambda -= mean * dz_sum;
}

}  // namespace

// ---- the normalizer ----

ShiftScaleNorm::ShiftScaleNorm(NormConfig config, KindForm form)
    : Normalizer(std::move(config)), form_(form) {}

std::vector<ParamSpec> ShiftScaleNorm::param_specs(std::size_t D) const {
  const Form f = form(form_, config(), D);
  std::vector<ParamSpec> specs;
  if (f.gain_size()) specs.push_back({"gain", f.gain_size(), f.stored_gain_init()});
  if (f.bias_size()) specs.push_back({"bias", f.bias_size(), 0.0});
  if (f.lambda_size()) specs.push_back({"lambda", f.lambda_size(), f.lambda});
  return specs;
}

// Checks the views against the Form's sizes without building param_specs: a forward or backward
// call allocates nothing in the steady state.
template <class T>
void ShiftScaleNorm::check_params(const char* what, NormParams<T> p, const Form& f) const {
  for (auto [name, view, want] : {std::tuple{"gain", p.gain, f.gain_size()},
                                  {"bias", p.bias, f.bias_size()},
                                  {"lambda", p.lambda, f.lambda_size()}}) {
    if (view.size() != want) {
      fail(kind(), ": ", what, " '", name, "' has ", view.size(), " values, expected ", want,
           want ? "" : cat(" (", kind(), " with these options has no ", name, ")"));
    }
  }
}

template <class T>
Form ShiftScaleNorm::call_form(NormParams<const T> p, std::size_t D) const {
  Form f = form(form_, config(), D);
  check_params("parameter", p, f);
  f.eps = eps_for<T>(config());  // eps=auto: T's machine epsilon
  if (f.subtract == Form::Subtract::learned) f.lambda = double(p.lambda[0]);
  return f;
}

template <class T>
void ShiftScaleNorm::forward_impl(std::span<T> y, NormCache& cache, std::span<const T> x,
                                  NormParams<const T> p, std::size_t B, std::size_t D) const {
  using Gain = Form::Gain;
  if (D == 0) fail(kind(), ": D = 0 features");
  check_rows("x", x, B * D);
  check_rows("y", y, B * D);
  const Form f = call_form(p, D);
  const StatSpec spec(f);
  const bool rescale = f.rescale;
  const double lambda = f.lambda, g0 = f.g0;
  cache.mean.assign(B, 0.0), cache.stat.assign(B, 0.0), cache.rstd.assign(B, 1.0);
  const bool centered = f.centered(), vector_gain = f.gain == Gain::vector,
             bias = !p.bias.empty();
  const T *g = p.gain.data(), *b = p.bias.data();
  const bool stream = stream_output(B, D * sizeof(T));
  const std::size_t rows = block_rows(D);  // independent rows: blocks of them per range
  T* stagings = stream ? work_row<T, kStagingRow>(std::size_t(threads()) * D).data() : nullptr;
  parallel_for_parts((B + rows - 1) / rows, 1, [&](std::size_t part, std::size_t first,
                                                   std::size_t last) {
    const StatSpec s = spec;  // a copy in registers, not one reloaded through the closure
    T* staging = stream ? stagings + part * D : nullptr;
    for (std::size_t i = first * rows; i < std::min(B, last * rows); ++i) {
      const T* xr = x.data() + i * D;
      T* yr = stream ? staging : y.data() + i * D;
      const RowStatistics own = row_stats(xr, s, s.eps);
      cache.mean[i] = own.mean, cache.stat[i] = own.stat, cache.rstd[i] = own.rstd;
      double scale = own.rstd;
      if (f.gain == Gain::scalar) scale *= g0 + double(p.gain[0]);
      const double shift = lambda * own.mean;
      with_flags(centered, vector_gain, bias, [&](auto Centered, auto VectorGain, auto Bias) {
        affine_row<T, Centered(), VectorGain(), Bias()>(yr, xr, SplitShift<T>(shift), scale, g,
                                                        g0, b, D);
      });
      // The row's y is redone only where its statistics left the safe range: the normal path
      // keeps the loop it had before rows at the edges were handled (a rescaled row inside it
      // cost 30-40% of the forward at D = 64 in cache).
      if (outside_safe_range<T>(own, rescale)) [[unlikely]] {
        redo_forward_row(yr, xr, f, s, p, cache, i);
      }
      if (stream) stream_copy(y.data() + i * D, staging, D);
    }
    if (stream) stream_fence();  // on the thread that streamed, before the region ends
  });
}

template <class T>
void ShiftScaleNorm::backward_impl(std::span<T> dx, NormParams<T> grads, const NormCache& cache,
                                   std::span<const T> dy, std::span<const T> x,
                                   NormParams<const T> p, std::size_t B, std::size_t D) const {
  if (D == 0) fail(kind(), ": D = 0 features");
  check_rows("x", x, B * D);
  check_rows("dy", dy, B * D);
  check_rows("dx", dx, B * D);
  const Form f = call_form(p, D);
  check_params("gradient", NormParams<const T>(grads), f);
  if (cache.rstd.size() != B || cache.mean.size() != B || cache.stat.size() != B) {
    fail(kind(), ": the cache holds ", cache.rstd.size(), " rows, the batch has B = ", B,
         " (pass the cache of the forward call on this x)");
  }

  const BackwardConstants<T> c(f, p.gain.data(), !grads.bias.empty());
  // Each block's sums (gain, bias, lambda) in a row of `sums`, added over the blocks in order at
  // the end: the same bits on any thread count (block_rows, core/parallel.hpp). At most 32
  // blocks: a row of sums per 8192 elements was 33 MB more traffic at B 16384, D 1024 (-25%).
  const std::size_t rows = std::max(block_rows(D), (B + 31) / 32), blocks = (B + rows - 1) / rows;
  const std::size_t ng = grads.gain.size(), nb = grads.bias.size(), stride = ng + nb + 1;
  const std::span<double> sums = work_row<double, kGradBlocks>(blocks * stride);
  const bool stream = stream_output(B, D * sizeof(T));
  T* stagings = stream ? work_row<T, kStagingRow>(std::size_t(threads()) * D).data() : nullptr;
  parallel_for_parts(blocks, 1, [&](std::size_t part, std::size_t first, std::size_t last) {
    T* staging = stream ? stagings + part * D : nullptr;
    for (std::size_t block = first; block < last; ++block) {
      double* block_sums = sums.data() + block * stride;
      std::fill(block_sums, block_sums + stride, 0.0);
      for (std::size_t i = block * rows; i < std::min(B, (block + 1) * rows); ++i) {
        T* dxr = stream ? staging : dx.data() + i * D;
        const RowStatistics stats{cache.mean[i], cache.stat[i], cache.rstd[i]};
        backward_row(dxr, block_sums, block_sums + ng, block_sums[ng + nb], dy.data() + i * D,
                     x.data() + i * D, stats, c);
        if (stream) stream_copy(dx.data() + i * D, staging, D);
      }
    }
    if (stream) stream_fence();  // on the thread that streamed, before the region ends
  });
  double* total = sums.data();  // over the blocks in order, into block 0's row
  for (std::size_t block = 1; block < blocks; ++block) {
    for (std::size_t j = 0; j < stride; ++j) total[j] += sums[block * stride + j];
  }
  for (std::size_t j = 0; j < ng; ++j) grads.gain[j] += T(total[j]);
  for (std::size_t j = 0; j < nb; ++j) grads.bias[j] += T(total[ng + j]);
  if (c.learn_lambda) grads.lambda[0] += T(total[ng + nb]);
}

void ShiftScaleNorm::forward(std::span<float> y, NormCache& cache, std::span<const float> x,
                             NormParams<const float> params, std::size_t B, std::size_t D) const {
  forward_impl<float>(y, cache, x, params, B, D);
}
void ShiftScaleNorm::forward(std::span<double> y, NormCache& cache, std::span<const double> x,
                             NormParams<const double> params, std::size_t B, std::size_t D) const {
  forward_impl<double>(y, cache, x, params, B, D);
}
void ShiftScaleNorm::backward(std::span<float> dx, NormParams<float> grads, const NormCache& cache,
                              std::span<const float> dy, std::span<const float> x,
                              NormParams<const float> params, std::size_t B, std::size_t D) const {
  backward_impl<float>(dx, grads, cache, dy, x, params, B, D);
}
void ShiftScaleNorm::backward(std::span<double> dx, NormParams<double> grads,
                              const NormCache& cache, std::span<const double> dy,
                              std::span<const double> x, NormParams<const double> params,
                              std::size_t B, std::size_t D) const {
  backward_impl<double>(dx, grads, cache, dy, x, params, B, D);
}

KindInfo shift_scale_kind(std::string name, std::string formula, std::string reference,
                          NormConfig defaults, KindForm form) {
  defaults.kind = name;
  return {std::move(name),
          std::move(formula),
          std::move(reference),
          shift_scale_options(form),
          std::move(defaults),
          form,
          [form](const NormConfig& c) { return std::make_unique<ShiftScaleNorm>(c, form); }};
}

}  // namespace normlab::norm
