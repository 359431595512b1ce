// L2 normalization with a learned gain: the variant the RMSNorm paper reports failing. It is
// RMSNorm without the sqrt(D): its outputs are sqrt(D) times smaller at the same gain.
//   y = g * x / sqrt(sum(x^2) + eps) [+ b]        x, y: (B, D); g: (D)
#include "norm/shift_scale.hpp"

namespace normlab::norm {

KindInfo l2norm_kind() {
  using F = KindForm;
  return shift_scale_kind(
      "l2norm", "y = g * x / sqrt(sum(x^2) + eps) [+ b]",
      "Zhang & Sennrich 2019 (the failing l2-norm variant); eps as rmsnorm",
      NormConfig{},
      {.centering = F::Centering::none, .statistic = F::Statistic::sum_square});
}

}  // namespace normlab::norm
