// The shift-and-scale family, which covers every normalizer normlab ships:
//
//   z = x - lambda * mean(x)                              (shift; lambda = 0, 1 or learned)
//   s = sum_{j<k} z_j^2 / m,  m = k (an RMS) or 1 (a norm)  (statistic over the first k features)
//   y = g0_or_0 + g) * z / r(s) + b                        (r by eps mode; or r = 1: no rescale)
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

#include "norm/normalizer.hpp"

namespace normlab::norm {

struct ShiftScaleForm {
  enum class Centering { none, full, partial } centering = Centering::none;
  enum class Statistic { none, mean_square, sum_square } statistic = Statistic::mean_square;
  bool partial_statistic = false;  // pRMSNorm: statistic over the first ceil(p*D) features
  enum class Gain { none, vector, scalar } gain = Gain::vector;
  bool scalar_gain_sqrt_d = false;  // a scalar gain starts at sqrt(D) (ScaleNorm)
};

// Number of features entering the statistic: ceil(p * D), at least 1; robust to p*D landing a
// rounding error above an integer (0.1 * 30 = 3.0000000000000004 must give 3, not 4).
std::size_t statistic_features(double p, std::size_t D);

class ShiftScaleNorm final : public Normalizer {
 public:
  ShiftScaleNorm(NormConfig config, ShiftScaleForm form);

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
  // What forward and backward derive from the config, the form and D.
  struct CallConstants {
    bool rescale;       // divide by r(s) at all
    std::size_t k;      // features entering the statistic
    double divisor;     // k (an RMS) or 1 (a norm)
    double lambda;      // fraction of the mean subtracted
    bool learn_lambda;  // lambda is a parameter (its gradient is computed)
    double g0;          // added to the stored gain: 0, or its init when zero-centered
  };
  CallConstants call_constants(double learned_lambda, std::size_t D) const;

  template <class T>
  void forward_impl(std::span<T>, NormCache&, std::span<const T>, NormParams<const T>, std::size_t,
                    std::size_t) const;
  template <class T>
  void backward_impl(std::span<T>, NormParams<T>, const NormCache&, std::span<const T>,
                     std::span<const T>, NormParams<const T>, std::size_t, std::size_t) const;
  // Sizes of the parameters param_specs lays out for D features (0: absent).
  struct ParamSizes {
    std::size_t gain, bias, lambda;
  };
  ParamSizes param_sizes(std::size_t D) const;
  template <class T>
  void check_params(const char* what, NormParams<T> params, std::size_t D) const;

  ShiftScaleForm form_;
};

}  // namespace normlab::norm

#include "norm/registry.hpp"

namespace normlab::norm {

// A registry entry whose normalizer is a ShiftScaleNorm of the given form.
KindInfo shift_scale_kind(std::string name, std::string formula, std::string reference,
                          std::vector<std::string> options, NormConfig defaults,
                          ShiftScaleForm form);

}  // namespace normlab::norm
