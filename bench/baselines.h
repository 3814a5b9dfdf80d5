// Entry points of the -ffast-math C++ baselines, defined in
// baseline_fastmath.cpp. They need a translation unit of their own: glibc
// declares the vector variants of expf only when __FAST_MATH__ is defined, so
// neither __attribute__((optimize("fast-math"))) nor #pragma GCC optimize
// makes GCC 12 vectorize std::exp.
#pragma once

#include <cstdint>

namespace rowjit::bench {

void softmax_cpp_fastmath(const float* x, float* y, int64_t rows, int64_t n);
void log_softmax_cpp_fastmath(const float* x, float* y, int64_t rows, int64_t n);

}  // namespace rowjit::bench
