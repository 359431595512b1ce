// Character-level language modelling over a text (tinyshakespeare, or the embedded grammar): the
// vocabulary is the sorted set of distinct bytes of the whole text, a token is a byte's index in it.
// The first (1 - val_fraction) of the characters are the training part, the rest the validation
// part (nanoGPT's split: train = text[:int(n * (1 - f))]).
//   sample:     B windows of T+1 characters at uniform random starts in the training part;
//               tokens = window[0, T), targets = window[1, T]           tokens, targets: (B, T)
//   validation: windows starting at val_start + i*T, i = 0, 1, ..., as many as fit up to B, so the
//               targets of consecutive windows tile the validation part without overlap
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokens.hpp"

namespace normlab::data {

class CharText : public TokenTask {
 public:
  // `source` names the text in messages and in describe() (a path, or "grammar(seed=3)").
  CharText(std::string_view text, double val_fraction, std::string source);

  std::size_t vocab() const override { return alphabet_.size(); }
  TokenBatch sample(std::size_t B, std::size_t T, Rng& rng) const override;
  TokenBatch validation(std::size_t B, std::size_t T, Rng& rng) const override;  // rng unused
  double unigram_entropy() const override;  // nats, character distribution of the validation part
  std::string describe() const override;

  // encode throws for a byte outside the vocabulary; decode for a token outside [0, vocab).
  std::vector<std::int32_t> encode(std::string_view text) const;
  std::string decode(std::span<const std::int32_t> tokens) const;

  const std::string& alphabet() const { return alphabet_; }  // token i is the byte alphabet()[i]
  std::size_t train_size() const { return split_; }          // characters
  std::size_t val_size() const { return tokens_.size() - split_; }

 private:
  // Throws unless a part of `size` characters holds a window of T+1.
  void check_fits(std::size_t T, std::size_t size, const char* part) const;

  std::string source_;
  std::string alphabet_;                  // (V) sorted distinct bytes
  std::array<std::int32_t, 256> index_;   // byte -> token, -1 where absent
  std::vector<std::int32_t> tokens_;      // the whole text encoded
  std::size_t split_ = 0;                 // train = tokens_[0, split_), validation = the rest
};

// Reads the whole file at `path` (bytes, no decoding) into a CharText.
CharText load_char_text(const std::string& path, double val_fraction);

}  // namespace normlab::data
