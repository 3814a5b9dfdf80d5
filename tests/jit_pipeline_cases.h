// The pipelines that every JIT test runs, with their error bounds, and the
// helpers that compile them and compare a kernel with the interpreter.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

#include "ir/planner.h"
#include "tests/jit_testing.h"
#include "tests/test_util.h"

namespace rowjit::testing {

struct JitCase {
  const char* name;       // example file, or a pipeline defined below
  Tolerance tolerance;
  std::map<std::string, double> scalars;
  const char* label = nullptr;  // test name when one example runs twice
};

inline void PrintTo(const JitCase& c, std::ostream* out) { *out << (c.label ? c.label : c.name); }

// Bounds: softmax-like outputs stay within 4e-6 relative error of the
// reference (the accuracy goal of the JIT), plus a denormal-sized absolute
// floor. Log-softmax values near 0 come from log(sum) ~ 0, whose absolute
// error is the relative error of the sum, hence the absolute 1e-6. Sums are
// bounded relative to the sum of magnitudes, which is at most 12 n here.
inline const JitCase kCases[] = {
    {"softmax", {4e-6, 1e-40}, {}},
    {"log_softmax", {4e-6, 1e-6}, {}},
    {"softmax_temperature", {4e-6, 1e-40}, {{"tau", 0.7}}},
    {"dense_to_sparse_gate", {4e-6, 1e-40}, {{"tau", 0.3}}},
    // sigmoid's 2.5 ulp (at most 1.5e-7 absolute, since sigmoid <= 1) reach
    // exp((s - m) / tau) multiplied by 1 / tau, twice: 4e-6 + 3e-7 / tau.
    {"dense_to_sparse_gate", {4e-6 + 3e-7 / 0.01, 1e-40}, {{"tau", 0.01}}, "dense_to_sparse_gate_tau_0_01"},
    {"softmax_masked", {4e-6, 1e-40}, {}},
    {"stablemax", {4e-6, 1e-40}, {}},
    {"log_stablemax", {4e-6, 1e-6}, {}},
    // y = lse^2 doubles the relative error of lse = m + log(sum), whose
    // absolute error is the sum's relative error.
    {"log_z_loss", {1e-5, 1e-6}, {}},
    {"row_stats", {1e-6, 4e-3}, {}},
};

inline const JitCase& case_named(const std::string& name) {
  for (const JitCase& c : kCases) {
    if (name == c.name) return c;
  }
  throw std::runtime_error("no JIT case named " + name);
}

inline const char* kRowStats = R"(
kernel row_stats(x: f32[n]) -> (hi: f32, lo: f32, total: f32, peak: f32, average: f32) {
  hi = max(x)
  lo = min(x)
  total = sum(x)
  peak = absmax(x)
  average = mean(x)
}
)";

inline ir::Pipeline load(const std::string& name) {
  auto pipeline = name == "row_stats" ? ir::parse_pipeline(kRowStats) : parse_example(name);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  return *pipeline;
}

// True when the pipeline has an output y with one element per element of x,
// the one the in-place and streaming tests write.
inline bool has_row_output_y(const ir::Pipeline& pipeline) {
  auto y = pipeline.find_output("y");
  return y && pipeline.value(*y).type.shape.kind == ir::Shape::Kind::kRow;
}

inline const std::vector<std::optional<ir::SoftmaxForm>> kForms = {
    std::nullopt, ir::SoftmaxForm::kThreePassRecompute, ir::SoftmaxForm::kThreePassReload,
    ir::SoftmaxForm::kTwoPassOnline, ir::SoftmaxForm::kTwoPassExtExp};

inline std::string form_name(const std::optional<ir::SoftmaxForm>& form) {
  return form ? std::string(ir::softmax_form_name(*form)) : "default";
}

// Compiles `pipeline` for `isa` with `form` forced; returns null (and records
// nothing) when the form does not apply to the pipeline.
inline std::shared_ptr<const Kernel> compile_for(const ir::Pipeline& pipeline, Isa isa,
                                                 const std::optional<ir::SoftmaxForm>& form, bool nontemporal = false,
                                                 std::optional<int> resident_vectors = std::nullopt) {
  CompileOptions options;
  options.isa = isa;
  options.choices.softmax_form = form;
  if (nontemporal) options.choices.nontemporal_stores = true;
  options.choices.resident_vectors = resident_vectors;
  auto kernel = compile(pipeline, options);
  if (!kernel) {
    EXPECT_EQ(kernel.status().code(), StatusCode::kInvalidArgument) << kernel.status().to_string();
    return nullptr;
  }
  return *kernel;
}

// Fills row r of every input: N(0, 3) logits.
inline void fill_random(const ir::Pipeline& pipeline, RowTensors& tensors, std::mt19937& rng) {
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

inline void copy_inputs(const ir::Pipeline& pipeline, RowTensors& from, RowTensors& to) {
  for (ir::ValueId id : pipeline.inputs) {
    const ir::Value& v = pipeline.value(id);
    if (v.kind != ir::ValueKind::kInput) continue;
    for (int64_t r = 0; r < from.rows(); ++r) std::memcpy(to.row(v.name, r), from.row(v.name, r), from.n() * 4);
  }
}

// Runs the kernel and the interpreter on the same inputs and compares.
inline void expect_matches_reference(const Kernel& kernel, const JitCase& c, RowTensors& jit, RowTensors& reference,
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

// Row patterns with the special values, element i of n: -inf (masked
// logits), +inf, NaN, huge and denormal magnitudes, ties, signed zeros.
inline std::vector<std::function<float(int64_t, int64_t)>> special_patterns() {
  const float inf = INFINITY;
  return {
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
}

// Sets x of every row of `jit` to `pattern` and copies the inputs to
// `reference`.
inline void fill_pattern(const ir::Pipeline& pipeline, const std::function<float(int64_t, int64_t)>& pattern,
                         RowTensors& jit, RowTensors& reference) {
  for (int64_t r = 0; r < jit.rows(); ++r) {
    for (int64_t i = 0; i < jit.n(); ++i) jit.row("x", r)[i] = pattern(i, jit.n());
  }
  copy_inputs(pipeline, jit, reference);
}

}  // namespace rowjit::testing
