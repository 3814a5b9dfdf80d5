// Benchmarks of the runtime's cost around the machine code: a cache hit, a
// checked kernel call against a direct call of the function pointer on one
// short row, the C interface, a split call, and a cold compile of softmax.
#include <benchmark/benchmark.h>

#include <xmmintrin.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "ir/parser.h"
#include "runtime/compiler.h"
#include "runtime/rowjit.h"

namespace rowjit {
namespace {

constexpr const char* kSoftmaxText = R"(kernel softmax(x: f32[n]) -> (y: f32[n]) {
  m = max(x)
  e = exp(x - m)
  y = e / sum(e)
})";

constexpr int64_t kRowLength = 64;

ir::Pipeline softmax_pipeline() {
  auto pipeline = ir::parse_pipeline(kSoftmaxText);
  if (!pipeline) std::fprintf(stderr, "%s\n", pipeline.status().to_string().c_str());
  return std::move(pipeline).value();
}

// One row of 64 logits and its output.
struct Row {
  std::vector<float> x = std::vector<float>(kRowLength);
  std::vector<float> y = std::vector<float>(kRowLength);
  Row() {
    for (int64_t i = 0; i < kRowLength; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i % 13) * 0.25f - 1.5f;
  }
  ir::RunArgs args(int64_t rows = 1) {
    ir::RunArgs run;
    run.rows = rows;
    run.n = kRowLength;
    run.tensors["x"] = {x.data(), ir::ElemType::kF32, kRowLength * 4};
    run.tensors["y"] = {y.data(), ir::ElemType::kF32, kRowLength * 4};
    return run;
  }
};

void BM_CacheHitPipeline(benchmark::State& state) {
  Compiler compiler(RuntimeKnobs{});
  ir::Pipeline pipeline = softmax_pipeline();
  (void)compiler.compile(pipeline);
  for (auto _ : state) {
    auto kernel = compiler.compile(pipeline);
    benchmark::DoNotOptimize(kernel);
  }
}
BENCHMARK(BM_CacheHitPipeline);

void BM_CacheHitText(benchmark::State& state) {
  Compiler compiler(RuntimeKnobs{});
  (void)compiler.compile_text(kSoftmaxText);
  for (auto _ : state) {
    auto kernel = compiler.compile_text(kSoftmaxText);
    benchmark::DoNotOptimize(kernel);
  }
}
BENCHMARK(BM_CacheHitText);

void BM_KernelRun64(benchmark::State& state) {
  auto kernel = compile_text(kSoftmaxText);
  if (!kernel) return state.SkipWithError(kernel.status().to_string().c_str());
  Row row;
  ir::RunArgs args = row.args();
  for (auto _ : state) {
    Status status = (*kernel)->run(args);
    benchmark::DoNotOptimize(status);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_KernelRun64);

// Calls the machine code of the softmax row through its function pointer.
// With `caller_mxcsr`, the timed loop runs under that MXCSR, as in a thread
// that sets it itself.
void run_direct_calls(benchmark::State& state, std::optional<unsigned> caller_mxcsr) {
  auto kernel = compile_text(kSoftmaxText);
  if (!kernel) return state.SkipWithError(kernel.status().to_string().c_str());
  const jit::CompiledKernel* compiled = (*kernel)->compiled();
  if (compiled == nullptr) return state.SkipWithError("no JIT on this CPU");
  Row row;
  jit::KernelArgs call;
  call.rows = 1;
  call.n = kRowLength;
  for (size_t i = 0; i < compiled->layout.tensor_slots.size(); ++i) {
    const std::string& name = (*kernel)->pipeline().value(compiled->layout.tensor_slots[i]).name;
    call.data[i] = name == "x" ? row.x.data() : row.y.data();
    call.stride[i] = kRowLength * 4;
  }
  jit::KernelFunction function = compiled->function();
  const unsigned saved_mxcsr = _mm_getcsr();
  if (caller_mxcsr) _mm_setcsr(*caller_mxcsr);
  for (auto _ : state) {
    function(&call);
    benchmark::ClobberMemory();
  }
  _mm_setcsr(saved_mxcsr);
}

void BM_DirectCall64(benchmark::State& state) { run_direct_calls(state, std::nullopt); }
BENCHMARK(BM_DirectCall64);

// The same under flush-to-zero and denormals-are-zero (MXCSR 0x9FC0): each
// call loads the kernel's MXCSR and restores the caller's.
void BM_DirectCall64FlushDenormals(benchmark::State& state) { run_direct_calls(state, 0x9FC0u); }
BENCHMARK(BM_DirectCall64FlushDenormals);

void BM_CApiRun64(benchmark::State& state) {
  rowjit_compiler* compiler = nullptr;
  rowjit_kernel* kernel = nullptr;
  if (rowjit_compiler_create(nullptr, &compiler) != ROWJIT_OK ||
      rowjit_compile(compiler, kSoftmaxText, nullptr, &kernel) != ROWJIT_OK) {
    rowjit_compiler_destroy(compiler);
    return state.SkipWithError(rowjit_last_error());
  }
  Row row;
  rowjit_tensor tensors[2] = {{"x", row.x.data(), ROWJIT_F32, kRowLength * 4, 0},
                              {"y", row.y.data(), ROWJIT_F32, kRowLength * 4, 0}};
  rowjit_run_args args = {1, kRowLength, 0, tensors, 2, nullptr, 0};
  for (auto _ : state) {
    rowjit_status status = rowjit_kernel_run(kernel, &args);
    benchmark::DoNotOptimize(status);
    benchmark::ClobberMemory();
  }
  rowjit_kernel_release(kernel);
  rowjit_compiler_destroy(compiler);
}
BENCHMARK(BM_CApiRun64);

// 256 rows of 64 on the built-in pool against the calling thread alone: the
// cost of waking the workers against the rows they take.
void BM_Rows256(benchmark::State& state) {
  auto kernel = compile_text(kSoftmaxText);
  if (!kernel) return state.SkipWithError(kernel.status().to_string().c_str());
  const int64_t rows = 256;
  std::vector<float> x(static_cast<size_t>(rows * kRowLength), 0.5f);
  std::vector<float> y(x.size());
  ir::RunArgs args;
  args.rows = rows;
  args.n = kRowLength;
  args.tensors["x"] = {x.data(), ir::ElemType::kF32, kRowLength * 4};
  args.tensors["y"] = {y.data(), ir::ElemType::kF32, kRowLength * 4};
  bool split = state.range(0) != 0;
  ParallelFor pool = default_thread_pool().hook();
  for (auto _ : state) {
    Status status = split ? (*kernel)->run(args, pool) : (*kernel)->run(args);
    benchmark::DoNotOptimize(status);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_Rows256)->Arg(0)->Arg(1)->ArgName("split");

void BM_ColdCompileSoftmax(benchmark::State& state) {
  ir::Pipeline pipeline = softmax_pipeline();
  for (auto _ : state) {
    auto kernel = compile(pipeline);
    benchmark::DoNotOptimize(kernel);
  }
}
BENCHMARK(BM_ColdCompileSoftmax)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace rowjit

BENCHMARK_MAIN();
