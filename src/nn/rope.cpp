#include "nn/rope.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace normlab::nn {

RopeTable rope_table(std::size_t len, std::size_t hd, double base) {
  if (hd == 0 || hd % 2 != 0) fail("RoPE needs an even head dimension, got ", hd);
  if (!(base > 0) || !std::isfinite(base)) fail("RoPE needs a finite base > 0, got ", base);
  RopeTable t{len, hd, base, {}, {}};
  const std::size_t half = hd / 2;
  t.cos.resize(len * half);
  t.sin.resize(len * half);
  for (std::size_t j = 0; j < half; ++j) {
    // as Hugging Face's inv_freq = 1 / base^(arange(0, hd, 2) / hd)
    const double inv_freq = 1.0 / std::pow(base, double(2 * j) / double(hd));
    for (std::size_t p = 0; p < len; ++p) {
      const double angle = double(p) * inv_freq;
      t.cos[p * half + j] = std::cos(angle);
      t.sin[p * half + j] = std::sin(angle);
    }
  }
  return t;
}

namespace {

// Every pair of every head of rows [first, last) turned by sign * angle, in place.
template <class T>
void rotate_rows(Strided<T> x, const RopeTable& table, std::size_t first, std::size_t last,
                 std::size_t len, std::size_t heads, double sign) {
  const std::size_t hd = table.hd, half = hd / 2;
  for (std::size_t i = first; i < last; ++i) {
    const double* c = table.cos.data() + (i % len) * half;
    const double* s = table.sin.data() + (i % len) * half;
    T* row = x.data + i * x.ld;
    for (std::size_t h = 0; h < heads; ++h) {
      T* a = row + h * hd;  // the first halves of the pairs; a + half the second
      for (std::size_t j = 0; j < half; ++j) {
        const double x1 = double(a[j]), x2 = double(a[j + half]), sn = sign * s[j];
        a[j] = T(x1 * c[j] - x2 * sn);
        a[j + half] = T(x2 * c[j] + x1 * sn);
      }
    }
  }
}

template <class T>
void rotate(Strided<T> x, const RopeTable& table, std::size_t rows, std::size_t len,
            std::size_t heads, double sign) {
  if (len > table.len) fail("internal: a RoPE table of ", table.len, " positions for ", len);
  parallel_for(rows, block_rows(heads * table.hd), [&](std::size_t first, std::size_t last) {
    rotate_rows(x, table, first, last, len, heads, sign);
  });
}

}  // namespace

template <class T>
void rope_forward(Strided<T> x, const RopeTable& table, std::size_t rows, std::size_t len,
                  std::size_t heads) {
  rotate(x, table, rows, len, heads, 1.0);
}

template <class T>
void rope_backward(Strided<T> dx, const RopeTable& table, std::size_t rows, std::size_t len,
                   std::size_t heads) {
  rotate(dx, table, rows, len, heads, -1.0);
}

template void rope_forward<float>(Strided<float>, const RopeTable&, std::size_t, std::size_t,
                                  std::size_t);
template void rope_forward<double>(Strided<double>, const RopeTable&, std::size_t, std::size_t,
                                   std::size_t);
template void rope_backward<float>(Strided<float>, const RopeTable&, std::size_t, std::size_t,
                                   std::size_t);
template void rope_backward<double>(Strided<double>, const RopeTable&, std::size_t, std::size_t,
                                    std::size_t);

}  // namespace normlab::nn
