#include "ir/reference_math.h"

#include <cmath>
#include <limits>

namespace rowjit::ir {

float reference_exp(float x) { return static_cast<float>(std::exp(static_cast<double>(x))); }

float reference_log(float x) { return static_cast<float>(std::log(static_cast<double>(x))); }

float reference_sigmoid(float x) {
  // exp(-x) overflows double only for x < -709, where the f32 result is 0
  // anyway: 1 / (1 + inf) = 0.
  double e = std::exp(-static_cast<double>(x));
  return static_cast<float>(1.0 / (1.0 + e));
}

float reference_tanh(float x) { return static_cast<float>(std::tanh(static_cast<double>(x))); }

float reference_softplus(float x) {
  if (std::isnan(x)) return x;
  // max(x, 0) + log1p(e^-|x|) equals log(1 + e^x) and never overflows; at
  // x = inf it gives inf + 0 and at x = -inf it gives 0 + 0.
  double d = static_cast<double>(x);
  double positive_part = d > 0 ? d : 0.0;
  return static_cast<float>(positive_part + std::log1p(std::exp(-std::fabs(d))));
}

float reference_floor_log2(float x) {
  if (std::isnan(x)) return x;
  if (x == 0) return -std::numeric_limits<float>::infinity();
  if (std::isinf(x)) return std::numeric_limits<float>::infinity();
  // Every f32, denormals included, is a normal double, so frexp is exact:
  // |x| = m * 2^e with m in [0.5, 1) gives floor(log2 |x|) = e - 1.
  int exponent = 0;
  std::frexp(static_cast<double>(x), &exponent);
  return static_cast<float>(exponent - 1);
}

float reference_exp2(float x) { return static_cast<float>(std::exp2(static_cast<double>(x))); }

}  // namespace rowjit::ir
