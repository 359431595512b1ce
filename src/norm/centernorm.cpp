// CenterNorm: mean subtraction only, no re-scaling. The complement of RMSNorm, used to separate
// the effect of re-centering from that of re-scaling.
//   y = g * (x - mean(x)) + b                     x, y: (B, D); g, b: (D)
#include "norm/shift_scale.hpp"

namespace normlab::norm {

KindInfo centernorm_kind() {
  using F = KindForm;
  NormConfig defaults;
  defaults.bias = true;  // as LayerNorm, whose centering half it is
  return shift_scale_kind(
      "centernorm", "y = g * (x - mean(x)) + b",
      "normlab: LayerNorm without the division, the complement of RMSNorm; bias on as LayerNorm",
      defaults,
      {.centering = F::Centering::full, .statistic = F::Statistic::none});
}

}  // namespace normlab::norm
