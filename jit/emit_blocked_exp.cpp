// The blocked-exp schedule (Plan::blocked_exp): the max sweep and the exp
// sweep run block by block. For each block (16 KiB of x or more, see
// min_exp_block_shift), a pass of max alone finds the block's max m_b. Then
// the exp sweep's body sums exp(x - m_b) while the block is still in L1, and
// writes to y what the last sweep needs: e = exp(x - m_b) for a softmax,
// d = x - m_b for a log-softmax. The frame keeps m_b and the block's sum s_b
// in double. After the row, M = max m_b and S = sum of s_b * exp(m_b - M).
//
// The last sweep visits the blocks from the last back to the first, because
// the blocks of y written last are still in L2 (at n = 256K, 40.2 us -> 37.6
// us per softmax row against 80 us for cpp_fastmath). It multiplies each
// block of a softmax by exp(m_b - M) / S and subtracts (M - m_b) + log(S)
// from each block of a log-softmax.
//
// Under Plan::speculative_max only block 0 has the pass of max alone. A later
// block takes the max of the row so far as its reference m_b and finds its own
// max in the exp sweep. A block that exceeds its m_b by more than the margin
// runs again (emit_speculation_check). The factors below hold for any m_b
// within the margin of the block's max, so they do not change. A row computed
// in place cannot read x again, so it takes the max pass in every block.
//
// Each block has its own max, so no running sum is ever rescaled: the only
// exps of block maxima are those of S and of the per-block factors, one each.
// A block's max starts from -FLT_MAX, so a block of -inf gives exps of 0, not
// exp(-inf - -inf) = NaN. A row of -inf only gets a NaN max at the end, as
// in the reference (emit_block_totals).
#include <bit>
#include <cfloat>
#include <cmath>
#include <set>

#include "jit/kernel_emitter.h"

namespace rowjit::jit {

using namespace Xbyak;
using namespace Xbyak::util;
using ir::ValueId;

namespace {

const Reg64 kBlockEnd = rax;
const Reg64 kBlockSlot = rdx;

}  // namespace

// A block is at least kExpBlockIterations main-loop iterations (16 KiB of x
// on AVX-512 at unroll 4), and larger where the row needs more than
// kMaxExpBlocks of those: a power of two of bytes, set once per call.
int KernelEmitter::min_exp_block_shift() const {
  return std::countr_zero(static_cast<unsigned>(ir::kExpBlockIterations * unroll_target_ * target_.bytes()));
}

// Sets the frame's block shift and block bytes for this call's n.
void KernelEmitter::emit_exp_block_size() {
  Label empty;
  int blocks_shift = std::countr_zero(static_cast<unsigned>(ir::kMaxExpBlocks));
  mov(ecx, min_exp_block_shift());
  cmp(kRowBytes, 1);
  jle(empty, T_NEAR);
  // shift = max(minimum, bit_width(row bytes - 1) - log2(kMaxExpBlocks))
  lea(rax, ptr[kRowBytes - 1]);
  bsr(rax, rax);
  sub(rax, blocks_shift - 1);
  cmp(rax, rcx);
  cmovg(rcx, rax);
  L(empty);
  mov(qword[rsp + block_shift_offset_], rcx);
  mov(eax, 1);
  shl(rax, cl);
  mov(qword[rsp + block_bytes_offset_], rax);
}

// Runs `sweep` over the row block by block: `block_start` and `block_end`
// around each block, with kBlockSlot = the block's index and kBlockEnd its
// end. Float sums are flushed into the frame every kFlushInterval iterations.
void KernelEmitter::emit_block_loop(const ir::Sweep& sweep, BlockOrder order,
                                    const std::function<void()>& block_start,
                                    const std::function<void()>& block_end, Label* restart,
                                    BlockLoopEntries* entries) {
  int vector_bytes = target_.bytes();
  int step = unroll_ * vector_bytes;
  Label block, chunk, steps, singles, tail, block_done, full, done;

  if (order == BlockOrder::kForward) {
    xor_(kIndex, kIndex);
    L(block);
    cmp(kIndex, kRowBytes);
    jge(done, T_NEAR);
    mov(rcx, qword[rsp + block_shift_offset_]);
    mov(kBlockSlot, kIndex);
    shr(kBlockSlot, cl);
  } else {
    // From the last block down to block 0. kIndex restarts at each block.
    cmp(kRowBytes, 0);
    jle(done, T_NEAR);
    mov(rcx, qword[rsp + block_shift_offset_]);
    lea(kBlockSlot, ptr[kRowBytes - 1]);
    shr(kBlockSlot, cl);
    L(block);
    test(kBlockSlot, kBlockSlot);
    js(done, T_NEAR);
    mov(rcx, qword[rsp + block_shift_offset_]);
    mov(kIndex, kBlockSlot);
    shl(kIndex, cl);
  }
  mov(kBlockEnd, kIndex);
  add(kBlockEnd, qword[rsp + block_bytes_offset_]);
  cmp(kBlockEnd, kRowBytes);
  cmovg(kBlockEnd, kRowBytes);
  block_start();
  if (restart) L(*restart);

  // Full steps in chunks of kFlushInterval, then single vectors, then the
  // masked tail (last block only). kBlockEnd is lowered for each comparison
  // and restored after.
  sub(kBlockEnd, step);
  L(chunk);
  if (entries) L(entries->chunk);
  cmp(kIndex, kBlockEnd);
  jg(singles, T_NEAR);
  if (chunk_rerun_) mov(qword[rsp + block_part_start_], kIndex);
  lea(rcx, ptr[kIndex + (flush_iterations() - 1) * step]);
  cmp(rcx, kBlockEnd);
  cmovg(rcx, kBlockEnd);
  if (exp_group_ > 1) mark("steps of " + std::to_string(unroll_) + " vectors, exps in groups of " + std::to_string(exp_group_));
  L(steps);
  std::vector<BodyMode> step_modes;
  for (int lane = 0; lane < unroll_; ++lane) step_modes.push_back(BodyMode{lane, lane * vector_bytes});
  emit_step_bodies(sweep, step_modes);
  add(kIndex, step);
  cmp(kIndex, rcx);
  jle(steps, T_NEAR);
  if (chunk_rerun_) emit_block_range_test(*chunk_rerun_);
  flush_sums();
  jmp(chunk, T_NEAR);
  L(singles);
  if (entries) L(entries->singles);
  if (singles_rerun_) mov(qword[rsp + block_part_start_], kIndex);
  add(kBlockEnd, step - vector_bytes);
  L(tail);
  cmp(kIndex, kBlockEnd);
  jg(block_done, T_NEAR);
  emit_body(sweep, BodyMode{});
  add(kIndex, vector_bytes);
  jmp(tail, T_NEAR);
  L(block_done);
  add(kBlockEnd, vector_bytes);
  cmp(kIndex, kBlockEnd);
  jge(full, T_NEAR);
  emit_body(sweep, BodyMode{0, 0, true});
  mov(kIndex, kBlockEnd);
  L(full);
  if (singles_rerun_) emit_block_range_test(*singles_rerun_);
  block_end();
  if (order == BlockOrder::kBackward) dec(kBlockSlot);
  jmp(block, T_NEAR);
  L(done);
}

// Runs the part of the block that failed its range test again in the
// guarded copy, from `entry` (a BlockLoopEntries label), and the rest of the
// row there. The part's float sums are dropped (the flush before it holds the
// block's sum so far), and the second block accumulator, which took the min,
// takes the max again. `lowered_by`: bytes to take from kBlockEnd to give the
// entry's one step lower.
void KernelEmitter::emit_block_rerun(Label& entry, int lowered_by) {
  clear_float_sums();
  vmovaps(block_max_acc_[1], block_max_acc_[0]);
  mov(kIndex, qword[rsp + block_part_start_]);
  if (lowered_by != 0) sub(kBlockEnd, lowered_by);
  jmp(entry, T_NEAR);
}

// The block's max, from -FLT_MAX, into the broadcast register of m and into
// the frame. vmaxps may drop a NaN of x here, but its exp then makes the
// block's sum, and so every output, NaN.
void KernelEmitter::emit_block_max() {
  int vector_bytes = target_.bytes();
  int step = unroll_ * vector_bytes;
  const Reg64& x = tensor_reg_.at(plan_.core.x);
  Label steps, singles, last;
  for (const Xmm& acc : block_max_acc_) vmovups(acc, pool_.vector(-FLT_MAX));
  mov(rcx, kIndex);
  sub(kBlockEnd, step);
  L(steps);
  cmp(rcx, kBlockEnd);
  jg(singles, T_NEAR);
  for (int lane = 0; lane < unroll_; ++lane) {
    const Xmm& acc = block_max_acc_[static_cast<size_t>(lane) % block_max_acc_.size()];
    vmaxps(acc, acc, ptr[x + rcx + lane * vector_bytes]);
  }
  add(rcx, step);
  jmp(steps, T_NEAR);
  L(singles);
  add(kBlockEnd, step - vector_bytes);
  Label single_loop, singles_done;
  L(single_loop);
  cmp(rcx, kBlockEnd);
  jg(singles_done, T_NEAR);
  vmaxps(block_max_acc_[0], block_max_acc_[0], ptr[x + rcx]);
  add(rcx, vector_bytes);
  jmp(single_loop, T_NEAR);
  L(singles_done);
  add(kBlockEnd, vector_bytes);
  cmp(rcx, kBlockEnd);
  jge(last, T_NEAR);
  if (target_.avx512) {
    vmaxps(block_max_acc_[0] | k1, block_max_acc_[0], ptr[x + rcx]);
  } else {
    const Xmm& v = scratch_.vec[0];
    load_tail_avx2(v, x, rcx, 0);
    vblendvps(v, block_max_acc_[0], v, tail_mask_);
    vmaxps(block_max_acc_[0], block_max_acc_[0], v);
  }
  L(last);

  const Xmm& acc = block_max_acc_[0];
  for (size_t lane = 1; lane < block_max_acc_.size(); ++lane) vmaxps(acc, acc, block_max_acc_[lane]);
  horizontal(acc, LaneCombine::kMax);
  vmovss(dword[rsp + kBlockSlot * 4 + block_max_area_], Xmm(acc.getIdx()));
  ValueId m = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
  vbroadcastss(value_register(m), Xmm(acc.getIdx()));
}

// Plan::speculative_max: block 0 takes its max from a pass of max alone, as
// without speculation. A later block starts from the reference in m's
// register, the max of the row so far, and its body raises block_max_acc_
// over x as it loads it.
void KernelEmitter::emit_speculative_block_start() {
  Label first, accumulators;
  mark("speculative max: block 0 takes a max pass, later blocks the reference before them");
  test(kBlockSlot, kBlockSlot);
  jz(first, T_NEAR);
  ValueId m = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
  vmovss(dword[rsp + kBlockSlot * 4 + block_max_area_], Xmm(value_register(m).getIdx()));
  jmp(accumulators, T_NEAR);
  L(first);
  emit_block_max();
  // The max pass leaves its reduction in the accumulators (and zeroes the
  // upper lanes of the first): they start again for the body.
  L(accumulators);
  reset_block_accumulators();
}

// Sets the accumulators of the exp sweep's body to their identities: -FLT_MAX
// for the block max, and +inf for the block min where the second accumulator
// takes it (block_min_tracked_).
void KernelEmitter::reset_block_accumulators() {
  for (size_t lane = 0; lane < block_max_acc_.size(); ++lane) {
    bool min = block_min_tracked_ && lane == 1;
    vmovups(block_max_acc_[lane], min ? pool_.vector(INFINITY) : pool_.vector(-FLT_MAX));
  }
}

// The accumulators that take the block max in the body: all of them, or the
// first alone where the second takes the block min.
size_t KernelEmitter::block_max_lanes() const { return block_min_tracked_ ? 1 : block_max_acc_.size(); }

// Raises the lane's block max over the x just loaded, and lowers the block
// min where it is tracked.
void KernelEmitter::raise_block_max(const Xmm& x, const BodyMode& mode) {
  const Xmm& acc = block_max_acc_[static_cast<size_t>(mode.lane) % block_max_lanes()];
  combine_row_lanes(acc, x, mode, LaneCombine::kMax);
  if (block_min_tracked_) combine_row_lanes(block_max_acc_[1], x, mode, LaneCombine::kMin);
}

// acc = max or min of acc and x, lane by lane. A masked tail leaves its lanes
// beyond n out.
void KernelEmitter::combine_row_lanes(const Xmm& acc, const Xmm& x, const BodyMode& mode, LaneCombine operation) {
  if (!mode.masked) {
    combine(acc, x, operation);
  } else if (target_.avx512) {
    if (operation == LaneCombine::kMin) vminps(acc | k1, acc, x);
    else vmaxps(acc | k1, acc, x);
  } else {
    const Xmm& valid = scratch_.vec[0];
    vblendvps(valid, acc, x, tail_mask_);
    combine(acc, valid, operation);
  }
}

// Jumps to `in_place` when a row tensor that `sweep` writes starts where x
// does: the row is computed in place. The API rejects partial overlaps, so
// equal row pointers are the only sharing to look for.
void KernelEmitter::emit_in_place_test(const ir::Sweep& sweep, Label& in_place) {
  const Reg64& x = tensor_reg_.at(plan_.core.x);
  std::set<ValueId> written(sweep.stores.begin(), sweep.stores.end());
  for (ValueId v : sweep.spills) written.insert(plan_.spill_buffer[static_cast<size_t>(v)]);
  for (ValueId tensor : written) {
    cmp(x, tensor_reg_.at(tensor));
    je(in_place, T_NEAR);
  }
}

// After a speculative block (and its sum): if the block's max B exceeds the
// reference by more than kSpeculationMargin, B becomes the block's max and
// the reference, and the block runs again from `restart`. Its exps past the
// margin may have been anything, but the second run writes y and the block's
// sum again. Otherwise the reference rises to B if B is larger, so that the
// next block starts from the max of the row so far. B NaN (or a NaN
// reference) does not run again: the block's sum is NaN then, and so is every
// output.
void KernelEmitter::emit_speculation_check(Label& restart) {
  const Xmm& block_max = block_max_acc_[0];
  const Xmm& limit = scratch_.vec[0];
  ValueId m = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
  Label within_margin;
  mark("speculative max: the block runs again if its max exceeds the reference by the margin");
  for (size_t lane = 1; lane < block_max_lanes(); ++lane) vmaxps(block_max, block_max, block_max_acc_[lane]);
  horizontal(block_max, LaneCombine::kMax);
  vaddps(limit, value_register(m), pool_.vector(ir::kSpeculationMargin));
  vucomiss(Xmm(block_max.getIdx()), Xmm(limit.getIdx()));
  jbe(within_margin, T_NEAR);  // also taken when either is NaN
  vbroadcastss(value_register(m), Xmm(block_max.getIdx()));
  vmovss(dword[rsp + kBlockSlot * 4 + block_max_area_], Xmm(block_max.getIdx()));
  // The horizontal max above zeroed the upper lanes of the first accumulator.
  // Left so, the second run would find a block max of 0, run a third time
  // relative to 0, and underflow the block's exps for a max below -87.
  reset_block_accumulators();
  mov(rcx, qword[rsp + block_shift_offset_]);
  mov(kIndex, kBlockSlot);
  shl(kIndex, cl);
  jmp(restart, T_NEAR);
  L(within_margin);
  vbroadcastss(limit, Xmm(block_max.getIdx()));
  vmaxps(value_register(m), value_register(m), limit);
}

// The block's sum: the float sums since the last flush go to the frame's
// doubles, which are reduced into the block's slot and restart from 0.
void KernelEmitter::emit_block_sum() {
  const Xmm& lo = scratch_.vec[0];
  const Xmm& hi = scratch_.vec[1];
  int vector_bytes = target_.bytes();
  flush_sums();
  for (Reduction& r : reductions_) {
    int area = sum_area_.at(r.op);
    vmovupd(lo, ptr[rsp + area]);
    vaddpd(lo, lo, ptr[rsp + area + vector_bytes]);
    vxorpd(hi, hi, hi);
    vmovupd(ptr[rsp + area], hi);
    vmovupd(ptr[rsp + area + vector_bytes], hi);
    horizontal(lo, LaneCombine::kAddDoubles);
    vmovsd(qword[rsp + kBlockSlot * 8 + block_sum_area_], Xmm(lo.getIdx()));
  }
}

// M = max of the block maxima and S = sum of s_b * exp(m_b - M), stored as
// the row's max and sum for the last sweep.
void KernelEmitter::emit_block_totals() {
  // The math scratch registers are taken by exp: the sum goes in an
  // accumulator, which the last block left at zero.
  // The loops' pinned constants are free again here.
  const Xmm& row_max = block_max_acc_[0];
  const Xmm factor = take_register();
  const Xmm& sum = reductions_[0].acc[0];
  Label max_loop, sum_loop, done;

  // rcx = number of blocks, at least 1 for a nonempty row.
  mov(rcx, qword[rsp + block_shift_offset_]);
  mov(rax, qword[rsp + block_bytes_offset_]);
  lea(rax, ptr[kRowBytes + rax - 1]);
  shr(rax, cl);
  mov(rcx, rax);
  vmovups(row_max, pool_.vector(-FLT_MAX));
  xor_(kBlockSlot, kBlockSlot);
  L(max_loop);
  cmp(kBlockSlot, rcx);
  jge(done, T_NEAR);
  vmaxss(Xmm(row_max.getIdx()), Xmm(row_max.getIdx()), dword[rsp + kBlockSlot * 4 + block_max_area_]);
  inc(kBlockSlot);
  jmp(max_loop, T_NEAR);
  L(done);
  vbroadcastss(row_max, Xmm(row_max.getIdx()));
  // Under the speculative max the last block's max may exceed its reference
  // (within the margin), so the maxima above can trail the row's. m's
  // register holds the reference raised after every block, which is the
  // row's max: S is then relative to it, as a per-row output log(S) needs.
  // The row's max goes in the second operand, which a NaN reference leaves.
  ValueId m_value = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
  if (plan_.speculative_max) vmaxps(row_max, value_register(m_value), row_max);

  Label sums_done;
  vxorpd(sum, sum, sum);
  xor_(kBlockSlot, kBlockSlot);
  L(sum_loop);
  cmp(kBlockSlot, rcx);
  jge(sums_done, T_NEAR);
  vbroadcastss(factor, dword[rsp + kBlockSlot * 4 + block_max_area_]);
  vsubps(factor, factor, row_max);
  emit_core_exp(factor);
  vcvtss2sd(Xmm(factor.getIdx()), Xmm(factor.getIdx()), Xmm(factor.getIdx()));
  vfmadd231sd(Xmm(sum.getIdx()), Xmm(factor.getIdx()), qword[rsp + kBlockSlot * 8 + block_sum_area_]);
  inc(kBlockSlot);
  jmp(sum_loop, T_NEAR);
  L(sums_done);
  vcvtsd2ss(Xmm(sum.getIdx()), Xmm(sum.getIdx()), Xmm(sum.getIdx()));

  // S = 0 for an empty row (no blocks) and for a row of -inf, because any
  // finite or +inf element adds at least exp(0) = 1 and a NaN makes S NaN.
  // The block maxima left M at -FLT_MAX in both. As in the interpreter, an
  // empty row gets the identities M = -inf and S = 0, and a row of -inf gets
  // M = -inf and S = NaN, because its x - max is NaN.
  constexpr uint8_t kEqualOrdered = 0x00;
  constexpr uint32_t kQuietNanBits = 0x7fc00000;
  constexpr uint32_t kNegativeInfinity = 0xff800000;
  Label empty_row;
  vbroadcastss(factor, Xmm(sum.getIdx()));
  if (target_.avx512) {
    vcmpps(scratch_.mask[0], factor, pool_.vector(0.0f), kEqualOrdered);
    vmovaps(row_max | scratch_.mask[0], pool_.vector_bits(kNegativeInfinity));
    test(kRowBytes, kRowBytes);
    jz(empty_row, T_NEAR);
    vmovaps(sum | scratch_.mask[0], pool_.vector_bits(kQuietNanBits));
  } else {
    vcmpps(factor, factor, pool_.vector(0.0f), kEqualOrdered);
    vblendvps(row_max, row_max, pool_.vector_bits(kNegativeInfinity), factor);
    test(kRowBytes, kRowBytes);
    jz(empty_row, T_NEAR);
    vblendvps(sum, sum, pool_.vector_bits(kQuietNanBits), factor);
  }
  L(empty_row);
  ValueId m = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
  ValueId s = p_.ops[static_cast<size_t>(plan_.core.sum_op)].results[0];
  store_scalar_result(m, row_max);
  store_scalar_result(s, sum);
  free_register(factor);
}

// The block's factor exp(m_b - M) / S, into the register that the last
// sweep's body multiplies by.
void KernelEmitter::emit_block_factor() {
  vbroadcastss(block_factor_, dword[rsp + kBlockSlot * 4 + block_max_area_]);
  vsubps(block_factor_, block_factor_, block_row_max_);
  emit_core_exp(block_factor_);
  vmulps(block_factor_, block_factor_, block_inverse_sum_);
}

// Sets the register that the last sweep's body subtracts to the block's
// (M - m_b) + l, for a log-softmax's y = d - l whose d = x - m_b was
// written per block.
void KernelEmitter::emit_block_shift() {
  const Xmm& block_max = scratch_.vec[0];
  vbroadcastss(block_max, dword[rsp + kBlockSlot * 4 + block_max_area_]);
  vsubps(block_max, block_row_max_, block_max);
  vaddps(vreg_of_.at(block_shift_value_), block_max, block_log_sum_);
}

}  // namespace rowjit::jit
