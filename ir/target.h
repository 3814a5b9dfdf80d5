// Target description: what the planner needs to know about the machine. The
// planner is target-independent; it reads only this.
#pragma once

#include <cstdint>
#include <string>

namespace rowjit::ir {

// General-purpose registers that a kernel gives to tensor pointers
// (jit::kMaxTensorSlots).
inline constexpr int kTensorRegisters = 8;

struct TargetDesc {
  std::string isa = "none";  // "avx512", "avx2" or "none" (interpreter)
  int vector_bits = 0;       // 512, 256, or 0 for the interpreter
  int vector_registers = 0;  // 32 zmm or 16 ymm
  // General-purpose registers for tensor pointers (jit/kernel_abi.h). Those
  // the tensors leave free hold prefetch bases, one per prefetched input.
  int tensor_registers = kTensorRegisters;
  // 512-bit operations execute as two 256-bit halves (AMD Zen 4), so that
  // exp groups of zmm vectors gain nothing and lose registers.
  bool split_zmm = false;
  int64_t l1d_bytes = 32 * 1024;
  int64_t l2_bytes = 1024 * 1024;
  int64_t llc_bytes = 32 * 1024 * 1024;

  int lanes() const { return vector_bits / 32; }
};

}  // namespace rowjit::ir
