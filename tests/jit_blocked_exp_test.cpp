// The blocked-exp schedule (Plan::blocked_exp), forced on, with and without
// the speculative max, against the interpreter on both ISAs: softmax under
// three_pass_reload, whose last sweep scales blocks, and log-softmax under
// three_pass_recompute, whose last sweep shifts them. The cases are rows within one block (every tail), rows of
// many blocks with a partial last block, special values, in place, and a row
// longer than kMaxExpBlocks of the smallest blocks, which takes larger blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <random>

#include "jit/disassembler.h"
#include "tests/jit_pipeline_cases.h"

namespace rowjit::testing {
namespace {

// A pipeline that takes blocked exp, the form it takes it under, and whether
// the blocks after the first take a speculative max (Plan::speculative_max).
struct BlockedCase {
  const JitCase* pipeline_case;
  ir::SoftmaxForm form;
  bool speculative;
};

std::string blocked_case_text(const BlockedCase& blocked_case) {
  return std::string(blocked_case.pipeline_case->name) + (blocked_case.speculative ? "_speculative" : "_max_pass");
}

std::string blocked_case_name(const ::testing::TestParamInfo<BlockedCase>& info) {
  return blocked_case_text(info.param);
}

void PrintTo(const BlockedCase& blocked_case, std::ostream* out) { *out << blocked_case_text(blocked_case); }

class BlockedExp : public ::testing::TestWithParam<BlockedCase> {
 protected:
  const JitCase& jit_case() const { return *GetParam().pipeline_case; }
  ir::Pipeline pipeline() const { return load(jit_case().name); }

  std::shared_ptr<const Kernel> compile_blocked(const ir::Pipeline& pipeline, Isa isa) const {
    CompileOptions options;
    options.isa = isa;
    options.choices.softmax_form = GetParam().form;
    options.choices.blocked_exp = true;
    options.choices.speculative_max = GetParam().speculative;
    auto kernel = compile(pipeline, options);
    EXPECT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    if (!kernel) return nullptr;
    EXPECT_TRUE((*kernel)->plan().blocked_exp);
    EXPECT_EQ((*kernel)->plan().speculative_max, GetParam().speculative);
    // The log-softmax writes x - block max into y and reloads it last.
    if (GetParam().form == ir::SoftmaxForm::kThreePassRecompute) {
      EXPECT_FALSE((*kernel)->plan().sweeps.back().reloads.empty());
    }
    std::string listing = jit::format_listing(*(*kernel)->compiled(), {});
    EXPECT_NE(listing.find("max and exp by blocks"), std::string::npos);
    EXPECT_EQ(listing.find("speculative max") != std::string::npos, GetParam().speculative);
    return *kernel;
  }

  // Runs the blocked kernel on two rows of each pattern at each length, on
  // both ISAs, against the interpreter.
  void expect_patterns_match(const std::vector<std::function<float(int64_t, int64_t)>>& patterns,
                             std::initializer_list<int64_t> lengths, const std::string& what) {
    ir::Pipeline pipeline = this->pipeline();
    for (Isa isa : runnable_isas()) {
      auto kernel = compile_blocked(pipeline, isa);
      ASSERT_NE(kernel, nullptr);
      for (int64_t n : lengths) {
        for (size_t k = 0; k < patterns.size(); ++k) {
          RowTensors jit(pipeline, 2, n, 0, 0);
          RowTensors reference(pipeline, 2, n, 0, 0);
          fill_pattern(pipeline, patterns[k], jit, reference);
          expect_matches_reference(*kernel, jit_case(), jit, reference,
                                   std::string("blocked exp on ") + isa_name(isa) + ", n = " + std::to_string(n) +
                                       ", " + what + " " + std::to_string(k));
          if (HasFailure()) return;
        }
      }
    }
  }

  // Runs `kernel` with y in x's buffer and compares x afterwards with the y
  // of the interpreter's run on `reference`.
  void expect_in_place_matches(const Kernel& kernel, RowTensors& jit, RowTensors& reference,
                               const std::string& where) {
    jit.alias("y", "x");
    ASSERT_TRUE(kernel.run(jit.args()).is_ok()) << where;
    ASSERT_TRUE(ir::interpret(pipeline(), reference.args()).is_ok()) << where;
    const Tolerance& bound = jit_case().tolerance;
    for (int64_t r = 0; r < jit.rows(); ++r) {
      for (int64_t i = 0; i < jit.n(); ++i) {
        float want = reference.row("y", r)[i];
        float got = jit.row("x", r)[i];
        if (std::isnan(want)) {
          ASSERT_TRUE(std::isnan(got)) << where << ", row " << r << ", i = " << i;
          continue;
        }
        if (got == want) continue;  // also -inf, which ASSERT_NEAR cannot compare
        ASSERT_NEAR(got, want, bound.relative * std::fabs(want) + bound.absolute)
            << where << ", row " << r << ", i = " << i;
      }
    }
  }
};

TEST_P(BlockedExp, MatchesInterpreterOnEveryLength) {
  ir::Pipeline pipeline = this->pipeline();
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
      expect_matches_reference(*kernel, jit_case(), jit, reference,
                               std::string("blocked exp on ") + isa_name(isa) + ", n = " + std::to_string(n));
      std::string unused;
      compare_outputs(pipeline, jit, jit, jit_case().tolerance, unused, &nonzero);
      if (HasFailure()) return;
    }
    EXPECT_GT(nonzero, 0);
  }
}

// Logits whose block maxima differ by far more than exp's range: blocks with
// a small max contribute nothing, and must not turn into NaN.
TEST_P(BlockedExp, BlocksWithDistantMaxima) {
  ir::Pipeline pipeline = this->pipeline();
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
    expect_matches_reference(*kernel, jit_case(), jit, reference,
                             std::string("blocked exp, distant maxima, on ") + isa_name(isa));
  }
}

TEST_P(BlockedExp, MatchesInterpreterOnSpecialValues) {
  expect_patterns_match(special_patterns(), {1, 17, 100, 1500, 5000}, "special pattern");
}

TEST_P(BlockedExp, RunsInPlace) {
  ir::Pipeline pipeline = this->pipeline();
  std::mt19937 rng(5);
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_blocked(pipeline, isa);
    ASSERT_NE(kernel, nullptr);
    for (int64_t n : {37, 3000}) {
      RowTensors jit(pipeline, 2, n, 0, 0);
      RowTensors reference(pipeline, 2, n, 0, 0);
      fill_random(pipeline, jit, rng);
      copy_inputs(pipeline, jit, reference);
      expect_in_place_matches(*kernel, jit, reference, std::string(isa_name(isa)) + ", n = " + std::to_string(n));
    }
  }
}

// More of the smallest blocks than the frame holds: the blocks grow.
TEST_P(BlockedExp, LongRowsTakeLargerBlocks) {
  ir::Pipeline pipeline = this->pipeline();
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
    expect_matches_reference(*kernel, jit_case(), jit, reference,
                             std::string("blocked exp with larger blocks on ") + isa_name(isa));
  }
}

// Rows whose later blocks exceed the reference they take. A spike, +inf or
// NaN in a late block, or a first block of -inf, sets a new reference there.
// A row that rises by more than the margin per block makes every block run
// again. One pattern rises by exactly the margin, which runs no block again.
// Rows whose max is far below 0 catch a block that runs again from the
// accumulators of its first run, whose upper lanes the horizontal max left at
// 0. Such a block took 0 as its max and its exps underflowed: inf or NaN
// outputs below a max of -87, a few ulp off above.
std::vector<std::function<float(int64_t, int64_t)>> late_block_patterns() {
  const float inf = INFINITY;
  const float margin = ir::kSpeculationMargin;
  return {
      [](int64_t i, int64_t) { return 0.01f * static_cast<float>(i); },
      [](int64_t i, int64_t) { return -0.01f * static_cast<float>(i); },
      [](int64_t i, int64_t n) { return i == n - 3 ? 50.0f : static_cast<float>(i % 5); },
      [=](int64_t i, int64_t n) { return i == n - 3 ? inf : static_cast<float>(i % 5); },
      [](int64_t i, int64_t n) { return i == n - 3 ? NAN : static_cast<float>(i % 5); },
      [=](int64_t i, int64_t) { return i < 5000 ? -inf : static_cast<float>(i % 11); },
      [=](int64_t i, int64_t) { return i < 5000 ? 0.0f : margin; },
      [=](int64_t i, int64_t) { return i < 5000 ? 0.0f : margin + 0.5f; },
      [](int64_t i, int64_t) { return i % 4096 == 4095 ? 1e30f : -1e30f; },
      [](int64_t i, int64_t) { return i >= 3000 ? 50.0f + 0.01f * static_cast<float>(i % 11) : 0.0f; },
      [](int64_t i, int64_t n) { return i == n - 1 ? -91.0f : -100.0f; },
      [](int64_t i, int64_t) { return i < 5000 ? -1000.0f : -990.0f + 0.01f * static_cast<float>(i % 7); },
      [](int64_t i, int64_t n) { return i == n / 2 ? -20.0f : -30.0f; },
  };
}

TEST_P(BlockedExp, LateBlocksAboveTheReference) {
  expect_patterns_match(late_block_patterns(), {9000, 20001}, "late-block pattern");
}

// The same rows computed in place: a block that ran again would read the y it
// wrote over x, so these rows must take the max pass in every block.
TEST_P(BlockedExp, LateBlocksInPlace) {
  ir::Pipeline pipeline = this->pipeline();
  const auto patterns = late_block_patterns();
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_blocked(pipeline, isa);
    ASSERT_NE(kernel, nullptr);
    for (size_t k = 0; k < patterns.size(); ++k) {
      RowTensors jit(pipeline, 2, 20001, 0, 0);
      RowTensors reference(pipeline, 2, 20001, 0, 0);
      fill_pattern(pipeline, patterns[k], jit, reference);
      expect_in_place_matches(*kernel, jit, reference,
                              std::string(isa_name(isa)) + ", late-block pattern " + std::to_string(k));
      if (HasFailure()) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Forms, BlockedExp,
                         ::testing::Values(BlockedCase{&kCases[0], ir::SoftmaxForm::kThreePassReload, true},
                                           BlockedCase{&kCases[0], ir::SoftmaxForm::kThreePassReload, false},
                                           BlockedCase{&kCases[1], ir::SoftmaxForm::kThreePassRecompute, true},
                                           BlockedCase{&kCases[1], ir::SoftmaxForm::kThreePassRecompute, false}),
                         blocked_case_name);

// A logsumexp under blocked exp: its output m + log(S) is NaN on a row of
// -inf in the reference, where the block maxima alone would give -inf.
TEST(BlockedExpChoice, LogSumExpMatchesOnSpecialValues) {
  const JitCase* loss = nullptr;
  for (const JitCase& c : kCases) {
    if (std::string(c.name) == "log_z_loss") loss = &c;
  }
  ASSERT_NE(loss, nullptr);
  ir::Pipeline pipeline = load(loss->name);
  const auto patterns = special_patterns();
  for (Isa isa : runnable_isas()) {
    CompileOptions options;
    options.isa = isa;
    options.choices.blocked_exp = true;
    auto kernel = compile(pipeline, options);
    ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    ASSERT_TRUE((*kernel)->plan().blocked_exp);
    for (int64_t n : {1, 17, 1500, 5000}) {
      for (size_t k = 0; k < patterns.size(); ++k) {
        RowTensors jit(pipeline, 2, n, 0, 0);
        RowTensors reference(pipeline, 2, n, 0, 0);
        fill_pattern(pipeline, patterns[k], jit, reference);
        expect_matches_reference(**kernel, *loss, jit, reference,
                                 std::string("blocked logsumexp on ") + isa_name(isa) + ", n = " + std::to_string(n) +
                                     ", special pattern " + std::to_string(k));
        if (HasFailure()) return;
      }
    }
  }
}

TEST(BlockedExpChoice, RejectedWhereItDoesNotApply) {
  ir::Pipeline log_softmax = load("log_softmax");
  CompileOptions online;
  online.choices.softmax_form = ir::SoftmaxForm::kTwoPassOnline;
  online.choices.blocked_exp = true;
  auto kernel = compile(log_softmax, online);
  ASSERT_FALSE(kernel.is_ok());
  EXPECT_NE(kernel.status().message().find("cannot force blocked exp"), std::string::npos);

  // The temperature scales x - max before exp.
  ir::Pipeline temperature = load("softmax_temperature");
  CompileOptions blocked;
  blocked.choices.blocked_exp = true;
  auto scaled = compile(temperature, blocked);
  ASSERT_FALSE(scaled.is_ok());
  EXPECT_NE(scaled.status().message().find("cannot force blocked exp"), std::string::npos);
}

// A softmax whose first sweep also computes another output: blocked exp would
// replace that sweep by its max passes and lose the output, so the planner
// keeps the plain loops, and forcing blocked exp is rejected.
TEST(BlockedExpChoice, KeepsOtherOutputsOfTheSweeps) {
  auto pipeline = ir::parse_pipeline(
      "kernel k(x: f32[n]) -> (y: f32[n], w: f32[n]) {\n  m = max(x)\n  e = exp(x - m)\n"
      "  y = e / sum(e)\n  w = x * 2\n}\n");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  const JitCase extra_output{"k", {4e-6, 1e-40}, {}};
  for (Isa isa : runnable_isas()) {
    CompileOptions options;
    options.isa = isa;
    options.n_hint = 100000;
    auto kernel = compile(*pipeline, options);
    ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    EXPECT_FALSE((*kernel)->plan().blocked_exp) << isa_name(isa);
    ASSERT_TRUE((*kernel)->uses_jit());
    for (int64_t n : {int64_t{300}, int64_t{100000}}) {
      RowTensors jit(*pipeline, 2, n, 0, 0);
      RowTensors reference(*pipeline, 2, n, 0, 0);
      std::mt19937 rng(7);
      fill_random(*pipeline, jit, rng);
      copy_inputs(*pipeline, jit, reference);
      expect_matches_reference(**kernel, extra_output, jit, reference,
                               std::string("softmax with another output on ") + isa_name(isa) +
                                   ", n = " + std::to_string(n));
    }

    options.choices.blocked_exp = true;
    auto forced = compile(*pipeline, options);
    ASSERT_FALSE(forced.is_ok()) << isa_name(isa);
    EXPECT_NE(forced.status().message().find("no other op in the sweeps of the softmax"), std::string::npos)
        << forced.status().message();
  }
}

// Log-softmax and softmax pipelines with per-row outputs, on rising rows, where
// the speculative max trails the row's max. A log(sum) output takes blocked
// exp, whose sum must then be relative to the row's max, not to the last
// block's reference. A reduction in the last sweep would see each block's
// values before they are corrected, so such pipelines keep the plain loops,
// and forcing blocked exp is rejected.
TEST(BlockedExpChoice, PerRowOutputsOnRisingRows) {
  struct Case {
    const char* text;
    std::optional<ir::SoftmaxForm> form;
    bool blocked;
  };
  const Case cases[] = {
      {"kernel lse(x: f32[n]) -> (y: f32[n], l: f32) {\n  m = max(x)\n  d = x - m\n"
       "  l = log(sum(exp(d)))\n  y = d - l\n}\n",
       std::nullopt, true},
      {"kernel lo(x: f32[n]) -> (y: f32[n], lo: f32) {\n  m = max(x)\n  d = x - m\n"
       "  l = log(sum(exp(d)))\n  y = d - l\n  lo = min(y)\n}\n",
       std::nullopt, false},
      {"kernel total(x: f32[n]) -> (y: f32[n], a: f32) {\n  m = max(x)\n  e = exp(x - m)\n"
       "  y = e / sum(e)\n  a = sum(y)\n}\n",
       ir::SoftmaxForm::kThreePassRecompute, false},
  };
  for (const Case& c : cases) {
    auto pipeline = ir::parse_pipeline(c.text);
    ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
    const JitCase tolerance{"k", {4e-6, 1e-6}, {}};
    for (Isa isa : runnable_isas()) {
      CompileOptions options;
      options.isa = isa;
      options.n_hint = 100000;
      options.choices.softmax_form = c.form;
      auto kernel = compile(*pipeline, options);
      ASSERT_TRUE(kernel.is_ok()) << pipeline->name << ": " << kernel.status().to_string();
      EXPECT_EQ((*kernel)->plan().blocked_exp, c.blocked) << pipeline->name;
      RowTensors jit(*pipeline, 2, 100000, 0, 0);
      RowTensors reference(*pipeline, 2, 100000, 0, 0);
      fill_pattern(*pipeline, [](int64_t i, int64_t n) { return 40.0f * static_cast<float>(i) / static_cast<float>(n); },
                   jit, reference);
      expect_matches_reference(**kernel, tolerance, jit, reference,
                               pipeline->name + " on " + isa_name(isa) + ", a rising row");

      if (c.blocked) continue;
      options.choices.blocked_exp = true;
      auto forced = compile(*pipeline, options);
      EXPECT_FALSE(forced.is_ok()) << pipeline->name << " on " << isa_name(isa);
    }
  }
}

// Per-row outputs of rows of -inf and of empty rows, under blocked exp: the
// interpreter gives m = -inf and s = NaN for a row of -inf (its x - max is
// NaN), and the identities m = -inf, s = 0 for an empty row, so l = log(s)
// and m + log(s) follow from those.
TEST(BlockedExpChoice, PerRowOutputsOfEmptyAndInfiniteRows) {
  auto lse = ir::parse_pipeline(
      "kernel lse(x: f32[n]) -> (y: f32[n], l: f32) {\n  m = max(x)\n  d = x - m\n"
      "  l = log(sum(exp(d)))\n  y = d - l\n}\n");
  ASSERT_TRUE(lse.is_ok()) << lse.status().to_string();
  const JitCase tolerance{"k", {4e-6, 1e-6}, {}};
  for (const ir::Pipeline& pipeline : {*lse, load("log_z_loss")}) {
    for (Isa isa : runnable_isas()) {
      CompileOptions options;
      options.isa = isa;
      options.n_hint = 16384;
      options.choices.blocked_exp = true;
      auto kernel = compile(pipeline, options);
      ASSERT_TRUE(kernel.is_ok()) << pipeline.name << ": " << kernel.status().to_string();
      for (int64_t n : {int64_t{0}, int64_t{7}, int64_t{16384}}) {
        RowTensors jit(pipeline, 2, n, 0, 0);
        RowTensors reference(pipeline, 2, n, 0, 0);
        fill_pattern(pipeline, [](int64_t, int64_t) { return -INFINITY; }, jit, reference);
        expect_matches_reference(**kernel, tolerance, jit, reference,
                                 pipeline.name + " on " + isa_name(isa) + ", rows of -inf, n = " + std::to_string(n));
      }
    }
  }
}

// Pipelines that keep the plain loops. One uses the max outside a softmax
// (a NaN in the max must reach it), one has a per-row op that blocked exp
// would skip, and one divides by another per-row scalar, which needs the copy
// of the loops that divides.
TEST(BlockedExpChoice, KeepsOtherUsesOfMaxAndSum) {
  const char* const texts[] = {
      "kernel k(x: f32[n], param w: f32 = 1.5) -> (y: f32[n], k: f32) {\n  m = max(x)\n  e = exp(x - m)\n"
      "  y = e / sum(e)\n  k = w * 2\n}\n",
      "kernel q(x: f32[n]) -> (y: f32[n], q: f32) {\n  m = max(x)\n  d = x - m\n  l = log(sum(exp(d)))\n"
      "  y = d - l\n  q = select(l < inf, m, m)\n}\n",
      "kernel z(x: f32[n]) -> (y: f32[n], z: f32[n]) {\n  m = max(x)\n  d = x - m\n  l = log(sum(exp(d)))\n"
      "  y = d - l\n  z = x / (l * 0 + m)\n}\n",
  };
  for (const char* text : texts) {
    auto pipeline = ir::parse_pipeline(text);
    ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
    CompileOptions options;
    options.n_hint = 100000;
    auto kernel = compile(*pipeline, options);
    ASSERT_TRUE(kernel.is_ok()) << pipeline->name << ": " << kernel.status().to_string();
    EXPECT_FALSE((*kernel)->plan().blocked_exp) << pipeline->name;
    options.choices.blocked_exp = true;
    auto forced = compile(*pipeline, options);
    EXPECT_FALSE(forced.is_ok()) << pipeline->name;
  }
}

}  // namespace
}  // namespace rowjit::testing
