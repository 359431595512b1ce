// The target value that carries no loss, shared by the data tasks and the cross-entropy
// (torch: CrossEntropyLoss(ignore_index=-1)).
#pragma once

#include <cstdint>

namespace normlab {
inline constexpr std::int32_t kIgnore = -1;
}  // namespace normlab
