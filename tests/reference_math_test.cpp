// The reference math functions: exactness where docs/ir.md promises it, and
// agreement with long double evaluations elsewhere.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "ir/reference_math.h"

namespace rowjit::ir {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Distance in units in the last place between two finite floats of one sign.
int64_t ulp_distance(float a, float b) {
  int32_t ia = 0;
  int32_t ib = 0;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::llabs(static_cast<int64_t>(ia) - static_cast<int64_t>(ib));
}

TEST(ReferenceMath, FloorLog2ExactForEveryExponent) {
  for (int k = -149; k <= 127; ++k) {
    float power = std::ldexp(1.0f, k);
    EXPECT_EQ(reference_floor_log2(power), static_cast<float>(k)) << "2^" << k;
    EXPECT_EQ(reference_floor_log2(-power), static_cast<float>(k)) << "-2^" << k;
    // The largest float below 2^(k+1) still has exponent k.
    float below_next = k < 127 ? std::nextafter(std::ldexp(1.0f, k + 1), 0.0f) : std::numeric_limits<float>::max();
    EXPECT_EQ(reference_floor_log2(below_next), static_cast<float>(k)) << "below 2^" << k + 1;
  }
}

TEST(ReferenceMath, Exp2ExactOnIntegers) {
  for (int k = -149; k <= 127; ++k) {
    EXPECT_EQ(reference_exp2(static_cast<float>(k)), std::ldexp(1.0f, k)) << "2^" << k;
  }
  EXPECT_EQ(reference_exp2(128.0f), kInf);
  EXPECT_EQ(reference_exp2(-kInf), 0.0f);
}

TEST(ReferenceMath, ExpAndLogMatchLongDouble) {
  // 20001 points across the range where exp is finite and nonzero. Both sides
  // round twice, so they may differ by one ulp in a near-tie case.
  for (int i = 0; i <= 20000; ++i) {
    float x = -103.0f + 192.0f * static_cast<float>(i) / 20000.0f;
    float expected = static_cast<float>(std::exp(static_cast<long double>(x)));
    EXPECT_LE(ulp_distance(reference_exp(x), expected), 1) << "exp(" << x << ")";
    if (x > 0) {
      float log_expected = static_cast<float>(std::log(static_cast<long double>(x)));
      EXPECT_LE(ulp_distance(std::fabs(reference_log(x)), std::fabs(log_expected)), 1) << "log(" << x << ")";
    }
  }
}

TEST(ReferenceMath, SoftplusMatchesLongDouble) {
  for (int i = 0; i <= 4000; ++i) {
    float x = -90.0f + 180.0f * static_cast<float>(i) / 4000.0f;
    long double wide = std::log1p(std::exp(static_cast<long double>(x)));
    EXPECT_LE(ulp_distance(reference_softplus(x), static_cast<float>(wide)), 1) << "softplus(" << x << ")";
  }
  // No overflow: softplus(x) = x once e^-x is negligible.
  EXPECT_EQ(reference_softplus(1e30f), 1e30f);
  EXPECT_EQ(reference_softplus(-1e30f), 0.0f);
}

TEST(ReferenceMath, SigmoidAndTanhMatchLongDouble) {
  for (int i = 0; i <= 4000; ++i) {
    float x = -40.0f + 80.0f * static_cast<float>(i) / 4000.0f;
    long double x_wide = x;
    float sigmoid_expected = static_cast<float>(1.0L / (1.0L + std::exp(-x_wide)));
    EXPECT_LE(ulp_distance(reference_sigmoid(x), sigmoid_expected), 1) << "sigmoid(" << x << ")";
    float tanh_expected = static_cast<float>(std::tanh(x_wide));
    EXPECT_LE(ulp_distance(std::fabs(reference_tanh(x)), std::fabs(tanh_expected)), 1) << "tanh(" << x << ")";
  }
  EXPECT_EQ(reference_sigmoid(-200.0f), 0.0f);
  EXPECT_EQ(reference_tanh(20.0f), 1.0f);
}

}  // namespace
}  // namespace rowjit::ir
