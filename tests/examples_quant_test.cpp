// The quantizer examples through the reference interpreter, bit-exact against
// the scalar formulas of tests/reference_quant.h: random rows, all-zero rows
// and blocks, exact halves, and special values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/reference_quant.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
const std::vector<int64_t> kLengths = {1, 7, 32, 33, 257};
const std::vector<int64_t> kBlockLengths = {32, 64, 256};
constexpr int64_t kRowsPerRun = 3;

// Rows for the per-row quantizers: random rows of every length (magnitudes
// from 1e-3 to 1e3), then special rows.
std::vector<std::vector<float>> per_row_cases() {
  std::mt19937 rng(404);
  std::vector<std::vector<float>> rows;
  for (float range : {1e-3f, 1.0f, 1e3f}) {
    for (int64_t n : kLengths) rows.push_back(random_values(rng, static_cast<size_t>(n), range));
  }
  rows.push_back({0, 0, 0, 0, 0});                              // all zero: scale 0, quants 0
  rows.push_back({-0.0f, 0, -0.0f});
  rows.push_back({127, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f});  // scale 1, exact halves
  rows.push_back({1e-45f, -3e-45f, 0});                         // subnormals
  rows.push_back({3e38f, -1, 1e-30f});
  rows.push_back({kInf, 1, -2});
  rows.push_back({1, kNaN, 2});
  return rows;
}

// Rows of whole 32-element blocks for the block quantizers: random blocks
// whose magnitude varies from block to block, then special blocks.
std::vector<std::vector<float>> block_cases() {
  std::mt19937 rng(505);
  std::uniform_int_distribution<int> exponent(-20, 20);
  std::vector<std::vector<float>> rows;
  for (int64_t n : kBlockLengths) {
    for (int r = 0; r < 2; ++r) {
      std::vector<float> row;
      for (int64_t b = 0; b < n / 32; ++b) {
        std::vector<float> block = random_values(rng, 32, std::ldexp(1.0f, exponent(rng)));
        row.insert(row.end(), block.begin(), block.end());
      }
      rows.push_back(row);
    }
  }
  std::vector<float> zero_then_random(32, 0);
  std::vector<float> tail = random_values(rng, 32, 3);
  zero_then_random.insert(zero_then_random.end(), tail.begin(), tail.end());
  rows.push_back(zero_then_random);  // an all-zero block next to a normal one
  std::vector<float> subnormal(32);
  for (size_t i = 0; i < 32; ++i) subnormal[i] = std::ldexp(static_cast<float>(i) - 16, -140);
  rows.push_back(subnormal);
  return rows;
}

// Q8_0 with amax 127: d = 1 and id = 1, so x * id is x, and halves show the
// rounding direction (ggml's roundf: away from zero).
std::vector<float> q8_0_halves_block() {
  std::vector<float> block = {127, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, -126.5f, 3.4999998f};
  block.resize(32, 0);
  return block;
}

// Q4_0 with max -8: d = 1 and id = 1, so the quant is min(15, trunc(x + 8.5)).
std::vector<float> q4_0_exact_block() {
  std::vector<float> block = {-8, -7.5f, -0.5f, 0, 0.5f, 6, 6.5f, 7, 7.5f, 7.9999995f, -7.9999995f, 1.25f, -1.25f};
  block.resize(32, 0.25f);
  return block;
}

// MXFP4 with amax 6: floor(log2 6) - 2 = 0, so the scale is 1 and the elements
// are E2M1 roundings of x itself, including every midpoint.
std::vector<float> mxfp4_ties_block() {
  std::vector<float> block = {6, 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5, -0.25f, -5, 0.2f, 0.3f, 5.5f, -0.0f};
  block.resize(32, 1);
  return block;
}

std::vector<uint8_t> bytes_of_rows(const PipelineRun& run, const std::string& name, int64_t rows) {
  std::vector<uint8_t> all;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<uint8_t> row = run.row_bytes(name, r);
    all.insert(all.end(), row.begin(), row.end());
  }
  return all;
}

TEST(ExampleQuantInt8Absmax, MatchesFormulaBitExact) {
  auto pipeline = parse_example("quant_int8_absmax");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (const auto& row : per_row_cases()) {
    SCOPED_TRACE(::testing::PrintToString(row));
    PipelineRun run(*pipeline, 1, static_cast<int64_t>(row.size()));
    run.input("x", row);
    ASSERT_TRUE(run.run().is_ok());
    ref::Int8Row expected = ref::quant_int8_absmax(row);
    EXPECT_EQ(run.s8("y"), expected.q);
    EXPECT_EQ(float_bits(run.f32("scale")[0]), float_bits(expected.scale)) << run.f32("scale")[0];
  }
}

TEST(ExampleQuantInt8Absmax, ScaleIsPerRow) {
  auto pipeline = parse_example("quant_int8_absmax");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 3, 2);
  run.input("x", std::vector<float>{127, -63.5f, 0, 0, 1.27f, 0.5f});
  ASSERT_TRUE(run.run().is_ok());
  EXPECT_EQ(run.f32("scale"), (std::vector<float>{1, 0, 1.27f / 127}));
  EXPECT_EQ(run.s8("y"), (std::vector<int8_t>{127, -64, 0, 0, 127, 50}));
}

TEST(ExampleQuantUint8Affine, MatchesFormulaBitExact) {
  auto pipeline = parse_example("quant_uint8_affine");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::vector<std::vector<float>> rows = per_row_cases();
  rows.push_back({-1e10f, 1e10f, -kInf, kInf, 2.5f, 3.5f, -2.5f, -0.5f, 0.5f, 127.5f, 128.5f});
  for (auto [scale, zp] : {std::pair{1.0f, 0}, std::pair{1.0f, 128}, std::pair{0.05f, 255},
                           std::pair{3.7f, 17}, std::pair{0.5f, -5}, std::pair{2.0f, 300}}) {
    for (const auto& row : rows) {
      SCOPED_TRACE("scale " + std::to_string(scale) + ", zp " + std::to_string(zp) + ", " +
                   ::testing::PrintToString(row));
      PipelineRun run(*pipeline, 1, static_cast<int64_t>(row.size()));
      run.input("x", row).param("scale", scale).param("zp", zp);
      ASSERT_TRUE(run.run().is_ok());
      std::vector<int64_t> expected = ref::quant_affine(row, scale, zp, 0, 255);
      const std::vector<uint8_t>& y = run.bytes("y");
      for (size_t i = 0; i < row.size(); ++i) EXPECT_EQ(y[i], expected[i]) << "column " << i;
    }
  }
}

TEST(ExampleQuantUint8Affine, RoundsBeforeAddingZeroPoint) {
  // 2.5 rounds to 2 (half to even) and then adds 101: 103. Adding first would
  // give rne(103.5) = 104.
  auto pipeline = parse_example("quant_uint8_affine");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 2);
  run.input("x", std::vector<float>{2.5f, 3.5f}).param("scale", 1.0).param("zp", 101);
  ASSERT_TRUE(run.run().is_ok());
  EXPECT_EQ(run.bytes("y"), (std::vector<uint8_t>{103, 105}));
}

void check_fp8(const std::string& example, bool e4m3) {
  auto pipeline = parse_example(example);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (const auto& row : per_row_cases()) {
    SCOPED_TRACE(::testing::PrintToString(row));
    PipelineRun run(*pipeline, 1, static_cast<int64_t>(row.size()));
    run.input("x", row);
    ASSERT_TRUE(run.run().is_ok());
    ref::Fp8Row expected = ref::quant_fp8(row, e4m3);
    EXPECT_EQ(run.bytes("y"), expected.q);
    EXPECT_EQ(float_bits(run.f32("scale")[0]), float_bits(expected.scale)) << run.f32("scale")[0];
  }
}

TEST(ExampleQuantFp8E4m3, MatchesFormulaBitExact) { check_fp8("quant_fp8_e4m3", true); }

TEST(ExampleQuantFp8E5m2, MatchesFormulaBitExact) { check_fp8("quant_fp8_e5m2", false); }

TEST(ExampleQuantFp8E4m3, AbsmaxMapsToMaxNormal) {
  auto pipeline = parse_example("quant_fp8_e4m3");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 3);
  run.input("x", std::vector<float>{-3, 1.5f, 0.75f});
  ASSERT_TRUE(run.run().is_ok());
  // x / scale = [-448, 224, 112]: 0xFE is -448, 0x76 is 224 and 0x6E is 112.
  EXPECT_EQ(run.bytes("y"), (std::vector<uint8_t>{0xFE, 0x76, 0x6E}));
}

// Runs a block quantizer over `rows` and compares each row's bytes with the
// reference.
void check_blocks(const std::string& example, const std::vector<std::vector<float>>& rows,
                  std::vector<uint8_t> (*reference)(const std::vector<float>&)) {
  auto pipeline = parse_example(example);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (const auto& row : rows) {
    SCOPED_TRACE(::testing::PrintToString(row));
    PipelineRun run(*pipeline, 1, static_cast<int64_t>(row.size()));
    run.input("x", row);
    Status status = run.run();
    ASSERT_TRUE(status.is_ok()) << status.to_string();
    EXPECT_EQ(run.bytes("y"), reference(row));
  }
}

// A batch of rows in one call: each row gets its own blocks.
void check_block_batch(const std::string& example, std::vector<uint8_t> (*reference)(const std::vector<float>&)) {
  auto pipeline = parse_example(example);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::mt19937 rng(606);
  const int64_t n = 64;
  std::vector<float> x = random_values(rng, static_cast<size_t>(n * kRowsPerRun), 5);
  PipelineRun run(*pipeline, kRowsPerRun, n);
  run.input("x", x);
  ASSERT_TRUE(run.run().is_ok());
  std::vector<uint8_t> expected;
  for (int64_t r = 0; r < kRowsPerRun; ++r) {
    std::vector<uint8_t> row = reference(std::vector<float>(x.begin() + r * n, x.begin() + (r + 1) * n));
    expected.insert(expected.end(), row.begin(), row.end());
  }
  EXPECT_EQ(bytes_of_rows(run, "y", kRowsPerRun), expected);
}

void check_partial_block_fails(const std::string& example) {
  auto pipeline = parse_example(example);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 33);
  run.input("x", std::vector<float>(33, 1));
  EXPECT_EQ(run.run().code(), StatusCode::kOutOfRange) << example << ": n = 33 is not a multiple of 32";
}

TEST(ExampleQuantQ8_0, MatchesGgmlFormulaBitExact) {
  std::vector<std::vector<float>> rows = block_cases();
  rows.push_back(q8_0_halves_block());
  check_blocks("quant_q8_0", rows, ref::quant_q8_0);
  check_block_batch("quant_q8_0", ref::quant_q8_0);
}

TEST(ExampleQuantQ8_0, HalvesRoundAwayFromZero) {
  auto pipeline = parse_example("quant_q8_0");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 32);
  run.input("x", q8_0_halves_block());
  ASSERT_TRUE(run.run().is_ok());
  const std::vector<uint8_t>& y = run.bytes("y");
  ASSERT_EQ(y.size(), 34u);
  EXPECT_EQ(y[0], 0x00) << "d = 1 is f16 0x3C00, stored little-endian";
  EXPECT_EQ(y[1], 0x3C);
  const int8_t expected[] = {127, 1, 2, 3, -1, -2, -3, 127, -127, 3};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(static_cast<int8_t>(y[2 + i]), expected[i]) << "element " << i;
}

TEST(ExampleQuantQ8_0, PartialBlockFails) { check_partial_block_fails("quant_q8_0"); }

TEST(ExampleQuantQ4_0, MatchesGgmlFormulaBitExact) {
  std::vector<std::vector<float>> rows = block_cases();
  rows.push_back(q4_0_exact_block());
  check_blocks("quant_q4_0", rows, ref::quant_q4_0);
  check_block_batch("quant_q4_0", ref::quant_q4_0);
}

TEST(ExampleQuantQ4_0, TruncatesAfterAddingEightAndHalf) {
  auto pipeline = parse_example("quant_q4_0");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 32);
  run.input("x", q4_0_exact_block());
  ASSERT_TRUE(run.run().is_ok());
  const std::vector<uint8_t>& y = run.bytes("y");
  ASSERT_EQ(y.size(), 18u);
  EXPECT_EQ(y[0], 0x00) << "d = -8 / -8 = 1 is f16 0x3C00";
  EXPECT_EQ(y[1], 0x3C);
  // trunc(x + 8.5) capped at 15; elements 13..31 are 0.25, giving 8.
  const uint8_t low[] = {0, 1, 8, 8, 9, 14, 15, 15, 15, 15, 0, 9, 7, 8, 8, 8};
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[2 + j] & 0x0F, low[j]) << "quant " << j;
    EXPECT_EQ(y[2 + j] >> 4, 8) << "quant " << j + 16;
  }
}

TEST(ExampleQuantQ4_0, PartialBlockFails) { check_partial_block_fails("quant_q4_0"); }

TEST(ExampleQuantMxfp4, MatchesOcpFormulaBitExact) {
  std::vector<std::vector<float>> rows = block_cases();
  rows.push_back(mxfp4_ties_block());
  std::vector<float> special(32, 1);
  special[3] = kInf;
  std::vector<float> with_nan(32, 1);
  with_nan[7] = kNaN;
  std::vector<float> huge(32, 3e38f);
  rows.push_back(special);
  rows.push_back(with_nan);
  rows.push_back(huge);
  check_blocks("quant_mxfp4", rows, ref::quant_mxfp4);
  check_block_batch("quant_mxfp4", ref::quant_mxfp4);
}

TEST(ExampleQuantMxfp4, TiesRoundToEven) {
  auto pipeline = parse_example("quant_mxfp4");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 32);
  run.input("x", mxfp4_ties_block());
  ASSERT_TRUE(run.run().is_ok());
  const std::vector<uint8_t>& y = run.bytes("y");
  ASSERT_EQ(y.size(), 17u);
  EXPECT_EQ(y[0], 127) << "scale 2^0";
  // E2M1 codes of 6, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, -0.25, -5, 0.2, 0.3, 5.5, -0, 1, 1
  // from the OCP value table: 0.25 -> 0, 0.75 -> 1 (code 2), 1.25 -> 1, 1.75 -> 2
  // (code 4), 2.5 -> 2, 3.5 -> 4 (code 6), 5 -> 4, 5.5 -> 6.
  const uint8_t low[] = {0x7, 0x0, 0x2, 0x2, 0x4, 0x4, 0x6, 0x6, 0x8, 0xE, 0x0, 0x1, 0x7, 0x8, 0x2, 0x2};
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[1 + j] & 0x0F, low[j]) << "element " << j;
    EXPECT_EQ(y[1 + j] >> 4, 0x2) << "element " << j + 16 << " is 1";
  }
}

TEST(ExampleQuantMxfp4, AllZeroBlockGetsSmallestScale) {
  auto pipeline = parse_example("quant_mxfp4");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 32);
  run.input("x", std::vector<float>(32, 0));
  ASSERT_TRUE(run.run().is_ok());
  EXPECT_EQ(run.bytes("y"), std::vector<uint8_t>(17, 0));
}

TEST(ExampleQuantMxfp4, PartialBlockFails) { check_partial_block_fails("quant_mxfp4"); }

TEST(ExampleBinarySign, MatchesSignBits) {
  auto pipeline = parse_example("binary_sign");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::vector<std::vector<float>> rows = per_row_cases();
  rows.push_back({-0.0f, kNaN, -kNaN, -kInf, 1e-45f, -1e-45f, -1, 1, -2});
  for (const auto& row : rows) {
    SCOPED_TRACE(::testing::PrintToString(row));
    PipelineRun run(*pipeline, 1, static_cast<int64_t>(row.size()));
    run.input("x", row);
    ASSERT_TRUE(run.run().is_ok());
    EXPECT_EQ(run.bytes("y"), ref::sign_bits(row));
  }
}

}  // namespace
}  // namespace rowjit::testing
