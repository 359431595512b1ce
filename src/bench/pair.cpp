#include "bench/pair.hpp"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <sstream>

#include "bench/pair_report.hpp"
#include "bench/workloads.hpp"
#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/parallel.hpp"
#include "core/strings.hpp"
#include "io/config.hpp"
#include "nn/norm_site.hpp"
#include "nn/optim.hpp"
#include "train/resume.hpp"
#include "train/validate.hpp"
#include "train/workload.hpp"

namespace normlab::tools {

std::vector<std::string> split_assignments(const std::string& list) {
  const std::vector<std::string> keys = io::Config().keys();
  auto starts_with_key = [&](std::string_view rest) {
    const auto eq = rest.find('=');
    if (eq == std::string_view::npos) return false;
    const std::string key(trim(rest.substr(0, eq)));
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  std::vector<std::string> out;
  std::size_t begin = 0;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    const bool cut = i == list.size() ||
                     (list[i] == ',' && starts_with_key(std::string_view(list).substr(i + 1)));
    if (!cut) continue;
    const std::string part(trim(std::string_view(list).substr(begin, i - begin)));
    if (part.empty()) fail("an empty assignment in '", list, "' (key=value[,key=value])");
    if (part.find('=') == std::string::npos) {
      fail("'", part, "' in '", list, "' is not key=value (e.g. model.norm=layernorm)");
    }
    out.push_back(part);
    begin = i + 1;
  }
  return out;
}

std::vector<PairArm> control_arms(const BenchPairOptions& o) {
  if (o.control == "none") return {};
  if (o.control == "copy") return {{"C1", o.a}, {"C2", o.a}};
  const std::vector<std::string> kinds = split(o.control, ',');
  if (kinds.size() != 2 || trim(kinds[0]).empty() || trim(kinds[1]).empty()) {
    fail("--control: '", o.control,
         "' is not copy, none or two normalizers K1,K2 (rmsnorm,l2norm)");
  }
  return {{"C1", {"model.norm=" + std::string(trim(kinds[0]))}},
          {"C2", {"model.norm=" + std::string(trim(kinds[1]))}}};
}

void norms_to_arms(const std::string& norms, BenchPairOptions& o) {
  const std::vector<std::string> kinds = split(norms, ',');
  if (kinds.size() != 2 || trim(kinds[0]).empty() || trim(kinds[1]).empty()) {
    fail("--norms takes two normalizers, A,B (e.g. layernorm,rmsnorm), got '", norms, "'");
  }
  o.a = {"model.norm=" + std::string(trim(kinds[0]))};
  o.b = {"model.norm=" + std::string(trim(kinds[1]))};
}

std::string command_line(const std::string& program, const std::vector<std::string>& args) {
  std::string s = program;
  for (const auto& a : args) {
    const bool plain = !a.empty() && a.find_first_not_of(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/=:+@%") ==
        std::string::npos;
    if (plain) {
      s += " " + a;
      continue;
    }
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    s += " " + quoted + "'";
  }
  return s;
}

namespace {

// One arm: a model with its data and optimizer, as the trainer builds it, stepped as it steps.
class Arm {
 public:
  virtual ~Arm() = default;
  virtual void step() = 0;  // one training step; throws when the loss or norm is not finite
};

template <class T>
class TypedArm final : public Arm {
 public:
  TypedArm(const io::Config& c, const std::string& name, std::ostream& log)
      : name_(name), state_(build(c, log), train::optim_config(c), seed(c)) {}

  void step() override {
    const double loss = state_.work->step(state_.train_rng, state_.dropout_rng);
    const double norm = nn::global_norm(state_.work->params().grads());
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      fail("bench pair: arm ", name_, " diverged at step ", state_.done, " (loss ", loss,
           ", gradient norm ", norm, "); lower optim.lr");
    }
    state_.optimizer.step(state_.work->params(), norm);
    ++state_.done;
  }

 private:
  static std::uint64_t seed(const io::Config& c) { return std::uint64_t(c.integer("seed")); }
  // The trainer's initial state (trainer.cpp's initial_state): parameters from the kInit stream.
  static std::unique_ptr<train::Workload<T>> build(const io::Config& c, std::ostream& log) {
    auto work =
        train::make_workload<T>(c, seed(c), train::derive_seed(seed(c), train::kValData), log);
    Rng init_rng(train::derive_seed(seed(c), train::kInit));
    work->params().initialize(c.string("model.init"), c.number("model.init_std"), init_rng);
    return work;
  }

  std::string name_;
  train::TrainState<T> state_;
};

std::unique_ptr<Arm> make_arm(const io::Config& c, const std::string& name, std::ostream& log) {
  if (c.string("dtype") == "float64") return std::make_unique<TypedArm<double>>(c, name, log);
  return std::make_unique<TypedArm<float>>(c, name, log);
}

void check_options(const BenchPairOptions& o) {
  if (o.a.empty() || o.b.empty()) fail("bench pair: give the arms: --norms A,B or --a ... --b ...");
  if (o.alternations < 10) {
    fail("--alternations must be at least 10, got ", o.alternations,
         " (fewer pairs give a t interval too wide and too fragile to accept)");
  }
  if (o.block < 0) fail("--block must be 0 (auto) or a number of steps, got ", o.block);
  if (!(o.block_seconds > 0)) fail("--block-seconds must be > 0, got ", o.block_seconds);
  if (o.warmup < 0) fail("--warmup must be at least 0, got ", o.warmup);
  if (o.share_blocks < 1) fail("--share-blocks must be at least 1, got ", o.share_blocks);
  if (o.threads < 1) fail("--threads must be at least 1, got ", o.threads);
  if (o.clock != "wall" && o.clock != "cpu") {
    fail("--clock: '", o.clock, "' is not one of cpu, wall");
  }
}

// The CPUs this process may run on (its affinity mask, as taskset sets it): "1", "0-1", "0,2".
std::string affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return "?";
  std::string s;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    int last = c;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    if (!s.empty()) s += ',';
    s += std::to_string(c);
    if (last > c) s.append("-").append(std::to_string(last));
    c = last;
  }
  return s;
}

// Milliseconds per step of a block of k steps of `arm`.
double time_block(Arm& arm, int k, bool cpu) {
  StepClock clock(cpu);
  for (int s = 0; s < k; ++s) arm.step();
  return 1e3 * clock.seconds() / k;
}

// What one read of the hook's clock costs, seconds: the hook's own cost is subtracted from the
// normalizers' time and the step's (two reads per call, about one inside the interval).
double clock_read_seconds(bool cpu) {
  constexpr int kReads = 20000;
  StepClock clock(cpu);
  timespec ts;
  const clockid_t id = cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;  // the hook's clocks
  for (int i = 0; i < kReads; ++i) clock_gettime(id, &ts);
  return clock.seconds() / kReads;
}

// Alternation r's order: A B (C1 C2) for even r, B A (C2 C1) for odd r; arm order within pairs
// alternates, and no arm's block follows its own.
std::vector<std::size_t> alternation_order(int r, std::size_t arms) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < arms; ++i) order.push_back((r % 2 + 2) % 2 == 0 ? i : i ^ 1);
  return order;
}

// The arms of one alternation, built afresh, each after a heap allocation of random size: an arm's
// heap layout (which buffers share a cache line, how vectors align) stays with it for the life of
// the process. Two arms of one config built once came out 0.6% (a GRU) and 1.6% (a tiny GRU) apart
// here, intervals excluding 1; built anew per alternation, in the alternation's order, the layout
// varies with the alternations and the interval covers it (20 sessions of identical arms: 0.995
// to 1.006, every interval containing 1). README, bench pair.
class ArmSet {
 public:
  // `log`: where A's workload lines go (nullptr: nowhere).
  ArmSet(const std::vector<io::Config>& configs, const std::vector<PairArm>& specs,
         const std::vector<std::size_t>& order, Rng& rng, std::ostream* log)
      : arms_(configs.size()) {
    std::uniform_int_distribution<std::size_t> pad_lines(0, 1023);  // up to 64 KiB in 64 B lines
    for (std::size_t i : order) {
      pads_.emplace_back(16 + 64 * pad_lines(rng) + 16 * (pad_lines(rng) % 4), char(1));
      std::ostringstream arm_log;
      arms_[i] = make_arm(configs[i], specs[i].name, arm_log);
      if (i == 0 && log) *log << arm_log.str();
    }
  }
  Arm& operator[](std::size_t i) { return *arms_.at(i); }
  std::size_t size() const { return arms_.size(); }

 private:
  std::vector<std::vector<char>> pads_;
  std::vector<std::unique_ptr<Arm>> arms_;
};

// One alternation on freshly built arms: the untimed steps, then a timed block of each arm (kept
// when r >= 0; r < 0 are the warm-up rounds). With block 0 it is chosen first, from A's step time.
void run_alternation(ArmSet& arms, int r, const BenchPairOptions& o, bool cpu, PairTimes& t) {
  const std::vector<std::size_t> order = alternation_order(r, arms.size());
  for (std::size_t i : order) {
    for (int s = 0; s < kStepsAfterBuild; ++s) arms[i].step();
  }
  if (t.block == 0) {
    double a_ms = 0;
    for (std::size_t i : order) {
      const double ms = time_block(arms[i], 2, cpu);
      if (i == 0) a_ms = ms;
    }
    t.block = std::max(1, int(std::ceil(1e3 * o.block_seconds / a_ms)));
  }
  for (std::size_t i : order) {
    const double ms = time_block(arms[i], t.block, cpu);
    if (r >= 0) t.ms[i].push_back(ms);
  }
}

// The normalizers' share of A's and B's step, in blocks of their own with the hook on.
void measure_shares(ArmSet& arms, const BenchPairOptions& o, bool cpu, PairTimes& t) {
  const double read = clock_read_seconds(cpu);
  t.clock_read_ns = 1e9 * read;
  for (int i = 0; i < 2; ++i) t.share[i] = Share{};
  for (int r = 0; r < o.share_blocks; ++r) {
    for (int j = 0; j < 2; ++j) {
      const int i = r % 2 == 0 ? j : 1 - j;
      StepClock clock(cpu);
      nn::start_norm_timing(cpu);
      for (int s = 0; s < t.block; ++s) arms[std::size_t(i)].step();
      const nn::NormTime n = nn::stop_norm_timing();
      const double block = clock.seconds();
      Share& sh = t.share[i];
      sh.norm_seconds += n.seconds - double(n.calls) * read;
      sh.step_seconds += block - 2 * double(n.calls) * read;
      sh.calls += n.calls;
      sh.steps += std::uint64_t(t.block);
    }
  }
}

}  // namespace

void bench_pair(std::ostream& out, const BenchPairOptions& o) {
  check_options(o);
  io::Config base = o.config_path.empty() ? io::Config() : io::Config::load(o.config_path);
  for (const auto& s : o.sets) base.set(s);
  base.set("threads=" + std::to_string(o.threads));
  base.set("blas_threads=0");
  std::vector<PairArm> specs{{"A", o.a}, {"B", o.b}};
  for (auto& c : control_arms(o)) specs.push_back(std::move(c));
  std::vector<io::Config> configs;
  for (const auto& s : specs) {
    io::Config c = base;
    for (const auto& kv : s.sets) c.set(kv);
    train::validate(c);  // every arm's config errors before anything is printed
    configs.push_back(std::move(c));
  }
  set_threads(o.threads);
  const int blas = set_blas_threads(o.threads);
  const bool cpu = o.clock == "cpu";
  Rng layout_rng(train::derive_seed(std::uint64_t(base.integer("seed")), 0x1a7007));
  PairTimes t;
  t.block = o.block;
  t.ms.assign(specs.size(), {});
  std::unique_ptr<ArmSet> arms;
  for (int r = -o.warmup; r < o.alternations; ++r) {
    arms.reset();  // the last alternation's arms go first: their memory is what the next reuse
    std::ostringstream log;  // A's workload's lines about its data and sites
    const bool first = r == -o.warmup;
    arms = std::make_unique<ArmSet>(configs, specs, alternation_order(r, specs.size()), layout_rng,
                                    first ? &log : nullptr);
    if (first) print_pair_header(out, PairSetup{o, specs, log.str(), affinity(), blas});
    run_alternation(*arms, r, o, cpu, t);
  }
  measure_shares(*arms, o, cpu, t);
  print_pair_report(out, PairSetup{o, specs, "", affinity(), blas}, t);
}

}  // namespace normlab::tools
