#include "data/sequence.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::data {

namespace {

void check_symbols(std::size_t S) {
  if (S < 2) fail("data.symbols must be at least 2, got ", S);
}

}  // namespace

CopyTask::CopyTask(std::size_t symbols) : S_(symbols) { check_symbols(S_); }

TokenBatch CopyTask::sample(std::size_t B, std::size_t T, Rng& rng) const {
  if (T < 2) fail("model.context T=", T, " is too short for copy: it needs at least 2");
  const std::size_t k = T / 2;
  TokenBatch b{B, T, std::vector<std::int32_t>(B * T), std::vector<std::int32_t>(B * T, kIgnore)};
  std::uniform_int_distribution<std::int32_t> symbol(0, std::int32_t(S_) - 1);
  std::vector<std::int32_t> s(k);
  for (std::size_t i = 0; i < B; ++i) {
    std::int32_t* tokens = b.tokens.data() + i * T;
    std::int32_t* targets = b.targets.data() + i * T;
    for (auto& v : s) v = symbol(rng);
    std::copy(s.begin(), s.end(), tokens);        // s_1 .. s_k
    tokens[k] = delimiter();
    std::copy(s.begin(), s.end() - 1, tokens + k + 1);  // s_1 .. s_{k-1}
    std::copy(s.begin(), s.end(), targets + k);   // s_1 .. s_k at DELIM and after
    if (T % 2 == 1) tokens[T - 1] = s[k - 1];     // the odd position: input s_k, no target
  }
  return b;
}

TokenBatch CopyTask::validation(std::size_t B, std::size_t T, Rng& rng) const {
  return sample(B, T, rng);
}

double CopyTask::unigram_entropy() const { return std::log(double(S_)); }

std::string CopyTask::describe() const {
  return cat("copy: ", S_, " symbols and a delimiter, the first half of each sequence repeated");
}

RecallTask::RecallTask(std::size_t symbols) : S_(symbols) { check_symbols(S_); }

TokenBatch RecallTask::sample(std::size_t B, std::size_t T, Rng& rng) const {
  if (T < 4)
    fail("model.context T=", T, " is too short for recall: it needs at least 4 (a key-value pair, ",
         "the query marker and the queried key)");
  const std::size_t n = (T - 2) / 2;
  if (n > S_)
    fail("model.context T=", T, " asks recall for ", n, " distinct keys but data.symbols=", S_,
         "; use T <= ", 2 * S_ + 3, " or more symbols");
  TokenBatch b{B, T, std::vector<std::int32_t>(B * T), std::vector<std::int32_t>(B * T, kIgnore)};
  std::vector<std::int32_t> keys(S_);
  std::uniform_int_distribution<std::int32_t> value(std::int32_t(S_), std::int32_t(2 * S_) - 1);
  std::uniform_int_distribution<std::size_t> pick(0, n - 1);
  for (std::size_t i = 0; i < B; ++i) {
    std::int32_t* tokens = b.tokens.data() + i * T;
    std::iota(keys.begin(), keys.end(), 0);
    // The first n entries of a partial Fisher-Yates shuffle: n distinct keys in random order.
    for (std::size_t j = 0; j < n; ++j)
      std::swap(keys[j], keys[std::uniform_int_distribution<std::size_t>(j, S_ - 1)(rng)]);
    std::int32_t* pairs = tokens + T % 2;
    if (T % 2 == 1) tokens[0] = pad();
    for (std::size_t j = 0; j < n; ++j) {
      pairs[2 * j] = keys[j];
      pairs[2 * j + 1] = value(rng);
    }
    const std::size_t q = pick(rng);
    tokens[T - 2] = query();
    tokens[T - 1] = keys[q];
    b.targets[i * T + T - 1] = pairs[2 * q + 1];
  }
  return b;
}

TokenBatch RecallTask::validation(std::size_t B, std::size_t T, Rng& rng) const {
  return sample(B, T, rng);
}

double RecallTask::unigram_entropy() const { return std::log(double(S_)); }

std::string RecallTask::describe() const {
  return cat("recall: ", S_, " keys, ", S_, " values; the value of the queried key at the end");
}

std::unique_ptr<TokenTask> make_sequence_task(const std::string& name, std::size_t symbols) {
  if (name == "copy") return std::make_unique<CopyTask>(symbols);
  if (name == "recall") return std::make_unique<RecallTask>(symbols);
  fail("data.task: '", name, "' is not a sequence task (copy, recall)",
       did_you_mean(name, {"copy", "recall"}));
}

}  // namespace normlab::data
