#include "runtime/compiler.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "ir/float_environment.h"
#include "ir/interpreter.h"
#include "ir/parser.h"
#include "ir/planner.h"
#include "ir/printer.h"
#include "ir/tensor_overlap.h"
#include "runtime/dump.h"
#include "runtime/in_place.h"
#include "runtime/log.h"
#include "runtime/perf_map.h"
#include "runtime/resident_fallback.h"
#include "runtime/tuning_file.h"

namespace rowjit {

namespace {

std::atomic<int64_t> g_llc_bytes_for_testing{0};  // 0: the detected size

}  // namespace

void set_llc_bytes_for_testing(std::optional<int64_t> bytes) { g_llc_bytes_for_testing = bytes.value_or(0); }

ir::TargetDesc host_target(Isa isa) {
  ir::TargetDesc target;
  target.isa = isa_name(isa);
  if (isa == Isa::kAvx512) {
    target.vector_bits = 512;
    target.vector_registers = 32;
    target.split_zmm = splits_zmm(host_cpu());
  } else if (isa == Isa::kAvx2) {
    target.vector_bits = 256;
    target.vector_registers = 16;
  }
  const CacheSizes& caches = host_cpu().caches;
  if (caches.l1d_bytes > 0) target.l1d_bytes = static_cast<int64_t>(caches.l1d_bytes);
  if (caches.l2_bytes > 0) target.l2_bytes = static_cast<int64_t>(caches.l2_bytes);
  if (caches.l3_bytes > 0) target.llc_bytes = static_cast<int64_t>(caches.l3_bytes);
  if (int64_t forced = g_llc_bytes_for_testing.load(); forced > 0) target.llc_bytes = forced;
  return target;
}

namespace {

// Rejects an ISA outside the enum, as the C API does for its ISA values.
Status check_isa_value(const std::optional<Isa>& isa) {
  if (!isa || *isa == Isa::kNone || *isa == Isa::kAvx2 || *isa == Isa::kAvx512) return Status::ok();
  return Status(StatusCode::kInvalidArgument, "invalid ISA value " + std::to_string(static_cast<int>(*isa)) +
                                                  "; use Isa::kNone, Isa::kAvx2 or Isa::kAvx512, or leave it unset");
}

}  // namespace

Result<std::shared_ptr<const Kernel>> compile(const ir::Pipeline& pipeline, const CompileOptions& options) {
  // The tuning file, dumps and timings run under the IEEE defaults, so an
  // unmasked exception of the caller traps nowhere.
  ir::DefaultFloatEnvironment environment;
  ROWJIT_TRY(check_isa_value(options.isa));
  Isa isa = host_isa();
  if (options.isa) {
    if (*options.isa > best_isa(host_cpu())) {
      return Status(StatusCode::kUnsupported, std::string("ISA ") + isa_name(*options.isa) +
                                                  " was requested but this CPU and OS support at most " +
                                                  isa_name(best_isa(host_cpu())) +
                                                  "; request that ISA or leave the ISA unset for the best one");
    }
    isa = *options.isa;
  }
  // Choices the caller leaves unset come from the tuning file, if any.
  auto plan = make_plan_with_tuning(pipeline, host_target(isa), isa, options.n_hint, options.choices);
  if (!plan) return plan.status();

  std::shared_ptr<Kernel> kernel(new Kernel(pipeline, std::move(plan).value()));
  if (!kernel->plan_.jit_supported) {
    log_line("pipeline '" + pipeline.name + "' runs on the reference interpreter: " + kernel->plan_.unsupported_reason);
    return std::shared_ptr<const Kernel>(kernel);
  }
  auto compiled = jit::compile_kernel(kernel->pipeline_, kernel->plan_, isa == Isa::kAvx512);
  if (!compiled) {
    if (compiled.status().code() != StatusCode::kUnsupported) return compiled.status();
    log_line("pipeline '" + pipeline.name + "' runs on the reference interpreter: " + compiled.status().message());
    kernel->plan_.jit_supported = false;
    kernel->plan_.unsupported_reason = compiled.status().message();
    return std::shared_ptr<const Kernel>(kernel);
  }
  kernel->compiled_ = std::move(compiled).value();
  if (kernel->compiled_->resident_vectors < kernel->plan_.resident_vectors) {
    ROWJIT_TRY(plan_loops_instead_of_resident_rows(kernel->pipeline_, host_target(isa), kernel->plan_));
  }
  kernel->isa_ = isa;
  kernel->index_slots();
  return std::shared_ptr<const Kernel>(kernel);
}

Result<std::shared_ptr<const Kernel>> compile_text(std::string_view text, const CompileOptions& options) {
  auto pipeline = ir::parse_pipeline(text);
  if (!pipeline) return pipeline.status();
  return compile(*pipeline, options);
}

namespace {

double elapsed_microseconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
}

// Formats the ROWJIT_VERBOSE line of one Compiler::compile call.
std::string describe_compile(const KernelKey& key, const KernelCache::Lookup& lookup, double microseconds) {
  char time[32];
  std::snprintf(time, sizeof(time), "%.1f", microseconds);
  std::string line = "compile pipeline=" + key.pipeline_name;
  if (!lookup.kernel) {
    return line + " isa=" + isa_name(key.isa) + " time_us=" + time + " cache=" + (lookup.hit ? "hit" : "miss") +
           " failed: " + lookup.kernel.status().to_string();
  }
  const Kernel& kernel = **lookup.kernel;
  const ir::Plan& plan = kernel.plan();
  size_t code_bytes = kernel.compiled() ? kernel.compiled()->code.size() : 0;
  return line + " kernel=" + kernel_label(key, plan.softmax_form, kernel.isa()) + " form=" +
         std::string(ir::softmax_form_name(plan.softmax_form)) + " sweeps=" + std::to_string(plan.sweeps.size()) +
         " isa=" + isa_name(kernel.isa()) + " code_bytes=" + std::to_string(code_bytes) + " time_us=" + time +
         " cache=" + (lookup.hit ? "hit" : "miss");
}

}  // namespace

Compiler::Compiler() : Compiler(env_knobs()) {}

Compiler::Compiler(const RuntimeKnobs& knobs) : knobs_(knobs), cache_(knobs.cache_capacity) {}

Result<std::shared_ptr<const Kernel>> Compiler::compile(const ir::Pipeline& pipeline, const CompileOptions& options) {
  // The tuning file, dumps and timings run under the IEEE defaults, so an
  // unmasked exception of the caller traps nowhere.
  ir::DefaultFloatEnvironment environment;
  auto start = std::chrono::steady_clock::now();
  ROWJIT_TRY(check_isa_value(options.isa));
  // The ISA is fixed before the lookup, so that the kernel compiled on a miss
  // is the one the key names even if the cap changes meanwhile.
  CompileOptions resolved = options;
  if (!resolved.isa) resolved.isa = host_isa();

  // The key contains the choices the planner makes for this row size, not
  // only the forced ones. Two row lengths in one size class can fall on either
  // side of a cache threshold, and each must get the kernel planned for it.
  auto planned = make_plan_with_tuning(pipeline, host_target(*resolved.isa), *resolved.isa, resolved.n_hint,
                                       resolved.choices);
  if (planned && planned->jit_supported) {
    if (planned->softmax_form != ir::SoftmaxForm::kNone) resolved.choices.softmax_form = planned->softmax_form;
    resolved.choices.unroll = planned->unroll;
    // Regular stores with the switch by call size stay unset: forcing them
    // off would remove the switch (Plan::nontemporal_call_bytes).
    bool call_switch = !planned->nontemporal_stores && planned->nontemporal_call_bytes > 0;
    if (!call_switch) resolved.choices.nontemporal_stores = planned->nontemporal_stores;
    resolved.choices.resident_vectors = planned->resident_vectors;
    resolved.choices.prefetch_bytes = planned->prefetch_bytes;
    resolved.choices.blocked_exp = planned->blocked_exp;
    resolved.choices.speculative_max = planned->speculative_max;
    resolved.choices.exp_group = planned->exp_group;
  }

  KernelKey key;
  key.pipeline_text = ir::print_pipeline(pipeline);
  key.pipeline_name = pipeline.name;
  key.isa = *resolved.isa;
  key.size_class = row_size_class(resolved.n_hint, host_target(key.isa).l2_bytes);
  key.choices = resolved.choices;

  KernelCache::Lookup lookup = cache_.get_or_compile(key, [&]() -> KernelResult {
    auto kernel = rowjit::compile(pipeline, resolved);
    if (kernel) publish(**kernel, key);
    return kernel;
  });
  if (knobs_.verbose) log_line(describe_compile(key, lookup, elapsed_microseconds(start)));
  return std::move(lookup.kernel);
}

Result<std::shared_ptr<const Kernel>> Compiler::compile_text(std::string_view text, const CompileOptions& options) {
  auto pipeline = ir::parse_pipeline(text);
  if (!pipeline) return pipeline.status();
  return compile(*pipeline, options);
}

void Compiler::publish(const Kernel& kernel, const KernelKey& key) {
  std::string label = kernel_label(key, kernel.plan().softmax_form, kernel.isa());
  if (!knobs_.dump_dir.empty()) {
    auto written = write_kernel_dump(knobs_.dump_dir, label, kernel);
    if (!written && !dump_failure_logged_.exchange(true)) {
      log_line("cannot write a kernel dump to ROWJIT_DUMP='" + knobs_.dump_dir + "': " + written.status().to_string() +
               "; later dump failures of this compiler are not logged");
    }
  }
  if (knobs_.perf_map && kernel.compiled() != nullptr) {
    const jit::ExecutableBuffer& code = kernel.compiled()->code;
    Status status = append_perf_map_line(perf_map_path(), code.entry(), code.size(), "rowjit:" + label);
    if (!status && !perf_map_failure_logged_.exchange(true)) {
      log_line(status.to_string() + "; later perf map failures of this compiler are not logged");
    }
  }
}

Compiler& default_compiler() {
  static Compiler compiler;
  return compiler;
}

Status Kernel::run(const ir::RunArgs& args) const {
  ROWJIT_TRY(signature_.check(pipeline_, args));
  return run_rows(args, 0, args.rows);
}

void Kernel::index_slots() {
  const jit::KernelLayout& layout = compiled_->layout;
  const std::vector<ir::RunSignature::Tensor>& tensors = signature_.tensors();
  tensor_slots_.assign(tensors.size(), TensorSlot{});
  for (size_t slot = 0; slot < layout.tensor_slots.size(); ++slot) {
    const ir::Value& v = pipeline_.value(layout.tensor_slots[slot]);
    for (size_t position = 0; position < tensors.size(); ++position) {
      if (tensors[position].name != v.name) continue;
      tensor_slots_[position] = {static_cast<int>(slot), v.kind != ir::ValueKind::kParam};
    }
  }
  tensor_extents_.assign(tensors.size(), TensorExtent{});
  for (size_t position = 0; position < tensors.size(); ++position) {
    const ir::RunSignature::Tensor& tensor = tensors[position];
    TensorExtent& extent = tensor_extents_[position];
    extent.output = pipeline_.find_output(tensor.name).has_value();
    extent.whole_row = tensor.shape.kind == ir::Shape::Kind::kRow;
    extent.per_row = tensor.per_row;
    bool quick_shape = extent.whole_row || tensor.shape.kind == ir::Shape::Kind::kScalar;
    // storage_bytes of 2 elements is twice that of 1 only for whole bytes per element.
    int64_t single = ir::storage_bytes(tensor.elem, 1);
    extent.element_bytes = quick_shape && ir::storage_bytes(tensor.elem, 2) == 2 * single ? single : 0;
  }
  const std::vector<ir::RunSignature::ScalarParam>& params = signature_.scalar_params();
  scalar_slots_.assign(params.size(), -1);
  for (size_t slot = 0; slot < layout.scalar_slots.size(); ++slot) {
    const ir::Value& v = pipeline_.value(layout.scalar_slots[slot]);
    for (size_t position = 0; position < params.size(); ++position) {
      if (params[position].name == v.name) scalar_slots_[position] = static_cast<int>(slot);
    }
  }
}

bool Kernel::bind_checked_tensors(const ir::RunArgs& args, int64_t first, jit::KernelArgs& call) const {
  // Address range [start, end) of each tensor, in the signature's order, for
  // the quick test. [n/B] and [k] lengths and sub-byte elements are left to
  // the full check.
  constexpr size_t kMaxQuick = 16;
  bool quick = tensor_extents_.size() <= kMaxQuick;
  std::uintptr_t start[kMaxQuick];
  std::uintptr_t end[kMaxQuick];
  size_t position = 0;
  for (const auto& [name, tensor] : args.tensors) {
    const TensorSlot& target = tensor_slots_[position];
    if (target.slot >= 0) {
      call.data[target.slot] =
          static_cast<const char*>(tensor.data) + (target.advances ? first * tensor.row_stride_bytes : 0);
      call.stride[target.slot] = target.advances ? tensor.row_stride_bytes : 0;
    }
    if (quick) {
      const TensorExtent& extent = tensor_extents_[position];
      quick = extent.element_bytes != 0;
      int64_t row_bytes = (extent.whole_row ? args.n : 1) * extent.element_bytes;
      int64_t span =
          extent.per_row && args.rows > 1 ? (args.rows - 1) * tensor.row_stride_bytes + row_bytes : row_bytes;
      start[position] = reinterpret_cast<std::uintptr_t>(tensor.data);
      end[position] = start[position] + static_cast<std::uintptr_t>(span);
    }
    ++position;
  }
  if (!quick) return true;
  for (size_t i = 0; i < position; ++i) {
    if (!tensor_extents_[i].output) continue;
    for (size_t j = 0; j < position; ++j) {
      if (j != i && start[i] < end[j] && start[j] < end[i]) return true;
    }
  }
  return false;
}

Status Kernel::run_rows(const ir::RunArgs& args, int64_t first, int64_t count) const {
  if (count <= 0) return Status::ok();
  // A vector parameter is one row shared by all rows, so it never advances.
  auto per_row = [this](const std::string& name) {
    auto id = pipeline_.find_input(name);
    return !id || pipeline_.value(*id).kind != ir::ValueKind::kParam;
  };

  if (!compiled_) {
    if (first == 0 && count == args.rows) return ir::interpret(pipeline_, args);
    // A part of the rows cannot see an overlap with the rows of another part.
    auto aliases = ir::find_in_place_aliases(pipeline_, args);
    if (!aliases) return aliases.status();
    ir::RunArgs part = args;
    part.rows = count;
    part.first_row = args.first_row + first;
    for (auto& [name, tensor] : part.tensors) {
      if (per_row(name)) tensor.data = static_cast<char*>(tensor.data) + first * tensor.row_stride_bytes;
    }
    return ir::interpret(pipeline_, part);
  }

  // NOTE: KernelArgs has no first_row, because the JIT lowers no generator op
  // (uniform) yet; a JIT kernel with one will need it to split rows.
  jit::KernelArgs call;
  call.rows = count;
  call.batch_rows = args.rows;
  call.n = args.n;
  bool may_share_memory = true;
  if (signature_.checks_by_reference()) {
    bind_tensors_by_name(args, first, call);
  } else {
    may_share_memory = bind_checked_tensors(args, first, call);
  }
  // The interpreter checks overlaps itself. Machine code runs in place only
  // where its sweeps allow it.
  if (may_share_memory) ROWJIT_TRY(check_jit_in_place(pipeline_, plan_, args));

  // Parameters and scalar arguments are both sorted by name, so one walk
  // pairs them, and a parameter without an argument takes its default.
  const std::vector<ir::RunSignature::ScalarParam>& params = signature_.scalar_params();
  auto argument = args.scalars.begin();
  for (size_t position = 0; position < params.size(); ++position) {
    double value = params[position].default_value.value_or(0.0);
    if (argument != args.scalars.end() && argument->first == params[position].name) {
      value = argument->second;
      ++argument;
    }
    if (scalar_slots_[position] >= 0) {
      // Rounded to nearest, denormals kept, as value_accepted checked it.
      call.scalars[scalar_slots_[position]] = ir::to_f32_nearest(value);
    }
  }
  compiled_->function()(&call);
  return Status::ok();
}

void Kernel::bind_tensors_by_name(const ir::RunArgs& args, int64_t first, jit::KernelArgs& call) const {
  const jit::KernelLayout& layout = compiled_->layout;
  for (size_t i = 0; i < layout.tensor_slots.size(); ++i) {
    const ir::Value& v = pipeline_.value(layout.tensor_slots[i]);
    const ir::TensorRef& tensor = args.tensors.at(v.name);
    bool advances = v.kind != ir::ValueKind::kParam;
    call.data[i] = static_cast<const char*>(tensor.data) + (advances ? first * tensor.row_stride_bytes : 0);
    call.stride[i] = advances ? tensor.row_stride_bytes : 0;
  }
}

}  // namespace rowjit
