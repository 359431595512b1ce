#include "bench/sweep.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/error.hpp"
#include "sweep/runner.hpp"
#include "sweep/sweep.hpp"

namespace normlab::tools {

void bench_sweep(std::ostream& out, const BenchSweepOptions& o) {
  if (o.runs < 1 || o.steps < 1 || o.jobs < 1) fail("bench sweep: --runs, --steps and --jobs must be at least 1");
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("normlab-bench-sweep-" + std::to_string(::getpid()));
  std::ostringstream seeds;
  for (int i = 0; i < o.runs; ++i) seeds << (i ? ", " : "") << i;
  const std::string text = "[set]\ntrain.steps = " + std::to_string(o.steps) +
                           "\ntrain.eval_every = " + std::to_string(o.steps) +
                           "\nthreads = 1\n[grid]\nseed = [" + seeds.str() + "]\n";
  out << "# normlab bench sweep: " << o.runs << " MLP runs of " << o.steps
      << " steps (the default experiment), each its own process with 1 BLAS thread\n\n"
      << std::left << std::setw(8) << "jobs" << std::right << std::setw(12) << "seconds"
      << std::setw(14) << "runs/minute" << std::setw(10) << "speedup" << "\n";
  double serial = 0;
  for (int jobs : {1, o.jobs}) {
    sweep::Sweep s = sweep::parse(text, "bench-sweep.toml");
    s.out = (dir / ("jobs" + std::to_string(jobs))).string();
    sweep::RunnerOptions ro;
    ro.jobs = jobs;
    ro.binary = o.binary;
    std::ostringstream log;
    const auto start = std::chrono::steady_clock::now();
    const auto outcomes = sweep::run_sweep(s, ro, log);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const auto& r : outcomes) {
      if (r.status != "completed") fail("bench sweep: run ", r.id, " ended ", r.status, "\n", log.str());
    }
    if (jobs == 1) serial = seconds;
    out << std::left << std::setw(8) << jobs << std::right << std::fixed << std::setprecision(2)
        << std::setw(12) << seconds << std::setw(14) << std::setprecision(1) << 60.0 * o.runs / seconds
        << std::setw(10) << std::setprecision(2) << serial / seconds << "\n";
    out.flush();
  }
  fs::remove_all(dir);
  out << "\nspeedup: the serial sweep's time over this one's (" << ::sysconf(_SC_NPROCESSORS_ONLN)
      << " cores online)\n";
}

}  // namespace normlab::tools
