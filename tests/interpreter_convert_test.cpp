// convert() through the interpreter, to and from every element type. Expected
// bytes come from the format definitions: IEEE binary16, bfloat16, OCP FP8
// E4M3 and E5M2, FP4 E2M1 and the OCP E8M0 scale.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/interpreter_testing.h"

namespace rowjit::ir {
namespace {

using testing::parse;
using testing::TestRun;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Converts one row of f32 with `attributes` (for example "to=s8") and returns
// the stored bytes of the `out_type` output.
Result<std::vector<uint8_t>> convert_bytes(const std::vector<float>& x, const std::string& attributes,
                                           ElemType out_type) {
  std::string text = "kernel k(x: f32[n]) -> (y: " + std::string(elem_type_name(out_type)) +
                     "[n]) {\n  y = convert(x, " + attributes + ")\n}\n";
  auto n = static_cast<int64_t>(x.size());
  int64_t row_bytes = storage_bytes(out_type, n);
  TestRun run(1, n);
  run.input<float>("x", ElemType::kF32, {x});
  run.output("y", out_type, row_bytes);
  Status status = run.run(parse(text.c_str()));
  if (!status.is_ok()) return status;
  return run["y"].row<uint8_t>(0, row_bytes);
}

template <typename T>
std::vector<T> as(const std::vector<uint8_t>& bytes) {
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

TEST(InterpreterConvert, ToS8NearestEven) {
  auto y = convert_bytes({2.5f, -2.5f, 3.5f, 300.0f, -300.0f, kNaN, kInf, -kInf, 0.49999997f}, "to=s8",
                         ElemType::kS8);
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(as<int8_t>(*y), (std::vector<int8_t>{2, -2, 4, 127, -128, 0, 127, -128, 0}));
}

TEST(InterpreterConvert, ToS8NearestAway) {
  auto y = convert_bytes({2.5f, -2.5f, 0.5f, 0.49999997f}, "to=s8, round=nearest_away", ElemType::kS8);
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(as<int8_t>(*y), (std::vector<int8_t>{3, -3, 1, 0}));
}

TEST(InterpreterConvert, ToS32TowardZero) {
  auto y = convert_bytes({-2.7f, 2.7f, 3e9f, -3e9f, kNaN}, "to=s32, round=toward_zero", ElemType::kS32);
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(as<int32_t>(*y), (std::vector<int32_t>{-2, 2, 2147483647, -2147483647 - 1, 0}));
}

TEST(InterpreterConvert, ToU8Floor) {
  auto y = convert_bytes({-2.5f, 2.5f, 255.9f, 300.0f, -0.5f}, "to=u8, round=floor", ElemType::kU8);
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(*y, (std::vector<uint8_t>{0, 2, 255, 255, 0}));
}

TEST(InterpreterConvert, ToF16) {
  // 65520 is the midpoint of 65504 and 65536 and rounds to the even 65536,
  // which overflows; 2^-24 is the smallest denormal; 1e-8 is below half of it.
  std::vector<float> x = {1.0f, 65504.0f, 65520.0f, -65520.0f, 1e-8f, 0x1p-24f, -0.0f, kNaN};
  auto plain = convert_bytes(x, "to=f16", ElemType::kF16);
  ASSERT_TRUE(plain.is_ok()) << plain.status().to_string();
  std::vector<uint16_t> bits = as<uint16_t>(*plain);
  EXPECT_EQ(bits[0], 0x3C00);
  EXPECT_EQ(bits[1], 0x7BFF);
  EXPECT_EQ(bits[2], 0x7C00);
  EXPECT_EQ(bits[3], 0xFC00);
  EXPECT_EQ(bits[4], 0x0000);
  EXPECT_EQ(bits[5], 0x0001);
  EXPECT_EQ(bits[6], 0x8000);
  EXPECT_EQ(bits[7] & 0x7C00, 0x7C00);  // NaN: all-ones exponent, nonzero mantissa
  EXPECT_NE(bits[7] & 0x03FF, 0);

  auto saturated = convert_bytes({65520.0f, -kInf}, "to=f16, saturate=true", ElemType::kF16);
  ASSERT_TRUE(saturated.is_ok()) << saturated.status().to_string();
  EXPECT_EQ(as<uint16_t>(*saturated), (std::vector<uint16_t>{0x7BFF, 0xFBFF}));
}

TEST(InterpreterConvert, ToBF16) {
  // 1 + 2^-8 is a tie that goes to the even 1.0; 1 + 3 * 2^-8 goes to 1 + 2^-6.
  auto y = convert_bytes({1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.0f}, "to=bf16", ElemType::kBF16);
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(as<uint16_t>(*y), (std::vector<uint16_t>{0x3F80, 0x3F80, 0x3F82, 0xC000}));
}

TEST(InterpreterConvert, ToE4M3) {
  // 464 is the midpoint of 448 (mantissa 110) and the NaN slot 480 (111).
  std::vector<float> x = {1.0f, 448.0f, 464.0f, 465.0f, kInf, -kInf, kNaN, 0x1p-9f, -0.0f};
  auto saturated = convert_bytes(x, "to=e4m3", ElemType::kE4M3);
  ASSERT_TRUE(saturated.is_ok()) << saturated.status().to_string();
  EXPECT_EQ(*saturated, (std::vector<uint8_t>{0x38, 0x7E, 0x7E, 0x7E, 0x7E, 0xFE, 0x7F, 0x01, 0x80}));
  auto plain = convert_bytes(x, "to=e4m3, saturate=false", ElemType::kE4M3);
  ASSERT_TRUE(plain.is_ok()) << plain.status().to_string();
  EXPECT_EQ(*plain, (std::vector<uint8_t>{0x38, 0x7E, 0x7E, 0x7F, 0x7F, 0xFF, 0x7F, 0x01, 0x80}));
}

TEST(InterpreterConvert, ToE5M2) {
  // 61440 is the midpoint of 57344 and 65536 and rounds to the even 65536.
  std::vector<float> x = {1.0f, 57344.0f, 61440.0f, kInf, -kInf, kNaN, -kNaN};
  auto saturated = convert_bytes(x, "to=e5m2", ElemType::kE5M2);
  ASSERT_TRUE(saturated.is_ok()) << saturated.status().to_string();
  EXPECT_EQ(*saturated, (std::vector<uint8_t>{0x3C, 0x7B, 0x7B, 0x7B, 0xFB, 0x7E, 0xFE}));
  auto plain = convert_bytes(x, "to=e5m2, saturate=false", ElemType::kE5M2);
  ASSERT_TRUE(plain.is_ok()) << plain.status().to_string();
  EXPECT_EQ(*plain, (std::vector<uint8_t>{0x3C, 0x7B, 0x7C, 0x7C, 0xFC, 0x7E, 0xFE}));
}

TEST(InterpreterConvert, ToE2M1PacksNibbles) {
  // Codes: 0 -> 0x0, 0.5 -> 0x1, 1 -> 0x2, 1.5 -> 0x3, 2 -> 0x4, 3 -> 0x5,
  // 4 -> 0x6, 6 -> 0x7, sign in bit 3. Midpoints go to the even code.
  std::vector<float> x = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 5.0f, 7.0f, kInf, -0.0f, -6.0f, 3.0f};
  auto y = convert_bytes(x, "to=e2m1", ElemType::kE2M1);
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  // Pairs (low, high): (0, 2) (2, 4) (4, 6) (7, 7) (8, F) (5, unused 0).
  EXPECT_EQ(*y, (std::vector<uint8_t>{0x20, 0x42, 0x64, 0x77, 0xF8, 0x05}));
}

TEST(InterpreterConvert, NaNToE2M1Fails) {
  TestRun run(2, 3);
  run.input<float>("x", ElemType::kF32, {{1, 2, 3}, {1, kNaN, 3}});
  run.output("y", ElemType::kE2M1, 2);
  Status status = run.run(parse(R"(kernel k(x: f32[n]) -> (y: e2m1[n]) {
    y = convert(x, to=e2m1)
  })"));
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("row 1: column 1 is NaN"), std::string::npos) << status.message();
}

TEST(InterpreterConvert, ToE8M0) {
  // floor(log2 x) + 127, clamped to [0, 254]; 0 gives 0; negative, inf and NaN give 0xFF.
  std::vector<float> x = {1.0f, 0.0f, 3.0f, 0.75f, -1.0f, kInf, kNaN, 0x1p-149f, 0x1.8p127f, 0x1p-127f};
  auto y = convert_bytes(x, "to=e8m0", ElemType::kE8M0);
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(*y, (std::vector<uint8_t>{127, 0, 128, 126, 0xFF, 0xFF, 0xFF, 0, 254, 0}));
}

TEST(InterpreterConvert, NarrowTypesToF32) {
  Pipeline p = parse(R"(kernel k(a: e4m3[n], b: e5m2[n], c: e2m1[n], d: e8m0[n], h: f16[n], g: bf16[n]) ->
      (ya: f32[n], yb: f32[n], yc: f32[n], yd: f32[n], yh: f32[n], yg: f32[n]) {
    ya = convert(a, to=f32)
    yb = convert(b, to=f32)
    yc = convert(c, to=f32)
    yd = convert(d, to=f32)
    yh = convert(h, to=f32)
    yg = convert(g, to=f32)
  })");
  TestRun run(1, 4);
  run.input<uint8_t>("a", ElemType::kE4M3, {{0x01, 0x7E, 0xFE, 0x7F}});
  run.input<uint8_t>("b", ElemType::kE5M2, {{0x01, 0x7B, 0xFC, 0x7E}});
  run.input<uint8_t>("c", ElemType::kE2M1, {{0x71, 0xA8}});  // codes 1, 7, 8, A
  run.input<uint8_t>("d", ElemType::kE8M0, {{127, 0, 254, 0xFF}});
  run.input<uint16_t>("h", ElemType::kF16, {{0x0001, 0x7BFF, 0xFC00, 0x3555}});
  run.input<uint16_t>("g", ElemType::kBF16, {{0x3F80, 0x0001, 0x7F80, 0xC040}});
  for (const char* name : {"ya", "yb", "yc", "yd", "yh", "yg"}) run.output(name, ElemType::kF32, 16);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();

  EXPECT_EQ(run["ya"].at<float>(0, 0), 0x1p-9f);  // smallest E4M3 subnormal
  EXPECT_EQ(run["ya"].at<float>(0, 1), 448.0f);
  EXPECT_EQ(run["ya"].at<float>(0, 2), -448.0f);
  EXPECT_TRUE(std::isnan(run["ya"].at<float>(0, 3)));
  EXPECT_EQ(run["yb"].at<float>(0, 0), 0x1p-16f);  // smallest E5M2 subnormal
  EXPECT_EQ(run["yb"].at<float>(0, 1), 57344.0f);
  EXPECT_EQ(run["yb"].at<float>(0, 2), -kInf);
  EXPECT_TRUE(std::isnan(run["yb"].at<float>(0, 3)));
  EXPECT_EQ(run["yc"].row<float>(0, 4), (std::vector<float>{0.5f, 6.0f, -0.0f, -1.0f}));
  EXPECT_TRUE(std::signbit(run["yc"].at<float>(0, 2)));
  EXPECT_EQ(run["yd"].at<float>(0, 0), 1.0f);
  EXPECT_EQ(run["yd"].at<float>(0, 1), 0x1p-127f);
  EXPECT_EQ(run["yd"].at<float>(0, 2), 0x1p127f);
  EXPECT_TRUE(std::isnan(run["yd"].at<float>(0, 3)));
  EXPECT_EQ(run["yh"].at<float>(0, 0), 0x1p-24f);
  EXPECT_EQ(run["yh"].at<float>(0, 1), 65504.0f);
  EXPECT_EQ(run["yh"].at<float>(0, 2), -kInf);
  EXPECT_EQ(run["yh"].at<float>(0, 3), 0x1.554p-2f);  // 0x3555: exponent 13 - 15, mantissa 0x155
  EXPECT_EQ(run["yg"].at<float>(0, 0), 1.0f);
  EXPECT_EQ(run["yg"].at<float>(0, 1), 0x1p-133f);  // the bf16 denormal 2^-126 * 2^-7
  EXPECT_EQ(run["yg"].at<float>(0, 2), kInf);
  EXPECT_EQ(run["yg"].at<float>(0, 3), -3.0f);
}

TEST(InterpreterConvert, IntegersAndBool) {
  Pipeline p = parse(R"(kernel k(a: s32[n], x: f32[n]) -> (f: f32[n], s: s8[n], u: u8[n], b: f32[n]) {
    f = convert(a, to=f32)
    s = convert(a, to=s8)
    u = convert(a, to=u8)
    b = convert(x > 0, to=f32)
  })");
  TestRun run(1, 4);
  // 2^24 + 1 rounds to 2^24 and 2^24 + 3 to 2^24 + 4 (both ties, to even).
  run.input<int32_t>("a", ElemType::kS32, {{16777217, 16777219, -1000, 5}});
  run.input<float>("x", ElemType::kF32, {{1.0f, -1.0f, kNaN, 0.0f}});
  run.output("f", ElemType::kF32, 16).output("s", ElemType::kS8, 4).output("u", ElemType::kU8, 4);
  run.output("b", ElemType::kF32, 16);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["f"].row<float>(0, 4), (std::vector<float>{16777216.0f, 16777220.0f, -1000.0f, 5.0f}));
  EXPECT_EQ(run["s"].row<int8_t>(0, 4), (std::vector<int8_t>{127, 127, -128, 5}));
  EXPECT_EQ(run["u"].row<uint8_t>(0, 4), (std::vector<uint8_t>{255, 255, 0, 5}));
  EXPECT_EQ(run["b"].row<float>(0, 4), (std::vector<float>{1, 0, 0, 0}));
}

TEST(InterpreterConvert, NarrowToNarrowRoundsOnce) {
  // f16 0x3C01 is 1 + 2^-10; E4M3 has 3 mantissa bits, so it rounds to 1.0 (0x38).
  // f16 0x5F00 is 448 and 0x5F80 is 480, which saturates to 448.
  Pipeline p = parse(R"(kernel k(h: f16[n]) -> (y: e4m3[n]) {
    y = convert(h, to=e4m3)
  })");
  TestRun run(1, 3);
  run.input<uint16_t>("h", ElemType::kF16, {{0x3C01, 0x5F00, 0x5F80}});
  run.output("y", ElemType::kE4M3, 3);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["y"].row<uint8_t>(0, 3), (std::vector<uint8_t>{0x38, 0x7E, 0x7E}));
}

TEST(InterpreterConvert, OddLengthE2M1RowsKeepStride) {
  // Two rows of 3 codes in a 4-byte stride: the unused high nibble of byte 1 is 0.
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (y: e2m1[n]) {
    y = convert(x, to=e2m1)
  })");
  TestRun run(2, 3);
  run.input<float>("x", ElemType::kF32, {{1, 2, 3}, {-1, -2, -3}});
  run.output("y", ElemType::kE2M1, 4);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["y"].row<uint8_t>(0, 4), (std::vector<uint8_t>{0x42, 0x05, 0xCD, 0xCD}));
  EXPECT_EQ(run["y"].row<uint8_t>(1, 4), (std::vector<uint8_t>{0xCA, 0x0D, 0xCD, 0xCD}));
}

}  // namespace
}  // namespace rowjit::ir
