// Softmax cores on rows whose max or scaled shift is not an ordinary finite
// number: +inf and -inf together, NaN, logits near FLT_MAX, and a multiplier
// of the shift that is 0, -0 or tiny. Every form is compared with the
// interpreter on AVX-512 and AVX2, in registers and in loops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ir/parser.h"
#include "tests/jit_pipeline_cases.h"

namespace rowjit::testing {
namespace {

const float kInf = INFINITY;

// Runs `pipeline` with every form, ISA and register choice on one row made
// of `values`, placed at the start of a row of length n whose other
// elements are `fill`, and compares each kernel with the interpreter.
void expect_row_matches(const ir::Pipeline& pipeline, const JitCase& c, const std::vector<float>& values,
                        float fill, int64_t n, const std::string& what) {
  for (Isa isa : runnable_isas()) {
    for (const auto& form : kForms) {
      for (std::optional<int> resident : {std::optional<int>{}, std::optional<int>{0}}) {
        auto kernel = compile_for(pipeline, isa, form, false, resident);
        if (!kernel) continue;
        RowTensors jit(pipeline, 1, n, 0, 0);
        RowTensors reference(pipeline, 1, n, 0, 0);
        for (int64_t i = 0; i < n; ++i) {
          jit.row("x", 0)[i] = i < static_cast<int64_t>(values.size()) ? values[static_cast<size_t>(i)] : fill;
        }
        copy_inputs(pipeline, jit, reference);
        expect_matches_reference(*kernel, c, jit, reference,
                                 what + " on " + isa_name(isa) + ", form " + form_name(form) + ", n = " +
                                     std::to_string(n) + (resident ? ", no resident rows" : ""));
      }
    }
  }
}

struct SpecialRow {
  const char* name;
  std::vector<float> values;
  float fill;
};

// NaN at 0, -inf up to 1024, then 1e35 at 1024: the three land in the same
// vector lane, whose exponent jumps from -FLT_MAX to 1.44e35 after the NaN.
std::vector<float> nan_then_huge() {
  std::vector<float> values(1025, -kInf);
  values[0] = NAN;
  values[1024] = 1e35f;
  return values;
}

// The rows with +inf, -inf or NaN where every output of a softmax is NaN
// (the max is +inf or NaN, or the row is all -inf), and rows where it is
// not (one finite value among -inf).
const std::vector<SpecialRow>& special_rows() {
  static const std::vector<SpecialRow> rows = {
      {"[-inf, 0, inf]", {-kInf, 0.0f, kInf}, -kInf},
      {"[inf, 0, -inf]", {kInf, 0.0f, -kInf}, -kInf},
      {"all -inf", {-kInf}, -kInf},
      {"one +inf among finite", {1.0f, kInf, 2.0f}, 0.5f},
      {"+inf with -inf", {kInf, -kInf}, -kInf},
      {"+inf after finite", {3.0f}, kInf},
      {"NaN among -inf", {-kInf, NAN, 0.0f}, -kInf},
      {"NaN among finite", {1.0f, NAN}, 2.0f},
      {"one finite among -inf", {-kInf, 4.0f}, -kInf},
      {"-FLT_MAX and -inf", {-FLT_MAX, -kInf}, -FLT_MAX},
      {"NaN, -inf, then 1e35 in one lane", nan_then_huge(), -kInf},
      {"max 3.3e38 twice above 3e38", {3e38f, 3.3e38f, -3e38f, 3.3e38f, 2e38f}, 3.1e38f},
      {"max -2.5e38 twice", {-3.3e38f, -2.5e38f, -3e38f, -2.5e38f}, -2.6e38f},
  };
  return rows;
}

TEST(JitSpecialRows, SoftmaxFormsMatchInterpreter) {
  for (const char* name : {"softmax", "log_softmax", "softmax_masked"}) {
    ir::Pipeline pipeline = load(name);
    JitCase c{name, {4e-6, 1e-6}, {}};
    for (const SpecialRow& row : special_rows()) {
      for (int64_t n : {int64_t{3}, int64_t{17}, int64_t{70}, int64_t{1100}}) {
        expect_row_matches(pipeline, c, row.values, row.fill, n, std::string(name) + " on " + row.name);
        if (HasFailure()) return;
      }
    }
  }
}

TEST(JitSpecialRows, ExtExpMinusInfZeroInf) {
  ir::Pipeline pipeline = load("softmax");
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_for(pipeline, isa, ir::SoftmaxForm::kTwoPassExtExp);
    if (!kernel) continue;
    RowTensors jit(pipeline, 1, 3, 0, 0);
    float* x = jit.row("x", 0);
    x[0] = -kInf;
    x[1] = 0.0f;
    x[2] = kInf;
    ASSERT_TRUE(kernel->run(jit.args()).is_ok());
    // The max is +inf, so every x - max is NaN or -inf and the sum is NaN.
    const float* y = jit.row("y", 0);
    EXPECT_TRUE(std::isnan(y[0])) << y[0];
    EXPECT_TRUE(std::isnan(y[1])) << y[1];
    EXPECT_TRUE(std::isnan(y[2])) << y[2];
  }
}

// Rows whose max is large in magnitude. The extended-exponent form's pairs
// of exp(x) are exact to 1 ulp only up to |x| = 2^19: beyond, close elements
// can share an exponent, and from about 2.36e38 up every element gets the
// same pair. Such rows split their softmax among their largest elements (0.8
// and 0.2 where the interpreter gives 1 and 0) until rows with a max of 2^19
// and more ran both sweeps again on x - max. Each batch mixes them with
// ordinary rows, since the copy on x - max is chosen per row. The second
// pipeline's other output, a sum of x * x in the first sweep, must come out
// the same from either copy.
TEST(JitSpecialRows, LargeMaxMatchesInterpreter) {
  auto parsed = ir::parse_pipeline(R"(
kernel softmax_and_energy(x: f32[n]) -> (y: f32[n], t: f32) {
  m = max(x)
  e = exp(x - m)
  y = e / sum(e)
  t = sum(x * x)
}
)");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  std::mt19937 rng(127);
  std::uniform_real_distribution<float> huge(-3.3e38f, 3.3e38f);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  const float two_127 = 0x1p127f;
  // Rows that alternate two close values a and b, from the rows that failed.
  const std::vector<std::pair<float, float>> pairs = {
      {1e12f, std::nextafter(1e12f, 0.0f)},
      {1.5e38f, std::nextafter(1.5e38f, 0.0f)},
      {std::nextafter(two_127, 0.0f), std::nextafter(std::nextafter(two_127, 0.0f), 0.0f)},
      {1e8f, 99999992.0f},
      {12058624.0f, 12058623.0f},
      {-12058623.0f, -12058624.0f},
      {1e9f, 999999936.0f},
      {0x1p19f, 0x1p19f - 0.25f},
      {0x1p19f - 0.5f, 0x1p19f - 2.0f},
      {-0x1p19f, -0x1p19f - 3.0f},
  };
  std::vector<std::function<float(int64_t, int64_t)>> rows = {
      [&](int64_t, int64_t) { return huge(rng); },
      [&](int64_t i, int64_t) {
        if (i % 3 == 1) return 3.3e38f;
        return i % 3 == 2 ? 3.0e38f : -3.3e38f;
      },
      [&](int64_t i, int64_t) { return 0.01f * static_cast<float>(i % 97); },
      [&](int64_t i, int64_t n) { return i == n / 2 || i == 0 ? -2.5e38f : -3.0e38f; },
      [&](int64_t i, int64_t) { return i % 5 == 0 ? two_127 : std::nextafter(two_127, 0.0f); },
      [&](int64_t i, int64_t) {
        if (i % 5 == 0) return 1.5e38f;
        return i % 5 == 1 ? -kInf : 1.4e38f;
      },
      [&](int64_t i, int64_t n) { return i == n - 1 ? FLT_MAX : -FLT_MAX; },
      [&](int64_t, int64_t) { return 3e6f + 4.0f * unit(rng); },
      [&](int64_t, int64_t) { return -5e5f + 8.0f * unit(rng); },
      // A NaN makes every output NaN, with or without the copy on x - max.
      [&](int64_t i, int64_t n) { return i == n / 2 ? NAN : 1e12f; },
      // Denormals and -0 next to a large max give outputs of 0.
      [&](int64_t i, int64_t) {
        if (i % 3 == 0) return 1e9f;
        return i % 3 == 1 ? 1e-40f : -0.0f;
      },
  };
  for (const auto& [a, b] : pairs) {
    rows.push_back([a, b](int64_t i, int64_t) { return i % 2 ? b : a; });
  }
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 40; ++n) lengths.push_back(n);
  for (int64_t n : {63, 64, 65, 127, 255, 300, 1100, 5003}) lengths.push_back(n);
  for (const ir::Pipeline& pipeline : {load("softmax"), *parsed}) {
    JitCase c{"softmax", {4e-6, 1e-40}, {}};
    for (Isa isa : runnable_isas()) {
      for (const auto& form : kForms) {
        for (bool nontemporal : {false, true}) {
          auto kernel = compile_for(pipeline, isa, form, nontemporal);
          if (!kernel) continue;
          for (int64_t n : lengths) {
            auto rows_count = static_cast<int64_t>(rows.size());
            RowTensors jit(pipeline, rows_count, n, 16, 0);
            RowTensors reference(pipeline, rows_count, n, 16, 0);
            for (int64_t r = 0; r < rows_count; ++r) {
              for (int64_t i = 0; i < n; ++i) jit.row("x", r)[i] = rows[static_cast<size_t>(r)](i, n);
            }
            copy_inputs(pipeline, jit, reference);
            expect_matches_reference(*kernel, c, jit, reference,
                                     pipeline.name + " with large maxima on " + isa_name(isa) + ", form " +
                                         form_name(form) + (nontemporal ? ", non-temporal" : "") +
                                         ", n = " + std::to_string(n));
            if (HasFailure()) return;
          }
        }
      }
    }
  }
}

// An output that the first sweep writes over an input of that sweep, in a
// row whose max sends it to the copy on x - max. That copy must compute the
// sum of exp alone: when it ran the whole first sweep again, z = w * 2 read
// the z of the first run and gave 4 w, and sum(w) summed z.
TEST(JitSpecialRows, LargeMaxKeepsInPlaceOutputs) {
  auto pipeline = ir::parse_pipeline(R"(
kernel softmax_and_scaled(x: f32[n], w: f32[n]) -> (y: f32[n], z: f32[n], t: f32) {
  m = max(x)
  e = exp(x - m)
  y = e / sum(e)
  z = w * 2
  t = sum(w)
}
)");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_for(*pipeline, isa, ir::SoftmaxForm::kTwoPassExtExp);
    if (!kernel) continue;
    for (int64_t n : {int64_t{1}, int64_t{5}, int64_t{77}, int64_t{1000}}) {
      RowTensors jit(*pipeline, 3, n, 0, 0);
      RowTensors reference(*pipeline, 3, n, 0, 0);
      // Row 0 is ordinary; rows 1 and 2 take the copy on x - max.
      const float maxima[] = {3.0f, 1e12f, -0x1p19f};
      for (int64_t r = 0; r < 3; ++r) {
        const float max = maxima[r];
        for (int64_t i = 0; i < n; ++i) {
          jit.row("x", r)[i] = i % 3 == 0 ? max : std::nextafter(max, -kInf);
          jit.row("w", r)[i] = static_cast<float>(i + 1);
        }
      }
      copy_inputs(*pipeline, jit, reference);
      jit.alias("z", "w");
      ASSERT_TRUE(kernel->run(jit.args()).is_ok());
      ASSERT_TRUE(ir::interpret(*pipeline, reference.args()).is_ok());
      for (int64_t r = 0; r < 3; ++r) {
        std::string where = std::string(isa_name(isa)) + ", n = " + std::to_string(n) + ", row " + std::to_string(r);
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(jit.row("w", r)[i], reference.row("z", r)[i]) << "z[" << i << "] on " << where;
          float want = reference.row("y", r)[i];
          ASSERT_NEAR(jit.row("y", r)[i], want, 4e-6 * std::fabs(want) + 1e-40) << "y[" << i << "] on " << where;
        }
        ASSERT_EQ(jit.row("t", r)[0], reference.row("t", r)[0]) << "t on " << where;
      }
    }
  }
}

// The online form rescales a lane's sum only where its reference moves, and
// one test of the whole vector mask decides that. Here only element 13 of
// every 16 rises, by 51 per 1024 elements. So the references that move are in
// the upper half of a ymm and of a zmm, and they move at every block of the
// loops. A move the test missed would leave exps of up to e^204 in the sum.
TEST(JitSpecialRows, ReferenceMovesInOneUpperLane) {
  std::vector<float> values(4096);
  for (size_t i = 0; i < values.size(); ++i) values[i] = i % 16 == 13 ? 0.05f * static_cast<float>(i) : -100.0f;
  for (const char* name : {"softmax", "log_softmax"}) {
    ir::Pipeline pipeline = load(name);
    JitCase c{name, {4e-6, 1e-6}, {}};
    expect_row_matches(pipeline, c, values, -100.0f, 4101, std::string(name) + " with one rising upper lane");
  }
}

// A row whose first element is its max, followed by terms of exp(-16.6356),
// just under 2^-24, in every 8th element: a float partial sum that contains
// the 1 of the max drops each such term. With one AVX2 accumulator for every
// unroll lane, flushed every 16 iterations, 16 * unroll terms per lane were
// lost: 7.6e-6 relative at unroll 8, and 3.7e-6 absolute for log-softmax at
// the default unroll 4. That accumulator now takes the lanes in pairs, so the
// rows also take terms of exp(-17.3291), just under 2^-25, whose pairs it
// drops. Rows of 20000 take blocked exp.
TEST(JitSumAccuracy, SmallTermsAfterTheMax) {
  for (const char* name : {"softmax", "log_softmax"}) {
    ir::Pipeline pipeline = load(name);
    JitCase c{name, {4e-6, 1e-6}, {}};
    for (Isa isa : runnable_isas()) {
      for (std::optional<int> unroll : {std::optional<int>{}, std::optional<int>{1}, std::optional<int>{3},
                                        std::optional<int>{4}, std::optional<int>{8}}) {
        for (auto [n, term] : {std::pair{int64_t{4096}, -16.6356f}, std::pair{int64_t{20000}, -16.6356f},
                               std::pair{int64_t{4096}, -17.3291f}, std::pair{int64_t{20000}, -17.3291f}}) {
          CompileOptions options;
          options.isa = isa;
          options.n_hint = n;
          options.choices.unroll = unroll;
          auto kernel = compile(pipeline, options);
          ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
          RowTensors jit(pipeline, 1, n, 0, 0);
          RowTensors reference(pipeline, 1, n, 0, 0);
          float* x = jit.row("x", 0);
          for (int64_t i = 0; i < n; ++i) x[i] = -kInf;
          for (int64_t i = 8; i < 1024; i += 8) x[i] = term;
          x[0] = 0.0f;
          copy_inputs(pipeline, jit, reference);
          expect_matches_reference(**kernel, c, jit, reference,
                                   std::string(name) + " on " + isa_name(isa) + ", unroll " +
                                       (unroll ? std::to_string(*unroll) : "default") + ", n = " + std::to_string(n) +
                                       ", terms exp(" + std::to_string(term) + ")");
          if (HasFailure()) return;
        }
      }
    }
  }
}

// The loops flushed the last block of the main loop after the remainder loop
// and the tail, whose vectors all went to lane 0's sum. A row whose max and
// small terms fell in that block gave lane 0 up to 16 + unroll terms between
// two flushes: a log-softmax came out 1.13e-6 off on AVX2 at n = 281 (unroll
// 4) and on AVX-512 at n = 1009, and 1.37e-6 at unroll 8, against a bound of
// 1e-6. The rows have 200 to 330 elements for the AVX2 blocks, and a few
// have just over 1024 and 2048 for the AVX-512 blocks of 16 iterations at
// unroll 4 and 8. The max sits at every 16th position (every 64th up to 1024
// on the long rows), and small terms in the first element of every vector
// after it.
TEST(JitSumAccuracy, SmallTermsInTheLastBlock) {
  for (const char* name : {"softmax", "log_softmax"}) {
    ir::Pipeline pipeline = load(name);
    JitCase c{name, {4e-6, 1e-6}, {}};
    for (Isa isa : runnable_isas()) {
      int lanes = isa == Isa::kAvx512 ? 16 : 8;
      for (std::optional<int> unroll : {std::optional<int>{}, std::optional<int>{8}}) {
        CompileOptions options;
        options.isa = isa;
        options.n_hint = 300;
        options.choices.unroll = unroll;
        options.choices.resident_vectors = 0;
        auto kernel = compile(pipeline, options);
        ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
        for (float term : {-16.6356f, -17.3291f}) {
          std::vector<int64_t> lengths;
          for (int64_t n = 200; n <= 330; ++n) lengths.push_back(n);
          for (int64_t n : {1009, 1025, 1041, 1077, 1087, 2049, 2112, 2130}) lengths.push_back(n);
          for (int64_t n : lengths) {
            int64_t step = n > 330 ? 64 : 16;
            for (int64_t max_at = 0; max_at < std::min<int64_t>(n, 1024); max_at += step) {
              RowTensors jit(pipeline, 1, n, 0, 0);
              RowTensors reference(pipeline, 1, n, 0, 0);
              float* x = jit.row("x", 0);
              for (int64_t i = 0; i < n; ++i) x[i] = -kInf;
              x[max_at] = 0.0f;
              for (int64_t i = max_at + lanes; i < n; i += lanes) x[i] = term;
              copy_inputs(pipeline, jit, reference);
              expect_matches_reference(**kernel, c, jit, reference,
                                       std::string(name) + " on " + isa_name(isa) + ", unroll " +
                                           (unroll ? std::to_string(*unroll) : "default") + ", n = " +
                                           std::to_string(n) + ", max at " + std::to_string(max_at) +
                                           ", terms exp(" + std::to_string(term) + ")");
              if (HasFailure()) return;
            }
          }
        }
      }
    }
  }
}

// y = softmax((x - max(x)) * it): a multiplier that may be 0 or tiny, as an
// inverse temperature is.
const char* kScaledSoftmax = R"(
kernel scaled_softmax(x: f32[n], param it: f32 >= 0) -> (y: f32[n]) {
  m = max(x)
  e = exp((x - m) * it)
  y = e / sum(e)
}
)";

TEST(JitOnlineScale, ZeroMultiplierGivesUniformRow) {
  auto pipeline = ir::parse_pipeline(kScaledSoftmax);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_for(*pipeline, isa, ir::SoftmaxForm::kTwoPassOnline);
    ASSERT_NE(kernel, nullptr);
    for (double it : {0.0, -0.0}) {
      RowTensors jit(*pipeline, 1, 2, 0, 0);
      jit.row("x", 0)[0] = 1e32f;
      jit.row("x", 0)[1] = 1.0f;
      ir::RunArgs args = jit.args();
      args.scalars["it"] = it;
      ASSERT_TRUE(kernel->run(args).is_ok());
      // (x - m) * 0 is 0 for both elements, so each gets exp(0) / 2.
      EXPECT_EQ(jit.row("y", 0)[0], 0.5f) << isa_name(isa) << ", it = " << it;
      EXPECT_EQ(jit.row("y", 0)[1], 0.5f) << isa_name(isa) << ", it = " << it;
    }
  }
}

std::string format_multiplier(double it) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", it);
  return text;
}

TEST(JitOnlineScale, TinyMultipliersMatchInterpreter) {
  auto pipeline = ir::parse_pipeline(kScaledSoftmax);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  const std::vector<SpecialRow> rows = {
      {"[1e32, 1]", {1e32f, 1.0f}, 1.0f},
      {"[1, 1e32]", {1.0f}, 1e32f},
      {"1e32 late in the row", {1.0f, 2.0f, 3.0f}, 1.0f},
      {"FLT_MAX and -FLT_MAX", {FLT_MAX, -FLT_MAX}, 0.0f},
      {"-FLT_MAX then FLT_MAX", {-FLT_MAX}, FLT_MAX},
      {"+inf", {1.0f, kInf}, 1.0f},
      {"-inf", {-kInf, 1.0f}, 1.0f},
      {"-inf then 1e32", {-kInf}, 1e32f},
      {"all -inf", {-kInf}, -kInf},
      {"NaN", {1e32f, NAN}, 1.0f},
      {"ordinary logits", {0.5f, -2.0f, 3.0f}, 1.0f},
  };
  for (double it : {0.0, -0.0, 1e-45, 1e-40, 1e-38, 1e-30, 1e-6}) {
    JitCase c{"scaled_softmax", {4e-6, 1e-40}, {{"it", it}}};
    for (const SpecialRow& row : rows) {
      // The interpreter's -FLT_MAX - FLT_MAX overflows to -inf, which gives
      // NaN (it = 0) or exp(-inf) = 0 (tiny it), but the online form
      // subtracts in two steps that do not overflow. The kernel notes this
      // difference where it rescales.
      if (std::fabs(it) < 1e-30 && std::string(row.name).find("-FLT_MAX") != std::string::npos) continue;
      for (int64_t n : {int64_t{2}, int64_t{40}, int64_t{3000}}) {
        std::vector<float> values = row.values;
        // In the long row, 1e32 comes after the first flush, so that the
        // reference moves between two flushes.
        if (std::string(row.name) == "1e32 late in the row" && n > 2000) {
          values.resize(2000, 1.0f);
          values.push_back(1e32f);
        }
        expect_row_matches(*pipeline, c, values, row.fill, n,
                           "scaled_softmax, it = " + format_multiplier(it) + ", on " + row.name);
        if (HasFailure()) return;
      }
    }
  }
}

TEST(JitOnlineScale, NegativeMultipliersMatchInterpreter) {
  auto pipeline = ir::parse_pipeline(R"(
kernel signed_scale(x: f32[n], param it: f32) -> (y: f32[n]) {
  m = max(x)
  e = exp((x - m) * it)
  y = e / sum(e)
}
)");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (double it : {-1.0, -1e-30, -0.0}) {
    JitCase c{"signed_scale", {4e-6, 1e-40}, {{"it", it}}};
    for (int64_t n : {int64_t{2}, int64_t{40}, int64_t{3000}}) {
      expect_row_matches(*pipeline, c, {0.5f, -2.0f, 3.0f, 1e32f}, 1.0f, n,
                         "signed_scale, it = " + format_multiplier(it));
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace rowjit::testing
