// DyT, Dynamic Tanh (Zhu, Chen, He, LeCun & Liu, "Transformers without Normalization", CVPR
// 2025): an element-wise replacement of the normalizer, no per-row statistic.
//   y = g * tanh(alpha * x) + b        x, y: (B, D); alpha: one learned scalar; g, b: (D)
#include "norm/elementwise.hpp"

namespace normlab::norm {

KindInfo dyt_kind() {
  NormConfig defaults;
  defaults.bias = true;
  return elementwise_kind(
      "dyt", "y = g * tanh(alpha * x) + b, scalar alpha = alpha0 at init",
      "Zhu, Chen, He, LeCun & Liu 2025 (Transformers without Normalization). Defaults follow the "
      "paper: alpha0 = 0.5, g = 1, b = 0 at init, bias on",
      defaults, {"alpha0", "gain", "bias"});
}

}  // namespace normlab::norm
