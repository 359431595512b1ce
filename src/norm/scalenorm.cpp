// ScaleNorm (Nguyen & Salazar 2019, "Transformers without Tears"): one learned scalar gain.
//   y = g * x / max(||x||, eps) [+ b]               x, y: (B, D); g: scalar, initialised sqrt(D)
#include "norm/shift_scale.hpp"

namespace normlab::norm {

KindInfo scalenorm_kind() {
  using F = KindForm;
  NormConfig defaults;
  defaults.eps_mode = EpsMode::clamp;
  return shift_scale_kind(
      "scalenorm", "y = g * x / max(||x||, eps) [+ b], scalar g = sqrt(D) at init",
      "Nguyen & Salazar 2019. Defaults follow the authors' code: g = sqrt(D), the norm "
      "clamped below at eps = 1e-5",
      defaults,
      {.centering = F::Centering::none,
       .statistic = F::Statistic::sum_square,
       .gain = F::Gain::scalar,
       .gain_init = F::GainInit::sqrt_d});
}

}  // namespace normlab::norm
