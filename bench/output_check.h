// The one check of each implementation's output against the double reference,
// made before it is timed: a benchmark of a wrong kernel is worthless.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace rowjit::bench {

// Tolerances, as e in
//   softmax:      |y - ref| <= e * |ref|
//   log-softmax:  |y - ref| <= e * max(1, |ref|)
// Implementations that keep the row sum in double (rowjit, the C++
// baselines) are held to 1e-5; rowjit's own tests hold its kernels to 4e-6.
// oneDNN and XNNPACK keep the sum in float lanes, which drifts by up to 6e-3
// relative at 32M elements, so they are held to 1e-2. Both bounds are far
// below what a missed tail, a wrong max or a missing normalization gives.
inline constexpr double kDoubleSumTolerance = 1e-5;
inline constexpr double kFloatSumTolerance = 1e-2;

struct CheckResult {
  bool ok = true;
  double max_error = 0;  // the largest error, in the units the tolerance uses
  std::string message;   // on failure: the first element out of tolerance
};

// Compares y with ref element by element. `log_form` selects the log-softmax
// error measure. NaN in y where ref is finite fails.
inline CheckResult check_output(const float* y, const std::vector<double>& ref, int64_t n, bool log_form,
                                double tolerance) {
  CheckResult result;
  for (size_t i = 0; i < ref.size(); ++i) {
    double got = static_cast<double>(y[i]);
    double scale = log_form ? std::fmax(1.0, std::fabs(ref[i])) : std::fabs(ref[i]);
    double error = std::fabs(got - ref[i]) / scale;
    if (std::isnan(error) || error > tolerance) {
      if (result.ok) {
        char text[200];
        std::snprintf(text, sizeof(text), "wrong output at row %lld column %lld: %.9g, expected %.9g (tolerance %g)",
                      static_cast<long long>(static_cast<int64_t>(i) / n),
                      static_cast<long long>(static_cast<int64_t>(i) % n), got, ref[i], tolerance);
        result.message = text;
      }
      result.ok = false;
    }
    if (!std::isnan(error) && error > result.max_error) result.max_error = error;
  }
  return result;
}

}  // namespace rowjit::bench
