// Plain C++ softmax and log-softmax, three passes over each row: the code a
// programmer writes without a library. softmax_bench.cpp compiles it with
// -O3 -march=native, and baseline_fastmath.cpp compiles the same source with
// -ffast-math as well, which lets GCC vectorize std::exp through glibc's
// vector math library (libmvec). The functions are static so that each
// translation unit keeps its own copy, built with its own flags.
#pragma once

#include <cmath>
#include <cstdint>

namespace rowjit::bench {

// y = exp(x - max) / sum. The sum is kept in double, as rowjit's kernels do:
// a float sum of 32M terms drifts past the checks' tolerance.
static inline void softmax_three_pass(const float* x, float* y, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r, x += n, y += n) {
    // Starts from x[0], not -inf: -ffast-math assumes there are no infinities.
    float max = x[0];
    for (int64_t i = 1; i < n; ++i) max = x[i] > max ? x[i] : max;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      float e = std::exp(x[i] - max);
      y[i] = e;
      sum += e;
    }
    float inverse = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) y[i] *= inverse;
  }
}

// y = (x - max) - log(sum of exp(x - max)).
static inline void log_softmax_three_pass(const float* x, float* y, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r, x += n, y += n) {
    float max = x[0];
    for (int64_t i = 1; i < n; ++i) max = x[i] > max ? x[i] : max;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max);
    float log_sum = static_cast<float>(std::log(sum));
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - max) - log_sum;
  }
}

}  // namespace rowjit::bench
