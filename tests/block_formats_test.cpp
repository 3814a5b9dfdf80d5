// Byte-exact tests of the packers in ir/block_formats.h. Every expected byte
// is written out by hand from the layouts in docs/ir.md ("Packing").
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ir/block_formats.h"

namespace rowjit::ir {
namespace {

constexpr uint8_t kUntouched = 0xAA;

bool all_untouched(const std::vector<uint8_t>& bytes) {
  for (uint8_t byte : bytes) {
    if (byte != kUntouched) return false;
  }
  return true;
}

TEST(PackQ80, OneBlockLayout) {
  // d = 1 + 3 * 2^-11 is a tie in f16 that rounds to even: 0x3C02, stored low
  // byte first. The quants are -16..15.
  const std::vector<float> scales = {1.0f + 3 * std::ldexp(1.0f, -11)};
  std::vector<int8_t> quants;
  for (int j = 0; j < 32; ++j) quants.push_back(static_cast<int8_t>(j - 16));
  std::vector<uint8_t> out(34, kUntouched);

  ASSERT_TRUE(pack_q8_0(scales, quants, out).is_ok());

  const std::vector<uint8_t> expected = {
      0x02, 0x3C,                                                                      // d
      0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF,  // -16..-1
      0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,  // 0..15
  };
  EXPECT_EQ(out, expected);
}

TEST(PackQ80, SecondBlockFollowsFirst) {
  // Block 1: d = -1.5 (f16 0xBE00), quants 127, -128, then zeros.
  const std::vector<float> scales = {0.5f, -1.5f};
  std::vector<int8_t> quants(64, 0);
  quants[32] = 127;
  quants[33] = -128;
  std::vector<uint8_t> out(68, kUntouched);

  ASSERT_TRUE(pack_q8_0(scales, quants, out).is_ok());

  EXPECT_EQ(out[0], 0x00);  // 0.5 is f16 0x3800
  EXPECT_EQ(out[1], 0x38);
  EXPECT_EQ(out[34], 0x00);
  EXPECT_EQ(out[35], 0xBE);
  EXPECT_EQ(out[36], 0x7F);
  EXPECT_EQ(out[37], 0x80);
  EXPECT_EQ(out[38], 0x00);
  EXPECT_EQ(out[67], 0x00);
}

TEST(PackQ80, ScaleOverflowGivesInfinity) {
  // 65520 is past the largest f16 (65504) and rounds to inf, as in ggml.
  const std::vector<float> scales = {65520.0f};
  const std::vector<int8_t> quants(32, 1);
  std::vector<uint8_t> out(34, kUntouched);
  ASSERT_TRUE(pack_q8_0(scales, quants, out).is_ok());
  EXPECT_EQ(out[0], 0x00);
  EXPECT_EQ(out[1], 0x7C);
}

TEST(PackQ80, RejectsPartialBlock) {
  const std::vector<float> scales = {1.0f, 1.0f};
  const std::vector<int8_t> quants(33, 0);
  std::vector<uint8_t> out(68, kUntouched);

  const Status status = pack_q8_0(scales, quants, out);

  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("33"), std::string::npos) << status.message();
  EXPECT_TRUE(all_untouched(out));
}

TEST(PackQ80, RejectsWrongScaleCount) {
  const std::vector<float> scales = {1.0f};
  const std::vector<int8_t> quants(64, 0);
  std::vector<uint8_t> out(68, kUntouched);
  EXPECT_EQ(pack_q8_0(scales, quants, out).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(all_untouched(out));
}

TEST(PackQ80, RejectsShortOutput) {
  const std::vector<float> scales = {1.0f};
  const std::vector<int8_t> quants(32, 0);
  std::vector<uint8_t> out(33, kUntouched);
  EXPECT_EQ(pack_q8_0(scales, quants, out).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(all_untouched(out));
}

TEST(PackQ80, EmptyRow) {
  std::vector<uint8_t> out(4, kUntouched);
  EXPECT_TRUE(pack_q8_0({}, {}, out).is_ok());
  EXPECT_TRUE(all_untouched(out));
}

TEST(PackQ40, OneBlockLayout) {
  // d = 2 is f16 0x4000. q[j] = j and q[16 + j] = 15 - j, so byte j is
  // j | (15 - j) << 4.
  const std::vector<float> scales = {2.0f};
  std::vector<uint8_t> quants(32);
  for (int j = 0; j < 16; ++j) {
    quants[j] = static_cast<uint8_t>(j);
    quants[16 + j] = static_cast<uint8_t>(15 - j);
  }
  std::vector<uint8_t> out(18, kUntouched);

  ASSERT_TRUE(pack_q4_0(scales, quants, out).is_ok());

  const std::vector<uint8_t> expected = {
      0x00, 0x40,                                                                      // d
      0xF0, 0xE1, 0xD2, 0xC3, 0xB4, 0xA5, 0x96, 0x87, 0x78, 0x69, 0x5A, 0x4B, 0x3C, 0x2D, 0x1E, 0x0F,
  };
  EXPECT_EQ(out, expected);
}

TEST(PackQ40, RejectsQuantAbove15) {
  const std::vector<float> scales = {1.0f, 1.0f};
  std::vector<uint8_t> quants(64, 8);
  quants[37] = 16;
  std::vector<uint8_t> out(36, kUntouched);

  const Status status = pack_q4_0(scales, quants, out);

  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("quant 16"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("element 37"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("block 1"), std::string::npos) << status.message();
  EXPECT_TRUE(all_untouched(out));
}

TEST(PackQ40, RejectsPartialBlock) {
  const std::vector<float> scales = {1.0f, 1.0f};
  const std::vector<uint8_t> quants(33, 0);
  std::vector<uint8_t> out(36, kUntouched);
  const Status status = pack_q4_0(scales, quants, out);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("33"), std::string::npos) << status.message();
  EXPECT_TRUE(all_untouched(out));
}

TEST(PackMxfp4, TwoBlockLayout) {
  // Block 0: scale 0x7F (1.0), low nibbles 0..15, high nibbles all 0x8 (-0).
  // Block 1: scale 0xFF (NaN, still a valid scale byte), every code 0x7 (6).
  const std::vector<uint8_t> scales = {0x7F, 0xFF};
  std::vector<uint8_t> codes(64, 0x7);
  for (int j = 0; j < 16; ++j) {
    codes[j] = static_cast<uint8_t>(j);
    codes[16 + j] = 0x8;
  }
  std::vector<uint8_t> out(34, kUntouched);

  ASSERT_TRUE(pack_mxfp4(scales, codes, out).is_ok());

  const std::vector<uint8_t> expected = {
      0x7F,                                                                            // scale
      0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F,
      0xFF,                                                                            // scale
      0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77,
  };
  EXPECT_EQ(out, expected);
}

TEST(PackMxfp4, RejectsCodeOfNaN) {
  const std::vector<uint8_t> scales = {0x7F};
  std::vector<uint8_t> codes(32, 0);
  codes[5] = 0xFF;
  std::vector<uint8_t> out(17, kUntouched);
  const Status status = pack_mxfp4(scales, codes, out);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("element 5"), std::string::npos) << status.message();
  EXPECT_TRUE(all_untouched(out));
}

TEST(PackMxfp4, RejectsPartialBlock) {
  const std::vector<uint8_t> scales = {0x7F, 0x7F};
  const std::vector<uint8_t> codes(33, 0);
  std::vector<uint8_t> out(34, kUntouched);
  EXPECT_EQ(pack_mxfp4(scales, codes, out).code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(all_untouched(out));
}

TEST(PackBits, SignsOfSpecialValues) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> values = {1.5f, -2.0f, 0.0f, -0.0f, 1e-45f, -1e-45f, inf, -inf, nan, -nan};
  for (int i = 0; i < 25; ++i) values.push_back(i % 2 == 0 ? static_cast<float>(i + 1) : -static_cast<float>(i + 1));
  ASSERT_EQ(values.size(), 35u);
  bool negative[35];
  for (size_t i = 0; i < values.size(); ++i) negative[i] = values[i] < 0.0f;
  std::vector<uint8_t> out(5, 0xFF);  // stale high bits must be cleared

  ASSERT_TRUE(pack_bits(negative, out).is_ok());

  const std::vector<uint8_t> expected = {0xA2, 0xA8, 0xAA, 0xAA, 0x02};
  EXPECT_EQ(out, expected);
}

TEST(PackBits, RejectsShortOutput) {
  const bool bits[9] = {true, false, true, false, true, false, true, false, true};
  std::vector<uint8_t> out(1, kUntouched);
  EXPECT_EQ(pack_bits(bits, out).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(all_untouched(out));
}

TEST(PackBits, EmptyRow) {
  std::vector<uint8_t> out(1, kUntouched);
  EXPECT_TRUE(pack_bits({}, out).is_ok());
  EXPECT_TRUE(all_untouched(out));
}

}  // namespace
}  // namespace rowjit::ir
