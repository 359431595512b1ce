// Seeded random numbers: one generator type everywhere, so a seed names one stream of values.
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace normlab {

using Rng = std::mt19937_64;

template <class T>
void fill_normal(std::span<T> out, Rng& rng, double mean = 0, double stddev = 1) {
  std::normal_distribution<double> dist(mean, stddev);
  for (auto& v : out) v = T(dist(rng));
}

template <class T>
void fill_uniform(std::span<T> out, Rng& rng, double low, double high) {
  std::uniform_real_distribution<double> dist(low, high);
  for (auto& v : out) v = T(dist(rng));
}

}  // namespace normlab
