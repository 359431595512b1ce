#include "train/validate.hpp"

#include <sstream>

#include "core/error.hpp"
#include "train/memory_estimate.hpp"
#include "train/stuck.hpp"
#include "train/trainer.hpp"
#include "train/workload.hpp"

namespace normlab::train {

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
  o.min_lr = c.number("optim.min_lr");
  o.steps = c.integer("train.steps");
  nn::validate(o);
  return o;
}

void validate(const io::Config& c) {
  const std::string dtype = c.string("dtype");
  if (dtype != "float32" && dtype != "float64") fail("dtype: '", dtype, "' is not one of float32, float64");
  if (c.integer("threads") < 1) fail("threads must be at least 1, got ", c.integer("threads"));
  if (c.integer("blas_threads") < 0) {
    fail("blas_threads must be 0 (as threads) or a thread count, got ", c.integer("blas_threads"));
  }
  for (const char* key : {"train.steps", "train.eval_every", "train.flush_every"}) positive(c, key);
  for (const char* key : {"stats.every", "train.checkpoint_every"}) {
    if (c.integer(key) < 0) fail(key, " must be 0 (never) or a number of steps, got ", c.integer(key));
  }
  run_name(c);  // a given name must be a plain file name
  StuckWatch(c, 0.0);  // its two keys
  optim_config(c);
  // Before the model and data are built: a size no machine holds would end in std::bad_alloc.
  check_memory(c);
  std::ostringstream quiet;  // the data description lines, shown by the run itself
  const std::uint64_t seed = std::uint64_t(c.integer("seed"));
  make_workload<float>(c, seed, derive_seed(seed, kValData), quiet);
}

}  // namespace normlab::train
