// Compiling pipelines into kernels and running them: the C++ entry point of
// rowjit. A Kernel runs JIT machine code when the planner and the target allow
// it, and the reference interpreter otherwise (logging once which op kept it
// from the JIT).
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "ir/status.h"
#include "ir/target.h"
#include "ir/tensor.h"
#include "jit/compile.h"
#include "runtime/cpu_features.h"

namespace rowjit {

struct CompileOptions {
  // ISA to compile for; by default the host's best after ROWJIT_MAX_ISA. An
  // ISA the host cannot run is an error.
  std::optional<Isa> isa;
  // Row length the plan is chosen for (0: unknown, plan for rows in cache).
  int64_t n_hint = 0;
  // Forced plan choices, for tests, tuning and `rowjit plan`.
  ir::PlanChoices choices;
};

class Kernel {
 public:
  // Runs the kernel on args.rows rows. The arguments are checked against the
  // pipeline's signature first; nothing is written when they are invalid.
  Status run(const ir::RunArgs& args) const;

  bool uses_jit() const { return compiled_.has_value(); }
  Isa isa() const { return uses_jit() ? isa_ : Isa::kNone; }
  const ir::Pipeline& pipeline() const { return pipeline_; }
  const ir::Plan& plan() const { return plan_; }
  // The machine code and its layout; null when the kernel runs on the interpreter.
  const jit::CompiledKernel* compiled() const { return compiled_ ? &*compiled_ : nullptr; }

 private:
  friend Result<std::shared_ptr<const Kernel>> compile(const ir::Pipeline&, const CompileOptions&);
  Kernel(ir::Pipeline pipeline, ir::Plan plan) : pipeline_(std::move(pipeline)), plan_(std::move(plan)) {}

  ir::Pipeline pipeline_;
  ir::Plan plan_;
  Isa isa_ = Isa::kNone;
  std::optional<jit::CompiledKernel> compiled_;
};

// Target description of `isa` on this host: vector width and cache sizes.
ir::TargetDesc host_target(Isa isa);

// Plans and compiles `pipeline`. Fails on invalid options (an ISA the host
// lacks, a forced plan that does not apply) or when the system refuses
// executable memory; a pipeline the JIT cannot lower is not an error.
Result<std::shared_ptr<const Kernel>> compile(const ir::Pipeline& pipeline, const CompileOptions& options = {});

// Parses pipeline text, then compiles it.
Result<std::shared_ptr<const Kernel>> compile_text(std::string_view text, const CompileOptions& options = {});

}  // namespace rowjit
