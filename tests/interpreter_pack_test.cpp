// Pack ops and uniform() through the interpreter: block layouts byte by byte,
// a whole ggml Q8_0 quantizer, and the Philox numbers with first_row.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "ir/philox.h"
#include "tests/interpreter_testing.h"

namespace rowjit::ir {
namespace {

using testing::parse;
using testing::TestRun;

TEST(InterpreterPack, Q8_0Layout) {
  Pipeline p = parse(R"(kernel k(d: f32[n/32], q: s8[n]) -> (y: q8_0[n]) {
    y = pack_q8_0(d, q)
  })");
  std::vector<int8_t> quants(64);
  std::iota(quants.begin(), quants.end(), int8_t{-32});
  TestRun run(1, 64);
  run.input<float>("d", ElemType::kF32, {{0.5f, -2.0f}});
  run.input<int8_t>("q", ElemType::kS8, {quants});
  run.output("y", ElemType::kQ8_0, 68);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  // f16 0.5 is 0x3800 and -2 is 0xC000, stored little-endian.
  EXPECT_EQ(run["y"].byte(0, 0), 0x00);
  EXPECT_EQ(run["y"].byte(0, 1), 0x38);
  EXPECT_EQ(run["y"].byte(0, 34), 0x00);
  EXPECT_EQ(run["y"].byte(0, 35), 0xC0);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(static_cast<int8_t>(run["y"].byte(0, 2 + j)), quants[j]) << "block 0, quant " << j;
    EXPECT_EQ(static_cast<int8_t>(run["y"].byte(0, 36 + j)), quants[32 + j]) << "block 1, quant " << j;
  }
}

TEST(InterpreterPack, Q4_0Layout) {
  Pipeline p = parse(R"(kernel k(d: f32[n/32], q: u8[n]) -> (y: q4_0[n]) {
    y = pack_q4_0(d, q)
  })");
  std::vector<uint8_t> quants(32);
  for (int j = 0; j < 32; ++j) quants[j] = static_cast<uint8_t>(j < 16 ? j : 31 - j);
  TestRun run(1, 32);
  run.input<float>("d", ElemType::kF32, {{1.0f}});
  run.input<uint8_t>("q", ElemType::kU8, {quants});
  run.output("y", ElemType::kQ4_0, 18);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["y"].byte(0, 0), 0x00);  // f16 1.0 = 0x3C00
  EXPECT_EQ(run["y"].byte(0, 1), 0x3C);
  // Byte j holds q[j] (= j) low and q[j + 16] (= 15 - j) high.
  for (int j = 0; j < 16; ++j) EXPECT_EQ(run["y"].byte(0, 2 + j), j | ((15 - j) << 4)) << "byte " << j;
}

TEST(InterpreterPack, Q4_0QuantAbove15Fails) {
  Pipeline p = parse(R"(kernel k(d: f32[n/32], q: u8[n]) -> (y: q4_0[n]) {
    y = pack_q4_0(d, q)
  })");
  std::vector<uint8_t> quants(32, 3);
  quants[5] = 16;
  TestRun run(1, 32);
  run.input<float>("d", ElemType::kF32, {{1.0f}});
  run.input<uint8_t>("q", ElemType::kU8, {quants});
  run.output("y", ElemType::kQ4_0, 18);
  Status status = run.run(p);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(status.message().rfind("row 0: ", 0), 0u) << status.message();
  EXPECT_NE(status.message().find("16 at element 5"), std::string::npos) << status.message();
}

TEST(InterpreterPack, Mxfp4Layout) {
  Pipeline p = parse(R"(kernel k(e: e8m0[n/32], q: e2m1[n]) -> (y: mxfp4[n]) {
    y = pack_mxfp4(e, q)
  })");
  // Element j has code j % 16; stored two per byte, element 2i in the low nibble.
  std::vector<uint8_t> codes(16);
  for (int i = 0; i < 16; ++i) codes[i] = static_cast<uint8_t>(((2 * i + 1) % 16) << 4 | (2 * i) % 16);
  TestRun run(1, 32);
  run.input<uint8_t>("e", ElemType::kE8M0, {{130}});
  run.input<uint8_t>("q", ElemType::kE2M1, {codes});
  run.output("y", ElemType::kMxfp4, 17);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["y"].byte(0, 0), 130);
  // Byte j holds element j low and element j + 16 high: codes j and j.
  for (int j = 0; j < 16; ++j) EXPECT_EQ(run["y"].byte(0, 1 + j), j | (j << 4)) << "byte " << j;
}

TEST(InterpreterPack, BlockFormatNeedsMultipleOf32) {
  Pipeline p = parse(R"(kernel k(d: f32[n/32], q: s8[n]) -> (y: q8_0[n]) {
    y = pack_q8_0(d, q)
  })");
  TestRun run(1, 33);
  run.input<float>("d", ElemType::kF32, {{1.0f, 1.0f}});
  run.input<int8_t>("q", ElemType::kS8, {std::vector<int8_t>(33, 1)});
  run.output("y", ElemType::kQ8_0, 34);
  Status status = run.run(p);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("33 is not a multiple of the block size 32"), std::string::npos)
      << status.message();
}

TEST(InterpreterPack, Bits) {
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (y: u8[n/8]) {
    y = pack_bits(x > 0)
  })");
  TestRun run(1, 10);
  run.input<float>("x", ElemType::kF32, {{1, -1, 1, 1, -1, -1, -1, 1, 0, 2}});
  run.output("y", ElemType::kU8, 2);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  // Bits 0, 2, 3 and 7 of byte 0; bit 1 of byte 1, whose high 6 bits are 0.
  EXPECT_EQ(run["y"].byte(0, 0), 0x8D);
  EXPECT_EQ(run["y"].byte(0, 1), 0x02);
}

TEST(InterpreterPack, Q8_0Quantizer) {
  // ggml Q8_0: d = amax / 127, q = roundf(x / d). With amax = 63.5, d = 0.5 and
  // x * (1 / d) = 2x exactly, so the quants are 2x rounded half away from zero.
  Pipeline p = parse(R"(kernel quant_q8_0(x: f32[n]) -> (y: q8_0[n]) {
    d = block_absmax(x, block=32) / 127
    id = select(d != 0, 1 / d, 0)
    q = convert(x * id, to=s8, round=nearest_away)
    y = pack_q8_0(d, q)
  })");
  std::vector<float> x(64, 0.0f);
  const float first[] = {63.5f, -63.5f, 0.25f, -0.25f, 0.75f, 1.0f, -10.1f};
  std::copy(std::begin(first), std::end(first), x.begin());
  TestRun run(1, 64);
  run.input<float>("x", ElemType::kF32, {x});
  run.output("y", ElemType::kQ8_0, 68);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["y"].byte(0, 0), 0x00);  // f16 0.5
  EXPECT_EQ(run["y"].byte(0, 1), 0x38);
  const int8_t expected[] = {127, -127, 1, -1, 2, 2, -20};  // -20.2 rounds to -20
  for (int j = 0; j < 7; ++j) EXPECT_EQ(static_cast<int8_t>(run["y"].byte(0, 2 + j)), expected[j]) << j;
  // The all-zero second block has scale 0 and zero quants.
  for (int b = 34; b < 68; ++b) EXPECT_EQ(run["y"].byte(0, b), 0) << "byte " << b;
}

// The uniform element from its definition in docs/ir.md: ((w >> 9) + 0.5) *
// 2^-23 with w word 0 of Philox4x32-10, computed in double, where it is exact.
float uniform_by_definition(uint32_t seed, uint64_t row, uint32_t column) {
  uint32_t w = philox4x32_10({column, static_cast<uint32_t>(row), static_cast<uint32_t>(row >> 32), 0},
                             {seed, 0})[0];
  return static_cast<float>((static_cast<double>(w >> 9) + 0.5) * 0x1p-23);
}

const char* const kUniform = R"(kernel k(param seed: s32) -> (u: f32[n]) {
  u = uniform(seed)
})";

TEST(InterpreterUniform, MatchesDefinition) {
  TestRun run(3, 300);
  run.scalar("seed", 42).output("u", ElemType::kF32, 1200);
  Status status = run.run(parse(kUniform));
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 300; ++c) {
      float u = run["u"].at<float>(r, c);
      ASSERT_EQ(u, uniform_by_definition(42, r, c)) << "row " << r << ", column " << c;
      ASSERT_GT(u, 0.0f);
      ASSERT_LT(u, 1.0f);
    }
  }
}

TEST(InterpreterUniform, FirstRowShiftsRows) {
  TestRun whole(4, 16);
  whole.scalar("seed", 7).output("u", ElemType::kF32, 64);
  TestRun tail(2, 16);
  tail.scalar("seed", 7).first_row(2).output("u", ElemType::kF32, 64);
  ASSERT_TRUE(whole.run(parse(kUniform)).is_ok());
  ASSERT_TRUE(tail.run(parse(kUniform)).is_ok());
  EXPECT_EQ(tail["u"].row<float>(0, 16), whole["u"].row<float>(2, 16));
  EXPECT_EQ(tail["u"].row<float>(1, 16), whole["u"].row<float>(3, 16));
  EXPECT_NE(whole["u"].row<float>(0, 16), whole["u"].row<float>(1, 16));
}

TEST(InterpreterUniform, LargeFirstRowUsesHighWord) {
  TestRun run(1, 4);
  const int64_t first_row = (int64_t{5} << 32) + 9;
  run.scalar("seed", -1).first_row(first_row).output("u", ElemType::kF32, 16);
  Status status = run.run(parse(kUniform));
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  for (uint32_t c = 0; c < 4; ++c) {
    EXPECT_EQ(run["u"].at<float>(0, c), uniform_by_definition(0xFFFFFFFFu, static_cast<uint64_t>(first_row), c));
  }
}

TEST(InterpreterUniform, PerRowSeed) {
  Pipeline p = parse(R"(kernel k(seed: s32) -> (u: f32[n]) {
    u = uniform(seed)
  })");
  TestRun run(2, 8);
  run.input<int32_t>("seed", ElemType::kS32, {{3}, {11}});
  run.output("u", ElemType::kF32, 32);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  for (uint32_t c = 0; c < 8; ++c) {
    EXPECT_EQ(run["u"].at<float>(0, c), uniform_by_definition(3, 0, c));
    EXPECT_EQ(run["u"].at<float>(1, c), uniform_by_definition(11, 1, c));
  }
}

}  // namespace
}  // namespace rowjit::ir
