// sigmoid and tanh, built on the exp of jit/math_exp.cpp.
//
// sigmoid(x) = num / (1 + z) with z = exp(-|x|) in (0, 1], num = 1 for x >= 0
// and num = z for x < 0 (the same value, e^x / (1 + e^x)). exp(-|x|) never
// overflows, so for x in [-104, -87.3] the result is the denormal e^x / 1
// rather than 1 / inf = 0. The division is a true vdivps.
//
// tanh(x) = sign(x) * g(|x|) with, for a = |x|:
//   a <  kTanhPolynomialLimit: g = a + a^3 R(a^2), R of degree 4 in a^2,
//   a >= kTanhPolynomialLimit: g = 1 - 2 / (exp(2a) + 1).
// Below the limit the subtraction in the second form cancels (g < 0.555), so
// the odd polynomial takes over; it keeps the relative error bounded down to
// the denormals, where tanh(x) = x. exp(2a) = inf for a > 44.4 gives g = 1,
// so the result saturates to +-1 without a clamp. Both forms are computed
// for every lane and blended.
//
// R comes from scripts/fit_polynomials.py: a Remez minimax fit of the relative
// error of a + a^3 R(a^2) against tanh(a) on (0, 0.625], then a search over
// the neighbouring floats of each coefficient. Max relative error of the
// float polynomial 5.5e-9 (0.09 * 2^-24) before rounding in the evaluation.
#include "jit/math.h"
#include "jit/math_internal.h"

namespace rowjit::jit {

using namespace math_internal;
using Xbyak::Xmm;

namespace {

constexpr float kTanhPolynomialLimit = 0.625f;

constexpr float kTanhR0 = -0x1.555532p-2f;
constexpr float kTanhR1 = 0x1.110722p-3f;
constexpr float kTanhR2 = -0x1.b83c5cp-5f;
constexpr float kTanhR3 = 0x1.522694p-6f;
constexpr float kTanhR4 = -0x1.75e1dap-8f;

}  // namespace

void emit_sigmoid(MathEmitter& m, const Xmm& dst, const Xmm& src, const MathScratch& scratch) {
  auto& code = m.code;
  const Xmm& z = scratch.vec[0];
  const Xmm& denominator = scratch.vec[1];
  const Xmm& numerator = scratch.vec[2];

  // z = exp(-|x|); src is not written, so its sign is still there below.
  code.vorps(z, src, m.pool.vector_bits(kSignMask));
  emit_exp_into(m, z, z, denominator, numerator);
  code.vaddps(denominator, z, m.pool.vector(1.0f));

  // numerator = z where the sign bit of x is set, else 1. -0 takes z = 1,
  // which gives the same 0.5; a NaN x has z = NaN, and 1 / NaN is NaN too.
  code.vmovaps(numerator, m.pool.vector(1.0f));
  if (m.target.avx512) {
    code.vpmovd2m(scratch.mask[0], src);
    code.vmovaps(numerator | scratch.mask[0], z);
  } else {
    code.vblendvps(numerator, numerator, z, src);
  }
  code.vdivps(dst, numerator, denominator);
}

void emit_tanh(MathEmitter& m, const Xmm& dst, const Xmm& src, const MathScratch& scratch) {
  auto& code = m.code;
  const Xmm& a = scratch.vec[0];
  const Xmm& large = scratch.vec[1];
  const Xmm& small = scratch.vec[2];

  // large = -(1 - 2 / (exp(2a) + 1)) = 2 / (exp(2a) + 1) - 1, then the sign
  // of -x applied by xor gives sign(x) * g(a).
  code.vandps(a, src, m.pool.vector_bits(kAbsMask));
  code.vaddps(a, a, a);
  emit_exp_into(m, a, a, large, small);
  code.vaddps(a, a, m.pool.vector(1.0f));
  code.vmovaps(large, m.pool.vector(2.0f));
  code.vdivps(large, large, a);
  code.vsubps(large, large, m.pool.vector(1.0f));
  code.vandnps(a, src, m.pool.vector_bits(kSignMask));
  code.vxorps(large, large, a);

  // small = x + x * u * R(u), u = x^2.
  code.vmulps(a, src, src);
  emit_horner(m, small, a, {kTanhR4, kTanhR3, kTanhR2, kTanhR1, kTanhR0});
  code.vmulps(small, small, a);
  code.vfmadd213ps(small, src, src);
  // x * u * R(u) has the sign of -x, so for x = -0 the sum is -0 + +0 = +0:
  // copy the sign of x, which every other small result has already.
  code.vandps(a, src, m.pool.vector_bits(kSignMask));
  code.vorps(small, small, a);

  // dst = |x| < limit ? small : large. NaN compares false and takes large,
  // which is NaN as well.
  code.vxorps(a, a, src);
  if (m.target.avx512) {
    code.vcmpps(scratch.mask[0], a, m.pool.vector(kTanhPolynomialLimit), kCmpLtOrdered);
    code.vblendmps(dst | scratch.mask[0], large, small);
  } else {
    code.vcmpps(a, a, m.pool.vector(kTanhPolynomialLimit), kCmpLtOrdered);
    code.vblendvps(dst, large, small, a);
  }
}

}  // namespace rowjit::jit
