#include "norm/form.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "norm/registry.hpp"

namespace normlab::norm {

std::string to_string(RowTransform t) { return t == RowTransform::scale ? "scale" : "shift"; }

bool Form::invariant_to(RowTransform t) const {
  if (family != Family::shift_scale) return false;
  // a x: z, s and r(s) scale by a, a^2 and a (eps aside), so z / r(s) is unchanged.
  if (t == RowTransform::scale) return rescale;
  // x + c 1: z gains (1 - lambda) c 1.
  return centered() && lambda == 1.0;
}

std::size_t statistic_features(double p, std::size_t D) {
  double k = std::ceil(p * double(D) - 1e-9);
  return std::clamp<std::size_t>(std::size_t(std::max(k, 1.0)), 1, std::max<std::size_t>(D, 1));
}

Form form(const KindForm& kind, const NormConfig& c, std::size_t D) {
  using C = KindForm::Centering;
  using S = KindForm::Statistic;
  if (kind.family == KindForm::Family::elementwise &&
      (kind.centering != C::none || kind.statistic != S::none)) {
    fail(c.kind, ": an element-wise form subtracts nothing and has no statistic");
  }
  Form f;
  f.family = kind.family;
  f.D = D;
  const bool learned = kind.centering == C::partial && c.learn_lambda;
  f.subtract = kind.centering == C::none   ? Form::Subtract::none
               : kind.centering == C::full ? Form::Subtract::mean
               : learned                   ? Form::Subtract::learned
                                           : Form::Subtract::fixed;
  f.lambda = kind.centering == C::none ? 0.0 : kind.centering == C::full ? 1.0 : c.lambda;
  f.statistic = kind.statistic;
  f.rescale = kind.statistic != S::none;
  f.k = kind.partial_statistic ? statistic_features(c.p, D) : D;
  f.divisor = kind.statistic == S::mean_square ? double(f.k) : 1.0;
  f.eps = c.eps;
  f.eps_mode = c.eps_mode;
  f.variance = c.variance;
  f.gain = c.gain ? kind.gain : KindForm::Gain::none;  // the option gain=false drops it
  f.gain_init = f.gain == KindForm::Gain::none                ? 0.0
                : kind.gain_init == KindForm::GainInit::sqrt_d ? std::sqrt(double(D))
                                                               : 1.0;
  f.g0 = c.zero_centered_gain ? f.gain_init : 0.0;
  f.bias = c.bias;
  return f;
}

Form form(const NormConfig& config, std::size_t D) {
  return form(kind_info(config.kind).form, config, D);
}

std::vector<std::string> shift_scale_options(const KindForm& kind) {
  std::vector<std::string> names;
  const bool rescale = kind.statistic != KindForm::Statistic::none;
  if (rescale) names.insert(names.end(), {"eps", "eps_mode"});
  if (kind.gain != KindForm::Gain::none) {
    names.insert(names.end(), {"gain", "bias", "zero_centered_gain"});
  }
  // The one-pass and Welford variances run over all D features: no choice for a partial statistic.
  if (rescale && kind.centering == KindForm::Centering::full && !kind.partial_statistic) {
    names.push_back("variance");
  }
  if (kind.centering == KindForm::Centering::partial) {
    names.insert(names.end(), {"lambda", "learn_lambda"});
  }
  if (kind.partial_statistic) names.push_back("p");
  return names;
}

}  // namespace normlab::norm
