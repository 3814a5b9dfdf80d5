// Tests of emit_log against the double-precision std::log, on AVX2 and
// AVX-512.
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

double log_reference(float x) { return std::log(static_cast<double>(x)); }

// Inputs at the edges of the reduction: around 1 (where log(x) is tiny and
// must stay accurate relative to itself), at the sqrt(2) and sqrt(1/2)
// boundaries of the mantissa interval, at powers of two and in the denormals.
std::vector<float> log_special_values() {
  return special_values_with_edges({
      1.0f,     2.0f,     0.5f,          4.0f,     0x1p-126f, 0x1p-127f, 0x1p-149f, 0x1p127f, 2.7182817f, 10.0f,
      from_bits(0x3fb504f3),  // float(sqrt(2))
      from_bits(0x3f3504f3),  // float(sqrt(1/2))
      from_bits(0x403504f3),  // 2 * float(sqrt(2))
      from_bits(0x3eb504f3),  // float(sqrt(1/2)) / 2
      1.0f + 0x1p-23f,        -1.0f, -0x1p-149f, -FLT_MAX,
  });
}

class MathLog : public ::testing::TestWithParam<MathIsa> {};

TEST_P(MathLog, StridedSample) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_log);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const UlpSummary summary = sweep(kernel, strided_sample(), log_reference);
  print_measure("log", GetParam(), "every 4099th bit pattern", summary);
  EXPECT_LE(summary.max_ulp, kLogMaxUlp) << describe(summary);
}

TEST_P(MathLog, SpecialValues) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_log);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const std::vector<float> inputs = log_special_values();
  const std::vector<float> outputs = kernel.map(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_LE(ulp_error(outputs[i], log_reference(inputs[i])), kLogMaxUlp)
        << "x = " << std::hexfloat << inputs[i] << ", got " << outputs[i];
  }
  EXPECT_EQ(kernel.map({0.0f})[0], -kInfinity);
  EXPECT_EQ(kernel.map({-0.0f})[0], -kInfinity);
  EXPECT_EQ(kernel.map({kInfinity})[0], kInfinity);
  EXPECT_TRUE(std::isnan(kernel.map({-kInfinity})[0]));
  EXPECT_TRUE(std::isnan(kernel.map({-1.0f})[0]));
  EXPECT_TRUE(std::isnan(kernel.map({-0x1p-149f})[0]));
  EXPECT_TRUE(std::isnan(kernel.map({from_bits(0x7fc12345)})[0]));
  EXPECT_TRUE(std::isnan(kernel.map({from_bits(0xff812345)})[0]));
  const float log_one = kernel.map({1.0f})[0];
  EXPECT_EQ(log_one, 0.0f);
  EXPECT_FALSE(std::signbit(log_one));
  // The smallest denormal is an exact input: log(2^-149) = -149 ln 2.
  EXPECT_LE(ulp_error(kernel.map({0x1p-149f})[0], -149.0 * std::log(2.0)), kLogMaxUlp);
}

TEST_P(MathLog, RegisterContract) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  expect_register_contract(GetParam(), 1, 1, unary_body(emit_log), kDistinctLayout);
  expect_register_contract(GetParam(), 1, 1, unary_body(emit_log), aliased_layout(GetParam()));
}

TEST_P(MathLog, AliasedRegistersSameResults) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel distinct = unary_kernel(GetParam(), emit_log, kDistinctLayout);
  const MathKernel aliased = unary_kernel(GetParam(), emit_log, aliased_layout(GetParam()));
  const std::vector<float> inputs = log_special_values();
  const std::vector<float> expected = distinct.map(inputs);
  const std::vector<float> actual = aliased.map(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(to_bits(actual[i]), to_bits(expected[i])) << "x = " << std::hexfloat << inputs[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, MathLog, ::testing::Values(MathIsa::kAvx2, MathIsa::kAvx512), isa_param_name);

class MathLogLong : public ::testing::TestWithParam<MathIsa> {};

TEST_P(MathLogLong, AllFloats) {
  ROWJIT_SKIP_UNLESS_SUPPORTED(GetParam());
  const MathKernel kernel = unary_kernel(GetParam(), emit_log);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  const UlpSummary summary = sweep_all_floats(kernel, log_reference);
  print_measure("log", GetParam(), "all 2^32 floats", summary);
  EXPECT_LE(summary.max_ulp, kLogMaxUlp) << describe(summary);
}

INSTANTIATE_TEST_SUITE_P(Isa, MathLogLong, ::testing::Values(MathIsa::kAvx2, MathIsa::kAvx512), isa_param_name);

}  // namespace
}  // namespace rowjit::jit::math_test
