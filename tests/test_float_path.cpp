// The float32 path of every normalizer against the float64 path on the same float-exact inputs:
// the reductions run in double in both, the per-element arithmetic in the storage type (see
// src/norm/shift_scale.hpp), so a float output carries a few roundings. Measured here in units of
// 2^-24 times the row's largest |value| (one float ulp at the row's scale), including rows whose
// mean is 10^4 standard deviations, where the shift's hi + lo split must keep x - mean exact.
#include <catch2/catch.hpp>

#include <cmath>

#include "helpers.hpp"
#include "norm/registry.hpp"

namespace {

using namespace normlab;

// max over elements of |a - ref| / (2^-24 * max over the row of |ref|)
double worst_row_ulps(const std::vector<float>& a, const std::vector<double>& ref, std::size_t B,
                      std::size_t D) {
  double worst = 0;
  for (std::size_t i = 0; i < B; ++i) {
    double scale = 0;
    for (std::size_t j = 0; j < D; ++j) scale = std::max(scale, std::fabs(ref[i * D + j]));
    if (scale == 0) continue;
    for (std::size_t j = 0; j < D; ++j) {
      const double e = std::fabs(double(a[i * D + j]) - ref[i * D + j]);
      worst = std::max(worst, e / (std::ldexp(1.0, -24) * scale));
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("float32 normalizers are within a few float ulps (at the row's scale) of float64",
          "[norm][float-path]") {
  // Measured worst over every kind (gcc 12, -O3 -march=native): y 2.7, dx 3.0, with the offset
  // rows included. 8 leaves room for other compilers' instruction choices; without the hi + lo
  // split (the mean rounded to float, lo = 0) the offset-1e4 rows measure 1.3e4 and fail.
  constexpr double kMaxUlps = 8;
  const std::size_t B = 16;
  for (const auto& info : norm::kinds()) {
    for (std::size_t D : {7, 64, 1000}) {
      for (double offset : {0.0, 100.0, 1e4}) {
        auto n = norm::make_normalizer(info.name);
        Rng rng(D + std::size_t(offset));
        auto x64 = test::random_normal(B * D, rng, offset, 1.0);
        auto dy64 = test::random_normal(B * D, rng);
        auto p64 = test::random_params(*n, D, rng);
        // float-exact inputs: both precisions see the same values
        std::vector<float> x(x64.begin(), x64.end()), dy(dy64.begin(), dy64.end()),
            p(p64.begin(), p64.end());
        x64.assign(x.begin(), x.end());
        dy64.assign(dy.begin(), dy.end());
        p64.assign(p.begin(), p.end());
        const auto f = test::run<float>(*n, x, p, B, D, &dy);
        const auto d = test::run<double>(*n, x64, p64, B, D, &dy64);
        INFO(info.name << " D=" << D << " offset=" << offset);
        CHECK(worst_row_ulps(f.y, d.y, B, D) <= kMaxUlps);
        CHECK(worst_row_ulps(f.dx, d.dx, B, D) <= kMaxUlps);
      }
    }
  }
}
