// Frame, row loop, sweeps and loop skeleton of generated kernels.
//
// General-purpose registers:
//   rdi  KernelArgs*            rsi  rows left
//   r9   row length in bytes    r8   byte index within the row
//   rdx  last start of a full main-loop iteration
//   rax, rcx                    temporaries
//   r10, r11, rbx, rbp, r12..r15  row pointers of the tensors, one each
// Vector registers: the top three are the math library's scratch, and on AVX2
// the next one contains the tail mask. The rest hold accumulators, broadcast scalars
// and the values of the loop body (see allocate_sweep_registers).
// The tail mask (k1 on AVX-512) depends only on n, so it is set once per call.
#include "jit/kernel_emitter.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <sstream>

#include "ir/target.h"

namespace rowjit::jit {

using namespace Xbyak;
using namespace Xbyak::util;
using ir::ValueId;

namespace {

// MXCSR for kernels: round to nearest even, all exceptions masked, no flush to
// zero and no denormals-are-zero, whatever the caller has set.
constexpr uint32_t kKernelMxcsr = 0x1F80;
// The control bits of MXCSR; the six low bits are the sticky exception flags.
constexpr uint32_t kMxcsrControlBits = 0xFFC0;

}  // namespace

KernelEmitter::KernelEmitter(const ir::Pipeline& pipeline, const ir::Plan& plan, VectorTarget target)
    : CodeGenerator(64 * 1024, DontSetProtectRWE),
      p_(pipeline),
      plan_(plan),
      target_(target),
      pool_(target),
      resident_vectors_(plan.resident_vectors) {}

void KernelEmitter::mark(const std::string& text) { markers_.push_back({getSize(), text}); }

int KernelEmitter::frame_alloc(int bytes, int align) {
  frame_bytes_ = (frame_bytes_ + align - 1) / align * align;
  int offset = frame_bytes_;
  frame_bytes_ += bytes;
  return offset;
}

Address KernelEmitter::frame_slot(ValueId scalar) { return dword[rsp + frame_offset_.at(scalar)]; }

Address KernelEmitter::row_element(ValueId tensor, const BodyMode& mode) {
  return ptr[tensor_reg_.at(tensor) + kIndex + mode.byte_offset];
}

Status KernelEmitter::assign_slots() {
  // Tensors: row inputs, per-row scalar inputs, vector parameters and outputs.
  for (ValueId id : p_.inputs) {
    const ir::Value& v = p_.value(id);
    bool tensor = v.kind == ir::ValueKind::kInput || !v.type.shape.is_scalar();
    if (tensor) {
      layout_.tensor_slots.push_back(id);
    } else {
      scalar_param_slot_[id] = static_cast<int>(layout_.scalar_slots.size());
      layout_.scalar_slots.push_back(id);
    }
  }
  for (ValueId id : p_.outputs) layout_.tensor_slots.push_back(id);
  if (layout_.tensor_slots.size() > static_cast<size_t>(kMaxTensorSlots)) {
    return {StatusCode::kUnsupported, "pipeline '" + p_.name + "' has " +
                                          std::to_string(layout_.tensor_slots.size()) +
                                          " tensors; the JIT supports at most " + std::to_string(kMaxTensorSlots)};
  }
  if (layout_.scalar_slots.size() > static_cast<size_t>(kMaxScalarSlots)) {
    return {StatusCode::kUnsupported, "pipeline '" + p_.name + "' has more than " +
                                          std::to_string(kMaxScalarSlots) + " scalar parameters"};
  }
  for (size_t i = 0; i < layout_.tensor_slots.size(); ++i) tensor_reg_[layout_.tensor_slots[i]] = kTensorRegs[i];
  // Each row input the plan prefetches gets a register of its own for the
  // prefetch base, from the tensor registers no tensor uses (the planner
  // counts them the same way).
  static_assert(ir::kTensorRegisters == kMaxTensorSlots);
  size_t spare = layout_.tensor_slots.size();
  for (ValueId id : plan_.prefetched_inputs) {
    if (plan_.prefetch_bytes == 0 || spare >= static_cast<size_t>(kMaxTensorSlots)) break;
    prefetch_reg_[id] = kTensorRegs[spare++];
  }

  saved_mxcsr_offset_ = frame_alloc(4, 4);
  exit_mxcsr_offset_ = frame_alloc(4, 4);
  for (size_t id = 0; id < p_.values.size(); ++id) {
    const ir::Value& v = p_.value(static_cast<ValueId>(id));
    if (v.kind == ir::ValueKind::kOpResult && v.type.shape.is_scalar()) {
      frame_offset_[static_cast<ValueId>(id)] = frame_alloc(4, 4);
    }
  }
  return Status::ok();
}

void KernelEmitter::emit_prologue() {
  for (const Reg64& r : {rbx, rbp, r12, r13, r14, r15}) push(r);
  // Six pushes leave rsp at 8 mod 16; the frame restores 16-byte alignment.
  int frame = (frame_bytes_ + 15) / 16 * 16 + 8;
  sub(rsp, frame);
  // MXCSR is loaded only when the caller's control bits differ from the
  // kernel's. A load that changes MXCSR stalls the instructions after it. On
  // an Intel Xeon (family 6 model 167), a caller's MXCSR of 0x1FA0 has the
  // same control bits with the inexact flag set. Loading 0x1F80 over it took
  // a 64-element softmax call from 19 to 95 ns.
  Label keep_mxcsr;
  stmxcsr(dword[rsp + saved_mxcsr_offset_]);
  mov(eax, dword[rsp + saved_mxcsr_offset_]);
  and_(eax, kMxcsrControlBits);
  cmp(eax, kKernelMxcsr);
  je(keep_mxcsr);
  ldmxcsr(dword[rip + mxcsr_label_]);
  L(keep_mxcsr);
}

void KernelEmitter::emit_epilogue() {
  // Restores the caller's MXCSR, flags included, when the call changed it:
  // the prologue's load, or a flag the kernel raised (an AVX-512 row with
  // -inf raises "invalid" in lanes whose results are masked).
  Label unchanged;
  stmxcsr(dword[rsp + exit_mxcsr_offset_]);
  mov(eax, dword[rsp + exit_mxcsr_offset_]);
  cmp(eax, dword[rsp + saved_mxcsr_offset_]);
  je(unchanged);
  ldmxcsr(dword[rsp + saved_mxcsr_offset_]);
  L(unchanged);
  int frame = (frame_bytes_ + 15) / 16 * 16 + 8;
  add(rsp, frame);
  for (const Reg64& r : {r15, r14, r13, r12, rbp, rbx}) pop(r);
  vzeroupper();
  ret();
}

Status KernelEmitter::emit_kernel() {
  ROWJIT_TRY(assign_slots());
  exp_range_sweeps_ = find_exp_range_sweeps();
  // Frame areas of the sweeps are allocated before the prologue fixes the frame size.
  prepare_frame_areas();

  mark("prologue");
  emit_prologue();
  Label done;
  mov(kRowsLeft, qword[kArgs + kArgsRowsOffset]);
  test(kRowsLeft, kRowsLeft);
  jle(done, T_NEAR);
  mov(kRowBytes, qword[kArgs + kArgsNOffset]);
  shl(kRowBytes, 2);
  for (size_t i = 0; i < layout_.tensor_slots.size(); ++i) {
    mov(kTensorRegs[i], qword[kArgs + kArgsDataOffset + static_cast<int>(8 * i)]);
  }
  emit_tail_mask();

  if (resident_vectors_ > 0) {
    // Rows of exactly resident_vectors_ vectors take the resident copy of the
    // row loop; other lengths fall through to the loops.
    for (size_t s = 0; s < plan_.sweeps.size(); ++s) {
      const ir::Sweep& sweep = plan_.sweeps[s];
      for (ValueId v : sweep.loads) resident_last_sweep_[v] = static_cast<int>(s);
      for (ValueId v : sweep.reloads) resident_last_sweep_[v] = static_cast<int>(s);
      if (sweep.prefetch && resident_prefetch_sweep_ < 0) resident_prefetch_sweep_ = static_cast<int>(s);
    }
    Label general, resident_row;
    int shift = std::countr_zero(static_cast<unsigned>(target_.bytes()));
    lea(rax, ptr[kRowBytes + target_.bytes() - 1]);
    shr(rax, shift);
    cmp(rax, resident_vectors_);
    jne(general, T_NEAR);
    mark("resident rows: " + std::to_string(resident_vectors_) + " vectors held in registers");
    xor_(kIndex, kIndex);
    L(resident_row);
    emit_prefetch_bases();
    for (size_t s = 0; s < plan_.sweeps.size(); ++s) ROWJIT_TRY(emit_sweep(static_cast<int>(s), true));
    emit_next_row(resident_row);
    jmp(done, T_NEAR);
    L(general);
    mark("rows of any other length");
  }

  if (plan_.blocked_exp) {
    // Every row runs the max and exp sweeps by blocks, whatever its length.
    mark("max and exp by blocks");
    emit_exp_block_size();
    carried_.clear();
    Label blocked_row;
    L(blocked_row);
    emit_prefetch_bases();
    ROWJIT_TRY(emit_sweep(1, false, true));
    ROWJIT_TRY(emit_sweep(2, false, true));
    emit_next_row(blocked_row);
  }

  if (!plan_.blocked_exp) {
    carried_.clear();
    Label row_loop;
    L(row_loop);
    emit_prefetch_bases();
    for (size_t s = 0; s < plan_.sweeps.size(); ++s) ROWJIT_TRY(emit_sweep(static_cast<int>(s), false));
    emit_next_row(row_loop);
  }

  L(done);
  mark("epilogue");
  emit_epilogue();
  code_size_ = getSize();

  data_regions_.clear();
  pool_.emit(*this, data_regions_);
  align(16);
  L(mxcsr_label_);
  data_regions_.push_back({getSize(), 4, "MXCSR value of the kernel"});
  dd(kKernelMxcsr);
  if (uses_mask_table_) {
    align(32);
    L(mask_table_);
    data_regions_.push_back({getSize(), 64, "tail masks: 8 words of ones, then 8 of zeros"});
    for (int i = 0; i < 8; ++i) dd(0xFFFFFFFF);
    for (int i = 0; i < 8; ++i) dd(0);
  }
  return error_;
}

void KernelEmitter::release_carried() {
  for (const auto& [value, reg] : carried_) {
    if (std::find(free_vregs_.begin(), free_vregs_.end(), reg.getIdx()) == free_vregs_.end()) free_register(reg);
  }
  carried_.clear();
}

// Sets each prefetch base to its tensor's row. The last row of a call, if
// shorter than kPrefetchPastEndMinBytes, prefetches the lines it loads
// instead: beyond the end of the batch the prefetches find nothing to bring
// in, and on unmapped pages each one still costs a page walk (a single
// 1K-element row took 3x as long with them in a timing loop).
void KernelEmitter::emit_prefetch_bases() {
  if (prefetch_reg_.empty()) return;
  for (const auto& [tensor, base] : prefetch_reg_) mov(base, tensor_reg_.at(tensor));
  Label keep;
  cmp(kRowsLeft, 1);
  jne(keep, T_NEAR);
  cmp(kRowBytes, kPrefetchPastEndMinBytes);
  jge(keep, T_NEAR);
  for (const auto& [tensor, base] : prefetch_reg_) sub(base, plan_.prefetch_bytes);
  L(keep);
}

void KernelEmitter::emit_next_row(Label& row_loop) {
  carried_.clear();
  mark("next row");
  for (size_t i = 0; i < layout_.tensor_slots.size(); ++i) {
    add(kTensorRegs[i], qword[kArgs + kArgsStrideOffset + static_cast<int>(8 * i)]);
  }
  dec(kRowsLeft);
  jnz(row_loop, T_NEAR);
}

// ---- register use -----------------------------------------------------------

Xmm KernelEmitter::take_register() {
  if (free_vregs_.empty()) {
    if (error_.is_ok()) {
      error_ = Status(StatusCode::kUnsupported, "out of vector registers at unroll " + std::to_string(unroll_));
    }
    return target_.vreg(0);
  }
  int index = free_vregs_.back();
  free_vregs_.pop_back();
  min_free_ = std::min(min_free_, free_vregs_.size());
  return target_.vreg(index);
}

void KernelEmitter::free_register(const Xmm& reg) { free_vregs_.push_back(reg.getIdx()); }

Xmm KernelEmitter::value_register(ValueId value) const { return vreg_of_.at(value); }

void KernelEmitter::allocate_sweep_registers(const ir::Sweep& sweep, int unroll) {
  unroll_ = unroll;
  vreg_of_.clear();
  reciprocal_of_.clear();
  pinned_.clear();
  last_use_.clear();
  free_vregs_.clear();
  int count = target_.register_count();
  scratch_ = MathScratch{{target_.vreg(count - 1), target_.vreg(count - 2), target_.vreg(count - 3)}, {k2, k3}};
  int first_reserved = count - 3;
  if (!target_.avx512) first_reserved = count - 4;  // the tail mask
  // Registers that hold a resident row's values for a later sweep stay taken.
  std::set<int> kept_registers;
  for (const auto& [key, reg] : resident_reg_) kept_registers.insert(reg.getIdx());
  for (const auto& [value, reg] : carried_) kept_registers.insert(reg.getIdx());
  for (int i = first_reserved - 1; i >= 0; --i) {
    if (!kept_registers.count(i)) free_vregs_.push_back(i);
  }

  // Positions of last use within the body: op i uses its operands at i, and
  // the accumulation after the ops counts as position ops.size().
  int end = static_cast<int>(sweep.ops.size());
  for (int i = 0; i < end; ++i) {
    for (ValueId v : p_.ops[static_cast<size_t>(sweep.ops[static_cast<size_t>(i)])].operands) last_use_[v] = i;
  }
  for (int r : sweep.reductions) last_use_[p_.ops[static_cast<size_t>(r)].operands[0]] = end;
  if (sweep.online_softmax || sweep.extexp_sum) last_use_[plan_.core.x] = end;
  if (sweep.extexp_scale) last_use_[plan_.core.x] = end;
}

// ---- sweeps -----------------------------------------------------------------

// Emits one sweep of the row: its per-row scalar ops, then its loops, or for a
// resident row one body per vector.
Status KernelEmitter::emit_sweep(int sweep_index, bool resident, bool blocked) {
  const ir::Sweep& sweep = plan_.sweeps[static_cast<size_t>(sweep_index)];
  sweep_ = &sweep;
  sweep_index_ = sweep_index;
  // The resident and blocked copies keep their own constant statistics,
  // after the loops'.
  size_t stats_index = static_cast<size_t>(sweep_index) + (resident ? plan_.sweeps.size() : 0) +
                       (blocked ? 2 * plan_.sweeps.size() : 0);
  // Blocked exp: the sweep of block maxima and sums, then the last sweep,
  // which scales each block of a softmax, shifts each block of a log-softmax,
  // or uses only the row's max and sum (a logsumexp).
  bool block_maxima = blocked && !sweep.reductions.empty();
  bool scales_blocks = blocked && !block_maxima && plan_.softmax_form == ir::SoftmaxForm::kThreePassReload;
  // A log-softmax's y = d - l whose d the blocked sweep wrote per block.
  bool shifts_blocks = blocked && !block_maxima && !scales_blocks && !sweep.reloads.empty();
  mark("sweep " + std::to_string(sweep_index));
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

  // Broadcast every scalar that the body reads into a register of its own.
  std::set<ValueId> scalars;
  for (int i : sweep.ops) {
    for (ValueId v : p_.ops[static_cast<size_t>(i)].operands) {
      if (p_.value(v).type.shape.is_scalar()) scalars.insert(v);
    }
  }
  if ((sweep.online_softmax) && plan_.core.scale != ir::kNoValue) scalars.insert(plan_.core.scale);
  for (ValueId v : scalars) {
    Xmm reg = take_register();
    load_scalar(reg, v);
    vreg_of_[v] = reg;
    pinned_.insert(v);
  }
  // Reciprocals of per-row divisors, once per row instead of a division per vector.
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
  release_carried();
  if (block_maxima) {
    // AVX2 has half the registers: two accumulators keep a max pass at one
    // vector per cycle and leave the exp constants in registers.
    int accumulators = target_.avx512 ? unroll_ : std::min(unroll_, 2);
    block_max_acc_.clear();
    for (int lane = 0; lane < accumulators; ++lane) block_max_acc_.push_back(take_register());
  } else if (shifts_blocks) {
    // The body subtracts the block's (M - m_b) + l where it would subtract l.
    ValueId m = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
    block_shift_value_ = p_.ops[static_cast<size_t>(sweep.ops[0])].operands[1];
    block_row_max_ = take_register();
    load_scalar(block_row_max_, m);
    block_log_sum_ = take_register();
    vmovaps(block_log_sum_, vreg_of_.at(block_shift_value_));
  } else if (scales_blocks) {
    // The body multiplies by the block's factor where it would by 1 / S.
    ValueId s = p_.ops[static_cast<size_t>(plan_.core.sum_op)].results[0];
    ValueId m = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
    block_inverse_sum_ = reciprocal_of_.at(s);
    block_row_max_ = take_register();
    load_scalar(block_row_max_, m);
    block_factor_ = take_register();
    reciprocal_of_[s] = block_factor_;
  }

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
  bool streams_stores = ir::stores_are_final(plan_, static_cast<size_t>(sweep_index)) &&
                        (plan_.nontemporal_stores || (plan_.nontemporal_call_bytes > 0 && sweep.reloads.empty()));
  auto emit_sweep_loops = [&] {
    if (resident) {
      emit_resident_vectors(sweep);
    } else if (block_maxima && plan_.speculative_max) {
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
    } else if (block_maxima) {
      emit_block_loop(sweep, BlockOrder::kForward, [this] { emit_block_max(); }, [this] { emit_block_sum(); });
    } else if (scales_blocks) {
      emit_block_loop(sweep, BlockOrder::kBackward, [this] { emit_block_factor(); }, [] {});
    } else if (shifts_blocks) {
      emit_block_loop(sweep, BlockOrder::kBackward, [this] { emit_block_shift(); }, [] {});
    } else if (blocked) {
      emit_block_loop(sweep, BlockOrder::kBackward, [] {}, [] {});
    } else if (streams_stores) {
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
                                          std::to_string(plan_.nontemporal_call_bytes / 4) +
                                          " elements per row tensor)");
      emit_loops(sweep, true);
      sfence();
      jmp(done, T_NEAR);
      L(regular);
      mark(plan_.nontemporal_stores ? "loops with regular stores (unaligned rows)"
                                    : "loops with regular stores (unaligned rows or smaller calls)");
      emit_loops(sweep, false);
      L(done);
    } else {
      emit_loops(sweep, false);
    }
  };

  // The sum of a softmax core is at least 1 (its max element adds exp(0)),
  // 0 for a row of -inf, or NaN, so its reciprocal needs no guard.
  bool guarded = false;
  for (const auto& [divisor, reciprocal] : reciprocal_of_) {
    bool core_sum = plan_.softmax_form != ir::SoftmaxForm::kNone &&
                    divisor == p_.ops[static_cast<size_t>(plan_.core.sum_op)].results[0];
    guarded = guarded || !core_sum;
  }
  auto emit_loop_copies = [&] {
    if (exp_range_sweeps_.count(sweep_index) && row_min_taken_ && !blocked && !guarded) {
      // Both copies start from the same register state and end in the same.
      Label with_guard, loops_done;
      emit_exp_range_test(with_guard);
      auto resident_before = resident_reg_;
      auto free_before = free_vregs_;
      std::ostringstream range;
      range << kExpGuardFreeRange;
      mark("loops with exps unguarded (the row's max - min is at most " + range.str() + ")");
      exp_in_range_ = true;
      emit_sweep_loops();
      exp_in_range_ = false;
      if (!resident) exp_range_copied_ = true;
      jmp(loops_done, T_NEAR);
      L(with_guard);
      mark("loops with guarded exps");
      auto resident_after = resident_reg_;
      resident_reg_ = resident_before;
      free_vregs_ = free_before;
      emit_sweep_loops();
      if (resident_reg_ != resident_after && error_.is_ok()) {
        error_ = Status(StatusCode::kInternal, "the two copies of an exp sweep left different registers");
      }
      L(loops_done);
    } else if (guarded && !blocked) {
      // Rows whose 1 / s is not a normal float (s below about 2^-126, where
      // it overflows, or above 2^126) take a copy of the loops that divides.
      // Both copies start from the same register state.
      Label by_division, loops_done;
      emit_reciprocal_guard(by_division);
      auto resident_before = resident_reg_;
      auto free_before = free_vregs_;
      emit_sweep_loops();
      jmp(loops_done, T_NEAR);
      L(by_division);
      mark("loops that divide (1 / s is not a normal float)");
      auto resident_after = resident_reg_;
      auto reciprocals = reciprocal_of_;
      resident_reg_ = resident_before;
      free_vregs_ = free_before;
      reciprocal_of_.clear();
      emit_sweep_loops();
      reciprocal_of_ = reciprocals;
      resident_reg_ = resident_after;
      L(loops_done);
    } else {
      emit_sweep_loops();
    }
  };
  if (sweep.extexp_scale) {
    // Rows whose max is at least 2^127 in magnitude take a copy of the loops
    // for ties (finish_extexp). Both copies start from the same register state.
    Label ties, loops_done;
    cmp(dword[rsp + extexp_ties_offset_], 0);
    jne(ties, T_NEAR);
    auto resident_before = resident_reg_;
    auto free_before = free_vregs_;
    emit_loop_copies();
    jmp(loops_done, T_NEAR);
    L(ties);
    mark("loops for ties (the row's max is at least 2^127 in magnitude): y = 1 / k where x = max, else 0");
    auto resident_after = resident_reg_;
    resident_reg_ = resident_before;
    free_vregs_ = free_before;
    extexp_ties_ = true;
    emit_loop_copies();
    extexp_ties_ = false;
    if (resident_reg_ != resident_after && error_.is_ok()) {
      error_ = Status(StatusCode::kInternal, "the two copies of the extexp scale sweep left different registers");
    }
    L(loops_done);
  } else {
    emit_loop_copies();
  }

  if (sweep_constant_uses_.size() <= stats_index) {
    sweep_constant_uses_.resize(stats_index + 1);
    sweep_min_free_.resize(stats_index + 1, 0);
  }
  sweep_constant_uses_[stats_index] = pool_.uses();
  sweep_min_free_[stats_index] = static_cast<int>(min_free_);
  pool_.unpin_all();
  for (const Xmm& reg : pinned_constants) free_register(reg);

  mark("sweep " + std::to_string(sweep_index) + " results");
  if (block_maxima) {
    emit_block_totals();
    return error_;
  }
  finish_reductions(resident);
  if (sweep.online_softmax) finish_online();
  if (sweep.extexp_sum) finish_extexp();
  return error_;
}

// The mask covers ((n - 1) mod lanes) + 1 elements. In the loops, the masked
// tail runs only when n mod lanes is not 0, because the main and remainder
// loops stop at the last full vector. A resident row's last vector may be full.
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

void KernelEmitter::emit_tail_mask() {
  int vector_bytes = target_.bytes();
  lea(rcx, ptr[kRowBytes - 4]);
  and_(ecx, vector_bytes - 1);
  add(ecx, 4);
  if (target_.avx512) {
    shr(ecx, 2);
    mov(eax, 1);
    shl(eax, cl);
    dec(eax);
    kmovw(k1, eax);
  } else {
    uses_mask_table_ = true;
    // The tail's byte count, for the tail moves of emit_tail.cpp.
    mov(dword[rsp + tail_bytes_offset_], ecx);
    tail_mask_ = target_.vreg(target_.register_count() - 4);
    lea(rax, ptr[rip + mask_table_]);
    neg(rcx);
    vmovdqu(tail_mask_, ptr[rax + rcx + 32]);
  }
}

void KernelEmitter::emit_loops(const ir::Sweep& sweep, bool nontemporal) {
  int vector_bytes = target_.bytes();
  int step = unroll_ * vector_bytes;
  bool flush = needs_flush();
  Label block, main_loop, main_done, remainder_loop, tail, done;

  xor_(kIndex, kIndex);
  mov(kMainEnd, kRowBytes);
  sub(kMainEnd, step);
  cmp(kIndex, kMainEnd);
  jg(main_done, T_NEAR);
  // With float sums, the main loop runs in blocks of flush_iterations()
  // iterations and flushes between blocks. The last block is flushed after the
  // remainder and the tail, except in the online form, which flushes it before
  // their max pass. rax holds the last start within the block.
  if (flush) {
    int block_iterations = online_ || flushes_long_last_block() ? flush_iterations() : flush_iterations(true);
    L(block);
    lea(rax, ptr[kIndex + (block_iterations - 1) * step]);
    cmp(rax, kMainEnd);
    cmovg(rax, kMainEnd);
    if (online_) emit_online_block_start(rax);
  }
  std::string grouped = exp_group_ > 1 ? ", exps in groups of " + std::to_string(exp_group_) : "";
  mark("main loop: " + std::to_string(unroll_) + (unroll_ == 1 ? " vector" : " vectors") + " per iteration" + grouped);
  L(main_loop);
  std::vector<BodyMode> step_modes;
  for (int lane = 0; lane < unroll_; ++lane) step_modes.push_back(BodyMode{lane, lane * vector_bytes, false, nontemporal});
  emit_step_bodies(sweep, step_modes);
  add(kIndex, step);
  cmp(kIndex, flush ? rax : kMainEnd);
  jle(main_loop, T_NEAR);
  if (flush && online_ && plan_.speculative_max) emit_online_speculation_check(main_loop);
  if (flush) {
    cmp(kIndex, kMainEnd);
    jg(main_done, T_NEAR);
    emit_flush();
    jmp(block, T_NEAR);
  }
  L(main_done);
  if (online_) {
    // The remainder and the tail get their own max pass. The last block's
    // sums are flushed first, because that pass may raise m.
    Label no_rest;
    cmp(kIndex, kRowBytes);
    jge(no_rest, T_NEAR);
    emit_flush();
    emit_online_max_pass(rax, true);
    L(no_rest);
  }

  if (flush && !online_ && flushes_long_last_block()) {
    // The remainder and the tail add up to `unroll` terms to lane 0's sums,
    // so a last block of more than flush_iterations(true) iterations is
    // flushed before them. rax = (its iterations - 1) * step.
    Label no_flush;
    cmp(kIndex, kRowBytes);
    jge(no_flush, T_NEAR);
    test(kIndex, kIndex);
    jz(no_flush, T_NEAR);
    lea(rax, ptr[kIndex - step]);
    and_(rax, flush_iterations() * step - 1);
    cmp(rax, flush_iterations(true) * step);
    jl(no_flush, T_NEAR);
    emit_flush();
    L(no_flush);
  }
  if (unroll_ > 1) {
    mark("remainder loop: one vector per iteration");
    lea(rax, ptr[kRowBytes - vector_bytes]);
    L(remainder_loop);
    cmp(kIndex, rax);
    jg(tail, T_NEAR);
    emit_body(sweep, BodyMode{0, 0, false, nontemporal});
    add(kIndex, vector_bytes);
    jmp(remainder_loop, T_NEAR);
  }
  L(tail);
  mark(target_.avx512 ? "masked tail" : "tail (moves of 4, 2 and 1 elements)");
  cmp(kIndex, kRowBytes);
  jge(done, T_NEAR);
  emit_body(sweep, BodyMode{0, 0, true});
  L(done);
  // Float sums alone leave their last partial sums in the accumulators, for
  // finish_reductions to add without a round trip through the frame.
  sums_in_accumulators_ = flush && !online_ && !extexp_;
  if (flush && !sums_in_accumulators_) emit_flush();
}

// A resident row: one body per vector, the last one masked (its mask covers
// 1 to lanes elements). Values that a later sweep reads stay in registers.
void KernelEmitter::emit_resident_vectors(const ir::Sweep& sweep) {
  int vector_bytes = target_.bytes();
  for (int j = 0; j < resident_vectors_; ++j) {
    BodyMode mode;
    mode.lane = j % unroll_;
    mode.byte_offset = j * vector_bytes;
    mode.masked = j == resident_vectors_ - 1;
    mode.resident_vector = j;
    emit_body(sweep, mode);
  }
}

// The max pass of the online form: raises each lane's m over the vectors
// that the next loops will read, from kIndex to `last_start` in main-loop
// steps, or over the remainder and the tail (lane 0) when `rest_of_row`.
void KernelEmitter::emit_online_max_pass(const Reg64& last_start, bool rest_of_row) {
  int vector_bytes = target_.bytes();
  Label loop, tail, done;
  mark(rest_of_row ? "max pass over the remainder and tail" : "max pass over the block");
  mov(rcx, kIndex);
  if (!rest_of_row) {
    int step = unroll_ * vector_bytes;
    L(loop);
    for (int lane = 0; lane < unroll_; ++lane) raise_online_max(rcx, BodyMode{lane, lane * vector_bytes});
    add(rcx, step);
    cmp(rcx, last_start);
    jle(loop, T_NEAR);
    update_online_references();
    return;
  }
  lea(rax, ptr[kRowBytes - vector_bytes]);
  L(loop);
  cmp(rcx, rax);
  jg(tail, T_NEAR);
  raise_online_max(rcx, BodyMode{});
  add(rcx, vector_bytes);
  jmp(loop, T_NEAR);
  L(tail);
  cmp(rcx, kRowBytes);
  jge(done, T_NEAR);
  raise_online_max(rcx, BodyMode{0, 0, true});
  L(done);
  update_online_references();
}

void KernelEmitter::emit_flush() {
  flush_sums();
  if (online_) flush_online();
  if (extexp_) flush_extexp();
}

}  // namespace rowjit::jit
