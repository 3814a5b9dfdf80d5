#include "ir/planner.h"

#include <algorithm>
#include <set>

#include "ir/float_environment.h"
#include "ir/planner_internal.h"
#include "ir/tensor.h"

namespace rowjit::ir {

namespace planning {

bool is_row_reduction(OpKind kind) { return op_info(kind).category == OpCategory::kRowReduction; }

std::vector<std::vector<int>> users_of(const Pipeline& p) {
  std::vector<std::vector<int>> users(p.values.size());
  for (size_t i = 0; i < p.ops.size(); ++i) {
    for (ValueId v : p.ops[i].operands) users[static_cast<size_t>(v)].push_back(static_cast<int>(i));
  }
  return users;
}

bool is_output(const Pipeline& p, ValueId v) {
  return std::find(p.outputs.begin(), p.outputs.end(), v) != p.outputs.end();
}

}  // namespace planning

using planning::is_output;
using planning::form_unusable;
using planning::users_of;

namespace {

// Ops the JIT lowers today. Everything else runs on the interpreter.
bool jit_lowers(OpKind kind) {
  switch (kind) {
    case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv:
    case OpKind::kMinimum: case OpKind::kMaximum:
    case OpKind::kLt: case OpKind::kLe: case OpKind::kGt: case OpKind::kGe: case OpKind::kEq: case OpKind::kNe:
    case OpKind::kNeg: case OpKind::kAbs: case OpKind::kExp: case OpKind::kLog: case OpKind::kSqrt:
    case OpKind::kRecip: case OpKind::kSigmoid: case OpKind::kTanh: case OpKind::kSelect:
    case OpKind::kReduceMax: case OpKind::kReduceMin: case OpKind::kReduceSum: case OpKind::kReduceAbsMax:
    case OpKind::kReduceMean:
      return true;
    default:
      return false;
  }
}

// Returns "" if the JIT can lower the pipeline, else the reason it cannot.
std::string jit_unsupported_reason(const Pipeline& p) {
  for (const Op& op : p.ops) {
    if (!jit_lowers(op.kind)) return "op '" + std::string(op_info(op.kind).name) + "' has no JIT lowering yet";
    for (ValueId r : op.results) {
      const ValueType& t = p.value(r).type;
      if (t.elem != ElemType::kF32 && t.elem != ElemType::kBool) {
        return "value '" + p.display_name(r) + "' has element type " + std::string(elem_type_name(t.elem)) +
               "; the JIT handles f32 only yet";
      }
      if (!t.shape.is_scalar() && t.shape.kind != Shape::Kind::kRow) {
        return "value '" + p.display_name(r) + "' has shape " + t.shape.to_string() +
               "; the JIT handles [n] and per-row scalars only yet";
      }
    }
  }
  for (ValueId id : p.inputs) {
    const Value& v = p.value(id);
    if (v.type.elem != ElemType::kF32) {
      return std::string(v.kind == ValueKind::kParam ? "parameter '" : "input '") + v.name + "' has type " +
             v.type.to_string() + "; the JIT handles f32 only yet";
    }
  }
  return "";
}

// True if a NaN in `source` reaches every output: through arithmetic, math
// functions and reductions, and through a select only when both of its values
// carry it. A comparison turns NaN into false, and a select on it may pick a
// value without the NaN (z = select(s > 1e30, 0, d) depends on s but is not
// NaN where s is). Ops come in program order, so one pass finds every value
// that carries the NaN.
bool nan_reaches_every_output(const Pipeline& p, ValueId source) {
  std::vector<bool> carries(p.values.size(), false);
  carries[static_cast<size_t>(source)] = true;
  auto carried = [&](ValueId v) { return carries[static_cast<size_t>(v)]; };
  for (const Op& op : p.ops) {
    bool result_carries = false;
    switch (op.kind) {
      case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv:
      case OpKind::kMinimum: case OpKind::kMaximum: case OpKind::kNeg: case OpKind::kAbs:
      case OpKind::kExp: case OpKind::kLog: case OpKind::kSqrt: case OpKind::kRecip:
      case OpKind::kSigmoid: case OpKind::kTanh: case OpKind::kSoftplus: case OpKind::kExp2:
      case OpKind::kReduceMax: case OpKind::kReduceMin: case OpKind::kReduceSum:
      case OpKind::kReduceAbsMax: case OpKind::kReduceMean: case OpKind::kReduceVar:
        result_carries = std::any_of(op.operands.begin(), op.operands.end(), carried);
        break;
      case OpKind::kSelect:
        result_carries = carried(op.operands[1]) && carried(op.operands[2]);
        break;
      default:
        break;
    }
    for (ValueId r : op.results) carries[static_cast<size_t>(r)] = carries[static_cast<size_t>(r)] || result_carries;
  }
  return std::all_of(p.outputs.begin(), p.outputs.end(), carried);
}

}  // namespace

std::string_view softmax_form_name(SoftmaxForm form) {
  switch (form) {
    case SoftmaxForm::kNone: return "none";
    case SoftmaxForm::kThreePassRecompute: return "three_pass_recompute";
    case SoftmaxForm::kThreePassReload: return "three_pass_reload";
    case SoftmaxForm::kTwoPassOnline: return "two_pass_online";
    case SoftmaxForm::kTwoPassExtExp: return "two_pass_extexp";
  }
  return "?";
}

std::optional<SoftmaxForm> parse_softmax_form(std::string_view name) {
  for (SoftmaxForm f : {SoftmaxForm::kThreePassRecompute, SoftmaxForm::kThreePassReload,
                        SoftmaxForm::kTwoPassOnline, SoftmaxForm::kTwoPassExtExp}) {
    if (softmax_form_name(f) == name) return f;
  }
  return std::nullopt;
}

std::optional<SoftmaxCore> find_softmax_core(const Pipeline& p) {
  auto users = users_of(p);
  auto result_of = [&](int op) { return p.ops[static_cast<size_t>(op)].results[0]; };
  auto single_user = [&](ValueId v, OpKind kind) -> int {
    for (int u : users[static_cast<size_t>(v)]) {
      if (p.ops[static_cast<size_t>(u)].kind == kind) return u;
    }
    return -1;
  };

  for (size_t i = 0; i < p.ops.size(); ++i) {
    const Op& max_op = p.ops[i];
    if (max_op.kind != OpKind::kReduceMax) continue;
    ValueId x = max_op.operands[0];
    ValueId m = max_op.results[0];
    if (p.value(x).type.shape.kind != Shape::Kind::kRow) continue;

    SoftmaxCore core;
    core.max_op = static_cast<int>(i);
    core.x = x;
    for (int u : users[static_cast<size_t>(m)]) {
      const Op& op = p.ops[static_cast<size_t>(u)];
      if (op.kind == OpKind::kSub && op.operands[0] == x && op.operands[1] == m) core.shift_op = u;
    }
    if (core.shift_op < 0) continue;

    ValueId t = result_of(core.shift_op);
    ValueId exp_arg = t;
    core.exp_op = single_user(t, OpKind::kExp);
    if (core.exp_op < 0) {
      for (int u : users[static_cast<size_t>(t)]) {
        const Op& op = p.ops[static_cast<size_t>(u)];
        bool scales = op.kind == OpKind::kMul || op.kind == OpKind::kDiv;
        if (scales && op.operands[0] == t && p.value(op.operands[1]).type.shape.is_scalar()) {
          core.scale_op = u;
          core.scale = op.operands[1];
          core.scale_divides = op.kind == OpKind::kDiv;
          exp_arg = op.results[0];
          core.exp_op = single_user(exp_arg, OpKind::kExp);
          break;
        }
      }
    }
    if (core.exp_op < 0) continue;
    ValueId e = result_of(core.exp_op);
    core.sum_op = single_user(e, OpKind::kReduceSum);
    if (core.sum_op < 0) continue;
    ValueId s = result_of(core.sum_op);

    // A plain softmax: y = e / s is the only use of e and s, m and t feed only
    // the core, and there is no temperature.
    int normalize = -1;
    for (int u : users[static_cast<size_t>(e)]) {
      const Op& op = p.ops[static_cast<size_t>(u)];
      if (op.kind == OpKind::kDiv && op.operands[0] == e && op.operands[1] == s) normalize = u;
    }
    core.normalize_op = normalize;
    // A NaN that the max misses reaches every output only if a NaN in the
    // sum does (not so when x - max(x) is itself an output).
    core.max_feeds_shift_only = users[static_cast<size_t>(m)].size() == 1 && !is_output(p, m) &&
                                nan_reaches_every_output(p, s);
    if (core.scale == kNoValue) {
      core.exp_input_nonpositive = true;
    } else {
      const Value& c = p.value(core.scale);
      bool positive_literal = c.kind == ValueKind::kConstant && c.constant > 0;
      bool bounded_param = c.kind == ValueKind::kParam && c.param_bound && c.param_bound->limit >= 0;
      core.exp_input_nonpositive = positive_literal || bounded_param;
    }
    core.plain_softmax = normalize >= 0 && core.scale_op < 0 && users[static_cast<size_t>(e)].size() == 2 &&
                         users[static_cast<size_t>(s)].size() == 1 && users[static_cast<size_t>(m)].size() == 1 &&
                         users[static_cast<size_t>(t)].size() == 1 && !is_output(p, e) && !is_output(p, s) &&
                         !is_output(p, m) && !is_output(p, t);
    return core;
  }
  return std::nullopt;
}

namespace planning {

// Checks whether `form` can schedule `core`; returns "" or the reason it cannot.
std::string form_unusable(const Pipeline& p, const SoftmaxCore& core, SoftmaxForm form, const TargetDesc& target) {
  auto users = users_of(p);
  ValueId m = p.ops[static_cast<size_t>(core.max_op)].results[0];
  switch (form) {
    case SoftmaxForm::kNone:
      return "the pipeline has a softmax core; pick one of its forms";
    case SoftmaxForm::kThreePassRecompute:
      return "";
    case SoftmaxForm::kThreePassReload: {
      if (core.normalize_op < 0) return "three_pass_reload needs y = e / sum(e)";
      ValueId y = p.ops[static_cast<size_t>(core.normalize_op)].results[0];
      if (!is_output(p, y)) return "three_pass_reload stores exp into the output y, but y = e / sum(e) is not an output";
      return "";
    }
    case SoftmaxForm::kTwoPassOnline:
      // The running max of the online form is exact, but it may drop a NaN
      // that the sum still carries, so m may only feed the core and scalars.
      for (int u : users[static_cast<size_t>(m)]) {
        if (u != core.shift_op && !p.value(p.ops[static_cast<size_t>(u)].results[0]).type.shape.is_scalar()) {
          return "two_pass_online needs max(x) to be used only by x - max(x) and per-row scalars";
        }
      }
      if (is_output(p, m)) return "two_pass_online cannot output max(x) itself";
      if (!nan_reaches_every_output(p, p.ops[static_cast<size_t>(core.sum_op)].results[0])) {
        return "two_pass_online needs every output to depend on the sum, which carries a NaN that the running "
               "max may drop";
      }
      // NOTE: the max pass of the blocked online form reads x from memory, so
      // an x computed from the inputs (the gate's sigmoid) takes a
      // three-pass form instead.
      if (p.value(core.x).kind != ValueKind::kInput) return "two_pass_online needs max(x) of an input x";
      return "";
    case SoftmaxForm::kTwoPassExtExp:
      if (!core.plain_softmax) {
        return "two_pass_extexp applies to y = exp(x - max(x)) / sum(...) alone: with a temperature, log or "
               "other uses of the max or sum it loses accuracy";
      }
      if (target.vector_bits != 512) return "two_pass_extexp is lowered for AVX-512 only";
      if (p.value(core.x).kind != ValueKind::kInput) return "two_pass_extexp needs max(x) of an input x";
      return "";
  }
  return "unknown form";
}


}  // namespace planning

bool writes_row_output(const Pipeline& p) {
  return std::any_of(p.outputs.begin(), p.outputs.end(),
                     [&](ValueId v) { return p.value(v).type.shape.kind == Shape::Kind::kRow; });
}

Result<Plan> make_plan(const Pipeline& p, const TargetDesc& target, int64_t n_hint, const PlanChoices& choices) {
  DefaultFloatEnvironment environment;  // the planner's float arithmetic rounds to nearest
  if (n_hint < 0 || n_hint > kMaxRowLength) {
    return Status(StatusCode::kInvalidArgument, "n_hint " + std::to_string(n_hint) +
                                                    " is out of range; give the row length (0 to " +
                                                    std::to_string(kMaxRowLength) + ") or 0 for unknown");
  }
  Plan plan;
  plan.vector_bits = target.vector_bits;
  plan.n_hint = n_hint;
  plan.spill_buffer.assign(p.values.size(), kNoValue);

  std::string reason = target.vector_bits == 0
                           ? "no AVX2 or AVX-512 target (the ISA requested was none, ROWJIT_MAX_ISA=none, "
                             "or the CPU lacks both)"
                           : jit_unsupported_reason(p);
  plan.jit_supported = reason.empty();
  plan.unsupported_reason = reason;

  // Softmax form.
  auto core = find_softmax_core(p);
  if (core) plan.core = *core;
  // A row whose tensors stay in the last-level cache between sweeps costs its
  // instructions, not its memory traffic. Measured on a 32 MB L3, three-pass
  // reload beats both two-pass forms up to rows of a few MB, so only rows
  // larger than half the LLC count as out of cache.
  int64_t row_bytes = n_hint * 4;
  int64_t row_tensor_count = 0;
  for (ValueId v : p.inputs) row_tensor_count += p.value(v).type.shape.kind == Shape::Kind::kRow ? 1 : 0;
  for (ValueId v : p.outputs) row_tensor_count += p.value(v).type.shape.kind == Shape::Kind::kRow ? 1 : 0;
  bool out_of_cache = n_hint > 0 && row_bytes * row_tensor_count > target.llc_bytes / 2;
  bool converts = std::any_of(p.ops.begin(), p.ops.end(), [](const Op& op) { return op.kind == OpKind::kConvert; });
  if (!core) {
    if (choices.softmax_form && *choices.softmax_form != SoftmaxForm::kNone) {
      return Status(StatusCode::kInvalidArgument, "cannot force softmax form '" +
                                                      std::string(softmax_form_name(*choices.softmax_form)) +
                                                      "': pipeline '" + p.name + "' has no max / exp / sum core");
    }
    plan.softmax_form = SoftmaxForm::kNone;
  } else if (choices.softmax_form) {
    std::string rejection = form_unusable(p, *core, *choices.softmax_form, target);
    if (!rejection.empty()) {
      return Status(StatusCode::kInvalidArgument,
                    "cannot force softmax form '" + std::string(softmax_form_name(*choices.softmax_form)) + "': " + rejection);
    }
    plan.softmax_form = *choices.softmax_form;
    plan.reasons.push_back("softmax form " + std::string(softmax_form_name(plan.softmax_form)) + ": forced");
  } else if (out_of_cache) {
    bool extexp = form_unusable(p, *core, SoftmaxForm::kTwoPassExtExp, target).empty();
    bool online = form_unusable(p, *core, SoftmaxForm::kTwoPassOnline, target).empty();
    // Measured on AVX-512 (Zen 5) at 4M and 32M elements, the online form is
    // 1.2x to 1.3x faster than the extended-exponent one, whose first sweep
    // needs twice the instructions per vector.
    plan.softmax_form = online ? SoftmaxForm::kTwoPassOnline
                        : extexp ? SoftmaxForm::kTwoPassExtExp : SoftmaxForm::kThreePassRecompute;
    plan.reasons.push_back("softmax form " + std::string(softmax_form_name(plan.softmax_form)) + ": the row's " +
                           std::to_string(row_tensor_count) + " tensors of " + std::to_string(row_bytes) +
                           " bytes together exceed half the last-level cache of " + std::to_string(target.llc_bytes) +
                           " bytes, so memory traffic decides");
  } else {
    bool reload = form_unusable(p, *core, SoftmaxForm::kThreePassReload, target).empty();
    plan.softmax_form = reload ? SoftmaxForm::kThreePassReload : SoftmaxForm::kThreePassRecompute;
    plan.reasons.push_back("softmax form " + std::string(softmax_form_name(plan.softmax_form)) +
                           (n_hint > 0 ? ": the row stays in cache, so exp is the cost and is computed once"
                                       : ": row length unknown, assuming it fits in cache") +
                           (reload ? "" : " (reload does not apply: y = e / sum(e) is not an output)"));
  }
  planning::PlanContext context{p, target, n_hint, choices, core ? &*core : nullptr, row_bytes, row_tensor_count,
                                out_of_cache, converts};
  planning::assign_sweeps(context, plan);
  ROWJIT_TRY(planning::choose_unroll(context, plan));
  ROWJIT_TRY(planning::choose_resident_rows(context, plan));
  planning::choose_nontemporal_stores(context, plan);
  ROWJIT_TRY(planning::choose_blocked_exp(context, plan));
  ROWJIT_TRY(planning::choose_speculative_max(context, plan));
  ROWJIT_TRY(planning::choose_prefetch(context, plan));
  ROWJIT_TRY(planning::choose_exp_group(context, plan));
  planning::choose_streaming_calls(context, plan);
  if (!plan.jit_supported) plan.reasons.push_back("interpreter: " + plan.unsupported_reason);
  return plan;
}

}  // namespace rowjit::ir
