#include "train/resume.hpp"

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "io/fault.hpp"
#include "io/run_schema.hpp"

namespace normlab::train {

namespace fs = std::filesystem;
namespace schema = io::schema;

namespace {

// Reads the checkpoint to resume from and checks that it belongs to this run; nothing happens to
// any file when it does not.
template <class T>
Checkpoint<T> checkpoint_to_resume(const RunPaths& paths, const io::Config& c, std::size_t steps,
                                   std::size_t parameters) {
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
  if (!fs::exists(paths.partial) && !fs::exists(paths.old_rows)) {
    fail("cannot resume ", paths.run, " from ", paths.checkpoint, ": the steps before step ",
         k.step, " were in ", paths.partial, ", which is gone; delete the checkpoint to start afresh");
  }
  if (k.params.size() != parameters) {
    fail(paths.checkpoint, ": ", k.params.size(), " parameters, the model has ", parameters);
  }
  return k;
}

// The file of the stopped run whose rows a resume copies, read with SWMR (its writer may have
// been killed): NAME.h5.partial, moved to NAME.h5.partial.old first, or the .old file that a
// resume killed while copying left behind (the new .partial may miss rows; the .old has them).
h5::File rows_to_copy(const RunPaths& paths) {
  if (!fs::exists(paths.old_rows)) fs::rename(paths.partial, paths.old_rows);
  return io::open_run(paths.old_rows, /*swmr=*/true);
}

// Whether DIR/NAME.h5 is this run, finished (with a result): a session killed after the
// final file's rename, before it deleted the checkpoint and the .partial, finished the run.
bool finished_with(const std::string& run_path, const io::Config& c) {
  if (!fs::exists(run_path)) return false;
  try {
    const h5::File f = io::open_run(run_path);
    const std::string status = f.read_string_attribute("/", schema::attr::kStatus);
    if (!schema::status::has_result(status)) return false;
    const io::Config saved =
        io::Config::parse(f.read_string_attribute("/", schema::attr::kConfigToml), run_path);
    return config_difference(saved, c).empty();
  } catch (const Error&) {
    return false;  // not a readable run: it is trained again and replaced
  }
}

// What a session left that no later session uses: the copies before their renames.
void remove_temporaries(const RunPaths& paths) {
  fs::remove(paths.checkpoint + schema::suffix::kTemporary);
  fs::remove(paths.run + schema::suffix::kTemporary);
  fs::remove(paths.partial + schema::suffix::kTemporary);
}

}  // namespace

RunPaths::RunPaths(const std::string& run_path)
    : run(run_path),
      partial(run + schema::suffix::kPartial),
      old_rows(partial + schema::suffix::kOldRows),
      checkpoint(checkpoint_path(run)) {}

template <class T>
Resume<T>::Resume(const RunPaths& paths, const io::Config& config, std::size_t steps,
                  std::size_t checkpoint_every, bool wanted, TrainState<T>& state,
                  std::ostream& log)
    : paths_(paths), state_(state), config_toml_(config.to_toml()), steps_(steps),
      every_(checkpoint_every) {
  remove_temporaries(paths_);
  if (wanted && finished_with(paths_.run, config)) {
    finished_ = true;
    log << paths_.run << " is finished already; nothing to resume\n";
    ended();
    fs::remove(paths_.partial);
    fs::remove(paths_.old_rows);
    return;
  }
  if (!wanted || !fs::exists(paths_.checkpoint)) {
    if (wanted) log << "no checkpoint " << paths_.checkpoint << ": the run starts afresh\n";
    // Starting afresh: what an earlier run of this name left to resume from is stale now.
    fs::remove(paths_.checkpoint);
    fs::remove(paths_.old_rows);
    return;
  }
  Checkpoint<T> k = checkpoint_to_resume<T>(paths_, config, steps, state.work->params().size());
  state.work->params().values() = k.params;
  state.optimizer.set_state(k.optimizer);
  state.train_rng = k.train_rng;
  state.dropout_rng = k.dropout_rng;
  state.last_loss = k.train_loss;
  state.last_val_loss = k.val_loss;
  state.last_val_metric = k.val_metric;
  resumed_at_ = k.step;

  old_rows_.emplace(rows_to_copy(paths_));
  if (old_rows_->has_attribute("/", schema::attr::kResumedFrom)) {
    resumed_from_ = old_rows_->read_integers_attribute("/", schema::attr::kResumedFrom);
  }
  started_ = old_rows_->read_string_attribute("/", schema::attr::kStarted);
  resumed_from_.push_back(resumed_at_);
}

template <class T>
void Resume<T>::copy_rows(io::RunWriter& run, std::ostream& log) {
  if (resumed_at_ < 0) return;
  const std::size_t copied = run.copy_rows_before(*old_rows_, resumed_at_);
  if (copied != std::size_t(resumed_at_)) {
    fail("cannot resume ", paths_.run, ": ", paths_.old_rows, " holds ", copied,
         " steps before the checkpoint's step ", resumed_at_,
         " (its last rows never reached the disk?); delete ", paths_.checkpoint,
         " to start afresh");
  }
  run.flush();
  const std::vector<double> eval_steps = io::read_series(*old_rows_, schema::axis::kEvalStep, schema::axis::kEvalStep);
  const std::vector<double> val_loss = io::read_series(*old_rows_, schema::series::kValLoss, schema::axis::kEvalStep);
  for (std::size_t i = 0; i < std::min(eval_steps.size(), val_loss.size()); ++i) {
    if (eval_steps[i] < double(resumed_at_)) earlier_evals_.emplace_back(std::size_t(eval_steps[i]) + 1, val_loss[i]);
  }
  old_rows_->close();
  old_rows_.reset();
  fs::remove(paths_.old_rows);  // the new file holds those rows now
  state_.done = std::size_t(resumed_at_);
  saved_step_ = state_.done;
  log << "resumed at step " << state_.done << " from " << paths_.checkpoint << "\n";
}

template <class T>
bool Resume<T>::due(std::size_t done) const {
  return every_ > 0 && done % every_ == 0 && done < steps_;
}

template <class T>
void Resume<T>::save() {
  Checkpoint<T> k;
  k.step = std::int64_t(state_.done);
  k.config_toml = config_toml_;
  k.params = state_.work->params().values();
  k.optimizer = state_.optimizer.state();
  k.train_rng = state_.train_rng;
  k.dropout_rng = state_.dropout_rng;
  k.train_loss = state_.last_loss;
  k.val_loss = state_.last_val_loss;
  k.val_metric = state_.last_val_metric;
  save_checkpoint(paths_.checkpoint, k);
  saved_step_ = state_.done;
}

template <class T>
void Resume<T>::stopped(std::ostream& log) {
  if (every_ > 0 && state_.done > saved_step_) save();  // nothing done is lost
  if (saved_step_ > 0) log << "checkpoint after step " << saved_step_ << ": " << paths_.checkpoint << "\n";
}

template <class T>
void Resume<T>::ended() {
  // Only once the final file is in place (a kill before leaves the checkpoint to resume from; a
  // kill after, a finished run that the next resume recognizes).
  fs::remove(paths_.checkpoint);  // a finished run is never resumed
  io::fault_point("finish");
  fs::remove(paths_.checkpoint + schema::suffix::kTemporary);
}

template class Resume<float>;
template class Resume<double>;

}  // namespace normlab::train
