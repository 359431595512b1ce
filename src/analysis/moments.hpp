// Count, mean and spread of a set of values that arrives in pieces (per batch, per call): each
// piece in two passes (its mean, then the squared deviations from it), merged as Chan, Golub and
// LeVeque (1979) merge, so a spread far below the mean keeps its digits where E[x^2] - E[x]^2
// would cancel them. analyze positions and analyze recentering use it.
#pragma once

#include <cmath>
#include <cstddef>

namespace normlab::analysis {

struct Moments {
  double n = 0, mean = 0, m2 = 0;  // m2: the sum of squared deviations from the mean
  void add(const double* v, std::size_t count) {
    if (count == 0) return;
    double s = 0;
    for (std::size_t i = 0; i < count; ++i) s += v[i];
    const double mb = s / double(count);
    double m2b = 0;
    for (std::size_t i = 0; i < count; ++i) m2b += (v[i] - mb) * (v[i] - mb);
    const double nb = double(count), total = n + nb, delta = mb - mean;
    mean += delta * nb / total;
    m2 += m2b + delta * delta * n * nb / total;
    n = total;
  }
  double sd() const { return n > 0 ? std::sqrt(m2 / n) : NAN; }  // the population sd
};

}  // namespace normlab::analysis
