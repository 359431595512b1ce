#include "train/trainer.hpp"

#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <span>
#include <vector>

#include <sys/resource.h>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/parallel.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"
#include "io/fault.hpp"
#include "io/run_file.hpp"
#include "io/run_lock.hpp"
#include "io/run_schema.hpp"
#include "nn/optim.hpp"
#include "stats/recorder.hpp"
#include "train/checkpoint_digest.hpp"
#include "train/progress.hpp"
#include "train/resume.hpp"
#include "train/stuck.hpp"
#include "train/validate.hpp"
#include "train/workload.hpp"

namespace normlab::train {

namespace {

namespace schema = io::schema;
namespace status = io::schema::status;

// This process's peak resident set size so far (getrusage's ru_maxrss, KiB on Linux), in MiB.
double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// SIGINT and SIGTERM while a run trains: the handler only notes the signal; the loop stops at the
// next step and closes the run file cleanly. The previous handlers come back afterwards.
volatile std::sig_atomic_t g_stop_signal = 0;

class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    previous_int_ = std::signal(SIGINT, [](int sig) { g_stop_signal = sig; });
    previous_term_ = std::signal(SIGTERM, [](int sig) { g_stop_signal = sig; });
  }
  ~StopSignals() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  bool received() const { return g_stop_signal != 0; }
  const char* name() const { return g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM"; }

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

// How often a run does what it does besides training, from the config (validated here).
struct Cadence {
  explicit Cadence(const io::Config& c)
      : steps(positive(c, "train.steps")),
        eval_every(positive(c, "train.eval_every")),
        flush_every(positive(c, "train.flush_every")),
        stats_every(at_least_zero(c, "stats.every")),
        checkpoint_every(at_least_zero(c, "train.checkpoint_every")) {}

  // Statistics at step 0, every stats.every steps and at the last step.
  bool records_stats(std::size_t t) const {
    return stats_every > 0 && (t % stats_every == 0 || t + 1 == steps);
  }
  // After the step that made `done` steps: an evaluation (which flushes too), a flush.
  bool evaluates(std::size_t done) const { return done % eval_every == 0 || done == steps; }
  bool flushes(std::size_t done) const { return done % flush_every == 0; }

  std::size_t steps, eval_every, flush_every;
  std::size_t stats_every, checkpoint_every;  // 0: never

 private:
  static std::size_t at_least_zero(const io::Config& c, const char* key) {
    const std::int64_t every = c.integer(key);
    if (every < 0) fail(key, " must be 0 (never) or a number of steps, got ", every);
    return std::size_t(every);
  }
};

// The model with its parameters initialized, the optimizer, and the generators, from the seed.
template <class T>
TrainState<T> initial_state(const io::Config& c, std::ostream& log) {
  const std::uint64_t seed = std::uint64_t(c.integer("seed"));
  std::unique_ptr<Workload<T>> work = make_workload<T>(c, seed, derive_seed(seed, kValData), log);
  Rng init_rng(derive_seed(seed, kInit));
  work->params().initialize(c.string("model.init"), c.number("model.init_std"), init_rng);
  return TrainState<T>(std::move(work), optim_config(c), seed);
}

// The run file's root attributes of this run.
template <class T>
io::RunAttributes run_attributes(const io::Config& c, const Workload<T>& work,
                                 const Resume<T>& resume) {
  io::RunAttributes a;
  a.run_id = run_name(c);
  a.config_toml = c.to_toml();
  auto flat = [&c](const char* key) { return join(c.strings(key), ","); };  // per-layer lists
  a.family = flat("model.family");
  a.norm = flat("model.norm");
  a.norm_options = flat("model.norm_options");
  a.optimizer = flat("optim.name");
  a.dtype = flat("dtype");
  a.task = task_name(c);
  a.seed = (long long)std::uint64_t(c.integer("seed"));
  a.lr = c.number("optim.lr");
  a.stats_every = c.integer("stats.every");
  a.val_metric_name = work.val_metric_name();
  a.chance_loss = work.chance_loss();
  a.started = resume.started().empty() ? now_iso() : resume.started();
  a.resumed_from = resume.resumed_from();
  return a;
}

// What the steps of one session work with.
template <class T>
struct Session {
  TrainState<T>& state;
  stats::Recorder<T>& recorder;
  io::RunWriter& run;
  const Cadence& cadence;
  StuckWatch& stuck;
  std::ostream& log;
  std::vector<double> step_times{};  // seconds, this session's steps
  ProgressLine* progress = nullptr;  // on a terminal: the updating line
};

// Step t: forward and backward on a fresh batch, the statistics when due, the update, the step's
// row. False, with nothing recorded, when the loss or the gradient norm is not finite.
template <class T>
bool train_step(Session<T>& s, std::size_t t) {
  TrainState<T>& state = s.state;
  const bool record = s.recorder.sites() > 0 && s.cadence.records_stats(t);
  Timer timer;
  if (record) s.recorder.begin();
  const double loss = state.work->step(state.train_rng, state.dropout_rng);
  if (record) s.recorder.after_backward();
  const double norm = nn::global_norm(state.work->params().grads());
  if (!std::isfinite(loss) || !std::isfinite(norm)) {
    if (s.progress) s.progress->clear();
    s.log << "step " << t << ": " << (std::isfinite(loss) ? "gradient norm" : "loss")
          << " is not finite; the run diverged\n";
    return false;
  }
  const double lr = state.optimizer.step(state.work->params(), norm);
  if (record) {
    s.recorder.after_update();
    s.run.record_stats((long long)t, s.recorder.values());
  }
  s.step_times.push_back(timer.seconds());
  state.last_loss = loss;
  state.done = t + 1;
  s.run.record_step((long long)t, {loss, lr, norm, s.step_times.back()});
  return true;
}

// The evaluation after step t, recorded and logged.
template <class T>
void evaluate(Session<T>& s, std::size_t t) {
  const auto [val_loss, val_metric] = s.state.work->evaluate();
  s.state.last_val_loss = val_loss;
  s.state.last_val_metric = val_metric;
  s.run.record_eval((long long)t, {val_loss, val_metric});
  s.stuck.evaluation(s.state.done, val_loss);
  if (s.progress) s.progress->clear();
  s.log << "step " << std::setw(5) << s.state.done << "  train loss " << std::fixed
        << std::setprecision(4) << s.state.last_loss << "  val loss " << val_loss << "  val "
        << s.state.work->val_metric_name() << " " << std::setprecision(3) << val_metric
        << std::defaultfloat << "\n";
}

// The steps from state.done to the end; returns the run's status.
template <class T>
std::string train_steps(Session<T>& s, Resume<T>& resume, const StopSignals& signals,
                        std::int64_t stop_at_step) {
  for (std::size_t t = s.state.done; t < s.cadence.steps; ++t) {
    const bool signalled = signals.received();
    if (signalled || (stop_at_step > 0 && t == std::size_t(stop_at_step))) {
      if (s.progress) s.progress->clear();
      s.log << "step " << t << ": " << (signalled ? signals.name() : "stop_at_step")
            << (signalled ? " received" : " reached") << "; the run stops here\n";
      return status::kInterrupted;
    }
    if (!train_step(s, t)) return status::kDiverged;
    const std::size_t done = s.state.done;
    if (s.progress) s.progress->step(done, s.state.last_loss);
    const bool evaluation = s.cadence.evaluates(done);
    if (evaluation) evaluate(s, t);
    // The checkpoint comes after the rows before it are in the file, so a resume finds them.
    const bool checkpoint = resume.due(done);
    if (evaluation || s.cadence.flushes(done) || checkpoint) s.run.flush();
    if (checkpoint) resume.save();
  }
  if (!s.stuck.stuck()) return status::kCompleted;
  s.log << "every evaluation after step " << s.stuck.early_steps() << " had a val loss of at least "
        << s.stuck.threshold() << " (chance " << s.state.work->chance_loss()
        << " nats less train.stuck_margin): the run is stuck\n";
  return status::kStuck;
}

// Closes the run file as `status` says: an interrupted run stays NAME.h5.partial with a checkpoint
// of its last step; a completed or diverged one gets its final parameters and is renamed.
template <class T>
void close_run(Session<T>& s, Resume<T>& resume, const std::string& run_status) {
  if (run_status == status::kInterrupted) {
    s.run.abandon(run_status);  // closed cleanly, readable, and left as NAME.h5.partial
    resume.stopped(s.log);
    return;
  }
  nn::ParamStore<T>& params = s.state.work->params();
  auto write_parameters = [&params](h5::File& out) {
    for (const auto& info : params.infos()) {
      const std::span<const T> values(params.values().data() + info.offset, info.size);
      out.write<T>(schema::checkpoint_dataset(info.name), info.shape, values);
      out.write_attribute(schema::checkpoint_dataset(info.name), schema::kCheckpointSha256,
                          parameter_digest(values));
      io::fault_point("finish");
    }
  };
  s.run.finish(run_status, {now_iso(), peak_rss_mib(), write_parameters});
  resume.ended();
}

template <class T>
TrainResult result(const Session<T>& s, const Resume<T>& resume, const RunPaths& paths,
                   const std::string& run_status) {
  TrainResult r;
  r.path = run_status == status::kInterrupted ? paths.partial : paths.run;
  r.status = run_status;
  r.steps = (std::int64_t)s.state.done;
  r.resumed_from = resume.resumed_at();
  r.final_train_loss = s.state.last_loss;
  r.val_loss = s.state.last_val_loss;
  r.val_metric = s.state.last_val_metric;
  r.ms_per_step = s.step_times.empty() ? 0.0 : 1e3 * median(s.step_times);
  r.peak_rss_mib = peak_rss_mib();
  return r;
}

// A resume of a run whose final file is there already: what that file says.
TrainResult finished_result(const RunPaths& paths) {
  const h5::File f = io::open_run(paths.run);
  auto last = [&f](const char* name, const char* axis) {
    const std::vector<double> v = io::read_series(f, name, axis);
    return v.empty() ? double(NAN) : v.back();
  };
  TrainResult r;
  r.path = paths.run;
  r.status = f.read_string_attribute("/", schema::attr::kStatus);
  r.steps = f.is_dataset(schema::axis::kStep) ? std::int64_t(f.shape(schema::axis::kStep)[0]) : 0;
  r.final_train_loss = last(schema::series::kTrainLoss, schema::axis::kStep);
  r.val_loss = last(schema::series::kValLoss, schema::axis::kEvalStep);
  r.val_metric = last(schema::series::kValMetric, schema::axis::kEvalStep);
  r.peak_rss_mib = peak_rss_mib();
  return r;
}

template <class T>
TrainResult run_typed(const io::Config& c, const std::string& path, std::ostream& log,
                      const TrainOptions& options) {
  TrainState<T> state = initial_state<T>(c, log);
  const Cadence cadence(c);
  const RunPaths paths(path);
  Resume<T> resume(paths, c, cadence.steps, cadence.checkpoint_every, options.resume, state, log);
  if (resume.finished_before()) return finished_result(paths);
  stats::Recorder<T> recorder(state.work->probes(), state.work->params());
  io::RunWriter run(path, run_attributes(c, *state.work, resume), recorder.site_table());
  resume.copy_rows(run, log);  // a resumed run: the rows before its checkpoint
  StuckWatch stuck(c, state.work->chance_loss());
  for (const auto& [done, val_loss] : resume.earlier_evaluations()) stuck.evaluation(done, val_loss);

  StopSignals signals;  // SIGINT, SIGTERM: finish the step, close the file, status "interrupted"
  Session<T> session{state, recorder, run, cadence, stuck, log};
  std::string run_status;
  {
    ProgressLine progress(log, options.progress_line, cadence.steps, state.done);
    session.progress = &progress;
    run_status = train_steps(session, resume, signals, options.stop_at_step);
    progress.clear();
    session.progress = nullptr;
  }
  close_run(session, resume, run_status);
  return result(session, resume, paths, run_status);
}

}  // namespace

void check_run_name(const std::string& name) {
  const char* why = nullptr;
  if (name.front() == '.') why = "starts with '.' (a hidden file, or '..' leaving the directory)";
  else if (name.find_first_of(std::string("/\\\0", 3)) != std::string::npos) why = "holds '/', '\\' or NUL";
  else if (name.size() > 200) why = "is longer than 200 bytes";
  if (!why) return;
  fail("name: '", escaped_bytes(name), "' ", why, "; the run name is one file name inside --out ",
       "(NAME.h5), so it may not name another directory; give a plain name (letters, digits, ",
       "'-', '_', '.')");
}

std::string run_name(const io::Config& c) {
  std::string name = c.string("name");
  if (!name.empty()) {
    check_run_name(name);
    return name;
  }
  return c.string("model.family") + "-" + join(c.strings("model.norm"), "+") + "-s" +
         std::to_string(c.integer("seed"));
}

TrainResult run(const io::Config& c, const std::string& out_dir, std::ostream& log,
                const TrainOptions& options) {
  const std::string dtype = c.string("dtype");
  if (dtype != "float32" && dtype != "float64") fail("dtype: '", dtype, "' is not one of float32, float64");
  const std::int64_t threads = c.integer("threads");
  if (threads < 1) fail("threads must be at least 1, got ", threads);
  const std::string dir = out_dir.empty() ? c.string("train.out") : out_dir;
  if (!valid_utf8(dir)) {
    fail("--out ", escaped_bytes(dir), ": not valid UTF-8; the run file keeps its directory in its ",
         "config (TOML text, UTF-8), so a resume could not read it back");
  }
  // The stored config says where the file went (--out overrides train.out), as a TOML string.
  io::Config resolved = c;
  resolved.set("train.out=" + toml_quoted(dir));
  const std::string path = (std::filesystem::path(dir) / (run_name(c) + schema::suffix::kRunFile)).string();
  // `threads` is both OpenBLAS's count for one call and the pool's (core/parallel.hpp: attention
  // heads, normalizer rows, element-wise layers), which is capped at usable_cpus() alone;
  // `blas_threads` sets OpenBLAS's apart (whose own split may change bits: README).
  set_threads(int(std::min<std::int64_t>(threads, 1 << 20)));
  const std::int64_t blas = c.integer("blas_threads") > 0 ? c.integer("blas_threads") : threads;
  if (const int used = set_blas_threads(int(std::min<std::int64_t>(blas, 1 << 20))); used < blas) {
    const int cpus = usable_cpus();
    log << "note: " << (blas == threads ? "threads" : "blas_threads") << " = " << blas
        << ", but BLAS uses " << used << " ("
        << (used == cpus ? cat("this process may run on ", cpus, " CPUs")
                         : cat("ulimit -v leaves address space for ", used, " OpenBLAS threads"))
        << ")\n";
  }
  std::filesystem::create_directories(dir);
  const io::RunLock lock(path);  // one writer per run: refused while another process holds it
  return dtype == "float64" ? run_typed<double>(resolved, path, log, options)
                            : run_typed<float>(resolved, path, log, options);
}

}  // namespace normlab::train
