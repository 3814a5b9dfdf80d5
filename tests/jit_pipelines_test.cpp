// Every JIT-compiled pipeline against the reference interpreter, on AVX-512
// and AVX2, with every softmax form forced. Row lengths run from 1 to 300, which
// covers all tails of 8- and 16-lane vectors and of the unrolled main loop. Rows
// have a stride larger than n and start off a 64-byte boundary.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>
#include <sstream>

#include "ir/parser.h"
#include "ir/planner.h"
#include "jit/disassembler.h"
#include "tests/jit_pipeline_cases.h"

namespace rowjit::testing {
namespace {

class JitPipeline : public ::testing::TestWithParam<JitCase> {};

TEST_P(JitPipeline, MatchesInterpreterOnEveryTail) {
  const JitCase& c = GetParam();
  ir::Pipeline pipeline = load(c.name);
  std::mt19937 rng(1234);
  for (Isa isa : runnable_isas()) {
    for (const auto& form : kForms) {
      auto kernel = compile_for(pipeline, isa, form);
      if (!kernel) continue;
      ASSERT_TRUE(kernel->uses_jit()) << c.name << ": " << kernel->plan().unsupported_reason;
      std::vector<int64_t> lengths;
      for (int64_t n = 1; n <= 300; ++n) lengths.push_back(n);
      lengths.push_back(1000);
      lengths.push_back(4099);
      int64_t nonzero = 0;
      for (int64_t n : lengths) {
        RowTensors jit(pipeline, 3, n, 3, 1);
        RowTensors reference(pipeline, 3, n, 3, 1);
        fill_random(pipeline, jit, rng);
        copy_inputs(pipeline, jit, reference);
        expect_matches_reference(*kernel, c, jit, reference,
                                 std::string(c.name) + " on " + isa_name(isa) + ", form " + form_name(form) +
                                     ", n = " + std::to_string(n));
        std::string unused;
        compare_outputs(pipeline, jit, jit, c.tolerance, unused, &nonzero);
        if (HasFailure()) return;
      }
      // Guards against a vacuous pass: the kernel wrote real values.
      EXPECT_GT(nonzero, 0) << c.name << " wrote only zeros";
    }
  }
}

// Rows with the special values: -inf (masked), +inf, NaN, huge and denormal
// magnitudes, ties. NaN must land exactly where the reference puts it.
TEST_P(JitPipeline, MatchesInterpreterOnSpecialValues) {
  const JitCase& c = GetParam();
  ir::Pipeline pipeline = load(c.name);
  const auto patterns = special_patterns();

  for (Isa isa : runnable_isas()) {
    for (const auto& form : kForms) {
      auto kernel = compile_for(pipeline, isa, form);
      if (!kernel) continue;
      for (int64_t n : {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100}) {
        for (size_t k = 0; k < patterns.size(); ++k) {
          RowTensors jit(pipeline, 1, n, 0, 0);
          RowTensors reference(pipeline, 1, n, 0, 0);
          fill_pattern(pipeline, patterns[k], jit, reference);
          expect_matches_reference(*kernel, c, jit, reference,
                                   std::string(c.name) + " on " + isa_name(isa) + ", form " + form_name(form) +
                                       ", n = " + std::to_string(n) + ", special pattern " + std::to_string(k));
          if (HasFailure()) return;
        }
      }
    }
  }
}

// Output buffer = input buffer: every sweep reads a position before the last
// one writes it.
TEST_P(JitPipeline, RunsInPlace) {
  const JitCase& c = GetParam();
  ir::Pipeline pipeline = load(c.name);
  if (!has_row_output_y(pipeline)) GTEST_SKIP() << c.name << " has no output y of the shape of x";
  std::mt19937 rng(99);
  for (Isa isa : runnable_isas()) {
    for (const auto& form : kForms) {
      auto kernel = compile_for(pipeline, isa, form);
      if (!kernel) continue;
      for (int64_t n : {1, 13, 64, 77, 1000}) {
        RowTensors jit(pipeline, 2, n, 0, 0);
        RowTensors reference(pipeline, 2, n, 0, 0);
        fill_random(pipeline, jit, rng);
        copy_inputs(pipeline, jit, reference);
        jit.alias("y", "x");
        ir::RunArgs args = jit.args();
        for (const auto& [name, value] : c.scalars) args.scalars[name] = value;
        ASSERT_TRUE(kernel->run(args).is_ok());
        ir::RunArgs reference_args = reference.args();
        for (const auto& [name, value] : c.scalars) reference_args.scalars[name] = value;
        ASSERT_TRUE(ir::interpret(pipeline, reference_args).is_ok());
        for (int64_t r = 0; r < 2; ++r) {
          for (int64_t i = 0; i < n; ++i) {
            float got = jit.row("x", r)[i];
            float want = reference.row("y", r)[i];
            ASSERT_NEAR(got, want, c.tolerance.relative * std::fabs(want) + c.tolerance.absolute)
                << c.name << " in place on " << isa_name(isa) << ", form " << form_name(form) << ", n = " << n;
          }
        }
      }
    }
  }
}

// Non-temporal stores: rows aligned to 64 bytes take the streaming loops,
// misaligned rows the regular ones, and both must match the reference.
TEST_P(JitPipeline, StreamsStoresOnAlignedRows) {
  const JitCase& c = GetParam();
  ir::Pipeline pipeline = load(c.name);
  if (!has_row_output_y(pipeline)) GTEST_SKIP() << c.name << " writes only per-row scalars, which are never streamed";
  std::mt19937 rng(31);
  for (Isa isa : runnable_isas()) {
    for (const auto& form : kForms) {
      auto kernel = compile_for(pipeline, isa, form, true);
      if (!kernel) continue;
      ASSERT_TRUE(kernel->plan().nontemporal_stores);
      std::string listing = jit::format_listing(*kernel->compiled(), {});
      EXPECT_NE(listing.find("vmovntps"), std::string::npos) << c.name << " streams no store";
      for (int64_t n : {1, 16, 45, 64, 100, 1000}) {
        for (int64_t offset : {kAligned, int64_t{1}}) {
          // A stride of a whole number of 64-byte lines keeps every row aligned.
          int64_t padding = (16 - n % 16) % 16 + 16;
          RowTensors jit(pipeline, 3, n, padding, offset);
          RowTensors reference(pipeline, 3, n, padding, offset);
          fill_random(pipeline, jit, rng);
          copy_inputs(pipeline, jit, reference);
          expect_matches_reference(*kernel, c, jit, reference,
                                   std::string(c.name) + " with non-temporal stores on " + isa_name(isa) +
                                       ", form " + form_name(form) + ", n = " + std::to_string(n) +
                                       (offset == kAligned ? ", aligned" : ", misaligned"));
          if (HasFailure()) return;
        }
      }
    }
  }
}

// Software prefetch, forced on as for rows beyond the caches: prefetches past
// the end of a row must not fault, and every form still matches.
TEST_P(JitPipeline, PrefetchingLoopsMatchInterpreter) {
  const JitCase& c = GetParam();
  ir::Pipeline pipeline = load(c.name);
  std::mt19937 rng(57);
  for (Isa isa : runnable_isas()) {
    for (const auto& form : kForms) {
      CompileOptions options;
      options.isa = isa;
      options.choices.softmax_form = form;
      options.choices.prefetch_bytes = 512;
      auto kernel = compile(pipeline, options);
      if (!kernel) continue;
      std::string listing = jit::format_listing(*(*kernel)->compiled(), {});
      EXPECT_NE(listing.find("prefetcht0"), std::string::npos) << c.name << " prefetches nothing";
      for (int64_t n : {1, 17, 64, 200, 1000, 5000}) {
        RowTensors jit(pipeline, 2, n, 7, 2);
        RowTensors reference(pipeline, 2, n, 7, 2);
        fill_random(pipeline, jit, rng);
        copy_inputs(pipeline, jit, reference);
        expect_matches_reference(**kernel, c, jit, reference,
                                 std::string(c.name) + " with prefetch on " + isa_name(isa) + ", form " +
                                     form_name(form) + ", n = " + std::to_string(n));
        if (HasFailure()) return;
      }
    }
  }
}

// The kernel prefetches in the code of each sweep the plan marks
// (Sweep::prefetch), and in no other. The copy for resident rows prefetches in
// the first of those sweeps only. For a softmax in cache that is the exp sweep
// and not the max sweep.
TEST(JitPrefetch, FollowsThePlanSweeps) {
  struct Variant {
    const char* example;
    int64_t n;
    std::optional<ir::SoftmaxForm> form;
    std::optional<bool> blocked;
  };
  const Variant variants[] = {
      {"softmax", 4096, ir::SoftmaxForm::kThreePassReload, std::nullopt},
      {"softmax", 4096, ir::SoftmaxForm::kThreePassRecompute, std::nullopt},
      {"log_softmax", 4096, std::nullopt, std::nullopt},
      {"softmax", 1 << 25, std::nullopt, std::nullopt},
      {"softmax", 1 << 25, ir::SoftmaxForm::kThreePassReload, std::nullopt},
      {"softmax", 1 << 25, ir::SoftmaxForm::kThreePassReload, true},
      {"softmax", 65536, std::nullopt, std::nullopt},
      {"stablemax", 4096, std::nullopt, std::nullopt},
      {"softmax", 64, std::nullopt, std::nullopt},
      {"softmax", 256, std::nullopt, std::nullopt},
      {"softmax", 256, ir::SoftmaxForm::kThreePassRecompute, std::nullopt},
      {"log_softmax", 64, std::nullopt, std::nullopt},
      {"stablemax", 64, std::nullopt, std::nullopt},
  };
  for (Isa isa : runnable_isas()) {
    for (const Variant& variant : variants) {
      auto pipeline = parse_example(variant.example);
      ASSERT_TRUE(pipeline.is_ok());
      CompileOptions options;
      options.isa = isa;
      options.n_hint = variant.n;
      options.choices.softmax_form = variant.form;
      options.choices.blocked_exp = variant.blocked;
      auto kernel = compile(*pipeline, options);
      ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
      const ir::Plan& plan = (*kernel)->plan();
      std::string context = std::string(variant.example) + " at n = " + std::to_string(variant.n) + ", " +
                         std::string(ir::softmax_form_name(plan.softmax_form)) + (plan.blocked_exp ? " blocked" : "") +
                         ", " + isa_name(isa);
      // Prefetches per sweep in the loops and in the resident copy.
      std::vector<int> prefetches(plan.sweeps.size(), 0);
      std::vector<int> resident_prefetches(plan.sweeps.size(), 0);
      bool resident = false;
      int sweep = -1;
      std::istringstream listing(jit::format_listing(*(*kernel)->compiled(), {}));
      for (std::string line; std::getline(listing, line);) {
        if (line.rfind("; resident rows", 0) == 0) resident = true;
        if (line.rfind("; rows of any other length", 0) == 0) resident = false;
        if (line.rfind("; sweep ", 0) == 0) sweep = line[8] - '0';
        if (line.find("prefetcht0") != std::string::npos) {
          ASSERT_GE(sweep, 0) << context << ": a prefetch before the first sweep: " << line;
          ++(resident ? resident_prefetches : prefetches)[static_cast<size_t>(sweep)];
        }
      }
      size_t first_prefetching = plan.sweeps.size();
      for (size_t s = 0; s < plan.sweeps.size(); ++s) {
        if (plan.sweeps[s].prefetch && first_prefetching == plan.sweeps.size()) first_prefetching = s;
      }
      for (size_t s = 0; s < plan.sweeps.size(); ++s) {
        EXPECT_EQ(prefetches[s] > 0, plan.sweeps[s].prefetch) << context << ", sweep " << s;
        if (plan.resident_vectors > 0) {
          EXPECT_EQ(resident_prefetches[s] > 0, s == first_prefetching) << context << ", resident rows, sweep " << s;
        }
      }
      if (std::string(variant.example) == "softmax" && variant.n == 4096) {
        EXPECT_FALSE(plan.sweeps[0].prefetch) << context << ": the max sweep of a row in cache prefetches";
        EXPECT_TRUE(plan.sweeps[1].prefetch) << context;
      }
    }
  }
}

// x - max(x) and exp(x - max(x)) as outputs of their own: a NaN must reach
// every element of them, as in the reference, and not only through the sum.
TEST(JitNan, ReachesOutputsBesideTheSum) {
  auto pipeline = ir::parse_pipeline(
      "kernel parts(x: f32[n]) -> (d: f32[n], e: f32[n], y: f32[n]) {\n"
      "  m = max(x)\n  d = x - m\n  e = exp(d)\n  y = e / sum(e)\n}\n");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  JitCase c{"parts", {4e-6, 1e-40}, {}};
  for (Isa isa : runnable_isas()) {
    for (const auto& form : kForms) {
      auto kernel = compile_for(*pipeline, isa, form);
      if (!kernel) continue;
      for (int64_t n : {3, 40, 1000}) {
        for (int64_t nan_at : {int64_t{0}, n / 2, n - 1}) {
          RowTensors jit(*pipeline, 1, n, 0, 0);
          RowTensors reference(*pipeline, 1, n, 0, 0);
          for (int64_t i = 0; i < n; ++i) jit.row("x", 0)[i] = i == nan_at ? NAN : static_cast<float>(i % 5);
          copy_inputs(*pipeline, jit, reference);
          expect_matches_reference(*kernel, c, jit, reference,
                                   std::string("NaN at ") + std::to_string(nan_at) + " on " + isa_name(isa) +
                                       ", form " + form_name(form) + ", n = " + std::to_string(n));
          if (HasFailure()) return;
        }
      }
    }
  }
}

// y = e / s runs as e * (1 / s) unless 1 / s is not a normal float: a sum
// below 2^-126 would make it overflow, and one above 2^126 denormal.
TEST(JitReciprocal, ExtremeSumsDivide) {
  auto stablemax = parse_example("stablemax");
  auto share = ir::parse_pipeline("kernel share(x: f32[n]) -> (y: f32[n]) {\n  y = x / sum(x)\n}\n");
  ASSERT_TRUE(stablemax.is_ok());
  ASSERT_TRUE(share.is_ok()) << share.status().to_string();
  JitCase c{"share", {2e-7, 1e-44}, {}};
  const std::vector<std::pair<const ir::Pipeline*, std::vector<float>>> rows = {
      {&*stablemax, {-3.4028235e38f}},
      {&*share, {3e-45f, 1e-45f}},
      {&*share, {1e38f, 2e38f}},
      {&*share, {1.0f, 3.0f}},
  };
  for (Isa isa : runnable_isas()) {
    for (const auto& [pipeline, values] : rows) {
      for (int64_t hint : {int64_t{0}, static_cast<int64_t>(values.size())}) {
        CompileOptions options;
        options.isa = isa;
        options.n_hint = hint;
        auto kernel = compile(*pipeline, options);
        ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
        int64_t n = static_cast<int64_t>(values.size());
        RowTensors jit(*pipeline, 1, n, 0, 0);
        RowTensors reference(*pipeline, 1, n, 0, 0);
        for (int64_t i = 0; i < n; ++i) jit.row("x", 0)[i] = values[static_cast<size_t>(i)];
        copy_inputs(*pipeline, jit, reference);
        expect_matches_reference(**kernel, c, jit, reference,
                                 pipeline->name + " on " + isa_name(isa) + ", x[0] = " + std::to_string(values[0]) +
                                     ", n_hint " + std::to_string(hint));
      }
    }
  }
}

// Sums of values near FLT_MAX whose total is finite: lane partial sums in
// float would overflow to inf before the large values cancel.
TEST(JitSum, LargeValuesDoNotOverflow) {
  auto pipeline = ir::parse_pipeline(
      "kernel sums(x: f32[n]) -> (total: f32, average: f32) {\n  total = sum(x)\n  average = mean(x)\n}\n");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  JitCase c{"sums", {1e-6, 0}, {}};
  for (Isa isa : runnable_isas()) {
    for (int64_t n : {int64_t{32}, int64_t{1000}}) {
      for (int64_t hint : {int64_t{0}, n}) {
        CompileOptions options;
        options.isa = isa;
        options.n_hint = hint;
        auto kernel = compile(*pipeline, options);
        ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
        RowTensors jit(*pipeline, 1, n, 0, 0);
        RowTensors reference(*pipeline, 1, n, 0, 0);
        for (int64_t i = 0; i < n; ++i) jit.row("x", 0)[i] = 1.0f;
        jit.row("x", 0)[0] = 3e38f;
        jit.row("x", 0)[16] = 3e38f;
        jit.row("x", 0)[1] = -3e38f;
        copy_inputs(*pipeline, jit, reference);
        expect_matches_reference(**kernel, c, jit, reference,
                                 std::string("sums on ") + isa_name(isa) + ", n = " + std::to_string(n) +
                                     ", n_hint " + std::to_string(hint));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, JitPipeline, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<JitCase>& info) {
                           return std::string(info.param.label ? info.param.label : info.param.name);
                         });

// Softmax of one long row against a double-precision formula: the error bound
// of 4e-6 must hold however long the row, which is what the double flushes of
// the sums are for.
// Runs softmax on the row x with every form on every ISA and checks each
// output against the double-precision formula.
void expect_row_accuracy(const std::vector<float>& x, const std::string& label) {
  ir::Pipeline pipeline = load("softmax");
  const int64_t n = static_cast<int64_t>(x.size());
  double m = -INFINITY;
  for (float v : x) m = std::max(m, static_cast<double>(v));
  double s = 0;
  for (float v : x) s += std::exp(static_cast<double>(v) - m);

  std::vector<float> y(x.size());
  for (Isa isa : runnable_isas()) {
    for (const auto& form : kForms) {
      auto kernel = compile_for(pipeline, isa, form);
      if (!kernel) continue;
      ir::RunArgs args;
      args.rows = 1;
      args.n = n;
      args.tensors["x"] = {const_cast<float*>(x.data()), ir::ElemType::kF32, n * 4};
      args.tensors["y"] = {y.data(), ir::ElemType::kF32, n * 4};
      ASSERT_TRUE(kernel->run(args).is_ok());
      double worst = 0;
      for (int64_t i = 0; i < n; ++i) {
        double want = std::exp(static_cast<double>(x[static_cast<size_t>(i)]) - m) / s;
        worst = std::max(worst, std::fabs(y[static_cast<size_t>(i)] - want) / want);
      }
      EXPECT_LE(worst, 4e-6) << label << " on " << isa_name(isa) << ", form " << form_name(form);
      std::printf("softmax %s, %s, %s: max relative error %.3g\n", label.c_str(), isa_name(isa),
                  form_name(form).c_str(), worst);
    }
  }
}

void expect_long_row_accuracy(int64_t n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> logits(0.0f, 3.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = logits(rng);
  expect_row_accuracy(x, "n = " + std::to_string(n));
}

TEST(JitSoftmax, LongRowStaysAccurate) { expect_long_row_accuracy(1 << 20); }

// A max that creeps up through the whole row: the online form's sum must not
// pick up a rounding error at every flush.
TEST(JitSoftmax, RisingRowStaysAccurate) {
  const int64_t n = 1 << 20;
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = 1e-6f * static_cast<float>(i);
  expect_row_accuracy(x, "rising row of 1M");
}

TEST(JitSoftmaxLong, HugeRowStaysAccurate) { expect_long_row_accuracy(int64_t{32} << 20); }

}  // namespace
}  // namespace rowjit::testing
