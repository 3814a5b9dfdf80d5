// The vector ISA a kernel is emitted for, and the registers of that width.
#pragma once

#include <xbyak/xbyak.h>

namespace rowjit::jit {

// AVX-512 kernels use zmm registers and opmask tails; AVX2 kernels use ymm
// registers and vector-mask tails. Everything else in the lowering is shared.
struct VectorTarget {
  bool avx512 = false;

  int lanes() const { return avx512 ? 16 : 8; }
  int bytes() const { return avx512 ? 64 : 32; }
  int register_count() const { return avx512 ? 32 : 16; }

  // Vector register `index` at this target's width (zmm or ymm).
  Xbyak::Xmm vreg(int index) const {
    if (avx512) return Xbyak::Zmm(index);
    return Xbyak::Ymm(index);
  }
};

}  // namespace rowjit::jit
