// The interface the trainer drives for language models (GRU LM, Transformer LM): token batches in,
// mean cross-entropy over the scored targets out, explicit backward into the flat parameter store.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/targets.hpp"
#include "nn/params.hpp"
#include "nn/probe.hpp"

namespace normlab::models {

template <class T>
class SequenceModel {
 public:
  virtual ~SequenceModel() = default;
  virtual nn::ParamStore<T>& params() = 0;
  virtual std::size_t vocab() const = 0;
  // tokens, targets (B, len) row-major; a target of kIgnore carries no loss. Returns the mean
  // cross-entropy over the scored targets and keeps what backward() needs.
  virtual double forward(const std::int32_t* tokens, const std::int32_t* targets, std::size_t B,
                         std::size_t len) = 0;
  // Accumulates the gradient of the last forward's loss into params().grads().
  virtual void backward() = 0;
  virtual const std::vector<T>& logits() const = 0;  // (B, T, vocab) of the last forward
  // The model's probes (normalizer sites, residual streams) in forward order.
  virtual std::vector<nn::Probe<T>*> probes() = 0;
  // Scored targets of the last forward whose arg-max logit is the target (a count).
  std::size_t correct(const std::int32_t* targets) const {
    const std::vector<T>& z = logits();
    const std::size_t V = vocab(), rows = z.size() / V;
    std::size_t n = 0;
    for (std::size_t i = 0; i < rows; ++i) {
      const T* row = z.data() + i * V;
      n += targets[i] != kIgnore &&
           std::size_t(std::max_element(row, row + V) - row) == std::size_t(targets[i]);
    }
    return n;
  }
};

}  // namespace normlab::models
