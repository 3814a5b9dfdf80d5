// Planner: schedules a pipeline into sweeps over the row, fusing every op into
// the earliest sweep it can run in, and picks the softmax form, unroll and
// store kind from the row size and the target's caches.
#pragma once

#include <string_view>

#include "ir/plan.h"
#include "ir/status.h"
#include "ir/target.h"

namespace rowjit::ir {

// Makes the plan for rows of length `n_hint` (0 when unknown). A pipeline that
// the JIT cannot lower yet still gets a plan, with jit_supported = false and
// the reason; forcing a softmax form the pipeline cannot use is an error.
Result<Plan> make_plan(const Pipeline& pipeline, const TargetDesc& target, int64_t n_hint,
                       const PlanChoices& choices = {});

// Returns whether the pipeline has an output of shape [n], which a sweep
// stores row by row.
bool writes_row_output(const Pipeline& pipeline);

// Suffix of the prefetch reason of a plan with resident rows and more than
// one prefetching sweep: the resident copy prefetches in the first only.
inline constexpr std::string_view kResidentPrefetchNote = " (rows held in registers: in the first of them only)";

// The softmax core of a pipeline, if it has one (see SoftmaxCore).
std::optional<SoftmaxCore> find_softmax_core(const Pipeline& pipeline);

// Prints the plan for `rowjit plan`: sweeps, what each reads and writes, bytes
// per element, and the reason for each choice.
std::string print_plan(const Pipeline& pipeline, const Plan& plan);

}  // namespace rowjit::ir
