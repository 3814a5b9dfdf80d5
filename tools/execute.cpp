#include "tools/execute.h"

#include <chrono>
#include <cstdio>

#include "ir/interpreter.h"

namespace rowjit::cli {
namespace {

constexpr const char* kInterpreterNotice =
    "rowjit: running on the reference interpreter (no JIT kernel for this pipeline yet)";

void print_interpreter_notice_once() {
  static bool printed = false;
  if (printed) return;
  printed = true;
  std::fprintf(stderr, "%s\n", kInterpreterNotice);
}

}  // namespace

std::string_view engine_name(Engine engine) {
  switch (engine) {
    case Engine::kInterpreter: return "interpreter";
  }
  return "unknown";
}

Result<Execution> execute_pipeline(const ir::Pipeline& pipeline, const ir::RunArgs& args) {
  // TODO: compile a JIT kernel here once the runtime offers one, and fall back
  // to the interpreter only for pipelines or CPUs it does not support.
  print_interpreter_notice_once();

  auto start = std::chrono::steady_clock::now();
  Status status = ir::interpret(pipeline, args);
  auto end = std::chrono::steady_clock::now();
  if (!status) return status;

  Execution execution;
  execution.engine = Engine::kInterpreter;
  execution.milliseconds = std::chrono::duration<double, std::milli>(end - start).count();
  return execution;
}

}  // namespace rowjit::cli
