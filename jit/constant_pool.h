// Constant pool: float constants that kernels read as full-width vectors
// placed after the code, addressed RIP-relative.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include <xbyak/xbyak.h>

#include "jit/vector_target.h"

namespace rowjit::jit {

class ConstantPool {
 public:
  explicit ConstantPool(VectorTarget target) : target_(target) {}

  // Memory operand holding `bits` in every lane, at the target's vector width.
  // Equal constants share one slot.
  Xbyak::Address vector_bits(uint32_t bits);
  Xbyak::Address vector(float value);

  // Emits the pool (aligned to the vector width) at the current position of
  // `code`. Call once, after the last instruction of the kernel.
  void emit(Xbyak::CodeGenerator& code);

  // Constants in slot order, for dumps.
  const std::vector<uint32_t>& constants() const { return slots_; }
  const Xbyak::Label& label() const { return label_; }

 private:
  VectorTarget target_;
  Xbyak::Label label_;
  std::vector<uint32_t> slots_;
  std::map<uint32_t, int> slot_of_;
};

}  // namespace rowjit::jit
