// No normalization: y = x, dx = dy. The baseline every comparison needs.
#include "norm/shift_scale.hpp"

namespace normlab::norm {

KindInfo none_kind() {
  using F = KindForm;
  return shift_scale_kind("none", "y = x", "identity (the baseline)", NormConfig{},
                          {.centering = F::Centering::none,
                           .statistic = F::Statistic::none,
                           .gain = F::Gain::none});
}

}  // namespace normlab::norm
