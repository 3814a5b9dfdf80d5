#include "runtime/compiler.h"

#include <cstdio>
#include <cstring>

#include "ir/interpreter.h"
#include "ir/parser.h"
#include "ir/planner.h"

namespace rowjit {

ir::TargetDesc host_target(Isa isa) {
  ir::TargetDesc target;
  target.isa = isa_name(isa);
  target.vector_bits = isa == Isa::kAvx512 ? 512 : isa == Isa::kAvx2 ? 256 : 0;
  target.vector_registers = isa == Isa::kAvx512 ? 32 : isa == Isa::kAvx2 ? 16 : 0;
  const CacheSizes& caches = host_cpu().caches;
  if (caches.l1d_bytes > 0) target.l1d_bytes = static_cast<int64_t>(caches.l1d_bytes);
  if (caches.l2_bytes > 0) target.l2_bytes = static_cast<int64_t>(caches.l2_bytes);
  if (caches.l3_bytes > 0) target.llc_bytes = static_cast<int64_t>(caches.l3_bytes);
  return target;
}

Result<std::shared_ptr<const Kernel>> compile(const ir::Pipeline& pipeline, const CompileOptions& options) {
  Isa isa = host_isa();
  if (options.isa) {
    if (*options.isa > best_isa(host_cpu())) {
      return Status(StatusCode::kUnsupported, std::string("ISA ") + isa_name(*options.isa) +
                                                  " was requested but this CPU and OS support at most " +
                                                  isa_name(best_isa(host_cpu())));
    }
    isa = *options.isa;
  }
  auto plan = ir::make_plan(pipeline, host_target(isa), options.n_hint, options.choices);
  if (!plan) return plan.status();

  std::shared_ptr<Kernel> kernel(new Kernel(pipeline, std::move(plan).value()));
  if (!kernel->plan_.jit_supported) {
    std::fprintf(stderr, "rowjit: pipeline '%s' runs on the reference interpreter: %s\n", pipeline.name.c_str(),
                 kernel->plan_.unsupported_reason.c_str());
    return std::shared_ptr<const Kernel>(kernel);
  }
  auto compiled = jit::compile_kernel(kernel->pipeline_, kernel->plan_, isa == Isa::kAvx512);
  if (!compiled) {
    if (compiled.status().code() != StatusCode::kUnsupported) return compiled.status();
    std::fprintf(stderr, "rowjit: pipeline '%s' runs on the reference interpreter: %s\n", pipeline.name.c_str(),
                 compiled.status().message().c_str());
    kernel->plan_.jit_supported = false;
    kernel->plan_.unsupported_reason = compiled.status().message();
    return std::shared_ptr<const Kernel>(kernel);
  }
  kernel->compiled_ = std::move(compiled).value();
  kernel->isa_ = isa;
  return std::shared_ptr<const Kernel>(kernel);
}

Result<std::shared_ptr<const Kernel>> compile_text(std::string_view text, const CompileOptions& options) {
  auto pipeline = ir::parse_pipeline(text);
  if (!pipeline) return pipeline.status();
  return compile(*pipeline, options);
}

Status Kernel::run(const ir::RunArgs& args) const {
  ROWJIT_TRY(ir::validate_run_args(pipeline_, args));
  if (!compiled_) return ir::interpret(pipeline_, args);

  jit::KernelArgs call;
  call.rows = args.rows;
  call.n = args.n;
  const jit::KernelLayout& layout = compiled_->layout;
  for (size_t i = 0; i < layout.tensor_slots.size(); ++i) {
    const ir::Value& v = pipeline_.value(layout.tensor_slots[i]);
    const ir::TensorRef& tensor = args.tensors.at(v.name);
    call.data[i] = tensor.data;
    // A vector parameter is one row shared by all rows.
    call.stride[i] = v.kind == ir::ValueKind::kParam ? 0 : tensor.row_stride_bytes;
  }
  for (size_t i = 0; i < layout.scalar_slots.size(); ++i) {
    const ir::Value& v = pipeline_.value(layout.scalar_slots[i]);
    auto value = ir::scalar_param(pipeline_, args, v.name);
    call.scalars[i] = static_cast<float>(value.value_or(0.0));
  }
  if (args.rows > 0) compiled_->function()(&call);
  return Status::ok();
}

}  // namespace rowjit
