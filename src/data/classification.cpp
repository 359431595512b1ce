#include "data/classification.hpp"

#include "core/error.hpp"

namespace normlab::data {

template <class T>
ClassificationTask<T>::ClassificationTask(ClassificationConfig config, std::uint64_t seed)
    : c_(config) {
  if (c_.features == 0) fail("data.features must be at least 1");
  if (c_.classes < 2) fail("data.classes must be at least 2, got ", c_.classes);
  if (!(c_.noise >= 0)) fail("data.noise must be >= 0, got ", c_.noise);
  Rng rng(seed ^ 0x636c617373ULL);  // the centres have their own stream
  centres_.resize(c_.classes * c_.features);
  fill_normal(std::span<double>(centres_), rng);
}

template <class T>
LabeledBatch<T> ClassificationTask<T>::sample(std::size_t B, Rng& rng) const {
  LabeledBatch<T> b{B, c_.features, std::vector<T>(B * c_.features), std::vector<std::int32_t>(B)};
  std::uniform_int_distribution<std::int32_t> label(0, std::int32_t(c_.classes) - 1);
  std::normal_distribution<double> normal;
  for (std::size_t i = 0; i < B; ++i) {
    b.labels[i] = label(rng);
    const double* centre = centres_.data() + std::size_t(b.labels[i]) * c_.features;
    for (std::size_t j = 0; j < c_.features; ++j)
      b.x[i * c_.features + j] = T(c_.scale * (centre[j] + c_.noise * normal(rng)) + c_.offset);
  }
  return b;
}

template class ClassificationTask<float>;
template class ClassificationTask<double>;

}  // namespace normlab::data
