// Frame, row loop and loop skeleton of generated kernels; emit_sweep.cpp
// emits each sweep of a row.
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

KernelEmitter::KernelEmitter(const ir::Pipeline& pipeline, const ir::Plan& plan, VectorTarget target,
                             size_t code_bytes)
    : CodeGenerator(code_bytes, DontSetProtectRWE),
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
    for (size_t s = 0; s < plan_.sweeps.size(); ++s) {
      if (plan_.sweeps[s].extexp_sum) {
        ROWJIT_TRY(emit_extexp_sum_sweep(static_cast<int>(s)));
      } else {
        ROWJIT_TRY(emit_sweep(static_cast<int>(s), false));
      }
    }
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
      out_of_registers_ = true;
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

// The mask covers ((n - 1) mod lanes) + 1 elements. In the loops, the masked
// tail runs only when n mod lanes is not 0, because the main and remainder
// loops stop at the last full vector. A resident row's last vector may be full.
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

void KernelEmitter::emit_flush() {
  flush_sums();
  if (online_) flush_online();
  if (extexp_) flush_extexp();
}

}  // namespace rowjit::jit
