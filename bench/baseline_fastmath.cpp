// The three-pass C++ baseline compiled with -ffast-math (bench/CMakeLists.txt
// sets the flag on this file alone).
#include "bench/baselines.h"

#ifndef __FAST_MATH__
#error "baseline_fastmath.cpp must be compiled with -ffast-math: see bench/CMakeLists.txt"
#endif

#include "bench/baseline_three_pass.h"

namespace rowjit::bench {

void softmax_cpp_fastmath(const float* x, float* y, int64_t rows, int64_t n) { softmax_three_pass(x, y, rows, n); }

void log_softmax_cpp_fastmath(const float* x, float* y, int64_t rows, int64_t n) {
  log_softmax_three_pass(x, y, rows, n);
}

}  // namespace rowjit::bench
