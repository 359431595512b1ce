// Synthetic sequence tasks for the recurrent models: each needs memory over the whole sequence and
// scores only its answer positions (kIgnore elsewhere). S = data.symbols; symbols are drawn
// uniformly, so a model that ignores the context scores log S nats per scored target. validation()
// draws fresh sequences from the rng it is given, as sample() does.
//
// copy (vocab S+1; symbols 0..S-1, delimiter S), k = T/2 symbols to remember:
//   position  0 .. k-1     k      k+1 .. 2k-1      [2k, if T is odd]
//   token     s_1 .. s_k   DELIM  s_1 .. s_{k-1}   [s_k]
//   target    ignored      s_1    s_2 .. s_k       [ignored]
//   (teacher forcing: the second half's input is the answer so far; exactly k scored targets)
//
// recall, associative recall (vocab 2S+2; keys 0..S-1, values S..2S-1, QUERY 2S, PAD 2S+1),
// n = (T-2)/2 pairs with distinct keys and independent uniform values:
//   [PAD, if T is odd]  k_1 v_1 ... k_n v_n  QUERY  k_q
//   the only scored target is at the last position: v_q, the value paired with k_q
#pragma once

#include <memory>
#include <string>

#include "data/tokens.hpp"

namespace normlab::data {

class CopyTask : public TokenTask {
 public:
  explicit CopyTask(std::size_t symbols);  // data.symbols, at least 2
  std::size_t vocab() const override { return S_ + 1; }
  TokenBatch sample(std::size_t B, std::size_t T, Rng& rng) const override;  // T >= 2
  TokenBatch validation(std::size_t B, std::size_t T, Rng& rng) const override;
  double unigram_entropy() const override;  // log S
  std::string describe() const override;
  std::int32_t delimiter() const { return std::int32_t(S_); }

 private:
  std::size_t S_;
};

class RecallTask : public TokenTask {
 public:
  explicit RecallTask(std::size_t symbols);  // data.symbols: S keys and S values, at least 2
  std::size_t vocab() const override { return 2 * S_ + 2; }
  // T >= 4 (one pair, QUERY, the queried key) and (T-2)/2 <= S (the keys are distinct).
  TokenBatch sample(std::size_t B, std::size_t T, Rng& rng) const override;
  TokenBatch validation(std::size_t B, std::size_t T, Rng& rng) const override;
  double unigram_entropy() const override;  // log S
  std::string describe() const override;
  std::int32_t query() const { return std::int32_t(2 * S_); }
  std::int32_t pad() const { return std::int32_t(2 * S_ + 1); }

 private:
  std::size_t S_;
};

// "copy" or "recall" (data.task), with `symbols` symbols.
std::unique_ptr<TokenTask> make_sequence_task(const std::string& name, std::size_t symbols);

}  // namespace normlab::data
