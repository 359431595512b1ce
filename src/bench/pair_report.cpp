#include "bench/pair_report.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <iomanip>

#include "bench/pair_stats.hpp"
#include "bench/torch_peer.hpp"
#include "bench/workloads.hpp"
#include "core/kernels.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"

namespace normlab::tools {

namespace {

std::string percent(double fraction) { return fixed(100 * fraction, 1) + "%"; }

std::string interval(const PairedRatio& r) {
  return fixed(r.ratio, 3) + " [" + fixed(r.lo, 3) + ", " + fixed(r.hi, 3) + "]";
}

void print_arm_table(std::ostream& out, const PairSetup& s, const PairTimes& t) {
  std::size_t width = 9;
  for (const auto& a : s.arms) width = std::max(width, join(a.sets, ",").size() + 2);
  out << std::left << std::setw(5) << "arm" << std::setw(int(width)) << "overrides" << std::right
      << std::setw(15) << "median ms/step" << std::setw(9) << "min" << std::setw(9) << "max"
      << "\n";
  for (std::size_t i = 0; i < s.arms.size(); ++i) {
    const auto& ms = t.ms[i];
    out << std::left << std::setw(5) << s.arms[i].name << std::setw(int(width))
        << join(s.arms[i].sets, ",") << std::right << std::setw(15) << fixed(median(ms), 3)
        << std::setw(9) << fixed(*std::min_element(ms.begin(), ms.end()), 3) << std::setw(9)
        << fixed(*std::max_element(ms.begin(), ms.end()), 3) << "\n";
  }
  out << "(per arm, over its " << t.ms[0].size() << " timed blocks of " << t.block
      << " steps: the block's ms per step)\n";
}

// Every timed block, and each alternation's log ratio B/A, for a reader who wants the pairs.
void print_raw(std::ostream& out, const PairSetup& s, const PairTimes& t) {
  out << "\nblocks (ms per step; alternations in order, even ones run A first, odd ones B):\n"
      << std::setw(5) << "alt";
  for (const auto& a : s.arms) out << std::setw(10) << a.name;
  out << std::setw(12) << "ln(B/A)" << "\n";
  for (std::size_t r = 0; r < t.ms[0].size(); ++r) {
    out << std::setw(5) << r;
    for (const auto& arm : t.ms) out << std::setw(10) << fixed(arm[r], 3);
    out << std::setw(12) << fixed(std::log(t.ms[1][r] / t.ms[0][r]), 4) << "\n";
  }
}

// The normalizers' shares, the Amdahl bounds, and the measured ratio held against them.
void print_amdahl(std::ostream& out, const PairSetup& s, const PairTimes& t, const PairedRatio& r) {
  const Share& a = t.share[0];
  const Share& b = t.share[1];
  out << "\nnormalizers' share of the step (forward + backward at every site), from "
      << s.options.share_blocks << " blocks of " << t.block
      << " steps each of A and B with the timing hook on (nn/norm_site.hpp); its clock reads ("
      << fixed(t.clock_read_ns, 0) << " ns each, " << fixed(double(a.calls) / double(a.steps), 0)
      << " calls per step of A) subtracted:\n";
  for (int i = 0; i < 2; ++i) {
    const Share& sh = t.share[i];
    out << "  " << (i == 0 ? "A" : "B") << "  p = " << percent(sh.p()) << " of "
        << fixed(1e3 * sh.step_seconds / double(sh.steps), 3) << " ms per step\n";
  }
  out << "Amdahl bound: with only the normalizers changed, B can be faster than A by at most p_A = "
      << percent(a.p()) << " (B/A >= " << fixed(1 - a.p(), 3)
      << "), and A faster than B by at most p_B = " << percent(b.p()) << " (B/A <= "
      << fixed(1 / (1 - b.p()), 3) << ")\n";
  // Per step: A's time with A's normalizer time swapped for B's.
  const double a_step = a.step_seconds / double(a.steps);
  const double predicted =
      1 - (a.norm_seconds / double(a.steps) - b.norm_seconds / double(b.steps)) / a_step;
  out << "the normalizers' times alone predict B/A = " << fixed(predicted, 3)
      << " (A's step with A's normalizer time replaced by B's)\n";
  const bool faster_beyond = beyond_amdahl(r.ratio, a.p());
  const bool slower_beyond = beyond_amdahl(1 / r.ratio, b.p());
  if (faster_beyond || slower_beyond) {
    out << "IMPOSSIBLE: the measured ratio " << fixed(r.ratio, 3)
        << " claims more than the normalizers take of the step: it is noise, or the arms differ in "
           "more than their normalizers\n";
  } else {
    out << "the measured ratio " << fixed(r.ratio, 3) << " is within the bound\n";
  }
}

}  // namespace

void print_pair_header(std::ostream& out, const PairSetup& s) {
  const BenchPairOptions& o = s.options;
  out << "# normlab bench pair: ms per training step of two arms of one config, in alternating "
         "blocks in one process\n"
      << "# command: " << o.command << "\n"
      << "# config: " << (o.config_path.empty() ? "the defaults" : o.config_path)
      << (o.sets.empty() ? "" : " with " + join(o.sets, " ")) << "; every arm the same seed, so "
      << "the same batches at the same step\n";
  const bool copy = o.control == "copy";
  for (const auto& a : s.arms) {
    out << "# " << a.name << ": " << join(a.sets, ",");
    if (a.name == "C1") out << "   (control" << (copy ? ": a copy of A" : "") << ")";
    if (a.name == "C2") {
      out << "   (control" << (copy ? ": another copy of A" : "") << ": must come out equal to C1)";
    }
    out << "\n";
  }
  std::string log = s.workload_log;
  while (!log.empty() && log.back() == '\n') log.pop_back();
  for (const auto& line : split(log, '\n')) out << "# A's " << line << "\n";
  const char* coretype = std::getenv(kCoreTypeVariable);
  out << "# threads " << o.threads << " (the pool; OpenBLAS " << s.blas_threads
      << "); CPUs this process may use: " << s.cpus << "\n"
      << "# clock: " << o.clock
      << (o.clock == "cpu" ? " (this process's CPU time: time other processes hold the core is not "
                             "counted; on one thread, the thread's CPU time)"
                           : " (elapsed: counts time other processes hold the core)")
      << "\n";
  if (o.threads > 1) {
    out << "# note: on " << o.threads << " threads the cpu clock adds up every thread's CPU time "
        << "(work, not latency: --clock wall for that), and the normalizers' share counts only the "
        << "time of the thread that calls them, so p understates a normalizer split across the "
        << "pool\n";
  }
  out << "# " << kCoreTypeVariable << "=" << (coretype ? coretype : "(unset)")
      << "; OpenBLAS core in use here: " << openblas_get_corename()
      << "\n# kernels: " << kernels::describe(kernels::active())
      << (std::getenv("NORMLAB_ISA") ? " (chosen by NORMLAB_ISA)" : " (the widest this CPU runs)")
      << "\n";
  out.flush();
}

void print_pair_report(std::ostream& out, const PairSetup& s, const PairTimes& t) {
  const BenchPairOptions& o = s.options;
  out << "# " << o.warmup << " warm-up alternations, then " << o.alternations << " of blocks of "
      << t.block << " steps"
      << (o.block == 0 ? " (about " + fixed(o.block_seconds, 2) + " s of A's step time)" : "")
      << " in the order " << (s.arms.size() > 2 ? "A B C1 C2, then B A C2 C1" : "A B, then B A")
      << "; every alternation builds its arms afresh (at a random heap offset) and steps each "
      << kStepsAfterBuild << " times untimed first\n\n";
  print_arm_table(out, s, t);
  if (o.raw) print_raw(out, s, t);
  const PairedRatio r = paired_ratio(t.ms[0], t.ms[1]);
  out << "\nB/A " << interval(r) << "   " << ratio_verdict(r, "B", "A") << "\n"
      << "    (the geometric mean of the " << r.n << " paired ratios and its 95% interval: t with "
      << r.n - 1 << " df on the mean log ratio, sd " << fixed(r.sd_log, 4) << ")\n";
  if (s.arms.size() > 2) {
    const PairedRatio c = paired_ratio(t.ms[2], t.ms[3]);
    out << "control C2/C1 ("
        << (o.control == "copy" ? "two copies of A: the same arithmetic on the same values"
                                : join(s.arms[3].sets, ",") + " over " + join(s.arms[2].sets, ","))
        << ") " << interval(c) << "   ";
    if (c.contains_one()) {
      out << "no difference detected, as it must be: the measurement resolves about "
          << percent(std::max(1 - c.lo, c.hi - 1)) << " here\n";
    } else {
      out << "NOT TRUSTWORTHY: the control differs (" << ratio_verdict(c, "C2", "C1")
          << "); this machine cannot time the difference reliably right now"
          << (o.control == "copy" ? "" : ", or the two kinds' steps differ in cost (README)")
          << "\n";
    }
  } else {
    out << "control: not run (--control none); nothing tells how far this machine can be trusted\n";
  }
  print_amdahl(out, s, t, r);
  out.flush();
}

}  // namespace normlab::tools
