// Pipelines that press on the registers. Every literal of the text is
// a value of its own, and each scalar that a sweep's body reads is held in a
// register through the loops. A chain of ten "+ 1" took ten registers and ran
// on the interpreter on AVX2. Literals of the same value share one now.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/jit_pipeline_cases.h"

namespace rowjit::testing {
namespace {

TEST(JitRegisters, RepeatedLiteralsShareARegister) {
  std::string text = "kernel literal_chain(x: f32[n]) -> (y: f32[n]) {\n  t0 = x * 0.5\n";
  for (int i = 1; i <= 40; ++i) text += "  t" + std::to_string(i) + " = t" + std::to_string(i - 1) + " + 1\n";
  text += "  y = t40 * 2\n}\n";
  auto pipeline = ir::parse_pipeline(text);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  JitCase c{"literal_chain", {0.0, 0.0}, {}};
  for (Isa isa : runnable_isas()) {
    CompileOptions options;
    options.isa = isa;
    options.n_hint = 1000;
    auto kernel = compile(*pipeline, options);
    ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    ASSERT_TRUE((*kernel)->uses_jit()) << isa_name(isa) << ": " << (*kernel)->plan().unsupported_reason;
    EXPECT_EQ((*kernel)->compiled()->unroll, 4) << isa_name(isa);
    for (int64_t n : {int64_t{5}, int64_t{1000}}) {
      RowTensors jit(*pipeline, 2, n, 3, 1);
      RowTensors reference(*pipeline, 2, n, 3, 1);
      std::mt19937 rng(static_cast<unsigned>(n));
      fill_random(*pipeline, jit, rng);
      copy_inputs(*pipeline, jit, reference);
      expect_matches_reference(**kernel, c, jit, reference,
                               std::string("40 literal adds on ") + isa_name(isa) + ", n = " + std::to_string(n));
    }
  }
}

// Each tensor takes a general-purpose register for its row pointer. The
// message names the count alone: it once read "does not fit the AVX2
// registers even at unroll 1", after compiling at every unroll in vain.
TEST(JitRegisters, TooManyTensorsNamesTheCount) {
  std::string text = "kernel nine(";
  for (int i = 0; i < 9; ++i) text += (i ? ", x" : "x") + std::to_string(i) + ": f32[n]";
  text += ") -> (y: f32[n]) {\n  y = x0";
  for (int i = 1; i < 9; ++i) text += " + x" + std::to_string(i);
  text += "\n}\n";
  auto pipeline = ir::parse_pipeline(text);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (Isa isa : runnable_isas()) {
    CompileOptions options;
    options.isa = isa;
    options.n_hint = 64;
    auto kernel = compile(*pipeline, options);
    ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    EXPECT_FALSE((*kernel)->uses_jit()) << isa_name(isa);
    EXPECT_EQ((*kernel)->plan().unsupported_reason, "pipeline 'nine' has 10 tensors; the JIT supports at most 8")
        << isa_name(isa);
  }
}

}  // namespace
}  // namespace rowjit::testing
