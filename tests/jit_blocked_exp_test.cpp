// The blocked-exp schedule of softmax (Plan::blocked_exp), forced on, against
// the interpreter on both ISAs. The cases are rows within one block (every
// tail), rows of many blocks with a partial last block, special values, in
// place, and a row longer than kMaxExpBlocks of the smallest blocks, which
// takes larger blocks.
#include <gtest/gtest.h>

#include <random>

#include "jit/disassembler.h"
#include "tests/jit_pipeline_cases.h"

namespace rowjit::testing {
namespace {

std::shared_ptr<const Kernel> compile_blocked(const ir::Pipeline& pipeline, Isa isa) {
  CompileOptions options;
  options.isa = isa;
  options.choices.softmax_form = ir::SoftmaxForm::kThreePassReload;
  options.choices.blocked_exp = true;
  auto kernel = compile(pipeline, options);
  EXPECT_TRUE(kernel.is_ok()) << kernel.status().to_string();
  if (!kernel) return nullptr;
  EXPECT_TRUE((*kernel)->plan().blocked_exp);
  std::string listing = jit::format_listing(*(*kernel)->compiled(), {});
  EXPECT_NE(listing.find("max and exp by blocks"), std::string::npos);
  return *kernel;
}

const JitCase& softmax_case() { return kCases[0]; }

TEST(BlockedExp, MatchesInterpreterOnEveryLength) {
  ir::Pipeline pipeline = load("softmax");
  std::mt19937 rng(808);
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 300; ++n) lengths.push_back(n);
  for (int64_t n : {1023, 1024, 1025, 2048, 4099, 16384, 16385, 70001}) lengths.push_back(n);
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_blocked(pipeline, isa);
    ASSERT_NE(kernel, nullptr);
    int64_t nonzero = 0;
    for (int64_t n : lengths) {
      RowTensors jit(pipeline, 3, n, 5, 3);
      RowTensors reference(pipeline, 3, n, 5, 3);
      fill_random(pipeline, jit, rng);
      copy_inputs(pipeline, jit, reference);
      expect_matches_reference(*kernel, softmax_case(), jit, reference,
                               std::string("blocked exp on ") + isa_name(isa) + ", n = " + std::to_string(n));
      std::string unused;
      compare_outputs(pipeline, jit, jit, softmax_case().tolerance, unused, &nonzero);
      if (HasFailure()) return;
    }
    EXPECT_GT(nonzero, 0);
  }
}

// Logits whose block maxima differ by far more than exp's range: blocks with
// a small max contribute nothing, and must not turn into NaN.
TEST(BlockedExp, BlocksWithDistantMaxima) {
  ir::Pipeline pipeline = load("softmax");
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_blocked(pipeline, isa);
    ASSERT_NE(kernel, nullptr);
    const int64_t n = 9000;
    RowTensors jit(pipeline, 1, n, 0, 0);
    RowTensors reference(pipeline, 1, n, 0, 0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t block = i / 512;
      jit.row("x", 0)[i] = static_cast<float>(block % 3 == 0 ? -300.0 : 40.0 * static_cast<double>(block)) +
                           static_cast<float>(i % 7);
    }
    copy_inputs(pipeline, jit, reference);
    expect_matches_reference(*kernel, softmax_case(), jit, reference,
                             std::string("blocked exp, distant maxima, on ") + isa_name(isa));
  }
}

TEST(BlockedExp, MatchesInterpreterOnSpecialValues) {
  ir::Pipeline pipeline = load("softmax");
  const auto patterns = special_patterns();
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_blocked(pipeline, isa);
    ASSERT_NE(kernel, nullptr);
    for (int64_t n : {1, 17, 100, 1500, 5000}) {
      for (size_t k = 0; k < patterns.size(); ++k) {
        RowTensors jit(pipeline, 2, n, 0, 0);
        RowTensors reference(pipeline, 2, n, 0, 0);
        for (int64_t r = 0; r < 2; ++r) {
          for (int64_t i = 0; i < n; ++i) jit.row("x", r)[i] = patterns[k](i, n);
        }
        copy_inputs(pipeline, jit, reference);
        expect_matches_reference(*kernel, softmax_case(), jit, reference,
                                 std::string("blocked exp on ") + isa_name(isa) + ", n = " + std::to_string(n) +
                                     ", special pattern " + std::to_string(k));
        if (HasFailure()) return;
      }
    }
  }
}

TEST(BlockedExp, RunsInPlace) {
  ir::Pipeline pipeline = load("softmax");
  std::mt19937 rng(5);
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_blocked(pipeline, isa);
    ASSERT_NE(kernel, nullptr);
    for (int64_t n : {37, 3000}) {
      RowTensors jit(pipeline, 2, n, 0, 0);
      RowTensors reference(pipeline, 2, n, 0, 0);
      fill_random(pipeline, jit, rng);
      copy_inputs(pipeline, jit, reference);
      jit.alias("y", "x");
      ASSERT_TRUE(kernel->run(jit.args()).is_ok());
      ASSERT_TRUE(ir::interpret(pipeline, reference.args()).is_ok());
      for (int64_t r = 0; r < 2; ++r) {
        for (int64_t i = 0; i < n; ++i) {
          float want = reference.row("y", r)[i];
          ASSERT_NEAR(jit.row("x", r)[i], want, 4e-6 * std::fabs(want) + 1e-40) << "n = " << n << ", i = " << i;
        }
      }
    }
  }
}

// More of the smallest blocks than the frame holds: the blocks grow.
TEST(BlockedExp, LongRowsTakeLargerBlocks) {
  ir::Pipeline pipeline = load("softmax");
  std::mt19937 rng(91);
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_blocked(pipeline, isa);
    ASSERT_NE(kernel, nullptr);
    int64_t block_elements = 64 * 4 * (isa == Isa::kAvx512 ? 16 : 8);
    int64_t n = ir::kMaxExpBlocks * block_elements + 19;
    RowTensors jit(pipeline, 1, n, 0, 0);
    RowTensors reference(pipeline, 1, n, 0, 0);
    fill_random(pipeline, jit, rng);
    copy_inputs(pipeline, jit, reference);
    expect_matches_reference(*kernel, softmax_case(), jit, reference,
                             std::string("blocked exp with larger blocks on ") + isa_name(isa));
  }
}

TEST(BlockedExp, RejectedWhereItDoesNotApply) {
  ir::Pipeline pipeline = load("log_softmax");
  CompileOptions options;
  options.choices.blocked_exp = true;
  auto kernel = compile(pipeline, options);
  ASSERT_FALSE(kernel.is_ok());
  EXPECT_NE(kernel.status().message().find("cannot force blocked exp"), std::string::npos);
}

}  // namespace
}  // namespace rowjit::testing
