// `normlab bench kernels`: the per-ISA kernels (core/kernels.hpp) side by side on this CPU. For
// each element-wise function, millions of elements per second through every kernel set this CPU
// runs, next to the plain float loop over libm that a compiler gives without them (which calls
// libm once per element and does not vectorize). Tensors of `n` floats (the default fits in L2,
// so the figure is the kernel's compute rate); each round times every column once, in the
// thread's CPU time (robust to a shared machine), and figures are medians over rounds. Prints figures and ratios; asserts nothing.
#pragma once

#include <cstddef>
#include <ostream>

namespace normlab::tools {

struct BenchKernelsOptions {
  std::size_t n = 1 << 16;  // floats per tensor (256 KiB)
  int rounds = 9;
  int calls = 20;  // calls per timed figure
};

void bench_kernels(std::ostream& out, const BenchKernelsOptions& options);

}  // namespace normlab::tools
