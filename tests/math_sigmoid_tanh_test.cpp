// Tests of emit_sigmoid and emit_tanh against double-precision references,
// on AVX2 and AVX-512.
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

// 1 / (1 + e^-x) in double: exp(-x) overflows to inf only for x < -709,
// where the exact result is below 1e-308 and rounds to 0 in float anyway.
double sigmoid_reference(float x) { return 1.0 / (1.0 + std::exp(-static_cast<double>(x))); }

double tanh_reference(float x) { return std::tanh(static_cast<double>(x)); }

// Inputs where sigmoid and tanh change form: near 0, the tanh blend limit
// 0.625, where exp(-|x|) turns denormal (87.3) and 0 (104), and where tanh
// rounds to 1 (9.01).
std::vector<float> sigmoid_tanh_special_values() {
  return special_values_with_edges({0.625f, -0.625f, 0.3125f, 0x1p-20f, -0x1p-20f, 9.010913f, -9.010913f, 17.0f,  -17.0f,
                         44.4f,  87.33f,  -87.33f, 88.8f,    -88.8f,    103.9f,    -103.9f,    104.0f, -104.0f,
                         200.0f, -200.0f, 1.0f,    -1.0f,    1e-40f,    -1e-40f});
}

class MathSigmoid : public ::testing::TestWithParam<MathIsa> {};

TEST_P(MathSigmoid, StridedSample) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_sigmoid);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const UlpSummary summary = sweep(kernel, strided_sample(), sigmoid_reference);
  print_measure("sigmoid", GetParam(), "every 4099th bit pattern", summary);
  EXPECT_LE(summary.max_ulp, kSigmoidMaxUlp) << describe(summary);
}

TEST_P(MathSigmoid, SpecialValues) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_sigmoid);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const std::vector<float> inputs = sigmoid_tanh_special_values();
  const std::vector<float> outputs = kernel.map(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_LE(ulp_error(outputs[i], sigmoid_reference(inputs[i])), kSigmoidMaxUlp)
        << "x = " << std::hexfloat << inputs[i] << ", got " << outputs[i];
    if (!std::isnan(inputs[i])) {
      EXPECT_FALSE(std::signbit(outputs[i])) << "x = " << std::hexfloat << inputs[i];
    }
  }
  EXPECT_EQ(kernel.map({kInfinity})[0], 1.0f);
  EXPECT_EQ(kernel.map({-kInfinity})[0], 0.0f);
  EXPECT_EQ(kernel.map({0.0f})[0], 0.5f);
  EXPECT_EQ(kernel.map({-0.0f})[0], 0.5f);
  EXPECT_TRUE(std::isnan(kernel.map({from_bits(0x7fc12345)})[0]));
  EXPECT_TRUE(std::isnan(kernel.map({from_bits(0xff812345)})[0]));
  // e^-100 = 3.7e-44 is a denormal, not 0.
  EXPECT_GT(kernel.map({-100.0f})[0], 0.0f);
}

TEST_P(MathSigmoid, RegisterContract) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  expect_register_contract(GetParam(), 1, 1, unary_body(emit_sigmoid), kDistinctLayout);
  expect_register_contract(GetParam(), 1, 1, unary_body(emit_sigmoid), aliased_layout(GetParam()));
}

TEST_P(MathSigmoid, AliasedRegistersSameResults) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const std::vector<float> inputs = sigmoid_tanh_special_values();
  const std::vector<float> expected = unary_kernel(GetParam(), emit_sigmoid, kDistinctLayout).map(inputs);
  const std::vector<float> actual = unary_kernel(GetParam(), emit_sigmoid, aliased_layout(GetParam())).map(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(to_bits(actual[i]), to_bits(expected[i])) << "x = " << std::hexfloat << inputs[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, MathSigmoid, ::testing::Values(MathIsa::kAvx2, MathIsa::kAvx512), isa_param_name);

class MathTanh : public ::testing::TestWithParam<MathIsa> {};

TEST_P(MathTanh, StridedSample) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_tanh);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const UlpSummary summary = sweep(kernel, strided_sample(), tanh_reference);
  print_measure("tanh", GetParam(), "every 4099th bit pattern", summary);
  EXPECT_LE(summary.max_ulp, kTanhMaxUlp) << describe(summary);
}

TEST_P(MathTanh, SpecialValues) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_tanh);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const std::vector<float> inputs = sigmoid_tanh_special_values();
  const std::vector<float> outputs = kernel.map(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_LE(ulp_error(outputs[i], tanh_reference(inputs[i])), kTanhMaxUlp)
        << "x = " << std::hexfloat << inputs[i] << ", got " << outputs[i];
  }
  EXPECT_EQ(kernel.map({kInfinity})[0], 1.0f);
  EXPECT_EQ(kernel.map({-kInfinity})[0], -1.0f);
  EXPECT_EQ(kernel.map({10.0f})[0], 1.0f);
  EXPECT_EQ(kernel.map({-10.0f})[0], -1.0f);
  EXPECT_EQ(to_bits(kernel.map({0.0f})[0]), to_bits(0.0f));
  EXPECT_EQ(to_bits(kernel.map({-0.0f})[0]), to_bits(-0.0f));
  // tanh(x) = x for the smallest denormal.
  EXPECT_EQ(kernel.map({0x1p-149f})[0], 0x1p-149f);
  EXPECT_TRUE(std::isnan(kernel.map({from_bits(0x7fc12345)})[0]));
  EXPECT_TRUE(std::isnan(kernel.map({from_bits(0xff812345)})[0]));
}

// tanh(-x) = -tanh(x) bit for bit: both forms work on |x| or are odd.
TEST_P(MathTanh, OddSymmetry) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_tanh);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  std::vector<float> positive;
  for (uint32_t bits = 0; bits < 0x7f800000u; bits += 4099) positive.push_back(from_bits(bits));
  std::vector<float> negative(positive.size());
  for (size_t i = 0; i < positive.size(); ++i) negative[i] = -positive[i];
  const std::vector<float> up = kernel.map(positive);
  const std::vector<float> down = kernel.map(negative);
  int mismatches = 0;
  for (size_t i = 0; i < positive.size() && mismatches < 10; ++i) {
    const bool odd = to_bits(down[i]) == (to_bits(up[i]) ^ 0x80000000u);
    if (!odd) ++mismatches;
    EXPECT_TRUE(odd) << "x = " << std::hexfloat << positive[i] << ": " << up[i] << " and " << down[i];
  }
}

TEST_P(MathTanh, RegisterContract) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  expect_register_contract(GetParam(), 1, 1, unary_body(emit_tanh), kDistinctLayout);
  expect_register_contract(GetParam(), 1, 1, unary_body(emit_tanh), aliased_layout(GetParam()));
}

TEST_P(MathTanh, AliasedRegistersSameResults) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const std::vector<float> inputs = sigmoid_tanh_special_values();
  const std::vector<float> expected = unary_kernel(GetParam(), emit_tanh, kDistinctLayout).map(inputs);
  const std::vector<float> actual = unary_kernel(GetParam(), emit_tanh, aliased_layout(GetParam())).map(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(to_bits(actual[i]), to_bits(expected[i])) << "x = " << std::hexfloat << inputs[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, MathTanh, ::testing::Values(MathIsa::kAvx2, MathIsa::kAvx512), isa_param_name);

class MathSigmoidTanhLong : public ::testing::TestWithParam<MathIsa> {};

TEST_P(MathSigmoidTanhLong, SigmoidAllFloats) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_sigmoid);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const UlpSummary summary = sweep_all_floats(kernel, sigmoid_reference);
  print_measure("sigmoid", GetParam(), "all 2^32 floats", summary);
  EXPECT_LE(summary.max_ulp, kSigmoidMaxUlp) << describe(summary);
}

TEST_P(MathSigmoidTanhLong, TanhAllFloats) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_tanh);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const UlpSummary summary = sweep_all_floats(kernel, tanh_reference);
  print_measure("tanh", GetParam(), "all 2^32 floats", summary);
  EXPECT_LE(summary.max_ulp, kTanhMaxUlp) << describe(summary);
}

INSTANTIATE_TEST_SUITE_P(Isa, MathSigmoidTanhLong, ::testing::Values(MathIsa::kAvx2, MathIsa::kAvx512),
                         isa_param_name);

}  // namespace
}  // namespace rowjit::jit::math_test
