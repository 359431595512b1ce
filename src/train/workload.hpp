// A workload: a model (built by the family registry, models/registry.hpp) with its data, built from
// a config. The trainer drives it step by step; the analysis tools (src/analysis) reload a trained
// one from a run file and evaluate it on the held-out set batch by batch.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/random.hpp"
#include "io/config.hpp"
#include "models/registry.hpp"
#include "nn/params.hpp"
#include "nn/probe.hpp"

namespace normlab::train {

// Independent streams from one seed (SplitMix64 of seed and stream number).
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream);
enum Stream : std::uint64_t { kInit, kTrainData, kValData, kDropout, kTaskDefinition };

// c.integer(key), refused with an Error naming the key when below 1.
using models::positive;

// The family's embedded task when data.task is "auto".
std::string task_name(const io::Config& c);

// What the training loop needs from a model family and its data: a step on a fresh batch,
// an evaluation on the fixed validation set.
template <class T>
class Workload {
 public:
  virtual ~Workload() = default;
  virtual nn::ParamStore<T>& params() = 0;
  // Zeroes the gradients, then forward and backward on a fresh training batch; returns the loss.
  virtual double step(Rng& data_rng, Rng& dropout_rng) = 0;
  // The mean validation loss and accuracy (of classes, or of scored tokens).
  virtual std::pair<double, double> evaluate() = 0;
  // The model's probes (normalizer sites, residual streams) in forward order.
  virtual std::vector<nn::Probe<T>*> probes() = 0;
  // What evaluate()'s second figure is, as the task defines it ("accuracy"): the run file's
  // val_metric_name.
  virtual const std::string& val_metric_name() const = 0;
  // The validation loss of a model that has learnt nothing but the target frequencies, nats: the
  // unigram entropy of a token task, ln(classes) of a labeled one (its classes are balanced).
  virtual double chance_loss() const = 0;

  // The validation set in batches of train.batch, as evaluate() takes it.
  virtual std::size_t validation_batches() const = 0;
  // Forward on validation batch i (no dropout): its mean loss and its weight in the mean over the
  // set (rows, or scored targets). With `backward` the gradients of that mean loss are accumulated
  // into params().grads() (observers at the probes see dx).
  virtual std::pair<double, double> validation_batch(std::size_t i, bool backward) = 0;
  // The logits of the last forward, (rows, classes or vocabulary).
  virtual std::span<const T> logits() const = 0;
};

// The model and data of config `c`; `val_seed` draws the validation set (the trainer's is
// derive_seed(seed, kValData)). Lines about the data and the normalizer sites go to `log`.
// Every config error (model, data, norm options) is thrown here, before the caller writes a file.
template <class T>
std::unique_ptr<Workload<T>> make_workload(const io::Config& c, std::uint64_t seed,
                                           std::uint64_t val_seed, std::ostream& log);

}  // namespace normlab::train
