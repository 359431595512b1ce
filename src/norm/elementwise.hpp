// The element-wise family (KindForm::Family::elementwise, norm/form.hpp): a kind that replaces the
// normalizer by a squashing function of each element alone, with no per-row statistic. Today one
// kind, DyT:
//
//   y = g * tanh(alpha * x) + b      alpha: one learned scalar (init alpha0); g (D, init 1),
//                                    b (D, init 0), each where the options have it
//
// The backward, for upstream gradient dy, with t = tanh(alpha * x):
//
//   dx_j = dy_j * g_j * alpha * (1 - t_j^2)
//   dg_j += dy_j * t_j,   db_j += dy_j,   dalpha += sum_ij dy_ij * g_j * (1 - t_ij^2) * x_ij
//
// The parameter-gradient sums run in double, by blocks of rows added in block order (the same bits
// on any thread count); the per-element arithmetic runs in the storage type.
#pragma once

#include "norm/form.hpp"
#include "norm/normalizer.hpp"
#include "norm/registry.hpp"

namespace normlab::norm {

class ElementwiseNorm final : public Normalizer {
 public:
  ElementwiseNorm(NormConfig config, KindForm form);

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
  template <class T>
  void forward_impl(std::span<T>, NormCache&, std::span<const T>, NormParams<const T>, std::size_t,
                    std::size_t) const;
  template <class T>
  void backward_impl(std::span<T>, NormParams<T>, const NormCache&, std::span<const T>,
                     std::span<const T>, NormParams<const T>, std::size_t, std::size_t) const;
  template <class T>
  void check_params(const char* what, NormParams<T> params, std::size_t D) const;

  KindForm form_;
};

// A registry entry whose normalizer is an ElementwiseNorm, with `options` and `defaults` for them.
KindInfo elementwise_kind(std::string name, std::string formula, std::string reference,
                          NormConfig defaults, std::vector<std::string> options);

}  // namespace normlab::norm
