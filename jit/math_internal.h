// Pieces shared by the math emitters in jit/math_*.cpp; not part of the
// lowering's interface (that is jit/math.h).
#pragma once

#include <cstdint>
#include <initializer_list>

#include <xbyak/xbyak.h>

#include "jit/math.h"

namespace rowjit::jit::math_internal {

// Bit patterns of float constants used by more than one emitter.
inline constexpr uint32_t kSignMask = 0x80000000u;
inline constexpr uint32_t kAbsMask = 0x7fffffffu;
inline constexpr uint32_t kNegativeInfinityBits = 0xff800000u;

// ln 2 rounded to float, a multiple of 2^-24 and 2.75e-9 of itself too large:
// the high part of the Cody-Waite reductions of exp.
inline constexpr float kLn2Hi = 0x1.62e43p-1f;

// vcmpps predicates (Intel SDM, CMPPS imm8).
inline constexpr uint8_t kCmpEqOrdered = 0x00;
inline constexpr uint8_t kCmpLtOrdered = 0x01;
inline constexpr uint8_t kCmpUnordered = 0x03;
inline constexpr uint8_t kCmpNeqUnordered = 0x04;
inline constexpr uint8_t kCmpNltUnordered = 0x05;
inline constexpr uint8_t kCmpGeOrdered = 0x1d;

// Rounding immediate of vroundps / vrndscaleps: round to nearest even, no
// precision exception, independent of MXCSR.RC.
inline constexpr uint8_t kRoundNearestEven = 0x08;

inline bool same_register(const Xbyak::Xmm& a, const Xbyak::Xmm& b) { return a.getIdx() == b.getIdx(); }

// Emits Horner's rule: acc = c0, then acc = acc * x + c for each further
// coefficient c, one FMA each. The coefficients go from the highest power
// down, and `acc` must differ from `x`.
inline void emit_horner(MathEmitter& m, const Xbyak::Xmm& acc, const Xbyak::Xmm& x,
                        std::initializer_list<float> coefficients) {
  bool first = true;
  for (float c : coefficients) {
    if (first) m.code.vmovaps(acc, m.pool.vector(c));
    else m.code.vfmadd213ps(acc, x, m.pool.vector(c));
    first = false;
  }
}

// Appends out = exp(in), with the accuracy and special values of emit_exp.
// `out` must differ from `t0` and `t1`; `in` may be any of the three, because
// it is read only before anything else is written. Writes out, t0 and t1.
void emit_exp_into(MathEmitter& m, const Xbyak::Xmm& out, const Xbyak::Xmm& in, const Xbyak::Xmm& t0,
                   const Xbyak::Xmm& t1);

}  // namespace rowjit::jit::math_internal
