// Many threads sharing one Compiler and its kernels. Built with
// -DROWJIT_SANITIZE=thread, these tests are the data-race check of the
// runtime.
#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ir/parser.h"
#include "runtime/compiler.h"
#include "runtime/row_parallel.h"
#include "tests/runtime_testing.h"
#include "tests/test_util.h"

namespace rowjit {
namespace {

using testing::kLogSoftmaxText;
using testing::kScaleText;
using testing::kSoftmaxText;

constexpr int kThreads = 8;

RuntimeKnobs knobs_with_capacity(size_t capacity) {
  RuntimeKnobs knobs;
  knobs.cache_capacity = capacity;
  return knobs;
}

// Starts `count` threads running body(thread index) at the same moment.
template <typename Body>
void run_threads(int count, Body body) {
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < count; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < count) std::this_thread::yield();
      body(t);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

// Checks one pipeline's output row against a double-precision formula.
double row_error(const std::string& pipeline, const float* x, const float* y, int64_t n) {
  if (pipeline == "softmax") return testing::softmax_max_relative_error(x, y, n);
  std::vector<double> p = testing::softmax_reference(x, n);
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    double expected = pipeline == "scale" ? 2.0 * x[i] : std::log(p[static_cast<size_t>(i)]);
    worst = std::fmax(worst, std::fabs(y[i] - expected) / (1.0 + std::fabs(expected)));
  }
  return worst;
}

TEST(Concurrency, SameKeyCompilesOnce) {
  Compiler compiler(knobs_with_capacity(16));
  std::vector<const Kernel*> seen(kThreads, nullptr);
  run_threads(kThreads, [&](int t) {
    auto kernel = compiler.compile_text(kSoftmaxText);
    if (kernel) seen[static_cast<size_t>(t)] = kernel->get();
  });
  CacheStats stats = compiler.cache_stats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.hits, static_cast<uint64_t>(kThreads - 1));
  for (const Kernel* kernel : seen) {
    EXPECT_NE(kernel, nullptr);
    EXPECT_EQ(kernel, seen[0]);
  }
}

TEST(Concurrency, FailedCompileSharedNotCached) {
  Compiler compiler(knobs_with_capacity(16));
  CompileOptions options;
  options.choices.softmax_form = ir::SoftmaxForm::kTwoPassOnline;  // scale has no softmax core
  std::atomic<int> failures{0};
  run_threads(kThreads, [&](int) {
    if (!compiler.compile_text(kScaleText, options)) failures.fetch_add(1);
  });
  EXPECT_EQ(failures.load(), kThreads);
  EXPECT_EQ(compiler.cache_stats().size, 0u);
  EXPECT_GE(compiler.cache_stats().failed_compiles, 1u);
}

// Threads compile and run three pipelines at four row-length hints through a
// cache too small for all twelve kernels, so compiles, hits and evictions
// interleave with runs of kernels that other threads hold.
TEST(Concurrency, CompileAndRunStress) {
  Compiler compiler(knobs_with_capacity(5));
  const char* texts[] = {kSoftmaxText, kLogSoftmaxText, kScaleText};
  const char* names[] = {"softmax", "log_softmax", "scale"};
  const int64_t hints[] = {16, 100, 1000, 50000};
  constexpr int kIterations = 150;
  std::atomic<int> errors{0};
  std::atomic<int> mismatches{0};

  run_threads(kThreads, [&](int t) {
    for (int i = 0; i < kIterations; ++i) {
      int which = (t + i) % 3;
      CompileOptions options;
      options.n_hint = hints[(t * 7 + i) % 4];
      auto kernel = compiler.compile_text(texts[which], options);
      if (!kernel) {
        errors.fetch_add(1);
        continue;
      }
      int64_t n = 1 + (t * 31 + i * 17) % 300;
      int64_t rows = 1 + (t + i) % 4;
      std::vector<float> x = testing::random_rows(rows, n, static_cast<uint32_t>(t * 1000 + i));
      std::vector<float> y(x.size(), 0.0f);
      ir::RunArgs args;
      args.rows = rows;
      args.n = n;
      args.tensors["x"] = {x.data(), ir::ElemType::kF32, n * 4};
      args.tensors["y"] = {y.data(), ir::ElemType::kF32, n * 4};
      if (!(*kernel)->run(args)) {
        errors.fetch_add(1);
        continue;
      }
      for (int64_t r = 0; r < rows; ++r) {
        if (row_error(names[which], x.data() + r * n, y.data() + r * n, n) > 1e-5) mismatches.fetch_add(1);
      }
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  CacheStats stats = compiler.cache_stats();
  EXPECT_EQ(stats.hits + stats.misses, static_cast<uint64_t>(kThreads * kIterations));
  EXPECT_GT(stats.evictions, 0u);
  EXPECT_LE(stats.size, 5u);
}

TEST(Concurrency, OneKernelManyThreads) {
  auto kernel = compile_text(kSoftmaxText);
  ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
  std::atomic<int> mismatches{0};
  run_threads(kThreads, [&](int t) {
    const int64_t n = 257;
    std::vector<float> x = testing::random_rows(3, n, static_cast<uint32_t>(t));
    std::vector<float> y(x.size(), 0.0f);
    ir::RunArgs args;
    args.rows = 3;
    args.n = n;
    args.tensors["x"] = {x.data(), ir::ElemType::kF32, n * 4};
    args.tensors["y"] = {y.data(), ir::ElemType::kF32, n * 4};
    for (int i = 0; i < 20; ++i) {
      if (!(*kernel)->run(args)) mismatches.fetch_add(1);
    }
    for (int64_t r = 0; r < 3; ++r) {
      if (testing::softmax_max_relative_error(x.data() + r * n, y.data() + r * n, n) > testing::kSoftmaxTolerance) {
        mismatches.fetch_add(1);
      }
    }
  });
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(ThreadPool, EachTaskOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> counts(100);
  pool.parallel_for(
      counts.size(), [](void* context, size_t index) { (*static_cast<std::vector<std::atomic<int>>*>(context))[index]++; },
      &counts);
  for (const auto& count : counts) EXPECT_EQ(count.load(), 1);
}

TEST(ThreadPool, ConcurrentCallers) {
  ThreadPool pool(2);
  std::vector<std::vector<std::atomic<int>>> counts(kThreads);
  for (auto& per_thread : counts) per_thread = std::vector<std::atomic<int>>(50);
  run_threads(kThreads, [&](int t) {
    for (int repeat = 0; repeat < 10; ++repeat) {
      pool.parallel_for(
          50, [](void* context, size_t index) { (*static_cast<std::vector<std::atomic<int>>*>(context))[index]++; },
          &counts[static_cast<size_t>(t)]);
    }
  });
  for (const auto& per_thread : counts) {
    for (const auto& count : per_thread) EXPECT_EQ(count.load(), 10);
  }
}

// Workers do not keep the MXCSR of the thread that created the pool: each
// task runs under the IEEE defaults (0x1F80, flags aside), even when the pool was
// created under round toward zero with flush to zero. Each task sleeps, so
// that the workers take some of them.
TEST(ThreadPool, WorkersUseDefaultMxcsr) {
  const unsigned caller_mxcsr = _mm_getcsr();
  _mm_setcsr(0xFF80);  // round toward zero, flush to zero, denormals are zero
  auto pool = std::make_unique<ThreadPool>(2);
  _mm_setcsr(caller_mxcsr);
  struct Seen {
    unsigned mxcsr = 0;
    std::thread::id thread;
  };
  std::vector<Seen> seen(12);
  pool->parallel_for(
      seen.size(),
      [](void* context, size_t index) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        (*static_cast<std::vector<Seen>*>(context))[index] = {_mm_getcsr(), std::this_thread::get_id()};
      },
      &seen);
  int on_workers = 0;
  for (const Seen& task : seen) {
    EXPECT_EQ(task.mxcsr & 0xFFC0u, 0x1F80u) << std::hex << task.mxcsr;
    on_workers += task.thread != std::this_thread::get_id();
  }
  EXPECT_GT(on_workers, 0) << "no task ran on a worker";
}

TEST(ThreadPool, NoWorkersRunsOnCaller) {
  ThreadPool pool(0);
  std::thread::id caller = std::this_thread::get_id();
  std::vector<std::thread::id> ran_on(4);
  pool.parallel_for(
      4, [](void* context, size_t index) { (*static_cast<std::vector<std::thread::id>*>(context))[index] = std::this_thread::get_id(); },
      &ran_on);
  for (std::thread::id id : ran_on) EXPECT_EQ(id, caller);
}

TEST(RowSplit, TaskCount) {
  ParallelFor parallel;
  parallel.function = [](void*, size_t, ParallelTask, void*) {};
  parallel.max_tasks = 4;
  parallel.min_rows_per_task = 16;
  EXPECT_EQ(row_task_count(0, parallel), 0u);
  EXPECT_EQ(row_task_count(10, parallel), 1u);
  EXPECT_EQ(row_task_count(33, parallel), 3u);
  EXPECT_EQ(row_task_count(1000, parallel), 4u);
  parallel.function = nullptr;
  EXPECT_EQ(row_task_count(1000, parallel), 1u);
}

TEST(RowSplit, RangesCoverRows) {
  // 10 rows in 4 tasks: 2, 3, 2, 3 rows, starting at 0, 2, 5, 7.
  EXPECT_EQ(task_first_row(10, 4, 0), 0);
  EXPECT_EQ(task_first_row(10, 4, 1), 2);
  EXPECT_EQ(task_first_row(10, 4, 2), 5);
  EXPECT_EQ(task_first_row(10, 4, 3), 7);
  EXPECT_EQ(task_first_row(10, 4, 4), 10);
}

// Splits rows on the built-in pool, which has at least the calling thread,
// with a task for every 3 rows.
ParallelFor split_every_three_rows(ThreadPool& pool) {
  ParallelFor parallel = pool.hook();
  parallel.max_tasks = 7;
  parallel.min_rows_per_task = 3;
  return parallel;
}

TEST(RowSplit, JitSplitIsBitExact) {
  auto kernel = compile_text(kSoftmaxText);
  ASSERT_TRUE(kernel.is_ok());
  const int64_t rows = 20;
  const int64_t n = 75;
  std::vector<float> x = testing::random_rows(rows, n, 3);
  std::vector<float> whole(x.size(), 0.0f);
  std::vector<float> split(x.size(), 0.0f);
  ir::RunArgs args;
  args.rows = rows;
  args.n = n;
  args.tensors["x"] = {x.data(), ir::ElemType::kF32, n * 4};
  args.tensors["y"] = {whole.data(), ir::ElemType::kF32, n * 4};
  ASSERT_TRUE((*kernel)->run(args).is_ok());
  args.tensors["y"].data = split.data();
  ThreadPool pool(2);
  ASSERT_TRUE((*kernel)->run(args, split_every_three_rows(pool)).is_ok());
  EXPECT_EQ(std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float)), 0);
}

TEST(RowSplit, GeneratorSplitIsBitExact) {
  auto pipeline = testing::parse_example("gumbel_softmax");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  auto kernel = compile(*pipeline);
  ASSERT_TRUE(kernel.is_ok());
  const int64_t rows = 20;
  const int64_t n = 33;
  std::vector<float> x = testing::random_rows(rows, n, 4);
  std::vector<float> whole(x.size(), 0.0f);
  std::vector<float> split(x.size(), 0.0f);
  ir::RunArgs args;
  args.rows = rows;
  args.n = n;
  args.first_row = 100;
  args.scalars["tau"] = 0.5;
  args.scalars["seed"] = 42;
  args.tensors["x"] = {x.data(), ir::ElemType::kF32, n * 4};
  args.tensors["y"] = {whole.data(), ir::ElemType::kF32, n * 4};
  ASSERT_TRUE((*kernel)->run(args).is_ok());
  args.tensors["y"].data = split.data();
  ThreadPool pool(2);
  ASSERT_TRUE((*kernel)->run(args, split_every_three_rows(pool)).is_ok());
  EXPECT_EQ(std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float)), 0);
}

TEST(RowSplit, InvalidArgsRejectedOnce) {
  auto kernel = compile_text(kSoftmaxText);
  ASSERT_TRUE(kernel.is_ok());
  std::vector<float> x(8, 0.0f);
  ir::RunArgs args;
  args.rows = 4;
  args.n = 2;
  args.tensors["x"] = {x.data(), ir::ElemType::kF32, 8};
  std::atomic<int> calls{0};
  ParallelFor parallel;
  parallel.function = [](void* context, size_t, ParallelTask, void*) { static_cast<std::atomic<int>*>(context)->fetch_add(1); };
  parallel.context = &calls;
  parallel.max_tasks = 4;
  parallel.min_rows_per_task = 1;
  Status status = (*kernel)->run(args, parallel);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
}  // namespace rowjit
