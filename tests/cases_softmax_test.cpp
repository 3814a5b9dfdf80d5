// Softmax edge cases that other projects have got wrong, with the results that
// docs/ir.md specifies. They cover masked rows, infinities and NaN, length-1
// rows, row versus column layout, and valid and invalid temperatures.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "ir/parser.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The log-softmax form of the masked policy: an all -inf row gives -inf (log 0)
// everywhere instead of NaN.
constexpr const char* kMaskedLogSoftmax = R"(
kernel log_softmax_masked(x: f32[n]) -> (y: f32[n]) {
  m = max(x)
  shift = select(m == -inf, 0, m)
  d = x - shift
  s = sum(exp(d))
  y = select(s == 0, -inf, d - log(s))
}
)";

// Runs a one-input, one-output pipeline on rows of length n.
std::vector<float> run_rows(const ir::Pipeline& pipeline, const std::vector<float>& x, int64_t rows, int64_t n,
                            std::optional<double> tau = std::nullopt) {
  PipelineRun run(pipeline, rows, n);
  run.input("x", x);
  if (tau) run.param("tau", *tau);
  Status status = run.run();
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  return run.f32("y");
}

ir::Pipeline example(const std::string& name) {
  auto pipeline = parse_example(name);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  return pipeline.is_ok() ? *pipeline : ir::Pipeline{};
}

// Rows that hold +inf or NaN: softmax and log-softmax give NaN everywhere.
std::vector<std::vector<float>> inf_and_nan_rows() {
  std::vector<float> counting(17);
  for (int i = 0; i < 16; ++i) counting[static_cast<size_t>(i)] = static_cast<float>(i);
  counting[16] = kNaN;
  std::vector<float> falling(9);
  for (int i = 0; i < 8; ++i) falling[static_cast<size_t>(i)] = static_cast<float>(-i);
  falling[8] = kInf;
  return {{0, kInf}, {1, 2, kInf, 3}, {-kInf, 0, kInf}, {kInf, 1, 2}, {1, kNaN, 2}, {kNaN, kNaN, kNaN},
          counting, falling};
}

TEST(SoftmaxCases, AllNegativeInfinityRowsGiveNaN) {
  for (const char* name : {"softmax", "log_softmax"}) {
    ir::Pipeline pipeline = example(name);
    for (int64_t n : {1, 3, 8, 9, 16, 17, 33}) {
      std::vector<float> y = run_rows(pipeline, std::vector<float>(static_cast<size_t>(n), -kInf), 1, n);
      for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(std::isnan(y[static_cast<size_t>(i)])) << name << " n " << n << " i " << i;
    }
  }
}

TEST(SoftmaxCases, OneFiniteAmongMaskedIsExactOneHot) {
  std::vector<float> last(16, -kInf);
  last.push_back(0);
  std::vector<float> first = {0};
  first.insert(first.end(), 16, -kInf);
  ir::Pipeline softmax = example("softmax");
  ir::Pipeline log_softmax = example("log_softmax");
  ir::Pipeline masked = example("softmax_masked");
  for (const auto& row : {last, first}) {
    size_t hot = row[0] == 0 ? 0 : 16;
    std::vector<float> p = run_rows(softmax, row, 1, 17);
    std::vector<float> log_p = run_rows(log_softmax, row, 1, 17);
    std::vector<float> masked_p = run_rows(masked, row, 1, 17);
    for (size_t i = 0; i < 17; ++i) {
      float one_hot = i == hot ? 1.0f : 0.0f;
      EXPECT_EQ(p[i], one_hot) << "softmax, column " << i;
      EXPECT_EQ(masked_p[i], one_hot) << "softmax_masked, column " << i;
      EXPECT_EQ(log_p[i], i == hot ? 0.0f : -kInf) << "log_softmax, column " << i;
    }
  }
}

TEST(SoftmaxCases, MaskedPolicyGivesZeroForAllMaskedRow) {
  ir::Pipeline masked = example("softmax_masked");
  auto masked_log = ir::parse_pipeline(kMaskedLogSoftmax);
  ASSERT_TRUE(masked_log.is_ok()) << masked_log.status().to_string();
  for (int64_t n : {1, 3, 8, 9, 16, 17, 33}) {
    std::vector<float> x(static_cast<size_t>(n), -kInf);
    std::vector<float> y = run_rows(masked, x, 1, n);
    std::vector<float> log_y = run_rows(*masked_log, x, 1, n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(y[static_cast<size_t>(i)], 0.0f) << "n " << n << ", column " << i;
      EXPECT_EQ(log_y[static_cast<size_t>(i)], -kInf) << "n " << n << ", column " << i;
    }
  }
}

TEST(SoftmaxCases, MaskedPolicyKeepsNaNRows) {
  ir::Pipeline masked = example("softmax_masked");
  auto masked_log = ir::parse_pipeline(kMaskedLogSoftmax);
  ASSERT_TRUE(masked_log.is_ok()) << masked_log.status().to_string();
  for (const auto& row : inf_and_nan_rows()) {
    int64_t n = static_cast<int64_t>(row.size());
    std::vector<float> y = run_rows(masked, row, 1, n);
    std::vector<float> log_y = run_rows(*masked_log, row, 1, n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_TRUE(std::isnan(y[static_cast<size_t>(i)])) << ::testing::PrintToString(row) << ", column " << i;
      EXPECT_TRUE(std::isnan(log_y[static_cast<size_t>(i)])) << ::testing::PrintToString(row) << ", column " << i;
    }
  }
}

TEST(SoftmaxCases, InfinityOrNaNInRowGivesNaN) {
  for (const char* name : {"softmax", "log_softmax"}) {
    ir::Pipeline pipeline = example(name);
    for (const auto& row : inf_and_nan_rows()) {
      int64_t n = static_cast<int64_t>(row.size());
      std::vector<float> y = run_rows(pipeline, row, 1, n);
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_TRUE(std::isnan(y[static_cast<size_t>(i)])) << name << " " << ::testing::PrintToString(row)
                                                           << ", column " << i;
      }
    }
  }
}

TEST(SoftmaxCases, RowOfThreeMatchesKnownValues) {
  // softmax([1.2, -1.1, -0.27]) computed in double and rounded to f32.
  std::vector<float> y = run_rows(example("softmax"), {1.2f, -1.1f, -0.27f}, 1, 3);
  const float expected[] = {0.7517755f, 0.07537214f, 0.17285234f};
  for (size_t i = 0; i < 3; ++i) EXPECT_LE(ulp_distance(y[i], expected[i]), 2) << "column " << i << ": " << y[i];
}

TEST(SoftmaxCases, ThreeRowsOfOneGiveOnes) {
  // The same numbers as three rows of length 1: every row normalizes alone.
  std::vector<float> y = run_rows(example("softmax"), {1.2f, -1.1f, -0.27f}, 3, 1);
  EXPECT_EQ(y, (std::vector<float>{1, 1, 1}));
}

TEST(SoftmaxCases, LengthOneRowIsExactlyOne) {
  ir::Pipeline softmax = example("softmax");
  ir::Pipeline log_softmax = example("log_softmax");
  for (float v : {0.7f, -3.0f, 1e30f, -1e30f}) {
    EXPECT_EQ(run_rows(softmax, {v}, 1, 1)[0], 1.0f) << v;
    float log_y = run_rows(log_softmax, {v}, 1, 1)[0];
    EXPECT_EQ(log_y, 0.0f) << v;
    EXPECT_FALSE(std::signbit(log_y)) << v << " gives -0";
  }
  for (float v : {kInf, -kInf, kNaN}) {
    EXPECT_TRUE(std::isnan(run_rows(softmax, {v}, 1, 1)[0])) << v;
    EXPECT_TRUE(std::isnan(run_rows(log_softmax, {v}, 1, 1)[0])) << v;
  }
}

TEST(SoftmaxCases, TemperatureMatchesKnownValues) {
  // softmax([1, 2, 3, 4] / tau) computed in double and rounded to f32.
  ir::Pipeline pipeline = example("softmax_temperature");
  struct Case {
    double tau;
    float expected[4];
  };
  const Case cases[] = {
      {1.0, {0.032058604f, 0.087144315f, 0.23688282f, 0.6439143f}},
      {0.5, {0.0021440089f, 0.015842201f, 0.11705891f, 0.8649549f}},
      {2.0, {0.101536326f, 0.1674051f, 0.27600434f, 0.45505422f}},
  };
  for (const auto& c : cases) {
    std::vector<float> y = run_rows(pipeline, {1, 2, 3, 4}, 1, 4, c.tau);
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_LE(ulp_distance(y[i], c.expected[i]), 4) << "tau " << c.tau << ", column " << i << ": " << y[i];
    }
  }
}

TEST(SoftmaxCases, SmallTemperatureGivesExactArgmax) {
  ir::Pipeline pipeline = example("softmax_temperature");
  EXPECT_EQ(run_rows(pipeline, {1, 2, 3, 4}, 1, 4, 1e-3), (std::vector<float>{0, 0, 0, 1}));
  EXPECT_EQ(run_rows(pipeline, {3, 3, 1}, 1, 3, 1e-3), (std::vector<float>{0.5f, 0.5f, 0}));
}

TEST(SoftmaxCases, InvalidTemperatureRejectedBeforeWriting) {
  ir::Pipeline pipeline = example("softmax_temperature");
  for (double tau : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    PipelineRun run(pipeline, 2, 4);
    run.input("x", std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}).param("tau", tau);
    Status status = run.run();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << "tau " << tau << ": " << status.to_string();
    EXPECT_NE(status.message().find("tau"), std::string::npos) << status.message();
    EXPECT_TRUE(run.outputs_untouched()) << "tau " << tau;
  }
}

}  // namespace
}  // namespace rowjit::testing
