#include "data/text.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.hpp"
#include "data/data_files.hpp"

namespace normlab::data {

CharText::CharText(std::string_view text, double val_fraction, std::string source)
    : source_(std::move(source)) {
  if (!(val_fraction > 0 && val_fraction < 1))
    fail("data.val_fraction must be in (0, 1), got ", val_fraction);
  if (text.empty()) fail(source_, ": the text is empty");
  std::array<bool, 256> seen{};
  for (unsigned char c : text) seen[c] = true;
  index_.fill(-1);
  for (int c = 0; c < 256; ++c) {
    if (!seen[c]) continue;
    index_[c] = std::int32_t(alphabet_.size());
    alphabet_.push_back(char(c));
  }
  tokens_ = encode(text);
  split_ = std::size_t(double(text.size()) * (1 - val_fraction));
  if (split_ < 2 || val_size() < 2)
    fail(source_, ": ", text.size(), " characters split by data.val_fraction=", val_fraction,
         " leave ", split_, " for training and ", val_size(),
         " for validation; each part needs at least 2");
}

void CharText::check_fits(std::size_t T, std::size_t size, const char* part) const {
  if (T == 0) fail("model.context must be at least 1");
  if (T + 1 > size)
    fail("model.context T=", T, " is longer than the ", part, " text (", size, " characters) of ",
         source_, ": a window needs T+1 characters");
}

TokenBatch CharText::sample(std::size_t B, std::size_t T, Rng& rng) const {
  check_fits(T, split_, "training");
  TokenBatch b{B, T, std::vector<std::int32_t>(B * T), std::vector<std::int32_t>(B * T)};
  std::uniform_int_distribution<std::size_t> start(0, split_ - (T + 1));
  for (std::size_t i = 0; i < B; ++i) {
    const std::int32_t* w = tokens_.data() + start(rng);
    std::copy(w, w + T, b.tokens.begin() + i * T);
    std::copy(w + 1, w + T + 1, b.targets.begin() + i * T);
  }
  return b;
}

TokenBatch CharText::validation(std::size_t B, std::size_t T, Rng&) const {
  check_fits(T, val_size(), "validation");
  const std::size_t n = std::min(B, (val_size() - 1) / T);  // window i needs i*T + T + 1 chars
  TokenBatch b{n, T, std::vector<std::int32_t>(n * T), std::vector<std::int32_t>(n * T)};
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t* w = tokens_.data() + split_ + i * T;
    std::copy(w, w + T, b.tokens.begin() + i * T);
    std::copy(w + 1, w + T + 1, b.targets.begin() + i * T);
  }
  return b;
}

double CharText::unigram_entropy() const {
  std::vector<std::size_t> counts(vocab());
  for (std::size_t i = split_; i < tokens_.size(); ++i) ++counts[std::size_t(tokens_[i])];
  const double n = double(val_size());
  double h = 0;
  for (std::size_t c : counts)
    if (c > 0) h -= double(c) / n * std::log(double(c) / n);
  return h;
}

std::string CharText::describe() const {
  return cat("characters of ", source_, ": vocab ", vocab(), ", ", split_, " train / ", val_size(),
             " validation");
}

std::vector<std::int32_t> CharText::encode(std::string_view text) const {
  std::vector<std::int32_t> out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    out[i] = index_[static_cast<unsigned char>(text[i])];
    if (out[i] < 0)
      fail("byte ", int(static_cast<unsigned char>(text[i])), " at position ", i,
           " is not in the vocabulary of ", source_);
  }
  return out;
}

std::string CharText::decode(std::span<const std::int32_t> tokens) const {
  std::string out(tokens.size(), '\0');
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || std::size_t(tokens[i]) >= vocab())
      fail("token ", tokens[i], " at position ", i, " is outside the vocabulary [0, ", vocab(),
           ") of ", source_);
    out[i] = alphabet_[std::size_t(tokens[i])];
  }
  return out;
}

CharText load_char_text(const std::string& path, double val_fraction) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path, ": cannot read the text file: ", std::strerror(errno));
  std::string text;
  char buffer[1 << 16];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, f.get())) > 0) text.append(buffer, got);
  if (std::ferror(f.get())) fail(path, ": cannot read the text file: ", std::strerror(errno));
  if (text.empty()) fail(path, ": the text file is empty");
  verify_if_listed(path);
  return CharText(text, val_fraction, path);
}

}  // namespace normlab::data
