// A normalizer that computes in emulated low precision: any kind with the options
// storage = float32|bfloat16|float16 and/or accumulate = float32|storage (norm/options.hpp).
// The registry builds one in place of the kind's own normalizer when those options are set, so a
// model trains with, say, bfloat16 activations in its normalizers and float32 (or bfloat16)
// arithmetic inside them, while everything else stays as it is.
//
// What is rounded: x and dy to storage on the way in, y and dx on the way out, the gain to storage,
// every intermediate to the accumulation precision (norm/emulated_kernels.hpp). The parameter
// gradients are summed in double from those rounded values (an optimizer's master copy).
#pragma once

#include <memory>

#include "norm/normalizer.hpp"

namespace normlab::norm {

// Throws naming the kind if it has no emulated form.
std::unique_ptr<norm::Normalizer> make_emulated_normalizer(const norm::NormConfig& config);

}  // namespace normlab::norm
