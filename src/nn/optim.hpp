// Optimizers over a model's flat parameter buffer (PyTorch semantics), learning-rate schedules,
// and global-norm gradient clipping.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/params.hpp"

namespace normlab::nn {

struct OptimConfig {
  std::string name = "adam";  // sgd | adam | adamw
  double lr = 1e-3;
  double momentum = 0.9;      // sgd: buf = momentum * buf + g; p -= lr * buf (torch, dampening 0)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0;    // sgd, adam: g += wd * p; adamw: p -= lr * wd * p (decoupled)
  bool decay_gains_biases = false;
  double clip = 0;            // global-norm clipping threshold; 0 = off
  std::string schedule = "constant";  // constant | cosine | inverse_sqrt
  double min_lr = 0;          // cosine: the learning rate at the last step (nanoGPT's min_lr)
  std::int64_t warmup = 0;
  std::int64_t steps = 1;     // total steps, for the cosine schedule
};

void validate(const OptimConfig& c);  // throws naming the bad key

// Learning rate at step t (0-based): linear warmup over `warmup` steps, then the schedule.
double learning_rate(const OptimConfig& c, std::int64_t t);

// sqrt(sum g^2) accumulated in double.
template <class T>
double global_norm(const std::vector<T>& grads);

// What an optimizer carries from one update to the next, for resume checkpoints: exact values in
// the run's dtype, so a restored optimizer continues bit for bit.
template <class T>
struct OptimizerState {
  std::int64_t t = 0;  // updates taken (Adam's bias correction, the schedule's position)
  std::vector<T> m;    // (P) first moments; sgd: the momentum buffer
  std::vector<T> v;    // (P) second moments (zeros for sgd)
};

template <class T>
class Optimizer {
 public:
  Optimizer(OptimConfig config, const ParamStore<T>& params);
  // One update with the gradients in `params`; clips first if configured. Returns the learning
  // rate used. The gradient norm before clipping is `norm` (from global_norm).
  double step(ParamStore<T>& params, double norm);
  std::int64_t steps_taken() const { return t_; }
  OptimizerState<T> state() const { return {t_, m_, v_}; }
  // Continues from a saved state; throws unless its moments have one value per parameter.
  void set_state(OptimizerState<T> state);

 private:
  OptimConfig c_;
  std::vector<T> m_, v_;            // first and second moments (momentum buffer for sgd in m_)
  std::vector<std::uint8_t> decay_;  // 1 where weight decay applies
  std::int64_t t_ = 0;
};

}  // namespace normlab::nn
