#include "runtime/kernel_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "ir/parser.h"
#include "ir/planner.h"
#include "runtime/compiler.h"
#include "tests/runtime_testing.h"
#include "tests/test_util.h"

namespace rowjit {
namespace {

using testing::kScaleText;
using testing::kSoftmaxText;
using testing::kSoftmaxTextReformatted;

KernelKey key_named(const std::string& name) {
  KernelKey key;
  key.pipeline_text = "kernel " + name;
  key.pipeline_name = name;
  return key;
}

// Compiles the softmax for the interpreter: fast, and the same on every host.
KernelResult compile_interpreted() {
  CompileOptions options;
  options.isa = Isa::kNone;
  return compile_text(kSoftmaxText, options);
}

RuntimeKnobs quiet_knobs(size_t capacity = 16) {
  RuntimeKnobs knobs;
  knobs.cache_capacity = capacity;
  return knobs;
}

TEST(RowSizeClass, UnknownHint) {
  RowSizeClass size_class = row_size_class(0, 1 << 20);
  EXPECT_EQ(size_class.log2_bucket, -1);
  EXPECT_FALSE(size_class.exceeds_l2);
}

TEST(RowSizeClass, PowerOfTwoBuckets) {
  EXPECT_EQ(row_size_class(1, 1 << 20).log2_bucket, 0);
  EXPECT_EQ(row_size_class(2, 1 << 20).log2_bucket, 1);
  EXPECT_EQ(row_size_class(64, 1 << 20).log2_bucket, 6);
  EXPECT_EQ(row_size_class(65, 1 << 20).log2_bucket, 7);
  EXPECT_EQ(row_size_class(128, 1 << 20).log2_bucket, 7);
}

TEST(RowSizeClass, L2BoundaryNotPowerOfTwo) {
  // A row read twice fits in 1.25 MiB of L2 up to 1310720 / 8 = 163840 floats.
  const int64_t l2 = 1280 * 1024;
  EXPECT_FALSE(row_size_class(163840, l2).exceeds_l2);
  EXPECT_TRUE(row_size_class(163841, l2).exceeds_l2);
  // Both lengths fall in the same power-of-two bucket, 2^18.
  EXPECT_EQ(row_size_class(163840, l2).log2_bucket, 18);
  EXPECT_EQ(row_size_class(163841, l2).log2_bucket, 18);
}

// The planner's blocked-exp threshold falls between two buckets, so rows on
// either side of it never share a kernel.
TEST(RowSizeClass, BlockedExpThresholdSplitsBuckets) {
  EXPECT_NE(row_size_class(ir::kBlockedMinElements, 1 << 20).log2_bucket,
            row_size_class(ir::kBlockedMinElements + 1, 1 << 20).log2_bucket);
}

TEST(KernelKey, SpeculativeMaxChangesKey) {
  KernelKey base = key_named("a");
  KernelKey forced = base;
  forced.choices.speculative_max = false;
  EXPECT_NE(kernel_key_hash(base), kernel_key_hash(forced));
  EXPECT_FALSE(base == forced);
}

TEST(KernelKey, ExpGroupChangesKey) {
  KernelKey base = key_named("a");
  KernelKey forced = base;
  forced.choices.exp_group = 1;
  EXPECT_NE(kernel_key_hash(base), kernel_key_hash(forced));
  EXPECT_FALSE(base == forced);
}

TEST(KernelKey, HashSeparatesFields) {
  KernelKey base = key_named("a");
  KernelKey other_isa = base;
  other_isa.isa = Isa::kAvx2;
  KernelKey other_class = base;
  other_class.size_class.log2_bucket = 3;
  KernelKey forced = base;
  forced.choices.unroll = 2;
  EXPECT_NE(kernel_key_hash(base), kernel_key_hash(other_isa));
  EXPECT_NE(kernel_key_hash(base), kernel_key_hash(other_class));
  EXPECT_NE(kernel_key_hash(base), kernel_key_hash(forced));
  EXPECT_FALSE(base == forced);
  EXPECT_TRUE(base == key_named("a"));
}

TEST(KernelKey, LabelNamesPipelineIsaForm) {
  KernelKey key = key_named("softmax");
  key.isa = Isa::kAvx512;
  std::string label = kernel_label(key, ir::SoftmaxForm::kTwoPassOnline, Isa::kAvx512);
  EXPECT_EQ(label.rfind("softmax.avx512.two_pass_online.", 0), 0u) << label;
  EXPECT_EQ(label.size(), std::string("softmax.avx512.two_pass_online.").size() + 8);
  // A kernel that runs on the interpreter is labelled none, whatever ISA was asked for,
  // and keeps the hash of its key.
  std::string interpreted = kernel_label(key, ir::SoftmaxForm::kTwoPassOnline, Isa::kNone);
  EXPECT_EQ(interpreted.rfind("softmax.none.two_pass_online.", 0), 0u) << interpreted;
  EXPECT_EQ(interpreted.substr(interpreted.size() - 8), label.substr(label.size() - 8));
}

TEST(KernelCache, MissThenHit) {
  KernelCache cache(4);
  int compiles = 0;
  auto compile = [&] {
    ++compiles;
    return compile_interpreted();
  };
  KernelCache::Lookup first = cache.get_or_compile(key_named("a"), compile);
  KernelCache::Lookup second = cache.get_or_compile(key_named("a"), compile);
  ASSERT_TRUE(first.kernel.is_ok());
  ASSERT_TRUE(second.kernel.is_ok());
  EXPECT_FALSE(first.hit);
  EXPECT_TRUE(second.hit);
  EXPECT_EQ(first.kernel->get(), second.kernel->get());
  EXPECT_EQ(compiles, 1);
  CacheStats stats = cache.stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.size, 1u);
}

TEST(KernelCache, FailureIsNotCached) {
  KernelCache cache(4);
  int compiles = 0;
  auto failing = [&]() -> KernelResult {
    ++compiles;
    return Status(StatusCode::kExecMemoryDenied, "denied for the test");
  };
  KernelCache::Lookup first = cache.get_or_compile(key_named("a"), failing);
  KernelCache::Lookup second = cache.get_or_compile(key_named("a"), failing);
  EXPECT_EQ(first.kernel.status().code(), StatusCode::kExecMemoryDenied);
  EXPECT_EQ(second.kernel.status().code(), StatusCode::kExecMemoryDenied);
  EXPECT_EQ(compiles, 2);
  EXPECT_EQ(cache.stats().failed_compiles, 2u);
  EXPECT_EQ(cache.stats().size, 0u);

  KernelCache::Lookup third = cache.get_or_compile(key_named("a"), compile_interpreted);
  EXPECT_TRUE(third.kernel.is_ok());
  EXPECT_FALSE(third.hit);
}

TEST(KernelCache, ExceptionBecomesInternal) {
  KernelCache cache(4);
  auto throwing = []() -> KernelResult { throw std::runtime_error("boom"); };
  KernelCache::Lookup lookup = cache.get_or_compile(key_named("a"), throwing);
  EXPECT_EQ(lookup.kernel.status().code(), StatusCode::kInternal);
  EXPECT_NE(lookup.kernel.status().message().find("boom"), std::string::npos);
  EXPECT_EQ(cache.stats().size, 0u);
}

TEST(KernelCache, EvictsLeastRecentlyUsed) {
  KernelCache cache(2);
  int compiles = 0;
  auto compile = [&] {
    ++compiles;
    return compile_interpreted();
  };
  (void)cache.get_or_compile(key_named("a"), compile);
  (void)cache.get_or_compile(key_named("b"), compile);
  (void)cache.get_or_compile(key_named("a"), compile);  // a is now the most recent
  (void)cache.get_or_compile(key_named("c"), compile);  // evicts b
  EXPECT_EQ(compiles, 3);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_TRUE(cache.get_or_compile(key_named("a"), compile).hit);
  EXPECT_TRUE(cache.get_or_compile(key_named("c"), compile).hit);
  EXPECT_FALSE(cache.get_or_compile(key_named("b"), compile).hit);
  EXPECT_EQ(compiles, 4);
}

TEST(KernelCache, EvictedKernelStaysAlive) {
  KernelCache cache(1);
  KernelResult held = cache.get_or_compile(key_named("a"), compile_interpreted).kernel;
  ASSERT_TRUE(held.is_ok());
  std::weak_ptr<const Kernel> watch = *held;
  (void)cache.get_or_compile(key_named("b"), compile_interpreted);
  EXPECT_EQ(cache.stats().evictions, 1u);
  ASSERT_FALSE(watch.expired());

  std::vector<float> x = {1.0f, 2.0f};
  std::vector<float> y(2, 0.0f);
  ir::RunArgs args;
  args.n = 2;
  args.tensors["x"] = {x.data(), ir::ElemType::kF32, 8};
  args.tensors["y"] = {y.data(), ir::ElemType::kF32, 8};
  ASSERT_TRUE((*held)->run(args).is_ok());
  // softmax([1, 2]) = [1, e] / (1 + e).
  EXPECT_NEAR(y[0], 1.0 / (1.0 + std::exp(1.0)), 1e-6);

  held = Status(StatusCode::kInternal, "dropped");
  EXPECT_TRUE(watch.expired());
}

TEST(KernelCache, ShrinkingCapacityEvicts) {
  KernelCache cache(4);
  (void)cache.get_or_compile(key_named("a"), compile_interpreted);
  (void)cache.get_or_compile(key_named("b"), compile_interpreted);
  (void)cache.get_or_compile(key_named("c"), compile_interpreted);
  cache.set_capacity(1);
  EXPECT_EQ(cache.stats().size, 1u);
  EXPECT_EQ(cache.stats().evictions, 2u);
  EXPECT_TRUE(cache.get_or_compile(key_named("c"), compile_interpreted).hit);
}

TEST(KernelCache, ZeroCapacityKeepsNothing) {
  KernelCache cache(0);
  EXPECT_FALSE(cache.get_or_compile(key_named("a"), compile_interpreted).hit);
  EXPECT_FALSE(cache.get_or_compile(key_named("a"), compile_interpreted).hit);
  EXPECT_EQ(cache.stats().size, 0u);
}

TEST(KernelCache, ClearDropsEntries) {
  KernelCache cache(4);
  (void)cache.get_or_compile(key_named("a"), compile_interpreted);
  cache.clear();
  EXPECT_EQ(cache.stats().size, 0u);
  EXPECT_FALSE(cache.get_or_compile(key_named("a"), compile_interpreted).hit);
}

TEST(CompilerCache, ReformattedTextHits) {
  Compiler compiler(quiet_knobs());
  auto first = compiler.compile_text(kSoftmaxText);
  auto second = compiler.compile_text(kSoftmaxTextReformatted);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ(compiler.cache_stats().hits, 1u);
  EXPECT_EQ(compiler.cache_stats().misses, 1u);
}

TEST(CompilerCache, SizeClassSeparatesHints) {
  Compiler compiler(quiet_knobs());
  CompileOptions small;
  small.n_hint = 300;
  CompileOptions same_bucket;
  same_bucket.n_hint = 400;  // also rounds up to 512
  CompileOptions large;
  large.n_hint = 1000;
  auto a = compiler.compile_text(kSoftmaxText, small);
  auto b = compiler.compile_text(kSoftmaxText, same_bucket);
  auto c = compiler.compile_text(kSoftmaxText, large);
  ASSERT_TRUE(a.is_ok());
  ASSERT_TRUE(b.is_ok());
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_NE(a->get(), c->get());
  EXPECT_EQ(compiler.cache_stats().misses, 2u);
}

// Rows of 7 and 8 vectors share a size class but not a kernel: each keeps
// its own number of vectors in registers.
TEST(CompilerCache, ResidentRowsSeparateHints) {
  Compiler compiler(quiet_knobs());
  CompileOptions seven;
  seven.isa = Isa::kAvx2;
  seven.n_hint = 50;
  CompileOptions eight = seven;
  eight.n_hint = 60;
  auto a = compiler.compile_text(kSoftmaxText, seven);
  auto b = compiler.compile_text(kSoftmaxText, eight);
  ASSERT_TRUE(a.is_ok());
  ASSERT_TRUE(b.is_ok());
  EXPECT_NE(a->get(), b->get());
  EXPECT_EQ((*a)->plan().resident_vectors, 7);
  EXPECT_EQ((*b)->plan().resident_vectors, 8);
}

TEST(CompilerCache, IsaAndChoicesSeparate) {
  Compiler compiler(quiet_knobs());
  CompileOptions interpreter;
  interpreter.isa = Isa::kNone;
  CompileOptions forced;
  forced.choices.unroll = 2;
  auto host = compiler.compile_text(kSoftmaxText);
  auto none = compiler.compile_text(kSoftmaxText, interpreter);
  auto unrolled = compiler.compile_text(kSoftmaxText, forced);
  ASSERT_TRUE(host.is_ok());
  ASSERT_TRUE(none.is_ok());
  ASSERT_TRUE(unrolled.is_ok());
  // Without a JIT ISA (ROWJIT_MAX_ISA=none) the host kernel is the interpreter one.
  EXPECT_EQ(compiler.cache_stats().misses, host_isa() == Isa::kNone ? 2u : 3u);
  EXPECT_FALSE((*none)->uses_jit());
  EXPECT_EQ((*host)->uses_jit(), testing::host_has_jit());
}

TEST(CompilerCache, ParseErrorNotCounted) {
  Compiler compiler(quiet_knobs());
  auto result = compiler.compile_text("kernel broken(");
  EXPECT_EQ(result.status().code(), StatusCode::kParseError);
  EXPECT_EQ(compiler.cache_stats().misses, 0u);
}

TEST(CompilerCache, InvalidForcedChoiceFails) {
  Compiler compiler(quiet_knobs());
  CompileOptions options;
  options.choices.softmax_form = ir::SoftmaxForm::kTwoPassOnline;
  auto result = compiler.compile_text(kScaleText, options);
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(compiler.cache_stats().failed_compiles, 1u);
  EXPECT_EQ(compiler.cache_stats().size, 0u);
}

TEST(CompilerCache, IsaOutsideEnumIsInvalid) {
  Compiler compiler(quiet_knobs());
  CompileOptions options;
  options.isa = static_cast<Isa>(7);
  auto cached = compiler.compile_text(kScaleText, options);
  EXPECT_EQ(cached.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cached.status().message().find("invalid ISA value 7"), std::string::npos) << cached.status().message();
  auto uncached = compile_text(kScaleText, options);
  EXPECT_EQ(uncached.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(compiler.cache_stats().size, 0u);
}

TEST(CompilerCache, CapacityFromKnobs) {
  Compiler compiler(quiet_knobs(3));
  EXPECT_EQ(compiler.cache_stats().capacity, 3u);
  compiler.set_cache_capacity(5);
  EXPECT_EQ(compiler.cache_stats().capacity, 5u);
}

}  // namespace
}  // namespace rowjit

namespace rowjit {
namespace {

// Two row lengths on either side of the planner's out-of-cache threshold get
// the kernel planned for each, whichever is compiled first.
TEST(CompilerCache, HintsAcrossCacheThresholdGetTheirOwnPlans) {
  if (host_isa() == Isa::kNone) GTEST_SKIP() << "no JIT ISA on this machine";
  // Softmax of x plus a per-expert bias: three row tensors (x, b, y), so the
  // threshold is rarely a power of two and both hints share a size class.
  auto pipeline = ir::parse_pipeline("kernel biased(x: f32[n], param b: f32[n]) -> (y: f32[n]) {\n"
                                     "  z = x + b\n  m = max(z)\n  e = exp(z - m)\n  y = e / sum(e)\n}\n");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  // Out of cache above half the last-level cache: 12 bytes per element here.
  const int64_t below = host_target(host_isa()).llc_bytes / 2 / 12;
  const int64_t above = below + 1;
  for (bool below_first : {true, false}) {
    Compiler compiler(quiet_knobs());
    std::vector<int64_t> order = below_first ? std::vector<int64_t>{below, above} : std::vector<int64_t>{above, below};
    for (int64_t hint : order) {
      CompileOptions options;
      options.n_hint = hint;
      auto kernel = compiler.compile(*pipeline, options);
      ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
      auto expected = ir::make_plan(*pipeline, host_target(host_isa()), hint);
      ASSERT_TRUE(expected.is_ok());
      EXPECT_EQ((*kernel)->plan().softmax_form, expected->softmax_form) << "n_hint " << hint;
    }
  }
}

// The cache resolves the planner's choices into its key, but regular stores
// with the switch by call size must reach the kernel unforced, or the switch
// is gone. Forced regular stores are a kernel of their own, without it.
TEST(CompilerCache, KeepsCallSizeSwitch) {
  if (host_isa() == Isa::kNone) GTEST_SKIP() << "no JIT ISA on this machine";
  auto pipeline = testing::parse_example("log_softmax");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  Compiler compiler(quiet_knobs());
  CompileOptions options;
  options.n_hint = 4096;
  auto planned = compiler.compile(*pipeline, options);
  ASSERT_TRUE(planned.is_ok()) << planned.status().to_string();
  EXPECT_FALSE((*planned)->plan().nontemporal_stores);
  EXPECT_GT((*planned)->plan().nontemporal_call_bytes, 0);

  options.choices.nontemporal_stores = false;
  auto forced = compiler.compile(*pipeline, options);
  ASSERT_TRUE(forced.is_ok()) << forced.status().to_string();
  EXPECT_EQ((*forced)->plan().nontemporal_call_bytes, 0);
  EXPECT_NE(planned->get(), forced->get());
  EXPECT_EQ(compiler.cache_stats().misses, 2u);
}

}  // namespace
}  // namespace rowjit
