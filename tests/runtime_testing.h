// Helpers for the runtime tests: pipeline texts, random rows and a
// double-precision softmax to check kernels against.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "runtime/cpu_features.h"
#include "runtime/row_parallel.h"

namespace rowjit::testing {

inline constexpr const char* kSoftmaxText = R"(kernel softmax(x: f32[n]) -> (y: f32[n]) {
  m = max(x)
  e = exp(x - m)
  y = e / sum(e)
})";

// The same pipeline with comments and other spacing: it prints identically.
inline constexpr const char* kSoftmaxTextReformatted = R"(# softmax, written differently
kernel softmax(x: f32[n]) -> (y: f32[n]) {
  m = max(x)      # row max
  e = exp(x - m)
  y = e / sum(e)
})";

inline constexpr const char* kLogSoftmaxText = R"(kernel log_softmax(x: f32[n]) -> (y: f32[n]) {
  m = max(x)
  d = x - m
  y = d - log(sum(exp(d)))
})";

inline constexpr const char* kScaleText = R"(kernel scale(x: f32[n], param c: f32 = 2) -> (y: f32[n]) {
  y = x * c
})";

// Draws rows * stride floats uniform in [-8, 8).
inline std::vector<float> random_rows(int64_t rows, int64_t stride, uint32_t seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> dist(-8.0f, 8.0f);
  std::vector<float> data(static_cast<size_t>(rows * stride));
  for (float& v : data) v = dist(engine);
  return data;
}

// Softmax of one row in double precision.
inline std::vector<double> softmax_reference(const float* x, int64_t n) {
  double max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::fmax(max, static_cast<double>(x[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
  std::vector<double> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = std::exp(static_cast<double>(x[i]) - max) / sum;
  return y;
}

// Largest relative error of `y` against the double softmax of `x`.
inline double softmax_max_relative_error(const float* x, const float* y, int64_t n) {
  std::vector<double> reference = softmax_reference(x, n);
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    double expected = reference[static_cast<size_t>(i)];
    worst = std::fmax(worst, std::fabs(static_cast<double>(y[i]) - expected) / expected);
  }
  return worst;
}

// Softmax in f32 has exp within a few ulp and a sum over n terms: 1e-5
// relative leaves room for both at the row lengths these tests use.
inline constexpr double kSoftmaxTolerance = 1e-5;

// True when kernels compiled for the host ISA, after ROWJIT_MAX_ISA, run JIT code.
inline bool host_has_jit() { return host_isa() >= Isa::kAvx2; }

// A parallel-for hook that splits a call into up to `max_tasks` tasks and runs
// them on the calling thread, in order.
inline ParallelFor inline_tasks(std::size_t max_tasks = 2) {
  ParallelFor parallel;
  parallel.function = [](void*, std::size_t tasks, ParallelTask task, void* task_context) {
    for (std::size_t i = 0; i < tasks; ++i) task(task_context, i);
  };
  parallel.max_tasks = max_tasks;
  parallel.min_rows_per_task = 1;
  return parallel;
}

}  // namespace rowjit::testing
