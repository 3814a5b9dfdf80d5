// exp, its (mantissa, exponent) form for the two-pass softmax, and scaling by
// a power of two. The softmax exp is in jit/math_exp_nonpositive.cpp.
//
// exp(x) = 2^n * e^t with n = round(x * log2(e)) and t = x - n * ln2, so that
// |t| <= ln2 / 2 (plus the rounding of x * log2(e)):
//   1. Cody-Waite reduction: t = (x - n * kLn2Hi) - n * kLn2Lo, two FMAs. The
//      FMA forms x - n * kLn2Hi exactly and rounds it once; that result is
//      exact because it is a multiple of 2^-25 (kLn2Hi is a multiple of 2^-24,
//      x of 2^-25 whenever n != 0) below 1 in magnitude for |n| < 2^25, which
//      needs at most 24 bits. So kLn2Hi can take all 24 bits of ln 2 rather
//      than the few bits that keep n * kLn2Hi exact without an FMA, and the
//      error of the split, |ln2 - kLn2Hi - kLn2Lo| < 2^-53, stays below
//      2^-53 * |n| in t. The second FMA rounds t once (at most 2^-26 when
//      |t| < 0.5).
//   2. e^t ~ 1 + t * (c1 + t * (c2 + ... + t * c6)), Horner with FMAs.
//   3. Scaling by 2^n: vscalefps on AVX-512, which rounds once when the result
//      is denormal and gives inf on overflow. On AVX2, 2^n is built by
//      shifting n + 127 into the exponent field, which covers only normal
//      powers, so n is split in n1 = floor(n / 2) and n2 = n - n1 and the
//      product p * 2^n1 * 2^n2 is formed left to right: p * 2^n1 is exact
//      (p is in [0.7, 1.42], n1 >= -75 for x >= -104) and the second product
//      rounds once, into the denormals or to inf. Below -104 the exact result
//      is below 2^-150, half the smallest denormal, and both products round
//      it to +0.
//
// The coefficients come from scripts/fit_polynomials.py: a Remez minimax fit of
// the relative error of e^t on [-ln2/2, ln2/2] with c0 = 1, then a search over
// the neighbouring floats of each coefficient. Degree 6; max relative error of
// the float polynomial 5.2e-9 (0.09 * 2^-24) before rounding in the evaluation.
#include <cfloat>
#include <cmath>

#include "jit/math.h"
#include "jit/math_internal.h"

namespace rowjit::jit {

using namespace math_internal;
using Xbyak::Xmm;

namespace {

constexpr float kLog2e = 0x1.715476p+0f;
// kLn2Lo = ln 2 - kLn2Hi rounded to float.
constexpr float kLn2Lo = -0x1.05c61p-29f;

// Inputs are clamped to [kExpInputMin, kExpInputMax] first, which keeps n in
// [-150, 128] (on AVX2 [-254, 128], halves in [-127, 64]) and the reduction exact. The
// bounds lie beyond the thresholds, so clamping changes no result:
// exp(-104) = 0.97 * 2^-150 rounds to 0 (half the smallest denormal is
// exp(-103.972)) and exp(89) > FLT_MAX (exp(88.7228) already rounds to inf).
constexpr float kExpInputMin = -104.0f;
constexpr float kExpInputMax = 89.0f;

// AVX2 clamps below at -176 instead, where n = round(x * log2(e)) = -254 and
// its half n1 = -127 makes the power 2^n1, built in the exponent field, exactly
// +0. The result is +0 as at -104, but without a product that underflows,
// which on AMD cores is a microcode assist per vector: an AVX2 exp of masked
// (-inf) logits took 3.5 times as long as of finite ones. Between -176 and
// -104, n stays in [-254, -150] and every result still rounds to 0.
constexpr float kExpInputMinAvx2 = -176.0f;

// e^t ~ 1 + t * P(t), |t| <= ln2 / 2; see the file comment.
constexpr float kExpC1 = 0x1p+0f;
constexpr float kExpC2 = 0x1.fffffap-2f;
constexpr float kExpC3 = 0x1.55544ep-3f;
constexpr float kExpC4 = 0x1.555916p-5f;
constexpr float kExpC5 = 0x1.126876p-7f;
constexpr float kExpC6 = 0x1.6ae848p-10f;

constexpr uint32_t kExponentBias = 127;
constexpr int kMantissaBits = 23;

void emit_round_nearest(MathEmitter& m, const Xmm& dst, const Xmm& src) {
  if (m.target.avx512) {
    m.code.vrndscaleps(dst, src, kRoundNearestEven);
  } else {
    m.code.vroundps(dst, src, kRoundNearestEven);
  }
}

// x = clamp(x, low, high) where `bound` is a free register. The bound goes in
// the first source operand because vmaxps/vminps return the second one when
// either is NaN: a NaN x passes through.
void emit_clamp_keep_nan(MathEmitter& m, const Xmm& x, const Xmm& bound, float low, float high) {
  m.code.vmovaps(bound, m.pool.vector(low));
  m.code.vmaxps(x, bound, x);
  m.code.vmovaps(bound, m.pool.vector(high));
  m.code.vminps(x, bound, x);
}

// Sets n = round(x * log2(e)) and t = x - n * ln2; t contains x on entry.
void emit_exp_reduce(MathEmitter& m, const Xmm& t, const Xmm& n) {
  m.code.vmulps(n, t, m.pool.vector(kLog2e));
  emit_round_nearest(m, n, n);
  m.code.vfnmadd231ps(t, n, m.pool.vector(kLn2Hi));
  m.code.vfnmadd231ps(t, n, m.pool.vector(kLn2Lo));
}

// p = e^t for the reduced argument t.
void emit_exp_polynomial(MathEmitter& m, const Xmm& p, const Xmm& t) {
  emit_horner(m, p, t, {kExpC6, kExpC5, kExpC4, kExpC3, kExpC2, kExpC1, 1.0f});
}

// AVX2: 2^k for the int32 lanes k of `k` (normal range only), in place.
void emit_pow2_from_int(MathEmitter& m, const Xmm& k) {
  m.code.vpaddd(k, k, m.pool.vector_bits(kExponentBias));
  m.code.vpslld(k, k, kMantissaBits);
}

}  // namespace

namespace math_internal {

// NOTE: on AVX2, finite inputs between -176 and -104 still make a product
// underflow, a microcode assist per vector on AMD cores. -inf and inputs below
// -176 do not (kExpInputMinAvx2).
void emit_exp_into(MathEmitter& m, const Xmm& out, const Xmm& in, const Xmm& t0, const Xmm& t1) {
  auto& code = m.code;
  const Xmm& t = t0;
  const Xmm& n = t1;

  // t = clamp(x, kExpInputMin, kExpInputMax), keeping NaN. The first bound
  // goes in whichever temporary does not contain x.
  const Xmm& first_bound = same_register(in, t0) ? t1 : t0;
  code.vmovaps(first_bound, m.pool.vector(m.target.avx512 ? kExpInputMin : kExpInputMinAvx2));
  code.vmaxps(t, first_bound, in);
  code.vmovaps(n, m.pool.vector(kExpInputMax));
  code.vminps(t, n, t);
  emit_exp_reduce(m, t, n);
  emit_exp_polynomial(m, out, t);

  if (m.target.avx512) {
    code.vscalefps(out, out, n);
    return;
  }
  // out = (out * 2^n1) * 2^n2 with n1 = floor(n / 2), n2 = n - n1. A NaN x
  // gives meaningless powers here, but out is already NaN.
  code.vcvtps2dq(n, n);
  code.vpsrad(t, n, 1);
  code.vpsubd(n, n, t);
  emit_pow2_from_int(m, t);
  code.vmulps(out, out, t);
  emit_pow2_from_int(m, n);
  code.vmulps(out, out, n);
}

}  // namespace math_internal

void emit_exp(MathEmitter& m, const Xmm& dst, const Xmm& src, const MathScratch& scratch) {
  emit_exp_into(m, dst, src, scratch.vec[0], scratch.vec[1]);
}

// exponent = round(x * log2(e)) clamped to [-FLT_MAX, FLT_MAX], so that it is
// finite for every input and -inf gets the lowest exponent, -FLT_MAX (with
// mantissa 0 it cannot win a max and adds nothing when rescaled). mantissa =
// e^t with t = x - exponent * ln2 clamped to [-ln2, ln2]. The clamp acts only
// for x = +-inf and when |x| > 2^23. Below, the exponent is within 0.92 of
// x * log2(e): 0.5 for rounding to an integer, at most 0.25 for rounding the
// float product (and none once it reaches 2^23, where floats are integers),
// and 1.93e-8 * |x| < 0.17 for log2(e) rounded to float. So |t| < ln 2.
// +inf gives exponent FLT_MAX and mantissa about 2.
void emit_exp_parts(MathEmitter& m, const Xmm& mantissa, const Xmm& exponent, const Xmm& src,
                    const MathScratch& scratch) {
  auto& code = m.code;
  const Xmm& t = scratch.vec[0];
  const Xmm& bound = scratch.vec[1];
  const Xmm& finite_or_nan = scratch.vec[2];  // AVX2: all ones unless x = -inf
  const Xmm& n = exponent;

  // src may be mantissa or exponent: read it once, into t.
  code.vmovaps(t, src);
  code.vmulps(n, t, m.pool.vector(kLog2e));
  emit_round_nearest(m, n, n);
  emit_clamp_keep_nan(m, n, bound, -FLT_MAX, FLT_MAX);
  code.vfnmadd231ps(t, n, m.pool.vector(kLn2Hi));
  code.vfnmadd231ps(t, n, m.pool.vector(kLn2Lo));

  // t is -inf exactly when x is -inf: n is finite, so x - n * ln2 is -inf
  // only for x = -inf, and NaN only for NaN x.
  if (m.target.avx512) {
    code.vcmpps(scratch.mask[0], t, m.pool.vector_bits(kNegativeInfinityBits), kCmpNeqUnordered);
  } else {
    code.vcmpps(finite_or_nan, t, m.pool.vector_bits(kNegativeInfinityBits), kCmpNeqUnordered);
  }
  emit_clamp_keep_nan(m, t, bound, -kLn2Hi, kLn2Hi);
  emit_exp_polynomial(m, mantissa, t);

  // mantissa = 0 where x = -inf.
  if (m.target.avx512) {
    code.vmovaps(mantissa | scratch.mask[0] | Xbyak::util::T_z, mantissa);
  } else {
    code.vandps(mantissa, mantissa, finite_or_nan);
  }
}

// AVX-512: vscalefps. AVX2: the exponent e is clamped to [-300, 300] (enough
// to reach every result: 2^-300 * FLT_MAX rounds to 0 and 2^300 * 2^-149
// overflows). Its part beyond [-126, 126], d = e - clamp(e, -126, 126), is
// applied first as 2^d1 * 2^d2 (d1 = floor(d / 2), d2 = d - d1, both within
// [-87, 87]), then 2^clamp(e, -126, 126). Only the last product can round:
// when e >= -126 the first two factors are 1; when e < -126 the last factor is
// 2^-126, and an earlier product that is already denormal makes the result
// smaller than 2^-252, which is 0 however it was rounded.
void emit_scale_by_pow2(MathEmitter& m, const Xmm& dst, const Xmm& src, const Xmm& exponent,
                        const MathScratch& scratch) {
  auto& code = m.code;
  if (m.target.avx512) {
    code.vscalefps(dst, src, exponent);
    return;
  }
  const Xmm& e = scratch.vec[0];
  const Xmm& e_normal = scratch.vec[1];
  const Xmm& d1 = scratch.vec[2];
  const Xmm& d2 = e;

  code.vmovaps(e_normal, m.pool.vector(-300.0f));
  code.vmaxps(e, e_normal, exponent);
  code.vmovaps(e_normal, m.pool.vector(300.0f));
  code.vminps(e, e_normal, e);
  code.vmaxps(e_normal, e, m.pool.vector(-126.0f));
  code.vminps(e_normal, e_normal, m.pool.vector(126.0f));
  code.vsubps(e, e, e_normal);

  // 2^e_normal, made NaN where the exponent is NaN (the integer conversion
  // below would lose it). `exponent` is still intact here, even when it is dst.
  code.vcvtps2dq(e_normal, e_normal);
  emit_pow2_from_int(m, e_normal);
  code.vcmpps(d1, exponent, exponent, kCmpUnordered);
  code.vorps(e_normal, e_normal, d1);

  code.vcvtps2dq(e, e);
  code.vpsrad(d1, e, 1);
  code.vpsubd(d2, e, d1);
  emit_pow2_from_int(m, d1);
  emit_pow2_from_int(m, d2);
  code.vmulps(dst, src, d1);
  code.vmulps(dst, dst, d2);
  code.vmulps(dst, dst, e_normal);
}

}  // namespace rowjit::jit
