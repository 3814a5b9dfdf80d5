// The two-pass forms of the softmax core: max and sum of exp in one sweep.
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

// Extended exponent ("The Two-Pass Softmax Algorithm", Dukhan and Ablavatski,
// 2020): exp(x) = p * 2^e with p in about [0.7, 1.42]; each lane keeps a
// mantissa sum P and an exponent E, rescaled to the larger exponent with
// vscalefps, so no max is needed and nothing overflows. Exponents reach
// +-FLT_MAX (for +-inf), so a difference of two can overflow to -inf, and
// vscalefps(NaN, -inf) is +0, not NaN. Every exponent difference that scales
// a sum is clamped to -FLT_MAX, which scales a number to 0 just as well but
// keeps a NaN sum NaN.
//
// Both keep float partial sums per lane and flush them every few iterations
// into doubles in the frame, which keeps the error of long rows near one
// rounding.
#include <bit>
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

// ---- extended exponent (AVX-512) --------------------------------------------

void KernelEmitter::init_extexp() {
  ExtExpState state;
  int vector_bytes = target_.bytes();
  vmovups(scratch_.vec[0], pool_.vector(-FLT_MAX));
  vxorps(scratch_.vec[1], scratch_.vec[1], scratch_.vec[1]);
  for (int lane = 0; lane < unroll_; ++lane) {
    Xmm p = take_register();
    Xmm e = take_register();
    vxorps(p, p, p);
    vmovaps(e, scratch_.vec[0]);
    state.mantissa_acc.push_back(p);
    state.exponent_acc.push_back(e);
    Xmm input_max = take_register();
    vmovups(input_max, pool_.vector(-INFINITY));
    state.input_max.push_back(input_max);
    vmovups(ptr[rsp + extexp_exponent_area_ + lane * vector_bytes], scratch_.vec[0]);
    vmovups(ptr[rsp + extexp_mantissa_area_ + 2 * lane * vector_bytes], scratch_.vec[1]);
    vmovups(ptr[rsp + extexp_mantissa_area_ + (2 * lane + 1) * vector_bytes], scratch_.vec[1]);
  }
  state.temp0 = take_register();
  state.temp1 = take_register();
  extexp_ = state;
}

void KernelEmitter::accumulate_extexp(const Xmm& x, const BodyMode& mode) {
  ExtExpState& st = *extexp_;
  const Xmm& p_acc = st.mantissa_acc[static_cast<size_t>(mode.lane)];
  const Xmm& e_acc = st.exponent_acc[static_cast<size_t>(mode.lane)];
  const Xmm& p = st.temp0;
  const Xmm& e = st.temp1;
  MathEmitter mm = math();
  emit_exp_parts(mm, p, e, x, scratch_);
  const Xmm& e_max = scratch_.vec[0];
  const Xmm& delta = scratch_.vec[1];
  vmaxps(e_max, e_acc, e);
  vsubps(e, e, e_max);
  vscalefps(p, p, e);
  vsubps(delta, e_acc, e_max);
  // A NaN delta becomes -FLT_MAX here, but then e_acc or e is NaN, and so is
  // p_acc or p.
  vmaxps(delta, delta, pool_.vector(-FLT_MAX));
  const Xmm& input_max = st.input_max[static_cast<size_t>(mode.lane)];
  if (mode.masked) {
    vscalefps(p_acc | k1, p_acc, delta);
    vaddps(p_acc | k1, p_acc, p);
    vmovaps(e_acc | k1, e_max);
    vmaxps(input_max | k1, input_max, x);
  } else {
    vscalefps(p_acc, p_acc, delta);
    vaddps(p_acc, p_acc, p);
    vmovaps(e_acc, e_max);
    vmaxps(input_max, input_max, x);
  }
}

// Folds each lane's (P, E) into its double mantissa sum and float exponent in
// the frame, at the larger of the two exponents.
void KernelEmitter::flush_extexp() {
  ExtExpState& st = *extexp_;
  int vector_bytes = target_.bytes();
  const Xmm& frame_e = st.temp0;
  const Xmm& new_e = st.temp1;
  for (int lane = 0; lane < unroll_; ++lane) {
    const Xmm& p_acc = st.mantissa_acc[static_cast<size_t>(lane)];
    const Xmm& e_acc = st.exponent_acc[static_cast<size_t>(lane)];
    int e_slot = extexp_exponent_area_ + lane * vector_bytes;
    int p_slot = extexp_mantissa_area_ + 2 * lane * vector_bytes;
    vmovups(frame_e, ptr[rsp + e_slot]);
    vmaxps(new_e, frame_e, e_acc);
    vsubps(frame_e, frame_e, new_e);  // shift of the frame sum, <= 0
    vsubps(e_acc, e_acc, new_e);      // shift of the lane sum, <= 0
    vmaxps(frame_e, frame_e, pool_.vector(-FLT_MAX));
    vmaxps(e_acc, e_acc, pool_.vector(-FLT_MAX));
    vscalefps(p_acc, p_acc, e_acc);
    vmovups(ptr[rsp + e_slot], new_e);
    for (int part = 0; part < 2; ++part) {
      const Xmm& wide_shift = scratch_.vec[0];
      const Xmm& wide_p = scratch_.vec[1];
      const Xmm& half = scratch_.vec[2];
      if (part == 0) {
        vcvtps2pd(wide_shift, Ymm(frame_e.getIdx()));
        vcvtps2pd(wide_p, Ymm(p_acc.getIdx()));
      } else {
        vextractf32x8(Ymm(half.getIdx()), Zmm(frame_e.getIdx()), 1);
        vcvtps2pd(wide_shift, Ymm(half.getIdx()));
        vextractf32x8(Ymm(half.getIdx()), Zmm(p_acc.getIdx()), 1);
        vcvtps2pd(wide_p, Ymm(half.getIdx()));
      }
      int slot = p_slot + part * vector_bytes;
      vmovupd(half, ptr[rsp + slot]);
      vscalefpd(half, half, wide_shift);
      vaddpd(half, half, wide_p);
      vmovupd(ptr[rsp + slot], half);
    }
    vxorps(p_acc, p_acc, p_acc);
    vmovups(e_acc, pool_.vector(-FLT_MAX));
  }
}

void KernelEmitter::finish_extexp() {
  ExtExpState& st = *extexp_;
  int vector_bytes = target_.bytes();
  const Xmm& e_max = st.temp0;
  const Xmm& shift = st.temp1;
  vmovups(e_max, ptr[rsp + extexp_exponent_area_]);
  for (int lane = 1; lane < unroll_; ++lane) {
    vmaxps(e_max, e_max, ptr[rsp + extexp_exponent_area_ + lane * vector_bytes]);
  }
  horizontal(e_max, LaneCombine::kMax);
  vbroadcastss(e_max, Xmm(e_max.getIdx()));

  Xmm total_lo = st.mantissa_acc[0];
  Xmm total_hi = st.exponent_acc[0];
  vxorpd(total_lo, total_lo, total_lo);
  vxorpd(total_hi, total_hi, total_hi);
  for (int lane = 0; lane < unroll_; ++lane) {
    int p_slot = extexp_mantissa_area_ + 2 * lane * vector_bytes;
    vmovups(shift, ptr[rsp + extexp_exponent_area_ + lane * vector_bytes]);
    vsubps(shift, shift, e_max);
    vmaxps(shift, shift, pool_.vector(-FLT_MAX));
    const Xmm& wide = scratch_.vec[0];
    const Xmm& part_sum = scratch_.vec[1];
    const Xmm& half = scratch_.vec[2];
    vcvtps2pd(wide, Ymm(shift.getIdx()));
    vmovupd(part_sum, ptr[rsp + p_slot]);
    vscalefpd(part_sum, part_sum, wide);
    vaddpd(total_lo, total_lo, part_sum);
    vextractf32x8(Ymm(half.getIdx()), Zmm(shift.getIdx()), 1);
    vcvtps2pd(wide, Ymm(half.getIdx()));
    vmovupd(part_sum, ptr[rsp + p_slot + vector_bytes]);
    vscalefpd(part_sum, part_sum, wide);
    vaddpd(total_hi, total_hi, part_sum);
  }
  vaddpd(total_lo, total_lo, total_hi);
  horizontal(total_lo, LaneCombine::kAddDoubles);

  // A +inf in the row makes the reference sum NaN (exp(inf - inf)), but its
  // mantissa and exponent are finite: look for it in the max of the inputs.
  const Xmm& input_max = st.input_max[0];
  for (size_t lane = 1; lane < st.input_max.size(); ++lane) vmaxps(input_max, input_max, st.input_max[lane]);
  horizontal(input_max, LaneCombine::kMax);
  Label finite;
  mov(eax, 0x7F800000u);  // +inf
  vmovd(Xmm(scratch_.vec[0].getIdx()), eax);
  vucomiss(Xmm(input_max.getIdx()), Xmm(scratch_.vec[0].getIdx()));
  jne(finite, T_NEAR);
  mov(rax, 0x7FF8000000000000ull);  // double NaN
  vmovq(Xmm(total_lo.getIdx()), rax);
  L(finite);
  // A NaN sum scales every output by its NaN reciprocal. The exponent
  // x - e_max of the scale sweep would be -inf for an x of -inf once e_max
  // is above 1e31, and vscalefps(NaN, -inf) is +0: e_max = 0 keeps it finite.
  Label number;
  vucomisd(Xmm(total_lo.getIdx()), Xmm(total_lo.getIdx()));
  jnp(number, T_NEAR);
  vxorps(Xmm(e_max.getIdx()), Xmm(e_max.getIdx()), Xmm(e_max.getIdx()));
  L(number);

  // inv = 1 / S as float; an all -inf row has S = 0, inv = inf, and the scale
  // sweep then computes 0 * inf = NaN, as the reference does.
  Xmm sum(total_lo.getIdx());
  Xmm one(scratch_.vec[0].getIdx());
  mov(rax, 0x3FF0000000000000ull);  // double 1.0
  vmovq(one, rax);
  vdivsd(one, one, sum);
  vcvtsd2ss(one, one, one);
  vmovss(dword[rsp + extexp_inv_offset_], one);
  vmovss(dword[rsp + extexp_exp_offset_], Xmm(e_max.getIdx()));

  // A row whose max M is at least 2^127 in magnitude (and finite, with a sum
  // that is a number) takes the copy of the scale sweep for ties.
  const Xmm magnitude(scratch_.vec[0].getIdx());
  const Xmm bound(scratch_.vec[1].getIdx());
  Label no_ties;
  mov(dword[rsp + extexp_ties_offset_], 0);
  vucomisd(Xmm(total_lo.getIdx()), Xmm(total_lo.getIdx()));
  jp(no_ties, T_NEAR);
  vandps(magnitude, Xmm(input_max.getIdx()), pool_.vector_bits(0x7FFFFFFFu));
  vmovss(bound, pool_.address_of(std::bit_cast<uint32_t>(0x1p127f)));
  vucomiss(magnitude, bound);
  jb(no_ties, T_NEAR);
  vmovss(bound, pool_.address_of(std::bit_cast<uint32_t>(INFINITY)));
  vucomiss(magnitude, bound);
  je(no_ties, T_NEAR);
  emit_extexp_tie_count(Xmm(input_max.getIdx()));
  L(no_ties);
}

// Exponents of 2^127 * log2(e) and up are beyond FLT_MAX: emit_exp_parts
// clamps them, so every x from about 2.36e38 up gets the same pair, and every
// x from about -2.36e38 down another. A row whose max M has such an exponent
// would split its softmax evenly among all those elements. But from 2^127 up,
// floats are 2^104 apart, so exp(x - M) is 1 where x equals M and 0
// everywhere else. The softmax is then 1 / k on the k elements equal to M and
// 0 on the others. This counts k with a scalar loop
// over the row, stores 1 / k, M and the flag for the scale sweep's copy for
// ties, which compares each x with M (emit_extexp_scale). Such rows are rare
// and their count is cheap next to the two sweeps.
void KernelEmitter::emit_extexp_tie_count(const Xmm& row_max) {
  const Reg64& x_row = tensor_reg_.at(plan_.core.x);
  Label next, skip, counted;
  xor_(eax, eax);
  xor_(ecx, ecx);
  L(next);
  cmp(rcx, kRowBytes);
  jae(counted, T_NEAR);
  vucomiss(row_max, dword[x_row + rcx]);
  jne(skip);
  inc(eax);
  L(skip);
  add(rcx, 4);
  jmp(next);
  L(counted);
  // k is at least 1, since M is one of the row's elements. The interpreter
  // divides exp(0) = 1 by the sum k, so 1 / k is a float division too.
  const Xmm count(scratch_.vec[0].getIdx());
  const Xmm one(scratch_.vec[1].getIdx());
  vcvtsi2ss(count, count, eax);
  vmovss(one, pool_.address_of(std::bit_cast<uint32_t>(1.0f)));
  vdivss(one, one, count);
  vmovss(dword[rsp + extexp_inv_offset_], one);
  vmovss(dword[rsp + extexp_exp_offset_], row_max);
  mov(dword[rsp + extexp_ties_offset_], 1);
}

void KernelEmitter::emit_extexp_scale(const Xmm& dst, const Xmm& x) {
  if (extexp_ties_) {
    // Here extexp_inv_reg_ is 1 / k and extexp_exp_reg_ the row's max M.
    constexpr uint8_t kEqualOrdered = 0x00;
    vcmpps(scratch_.mask[0], x, extexp_exp_reg_, kEqualOrdered);
    vmovaps(dst | scratch_.mask[0] | T_z, extexp_inv_reg_);
    return;
  }
  MathEmitter mm = math();
  Xmm exponent = take_register();
  emit_exp_parts(mm, dst, exponent, x, scratch_);
  vmulps(dst, dst, extexp_inv_reg_);
  vsubps(exponent, exponent, extexp_exp_reg_);
  vscalefps(dst, dst, exponent);
  free_register(exponent);
}

}  // namespace rowjit::jit
