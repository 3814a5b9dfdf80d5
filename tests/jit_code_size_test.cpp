// Pipelines of thousands of ops: their kernels outgrow the first code buffer
// of 64 KiB, and the largest ones every buffer. A long but valid pipeline
// failed to compile with "code is too big" until the compiler tried larger
// buffers, and one beyond the last buffer now runs on the interpreter.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/jit_pipeline_cases.h"

namespace rowjit::testing {
namespace {

// y = x + x + ... + x with `terms` terms, one add op per term after the first.
std::string long_sum_pipeline(int terms) {
  std::string text = "kernel long_sum(x: f32[n]) -> (y: f32[n]) {\n  y = x";
  for (int i = 1; i < terms; ++i) text += " + x";
  return text + "\n}\n";
}

TEST(JitCodeSize, KernelBeyond64KiBRunsOnTheJit) {
  auto pipeline = ir::parse_pipeline(long_sum_pipeline(2500));
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  JitCase c{"long_sum", {1e-6, 0.0}, {}};
  for (Isa isa : runnable_isas()) {
    CompileOptions options;
    options.isa = isa;
    options.n_hint = 1000;
    auto kernel = compile(*pipeline, options);
    ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    ASSERT_TRUE((*kernel)->uses_jit()) << isa_name(isa);
    EXPECT_GT((*kernel)->compiled()->code_size, size_t{64} << 10) << isa_name(isa);
    for (int64_t n : {int64_t{7}, int64_t{1000}}) {
      RowTensors jit(*pipeline, 3, n, 5, 1);
      RowTensors reference(*pipeline, 3, n, 5, 1);
      std::mt19937 rng(static_cast<unsigned>(n));
      fill_random(*pipeline, jit, rng);
      copy_inputs(*pipeline, jit, reference);
      expect_matches_reference(**kernel, c, jit, reference,
                               std::string("2500-term sum on ") + isa_name(isa) + ", n = " + std::to_string(n));
    }
  }
}

TEST(JitCodeSize, KernelBeyondEveryBufferRunsOnTheInterpreter) {
  // 150000 adds take about 11 MB of AVX-512 code in the loops (estimated from
  // 4.3 MB for 60000), more than the last buffer of 8 MiB.
  auto pipeline = ir::parse_pipeline(long_sum_pipeline(150000));
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  if (runnable_isas().empty()) GTEST_SKIP() << "this CPU or OS supports neither AVX2 nor AVX-512";
  CompileOptions options;
  options.isa = runnable_isas().back();
  options.n_hint = 1000;
  auto kernel = compile(*pipeline, options);
  ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
  EXPECT_FALSE((*kernel)->uses_jit());
  EXPECT_NE((*kernel)->plan().unsupported_reason.find("is too large for the JIT"), std::string::npos)
      << (*kernel)->plan().unsupported_reason;
  RowTensors jit(*pipeline, 2, 9, 0, 0);
  RowTensors reference(*pipeline, 2, 9, 0, 0);
  std::mt19937 rng(9);
  fill_random(*pipeline, jit, rng);
  copy_inputs(*pipeline, jit, reference);
  expect_matches_reference(**kernel, JitCase{"long_sum", {0.0, 0.0}, {}}, jit, reference,
                           "150000-term sum on the interpreter");
}

}  // namespace
}  // namespace rowjit::testing
