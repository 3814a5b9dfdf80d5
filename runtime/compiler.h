// Compiling pipelines into kernels and running them: the C++ entry point of
// rowjit. A Kernel runs JIT machine code when the planner and the target allow
// it, and the reference interpreter otherwise (logging once which op kept it
// from the JIT). A Compiler adds the thread-safe kernel cache and the
// environment knobs; docs/embedding.md shows both in use.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "ir/run_signature.h"
#include "ir/status.h"
#include "ir/target.h"
#include "ir/tensor.h"
#include "jit/compile.h"
#include "runtime/cpu_features.h"
#include "runtime/env_knobs.h"
#include "runtime/kernel_cache.h"
#include "runtime/row_parallel.h"

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

// A compiled pipeline. Immutable once compiled, so any number of threads may
// run one kernel at once. It owns its machine code, which stays mapped as long
// as a shared_ptr to the kernel lives, whatever happens to the Compiler.
class Kernel {
 public:
  // Runs the kernel on args.rows rows. The arguments are checked against the
  // pipeline's signature first; nothing is written when they are invalid.
  // Zero rows are valid and write nothing.
  Status run(const ir::RunArgs& args) const;

  // Runs the rows split into tasks on `parallel` (runtime/row_parallel.h),
  // after checking the arguments once. Writes exactly what run(args) writes.
  // When a task fails (the interpreter's out-of-range errors), the status of
  // the first failed task is returned, and other tasks' rows may be written.
  Status run(const ir::RunArgs& args, const ParallelFor& parallel) const;

  bool uses_jit() const { return compiled_.has_value(); }
  Isa isa() const { return uses_jit() ? isa_ : Isa::kNone; }
  const ir::Pipeline& pipeline() const { return pipeline_; }
  // The plan that the machine code follows. Where the planned resident rows
  // did not fit the vector registers, it is the plan of the loops that run
  // instead, with their memory traffic.
  const ir::Plan& plan() const { return plan_; }
  // The machine code and its layout; null when the kernel runs on the interpreter.
  const jit::CompiledKernel* compiled() const { return compiled_ ? &*compiled_ : nullptr; }

 private:
  friend Result<std::shared_ptr<const Kernel>> compile(const ir::Pipeline&, const CompileOptions&);
  Kernel(ir::Pipeline pipeline, ir::Plan plan)
      : pipeline_(std::move(pipeline)), plan_(std::move(plan)), signature_(pipeline_) {}

  // The KernelArgs slot of a signature entry, stored by the entry's position
  // in signature_: a slot index, or -1 for an entry the machine code never reads.
  struct TensorSlot {
    int slot = -1;
    bool advances = true;  // false for a vector parameter, whose stride is 0
  };
  // Fills tensor_slots_ and scalar_slots_ from the layout of compiled_.
  void index_slots();
  // Fills the tensor slots of `call` from checked arguments, whose tensors
  // are in the signature's order, in one walk without lookups. Returns whether
  // an output may share memory with another tensor: a quick test of address
  // ranges that allocates nothing, true when it cannot tell. Only then does
  // run_rows() call check_jit_in_place().
  bool bind_checked_tensors(const ir::RunArgs& args, int64_t first, jit::KernelArgs& call) const;

  // Runs `count` rows from row `first` of checked arguments: tensors advance
  // by `first` row strides, and first_row by `first`.
  Status run_rows(const ir::RunArgs& args, int64_t first, int64_t count) const;
  // Fills the tensor slots of `call` by name, for pipelines whose signature
  // positions do not hold (RunSignature::checks_by_reference).
  void bind_tensors_by_name(const ir::RunArgs& args, int64_t first, jit::KernelArgs& call) const;

  ir::Pipeline pipeline_;
  ir::Plan plan_;
  ir::RunSignature signature_;
  Isa isa_ = Isa::kNone;
  std::optional<jit::CompiledKernel> compiled_;
  std::vector<TensorSlot> tensor_slots_;  // by position in signature_.tensors()
  std::vector<int> scalar_slots_;         // by position in signature_.scalar_params()
  // Per-tensor facts for bind_checked_tensors(), by position in signature_.tensors().
  struct TensorExtent {
    bool output = false;
    bool whole_row = false;       // shape [n], else a per-row scalar
    bool per_row = true;          // false for a vector parameter
    int64_t element_bytes = 0;    // 0: not a whole number of bytes, or a shape that the quick test skips
  };
  std::vector<TensorExtent> tensor_extents_;
};

// Target description of `isa` on this host: vector width and cache sizes.
ir::TargetDesc host_target(Isa isa);

// For tests only: sets the last-level cache size that host_target() reports
// from now on, for the whole process, instead of the detected one.
// std::nullopt restores the detected size. Plans whose choices depend on the LLC (rows out
// of cache, the call size above which stores stream) can then be exercised
// with small buffers on any machine. The kernel cache's key does not include
// the size: a Compiler that compiles while it is set keeps that kernel.
void set_llc_bytes_for_testing(std::optional<int64_t> bytes);

// Plans and compiles `pipeline`. Fails on invalid options (an ISA the host
// lacks, a forced plan that does not apply) or when the system refuses
// executable memory. A pipeline the JIT cannot lower is not an error: its
// kernel runs on the interpreter.
Result<std::shared_ptr<const Kernel>> compile(const ir::Pipeline& pipeline, const CompileOptions& options = {});

// Parses pipeline text, then compiles it.
Result<std::shared_ptr<const Kernel>> compile_text(std::string_view text, const CompileOptions& options = {});

// A kernel compiler with a cache (runtime/kernel_cache.h documents the key).
// Every member is thread-safe: one Compiler serves all the threads of an
// engine, and concurrent requests of one key compile it once.
//
// On each new kernel it applies the knobs: a log line per call with
// `verbose`, the annotated assembly in `dump_dir`, a perf map line with
// `perf_map`. A failure to write a dump or a perf map line is logged once and
// does not fail the compile.
class Compiler {
 public:
  // A compiler with the knobs of the environment (runtime/env_knobs.h).
  Compiler();
  explicit Compiler(const RuntimeKnobs& knobs);
  Compiler(const Compiler&) = delete;
  Compiler& operator=(const Compiler&) = delete;

  // Returns the cached kernel of (pipeline, options), compiling it on a miss.
  // Errors are those of rowjit::compile() and are not cached.
  Result<std::shared_ptr<const Kernel>> compile(const ir::Pipeline& pipeline, const CompileOptions& options = {});

  // Parses pipeline text, then compiles it through the cache. Texts that
  // differ only in comments and spacing share one kernel.
  Result<std::shared_ptr<const Kernel>> compile_text(std::string_view text, const CompileOptions& options = {});

  CacheStats cache_stats() const { return cache_.stats(); }
  // Sets the number of kernels kept, evicting the least recently used ones
  // past it. Kernels still held by callers stay valid.
  void set_cache_capacity(std::size_t capacity) { cache_.set_capacity(capacity); }
  // Drops every cached kernel; kernels still held by callers stay valid.
  void clear_cache() { cache_.clear(); }
  const RuntimeKnobs& knobs() const { return knobs_; }

 private:
  // Writes the dump and the perf map line of a new kernel.
  void publish(const Kernel& kernel, const KernelKey& key);

  RuntimeKnobs knobs_;
  KernelCache cache_;
  std::atomic<bool> dump_failure_logged_{false};
  std::atomic<bool> perf_map_failure_logged_{false};
};

// Returns the process-wide Compiler, with the knobs of the environment,
// created on the first call. Thread-safe.
Compiler& default_compiler();

}  // namespace rowjit
