#include "jit/constant_pool.h"

#include <bit>

namespace rowjit::jit {

Xbyak::Address ConstantPool::vector_bits(uint32_t bits) {
  auto [it, inserted] = slot_of_.try_emplace(bits, static_cast<int>(slots_.size()));
  if (inserted) slots_.push_back(bits);
  int offset = it->second * target_.bytes();
  if (target_.avx512) return Xbyak::util::zword[Xbyak::util::rip + label_ + offset];
  return Xbyak::util::yword[Xbyak::util::rip + label_ + offset];
}

Xbyak::Address ConstantPool::vector(float value) { return vector_bits(std::bit_cast<uint32_t>(value)); }

void ConstantPool::emit(Xbyak::CodeGenerator& code) {
  code.align(64);
  code.L(label_);
  for (uint32_t bits : slots_) {
    for (int lane = 0; lane < target_.lanes(); ++lane) code.dd(bits);
  }
}

}  // namespace rowjit::jit
