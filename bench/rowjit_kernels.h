// rowjit kernels as the benchmark runs them. Each is compiled once per variant
// and shape and checked once through Kernel::run, which validates the
// arguments. The timed calls go to the raw machine-code entry with prepared
// KernelArgs, as an engine that checks its tensors once per model calls it.
#pragma once

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "ir/plan.h"
#include "ir/status.h"
#include "jit/kernel_abi.h"
#include "runtime/compiler.h"
#include "runtime/cpu_features.h"
#include "runtime/row_parallel.h"

namespace rowjit::bench {

// Reads examples/NAME.rj from the source tree this file belongs to.
inline Result<std::string> read_example(const std::string& name) {
  std::string source_file = __FILE__;
  std::string root = source_file.substr(0, source_file.rfind("/bench/"));
  std::string path = root + "/examples/" + name + ".rj";
  std::ifstream in(path);
  if (!in) {
    return Status(StatusCode::kIoError,
                  "cannot read pipeline " + path + "; run the benchmark from the build of this source tree");
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// One rowjit implementation: the ISA (host's best when unset) and the softmax
// form (the planner's choice for the row length when unset).
struct RowjitVariant {
  std::optional<Isa> isa;
  std::optional<ir::SoftmaxForm> form;
  std::optional<int> exp_group;  // Plan::exp_group forced, else the planner's

  // IMPL part of the benchmark name: rowjit, rowjit_avx2, rowjit_two_pass_online,
  // rowjit_avx2_two_pass_online, rowjit_exp_group1, ...
  std::string impl_name() const {
    std::string name = "rowjit";
    if (isa) name.append("_").append(isa_name(*isa));
    if (form) name.append("_").append(ir::softmax_form_name(*form));
    if (exp_group) name.append("_exp_group").append(std::to_string(*exp_group));
    return name;
  }

  void apply(CompileOptions& options) const {
    options.isa = isa;
    options.choices.softmax_form = form;
    options.choices.exp_group = exp_group;
  }
};

class RowjitKernel {
 public:
  // Compiles `pipeline_text` for the variant with n_hint = n and binds it to
  // the rows x n buffers x (input "x") and y (output "y"). Fails when the
  // variant does not apply (for example two_pass_extexp on AVX2) or when the
  // pipeline would run on the interpreter, which is not worth timing.
  static Result<std::unique_ptr<RowjitKernel>> create(const std::string& pipeline_text, const RowjitVariant& variant,
                                                      int64_t rows, int64_t n, const float* x, float* y) {
    CompileOptions options;
    variant.apply(options);
    options.n_hint = n;
    auto kernel = compile_text(pipeline_text, options);
    if (!kernel) return kernel.status();
    if (!(*kernel)->uses_jit()) {
      return Status(StatusCode::kUnsupported,
                    "the pipeline runs on the interpreter: " + (*kernel)->plan().unsupported_reason);
    }
    auto bound = std::unique_ptr<RowjitKernel>(new RowjitKernel(*kernel));
    int64_t stride = n * static_cast<int64_t>(sizeof(float));
    bound->run_args_.rows = rows;
    bound->run_args_.n = n;
    bound->run_args_.tensors["x"] = ir::TensorRef{const_cast<float*>(x), ir::ElemType::kF32, stride};
    bound->run_args_.tensors["y"] = ir::TensorRef{y, ir::ElemType::kF32, stride};

    // The same KernelArgs that Kernel::run builds for a whole batch.
    const jit::KernelLayout& layout = bound->kernel_->compiled()->layout;
    if (!layout.scalar_slots.empty()) {
      return Status(StatusCode::kUnsupported, "the benchmark binds pipelines with inputs x and y only");
    }
    bound->call_.rows = rows;
    bound->call_.n = n;
    for (size_t i = 0; i < layout.tensor_slots.size(); ++i) {
      const std::string& name = bound->kernel_->pipeline().value(layout.tensor_slots[i]).name;
      auto tensor = bound->run_args_.tensors.find(name);
      if (tensor == bound->run_args_.tensors.end()) {
        return Status(StatusCode::kUnsupported, "the benchmark binds x and y only, but the kernel also takes '" +
                                                    name + "'");
      }
      bound->call_.data[i] = tensor->second.data;
      bound->call_.stride[i] = stride;
    }
    bound->entry_ = bound->kernel_->compiled()->function();
    return bound;
  }

  // Runs through the checked API; used for the correctness check.
  Status run_checked() const { return kernel_->run(run_args_); }
  // Runs the machine code directly; used in the timed loop.
  void run() const { entry_(&call_); }
  // Runs through the checked API with the rows split over rowjit's default
  // pool, as an engine without a pool of its own would.
  Status run_on_all_cores() const { return kernel_->run(run_args_, default_thread_pool().hook()); }

  // Form, ISA, unroll and exp group actually compiled, for the benchmark label.
  std::string label() const {
    const jit::CompiledKernel& compiled = *kernel_->compiled();
    return std::string(ir::softmax_form_name(kernel_->plan().softmax_form)) + " " + isa_name(kernel_->isa()) +
           " unroll " + std::to_string(compiled.unroll) + " exp group " + std::to_string(compiled.exp_group);
  }

 private:
  explicit RowjitKernel(std::shared_ptr<const Kernel> kernel) : kernel_(std::move(kernel)) {}

  std::shared_ptr<const Kernel> kernel_;
  ir::RunArgs run_args_;
  jit::KernelArgs call_;
  jit::KernelFunction entry_ = nullptr;
};

}  // namespace rowjit::bench
