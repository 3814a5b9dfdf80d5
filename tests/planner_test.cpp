// The planner's sweeps, softmax forms and reasons, checked on the example
// pipelines without compiling anything.
#include <gtest/gtest.h>

#include <limits>

#include "ir/parser.h"
#include "ir/planner.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

ir::TargetDesc avx512_target() {
  ir::TargetDesc target;
  target.isa = "avx512";
  target.vector_bits = 512;
  target.vector_registers = 32;
  target.l2_bytes = 1 << 20;
  target.llc_bytes = 32 << 20;
  return target;
}

ir::Plan plan_for(const std::string& example, std::optional<ir::SoftmaxForm> form, int64_t n = 0,
                  ir::TargetDesc target = avx512_target()) {
  auto pipeline = parse_example(example);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  ir::PlanChoices choices;
  choices.softmax_form = form;
  auto plan = ir::make_plan(*pipeline, target, n, choices);
  EXPECT_TRUE(plan.is_ok()) << plan.status().to_string();
  return *plan;
}

ir::Plan plan_with(const std::string& example, int64_t n, const ir::PlanChoices& choices) {
  auto pipeline = parse_example(example);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  auto plan = ir::make_plan(*pipeline, avx512_target(), n, choices);
  EXPECT_TRUE(plan.is_ok()) << plan.status().to_string();
  return *plan;
}

TEST(Planner, FindsSoftmaxCore) {
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  auto core = ir::find_softmax_core(*pipeline);
  ASSERT_TRUE(core.has_value());
  EXPECT_TRUE(core->plain_softmax);
  EXPECT_GE(core->normalize_op, 0);
  EXPECT_EQ(core->scale, ir::kNoValue);
}

TEST(Planner, TemperatureIsNotPlainSoftmax) {
  auto pipeline = parse_example("softmax_temperature");
  ASSERT_TRUE(pipeline.is_ok());
  auto core = ir::find_softmax_core(*pipeline);
  ASSERT_TRUE(core.has_value());
  EXPECT_NE(core->scale, ir::kNoValue);
  EXPECT_TRUE(core->scale_divides);
  EXPECT_FALSE(core->plain_softmax);
}

// The max may skip NaN tracking only where a NaN in the sum reaches every
// output. A comparison with the sum does not carry it. A select carries it
// when both of its values do.
TEST(Planner, MaxNanTrackingFollowsSum) {
  auto core_of = [](const char* text) {
    auto pipeline = ir::parse_pipeline(text);
    EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
    auto core = ir::find_softmax_core(*pipeline);
    EXPECT_TRUE(core.has_value());
    return *core;
  };
  EXPECT_TRUE(core_of(R"(kernel k(x: f32[n]) -> (y: f32[n]) {
  m = max(x)
  e = exp(x - m)
  y = e / sum(e)
})").max_feeds_shift_only);
  EXPECT_FALSE(core_of(kSelectOnSumPipeline).max_feeds_shift_only);
  EXPECT_TRUE(core_of(R"(kernel k(x: f32[n]) -> (y: f32[n], z: f32[n]) {
  m = max(x)
  e = exp(x - m)
  s = sum(e)
  y = e / s
  z = select(x > 0, s, s * 2)
})").max_feeds_shift_only);
}

TEST(Planner, ThreePassRecomputeMovesSixteenBytes) {
  ir::Plan plan = plan_for("softmax", ir::SoftmaxForm::kThreePassRecompute);
  ASSERT_EQ(plan.sweeps.size(), 3u);
  EXPECT_EQ(plan.bytes_per_element, 16);  // x three times, y once
  EXPECT_EQ(plan.sweeps[0].reductions.size(), 1u);
  EXPECT_EQ(plan.sweeps[1].reductions.size(), 1u);
  EXPECT_EQ(plan.sweeps[2].stores.size(), 1u);
}

TEST(Planner, ThreePassReloadSpillsExpIntoOutput) {
  ir::Plan plan = plan_for("softmax", ir::SoftmaxForm::kThreePassReload);
  ASSERT_EQ(plan.sweeps.size(), 3u);
  EXPECT_EQ(plan.sweeps[1].spills.size(), 1u);
  EXPECT_EQ(plan.sweeps[2].reloads.size(), 1u);
  EXPECT_TRUE(plan.sweeps[2].loads.empty());  // x is not read again
  EXPECT_EQ(plan.bytes_per_element, 20);
}

TEST(Planner, TwoPassFormsMoveTwelveBytes) {
  for (auto form : {ir::SoftmaxForm::kTwoPassOnline, ir::SoftmaxForm::kTwoPassExtExp}) {
    ir::Plan plan = plan_for("softmax", form);
    ASSERT_EQ(plan.sweeps.size(), 2u) << ir::softmax_form_name(form);
    EXPECT_EQ(plan.bytes_per_element, 12) << ir::softmax_form_name(form);  // x twice, y once
  }
}

TEST(Planner, OnlineFormFusesSumIntoMaxSweep) {
  ir::Plan plan = plan_for("log_softmax", ir::SoftmaxForm::kTwoPassOnline);
  ASSERT_EQ(plan.sweeps.size(), 2u);
  EXPECT_TRUE(plan.sweeps[0].online_softmax);
  EXPECT_FALSE(plan.sweeps[1].scalar_ops.empty());  // log of the sum, once per row
}

TEST(Planner, ExtExpRejectedForLogSoftmax) {
  auto pipeline = parse_example("log_softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices choices;
  choices.softmax_form = ir::SoftmaxForm::kTwoPassExtExp;
  auto plan = ir::make_plan(*pipeline, avx512_target(), 0, choices);
  ASSERT_FALSE(plan.is_ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("two_pass_extexp"), std::string::npos);
}

TEST(Planner, ExtExpNeedsAvx512) {
  ir::TargetDesc avx2 = avx512_target();
  avx2.isa = "avx2";
  avx2.vector_bits = 256;
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices choices;
  choices.softmax_form = ir::SoftmaxForm::kTwoPassExtExp;
  EXPECT_FALSE(ir::make_plan(*pipeline, avx2, 0, choices).is_ok());
}

TEST(Planner, DefaultsDependOnRowSize) {
  EXPECT_EQ(plan_for("softmax", std::nullopt, 1024).softmax_form, ir::SoftmaxForm::kThreePassReload);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 256 << 10).softmax_form, ir::SoftmaxForm::kThreePassReload);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 4 << 20).softmax_form, ir::SoftmaxForm::kTwoPassOnline);
  EXPECT_EQ(plan_for("log_softmax", std::nullopt, 4 << 20).softmax_form, ir::SoftmaxForm::kTwoPassOnline);
  EXPECT_EQ(plan_for("log_softmax", std::nullopt, 1024).softmax_form, ir::SoftmaxForm::kThreePassRecompute);
}

TEST(Planner, ShortRowsUseOneVectorPerIteration) {
  EXPECT_EQ(plan_for("softmax", std::nullopt, 64).unroll, 1);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 128).unroll, 1);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 129).unroll, 4);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 0).unroll, 4);
}

TEST(Planner, ShortRowsStayInRegisters) {
  EXPECT_EQ(plan_for("softmax", std::nullopt, 64).resident_vectors, 4);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 256).resident_vectors, 16);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 257).resident_vectors, 0);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 0).resident_vectors, 0);
  ir::TargetDesc avx2 = avx512_target();
  avx2.vector_bits = 256;
  avx2.vector_registers = 16;
  EXPECT_EQ(plan_for("softmax", std::nullopt, 64, avx2).resident_vectors, 8);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 65, avx2).resident_vectors, 0);
  // The two-pass forms stream the row and never hold it.
  EXPECT_EQ(plan_for("softmax", ir::SoftmaxForm::kTwoPassOnline, 64).resident_vectors, 0);
}

TEST(Planner, ResidentChoiceIsChecked) {
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices too_many;
  too_many.resident_vectors = ir::kMaxResidentVectors + 1;
  auto rejected = ir::make_plan(*pipeline, avx512_target(), 64, too_many);
  ASSERT_FALSE(rejected.is_ok());
  EXPECT_NE(rejected.status().message().find("resident_vectors 17 is out of range"), std::string::npos);

  ir::PlanChoices two_pass;
  two_pass.softmax_form = ir::SoftmaxForm::kTwoPassOnline;
  two_pass.resident_vectors = 2;
  auto mismatch = ir::make_plan(*pipeline, avx512_target(), 64, two_pass);
  ASSERT_FALSE(mismatch.is_ok());
  EXPECT_NE(mismatch.status().message().find("cannot hold rows in registers"), std::string::npos);
}

TEST(Planner, PrefetchesRowsBeyondTheCache) {
  EXPECT_EQ(plan_for("softmax", std::nullopt, 1 << 25).prefetch_bytes, 16384);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 1 << 14).prefetch_bytes, 16384);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 0).prefetch_bytes, 16384);
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices negative;
  negative.prefetch_bytes = -64;
  auto rejected = ir::make_plan(*pipeline, avx512_target(), 64, negative);
  ASSERT_FALSE(rejected.is_ok());
  EXPECT_NE(rejected.status().message().find("prefetch distance -64 bytes is out of range"), std::string::npos);
}

// Rows in cache prefetch only in the sweeps that compute exp. Rows streamed
// from memory, and pipelines without an exp, prefetch in every sweep that
// reads a row.
TEST(Planner, PrefetchesInExpSweepsOfRowsInCache) {
  auto prefetching = [](const ir::Plan& plan) {
    std::vector<bool> flags;
    for (const ir::Sweep& sweep : plan.sweeps) flags.push_back(sweep.prefetch);
    return flags;
  };
  using Flags = std::vector<bool>;
  EXPECT_EQ(prefetching(plan_for("softmax", ir::SoftmaxForm::kThreePassReload, 4096)), (Flags{false, true, false}));
  EXPECT_EQ(prefetching(plan_for("softmax", ir::SoftmaxForm::kThreePassRecompute, 4096)), (Flags{false, true, true}));
  EXPECT_EQ(prefetching(plan_for("log_softmax", ir::SoftmaxForm::kThreePassRecompute, 4096)),
            (Flags{false, true, false}));
  EXPECT_EQ(prefetching(plan_for("softmax", ir::SoftmaxForm::kTwoPassOnline, 4096)), (Flags{true, true}));
  // Unknown row length: planned as in cache.
  EXPECT_EQ(prefetching(plan_for("softmax", std::nullopt, 0)), (Flags{false, true, false}));
  // 32M elements: every sweep that reads x streams it.
  EXPECT_EQ(prefetching(plan_for("softmax", ir::SoftmaxForm::kThreePassReload, 1 << 25)), (Flags{true, true, false}));
  EXPECT_EQ(prefetching(plan_for("softmax", ir::SoftmaxForm::kThreePassRecompute, 1 << 25)), (Flags{true, true, true}));

  // Resident rows (256 elements: 16 zmm) prefetch in the first prefetching
  // sweep only, and the reason notes it where two sweeps prefetch.
  const std::string once = "(rows held in registers: in the first of them only)";
  ir::Plan resident_recompute = plan_for("softmax", ir::SoftmaxForm::kThreePassRecompute, 256);
  ASSERT_EQ(resident_recompute.resident_vectors, 16);
  EXPECT_NE(ir::print_plan(*parse_example("softmax"), resident_recompute).find(once), std::string::npos);
  ir::Plan resident_reload = plan_for("softmax", ir::SoftmaxForm::kThreePassReload, 256);
  EXPECT_EQ(ir::print_plan(*parse_example("softmax"), resident_reload).find(once), std::string::npos);

  // Blocked exp emits no sweep 0; its exp passes prefetch.
  ir::PlanChoices blocked;
  blocked.blocked_exp = true;
  blocked.softmax_form = ir::SoftmaxForm::kThreePassReload;
  EXPECT_EQ(prefetching(plan_with("softmax", 1 << 25, blocked)), (Flags{false, true, false}));
  // No exp: every sweep that reads a row prefetches, and the reason names no
  // exp sweep.
  ir::Plan stablemax = plan_for("stablemax", std::nullopt, 4096);
  ASSERT_TRUE(stablemax.jit_supported);
  for (const ir::Sweep& sweep : stablemax.sweeps) EXPECT_EQ(sweep.prefetch, !sweep.loads.empty());
  std::string stablemax_text = ir::print_plan(*parse_example("stablemax"), stablemax);
  EXPECT_EQ(stablemax_text.find("in the sweeps that compute exp"), std::string::npos) << stablemax_text;
  // A pipeline on the interpreter prefetches nothing.
  ir::Plan quantize = plan_for("quant_int8_absmax", std::nullopt, 4096);
  ASSERT_FALSE(quantize.jit_supported);
  for (const ir::Sweep& sweep : quantize.sweeps) EXPECT_FALSE(sweep.prefetch);
  EXPECT_TRUE(quantize.prefetched_inputs.empty());
  EXPECT_EQ(ir::print_plan(*parse_example("quant_int8_absmax"), quantize).find("prefetch"), std::string::npos);

  // Four row inputs and three outputs leave one register: only the first
  // input is prefetched, and the plan lists only it.
  auto many = ir::parse_pipeline(
      "kernel many(a: f32[n], b: f32[n], c: f32[n], d: f32[n]) -> (y: f32[n], p: f32[n], q: f32[n]) {\n"
      "  z = a + b + c + d\n  m = max(z)\n  e = exp(z - m)\n  y = e / sum(e)\n  p = a * b\n  q = c * d\n}\n");
  ASSERT_TRUE(many.is_ok()) << many.status().to_string();
  auto many_plan = ir::make_plan(*many, avx512_target(), 4096, {});
  ASSERT_TRUE(many_plan.is_ok()) << many_plan.status().to_string();
  ASSERT_EQ(many_plan->prefetched_inputs.size(), 1u);
  EXPECT_EQ(many->display_name(many_plan->prefetched_inputs[0]), "a");
  std::string many_text = ir::print_plan(*many, *many_plan);
  EXPECT_NE(many_text.find("prefetches: a, 16384 bytes ahead"), std::string::npos) << many_text;
  EXPECT_EQ(many_text.find("prefetches: a, b"), std::string::npos) << many_text;
  EXPECT_NE(many_text.find("prefetches only the first row input:"), std::string::npos) << many_text;

  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices none;
  none.prefetch_bytes = 0;
  auto unprefetched = ir::make_plan(*pipeline, avx512_target(), 4096, none);
  ASSERT_TRUE(unprefetched.is_ok());
  for (const ir::Sweep& sweep : unprefetched->sweeps) EXPECT_FALSE(sweep.prefetch);
  EXPECT_NE(ir::print_plan(*pipeline, *unprefetched).find("sweep 1\n    reads: x\n    writes: -; spills: e\n    per"),
            std::string::npos);
  auto planned = ir::make_plan(*pipeline, avx512_target(), 4096, {});
  ASSERT_TRUE(planned.is_ok());
  EXPECT_NE(ir::print_plan(*pipeline, *planned).find("prefetches: x, 16384 bytes ahead"), std::string::npos);
}

// A pipeline without a row output has no stores to stream. Its plan prints
// that, even when non-temporal stores are forced.
TEST(Planner, PipelineWithoutRowOutputStoresNothing) {
  ir::PlanChoices streaming;
  streaming.nontemporal_stores = true;
  std::string text = ir::print_plan(*parse_example("log_z_loss"), plan_with("log_z_loss", 1000, streaming));
  EXPECT_NE(text.find("  stores: none (the pipeline writes no row)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("non-temporal stores on: forced, but the pipeline writes no row"), std::string::npos) << text;
  EXPECT_EQ(ir::print_plan(*parse_example("softmax"), plan_for("softmax", std::nullopt, 1000)).find("stores: none"),
            std::string::npos);
}

// A logsumexp: the online sweep computes the sum, so no later sweep may
// compute exp(x - m) again for nothing.
TEST(Planner, OnlineFormLeavesNoDeadExp) {
  auto pipeline = ir::parse_pipeline(
      "kernel lse(x: f32[n]) -> (s: f32) {\n  m = max(x)\n  s = sum(exp(x - m))\n}\n");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  ir::PlanChoices online;
  online.softmax_form = ir::SoftmaxForm::kTwoPassOnline;
  auto plan = ir::make_plan(*pipeline, avx512_target(), 1 << 20, online);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  for (const ir::Sweep& sweep : plan->sweeps) {
    if (sweep.online_softmax) continue;
    EXPECT_TRUE(sweep.ops.empty());
    EXPECT_TRUE(sweep.loads.empty());
  }
  EXPECT_EQ(plan->bytes_per_element, 4.0);
}

TEST(Planner, BlockedExpBetweenL2AndLlc) {
  EXPECT_TRUE(plan_for("softmax", std::nullopt, 1 << 18).blocked_exp);
  EXPECT_TRUE(plan_for("softmax", std::nullopt, 1 << 18).speculative_max);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 1 << 18).bytes_per_element, 16.0);
  EXPECT_TRUE(plan_for("softmax", std::nullopt, 1 << 20).blocked_exp);
  EXPECT_FALSE(plan_for("softmax", std::nullopt, 1 << 22).blocked_exp);
  // Log-softmax takes the max and sum by blocks, writes d = x - block max
  // into y and reloads it in its last sweep: (4 + 4) + (4 + 4) bytes.
  ir::Plan log_plan = plan_for("log_softmax", std::nullopt, 1 << 18);
  EXPECT_TRUE(log_plan.blocked_exp);
  EXPECT_EQ(log_plan.bytes_per_element, 16.0);
  ASSERT_EQ(log_plan.sweeps.size(), 3u);
  EXPECT_EQ(log_plan.sweeps[1].spills.size(), 1u);
  EXPECT_TRUE(log_plan.sweeps[2].loads.empty());
  EXPECT_EQ(log_plan.sweeps[2].reloads.size(), 1u);
}

// Rows in L2 of more than kBlockedMinElements take blocked exp for its
// speculative max; shorter rows keep the plain loops.
TEST(Planner, SpeculativeMaxInL2AboveThreshold) {
  const int64_t threshold = ir::kBlockedMinElements;
  for (const char* name : {"softmax", "log_softmax"}) {
    EXPECT_FALSE(plan_for(name, std::nullopt, threshold).blocked_exp) << name;
    EXPECT_FALSE(plan_for(name, std::nullopt, threshold).speculative_max) << name;
    ir::Plan longer = plan_for(name, std::nullopt, threshold + 1);
    EXPECT_TRUE(longer.blocked_exp) << name;
    EXPECT_TRUE(longer.speculative_max) << name;
    bool named = false;
    for (const std::string& reason : longer.reasons) named = named || reason.find("speculative max") == 0;
    EXPECT_TRUE(named) << name;
  }
}

TEST(Planner, SpeculativeMaxForcedOffOrRejected) {
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices off;
  off.speculative_max = false;
  auto plain_blocks = ir::make_plan(*pipeline, avx512_target(), 1 << 18, off);
  ASSERT_TRUE(plain_blocks.is_ok()) << plain_blocks.status().to_string();
  EXPECT_TRUE(plain_blocks->blocked_exp);
  EXPECT_FALSE(plain_blocks->speculative_max);

  ir::PlanChoices on;
  on.speculative_max = true;
  on.blocked_exp = false;
  auto rejected = ir::make_plan(*pipeline, avx512_target(), 1 << 18, on);
  ASSERT_FALSE(rejected.is_ok());
  EXPECT_NE(rejected.status().message().find("force one of those too"), std::string::npos);
}

// The online sweep of two_pass_online speculates by default, unless running a
// block again would repeat another reduction of that sweep.
TEST(Planner, OnlineSweepSpeculatesAlone) {
  ir::Plan streamed = plan_for("softmax", std::nullopt, 32 << 20);
  ASSERT_EQ(streamed.softmax_form, ir::SoftmaxForm::kTwoPassOnline);
  EXPECT_TRUE(streamed.speculative_max);

  auto pipeline = ir::parse_pipeline(R"(
kernel softmax_and_total(x: f32[n]) -> (y: f32[n], total: f32) {
  m = max(x)
  e = exp(x - m)
  s = sum(e)
  y = e / s
  total = sum(x) / s
}
)");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  ir::PlanChoices online;
  online.softmax_form = ir::SoftmaxForm::kTwoPassOnline;
  auto with_total = ir::make_plan(*pipeline, avx512_target(), 32 << 20, online);
  ASSERT_TRUE(with_total.is_ok()) << with_total.status().to_string();
  EXPECT_FALSE(with_total->speculative_max);

  online.speculative_max = true;
  auto rejected = ir::make_plan(*pipeline, avx512_target(), 32 << 20, online);
  ASSERT_FALSE(rejected.is_ok());
  EXPECT_NE(rejected.status().message().find("two_pass_online whose first sweep"), std::string::npos);
}

// A pipeline that runs on the interpreter takes no speculative max, nor its
// reason in the plan.
TEST(Planner, InterpreterPlanDoesNotSpeculate) {
  ir::PlanChoices online;
  online.softmax_form = ir::SoftmaxForm::kTwoPassOnline;
  auto pipeline = parse_example("cross_entropy");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  auto plan = ir::make_plan(*pipeline, avx512_target(), 4 << 20, online);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  ASSERT_FALSE(plan->jit_supported);
  EXPECT_FALSE(plan->speculative_max);
  for (const std::string& reason : plan->reasons) EXPECT_EQ(reason.find("speculative max"), std::string::npos) << reason;
}

// Exp groups (Plan::exp_group): all four lanes on AVX-512, two on AVX2,
// none for rows streamed from memory, where they measured slower.
TEST(Planner, ExpGroupsByIsaAndRowLength) {
  ir::TargetDesc avx2 = avx512_target();
  avx2.isa = "avx2";
  avx2.vector_bits = 256;
  avx2.vector_registers = 16;
  EXPECT_EQ(plan_for("softmax", std::nullopt, 16384).exp_group, 4);
  EXPECT_EQ(plan_for("softmax", std::nullopt, 16384, avx2).exp_group, 2);
  ir::Plan streamed = plan_for("softmax", std::nullopt, 32 << 20);
  EXPECT_EQ(streamed.exp_group, 1);
  bool named = false;
  for (const std::string& reason : streamed.reasons) named = named || reason.find("exps one vector at a time") == 0;
  EXPECT_TRUE(named);

  // A CPU that splits zmm operations in two (Zen 4) takes no groups of zmm
  // vectors and gives a reason. Its AVX2 plans keep their groups.
  ir::TargetDesc split = avx512_target();
  split.split_zmm = true;
  ir::Plan halves = plan_for("softmax", std::nullopt, 16384, split);
  EXPECT_EQ(halves.exp_group, 1);
  bool said = false;
  for (const std::string& reason : halves.reasons) said = said || reason.find("two halves") != std::string::npos;
  EXPECT_TRUE(said);
  avx2.split_zmm = true;
  EXPECT_EQ(plan_for("softmax", std::nullopt, 16384, avx2).exp_group, 2);
}

TEST(Planner, ExpGroupForcedWithinUnroll) {
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices choices;
  choices.exp_group = 2;
  auto forced = ir::make_plan(*pipeline, avx512_target(), 16384, choices);
  ASSERT_TRUE(forced.is_ok()) << forced.status().to_string();
  EXPECT_EQ(forced->exp_group, 2);
  for (int bad : {0, 3, 5}) {
    choices.exp_group = bad;
    auto rejected = ir::make_plan(*pipeline, avx512_target(), 16384, choices);
    ASSERT_FALSE(rejected.is_ok()) << bad;
    EXPECT_EQ(rejected.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(rejected.status().message().find("does not fit unroll 4"), std::string::npos)
        << rejected.status().message();
    EXPECT_NE(rejected.status().message().find("use 1, 2 or 4"), std::string::npos) << rejected.status().message();
  }
}

// The default group is the widest divisor of the unroll up to kMaxExpGroup
// lanes, and none where there is no exp of a value <= 0 to group.
TEST(Planner, ExpGroupDefaultDividesUnroll) {
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices choices;
  const std::pair<int, int> unroll_to_group[] = {{1, 1}, {2, 2}, {3, 3}, {6, 6}, {7, 1}, {8, 4}};
  for (const auto& [unroll, group] : unroll_to_group) {
    choices.unroll = unroll;
    auto plan = ir::make_plan(*pipeline, avx512_target(), 16384, choices);
    ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
    EXPECT_EQ(plan->exp_group, group) << "unroll " << unroll;
  }
  EXPECT_EQ(plan_for("softmax", ir::SoftmaxForm::kTwoPassExtExp, 16384).exp_group, 1);
  EXPECT_EQ(plan_for("stablemax", std::nullopt, 16384).exp_group, 1);
}

// A forced group needs a softmax exp to group; a group of 1 always applies.
TEST(Planner, ExpGroupRejectedWithoutExpToGroup) {
  for (const auto& [example, form] : {std::pair<const char*, std::optional<ir::SoftmaxForm>>{
                                          "softmax", ir::SoftmaxForm::kTwoPassExtExp},
                                      {"stablemax", std::nullopt}}) {
    auto pipeline = parse_example(example);
    ASSERT_TRUE(pipeline.is_ok());
    ir::PlanChoices choices;
    choices.softmax_form = form;
    choices.exp_group = 2;
    auto rejected = ir::make_plan(*pipeline, avx512_target(), 16384, choices);
    ASSERT_FALSE(rejected.is_ok()) << example;
    EXPECT_NE(rejected.status().message().find("exp group 2 does not apply"), std::string::npos)
        << rejected.status().message();
    choices.exp_group = 1;
    EXPECT_TRUE(ir::make_plan(*pipeline, avx512_target(), 16384, choices).is_ok()) << example;
  }
}

// A max that is an output must be the row's max in every sweep, so it cannot
// be taken per block.
TEST(Planner, BlockedSumNeedsPrivateMax) {
  auto pipeline = ir::parse_pipeline(
      "kernel lsm(x: f32[n]) -> (y: f32[n], m: f32) {\n  m = max(x)\n  d = x - m\n"
      "  y = d - log(sum(exp(d)))\n}\n");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  auto plan = ir::make_plan(*pipeline, avx512_target(), 1 << 18);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_EQ(plan->softmax_form, ir::SoftmaxForm::kThreePassRecompute);
  EXPECT_FALSE(plan->blocked_exp);
}

// One smallest block ahead: 64 iterations of 4 zmm vectors.
TEST(Planner, BlockedExpPrefetchesOneBlock) {
  EXPECT_EQ(plan_for("softmax", std::nullopt, 1 << 18).prefetch_bytes, 64 * 4 * 64);
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices none;
  none.prefetch_bytes = 0;
  auto forced = ir::make_plan(*pipeline, avx512_target(), 1 << 18, none);
  ASSERT_TRUE(forced.is_ok()) << forced.status().to_string();
  EXPECT_TRUE(forced->blocked_exp);
  EXPECT_EQ(forced->prefetch_bytes, 0);
}

TEST(Planner, RowLengthHintIsChecked) {
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  for (int64_t hint : {int64_t{-1}, std::numeric_limits<int64_t>::max()}) {
    auto plan = ir::make_plan(*pipeline, avx512_target(), hint);
    ASSERT_FALSE(plan.is_ok()) << hint;
    EXPECT_NE(plan.status().message().find("n_hint " + std::to_string(hint) + " is out of range"), std::string::npos);
  }
}

TEST(Planner, UnsupportedOpNamesIt) {
  ir::Plan plan = plan_for("moe_topk_softmax", std::nullopt);
  EXPECT_FALSE(plan.jit_supported);
  EXPECT_NE(plan.unsupported_reason.find("'topk'"), std::string::npos) << plan.unsupported_reason;
}

TEST(Planner, NoTargetMeansInterpreter) {
  ir::TargetDesc none;
  ir::Plan plan = plan_for("softmax", std::nullopt, 0, none);
  EXPECT_FALSE(plan.jit_supported);
  EXPECT_NE(plan.unsupported_reason.find("ROWJIT_MAX_ISA"), std::string::npos);
}

TEST(Planner, ForcingFormWithoutCoreFails) {
  auto pipeline = parse_example("stablemax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices choices;
  choices.softmax_form = ir::SoftmaxForm::kTwoPassOnline;
  auto plan = ir::make_plan(*pipeline, avx512_target(), 0, choices);
  ASSERT_FALSE(plan.is_ok());
  EXPECT_NE(plan.status().message().find("no max / exp / sum core"), std::string::npos);
}

TEST(Planner, PrintedPlanNamesSweepsAndReasons) {
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  auto plan = ir::make_plan(*pipeline, avx512_target(), 8 << 20);
  ASSERT_TRUE(plan.is_ok());
  std::string text = ir::print_plan(*pipeline, *plan);
  EXPECT_NE(text.find("sweep 0"), std::string::npos) << text;
  EXPECT_NE(text.find("12 bytes per element"), std::string::npos) << text;
  EXPECT_NE(text.find("exceed half the last-level cache"), std::string::npos) << text;
}

// Rows in cache keep regular stores but let the kernel stream them in calls
// whose row tensors together exceed half the last-level cache. Rows that
// exceed it alone always stream, and a forced choice turns the switch off.
TEST(Planner, StreamsLargeCalls) {
  ir::Plan cached = plan_for("log_softmax", std::nullopt, 4096);
  EXPECT_FALSE(cached.nontemporal_stores);
  EXPECT_EQ(cached.nontemporal_call_bytes, (32 << 20) / 2 / 2);  // x and y
  bool named = false;
  for (const std::string& reason : cached.reasons) named = named || reason.find("non-temporal stores in calls") == 0;
  EXPECT_TRUE(named);

  // No bound where no sweep could stream: the scale sweep of three_pass_reload
  // rewrites what the exp sweep wrote, and blocked exp keeps its rows in cache.
  EXPECT_EQ(plan_for("softmax", ir::SoftmaxForm::kThreePassReload, 4096).nontemporal_call_bytes, 0);
  ir::Plan blocked = plan_for("log_softmax", std::nullopt, 16384);
  ASSERT_TRUE(blocked.blocked_exp);
  EXPECT_EQ(blocked.nontemporal_call_bytes, 0);

  ir::Plan large = plan_for("log_softmax", std::nullopt, 8 << 20);
  EXPECT_TRUE(large.nontemporal_stores);
  EXPECT_EQ(large.nontemporal_call_bytes, 0);

  auto pipeline = parse_example("log_softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices regular;
  regular.nontemporal_stores = false;
  auto forced = ir::make_plan(*pipeline, avx512_target(), 4096, regular);
  ASSERT_TRUE(forced.is_ok());
  EXPECT_FALSE(forced->nontemporal_stores);
  EXPECT_EQ(forced->nontemporal_call_bytes, 0);
}

// Blocked exp has no streaming copy: forced non-temporal stores turn off its
// default, and forcing both is rejected.
TEST(Planner, ForcedStreamingTurnsOffBlockedExp) {
  auto pipeline = parse_example("log_softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices streaming;
  streaming.nontemporal_stores = true;
  auto plan = ir::make_plan(*pipeline, avx512_target(), 16384, streaming);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_TRUE(plan->nontemporal_stores);
  EXPECT_FALSE(plan->blocked_exp);

  streaming.blocked_exp = true;
  auto both = ir::make_plan(*pipeline, avx512_target(), 16384, streaming);
  ASSERT_FALSE(both.is_ok());
  EXPECT_EQ(both.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(both.status().message().find("force one of them off"), std::string::npos) << both.status().message();
}

}  // namespace
}  // namespace rowjit::testing
