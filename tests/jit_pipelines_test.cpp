// Every JIT-compiled pipeline against the reference interpreter, on AVX-512
// and AVX2, with every softmax form forced. Row lengths run from 1 to 300, which
// covers all tails of 8- and 16-lane vectors and of the unrolled main loop. Rows
// have a stride larger than n and start off a 64-byte boundary.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ir/planner.h"
#include "jit/disassembler.h"
#include "tests/jit_testing.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

struct JitCase {
  const char* name;       // example file, or a pipeline defined below
  Tolerance tolerance;
  std::map<std::string, double> scalars;
  const char* label = nullptr;  // test name when one example runs twice
};

void PrintTo(const JitCase& c, std::ostream* out) { *out << (c.label ? c.label : c.name); }

// Bounds: softmax-like outputs stay within 4e-6 relative error of the
// reference (the accuracy goal of the JIT), plus a denormal-sized absolute
// floor. Log-softmax values near 0 come from log(sum) ~ 0, whose absolute
// error is the relative error of the sum, hence the absolute 1e-6. Sums are
// bounded relative to the sum of magnitudes, which is at most 12 n here.
const JitCase kCases[] = {
    {"softmax", {4e-6, 1e-40}, {}},
    {"log_softmax", {4e-6, 1e-6}, {}},
    {"softmax_temperature", {4e-6, 1e-40}, {{"tau", 0.7}}},
    {"dense_to_sparse_gate", {4e-6, 1e-40}, {{"tau", 0.3}}},
    // sigmoid's 2.5 ulp (at most 1.5e-7 absolute, since sigmoid <= 1) reach
    // exp((s - m) / tau) multiplied by 1 / tau, twice: 4e-6 + 3e-7 / tau.
    {"dense_to_sparse_gate", {4e-6 + 3e-7 / 0.01, 1e-40}, {{"tau", 0.01}}, "dense_to_sparse_gate_tau_0_01"},
    {"softmax_masked", {4e-6, 1e-40}, {}},
    {"stablemax", {4e-6, 1e-40}, {}},
    {"row_stats", {1e-6, 4e-3}, {}},
};

const char* kRowStats = R"(
kernel row_stats(x: f32[n]) -> (hi: f32, lo: f32, total: f32, peak: f32, average: f32) {
  hi = max(x)
  lo = min(x)
  total = sum(x)
  peak = absmax(x)
  average = mean(x)
}
)";

ir::Pipeline load(const std::string& name) {
  auto pipeline = name == "row_stats" ? ir::parse_pipeline(kRowStats) : parse_example(name);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  return *pipeline;
}

const std::vector<std::optional<ir::SoftmaxForm>> kForms = {
    std::nullopt, ir::SoftmaxForm::kThreePassRecompute, ir::SoftmaxForm::kThreePassReload,
    ir::SoftmaxForm::kTwoPassOnline, ir::SoftmaxForm::kTwoPassExtExp};

std::string form_name(const std::optional<ir::SoftmaxForm>& form) {
  return form ? std::string(ir::softmax_form_name(*form)) : "default";
}

// Compiles `pipeline` for `isa` with `form` forced; returns null (and records
// nothing) when the form does not apply to the pipeline.
std::shared_ptr<const Kernel> compile_for(const ir::Pipeline& pipeline, Isa isa,
                                          const std::optional<ir::SoftmaxForm>& form, bool nontemporal = false) {
  CompileOptions options;
  options.isa = isa;
  options.choices.softmax_form = form;
  if (nontemporal) options.choices.nontemporal_stores = true;
  auto kernel = compile(pipeline, options);
  if (!kernel) {
    EXPECT_EQ(kernel.status().code(), StatusCode::kInvalidArgument) << kernel.status().to_string();
    return nullptr;
  }
  return *kernel;
}

// Fills row r of every input: N(0, 3) logits.
void fill_random(const ir::Pipeline& pipeline, RowTensors& tensors, std::mt19937& rng) {
  std::normal_distribution<float> logits(0.0f, 3.0f);
  for (ir::ValueId id : pipeline.inputs) {
    const ir::Value& v = pipeline.value(id);
    if (v.kind != ir::ValueKind::kInput) continue;
    for (int64_t r = 0; r < tensors.rows(); ++r) {
      float* row = tensors.row(v.name, r);
      for (int64_t i = 0; i < tensors.n(); ++i) row[i] = logits(rng);
    }
  }
}

void copy_inputs(const ir::Pipeline& pipeline, RowTensors& from, RowTensors& to) {
  for (ir::ValueId id : pipeline.inputs) {
    const ir::Value& v = pipeline.value(id);
    if (v.kind != ir::ValueKind::kInput) continue;
    for (int64_t r = 0; r < from.rows(); ++r) std::memcpy(to.row(v.name, r), from.row(v.name, r), from.n() * 4);
  }
}

// Runs the kernel and the interpreter on the same inputs and compares.
void expect_matches_reference(const Kernel& kernel, const JitCase& c, RowTensors& jit, RowTensors& reference,
                              const std::string& context) {
  ir::RunArgs jit_args = jit.args();
  ir::RunArgs reference_args = reference.args();
  for (const auto& [name, value] : c.scalars) {
    jit_args.scalars[name] = value;
    reference_args.scalars[name] = value;
  }
  ASSERT_TRUE(ir::interpret(kernel.pipeline(), reference_args).is_ok());
  Status ran = kernel.run(jit_args);
  ASSERT_TRUE(ran.is_ok()) << ran.to_string();
  std::string report;
  int failures = compare_outputs(kernel.pipeline(), jit, reference, c.tolerance, report);
  EXPECT_EQ(failures, 0) << context << "\n" << report;
  for (ir::ValueId id : kernel.pipeline().outputs) {
    const std::string& name = kernel.pipeline().value(id).name;
    EXPECT_TRUE(jit.padding_intact(name)) << context << ": wrote past the end of a row of " << name;
  }
}

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
  const float inf = INFINITY;
  const std::vector<std::function<float(int64_t, int64_t)>> patterns = {
      [=](int64_t, int64_t) { return -inf; },
      [=](int64_t i, int64_t n) { return i == n - 1 ? 0.0f : -inf; },
      [=](int64_t i, int64_t) { return i == 0 ? 0.0f : -inf; },
      [=](int64_t i, int64_t n) { return i == n / 2 ? inf : static_cast<float>(i); },
      [=](int64_t i, int64_t n) { return i == n - 1 ? NAN : static_cast<float>(i); },
      [=](int64_t i, int64_t) { return i == 0 ? 1e30f : -static_cast<float>(i); },
      [=](int64_t i, int64_t) { return (i % 2 ? -1.0f : 1.0f) * 1e-40f * static_cast<float>(i + 1); },
      [=](int64_t, int64_t) { return 5.0f; },
      [=](int64_t i, int64_t) { return i % 3 == 0 ? -inf : -1e30f + static_cast<float>(i); },
      [=](int64_t i, int64_t) { return i % 2 ? -0.0f : 0.0f; },
      [=](int64_t i, int64_t) { return i % 2 ? -90.0f - static_cast<float>(i) : 0.0f; },
  };
  for (Isa isa : runnable_isas()) {
    for (const auto& form : kForms) {
      auto kernel = compile_for(pipeline, isa, form);
      if (!kernel) continue;
      for (int64_t n : {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100}) {
        for (size_t k = 0; k < patterns.size(); ++k) {
          RowTensors jit(pipeline, 1, n, 0, 0);
          RowTensors reference(pipeline, 1, n, 0, 0);
          for (int64_t i = 0; i < n; ++i) jit.row("x", 0)[i] = patterns[k](i, n);
          copy_inputs(pipeline, jit, reference);
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
  if (!pipeline.find_output("y")) GTEST_SKIP() << c.name << " has no output y of the shape of x";
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
  if (!pipeline.find_output("y")) GTEST_SKIP() << c.name << " writes only per-row scalars, which are never streamed";
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

INSTANTIATE_TEST_SUITE_P(Examples, JitPipeline, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<JitCase>& info) {
                           return std::string(info.param.label ? info.param.label : info.param.name);
                         });

// Softmax of one long row against a double-precision formula: the error bound
// of 4e-6 must hold however long the row, which is what the double flushes of
// the sums are for.
void expect_long_row_accuracy(int64_t n) {
  ir::Pipeline pipeline = load("softmax");
  std::mt19937 rng(7);
  std::normal_distribution<float> logits(0.0f, 3.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = logits(rng);
  double m = -INFINITY;
  for (float v : x) m = std::max(m, static_cast<double>(v));
  double s = 0;
  for (float v : x) s += std::exp(static_cast<double>(v) - m);

  std::vector<float> y(static_cast<size_t>(n));
  for (Isa isa : runnable_isas()) {
    for (const auto& form : kForms) {
      auto kernel = compile_for(pipeline, isa, form);
      if (!kernel) continue;
      ir::RunArgs args;
      args.rows = 1;
      args.n = n;
      args.tensors["x"] = {x.data(), ir::ElemType::kF32, n * 4};
      args.tensors["y"] = {y.data(), ir::ElemType::kF32, n * 4};
      ASSERT_TRUE(kernel->run(args).is_ok());
      double worst = 0;
      for (int64_t i = 0; i < n; ++i) {
        double want = std::exp(static_cast<double>(x[static_cast<size_t>(i)]) - m) / s;
        worst = std::max(worst, std::fabs(y[static_cast<size_t>(i)] - want) / want);
      }
      EXPECT_LE(worst, 4e-6) << "n = " << n << " on " << isa_name(isa) << ", form " << form_name(form);
      std::printf("softmax n = %lld, %s, %s: max relative error %.3g\n", static_cast<long long>(n), isa_name(isa),
                  form_name(form).c_str(), worst);
    }
  }
}

TEST(JitSoftmax, LongRowStaysAccurate) { expect_long_row_accuracy(1 << 20); }

TEST(JitSoftmaxLong, HugeRowStaysAccurate) { expect_long_row_accuracy(int64_t{32} << 20); }

}  // namespace
}  // namespace rowjit::testing
