// The shift-and-scale family, which covers every normalizer normlab ships (its Form, form.hpp):
//
//   z = x - lambda * mean(x)                              (shift; lambda = 0, 1 or learned)
//   s = sum_{j<k} z_j^2 / m,  m = k (an RMS) or 1 (a norm)  (statistic over the first k features)
//   y = (g0 + g) * z / r(s) + b                            (r by eps mode; or r = 1: no rescale)
//
// RMSNorm is lambda = 0, k = D; LayerNorm lambda = 1; pRMSNorm k = ceil(p*D); ScaleNorm and l2norm
// use m = 1; centernorm does not rescale. The backward, for upstream gradient dy:
//
//   dn_j = dy_j * g_j,   A = sum_j dn_j z_j,   c = A * rstd^2 * r'(s) * 2 / m
//   dz_j = rstd * dn_j - [j < k] * z_j * c
//   dx_j = dz_j - lambda * mean(dz),   dlambda += -mean(x) * sum(dz)
//   dg_j += dy_j * z_j * rstd,  db_j += dy_j
//
// All reductions run in double, whatever the storage type; the per-element arithmetic runs in the
// storage type, with the shift split into hi + lo so that (x - hi) - lo keeps a large offset from
// cancelling the float digits (shift_scale.cpp, SplitShift).
#pragma once

#include "norm/form.hpp"
#include "norm/normalizer.hpp"

namespace normlab::norm {

// Forward and backward resolve the kind's Form once per call (form(kind, config, D)): its
// constants, and the parameter sizes param_specs lays out.
class ShiftScaleNorm final : public Normalizer {
 public:
  ShiftScaleNorm(NormConfig config, KindForm form);

  std::vector<ParamSpec> param_specs(std::size_t D) const override;

  void forward(std::span<float> y, NormCache& cache, std::span<const float> x,
               NormParams<const float> params, std::size_t B, std::size_t D) const override;
  void forward(std::span<double> y, NormCache& cache, std::span<const double> x,
               NormParams<const double> params, std::size_t B, std::size_t D) const override;
  void backward(std::span<float> dx, NormParams<float> grads, const NormCache& cache,
                std::span<const float> dy, std::span<const float> x,
                NormParams<const float> params, std::size_t B, std::size_t D) const override;
  void backward(std::span<double> dx, NormParams<double> grads, const NormCache& cache,
                std::span<const double> dy, std::span<const double> x,
                NormParams<const double> params, std::size_t B, std::size_t D) const override;

 private:
  // The Form at D, with a learned lambda's current value from `params`.
  template <class T>
  Form call_form(NormParams<const T> params, std::size_t D) const;

  template <class T>
  void forward_impl(std::span<T>, NormCache&, std::span<const T>, NormParams<const T>, std::size_t,
                    std::size_t) const;
  template <class T>
  void backward_impl(std::span<T>, NormParams<T>, const NormCache&, std::span<const T>,
                     std::span<const T>, NormParams<const T>, std::size_t, std::size_t) const;
  template <class T>
  void check_params(const char* what, NormParams<T> params, const Form& form) const;

  KindForm form_;
};

}  // namespace normlab::norm

#include "norm/registry.hpp"

namespace normlab::norm {

// A registry entry whose normalizer is a ShiftScaleNorm of the given form, with the options that
// form takes (shift_scale_options) and `defaults` for them.
KindInfo shift_scale_kind(std::string name, std::string formula, std::string reference,
                          NormConfig defaults, KindForm form);

}  // namespace normlab::norm
