// Natural logarithm.
//
// log(x) = e * ln2 + log1p(f) with x = 2^e * m, m in [sqrt(1/2), sqrt(2)) and
// f = m - 1 in [-0.293, 0.415) (exact: m and 1 are within a factor 2):
//   1. Reduction. AVX-512: vgetmantps gives m in [1, 2) and vgetexpps gives e,
//      both exact for denormal x too. Where m >= sqrt(2), m is halved and e
//      raised by 1. AVX2: a denormal x is first multiplied by 2^23 (exact) and
//      e lowered by 23. Then d = bits(x) - bits(sqrt(1/2)) is split: d >> 23
//      (arithmetic) is e, and the low 23 bits of d plus bits(sqrt(1/2)) are
//      the bits of m.
//   2. log1p(f) ~ f + f^2 * Q(f), Q of degree 8 in Horner form with FMAs.
//   3. log(x) = e * kLn2Hi + (f + (f^2 * Q(f) + e * kLn2Lo)), the last sum
//      an FMA. Adding the small terms to f first, and e * kLn2Hi last, keeps
//      one rounding at the scale of the result: the sum in parentheses is
//      below 0.42 in magnitude, so its rounding (at most 2^-26) is at most a
//      quarter ulp of a result above 1.03 (|e| >= 2), and at most half an ulp
//      for |e| = 1. The other order, (e * kLn2Hi + f) + ..., rounds its first
//      sum in the binade above the result when the small terms carry it back
//      below a power of 2, and measured up to 1.43 ulp.
//   4. Special values: vfixupimmps on AVX-512; compares and blends on AVX2.
//
// Q comes from scripts/fit_polynomials.py: a Remez minimax fit of the relative
// error of f + f^2 Q(f) against log1p(f) on [sqrt(1/2) - 1, sqrt(2) - 1], then
// a search over the neighbouring floats of each coefficient. Max relative
// error of the float polynomial 4.5e-9 (0.08 * 2^-24) before rounding in the
// evaluation.
#include <cstdint>

#include "jit/math.h"
#include "jit/math_internal.h"

namespace rowjit::jit {

using namespace math_internal;
using Xbyak::Xmm;

namespace {

// ln 2 = kLn2Hi + kLn2Lo: ln 2 rounded to float, and the rest rounded to float.
constexpr float kLn2Hi = 0x1.62e43p-1f;
constexpr float kLn2Lo = -0x1.05c61p-29f;

// float(sqrt(2)) = 0x3fb504f3 and float(sqrt(1/2)) = 0x3f3504f3: m is in
// [0x3f3504f3, 0x3fb504f3) on both paths.
constexpr uint32_t kSqrtHalfBits = 0x3f3504f3u;
constexpr uint32_t kSqrtTwoBits = 0x3fb504f3u;
constexpr uint32_t kMantissaFieldMask = 0x007fffffu;
constexpr uint32_t kFloatMinBits = 0x00800000u;  // FLT_MIN, the smallest normal
constexpr float kDenormalScale = 0x1p23f;
constexpr float kDenormalScaleLog2 = 23.0f;
constexpr uint32_t kPositiveInfinityBits = 0x7f800000u;

constexpr float kLogQ0 = -0x1.fffff8p-2f;
constexpr float kLogQ1 = 0x1.55555p-2f;
constexpr float kLogQ2 = -0x1.000426p-2f;
constexpr float kLogQ3 = 0x1.99a3f4p-3f;
constexpr float kLogQ4 = -0x1.542792p-3f;
constexpr float kLogQ5 = 0x1.2271eap-3f;
constexpr float kLogQ6 = -0x1.0f37dcp-3f;
constexpr float kLogQ7 = 0x1.0848fcp-3f;
constexpr float kLogQ8 = -0x1.3830e2p-4f;

// vgetmantps immediate: interval [1, 2) (bits 1:0 = 00), sign of the source
// (bits 3:2 = 00); the sign does not matter since negative x is fixed up.
constexpr uint8_t kGetMantOneToTwo = 0x00;

// vfixupimmps response table, one nibble per input class (Intel SDM,
// VFIXUPIMMPS): QNaN -> QNaN(x) (2), SNaN -> QNaN(x) (2), +-0 -> -inf (4),
// +1 -> keep (0), -inf -> default NaN (3), +inf -> +inf (5), negative ->
// default NaN (3), positive -> keep (0).
constexpr uint32_t kLogFixupTable = 0x03530422u;

// AVX2: f = m - 1 in `f`, e in `e`, for the bits of x in `x`. Uses `mask`.
void emit_reduce_avx2(MathEmitter& m, const Xmm& f, const Xmm& e, const Xmm& mask, const Xmm& x) {
  auto& code = m.code;
  // Denormals (and zeros and negatives, which are fixed up later) are
  // scaled by 2^23; `mask` keeps 23.0 in those lanes for the exponent.
  code.vcmpps(mask, x, m.pool.vector_bits(kFloatMinBits), kCmpLtOrdered);
  code.vmulps(e, x, m.pool.vector(kDenormalScale));
  code.vblendvps(e, x, e, mask);
  code.vandps(mask, mask, m.pool.vector(kDenormalScaleLog2));

  // bits - bits(sqrt(1/2)): the exponent field (arithmetic shift) is e, the
  // mantissa field is m's offset from sqrt(1/2).
  code.vpsubd(f, e, m.pool.vector_bits(kSqrtHalfBits));
  code.vpsrad(e, f, 23);
  code.vpand(f, f, m.pool.vector_bits(kMantissaFieldMask));
  code.vpaddd(f, f, m.pool.vector_bits(kSqrtHalfBits));
  code.vcvtdq2ps(e, e);
  code.vsubps(e, e, mask);
  code.vsubps(f, f, m.pool.vector(1.0f));
}

// AVX-512: f = m - 1 in `f`, e in `e`, for x in `x`. Uses opmask `mask`.
void emit_reduce_avx512(MathEmitter& m, const Xmm& f, const Xmm& e, const Xbyak::Opmask& mask, const Xmm& x) {
  auto& code = m.code;
  code.vgetmantps(f, x, kGetMantOneToTwo);
  code.vgetexpps(e, x);
  code.vcmpps(mask, f, m.pool.vector_bits(kSqrtTwoBits), kCmpGeOrdered);
  code.vmulps(f | mask, f, m.pool.vector(0.5f));
  code.vaddps(e | mask, e, m.pool.vector(1.0f));
  code.vsubps(f, f, m.pool.vector(1.0f));
}

// result = e * kLn2Hi + (f + (f^2 Q(f) + e * kLn2Lo)), into `result`, which
// may be f, e or q.
void emit_log_polynomial(MathEmitter& m, const Xmm& result, const Xmm& f, const Xmm& e, const Xmm& q) {
  auto& code = m.code;
  emit_horner(m, q, f, {kLogQ8, kLogQ7, kLogQ6, kLogQ5, kLogQ4, kLogQ3, kLogQ2, kLogQ1, kLogQ0});
  code.vmulps(q, q, f);
  code.vmulps(q, q, f);
  code.vfmadd231ps(q, e, m.pool.vector(kLn2Lo));
  code.vaddps(f, f, q);
  code.vfmadd231ps(f, e, m.pool.vector(kLn2Hi));
  if (!same_register(result, f)) code.vmovaps(result, f);
}

}  // namespace

void emit_log(MathEmitter& m, const Xmm& dst, const Xmm& src, const MathScratch& scratch) {
  auto& code = m.code;
  const Xmm& f = scratch.vec[0];
  const Xmm& e = scratch.vec[1];
  const Xmm& q = scratch.vec[2];
  // src stays intact until the special values are fixed up at the end.

  if (m.target.avx512) {
    emit_reduce_avx512(m, f, e, scratch.mask[0], src);
    emit_log_polynomial(m, f, f, e, q);
    code.vfixupimmps(f, src, m.pool.vector_bits(kLogFixupTable), 0);
    code.vmovaps(dst, f);
    return;
  }

  emit_reduce_avx2(m, f, e, q, src);
  emit_log_polynomial(m, f, f, e, q);

  // Special values: negative (and -inf) -> NaN, +-0 -> -inf, +inf and NaN ->
  // x itself.
  code.vcmpps(q, src, m.pool.vector(0.0f), kCmpLtOrdered);
  code.vorps(f, f, q);
  code.vcmpps(q, src, m.pool.vector(0.0f), kCmpEqOrdered);
  code.vblendvps(f, f, m.pool.vector_bits(kNegativeInfinityBits), q);
  code.vcmpps(q, src, m.pool.vector_bits(kPositiveInfinityBits), kCmpNltUnordered);
  code.vblendvps(dst, f, src, q);
}

}  // namespace rowjit::jit
