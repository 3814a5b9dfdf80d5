// The C interface (runtime/rowjit.h) over the C++ runtime. Every entry point
// catches every exception, std::bad_alloc included, and turns it into a
// status, because C callers cannot unwind C++ frames.
#include "runtime/rowjit.h"

#include <atomic>
#include <exception>
#include <memory>
#include <new>
#include <set>
#include <string>

#include "ir/types.h"
#include "runtime/compiler.h"
#include "runtime/log.h"
#include "runtime/version.h"

struct rowjit_compiler {
  explicit rowjit_compiler(const rowjit::RuntimeKnobs& knobs) : compiler(knobs) {}
  rowjit::Compiler compiler;
};

// One handle, shared by its references. The kernel itself is reference
// counted by its shared_ptr, which the compiler's cache may also hold.
struct rowjit_kernel {
  explicit rowjit_kernel(std::shared_ptr<const rowjit::Kernel> k) : kernel(std::move(k)) {}
  std::shared_ptr<const rowjit::Kernel> kernel;
  std::atomic<int64_t> references{1};
};

namespace {

using rowjit::Status;
using rowjit::StatusCode;

static_assert(ROWJIT_OK == static_cast<int>(StatusCode::kOk));
static_assert(ROWJIT_PARSE_ERROR == static_cast<int>(StatusCode::kParseError));
static_assert(ROWJIT_INVALID_PIPELINE == static_cast<int>(StatusCode::kInvalidPipeline));
static_assert(ROWJIT_INVALID_ARGUMENT == static_cast<int>(StatusCode::kInvalidArgument));
static_assert(ROWJIT_OUT_OF_RANGE == static_cast<int>(StatusCode::kOutOfRange));
static_assert(ROWJIT_UNSUPPORTED == static_cast<int>(StatusCode::kUnsupported));
static_assert(ROWJIT_IO_ERROR == static_cast<int>(StatusCode::kIoError));
static_assert(ROWJIT_EXEC_MEMORY_DENIED == static_cast<int>(StatusCode::kExecMemoryDenied));
static_assert(ROWJIT_INTERNAL == static_cast<int>(StatusCode::kInternal));

static_assert(ROWJIT_F32 == static_cast<int>(rowjit::ir::ElemType::kF32));
static_assert(ROWJIT_E8M0 == static_cast<int>(rowjit::ir::ElemType::kE8M0));
static_assert(static_cast<int>(rowjit::ir::ElemType::kBool) == 10);
static_assert(ROWJIT_Q8_0 == static_cast<int>(rowjit::ir::ElemType::kQ8_0));
static_assert(ROWJIT_MXFP4 == static_cast<int>(rowjit::ir::ElemType::kMxfp4));

static_assert(ROWJIT_ISA_NONE == static_cast<int>(rowjit::Isa::kNone));
static_assert(ROWJIT_ISA_AVX2 == static_cast<int>(rowjit::Isa::kAvx2));
static_assert(ROWJIT_ISA_AVX512 == static_cast<int>(rowjit::Isa::kAvx512));

thread_local std::string last_error;

rowjit_status fail(const Status& status) {
  try {
    last_error = status.message();
  } catch (...) {
    last_error.clear();
  }
  return static_cast<rowjit_status>(status.code());
}

rowjit_status fail(StatusCode code, const char* message) { return fail(Status(code, message)); }

rowjit_status to_c(const Status& status) { return status ? ROWJIT_OK : fail(status); }

// Runs `body`, which returns a Status, and converts every exception to a
// status: no exception leaves the C interface.
template <typename Body>
rowjit_status guarded(const char* function, Body&& body) noexcept {
  try {
    return to_c(body());
  } catch (const std::bad_alloc&) {
    return fail(StatusCode::kInternal, "out of memory");
  } catch (const std::exception& error) {
    try {
      return fail(Status(StatusCode::kInternal, std::string("unexpected exception in ") + function + ": " + error.what()));
    } catch (...) {
      return fail(StatusCode::kInternal, "unexpected exception");
    }
  } catch (...) {
    return fail(StatusCode::kInternal, "unexpected exception");
  }
}

Status invalid(std::string message) { return Status(StatusCode::kInvalidArgument, std::move(message)); }

Status to_compile_options(const rowjit_compile_options& in, rowjit::CompileOptions& out) {
  if (in.isa != ROWJIT_ISA_HOST) {
    if (in.isa < ROWJIT_ISA_NONE || in.isa > ROWJIT_ISA_AVX512) {
      return invalid("options.isa = " + std::to_string(in.isa) +
                     " is not an ISA; use ROWJIT_ISA_HOST, ROWJIT_ISA_NONE, ROWJIT_ISA_AVX2 or ROWJIT_ISA_AVX512");
    }
    out.isa = static_cast<rowjit::Isa>(in.isa);
  }
  if (in.n_hint < 0) return invalid("options.n_hint = " + std::to_string(in.n_hint) + " must be >= 0 (0: unknown)");
  out.n_hint = in.n_hint;
  if (in.softmax_form != nullptr) {
    auto form = rowjit::ir::parse_softmax_form(in.softmax_form);
    if (!form) {
      return invalid(std::string("options.softmax_form = '") + in.softmax_form +
                     "' is not a softmax form; use three_pass_recompute, three_pass_reload, two_pass_online, "
                     "two_pass_extexp or NULL");
    }
    out.choices.softmax_form = *form;
  }
  if (in.unroll != 0) out.choices.unroll = in.unroll;
  return Status::ok();
}

bool is_storage_dtype(int dtype) {
  return (dtype >= ROWJIT_F32 && dtype <= ROWJIT_E8M0) || (dtype >= ROWJIT_Q8_0 && dtype <= ROWJIT_MXFP4);
}

Status to_run_args(const rowjit_run_args& in, rowjit::ir::RunArgs& out) {
  if (in.tensor_count > 0 && in.tensors == nullptr) {
    return invalid("args.tensors is NULL but args.tensor_count is " + std::to_string(in.tensor_count));
  }
  if (in.scalar_count > 0 && in.scalars == nullptr) {
    return invalid("args.scalars is NULL but args.scalar_count is " + std::to_string(in.scalar_count));
  }
  out.rows = in.rows;
  out.n = in.n;
  out.first_row = in.first_row;
  // Messages are built only on failure: this runs on every call.
  auto tensor_at = [](size_t i) { return "args.tensors[" + std::to_string(i) + "]"; };
  auto scalar_at = [](size_t i) { return "args.scalars[" + std::to_string(i) + "]"; };
  for (size_t i = 0; i < in.tensor_count; ++i) {
    const rowjit_tensor& tensor = in.tensors[i];
    if (tensor.name == nullptr) return invalid(tensor_at(i) + ".name is NULL");
    if (!is_storage_dtype(tensor.dtype)) {
      return invalid(tensor_at(i) + " ('" + tensor.name + "') has dtype " + std::to_string(tensor.dtype) +
                     ", which is not a rowjit_dtype value");
    }
    rowjit::ir::TensorRef ref;
    ref.data = tensor.data;
    ref.type = static_cast<rowjit::ir::ElemType>(tensor.dtype);
    ref.row_stride_bytes = tensor.row_stride_bytes;
    if (!out.tensors.emplace(tensor.name, ref).second) {
      return invalid(tensor_at(i) + " binds '" + tensor.name + "', which an earlier tensor binds already");
    }
  }
  for (size_t i = 0; i < in.scalar_count; ++i) {
    const rowjit_scalar& scalar = in.scalars[i];
    if (scalar.name == nullptr) return invalid(scalar_at(i) + ".name is NULL");
    if (!out.scalars.emplace(scalar.name, scalar.value).second) {
      return invalid(scalar_at(i) + " sets '" + scalar.name + "', which an earlier scalar sets already");
    }
  }
  return Status::ok();
}

// Checks the row_elements that the caller gave against the declared shapes.
// Runs after validate_run_args(), so every name is known and every [k] is set.
Status check_row_elements(const rowjit::ir::Pipeline& pipeline, const rowjit_run_args& in,
                          const rowjit::ir::RunArgs& args) {
  for (size_t i = 0; i < in.tensor_count; ++i) {
    const rowjit_tensor& tensor = in.tensors[i];
    if (tensor.row_elements <= 0) continue;
    auto id = pipeline.find_input(tensor.name);
    if (!id) id = pipeline.find_output(tensor.name);
    if (!id) continue;
    const rowjit::ir::Value& value = pipeline.value(*id);
    auto length = rowjit::ir::shape_length(pipeline, value.type.shape, args);
    if (!length) return length.status();
    if (*length != tensor.row_elements) {
      return invalid("tensor '" + std::string(tensor.name) + "' has row_elements = " +
                     std::to_string(tensor.row_elements) + " but its shape " + value.type.shape.to_string() +
                     " has " + std::to_string(*length) + " elements per row for n = " + std::to_string(args.n));
    }
  }
  return Status::ok();
}

Status run_kernel(const rowjit_kernel* kernel, const rowjit_run_args* args, const rowjit::ParallelFor* parallel) {
  if (kernel == nullptr) return invalid("kernel is NULL; pass a kernel from rowjit_compile()");
  if (args == nullptr) return invalid("args is NULL; pass a rowjit_run_args");
  rowjit::ir::RunArgs run_args;
  ROWJIT_TRY(to_run_args(*args, run_args));
  const rowjit::Kernel& compiled = *kernel->kernel;
  bool checks_row_elements = false;
  for (size_t i = 0; i < args->tensor_count; ++i) checks_row_elements |= args->tensors[i].row_elements > 0;
  if (checks_row_elements) {
    ROWJIT_TRY(rowjit::ir::validate_run_args(compiled.pipeline(), run_args));
    ROWJIT_TRY(check_row_elements(compiled.pipeline(), *args, run_args));
  }
  return parallel == nullptr ? compiled.run(run_args) : compiled.run(run_args, *parallel);
}

}  // namespace

extern "C" {

const char* rowjit_version(void) { return rowjit::version_string(); }

const char* rowjit_last_error(void) { return last_error.c_str(); }

const char* rowjit_status_name(int status) {
  if (status < ROWJIT_OK || status > ROWJIT_INTERNAL) return "unknown status";
  return rowjit::status_code_name(static_cast<StatusCode>(status));
}

void rowjit_set_log_callback(rowjit_log_fn fn, void* context) { rowjit::set_log_sink(fn, context); }

void rowjit_compiler_options_init(rowjit_compiler_options* options) {
  if (options == nullptr) return;
  options->cache_capacity = -1;
}

rowjit_status rowjit_compiler_create(const rowjit_compiler_options* options, rowjit_compiler** compiler) {
  return guarded("rowjit_compiler_create", [&]() -> Status {
    if (compiler == nullptr) return invalid("compiler is NULL; pass the address of a rowjit_compiler*");
    *compiler = nullptr;
    rowjit::RuntimeKnobs knobs = rowjit::env_knobs();
    if (options != nullptr && options->cache_capacity != -1) {
      if (options->cache_capacity < 0) {
        return invalid("options.cache_capacity = " + std::to_string(options->cache_capacity) +
                       " must be >= 0, or -1 for ROWJIT_CACHE_CAPACITY");
      }
      knobs.cache_capacity = static_cast<size_t>(options->cache_capacity);
    }
    *compiler = new rowjit_compiler(knobs);
    return Status::ok();
  });
}

void rowjit_compiler_destroy(rowjit_compiler* compiler) { delete compiler; }

rowjit_status rowjit_compiler_cache_stats(const rowjit_compiler* compiler, rowjit_cache_stats* stats) {
  return guarded("rowjit_compiler_cache_stats", [&]() -> Status {
    if (compiler == nullptr) return invalid("compiler is NULL; create one with rowjit_compiler_create()");
    if (stats == nullptr) return invalid("stats is NULL; pass a rowjit_cache_stats to fill");
    rowjit::CacheStats cache = compiler->compiler.cache_stats();
    stats->hits = cache.hits;
    stats->misses = cache.misses;
    stats->evictions = cache.evictions;
    stats->failed_compiles = cache.failed_compiles;
    stats->size = cache.size;
    stats->capacity = cache.capacity;
    return Status::ok();
  });
}

rowjit_status rowjit_compiler_set_cache_capacity(rowjit_compiler* compiler, uint64_t capacity) {
  return guarded("rowjit_compiler_set_cache_capacity", [&]() -> Status {
    if (compiler == nullptr) return invalid("compiler is NULL; create one with rowjit_compiler_create()");
    compiler->compiler.set_cache_capacity(static_cast<size_t>(capacity));
    return Status::ok();
  });
}

void rowjit_compile_options_init(rowjit_compile_options* options) {
  if (options == nullptr) return;
  options->isa = ROWJIT_ISA_HOST;
  options->n_hint = 0;
  options->softmax_form = nullptr;
  options->unroll = 0;
}

rowjit_status rowjit_compile(rowjit_compiler* compiler, const char* pipeline_text,
                             const rowjit_compile_options* options, rowjit_kernel** kernel) {
  return guarded("rowjit_compile", [&]() -> Status {
    if (kernel == nullptr) return invalid("kernel is NULL; pass the address of a rowjit_kernel*");
    *kernel = nullptr;
    if (compiler == nullptr) return invalid("compiler is NULL; create one with rowjit_compiler_create()");
    if (pipeline_text == nullptr) return invalid("pipeline_text is NULL; pass the text of a kernel (docs/ir.md)");
    rowjit::CompileOptions compile_options;
    if (options != nullptr) ROWJIT_TRY(to_compile_options(*options, compile_options));
    auto compiled = compiler->compiler.compile_text(pipeline_text, compile_options);
    if (!compiled) return compiled.status();
    *kernel = new rowjit_kernel(std::move(compiled).value());
    return Status::ok();
  });
}

rowjit_status rowjit_kernel_retain(rowjit_kernel* kernel) {
  if (kernel == nullptr) return fail(StatusCode::kInvalidArgument, "kernel is NULL; pass a kernel from rowjit_compile()");
  kernel->references.fetch_add(1, std::memory_order_relaxed);
  return ROWJIT_OK;
}

void rowjit_kernel_release(rowjit_kernel* kernel) {
  if (kernel == nullptr) return;
  // acq_rel: every use through other references happens before the delete.
  if (kernel->references.fetch_sub(1, std::memory_order_acq_rel) == 1) delete kernel;
}

rowjit_status rowjit_kernel_query(const rowjit_kernel* kernel, rowjit_kernel_info* info) {
  return guarded("rowjit_kernel_query", [&]() -> Status {
    if (kernel == nullptr) return invalid("kernel is NULL; pass a kernel from rowjit_compile()");
    if (info == nullptr) return invalid("info is NULL; pass a rowjit_kernel_info to fill");
    const rowjit::Kernel& compiled = *kernel->kernel;
    const rowjit::ir::Pipeline& pipeline = compiled.pipeline();
    info->uses_jit = compiled.uses_jit() ? 1 : 0;
    info->isa = static_cast<rowjit_isa>(compiled.isa());
    info->name = pipeline.name.c_str();
    info->softmax_form = rowjit::ir::softmax_form_name(compiled.plan().softmax_form).data();
    info->code_bytes = compiled.compiled() ? compiled.compiled()->code.size() : 0;

    std::set<std::string> tensors;
    size_t scalars = 0;
    for (rowjit::ir::ValueId id : pipeline.inputs) {
      const rowjit::ir::Value& value = pipeline.value(id);
      bool scalar_param = value.kind == rowjit::ir::ValueKind::kParam && value.type.shape.is_scalar();
      if (scalar_param) {
        ++scalars;
      } else {
        tensors.insert(value.name);
      }
    }
    for (rowjit::ir::ValueId id : pipeline.outputs) tensors.insert(pipeline.value(id).name);
    info->tensor_count = tensors.size();
    info->scalar_count = scalars;
    return Status::ok();
  });
}

rowjit_status rowjit_kernel_run(const rowjit_kernel* kernel, const rowjit_run_args* args) {
  return guarded("rowjit_kernel_run", [&]() -> Status { return run_kernel(kernel, args, nullptr); });
}

rowjit_status rowjit_kernel_run_parallel(const rowjit_kernel* kernel, const rowjit_run_args* args,
                                         const rowjit_parallel_for* parallel) {
  return guarded("rowjit_kernel_run_parallel", [&]() -> Status {
    rowjit::ParallelFor hook;
    if (parallel == nullptr) {
      hook = rowjit::default_thread_pool().hook();
    } else {
      if (parallel->function == nullptr) return invalid("parallel->function is NULL; pass NULL for the built-in pool");
      if (parallel->min_rows_per_task < 1) {
        return invalid("parallel->min_rows_per_task = " + std::to_string(parallel->min_rows_per_task) +
                       " must be >= 1");
      }
      hook.function = parallel->function;
      hook.context = parallel->context;
      hook.max_tasks = parallel->max_tasks;
      hook.min_rows_per_task = parallel->min_rows_per_task;
    }
    return run_kernel(kernel, args, &hook);
  });
}

}  // extern "C"
