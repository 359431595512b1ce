// The resume protocol (docs/FORMAT.md, "Resuming"): when a run writes its checkpoint, what a resume
// verifies before it touches a file, and the dance of the files beside the run file:
//   NAME.h5.partial      the run file while it trains, and after it was stopped or killed;
//   NAME.resume.h5       the checkpoint (train/checkpoint.hpp), written every
//                        train.checkpoint_every steps after the step's rows are flushed, and at the
//                        step a signal or the step budget stops the run;
//   NAME.h5.partial.old  the stopped run's file while a resume copies its rows before the
//                        checkpoint's step into a new NAME.h5.partial; deleted once they are copied,
//                        so a resume killed while copying leaves it as the next resume's source.
// A completed or diverged run deletes its checkpoint once its final NAME.h5 is renamed into place
// (io/run_file.hpp); a resume that finds NAME.h5 finished (a session killed between the two) only
// deletes what is left. A run started without resume deletes what an earlier run of its name left
// to resume from. Every session first deletes the stray .tmp copies a killed one left. A run resumed from a checkpoint ends bit-identical
// to one that never stopped: the checkpoint holds all the state a step hands to the next
// (TrainState below), and the copied rows are those the stopped run wrote before that step.
//
//   Resume<T> resume(paths, config, steps, every, options.resume, state, log);  // verifies, restores
//   io::RunWriter run(run_path, attributes with resume.started(), resume.resumed_from(), ...);
//   resume.copy_rows(run);                       // the stopped run's rows; state.done = its step
//   ... each step: if (resume.due(state.done)) { run.flush(); resume.save(); }
//   resume.stopped(log) or resume.ended()        // at the end of the session
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "io/run_file.hpp"
#include "nn/optim.hpp"
#include "train/checkpoint.hpp"
#include "train/workload.hpp"

namespace normlab::train {

// What a training run carries from one step to the next: what a checkpoint saves and a resume
// restores. The data tasks keep no state besides the training-data generator.
template <class T>
struct TrainState {
  // `work` with its parameters initialized; the optimizer's moments start at zero and the
  // generators from their streams of `seed`.
  TrainState(std::unique_ptr<Workload<T>> w, const nn::OptimConfig& optim, std::uint64_t seed)
      : work(std::move(w)),
        optimizer(optim, work->params()),
        train_rng(derive_seed(seed, kTrainData)),
        dropout_rng(derive_seed(seed, kDropout)) {}

  std::unique_ptr<Workload<T>> work;  // the model's parameters are its params()
  nn::Optimizer<T> optimizer;
  Rng train_rng, dropout_rng;
  std::size_t done = 0;  // steps done: the next step's number
  // The last training loss and evaluation (NaN: none yet), for the run's summary.
  double last_loss = NAN, last_val_loss = NAN, last_val_metric = NAN;
};

// Where a run's files are, from DIR/NAME.h5 (the list at the top).
struct RunPaths {
  explicit RunPaths(const std::string& run_path);
  std::string run, partial, old_rows, checkpoint;
};

template <class T>
class Resume {
 public:
  // With `wanted` and a checkpoint beside `run_path`: reads it and refuses it (an Error naming
  // the key or the file, and no file touched) when its config differs from `config` (train.out
  // aside), its step is not below train.steps, its parameters do not fit the model, or the run
  // file it continues is gone; then restores `state` from it and opens the stopped run's rows.
  // Otherwise the run starts afresh, and what an earlier run of this name left to resume from is
  // deleted. A checkpoint is written every `checkpoint_every` steps (0: never) of `steps`.
  Resume(const RunPaths& paths, const io::Config& config, std::size_t steps,
         std::size_t checkpoint_every, bool wanted, TrainState<T>& state, std::ostream& log);
  Resume(const Resume&) = delete;
  Resume& operator=(const Resume&) = delete;

  // With `wanted`, when DIR/NAME.h5 is this run (same config) with a result: a session
  // killed after its final rename left it, perhaps beside a stale checkpoint and .partial, which
  // are deleted. Nothing is to be trained; the session reports the file.
  bool finished_before() const { return finished_; }
  // -1 when the session started afresh, else the checkpoint's step.
  std::int64_t resumed_at() const { return resumed_at_; }
  // For the run file's attributes: `started` of the first session ("" when this one started
  // afresh), and `resumed_from`, the step of every resume, this one's last (empty when afresh).
  const std::string& started() const { return started_; }
  const std::vector<long long>& resumed_from() const { return resumed_from_; }

  // After the new run file is created: copies the stopped run's rows before the checkpoint's
  // step into it, flushes, deletes the .old file and sets state.done. Nothing when afresh.
  void copy_rows(io::RunWriter& run, std::ostream& log);
  // The evaluations copy_rows copied, as (steps done, val loss): the stopped sessions' share of
  // what StuckWatch sees. Empty when afresh.
  const std::vector<std::pair<std::size_t, double>>& earlier_evaluations() const { return earlier_evals_; }

  // Whether the step that made `done` steps writes a checkpoint (after the run file is flushed:
  // a resume must find the rows before the checkpoint's step).
  bool due(std::size_t done) const;
  void save();  // the checkpoint of `state` as it is now

  // The session stopped (a signal, the step budget) after the run file was closed: saves the
  // steps done since the last checkpoint, so that none is lost, and says where it is.
  void stopped(std::ostream& log);
  // The run has a result (completed, stuck or diverged): it is never resumed, its checkpoint is deleted.
  void ended();

 private:
  RunPaths paths_;
  TrainState<T>& state_;
  std::string config_toml_;
  std::size_t steps_;
  std::size_t every_;           // train.checkpoint_every
  std::int64_t resumed_at_ = -1;
  bool finished_ = false;
  std::size_t saved_step_ = 0;  // the step of the checkpoint on disk (0: none yet)
  std::optional<h5::File> old_rows_;
  std::string started_;
  std::vector<long long> resumed_from_;
  std::vector<std::pair<std::size_t, double>> earlier_evals_;
};

}  // namespace normlab::train
