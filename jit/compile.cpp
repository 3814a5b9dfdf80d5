#include "jit/compile.h"

#include "jit/kernel_emitter.h"

namespace rowjit::jit {

namespace {

Result<CompiledKernel> try_compile(const ir::Pipeline& pipeline, const ir::Plan& plan, bool avx512, int unroll) {
  KernelEmitter emitter(pipeline, plan, VectorTarget{avx512});
  emitter.set_unroll(unroll);
  Status emitted;
  try {
    emitted = emitter.emit_kernel();
    if (emitted.is_ok()) emitter.ready(Xbyak::CodeArray::PROTECT_RW);
  } catch (const Xbyak::Error& error) {
    return Status(StatusCode::kInternal, std::string("code emission failed in Xbyak: ") + error.what());
  }
  if (!emitted.is_ok()) return emitted;

  CompiledKernel kernel;
  const uint8_t* code = emitter.getCode();
  kernel.bytes.assign(code, code + emitter.getSize());
  auto buffer = ExecutableBuffer::create(kernel.bytes.data(), kernel.bytes.size());
  if (!buffer) return buffer.status();
  kernel.code = std::move(buffer).value();
  kernel.code_size = emitter.code_size();
  kernel.constants = emitter.pool().constants();
  kernel.markers = emitter.markers();
  kernel.layout = emitter.layout();
  kernel.isa = avx512 ? "avx512" : "avx2";
  kernel.unroll = unroll;
  return kernel;
}

}  // namespace

Result<CompiledKernel> compile_kernel(const ir::Pipeline& pipeline, const ir::Plan& plan, bool avx512) {
  if (!plan.jit_supported) {
    return Status(StatusCode::kUnsupported, "pipeline '" + pipeline.name + "': " + plan.unsupported_reason);
  }
  // Fewer vectors per iteration need fewer accumulators: halve the unroll
  // until the sweep fits the register file.
  Status last;
  for (int unroll = plan.unroll; unroll >= 1; unroll /= 2) {
    auto kernel = try_compile(pipeline, plan, avx512, unroll);
    if (kernel) return kernel;
    last = kernel.status();
    if (last.code() != StatusCode::kUnsupported) return last;
  }
  return Status(StatusCode::kUnsupported, "pipeline '" + pipeline.name + "' does not fit the " +
                                              std::string(avx512 ? "AVX-512" : "AVX2") +
                                              " registers even at unroll 1: " + last.message());
}

}  // namespace rowjit::jit
