// Token tasks for the sequence models (GRU LM, Transformer LM): every task hands out batches of
// (B, T) input tokens with (B, T) targets; a target of kIgnore carries no loss (the copy and recall
// tasks score only the answer positions). Deterministic by seed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "core/targets.hpp"

namespace normlab::data {

struct TokenBatch {
  std::size_t B = 0, T = 0;
  std::vector<std::int32_t> tokens;   // (B, T) row-major, each in [0, vocab)
  std::vector<std::int32_t> targets;  // (B, T), each in [0, vocab) or kIgnore
};

class TokenTask {
 public:
  virtual ~TokenTask() = default;
  virtual std::size_t vocab() const = 0;
  // B training sequences of length T drawn from `rng`.
  virtual TokenBatch sample(std::size_t B, std::size_t T, Rng& rng) const = 0;
  // The fixed validation set: `B` sequences of length T (text: consecutive windows of the held-out
  // part, as many as fit up to `B`; synthetic tasks: drawn from `rng`).
  virtual TokenBatch validation(std::size_t B, std::size_t T, Rng& rng) const = 0;
  // What a model that ignores the context scores: the entropy (nats per scored target) of the
  // targets' unigram distribution on the validation side; learning tests must beat it clearly.
  virtual double unigram_entropy() const = 0;
  virtual std::string describe() const = 0;  // one line for the log
};

}  // namespace normlab::data
