// The switch to non-temporal stores by call size: kernels planned for rows in
// cache stream the stores of their last sweep when a call's rows together
// exceed half the last-level cache (Plan::nontemporal_call_bytes). Both copies
// of the loops must match the reference: calls above the bound with aligned
// rows take the streaming one, smaller calls and misaligned rows the other.
#include <gtest/gtest.h>

#include <random>

#include "jit/disassembler.h"
#include "tests/jit_pipeline_cases.h"
#include "tests/runtime_testing.h"

namespace rowjit::testing {
namespace {

struct CallCase {
  const char* name;
  std::optional<ir::SoftmaxForm> form;  // one whose last sweep writes y once
};

// Compiles the case's pipeline for `isa`, planned for rows of 1000 elements,
// which stay in cache. The plan assumes a last-level cache of 4 MiB, so that
// the bound is 1 MiB per tensor on every machine. With the 480 MiB L3 of some
// servers, a call above the detected bound has 31M elements per tensor, and
// checking it against the interpreter took minutes.
Result<std::shared_ptr<const Kernel>> compile_in_cache(const ir::Pipeline& pipeline, const CallCase& call, Isa isa) {
  CompileOptions options;
  options.isa = isa;
  options.n_hint = 1000;
  options.choices.softmax_form = call.form;
  set_llc_bytes_for_testing(4 << 20);
  auto kernel = compile(pipeline, options);
  set_llc_bytes_for_testing(std::nullopt);
  return kernel;
}

TEST(JitNontemporalCall, LargeCallsMatchTheReference) {
  const CallCase cases[] = {
      {"log_softmax", std::nullopt},
      {"softmax", ir::SoftmaxForm::kThreePassRecompute},
      {"softmax", ir::SoftmaxForm::kTwoPassOnline},
      {"softmax_temperature", ir::SoftmaxForm::kThreePassRecompute},
  };
  const int64_t n = 1000;  // the planned length, with a tail on both ISAs
  // A stride of a whole number of 64-byte lines keeps every row aligned.
  const int64_t padding = (16 - n % 16) % 16 + 16;
  std::mt19937 rng(7);
  for (Isa isa : runnable_isas()) {
    for (const CallCase& call : cases) {
      const JitCase& c = case_named(call.name);
      ir::Pipeline pipeline = load(c.name);
      auto kernel = compile_in_cache(pipeline, call, isa);
      ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
      const ir::Plan& plan = (*kernel)->plan();
      ASSERT_TRUE((*kernel)->uses_jit());
      ASSERT_FALSE(plan.nontemporal_stores);
      ASSERT_GT(plan.nontemporal_call_bytes, 0);
      std::string listing = jit::format_listing(*(*kernel)->compiled(), {});
      EXPECT_NE(listing.find("calls of more than"), std::string::npos) << c.name << " has no switch by call size";
      EXPECT_NE(listing.find("vmovntps"), std::string::npos) << c.name << " streams no store";

      const int64_t large_rows = plan.nontemporal_call_bytes / (n * 4) + 1;
      for (int64_t rows : {int64_t{3}, large_rows}) {
        for (int64_t offset : {kAligned, int64_t{1}}) {
          if (rows == 3 && offset != kAligned) continue;  // covered by the pipeline tests
          RowTensors jit(pipeline, rows, n, padding, offset);
          RowTensors reference(pipeline, rows, n, padding, offset);
          fill_random(pipeline, jit, rng);
          copy_inputs(pipeline, jit, reference);
          std::string context = std::string(c.name) + " on " + isa_name(isa) + ", form " +
                                std::string(ir::softmax_form_name(plan.softmax_form)) + ", " +
                                std::to_string(rows) + " rows" + (offset == kAligned ? ", aligned" : ", misaligned");
          expect_matches_reference(**kernel, c, jit, reference, context);
          int64_t nonzero = 0;
          std::string unused;
          compare_outputs(pipeline, jit, jit, c.tolerance, unused, &nonzero);
          EXPECT_GT(nonzero, 0) << context << " wrote only zeros";
          if (HasFailure()) return;

          // The same rows split into four tasks, from zeroed outputs. Each task
          // is a call of its own, with the rows of the whole batch in
          // KernelArgs::batch_rows.
          RowTensors split(pipeline, rows, n, padding, offset);
          copy_inputs(pipeline, jit, split);
          ir::RunArgs split_args = split.args();
          for (const auto& [name, value] : c.scalars) split_args.scalars[name] = value;
          Status ran = (*kernel)->run(split_args, inline_tasks(4));
          ASSERT_TRUE(ran.is_ok()) << ran.to_string();
          std::string report;
          EXPECT_EQ(compare_outputs(pipeline, split, reference, c.tolerance, report), 0)
              << context << ", split into tasks\n" << report;
          if (HasFailure()) return;
        }
      }
    }
  }
}

// Calls above the bound on every tail length of both ISAs (n = 1000 to 1015
// covers every remainder mod 16 and mod 8), then on the special values.
TEST(JitNontemporalCall, LargeCallsOnEveryTail) {
  const CallCase cases[] = {
      {"log_softmax", std::nullopt},
      {"softmax", ir::SoftmaxForm::kTwoPassOnline},
  };
  const auto patterns = special_patterns();
  std::mt19937 rng(11);
  for (Isa isa : runnable_isas()) {
    for (const CallCase& call : cases) {
      const JitCase& c = case_named(call.name);
      ir::Pipeline pipeline = load(c.name);
      auto kernel = compile_in_cache(pipeline, call, isa);
      ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
      const int64_t bound = (*kernel)->plan().nontemporal_call_bytes;
      ASSERT_GT(bound, 0);

      for (int64_t n = 1000; n < 1016; ++n) {
        const int64_t padding = (16 - n % 16) % 16 + 16;  // rows stay aligned
        const int64_t rows = bound / (n * 4) + 1;
        const std::string context = std::string(c.name) + " on " + isa_name(isa) + ", n = " + std::to_string(n);
        RowTensors jit(pipeline, rows, n, padding, kAligned);
        RowTensors reference(pipeline, rows, n, padding, kAligned);
        fill_random(pipeline, jit, rng);
        copy_inputs(pipeline, jit, reference);
        expect_matches_reference(**kernel, c, jit, reference, context);
        if (HasFailure()) return;
        if (n != 1003) continue;
        for (size_t k = 0; k < patterns.size(); ++k) {
          RowTensors special(pipeline, rows, n, padding, kAligned);
          RowTensors special_reference(pipeline, rows, n, padding, kAligned);
          fill_pattern(pipeline, patterns[k], special, special_reference);
          expect_matches_reference(**kernel, c, special, special_reference,
                                   context + ", special pattern " + std::to_string(k));
          if (HasFailure()) return;
        }
      }
    }
  }
}

// A sweep that rewrites what an earlier sweep wrote (the scale sweep of
// three_pass_reload) keeps regular stores in every call, so the plan has no
// bound.
TEST(JitNontemporalCall, ReloadingSweepKeepsRegularStores) {
  ir::Pipeline pipeline = load("softmax");
  for (Isa isa : runnable_isas()) {
    CompileOptions options;
    options.isa = isa;
    options.n_hint = 1000;
    options.choices.softmax_form = ir::SoftmaxForm::kThreePassReload;
    options.choices.blocked_exp = false;
    auto kernel = compile(pipeline, options);
    ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    EXPECT_EQ((*kernel)->plan().nontemporal_call_bytes, 0);
    std::string listing = jit::format_listing(*(*kernel)->compiled(), {});
    EXPECT_EQ(listing.find("vmovntps"), std::string::npos) << isa_name(isa);
  }
}

}  // namespace
}  // namespace rowjit::testing
