// `normlab bench sweep`: the throughput of a sweep of short runs on this machine with 1 process
// at a time and with `jobs` at a time (each run one BLAS thread): runs per minute and their ratio.
// The sweep is `runs` copies (seeds) of a short MLP run, in a temporary directory; the process
// start-up, data generation and run-file writing are part of what is measured. Prints figures.
#pragma once

#include <ostream>
#include <string>

namespace normlab::tools {

struct BenchSweepOptions {
  int runs = 16;     // runs per sweep
  int steps = 200;   // training steps per run
  int jobs = 2;      // the parallel sweep's processes (the serial one has 1)
  std::string binary;  // the normlab executable
};

void bench_sweep(std::ostream& out, const BenchSweepOptions& options);

}  // namespace normlab::tools
