// The mixture-of-experts router examples through the reference interpreter:
// expert indices must equal the reference exactly, weights must lie within the
// error bounds of tests/reference_formulas.h.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/reference_formulas.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr int64_t kRowsPerRun = 3;

using RouterReference = std::function<ref::Routing(const std::vector<float>&, size_t)>;

// Runs one router over `rows` rows of length n with k experts per row and
// compares indices and weights row by row.
void check_router(const std::string& example, const RouterReference& reference, const std::vector<float>& x,
                  int64_t rows, int64_t n, int64_t k) {
  auto pipeline = parse_example(example);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, rows, n);
  run.input("x", x).param("k", static_cast<double>(k));
  Status status = run.run();
  ASSERT_TRUE(status.is_ok()) << status.to_string();

  std::vector<float> w = run.f32("w");
  std::vector<int32_t> idx = run.s32("idx");
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> row(x.begin() + r * n, x.begin() + (r + 1) * n);
    ref::Routing expected = reference(row, static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) {
      size_t at = static_cast<size_t>(r * k + j);
      EXPECT_EQ(idx[at], expected.indices[static_cast<size_t>(j)]) << "row " << r << ", expert " << j;
      EXPECT_TRUE(matches(w[at], expected.weights[static_cast<size_t>(j)])) << "row " << r << ", expert " << j;
    }
  }
}

void check_random_routers(const std::string& example, const RouterReference& reference) {
  std::mt19937 rng(31337);
  for (int64_t n : {1, 7, 32, 33, 257}) {
    for (int64_t k : {1, 2, 4, 7}) {
      if (k > n) continue;
      SCOPED_TRACE("n = " + std::to_string(n) + ", k = " + std::to_string(k));
      std::vector<float> x;
      for (int64_t r = 0; r < kRowsPerRun; ++r) {
        std::vector<float> row = distinct_values(rng, static_cast<size_t>(n), 0.037f);
        x.insert(x.end(), row.begin(), row.end());
      }
      check_router(example, reference, x, kRowsPerRun, n, k);
    }
  }
}

void check_special_routers(const std::string& example, const RouterReference& reference) {
  const std::vector<std::vector<float>> rows = {
      {0, 0, 0, 0, 0, 0, 0, 0},
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
      {0.1f, kNaN, 0.3f, 0.2f, -1, 0.05f, 0, -0.5f},
      {kNaN, kNaN, kNaN, kNaN},
      {-kInf, -kInf, 3, -kInf},
      {-kInf, -kInf, -kInf},
      {kInf, 1, 2, kInf},
      {-0.0f, 0.0f, -0.0f, 0.0f},
      {100, -100, 50, 0.5f, -3e38f},
  };
  for (const auto& row : rows) {
    for (int64_t k : {1, 2, 3}) {
      if (k > static_cast<int64_t>(row.size())) continue;
      SCOPED_TRACE(::testing::PrintToString(row) + ", k = " + std::to_string(k));
      check_router(example, reference, row, 1, static_cast<int64_t>(row.size()), k);
    }
  }
}

TEST(ExampleMoeTopkSoftmax, RandomRows) { check_random_routers("moe_topk_softmax", ref::moe_topk_softmax); }

TEST(ExampleMoeTopkSoftmax, SpecialRows) { check_special_routers("moe_topk_softmax", ref::moe_topk_softmax); }

TEST(ExampleMoeSoftmaxTopkRenorm, RandomRows) {
  check_random_routers("moe_softmax_topk_renorm", ref::moe_softmax_topk_renorm);
}

TEST(ExampleMoeSoftmaxTopkRenorm, SpecialRows) {
  check_special_routers("moe_softmax_topk_renorm", ref::moe_softmax_topk_renorm);
}

TEST(ExampleMoeTopk, DefaultKIsTwo) {
  for (const std::string example : {"moe_topk_softmax", "moe_softmax_topk_renorm"}) {
    auto pipeline = parse_example(example);
    ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
    PipelineRun run(*pipeline, 1, 5);
    run.input("x", std::vector<float>{0.3f, -1.0f, 2.5f, 0.3f, 7.0f});
    ASSERT_TRUE(run.run().is_ok()) << example;
    EXPECT_EQ(run.s32("idx"), (std::vector<int32_t>{4, 2})) << example;
  }
}

TEST(ExampleMoeTop1, RandomAndSpecialRows) {
  auto pipeline = parse_example("moe_top1");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::mt19937 rng(4);
  std::vector<std::vector<float>> rows = {
      {0, 0, 0, 0}, {kNaN, 1, 2}, {-kInf, -kInf, 3}, {1, 3, 3, 2}, {5},
  };
  for (size_t n : {1, 7, 32, 33, 257}) rows.push_back(distinct_values(rng, n, 0.037f));
  for (const auto& row : rows) {
    SCOPED_TRACE(::testing::PrintToString(row));
    PipelineRun run(*pipeline, 1, static_cast<int64_t>(row.size()));
    run.input("x", row);
    ASSERT_TRUE(run.run().is_ok());
    ref::Routing expected = ref::moe_top1(row);
    EXPECT_EQ(run.s32("idx")[0], expected.indices[0]);
    EXPECT_TRUE(matches(run.f32("w")[0], expected.weights[0]));
  }
}

// DeepSeek-V3 routing with 8 groups: n = 16 (2 experts per group), 64 and 256
// (the model's 256 routed experts), k = 8 as in the model and smaller.
TEST(ExampleMoeSigmoidGrouped, RandomRows) {
  auto pipeline = parse_example("moe_sigmoid_grouped");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::mt19937 rng(2024);
  for (int64_t n : {16, 64, 256}) {
    for (int64_t k : {1, 4, 8}) {
      SCOPED_TRACE("n = " + std::to_string(n) + ", k = " + std::to_string(k));
      std::vector<float> x;
      for (int64_t r = 0; r < kRowsPerRun; ++r) {
        std::vector<float> row = distinct_values(rng, static_cast<size_t>(n), 0.037f);
        x.insert(x.end(), row.begin(), row.end());
      }
      // The bias moves the selection but never the weights; give it the scale
      // of the learned balancing biases (a few hundredths).
      std::vector<float> bias = random_values(rng, static_cast<size_t>(n), 0.05f);
      PipelineRun run(*pipeline, kRowsPerRun, n);
      run.input("x", x).input("bias", bias).param("k", static_cast<double>(k));
      Status status = run.run();
      ASSERT_TRUE(status.is_ok()) << status.to_string();

      std::vector<float> w = run.f32("w");
      std::vector<int32_t> idx = run.s32("idx");
      for (int64_t r = 0; r < kRowsPerRun; ++r) {
        std::vector<float> row(x.begin() + r * n, x.begin() + (r + 1) * n);
        ref::Routing expected = ref::moe_sigmoid_grouped(row, bias, static_cast<size_t>(k), 2.5);
        for (int64_t j = 0; j < k; ++j) {
          size_t at = static_cast<size_t>(r * k + j);
          EXPECT_EQ(idx[at], expected.indices[static_cast<size_t>(j)]) << "row " << r << ", expert " << j;
          EXPECT_TRUE(matches(w[at], expected.weights[static_cast<size_t>(j)])) << "row " << r << ", expert " << j;
        }
      }
    }
  }
}

TEST(ExampleMoeSigmoidGrouped, ChoosesOnlyFromKeptGroups) {
  // 16 experts in 8 groups of 2. Groups 0..3 hold the highest scores, so the 8
  // experts chosen with k = 8 are exactly experts 0..7, ordered by score.
  auto pipeline = parse_example("moe_sigmoid_grouped");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::vector<float> x = {8, 7.5f, 6, 5.5f, 4, 3.5f, 2, 1.5f, -1, -1.5f, -2, -2.5f, -3, -3.5f, -4, -4.5f};
  std::vector<float> bias(16, 0);
  PipelineRun run(*pipeline, 1, 16);
  run.input("x", x).input("bias", bias).param("route_scale", 1.0);
  ASSERT_TRUE(run.run().is_ok());
  EXPECT_EQ(run.s32("idx"), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  double total = 0;
  for (float w : run.f32("w")) total += w;
  EXPECT_NEAR(total, 1.0, 8 * ref::kMargin * 5 * ref::kRoundoff) << "route_scale 1 gives weights summing to 1";
}

TEST(ExampleMoeSigmoidGrouped, BiasChangesSelectionNotWeights) {
  // A large bias on expert 15 (group 7) makes it the first choice; its weight
  // still comes from sigmoid(x[15]) without the bias.
  auto pipeline = parse_example("moe_sigmoid_grouped");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::vector<float> x = {8, 7.5f, 6, 5.5f, 4, 3.5f, 2, 1.5f, -1, -1.5f, -2, -2.5f, -3, -3.5f, -4, -4.5f};
  std::vector<float> bias(16, 0);
  bias[15] = 10;
  PipelineRun run(*pipeline, 1, 16);
  run.input("x", x).input("bias", bias).param("k", 2.0);
  ASSERT_TRUE(run.run().is_ok());
  std::vector<int32_t> idx = run.s32("idx");
  EXPECT_EQ(idx, (std::vector<int32_t>{15, 0}));
  ref::Routing expected = ref::moe_sigmoid_grouped(x, bias, 2, 2.5);
  std::vector<float> w = run.f32("w");
  EXPECT_TRUE(matches(w[0], expected.weights[0]));
  EXPECT_TRUE(matches(w[1], expected.weights[1]));
  EXPECT_LT(w[0], w[1]) << "sigmoid(-4.5) < sigmoid(8)";
}

TEST(ExampleMoeRouters, IndicesDistinctAndInRange) {
  std::mt19937 rng(8);
  for (const std::string example : {"moe_topk_softmax", "moe_softmax_topk_renorm"}) {
    auto pipeline = parse_example(example);
    ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
    for (int64_t n : {4, 9, 33}) {
      // Rows with many ties and NaNs stress the ordering.
      std::vector<float> x(static_cast<size_t>(n));
      std::uniform_int_distribution<int> pick(0, 3);
      for (float& v : x) v = std::vector<float>{0.0f, 1.0f, kNaN, -0.0f}[static_cast<size_t>(pick(rng))];
      PipelineRun run(*pipeline, 1, n);
      run.input("x", x).param("k", static_cast<double>(n));
      ASSERT_TRUE(run.run().is_ok());
      std::vector<int32_t> idx = run.s32("idx");
      std::set<int32_t> seen(idx.begin(), idx.end());
      EXPECT_EQ(static_cast<int64_t>(seen.size()), n) << example;
      EXPECT_GE(*seen.begin(), 0) << example;
      EXPECT_LT(*seen.rbegin(), n) << example;
    }
  }
}

}  // namespace
}  // namespace rowjit::testing
