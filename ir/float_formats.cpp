#include "ir/float_formats.h"

#include <algorithm>
#include <bit>

namespace rowjit::ir {
namespace {

constexpr uint32_t kF32SignMask = 0x80000000u;
constexpr uint32_t kF32AbsMask = 0x7FFFFFFFu;
constexpr uint32_t kF32InfBits = 0x7F800000u;
constexpr uint32_t kF32QuietBit = 0x00400000u;
constexpr uint32_t kF32QuietNaN = kF32InfBits | kF32QuietBit;
constexpr int kF32FractionBits = 23;
constexpr int kF32Bias = 127;

uint32_t float_bits(float x) { return std::bit_cast<uint32_t>(x); }
float bits_to_float(uint32_t bits) { return std::bit_cast<float>(bits); }

bool is_nan_bits(uint32_t bits) { return (bits & kF32AbsMask) > kF32InfBits; }

// A binary format with an implicit leading bit and subnormals, given by its
// fraction width and the exponent of its smallest normal number. A magnitude
// code is (exponent field << fraction_bits) | fraction, with exponent field 0
// for subnormals.
struct MiniFormat {
  int fraction_bits;
  int min_normal_exponent;
};

// Every format here has fewer fraction bits than float32 and a smallest
// subnormal above 2^-149, so rounding from float32 always drops bits.
constexpr MiniFormat kF16 = {10, -14};
constexpr MiniFormat kBF16 = {7, -126};
constexpr MiniFormat kE4M3 = {3, -6};
constexpr MiniFormat kE5M2 = {2, -14};
constexpr MiniFormat kE2M1 = {1, 0};

// Rounds the finite float32 magnitude `abs_bits` to nearest even in `format`
// and returns its magnitude code. A value past the largest finite number of the
// format comes back as a larger code, so each caller applies its own overflow
// rule by comparing with its largest finite code.
uint32_t round_magnitude(uint32_t abs_bits, MiniFormat format) {
  if (abs_bits == 0) return 0;

  // abs = significand * 2^quantum_exponent, exactly.
  const uint32_t exponent_field = abs_bits >> kF32FractionBits;
  uint32_t significand = abs_bits & 0x007FFFFFu;
  int quantum_exponent = 1 - kF32Bias - kF32FractionBits;  // float32 denormals: 2^-149
  if (exponent_field != 0) {
    significand |= 1u << kF32FractionBits;
    quantum_exponent = static_cast<int>(exponent_field) - kF32Bias - kF32FractionBits;
  }
  const int floor_log2 = std::bit_width(significand) - 1 + quantum_exponent;

  // The target's spacing at this magnitude: 2^(exponent - fraction_bits), with
  // the exponent held at the minimum normal one across the subnormal range.
  const int target_exponent = std::max(floor_log2, format.min_normal_exponent);
  const int shift = target_exponent - format.fraction_bits - quantum_exponent;

  uint32_t rounded = 0;
  if (shift <= kF32FractionBits + 1) {
    const uint32_t remainder = significand & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    rounded = significand >> shift;
    if (remainder > half || (remainder == half && (rounded & 1u) != 0)) ++rounded;
  }
  // Otherwise the significand (< 2^24) is below half a spacing and rounds to 0.

  // Adding `rounded` instead of its fraction bits makes the implicit bit bump
  // the exponent field: a subnormal that rounds up to 2^min_normal_exponent and
  // a significand that rounds up to the next power of two both get the right code.
  const uint32_t exponent_offset = static_cast<uint32_t>(target_exponent - format.min_normal_exponent);
  return (exponent_offset << format.fraction_bits) + rounded;
}

// Decodes a finite magnitude code of `format` to float32 bits. Needs every
// value of the format to be a normal float32 (true for f16, e4m3, e5m2, e2m1).
uint32_t decode_magnitude(uint32_t code, MiniFormat format) {
  const uint32_t exponent_field = code >> format.fraction_bits;
  const uint32_t fraction = code & ((1u << format.fraction_bits) - 1);
  if (exponent_field == 0) {
    if (fraction == 0) return 0;
    // Subnormal: fraction * 2^(min_normal_exponent - fraction_bits). Normalize
    // so that the leading one becomes float32's implicit bit.
    const int top_bit = std::bit_width(fraction) - 1;
    const int exponent = format.min_normal_exponent - format.fraction_bits + top_bit;
    const uint32_t mantissa = (fraction << (kF32FractionBits - top_bit)) & 0x007FFFFFu;
    return (static_cast<uint32_t>(exponent + kF32Bias) << kF32FractionBits) | mantissa;
  }
  const int exponent = static_cast<int>(exponent_field) - 1 + format.min_normal_exponent;
  return (static_cast<uint32_t>(exponent + kF32Bias) << kF32FractionBits) |
         (fraction << (kF32FractionBits - format.fraction_bits));
}

}  // namespace

double round_to_integer(double x, RoundMode mode) {
  const uint64_t bits = std::bit_cast<uint64_t>(x);
  const uint64_t sign = bits & 0x8000000000000000ull;
  const uint64_t abs_bits = bits ^ sign;
  const bool negative = sign != 0;
  const int exponent = static_cast<int>((bits >> 52) & 0x7FF) - 1023;

  // |x| >= 2^52 has no fraction bits; this also covers inf and NaN.
  if (exponent >= 52) return x;

  constexpr uint64_t kOneBits = 0x3FF0000000000000ull;
  constexpr uint64_t kHalfBits = 0x3FE0000000000000ull;
  if (exponent < 0) {
    // |x| < 1: the result is +-0 or +-1.
    bool away_from_zero = false;
    switch (mode) {
      case RoundMode::kNearestEven: away_from_zero = abs_bits > kHalfBits; break;  // 0.5 ties to 0
      case RoundMode::kNearestAway: away_from_zero = abs_bits >= kHalfBits; break;
      case RoundMode::kTowardZero: away_from_zero = false; break;
      case RoundMode::kFloor: away_from_zero = negative && abs_bits != 0; break;
    }
    return std::bit_cast<double>(sign | (away_from_zero ? kOneBits : 0));
  }

  // 1 <= |x| < 2^52: the low `fraction_bits` bits of the significand are the
  // fraction, and one unit in the last integer place is 1 << fraction_bits.
  const int fraction_bits = 52 - exponent;
  const uint64_t unit = 1ull << fraction_bits;
  const uint64_t remainder = bits & (unit - 1);
  const uint64_t half = unit >> 1;
  const uint64_t truncated = bits & ~(unit - 1);
  // For 1 <= |x| < 2 the integer part is the implicit leading bit, which is 1.
  const bool integer_is_odd = fraction_bits == 52 || (truncated & unit) != 0;

  bool away_from_zero = false;
  switch (mode) {
    case RoundMode::kNearestEven:
      away_from_zero = remainder > half || (remainder == half && integer_is_odd);
      break;
    case RoundMode::kNearestAway: away_from_zero = remainder >= half; break;
    case RoundMode::kTowardZero: away_from_zero = false; break;
    case RoundMode::kFloor: away_from_zero = negative && remainder != 0; break;
  }
  // A carry out of the significand moves into the exponent field, which is
  // the next power of two: 1.5 rounds up to 2.0 this way.
  return std::bit_cast<double>(away_from_zero ? truncated + unit : truncated);
}

int64_t convert_to_integer(float x, ElemType to, RoundMode mode) {
  if (is_nan_bits(float_bits(x))) return 0;

  double min_value = -2147483648.0;
  double max_value = 2147483647.0;
  if (to == ElemType::kS8) {
    min_value = -128.0;
    max_value = 127.0;
  } else if (to == ElemType::kU8) {
    min_value = 0.0;
    max_value = 255.0;
  }

  // float to double is exact, and comparisons do not round.
  const double rounded = round_to_integer(static_cast<double>(x), mode);
  if (rounded <= min_value) return static_cast<int64_t>(min_value);
  if (rounded >= max_value) return static_cast<int64_t>(max_value);
  return static_cast<int64_t>(rounded);  // an integer in range: exact
}

uint16_t f32_to_f16(float x, bool saturate) {
  const uint32_t bits = float_bits(x);
  const uint16_t sign = static_cast<uint16_t>((bits & kF32SignMask) >> 16);
  const uint32_t abs_bits = bits & kF32AbsMask;
  if (abs_bits > kF32InfBits) {
    return static_cast<uint16_t>(sign | 0x7E00u | ((abs_bits >> 13) & 0x03FFu));
  }

  constexpr uint32_t kMaxFinite = 0x7BFF;  // 65504
  constexpr uint32_t kInf = 0x7C00;
  uint32_t code = abs_bits == kF32InfBits ? kInf : round_magnitude(abs_bits, kF16);
  if (code > kMaxFinite) code = saturate ? kMaxFinite : kInf;
  return static_cast<uint16_t>(sign | code);
}

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t magnitude = bits & 0x7FFFu;
  if (magnitude >= 0x7C00u) {
    const uint32_t fraction = magnitude & 0x03FFu;
    if (fraction == 0) return bits_to_float(sign | kF32InfBits);
    return bits_to_float(sign | kF32QuietNaN | (fraction << 13));
  }
  return bits_to_float(sign | decode_magnitude(magnitude, kF16));
}

uint16_t f32_to_bf16(float x, bool saturate) {
  const uint32_t bits = float_bits(x);
  const uint16_t sign = static_cast<uint16_t>((bits & kF32SignMask) >> 16);
  const uint32_t abs_bits = bits & kF32AbsMask;
  if (abs_bits > kF32InfBits) {
    return static_cast<uint16_t>(sign | 0x7FC0u | ((abs_bits >> 16) & 0x007Fu));
  }

  constexpr uint32_t kMaxFinite = 0x7F7F;  // 0x1.FEp127
  constexpr uint32_t kInf = 0x7F80;
  uint32_t code = abs_bits == kF32InfBits ? kInf : round_magnitude(abs_bits, kBF16);
  if (code > kMaxFinite) code = saturate ? kMaxFinite : kInf;
  return static_cast<uint16_t>(sign | code);
}

float bf16_to_f32(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  // Quiet a signaling NaN, as every other decoder here does.
  if (is_nan_bits(wide)) return bits_to_float(wide | kF32QuietBit);
  return bits_to_float(wide);
}

uint8_t f32_to_e4m3(float x, bool saturate) {
  const uint32_t bits = float_bits(x);
  const uint8_t sign = static_cast<uint8_t>((bits & kF32SignMask) >> 24);
  const uint32_t abs_bits = bits & kF32AbsMask;
  constexpr uint32_t kMaxFinite = 0x7E;  // 448
  constexpr uint32_t kNaN = 0x7F;        // S.1111.111, because E4M3 has no inf
  if (abs_bits > kF32InfBits) return static_cast<uint8_t>(sign | kNaN);

  // Infinity is treated as a value past 448.
  uint32_t code = abs_bits == kF32InfBits ? kNaN : round_magnitude(abs_bits, kE4M3);
  if (code > kMaxFinite) code = saturate ? kMaxFinite : kNaN;
  return static_cast<uint8_t>(sign | code);
}

float e4m3_to_f32(uint8_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x80u) << 24;
  const uint32_t magnitude = bits & 0x7Fu;
  if (magnitude == 0x7Fu) return bits_to_float(sign | kF32QuietNaN);
  return bits_to_float(sign | decode_magnitude(magnitude, kE4M3));
}

uint8_t f32_to_e5m2(float x, bool saturate) {
  const uint32_t bits = float_bits(x);
  const uint8_t sign = static_cast<uint8_t>((bits & kF32SignMask) >> 24);
  const uint32_t abs_bits = bits & kF32AbsMask;
  constexpr uint32_t kMaxFinite = 0x7B;  // 57344
  constexpr uint32_t kInf = 0x7C;
  constexpr uint32_t kNaN = 0x7E;
  if (abs_bits > kF32InfBits) return static_cast<uint8_t>(sign | kNaN);

  uint32_t code = abs_bits == kF32InfBits ? kInf : round_magnitude(abs_bits, kE5M2);
  if (code > kMaxFinite) code = saturate ? kMaxFinite : kInf;
  return static_cast<uint8_t>(sign | code);
}

float e5m2_to_f32(uint8_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x80u) << 24;
  const uint32_t magnitude = bits & 0x7Fu;
  if (magnitude >= 0x7Cu) {
    const uint32_t fraction = magnitude & 0x03u;
    if (fraction == 0) return bits_to_float(sign | kF32InfBits);
    return bits_to_float(sign | kF32QuietNaN | (fraction << 21));
  }
  return bits_to_float(sign | decode_magnitude(magnitude, kE5M2));
}

uint8_t f32_to_e2m1(float x) {
  const uint32_t bits = float_bits(x);
  const uint8_t sign = static_cast<uint8_t>((bits & kF32SignMask) >> 28);  // bit 3
  const uint32_t abs_bits = bits & kF32AbsMask;
  if (abs_bits > kF32InfBits) return 0xFF;

  constexpr uint32_t kMaxFinite = 0x7;  // 6
  uint32_t code = abs_bits == kF32InfBits ? kMaxFinite : round_magnitude(abs_bits, kE2M1);
  code = std::min(code, kMaxFinite);
  return static_cast<uint8_t>(sign | code);
}

float e2m1_to_f32(uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x8u) << 28;
  return bits_to_float(sign | decode_magnitude(code & 0x7u, kE2M1));
}

uint8_t f32_to_e8m0(float x) {
  const uint32_t bits = float_bits(x);
  const uint32_t abs_bits = bits & kF32AbsMask;
  if (abs_bits == 0) return 0;
  if ((bits & kF32SignMask) != 0 || abs_bits >= kF32InfBits) return 0xFF;

  const uint32_t exponent_field = abs_bits >> kF32FractionBits;
  // floor(log2 x): the unbiased exponent, or for a denormal the position of its
  // leading one times 2^-149.
  const int floor_log2 = exponent_field != 0
                             ? static_cast<int>(exponent_field) - kF32Bias
                             : std::bit_width(abs_bits) - 1 + (1 - kF32Bias - kF32FractionBits);
  return static_cast<uint8_t>(std::clamp(floor_log2 + kF32Bias, 0, 254));
}

float e8m0_to_f32(uint8_t bits) {
  if (bits == 0xFF) return bits_to_float(kF32QuietNaN);
  // 2^-127 is a float32 denormal: only bit 22 of the fraction is set.
  if (bits == 0) return bits_to_float(kF32QuietBit);
  return bits_to_float(static_cast<uint32_t>(bits) << kF32FractionBits);
}

}  // namespace rowjit::ir
