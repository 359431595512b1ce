// Where the real data sets live: ../shared/data beside the checkout (Tiny Shakespeare, MNIST t10k).
#pragma once

namespace normlab::data {
inline constexpr const char* kSharedDataDir = NORMLAB_SOURCE_DIR "/../shared/data";
}  // namespace normlab::data
