// One description of a normalizer, the only one: every part of normlab that needs to know what a
// kind computes (the normalizer itself, the emulated-precision kernels, the statistics probe, the
// invariance analysis, the tests, `normlab norms --json`) reads its Form.
//
// A kind states its static part once, as a KindForm in its file in src/norm/ (registry.hpp's
// KindInfo::form). form() resolves it for a configuration (the kind's options) and D features:
//
//   z = x - lambda * mean(x)                 lambda: 0, 1, the option, or a learned parameter
//   s = sum_{j<k} z_j^2 / divisor            k = D or ceil(p*D); divisor k (an RMS) or 1 (a norm)
//   y = (g0 + g) * z / r(s) + b              r by eps mode, or r = 1 (no rescale); g stored,
//                                            g0 = 0, or the gain's init when zero-centered
//
// A kind that is not of this shape (an element-wise one, DyT: y = g * tanh(alpha * x) + b) has
// family = elementwise, no centering and no statistic; its Form still gives its gain (with g0),
// bias and invariances (none), and its own `make` computes it, with any parameter of its own
// (DyT's alpha) in its param_specs. The emulated kernels refuse it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "norm/options.hpp"

namespace normlab::norm {

// What a kind is before options and D.
struct KindForm {
  enum class Family { shift_scale, elementwise } family = Family::shift_scale;
  // What is subtracted: nothing (lambda = 0), the mean (lambda = 1), or lambda * mean with lambda
  // the option, a learned scalar under learn_lambda (pcnorm).
  enum class Centering { none, full, partial } centering = Centering::none;
  enum class Statistic { none, mean_square, sum_square } statistic = Statistic::mean_square;
  bool partial_statistic = false;  // over the first ceil(p*D) features only (pRMSNorm)
  enum class Gain { none, vector, scalar } gain = Gain::vector;
  enum class GainInit { one, sqrt_d } gain_init = GainInit::one;  // sqrt(D): ScaleNorm's scalar
};

// The transformations of a row the invariance analysis applies.
enum class RowTransform {
  scale,  // x -> a x, a > 0
  shift,  // x -> x + c 1
};
std::string to_string(RowTransform t);  // "scale", "shift"

// A kind resolved for one configuration and D features.
struct Form {
  using Family = KindForm::Family;
  using Statistic = KindForm::Statistic;
  using Gain = KindForm::Gain;
  enum class Subtract { none, mean, fixed, learned };  // lambda = 0, 1, the option, a parameter

  Family family = Family::shift_scale;
  std::size_t D = 0;
  // z = x - lambda * mean(x)
  Subtract subtract = Subtract::none;
  double lambda = 0;  // 0, 1, the option; a learned lambda's initial value (set it to the current)
  // s = sum_{j<k} z_j^2 / divisor, y divided by r(s) when rescale
  Statistic statistic = Statistic::mean_square;
  bool rescale = true;
  std::size_t k = 0;   // features entering the statistic: D, or ceil(p*D) (pRMSNorm)
  double divisor = 1;  // k (a mean square) or 1 (a sum of squares)
  double eps = 1e-5;  // NaN under eps=auto: whoever computes sets eps_for<T>(config)
  EpsMode eps_mode = EpsMode::inside;
  VarianceAlgo variance = VarianceAlgo::two_pass;  // with subtract = mean and rescale
  // y = (g0 + g) * ... + b
  Gain gain = Gain::vector;
  double gain_init = 1;  // the applied gain at init: 1, or sqrt(D); 0 without a gain
  double g0 = 0;         // added to the stored gain: 0, or gain_init when zero-centered
  bool bias = false;

  bool centered() const { return subtract != Subtract::none; }
  // The initial value of the stored gain: gain_init, or 0 when zero-centered.
  double stored_gain_init() const { return gain_init - g0; }
  // Parameter sizes (0: absent): gain D or 1, bias D, lambda 1.
  std::size_t gain_size() const { return gain == Gain::none ? 0 : gain == Gain::scalar ? 1 : D; }
  std::size_t bias_size() const { return bias ? D : 0; }
  std::size_t lambda_size() const { return subtract == Subtract::learned ? 1 : 0; }

  // Whether y ignores t applied to every row: a rescaling normalizer ignores scale (exactly only
  // at eps = 0), one that subtracts the whole mean (lambda = 1) ignores shift. A learned lambda
  // counts with the value in `lambda`.
  bool invariant_to(RowTransform t) const;
};

// Number of features entering the statistic: ceil(p * D), at least 1; robust to p*D landing a
// rounding error above an integer (0.1 * 30 = 3.0000000000000004 must give 3, not 4).
std::size_t statistic_features(double p, std::size_t D);

// The Form of `kind` under `config` at D features. Cheap (no allocation): resolve it once per call.
Form form(const KindForm& kind, const NormConfig& config, std::size_t D);
// The same for config.kind, looked up in the registry (throws for an unknown kind).
Form form(const NormConfig& config, std::size_t D);

// The options a shift-scale kind of this form takes, in the order describe() lists them.
std::vector<std::string> shift_scale_options(const KindForm& kind);

}  // namespace normlab::norm
