// The online form of the softmax core: max and sum of exp in one sweep.
//
// Online normalizer ("Online normalizer calculation for softmax", Milakov and
// Gimelshein, 2018), by blocks: each lane keeps a running max m, a reference
// r and a float sum d of exp((x - r) * c). Before a block of kFlushInterval
// iterations, a pass of max alone over the block raises m, so that the
// block's exps share one reference and need no per-element rescaling. That
// pass reads the block from memory and the exp pass then finds it in L1, so
// the row is still read from memory once. After the block, the flush adds d
// into a double sum D. The reference follows m only when m exceeds it by more
// than kReferenceMargin (in units of the exp's argument), and D is rescaled
// when it moves: D = D * exp((r_old - r) * c). Each rescale multiplies D by an
// exp with a few ulp of error, so a max that creeps up through a long row would
// otherwise rescale at every block and add those errors up. A lane whose
// reference stays skips the rescale and its exp, which is the common case
// once the row's large logits have been seen. Under Plan::speculative_max only
// block 0 takes the max pass: later blocks raise m in the exp pass and run
// again where a reference must move (emit_online_speculation_check).
// The max starts at -FLT_MAX rather than -inf, so that an x of -inf gives
// exp(-inf) = 0 instead of exp(-inf - -inf) = NaN. The reference leaves that
// start value at the first max pass that finds a larger one. So every
// difference the form takes (x - r, and r - r' when it rescales) is between
// two elements of the row, and it overflows only where the interpreter's
// x - max(x) overflows too. A difference with the start value would overflow
// for logits above 1e31, and the overflowed -inf times a multiplier c of 0 is
// NaN, times a tiny c -inf.
// NOTE: a row whose max(x) - min(x) exceeds FLT_MAX still differs from the
// interpreter when |c| < 1e-30: there x - max(x) is -inf (NaN or 0 after
// the multiplier), but here the two steps x - r and r - max(x) stay finite.
//
// The form keeps float partial sums per lane and flushes them every few
// iterations into doubles in the frame, which keeps the error of long rows
// near one rounding. The extended-exponent form (emit_extexp.cpp) does the
// same.
#include <cfloat>
#include <cmath>

#include "jit/kernel_emitter.h"

namespace rowjit::jit {

using namespace Xbyak;
using namespace Xbyak::util;
using ir::ValueId;

namespace {

// Exps of the online sum are of arguments up to this, e^8 = 2981 at most.
constexpr float kReferenceMargin = 8.0f;

// factor = 0 in the lanes where the double sum `sum` is 0, before sum * factor.
// A lane sum of 0 has seen no element yet (or only exps that are 0), and its
// rescale factor can be NaN: exp((-FLT_MAX - r) * 0) when r is above 1e31.
// `temp` is a free register (AVX2 only).
void keep_empty_sum(KernelEmitter& code, bool avx512, const Xbyak::Opmask& mask, const Xmm& sum, const Xmm& factor,
                    const Xmm& temp) {
  constexpr uint8_t kEqualOrdered = 0x00;
  if (avx512) {
    code.vcmppd(mask, sum, code.pool().vector_bits(0), kEqualOrdered);
    code.vmovapd(factor | mask, sum);
  } else {
    code.vcmppd(temp, sum, code.pool().vector_bits(0), kEqualOrdered);
    code.vblendvpd(factor, factor, sum, temp);
  }
}

}  // namespace

// exp of a value that is <= 0 whenever the temperature is positive.
void KernelEmitter::emit_core_exp(const Xmm& v) {
  MathEmitter mm = math();
  if (plan_.core.exp_input_nonpositive) emit_exp_nonpositive(mm, v, v, scratch_);
  else emit_exp(mm, v, v, scratch_);
}

void KernelEmitter::scale_exponent(const Xmm& v) {
  if (plan_.core.scale == ir::kNoValue) return;
  const Xmm& c = value_register(plan_.core.scale);
  if (plan_.core.scale_divides) vdivps(v, v, c);
  else vmulps(v, v, c);
}

// ---- online normalizer ---------------------------------------------------

void KernelEmitter::init_online() {
  OnlineState state;
  int vector_bytes = target_.bytes();
  vmovups(scratch_.vec[0], pool_.vector(-FLT_MAX));
  vxorps(scratch_.vec[1], scratch_.vec[1], scratch_.vec[1]);
  for (int lane = 0; lane < unroll_; ++lane) {
    Xmm m = take_register();
    Xmm d = take_register();
    Xmm r = take_register();
    vmovaps(m, scratch_.vec[0]);
    vmovaps(r, scratch_.vec[0]);
    vxorps(d, d, d);
    state.max_acc.push_back(m);
    state.sum_acc.push_back(d);
    state.reference.push_back(r);
    vmovups(ptr[rsp + online_sum_area_ + 2 * lane * vector_bytes], scratch_.vec[1]);
    vmovups(ptr[rsp + online_sum_area_ + (2 * lane + 1) * vector_bytes], scratch_.vec[1]);
  }
  state.temp0 = take_register();
  state.temp1 = take_register();
  online_ = state;
}

// e = exp((x - r) * c) and d += e for each lane of a group (see
// jit/emit_body.cpp), where the max pass made (x - r) * c at most
// kReferenceMargin. Lanes after the first borrow e and the exp scratch from
// the free registers.
void KernelEmitter::accumulate_online(std::span<const Xmm> xs, std::span<const BodyMode> modes) {
  OnlineState& st = *online_;
  std::vector<ExpLane> lanes;
  for (size_t i = 0; i < modes.size(); ++i) {
    ExpLane lane = exp_lane_scratch(i);
    lane.dst = i == 0 ? st.temp0 : take_register();
    lane.src = lane.dst;
    lanes.push_back(lane);
  }
  for (size_t i = 0; i < modes.size(); ++i) {
    vsubps(lanes[i].dst, xs[i], st.reference[static_cast<size_t>(modes[i].lane)]);
  }
  // Under Plan::speculative_max the block's max comes from here. The masked
  // tail needs none: the max pass over the rest of the row covered it.
  if (plan_.speculative_max) {
    for (size_t i = 0; i < modes.size(); ++i) {
      if (modes[i].masked) continue;
      const Xmm& m = st.max_acc[static_cast<size_t>(modes[i].lane)];
      vmaxps(m, m, xs[i]);
    }
  }
  for (const ExpLane& lane : lanes) scale_exponent(lane.dst);
  MathEmitter mm = math();
  if (plan_.core.exp_input_nonpositive) {
    emit_exp_nonpositive(mm, lanes);
  } else {
    for (const ExpLane& lane : lanes) emit_exp(mm, lane.dst, lane.dst, scratch_);
  }
  for (size_t i = 0; i < modes.size(); ++i) {
    const Xmm& d = st.sum_acc[static_cast<size_t>(modes[i].lane)];
    const Xmm& e = lanes[i].dst;
    if (!modes[i].masked) {
      vaddps(d, d, e);
    } else if (target_.avx512) {
      vaddps(d | k1, d, e);
    } else {
      vandps(e, e, tail_mask_);
      vaddps(d, d, e);
    }
  }
  return_exp_scratch(lanes);
  for (size_t i = 1; i < lanes.size(); ++i) free_register(lanes[i].dst);
}

// m = max(m, x) for the vector of x at [kIndex register + `index` + offset],
// leaving m NaN when x is NaN. Masked-off tail lanes leave m as it is.
void KernelEmitter::raise_online_max(const Reg64& index, const BodyMode& mode) {
  OnlineState& st = *online_;
  const Xmm& m = st.max_acc[static_cast<size_t>(mode.lane)];
  Address x = ptr[tensor_reg_.at(plan_.core.x) + index + mode.byte_offset];
  if (!mode.masked) {
    vmaxps(m, m, x);
  } else if (target_.avx512) {
    vmaxps(m | k1, m, x);
  } else {
    const Xmm& v = scratch_.vec[0];
    load_tail_avx2(v, tensor_reg_.at(plan_.core.x), index, mode.byte_offset);
    vblendvps(v, m, v, tail_mask_);
    vmaxps(m, m, v);
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

// Sets the lane's move mask (scratch_.mask[0] on AVX-512, scratch_.vec[1] on
// AVX2): the lanes whose reference r must move to their max m, because r is
// still -FLT_MAX and m is not, or because (m - r) * c exceeds
// kReferenceMargin. With `nan_moves`, a NaN gap moves r too.
void KernelEmitter::emit_reference_move_mask(int lane, bool nan_moves) {
  constexpr uint8_t kNotLessEqualUnordered = 0x16;  // NLE_UQ: true for NaN
  constexpr uint8_t kGreaterOrdered = 0x1e;         // GT_OQ: false for NaN
  constexpr uint8_t kEqualOrdered = 0x00;
  constexpr uint8_t kNotEqualOrdered = 0x0c;
  const uint8_t beyond_margin = nan_moves ? kNotLessEqualUnordered : kGreaterOrdered;
  OnlineState& st = *online_;
  const Xmm& m = st.max_acc[static_cast<size_t>(lane)];
  const Xmm& r = st.reference[static_cast<size_t>(lane)];
  const Xmm& gap = scratch_.vec[0];
  vsubps(gap, m, r);
  scale_exponent(gap);
  if (target_.avx512) {
    vcmpps(scratch_.mask[0], gap, pool_.vector(kReferenceMargin), beyond_margin);
    vcmpps(scratch_.mask[1], r, pool_.vector(-FLT_MAX), kEqualOrdered);
    vcmpps(scratch_.mask[1] | scratch_.mask[1], m, r, kNotEqualOrdered);
    korw(scratch_.mask[0], scratch_.mask[0], scratch_.mask[1]);
  } else {
    const Xmm& move = scratch_.vec[1];
    const Xmm& unequal = scratch_.vec[2];
    vcmpps(move, gap, pool_.vector(kReferenceMargin), beyond_margin);
    vcmpps(gap, r, pool_.vector(-FLT_MAX), kEqualOrdered);
    vcmpps(unequal, m, r, kNotEqualOrdered);
    vandps(gap, gap, unequal);
    vorps(move, move, gap);
  }
}

// Jumps to `empty` when the lane's move mask (emit_reference_move_mask) has
// no lane set.
void KernelEmitter::jump_if_no_move(Label& empty) {
  if (target_.avx512) {
    kortestw(scratch_.mask[0], scratch_.mask[0]);
  } else {
    vtestps(scratch_.vec[1], scratch_.vec[1]);
  }
  jz(empty, T_NEAR);
}

// Moves each lane's reference r to its max m after a max pass, in the lanes
// that emit_reference_move_mask sets. A NaN gap moves r too. It comes from
// inf * 0 with a multiplier of 0, or from a NaN m, and the NaN in x makes the
// sum NaN anyway. A lane whose references all stay skips the rescale of its
// sum (rescale_online_sum). After the first blocks that is the common case,
// also in masked rows, whose lanes keep m = r = -FLT_MAX until a finite logit
// arrives.
void KernelEmitter::update_online_references() {
  OnlineState& st = *online_;
  const Xmm& old_reference = st.temp0;
  for (int lane = 0; lane < unroll_; ++lane) {
    const Xmm& m = st.max_acc[static_cast<size_t>(lane)];
    const Xmm& r = st.reference[static_cast<size_t>(lane)];
    Label stays;
    emit_reference_move_mask(lane, true);
    jump_if_no_move(stays);
    vmovaps(old_reference, r);
    if (target_.avx512) vmovaps(r | scratch_.mask[0], m);
    else vblendvps(r, r, m, scratch_.vec[1]);
    rescale_online_sum(lane, old_reference);
    L(stays);
  }
}

// Emits the start of a main-loop block. Without Plan::speculative_max, a pass
// of max alone raises m over the block and the references follow it. With it,
// only block 0 takes that pass. A later block computes its exps with the
// references as they are and raises m as it loads x (accumulate_online), and
// emit_online_speculation_check runs it again if a reference must move.
void KernelEmitter::emit_online_block_start(const Reg64& last_start) {
  if (!plan_.speculative_max) {
    emit_online_max_pass(last_start, false);
    return;
  }
  Label speculate;
  mark("speculative max: block 0 takes a max pass, later blocks the references before them");
  mov(qword[rsp + online_block_start_], kIndex);
  test(kIndex, kIndex);
  jnz(speculate, T_NEAR);
  emit_online_max_pass(last_start, false);
  L(speculate);
}

// Runs a speculative block again where a lane's max moved past its reference:
// the block's float sums are dropped, the references move and rescale the
// double sums, and the loop restarts at the block's first element. A NaN gap
// does not count, because the NaN is in the sum already. The rerun finds the
// same maxima, which the references now match, so a block runs at most twice.
void KernelEmitter::emit_online_speculation_check(Label& main_loop) {
  OnlineState& st = *online_;
  Label rerun, keep;
  mark("speculative max: the block runs again if a reference must move");
  for (int lane = 0; lane < unroll_; ++lane) {
    Label next;
    emit_reference_move_mask(lane, false);
    jump_if_no_move(next);
    jmp(rerun, T_NEAR);
    L(next);
  }
  jmp(keep, T_NEAR);
  L(rerun);
  for (const Xmm& d : st.sum_acc) vxorps(d, d, d);
  update_online_references();
  mov(kIndex, qword[rsp + online_block_start_]);
  jmp(main_loop, T_NEAR);
  L(keep);
}

// Rescales the lane's double sum D to its new reference r:
// D = D * exp((r_old - r) * c), with r_old in `old_reference` (overwritten).
// The flush before this added the float sum, so D contains every exp taken
// relative to r_old. The factor is 1 in the lanes whose reference stayed.
void KernelEmitter::rescale_online_sum(int lane, const Xmm& old_reference) {
  OnlineState& st = *online_;
  const Xmm& f = old_reference;
  const Xmm& half = st.temp1;
  const Xmm& sum = scratch_.vec[0];
  const Xmm& wide_f = scratch_.vec[1];
  vsubps(f, f, st.reference[static_cast<size_t>(lane)]);
  scale_exponent(f);
  emit_core_exp(f);
  int sum_slot = online_sum_area_ + 2 * lane * target_.bytes();
  for (int part = 0; part < 2; ++part) {
    widen_half(wide_f, f, half, part);
    int slot = sum_slot + part * target_.bytes();
    vmovupd(sum, ptr[rsp + slot]);
    keep_empty_sum(*this, target_.avx512, scratch_.mask[0], sum, wide_f, half);
    vmulpd(sum, sum, wide_f);
    vmovupd(ptr[rsp + slot], sum);
  }
}

// Converts half `part` (0: low, 1: high) of the float lanes of v to doubles in
// `wide`. `half` is a free register.
void KernelEmitter::widen_half(const Xmm& wide, const Xmm& v, const Xmm& half, int part) {
  if (target_.avx512) {
    if (part == 0) {
      vcvtps2pd(wide, Ymm(v.getIdx()));
    } else {
      vextractf32x8(Ymm(half.getIdx()), Zmm(v.getIdx()), 1);
      vcvtps2pd(wide, Ymm(half.getIdx()));
    }
  } else if (part == 0) {
    vcvtps2pd(wide, Xmm(v.getIdx()));
  } else {
    vextractf128(Xmm(half.getIdx()), Ymm(v.getIdx()), 1);
    vcvtps2pd(wide, Xmm(half.getIdx()));
  }
}

// Adds each lane's float sum into its double sum, D = D + d, and clears it.
// Both are relative to the lane's current reference.
void KernelEmitter::flush_online() {
  OnlineState& st = *online_;
  const Xmm& half = st.temp1;
  const Xmm& sum = scratch_.vec[0];
  const Xmm& wide_d = scratch_.vec[1];
  for (int lane = 0; lane < unroll_; ++lane) {
    const Xmm& d = st.sum_acc[static_cast<size_t>(lane)];
    int sum_slot = online_sum_area_ + 2 * lane * target_.bytes();
    for (int part = 0; part < 2; ++part) {
      widen_half(wide_d, d, half, part);
      int slot = sum_slot + part * target_.bytes();
      vaddpd(sum, wide_d, ptr[rsp + slot]);
      vmovupd(ptr[rsp + slot], sum);
    }
    vxorps(d, d, d);
  }
}

void KernelEmitter::finish_online() {
  OnlineState& st = *online_;
  int vector_bytes = target_.bytes();
  const Xmm& max_all = st.temp0;
  const Xmm& f = st.temp1;
  ValueId m_value = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
  ValueId s_value = p_.ops[static_cast<size_t>(plan_.core.sum_op)].results[0];

  // The lanes' references go to the frame, because the code below reuses their
  // registers. Each lane's double sum is relative to its reference.
  for (int lane = 0; lane < unroll_; ++lane) {
    vmovups(ptr[rsp + online_max_area_ + lane * vector_bytes], st.reference[static_cast<size_t>(lane)]);
  }

  // The row max, from the lanes' running maxima.
  const Xmm& true_max = st.reference[0];
  vmovaps(true_max, st.max_acc[0]);
  for (int lane = 1; lane < unroll_; ++lane) vmaxps(true_max, true_max, st.max_acc[static_cast<size_t>(lane)]);
  horizontal(true_max, LaneCombine::kMax);
  vbroadcastss(true_max, Xmm(true_max.getIdx()));

  // The common reference: the max over the lanes' flushed references.
  vmovups(max_all, ptr[rsp + online_max_area_]);
  for (int lane = 1; lane < unroll_; ++lane) vmaxps(max_all, max_all, ptr[rsp + online_max_area_ + lane * vector_bytes]);
  horizontal(max_all, LaneCombine::kMax);
  vbroadcastss(max_all, Xmm(max_all.getIdx()));

  // The row sum: every lane's double sum rescaled to the row max. The double
  // totals go to the lane areas of lane 0, which are no longer needed.
  Xmm total_lo = st.max_acc[0];
  Xmm total_hi = st.sum_acc[0];
  vxorpd(total_lo, total_lo, total_lo);
  vxorpd(total_hi, total_hi, total_hi);
  for (int lane = 0; lane < unroll_; ++lane) {
    vmovups(f, ptr[rsp + online_max_area_ + lane * vector_bytes]);
    vsubps(f, f, max_all);
    scale_exponent(f);
    emit_core_exp(f);
    const Xmm& wide = scratch_.vec[0];
    const Xmm& half = scratch_.vec[1];
    const Xmm& lane_sum = scratch_.vec[2];
    int sum_slot = online_sum_area_ + 2 * lane * vector_bytes;
    for (int part = 0; part < 2; ++part) {
      widen_half(wide, f, half, part);
      vmovupd(lane_sum, ptr[rsp + sum_slot + part * vector_bytes]);
      keep_empty_sum(*this, target_.avx512, scratch_.mask[0], lane_sum, wide, half);
      vfmadd231pd(part == 0 ? total_lo : total_hi, wide, lane_sum);
    }
  }
  vaddpd(total_lo, total_lo, total_hi);
  horizontal(total_lo, LaneCombine::kAddDoubles);
  Xmm sum(total_lo.getIdx());
  // Rescaled from the reference to the row max, at most kReferenceMargin
  // above it.
  vsubps(f, max_all, true_max);
  scale_exponent(f);
  emit_core_exp(f);
  vcvtss2sd(Xmm(f.getIdx()), Xmm(f.getIdx()), Xmm(f.getIdx()));
  vmulsd(sum, sum, Xmm(f.getIdx()));
  Xmm row_max(true_max.getIdx());

  // A zero sum means every element was -inf (or the row is empty): the
  // reference gives max = -inf and sum = NaN (or 0 for an empty row).
  Label done;
  const Xmm zero(scratch_.vec[0].getIdx());
  vxorpd(zero, zero, zero);
  vucomisd(sum, zero);
  jp(done, T_NEAR);
  jne(done, T_NEAR);
  mov(eax, 0xFF800000u);  // -inf
  vmovd(row_max, eax);
  test(r9, r9);
  jz(done, T_NEAR);
  mov(rax, 0x7FF8000000000000ull);  // double NaN
  vmovq(sum, rax);
  L(done);
  vcvtsd2ss(sum, sum, sum);
  store_scalar_result(m_value, row_max);
  store_scalar_result(s_value, sum);
}

}  // namespace rowjit::jit
