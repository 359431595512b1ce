// An embedded English-like text from a small probabilistic context-free grammar, so that the
// character-level models have something with real structure to learn without a download.
//
//   Sentence -> NP VP                      first letter capitalised, then ". "
//   NP       -> Det Noun          0.5      (at nesting depth 2 only the first two rules)
//             | Det Adj Noun      0.3
//             | Det Noun PP       0.2
//   VP       -> Verb_t NP         0.4
//             | Verb_i            0.25
//             | Verb_i PP         0.2
//             | Verb_t NP PP      0.15
//   PP       -> Prep NP
//
// Each word class is drawn uniformly from its list in grammar.cpp (4 determiners, 12 nouns,
// 6 adjectives, 6 transitive and 5 intransitive verbs, 6 prepositions), e.g.
// "The small dog chases a bird near the river. Every child sleeps. "
// Words spell out deterministically once their first letters are seen, and the word order follows
// the grammar, so a model with a few characters of context scores far below the unigram entropy.
#pragma once

#include <cstdint>
#include <string>

#include "data/text.hpp"

namespace normlab::data {

// Exactly `chars` characters of sentences drawn from the grammar; the same seed, the same text.
std::string grammar_text(std::size_t chars, std::uint64_t seed);

// A CharText over grammar_text(chars, seed), split by val_fraction as any text.
CharText make_grammar_text(std::size_t chars, double val_fraction, std::uint64_t seed);

}  // namespace normlab::data
