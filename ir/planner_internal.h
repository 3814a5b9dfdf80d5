// The planner's stages, shared by its files; the public entry point is
// make_plan() in ir/planner.h.
//
// make_plan (planner.cpp) picks the softmax form. Then each stage adds its
// choices to the plan in turn, with the reason for each:
//   - the sweeps and what they compute (plan_sweeps.cpp);
//   - the unroll, rows held in registers and non-temporal stores
//     (plan_lowering.cpp);
//   - blocked exp and the speculative max (plan_blocked_exp.cpp);
//   - prefetching, exp groups and streaming by call size (plan_lowering.cpp).
// The reasons that `rowjit plan` prints come in this order.
#pragma once

#include <string>
#include <vector>

#include "ir/plan.h"
#include "ir/status.h"
#include "ir/target.h"

namespace rowjit::ir::planning {

// The input of every stage: the request and facts about the pipeline.
struct PlanContext {
  const Pipeline& p;
  const TargetDesc& target;
  int64_t n_hint;  // row length, 0 when unknown
  const PlanChoices& choices;
  const SoftmaxCore* core;   // null for a pipeline without a softmax core
  int64_t row_bytes;         // bytes of one [n] f32 tensor's row
  int64_t row_tensor_count;  // inputs and outputs of shape [n]
  // The row's tensors together exceed half the last-level cache.
  bool out_of_cache;
  bool converts;  // the pipeline has a convert op
};

bool is_row_reduction(OpKind kind);
bool is_output(const Pipeline& p, ValueId v);
// The ops that use each value, by value id.
std::vector<std::vector<int>> users_of(const Pipeline& p);
// Checks whether `form` can schedule `core`; returns "" or the reason it cannot.
std::string form_unusable(const Pipeline& p, const SoftmaxCore& core, SoftmaxForm form, const TargetDesc& target);

// plan_sweeps.cpp: the sweeps, what each loads, computes, stores and spills,
// the bytes per element, and the divisions that multiply by a reciprocal.
void assign_sweeps(const PlanContext& context, Plan& plan);

// plan_lowering.cpp
Status choose_unroll(const PlanContext& context, Plan& plan);
Status choose_resident_rows(const PlanContext& context, Plan& plan);
void choose_nontemporal_stores(const PlanContext& context, Plan& plan);
Status choose_prefetch(const PlanContext& context, Plan& plan);
Status choose_exp_group(const PlanContext& context, Plan& plan);
void choose_streaming_calls(const PlanContext& context, Plan& plan);

// plan_blocked_exp.cpp: blocked exp (with a log-softmax's last sweep by
// blocks), and the speculative max of blocked exp and the online form.
Status choose_blocked_exp(const PlanContext& context, Plan& plan);
Status choose_speculative_max(const PlanContext& context, Plan& plan);

}  // namespace rowjit::ir::planning
