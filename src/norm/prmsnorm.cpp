// Partial RMSNorm (Zhang & Sennrich 2019): the RMS is estimated from the first k features only
// and applied to all D; only those k features receive the statistic's gradient.
//   y = g * x / sqrt(mean_{j<k}(x_j^2) + eps) [+ b],  k = ceil(p * D)     x, y: (B, D); g: (D)
#include "norm/shift_scale.hpp"

namespace normlab::norm {

KindInfo prmsnorm_kind() {
  using F = KindForm;
  return shift_scale_kind(
      "prmsnorm", "y = g * x / sqrt(mean(x[:k]^2) + eps) [+ b], k = ceil(p*D)",
      "Zhang & Sennrich 2019, p = 6.25% (the paper's value); k = ceil(p*D) (the author's code "
      "truncates, int(p*D)); eps as rmsnorm",
      NormConfig{},
      {.centering = F::Centering::none,
       .statistic = F::Statistic::mean_square,
       .partial_statistic = true});
}

}  // namespace normlab::norm
