#include "runtime/resident_fallback.h"

#include <string>

#include "ir/planner.h"

namespace rowjit {

Status plan_loops_instead_of_resident_rows(const ir::Pipeline& pipeline, const ir::TargetDesc& target,
                                           ir::Plan& plan) {
  // Every choice is forced to the plan's, so the new plan differs only in
  // the resident rows and in the traffic that follows from them.
  ir::PlanChoices choices;
  if (plan.softmax_form != ir::SoftmaxForm::kNone) choices.softmax_form = plan.softmax_form;
  choices.unroll = plan.unroll;
  choices.nontemporal_stores = plan.nontemporal_stores;
  choices.resident_vectors = 0;
  choices.prefetch_bytes = plan.prefetch_bytes;
  choices.blocked_exp = plan.blocked_exp;
  choices.speculative_max = plan.speculative_max;
  choices.exp_group = plan.exp_group;
  Result<ir::Plan> loops = ir::make_plan(pipeline, target, plan.n_hint, choices);
  if (!loops) {
    return Status(StatusCode::kInternal, "planning the loops of '" + pipeline.name +
                                             "' after its resident rows did not fit the registers failed: " +
                                             loops.status().message());
  }

  // The planner words its residency reason "rows of V vectors held in
  // registers: ...", ending in ": forced" when forced.
  const std::string resident_reason = "rows of " + std::to_string(plan.resident_vectors) + " vectors held in registers";
  auto fallback = [&](bool forced) {
    return resident_reason + (forced ? ": forced" : ": planned") + ", but they did not fit the " +
           std::to_string(target.vector_registers) + " " + target.isa + " vector registers, so every row takes the loops";
  };
  bool replaced = false;
  for (std::string& reason : plan.reasons) {
    if (reason.rfind(resident_reason, 0) == 0) {
      reason = fallback(reason.ends_with(": forced"));
      replaced = true;
    }
    // Every row takes the loops, which prefetch in each sweep the plan marks.
    size_t note = reason.find(ir::kResidentPrefetchNote);
    if (note != std::string::npos) reason.erase(note, ir::kResidentPrefetchNote.size());
  }
  if (!replaced) plan.reasons.push_back(fallback(false));

  plan.resident_vectors = 0;
  plan.bytes_per_element = loops->bytes_per_element;
  return Status::ok();
}

}  // namespace rowjit
