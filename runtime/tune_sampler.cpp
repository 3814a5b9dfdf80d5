#include "runtime/tune_sampler.h"

#include <algorithm>
#include <cmath>

namespace rowjit {
namespace {

using Clock = std::chrono::steady_clock;

constexpr double kMinGain = 0.01;

double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
}

struct Calibration {
  int64_t calls_per_sample = 1;
  double seconds_per_sample = 0;
};

Status run_call(const Kernel& kernel, const ir::RunArgs& args, const ParallelFor* parallel) {
  return parallel != nullptr ? kernel.run(args, *parallel) : kernel.run(args);
}

// Runs the warm-up of one kernel and derives its calls per sample from the
// time of the calls after the first, which pays for cold caches and code.
Result<Calibration> warm_up(const Kernel& kernel, const ir::RunArgs& args, const ParallelFor* parallel,
                            Clock::time_point hard_deadline, const SamplerLimits& limits) {
  auto start = Clock::now();
  auto timed_start = start;
  int64_t calls = 0;
  while (true) {
    if (calls == 1) timed_start = Clock::now();
    ROWJIT_TRY(run_call(kernel, args, parallel));
    ++calls;
    auto now = Clock::now();
    if (calls >= 2 && (seconds_between(start, now) >= limits.warmup_seconds || now >= hard_deadline)) break;
  }
  double per_call = std::max(seconds_between(timed_start, Clock::now()) / static_cast<double>(calls - 1), 1e-9);
  Calibration calibration;
  calibration.calls_per_sample = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(limits.sample_seconds / per_call)));
  calibration.seconds_per_sample = per_call * static_cast<double>(calibration.calls_per_sample);
  return calibration;
}

}  // namespace

Timing summarize_samples(const std::vector<double>& samples) {
  Timing timing;
  timing.samples = static_cast<int>(samples.size());
  if (samples.empty()) return timing;
  timing.median = median_of(samples);
  std::vector<double> deviations;
  for (double sample : samples) deviations.push_back(std::fabs(sample - timing.median));
  timing.mad = median_of(deviations);
  timing.min = *std::min_element(samples.begin(), samples.end());
  timing.max = *std::max_element(samples.begin(), samples.end());
  return timing;
}

bool beats_by_noise(const Timing& challenger, const Timing& incumbent) {
  double gain = incumbent.median - challenger.median;
  return gain > challenger.mad + incumbent.mad && gain >= kMinGain * incumbent.median;
}

SamplingOutcome sample_interleaved(const std::vector<const Kernel*>& kernels, const ir::RunArgs& args,
                                   const ParallelFor* parallel, Clock::time_point soft_deadline,
                                   Clock::time_point hard_deadline, const SamplerLimits& limits,
                                   const std::function<void(int sample, int samples)>& progress) {
  SamplingOutcome outcome;
  std::vector<Calibration> calibrations;
  std::vector<size_t> running;  // indices of the kernels whose warm-up succeeded
  for (const Kernel* kernel : kernels) {
    SampledKernel sampled;
    sampled.kernel = kernel;
    if (Clock::now() >= hard_deadline) {
      outcome.budget_exhausted = true;
      outcome.kernels.push_back(std::move(sampled));
      calibrations.emplace_back();
      continue;
    }
    Result<Calibration> calibration = warm_up(*kernel, args, parallel, hard_deadline, limits);
    if (calibration) {
      running.push_back(outcome.kernels.size());
      calibrations.push_back(*calibration);
    } else {
      sampled.failure = calibration.status();
      calibrations.emplace_back();
    }
    outcome.kernels.push_back(std::move(sampled));
  }
  if (outcome.budget_exhausted || running.empty()) return outcome;

  double repetition_seconds = 1e-9;
  for (size_t index : running) repetition_seconds += calibrations[index].seconds_per_sample;
  auto left = [](Clock::time_point deadline) { return seconds_between(Clock::now(), deadline); };
  int samples = static_cast<int>(left(soft_deadline) / repetition_seconds);
  samples = std::max(samples, std::min(limits.min_samples, static_cast<int>(left(hard_deadline) / repetition_seconds)));
  samples = std::min(samples, limits.max_samples);
  if (samples < limits.min_samples) {
    outcome.budget_exhausted = true;
    return outcome;
  }

  double elements = static_cast<double>(args.n) * static_cast<double>(args.rows);
  for (int sample = 0; sample < samples; ++sample) {
    if (left(hard_deadline) < repetition_seconds) {
      outcome.budget_exhausted = true;
      break;
    }
    if (progress) progress(sample + 1, samples);
    for (size_t i = 0; i < running.size(); ++i) {
      size_t index = running[(i + static_cast<size_t>(sample)) % running.size()];
      int64_t calls = calibrations[index].calls_per_sample;
      auto start = Clock::now();
      for (int64_t call = 0; call < calls; ++call) {
        // Kernel::run of a JIT kernel fails only in its argument check, which
        // these same arguments passed in the warm-up.
        (void)run_call(*outcome.kernels[index].kernel, args, parallel);
      }
      double nanoseconds = seconds_between(start, Clock::now()) * 1e9;
      outcome.kernels[index].samples.push_back(nanoseconds / (elements * static_cast<double>(calls)));
    }
  }
  if (static_cast<int>(outcome.kernels[running[0]].samples.size()) < limits.min_samples) {
    for (size_t index : running) outcome.kernels[index].samples.clear();
  }
  return outcome;
}

}  // namespace rowjit
