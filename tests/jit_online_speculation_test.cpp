// The online form's speculative max (Plan::speculative_max on two_pass_online):
// blocks after the first compute their exps with the references of the blocks
// before them and run again where a reference must move. The rows here make
// blocks run again: a max that jumps by more than the exp's range inside one
// block, rises through every block, or first appears after a stretch of -inf.
// Each is compared with the interpreter on both ISAs, with speculation on
// (the default) and off.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "tests/jit_pipeline_cases.h"

namespace rowjit::testing {
namespace {

struct SpeculationRow {
  const char* name;
  std::function<float(int64_t)> value;
};

// 70001 elements: about 68 blocks of AVX-512 main loops (1024 elements each)
// and 273 of AVX2 ones (256 elements: the online form fits unroll 2 there),
// then a remainder and a masked tail.
constexpr int64_t kRowLength = 70001;

const std::vector<SpeculationRow>& speculation_rows() {
  static const std::vector<SpeculationRow> rows = {
      // exp(x - reference) would reach e^200 without a rerun, past the
      // exponent range of the softmax exp, which gives garbage there.
      {"jump of 200 in block 40", [](int64_t i) { return i == 41000 ? 200.0f : std::sin(0.01f * i); }},
      {"rising 100 per block", [](int64_t i) { return 0.1f * static_cast<float>(i); }},
      {"rising 0.5 per block", [](int64_t i) { return 0.0005f * static_cast<float>(i); }},
      {"-inf, then finite from 5000", [](int64_t i) { return i < 5000 ? -INFINITY : std::cos(0.003f * i); }},
      {"one lane rising 80 per block",
       [](int64_t i) { return i % 16 == 13 ? 0.08f * static_cast<float>(i) : -50.0f; }},
      {"NaN late", [](int64_t i) { return i == 60000 ? NAN : 0.5f; }},
      {"+inf late", [](int64_t i) { return i == 60000 ? INFINITY : 0.5f; }},
      {"falling", [](int64_t i) { return -0.002f * static_cast<float>(i); }},
  };
  return rows;
}

std::shared_ptr<const Kernel> compile_online(const ir::Pipeline& pipeline, Isa isa, bool speculative) {
  CompileOptions options;
  options.isa = isa;
  options.n_hint = kRowLength;
  options.choices.softmax_form = ir::SoftmaxForm::kTwoPassOnline;
  options.choices.speculative_max = speculative;
  auto kernel = compile(pipeline, options);
  EXPECT_TRUE(kernel.is_ok()) << kernel.status().to_string();
  return kernel.is_ok() ? *kernel : nullptr;
}

TEST(JitOnlineSpeculation, RerunsMatchInterpreter) {
  const std::vector<JitCase> cases = {
      {"softmax", {4e-6, 1e-40}, {}},
      {"log_softmax", {4e-6, 1e-6}, {}},
      {"softmax_temperature", {4e-6, 1e-40}, {{"tau", 0.7}}},
  };
  for (const JitCase& c : cases) {
    ir::Pipeline pipeline = load(c.name);
    for (Isa isa : runnable_isas()) {
      for (bool speculative : {true, false}) {
        auto kernel = compile_online(pipeline, isa, speculative);
        ASSERT_NE(kernel, nullptr);
        ASSERT_TRUE(kernel->compiled() != nullptr) << "the JIT, not the interpreter, must run " << c.name;
        EXPECT_EQ(kernel->plan().speculative_max, speculative);
        for (const SpeculationRow& row : speculation_rows()) {
          RowTensors jit(pipeline, 1, kRowLength, 0, 0);
          RowTensors reference(pipeline, 1, kRowLength, 0, 0);
          for (int64_t i = 0; i < kRowLength; ++i) jit.row("x", 0)[i] = row.value(i);
          copy_inputs(pipeline, jit, reference);
          expect_matches_reference(*kernel, c, jit, reference,
                                   std::string(c.name) + " on " + row.name + ", " + isa_name(isa) +
                                       (speculative ? ", speculative max" : ", max pass per block"));
          if (HasFailure()) return;
        }
      }
    }
  }
}

// A lane that saw only -inf keeps the start value -FLT_MAX as its reference.
// When its first finite logit arrives in a speculative block, the block must
// run again even where the margin test alone would not move the reference:
// with tau = 1e38 the gap (0 + FLT_MAX) / tau is only 3.4. Without the rerun
// the lane's sum stays relative to -FLT_MAX, and rescaling it to the row max
// rounds away the max's 2e31 (about 3% in the outputs).
TEST(JitOnlineSpeculation, StartValueLaneRunsAgain) {
  const JitCase c{"softmax_temperature", {4e-6, 1e-40}, {{"tau", 1e38}}};
  ir::Pipeline pipeline = load(c.name);
  constexpr int64_t n = 4096;
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_online(pipeline, isa, true);
    ASSERT_NE(kernel, nullptr);
    RowTensors jit(pipeline, 1, n, 0, 0);
    RowTensors reference(pipeline, 1, n, 0, 0);
    float* x = jit.row("x", 0);
    for (int64_t i = 0; i < n; ++i) {
      if (i % 16 != 5) {
        x[i] = 2e31f;
      } else if (i < 1024) {
        x[i] = -INFINITY;
      } else {
        x[i] = 0.0f;
      }
    }
    copy_inputs(pipeline, jit, reference);
    expect_matches_reference(*kernel, c, jit, reference, std::string("lane 5 -inf until 1024 on ") + isa_name(isa));
  }
}

}  // namespace
}  // namespace rowjit::testing
