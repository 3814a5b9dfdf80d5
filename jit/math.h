// Vector math library: emit functions that append the instructions computing
// one function over one vector register. Each states its maximum error in ulp
// against the correctly rounded result, measured over every float32 input by
// the tests in tests/math_*_test.cpp, and its special values.
//
// Register contract: `dst` may equal `src`. The function writes `dst` and the
// registers in `scratch` and nothing else: no general-purpose register, and no
// memory but the constant pool. Opmask k1 is reserved for tails and never
// touched here.
#pragma once

#include <array>
#include <span>

#include <xbyak/xbyak.h>

#include "jit/constant_pool.h"
#include "jit/vector_target.h"

namespace rowjit::jit {

// Scratch registers lent to a math emitter: vector registers at the target's
// width and, on AVX-512, two opmask registers (k2..k7).
struct MathScratch {
  std::array<Xbyak::Xmm, 3> vec;
  std::array<Xbyak::Opmask, 2> mask;
};

struct MathEmitter {
  Xbyak::CodeGenerator& code;
  ConstantPool& pool;
  VectorTarget target;
};

// dst = exp(src). Overflow gives +inf, underflow goes through the denormals to
// +0, exp(-inf) = +0, NaN stays NaN.
void emit_exp(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src, const MathScratch& scratch);

// dst = exp(src) for src <= 0, -inf or NaN, as x - max(x) in a softmax is:
// emit_exp without the clamp against overflow, with a one-step reduction, a
// table of 2^(j / 8) and a degree-3 polynomial on AVX2, of 2^(j / 32) and a
// degree-2 polynomial on AVX-512, within exp_nonpositive_max_ulp(avx512) +
// kExpNonpositiveUlpPerUnit * |src| (see docs/math.md). Small positive src
// (the online form's margin of 8) stay within 2.75 ulp + the same growth;
// src above 71 gives a wrong result. Uses the first two vector and the first
// opmask scratch registers.
void emit_exp_nonpositive(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src, const MathScratch& scratch);

// The registers of one vector in a group of softmax exps emitted together.
// dst may equal src; t and v are scratch, and so is the opmask (AVX-512).
// No register may appear in two lanes.
struct ExpLane {
  Xbyak::Xmm dst, src, t, v;
  Xbyak::Opmask in_range;
};

// Arguments from -kExpGuardFreeRange up need no underflow guard in the
// softmax exp: the power of two it builds stays normal down to -103.97.
inline constexpr float kExpGuardFreeRange = 103.5f;

// Rows of the two_pass_extexp form whose max is at least this in magnitude
// run both sweeps on x - max (jit/emit_extexp.cpp): emit_exp_parts is within
// 1 ulp up to it.
inline constexpr float kExtExpShiftFrom = 0x1p19f;

// Handling of softmax exp arguments below -kExpGuardFreeRange: a guard
// (AVX-512 zeroes those lanes with an opmask, AVX2 clamps its argument), or none.
// Without the guard such an argument gives a wrong finite value or NaN, but
// every argument in [-kExpGuardFreeRange, 0] and NaN gives the same bits as
// with it, for one instruction less per vector.
enum class ExpUnderflow { kGuard, kArgumentsInRange };

// emit_exp_nonpositive for several vectors at once, each step over all lanes
// before the next: the chains of the lanes overlap in the instruction stream
// instead of relying on the out-of-order window to find them (docs/jit.md).
void emit_exp_nonpositive(MathEmitter& m, std::span<const ExpLane> lanes,
                          ExpUnderflow underflow = ExpUnderflow::kGuard);

// emit_exp_nonpositive without the underflow guard, for src in
// [-kExpGuardFreeRange, 0] or NaN (ExpUnderflow::kArgumentsInRange).
void emit_exp_nonpositive_in_range(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src,
                                   const MathScratch& scratch);

// The two parts of exp(src) = mantissa * 2^exponent used by the two-pass
// softmax ("The Two-Pass Softmax Algorithm", Dukhan and Ablavatski, 2020):
// exponent = round(src * log2(e)) as a float, mantissa = exp(src - exponent *
// ln 2).
// - |src| <= 2^19: the exponent is within 0.55 of src * log2(e), the mantissa
//   in [0.684, 1.462] and within kExpMaxUlp of exp(src - exponent * ln 2)
//   (0.89 ulp measured on a strided sample of inputs).
// - Beyond, the float product src * log2(e) is coarser: up to 2^22 the
//   mantissa error grows to about 27 ulp (measured on the same sample). For
//   every finite src the exponent is a finite integer and the mantissa is in
//   [0.5, 2].
// - The exponent is clamped to [-FLT_MAX, FLT_MAX]. src = -inf gives mantissa
//   +0 and exponent -FLT_MAX, the lowest, so it cannot win a max and adds 0
//   when rescaled. src = +inf gives exponent FLT_MAX and a mantissa in
//   [0.5, 2]. NaN gives NaN in both.
void emit_exp_parts(MathEmitter& m, const Xbyak::Xmm& mantissa, const Xbyak::Xmm& exponent,
                    const Xbyak::Xmm& src, const MathScratch& scratch);

// dst = 2^exponent * src for a float `exponent` holding an integer (vscalefps on
// AVX-512). Exact unless the result is denormal (one rounding) or overflows
// (inf); an exponent below -300 gives 0. A NaN exponent gives NaN. With an
// infinite exponent the ISAs differ: AVX-512 gives NaN for 0 * 2^inf and
// inf * 2^-inf, AVX2 gives 0 and inf.
void emit_scale_by_pow2(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src,
                        const Xbyak::Xmm& exponent, const MathScratch& scratch);

// dst = log(src). log(+-0) = -inf, log(negative) = NaN, log(inf) = inf,
// NaN stays NaN; denormal inputs are exact inputs, not zero.
void emit_log(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src, const MathScratch& scratch);

// dst = 1 / (1 + exp(-src)); sigmoid(-inf) = 0, sigmoid(inf) = 1.
void emit_sigmoid(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src, const MathScratch& scratch);

// dst = tanh(src), with the relative error bound holding near 0 too.
void emit_tanh(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src, const MathScratch& scratch);

// Maximum error of each function in ulp against the exact value (a double
// reference, see tests/math_test_harness.h), measured over all 2^32 float
// inputs by the Long tests in tests/math_*_test.cpp and rounded up. Measured:
// exp 0.913, log 0.924, sigmoid 2.402, tanh 1.362, the same on AVX2 and
// AVX-512. The lowering and docs quote these. The softmax exp is measured
// over all 2^31 negative floats, its domain, beyond 0.05 |x|: 1.919 ulp on
// AVX2 and 2.661 on AVX-512, whose shorter polynomial trades 0.75 ulp for
// one FMA per vector (jit/math_exp_nonpositive.cpp).
constexpr double exp_nonpositive_max_ulp(bool avx512) { return avx512 ? 2.75 : 2.0; }
// Growth of the softmax exp's bound, exp_nonpositive_max_ulp +
// kExpNonpositiveUlpPerUnit * |x|: its one-step reduction adds 0.046 ulp per
// unit of |x| (jit/math_exp_nonpositive.cpp).
inline constexpr double kExpNonpositiveUlpPerUnit = 0.05;
inline constexpr double kExpMaxUlp = 1.0;
inline constexpr double kLogMaxUlp = 1.0;
inline constexpr double kSigmoidMaxUlp = 2.5;
inline constexpr double kTanhMaxUlp = 1.5;

}  // namespace rowjit::jit
