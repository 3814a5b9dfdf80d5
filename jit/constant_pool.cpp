#include "jit/constant_pool.h"

#include <bit>

namespace rowjit::jit {

const Xbyak::Address& ConstantPool::address_of(uint32_t bits) {
  auto [it, inserted] = slot_of_.try_emplace(bits, static_cast<int>(slots_.size()));
  if (inserted) {
    slots_.push_back(bits);
    int offset = it->second * target_.bytes();
    if (target_.avx512) addresses_.push_back(Xbyak::util::zword[Xbyak::util::rip + label_ + offset]);
    else addresses_.push_back(Xbyak::util::yword[Xbyak::util::rip + label_ + offset]);
  }
  return addresses_[static_cast<size_t>(it->second)];
}

const Xbyak::Address& ConstantPool::lane_table(const std::vector<uint32_t>& period) {
  auto [it, inserted] = table_of_.try_emplace(period, static_cast<int>(tables_.size()));
  if (inserted) {
    tables_.push_back(period);
    int offset = it->second * target_.bytes();
    if (target_.avx512) table_addresses_.push_back(Xbyak::util::zword[Xbyak::util::rip + table_label_ + offset]);
    else table_addresses_.push_back(Xbyak::util::yword[Xbyak::util::rip + table_label_ + offset]);
  }
  return table_addresses_[static_cast<size_t>(it->second)];
}

const Xbyak::Operand& ConstantPool::vector_bits(uint32_t bits) {
  ++uses_[bits];
  auto pinned = pinned_.find(bits);
  if (pinned != pinned_.end()) return pinned->second;
  return address_of(bits);
}

const Xbyak::Operand& ConstantPool::vector(float value) { return vector_bits(std::bit_cast<uint32_t>(value)); }

void ConstantPool::emit(Xbyak::CodeGenerator& code) {
  code.align(64);
  code.L(label_);
  for (uint32_t bits : slots_) {
    for (int lane = 0; lane < target_.lanes(); ++lane) code.dd(bits);
  }
  code.L(table_label_);
  for (const std::vector<uint32_t>& period : tables_) {
    for (int lane = 0; lane < target_.lanes(); ++lane) code.dd(period[static_cast<size_t>(lane) % period.size()]);
  }
}

}  // namespace rowjit::jit
