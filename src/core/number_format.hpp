// Emulated floating-point storage formats: bfloat16, float16 (IEEE binary16) and float32, rounded
// to nearest, ties to even, from double by bit manipulation, with overflow to infinity and
// gradual underflow (subnormals) as the formats define them.
//
//   format    exponent bits  mantissa bits  max finite        smallest subnormal
//   bfloat16  8              7              3.3895e38         2^-133 (9.2e-41)
//   float16   5              10             65504             2^-24  (6.0e-8)
//   float32   8              23             3.4028e38         2^-149 (1.4e-45)
//
// A value "in" a format is held as the double it decodes to (every such value is exact in double).
// Arithmetic in a format is emulated by computing in double and rounding the result: for +, -, *,
// / and sqrt this double rounding is harmless, since double's 53 bits are at least 2p + 2 for
// p = 24 (float32) and fewer bits (Goldberg 1991, "What every computer scientist should know
// about floating-point arithmetic", and Figueroa 1995): the result equals the operation done
// natively in the format, correctly rounded.
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace normlab::fp {

enum class Format { float64, float32, bfloat16, float16 };

std::string to_string(Format f);
Format parse_format(std::string_view text);  // "bfloat16" (or "bf16"), ...; throws naming it
const std::vector<Format>& all_formats();

// The bit layout of a binary format narrower than double.
struct Layout {
  int exponent_bits;
  int mantissa_bits;  // stored fraction bits (without the implicit leading 1)
};
inline constexpr Layout kBFloat16{8, 7};
inline constexpr Layout kFloat16{5, 10};
inline constexpr Layout kFloat32{8, 23};

// The bit pattern of v rounded to nearest even in `layout` (sign, exponent, fraction; right
// aligned in the integer). NaN gives a quiet NaN; beyond the largest finite value, infinity.
std::uint32_t encode(double v, Layout layout);
double decode(std::uint32_t bits, Layout layout);

// v rounded to the format (the identity for float64).
double round_to(double v, Format f);
// The spacing of the format's values at |v| (its ulp; the smallest subnormal near 0).
double ulp(double v, Format f);
double max_finite(Format f);

// The fast path of round_to for a format with `MantissaBits` fraction bits, valid where v and the
// result are normal in that format: round double's significand to nearest even at that width by
// adding half an ulp (minus one, plus the kept lowest bit: ties go to even) and truncating; a
// carry moves into the exponent by itself.
template <int MantissaBits>
inline double round_significand(double v) {
  constexpr int drop = 52 - MantissaBits;
  std::uint64_t b = std::bit_cast<std::uint64_t>(v);
  b += ((b >> drop) & 1) + ((std::uint64_t(1) << (drop - 1)) - 1);
  b &= ~((std::uint64_t(1) << drop) - 1);
  return std::bit_cast<double>(b);
}

// v rounded to a 16-bit format: the fast path in its normal range, encode/decode elsewhere
// (subnormals, zero, overflow, inf, NaN). The tests hold both paths to each other and to PyTorch.
template <int MantissaBits>
inline double round_16(double v, Layout layout, double min_normal, double max_finite) {
  const double a = v < 0 ? -v : v;
  if (a >= min_normal && a <= max_finite) {
    const double r = round_significand<MantissaBits>(v);
    if ((r < 0 ? -r : r) <= max_finite) return r;
  }
  return decode(encode(v, layout), layout);
}

// Rounding policies for the emulated kernels: one type per format, `round` as a static function.
struct Float64 {
  static constexpr Format format = Format::float64;
  static double round(double v) { return v; }
};
struct Float32 {
  static constexpr Format format = Format::float32;
  static double round(double v);
};
struct BFloat16 {
  static constexpr Format format = Format::bfloat16;
  static double round(double v) { return round_16<7>(v, kBFloat16, 0x1p-126, 0x1.FEp127); }
};
struct Float16 {
  static constexpr Format format = Format::float16;
  static double round(double v) { return round_16<10>(v, kFloat16, 0x1p-14, 65504.0); }
};

}  // namespace normlab::fp
