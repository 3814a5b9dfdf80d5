// Planning and compiling a pipeline the way the runtime does, for the
// subcommands that show the result: `rowjit dump` and `rowjit plan`.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "runtime/compiler.h"
#include "tools/args.h"
#include "tools/command_error.h"

namespace rowjit::cli {

// The options of a subcommand that pick the kernel.
struct KernelChoice {
  std::string pipeline_path;
  std::optional<Isa> isa;                       // --isa; the runtime's choice, host_isa(), when absent
  int64_t n_hint = 0;                           // --n: row length the plan is made for; 0 when unknown
  std::optional<int64_t> rows;                  // --rows
  ir::PlanChoices choices;                      // --plan (the softmax form) and --choice
};

// Applies `option` when it is --isa, --plan or --choice and returns true;
// returns false for any other option.
CommandResult<bool> apply_kernel_option(const ParsedOption& option, std::optional<Isa>& isa,
                                       ir::PlanChoices& choices);

// A run failure when `isa` is set and this CPU and OS cannot run it.
CommandStatus check_isa_supported(std::optional<Isa> isa);

// The plan for `isa` with the forced `choices`, or a usage error when one of
// them does not apply to the pipeline (the planner's message names it).
CommandResult<ir::Plan> plan_forced(const ir::Pipeline& pipeline, Isa isa, int64_t n_hint,
                                    const ir::PlanChoices& choices);

// Reads the PIPELINE argument and the --isa, --n, --rows, --plan and --choice options
// from `parsed`, where present. Values that are not valid are usage errors
// naming the option. `command` names the subcommand in the error messages.
CommandResult<KernelChoice> read_kernel_choice(const ParsedArguments& parsed, const std::string& command);

struct InspectedKernel {
  Isa isa = Isa::kNone;  // the ISA planned for
  ir::Plan plan;         // the kernel's own plan when compiled
  // The compiled kernel. It is null when compiling failed, or when the plan
  // cannot be lowered, and then plan.unsupported_reason gives the reason.
  std::shared_ptr<const Kernel> kernel;
  // Why rowjit::compile failed (refused executable memory, an emitter
  // error); the plan is still the one it was given.
  std::optional<CommandError> compile_error;

  const jit::CompiledKernel* compiled() const { return kernel ? kernel->compiled() : nullptr; }
};

// Plans `pipeline` for the chosen ISA and row length and compiles it with
// rowjit::compile when the plan can be lowered. Errors: an ISA this CPU and OS
// lack (exit code 1) and a softmax form that does not apply to the pipeline
// (exit code 2). A compile failure is returned in compile_error, with the plan.
CommandResult<InspectedKernel> inspect_kernel(const ir::Pipeline& pipeline, const KernelChoice& choice);

// Describes where the ISA came from: "--isa", or the host's best ISA and the
// ROWJIT_MAX_ISA cap.
std::string isa_origin(const KernelChoice& choice);

}  // namespace rowjit::cli
