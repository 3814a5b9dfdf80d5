// The extended-exponent form of the softmax core (AVX-512 only): sum of exp
// in one sweep, without a max.
//
// "The Two-Pass Softmax Algorithm" (Dukhan and Ablavatski, 2020): exp(x) =
// p * 2^e with p in about [0.7, 1.42]. Each lane keeps a mantissa sum P and
// an exponent E, rescaled to the larger exponent with vscalefps, so no max is
// needed and nothing overflows. Exponents reach +-FLT_MAX (for +-inf), so a
// difference of two can overflow to -inf, and vscalefps(NaN, -inf) is +0, not
// NaN. Every exponent difference that scales a sum is clamped to -FLT_MAX,
// which scales a number to 0 just as well but keeps a NaN sum NaN.
//
// Each lane keeps float partial sums and flushes them every few iterations
// into doubles in the frame, as the online form does (emit_softmax_core.cpp).
#include <bit>
#include <cfloat>
#include <cmath>
#include <string>

#include "jit/kernel_emitter.h"

namespace rowjit::jit {

using namespace Xbyak;
using namespace Xbyak::util;

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

  emit_extexp_parts(p, e, x);
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

  // The copy on x - max leaves the flag at 1.
  if (extexp_shifted_) return;
  if (extexp_shifted_entry_ != nullptr) {
    emit_extexp_shift_test(Xmm(total_lo.getIdx()), Xmm(input_max.getIdx()));
  } else {
    mov(dword[rsp + extexp_shifted_offset_], 0);
  }
}

std::string KernelEmitter::extexp_shifted_mark() const {
  return "on x - max (the row's max is at least " + std::to_string(static_cast<int64_t>(kExtExpShiftFrom)) +
         " in magnitude)";
}

// Emits the sweep that sums exp(x) as (mantissa, exponent) pairs, then its
// copy on x - max for the rows whose max is too large for those pairs.
//
// emit_exp_parts is within 1 ulp for |x| <= 2^19 only. Beyond, the float
// product x * log2(e) is coarse: two elements close to each other can get
// the same exponent, and from about 2.36e38 up the exponent is clamped to
// FLT_MAX, so every element gets the same pair. A row whose max was that
// large split its softmax among its largest elements (0.8 and 0.2 where the
// interpreter gives 1 and 0). But softmax(x) = softmax(x - max), and the
// elements of x - max that count are within about 104 of 0. So the first copy
// of the sweep ends with a test of the row's max M. A row whose M is at least
// kExtExpShiftFrom in magnitude (finite, with a sum that is a number) stores M
// and a flag, and computes the sum again on x - M. The scale sweep then takes
// its copy on x - M too (emit_sweep.cpp). x - M rounds to float as in the
// three-pass forms.
//
// The second copy computes that sum alone. The sweep's stores and other
// reductions do not depend on the max, so the first copy's stand, and running
// them again would be wrong in place: an output written over an input in the
// first copy would be computed again from its own values (z = w * 2 gave 4w).
Status KernelEmitter::emit_extexp_sum_sweep(int sweep_index) {
  Label shifted, joined;
  auto carried_before = carried_;
  extexp_shifted_entry_ = &shifted;
  Status first = emit_sweep(sweep_index, false);
  extexp_shifted_entry_ = nullptr;
  ROWJIT_TRY(first);
  jmp(joined, T_NEAR);
  L(shifted);
  extexp_sum_only_ = ir::Sweep{};
  extexp_sum_only_.loads = {plan_.core.x};
  extexp_sum_only_.extexp_sum = true;
  carried_ = carried_before;
  extexp_shifted_ = true;
  Status second = emit_sweep(sweep_index, false, false, &extexp_sum_only_);
  extexp_shifted_ = false;
  ROWJIT_TRY(second);
  L(joined);
  // The copies leave the first copy's results in different registers, or
  // none: the next sweep reads them from the frame, where both stored them.
  carried_.clear();
  return error_;
}

// Sets the frame's flag to 0 for most rows. A row whose max M is at least
// kExtExpShiftFrom in magnitude gets M and the flag 1 instead, and jumps to
// the copy of the sweep on x - M. That needs M finite and the sum a number: a
// NaN sum makes every output NaN either way, and a row of -inf has no finite
// max.
void KernelEmitter::emit_extexp_shift_test(const Xmm& sum, const Xmm& row_max) {
  const Xmm magnitude(scratch_.vec[0].getIdx());
  const Xmm bound(scratch_.vec[1].getIdx());
  Label unshifted;
  mov(dword[rsp + extexp_shifted_offset_], 0);
  vucomisd(sum, sum);
  jp(unshifted, T_NEAR);
  vandps(magnitude, row_max, pool_.vector_bits(0x7FFFFFFFu));
  vmovss(bound, pool_.address_of(std::bit_cast<uint32_t>(kExtExpShiftFrom)));
  vucomiss(magnitude, bound);
  jb(unshifted, T_NEAR);
  vmovss(bound, pool_.address_of(std::bit_cast<uint32_t>(INFINITY)));
  vucomiss(magnitude, bound);
  je(unshifted, T_NEAR);
  vmovss(dword[rsp + extexp_shift_offset_], row_max);
  mov(dword[rsp + extexp_shifted_offset_], 1);
  jmp(*extexp_shifted_entry_, T_NEAR);
  L(unshifted);
}

// The pair of exp(x), or of exp(x - max) in the copies for rows with a large
// max (emit_extexp_sum_sweep). x stays unchanged.
void KernelEmitter::emit_extexp_parts(const Xmm& mantissa, const Xmm& exponent, const Xmm& x) {
  MathEmitter mm = math();
  if (extexp_shifted_) {
    vsubps(mantissa, x, ptr_b[rsp + extexp_shift_offset_]);
    emit_exp_parts(mm, mantissa, exponent, mantissa, scratch_);
  } else {
    emit_exp_parts(mm, mantissa, exponent, x, scratch_);
  }
}

void KernelEmitter::emit_extexp_scale(const Xmm& dst, const Xmm& x) {
  Xmm exponent = take_register();
  emit_extexp_parts(dst, exponent, x);
  vmulps(dst, dst, extexp_inv_reg_);
  vsubps(exponent, exponent, extexp_exp_reg_);
  vscalefps(dst, dst, exponent);
  free_register(exponent);
}

}  // namespace rowjit::jit
