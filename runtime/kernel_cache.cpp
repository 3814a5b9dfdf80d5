#include "runtime/kernel_cache.h"

#include <bit>
#include <cstdio>
#include <new>

namespace rowjit {
namespace {

// FNV-1a, 64-bit: offset basis 14695981039346656037, prime 1099511628211.
class Fnv1a {
 public:
  void add(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
      hash_ ^= bytes[i];
      hash_ *= 1099511628211ull;
    }
  }
  void add(const std::string& text) {
    add(text.data(), text.size());
    add_integer(static_cast<int64_t>(text.size()));
  }
  void add_integer(int64_t value) { add(&value, sizeof(value)); }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 14695981039346656037ull;
};

}  // namespace

RowSizeClass row_size_class(int64_t n_hint, int64_t l2_bytes) {
  RowSizeClass size_class;
  if (n_hint <= 0) return size_class;
  size_class.log2_bucket = static_cast<int>(std::bit_width(static_cast<uint64_t>(n_hint - 1)));
  // The planner's test (ir/plan_blocked_exp.cpp) is 8 * n_hint > L2 bytes: a row of f32
  // read twice must fit in L2. Dividing instead cannot overflow.
  size_class.exceeds_l2 = n_hint > l2_bytes / 8;
  return size_class;
}

bool KernelKey::operator==(const KernelKey& other) const {
  return pipeline_text == other.pipeline_text && isa == other.isa && size_class == other.size_class &&
         choices.softmax_form == other.choices.softmax_form && choices.unroll == other.choices.unroll &&
         choices.nontemporal_stores == other.choices.nontemporal_stores &&
         choices.resident_vectors == other.choices.resident_vectors &&
         choices.prefetch_bytes == other.choices.prefetch_bytes &&
         choices.blocked_exp == other.choices.blocked_exp &&
         choices.speculative_max == other.choices.speculative_max && choices.exp_group == other.choices.exp_group;
}

uint64_t kernel_key_hash(const KernelKey& key) {
  Fnv1a hash;
  hash.add(key.pipeline_text);
  hash.add_integer(static_cast<int64_t>(key.isa));
  hash.add_integer(key.size_class.log2_bucket);
  hash.add_integer(key.size_class.exceeds_l2 ? 1 : 0);
  // -1 stands for "not forced".
  hash.add_integer(key.choices.softmax_form ? static_cast<int64_t>(*key.choices.softmax_form) : -1);
  hash.add_integer(key.choices.unroll ? *key.choices.unroll : -1);
  auto add_flag = [&hash](const std::optional<bool>& flag) {
    int64_t value = -1;
    if (flag) value = *flag ? 1 : 0;
    hash.add_integer(value);
  };
  add_flag(key.choices.nontemporal_stores);
  hash.add_integer(key.choices.resident_vectors ? *key.choices.resident_vectors : -1);
  hash.add_integer(key.choices.prefetch_bytes ? *key.choices.prefetch_bytes : -1);
  add_flag(key.choices.blocked_exp);
  add_flag(key.choices.speculative_max);
  hash.add_integer(key.choices.exp_group ? *key.choices.exp_group : -1);
  return hash.value();
}

std::string kernel_label(const KernelKey& key, ir::SoftmaxForm form, Isa runs_on) {
  char hash[16];
  std::snprintf(hash, sizeof(hash), "%08x", static_cast<unsigned>(kernel_key_hash(key) & 0xffffffffu));
  return key.pipeline_name + "." + isa_name(runs_on) + "." + std::string(ir::softmax_form_name(form)) + "." + hash;
}

KernelCache::KernelCache(std::size_t capacity) : capacity_(capacity) {}

KernelCache::Lookup KernelCache::get_or_compile(const KernelKey& key, const CompileFunction& compile) {
  std::promise<KernelResult> promise;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    auto found = entries_.find(key);
    if (found != entries_.end()) {
      Entry& entry = found->second;
      ++stats_.hits;
      if (entry.ready) {
        lru_.splice(lru_.begin(), lru_, entry.lru);
        return {entry.result.get(), true};
      }
      // Another thread is compiling this key: wait for its result outside the lock.
      std::shared_future<KernelResult> pending = entry.result;
      lock.unlock();
      return {pending.get(), true};
    }
    ++stats_.misses;
    Entry entry;
    entry.result = promise.get_future().share();
    entries_.emplace(key, std::move(entry));
  }

  KernelResult result = Status(StatusCode::kInternal, "kernel compile did not run");
  try {
    result = compile();
  } catch (const std::bad_alloc&) {
    result = Status(StatusCode::kInternal, "out of memory while compiling pipeline '" + key.pipeline_name + "'");
  } catch (const std::exception& error) {
    result = Status(StatusCode::kInternal,
                    "unexpected exception while compiling pipeline '" + key.pipeline_name + "': " + error.what());
  } catch (...) {
    result = Status(StatusCode::kInternal, "unexpected exception while compiling pipeline '" + key.pipeline_name + "'");
  }

  std::lock_guard<std::mutex> lock(mutex_);
  auto found = entries_.find(key);
  promise.set_value(result);
  if (!result) {
    ++stats_.failed_compiles;
    entries_.erase(found);
  } else {
    found->second.ready = true;
    lru_.push_front(&found->first);
    found->second.lru = lru_.begin();
    evict_locked();
  }
  return {std::move(result), false};
}

void KernelCache::evict_locked() {
  while (lru_.size() > capacity_) {
    const KernelKey* oldest = lru_.back();
    lru_.pop_back();
    entries_.erase(entries_.find(*oldest));
    ++stats_.evictions;
  }
}

void KernelCache::set_capacity(std::size_t capacity) {
  std::lock_guard<std::mutex> lock(mutex_);
  capacity_ = capacity;
  evict_locked();
}

void KernelCache::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const KernelKey* key : lru_) entries_.erase(entries_.find(*key));
  lru_.clear();
}

CacheStats KernelCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  CacheStats stats = stats_;
  stats.size = entries_.size();
  stats.capacity = capacity_;
  return stats;
}

}  // namespace rowjit
