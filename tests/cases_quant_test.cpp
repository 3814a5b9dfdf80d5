// Quantization edge cases that other projects have got wrong, run as pipelines
// through the interpreter. They cover int8 saturation and half-to-even rounding,
// the zero point added after rounding, and per-row asymmetric int8. They also
// cover the FP8 and FP4 encodings with and without saturation, and sign bits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ir/parser.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The affine form of examples/quant_uint8_affine.rj with an int8 result.
constexpr const char* kInt8Affine = R"(
kernel quant_int8_affine(x: f32[n], param scale: f32 > 0, param zp: s32) -> (y: s8[n]) {
  r = convert(x / scale, to=s32, round=nearest_even)
  rc = minimum(maximum(r, -65536), 65536)
  y = convert(rc + zp, to=s8)
}
)";

// Per-row asymmetric int8 with the range widened to include 0, so that 0 is
// exactly representable: scale = (max(0, xmax) - min(0, xmin)) / 255 and
// zp = clamp(rne(-128 - min(0, xmin) / scale), -128, 127).
constexpr const char* kInt8Asymmetric = R"(
kernel quant_int8_asymmetric(x: f32[n]) -> (y: s8[n], scale: f32, zp: s32) {
  lo = minimum(min(x), 0)
  hi = maximum(max(x), 0)
  scale = (hi - lo) / 255
  zp = minimum(maximum(convert(-128 - lo / scale, to=s32), -128), 127)
  y = convert(convert(x / scale, to=s32) + zp, to=s8)
}
)";

// The same without widening the range to include 0.
constexpr const char* kInt8AsymmetricUnwidened = R"(
kernel quant_int8_asymmetric_unwidened(x: f32[n]) -> (y: s8[n], scale: f32, zp: s32) {
  lo = min(x)
  scale = (max(x) - lo) / 255
  zp = minimum(maximum(convert(-128 - lo / scale, to=s32), -128), 127)
  y = convert(convert(x / scale, to=s32) + zp, to=s8)
}
)";

ir::Pipeline parse_text(const std::string& text) {
  auto pipeline = ir::parse_pipeline(text);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string() << "\n" << text;
  return pipeline.is_ok() ? *pipeline : ir::Pipeline{};
}

// A one-op conversion kernel: y = convert(x, to=T[, saturate=S]).
ir::Pipeline convert_kernel(const std::string& type, const std::string& saturate) {
  std::string attrs = "to=" + type + (saturate.empty() ? "" : ", saturate=" + saturate);
  return parse_text("kernel to_" + type + "(x: f32[n]) -> (y: " + type + "[n]) {\n  y = convert(x, " + attrs +
                    ")\n}\n");
}

std::vector<uint8_t> run_bytes(const ir::Pipeline& pipeline, const std::vector<float>& x) {
  PipelineRun run(pipeline, 1, static_cast<int64_t>(x.size()));
  run.input("x", x);
  Status status = run.run();
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  return run.bytes("y");
}

std::vector<int8_t> run_int8_affine(const std::vector<float>& x, double scale, int32_t zp) {
  ir::Pipeline pipeline = parse_text(kInt8Affine);
  PipelineRun run(pipeline, 1, static_cast<int64_t>(x.size()));
  run.input("x", x).param("scale", scale).param("zp", zp);
  Status status = run.run();
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  return run.s8("y");
}

float pow2(int e) { return std::ldexp(1.0f, e); }

TEST(QuantCases, Int8SaturatesAndRoundsHalfToEven) {
  std::vector<float> x = {-129, -128.5f, -128, -127.5f, -127, -126, 126, 127, 127.5f, 128, 129,
                          1e10f, -1e10f, kInf, -kInf, kNaN};
  std::vector<int8_t> expected = {-128, -128, -128, -128, -127, -126, 126, 127, 127, 127, 127,
                                  127, -128, 127, -128, 0};
  EXPECT_EQ(run_int8_affine(x, 1, 0), expected);
}

TEST(QuantCases, ZeroPointAddedAfterRounding) {
  // rne(x) + 100, saturated: -228.5 rounds to -228 (even) and gives -128;
  // 27.5 rounds to 28 and saturates.
  std::vector<float> x = {-300, -229, -228.5f, -1, 0, 27, 27.5f, 28, 300};
  std::vector<int8_t> expected = {-128, -128, -128, 99, 100, 127, 127, 127, 127};
  EXPECT_EQ(run_int8_affine(x, 1, 100), expected);
}

struct AsymmetricRow {
  std::vector<int8_t> q;
  float scale = 0;
  int32_t zp = 0;
};

AsymmetricRow run_asymmetric(const char* text, const std::vector<float>& x) {
  ir::Pipeline pipeline = parse_text(text);
  PipelineRun run(pipeline, 1, static_cast<int64_t>(x.size()));
  run.input("x", x);
  Status status = run.run();
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  return {run.s8("y"), run.f32("scale")[0], run.s32("zp")[0]};
}

TEST(QuantCases, AsymmetricInt8WidenedToIncludeZero) {
  // All positive: the range becomes [0, 4], scale 4/255, zp -128.
  AsymmetricRow positive = run_asymmetric(kInt8Asymmetric, {1.0f, 2.2f, 3.1f, 4.0f});
  EXPECT_LE(ulp_distance(positive.scale, 0.015686275f), 1) << positive.scale;
  EXPECT_EQ(positive.zp, -128);
  EXPECT_EQ(positive.q, (std::vector<int8_t>{-64, 12, 70, 127}));

  // All negative: the range becomes [-4, 0], scale 4/255, zp 127.
  AsymmetricRow negative = run_asymmetric(kInt8Asymmetric, {-4.0f, -3.1f, -2.2f, -1.0f});
  EXPECT_LE(ulp_distance(negative.scale, 0.015686275f), 1) << negative.scale;
  EXPECT_EQ(negative.zp, 127);
  EXPECT_EQ(negative.q, (std::vector<int8_t>{-128, -71, -13, 63}));
}

TEST(QuantCases, AsymmetricInt8WithoutWideningClampsZeroPoint) {
  // Range [1, 4]: scale 3/255; rne(-128 - 85) = -213 clamps to -128, so the
  // top of the range saturates.
  AsymmetricRow row = run_asymmetric(kInt8AsymmetricUnwidened, {1.0f, 2.2f, 3.2f, 4.0f});
  EXPECT_LE(ulp_distance(row.scale, 0.011764706f), 1) << row.scale;
  EXPECT_EQ(row.zp, -128);
  EXPECT_EQ(row.q, (std::vector<int8_t>{-43, 59, 127, 127}));
}

// E4M3 codes under the rules of docs/ir.md (OCP OFP8 E4M3, round to nearest
// even): 464 is the midpoint between 448 and the NaN position 480 and rounds to
// the even 448; 4.25 and 4.75 are ties too.
const std::vector<float> kE4m3Inputs = {0, -0.0f, 1, 448, 464, 465, 480, 1000, -1000, 4.25f, 4.75f, pow2(-9),
                                        pow2(-10), 3 * pow2(-10), 0.013671875f, 0.015625f, kInf, -kInf, kNaN};

TEST(QuantCases, E4m3WithoutSaturationOverflowsToNaN) {
  std::vector<uint8_t> expected = {0x00, 0x80, 0x38, 0x7E, 0x7E, 0x7F, 0x7F, 0x7F, 0xFF, 0x48,
                                   0x4A, 0x01, 0x00, 0x02, 0x07, 0x08, 0x7F, 0xFF, 0x7F};
  EXPECT_EQ(run_bytes(convert_kernel("e4m3", "false"), kE4m3Inputs), expected);
}

TEST(QuantCases, E4m3WithSaturationClampsTo448) {
  std::vector<uint8_t> expected = {0x00, 0x80, 0x38, 0x7E, 0x7E, 0x7E, 0x7E, 0x7E, 0xFE, 0x48,
                                   0x4A, 0x01, 0x00, 0x02, 0x07, 0x08, 0x7E, 0xFE, 0x7F};
  EXPECT_EQ(run_bytes(convert_kernel("e4m3", "true"), kE4m3Inputs), expected);
  EXPECT_EQ(run_bytes(convert_kernel("e4m3", ""), kE4m3Inputs), expected) << "saturate=true is the default";
}

// E5M2: 61440 is the midpoint between 57344 (odd mantissa) and 65536, so it
// rounds to 65536 and overflows.
const std::vector<float> kE5m2Inputs = {57344, 58000, 61439, 61440, 65536, pow2(-16),
                                        pow2(-17), 3 * pow2(-17), kInf, -kInf, kNaN, -0.0f};

TEST(QuantCases, E5m2WithoutSaturationOverflowsToInfinity) {
  std::vector<uint8_t> expected = {0x7B, 0x7B, 0x7B, 0x7C, 0x7C, 0x01, 0x00, 0x02, 0x7C, 0xFC, 0x7E, 0x80};
  EXPECT_EQ(run_bytes(convert_kernel("e5m2", "false"), kE5m2Inputs), expected);
}

TEST(QuantCases, E5m2WithSaturationClampsTo57344) {
  std::vector<uint8_t> expected = {0x7B, 0x7B, 0x7B, 0x7B, 0x7B, 0x01, 0x00, 0x02, 0x7B, 0xFB, 0x7E, 0x80};
  EXPECT_EQ(run_bytes(convert_kernel("e5m2", "true"), kE5m2Inputs), expected);
  EXPECT_EQ(run_bytes(convert_kernel("e5m2", ""), kE5m2Inputs), expected) << "saturate=true is the default";
}

TEST(QuantCases, E2m1RoundsHalfToEvenAndSaturates) {
  std::vector<float> x = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, -0.25f, -5.0f, 0.2f, 0.3f,
                          5.5f,  6,     7,     100,   -100, kInf, -kInf, -0.0f, 0.5f, 1,     3};
  std::vector<uint8_t> codes = {0x0, 0x2, 0x2, 0x4, 0x4, 0x6, 0x6, 0x8, 0xE, 0x0, 0x1,
                                0x7, 0x7, 0x7, 0x7, 0xF, 0x7, 0xF, 0x8, 0x1, 0x2, 0x5};
  // Two codes per byte, element 2i in the low nibble.
  std::vector<uint8_t> expected;
  for (size_t i = 0; i < codes.size(); i += 2) expected.push_back(static_cast<uint8_t>(codes[i] | codes[i + 1] << 4));
  EXPECT_EQ(run_bytes(convert_kernel("e2m1", ""), x), expected);
}

TEST(QuantCases, E2m1OfNaNFails) {
  ir::Pipeline pipeline = convert_kernel("e2m1", "");
  PipelineRun run(pipeline, 1, 3);
  run.input("x", std::vector<float>{1, kNaN, 2});
  Status status = run.run();
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange) << status.to_string();
}

TEST(QuantCases, BinarySignBitsMatchKnownBytes) {
  // Special values first (only -2, -1e-45 and -inf are below 0; -0 and NaN of
  // either sign are not), then 25 values of alternating sign.
  std::vector<float> x = {1.5f, -2, 0.0f, -0.0f, 1e-45f, -1e-45f, kInf, -kInf, kNaN, -kNaN};
  for (int i = 0; i < 25; ++i) x.push_back(static_cast<float>((i % 2 == 0 ? 1 : -1) * (i + 1)));
  auto pipeline = parse_example("binary_sign");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  EXPECT_EQ(run_bytes(*pipeline, x), (std::vector<uint8_t>{0xA2, 0xA8, 0xAA, 0xAA, 0x02}));
}

}  // namespace
}  // namespace rowjit::testing
