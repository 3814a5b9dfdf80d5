// Test harness for the math emitters of jit/math.h: JIT-compiles a loop
// `void f(const float* in, float* out, int64_t n)` that applies one emitter to
// whole vectors, plus the ulp measure and the input sets the math tests share.
//
// Arrays: an emitter with I inputs and O outputs reads input i from
// in[i * n .. i * n + n) and writes output o to out[o * n .. o * n + n).
// n must be a multiple of the lane count (no tails).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <xbyak/xbyak.h>

#include "jit/constant_pool.h"
#include "jit/exec_memory.h"
#include "jit/math.h"
#include "jit/vector_target.h"

namespace rowjit::jit::math_test {

enum class MathIsa { kAvx2, kAvx512 };

inline const char* isa_name(MathIsa isa) { return isa == MathIsa::kAvx512 ? "Avx512" : "Avx2"; }

inline std::string isa_param_name(const ::testing::TestParamInfo<MathIsa>& info) { return isa_name(info.param); }

// Prints the parameter by name where GoogleTest lists it (ctest shows that text).
inline void PrintTo(MathIsa isa, std::ostream* out) { *out << isa_name(isa); }

// XCR0 (read with xgetbv) lists the register state the OS saves on context
// switches; AVX needs bits 1-2 (XMM, YMM), AVX-512 also bits 5-7 (opmask,
// upper halves of zmm0-15, zmm16-31). CPUID.1:ECX bit 27 (OSXSAVE) tells
// whether xgetbv may be executed.
inline uint64_t read_xcr0() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
  if ((ecx & (1u << 27)) == 0) return 0;
  unsigned low = 0, high = 0;
  __asm__("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (static_cast<uint64_t>(high) << 32) | low;
}

// True when the CPU has the ISA and the OS enabled its registers.
inline bool isa_supported(MathIsa isa) {
  __builtin_cpu_init();
  const uint64_t xcr0 = read_xcr0();
  const bool avx_state = (xcr0 & 0x6) == 0x6;
  if (isa == MathIsa::kAvx2) {
    return avx_state && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  const bool avx512_state = avx_state && (xcr0 & 0xe0) == 0xe0;
  return avx512_state && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

// Skips the current test when the ISA is missing.
#define ROWJIT_SKIP_UNLESS_SUPPORTED(isa)                                                          \
  do {                                                                                             \
    if (!::rowjit::jit::math_test::isa_supported(isa)) {                                           \
      GTEST_SKIP() << ::rowjit::jit::math_test::isa_name(isa) << " is not available on this CPU/OS"; \
    }                                                                                              \
  } while (0)

// Which vector and opmask registers a kernel hands to the emitter.
struct RegisterLayout {
  std::array<int, 2> inputs;
  std::array<int, 2> outputs;
  std::array<int, 3> scratch;
  std::array<int, 2> masks;  // k2..k7; unused on AVX2
};

// Every register distinct, all in the low half.
inline constexpr RegisterLayout kDistinctLayout{{0, 1}, {2, 3}, {4, 5, 6}, {2, 3}};
// The first output is the first input; the second output is the second input.
// Registers 9..15 exist on both ISAs; on AVX-512, use kAliasedHighLayout.
inline constexpr RegisterLayout kAliasedLayout{{9, 10}, {9, 10}, {13, 14, 15}, {6, 7}};
// As kAliasedLayout, in zmm16..31, which only EVEX encodings reach: catches a
// VEX-only instruction on the AVX-512 path.
inline constexpr RegisterLayout kAliasedHighLayout{{17, 30}, {17, 30}, {16, 24, 31}, {7, 4}};
// The first input is the second output and the second input the first
// output (exp_parts with src = exponent, scale_by_pow2 with dst = exponent).
inline constexpr RegisterLayout kCrossAliasedLayout{{11, 1}, {1, 11}, {12, 8, 5}, {5, 2}};

// The emitter call of a kernel: outputs and inputs are vector registers of the
// target width.
using MathBody = std::function<void(MathEmitter&, const std::vector<Xbyak::Xmm>& outputs,
                                    const std::vector<Xbyak::Xmm>& inputs, const MathScratch&)>;

inline VectorTarget target_of(MathIsa isa) { return VectorTarget{isa == MathIsa::kAvx512}; }

inline MathScratch scratch_of(const VectorTarget& target, const RegisterLayout& layout) {
  return MathScratch{{target.vreg(layout.scratch[0]), target.vreg(layout.scratch[1]), target.vreg(layout.scratch[2])},
                     {Xbyak::Opmask(layout.masks[0]), Xbyak::Opmask(layout.masks[1])}};
}

// A JIT-compiled loop over arrays; see the file comment.
class MathKernel {
 public:
  using Function = void (*)(const float* in, float* out, int64_t n);

  MathKernel(MathIsa isa, int inputs, int outputs, const MathBody& body,
             const RegisterLayout& layout = kDistinctLayout)
      : target_(target_of(isa)), inputs_(inputs), outputs_(outputs) {
    using namespace Xbyak::util;
    Xbyak::CodeGenerator code(kCodeBytes, Xbyak::DontSetProtectRWE);
    ConstantPool pool(target_);
    MathEmitter emitter{code, pool, target_};
    std::vector<Xbyak::Xmm> in_regs;
    std::vector<Xbyak::Xmm> out_regs;
    for (int i = 0; i < inputs; ++i) in_regs.push_back(target_.vreg(layout.inputs[i]));
    for (int o = 0; o < outputs; ++o) out_regs.push_back(target_.vreg(layout.outputs[o]));

    // rdi = in, rsi = out, rdx = n; r8 = n * 4, the distance between arrays.
    Xbyak::Label loop;
    Xbyak::Label done;
    code.mov(r8, rdx);
    code.shl(r8, 2);
    code.test(rdx, rdx);
    code.jz(done, Xbyak::CodeGenerator::T_NEAR);
    code.L(loop);
    if (inputs > 0) code.vmovups(in_regs[0], ptr[rdi]);
    if (inputs > 1) code.vmovups(in_regs[1], ptr[rdi + r8]);
    body(emitter, out_regs, in_regs, scratch_of(target_, layout));
    if (outputs > 0) code.vmovups(ptr[rsi], out_regs[0]);
    if (outputs > 1) code.vmovups(ptr[rsi + r8], out_regs[1]);
    code.add(rdi, target_.bytes());
    code.add(rsi, target_.bytes());
    code.sub(rdx, target_.lanes());
    code.jnz(loop, Xbyak::CodeGenerator::T_NEAR);
    code.L(done);
    code.vzeroupper();
    code.ret();
    std::vector<DataRegion> tables;  // the harness prints no listing
    pool.emit(code, tables);

    Result<ExecutableBuffer> buffer = ExecutableBuffer::create(code.getCode(), code.getSize());
    if (buffer.is_ok()) {
      buffer_ = std::move(buffer).value();
    } else {
      error_ = buffer.status().to_string();
    }
  }

  // False when the code could not be mapped executable; error() returns the
  // reason.
  bool ok() const { return !buffer_.empty(); }
  const std::string& error() const { return error_; }
  int lanes() const { return target_.lanes(); }

  // Runs over n elements per array; n must be a multiple of lanes().
  void run(const float* in, float* out, int64_t n) const {
    reinterpret_cast<Function>(const_cast<void*>(buffer_.entry()))(in, out, n);
  }

  // Convenience for one input and one output: pads to whole vectors with 0.
  std::vector<float> map(const std::vector<float>& in) const {
    std::vector<float> padded = in;
    padded.resize((in.size() + lanes() - 1) / lanes() * lanes(), 0.0f);
    std::vector<float> out(padded.size() * outputs_);
    run(padded.data(), out.data(), static_cast<int64_t>(padded.size()));
    out.resize(in.size());
    return out;
  }

 private:
  static constexpr size_t kCodeBytes = 1 << 16;
  VectorTarget target_;
  int inputs_;
  int outputs_;
  ExecutableBuffer buffer_;
  std::string error_;
};

// Registers after one run of a body on one vector, for the register contract
// test: every vector register and k1..k7 start with a sentinel (the inputs
// with the input vector), the body runs, and all of them are stored.
struct RegisterSnapshot {
  std::vector<std::vector<uint32_t>> vectors;  // [register][lane]
  std::array<uint32_t, 8> masks{};             // k0 unused
};

inline uint32_t vector_sentinel(int reg) { return 0x7f100000u + static_cast<uint32_t>(reg) * 0x1111u; }
inline uint32_t mask_sentinel(int k) { return 0x5a5a0000u + static_cast<uint32_t>(k) * 0x0101u; }

inline RegisterSnapshot run_with_sentinels(MathIsa isa, int inputs, int outputs, const MathBody& body,
                                           const RegisterLayout& layout, const std::vector<float>& input_vector) {
  using namespace Xbyak::util;
  const VectorTarget target = target_of(isa);
  Xbyak::CodeGenerator code(1 << 16, Xbyak::DontSetProtectRWE);
  ConstantPool pool(target);
  MathEmitter emitter{code, pool, target};
  std::vector<Xbyak::Xmm> in_regs;
  std::vector<Xbyak::Xmm> out_regs;
  for (int i = 0; i < inputs; ++i) in_regs.push_back(target.vreg(layout.inputs[i]));
  for (int o = 0; o < outputs; ++o) out_regs.push_back(target.vreg(layout.outputs[o]));

  const int registers = target.register_count();
  for (int reg = 0; reg < registers; ++reg) code.vmovaps(target.vreg(reg), pool.vector_bits(vector_sentinel(reg)));
  if (target.avx512) {
    for (int k = 1; k < 8; ++k) {
      code.mov(eax, mask_sentinel(k));
      code.kmovd(Xbyak::Opmask(k), eax);
    }
  }
  for (int i = 0; i < inputs; ++i) code.vmovups(in_regs[i], ptr[rdi + i * target.bytes()]);
  body(emitter, out_regs, in_regs, scratch_of(target, layout));
  for (int reg = 0; reg < registers; ++reg) code.vmovups(ptr[rsi + reg * target.bytes()], target.vreg(reg));
  if (target.avx512) {
    for (int k = 1; k < 8; ++k) {
      code.kmovd(eax, Xbyak::Opmask(k));
      code.mov(dword[rsi + registers * target.bytes() + k * 4], eax);
    }
  }
  code.vzeroupper();
  code.ret();
  std::vector<DataRegion> tables;  // the harness prints no listing
  pool.emit(code, tables);

  Result<ExecutableBuffer> buffer = ExecutableBuffer::create(code.getCode(), code.getSize());
  RegisterSnapshot snapshot;
  if (!buffer.is_ok()) return snapshot;
  std::vector<float> in(static_cast<size_t>(inputs) * target.lanes());
  std::copy(input_vector.begin(), input_vector.begin() + std::min(in.size(), input_vector.size()), in.begin());
  std::vector<uint32_t> out(static_cast<size_t>(registers) * target.lanes() + 8);
  reinterpret_cast<MathKernel::Function>(const_cast<void*>(buffer->entry()))(
      in.data(), reinterpret_cast<float*>(out.data()), 0);
  for (int reg = 0; reg < registers; ++reg) {
    snapshot.vectors.emplace_back(out.begin() + reg * target.lanes(), out.begin() + (reg + 1) * target.lanes());
  }
  for (int k = 1; k < 8; ++k) snapshot.masks[k] = out[registers * target.lanes() + k];
  return snapshot;
}

// Expects that the body wrote only its outputs and scratch registers, and
// kept its inputs where they are not outputs.
inline void expect_register_contract(MathIsa isa, int inputs, int outputs, const MathBody& body,
                                     const RegisterLayout& layout) {
  const VectorTarget target = target_of(isa);
  std::vector<float> input_vector(static_cast<size_t>(inputs) * target.lanes());
  for (size_t i = 0; i < input_vector.size(); ++i) input_vector[i] = 0.25f * static_cast<float>(i) - 3.0f;
  const RegisterSnapshot snapshot = run_with_sentinels(isa, inputs, outputs, body, layout, input_vector);
  ASSERT_EQ(snapshot.vectors.size(), static_cast<size_t>(target.register_count()));

  auto is_listed = [](int reg, const auto& list, int count) {
    return std::find(list.begin(), list.begin() + count, reg) != list.begin() + count;
  };
  for (int reg = 0; reg < target.register_count(); ++reg) {
    if (is_listed(reg, layout.outputs, outputs) || is_listed(reg, layout.scratch, 3)) continue;
    for (int lane = 0; lane < target.lanes(); ++lane) {
      uint32_t expected = vector_sentinel(reg);
      for (int i = 0; i < inputs; ++i) {
        if (layout.inputs[i] == reg) expected = std::bit_cast<uint32_t>(input_vector[i * target.lanes() + lane]);
      }
      EXPECT_EQ(snapshot.vectors[reg][lane], expected) << "register " << reg << " lane " << lane;
    }
  }
  if (!target.avx512) return;
  for (int k = 1; k < 8; ++k) {
    if (k != 1 && is_listed(k, layout.masks, 2)) continue;
    EXPECT_EQ(snapshot.masks[k], mask_sentinel(k)) << "opmask k" << k;
  }
}

// Error of `value` against the exact `reference` in float ulps at the
// reference: |value - reference| / ulp, where ulp = 2^(floor(log2 |r|) - 23),
// at least 2^-149 (the denormal spacing) and at most 2^104 (the spacing below
// FLT_MAX). The reference is a double. Rounded to float, it is the correctly
// rounded result unless the exact value lies within the double's own error
// (about 2^-52 relative for std::exp, std::log, std::tanh) of a midpoint
// between floats. Measuring against the double rather than that float
// changes the error by at most about 2^-28 ulp. An infinity counts as 2^128
// when compared with a finite value; equal values (infinities included) are
// 0. NaN against NaN is 0, NaN against a number or the reverse is infinite.
inline double ulp_error(float value, double reference) {
  const bool value_nan = std::isnan(value);
  const bool reference_nan = std::isnan(reference);
  if (value_nan || reference_nan) return value_nan && reference_nan ? 0.0 : HUGE_VAL;
  if (value == static_cast<float>(reference)) return 0.0;
  auto infinity_as_2pow128 = [](double v) { return std::isinf(v) ? std::copysign(0x1p128, v) : v; };
  const double v = infinity_as_2pow128(value);
  const double r = infinity_as_2pow128(reference);
  int exponent = 0;
  std::frexp(r, &exponent);  // |r| = f * 2^exponent with f in [0.5, 1)
  const double ulp = std::clamp(std::ldexp(1.0, exponent - 24), 0x1p-149, 0x1p104);
  return std::fabs(v - r) / ulp;
}

// Every 4099th float bit pattern, 1,047,809 inputs: about 2046 in each
// binade of each sign, at mantissa offsets that shift from one binade to the
// next because 4099 does not divide 2^23.
inline std::vector<float> strided_sample() {
  std::vector<float> inputs;
  constexpr uint64_t kStride = 4099;
  inputs.reserve((uint64_t{1} << 32) / kStride + 1);
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += kStride) {
    inputs.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
  }
  return inputs;
}

inline float from_bits(uint32_t bits) { return std::bit_cast<float>(bits); }
inline uint32_t to_bits(float value) { return std::bit_cast<uint32_t>(value); }

// Values every function meets at its edges: zeros, denormals, FLT_MIN,
// FLT_MAX, infinities and NaNs with payloads and both signs.
inline std::vector<float> common_special_values() {
  return {0.0f,
          -0.0f,
          from_bits(0x00000001),  // smallest denormal
          from_bits(0x80000001),
          from_bits(0x007fffff),  // largest denormal
          from_bits(0x807fffff),
          FLT_MIN,
          -FLT_MIN,
          FLT_MAX,
          -FLT_MAX,
          1.0f,
          -1.0f,
          std::numeric_limits<float>::infinity(),
          -std::numeric_limits<float>::infinity(),
          from_bits(0x7fc00000),  // quiet NaN
          from_bits(0xffc00000),
          from_bits(0x7fc12345),  // quiet NaN with a payload
          from_bits(0x7f800001),  // signalling NaN
          from_bits(0xff812345)};
}

// The float just above / below `value`.
inline float next_up(float value) { return std::nextafter(value, std::numeric_limits<float>::infinity()); }
inline float next_down(float value) { return std::nextafter(value, -std::numeric_limits<float>::infinity()); }

// The common special values followed by each of `edges` with the floats just
// above and below it.
inline std::vector<float> special_values_with_edges(std::initializer_list<float> edges) {
  std::vector<float> values = common_special_values();
  for (float edge : edges) {
    values.push_back(edge);
    values.push_back(next_up(edge));
    values.push_back(next_down(edge));
  }
  return values;
}

// Largest ulp error of a kernel over `inputs`, with the input that produced it.
// For a bound that grows with |x| (kExpNonpositiveUlpPerUnit), ulp_per_unit *
// |x| is taken off each error first, so max_ulp is the largest excess over
// that growth.
struct UlpSummary {
  double ulp_per_unit = 0.0;
  double max_ulp = 0.0;
  float worst_input = 0.0f;
  float worst_value = 0.0f;
  double worst_reference = 0.0;
};

inline void record(UlpSummary& summary, float input, float value, double reference) {
  double error = ulp_error(value, reference);
  if (summary.ulp_per_unit != 0.0 && std::isfinite(input)) error -= summary.ulp_per_unit * std::fabs(input);
  if (error > summary.max_ulp || (std::isinf(error) && !std::isinf(summary.max_ulp))) {
    summary.max_ulp = error;
    summary.worst_input = input;
    summary.worst_value = value;
    summary.worst_reference = reference;
  }
}

inline std::string describe(const UlpSummary& summary) {
  char growth[64] = "";
  if (summary.ulp_per_unit != 0.0) std::snprintf(growth, sizeof growth, " beyond %g * |x|", summary.ulp_per_unit);
  char text[320];
  std::snprintf(text, sizeof text, "max %.4f ulp%s at x = %a (%.9g): got %a, reference %.17g", summary.max_ulp,
                growth, static_cast<double>(summary.worst_input), static_cast<double>(summary.worst_input),
                static_cast<double>(summary.worst_value), summary.worst_reference);
  return text;
}

// Prints a measured bound in the test log, where docs/math.md takes it from.
inline void print_measure(const char* function, MathIsa isa, const char* inputs, const UlpSummary& summary) {
  std::printf("[ measured ] %s %s over %s: %s\n", function, isa_name(isa), inputs, describe(summary).c_str());
}

// Runs a one-input, one-output kernel over the float bit patterns in
// [first_bits, end_bits), in batches of 2^22, and folds the ulp error against
// `reference`.
template <typename Reference>
UlpSummary sweep_float_bits(const MathKernel& kernel, Reference reference, uint64_t first_bits, uint64_t end_bits,
                            double ulp_per_unit = 0.0) {
  constexpr uint64_t kBatch = uint64_t{1} << 22;
  std::vector<float> in(kBatch);
  std::vector<float> out(kBatch);
  UlpSummary summary;
  summary.ulp_per_unit = ulp_per_unit;
  for (uint64_t start = first_bits; start < end_bits; start += kBatch) {
    for (uint64_t i = 0; i < kBatch; ++i) in[i] = std::bit_cast<float>(static_cast<uint32_t>(start + i));
    kernel.run(in.data(), out.data(), static_cast<int64_t>(kBatch));
    // The last batch may run past end_bits; only the range is recorded.
    const uint64_t count = std::min(kBatch, end_bits - start);
    for (uint64_t i = 0; i < count; ++i) record(summary, in[i], out[i], reference(in[i]));
  }
  return summary;
}

template <typename Reference>
UlpSummary sweep_all_floats(const MathKernel& kernel, Reference reference) {
  return sweep_float_bits(kernel, reference, 0, uint64_t{1} << 32);
}

template <typename Reference>
UlpSummary sweep(const MathKernel& kernel, const std::vector<float>& inputs, Reference reference,
                 double ulp_per_unit = 0.0) {
  const std::vector<float> out = kernel.map(inputs);
  UlpSummary summary;
  summary.ulp_per_unit = ulp_per_unit;
  for (size_t i = 0; i < inputs.size(); ++i) record(summary, inputs[i], out[i], reference(inputs[i]));
  return summary;
}

// Kernels for the one-input, one-output emitters.
using UnaryEmitter = void (*)(MathEmitter&, const Xbyak::Xmm&, const Xbyak::Xmm&, const MathScratch&);

inline MathBody unary_body(UnaryEmitter emit) {
  return [emit](MathEmitter& m, const std::vector<Xbyak::Xmm>& outputs, const std::vector<Xbyak::Xmm>& inputs,
                const MathScratch& scratch) { emit(m, outputs[0], inputs[0], scratch); };
}

inline MathKernel unary_kernel(MathIsa isa, UnaryEmitter emit, const RegisterLayout& layout = kDistinctLayout) {
  return MathKernel(isa, 1, 1, unary_body(emit), layout);
}

// The aliased layout for the ISA: high registers on AVX-512.
inline const RegisterLayout& aliased_layout(MathIsa isa) {
  return isa == MathIsa::kAvx512 ? kAliasedHighLayout : kAliasedLayout;
}

}  // namespace rowjit::jit::math_test
