// Tests of emit_exp, emit_exp_parts and emit_scale_by_pow2 against double
// (or long double) references, on AVX2 and AVX-512.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "jit/math.h"
#include "tests/math_test_harness.h"

namespace rowjit::jit::math_test {
namespace {

constexpr float kInfinity = std::numeric_limits<float>::infinity();

double exp_reference(float x) { return std::exp(static_cast<double>(x)); }

// Inputs around the edges of exp: where the result overflows, becomes
// denormal and rounds to 0, and the clamp bounds of the emitter.
std::vector<float> exp_special_values() {
  return special_values_with_edges({
      88.72283f,    // largest x with exp(x) <= FLT_MAX: 0x1.62e42ep+6
      88.722839f,   // exp(x) rounds to inf from here on
      -87.336548f,  // exp(x) about FLT_MIN
      -103.27893f,  // exp(x) about the smallest denormal, 2^-149
      -0x1.9fe368p+6f,  // -103.972076: exp(x) = 1.0000007 * 2^-150 rounds up to 2^-149
      -0x1.9fe36ap+6f,  // -103.972084: exp(x) = 0.999993 * 2^-150 rounds to 0
      -104.0f,      89.0f,   // clamp bounds of the emitter
      -176.0f,      -150.0f,  // the AVX2 lower clamp, where the half power is +0, and a value above it
      0x1p-30f,     -0x1p-30f, 0.34657359f, -0.34657359f, 0.5f, -0.5f, 10.0f, -10.0f, 1e30f, -1e30f,
  });
}

// The softmax exp's bound in the online form's margin, (0, 8], beyond the
// growth 0.05 |x|, on either ISA.
constexpr double kExpNonpositiveMarginMaxUlp = 2.75;

class MathExp : public ::testing::TestWithParam<MathIsa> {};

TEST_P(MathExp, StridedSample) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_exp);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const UlpSummary summary = sweep(kernel, strided_sample(), exp_reference);
  print_measure("exp", GetParam(), "every 4099th bit pattern", summary);
  EXPECT_LE(summary.max_ulp, kExpMaxUlp) << describe(summary);
}

// The softmax variant: every non-positive float of the sample, -inf and NaN.
TEST_P(MathExp, NonpositiveVariantMatchesOnItsDomain) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_exp_nonpositive);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  std::vector<float> inputs;
  for (float x : strided_sample()) {
    if (!(x > 0.0f)) inputs.push_back(x);
  }
  inputs.push_back(-INFINITY);
  inputs.push_back(-0.0f);
  inputs.push_back(0.0f);
  const UlpSummary summary = sweep(kernel, inputs, exp_reference, kExpNonpositiveUlpPerUnit);
  print_measure("exp_nonpositive", GetParam(), "the non-positive sample", summary);
  EXPECT_LE(summary.max_ulp, exp_nonpositive_max_ulp(GetParam() == MathIsa::kAvx512)) << describe(summary);
}

// The online softmax form calls the variant on x - r for a per-lane
// reference r that may trail the max by up to 8 (kReferenceMargin in
// jit/emit_softmax_core.cpp). So it must stay accurate a little above 0:
// beyond the growth 0.05 |x|, 1.67 ulp (AVX2) and 2.12 (AVX-512) were
// measured on the sample; MathExpLong.NonpositiveVariantOnlineMargin takes
// every float in (0, 8].
TEST_P(MathExp, NonpositiveVariantCoversOnlineMargin) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_exp_nonpositive);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  std::vector<float> inputs;
  for (float x : strided_sample()) {
    if (x > 0.0f && x <= 8.0f) inputs.push_back(x);
  }
  inputs.push_back(8.0f);
  const UlpSummary summary = sweep(kernel, inputs, exp_reference, kExpNonpositiveUlpPerUnit);
  print_measure("exp_nonpositive", GetParam(), "the sample in (0, 8]", summary);
  EXPECT_LE(summary.max_ulp, kExpNonpositiveMarginMaxUlp) << describe(summary);
}

TEST_P(MathExp, NonpositiveVariantSpecialValues) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_exp_nonpositive);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  EXPECT_EQ(kernel.map({-kInfinity})[0], 0.0f);
  EXPECT_EQ(kernel.map({0.0f})[0], 1.0f);
  EXPECT_EQ(kernel.map({-0.0f})[0], 1.0f);
  EXPECT_TRUE(std::isnan(kernel.map({from_bits(0x7fc12345)})[0]));
  EXPECT_TRUE(std::isnan(kernel.map({from_bits(0xff812345)})[0]));
  // Through the denormals to 0, as emit_exp.
  EXPECT_EQ(kernel.map({-0x1.9fe368p+6f})[0], from_bits(0x00000001));
  EXPECT_EQ(kernel.map({-0x1.9fe36ap+6f})[0], 0.0f);
  EXPECT_EQ(kernel.map({-1000.0f})[0], 0.0f);
  // Around the AVX2 clamp at -104.66522, where the power 2^(N / 8) * 2^24 wraps
  // to +0, and between it and -104, where the power is a denormal. Every
  // result is +0, the same bits as on AVX-512.
  // Around AVX-512's threshold at -103.975, below which the final product is
  // zeroed by an opmask, and between it and the underflow point -103.972084,
  // where the product itself rounds to +0.
  for (float x : {-0x1.a2a93p+6f, next_up(-0x1.a2a93p+6f), next_down(-0x1.a2a93p+6f), -104.5f, -104.1f,
                  next_down(-104.0f), -104.0f, -1e9f, -FLT_MAX, -0x1.9fe666p+6f, next_up(-0x1.9fe666p+6f),
                  next_down(-0x1.9fe666p+6f), -103.973f, next_down(-0x1.9fe36ap+6f)}) {
    const float y = kernel.map({x})[0];
    EXPECT_EQ(to_bits(y), 0u) << "x = " << std::hexfloat << x << ": " << y;
  }
  for (float x : {-87.0f, -88.0f, -90.0f, -95.0f, -100.0f}) {
    EXPECT_LE(ulp_error(kernel.map({x})[0], exp_reference(x)),
              exp_nonpositive_max_ulp(GetParam() == MathIsa::kAvx512) + kExpNonpositiveUlpPerUnit * -x)
        << "x = " << x;
  }
}

TEST_P(MathExp, SpecialValues) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_exp);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const std::vector<float> inputs = exp_special_values();
  const std::vector<float> outputs = kernel.map(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const float x = inputs[i];
    const float y = outputs[i];
    EXPECT_LE(ulp_error(y, exp_reference(x)), kExpMaxUlp) << "x = " << x << " (" << std::hexfloat << x << ")";
    if (!std::isnan(x)) {
      EXPECT_FALSE(std::signbit(y)) << "exp gave a negative sign for x = " << std::hexfloat << x;
    }
  }
  EXPECT_EQ(kernel.map({kInfinity})[0], kInfinity);
  EXPECT_EQ(kernel.map({-kInfinity})[0], 0.0f);
  // Below -103.972084 every result is +0, around the AVX2 clamp at -176 too.
  for (float x : {-103.98f, -150.0f, next_up(-176.0f), -176.0f, next_down(-176.0f), -1e30f, -kInfinity}) {
    EXPECT_EQ(to_bits(kernel.map({x})[0]), 0u) << "x = " << std::hexfloat << x;
  }
  EXPECT_EQ(kernel.map({0.0f})[0], 1.0f);
  EXPECT_EQ(kernel.map({-0.0f})[0], 1.0f);
  EXPECT_TRUE(std::isnan(kernel.map({from_bits(0x7fc12345)})[0]));
  EXPECT_TRUE(std::isnan(kernel.map({from_bits(0xff812345)})[0]));
  // Overflow and the smallest denormal, from the thresholds in float.
  EXPECT_EQ(kernel.map({88.722839f})[0], kInfinity);
  // The floats on either side of ln(2^-150) = -103.9720771: half the
  // smallest denormal rounds to even, 0.
  EXPECT_EQ(kernel.map({-0x1.9fe368p+6f})[0], from_bits(0x00000001));
  EXPECT_EQ(kernel.map({-0x1.9fe36ap+6f})[0], 0.0f);
}

TEST_P(MathExp, RegisterContract) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  expect_register_contract(GetParam(), 1, 1, unary_body(emit_exp), kDistinctLayout);
  expect_register_contract(GetParam(), 1, 1, unary_body(emit_exp), aliased_layout(GetParam()));
}

TEST_P(MathExp, AliasedRegistersSameResults) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel distinct = unary_kernel(GetParam(), emit_exp, kDistinctLayout);
  const MathKernel aliased = unary_kernel(GetParam(), emit_exp, aliased_layout(GetParam()));
  const std::vector<float> inputs = exp_special_values();
  const std::vector<float> expected = distinct.map(inputs);
  const std::vector<float> actual = aliased.map(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(to_bits(actual[i]), to_bits(expected[i])) << "x = " << std::hexfloat << inputs[i];
  }
}

// Two lanes emitted as a group (ExpLane), the second one in place and, on
// AVX-512, with a scratch register in zmm16..31: each gives the bits that the
// one-lane form gives for its input.
TEST_P(MathExp, NonpositiveVariantInGroupsMatchesOneLane) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const int high = GetParam() == MathIsa::kAvx512 ? 23 : 7;
  const MathBody group = [high](MathEmitter& m, const std::vector<Xbyak::Xmm>& outputs,
                                const std::vector<Xbyak::Xmm>& inputs, const MathScratch& scratch) {
    m.code.vmovaps(outputs[1], inputs[1]);
    const ExpLane lanes[] = {
        {outputs[0], inputs[0], scratch.vec[0], scratch.vec[1], scratch.mask[0]},
        {outputs[1], outputs[1], scratch.vec[2], m.target.vreg(high), scratch.mask[1]},
    };
    emit_exp_nonpositive(m, lanes);
  };
  const MathKernel grouped(GetParam(), 2, 2, group);
  const MathKernel single = unary_kernel(GetParam(), emit_exp_nonpositive);
  ASSERT_TRUE(grouped.ok()) << grouped.error();
  std::vector<float> inputs;
  for (float x : exp_special_values()) {
    if (!(x > 0.0f)) inputs.push_back(x);
  }
  for (int i = 0; i < 4000; ++i) inputs.push_back(-0.03f * static_cast<float>(i));
  inputs.resize((inputs.size() + 2 * grouped.lanes() - 1) / (2 * grouped.lanes()) * 2 * grouped.lanes(), -1.0f);
  // The kernel reads its second input (and writes its second output) half
  // the buffer further on: the two halves are the two lanes' vectors.
  std::vector<float> out(inputs.size());
  grouped.run(inputs.data(), out.data(), static_cast<int64_t>(inputs.size() / 2));
  const std::vector<float> expected = single.map(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(to_bits(out[i]), to_bits(expected[i])) << "x = " << std::hexfloat << inputs[i];
  }
}

// Leaving out the underflow guard changes no result from -kExpGuardFreeRange
// up, nor for NaN: the sample's floats there, and evenly spaced ones.
TEST_P(MathExp, NonpositiveInRangeMatchesGuarded) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel guarded = unary_kernel(GetParam(), emit_exp_nonpositive);
  const MathKernel in_range = unary_kernel(GetParam(), emit_exp_nonpositive_in_range);
  ASSERT_TRUE(in_range.ok()) << in_range.error();
  std::vector<float> inputs = {-0.0f, 0.0f, -kExpGuardFreeRange, from_bits(0x7fc12345), from_bits(0xff812345)};
  for (float x : strided_sample()) {
    if (x <= 0.0f && x >= -kExpGuardFreeRange) inputs.push_back(x);
  }
  for (int i = 0; i <= 20000; ++i) inputs.push_back(-kExpGuardFreeRange * static_cast<float>(i) / 20000.0f);
  const std::vector<float> expected = guarded.map(inputs);
  const std::vector<float> actual = in_range.map(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(to_bits(actual[i]), to_bits(expected[i])) << "x = " << std::hexfloat << inputs[i];
  }
}

TEST_P(MathExp, NonpositiveInRangeRegisterContract) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  expect_register_contract(GetParam(), 1, 1, unary_body(emit_exp_nonpositive_in_range), kDistinctLayout);
  expect_register_contract(GetParam(), 1, 1, unary_body(emit_exp_nonpositive_in_range), aliased_layout(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Isa, MathExp, ::testing::Values(MathIsa::kAvx2, MathIsa::kAvx512), isa_param_name);

class MathExpLong : public ::testing::TestWithParam<MathIsa> {};

TEST_P(MathExpLong, AllFloats) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_exp);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const UlpSummary summary = sweep_all_floats(kernel, exp_reference);
  print_measure("exp", GetParam(), "all 2^32 floats", summary);
  EXPECT_LE(summary.max_ulp, kExpMaxUlp) << describe(summary);
}

// Every float with the sign bit set: -0, the negative floats, -inf and the
// negative NaNs.
TEST_P(MathExpLong, NonpositiveVariantAllNegativeFloats) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_exp_nonpositive);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const UlpSummary summary =
      sweep_float_bits(kernel, exp_reference, uint64_t{1} << 31, uint64_t{1} << 32, kExpNonpositiveUlpPerUnit);
  print_measure("exp_nonpositive", GetParam(), "all 2^31 negative floats", summary);
  EXPECT_LE(summary.max_ulp, exp_nonpositive_max_ulp(GetParam() == MathIsa::kAvx512)) << describe(summary);
}

// Every float in (0, 8], the online form's margin above its reference.
TEST_P(MathExpLong, NonpositiveVariantOnlineMargin) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_exp_nonpositive);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const UlpSummary summary =
      sweep_float_bits(kernel, exp_reference, 1, uint64_t{to_bits(8.0f)} + 1, kExpNonpositiveUlpPerUnit);
  print_measure("exp_nonpositive", GetParam(), "every float in (0, 8]", summary);
  EXPECT_LE(summary.max_ulp, kExpNonpositiveMarginMaxUlp) << describe(summary);
}

// Every float in [-kExpGuardFreeRange, -0]: the same bits with and without
// the underflow guard.
TEST_P(MathExpLong, NonpositiveInRangeMatchesGuardedEverywhere) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel guarded = unary_kernel(GetParam(), emit_exp_nonpositive);
  const MathKernel in_range = unary_kernel(GetParam(), emit_exp_nonpositive_in_range);
  ASSERT_TRUE(in_range.ok()) << in_range.error();
  const uint64_t end = uint64_t{to_bits(-kExpGuardFreeRange)} + 1;
  constexpr uint64_t kBatch = uint64_t{1} << 20;
  std::vector<float> inputs;
  for (uint64_t first = uint64_t{to_bits(-0.0f)}; first < end; first += kBatch) {
    inputs.clear();
    for (uint64_t bits = first; bits < std::min(first + kBatch, end); ++bits) {
      inputs.push_back(from_bits(static_cast<uint32_t>(bits)));
    }
    const std::vector<float> expected = guarded.map(inputs);
    const std::vector<float> actual = in_range.map(inputs);
    for (size_t i = 0; i < inputs.size(); ++i) {
      ASSERT_EQ(to_bits(actual[i]), to_bits(expected[i])) << "x = " << std::hexfloat << inputs[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, MathExpLong, ::testing::Values(MathIsa::kAvx2, MathIsa::kAvx512), isa_param_name);

// emit_exp_parts: outputs mantissa then exponent.
MathBody exp_parts_body() {
  return [](MathEmitter& m, const std::vector<Xbyak::Xmm>& outputs, const std::vector<Xbyak::Xmm>& inputs,
            const MathScratch& scratch) { emit_exp_parts(m, outputs[0], outputs[1], inputs[0], scratch); };
}

struct ExpParts {
  std::vector<float> mantissa;
  std::vector<float> exponent;
};

ExpParts run_exp_parts(const MathKernel& kernel, std::vector<float> inputs) {
  const size_t count = inputs.size();
  inputs.resize((count + kernel.lanes() - 1) / kernel.lanes() * kernel.lanes(), 0.0f);
  std::vector<float> out(2 * inputs.size());
  kernel.run(inputs.data(), out.data(), static_cast<int64_t>(inputs.size()));
  ExpParts parts;
  parts.mantissa.assign(out.begin(), out.begin() + count);
  parts.exponent.assign(out.begin() + inputs.size(), out.begin() + inputs.size() + count);
  return parts;
}

// Below this magnitude the exponent is within 0.5 + 2^-5 + 2^-6 of x * log2(e):
// 2^-5 for rounding the float product (below 2^20) and 2^19 * 1.93e-8 < 2^-6
// for the error of log2(e) rounded to float. So |t| <= 0.379 and the mantissa
// is in [e^-0.379, e^0.379] = [0.684, 1.461].
constexpr float kExpPartsAccurateLimit = 0x1p19f;
// From there to 2^22 the exponent can be off by up to 0.83, |t| grows to
// 0.58 and the polynomial, fitted for |t| <= ln2 / 2, loses accuracy.
constexpr float kExpPartsWideLimit = 0x1p22f;
constexpr double kExpPartsWideMaxUlp = 32.0;  // measured 26.8

class MathExpParts : public ::testing::TestWithParam<MathIsa> {};

TEST_P(MathExpParts, StridedSample) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel(GetParam(), 1, 2, exp_parts_body());
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const std::vector<float> inputs = strided_sample();
  const ExpParts parts = run_exp_parts(kernel, inputs);

  UlpSummary accurate;  // |x| <= kExpPartsAccurateLimit
  UlpSummary wide;      // kExpPartsAccurateLimit < |x| <= kExpPartsWideLimit
  const long double kLog2eLong = 1.44269504088896340735992468100189214L;
  const long double kLn2Long = 0.693147180559945309417232121458176568L;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const float x = inputs[i];
    const float m = parts.mantissa[i];
    const float e = parts.exponent[i];
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(m)) << std::hexfloat << x;
      EXPECT_TRUE(std::isnan(e)) << std::hexfloat << x;
      continue;
    }
    if (std::isinf(x)) continue;  // covered by SpecialValues
    ASSERT_TRUE(std::isfinite(e)) << "x = " << std::hexfloat << x;
    ASSERT_EQ(e, std::nearbyint(e)) << "x = " << std::hexfloat << x;
    ASSERT_GE(m, 0.5f) << "x = " << std::hexfloat << x;
    ASSERT_LE(m, 2.0f) << "x = " << std::hexfloat << x;
    if (std::fabs(x) > kExpPartsWideLimit) continue;

    // mantissa * 2^exponent = exp(x)  <=>  mantissa = exp(x - exponent * ln2).
    const long double reference = std::exp(static_cast<long double>(x) - static_cast<long double>(e) * kLn2Long);
    if (std::fabs(x) <= kExpPartsAccurateLimit) {
      const long double y = static_cast<long double>(x) * kLog2eLong;
      ASSERT_LE(std::fabs(static_cast<long double>(e) - y), 0.5L + 0x1p-5L + 0x1p-6L) << "x = " << std::hexfloat << x;
      ASSERT_GE(m, 0.684f) << "x = " << std::hexfloat << x;
      ASSERT_LE(m, 1.462f) << "x = " << std::hexfloat << x;
      record(accurate, x, m, static_cast<double>(reference));
    } else {
      record(wide, x, m, static_cast<double>(reference));
    }
  }
  print_measure("exp_parts mantissa", GetParam(), "the sample, |x| <= 2^19", accurate);
  print_measure("exp_parts mantissa", GetParam(), "the sample, 2^19 < |x| <= 2^22", wide);
  EXPECT_LE(accurate.max_ulp, kExpMaxUlp) << describe(accurate);
  EXPECT_LE(wide.max_ulp, kExpPartsWideMaxUlp) << describe(wide);
}

TEST_P(MathExpParts, SpecialValues) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel(GetParam(), 1, 2, exp_parts_body());
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const ExpParts parts = run_exp_parts(
      kernel, {-kInfinity, kInfinity, from_bits(0x7fc12345), from_bits(0xff812345), 0.0f, -FLT_MAX, FLT_MAX, -1e30f});

  EXPECT_EQ(parts.mantissa[0], 0.0f);  // -inf
  EXPECT_FALSE(std::signbit(parts.mantissa[0]));
  EXPECT_EQ(parts.exponent[0], -FLT_MAX);
  EXPECT_EQ(parts.exponent[1], FLT_MAX);  // +inf
  EXPECT_GE(parts.mantissa[1], 0.5f);
  EXPECT_LE(parts.mantissa[1], 2.0f);
  EXPECT_TRUE(std::isnan(parts.mantissa[2]));
  EXPECT_TRUE(std::isnan(parts.exponent[2]));
  EXPECT_TRUE(std::isnan(parts.mantissa[3]));
  EXPECT_TRUE(std::isnan(parts.exponent[3]));
  EXPECT_EQ(parts.mantissa[4], 1.0f);  // exp(0) = 1 * 2^0
  EXPECT_EQ(parts.exponent[4], 0.0f);
  // Finite inputs beyond the exponent range get the clamped exponents and a
  // mantissa that is positive: -inf has the lowest exponent but adds 0.
  EXPECT_EQ(parts.exponent[5], -FLT_MAX);
  EXPECT_GE(parts.mantissa[5], 0.5f);
  EXPECT_EQ(parts.exponent[6], FLT_MAX);
  EXPECT_GE(parts.mantissa[6], 0.5f);
  EXPECT_GT(parts.exponent[7], -FLT_MAX);
  EXPECT_LT(parts.exponent[7], -1e30f);
}

TEST_P(MathExpParts, RegisterContract) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  expect_register_contract(GetParam(), 1, 2, exp_parts_body(), kDistinctLayout);
  expect_register_contract(GetParam(), 1, 2, exp_parts_body(), aliased_layout(GetParam()));
  expect_register_contract(GetParam(), 1, 2, exp_parts_body(), kCrossAliasedLayout);
}

TEST_P(MathExpParts, AliasedRegistersSameResults) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const std::vector<float> inputs = exp_special_values();
  const ExpParts expected = run_exp_parts(MathKernel(GetParam(), 1, 2, exp_parts_body()), inputs);
  for (const RegisterLayout& layout : {aliased_layout(GetParam()), kCrossAliasedLayout}) {
    const ExpParts actual = run_exp_parts(MathKernel(GetParam(), 1, 2, exp_parts_body(), layout), inputs);
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(to_bits(actual.mantissa[i]), to_bits(expected.mantissa[i])) << "x = " << std::hexfloat << inputs[i];
      EXPECT_EQ(to_bits(actual.exponent[i]), to_bits(expected.exponent[i])) << "x = " << std::hexfloat << inputs[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, MathExpParts, ::testing::Values(MathIsa::kAvx2, MathIsa::kAvx512), isa_param_name);

// emit_scale_by_pow2: inputs src then exponent.
MathBody scale_body() {
  return [](MathEmitter& m, const std::vector<Xbyak::Xmm>& outputs, const std::vector<Xbyak::Xmm>& inputs,
            const MathScratch& scratch) { emit_scale_by_pow2(m, outputs[0], inputs[0], inputs[1], scratch); };
}

std::vector<float> run_scale(const MathKernel& kernel, const std::vector<float>& src,
                             const std::vector<float>& exponent) {
  const size_t count = src.size();
  const size_t padded = (count + kernel.lanes() - 1) / kernel.lanes() * kernel.lanes();
  std::vector<float> in(2 * padded, 0.0f);
  std::copy(src.begin(), src.end(), in.begin());
  std::copy(exponent.begin(), exponent.end(), in.begin() + padded);
  std::vector<float> out(padded);
  kernel.run(in.data(), out.data(), static_cast<int64_t>(padded));
  out.resize(count);
  return out;
}

class MathScaleByPow2 : public ::testing::TestWithParam<MathIsa> {};

// Every 65537th bit pattern times every integer exponent in [-330, 330]: the
// result must be the correctly rounded 2^e * src, which ldexp gives exactly
// in double and the conversion to float rounds once.
TEST_P(MathScaleByPow2, CorrectlyRounded) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel(GetParam(), 2, 1, scale_body());
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  std::vector<float> sources = common_special_values();
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += 65537) {
    sources.push_back(from_bits(static_cast<uint32_t>(bits)));
  }
  std::vector<float> src;
  std::vector<float> exponent;
  for (int e = -330; e <= 330; ++e) {
    for (float s : sources) {
      src.push_back(s);
      exponent.push_back(static_cast<float>(e));
    }
  }
  const std::vector<float> out = run_scale(kernel, src, exponent);
  int mismatches = 0;
  for (size_t i = 0; i < src.size() && mismatches < 10; ++i) {
    const float expected = static_cast<float>(std::ldexp(static_cast<double>(src[i]), static_cast<int>(exponent[i])));
    const bool same = std::isnan(expected) ? std::isnan(out[i]) : to_bits(out[i]) == to_bits(expected);
    if (!same) ++mismatches;
    EXPECT_TRUE(same) << std::hexfloat << "src = " << src[i] << ", exponent = " << exponent[i] << ": got " << out[i]
                      << ", expected " << expected;
  }
}

TEST_P(MathScaleByPow2, NanAndInfiniteExponents) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel(GetParam(), 2, 1, scale_body());
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const float nan = from_bits(0x7fc00000);
  const std::vector<float> out = run_scale(kernel, {1.5f, 1.5f, 1.5f, -2.0f, nan, 1.0f, 0x1p-149f},
                                           {nan, -kInfinity, kInfinity, -kInfinity, 3.0f, -1000.0f, 1000.0f});
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], kInfinity);
  EXPECT_EQ(to_bits(out[3]), to_bits(-0.0f));
  EXPECT_TRUE(std::isnan(out[4]));
  EXPECT_EQ(out[5], 0.0f);
  EXPECT_EQ(out[6], kInfinity);
}

TEST_P(MathScaleByPow2, RegisterContract) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  expect_register_contract(GetParam(), 2, 1, scale_body(), kDistinctLayout);
  expect_register_contract(GetParam(), 2, 1, scale_body(), aliased_layout(GetParam()));
  expect_register_contract(GetParam(), 2, 1, scale_body(), kCrossAliasedLayout);
}

INSTANTIATE_TEST_SUITE_P(Isa, MathScaleByPow2, ::testing::Values(MathIsa::kAvx2, MathIsa::kAvx512), isa_param_name);

}  // namespace
}  // namespace rowjit::jit::math_test
