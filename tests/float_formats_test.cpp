// Bit-exact tests of the conversions in ir/float_formats.h. Expected values are
// hand-checked vectors, the value formulas of each format evaluated in double
// with std::ldexp, or an independent method (C library rounding, a nearest-value
// search over the format's values, the x86 F16C instruction).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "ir/float_formats.h"

namespace rowjit::ir {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

float pow2(int exponent) { return std::ldexp(1.0f, exponent); }
float float_of(uint32_t bits) { return std::bit_cast<float>(bits); }

// Value of an E4M3 code from the OCP definition: bias 7, S.1111.111 is NaN.
double e4m3_value(uint8_t code) {
  const double sign = (code & 0x80) != 0 ? -1.0 : 1.0;
  const int exponent = (code >> 3) & 0xF;
  const int mantissa = code & 0x7;
  if ((code & 0x7F) == 0x7F) return std::nan("");
  if (exponent == 0) return sign * std::ldexp(mantissa, -9);
  return sign * std::ldexp(8 + mantissa, exponent - 10);
}

// Value of an E5M2 code: IEEE-style with bias 15.
double e5m2_value(uint8_t code) {
  const double sign = (code & 0x80) != 0 ? -1.0 : 1.0;
  const int exponent = (code >> 2) & 0x1F;
  const int mantissa = code & 0x3;
  if (exponent == 31) return mantissa == 0 ? sign * HUGE_VAL : std::nan("");
  if (exponent == 0) return sign * std::ldexp(mantissa, -16);
  return sign * std::ldexp(4 + mantissa, exponent - 17);
}

// Value of an IEEE binary16 code.
double f16_value(uint16_t code) {
  const double sign = (code & 0x8000) != 0 ? -1.0 : 1.0;
  const int exponent = (code >> 10) & 0x1F;
  const int mantissa = code & 0x3FF;
  if (exponent == 31) return mantissa == 0 ? sign * HUGE_VAL : std::nan("");
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

// Value of a bfloat16 code: float32 with the low 16 fraction bits cut off.
double bf16_value(uint16_t code) {
  const double sign = (code & 0x8000) != 0 ? -1.0 : 1.0;
  const int exponent = (code >> 7) & 0xFF;
  const int mantissa = code & 0x7F;
  if (exponent == 255) return mantissa == 0 ? sign * HUGE_VAL : std::nan("");
  if (exponent == 0) return sign * std::ldexp(mantissa, -133);
  return sign * std::ldexp(128 + mantissa, exponent - 134);
}

// ---- round_to_integer and convert_to_integer

TEST(RoundToInteger, NearestAway) {
  EXPECT_EQ(round_to_integer(2.5, RoundMode::kNearestAway), 3.0);
  EXPECT_EQ(round_to_integer(-2.5, RoundMode::kNearestAway), -3.0);
  EXPECT_EQ(round_to_integer(0.5, RoundMode::kNearestAway), 1.0);
  // The largest double below 0.5: adding 0.5 and truncating would give 1.
  EXPECT_EQ(round_to_integer(0.49999999999999994, RoundMode::kNearestAway), 0.0);
  EXPECT_EQ(round_to_integer(1.4999999999999998, RoundMode::kNearestAway), 1.0);
}

TEST(RoundToInteger, NearestEven) {
  EXPECT_EQ(round_to_integer(2.5, RoundMode::kNearestEven), 2.0);
  EXPECT_EQ(round_to_integer(3.5, RoundMode::kNearestEven), 4.0);
  EXPECT_EQ(round_to_integer(1.5, RoundMode::kNearestEven), 2.0);
  EXPECT_EQ(round_to_integer(0.5, RoundMode::kNearestEven), 0.0);
  EXPECT_EQ(round_to_integer(0.5000000000000001, RoundMode::kNearestEven), 1.0);
  // 2^52 - 0.5 is a tie between the odd 2^52 - 1 and the even 2^52.
  EXPECT_EQ(round_to_integer(4503599627370495.5, RoundMode::kNearestEven), 4503599627370496.0);
  EXPECT_EQ(round_to_integer(4503599627370494.5, RoundMode::kNearestEven), 4503599627370494.0);
}

TEST(RoundToInteger, NearestEvenNegativeHalfIsNegativeZero) {
  const double result = round_to_integer(-0.5, RoundMode::kNearestEven);
  EXPECT_EQ(result, 0.0);
  EXPECT_TRUE(std::signbit(result));
}

TEST(RoundToInteger, TowardZero) {
  EXPECT_EQ(round_to_integer(-1.7, RoundMode::kTowardZero), -1.0);
  EXPECT_EQ(round_to_integer(1.7, RoundMode::kTowardZero), 1.0);
  const double small = round_to_integer(-0.7, RoundMode::kTowardZero);
  EXPECT_EQ(small, 0.0);
  EXPECT_TRUE(std::signbit(small));
}

TEST(RoundToInteger, Floor) {
  EXPECT_EQ(round_to_integer(-1.2, RoundMode::kFloor), -2.0);
  EXPECT_EQ(round_to_integer(1.2, RoundMode::kFloor), 1.0);
  EXPECT_EQ(round_to_integer(-0.2, RoundMode::kFloor), -1.0);
  EXPECT_EQ(round_to_integer(-3.0, RoundMode::kFloor), -3.0);
  const double negative_zero = round_to_integer(-0.0, RoundMode::kFloor);
  EXPECT_EQ(negative_zero, 0.0);
  EXPECT_TRUE(std::signbit(negative_zero));
}

TEST(RoundToInteger, SpecialValuesUnchanged) {
  const RoundMode modes[] = {RoundMode::kNearestEven, RoundMode::kNearestAway, RoundMode::kTowardZero,
                             RoundMode::kFloor};
  for (RoundMode mode : modes) {
    EXPECT_EQ(round_to_integer(HUGE_VAL, mode), HUGE_VAL);
    EXPECT_EQ(round_to_integer(-HUGE_VAL, mode), -HUGE_VAL);
    EXPECT_TRUE(std::isnan(round_to_integer(std::nan(""), mode)));
    EXPECT_EQ(round_to_integer(1e300, mode), 1e300);
    EXPECT_EQ(round_to_integer(-7.0, mode), -7.0);
  }
}

// Compares with the C library: nearbyint in the default rounding mode (to
// nearest even), round (half away from zero), trunc and floor.
TEST(RoundToInteger, MatchesCLibrary) {
  std::vector<double> inputs;
  for (int k = -4000; k <= 4000; ++k) inputs.push_back(k / 8.0);
  for (double x = 1e-300; x < 1e20; x *= 1.37) {
    inputs.push_back(x);
    inputs.push_back(-x);
    inputs.push_back(std::nextafter(x, 0.0));
  }
  for (double x : inputs) {
    EXPECT_EQ(round_to_integer(x, RoundMode::kNearestEven), std::nearbyint(x)) << x;
    EXPECT_EQ(round_to_integer(x, RoundMode::kNearestAway), std::round(x)) << x;
    EXPECT_EQ(round_to_integer(x, RoundMode::kTowardZero), std::trunc(x)) << x;
    EXPECT_EQ(round_to_integer(x, RoundMode::kFloor), std::floor(x)) << x;
  }
}

TEST(ConvertToInteger, S8NearestEvenSaturates) {
  const float inputs[] = {-129.0f, -128.5f, -128.0f, -127.5f, -127.0f, -126.0f, 126.0f, 127.0f,
                          127.5f,  128.0f,  129.0f,  1e10f,   -1e10f,  kInf,    -kInf,  kNaN};
  const int64_t expected[] = {-128, -128, -128, -128, -127, -126, 126, 127,
                              127,  127,  127,  127,  -128, 127,  -128, 0};
  for (size_t i = 0; i < std::size(inputs); ++i) {
    EXPECT_EQ(convert_to_integer(inputs[i], ElemType::kS8, RoundMode::kNearestEven), expected[i])
        << "input " << inputs[i];
  }
}

TEST(ConvertToInteger, RoundModes) {
  EXPECT_EQ(convert_to_integer(2.5f, ElemType::kS8, RoundMode::kNearestAway), 3);
  EXPECT_EQ(convert_to_integer(-2.5f, ElemType::kS8, RoundMode::kNearestAway), -3);
  EXPECT_EQ(convert_to_integer(0.5f, ElemType::kS8, RoundMode::kNearestAway), 1);
  EXPECT_EQ(convert_to_integer(2.5f, ElemType::kS8, RoundMode::kNearestEven), 2);
  EXPECT_EQ(convert_to_integer(3.5f, ElemType::kS8, RoundMode::kNearestEven), 4);
  EXPECT_EQ(convert_to_integer(-0.5f, ElemType::kS8, RoundMode::kNearestEven), 0);
  EXPECT_EQ(convert_to_integer(-1.7f, ElemType::kS8, RoundMode::kTowardZero), -1);
  EXPECT_EQ(convert_to_integer(-1.2f, ElemType::kS8, RoundMode::kFloor), -2);
}

TEST(ConvertToInteger, U8Saturates) {
  EXPECT_EQ(convert_to_integer(-1.0f, ElemType::kU8, RoundMode::kNearestEven), 0);
  EXPECT_EQ(convert_to_integer(256.0f, ElemType::kU8, RoundMode::kNearestEven), 255);
  EXPECT_EQ(convert_to_integer(255.5f, ElemType::kU8, RoundMode::kNearestEven), 255);
  EXPECT_EQ(convert_to_integer(-0.4f, ElemType::kU8, RoundMode::kNearestEven), 0);
  EXPECT_EQ(convert_to_integer(kNaN, ElemType::kU8, RoundMode::kNearestEven), 0);
  EXPECT_EQ(convert_to_integer(-kInf, ElemType::kU8, RoundMode::kNearestEven), 0);
}

TEST(ConvertToInteger, S32Saturates) {
  // 2^31 - 128 is the largest float below 2^31.
  EXPECT_EQ(convert_to_integer(2147483520.0f, ElemType::kS32, RoundMode::kNearestEven), 2147483520);
  EXPECT_EQ(convert_to_integer(2147483648.0f, ElemType::kS32, RoundMode::kNearestEven), 2147483647);
  EXPECT_EQ(convert_to_integer(-2147483648.0f, ElemType::kS32, RoundMode::kNearestEven), -2147483648LL);
  EXPECT_EQ(convert_to_integer(-3e9f, ElemType::kS32, RoundMode::kNearestEven), -2147483648LL);
  EXPECT_EQ(convert_to_integer(kInf, ElemType::kS32, RoundMode::kFloor), 2147483647);
  EXPECT_EQ(convert_to_integer(kNaN, ElemType::kS32, RoundMode::kFloor), 0);
}

// ---- E4M3

TEST(E4M3, EncodeNonSaturating) {
  const float inputs[] = {0.0f,      -0.0f,     1.0f,      448.0f,        464.0f,    465.0f, 480.0f,
                          1000.0f,   -1000.0f,  4.25f,     4.75f,         pow2(-9),  pow2(-10),
                          3 * pow2(-10), 0.013671875f, 0.015625f, kInf, -kInf, kNaN};
  const uint8_t expected[] = {0x00, 0x80, 0x38, 0x7E, 0x7E, 0x7F, 0x7F, 0x7F, 0xFF, 0x48,
                              0x4A, 0x01, 0x00, 0x02, 0x07, 0x08, 0x7F, 0xFF, 0x7F};
  for (size_t i = 0; i < std::size(inputs); ++i) {
    EXPECT_EQ(f32_to_e4m3(inputs[i], /*saturate=*/false), expected[i]) << "input " << inputs[i];
  }
}

TEST(E4M3, EncodeSaturating) {
  const float inputs[] = {0.0f,      -0.0f,     1.0f,      448.0f,        464.0f,    465.0f, 480.0f,
                          1000.0f,   -1000.0f,  4.25f,     4.75f,         pow2(-9),  pow2(-10),
                          3 * pow2(-10), 0.013671875f, 0.015625f, kInf, -kInf, kNaN};
  const uint8_t expected[] = {0x00, 0x80, 0x38, 0x7E, 0x7E, 0x7E, 0x7E, 0x7E, 0xFE, 0x48,
                              0x4A, 0x01, 0x00, 0x02, 0x07, 0x08, 0x7E, 0xFE, 0x7F};
  for (size_t i = 0; i < std::size(inputs); ++i) {
    EXPECT_EQ(f32_to_e4m3(inputs[i], /*saturate=*/true), expected[i]) << "input " << inputs[i];
  }
}

TEST(E4M3, NegativeNaNKeepsSign) {
  EXPECT_EQ(f32_to_e4m3(-kNaN, false), 0xFF);
  EXPECT_EQ(f32_to_e4m3(-kNaN, true), 0xFF);
}

TEST(E4M3, DecodeRepresentativeCodes) {
  EXPECT_EQ(e4m3_to_f32(0x01), pow2(-9));
  EXPECT_EQ(e4m3_to_f32(0x07), 7 * pow2(-9));
  EXPECT_EQ(e4m3_to_f32(0x08), pow2(-6));
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(e4m3_to_f32(0x48), 4.0f);
  EXPECT_EQ(e4m3_to_f32(0x7E), 448.0f);
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0xFF)));
  EXPECT_TRUE(std::signbit(e4m3_to_f32(0xFF)));
  const float negative_zero = e4m3_to_f32(0x80);
  EXPECT_EQ(negative_zero, 0.0f);
  EXPECT_TRUE(std::signbit(negative_zero));
  EXPECT_EQ(e4m3_to_f32(0xFE), -448.0f);
}

TEST(E4M3, DecodeEveryCode) {
  for (int code = 0; code < 256; ++code) {
    const double expected = e4m3_value(static_cast<uint8_t>(code));
    const float decoded = e4m3_to_f32(static_cast<uint8_t>(code));
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(decoded)) << "code " << code;
    } else {
      EXPECT_EQ(static_cast<double>(decoded), expected) << "code " << code;
      EXPECT_EQ(std::signbit(decoded), (code & 0x80) != 0) << "code " << code;
    }
  }
}

TEST(E4M3, RoundTripEveryCode) {
  for (int code = 0; code < 256; ++code) {
    if ((code & 0x7F) == 0x7F) continue;
    const float value = e4m3_to_f32(static_cast<uint8_t>(code));
    EXPECT_EQ(f32_to_e4m3(value, false), code) << "code " << code;
    EXPECT_EQ(f32_to_e4m3(value, true), code) << "code " << code;
  }
}

// ---- E5M2

TEST(E5M2, EncodeNonSaturating) {
  const float inputs[] = {57344.0f, 58000.0f,  61439.0f,      61440.0f, 65536.0f, pow2(-16),
                          pow2(-17), 3 * pow2(-17), kInf,      -kInf,    kNaN,     -0.0f};
  const uint8_t expected[] = {0x7B, 0x7B, 0x7B, 0x7C, 0x7C, 0x01, 0x00, 0x02, 0x7C, 0xFC, 0x7E, 0x80};
  for (size_t i = 0; i < std::size(inputs); ++i) {
    EXPECT_EQ(f32_to_e5m2(inputs[i], /*saturate=*/false), expected[i]) << "input " << inputs[i];
  }
}

TEST(E5M2, EncodeSaturating) {
  const float inputs[] = {57344.0f, 58000.0f,  61439.0f,      61440.0f, 65536.0f, pow2(-16),
                          pow2(-17), 3 * pow2(-17), kInf,      -kInf,    kNaN,     -0.0f};
  const uint8_t expected[] = {0x7B, 0x7B, 0x7B, 0x7B, 0x7B, 0x01, 0x00, 0x02, 0x7B, 0xFB, 0x7E, 0x80};
  for (size_t i = 0; i < std::size(inputs); ++i) {
    EXPECT_EQ(f32_to_e5m2(inputs[i], /*saturate=*/true), expected[i]) << "input " << inputs[i];
  }
}

TEST(E5M2, NegativeNaNKeepsSign) {
  EXPECT_EQ(f32_to_e5m2(-kNaN, false), 0xFE);
  EXPECT_EQ(f32_to_e5m2(-kNaN, true), 0xFE);
}

TEST(E5M2, DecodeRepresentativeCodes) {
  EXPECT_EQ(e5m2_to_f32(0x01), pow2(-16));
  EXPECT_EQ(e5m2_to_f32(0x04), pow2(-14));
  EXPECT_EQ(e5m2_to_f32(0x3C), 1.0f);
  EXPECT_EQ(e5m2_to_f32(0x7B), 57344.0f);
  EXPECT_EQ(e5m2_to_f32(0x7C), kInf);
  EXPECT_EQ(e5m2_to_f32(0xFC), -kInf);
  EXPECT_TRUE(std::isnan(e5m2_to_f32(0x7D)));
  EXPECT_TRUE(std::isnan(e5m2_to_f32(0x7E)));
  EXPECT_TRUE(std::isnan(e5m2_to_f32(0x7F)));
}

TEST(E5M2, DecodeEveryCode) {
  for (int code = 0; code < 256; ++code) {
    const double expected = e5m2_value(static_cast<uint8_t>(code));
    const float decoded = e5m2_to_f32(static_cast<uint8_t>(code));
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(decoded)) << "code " << code;
    } else {
      EXPECT_EQ(static_cast<double>(decoded), expected) << "code " << code;
      EXPECT_EQ(std::signbit(decoded), (code & 0x80) != 0) << "code " << code;
    }
  }
}

TEST(E5M2, RoundTripEveryCode) {
  for (int code = 0; code < 256; ++code) {
    const int magnitude = code & 0x7F;
    if (magnitude > 0x7C) continue;  // NaN
    const float value = e5m2_to_f32(static_cast<uint8_t>(code));
    EXPECT_EQ(f32_to_e5m2(value, false), code) << "code " << code;
    // Saturation maps inf to the largest finite code.
    const int saturated = magnitude == 0x7C ? (code & 0x80) | 0x7B : code;
    EXPECT_EQ(f32_to_e5m2(value, true), saturated) << "code " << code;
  }
}

// ---- E2M1

TEST(E2M1, Encode) {
  const float inputs[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, -0.25f, -5.0f, 0.2f,  0.3f,
                          5.5f,  6.0f,  7.0f,  100.0f, -100.0f, kInf, -kInf, -0.0f, 0.5f, 1.0f, 3.0f};
  const uint8_t expected[] = {0x0, 0x2, 0x2, 0x4, 0x4, 0x6, 0x6, 0x8, 0xE, 0x0, 0x1,
                              0x7, 0x7, 0x7, 0x7, 0xF, 0x7, 0xF, 0x8, 0x1, 0x2, 0x5};
  for (size_t i = 0; i < std::size(inputs); ++i) {
    EXPECT_EQ(f32_to_e2m1(inputs[i]), expected[i]) << "input " << inputs[i];
  }
}

TEST(E2M1, NaNHasNoCode) {
  EXPECT_EQ(f32_to_e2m1(kNaN), 0xFF);
  EXPECT_EQ(f32_to_e2m1(-kNaN), 0xFF);
}

TEST(E2M1, DecodeEveryCode) {
  const float magnitudes[] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (int code = 0; code < 16; ++code) {
    const float expected = (code & 0x8) != 0 ? -magnitudes[code & 0x7] : magnitudes[code & 0x7];
    const float decoded = e2m1_to_f32(static_cast<uint8_t>(code));
    EXPECT_EQ(decoded, expected) << "code " << code;
    EXPECT_EQ(std::signbit(decoded), (code & 0x8) != 0) << "code " << code;
  }
}

TEST(E2M1, RoundTripEveryCode) {
  for (int code = 0; code < 16; ++code) {
    EXPECT_EQ(f32_to_e2m1(e2m1_to_f32(static_cast<uint8_t>(code))), code) << "code " << code;
  }
}

// ---- Cross-check of the FP8 and FP4 encoders against a nearest-value search

// Encodes a non-negative, non-NaN x by searching the sorted values of a format
// for the nearest one; ties go to the even code. `values[c]` is the value of
// magnitude code c. A result of values.size() means x lies past the last value.
int nearest_code(double x, const std::vector<double>& values) {
  const auto above = std::lower_bound(values.begin(), values.end(), x);
  if (above == values.end()) return static_cast<int>(values.size());  // past the last value
  const int upper = static_cast<int>(above - values.begin());
  if (*above == x || upper == 0) return upper;
  const int lower = upper - 1;
  const double below_distance = x - values[lower];
  const double above_distance = *above - x;
  if (below_distance < above_distance) return lower;
  if (above_distance < below_distance) return upper;
  return (lower % 2 == 0) ? lower : upper;
}

// Sample inputs: evenly spaced float32 bit patterns over [0, inf], plus each
// midpoint between neighbouring values of `values` and the floats on either side.
std::vector<float> sample_inputs(const std::vector<double>& values) {
  std::vector<float> inputs;
  for (uint32_t bits = 0; bits < 0x7F800000u; bits += 4093) inputs.push_back(float_of(bits));
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    const auto midpoint = static_cast<float>((values[i] + values[i + 1]) / 2);  // exact here
    inputs.push_back(midpoint);
    inputs.push_back(std::nextafter(midpoint, 0.0f));
    inputs.push_back(std::nextafter(midpoint, kInf));
  }
  inputs.push_back(kInf);
  return inputs;
}

TEST(E4M3, MatchesNearestValueSearch) {
  // Codes 0x00-0x7E, then 480: where 0x7F would sit if it were not NaN.
  std::vector<double> values;
  for (int code = 0; code <= 0x7E; ++code) values.push_back(e4m3_value(static_cast<uint8_t>(code)));
  values.push_back(480.0);
  for (float x : sample_inputs(values)) {
    const int nearest = nearest_code(x, values);
    const bool overflow = nearest > 0x7E;
    const int expected_plain = overflow ? 0x7F : nearest;
    const int expected_saturated = overflow ? 0x7E : nearest;
    ASSERT_EQ(f32_to_e4m3(x, false), expected_plain) << "input " << x;
    ASSERT_EQ(f32_to_e4m3(x, true), expected_saturated) << "input " << x;
    ASSERT_EQ(f32_to_e4m3(-x, false), expected_plain | 0x80) << "input " << -x;
  }
}

TEST(E5M2, MatchesNearestValueSearch) {
  // Codes 0x00-0x7B, then 65536: the rounding neighbour past 57344 that overflows to inf.
  std::vector<double> values;
  for (int code = 0; code <= 0x7B; ++code) values.push_back(e5m2_value(static_cast<uint8_t>(code)));
  values.push_back(65536.0);
  for (float x : sample_inputs(values)) {
    const int nearest = nearest_code(x, values);
    const bool overflow = nearest > 0x7B;
    const int expected_plain = overflow ? 0x7C : nearest;
    const int expected_saturated = overflow ? 0x7B : nearest;
    ASSERT_EQ(f32_to_e5m2(x, false), expected_plain) << "input " << x;
    ASSERT_EQ(f32_to_e5m2(x, true), expected_saturated) << "input " << x;
    ASSERT_EQ(f32_to_e5m2(-x, false), expected_plain | 0x80) << "input " << -x;
  }
}

TEST(E2M1, MatchesNearestValueSearch) {
  const std::vector<double> values = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0};
  for (float x : sample_inputs(values)) {
    const int expected = std::min(nearest_code(x, values), 7);  // always saturating
    ASSERT_EQ(f32_to_e2m1(x), expected) << "input " << x;
    ASSERT_EQ(f32_to_e2m1(-x), expected | 0x8) << "input " << -x;
  }
}

// ---- f16

TEST(F16, TiesRoundToEven) {
  EXPECT_EQ(f32_to_f16(1.0f + pow2(-11), false), 0x3C00);        // 1.0
  EXPECT_EQ(f32_to_f16(1.0f + 3 * pow2(-11), false), 0x3C02);    // 1 + 2^-9
  EXPECT_EQ(f32_to_f16(1.0f + pow2(-11) + pow2(-20), false), 0x3C01);  // above the tie
}

TEST(F16, Overflow) {
  EXPECT_EQ(f32_to_f16(65504.0f, false), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65519.0f, false), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f, false), 0x7C00);
  EXPECT_EQ(f32_to_f16(65520.0f, true), 0x7BFF);
  EXPECT_EQ(f32_to_f16(-65520.0f, true), 0xFBFF);
  EXPECT_EQ(f32_to_f16(1e30f, false), 0x7C00);
  EXPECT_EQ(f32_to_f16(kInf, false), 0x7C00);
  EXPECT_EQ(f32_to_f16(kInf, true), 0x7BFF);
  EXPECT_EQ(f32_to_f16(-kInf, false), 0xFC00);
  EXPECT_EQ(f32_to_f16(-kInf, true), 0xFBFF);
}

TEST(F16, Subnormals) {
  EXPECT_EQ(f32_to_f16(pow2(-24), false), 0x0001);
  EXPECT_EQ(f32_to_f16(pow2(-25), false), 0x0000);      // tie with 0, to even
  EXPECT_EQ(f32_to_f16(3 * pow2(-25), false), 0x0002);  // tie between 1 and 2
  EXPECT_EQ(f32_to_f16(-pow2(-24), false), 0x8001);
  EXPECT_EQ(f32_to_f16(pow2(-14), false), 0x0400);      // smallest normal
  EXPECT_EQ(f32_to_f16(pow2(-14) - pow2(-25), false), 0x0400);  // rounds up into the normals
  EXPECT_EQ(f32_to_f16(float_of(1), false), 0x0000);    // float32 denormal
  EXPECT_EQ(f32_to_f16(-float_of(1), false), 0x8000);
}

TEST(F16, NaNKeepsSignAndIsQuiet) {
  const uint16_t positive = f32_to_f16(kNaN, false);
  EXPECT_EQ(positive & 0x7C00, 0x7C00);
  EXPECT_NE(positive & 0x0200, 0);
  EXPECT_EQ(positive & 0x8000, 0);
  const uint16_t negative = f32_to_f16(-kNaN, true);
  EXPECT_EQ(negative & 0x7C00, 0x7C00);
  EXPECT_NE(negative & 0x0200, 0);
  EXPECT_NE(negative & 0x8000, 0);
  // A signaling NaN whose payload is all below the kept bits stays NaN.
  EXPECT_EQ(f32_to_f16(float_of(0xFF800001u), false), 0xFE00);
}

TEST(F16, DecodeEveryCode) {
  for (int code = 0; code < 65536; ++code) {
    const double expected = f16_value(static_cast<uint16_t>(code));
    const float decoded = f16_to_f32(static_cast<uint16_t>(code));
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(decoded)) << "code " << code;
      ASSERT_EQ(std::signbit(decoded), (code & 0x8000) != 0) << "code " << code;
    } else {
      ASSERT_EQ(static_cast<double>(decoded), expected) << "code " << code;
      ASSERT_EQ(std::signbit(decoded), (code & 0x8000) != 0) << "code " << code;
    }
  }
}

TEST(F16, RoundTripEveryCode) {
  for (int code = 0; code < 65536; ++code) {
    if ((code & 0x7C00) == 0x7C00 && (code & 0x03FF) != 0) continue;  // NaN
    ASSERT_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(code)), false), code) << "code " << code;
  }
}

// ---- bf16

TEST(BF16, TiesRoundToEven) {
  EXPECT_EQ(f32_to_bf16(float_of(0x3F808000u), false), 0x3F80);
  EXPECT_EQ(f32_to_bf16(float_of(0x3F818000u), false), 0x3F82);
  EXPECT_EQ(f32_to_bf16(float_of(0x3F808001u), false), 0x3F81);
  EXPECT_EQ(f32_to_bf16(float_of(0x3F807FFFu), false), 0x3F80);
}

TEST(BF16, Overflow) {
  EXPECT_EQ(f32_to_bf16(float_of(0x7F7F7FFFu), false), 0x7F7F);
  EXPECT_EQ(f32_to_bf16(float_of(0x7F7F8000u), false), 0x7F80);  // tie rounds to even: inf
  EXPECT_EQ(f32_to_bf16(float_of(0x7F7F8000u), true), 0x7F7F);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max(), false), 0x7F80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::max(), true), 0xFF7F);
  EXPECT_EQ(f32_to_bf16(kInf, false), 0x7F80);
  EXPECT_EQ(f32_to_bf16(kInf, true), 0x7F7F);
  EXPECT_EQ(f32_to_bf16(-kInf, false), 0xFF80);
}

TEST(BF16, Subnormals) {
  EXPECT_EQ(f32_to_bf16(float_of(0x00010000u), false), 0x0001);
  EXPECT_EQ(f32_to_bf16(float_of(0x00008000u), false), 0x0000);  // tie with 0
  EXPECT_EQ(f32_to_bf16(float_of(0x00018000u), false), 0x0002);  // tie between 1 and 2
  EXPECT_EQ(f32_to_bf16(float_of(0x007FFFFFu), false), 0x0080);  // rounds up to the smallest normal
  EXPECT_EQ(f32_to_bf16(float_of(0x80000001u), false), 0x8000);
}

TEST(BF16, NaNKeepsSignAndIsQuiet) {
  EXPECT_EQ(f32_to_bf16(float_of(0x7FC00000u), false), 0x7FC0);
  EXPECT_EQ(f32_to_bf16(float_of(0xFFC00000u), true), 0xFFC0);
  EXPECT_EQ(f32_to_bf16(float_of(0x7F800001u), false), 0x7FC0);  // signaling, low payload
}

TEST(BF16, DecodeEveryCode) {
  for (int code = 0; code < 65536; ++code) {
    const double expected = bf16_value(static_cast<uint16_t>(code));
    const float decoded = bf16_to_f32(static_cast<uint16_t>(code));
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(decoded)) << "code " << code;
    } else {
      ASSERT_EQ(static_cast<double>(decoded), expected) << "code " << code;
    }
    ASSERT_EQ(std::signbit(decoded), (code & 0x8000) != 0) << "code " << code;
  }
}

TEST(BF16, RoundTripEveryCode) {
  for (int code = 0; code < 65536; ++code) {
    if ((code & 0x7F80) == 0x7F80 && (code & 0x007F) != 0) continue;  // NaN
    ASSERT_EQ(f32_to_bf16(bf16_to_f32(static_cast<uint16_t>(code)), false), code) << "code " << code;
  }
}

// ---- E8M0

TEST(E8M0, Encode) {
  EXPECT_EQ(f32_to_e8m0(1.0f), 127);
  EXPECT_EQ(f32_to_e8m0(0.75f), 126);
  EXPECT_EQ(f32_to_e8m0(1.999f), 127);
  EXPECT_EQ(f32_to_e8m0(pow2(-127)), 0);
  EXPECT_EQ(f32_to_e8m0(pow2(-130)), 0);
  EXPECT_EQ(f32_to_e8m0(pow2(-126)), 1);
  EXPECT_EQ(f32_to_e8m0(0.0f), 0);
  EXPECT_EQ(f32_to_e8m0(-0.0f), 0);
  EXPECT_EQ(f32_to_e8m0(pow2(127)), 254);
  EXPECT_EQ(f32_to_e8m0(3e38f), 254);
  EXPECT_EQ(f32_to_e8m0(-1.0f), 0xFF);
  EXPECT_EQ(f32_to_e8m0(-pow2(-140)), 0xFF);
  EXPECT_EQ(f32_to_e8m0(kInf), 0xFF);
  EXPECT_EQ(f32_to_e8m0(kNaN), 0xFF);
}

TEST(E8M0, Decode) {
  EXPECT_EQ(e8m0_to_f32(0), pow2(-127));
  EXPECT_EQ(e8m0_to_f32(1), pow2(-126));
  EXPECT_EQ(e8m0_to_f32(127), 1.0f);
  EXPECT_EQ(e8m0_to_f32(254), pow2(127));
  EXPECT_TRUE(std::isnan(e8m0_to_f32(255)));
}

TEST(E8M0, RoundTripEveryCode) {
  for (int code = 0; code < 255; ++code) {
    EXPECT_EQ(f32_to_e8m0(e8m0_to_f32(static_cast<uint8_t>(code))), code) << "code " << code;
  }
}

// ---- Exhaustive sweeps over all 2^32 float32 inputs: tens of seconds each, so
// the suite names contain Long.

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("f16c"))) uint16_t f16c_f32_to_f16(float x) {
  return static_cast<uint16_t>(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
}
#endif

TEST(F16Long, MatchesF16CForEveryFloat) {
#if defined(__x86_64__) || defined(__i386__)
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "this CPU has no F16C, the reference for this sweep";
  // The immediate of vcvtps2ph selects round to nearest even, so MXCSR's
  // rounding bits do not apply.
  uint64_t mismatches = 0;
  uint32_t first_mismatch = 0;
  uint32_t bits = 0;
  do {
    const float x = float_of(bits);
    if (f32_to_f16(x, false) != f16c_f32_to_f16(x)) {
      if (mismatches == 0) first_mismatch = bits;
      ++mismatches;
    }
    ++bits;
  } while (bits != 0);
  EXPECT_EQ(mismatches, 0u) << "first mismatch at float32 bits 0x" << std::hex << first_mismatch;
#else
  GTEST_SKIP() << "F16C, the reference for this sweep, exists only on x86";
#endif
}

// Rounds to bf16 by the usual integer trick: add 0x7FFF plus the lowest kept
// bit, then cut the low half. Valid for every finite float32; the carry out of
// the largest finite values gives inf, as round to nearest even does.
uint16_t bf16_by_rounding_bias(uint32_t bits) {
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

TEST(BF16Long, MatchesRoundingBiasForEveryFiniteFloat) {
  uint64_t mismatches = 0;
  uint32_t first_mismatch = 0;
  uint32_t bits = 0;
  do {
    if ((bits & 0x7F800000u) != 0x7F800000u) {
      if (f32_to_bf16(float_of(bits), false) != bf16_by_rounding_bias(bits)) {
        if (mismatches == 0) first_mismatch = bits;
        ++mismatches;
      }
    }
    ++bits;
  } while (bits != 0);
  EXPECT_EQ(mismatches, 0u) << "first mismatch at float32 bits 0x" << std::hex << first_mismatch;
}

}  // namespace
}  // namespace rowjit::ir
