#include "bench/stats.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/parallel.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"
#include "io/config.hpp"
#include "io/run_file.hpp"
#include "io/run_schema.hpp"
#include "nn/optim.hpp"
#include "stats/recorder.hpp"
#include "bench/workloads.hpp"

namespace normlab::tools {

namespace {

// Mean ms per step over `steps` steps stepped as the trainer does, with statistics every `every`
// steps (0: none), into a fresh run file at `path`.
double time_block(Trainee& t, nn::Optimizer<float>& optimizer, stats::Recorder<float>& recorder,
                  int every, int steps, const std::string& path, bool cpu_clock) {
  io::RunFile run(path);
  for (const char* name : io::schema::kStepSeries) run.add_step_series(name);
  run.add_site_stats(recorder.site_table(), stats::stat_names());
  run.start();
  StepClock clock(cpu_clock);
  for (int s = 0; s < steps; ++s) {
    const bool record = every > 0 && recorder.sites() > 0 && s % every == 0;
    StepClock step(cpu_clock);
    if (record) recorder.begin();
    t.params->zero_grads();
    const double loss = t.forward();
    t.backward();
    if (record) recorder.after_backward();
    const double norm = nn::global_norm(t.params->grads());
    const double lr = optimizer.step(*t.params, norm);
    if (record) {
      recorder.after_update();
      run.record_stats(s, recorder.values());
    }
    run.record_step(s, {loss, lr, norm, step.seconds()});
    if ((s + 1) % 50 == 0) run.flush();
  }
  run.flush();
  const double ms = 1e3 * clock.seconds() / steps;
  run.finish(io::schema::status::kCompleted);
  std::filesystem::remove(path);
  return ms;
}

}  // namespace

void bench_stats(std::ostream& out, const BenchStatsOptions& o) {
  const auto& known = bench_train_workloads();
  for (const auto& w : o.workloads) {
    if (std::find(known.begin(), known.end(), w) == known.end())
      fail("--workloads: unknown workload '", w, "'", did_you_mean(w, known), "; available: ",
           join(known, ", "));
  }
  if (o.threads < 1) fail("--threads must be at least 1, got ", o.threads);
  if (o.rounds < 1) fail("--rounds must be at least 1, got ", o.rounds);
  if (o.steps < 1) fail("--steps must be at least 1, got ", o.steps);
  if (o.every < 0) fail("--every must be at least 0, got ", o.every);
  if (o.clock != "wall" && o.clock != "cpu") fail("--clock: '", o.clock, "' is not one of wall, cpu");
  const int every = o.every > 0 ? o.every : int(io::Config().integer("stats.every"));
  const bool cpu = o.clock == "cpu";
  set_blas_threads(o.threads);
  set_threads(o.threads);

  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("normlab-bench-stats-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  out << "# normlab bench stats: ms per training step (forward, backward, Adam, step series into a "
         "run file), float32, " << o.norm << "\n"
      << "# without statistics, with them every " << every << " steps (stats.every), and at every "
      << "step; " << o.rounds << " rounds of " << o.steps << " steps per condition, alternating; "
      << "median over rounds of the mean step time; clock " << o.clock << "; threads " << o.threads
      << (o.quick ? "; --quick shapes" : "") << "\n\n";
  out << std::left << std::setw(13) << "workload" << std::right << std::setw(7) << "sites"
      << std::setw(12) << "off ms" << std::setw(14) << ("every " + std::to_string(every))
      << std::setw(10) << "overhead" << std::setw(12) << "every 1" << std::setw(10) << "overhead"
      << std::setw(16) << "ms per record" << "\n";
  out.flush();
  for (const auto& w : o.workloads) {
    Rng rng(1234);
    Trainee t = make_trainee(w, o.shapes, o.norm, rng);
    nn::Optimizer<float> optimizer(t.optim, *t.params);  // AdamW for nanogpt, else Adam
    stats::Recorder<float> recorder(t.probes(), *t.params);
    const std::string path = (dir / (w + ".h5")).string();
    // Warm up (page faults, BLAS buffers, the core's clock) before anything is timed.
    time_block(t, optimizer, recorder, 1, std::max(2, o.steps / 4), path, cpu);
    std::vector<double> off, cadence, all;
    for (int r = 0; r < o.rounds; ++r) {
      off.push_back(time_block(t, optimizer, recorder, 0, o.steps, path, cpu));
      cadence.push_back(time_block(t, optimizer, recorder, every, o.steps, path, cpu));
      all.push_back(time_block(t, optimizer, recorder, 1, o.steps, path, cpu));
    }
    const double m_off = median(off), m_cad = median(cadence), m_all = median(all);
    out << std::left << std::setw(13) << w << std::right << std::setw(7) << recorder.sites()
        << std::setw(12) << fixed(m_off, 3) << std::setw(14) << fixed(m_cad, 3) << std::setw(9)
        << fixed(100 * (m_cad / m_off - 1), 1) << "%" << std::setw(12) << fixed(m_all, 3)
        << std::setw(9) << fixed(100 * (m_all / m_off - 1), 1) << "%" << std::setw(16)
        << fixed(m_all - m_off, 3) << "\n";
    out.flush();
  }
  std::filesystem::remove_all(dir);
  out << "\noverhead: the step time with statistics relative to without (the target at the default "
         "cadence: at most 5%)\nms per record: what recording at a step adds to it (every 1 minus "
         "off)\n";
}

}  // namespace normlab::tools
