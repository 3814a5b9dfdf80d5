// Interleaved timing of several kernels on one set of arguments: the
// measurement half of the tuner (runtime/tuner.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "ir/status.h"
#include "ir/tensor.h"
#include "runtime/compiler.h"
#include "runtime/row_parallel.h"

namespace rowjit {

// Sampled times of one kernel, in nanoseconds per row element.
struct Timing {
  double median = 0;
  double mad = 0;  // median absolute deviation from the median
  double min = 0;
  double max = 0;
  int samples = 0;
};

// Returns the median, median absolute deviation, min and max of `samples`
// (all zero for no samples). The median of an even count is the mean of the
// two middle values.
Timing summarize_samples(const std::vector<double>& samples);

// Returns whether `challenger` is faster than `incumbent` by more than the
// noise: its median is lower by more than the two medians' absolute
// deviations together, and by at least 1% of the incumbent's median, because
// clock and frequency jitter make smaller gains irreproducible.
bool beats_by_noise(const Timing& challenger, const Timing& incumbent);

struct SamplerLimits {
  double sample_seconds = 0.0025;  // a sample runs whole calls for at least this long
  double warmup_seconds = 0.01;    // per kernel, before its first sample
  int min_samples = 3;             // fewer, and the medians mean nothing
  int max_samples = 31;
};

struct SampledKernel {
  const Kernel* kernel = nullptr;
  std::vector<double> samples;  // nanoseconds per row element, one per repetition
  std::optional<Status> failure;  // the error of a warm-up run; the kernel has no samples then
};

struct SamplingOutcome {
  std::vector<SampledKernel> kernels;  // in the order given
  // The hard deadline stopped the warm-up or the repetitions before they
  // were done. With fewer than limits.min_samples, no kernel has samples.
  bool budget_exhausted = false;
};

// Warms up each kernel (at least 2 calls, and limits.warmup_seconds) and sets
// its calls per sample from the warm-up's time per call. Then each repetition
// takes one sample of every kernel. The order rotates by one each repetition,
// so that drift in clock speed or load hits all kernels alike.
//
// Repetitions stop at limits.max_samples or `soft_deadline`. At least
// limits.min_samples are taken if `hard_deadline` allows, and none that would
// end after it. `progress`, when set, receives (sample, samples) before each
// repetition. Elements per call are args.n * args.rows.
SamplingOutcome sample_interleaved(const std::vector<const Kernel*>& kernels, const ir::RunArgs& args,
                                   const ParallelFor* parallel, std::chrono::steady_clock::time_point soft_deadline,
                                   std::chrono::steady_clock::time_point hard_deadline, const SamplerLimits& limits,
                                   const std::function<void(int sample, int samples)>& progress);

}  // namespace rowjit
