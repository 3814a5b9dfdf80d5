// Exp groups (Plan::exp_group): the lanes of a main-loop step emit their
// softmax exps side by side. Each lane still computes the same instructions
// on the same registers' values, so a grouped kernel must give the same bits
// as the kernel with exp_group = 1, for every form, on both ISAs, on every
// tail and on the special values; the other JIT tests compare the grouped
// default with the interpreter.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "jit/disassembler.h"
#include "tests/jit_pipeline_cases.h"

namespace rowjit::testing {
namespace {

// Pipelines whose softmax core has the exp of a value <= 0, the one that
// groups emit together.
const char* const kGroupedPipelines[] = {"softmax", "log_softmax", "softmax_temperature"};

// A forced plan: a form (or the planner's), and blocked exp on or off.
struct GroupPlan {
  std::optional<ir::SoftmaxForm> form;
  std::optional<bool> blocked;
  std::optional<bool> speculative;
};

std::string describe(const GroupPlan& plan) {
  std::string text = form_name(plan.form);
  if (plan.blocked && *plan.blocked) text += plan.speculative && *plan.speculative ? ", blocked, speculative" : ", blocked";
  return text;
}

std::vector<GroupPlan> group_plans() {
  std::vector<GroupPlan> plans;
  for (const auto& form : kForms) plans.push_back({form, std::nullopt, std::nullopt});
  for (bool speculative : {false, true}) {
    plans.push_back({ir::SoftmaxForm::kThreePassReload, true, speculative});
    plans.push_back({ir::SoftmaxForm::kThreePassRecompute, true, speculative});
  }
  return plans;
}

// Compiles with the plan's choices and `exp_group` (the planner's when
// unset); null when the planner rejects the combination for this pipeline.
std::shared_ptr<const Kernel> compile_grouped(const ir::Pipeline& pipeline, Isa isa, const GroupPlan& plan,
                                              std::optional<int> exp_group) {
  CompileOptions options;
  options.isa = isa;
  options.choices.softmax_form = plan.form;
  options.choices.blocked_exp = plan.blocked;
  options.choices.speculative_max = plan.speculative;
  options.choices.exp_group = exp_group;
  auto kernel = compile(pipeline, options);
  if (!kernel) {
    EXPECT_EQ(kernel.status().code(), StatusCode::kInvalidArgument) << kernel.status().to_string();
    return nullptr;
  }
  return *kernel;
}

bool listing_has_groups(const Kernel& kernel) {
  return jit::format_listing(*kernel.compiled(), {}).find("exps in groups of") != std::string::npos;
}

// Runs both kernels on the same rows; returns the first element whose bits
// differ, or an empty string.
std::string first_difference(const Kernel& grouped, const Kernel& single, const JitCase& c, RowTensors& a,
                             RowTensors& b) {
  ir::RunArgs args_a = a.args();
  ir::RunArgs args_b = b.args();
  for (const auto& [name, value] : c.scalars) {
    args_a.scalars[name] = value;
    args_b.scalars[name] = value;
  }
  Status ran = grouped.run(args_a);
  if (!ran.is_ok()) return "grouped kernel failed: " + ran.to_string();
  ran = single.run(args_b);
  if (!ran.is_ok()) return "kernel with exp_group 1 failed: " + ran.to_string();
  for (ir::ValueId id : grouped.pipeline().outputs) {
    const ir::Value& v = grouped.pipeline().value(id);
    int64_t count = v.type.shape.is_scalar() ? 1 : a.n();
    for (int64_t r = 0; r < a.rows(); ++r) {
      const float* x = a.row(v.name, r);
      const float* y = b.row(v.name, r);
      for (int64_t i = 0; i < count; ++i) {
        if (std::memcmp(&x[i], &y[i], sizeof(float)) != 0) {
          return v.name + " row " + std::to_string(r) + " element " + std::to_string(i) + ": grouped " +
                 std::to_string(x[i]) + ", exp_group 1 " + std::to_string(y[i]);
        }
      }
    }
  }
  return "";
}

class ExpGroups : public ::testing::TestWithParam<const char*> {};

TEST_P(ExpGroups, SameBitsAsOneExpAtATime) {
  const JitCase& c = case_named(GetParam());
  ir::Pipeline pipeline = load(c.name);
  std::mt19937 rng(42);
  const std::vector<std::function<float(int64_t, int64_t)>> patterns = special_patterns();
  for (Isa isa : runnable_isas()) {
    int grouped_kernels = 0;
    for (const GroupPlan& plan : group_plans()) {
      // The widest group of the default unroll, forced, because a CPU that
      // splits zmm operations (ir::TargetDesc::split_zmm) plans none. Plans
      // without a groupable exp reject it and take the planner's choice.
      auto grouped = compile_grouped(pipeline, isa, plan, isa == Isa::kAvx512 ? 4 : 2);
      if (!grouped) grouped = compile_grouped(pipeline, isa, plan, std::nullopt);
      auto single = compile_grouped(pipeline, isa, plan, 1);
      if (!grouped || !single) continue;
      const std::string context = std::string(c.name) + " on " + isa_name(isa) + ", " + describe(plan);
      ASSERT_TRUE(grouped->uses_jit()) << context;
      // The extended-exponent form has no exp of a value <= 0 to group. The
      // others group their exps where the registers allow, which the
      // softmax's do in every form on both ISAs.
      bool groupable = grouped->plan().softmax_form != ir::SoftmaxForm::kTwoPassExtExp;
      bool has_groups = listing_has_groups(*grouped);
      if (!groupable) {
        EXPECT_FALSE(has_groups) << context;
      } else if (std::string(c.name) == "softmax") {
        EXPECT_TRUE(has_groups) << context;
      }
      grouped_kernels += has_groups ? 1 : 0;
      EXPECT_FALSE(listing_has_groups(*single)) << context;

      std::vector<int64_t> lengths;
      for (int64_t n = 1; n <= 300; ++n) lengths.push_back(n);
      for (int64_t n : {1023, 4099, 70001}) lengths.push_back(n);
      for (int64_t n : lengths) {
        RowTensors a(pipeline, 2, n, 3, 1);
        RowTensors b(pipeline, 2, n, 3, 1);
        fill_random(pipeline, a, rng);
        copy_inputs(pipeline, a, b);
        std::string difference = first_difference(*grouped, *single, c, a, b);
        ASSERT_EQ(difference, "") << context << ", n = " << n;
      }
      for (int64_t n : {37, 300, 4099}) {
        for (size_t k = 0; k < patterns.size(); ++k) {
          RowTensors a(pipeline, 2, n, 0, 0);
          RowTensors b(pipeline, 2, n, 0, 0);
          fill_pattern(pipeline, patterns[k], a, b);
          std::string difference = first_difference(*grouped, *single, c, a, b);
          ASSERT_EQ(difference, "") << context << ", n = " << n << ", special pattern " << k;
        }
      }
    }
    EXPECT_GT(grouped_kernels, 0) << c.name << " on " << isa_name(isa) << ": no kernel grouped its exps";
  }
}

// At unrolls other than 4, every exp group that divides the unroll gives
// the bits of exp group 1, on both ISAs. On AVX2 the sum takes the lanes in
// pairs at unroll 2, 4 and 8, and at unroll 6 (where a group of 3 would split
// a pair) in no group.
TEST_P(ExpGroups, EveryGroupOfEveryUnrollSameBits) {
  const JitCase& c = case_named(GetParam());
  ir::Pipeline pipeline = load(c.name);
  std::mt19937 rng(7);
  for (Isa isa : runnable_isas()) {
    for (int unroll : {2, 3, 6, 8}) {
      auto compile_with = [&](int exp_group) -> std::shared_ptr<const Kernel> {
        CompileOptions options;
        options.isa = isa;
        options.choices.unroll = unroll;
        options.choices.exp_group = exp_group;
        options.choices.resident_vectors = 0;
        auto kernel = compile(pipeline, options);
        if (!kernel) return nullptr;
        return *kernel;
      };
      auto single = compile_with(1);
      ASSERT_NE(single, nullptr) << c.name << " on " << isa_name(isa) << " at unroll " << unroll;
      for (int group = 2; group <= std::min(unroll, ir::kMaxExpGroup); ++group) {
        if (unroll % group != 0) continue;
        auto grouped = compile_with(group);
        ASSERT_NE(grouped, nullptr) << c.name << " on " << isa_name(isa) << ", unroll " << unroll << ", group " << group;
        for (int64_t n : {int64_t{47}, int64_t{48}, int64_t{200}, int64_t{1023}}) {
          RowTensors a(pipeline, 2, n, 3, 1);
          RowTensors b(pipeline, 2, n, 3, 1);
          fill_random(pipeline, a, rng);
          copy_inputs(pipeline, a, b);
          ASSERT_EQ(first_difference(*grouped, *single, c, a, b), "")
              << c.name << " on " << isa_name(isa) << ", unroll " << unroll << ", group " << group << ", n = " << n;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Pipelines, ExpGroups, ::testing::ValuesIn(kGroupedPipelines),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace rowjit::testing
