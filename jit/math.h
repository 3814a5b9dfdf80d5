// Vector math library: emit functions that append the instructions computing
// one function over one vector register. Each states its maximum error in ulp
// against the correctly rounded result, measured over every float32 input by
// the tests in tests/math_*_test.cpp, and its special values.
//
// Register contract: `dst` may equal `src`; the function writes `dst` and the
// registers in `scratch`, and nothing else (no general-purpose register, no
// memory but the constant pool). Opmask k1 is reserved for tails and never
// touched here.
#pragma once

#include <array>

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

// The two parts of exp(src) = mantissa * 2^exponent used by the two-pass
// softmax ("The Two-Pass Softmax Algorithm", Dukhan and Ablavatski, 2020):
// exponent = round(src * log2(e)) as a float, mantissa = exp(src - exponent *
// ln 2) in about [0.7, 1.42]. Valid for every finite src; the exponent of an
// input below -2^24 or above 2^24 need not be exact. For src = -inf: mantissa 0.
// NaN gives NaN in both.
void emit_exp_parts(MathEmitter& m, const Xbyak::Xmm& mantissa, const Xbyak::Xmm& exponent,
                    const Xbyak::Xmm& src, const MathScratch& scratch);

// dst = 2^exponent * src for a float `exponent` holding an integer (vscalefps on
// AVX-512). Exact unless the result is denormal (one rounding) or overflows
// (inf); an exponent below -300 gives 0.
void emit_scale_by_pow2(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src,
                        const Xbyak::Xmm& exponent, const MathScratch& scratch);

// dst = log(src). log(+-0) = -inf, log(negative) = NaN, log(inf) = inf,
// NaN stays NaN; denormal inputs are exact inputs, not zero.
void emit_log(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src, const MathScratch& scratch);

// dst = 1 / (1 + exp(-src)); sigmoid(-inf) = 0, sigmoid(inf) = 1.
void emit_sigmoid(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src, const MathScratch& scratch);

// dst = tanh(src), with the relative error bound holding near 0 too.
void emit_tanh(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src, const MathScratch& scratch);

// Maximum error of each function in ulp against the correctly rounded result,
// as measured by the exhaustive tests; the lowering and docs quote these.
inline constexpr double kExpMaxUlp = 2.0;
inline constexpr double kLogMaxUlp = 2.0;
inline constexpr double kSigmoidMaxUlp = 3.0;
inline constexpr double kTanhMaxUlp = 3.0;

}  // namespace rowjit::jit
