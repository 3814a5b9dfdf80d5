#include "jit/compile.h"

#include <algorithm>

#include "ir/float_environment.h"
#include "jit/kernel_emitter.h"

namespace rowjit::jit {

namespace {

// Chooses, per sweep, the constants to hold in registers: the most used ones,
// as many as the first emission left registers free throughout the loops.
std::vector<std::vector<uint32_t>> choose_pinned_constants(const KernelEmitter& first) {
  std::vector<std::vector<uint32_t>> plan;
  const auto& uses = first.sweep_constant_uses();
  const auto& free = first.sweep_min_free_registers();
  for (size_t s = 0; s < uses.size(); ++s) {
    std::vector<std::pair<int, uint32_t>> by_count;
    for (const auto& [bits, count] : uses[s]) by_count.push_back({count, bits});
    std::sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::vector<uint32_t> chosen;
    for (const auto& [count, bits] : by_count) {
      if (static_cast<int>(chosen.size()) >= free[s]) break;
      chosen.push_back(bits);
    }
    plan.push_back(std::move(chosen));
  }
  return plan;
}

// A plan the emitter does not handle is a bug in rowjit; the caller gets a
// status instead of an exception through the API.
Status emitter_failure(const ir::Pipeline& pipeline, const std::exception& error) {
  return Status(StatusCode::kInternal, "emitting the kernel of pipeline '" + pipeline.name +
                                           "' failed (" + error.what() +
                                           "); this is a bug in rowjit, so please report it with the pipeline");
}

// Code buffer sizes to try in turn. The shipped examples' kernels take at most
// 24 KB under every form and choice, and a pipeline of thousands of ops more.
constexpr size_t kCodeBufferBytes[] = {size_t{64} << 10, size_t{1} << 20, size_t{8} << 20};

// Xbyak's error for a kernel larger than its code buffer.
bool code_too_big(const Xbyak::Error& error) { return static_cast<int>(error) == Xbyak::ERR_CODE_IS_TOO_BIG; }

// What a failed emission lacked, when a larger code buffer or a smaller
// unroll may help.
enum class Shortfall { kNone, kCodeBuffer, kRegisters };

// Sets `shortfall` when the kernel does not fit `code_bytes` or the registers.
Result<CompiledKernel> try_compile(const ir::Pipeline& pipeline, const ir::Plan& plan, bool avx512, int unroll,
                                   int resident_vectors, size_t code_bytes, Shortfall& shortfall) {
  shortfall = Shortfall::kNone;
  auto too_big_status = [&] {
    shortfall = Shortfall::kCodeBuffer;
    return Status(StatusCode::kUnsupported, "the kernel's code exceeds " + std::to_string(code_bytes >> 10) + " KiB");
  };
  // A first emission finds which constants each sweep's loops use and how many
  // registers they leave free. The kernel that runs keeps those constants in
  // registers.
  std::vector<std::vector<uint32_t>> pinned;
  try {
    KernelEmitter first(pipeline, plan, VectorTarget{avx512}, code_bytes);
    first.set_unroll(unroll);
    first.set_resident_vectors(resident_vectors);
    Status emitted = first.emit_kernel();
    if (!emitted.is_ok()) {
      if (first.out_of_registers()) shortfall = Shortfall::kRegisters;
      return emitted;
    }
    pinned = choose_pinned_constants(first);
  } catch (const Xbyak::Error& error) {
    if (code_too_big(error)) return too_big_status();
    return Status(StatusCode::kInternal, std::string("code emission failed in Xbyak: ") + error.what());
  } catch (const std::exception& error) {
    return emitter_failure(pipeline, error);
  }

  KernelEmitter emitter(pipeline, plan, VectorTarget{avx512}, code_bytes);
  emitter.set_unroll(unroll);
  emitter.set_resident_vectors(resident_vectors);
  emitter.set_pinned_constants(std::move(pinned));
  Status emitted;
  try {
    emitted = emitter.emit_kernel();
    if (emitted.is_ok()) emitter.ready(Xbyak::CodeArray::PROTECT_RW);
  } catch (const Xbyak::Error& error) {
    if (code_too_big(error)) return too_big_status();
    return Status(StatusCode::kInternal, std::string("code emission failed in Xbyak: ") + error.what());
  } catch (const std::exception& error) {
    return emitter_failure(pipeline, error);
  }
  if (!emitted.is_ok()) {
    if (emitter.out_of_registers()) shortfall = Shortfall::kRegisters;
    return emitted;
  }

  CompiledKernel kernel;
  const uint8_t* code = emitter.getCode();
  kernel.bytes.assign(code, code + emitter.getSize());
  auto buffer = ExecutableBuffer::create(kernel.bytes.data(), kernel.bytes.size());
  if (!buffer) return buffer.status();
  kernel.code = std::move(buffer).value();
  kernel.code_size = emitter.code_size();
  kernel.constants = emitter.pool().constants();
  kernel.data_regions = emitter.data_regions();
  kernel.markers = emitter.markers();
  kernel.layout = emitter.layout();
  kernel.isa = avx512 ? "avx512" : "avx2";
  kernel.unroll = unroll;
  kernel.resident_vectors = resident_vectors;
  kernel.exp_group = emitter.exp_group();
  kernel.exp_range_test = emitter.exp_range_copied();
  kernel.blocked_exp_range_test = emitter.blocked_exp_range_copied();
  return kernel;
}

}  // namespace

Result<CompiledKernel> compile_kernel(const ir::Pipeline& pipeline, const ir::Plan& plan, bool avx512) {
  // The exp table and the constants are computed on the host: they must not
  // depend on the caller's rounding mode or trap on its unmasked exceptions.
  ir::DefaultFloatEnvironment environment;
  if (!plan.jit_supported) {
    return Status(StatusCode::kUnsupported, "pipeline '" + pipeline.name + "': " + plan.unsupported_reason);
  }
  // Fewer vectors per iteration need fewer accumulators: halve the unroll
  // until the sweep fits the register file. A resident row that does not fit
  // even then goes back to the loops.
  Status last;
  std::vector<int> residencies = {plan.resident_vectors};
  if (plan.resident_vectors > 0) residencies.push_back(0);
  for (int resident_vectors : residencies) {
    for (int unroll = plan.unroll; unroll >= 1; unroll /= 2) {
      // A kernel too large for its code buffer tries the next size, and one
      // too large for the last runs on the interpreter. A smaller unroll would
      // shrink it, but the plan would then name the registers as the reason.
      Result<CompiledKernel> kernel = Status(StatusCode::kInternal, "no code buffer size tried");
      Shortfall shortfall = Shortfall::kNone;
      for (size_t code_bytes : kCodeBufferBytes) {
        kernel = try_compile(pipeline, plan, avx512, unroll, resident_vectors, code_bytes, shortfall);
        if (shortfall != Shortfall::kCodeBuffer) break;
      }
      if (kernel) return kernel;
      if (shortfall == Shortfall::kCodeBuffer) {
        return Status(StatusCode::kUnsupported, "pipeline '" + pipeline.name + "' is too large for the JIT: " +
                                                    kernel.status().message());
      }
      // Other failures, such as more tensors than the JIT takes, do not
      // depend on the unroll.
      last = kernel.status();
      if (shortfall != Shortfall::kRegisters) return last;
    }
  }
  return Status(StatusCode::kUnsupported, "pipeline '" + pipeline.name + "' does not fit the " +
                                              std::string(avx512 ? "AVX-512" : "AVX2") +
                                              " registers even at unroll 1: " + last.message());
}

}  // namespace rowjit::jit
