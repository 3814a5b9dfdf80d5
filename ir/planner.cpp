#include "ir/planner.h"

#include <algorithm>
#include <set>

#include "ir/float_environment.h"
#include "ir/tensor.h"

namespace rowjit::ir {
namespace {

bool is_row_reduction(OpKind kind) { return op_info(kind).category == OpCategory::kRowReduction; }

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

namespace {

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

// Chooses the inputs and sweeps that prefetch (Plan::prefetched_inputs,
// Sweep::prefetch), and returns whether only exp sweeps do. A row streamed
// from memory prefetches in every sweep that reads it. A row in cache
// prefetches only in the sweeps that compute an exp, which in a batch brings
// the next rows in while exp keeps the core busy. In the max sweep, which runs
// at the speed of its loads, a batch's prefetches stalled it instead. On an
// Intel Xeon (family 6 model 167), in a timing loop, 1024 log-softmax rows of
// 4096 elements took 0.378 ns per element with prefetches in every sweep and
// 0.288 with them in the exp sweep only. Without an exp sweep every sweep
// prefetches. Blocked exp emits no sweep 0: its max passes run in the block
// loop of sweep 1.
bool set_prefetching(const Pipeline& p, const TargetDesc& target, Plan& plan, bool out_of_cache) {
  plan.prefetched_inputs.clear();
  for (Sweep& sweep : plan.sweeps) sweep.prefetch = false;
  if (!plan.jit_supported || plan.prefetch_bytes == 0) return false;

  // The tensors take registers as in the kernel's layout: every input but a
  // scalar parameter, and every output.
  int tensors = static_cast<int>(p.outputs.size());
  for (ValueId v : p.inputs) tensors += p.value(v).kind == ValueKind::kInput || !p.value(v).type.shape.is_scalar();
  int spare = target.tensor_registers - tensors;
  for (ValueId v : p.inputs) {
    if (spare <= 0) break;
    if (p.value(v).type.shape.kind != Shape::Kind::kRow) continue;
    plan.prefetched_inputs.push_back(v);
    --spare;
  }

  auto computes_exp = [&](const Sweep& sweep) {
    return sweep.online_softmax || sweep.extexp_sum || sweep.extexp_scale ||
           std::any_of(sweep.ops.begin(), sweep.ops.end(),
                       [&](int op) { return p.ops[static_cast<size_t>(op)].kind == OpKind::kExp; });
  };
  auto prefetches_input = [&](const Sweep& sweep) {
    return std::any_of(sweep.loads.begin(), sweep.loads.end(), [&](ValueId v) {
      return std::find(plan.prefetched_inputs.begin(), plan.prefetched_inputs.end(), v) != plan.prefetched_inputs.end();
    });
  };
  bool exp_sweeps_only = !out_of_cache && std::any_of(plan.sweeps.begin(), plan.sweeps.end(), computes_exp);
  for (size_t s = 0; s < plan.sweeps.size(); ++s) {
    Sweep& sweep = plan.sweeps[s];
    bool emitted = !(plan.blocked_exp && s == 0);
    sweep.prefetch = emitted && prefetches_input(sweep) && (!exp_sweeps_only || computes_exp(sweep));
  }
  return exp_sweeps_only;
}

}  // namespace

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
  // The blocked-exp schedule of three_pass_reload (see below) applies to a
  // plain softmax of an input x whose y = e / s multiplies by 1 / s.
  bool converts = std::any_of(p.ops.begin(), p.ops.end(), [](const Op& op) { return op.kind == OpKind::kConvert; });
  bool blocked_candidate = core && core->plain_softmax && p.value(core->x).kind == ValueKind::kInput && !converts &&
                           form_unusable(p, *core, SoftmaxForm::kThreePassReload, target).empty();
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
  SoftmaxForm form = plan.softmax_form;
  bool two_pass = form == SoftmaxForm::kTwoPassOnline || form == SoftmaxForm::kTwoPassExtExp;

  // Liveness: an op is live if a result is an output or feeds a live op.
  std::vector<bool> live_value(p.values.size(), false);
  for (ValueId v : p.outputs) live_value[static_cast<size_t>(v)] = true;
  std::vector<bool> live_op(p.ops.size(), false);
  for (size_t i = p.ops.size(); i-- > 0;) {
    for (ValueId r : p.ops[i].results) live_op[i] = live_op[i] || live_value[static_cast<size_t>(r)];
    if (live_op[i]) {
      for (ValueId v : p.ops[i].operands) live_value[static_cast<size_t>(v)] = true;
    }
  }
  // Ops that the extended-exponent sweeps replace.
  std::set<int> replaced;
  if (form == SoftmaxForm::kTwoPassExtExp) {
    replaced = {core->max_op, core->shift_op, core->exp_op, core->sum_op};
  }

  // Sweep assignment: a vector value is usable in the sweep that computes it; a
  // reduction result only in the next one. `avail` is that first sweep.
  std::vector<int> avail(p.values.size(), 0);
  std::vector<int> op_sweep(p.ops.size(), 0);
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const Op& op = p.ops[i];
    int s = 0;
    for (ValueId v : op.operands) s = std::max(s, avail[static_cast<size_t>(v)]);
    if (two_pass && static_cast<int>(i) == core->sum_op) s = op_sweep[static_cast<size_t>(core->max_op)];
    if (form == SoftmaxForm::kTwoPassExtExp && static_cast<int>(i) == core->normalize_op) s = 1;
    op_sweep[i] = s;
    for (ValueId r : op.results) avail[static_cast<size_t>(r)] = is_row_reduction(op.kind) ? s + 1 : s;
  }

  int sweep_count = 0;
  for (size_t i = 0; i < p.ops.size(); ++i) {
    if (live_op[i]) sweep_count = std::max(sweep_count, op_sweep[i] + 1);
  }
  plan.sweeps.resize(static_cast<size_t>(sweep_count));

  // Reload: the exp of the core is written into y's buffer in its sweep and
  // read back by y's sweep.
  ValueId spilled = kNoValue;
  if (form == SoftmaxForm::kThreePassReload) {
    spilled = p.ops[static_cast<size_t>(core->exp_op)].results[0];
    plan.spill_buffer[static_cast<size_t>(spilled)] = p.ops[static_cast<size_t>(core->normalize_op)].results[0];
  }

  for (int s = 0; s < sweep_count; ++s) {
    Sweep& sweep = plan.sweeps[static_cast<size_t>(s)];
    std::set<int> body;
    std::set<ValueId> reloads;
    // Adds op i to this sweep's body, recomputing vector operands from earlier sweeps.
    auto add_body = [&](auto&& self, int i) -> void {
      if (!body.insert(i).second) return;
      for (ValueId v : p.ops[static_cast<size_t>(i)].operands) {
        const Value& val = p.value(v);
        if (val.kind != ValueKind::kOpResult || val.type.shape.is_scalar()) continue;
        if (avail[static_cast<size_t>(v)] == s) continue;
        if (v == spilled) {
          reloads.insert(v);
          continue;
        }
        self(self, val.op);
      }
    };
    for (size_t i = 0; i < p.ops.size(); ++i) {
      if (!live_op[i] || op_sweep[i] != s || replaced.count(static_cast<int>(i))) continue;
      const Op& op = p.ops[i];
      bool scalar_result = p.value(op.results[0]).type.shape.is_scalar();
      if (is_row_reduction(op.kind)) {
        // The online sweep computes the max and the sum itself.
        if (two_pass && static_cast<int>(i) == core->sum_op) continue;
        if (form == SoftmaxForm::kTwoPassOnline && static_cast<int>(i) == core->max_op) continue;
        sweep.reductions.push_back(static_cast<int>(i));
        ValueId operand = op.operands[0];
        if (p.value(operand).kind == ValueKind::kOpResult && avail[static_cast<size_t>(operand)] == s) {
          add_body(add_body, p.value(operand).op);
        } else if (p.value(operand).kind == ValueKind::kOpResult) {
          add_body(add_body, p.value(operand).op);
        }
      } else if (scalar_result) {
        sweep.scalar_ops.push_back(static_cast<int>(i));
      } else {
        add_body(add_body, static_cast<int>(i));
      }
    }
    // Drop ops whose results nothing in this sweep uses: the exp that feeds
    // only a sum which a two-pass sweep already computed, for one.
    std::set<ValueId> needed;
    for (int i : sweep.reductions) needed.insert(p.ops[static_cast<size_t>(i)].operands[0]);
    for (auto it = body.rbegin(); it != body.rend();) {
      const Op& op = p.ops[static_cast<size_t>(*it)];
      ValueId r = op.results[0];
      bool written = op_sweep[static_cast<size_t>(*it)] == s && (is_output(p, r) || r == spilled);
      if (written || needed.count(r)) {
        for (ValueId v : op.operands) needed.insert(v);
        ++it;
      } else {
        it = std::make_reverse_iterator(body.erase(std::next(it).base()));
      }
    }
    sweep.ops.assign(body.begin(), body.end());  // std::set keeps program order
    sweep.reloads.assign(reloads.begin(), reloads.end());
    if (form == SoftmaxForm::kTwoPassOnline && s == op_sweep[static_cast<size_t>(core->max_op)]) {
      sweep.online_softmax = true;
    }
    if (form == SoftmaxForm::kTwoPassExtExp) {
      sweep.extexp_sum = s == 0;
      sweep.extexp_scale = s == 1;
    }

    // Loads and stores of row tensors.
    std::set<ValueId> loads;
    auto note_operand = [&](ValueId v) {
      const Value& val = p.value(v);
      if ((val.kind == ValueKind::kInput || val.kind == ValueKind::kParam) && val.type.shape.kind == Shape::Kind::kRow) {
        loads.insert(v);
      }
    };
    for (int i : sweep.ops) {
      for (ValueId v : p.ops[static_cast<size_t>(i)].operands) note_operand(v);
    }
    for (int i : sweep.reductions) note_operand(p.ops[static_cast<size_t>(i)].operands[0]);
    if (sweep.online_softmax || sweep.extexp_sum || sweep.extexp_scale) note_operand(core->x);
    sweep.loads.assign(loads.begin(), loads.end());
    for (int i : sweep.ops) {
      ValueId r = p.ops[static_cast<size_t>(i)].results[0];
      if (op_sweep[static_cast<size_t>(i)] == s && is_output(p, r)) sweep.stores.push_back(r);
      if (r == spilled && op_sweep[static_cast<size_t>(i)] == s) sweep.spills.push_back(r);
    }
  }

  // Bytes moved per element, counting each [n] tensor read or written per sweep.
  double bytes = 0;
  for (const Sweep& sweep : plan.sweeps) {
    bytes += 4.0 * static_cast<double>(sweep.loads.size() + sweep.reloads.size() + sweep.stores.size() +
                                       sweep.spills.size());
  }
  plan.bytes_per_element = bytes;

  // y = e / s for an output y: multiply by 1 / s, computed once per row. Not
  // where the quotient feeds a conversion (quantizers are bit-exact) or another
  // op (exp of a quotient would magnify the extra rounding).
  const auto users = users_of(p);
  for (size_t i = 0; i < p.ops.size() && !converts; ++i) {
    const Op& op = p.ops[i];
    if (op.kind != OpKind::kDiv || !live_op[i]) continue;
    const Value& divisor = p.value(op.operands[1]);
    bool per_row_scalar = divisor.type.shape.is_scalar() && divisor.kind != ValueKind::kConstant;
    bool vector_output = !p.value(op.results[0]).type.shape.is_scalar() && is_output(p, op.results[0]) &&
                         users[static_cast<size_t>(op.results[0])].empty();
    if (per_row_scalar && vector_output) {
      plan.reciprocal_divides.push_back(static_cast<int>(i));
      plan.reasons.push_back(p.display_name(op.results[0]) + " = " + p.display_name(op.operands[0]) + " / " +
                             p.display_name(op.operands[1]) + ": multiplies by the reciprocal, computed once per row");
    }
  }

  // Short rows (router logits) are dominated by the cost per row: measured at
  // n = 64 on AVX-512, one vector per iteration was 1.2x faster than four.
  bool short_row = n_hint > 0 && target.vector_bits > 0 && n_hint <= 8 * target.lanes();
  plan.unroll = choices.unroll.value_or(short_row ? 1 : 4);
  if (plan.unroll < 1 || plan.unroll > 8) {
    return Status(StatusCode::kInvalidArgument,
                  "unroll " + std::to_string(plan.unroll) + " is out of range; use 1 to 8 vectors per iteration");
  }
  std::string unroll_reason = choices.unroll ? ": forced"
                              : short_row    ? ": a row of at most 8 vectors costs its per-row overhead, not its loop"
                                             : ": four independent accumulators hide the latency of max and add";
  plan.reasons.push_back("unroll " + std::to_string(plan.unroll) + unroll_reason);

  // A short row is loaded into registers once and every sweep works there.
  // The two-pass forms exist to read memory less, which a resident row does
  // not, so residency goes with the three-pass forms and pipelines without a
  // softmax core.
  bool resident_form = form == SoftmaxForm::kNone || form == SoftmaxForm::kThreePassRecompute ||
                       form == SoftmaxForm::kThreePassReload;
  int lanes = target.vector_bits > 0 ? target.lanes() : 0;
  int64_t row_vectors = lanes > 0 && n_hint > 0 ? (n_hint + lanes - 1) / lanes : 0;
  if (choices.resident_vectors) {
    int v = *choices.resident_vectors;
    if (v < 0 || v > kMaxResidentVectors) {
      return Status(StatusCode::kInvalidArgument, "resident_vectors " + std::to_string(v) +
                                                      " is out of range; use 0 (never) to " +
                                                      std::to_string(kMaxResidentVectors));
    }
    if (v > 0 && !resident_form) {
      return Status(StatusCode::kInvalidArgument,
                    "cannot hold rows in registers with softmax form " + std::string(softmax_form_name(form)) +
                        ": resident rows go with three_pass_recompute, three_pass_reload or no softmax core");
    }
    plan.resident_vectors = v;
    if (v > 0) plan.reasons.push_back("rows of " + std::to_string(v) + " vectors held in registers: forced");
  } else if (plan.jit_supported && resident_form && row_vectors >= 1 &&
             row_vectors <= default_max_resident_vectors(target.vector_bits)) {
    plan.resident_vectors = static_cast<int>(row_vectors);
    plan.reasons.push_back("rows of " + std::to_string(row_vectors) +
                           " vectors held in registers: loaded once, no loops, no reloads (other lengths take the "
                           "loops)");
  }

  // Non-temporal stores skip the read for ownership of each output line, a
  // third less traffic for a two-pass softmax. They are several times slower
  // when the row would have stayed in cache, so they go with rows whose
  // tensors together exceed half the last-level cache.
  int64_t row_tensors = 0;
  for (ValueId v : p.inputs) row_tensors += p.value(v).type.shape.kind == Shape::Kind::kRow ? 1 : 0;
  for (ValueId v : p.outputs) row_tensors += p.value(v).type.shape.kind == Shape::Kind::kRow ? 1 : 0;
  int64_t working_set = n_hint * 4 * row_tensors;
  bool large = n_hint > 0 && working_set > target.llc_bytes / 2;
  plan.nontemporal_stores = choices.nontemporal_stores.value_or(large);
  bool writes_rows = writes_row_output(p);
  if (choices.nontemporal_stores) {
    plan.reasons.push_back(std::string("non-temporal stores ") + (plan.nontemporal_stores ? "on" : "off") +
                           ": forced" + (writes_rows ? "" : ", but the pipeline writes no row, so nothing streams"));
  } else if (large) {
    plan.reasons.push_back("non-temporal stores on: the row's tensors (" + std::to_string(working_set) +
                           " bytes) exceed half the last-level cache of " + std::to_string(target.llc_bytes) +
                           " bytes; rows whose outputs are not aligned to the vector width use regular stores");
  }
  // A resident row reads each input and writes each output once.
  if (plan.resident_vectors > 0 && n_hint > 0 && n_hint <= int64_t{plan.resident_vectors} * lanes) {
    std::set<ValueId> touched;
    for (const Sweep& sweep : plan.sweeps) {
      touched.insert(sweep.loads.begin(), sweep.loads.end());
      touched.insert(sweep.stores.begin(), sweep.stores.end());
    }
    plan.bytes_per_element = 4.0 * static_cast<double>(touched.size());
  }

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

  // Software prefetch for rows that stream from beyond the caches. In a
  // separate timing program on AVX-512 (Zen 5; docs/benchmarks.md), the online
  // form's first sweep went from 0.13 (4M) and 0.15 (32M) ns per element to
  // 0.10 with 16 KiB.
  //
  // Blocked exp prefetches one smallest block ahead, so that the next block
  // arrives in L1 during the current block's exp and its max pass reads it
  // from there. The same program measured 256K-element rows at 0.128 to
  // 0.135 ns per element with it against 0.148 to 0.152 without (8 KiB and
  // 32 KiB were slower than 16 KiB, the smallest AVX-512 block).
  //
  // Rows in cache prefetch 16 KiB ahead too, which in a batch brings the
  // next rows in during the current one (1024 log-softmax rows of 4096
  // elements: 0.254 to 0.220 ns per element). A short last row gives up its prefetches
  // past the end at run time (emit_prefetch_bases in jit/kernel_emitter.cpp).
  int block_bytes = kExpBlockIterations * plan.unroll * plan.vector_bits / 8;
  int default_prefetch = plan.blocked_exp ? block_bytes : 16384;
  plan.prefetch_bytes = choices.prefetch_bytes.value_or(default_prefetch);
  if (plan.prefetch_bytes < 0 || plan.prefetch_bytes > (1 << 20)) {
    return Status(StatusCode::kInvalidArgument, "prefetch distance " + std::to_string(plan.prefetch_bytes) +
                                                    " bytes is out of range; use 0 (none) to 1048576");
  }
  bool exp_sweeps_only = set_prefetching(p, target, plan, out_of_cache);
  std::string where = exp_sweeps_only ? " bytes ahead in the sweeps that compute exp" : " bytes ahead";
  // The copy of the kernel for resident rows prefetches in one sweep: the
  // rows ahead need their lines fetched once.
  auto prefetching = std::count_if(plan.sweeps.begin(), plan.sweeps.end(), [](const Sweep& s) { return s.prefetch; });
  if (plan.resident_vectors > 0 && prefetching > 1) where += kResidentPrefetchNote;
  if (!plan.jit_supported) {
    // The interpreter prefetches nothing.
  } else if (choices.prefetch_bytes) {
    plan.reasons.push_back("prefetch " + std::to_string(plan.prefetch_bytes) + where + ": forced");
  } else if (plan.blocked_exp) {
    plan.reasons.push_back("prefetch " + std::to_string(plan.prefetch_bytes) + where +
                           ": one block of blocked exp, so that the next block is in L1 when its " +
                           (plan.speculative_max ? "exp pass" : "max pass") + " starts");
  } else if (out_of_cache) {
    plan.reasons.push_back("prefetch " + std::to_string(plan.prefetch_bytes) + where +
                           ": the row streams from memory, and the hardware prefetcher alone "
                           "leaves the exp loops waiting for it");
  } else {
    plan.reasons.push_back("prefetch " + std::to_string(plan.prefetch_bytes) + where +
                           ": the rows of a batch arrive before their loads, and the last row of a call shorter "
                           "than 64 KiB prefetches only what it loads");
  }
  size_t row_inputs = static_cast<size_t>(std::count_if(
      p.inputs.begin(), p.inputs.end(), [&](ValueId v) { return p.value(v).type.shape.kind == Shape::Kind::kRow; }));
  size_t prefetched = plan.prefetched_inputs.size();
  if (plan.prefetch_bytes > 0 && plan.jit_supported && prefetched < row_inputs) {
    const std::string cause = ": the tensor pointers leave no other register for a prefetch base";
    if (prefetched == 0) {
      plan.reasons.push_back("no row input is prefetched" + cause);
    } else if (prefetched == 1) {
      plan.reasons.push_back("prefetches only the first row input" + cause);
    } else {
      plan.reasons.push_back("prefetches only the first " + std::to_string(prefetched) + " row inputs" + cause);
    }
  }
  // Exp groups (Plan::exp_group), measured in bench/softmax_bench against
  // exp_group 1 (docs/benchmarks.md): AVX-512 rows in cache 2 to 5% faster
  // with the four lanes of a step together. On AVX2, groups of four take
  // every register that held a constant and were 9% slower at 1K; groups of
  // two were 3% faster at 16K. Rows streamed from memory were up to 10%
  // slower with groups (32M, non-temporal stores), for reasons not found.
  // On Zen 4, which splits each zmm operation in two, blocked-exp rows of 16K
  // and 256K were 5 and 8% slower with groups of four, and 1 to 3% slower
  // with groups of two. Other shapes were within 2% (docs/benchmarks.md).
  bool groupable_exp = has_groupable_exp(plan);
  bool split_zmm = target.vector_bits == 512 && target.split_zmm;
  int widest = widest_exp_group(plan.unroll, target.vector_bits == 512 ? kMaxExpGroup : 2);
  int default_group = groupable_exp && !out_of_cache && !split_zmm ? widest : 1;
  plan.exp_group = choices.exp_group.value_or(default_group);
  if (plan.exp_group > 1 && !groupable_exp) {
    return Status(StatusCode::kInvalidArgument,
                  "exp group " + std::to_string(plan.exp_group) + " does not apply: pipeline '" + p.name +
                      "' has no softmax exp of x - max(x) to group under " +
                      (core ? "the form " + std::string(softmax_form_name(plan.softmax_form)) : "its plan") +
                      "; use exp group 1 or leave it to the planner");
  }
  if (plan.exp_group < 1 || plan.exp_group > kMaxExpGroup || plan.unroll % plan.exp_group != 0) {
    // The sizes the emitter can take: divisors of the unroll up to kMaxExpGroup.
    std::vector<int> group_sizes;
    for (int lanes = 1; lanes <= std::min(plan.unroll, kMaxExpGroup); ++lanes) {
      if (plan.unroll % lanes == 0) group_sizes.push_back(lanes);
    }
    std::string sizes;
    for (size_t i = 0; i < group_sizes.size(); ++i) {
      sizes += (i == 0 ? "" : i + 1 == group_sizes.size() ? " or " : ", ") + std::to_string(group_sizes[i]);
    }
    return Status(StatusCode::kInvalidArgument,
                  "exp group " + std::to_string(plan.exp_group) + " does not fit unroll " +
                      std::to_string(plan.unroll) + ": a group is a divisor of the unroll of at most " +
                      std::to_string(kMaxExpGroup) + " lanes; use " + sizes);
  }
  if (choices.exp_group) {
    plan.reasons.push_back((plan.exp_group == 1 ? std::string("exps one vector at a time")
                                                : "exps in groups of " + std::to_string(plan.exp_group)) +
                           ": forced");
  } else if (groupable_exp && plan.exp_group == 1 && split_zmm) {
    plan.reasons.push_back(
        "exps one vector at a time: this CPU runs each 512-bit operation as two halves, where groups were slower");
  } else if (groupable_exp && plan.exp_group == 1 && out_of_cache) {
    plan.reasons.push_back("exps one vector at a time: the row streams from memory, where groups were slower");
  } else if (groupable_exp && plan.exp_group > 1) {
    plan.reasons.push_back("exps in groups of " + std::to_string(plan.exp_group) +
                           ": the lanes' exp chains side by side in the code, where the registers hold them");
  }
  // The bound for streaming applied to a whole call and checked by the kernel
  // at run time. It needs a sweep that reloads nothing and writes outputs that
  // no later sweep reloads. Blocked exp keeps its outputs in cache.
  bool streamable_sweep = false;
  for (size_t s = 0; s < plan.sweeps.size(); ++s) {
    streamable_sweep = streamable_sweep || (stores_are_final(plan, s) && plan.sweeps[s].reloads.empty());
  }
  if (plan.jit_supported && !choices.nontemporal_stores && !plan.nontemporal_stores && !plan.blocked_exp &&
      streamable_sweep && row_tensors > 0) {
    plan.nontemporal_call_bytes = target.llc_bytes / 2 / row_tensors;
    plan.reasons.push_back("non-temporal stores in calls whose row tensors exceed half the last-level cache of " +
                           std::to_string(target.llc_bytes) + " bytes (rows x n above " +
                           std::to_string(plan.nontemporal_call_bytes / 4) +
                           "), in the sweep that writes the outputs; regular stores otherwise");
  }
  if (!plan.jit_supported) plan.reasons.push_back("interpreter: " + plan.unsupported_reason);
  return plan;
}

}  // namespace rowjit::ir
