// Lowering of a plan to machine code: the entry point of the JIT.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "ir/status.h"
#include "jit/data_region.h"
#include "jit/exec_memory.h"
#include "jit/kernel_abi.h"

namespace rowjit::jit {

// Slots of the signature entries in KernelArgs.
struct KernelLayout {
  std::vector<ir::ValueId> tensor_slots;  // value in data[i] / stride[i]
  std::vector<ir::ValueId> scalar_slots;  // scalar parameter in scalars[i]
};

// A marker in the code: where a sweep, loop or IR op begins, for dumps.
struct CodeMarker {
  size_t offset = 0;
  std::string text;
};

struct CompiledKernel {
  ExecutableBuffer code;
  std::vector<uint8_t> bytes;        // copy of the machine code, for dumps
  size_t code_size = 0;              // bytes before the constant pool
  std::vector<uint32_t> constants;   // constant pool, one 32-bit pattern per slot
  std::vector<DataRegion> data_regions;  // the data after the pool, for dumps
  std::vector<CodeMarker> markers;
  KernelLayout layout;
  std::string isa;                   // "avx512" or "avx2"
  int unroll = 1;                    // unroll actually used (the plan's, reduced to fit the registers)
  int resident_vectors = 0;          // the plan's, or 0 where resident rows did not fit the registers
  int exp_group = 1;                 // most lanes whose exps a main loop groups (the plan's, or fewer)
  // An exp sweep of the loops has a copy without the exp's underflow guard,
  // for rows whose max - min is at most kExpGuardFreeRange
  // (jit/emit_exp_range.cpp). Rows held in registers have it on AVX2 only.
  bool exp_range_test = false;
  // The blocked exp sweep has a copy without the guard, for blocks whose
  // reference - min is at most kExpGuardFreeRange (AVX2 only).
  bool blocked_exp_range_test = false;

  KernelFunction function() const { return reinterpret_cast<KernelFunction>(const_cast<void*>(code.entry())); }
};

// Emits, assembles and maps the kernel for `plan` (which must be jit_supported)
// on `avx512` or AVX2. Fails with kUnsupported if the plan does not fit the
// registers of the target, or kExecMemoryDenied if the system refuses
// executable memory.
Result<CompiledKernel> compile_kernel(const ir::Pipeline& pipeline, const ir::Plan& plan, bool avx512);

}  // namespace rowjit::jit
