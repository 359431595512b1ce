// LayerNorm (Ba, Kiros & Hinton 2016): re-centering and re-scaling.
//   y = g * (x - mean(x)) / sqrt(var(x) + eps) + b  x, y: (B, D); g, b: (D); var biased (1/D)
// The variance algorithm is an option (two-pass, naive one-pass, Welford) for the numerics study.
#include "norm/shift_scale.hpp"

namespace normlab::norm {

KindInfo layernorm_kind() {
  using F = KindForm;
  NormConfig defaults;
  defaults.bias = true;
  return shift_scale_kind(
      "layernorm", "y = g * (x - mean(x)) / sqrt(var(x) + eps) + b",
      "Ba, Kiros & Hinton 2016. Defaults follow torch.nn.LayerNorm: eps = 1e-5 inside the "
      "root, biased variance, bias on",
      defaults,
      {.centering = F::Centering::full, .statistic = F::Statistic::mean_square});
}

}  // namespace normlab::norm
