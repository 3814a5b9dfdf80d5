// The exp sweeps that leave out the exp's underflow guard on rows whose
// max - min is at most kExpGuardFreeRange (jit/emit_exp_range.cpp). Each row
// has one element far below its max, just inside or outside that range, or
// far enough that an unguarded exp would wrap to a huge value. Every kernel
// is compared with the interpreter on AVX-512 and AVX2, in the loops and in
// rows held in registers.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ir/parser.h"
#include "jit/disassembler.h"
#include "jit/math.h"
#include "tests/jit_pipeline_cases.h"
#include "tests/text_testing.h"

namespace rowjit::testing {
namespace {

// Distances of the far element below the row's max (4.0).
const std::vector<float> kGaps = {0.0f,   103.4f, jit::kExpGuardFreeRange, 103.6f, 103.98f, 104.2f,
                                  104.7f, 110.0f, 200.0f,                  1e30f,  INFINITY};

// Compiles with the form forced if given, planned for rows of n elements.
// Rows of up to 16 vectors (8 on AVX2) are then held in registers, unless
// `resident` is false.
std::shared_ptr<const Kernel> compile_range(const ir::Pipeline& pipeline, Isa isa,
                                            const std::optional<ir::SoftmaxForm>& form, int64_t n, bool resident,
                                            std::optional<int> unroll = std::nullopt) {
  CompileOptions options;
  options.isa = isa;
  options.n_hint = n;
  options.choices.softmax_form = form;
  options.choices.unroll = unroll;
  if (!resident) options.choices.resident_vectors = 0;
  auto kernel = compile(pipeline, options);
  if (!kernel) {
    EXPECT_EQ(kernel.status().code(), StatusCode::kInvalidArgument) << kernel.status().to_string();
    return nullptr;
  }
  EXPECT_TRUE((*kernel)->uses_jit()) << (*kernel)->plan().unsupported_reason;
  return *kernel;
}

// A row of logits in [-1, 4] with max 4.0 at element 1, and the far element
// 4 - gap at `far` (no far element for a gap of 0).
std::vector<float> row_with_gap(int64_t n, float gap, int64_t far) {
  std::vector<float> row(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) row[static_cast<size_t>(i)] = static_cast<float>((i * 7) % 11) * 0.5f - 1.0f;
  if (n > 1) row[1] = 4.0f;
  if (gap > 0.0f) row[static_cast<size_t>(far)] = 4.0f - gap;
  return row;
}

// Runs `kernel` on one row from row_with_gap and compares it with the
// interpreter.
void expect_gap_row_matches(const Kernel& kernel, const JitCase& c, int64_t n, float gap, int64_t far,
                            const std::string& context) {
  const ir::Pipeline& pipeline = kernel.pipeline();
  RowTensors jit(pipeline, 1, n, 0, 0);
  RowTensors reference(pipeline, 1, n, 0, 0);
  std::vector<float> row = row_with_gap(n, gap, far);
  std::copy(row.begin(), row.end(), jit.row("x", 0));
  copy_inputs(pipeline, jit, reference);
  expect_matches_reference(kernel, c, jit, reference,
                           context + ", n = " + std::to_string(n) + ", element " + std::to_string(far) + " at max - " +
                               std::to_string(gap));
}

TEST(JitExpRange, RowsAroundTheRangeMatchInterpreter) {
  for (const char* name : {"softmax", "log_softmax"}) {
    ir::Pipeline pipeline = load(name);
    JitCase c{name, {4e-6, 1e-6}, {}};
    for (Isa isa : runnable_isas()) {
      for (const auto& form : {std::optional<ir::SoftmaxForm>{}, std::optional{ir::SoftmaxForm::kThreePassRecompute},
                               std::optional{ir::SoftmaxForm::kThreePassReload}}) {
        for (int64_t n : {int64_t{3}, int64_t{60}, int64_t{64}, int64_t{100}, int64_t{250}, int64_t{1000}}) {
          for (bool resident : {true, false}) {
            auto kernel = compile_range(pipeline, isa, form, n, resident);
            if (!kernel) continue;
            for (float gap : kGaps) {
              for (int64_t far : {int64_t{0}, n / 2, n - 1}) {
                expect_gap_row_matches(*kernel, c, n, gap, far,
                                       std::string(name) + " on " + isa_name(isa) + ", form " + form_name(form) +
                                           (resident ? "" : ", loops"));
                if (HasFailure()) return;
              }
            }
          }
        }
      }
    }
  }
}

// Blocked exp on AVX2 starts each row in a copy without the guard. It tests
// the block's min at the end of every chunk and of the singles and tail, and
// runs a part out of range again in the guarded copy. The rows have about 10
// blocks and one element far below the max: in the first chunk, in a later
// block, at the end of a block or in the tail. Some rows raise the reference in a later block
// (the speculative max then runs that block again), and some end in masked
// logits (-inf).
TEST(JitExpRange, BlockedRowsAroundTheRangeMatchInterpreter) {
  for (const char* name : {"softmax", "log_softmax"}) {
    ir::Pipeline pipeline = load(name);
    JitCase c{name, {4e-6, 1e-6}, {}};
    for (Isa isa : runnable_isas()) {
      for (std::optional<int> unroll : {std::optional<int>{}, std::optional<int>{8}}) {
        for (std::optional<int> exp_group : {std::optional<int>{}, std::optional<int>{1}}) {
          CompileOptions options;
          options.isa = isa;
          options.n_hint = 20000;
          options.choices.unroll = unroll;
          options.choices.exp_group = exp_group;
          auto kernel = compile(pipeline, options);
          ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
          ASSERT_TRUE((*kernel)->plan().blocked_exp) << name;
          const std::string context = std::string(name) + " on " + isa_name(isa) + ", unroll " +
                                   (unroll ? std::to_string(*unroll) : "default") + ", exp group " +
                                   (exp_group ? std::to_string(*exp_group) : "default");
          for (int64_t n : {int64_t{20000}, int64_t{20005}}) {
            for (float raised : {0.0f, 11.0f}) {
              for (float gap : kGaps) {
                for (int64_t far : {int64_t{0}, int64_t{2047}, int64_t{3000}, int64_t{16383}, n - 3, n - 1}) {
                  RowTensors jit(pipeline, 1, n, 0, 0);
                  RowTensors reference(pipeline, 1, n, 0, 0);
                  std::vector<float> row = row_with_gap(n, gap, far);
                  if (raised > 0.0f) row[15000] = raised;
                  std::copy(row.begin(), row.end(), jit.row("x", 0));
                  copy_inputs(pipeline, jit, reference);
                  expect_matches_reference(**kernel, c, jit, reference,
                                           context + ", n = " + std::to_string(n) + ", element " + std::to_string(far) +
                                               " at 4 - " + std::to_string(gap) + ", element 15000 at " +
                                               std::to_string(raised));
                  if (HasFailure()) return;
                }
              }
              for (int64_t masked_from : {int64_t{1}, int64_t{12000}, n - 2}) {
                RowTensors jit(pipeline, 1, n, 0, 0);
                RowTensors reference(pipeline, 1, n, 0, 0);
                std::vector<float> row = row_with_gap(n, 0.0f, 0);
                if (raised > 0.0f) row[15000] = raised;
                for (int64_t i = masked_from; i < n; ++i) row[static_cast<size_t>(i)] = -INFINITY;
                std::copy(row.begin(), row.end(), jit.row("x", 0));
                copy_inputs(pipeline, jit, reference);
                expect_matches_reference(**kernel, c, jit, reference,
                                         context + ", n = " + std::to_string(n) + ", -inf from element " +
                                             std::to_string(masked_from));
                if (HasFailure()) return;
              }
            }
          }
        }
      }
    }
  }
}

// The blocked copy without the guard exists on AVX2 only, and leaves out the
// clamp's constant. AVX-512 keeps its comparison, which is off the exp's chain.
TEST(JitExpRange, BlockedCopyOnAvx2Only) {
  const std::string unguarded = "; blocks with exps unguarded";
  const std::string guarded = "; blocks with guarded exps";
  for (Isa isa : runnable_isas()) {
    CompileOptions options;
    options.isa = isa;
    options.n_hint = 20000;
    auto kernel = compile(load("softmax"), options);
    ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    std::string text = jit::format_listing(*(*kernel)->compiled(), {});
    if (isa == Isa::kAvx512) {
      EXPECT_FALSE(contains(text, unguarded)) << text;
      continue;
    }
    size_t begin = text.find(unguarded);
    size_t end = text.find(guarded);
    ASSERT_NE(begin, std::string::npos) << text;
    ASSERT_NE(end, std::string::npos) << text;
    ASSERT_LT(begin, end);
    EXPECT_FALSE(contains(text.substr(begin, end - begin), "-104.665222")) << text;
    EXPECT_TRUE(contains(text.substr(end), "-104.665222")) << text;
  }
}

// At unroll 8 the AVX2 max sweep has registers for two accumulators of the
// min only, which the eight lanes share. The kernel keeps unroll 8.
TEST(JitExpRange, SharedMinAccumulatorsMatchInterpreter) {
  ir::Pipeline pipeline = load("softmax");
  JitCase c{"softmax", {4e-6, 1e-6}, {}};
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_range(pipeline, isa, std::nullopt, 1000, false, 8);
    ASSERT_NE(kernel, nullptr);
    EXPECT_EQ(kernel->compiled()->unroll, 8) << isa_name(isa);
    EXPECT_TRUE(kernel->compiled()->exp_range_test) << isa_name(isa);
    for (int64_t n : {int64_t{1000}, int64_t{1001}}) {
      for (float gap : kGaps) {
        for (int64_t far = 0; far < n; far += 97) {
          expect_gap_row_matches(*kernel, c, n, gap, far, std::string("softmax at unroll 8 on ") + isa_name(isa));
          if (HasFailure()) return;
        }
      }
    }
  }
}

// A NaN can drop out of the max and the min, and then a row with an element
// far below the max passes the range test. The NaN still makes every output NaN.
TEST(JitExpRange, NanWithFarElementGivesNan) {
  ir::Pipeline pipeline = load("softmax");
  for (Isa isa : runnable_isas()) {
    for (int64_t n : {int64_t{64}, int64_t{1000}}) {
      auto kernel = compile_range(pipeline, isa, std::nullopt, n, false);
      ASSERT_NE(kernel, nullptr);
      RowTensors jit(pipeline, 1, n, 0, 0);
      std::vector<float> row = row_with_gap(n, 200.0f, n - 1);
      row[0] = NAN;
      std::copy(row.begin(), row.end(), jit.row("x", 0));
      ASSERT_TRUE(kernel->run(jit.args()).is_ok());
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_TRUE(std::isnan(jit.row("y", 0)[i])) << isa_name(isa) << ", n = " << n << ", element " << i;
      }
    }
  }
}

// The exp may feed other outputs as long as a NaN in the sum reaches them:
// then a row with a NaN is NaN everywhere with either copy.
TEST(JitExpRange, ExpWithOtherUsesThroughTheSum) {
  auto pipeline = ir::parse_pipeline(R"(kernel k(x: f32[n]) -> (y: f32[n], z: f32[n]) {
  m = max(x)
  e = exp(x - m)
  s = sum(e)
  y = e / s
  z = e * e / s
})");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  JitCase c{"exp_reused", {4e-6, 1e-6}, {}};
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_range(*pipeline, isa, std::nullopt, 1000, false);
    ASSERT_NE(kernel, nullptr);
    EXPECT_TRUE(kernel->compiled()->exp_range_test) << isa_name(isa);
    for (float gap : kGaps) {
      expect_gap_row_matches(*kernel, c, 1000, gap, 999, std::string("exp reused on ") + isa_name(isa));
    }
    RowTensors jit(*pipeline, 1, 1000, 0, 0);
    std::vector<float> row = row_with_gap(1000, 200.0f, 999);
    row[0] = NAN;
    std::copy(row.begin(), row.end(), jit.row("x", 0));
    ASSERT_TRUE(kernel->run(jit.args()).is_ok());
    for (int64_t i = 0; i < 1000; ++i) {
      ASSERT_TRUE(std::isnan(jit.row("y", 0)[i])) << isa_name(isa) << ", y[" << i << "]";
      ASSERT_TRUE(std::isnan(jit.row("z", 0)[i])) << isa_name(isa) << ", z[" << i << "]";
    }
  }
}

// An output that reads the sum only through a comparison is not NaN where
// the sum is. So the max must track NaN there, and the exp keeps its guard.
TEST(JitExpRange, NanThroughComparisonWithTheSum) {
  auto pipeline = ir::parse_pipeline(kSelectOnSumPipeline);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  JitCase c{"select_on_sum", {4e-6, 1e-6}, {}};
  for (Isa isa : runnable_isas()) {
    for (int64_t n : {int64_t{4}, int64_t{1000}}) {
      auto kernel = compile_range(*pipeline, isa, std::nullopt, n, true);
      ASSERT_NE(kernel, nullptr);
      EXPECT_FALSE(contains(jit::format_listing(*kernel->compiled(), {}), "; loops with exps unguarded"));
      for (float far : {1.0f, -200.0f}) {
        RowTensors jit(*pipeline, 1, n, 0, 0);
        RowTensors reference(*pipeline, 1, n, 0, 0);
        std::vector<float> row = row_with_gap(n, 0.0f, 0);
        row[0] = NAN;
        row[static_cast<size_t>(n - 1)] = far;
        std::copy(row.begin(), row.end(), jit.row("x", 0));
        copy_inputs(*pipeline, jit, reference);
        expect_matches_reference(*kernel, c, jit, reference,
                                 std::string("NaN row on ") + isa_name(isa) + ", n = " + std::to_string(n));
        EXPECT_TRUE(std::isnan(jit.row("z", 0)[1])) << isa_name(isa) << ", n = " << n;
      }
    }
  }
}

// The copy without the guard exists where the plan allows it, and its exps
// have no comparison (AVX-512) or clamp (AVX2). A temperature or the online
// form keeps the guard alone.
TEST(JitExpRange, UnguardedCopyLeavesOutTheGuard) {
  const std::string unguarded = "; loops with exps unguarded";
  const std::string guarded = "; loops with guarded exps";
  for (Isa isa : runnable_isas()) {
    auto softmax = compile_range(load("softmax"), isa, std::nullopt, 1000, false);
    ASSERT_NE(softmax, nullptr);
    std::string text = jit::format_listing(*softmax->compiled(), {});
    size_t begin = text.find(unguarded);
    size_t end = text.find(guarded);
    ASSERT_NE(begin, std::string::npos) << text;
    ASSERT_NE(end, std::string::npos) << text;
    ASSERT_LT(begin, end);
    const std::string copy = text.substr(begin, end - begin);
    const std::string guard = isa == Isa::kAvx512 ? "vcmpps" : "vmaxps";
    EXPECT_FALSE(contains(copy, guard)) << copy;
    EXPECT_TRUE(contains(text.substr(end), guard)) << text;

    auto online = compile_range(load("softmax"), isa, ir::SoftmaxForm::kTwoPassOnline, 1000, false);
    ASSERT_NE(online, nullptr);
    EXPECT_FALSE(contains(jit::format_listing(*online->compiled(), {}), unguarded)) << isa_name(isa);
    auto tempered = compile_range(load("softmax_temperature"), isa, std::nullopt, 1000, false);
    ASSERT_NE(tempered, nullptr);
    EXPECT_FALSE(contains(jit::format_listing(*tempered->compiled(), {}), unguarded)) << isa_name(isa);
  }
}

}  // namespace
}  // namespace rowjit::testing
