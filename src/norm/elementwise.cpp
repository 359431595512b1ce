#include "norm/elementwise.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "norm/fast_tanh.hpp"

namespace normlab::norm {

namespace {

// y_j = g_j * tanh(a x_j) + b_j over one row; g only with Gain, b only with Bias.  y, x, g, b: (D)
template <class T, bool Gain, bool Bias>
void forward_row(T* y, const T* x, T a, const T* g, const T* b, std::size_t D) {
#pragma omp simd
  for (std::size_t j = 0; j < D; ++j) {
    T v = fast_tanh(a * x[j]);
    if constexpr (Gain) v *= g[j];
    if constexpr (Bias) v += b[j];
    y[j] = v;
  }
}

// One row's backward, per element in double (elementwise.hpp): dx written; dg_j += dy_j t_j
// (Gain), db_j += dy_j (Bias) into the block's double sums; returns the row's sum for alpha.
// dx, dy, x, g: (D); dg, db: (D)
template <class T, bool Gain, bool Bias>
double backward_row(T* dx, double* dg, double* db, const T* dy, const T* x, T a, const T* g,
                    std::size_t D) {
  double da = 0;
#pragma omp simd reduction(+ : da)
  for (std::size_t j = 0; j < D; ++j) {
    const double t = fast_tanh(double(a) * double(x[j]));
    const double du = (Gain ? double(dy[j]) * double(g[j]) : double(dy[j])) * (1 - t * t);
    dx[j] = T(du * double(a));
    da += du * double(x[j]);
    if constexpr (Gain) dg[j] += double(dy[j]) * double(t);
    if constexpr (Bias) db[j] += double(dy[j]);
  }
  return da;
}

// Calls f(std::bool_constant<a>, std::bool_constant<b>): one instance per combination.
template <class F>
void with_flags(bool a, bool b, F&& f) {
  auto pick = [](bool v, auto&& next) {
    if (v) next(std::true_type{});
    else next(std::false_type{});
  };
  pick(a, [&](auto A) { pick(b, [&](auto B) { f(A, B); }); });
}

}  // namespace

ElementwiseNorm::ElementwiseNorm(NormConfig config, KindForm form)
    : Normalizer(std::move(config)), form_(form) {}

std::vector<ParamSpec> ElementwiseNorm::param_specs(std::size_t D) const {
  const Form f = form(form_, config(), D);
  std::vector<ParamSpec> specs;
  if (f.gain_size()) specs.push_back({"gain", f.gain_size(), f.stored_gain_init()});
  if (f.bias_size()) specs.push_back({"bias", f.bias_size(), 0.0});
  specs.push_back({"alpha", 1, config().alpha0});
  return specs;
}

template <class T>
void ElementwiseNorm::check_params(const char* what, NormParams<T> p, std::size_t D) const {
  const Form f = form(form_, config(), D);
  for (auto [name, view, want] : {std::tuple{"gain", p.gain, f.gain_size()},
                                  {"bias", p.bias, f.bias_size()},
                                  {"lambda", p.lambda, std::size_t(0)},
                                  {"alpha", p.alpha, std::size_t(1)}}) {
    if (view.size() != want) {
      fail(kind(), ": ", what, " '", name, "' has ", view.size(), " values, expected ", want,
           want ? "" : cat(" (", kind(), " with these options has no ", name, ")"));
    }
  }
}

template <class T>
void ElementwiseNorm::forward_impl(std::span<T> y, NormCache& cache, std::span<const T> x,
                                   NormParams<const T> p, std::size_t B, std::size_t D) const {
  if (D == 0) fail(kind(), ": D = 0 features");
  check_rows("x", x, B * D);
  check_rows("y", y, B * D);
  check_params("parameter", p, D);
  cache.mean.assign(B, 0.0), cache.stat.assign(B, 0.0), cache.rstd.assign(B, 1.0);
  const T a = p.alpha[0];
  const T *g = p.gain.data(), *b = p.bias.data();
  const bool gain = !p.gain.empty(), bias = !p.bias.empty();
  parallel_for(B, std::max<std::size_t>(1, block_rows(D)), [&](std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) {
      with_flags(gain, bias, [&](auto G, auto Bi) {
        forward_row<T, G(), Bi()>(y.data() + i * D, x.data() + i * D, a, g, b, D);
      });
    }
  });
}

template <class T>
void ElementwiseNorm::backward_impl(std::span<T> dx, NormParams<T> grads, const NormCache& cache,
                                    std::span<const T> dy, std::span<const T> x,
                                    NormParams<const T> p, std::size_t B, std::size_t D) const {
  if (D == 0) fail(kind(), ": D = 0 features");
  check_rows("x", x, B * D);
  check_rows("dy", dy, B * D);
  check_rows("dx", dx, B * D);
  check_params("parameter", p, D);
  check_params("gradient", NormParams<const T>(grads), D);
  if (cache.rstd.size() != B) {
    fail(kind(), ": the cache holds ", cache.rstd.size(), " rows, the batch has B = ", B,
         " (pass the cache of the forward call on this x)");
  }
  const T a = p.alpha[0];
  const T* g = p.gain.data();
  const bool gain = !p.gain.empty(), bias = !grads.bias.empty();
  // Each block's sums (gain, bias, alpha) in a row, added over the blocks in order.
  const std::size_t rows = std::max(block_rows(D), (B + 31) / 32), blocks = (B + rows - 1) / rows;
  const std::size_t ng = grads.gain.size(), nb = grads.bias.size(), stride = ng + nb + 1;
  thread_local std::vector<double> sums;  // grown and reused: the steady state allocates nothing
  if (sums.size() < blocks * stride) sums.resize(blocks * stride);
  double* all = sums.data();
  parallel_for(blocks, 1, [&](std::size_t first, std::size_t last) {
    for (std::size_t block = first; block < last; ++block) {
      double* bs = all + block * stride;
      std::fill(bs, bs + stride, 0.0);
      for (std::size_t i = block * rows; i < std::min(B, (block + 1) * rows); ++i) {
        const std::size_t o = i * D;
        with_flags(gain, bias, [&](auto G, auto Bi) {
          bs[ng + nb] += backward_row<T, G(), Bi()>(dx.data() + o, bs, bs + ng, dy.data() + o,
                                                    x.data() + o, a, g, D);
        });
      }
    }
  });
  for (std::size_t block = 1; block < blocks; ++block) {
    for (std::size_t j = 0; j < stride; ++j) all[j] += all[block * stride + j];
  }
  for (std::size_t j = 0; j < ng; ++j) grads.gain[j] += T(all[j]);
  for (std::size_t j = 0; j < nb; ++j) grads.bias[j] += T(all[ng + j]);
  grads.alpha[0] += T(all[ng + nb]);
}

void ElementwiseNorm::forward(std::span<float> y, NormCache& cache, std::span<const float> x,
                              NormParams<const float> params, std::size_t B, std::size_t D) const {
  forward_impl<float>(y, cache, x, params, B, D);
}
void ElementwiseNorm::forward(std::span<double> y, NormCache& cache, std::span<const double> x,
                              NormParams<const double> params, std::size_t B, std::size_t D) const {
  forward_impl<double>(y, cache, x, params, B, D);
}
void ElementwiseNorm::backward(std::span<float> dx, NormParams<float> grads,
                               const NormCache& cache, std::span<const float> dy,
                               std::span<const float> x, NormParams<const float> params,
                               std::size_t B, std::size_t D) const {
  backward_impl<float>(dx, grads, cache, dy, x, params, B, D);
}
void ElementwiseNorm::backward(std::span<double> dx, NormParams<double> grads,
                               const NormCache& cache, std::span<const double> dy,
                               std::span<const double> x, NormParams<const double> params,
                               std::size_t B, std::size_t D) const {
  backward_impl<double>(dx, grads, cache, dy, x, params, B, D);
}

KindInfo elementwise_kind(std::string name, std::string formula, std::string reference,
                          NormConfig defaults, std::vector<std::string> options) {
  defaults.kind = name;
  const KindForm form{.family = KindForm::Family::elementwise,
                      .centering = KindForm::Centering::none,
                      .statistic = KindForm::Statistic::none,
                      .gain = KindForm::Gain::vector};
  return {std::move(name),
          std::move(formula),
          std::move(reference),
          std::move(options),
          std::move(defaults),
          form,
          [form](const NormConfig& c) { return std::make_unique<ElementwiseNorm>(c, form); }};
}

}  // namespace normlab::norm
