// Measures the candidate plans of a pipeline on this machine and picks the
// fastest, for `rowjit tune` and the tuning file (runtime/tuning_file.h).
//
// The search space comes from the planner: the softmax forms that apply to the
// pipeline, unroll 1, 2, 4 and 8, non-temporal stores on and off for rows
// larger than the L2, and exp groups (Plan::exp_group) of the widest size
// the unroll allows or none. It is searched in stages, so one shape takes seconds:
//   1. every softmax form, at the default unroll and store kind;
//   2. the other unrolls, with the winning form;
//   3. the other store kind, for rows larger than the L2;
//   4. the other exp group, where the kernel has a softmax exp to group.
// Each stage measures the planner's default, the best plan so far and the new
// candidates together, interleaved (runtime/tune_sampler.h). The stage picks
// the fastest candidate that beats the default by more than the noise
// (beats_by_noise); the best plan so far keeps its place unless that candidate
// beats it too. When no candidate beats the default, the default is kept.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "ir/status.h"
#include "runtime/cpu_features.h"
#include "runtime/tune_sampler.h"
#include "runtime/tuning_file.h"

namespace rowjit {

struct TuneRequest {
  Isa isa = Isa::kNone;            // the ISA to tune for; kNone means host_isa()
  std::vector<int64_t> row_lengths;  // the values of n to tune, each its own shape
  // Rows per call; 0 picks enough rows for a call to read about 4 times the
  // L2 of input, so that rows stream from memory or the L3 as in a batch.
  int64_t rows = 0;
  int threads = 1;               // threads the rows are split over
  double budget_seconds = 60;    // cap on the whole tune, compiles included
  std::map<std::string, double> scalars;  // scalar parameters, by name; defaults fill the rest
  // Called with a short line on each step, for a progress display; may be empty.
  std::function<void(const std::string&)> progress;
};

// The plan of one candidate, with every choice resolved.
struct Candidate {
  ir::SoftmaxForm softmax_form = ir::SoftmaxForm::kNone;
  int unroll = 4;
  bool nontemporal_stores = false;
  int exp_group = 1;  // as the plan has it; the emitter may group fewer lanes

  bool operator==(const Candidate&) const = default;
  ir::PlanChoices choices() const {
    ir::PlanChoices choices;
    choices.softmax_form = softmax_form;
    choices.unroll = unroll;
    choices.nontemporal_stores = nontemporal_stores;
    choices.exp_group = exp_group;
    return choices;
  }
};

// Describes a candidate as "two_pass_online, unroll 8, regular stores, exp
// group 8".
std::string describe_candidate(const Candidate& candidate);

struct CandidateResult {
  Candidate candidate;
  Timing timing;  // from the last stage that measured this candidate
};

struct ShapeResult {
  int64_t n = 0;
  int64_t rows = 0;
  // False when the budget ran out before the first stage finished: nothing
  // was chosen, and the shape gets no tuning entry.
  bool measured = false;
  bool budget_exhausted = false;  // the end of the budget cut a stage short
  Candidate default_candidate;
  Candidate tuned_candidate;  // equals default_candidate when the default was kept
  bool kept_default = true;
  // Times of the default and the tuned plan, measured in the same stage.
  Timing default_timing;
  Timing tuned_timing;
  std::vector<CandidateResult> candidates;  // every candidate measured, in the order first tried
  std::vector<std::string> notes;           // candidates skipped and why
};

struct TuneResult {
  Isa isa = Isa::kNone;
  std::vector<ShapeResult> shapes;  // one per row length, in request order
  double seconds = 0;               // wall time of the whole tune
};

// Tunes `pipeline` for each row length. Fails with kInvalidArgument for an
// invalid request (no row length, n < 1, rows < 0, threads < 1, a parameter
// without a value), kUnsupported when the pipeline has no JIT kernel (only
// the interpreter would run, so there is nothing to choose) or the ISA is not
// available, and with the compiler's error when the default plan fails to
// compile. A candidate that fails to compile is skipped with a note.
Result<TuneResult> tune_pipeline(const ir::Pipeline& pipeline, const TuneRequest& request);

// Returns the tuning entries of the measured shapes of `result`, keyed for
// `cpu`. Shapes that were not measured get none.
std::vector<TuningEntry> tuning_entries(const ir::Pipeline& pipeline, const TuneRequest& request,
                                        const TuneResult& result, const CpuIdentity& cpu);

}  // namespace rowjit
