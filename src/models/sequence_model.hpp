// The language models (GRU LM, Transformer LM): a Model (models/model.hpp) on token sequences,
// with a direct entry point for token batches.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "models/model.hpp"

namespace normlab::models {

template <class T>
class SequenceModel : public Model<T> {
 public:
  virtual std::size_t vocab() const = 0;
  // tokens, targets (B, len) row-major; a target of kIgnore carries no loss. Returns the mean
  // cross-entropy over the scored targets and keeps what backward() needs.
  virtual double forward(const std::int32_t* tokens, const std::int32_t* targets, std::size_t B,
                         std::size_t len) = 0;

  // Dropout (where the family has it) on for the next forwards, drawing from `rng`, or off.
  virtual void set_training(bool /*train*/, Rng* /*rng*/) {}

  std::size_t outputs() const final { return vocab(); }
  double forward_batch(const Batch<T>& b, bool train, Rng* rng) final {
    if (!b.tokens || !b.targets) fail("internal: ", this->family(), " takes token batches");
    set_training(train, rng);
    return forward(b.tokens, b.targets, b.B, b.len);
  }
};

}  // namespace normlab::models
