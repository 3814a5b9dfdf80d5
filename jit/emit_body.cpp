// Loop bodies: the loads, ops, stores and accumulations of one vector of a
// sweep, and the groups of unroll lanes whose softmax exps are emitted
// together.
//
// Exp groups (Plan::exp_group): the softmax exp is a chain of about a dozen
// dependent instructions per vector. Emitted one vector after another, the
// chains of an unrolled step follow each other in the instruction stream, and
// the core overlaps them only as far as its scheduler reaches ahead. A group
// emits the lanes' loads and ops one op at a time over all lanes, and the exp
// one instruction at a time over all lanes (emit_exp_nonpositive on a span),
// so the chains sit side by side. Each lane but the first needs its own exp
// scratch registers, which the sweep lends from its free registers; the group
// shrinks to what fits.
#include <algorithm>
#include <bit>

#include "jit/kernel_emitter.h"

namespace rowjit::jit {

using namespace Xbyak;
using namespace Xbyak::util;
using ir::ValueId;

void KernelEmitter::load_row(const Xmm& dst, ValueId tensor, const BodyMode& mode) {
  Address src = row_element(tensor, mode);
  if (!mode.masked) {
    vmovups(dst, src);
  } else if (target_.avx512) {
    vmovups(dst | k1 | T_z, src);
  } else {
    load_tail_avx2(dst, tensor_reg_.at(tensor), kIndex, mode.byte_offset);
  }
}

void KernelEmitter::store_row(ValueId tensor, const Xmm& src, const BodyMode& mode) {
  Address dst = row_element(tensor, mode);
  if (!mode.masked && mode.nontemporal) {
    vmovntps(dst, src);
  } else if (!mode.masked) {
    vmovups(dst, src);
  } else if (target_.avx512) {
    vmovups(dst | k1, src);
  } else {
    store_tail_avx2(tensor_reg_.at(tensor), kIndex, mode.byte_offset, src);
  }
}

// True if `value` is a resident row's value that a later sweep reads: its
// register outlives this body.
bool KernelEmitter::held_for_later(ValueId value, const BodyMode& mode) const {
  if (mode.resident_vector < 0 || !resident_reg_.count({value, mode.resident_vector})) return false;
  auto last = resident_last_sweep_.find(value);
  return last != resident_last_sweep_.end() && last->second > sweep_index_;
}

// Frees the register of a body value that is dead.
void KernelEmitter::release_value(ValueId value, const BodyMode& mode) {
  free_register(vreg_of_.at(value));
  vreg_of_.erase(value);
  if (mode.resident_vector >= 0) resident_reg_.erase({value, mode.resident_vector});
}

// Frees the register of `value` if the body reads it no more after `position`.
void KernelEmitter::release_if_dead(ValueId value, int position, const BodyMode& mode) {
  if (pinned_.count(value) || !vreg_of_.count(value) || held_for_later(value, mode)) return;
  auto it = last_use_.find(value);
  if (it == last_use_.end() || it->second <= position) release_value(value, mode);
}

// A resident row keeps the register of a value that a later sweep reads again.
void KernelEmitter::keep_if_read_later(ValueId value, const Xmm& reg, const BodyMode& mode) {
  auto last = resident_last_sweep_.find(value);
  if (last != resident_last_sweep_.end() && last->second > sweep_index_) {
    resident_reg_[{value, mode.resident_vector}] = reg;
  }
}

void KernelEmitter::emit_body(const ir::Sweep& sweep, const BodyMode& mode) {
  begin_body(sweep, mode);
  for (size_t position = 0; position < sweep.ops.size(); ++position) emit_body_op(sweep, position, mode);
  accumulate_reductions(mode);
  if (sweep.online_softmax) {
    const Xmm x = value_register(plan_.core.x);
    accumulate_online(std::span<const Xmm>(&x, 1), std::span<const BodyMode>(&mode, 1));
  }
  end_body(sweep, mode);
}

// Prefetches, and loads the sweep's inputs and the values an earlier sweep
// spilled.
void KernelEmitter::begin_body(const ir::Sweep& sweep, const BodyMode& mode) {
  bool resident = mode.resident_vector >= 0;
  // One prefetch per cache line of each row input, prefetch_bytes ahead, in
  // the sweeps the planner chose (Sweep::prefetch). A resident row, whose
  // sweeps after the first read registers, prefetches the rows ahead in the
  // first of those sweeps only, the line of its masked last vector too.
  bool line_start = (mode.byte_offset % 64) == 0;
  bool prefetches = resident ? sweep_index_ == resident_prefetch_sweep_ : sweep.prefetch && !mode.masked;
  if (prefetches && plan_.prefetch_bytes > 0 && line_start) {
    for (ValueId v : sweep.loads) {
      auto base = prefetch_reg_.find(v);
      if (base != prefetch_reg_.end()) prefetcht0(ptr[base->second + kIndex + mode.byte_offset + plan_.prefetch_bytes]);
    }
  }
  for (ValueId v : sweep.loads) {
    auto kept = resident ? resident_reg_.find({v, mode.resident_vector}) : resident_reg_.end();
    if (kept != resident_reg_.end()) {
      vreg_of_[v] = kept->second;
      continue;
    }
    Xmm reg = take_register();
    load_row(reg, v, mode);
    vreg_of_[v] = reg;
    if (resident) keep_if_read_later(v, reg, mode);
    if (speculating_ && v == plan_.core.x) raise_block_max(reg, mode);
  }
  for (ValueId v : sweep.reloads) {
    if (resident) {
      vreg_of_[v] = resident_reg_.at({v, mode.resident_vector});
      continue;
    }
    Xmm reg = take_register();
    load_row(reg, plan_.spill_buffer[static_cast<size_t>(v)], mode);
    vreg_of_[v] = reg;
  }
}

// Returns the operand registers of the op at `position` and sets `dst` to a
// register for its result, which may be an operand's if that operand dies there.
std::vector<Xmm> KernelEmitter::start_op(const ir::Sweep& sweep, size_t position, const BodyMode& mode,
                                         Xmm& dst) {
  const ir::Op& op = p_.ops[static_cast<size_t>(sweep.ops[position])];
  if (mode.lane == 0 && !mode.masked) mark_op_once(sweep.ops[position]);
  std::vector<Xmm> operands;
  for (ValueId v : op.operands) operands.push_back(value_register(v));
  for (ValueId v : op.operands) release_if_dead(v, static_cast<int>(position), mode);
  dst = take_register();
  vreg_of_[op.results[0]] = dst;
  return operands;
}

// Stores or spills the result of the op at `position`, and frees it if dead.
void KernelEmitter::finish_op(const ir::Sweep& sweep, size_t position, const BodyMode& mode) {
  ValueId result = p_.ops[static_cast<size_t>(sweep.ops[position])].results[0];
  const Xmm dst = vreg_of_.at(result);
  bool resident = mode.resident_vector >= 0;
  if (std::find(sweep.stores.begin(), sweep.stores.end(), result) != sweep.stores.end()) {
    store_row(result, dst, mode);
  }
  if (std::find(sweep.spills.begin(), sweep.spills.end(), result) != sweep.spills.end()) {
    if (resident) keep_if_read_later(result, dst, mode);
    else store_row(plan_.spill_buffer[static_cast<size_t>(result)], dst, mode);
  }
  release_if_dead(result, static_cast<int>(position), mode);
}

void KernelEmitter::emit_body_op(const ir::Sweep& sweep, size_t position, const BodyMode& mode) {
  const ir::Op& op = p_.ops[static_cast<size_t>(sweep.ops[position])];
  if (sweep.extexp_scale && sweep.ops[position] == plan_.core.normalize_op) {
    // y = e / s from the extended-exponent sum: computed from x alone.
    if (mode.lane == 0 && !mode.masked) mark_op_once(sweep.ops[position]);
    Xmm dst = take_register();
    vreg_of_[op.results[0]] = dst;
    emit_extexp_scale(dst, value_register(plan_.core.x));
  } else {
    Xmm dst;
    std::vector<Xmm> operands = start_op(sweep, position, mode, dst);
    emit_op(op, dst, operands);
  }
  finish_op(sweep, position, mode);
}

void KernelEmitter::accumulate_reductions(const BodyMode& mode) {
  for (Reduction& r : reductions_) {
    accumulate_reduction(r, value_register(p_.ops[static_cast<size_t>(r.op)].operands[0]), mode);
  }
}

// Everything the body loaded or computed dies here, except pinned scalars and
// what a resident row keeps for a later sweep.
void KernelEmitter::end_body(const ir::Sweep& sweep, const BodyMode& mode) {
  if (sweep.extexp_sum) accumulate_extexp(value_register(plan_.core.x), mode);
  std::vector<ValueId> leftovers;
  for (const auto& [v, reg] : vreg_of_) {
    if (!pinned_.count(v)) leftovers.push_back(v);
  }
  for (ValueId v : leftovers) {
    if (held_for_later(v, mode)) vreg_of_.erase(v);
    else release_value(v, mode);
  }
}

// The statement of op `op_index` for the listing's marks. The pipeline's
// statements are printed once: printing one names every value, so a mark per
// op took time quadratic in the op count (a 1000-op pipeline took a second to
// compile).
const std::string& KernelEmitter::op_statement(int op_index) {
  if (op_statements_.empty()) op_statements_ = ir::print_ops(p_);
  return op_statements_[static_cast<size_t>(op_index)];
}

void KernelEmitter::mark_op_once(int op_index) {
  if (marked_ops_.insert({sweep_, op_index}).second) {
    mark("op: " + op_statement(op_index));
  }
}

// ---- exp groups ---------------------------------------------------------

// True if the op at `position` of `sweep` is the softmax core's exp of a
// value <= 0, the exp that groups emit together.
bool KernelEmitter::is_group_exp(const ir::Sweep& sweep, size_t position) const {
  return sweep.ops[position] == plan_.core.exp_op && plan_.core.exp_input_nonpositive && !sweep.extexp_scale;
}

// Scratch registers of the exp of lane `index` in a group: the math scratch
// for lane 0, free registers for the others.
ExpLane KernelEmitter::exp_lane_scratch(size_t index) {
  ExpLane lane;
  if (index == 0) {
    lane.t = scratch_.vec[0];
    lane.v = scratch_.vec[1];
    lane.in_range = scratch_.mask[0];
    return lane;
  }
  lane.t = take_register();
  lane.v = take_register();
  lane.in_range = index == 1 ? scratch_.mask[1] : Opmask(static_cast<int>(index) + 2);
  return lane;
}

void KernelEmitter::return_exp_scratch(std::span<const ExpLane> lanes) {
  for (size_t i = 1; i < lanes.size(); ++i) {
    free_register(lanes[i].v);
    free_register(lanes[i].t);
  }
}

// Returns the peak count of vector registers that one lane of `sweep`'s body
// takes, counting the two exp scratch registers that lanes after the first
// borrow (and the online form's exp argument).
int KernelEmitter::body_registers_per_lane(const ir::Sweep& sweep) const {
  auto is_row_value = [&](ValueId v) { return !p_.value(v).type.shape.is_scalar(); };
  std::set<ValueId> live(sweep.loads.begin(), sweep.loads.end());
  live.insert(sweep.reloads.begin(), sweep.reloads.end());
  int peak = static_cast<int>(live.size());
  for (size_t position = 0; position < sweep.ops.size(); ++position) {
    const ir::Op& op = p_.ops[static_cast<size_t>(sweep.ops[position])];
    for (ValueId v : op.operands) {
      auto last = last_use_.find(v);
      if (is_row_value(v) && last != last_use_.end() && last->second <= static_cast<int>(position)) live.erase(v);
    }
    live.insert(op.results[0]);
    int scratch = is_group_exp(sweep, position) ? 2 : 0;
    peak = std::max(peak, static_cast<int>(live.size()) + scratch);
    auto last = last_use_.find(op.results[0]);
    if (last == last_use_.end() || last->second <= static_cast<int>(position)) live.erase(op.results[0]);
  }
  if (sweep.online_softmax) peak = std::max(peak, static_cast<int>(live.size()) + 3);
  return peak;
}

// Returns the lanes per exp group in `sweep`'s main loop: the plan's
// exp_group, lowered to a divisor of the unroll that fits in `free`
// registers, or 1 where the sweep has no softmax exp.
int KernelEmitter::choose_exp_group(const ir::Sweep& sweep, int free) const {
  bool has_exp = sweep.online_softmax && plan_.core.exp_input_nonpositive;
  for (size_t position = 0; position < sweep.ops.size(); ++position) has_exp = has_exp || is_group_exp(sweep, position);
  if (!has_exp) return 1;
  // Lane 0 takes its exp scratch from the math scratch, and its online exp
  // argument is the online state's temp0.
  int per_lane = body_registers_per_lane(sweep);
  int lane0_lent = sweep.online_softmax ? 3 : 2;
  // Lanes 0 and 1 take the math scratch masks k2 and k3, the others k4 to k7.
  for (int group = std::min({plan_.exp_group, unroll_, ir::kMaxExpGroup}); group > 1; --group) {
    if (unroll_ % group == 0 && group * per_lane - lane0_lent <= free) return group;
  }
  return 1;
}

// Returns whether the main loop of `sweep` takes its lanes two at a time
// (lane_pairs_). That needs a sum with one accumulator for every lane (the
// AVX2 softmax sum outside resident rows), registers for an exp group of two,
// and an unroll of 2, 4 or 8. Every exp group of those is 1 or even, so every
// group pairs the same lanes. At unroll 6 a group of 3 would split a pair,
// and the sums of different groups would differ. Pairs without exp groups
// need fewer registers, because the second lane's exp borrows none.
bool KernelEmitter::sum_pairs_fit(const ir::Sweep& sweep, int free) const {
  bool power_of_two_unroll = unroll_ >= 2 && std::has_single_bit(static_cast<unsigned>(unroll_));
  if (shared_accumulator_sum() == nullptr || sweep.online_softmax || !power_of_two_unroll) return false;
  return 2 * body_registers_per_lane(sweep) - 2 <= free;
}

// Emits the softmax exp at `position` for every lane of a group, one
// instruction over all lanes at a time. lane_values[i] is lane i's map of body
// values.
void KernelEmitter::emit_group_exp(const ir::Sweep& sweep, size_t position, std::span<const BodyMode> modes,
                                   std::vector<std::map<ValueId, Xmm>>& lane_values) {
  std::vector<ExpLane> lanes;
  for (size_t i = 0; i < modes.size(); ++i) {
    vreg_of_.swap(lane_values[i]);
    Xmm dst;
    std::vector<Xmm> operands = start_op(sweep, position, modes[i], dst);
    vreg_of_.swap(lane_values[i]);
    ExpLane lane = exp_lane_scratch(i);
    lane.dst = dst;
    lane.src = operands[0];
    lanes.push_back(lane);
  }
  MathEmitter m = math();
  emit_exp_nonpositive(m, lanes, exp_in_range_ ? ExpUnderflow::kArgumentsInRange : ExpUnderflow::kGuard);
  return_exp_scratch(lanes);
  for (size_t i = 0; i < modes.size(); ++i) {
    vreg_of_.swap(lane_values[i]);
    finish_op(sweep, position, modes[i]);
    vreg_of_.swap(lane_values[i]);
  }
}

// Emits the bodies of one main-loop step: lanes in groups of exp_group_ (see
// the top of this file), or one after another. Under lane_pairs_, lanes
// without exp groups go two at a time, their exps one after the other, so
// that their sums pair up as in a group.
void KernelEmitter::emit_step_bodies(const ir::Sweep& sweep, std::span<const BodyMode> modes) {
  if (exp_group_ <= 1 && lane_pairs_) {
    for (size_t first = 0; first < modes.size(); first += 2) emit_body_group(sweep, modes.subspan(first, 2), false);
    return;
  }
  if (exp_group_ <= 1) {
    for (const BodyMode& mode : modes) emit_body(sweep, mode);
    return;
  }
  for (size_t first = 0; first < modes.size(); first += static_cast<size_t>(exp_group_)) {
    emit_body_group(sweep, modes.subspan(first, std::min(modes.size() - first, static_cast<size_t>(exp_group_))));
  }
}

void KernelEmitter::emit_body_group(const ir::Sweep& sweep, std::span<const BodyMode> modes,
                                    bool exps_side_by_side) {
  // Each lane keeps its own map of body values. All of them start from the
  // pinned scalars, which are all that vreg_of_ contains between bodies.
  const std::map<ValueId, Xmm> shared = vreg_of_;
  std::vector<std::map<ValueId, Xmm>> lane_values(modes.size(), shared);
  auto each_lane = [&](auto&& emit) {
    for (size_t i = 0; i < modes.size(); ++i) {
      vreg_of_.swap(lane_values[i]);
      emit(modes[i]);
      vreg_of_.swap(lane_values[i]);
    }
  };
  if (!exps_side_by_side) {
    each_lane([&](const BodyMode& mode) {
      begin_body(sweep, mode);
      for (size_t position = 0; position < sweep.ops.size(); ++position) emit_body_op(sweep, position, mode);
    });
  } else {
    each_lane([&](const BodyMode& mode) { begin_body(sweep, mode); });
    for (size_t position = 0; position < sweep.ops.size(); ++position) {
      if (is_group_exp(sweep, position)) {
        emit_group_exp(sweep, position, modes, lane_values);
      } else {
        each_lane([&](const BodyMode& mode) { emit_body_op(sweep, position, mode); });
      }
    }
  }
  accumulate_group_reductions(modes, lane_values);
  if (sweep.online_softmax) {
    std::vector<Xmm> xs;
    for (const auto& values : lane_values) xs.push_back(values.at(plan_.core.x));
    accumulate_online(xs, modes);
  }
  each_lane([&](const BodyMode& mode) { end_body(sweep, mode); });
  vreg_of_ = shared;
}

// Accumulates the reductions of a group's lanes (main-loop steps, never
// masked). A sum whose one accumulator takes every lane adds the lanes' values
// in pairs first (adds_lanes_in_pairs); an odd last lane goes in alone. Groups
// of an even size pair the same lanes as the pairs of lanes without groups,
// so the two give the same sums.
void KernelEmitter::accumulate_group_reductions(std::span<const BodyMode> modes,
                                                std::vector<std::map<ValueId, Xmm>>& lane_values) {
  for (Reduction& r : reductions_) {
    ValueId operand = p_.ops[static_cast<size_t>(r.op)].operands[0];
    size_t i = 0;
    if (adds_lanes_in_pairs(r)) {
      const Xmm& pair = scratch_.vec[1];
      for (; i + 1 < modes.size(); i += 2) {
        vaddps(pair, lane_values[i].at(operand), lane_values[i + 1].at(operand));
        vaddps(r.acc[0], r.acc[0], pair);
      }
    }
    for (; i < modes.size(); ++i) {
      vreg_of_.swap(lane_values[i]);
      accumulate_reduction(r, value_register(operand), modes[i]);
      vreg_of_.swap(lane_values[i]);
    }
  }
}

}  // namespace rowjit::jit
