// `normlab bench norms`: memory throughput of every normalizer's forward and forward+backward,
// next to a memcpy of the same bytes measured in the same run. Prints figures; asserts nothing.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace normlab::tools {

struct BenchNormsOptions {
  std::vector<std::size_t> dims{64, 256, 1024, 4096};
  double mib = 64;  // size of one (B, D) float32 tensor; well above this machine's caches
  int repeats = 9;  // timed runs per figure; the median is reported
  std::vector<std::string> kinds;  // empty: every registered normalizer
};

void bench_norms(std::ostream& out, const BenchNormsOptions& options);

}  // namespace normlab::tools
