// AVX2 loads and stores of the last vector of a row, which contains 1 to 8
// elements: plain moves of 4, 2 and 1 elements chosen by branches on the
// count, which the prologue keeps in the frame (emit_tail_mask). The branches
// depend on the row length only, so they are predicted after the first row.
//
// vmaskmovps does either in one instruction, but AMD cores before Zen 4
// microcode its stores with a partial mask (public reports name Zen 1 to 3).
// Measured on Zen 1 in batches of 4096 softmax
// rows (docs/benchmarks.md): with vmaskmovps, rows of 100 elements took 1.58
// ns per element against 1.25 for rows of 104; with these moves 1.37, and rows
// of 60 went from 1.58 to 1.40.
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
  load_tail_part_avx2(low, ptr[base + index + offset + 16], ptr[base + index + offset + 24], upper_loaded);
  L(upper_loaded);
  vinsertf128(wide, wide, low, 1);
  vinsertf128(wide, wide, ptr[base + index + offset], 0);
  jmp(done, T_NEAR);
  L(below_four);
  load_tail_part_avx2(low, ptr[base + index + offset], ptr[base + index + offset + 8], done);
  L(full);
  vmovups(wide, ptr[base + index + offset]);
  L(done);
}

// Loads into `part` the 0 to 3 elements that the count's low bits select: two
// at `pair` and a third at `third`, or one at `pair`. The rest of `part` is +0.
// Then jumps to `exit`.
void KernelEmitter::load_tail_part_avx2(const Xmm& part, const Address& pair, const Address& third,
                                        Label& exit) {
  Label no_pair;
  test(tail_count(), kTwoElements);
  jz(no_pair, T_NEAR);
  vmovsd(part, pair);
  test(tail_count(), kOneElement);
  jz(exit, T_NEAR);
  vinsertps(part, part, third, 0x20);  // into element 2
  jmp(exit, T_NEAR);
  L(no_pair);
  vxorps(part, part, part);
  test(tail_count(), kOneElement);
  jz(exit, T_NEAR);
  vmovss(part, pair);
  jmp(exit, T_NEAR);
}

// Stores the tail's elements of src and nothing past the end of the row. src
// keeps its value because the upper half goes through the math scratch.
void KernelEmitter::store_tail_avx2(const Reg64& base, const Reg64& index, int offset, const Xmm& src) {
  const Xmm upper(scratch_.vec[0].getIdx());
  if (src.getIdx() == upper.getIdx()) throw std::logic_error("the value of a tail store is in the math scratch register");
  Label full, below_four, done;
  cmp(tail_count(), kEightElements);
  je(full, T_NEAR);
  test(tail_count(), kFourElements);
  jz(below_four, T_NEAR);
  vmovups(ptr[base + index + offset], Xmm(src.getIdx()));
  vextractf128(upper, Ymm(src.getIdx()), 1);
  store_tail_part_avx2(upper, ptr[base + index + offset + 16], ptr[base + index + offset + 24], done);
  L(below_four);
  store_tail_part_avx2(Xmm(src.getIdx()), ptr[base + index + offset], ptr[base + index + offset + 8], done);
  L(full);
  vmovups(ptr[base + index + offset], Ymm(src.getIdx()));
  L(done);
}

// Stores the 0 to 3 elements of `part` that the count's low bits select, at
// `pair` and `third` as load_tail_part_avx2 reads them. Then jumps to `exit`.
void KernelEmitter::store_tail_part_avx2(const Xmm& part, const Address& pair, const Address& third,
                                         Label& exit) {
  Label no_pair;
  test(tail_count(), kTwoElements);
  jz(no_pair, T_NEAR);
  vmovlps(pair, part);
  test(tail_count(), kOneElement);
  jz(exit, T_NEAR);
  vextractps(third, part, 2);
  jmp(exit, T_NEAR);
  L(no_pair);
  test(tail_count(), kOneElement);
  jz(exit, T_NEAR);
  vmovss(pair, part);
  jmp(exit, T_NEAR);
}

}  // namespace rowjit::jit
