// Runs a parsed pipeline on bound arguments, with the best engine available.
#pragma once

#include <string_view>

#include <optional>

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "runtime/cpu_features.h"
#include "ir/status.h"
#include "ir/tensor.h"

namespace rowjit::cli {

enum class Engine {
  kInterpreter,  // the reference interpreter of ir/interpreter.h
  kJitAvx2,      // a JIT kernel for AVX2 + FMA
  kJitAvx512,    // a JIT kernel for AVX-512
};

// Short name for the summary line: "interpreter", "jit avx2" or "jit avx512".
std::string_view engine_name(Engine engine);

struct Execution {
  Engine engine = Engine::kInterpreter;
  double milliseconds = 0;  // wall time of the run alone, without file I/O
};

// Compiles `pipeline` for rows of length args.n and runs it on `args`: JIT
// machine code where the planner and the CPU allow it, the reference
// interpreter otherwise. It compiles through rowjit::default_compiler(), so
// the ROWJIT_VERBOSE, ROWJIT_DUMP and ROWJIT_PERF_MAP knobs apply. Every subcommand that runs a pipeline goes
// through here. When the interpreter runs, prints once per process to stderr
// which op or feature kept the pipeline from the JIT. On error the outputs may
// be partly written.
// `isa` and `choices` force the ISA and plan choices, as CompileOptions does.
Result<Execution> execute_pipeline(const ir::Pipeline& pipeline, const ir::RunArgs& args,
                                   std::optional<Isa> isa = std::nullopt, const ir::PlanChoices& choices = {});

}  // namespace rowjit::cli
