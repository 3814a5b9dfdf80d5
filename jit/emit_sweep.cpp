// One sweep of a row: the registers its loops need, the loops themselves, and
// the copies of those loops that some rows take instead.
//
// A sweep runs its per-row scalar ops, takes registers for its reductions,
// broadcast scalars, reciprocals and pinned constants, then emits its loops
// (or one body per vector for a row held in registers). Some rows need other
// code than the rest, and get a copy of the loops, chosen per row by a test
// before them:
//   - rows whose range lets the exp leave out its underflow guard
//     (emit_exp_range.cpp);
//   - rows whose 1 / s is not a normal float;
//   - rows of the extended-exponent form whose max is too large for its pairs
//     of exp(x) (emit_extexp.cpp);
//   - aligned rows that stream their stores.
#include <algorithm>
#include <bit>
#include <cfloat>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "ir/target.h"
#include "jit/kernel_emitter.h"

namespace rowjit::jit {

using namespace Xbyak;
using namespace Xbyak::util;
using ir::ValueId;

// Emits one sweep of the row: its per-row scalar ops, then its loops, or for a
// resident row one body per vector. `instead`, when given, replaces the plan's
// sweep at that index (the extexp sum alone, emit_extexp_sum_sweep).
Status KernelEmitter::emit_sweep(int sweep_index, bool resident, bool blocked, const ir::Sweep* instead) {
  const ir::Sweep& sweep = instead != nullptr ? *instead : plan_.sweeps[static_cast<size_t>(sweep_index)];
  sweep_ = &sweep;
  sweep_index_ = sweep_index;
  // The resident and blocked copies keep their own constant statistics,
  // after the loops'.
  size_t stats_index = static_cast<size_t>(sweep_index) + (resident ? plan_.sweeps.size() : 0) +
                       (blocked ? 2 * plan_.sweeps.size() : 0);
  SweepShape shape;
  shape.resident = resident;
  shape.blocked = blocked;
  // Blocked exp: the sweep of block maxima and sums, then the last sweep,
  // which scales each block of a softmax, shifts each block of a log-softmax,
  // or uses only the row's max and sum (a logsumexp).
  shape.block_maxima = blocked && !sweep.reductions.empty();
  shape.scales_blocks = blocked && !shape.block_maxima && plan_.softmax_form == ir::SoftmaxForm::kThreePassReload;
  // A log-softmax's y = d - l whose d the blocked sweep wrote per block.
  shape.shifts_blocks = blocked && !shape.block_maxima && !shape.scales_blocks && !sweep.reloads.empty();
  mark(extexp_shifted_ ? "sweep " + std::to_string(sweep_index) + " again, " + extexp_shifted_mark()
                       : "sweep " + std::to_string(sweep_index));
  // A resident row has at most kMaxResidentVectors vectors: two accumulators
  // per reduction are enough to overlap them.
  allocate_sweep_registers(sweep, resident ? std::min({unroll_target_, resident_vectors_, 2}) : unroll_target_);
  emit_scalar_ops(sweep);

  bool has_loop = !sweep.ops.empty() || !sweep.reductions.empty() || sweep.online_softmax || sweep.extexp_sum;
  if (!has_loop) {
    release_carried();
    return error_;
  }

  init_reductions(sweep, resident);
  if (sweep.online_softmax) init_online();
  if (sweep.extexp_sum) init_extexp();
  take_sweep_scalars(sweep);
  release_carried();
  take_block_registers(sweep, shape);

  // Exp groups take their registers before the constants do, in both
  // emissions alike, so that the first one measures what is left for them.
  exp_group_ = resident ? 1 : choose_exp_group(sweep, static_cast<int>(free_vregs_.size()));
  lane_pairs_ = !resident && sum_pairs_fit(sweep, static_cast<int>(free_vregs_.size()));
  max_exp_group_ = std::max(max_exp_group_, exp_group_);

  // Constants that the first emission found in these loops, held in registers
  // so that each use is not a load from the pool.
  std::vector<Xmm> pinned_constants;
  if (stats_index < pin_plan_.size()) {
    for (uint32_t bits : pin_plan_[stats_index]) {
      Xmm reg = take_register();
      vmovups(reg, pool_.address_of(bits));
      pool_.pin(bits, reg);
      pinned_constants.push_back(reg);
    }
  }
  pool_.reset_uses();
  min_free_ = free_vregs_.size();

  // Non-temporal stores need aligned addresses. Rows whose output pointers are
  // all aligned to the vector width take a copy of the loops that streams its
  // stores, and other rows take the regular copy.
  // A sweep that reloads a value rewrites lines that an earlier sweep wrote
  // and that are still in cache. Streaming those stores measured 1.6x slower
  // (softmax three_pass_reload, 1024 rows of 4096, AVX-512), so the switch by
  // call size leaves such sweeps alone.
  shape.streams_stores = ir::stores_are_final(plan_, static_cast<size_t>(sweep_index)) &&
                         (plan_.nontemporal_stores || (plan_.nontemporal_call_bytes > 0 && sweep.reloads.empty()));
  // The sum of a softmax core is at least 1 (its max element adds exp(0)),
  // 0 for a row of -inf, or NaN, so its reciprocal needs no guard.
  for (const auto& [divisor, reciprocal] : reciprocal_of_) {
    bool core_sum = plan_.softmax_form != ir::SoftmaxForm::kNone &&
                    divisor == p_.ops[static_cast<size_t>(plan_.core.sum_op)].results[0];
    shape.guarded = shape.guarded || !core_sum;
  }

  if (sweep.extexp_scale) {
    // Rows whose max is too large for the pairs of exp(x) take a copy of the
    // loops on x - max (emit_extexp_sum_sweep).
    Label shifted;
    cmp(dword[rsp + extexp_shifted_offset_], 0);
    jne(shifted, T_NEAR);
    emit_copy_pair(shifted, "", [&] { emit_loop_copies(sweep, shape); }, "loops " + extexp_shifted_mark(),
                   [&] {
                     extexp_shifted_ = true;
                     emit_loop_copies(sweep, shape);
                     extexp_shifted_ = false;
                   });
  } else {
    emit_loop_copies(sweep, shape);
  }

  // The copy of an extexp sum sweep on x - max leaves the statistics of the
  // first copy, which pins the same constants in both.
  if (sweep_constant_uses_.size() <= stats_index) {
    sweep_constant_uses_.resize(stats_index + 1);
    sweep_min_free_.resize(stats_index + 1, 0);
  }
  if (!extexp_shifted_) {
    sweep_constant_uses_[stats_index] = pool_.uses();
    sweep_min_free_[stats_index] = static_cast<int>(min_free_);
  }
  pool_.unpin_all();
  for (const Xmm& reg : pinned_constants) free_register(reg);

  mark("sweep " + std::to_string(sweep_index) + " results");
  if (shape.block_maxima) {
    emit_block_totals();
    return error_;
  }
  finish_reductions(resident);
  if (sweep.online_softmax) finish_online();
  if (sweep.extexp_sum) finish_extexp();
  return error_;
}

// Broadcasts every scalar that the body of `sweep` reads into a register of
// its own, and the reciprocals of its per-row divisors (once per row instead
// of a division per vector).
void KernelEmitter::take_sweep_scalars(const ir::Sweep& sweep) {
  std::set<ValueId> scalars;
  for (int i : sweep.ops) {
    for (ValueId v : p_.ops[static_cast<size_t>(i)].operands) {
      if (p_.value(v).type.shape.is_scalar()) scalars.insert(v);
    }
  }
  if ((sweep.online_softmax) && plan_.core.scale != ir::kNoValue) scalars.insert(plan_.core.scale);
  // Each literal of the pipeline is a value of its own, so literals of the
  // same f32 value share one register.
  // NOTE: distinct literals still take a register each for the whole sweep. A
  // chain with about 10 of them on AVX2 (27 on AVX-512) runs on the
  // interpreter, with a log line.
  std::map<uint32_t, Xmm> literal_registers;
  for (ValueId v : scalars) {
    const ir::Value& value = p_.value(v);
    std::optional<uint32_t> literal;
    if (value.kind == ir::ValueKind::kConstant) literal = std::bit_cast<uint32_t>(static_cast<float>(value.constant));
    auto shared = literal ? literal_registers.find(*literal) : literal_registers.end();
    if (shared != literal_registers.end()) {
      vreg_of_[v] = shared->second;
    } else {
      Xmm reg = take_register();
      load_scalar(reg, v);
      vreg_of_[v] = reg;
      if (literal) literal_registers.emplace(*literal, reg);
    }
    pinned_.insert(v);
  }
  for (int i : sweep.ops) {
    const auto& divides = plan_.reciprocal_divides;
    if (std::find(divides.begin(), divides.end(), i) == divides.end()) continue;
    ValueId divisor = p_.ops[static_cast<size_t>(i)].operands[1];
    if (reciprocal_of_.count(divisor)) continue;
    Xmm reg = take_register();
    if (target_.avx512) {
      // Only one lane is needed, and a zmm division occupies the divider
      // longer than an xmm one: divide in xmm, then broadcast. Softmax rows
      // of 64 elements ran 4% faster so on an Intel Xeon (docs/jit.md).
      const Xmm quotient(reg.getIdx());
      const Xmm one(scratch_.vec[0].getIdx());
      load_scalar(quotient, divisor);
      vmovups(one, pool_.vector(1.0f));
      vdivps(quotient, one, quotient);
      vbroadcastss(reg, quotient);
    } else {
      load_scalar(reg, divisor);
      vmovups(scratch_.vec[0], pool_.vector(1.0f));
      vdivps(reg, scratch_.vec[0], reg);
    }
    reciprocal_of_[divisor] = reg;
  }
  if (sweep.extexp_scale) {
    extexp_inv_reg_ = take_register();
    extexp_exp_reg_ = take_register();
    vbroadcastss(extexp_inv_reg_, dword[rsp + extexp_inv_offset_]);
    vbroadcastss(extexp_exp_reg_, dword[rsp + extexp_exp_offset_]);
  }
}

// Registers of the blocked exp sweeps: the block maxima's accumulators, or
// the row's max and the per-block shift or factor of the last sweep.
void KernelEmitter::take_block_registers(const ir::Sweep& sweep, const SweepShape& shape) {
  if (shape.block_maxima) {
    // AVX2 has half the registers: two accumulators keep a max pass at one
    // vector per cycle and leave the exp constants in registers.
    int accumulators = target_.avx512 ? unroll_ : std::min(unroll_, 2);
    block_max_acc_.clear();
    for (int lane = 0; lane < accumulators; ++lane) block_max_acc_.push_back(take_register());
  } else if (shape.shifts_blocks) {
    // The body subtracts the block's (M - m_b) + l where it would subtract l.
    ValueId m = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
    block_shift_value_ = p_.ops[static_cast<size_t>(sweep.ops[0])].operands[1];
    block_row_max_ = take_register();
    load_scalar(block_row_max_, m);
    block_log_sum_ = take_register();
    vmovaps(block_log_sum_, vreg_of_.at(block_shift_value_));
  } else if (shape.scales_blocks) {
    // The body multiplies by the block's factor where it would by 1 / S.
    ValueId s = p_.ops[static_cast<size_t>(plan_.core.sum_op)].results[0];
    ValueId m = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
    block_inverse_sum_ = reciprocal_of_.at(s);
    block_row_max_ = take_register();
    load_scalar(block_row_max_, m);
    block_factor_ = take_register();
    reciprocal_of_[s] = block_factor_;
  }
}

// Emits `first`, then `second` at the label `second_entry` that a test before
// them jumps to, each under its mark (none when empty), and joins them after.
// Both start from the same register state and must end in the same.
void KernelEmitter::emit_copy_pair(Label& second_entry, const std::string& first_mark,
                                   const std::function<void()>& first, const std::string& second_mark,
                                   const std::function<void()>& second) {
  Label joined;
  auto resident_before = resident_reg_;
  auto free_before = free_vregs_;
  if (!first_mark.empty()) mark(first_mark);
  first();
  jmp(joined, T_NEAR);
  L(second_entry);
  if (!second_mark.empty()) mark(second_mark);
  auto resident_after = resident_reg_;
  resident_reg_ = resident_before;
  free_vregs_ = free_before;
  second();
  if (resident_reg_ != resident_after && error_.is_ok()) {
    error_ = Status(StatusCode::kInternal, "two copies of the loops of sweep " + std::to_string(sweep_index_) +
                                               " left different registers");
  }
  L(joined);
}

// The loops of `sweep`, in a copy without the exp's guard for rows whose range
// allows it, or a copy that divides for rows whose 1 / s is not a normal
// float, next to the usual one.
void KernelEmitter::emit_loop_copies(const ir::Sweep& sweep, const SweepShape& shape) {
  if (exp_range_sweeps_.count(sweep_index_) && row_min_taken_ && !shape.blocked && !shape.guarded) {
    Label with_guard;
    emit_exp_range_test(with_guard);
    std::ostringstream range;
    range << kExpGuardFreeRange;
    emit_copy_pair(
        with_guard, "loops with exps unguarded (the row's max - min is at most " + range.str() + ")",
        [&] {
          exp_in_range_ = true;
          emit_sweep_loops(sweep, shape);
          exp_in_range_ = false;
          if (!shape.resident) exp_range_copied_ = true;
        },
        "loops with guarded exps", [&] { emit_sweep_loops(sweep, shape); });
  } else if (shape.guarded && !shape.blocked) {
    // Rows whose 1 / s is not a normal float (s below about 2^-126, where
    // it overflows, or above 2^126) take a copy of the loops that divides.
    Label by_division;
    emit_reciprocal_guard(by_division);
    emit_copy_pair(
        by_division, "", [&] { emit_sweep_loops(sweep, shape); }, "loops that divide (1 / s is not a normal float)",
        [&] {
          auto reciprocals = reciprocal_of_;
          reciprocal_of_.clear();
          emit_sweep_loops(sweep, shape);
          reciprocal_of_ = reciprocals;
        });
  } else {
    emit_sweep_loops(sweep, shape);
  }
}

// One copy of the loops of `sweep`: a resident row's bodies, the block loops
// of blocked exp, or the loops, in a streaming and a regular copy where the
// stores may stream.
void KernelEmitter::emit_sweep_loops(const ir::Sweep& sweep, const SweepShape& shape) {
  if (shape.resident) {
    emit_resident_vectors(sweep);
  } else if (shape.block_maxima && plan_.speculative_max) {
    // A block that runs again reads x again, which a row computed in place
    // has overwritten: such rows take the loops with a max pass per block.
    Label restart, in_place, joined;
    BlockLoopEntries guarded_entries;
    emit_in_place_test(sweep, in_place);
    speculating_ = true;
    if (blocked_exp_range()) emit_unguarded_block_loop(sweep, joined, guarded_entries);
    emit_block_loop(
        sweep, BlockOrder::kForward, [this] { emit_speculative_block_start(); },
        [this, &restart] {
          emit_block_sum();
          emit_speculation_check(restart);
        },
        &restart, &guarded_entries);
    speculating_ = false;
    jmp(joined, T_NEAR);
    L(in_place);
    mark("blocks with a max pass each (the row is computed in place)");
    emit_block_loop(sweep, BlockOrder::kForward, [this] { emit_block_max(); }, [this] { emit_block_sum(); });
    L(joined);
  } else if (shape.block_maxima) {
    emit_block_loop(sweep, BlockOrder::kForward, [this] { emit_block_max(); }, [this] { emit_block_sum(); });
  } else if (shape.scales_blocks) {
    emit_block_loop(sweep, BlockOrder::kBackward, [this] { emit_block_factor(); }, [] {});
  } else if (shape.shifts_blocks) {
    emit_block_loop(sweep, BlockOrder::kBackward, [this] { emit_block_shift(); }, [] {});
  } else if (shape.blocked) {
    emit_block_loop(sweep, BlockOrder::kBackward, [] {}, [] {});
  } else if (shape.streams_stores) {
    emit_streaming_loops(sweep);
  } else {
    emit_loops(sweep, false);
  }
}

// The loops twice: with non-temporal stores for rows whose output pointers
// are all aligned to the vector width (in calls large enough, unless the plan
// streams every call), and with regular stores for the others.
void KernelEmitter::emit_streaming_loops(const ir::Sweep& sweep) {
  Label regular, done;
  if (!plan_.nontemporal_stores) {
    // Calls too small to stream through the last-level cache as a whole
    // keep their outputs in cache. A task of the row pool counts the rows
    // of its whole batch. rows * row bytes cannot overflow: both tensors
    // of that size are in memory.
    mov(rax, qword[kArgs + kArgsBatchRowsOffset]);
    test(rax, rax);
    cmovz(rax, qword[kArgs + kArgsRowsOffset]);
    imul(rax, kRowBytes);
    mov(rcx, plan_.nontemporal_call_bytes);
    cmp(rax, rcx);
    jle(regular, T_NEAR);
  }

  xor_(eax, eax);
  for (ValueId v : sweep.stores) {
    mov(rcx, tensor_reg_.at(v));
    or_(rax, rcx);
  }
  test(rax, target_.bytes() - 1);
  jnz(regular, T_NEAR);

  mark(plan_.nontemporal_stores ? "loops with non-temporal stores (aligned rows)"
                                : "loops with non-temporal stores (aligned rows, calls of more than " +
                                      std::to_string(plan_.nontemporal_call_bytes / 4) + " elements per row tensor)");
  emit_loops(sweep, true);
  sfence();
  jmp(done, T_NEAR);
  L(regular);
  mark(plan_.nontemporal_stores ? "loops with regular stores (unaligned rows)"
                                : "loops with regular stores (unaligned rows or smaller calls)");
  emit_loops(sweep, false);
  L(done);
}

// Jumps to `by_division` when a per-row reciprocal of this sweep is not a
// normal float. A NaN reciprocal jumps too; both copies give NaN then.
void KernelEmitter::emit_reciprocal_guard(Label& by_division) {
  const Xmm& magnitude = scratch_.vec[0];
  const Xmm& bound = scratch_.vec[1];
  for (const auto& [divisor, reciprocal] : reciprocal_of_) {
    if (plan_.softmax_form != ir::SoftmaxForm::kNone &&
        divisor == p_.ops[static_cast<size_t>(plan_.core.sum_op)].results[0]) {
      continue;
    }
    vandps(magnitude, reciprocal, pool_.vector_bits(0x7FFFFFFFu));
    vmovups(bound, pool_.vector(0x1p126f));
    vucomiss(Xmm(magnitude.getIdx()), Xmm(bound.getIdx()));
    ja(by_division, T_NEAR);
    vmovups(bound, pool_.vector(FLT_MIN));
    vucomiss(Xmm(magnitude.getIdx()), Xmm(bound.getIdx()));
    jb(by_division, T_NEAR);
  }
}

}  // namespace rowjit::jit
