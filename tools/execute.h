// Runs a parsed pipeline on bound arguments, with the best engine available.
#pragma once

#include <string_view>

#include "ir/pipeline.h"
#include "ir/status.h"
#include "ir/tensor.h"

namespace rowjit::cli {

enum class Engine {
  kInterpreter,  // the reference interpreter of ir/interpreter.h
};

// Short name for the summary line: "interpreter".
std::string_view engine_name(Engine engine);

struct Execution {
  Engine engine = Engine::kInterpreter;
  double milliseconds = 0;  // wall time of the run alone, without file I/O
};

// Runs `pipeline` on `args`. Every subcommand that runs a pipeline goes
// through here, so that a JIT engine can replace the interpreter in one place.
// Prints once per process to stderr which engine runs when it is not a JIT
// kernel. On error the outputs may be partly written.
Result<Execution> execute_pipeline(const ir::Pipeline& pipeline, const ir::RunArgs& args);

}  // namespace rowjit::cli
