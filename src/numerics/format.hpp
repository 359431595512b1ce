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

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace normlab::numerics {

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
  static double round(double v) { return decode(encode(v, kBFloat16), kBFloat16); }
};
struct Float16 {
  static constexpr Format format = Format::float16;
  static double round(double v) { return decode(encode(v, kFloat16), kFloat16); }
};

}  // namespace normlab::numerics
