// Partial centering: subtract a fraction lambda of the mean, then RMS-normalize.
//   z = x - lambda * mean(x);  y = g * z / sqrt(mean(z^2) + eps) [+ b]   x, y: (B, D); g: (D)
// lambda = 0 is RMSNorm, lambda = 1 is LayerNorm without bias. With learn_lambda, lambda is a
// learned scalar whose gradient, -mean(x) * sum(dL/dz), is part of the backward: a learned
// lambda per layer shows where a model wants re-centering.
#include "norm/shift_scale.hpp"

namespace normlab::norm {

KindInfo pcnorm_kind() {
  using F = KindForm;
  return shift_scale_kind(
      "pcnorm", "y = g * z / sqrt(mean(z^2) + eps) [+ b], z = x - lambda * mean(x)",
      "normlab: interpolates RMSNorm (lambda = 0) and LayerNorm without bias (lambda = 1); "
      "lambda = 0.5 by default; eps as rmsnorm",
      NormConfig{},
      {.centering = F::Centering::partial, .statistic = F::Statistic::mean_square});
}

}  // namespace normlab::norm
