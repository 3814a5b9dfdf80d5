#include "jit/constant_pool.h"

#include <bit>

namespace rowjit::jit {

Xbyak::Address ConstantPool::vector_at(const Xbyak::Label& label, int index) const {
  int offset = index * target_.bytes();
  if (target_.avx512) return Xbyak::util::zword[Xbyak::util::rip + label + offset];
  return Xbyak::util::yword[Xbyak::util::rip + label + offset];
}

const Xbyak::Address& ConstantPool::address_of(uint32_t bits) {
  auto [it, inserted] = slot_of_.try_emplace(bits, static_cast<int>(slots_.size()));
  if (inserted) {
    slots_.push_back(bits);
    addresses_.push_back(vector_at(label_, it->second));
  }
  return addresses_[static_cast<size_t>(it->second)];
}

const Xbyak::Address& ConstantPool::lane_table(const std::vector<uint32_t>& period) {
  auto [it, inserted] = table_of_.try_emplace(period, static_cast<int>(tables_.size()));
  if (inserted) {
    tables_.push_back(period);
    table_addresses_.push_back(vector_at(table_label_, it->second));
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

void ConstantPool::emit(Xbyak::CodeGenerator& code, std::vector<DataRegion>& regions) {
  code.align(64);
  code.L(label_);
  for (uint32_t bits : slots_) {
    for (int lane = 0; lane < target_.lanes(); ++lane) code.dd(bits);
  }
  code.L(table_label_);
  for (const std::vector<uint32_t>& period : tables_) {
    regions.push_back({code.getSize(), static_cast<size_t>(target_.bytes()),
                       "lane table of " + std::to_string(period.size()) + " entries"});
    for (int lane = 0; lane < target_.lanes(); ++lane) code.dd(period[static_cast<size_t>(lane) % period.size()]);
  }
}

}  // namespace rowjit::jit
