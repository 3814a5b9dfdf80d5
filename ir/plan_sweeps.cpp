// The planner's sweeps: which ops run in which pass over the row, what each
// pass loads, stores, spills and reloads, and the divisions that multiply by
// a reciprocal computed once per row.
//
// Every op goes into the earliest sweep it can run in: a vector value is
// usable in the sweep that computes it, a reduction's result only in the
// next. A vector operand from an earlier sweep is computed again in the
// sweep that needs it (recompute), except the exp that three_pass_reload
// writes into y's buffer and reads back (reload).
#include <algorithm>
#include <set>

#include "ir/planner_internal.h"

namespace rowjit::ir::planning {

void assign_sweeps(const PlanContext& context, Plan& plan) {
  const Pipeline& p = context.p;
  const SoftmaxCore* core = context.core;
  const bool converts = context.converts;
  const SoftmaxForm form = plan.softmax_form;
  const bool two_pass = form == SoftmaxForm::kTwoPassOnline || form == SoftmaxForm::kTwoPassExtExp;

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
}

}  // namespace rowjit::ir::planning
