// A run's memory, estimated from its config before anything is built: a size that no machine could
// hold (model.width = 1e7, train.batch = 1e8) is refused naming its key, instead of ending in a bare
// std::bad_alloc after the output directory and a .partial exist.
#pragma once

#include <string>

#include "io/config.hpp"

namespace normlab::train {

// Bytes a run of config `c` needs, roughly (within a small factor): the parameters, their
// gradients, optimizer moments and a spare copy; the activations of a training batch, forward and
// backward; the data (the validation set, a text's tokens). Counted per model family from its
// model.* keys, arithmetically (in double: sizes past 2^64 do not wrap).
double estimate_memory(const io::Config& c);

// The parameter count inside that estimate (tests/test_limits.cpp holds it to the built models').
double estimate_parameters(const io::Config& c);

// What a process may allocate: the physical memory, or a smaller address-space limit (ulimit -v).
struct MemoryLimit {
  double bytes = 0;
  std::string what;   // "physical memory", "the address-space limit (ulimit -v)"
  double overhead = 0;  // bytes mapped besides the estimate (an address-space limit: BLAS buffers)
};
MemoryLimit memory_limit();

// Throws an Error when estimate_memory(c) plus the limit's overhead exceeds `limit`, naming the size
// key that dominates the estimate (the one whose default would shrink it most), the estimate and the
// limit in GiB; or, when the overhead alone is most of it, saying to raise the limit.
void check_memory(const io::Config& c, const MemoryLimit& limit = memory_limit());

}  // namespace normlab::train
