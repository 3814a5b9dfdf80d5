// Blocked exp: the max and exp sweeps of a softmax, log-softmax or
// logsumexp by blocks, and the speculative max that lets blocks after the
// first skip their max pass (docs/jit.md).
#include <algorithm>

#include "ir/planner.h"
#include "ir/planner_internal.h"

namespace rowjit::ir::planning {
namespace {

// True when the sweeps of a three_pass_recompute plan are those of a
// log-softmax core: a max sweep, then a sweep that only sums exp(x - m), then
// one that reads m and s as the row's max and sum. The blocked form can then
// take m per block in the middle sweep and rescale the block sums after it.
// True if the row's max m and sum s reach the outputs only as a softmax,
// log-softmax or logsumexp does: m through x - m and m + log(s), s through
// e / s and log(s). Blocked exp computes m and s per block and gives the row's
// values only where these combine them: it does not track a NaN in m, and a
// row of -inf gets m = -inf and s = NaN (the interpreter's x - max is NaN).
bool core_values_used_as_softmax(const Pipeline& p, const SoftmaxCore& core) {
  ValueId m = p.ops[static_cast<size_t>(core.max_op)].results[0];
  ValueId s = p.ops[static_cast<size_t>(core.sum_op)].results[0];
  if (is_output(p, m) || is_output(p, s)) return false;
  auto users = users_of(p);
  auto is_log_of_s = [&](ValueId v) {
    const Value& value = p.value(v);
    if (value.kind != ValueKind::kOpResult) return false;
    const Op& op = p.ops[static_cast<size_t>(value.op)];
    return op.kind == OpKind::kLog && op.operands[0] == s;
  };
  for (int u : users[static_cast<size_t>(m)]) {
    const Op& op = p.ops[static_cast<size_t>(u)];
    bool logsumexp = op.kind == OpKind::kAdd && op.operands.size() == 2 &&
                     (is_log_of_s(op.operands[0]) || is_log_of_s(op.operands[1]));
    if (u != core.shift_op && !logsumexp) return false;
  }
  for (int u : users[static_cast<size_t>(s)]) {
    if (u != core.normalize_op && p.ops[static_cast<size_t>(u)].kind != OpKind::kLog) return false;
  }
  return true;
}

// True if `sweep` computes the core's max and nothing else, as the first
// sweep that blocked exp replaces by a max pass per block must.
bool computes_max_alone(const SoftmaxCore& core, const Sweep& sweep) {
  return sweep.ops.empty() && sweep.reductions == std::vector<int>{core.max_op} && sweep.stores.empty() &&
         sweep.spills.empty() && sweep.scalar_ops.empty();
}

bool sweeps_allow_blocked_sum(const Pipeline& p, const SoftmaxCore& core, const std::vector<Sweep>& sweeps) {
  if (sweeps.size() != 3 || core.scale_op >= 0 || !core.exp_input_nonpositive) return false;
  if (!core_values_used_as_softmax(p, core)) return false;
  const Sweep& sum_sweep = sweeps[1];
  bool max_only = computes_max_alone(core, sweeps[0]);
  std::vector<int> sum_ops = sum_sweep.ops;
  std::sort(sum_ops.begin(), sum_ops.end());
  bool sum_only = sum_ops == std::vector<int>{core.shift_op, core.exp_op} &&
                  sum_sweep.reductions == std::vector<int>{core.sum_op} && sum_sweep.stores.empty() &&
                  sum_sweep.spills.empty() && sum_sweep.scalar_ops.empty();
  // The last sweep runs per block, where a reduction would see each block's
  // values before they are corrected.
  bool last_per_element = sweeps[2].reductions.empty();
  return max_only && sum_only && last_per_element;
}

// True if the three sweeps of a softmax under three_pass_reload compute only
// the softmax: the max alone, then exp(x - max) summed and spilled, then the
// normalization. Blocked exp replaces the first sweep by a max pass per block
// and fuses the second into it, so anything else there would be lost.
bool sweeps_allow_blocked_scale(const Pipeline& p, const SoftmaxCore& core, const std::vector<Sweep>& sweeps) {
  if (sweeps.size() != 3) return false;
  const Sweep& exp_sweep = sweeps[1];
  const Sweep& last = sweeps[2];
  bool max_only = computes_max_alone(core, sweeps[0]);
  std::vector<int> exp_ops = exp_sweep.ops;
  std::sort(exp_ops.begin(), exp_ops.end());
  ValueId e = p.ops[static_cast<size_t>(core.exp_op)].results[0];
  bool exp_only = exp_ops == std::vector<int>{core.shift_op, core.exp_op} &&
                  exp_sweep.reductions == std::vector<int>{core.sum_op} && exp_sweep.stores.empty() &&
                  exp_sweep.spills == std::vector<ValueId>{e} && exp_sweep.scalar_ops.empty();
  ValueId y = p.ops[static_cast<size_t>(core.normalize_op)].results[0];
  bool normalize_only = last.ops == std::vector<int>{core.normalize_op} && last.reductions.empty() &&
                        last.stores == std::vector<ValueId>{y} && last.spills.empty() && last.scalar_ops.empty();
  return max_only && exp_only && normalize_only;
}

// The op of a log-softmax's last sweep, y = d - l with d = x - m, l a
// per-row scalar and y a row output, when that is all the sweep computes
// besides d itself and d has no other use than exp; else -1. Blocked exp then
// writes d per block into y and subtracts a per-block constant last.
int blocked_shift_output_op(const Pipeline& p, const SoftmaxCore& core, const Sweep& last) {
  std::vector<int> ops = last.ops;
  std::erase(ops, core.shift_op);
  if (ops.size() != 1 || !last.reductions.empty() || !last.spills.empty()) return -1;
  const Op& op = p.ops[static_cast<size_t>(ops[0])];
  ValueId d = p.ops[static_cast<size_t>(core.shift_op)].results[0];
  if (op.kind != OpKind::kSub || op.operands[0] != d || !p.value(op.operands[1]).type.shape.is_scalar()) return -1;
  ValueId y = op.results[0];
  if (!is_output(p, y) || p.value(y).type.shape.kind != Shape::Kind::kRow || is_output(p, d)) return -1;
  auto users = users_of(p);
  for (int u : users[static_cast<size_t>(d)]) {
    if (u != core.exp_op && u != ops[0]) return -1;
  }
  return ops[0];
}

}  // namespace

Status choose_blocked_exp(const PlanContext& context, Plan& plan) {
  const Pipeline& p = context.p;
  const TargetDesc& target = context.target;
  const int64_t n_hint = context.n_hint;
  const PlanChoices& choices = context.choices;
  const SoftmaxCore* core = context.core;
  const SoftmaxForm form = plan.softmax_form;
  const bool out_of_cache = context.out_of_cache;
  const bool converts = context.converts;

  // The blocked-exp schedule of three_pass_reload (see below) applies to a
  // plain softmax of an input x whose y = e / s multiplies by 1 / s.
  bool blocked_candidate = core && core->plain_softmax && p.value(core->x).kind == ValueKind::kInput && !converts &&
                           form_unusable(p, *core, SoftmaxForm::kThreePassReload, target).empty();
  // Rows past L2 but within half the last-level cache: the reload form reads x
  // from L3 twice, for the max and for exp. Fusing both by blocks reads it once.
  // In a separate timing program on AVX-512 (Zen 5; docs/benchmarks.md) it
  // took 256K-element rows from 0.148 to 0.135-0.147 ns per element. At 4M it
  // beat two_pass_online there but not in the benchmark program, so rows
  // beyond half the last-level cache keep the online form.
  //
  // A log-softmax (three_pass_recompute whose middle sweep only sums) takes
  // the same max and sum by blocks; its last sweep is set up below.
  bool blocked_scales = form == SoftmaxForm::kThreePassReload && blocked_candidate &&
                        std::find(plan.reciprocal_divides.begin(), plan.reciprocal_divides.end(),
                                  core->normalize_op) != plan.reciprocal_divides.end() &&
                        sweeps_allow_blocked_scale(p, *core, plan.sweeps);
  bool blocked_sums = form == SoftmaxForm::kThreePassRecompute && core &&
                      p.value(core->x).kind == ValueKind::kInput && !converts &&
                      sweeps_allow_blocked_sum(p, *core, plan.sweeps);
  // Blocked loops have no copy that divides where 1 / s is not a normal float
  // (emit_sweep), which a division by another per-row scalar needs.
  for (int division : plan.reciprocal_divides) {
    if (!core || division != core->normalize_op) blocked_scales = blocked_sums = false;
  }
  bool blocked_applies = blocked_scales || blocked_sums;
  bool beyond_l2 = n_hint > 0 && n_hint > target.l2_bytes / 8;
  if (choices.blocked_exp && *choices.blocked_exp && !blocked_applies) {
    return Status(StatusCode::kInvalidArgument,
                  "cannot force blocked exp under the form " + std::string(softmax_form_name(form)) +
                      ": it applies to three_pass_reload of y = exp(x - max(x)) / sum(...) and to "
                      "three_pass_recompute of a softmax, log-softmax or logsumexp, with x an input, no "
                      "temperature, the max and the sum used only by these, and no other op in the sweeps of "
                      "the softmax");
  }
  //
  // Rows in L2 of more than kBlockedMinElements take blocked exp too, for its
  // speculative max (Plan::speculative_max): blocks after the first need no
  // max pass. In a timing loop of 16K-element rows on Zen 5 (AVX-512 / AVX2,
  // ns per element): softmax 0.105 -> 0.100 and 0.190 -> 0.182, log-softmax
  // 0.117 -> 0.100 and 0.199 -> 0.180. At 8192 elements AVX2 lost 4%, so
  // shorter rows keep the plain loops. The threshold is a power of two, so it
  // falls between the kernel cache's row size classes.
  bool blocked_length = n_hint > kBlockedMinElements;
  // Blocked exp keeps its outputs in cache (it has no streaming copy), so
  // forced non-temporal stores turn its default off, and both forced on is
  // an error rather than a plan that streams nothing.
  bool streaming_forced = choices.nontemporal_stores.value_or(false);
  if (streaming_forced && choices.blocked_exp.value_or(false)) {
    return Status(StatusCode::kInvalidArgument,
                  "cannot force both blocked exp and non-temporal stores: blocked exp writes its outputs with "
                  "regular stores; force one of them off");
  }
  bool blocked_default = blocked_applies && blocked_length && !out_of_cache;
  plan.blocked_exp = choices.blocked_exp.value_or(blocked_default && !streaming_forced);
  if (choices.blocked_exp) {
    plan.reasons.push_back(std::string("blocked exp ") + (plan.blocked_exp ? "on" : "off") + ": forced");
  } else if (plan.blocked_exp && beyond_l2) {
    plan.reasons.push_back("blocked exp: x and a row output of its size would exceed L2 (" +
                           std::to_string(target.l2_bytes) +
                           " bytes), so the max and exp sweeps run block by block and read x from L3 once");
  } else if (plan.blocked_exp) {
    plan.reasons.push_back("blocked exp: rows of more than " + std::to_string(kBlockedMinElements) +
                           " elements run the max and exp sweeps block by block, to skip the max pass of "
                           "all blocks but the first (speculative max)");
  } else if (blocked_default) {
    plan.reasons.push_back("blocked exp off: non-temporal stores are forced, and blocked exp has no streaming copy");
  }
  if (plan.blocked_exp) plan.bytes_per_element -= 4.0;
  // A log-softmax's y = d - l: the blocked sweep writes d = x - block max into
  // y, and the last sweep reloads it and subtracts (max - block max) + l per
  // block, instead of reading x from L3 again.
  int shift_output = plan.blocked_exp && blocked_sums ? blocked_shift_output_op(p, *core, plan.sweeps[2]) : -1;
  if (shift_output >= 0) {
    ValueId d = p.ops[static_cast<size_t>(core->shift_op)].results[0];
    ValueId y = p.ops[static_cast<size_t>(shift_output)].results[0];
    plan.spill_buffer[static_cast<size_t>(d)] = y;
    plan.sweeps[1].spills = {d};
    Sweep& last = plan.sweeps[2];
    last.ops = {shift_output};
    last.loads.clear();
    last.reloads = {d};
    // One more write per element (the spill), and the reload of d from L2
    // replaces the load of x from L3.
    plan.bytes_per_element += 4.0;
  }
  return Status::ok();
}

Status choose_speculative_max(const PlanContext& context, Plan& plan) {
  const PlanChoices& choices = context.choices;

  // The online sweep of two_pass_online speculates too, where running one of
  // its blocks again repeats nothing but the core's exps: no other reduction
  // and no store in that sweep.
  bool online_speculates = false;
  for (const Sweep& sweep : plan.sweeps) {
    if (sweep.online_softmax && plan.jit_supported) {
      online_speculates = sweep.reductions.empty() && sweep.stores.empty() && sweep.spills.empty();
    }
  }
  if (choices.speculative_max && *choices.speculative_max && !plan.blocked_exp && !online_speculates) {
    return Status(StatusCode::kInvalidArgument,
                  "cannot force speculative max: it applies to blocked exp and to two_pass_online whose first "
                  "sweep has no other reduction or store; force one of those too");
  }
  plan.speculative_max = choices.speculative_max.value_or(plan.blocked_exp || online_speculates);
  if (choices.speculative_max) {
    plan.reasons.push_back(std::string("speculative max ") + (plan.speculative_max ? "on" : "off") + ": forced");
  } else if (plan.speculative_max && online_speculates) {
    plan.reasons.push_back("speculative max: each block of the online sweep after the first computes its exps with "
                           "the references of the blocks before it and finds its max in the same pass, instead of "
                           "a max pass of its own; a block whose max exceeds a reference by more than " +
                           std::to_string(static_cast<int>(kSpeculationMargin)) + " runs again");
  } else if (plan.speculative_max) {
    plan.reasons.push_back("speculative max: each block after the first takes the max of the row so far as its "
                           "reference and finds its own max while it computes exp; a block whose max exceeds "
                           "the reference by more than " +
                           std::to_string(static_cast<int>(kSpeculationMargin)) +
                           " runs again, and rows computed in place keep a max pass per block");
  }
  return Status::ok();
}

}  // namespace rowjit::ir::planning
