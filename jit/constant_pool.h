// Constant pool: float constants that kernels read as full-width vectors
// placed after the code, addressed RIP-relative, or held in registers while a
// loop that uses them runs.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include <xbyak/xbyak.h>

#include "jit/data_region.h"
#include "jit/vector_target.h"

namespace rowjit::jit {

class ConstantPool {
 public:
  explicit ConstantPool(VectorTarget target) : target_(target) {}

  // Operand holding `bits` in every lane, at the target's vector width: the
  // register the constant is pinned to, else its slot in the pool. Equal
  // constants share one slot. The reference stays valid while the pool lives.
  const Xbyak::Operand& vector_bits(uint32_t bits);
  const Xbyak::Operand& vector(float value);

  // The slot of `bits` in memory, even when the constant is pinned.
  const Xbyak::Address& address_of(uint32_t bits);

  // A vector whose lane i contains period[i % period.size()], for lookups
  // with vpermps or vpermt2ps. Tables follow the broadcast slots, and equal
  // tables share one copy. The period must divide the lane count.
  const Xbyak::Address& lane_table(const std::vector<uint32_t>& period);

  // While pinned, vector_bits(bits) returns `reg`, which the caller has loaded
  // with address_of(bits) and keeps unchanged until unpin_all().
  void pin(uint32_t bits, const Xbyak::Xmm& reg) { pinned_.insert_or_assign(bits, reg); }
  void unpin_all() { pinned_.clear(); }

  // How often each constant was requested since the last reset_uses(), so a
  // first emission can tell which constants a loop uses most.
  void reset_uses() { uses_.clear(); }
  const std::map<uint32_t, int>& uses() const { return uses_; }

  // Emits the pool (aligned to the vector width) at the current position of
  // `code`. Call once, after the last instruction of the kernel. Appends a
  // region for each lane table to `regions`.
  void emit(Xbyak::CodeGenerator& code, std::vector<DataRegion>& regions);

  // Constants in slot order, for dumps.
  const std::vector<uint32_t>& constants() const { return slots_; }
  const Xbyak::Label& label() const { return label_; }

 private:
  // The vector at position `index` after `label`, RIP-relative.
  Xbyak::Address vector_at(const Xbyak::Label& label, int index) const;

  VectorTarget target_;
  Xbyak::Label label_;
  std::vector<uint32_t> slots_;
  std::map<uint32_t, int> slot_of_;
  std::deque<Xbyak::Address> addresses_;  // one per slot; a deque keeps references valid
  std::map<std::vector<uint32_t>, int> table_of_;  // period -> index in table_addresses_
  std::vector<std::vector<uint32_t>> tables_;
  std::deque<Xbyak::Address> table_addresses_;
  Xbyak::Label table_label_;
  std::map<uint32_t, Xbyak::Xmm> pinned_;
  std::map<uint32_t, int> uses_;
};

}  // namespace rowjit::jit
