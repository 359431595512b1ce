// RMSNorm (Zhang & Sennrich, NeurIPS 2019): re-scaling only, no re-centering.
//   y = g * x / sqrt(mean(x^2) + eps) [+ b]        x, y: (B, D); g, b: (D)
#include "norm/shift_scale.hpp"

namespace normlab::norm {

KindInfo rmsnorm_kind() {
  using F = KindForm;
  return shift_scale_kind(
      "rmsnorm", "y = g * x / sqrt(mean(x^2) + eps) [+ b]",
      "Zhang & Sennrich 2019. Defaults follow PyTorch (eps = 1e-5 inside the root, as "
      "nn.LayerNorm); the author's code has eps = 1e-8 outside: eps_mode=outside,eps=1e-8",
      NormConfig{},
      {.centering = F::Centering::none, .statistic = F::Statistic::mean_square});
}

}  // namespace normlab::norm
