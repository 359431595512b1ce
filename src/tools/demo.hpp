// `normlab demo`: every normalizer on one generated batch whose rows have different offsets and
// scales, showing what each removes (mean, scale) and what each is invariant to.
#pragma once

#include <cstdint>
#include <ostream>

namespace normlab::tools {

void run_demo(std::ostream& out, std::uint64_t seed);

}  // namespace normlab::tools
