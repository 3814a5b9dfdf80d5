// AVX2 loads and stores of the last vector of a row, which contains 1 to 8
// elements: plain moves of 4, 2 and 1 elements chosen by branches on the
// count, which the prologue keeps in the frame (emit_tail_mask). The branches
// depend on the row length only, so they are predicted after the first row.
//
// vmaskmovps does either in one instruction, but AMD cores before Zen 4
// microcode its stores with a partial mask (public reports name Zen 1 to 3).
// On Zen 1, in batches of 4096 softmax rows (docs/benchmarks.md), rows of 100
// elements took 1.58 ns per element with vmaskmovps and 1.37 with these moves.
// Rows of 104, which have no tail, took 1.25. Rows of 60 went from 1.58 to 1.40.
//
// AVX-512 keeps its opmask moves (k1).
#include <stdexcept>

#include "jit/kernel_emitter.h"

namespace rowjit::jit {

using namespace Xbyak;
using namespace Xbyak::util;

namespace {

// Bits of the tail's byte count, which is 4 times its element count (4 to 32).
constexpr int kEightElements = 32;
constexpr int kFourElements = 16;
constexpr int kTwoElements = 8;
constexpr int kOneElement = 4;

}  // namespace

Address KernelEmitter::tail_count() const { return dword[rsp + tail_bytes_offset_]; }

// Loads the tail's elements into dst, with +0 in the lanes past the end of the
// row as vmaskmovps gives them. Elements 4 to 6 are read first into the low
// half and moved up, so no second register is needed.
void KernelEmitter::load_tail_avx2(const Xmm& dst, const Reg64& base, const Reg64& index, int offset) {
  const Ymm wide(dst.getIdx());
  const Xmm low(dst.getIdx());
  Label full, below_four, upper_loaded, done;
  cmp(tail_count(), kEightElements);
  je(full, T_NEAR);
  test(tail_count(), kFourElements);
  jz(below_four, T_NEAR);
  const Address upper_pair = ptr[base + index + offset + 16];
  const Address upper_third = ptr[base + index + offset + 24];
  move_tail_part_avx2(TailMove::kLoad, low, upper_pair, upper_third, upper_loaded);
  L(upper_loaded);
  vinsertf128(wide, wide, low, 1);
  vinsertf128(wide, wide, ptr[base + index + offset], 0);
  jmp(done, T_NEAR);
  L(below_four);
  move_tail_part_avx2(TailMove::kLoad, low, ptr[base + index + offset], ptr[base + index + offset + 8], done);
  L(full);
  vmovups(wide, ptr[base + index + offset]);
  L(done);
}

// Stores the tail's elements of src and nothing past the end of the row. src
// keeps its value because the upper half goes through the math scratch.
void KernelEmitter::store_tail_avx2(const Reg64& base, const Reg64& index, int offset, const Xmm& src) {
  const Ymm wide(src.getIdx());
  const Xmm low(src.getIdx());
  const Xmm upper(scratch_.vec[0].getIdx());
  if (src.getIdx() == upper.getIdx()) {
    throw std::logic_error("the value of a tail store is in the math scratch register");
  }
  Label full, below_four, done;
  cmp(tail_count(), kEightElements);
  je(full, T_NEAR);
  test(tail_count(), kFourElements);
  jz(below_four, T_NEAR);
  vmovups(ptr[base + index + offset], low);
  vextractf128(upper, wide, 1);
  const Address upper_pair = ptr[base + index + offset + 16];
  const Address upper_third = ptr[base + index + offset + 24];
  move_tail_part_avx2(TailMove::kStore, upper, upper_pair, upper_third, done);
  L(below_four);
  move_tail_part_avx2(TailMove::kStore, low, ptr[base + index + offset], ptr[base + index + offset + 8], done);
  L(full);
  vmovups(ptr[base + index + offset], wide);
  L(done);
}

// Moves the 0 to 3 elements that the count's low bits select between `part`
// and memory: two at `pair` and a third at `third`, or one at `pair`. A load
// leaves +0 in the rest of `part`. Then jumps to `exit`.
void KernelEmitter::move_tail_part_avx2(TailMove move, const Xmm& part, const Address& pair, const Address& third,
                                        Label& exit) {
  const bool load = move == TailMove::kLoad;
  Label no_pair;
  test(tail_count(), kTwoElements);
  jz(no_pair, T_NEAR);
  if (load) vmovsd(part, pair);
  else vmovlps(pair, part);
  test(tail_count(), kOneElement);
  jz(exit, T_NEAR);
  // The third element is element 2 of `part`.
  if (load) vinsertps(part, part, third, 0x20);
  else vextractps(third, part, 2);
  jmp(exit, T_NEAR);

  L(no_pair);
  if (load) vxorps(part, part, part);
  test(tail_count(), kOneElement);
  jz(exit, T_NEAR);
  if (load) vmovss(part, pair);
  else vmovss(pair, part);
  jmp(exit, T_NEAR);
}

}  // namespace rowjit::jit
