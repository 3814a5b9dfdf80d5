#include "tools/execute.h"

#include <chrono>
#include <cstdio>
#include <string>

#include "runtime/compiler.h"

namespace rowjit::cli {
namespace {

Engine engine_of(const Kernel& kernel) {
  switch (kernel.isa()) {
    case Isa::kAvx512: return Engine::kJitAvx512;
    case Isa::kAvx2: return Engine::kJitAvx2;
    case Isa::kNone: break;
  }
  return Engine::kInterpreter;
}

}  // namespace

std::string_view engine_name(Engine engine) {
  switch (engine) {
    case Engine::kInterpreter: return "interpreter";
    case Engine::kJitAvx2: return "jit avx2";
    case Engine::kJitAvx512: return "jit avx512";
  }
  return "unknown";
}

Result<Execution> execute_pipeline(const ir::Pipeline& pipeline, const ir::RunArgs& args, std::optional<Isa> isa,
                                   const ir::PlanChoices& choices) {
  CompileOptions options;
  options.n_hint = args.n;
  options.isa = isa;
  options.choices = choices;
  // The process-wide Compiler applies ROWJIT_VERBOSE, ROWJIT_DUMP and
  // ROWJIT_PERF_MAP, as it does for an embedding engine.
  Result<std::shared_ptr<const Kernel>> kernel = default_compiler().compile(pipeline, options);
  if (!kernel) return kernel.status();
  // A kernel on the interpreter was logged by the compiler, with the reason.

  // The time covers the run alone, not the compilation.
  auto start = std::chrono::steady_clock::now();
  Status status = (*kernel)->run(args);
  auto end = std::chrono::steady_clock::now();
  if (!status) return status;

  Execution execution;
  execution.engine = engine_of(**kernel);
  execution.milliseconds = std::chrono::duration<double, std::milli>(end - start).count();
  return execution;
}

}  // namespace rowjit::cli
