#include "core/number_format.hpp"

#include <bit>
#include <cfloat>
#include <cmath>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::fp {

std::string to_string(Format f) {
  switch (f) {
    case Format::float64: return "float64";
    case Format::float32: return "float32";
    case Format::bfloat16: return "bfloat16";
    case Format::float16: return "float16";
  }
  return "?";
}

const std::vector<Format>& all_formats() {
  static const std::vector<Format> formats = {Format::float64, Format::float32, Format::bfloat16,
                                              Format::float16};
  return formats;
}

Format parse_format(std::string_view text) {
  if (text == "bf16") return Format::bfloat16;
  if (text == "fp16" || text == "half") return Format::float16;
  if (text == "fp32" || text == "float") return Format::float32;
  if (text == "fp64" || text == "double") return Format::float64;
  std::vector<std::string> names;
  for (Format f : all_formats()) {
    if (to_string(f) == text) return f;
    names.push_back(to_string(f));
  }
  fail("unknown number format '", text, "'", did_you_mean(text, names), "; valid: ",
       join(names, ", "));
}

// Rounds the 53-bit significand of v to mantissa_bits + 1 bits at the format's exponent (or, below
// its normal range, at the fixed exponent of its subnormals). The rounded significand q is then
// added to the biased exponent shifted into place: when rounding carries q up to the next power of
// two, the carry lands in the exponent field by itself, which also turns the largest subnormal
// into the smallest normal and the largest finite value into infinity.
std::uint32_t encode(double v, Layout layout) {
  const int m = layout.mantissa_bits;
  const int bias = (1 << (layout.exponent_bits - 1)) - 1;
  const int emin = 1 - bias;                                   // exponent of the smallest normal
  const std::uint32_t exp_all_ones = (1u << layout.exponent_bits) - 1;
  const std::uint32_t infinity = exp_all_ones << m;

  const std::uint64_t b = std::bit_cast<std::uint64_t>(v);
  const std::uint32_t sign = std::uint32_t(b >> 63) << (layout.exponent_bits + m);
  const int biased = int((b >> 52) & 0x7ff);
  const std::uint64_t fraction = b & ((std::uint64_t(1) << 52) - 1);
  if (biased == 0x7ff) return sign | infinity | (fraction ? 1u << (m - 1) : 0u);  // inf, NaN
  if (biased == 0) return sign;  // double subnormals are far below every format's subnormals

  const int e = biased - 1023;
  if (e > bias) return sign | infinity;                        // beyond the largest binade
  const std::uint64_t significand = fraction | (std::uint64_t(1) << 52);  // 53 bits
  const int shift = 52 - m + (e < emin ? emin - e : 0);
  if (shift > 53) return sign;  // below half the smallest subnormal: rounds to zero
  std::uint64_t q = significand >> shift;
  const std::uint64_t rest = significand & ((std::uint64_t(1) << shift) - 1);
  const std::uint64_t half = std::uint64_t(1) << (shift - 1);
  if (rest > half || (rest == half && (q & 1))) ++q;           // to nearest, ties to even
  const int field = (e < emin ? emin : e) + bias - 1;          // the implicit 1 of q adds one
  const std::uint64_t bits = (std::uint64_t(field) << m) + q;
  return sign | std::uint32_t(bits >= infinity ? infinity : bits);
}

double decode(std::uint32_t bits, Layout layout) {
  const int m = layout.mantissa_bits;
  const int bias = (1 << (layout.exponent_bits - 1)) - 1;
  const std::uint32_t exp_all_ones = (1u << layout.exponent_bits) - 1;
  const bool negative = (bits >> (layout.exponent_bits + m)) & 1;
  const std::uint32_t field = (bits >> m) & exp_all_ones;
  const std::uint32_t fraction = bits & ((1u << m) - 1);
  double magnitude;
  if (field == exp_all_ones) magnitude = fraction ? NAN : INFINITY;
  else if (field == 0) magnitude = std::ldexp(double(fraction), 1 - bias - m);  // subnormal
  else magnitude = std::ldexp(double(fraction | (1u << m)), int(field) - bias - m);
  return negative ? -magnitude : magnitude;
}

// The hardware conversion where it is defined (a double beyond float's range converts with
// undefined behaviour in C++), the bit-level rounding beyond it.
double Float32::round(double v) {
  if (std::abs(v) <= double(FLT_MAX)) return double(float(v));
  return decode(encode(v, kFloat32), kFloat32);
}

double round_to(double v, Format f) {
  switch (f) {
    case Format::float64: return v;
    case Format::float32: return Float32::round(v);
    case Format::bfloat16: return BFloat16::round(v);
    case Format::float16: return Float16::round(v);
  }
  return v;
}

namespace {
Layout layout_of(Format f) {
  return f == Format::bfloat16 ? kBFloat16 : f == Format::float16 ? kFloat16 : kFloat32;
}
}  // namespace

double ulp(double v, Format f) {
  if (f == Format::float64) {
    double a = std::abs(v);
    return std::nextafter(a, INFINITY) - a;
  }
  const Layout l = layout_of(f);
  const int bias = (1 << (l.exponent_bits - 1)) - 1;
  const int emin = 1 - bias;
  int e = (v == 0 || !std::isfinite(v)) ? emin : std::ilogb(v);
  return std::ldexp(1.0, std::max(e, emin) - l.mantissa_bits);
}

double max_finite(Format f) {
  if (f == Format::float64) return DBL_MAX;
  const Layout l = layout_of(f);
  const int bias = (1 << (l.exponent_bits - 1)) - 1;
  return std::ldexp(2.0 - std::ldexp(1.0, -l.mantissa_bits), bias);
}

}  // namespace normlab::fp
