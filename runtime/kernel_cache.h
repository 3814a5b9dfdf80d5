// The kernel cache of a Compiler: one entry per kernel key, shared by every
// thread, least recently used entries evicted past a capacity.
//
// The key is what decides the machine code:
//   - the pipeline's printed text (ir/printer.h), so that two texts that
//     differ only in comments or spacing share a kernel, and two pipelines
//     that differ in anything else, their name included, do not;
//   - the ISA the kernel is compiled for, after the ROWJIT_MAX_ISA cap;
//   - the plan choices (softmax form, unroll, non-temporal stores, resident
//     rows, prefetch distance, blocked exp), forced,
//     tuned or made by the planner for n_hint: Compiler::compile plans before
//     the lookup, so two hints share a kernel only when the planner would
//     make the same choices for both;
//   - the size class of the row length hint n_hint (a power-of-two bucket and
//     whether 8 * n_hint bytes exceed L2), which keeps entries further apart.
// Kernels are generic in the row length n, which is a run-time argument, so n
// itself is not in the key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ir/plan.h"
#include "ir/status.h"
#include "runtime/cpu_features.h"

namespace rowjit {

class Kernel;

// The size class of a row length hint.
struct RowSizeClass {
  int log2_bucket = -1;       // ceil(log2(n_hint)); -1 when n_hint is 0 (unknown)
  bool exceeds_l2 = false;    // 8 * n_hint bytes > L2 bytes: a row read twice does not fit in L2

  bool operator==(const RowSizeClass&) const = default;
};

// Returns the size class of `n_hint` on a target with `l2_bytes` of L2.
RowSizeClass row_size_class(int64_t n_hint, int64_t l2_bytes);

struct KernelKey {
  std::string pipeline_text;  // print_pipeline() of the pipeline
  std::string pipeline_name;  // for kernel labels; the text contains it already
  Isa isa = Isa::kNone;
  RowSizeClass size_class;
  ir::PlanChoices choices;

  bool operator==(const KernelKey& other) const;
};

// Returns a 64-bit FNV-1a hash of every field of the key. Stable across runs
// and builds, so it names dump files.
uint64_t kernel_key_hash(const KernelKey& key);

// Returns the name of a kernel in dumps, perf maps and logs:
// "<pipeline>.<isa>.<softmax form>.<8 hex digits of the key hash>", where
// <isa> is `runs_on`, the ISA of the kernel's machine code or none for the
// interpreter, which may differ from the ISA the key asked for.
std::string kernel_label(const KernelKey& key, ir::SoftmaxForm form, Isa runs_on);

struct CacheStats {
  uint64_t hits = 0;             // lookups served without compiling, including waits on another thread's compile
  uint64_t misses = 0;           // lookups that compiled
  uint64_t evictions = 0;        // kernels dropped past the capacity
  uint64_t failed_compiles = 0;  // compiles that returned an error (never cached)
  std::size_t size = 0;          // entries now, compiles in progress included
  std::size_t capacity = 0;
};

using KernelResult = Result<std::shared_ptr<const Kernel>>;

// A thread-safe map from KernelKey to kernel. When several threads request
// the same missing key at once, the first compiles it outside the lock and
// the others wait for its result, so each key is compiled once. A failed
// compile is handed to the threads that waited for it and then forgotten, so
// the next request compiles again.
//
// Eviction drops the cache's reference only: a kernel that a caller still
// holds stays valid until its last shared_ptr is gone, and then its
// executable memory is unmapped.
class KernelCache {
 public:
  using CompileFunction = std::function<KernelResult()>;

  struct Lookup {
    KernelResult kernel;
    bool hit = false;
  };

  explicit KernelCache(std::size_t capacity);
  KernelCache(const KernelCache&) = delete;
  KernelCache& operator=(const KernelCache&) = delete;

  // Returns the kernel of `key`, calling `compile` on a miss. An exception
  // from `compile` becomes a kInternal status.
  Lookup get_or_compile(const KernelKey& key, const CompileFunction& compile);

  // Sets how many kernels the cache keeps, evicting the least recently used
  // ones past it at once. 0 keeps none: every request compiles, though
  // concurrent requests of one key still share one compile.
  void set_capacity(std::size_t capacity);

  // Drops every finished entry. Compiles in progress finish and are cached.
  void clear();

  CacheStats stats() const;

 private:
  struct KeyHash {
    std::size_t operator()(const KernelKey& key) const { return static_cast<std::size_t>(kernel_key_hash(key)); }
  };
  struct Entry {
    std::shared_future<KernelResult> result;
    bool ready = false;
    std::list<const KernelKey*>::iterator lru;  // valid when ready
  };

  // Evicts least recently used entries until at most capacity_ remain ready.
  void evict_locked();

  mutable std::mutex mutex_;
  // Keys of an unordered_map stay at one address until erased, so lru_ can
  // point at them.
  std::unordered_map<KernelKey, Entry, KeyHash> entries_;
  std::list<const KernelKey*> lru_;  // keys of ready entries, most recently used first
  std::size_t capacity_;
  CacheStats stats_;
};

}  // namespace rowjit
