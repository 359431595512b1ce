#include "bench/norms.hpp"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <memory>
#include <optional>
#include <utility>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/timer.hpp"
#include "norm/registry.hpp"

namespace normlab::tools {

namespace {

// Seconds on this thread's CPU clock, or elapsed. The kernels and memcpy all run on this thread.
// On a shared core a window of elapsed time also holds the slices of whatever else runs there:
// with two compilers on the two cores, 1 ms windows of an in-cache memcpy read less than half
// its rate in 78 of 400 windows on the elapsed clock and in 2 of 400 on the thread's CPU clock,
// and the memcpy reference of a whole table could read 5-25 GB/s instead of ~110 (see
// seconds_per_call).
double now(bool cpu) {
  timespec ts;
  clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Seconds per call of fn, timed over enough calls to last about a millisecond (an in-cache call
// takes microseconds, below what one clock reading resolves well). The call count comes from
// calls timed for at least 50 us, not from one call: one call that caught a preemption or a cold
// cache set the count to 1, and a window of one 2.5 us memcpy is at the mercy of the clock's
// granularity and of any interrupt.
template <class Fn>
double seconds_per_call(Fn&& fn, bool cpu) {
  int probe = 0;
  const double start = now(cpu);
  double probed = 0;
  do {
    fn();
    ++probe;
    probed = now(cpu) - start;
  } while (probed < 50e-6 && probe < 10000);
  const double per = probed / probe;
  const int calls = int(std::clamp(1e-3 / std::max(per, 1e-9), 1.0, 100000.0));
  const double t0 = now(cpu);
  for (int c = 0; c < calls; ++c) fn();
  return (now(cpu) - t0) / calls;
}

// One normalizer with its parameters, gradients and cache, ready to run on (B, D).
struct Subject {
  std::string kind;
  std::unique_ptr<norm::Normalizer> normalizer;
  std::vector<float> params, grads;
  norm::NormParams<const float> p;
  norm::NormParams<float> g;
  norm::NormCache cache;
  std::vector<double> fwd, both;  // seconds per call, one per round
};

// Every kind's normalizer with its parameters (initial values) and gradients, at width D.
std::vector<Subject> make_subjects(const std::vector<std::string>& kinds, std::size_t D) {
  std::vector<Subject> subjects;
  for (const auto& kind : kinds) {
    Subject s{kind, norm::make_normalizer(kind), {}, {}, {}, {}, {}, {}, {}};
    auto specs = s.normalizer->param_specs(D);
    s.params = norm::initial_params<float>(specs);
    s.grads.assign(s.params.size(), 0.0f);
    s.p = norm::bind_params<const float>(specs, std::span<const float>(s.params));
    s.g = norm::bind_params<float>(specs, std::span<float>(s.grads));
    subjects.push_back(std::move(s));
  }
  return subjects;
}

// Prints one D's table: memcpy's rate, then every kind's forward and forward+backward rates and
// their share of memcpy's, from the `repeats` rounds' seconds per call (`copy` has one entry per
// round, or with `best` one per window of the regime's pool). Returns LayerNorm's time over
// RMSNorm's (forward, forward+backward) when both kinds are among `subjects`.
std::optional<std::pair<double, double>> print_dim_table(
    std::ostream& out, std::size_t D, std::size_t B, double gb, const std::vector<double>& copy,
    const std::vector<Subject>& subjects, int repeats, bool best) {
  // Median over rounds of a per-round quantity.
  auto median_of = [&](auto&& per_round) {
    std::vector<double> v;
    for (int r = 0; r < repeats; ++r) v.push_back(per_round(std::size_t(r)));
    return median(std::move(v));
  };
  // A figure's time: the median over rounds, or with `best` the fastest round.
  auto time_of = [&](const std::vector<double>& v) {
    return best ? *std::min_element(v.begin(), v.end()) : median(v);
  };
  // a's time over b's: the median of per-round ratios, or with `best` the ratio of the fastest.
  auto ratio = [&](const std::vector<double>& a, const std::vector<double>& b) {
    return best ? time_of(a) / time_of(b)
                : median_of([&](std::size_t r) { return a[r] / b[r]; });
  };
  out << "\nD = " << D << ", B = " << B << ": memcpy " << std::setprecision(1)
      << 2 * gb / time_of(copy) << " GB/s\n"
      << "  kind          fwd GB/s  %memcpy   fwd+bwd GB/s  %memcpy\n";
  const Subject *ln = nullptr, *rms = nullptr;
  for (const auto& s : subjects) {
    if (s.kind == "layernorm") ln = &s;
    if (s.kind == "rmsnorm") rms = &s;
    out << "  " << std::left << std::setw(12) << s.kind << std::right << std::setprecision(1)
        << std::setw(10) << 2 * gb / time_of(s.fwd) << std::setw(8)
        << 100 * ratio(copy, s.fwd) << "%"
        << std::setw(15) << 5 * gb / time_of(s.both) << std::setw(8)
        << 100 * 2.5 * ratio(copy, s.both) << "%\n";
  }
  if (!ln || !rms) return std::nullopt;
  return std::pair{ratio(ln->fwd, rms->fwd), ratio(ln->both, rms->both)};
}

// One table: every kind at every D over tensors of `bytes` each. Each round times memcpy, then
// every kind's forward and forward+backward, so a busy machine slows all of a round alike and
// the per-round ratios stay meaningful; the figures are medians over rounds.
void bench_regime(std::ostream& out, const std::vector<std::string>& kinds,
                  const std::vector<std::size_t>& dims, double bytes, int repeats, bool cpu,
                  bool best) {
  const std::size_t N = std::size_t(bytes / sizeof(float));
  std::vector<float> x(N), y(N), dy(N), dx(N);  // value-initialised: every page touched
  Rng rng(1);
  fill_normal(std::span<float>(x), rng, 0.5, 2.0);
  fill_normal(std::span<float>(dy), rng);

  std::vector<std::pair<std::size_t, std::pair<double, double>>> ln_over_rms;
  // With `best`, every memcpy window of the regime so far: the copy is the same at every D (a
  // whole tensor), and the fastest window over all of them is the in-cache copy rate. Within one
  // D's rounds it could still read 64 GB/s for all 9 (a busy spell of the machine, which slows
  // memcpy, bound by L2 bandwidth, more than the kernels).
  std::vector<double> copy_pool;
  auto copy_x_to_y = [&] {
    std::memcpy(y.data(), x.data(), x.size() * sizeof(float));
    // The barrier keeps the compiler from merging the repeated identical copies into one.
    asm volatile("" : : "r"(y.data()) : "memory");
  };
  if (best) {
    for (int w = 0; w < 4 * repeats; ++w) copy_pool.push_back(seconds_per_call(copy_x_to_y, cpu));
  }
  for (std::size_t D : dims) {
    const std::size_t B = N / D, n = B * D;
    if (B == 0) fail("bench norms: D = ", D, " does not fit one row in ", bytes, " bytes");
    std::span<const float> xs(x.data(), n), dys(dy.data(), n);
    std::span<float> ys(y.data(), n), dxs(dx.data(), n);
    std::vector<Subject> subjects = make_subjects(kinds, D);
    const std::size_t tensor_bytes = n * sizeof(float);
    const double gb = double(tensor_bytes) / 1e9;
    std::vector<double> copy;
    for (int r = 0; r < repeats; ++r) {
      if (best) {
        copy_pool.push_back(seconds_per_call(copy_x_to_y, cpu));
      } else {
        copy.push_back(seconds_per_call([&] {
          std::memcpy(ys.data(), xs.data(), tensor_bytes);
          asm volatile("" : : "r"(ys.data()) : "memory");
        }, cpu));
      }
      for (auto& s : subjects) {
        auto& nz = *s.normalizer;
        s.fwd.push_back(seconds_per_call([&] { nz.forward(ys, s.cache, xs, s.p, B, D); }, cpu));
        s.both.push_back(seconds_per_call([&] {
          nz.forward(ys, s.cache, xs, s.p, B, D);
          nz.backward(dxs, s.g, s.cache, dys, xs, s.p, B, D);
        }, cpu));
      }
    }
    if (best) {  // whole-tensor copies, scaled to this D's B rows (B D = N when D divides N)
      for (double t : copy_pool) copy.push_back(t * double(n) / double(N));
    }
    if (auto r = print_dim_table(out, D, B, gb, copy, subjects, repeats, best)) {
      ln_over_rms.push_back({D, *r});
    }
  }
  if (!ln_over_rms.empty()) {
    out << "\nLayerNorm / RMSNorm time ratio (> 1: RMSNorm faster; "
        << (best ? "fastest rounds" : "median of per-round ratios") << ")\n"
        << "  D       fwd   fwd+bwd\n";
    for (const auto& [D, r] : ln_over_rms) {
      out << "  " << std::left << std::setw(6) << D << std::right << std::setprecision(2)
          << std::setw(6) << r.first << std::setw(10) << r.second << "\n";
    }
  }
}

}  // namespace

void bench_norms(std::ostream& out, const BenchNormsOptions& o) {
  std::vector<std::string> kinds = o.kinds.empty() ? norm::kind_names() : o.kinds;
  for (const auto& k : kinds) norm::kind_info(k);  // unknown names fail before any work
  if (o.repeats < 1) fail("--repeats must be at least 1");
  if (!(o.mib > 0)) fail("--mib must be > 0");
  if (o.clock != "cpu" && o.clock != "wall") fail("--clock: '", o.clock, "' is not one of cpu, wall");
  const bool cpu = o.clock == "cpu";

  out << std::fixed << std::setprecision(0)
      << "# normlab bench norms: float32, one thread, median of " << o.repeats
      << " rounds (each round: memcpy, then every kind); clock: "
      << (cpu ? "this thread's CPU time" : "elapsed (wall)") << "\n"
      << "# GB/s counts the tensors a kernel must move: forward reads x, writes y (2);\n"
      << "# forward+backward also reads dy and x, writes dx (5). memcpy moves 2. Stores to lines\n"
      << "# not in cache read them first, memcpy's as the kernels': see bench/norms.hpp.\n";
  out << "\n## Beyond the caches: " << std::setprecision(o.mib < 1 ? 2 : 0) << o.mib
      << " MiB per (B, D) tensor\n";
  bench_regime(out, kinds, o.dims, o.mib * 1024 * 1024, o.repeats, cpu, false);
  if (!o.cached_dims.empty()) {
    out << "\n## In cache: " << std::setprecision(0) << o.cached_kib
        << " KiB per tensor (x, y, dy, dx take half of L2); the rate is the kernel's compute rate\n"
        << "# each figure from its fastest round: on a shared core, time only ever adds to a\n"
        << "# window of a few thousand calls (preemptions, a neighbour evicting L2), and a\n"
        << "# median of 9 such windows still read memcpy at 20-60 GB/s instead of ~110\n";
    bench_regime(out, kinds, o.cached_dims, o.cached_kib * 1024, o.repeats, cpu, true);
  }
}

}  // namespace normlab::tools
