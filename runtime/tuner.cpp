#include "runtime/tuner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "ir/planner.h"
#include "runtime/compiler.h"
#include "runtime/row_parallel.h"
#include "runtime/tune_sampler.h"
#include "runtime/tune_workspace.h"

namespace rowjit {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kDefaultInputBytesPerL2 = 4;  // default rows read 4 times the L2 of input per call

double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

double seconds_left(Clock::time_point deadline) { return seconds_between(Clock::now(), deadline); }

Clock::time_point after_seconds(Clock::time_point start, double seconds) {
  return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(seconds, 0.0)));
}

// Tunes one row length: compiles candidates, runs the stages and picks the plan.
class ShapeTuner {
 public:
  ShapeTuner(const ir::Pipeline& pipeline, const TuneRequest& request, Isa isa, int64_t n, const TuneWorkspace& workspace,
             const ParallelFor* parallel, Clock::time_point shape_deadline, Clock::time_point deadline)
      : pipeline_(pipeline), request_(request), isa_(isa), n_(n), workspace_(workspace), parallel_(parallel),
        shape_deadline_(shape_deadline), deadline_(deadline) {
    result_.n = n;
    result_.rows = workspace.args().rows;
  }

  Result<ShapeResult> run(const Candidate& planned_default, int64_t l2_bytes);

 private:
  // Compiles `wanted` and returns the candidate that its code really is (the
  // lowering may reduce the unroll), or nullopt with a note when the choice
  // does not apply or the kernel would run on the interpreter. Other compile
  // errors (refused executable memory) are returned.
  Result<std::optional<Candidate>> compile_candidate(const Candidate& wanted);

  // Compiles each of `wanted` and adds those that can run to `candidates`,
  // until the budget ends.
  Status compile_into(const std::vector<Candidate>& wanted, std::vector<Candidate>& candidates);

  // Measures `wanted` (duplicates dropped; the default first) within
  // `stage_seconds`, or less when the deadline is nearer, and moves the
  // incumbent to the stage's pick. Returns false when the stage decided
  // nothing: too few samples fit (budget_exhausted is set then) or the
  // default failed to run.
  bool run_stage(const std::string& label, const std::vector<Candidate>& wanted, double stage_seconds);

  // Returns the index of the stage's pick in `candidates`, whose first
  // element is the default.
  size_t pick(const std::vector<Candidate>& candidates, const std::vector<Timing>& timings) const;

  void report(const std::string& text) const {
    if (request_.progress) request_.progress("n = " + std::to_string(n_) + ": " + text);
  }

  void record(const Candidate& candidate, const Timing& timing);

  // Adds a line to the shape's notes, once.
  void note(const std::string& text) {
    if (std::find(result_.notes.begin(), result_.notes.end(), text) == result_.notes.end()) {
      result_.notes.push_back(text);
    }
  }

  // Returns the exp group that the planner chooses with the other choices of
  // `candidate`, or 1 if it rejects them.
  int default_exp_group(const Candidate& candidate) const;

  // Returns the compiled kernel of `candidate`, or null if none was compiled.
  const Kernel* kernel_of(const Candidate& candidate) const;

  const ir::Pipeline& pipeline_;
  const TuneRequest& request_;
  Isa isa_;
  int64_t n_;
  // The planner streams the stores of rows of this length. Where it does not,
  // a candidate with regular stores leaves the choice to it, which keeps the
  // switch to non-temporal stores in large calls (ir::Plan::nontemporal_call_bytes).
  bool planner_streams_ = false;
  const TuneWorkspace& workspace_;
  const ParallelFor* parallel_;
  Clock::time_point shape_deadline_;  // end of this shape's share of the budget
  Clock::time_point deadline_;        // end of the whole budget, never passed
  std::vector<std::pair<Candidate, std::shared_ptr<const Kernel>>> kernels_;
  Candidate incumbent_;
  ShapeResult result_;
};

const Kernel* ShapeTuner::kernel_of(const Candidate& candidate) const {
  for (const auto& [compiled, kernel] : kernels_) {
    if (compiled == candidate) return kernel.get();
  }
  return nullptr;
}

Result<std::optional<Candidate>> ShapeTuner::compile_candidate(const Candidate& wanted) {
  if (kernel_of(wanted) != nullptr) return std::optional<Candidate>(wanted);
  CompileOptions options;
  options.isa = isa_;
  options.n_hint = n_;
  options.choices = wanted.choices();
  if (!wanted.nontemporal_stores && !planner_streams_) options.choices.nontemporal_stores.reset();
  auto kernel = compile(pipeline_, options);
  if (!kernel && kernel.status().code() != StatusCode::kInvalidArgument) return kernel.status();
  if (!kernel) {
    note("skipped " + describe_candidate(wanted) + ": " + kernel.status().message());
    return std::optional<Candidate>();
  }
  if (!(*kernel)->uses_jit()) {
    note("skipped " + describe_candidate(wanted) + ": it runs on the interpreter (" +
         (*kernel)->plan().unsupported_reason + ")");
    return std::optional<Candidate>();
  }
  const ir::Plan& plan = (*kernel)->plan();
  const jit::CompiledKernel& compiled = *(*kernel)->compiled();
  Candidate lowered{plan.softmax_form, compiled.unroll, plan.nontemporal_stores, compiled.exp_group};
  if (!(lowered == wanted)) {
    note(describe_candidate(wanted) + " is lowered as " + describe_candidate(lowered) +
         " (the vector registers limit the unroll or the exp group)");
  }
  if (kernel_of(lowered) != nullptr) return std::optional<Candidate>(lowered);
  kernels_.emplace_back(lowered, std::move(kernel).value());
  return std::optional<Candidate>(lowered);
}

Status ShapeTuner::compile_into(const std::vector<Candidate>& wanted, std::vector<Candidate>& candidates) {
  for (const Candidate& candidate : wanted) {
    if (Clock::now() >= deadline_) {
      result_.budget_exhausted = true;  // no time left to measure it anyway
      break;
    }
    report("compiling " + describe_candidate(candidate));
    auto compiled = compile_candidate(candidate);
    if (!compiled) return compiled.status();
    if (*compiled) candidates.push_back(**compiled);
  }
  return Status::ok();
}

int ShapeTuner::default_exp_group(const Candidate& candidate) const {
  ir::PlanChoices choices = candidate.choices();
  choices.exp_group.reset();
  Result<ir::Plan> plan = ir::make_plan(pipeline_, host_target(isa_), n_, choices);
  return plan ? plan->exp_group : 1;
}

void ShapeTuner::record(const Candidate& candidate, const Timing& timing) {
  for (CandidateResult& measured : result_.candidates) {
    if (measured.candidate == candidate) {
      measured.timing = timing;
      return;
    }
  }
  result_.candidates.push_back({candidate, timing});
}

size_t ShapeTuner::pick(const std::vector<Candidate>& candidates, const std::vector<Timing>& timings) const {
  // The fastest candidate that beats the default by more than the noise...
  size_t fastest = 0;
  for (size_t i = 1; i < candidates.size(); ++i) {
    if (beats_by_noise(timings[i], timings[0]) && (fastest == 0 || timings[i].median < timings[fastest].median)) {
      fastest = i;
    }
  }
  // ...unless the incumbent beats the default too and the fastest does not
  // beat the incumbent by more than the noise.
  for (size_t i = 1; i < candidates.size(); ++i) {
    if (candidates[i] == incumbent_ && fastest != 0 && fastest != i && beats_by_noise(timings[i], timings[0]) &&
        !beats_by_noise(timings[fastest], timings[i])) {
      return i;
    }
  }
  return fastest;
}

bool ShapeTuner::run_stage(const std::string& label, const std::vector<Candidate>& wanted, double stage_seconds) {
  std::vector<Candidate> candidates;
  std::vector<const Kernel*> kernels;
  for (const Candidate& candidate : wanted) {
    if (std::find(candidates.begin(), candidates.end(), candidate) != candidates.end()) continue;
    for (const auto& [compiled, kernel] : kernels_) {
      if (!(compiled == candidate)) continue;
      candidates.push_back(candidate);
      kernels.push_back(kernel.get());
    }
  }
  if (candidates.size() < 2) return true;  // nothing to compare in this stage

  report(label + ": warming up " + std::to_string(candidates.size()) + " candidates");
  SamplingOutcome outcome = sample_interleaved(
      kernels, workspace_.args(), parallel_, after_seconds(Clock::now(), stage_seconds), deadline_, SamplerLimits{},
      [&](int sample, int samples) {
        report(label + ": sample " + std::to_string(sample) + " of " + std::to_string(samples) + " of " +
               std::to_string(candidates.size()) + " candidates");
      });
  if (outcome.budget_exhausted) result_.budget_exhausted = true;

  std::vector<Timing> timings;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const SampledKernel& sampled = outcome.kernels[i];
    if (sampled.failure) {
      note("skipped " + describe_candidate(candidates[i]) + ": " + sampled.failure->message());
    }
    timings.push_back(summarize_samples(sampled.samples));
  }
  if (timings[0].samples == 0) return false;

  // Candidates that failed to run have no samples and take no part.
  std::vector<Candidate> measured;
  std::vector<Timing> measured_timings;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (timings[i].samples == 0) continue;
    record(candidates[i], timings[i]);
    measured.push_back(candidates[i]);
    measured_timings.push_back(timings[i]);
  }
  size_t chosen = pick(measured, measured_timings);
  incumbent_ = measured[chosen];
  result_.default_timing = measured_timings[0];
  result_.tuned_timing = measured_timings[chosen];
  result_.measured = true;
  return true;
}

Result<ShapeResult> ShapeTuner::run(const Candidate& planned_default, int64_t l2_bytes) {
  auto shape_start = Clock::now();
  double shape_seconds = seconds_left(shape_deadline_);
  planner_streams_ = planned_default.nontemporal_stores;

  report("compiling the default plan");
  auto compiled_default = compile_candidate(planned_default);
  if (!compiled_default) return compiled_default.status();
  if (!*compiled_default) {
    return Status(StatusCode::kUnsupported, "the default plan of pipeline '" + pipeline_.name + "' at n = " +
                                                std::to_string(n_) + " cannot be measured: " + result_.notes.back());
  }
  result_.default_candidate = **compiled_default;
  incumbent_ = result_.default_candidate;
  bool default_groupable = ir::has_groupable_exp(kernel_of(result_.default_candidate)->plan());

  // Stage 1: the softmax forms at the default unroll and store kind.
  std::vector<Candidate> forms = {result_.default_candidate};
  if (result_.default_candidate.softmax_form != ir::SoftmaxForm::kNone) {
    std::vector<Candidate> wanted;
    for (ir::SoftmaxForm form : {ir::SoftmaxForm::kThreePassRecompute, ir::SoftmaxForm::kThreePassReload,
                                 ir::SoftmaxForm::kTwoPassOnline, ir::SoftmaxForm::kTwoPassExtExp}) {
      if (form == result_.default_candidate.softmax_form) continue;
      Candidate candidate = result_.default_candidate;
      candidate.softmax_form = form;
      // Each form keeps the planner's exp group for it (none for extexp).
      candidate.exp_group = default_exp_group(candidate);
      wanted.push_back(candidate);
    }
    ROWJIT_TRY(compile_into(wanted, forms));
  }
  bool try_stores = n_ * 4 > l2_bytes;
  // Shares of the budget by the number of candidates: three other unrolls
  // with the default and the incumbent in stage 2, the other store kind with
  // the two in stage 3, the other exp group with the two in stage 4.
  double stage_weights[4] = {static_cast<double>(forms.size()), 5.0, try_stores ? 3.0 : 0.0,
                             default_groupable ? 3.0 : 0.0};
  auto stage_share = [&](int stage) {
    double elapsed = seconds_between(shape_start, Clock::now());
    double weight_left = 0;
    for (int s = stage; s < 4; ++s) weight_left += stage_weights[s];
    return std::max(0.0, shape_seconds - elapsed) * stage_weights[stage] / std::max(weight_left, 1.0);
  };

  if (!run_stage("softmax forms", forms, stage_share(0))) {
    result_.tuned_candidate = incumbent_;
    return result_;
  }

  // Stage 2: unroll around the winner.
  std::vector<Candidate> unrolls = {result_.default_candidate, incumbent_};
  std::vector<Candidate> wanted;
  for (int unroll : {1, 2, 4, 8}) {
    Candidate candidate = incumbent_;
    candidate.unroll = unroll;
    // Each unroll keeps the planner's exp group for it.
    candidate.exp_group = default_exp_group(candidate);
    if (!(candidate == incumbent_)) wanted.push_back(candidate);
  }
  ROWJIT_TRY(compile_into(wanted, unrolls));
  run_stage("unroll", unrolls, stage_share(1));

  // Stage 3: the other store kind, for rows that do not fit the L2.
  // A stage that applies but finds the shape's time used up counts as cut
  // short, so that the report notes it.
  auto time_left = [&] {
    if (Clock::now() < shape_deadline_) return true;
    result_.budget_exhausted = true;
    return false;
  };
  if (try_stores && time_left()) {
    Candidate candidate = incumbent_;
    candidate.nontemporal_stores = !candidate.nontemporal_stores;
    std::vector<Candidate> stores = {result_.default_candidate, incumbent_};
    ROWJIT_TRY(compile_into({candidate}, stores));
    run_stage("store kind", stores, stage_share(2));
  }

  // Stage 4: the widest exp group if the incumbent has none, else none.
  int widest_group = ir::widest_exp_group(incumbent_.unroll);
  bool groupable = ir::has_groupable_exp(kernel_of(incumbent_)->plan());
  if (groupable && widest_group > 1 && time_left()) {
    Candidate candidate = incumbent_;
    candidate.exp_group = incumbent_.exp_group > 1 ? 1 : widest_group;
    std::vector<Candidate> groups = {result_.default_candidate, incumbent_};
    ROWJIT_TRY(compile_into({candidate}, groups));
    run_stage("exp groups", groups, stage_share(3));
  }

  result_.tuned_candidate = incumbent_;
  result_.kept_default = incumbent_ == result_.default_candidate;
  return result_;
}

}  // namespace

std::string describe_candidate(const Candidate& candidate) {
  return std::string(ir::softmax_form_name(candidate.softmax_form)) + ", unroll " + std::to_string(candidate.unroll) +
         (candidate.nontemporal_stores ? ", non-temporal stores" : ", regular stores") + ", exp group " +
         std::to_string(candidate.exp_group);
}

Result<TuneResult> tune_pipeline(const ir::Pipeline& pipeline, const TuneRequest& request) {
  auto start = Clock::now();
  auto deadline = after_seconds(start, request.budget_seconds);
  if (request.row_lengths.empty()) {
    return Status(StatusCode::kInvalidArgument, "no row length to tune; give at least one n, for example 4096");
  }
  for (int64_t n : request.row_lengths) {
    if (n < 1) {
      return Status(StatusCode::kInvalidArgument,
                    "row length " + std::to_string(n) + " cannot be tuned; give n of 1 or more");
    }
  }
  if (request.rows < 0) {
    return Status(StatusCode::kInvalidArgument,
                  "row count " + std::to_string(request.rows) + " is negative; give 1 or more, or 0 for the default");
  }
  if (request.threads < 1) {
    return Status(StatusCode::kInvalidArgument,
                  "thread count " + std::to_string(request.threads) + " is invalid; give 1 or more");
  }
  if (!(request.budget_seconds > 0)) {
    return Status(StatusCode::kInvalidArgument,
                  "budget " + std::to_string(request.budget_seconds) + " s is invalid; give more than 0 seconds");
  }

  TuneResult result;
  result.isa = request.isa == Isa::kNone ? host_isa() : request.isa;
  if (result.isa > best_isa(host_cpu())) {
    return Status(StatusCode::kUnsupported, std::string("ISA ") + isa_name(result.isa) +
                                                " was requested but this CPU and OS support at most " +
                                                isa_name(best_isa(host_cpu())));
  }
  if (result.isa == Isa::kNone) {
    return Status(StatusCode::kUnsupported,
                  "no JIT instruction set on this machine (or ROWJIT_MAX_ISA=none): pipelines run on the reference "
                  "interpreter, which has no plan choices to tune");
  }
  ir::TargetDesc target = host_target(result.isa);

  // The pool lives for the whole tune, so its threads start once.
  std::unique_ptr<ThreadPool> pool;
  ParallelFor parallel;
  if (request.threads > 1) {
    pool = std::make_unique<ThreadPool>(static_cast<size_t>(request.threads - 1));
    parallel = pool->hook();
    parallel.max_tasks = static_cast<size_t>(request.threads);
    parallel.min_rows_per_task = 1;
  }

  for (size_t i = 0; i < request.row_lengths.size(); ++i) {
    int64_t n = request.row_lengths[i];
    auto planned = ir::make_plan(pipeline, target, n);
    if (!planned) return planned.status();
    if (!planned->jit_supported) {
      return Status(StatusCode::kUnsupported, "pipeline '" + pipeline.name + "' has no JIT kernel (" +
                                                  planned->unsupported_reason +
                                                  "): the reference interpreter runs it, which has no plan choices "
                                                  "to tune");
    }
    Candidate planned_default{planned->softmax_form, planned->unroll, planned->nontemporal_stores,
                              planned->exp_group};

    int64_t rows = request.rows;
    if (rows == 0) {
      int64_t input_bytes = kDefaultInputBytesPerL2 * target.l2_bytes;
      rows = std::max<int64_t>((input_bytes + n * 4 - 1) / (n * 4), request.threads);
    }

    // Each shape gets an equal share of what is left of the budget.
    double shape_seconds = seconds_left(deadline) / static_cast<double>(request.row_lengths.size() - i);
    auto shape_deadline = std::min(deadline, after_seconds(Clock::now(), shape_seconds));
    if (request.progress) request.progress("n = " + std::to_string(n) + ": preparing " + std::to_string(rows) + " rows");
    auto workspace = TuneWorkspace::create(pipeline, n, rows, request.scalars);
    if (!workspace) return workspace.status();

    ShapeTuner tuner(pipeline, request, result.isa, n, *workspace, pool ? &parallel : nullptr, shape_deadline,
                     deadline);
    auto shape = tuner.run(planned_default, target.l2_bytes);
    if (!shape) return shape.status();
    result.shapes.push_back(std::move(shape).value());
  }
  result.seconds = seconds_between(start, Clock::now());
  return result;
}

std::vector<TuningEntry> tuning_entries(const ir::Pipeline& pipeline, const TuneRequest& request,
                                        const TuneResult& result, const CpuIdentity& cpu) {
  std::vector<TuningEntry> entries;
  uint64_t hash = pipeline_hash(pipeline);
  for (const ShapeResult& shape : result.shapes) {
    if (!shape.measured) continue;
    TuningEntry entry;
    entry.cpu = cpu;
    entry.pipeline_hash = hash;
    entry.isa = result.isa;
    entry.shape_bucket = shape_bucket(shape.n);
    entry.threads = request.threads;
    entry.choices = shape.tuned_candidate.choices();
    entry.kept_default = shape.kept_default;
    entry.default_ns_per_element = shape.default_timing.median;
    entry.tuned_ns_per_element = shape.tuned_timing.median;
    entry.noise_ns_per_element = shape.tuned_timing.mad;
    entry.pipeline_name = pipeline.name;
    entry.n = shape.n;
    entry.rows = shape.rows;
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace rowjit
