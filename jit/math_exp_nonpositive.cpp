// The softmax exp: exp(x) for x <= 0, as x - max(x) is in a softmax, built for
// the exp sweeps of the softmax forms (docs/math.md, "The softmax variant").
//
// exp(x) = 2^(N / K) * e^r with N = round(x * K log2(e)) and r = x - N ln2 / K,
// so |r| <= ln2 / 2K. The power splits as 2^floor(N / K) * 2^((N mod K) / K):
// the second factor comes from a table of K entries, which leaves a short
// polynomial for e^r. The two ISAs use different tables:
// - AVX2: K = 8, one vpermps on a ymm, and a degree-3 polynomial (fit error
//   0.45 * 2^-24).
// - AVX-512: K = 32, one vpermt2ps on two zmm tables of 16 entries, and a
//   degree-2 polynomial (fit error 0.90 * 2^-24). That is one FMA fewer per
//   vector, and one fewer on each vector's dependency chain, for about 0.75
//   ulp more error. The FMAs bound the exp sweeps of cached rows on the cores
//   measured (docs/benchmarks.md).
//
// N comes from one FMA that adds a shift: v = x * K log2(e) + (1.5 * 2^23 +
// 24 K) rounds to an integer because floats in [2^23, 2^24) are spaced 1
// apart, so v - shift is N as a float, and the low mantissa bits of v hold
// 24 K + N as an integer. Those bits give the table index (24 K is a multiple
// of the index range) and, shifted left by 23 - log2(K), the exponent: each
// table entry is 2^(j / K) with j << (23 - log2(K)) subtracted from its bit
// pattern, so the sum of the two is the float 2^(N / K) * 2^24. The
// polynomial carries the factor 2^-24 in its coefficients (exact), and the one
// product p * 2^-24 * 2^(N / K) * 2^24 rounds once, into the denormals where
// the result is below 2^-126. floor(N / K) + 151 must stay in [1, 254].
//
// Coefficients: scripts/fit_polynomials.py (fit_exp_table), a minimax fit of
// the relative error on [-ln2 / 2K, ln2 / 2K] widened by 0.1% for the
// rounding of x * K log2(e).
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "jit/math.h"
#include "jit/math_internal.h"

namespace rowjit::jit {

using namespace math_internal;

namespace {

struct SoftmaxExpTable {
  int entries;                  // K
  int exponent_shift;           // 23 - log2(K)
  float log2e_times_entries;    // K log2(e), rounded to float
  float shift;                  // 1.5 * 2^23 + 24 K
  std::vector<float> coefficients;  // c_degree down to c1; c0 = 1
};

const SoftmaxExpTable& softmax_exp_table(const VectorTarget& target) {
  static const SoftmaxExpTable eighths{8, 20, 0x1.715476p+3f, 0x1.8p23f + 192.0f,
                                       {0x1.554a1p-3f, 0x1.000888p-1f, 0x1p+0f}};
  static const SoftmaxExpTable thirty_seconds{32, 18, 0x1.715476p+5f, 0x1.8p23f + 768.0f,
                                              {0x1.fffffep-2f, 0x1.0000f6p+0f}};
  return target.avx512 ? thirty_seconds : eighths;
}

constexpr float kShiftedExpScale = 0x1p-24f;

// AVX-512 zeroes the lanes below this argument in the final product, with an
// opmask from a comparison that keeps NaN, and computes the others with x as
// it is, so no clamp sits on the dependency chain. From here up, N >=
// -4800 and floor(N / 32) + 151 >= 1. Below, exp(x) < 2^-150, half the
// smallest denormal, and rounds to +0 (the threshold lies between the
// underflow point -103.972077 and -103.982907, where N would reach -4801).
constexpr float kZeroBelowAvx512 = -0x1.9fe666p+6f;  // -103.975

// AVX2 clamps its input here instead. At this x, N = round(x * 8 log2(e)) is
// -1208, so N mod 8 = 0 and the exponent field of 2^(N / 8) * 2^24 wraps to
// exactly 0. That power is built as +0, and so is the final product. At -104
// the power is 2^-126 and the product underflows, which on AMD cores is a
// microcode assist per vector: a softmax row of masked (-inf) logits ran 3 to
// 4 times slower than a row of finite ones there. Between -104.67 and -104
// the power is a denormal, and its product with the polynomial is below half
// the smallest denormal, so those inputs still give 0.
constexpr float kClampAvx2 = -0x1.a2a93p+6f;  // -104.66522

// Returns entries [first, first + count) of the table of 2^(j / K), each
// with j << exponent_shift subtracted from its bit pattern (see the file
// comment).
std::vector<uint32_t> power_table(const SoftmaxExpTable& table, int first, int count) {
  std::vector<uint32_t> bits;
  for (int j = first; j < first + count; ++j) {
    float power = static_cast<float>(std::exp2(static_cast<double>(j) / table.entries));
    bits.push_back(std::bit_cast<uint32_t>(power) - (static_cast<uint32_t>(j) << table.exponent_shift));
  }
  return bits;
}

// Sets t = 2^((N mod K) / K), with the bits of v (see the file comment) as
// the index. vpermps reads the low 3 bits of each ymm index lane. vpermt2ps
// reads the low 5 bits of each zmm lane, and picks from t (entries 0 to 15,
// loaded first) or from the memory operand (16 to 31).
void emit_table_lookup(MathEmitter& m, const SoftmaxExpTable& table, std::span<const ExpLane> lanes) {
  auto& code = m.code;
  if (m.target.avx512) {
    const Xbyak::Address& low = m.pool.lane_table(power_table(table, 0, 16));
    const Xbyak::Address& high = m.pool.lane_table(power_table(table, 16, 16));
    // Xbyak declares the permutes on Ymm (Zmm derives from it), not on Xmm.
    for (const ExpLane& l : lanes) code.vmovaps(l.t, low);
    for (const ExpLane& l : lanes) code.vpermt2ps(Xbyak::Zmm(l.t.getIdx()), Xbyak::Zmm(l.v.getIdx()), high);
  } else {
    const Xbyak::Address& all = m.pool.lane_table(power_table(table, 0, 8));
    for (const ExpLane& l : lanes) code.vpermps(Xbyak::Ymm(l.t.getIdx()), Xbyak::Ymm(l.v.getIdx()), all);
  }
}

}  // namespace

// Emits the softmax exp of every lane. Each step runs over all lanes before
// the next one starts.
void emit_exp_nonpositive(MathEmitter& m, std::span<const ExpLane> lanes, ExpUnderflow underflow) {
  auto& code = m.code;
  const SoftmaxExpTable& table = softmax_exp_table(m.target);
  const bool guard = underflow == ExpUnderflow::kGuard;
  static_assert(kExpGuardFreeRange < -kZeroBelowAvx512 && kExpGuardFreeRange < -kClampAvx2);
  if (!guard) {
    // Arguments in [-kExpGuardFreeRange, 0] pass the comparison and the
    // clamp unchanged, so leaving them out changes no result.
  } else if (m.target.avx512) {
    for (const ExpLane& l : lanes) code.vcmpps(l.in_range, l.src, m.pool.vector(kZeroBelowAvx512), kCmpNltUnordered);
  } else {
    // dst = max(x, -104.67), keeping NaN (vmaxps returns its second source
    // when either is NaN).
    for (const ExpLane& l : lanes) code.vmovaps(l.t, m.pool.vector(kClampAvx2));
    for (const ExpLane& l : lanes) code.vmaxps(l.dst, l.t, l.src);
  }
  // The argument that the reduction reads: src itself on AVX-512, the clamped
  // copy in dst on AVX2.
  auto x = [&](const ExpLane& l) { return m.target.avx512 || !guard ? l.src : l.dst; };
  for (const ExpLane& l : lanes) code.vmovaps(l.v, m.pool.vector(table.shift));
  for (const ExpLane& l : lanes) code.vfmadd231ps(l.v, x(l), m.pool.vector(table.log2e_times_entries));
  for (const ExpLane& l : lanes) code.vsubps(l.t, l.v, m.pool.vector(table.shift));  // N
  for (const ExpLane& l : lanes) {
    if (!same_register(l.dst, x(l))) code.vmovaps(l.dst, x(l));
  }
  // r = x - N * (ln2_hi / K) in dst, one FMA that rounds once. ln2_hi / K is
  // exact, and 2.75e-9 of itself off ln2 / K, which puts 2.75e-9 * |x| of
  // relative error into exp(x) (kExpNonpositiveUlpPerUnit). A second
  // Cody-Waite step would remove it at one more FMA per vector (docs/math.md).
  const float ln2_over_entries = kLn2Hi / static_cast<float>(table.entries);
  for (const ExpLane& l : lanes) code.vfnmadd231ps(l.dst, l.t, m.pool.vector(ln2_over_entries));

  emit_table_lookup(m, table, lanes);
  for (const ExpLane& l : lanes) code.vpslld(l.v, l.v, table.exponent_shift);
  for (const ExpLane& l : lanes) code.vpaddd(l.v, l.v, l.t);  // 2^(N / K) * 2^24

  // t = e^r * 2^-24 by Horner's rule.
  const std::vector<float>& coefficients = table.coefficients;
  for (const ExpLane& l : lanes) code.vmovaps(l.t, m.pool.vector(coefficients.front() * kShiftedExpScale));
  for (size_t k = 1; k < coefficients.size(); ++k) {
    for (const ExpLane& l : lanes) code.vfmadd213ps(l.t, l.dst, m.pool.vector(coefficients[k] * kShiftedExpScale));
  }
  for (const ExpLane& l : lanes) code.vfmadd213ps(l.t, l.dst, m.pool.vector(kShiftedExpScale));

  for (const ExpLane& l : lanes) {
    if (m.target.avx512 && guard) code.vmulps(l.dst | l.in_range | Xbyak::util::T_z, l.t, l.v);
    else code.vmulps(l.dst, l.t, l.v);
  }
}

void emit_exp_nonpositive(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src, const MathScratch& scratch) {
  const ExpLane lane{dst, src, scratch.vec[0], scratch.vec[1], scratch.mask[0]};
  emit_exp_nonpositive(m, std::span<const ExpLane>(&lane, 1));
}

void emit_exp_nonpositive_in_range(MathEmitter& m, const Xbyak::Xmm& dst, const Xbyak::Xmm& src,
                                   const MathScratch& scratch) {
  const ExpLane lane{dst, src, scratch.vec[0], scratch.vec[1], scratch.mask[0]};
  emit_exp_nonpositive(m, std::span<const ExpLane>(&lane, 1), ExpUnderflow::kArgumentsInRange);
}

}  // namespace rowjit::jit
