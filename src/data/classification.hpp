// The embedded classification task: Gaussian clusters in D features, one centre per class, with a
// controllable input offset and scale, so that the effects re-centering and re-scaling remove can
// be provoked on purpose. Deterministic by seed.
//   x = scale * (centre[k] + noise * N(0, I)) + offset      x: (D), k uniform in [0, classes)
#pragma once

#include <cstdint>
#include <vector>

#include "core/random.hpp"

namespace normlab::data {

struct ClassificationConfig {
  std::size_t features = 32, classes = 8;
  double noise = 1.0, offset = 0.0, scale = 1.0;
};

template <class T>
struct LabeledBatch {
  std::size_t B = 0, D = 0;
  std::vector<T> x;                  // (B, D)
  std::vector<std::int32_t> labels;  // (B)
};

template <class T>
class ClassificationTask {
 public:
  ClassificationTask(ClassificationConfig config, std::uint64_t seed);
  LabeledBatch<T> sample(std::size_t B, Rng& rng) const;  // B fresh examples from `rng`
  const ClassificationConfig& config() const { return c_; }

 private:
  ClassificationConfig c_;
  std::vector<double> centres_;  // (classes, features), N(0, 1) from the seed
};

}  // namespace normlab::data
