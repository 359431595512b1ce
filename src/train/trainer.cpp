#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <memory>
#include <iomanip>
#include <optional>

#include <sys/resource.h>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"
#include "io/run_file.hpp"
#include "nn/optim.hpp"
#include "stats/recorder.hpp"
#include "train/checkpoint.hpp"
#include "train/workload.hpp"

namespace normlab::train {

namespace {

// This process's peak resident set size so far (getrusage's ru_maxrss, KiB on Linux), in MiB.
double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
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


nn::OptimConfig optim_config(const io::Config& c) {
  nn::OptimConfig o;
  o.name = c.string("optim.name");
  o.lr = c.number("optim.lr");
  o.momentum = c.number("optim.momentum");
  o.beta1 = c.number("optim.beta1");
  o.beta2 = c.number("optim.beta2");
  o.eps = c.number("optim.eps");
  o.weight_decay = c.number("optim.weight_decay");
  o.decay_gains_biases = c.boolean("optim.decay_gains_biases");
  o.clip = c.number("optim.clip");
  o.schedule = c.string("optim.schedule");
  o.warmup = c.integer("optim.warmup");
  o.steps = c.integer("train.steps");
  nn::validate(o);
  return o;
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Where a run's files are: NAME.h5 when finished, NAME.h5.partial while it runs, NAME.resume.h5
// its checkpoint, and NAME.h5.partial.old the file of an interrupted run while a resume copies
// its rows (if that resume is killed too, the .old file is still the one to copy from).
struct RunPaths {
  explicit RunPaths(const std::string& run_path)
      : run(run_path), partial(run + ".partial"), old_rows(partial + ".old"),
        checkpoint(checkpoint_path(run)) {}
  std::string run, partial, old_rows, checkpoint;
};

// Reads the checkpoint to resume from and checks that it belongs to this config; nothing happens
// to any file when it does not.
template <class T>
Checkpoint<T> checkpoint_to_resume(const RunPaths& paths, const io::Config& c, std::size_t steps) {
  Checkpoint<T> k = load_checkpoint<T>(paths.checkpoint);
  const io::Config saved = io::Config::parse(k.config_toml, paths.checkpoint);
  const std::string key = config_difference(saved, c);
  if (!key.empty()) {
    auto value = [&key](const io::Config& config) {
      const auto keys = config.keys();
      return std::find(keys.begin(), keys.end(), key) == keys.end() ? std::string("(no such key)")
                                                                    : config.value_text(key);
    };
    fail("cannot resume ", paths.run, ": its checkpoint ", paths.checkpoint,
         " was written with another config: ", key, " = ", value(saved), " there, ", value(c),
         " now; resume with the same config, or delete the checkpoint to start afresh");
  }
  if (std::size_t(k.step) >= steps) {
    fail(paths.checkpoint, ": a checkpoint after step ", k.step, " of a run of ", steps, " steps");
  }
  if (!std::filesystem::exists(paths.partial) && !std::filesystem::exists(paths.old_rows)) {
    fail("cannot resume ", paths.run, " from ", paths.checkpoint, ": the steps before step ",
         k.step, " were in ", paths.partial, ", which is gone; delete the checkpoint to start afresh");
  }
  return k;
}

// The file of the interrupted run whose rows a resume copies, read with SWMR (its writer may have
// been killed): NAME.h5.partial, moved to NAME.h5.partial.old first, or the .old file that a
// resume killed while copying left behind (the new .partial may miss rows; the .old has them).
h5::File rows_to_copy(const RunPaths& paths) {
  if (!std::filesystem::exists(paths.old_rows)) std::filesystem::rename(paths.partial, paths.old_rows);
  return io::open_run(paths.old_rows, /*swmr=*/true);
}

template <class T>
TrainResult run_typed(const io::Config& c, const std::string& path, std::ostream& log,
                      const TrainOptions& options) {
  namespace fs = std::filesystem;
  const std::uint64_t seed = std::uint64_t(c.integer("seed"));
  std::unique_ptr<Workload<T>> work = make_workload<T>(c, seed, derive_seed(seed, kValData), log);

  Rng init_rng(derive_seed(seed, kInit));
  work->params().initialize(c.string("model.init"), c.number("model.init_std"), init_rng);

  const nn::OptimConfig oc = optim_config(c);
  nn::Optimizer<T> optimizer(oc, work->params());
  const std::size_t steps = positive(c, "train.steps");
  const std::size_t eval_every = positive(c, "train.eval_every");
  const std::size_t flush_every = positive(c, "train.flush_every");
  const std::int64_t stats_every = c.integer("stats.every");
  if (stats_every < 0) fail("stats.every must be 0 (never) or a number of steps, got ", stats_every);
  const std::int64_t checkpoint_every = c.integer("train.checkpoint_every");
  if (checkpoint_every < 0) {
    fail("train.checkpoint_every must be 0 (never) or a number of steps, got ", checkpoint_every);
  }
  Rng train_rng(derive_seed(seed, kTrainData)), dropout_rng(derive_seed(seed, kDropout));

  // Resuming: the checkpoint's state replaces the fresh one, and the rows of the interrupted run
  // before it are copied into the new file below.
  const RunPaths paths(path);
  std::optional<Checkpoint<T>> resume;
  if (options.resume && fs::exists(paths.checkpoint)) {
    resume = checkpoint_to_resume<T>(paths, c, steps);
    if (resume->params.size() != work->params().size()) {
      fail(paths.checkpoint, ": ", resume->params.size(), " parameters, the model has ",
           work->params().size());
    }
    work->params().values() = resume->params;
    optimizer.set_state(resume->optimizer);
    train_rng = resume->train_rng;
    dropout_rng = resume->dropout_rng;
  } else if (options.resume) {
    log << "no checkpoint " << paths.checkpoint << ": the run starts afresh\n";
  }
  std::optional<h5::File> old_file;
  std::vector<long long> resumed_from;  // the steps at which earlier sessions were resumed
  std::string started = now_iso();
  if (resume) {
    old_file.emplace(rows_to_copy(paths));
    if (old_file->has_attribute("/", "resumed_from")) {
      resumed_from = old_file->read_integers_attribute("/", "resumed_from");
    }
    started = old_file->read_string_attribute("/", "started");
    resumed_from.push_back(resume->step);
  } else {
    // Starting afresh: what an earlier run of this name left to resume from is stale now.
    fs::remove(paths.checkpoint);
    fs::remove(paths.old_rows);
  }

  io::RunFile run(path);
  h5::File& f = run.file();
  f.write_attribute("/", "run_id", run_name(c));
  f.write_attribute("/", "config_toml", c.to_toml());
  f.write_attribute("/", "started", started);
  f.write_integers_attribute("/", "resumed_from", resumed_from);
  // Flat attributes of the main keys, as plain strings (a per-layer norm list joined by ",").
  for (auto [attribute, key] : {std::pair{"family", "model.family"}, {"norm", "model.norm"},
                                 {"norm_options", "model.norm_options"}, {"optimizer", "optim.name"},
                                 {"dtype", "dtype"}}) {
    f.write_attribute("/", attribute, join(c.strings(key), ","));
  }
  f.write_attribute("/", "task", task_name(c));
  f.write_attribute("/", "seed", (long long)seed);
  f.write_attribute("/", "lr", oc.lr);

  f.write_attribute("/", "val_metric_name", "accuracy");
  f.write_attribute("/", "stats_every", (long long)stats_every);
  for (const char* name : {"train_loss", "lr", "grad_norm", "step_time"}) run.add_step_series(name);
  for (const char* name : {"val_loss", "val_metric"}) run.add_eval_series(name);
  stats::Recorder<T> recorder(work->probes(), work->params());
  run.add_site_stats(recorder.site_table(), stats::stat_names());
  run.start();  // from here on a reader with SWMR sees every step up to the last flush

  std::size_t done = 0;  // steps done
  double last_loss = NAN, last_val_loss = NAN, last_val_metric = NAN;
  if (resume) {
    const std::size_t copied = run.copy_rows_before(*old_file, resume->step);
    if (copied != std::size_t(resume->step)) {
      fail("cannot resume ", path, ": ", paths.old_rows, " holds ", copied,
           " steps before the checkpoint's step ", resume->step,
           " (its last rows never reached the disk?); delete ", paths.checkpoint,
           " to start afresh");
    }
    run.flush();
    old_file->close();
    fs::remove(paths.old_rows);  // the new file holds those rows now
    done = std::size_t(resume->step);
    last_loss = resume->train_loss;
    last_val_loss = resume->val_loss;
    last_val_metric = resume->val_metric;
    log << "resumed at step " << done << " from " << paths.checkpoint << "\n";
  }
  const std::string config_toml = c.to_toml();
  std::size_t checkpoint_step = done;  // the step of the checkpoint on disk (0: none yet)
  auto save = [&] {
    Checkpoint<T> k;
    k.step = std::int64_t(done);
    k.config_toml = config_toml;
    k.params = work->params().values();
    k.optimizer = optimizer.state();
    k.train_rng = train_rng;
    k.dropout_rng = dropout_rng;
    k.train_loss = last_loss;
    k.val_loss = last_val_loss;
    k.val_metric = last_val_metric;
    save_checkpoint(paths.checkpoint, k);
    checkpoint_step = done;
  };

  StopSignals signals;  // SIGINT, SIGTERM: finish the step, close the file, status "interrupted"
  std::vector<double> step_times;
  std::string status = "completed";
  for (std::size_t t = done; t < steps; ++t) {
    const bool stop_here = options.stop_at_step > 0 && t == std::size_t(options.stop_at_step);
    if (signals.received() || stop_here) {
      log << "step " << t << ": " << (signals.received() ? signals.name() : "stop_at_step")
          << (signals.received() ? " received" : " reached") << "; the run stops here\n";
      status = "interrupted";
      break;
    }
    // Statistics at step 0, every stats.every steps and at the last step.
    const bool record = recorder.sites() > 0 && stats_every > 0 &&
                        (t % std::size_t(stats_every) == 0 || t + 1 == steps);
    Timer timer;
    if (record) recorder.begin();
    double loss = work->step(train_rng, dropout_rng);
    if (record) recorder.after_backward();
    double norm = nn::global_norm(work->params().grads());
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      log << "step " << t << ": " << (std::isfinite(loss) ? "gradient norm" : "loss")
          << " is not finite; the run diverged\n";
      status = "diverged";
      break;
    }
    double lr = optimizer.step(work->params(), norm);
    if (record) {
      recorder.after_update();
      run.record_stats((long long)t, recorder.values());
    }
    step_times.push_back(timer.seconds());
    last_loss = loss;
    done = t + 1;
    run.record_step((long long)t, {loss, lr, norm, step_times.back()});
    const bool evaluate = done % eval_every == 0 || done == steps;
    if (evaluate) {
      auto [vl, vm] = work->evaluate();
      last_val_loss = vl;
      last_val_metric = vm;
      run.record_eval((long long)t, {vl, vm});
      log << "step " << std::setw(5) << done << "  train loss " << std::fixed
          << std::setprecision(4) << loss << "  val loss " << vl << "  val accuracy "
          << std::setprecision(3) << vm << std::defaultfloat << "\n";
    }
    // The checkpoint comes after the rows before it are in the file, so a resume finds them.
    const bool checkpoint = checkpoint_every > 0 && done % std::size_t(checkpoint_every) == 0 &&
                            done < steps;
    if (evaluate || done % flush_every == 0 || checkpoint) run.flush();
    if (checkpoint) save();
  }

  if (status == "interrupted") {
    run.abandon(status);  // closed cleanly, readable, and left as NAME.h5.partial
    if (checkpoint_every > 0 && done > checkpoint_step) save();  // nothing done is lost
    if (checkpoint_step > 0) {
      log << "checkpoint after step " << checkpoint_step << ": " << paths.checkpoint << "\n";
    }
  } else {
    run.finish(status, [&](h5::File& out) {
      for (const auto& info : work->params().infos()) {
        out.write<T>("checkpoint/" + info.name, info.shape,
                     std::span<const T>(work->params().values().data() + info.offset, info.size));
      }
      out.write_attribute("/", "finished", now_iso());
      out.write_attribute("/", "peak_rss_mib", peak_rss_mib());
    });
    fs::remove(paths.checkpoint);  // a finished run is never resumed
    fs::remove(paths.checkpoint + ".tmp");
  }

  TrainResult r;
  r.path = status == "interrupted" ? paths.partial : path;
  r.status = status;
  r.steps = (std::int64_t)done;
  r.resumed_from = resume ? resume->step : -1;
  r.final_train_loss = last_loss;
  r.val_loss = last_val_loss;
  r.val_metric = last_val_metric;
  r.ms_per_step = step_times.empty() ? 0.0 : 1e3 * median(step_times);
  r.peak_rss_mib = peak_rss_mib();
  return r;
}

}  // namespace

std::string run_name(const io::Config& c) {
  std::string name = c.string("name");
  if (!name.empty()) return name;
  return c.string("model.family") + "-" + join(c.strings("model.norm"), "+") + "-s" +
         std::to_string(c.integer("seed"));
}

TrainResult run(const io::Config& c, const std::string& out_dir, std::ostream& log,
                const TrainOptions& options) {
  const std::string dtype = c.string("dtype");
  if (dtype != "float32" && dtype != "float64") fail("dtype: '", dtype, "' is not one of float32, float64");
  const std::int64_t threads = c.integer("threads");
  if (threads < 1) fail("threads must be at least 1, got ", threads);
  set_blas_threads(int(threads));
  const std::string dir = out_dir.empty() ? c.string("train.out") : out_dir;
  std::filesystem::create_directories(dir);
  const std::string path = (std::filesystem::path(dir) / (run_name(c) + ".h5")).string();
  // The stored config says where the file went (--out overrides train.out), as a TOML string.
  io::Config resolved = c;
  resolved.set("train.out=" + toml_quoted(dir));
  return dtype == "float64" ? run_typed<double>(resolved, path, log, options)
                            : run_typed<float>(resolved, path, log, options);
}

}  // namespace normlab::train
