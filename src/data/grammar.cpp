#include "data/grammar.hpp"

#include <array>
#include <cctype>
#include <span>
#include <string_view>

#include "core/error.hpp"

namespace normlab::data {

namespace {

using Words = std::span<const std::string_view>;

constexpr std::string_view kDeterminers[] = {"the", "a", "every", "some"};
constexpr std::string_view kNouns[] = {"cat",  "dog",   "bird", "child", "farmer", "teacher",
                                       "house", "garden", "river", "tree", "ball",  "book"};
constexpr std::string_view kAdjectives[] = {"small", "big", "red", "happy", "quiet", "tall"};
constexpr std::string_view kTransitive[] = {"sees", "likes", "finds", "chases", "follows", "holds"};
constexpr std::string_view kIntransitive[] = {"sleeps", "runs", "sings", "waits", "laughs"};
constexpr std::string_view kPrepositions[] = {"in", "on", "near", "under", "with", "behind"};

// Appends words separated by single spaces; the sentence adds its capital and its ". ".
class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  void sentence(std::string& out) {
    const std::size_t start = out.size();
    noun_phrase(out, 0);
    verb_phrase(out);
    out[start] = char(std::toupper(static_cast<unsigned char>(out[start])));
    out += ". ";
  }

 private:
  // Index of the rule chosen with the given probabilities (which sum to 1).
  std::size_t choose(std::initializer_list<double> probabilities) {
    double u = uniform_(rng_);
    std::size_t i = 0;
    for (double p : probabilities) {
      if (u < p) return i;
      u -= p;
      ++i;
    }
    return i - 1;  // rounding left u a hair above the last probability
  }

  void word(std::string& out, Words list) {
    if (!out.empty() && out.back() != ' ') out += ' ';
    out += list[std::uniform_int_distribution<std::size_t>(0, list.size() - 1)(rng_)];
  }

  void noun_phrase(std::string& out, int depth) {
    // Past depth 1 the recursive rule is dropped and the other two are renormalised.
    const std::size_t rule = depth < 2 ? choose({0.5, 0.3, 0.2}) : choose({0.625, 0.375});
    word(out, kDeterminers);
    if (rule == 1) word(out, kAdjectives);
    word(out, kNouns);
    if (rule == 2) prepositional_phrase(out, depth + 1);
  }

  void verb_phrase(std::string& out) {
    const std::size_t rule = choose({0.4, 0.25, 0.2, 0.15});
    const bool transitive = rule == 0 || rule == 3;
    word(out, transitive ? Words(kTransitive) : Words(kIntransitive));
    if (transitive) noun_phrase(out, 0);
    if (rule >= 2) prepositional_phrase(out, 0);
  }

  void prepositional_phrase(std::string& out, int depth) {
    word(out, kPrepositions);
    noun_phrase(out, depth);
  }

  Rng rng_;
  std::uniform_real_distribution<double> uniform_;
};

}  // namespace

std::string grammar_text(std::size_t chars, std::uint64_t seed) {
  Generator g(seed);
  std::string text;
  text.reserve(chars + 128);
  while (text.size() < chars) g.sentence(text);
  text.resize(chars);  // the last sentence may be cut short
  return text;
}

CharText make_grammar_text(std::size_t chars, double val_fraction, std::uint64_t seed) {
  return CharText(grammar_text(chars, seed), val_fraction, cat("grammar(seed=", seed, ")"));
}

}  // namespace normlab::data
