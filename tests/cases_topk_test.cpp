// Top-k and mixture-of-experts gating edge cases that other projects have got
// wrong: ties, NaN logits, k equal to the row length, and invalid k.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "ir/parser.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

constexpr const char* kTopk = R"(
kernel topk_only(x: f32[n], param k: s32) -> (v: f32[k], idx: s32[k]) {
  v, idx = topk(x, k=k)
}
)";

// Softmax over all experts, then the top k probabilities without renormalizing.
constexpr const char* kSoftmaxTopk = R"(
kernel softmax_topk(x: f32[n], param k: s32) -> (w: f32[k], idx: s32[k]) {
  m = max(x)
  e = exp(x - m)
  w, idx = topk(e / sum(e), k=k)
}
)";

struct Selection {
  std::vector<float> values;
  std::vector<int32_t> indices;
  Status status;
};

// Runs a selection pipeline (outputs named by value_name and "idx") on one row.
Selection select_row(const ir::Pipeline& pipeline, const std::vector<float>& x, int64_t k,
                     const std::string& value_name) {
  PipelineRun run(pipeline, 1, static_cast<int64_t>(x.size()));
  run.input("x", x).param("k", static_cast<double>(k));
  Selection s;
  s.status = run.run();
  if (s.status.is_ok()) {
    s.values = run.f32(value_name);
    s.indices = run.s32("idx");
  }
  return s;
}

ir::Pipeline parse_text(const char* text) {
  auto pipeline = ir::parse_pipeline(text);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  return pipeline.is_ok() ? *pipeline : ir::Pipeline{};
}

ir::Pipeline example(const std::string& name) {
  auto pipeline = parse_example(name);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  return pipeline.is_ok() ? *pipeline : ir::Pipeline{};
}

void expect_distinct_in_range(const std::vector<int32_t>& indices, int64_t n) {
  std::set<int32_t> seen(indices.begin(), indices.end());
  EXPECT_EQ(seen.size(), indices.size()) << "indices repeat: " << ::testing::PrintToString(indices);
  for (int32_t i : indices) {
    EXPECT_GE(i, 0);
    EXPECT_LT(i, n);
  }
}

TEST(TopkCases, TiesGoToLowerIndex) {
  ir::Pipeline topk = parse_text(kTopk);
  const std::vector<float> x = {0.5f, 0.1f, 0.5f, 0.3f, 0.5f, 0.0f, 0.3f, 0.1f};

  Selection two = select_row(topk, x, 2, "v");
  ASSERT_TRUE(two.status.is_ok()) << two.status.to_string();
  EXPECT_EQ(two.indices, (std::vector<int32_t>{0, 2}));

  Selection four = select_row(topk, x, 4, "v");
  ASSERT_TRUE(four.status.is_ok()) << four.status.to_string();
  EXPECT_EQ(four.indices, (std::vector<int32_t>{0, 2, 4, 3}));
  EXPECT_EQ(four.values, (std::vector<float>{0.5f, 0.5f, 0.5f, 0.3f}));
}

TEST(TopkCases, ConstantRowsGiveFirstIndices) {
  ir::Pipeline topk = parse_text(kTopk);
  Selection zeros = select_row(topk, std::vector<float>(8, 0), 3, "v");
  ASSERT_TRUE(zeros.status.is_ok()) << zeros.status.to_string();
  EXPECT_EQ(zeros.indices, (std::vector<int32_t>{0, 1, 2}));

  Selection ones = select_row(topk, std::vector<float>(17, 1), 2, "v");
  ASSERT_TRUE(ones.status.is_ok()) << ones.status.to_string();
  EXPECT_EQ(ones.indices, (std::vector<int32_t>{0, 1}));
}

TEST(TopkCases, UniformRouterGivesEqualWeights) {
  // softmax of eight zeros is 1/8 each; renormalizing three of them gives 1/3.
  std::vector<float> zeros(8, 0);
  Selection plain = select_row(parse_text(kSoftmaxTopk), zeros, 3, "w");
  ASSERT_TRUE(plain.status.is_ok()) << plain.status.to_string();
  EXPECT_EQ(plain.indices, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(plain.values, (std::vector<float>{0.125f, 0.125f, 0.125f}));

  Selection renormalized = select_row(example("moe_softmax_topk_renorm"), zeros, 3, "w");
  ASSERT_TRUE(renormalized.status.is_ok()) << renormalized.status.to_string();
  EXPECT_EQ(renormalized.indices, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(renormalized.values, (std::vector<float>{0.33333334f, 0.33333334f, 0.33333334f}));
}

TEST(TopkCases, AllNaNRouterGivesNaNWeights) {
  Selection s = select_row(example("moe_softmax_topk_renorm"), std::vector<float>(8, kNaN), 2, "w");
  ASSERT_TRUE(s.status.is_ok()) << s.status.to_string();
  EXPECT_EQ(s.indices, (std::vector<int32_t>{0, 1}));
  ASSERT_EQ(s.values.size(), 2u);
  EXPECT_TRUE(std::isnan(s.values[0]));
  EXPECT_TRUE(std::isnan(s.values[1]));
}

TEST(TopkCases, NaNRanksFirst) {
  const std::vector<float> x = {0.1f, kNaN, 0.3f, 0.2f, -1.0f, 0.05f, 0.0f, -0.5f};

  Selection plain = select_row(parse_text(kTopk), x, 2, "v");
  ASSERT_TRUE(plain.status.is_ok()) << plain.status.to_string();
  EXPECT_EQ(plain.indices, (std::vector<int32_t>{1, 2}));
  ASSERT_EQ(plain.values.size(), 2u);
  EXPECT_TRUE(std::isnan(plain.values[0]));
  EXPECT_EQ(plain.values[1], 0.3f);

  Selection gated = select_row(example("moe_topk_softmax"), x, 2, "w");
  ASSERT_TRUE(gated.status.is_ok()) << gated.status.to_string();
  EXPECT_EQ(gated.indices, (std::vector<int32_t>{1, 2}));
  ASSERT_EQ(gated.values.size(), 2u);
  EXPECT_TRUE(std::isnan(gated.values[0]));
  EXPECT_TRUE(std::isnan(gated.values[1]));

  for (int64_t k = 1; k <= 8; ++k) {
    Selection all = select_row(parse_text(kTopk), x, k, "v");
    ASSERT_TRUE(all.status.is_ok()) << all.status.to_string();
    expect_distinct_in_range(all.indices, 8);
  }
}

TEST(TopkCases, KEqualToRowLengthSortsWholeRow) {
  const std::vector<float> x = {0.3f, -1.0f, 2.5f, 0.3f, 7.0f};
  Selection all = select_row(parse_text(kTopk), x, 5, "v");
  ASSERT_TRUE(all.status.is_ok()) << all.status.to_string();
  EXPECT_EQ(all.indices, (std::vector<int32_t>{4, 2, 0, 3, 1}));
  EXPECT_EQ(all.values, (std::vector<float>{7.0f, 2.5f, 0.3f, 0.3f, -1.0f}));

  // softmax(x) in double, rounded to f32, in the order above: the values of
  // the published case, and the same formula evaluated here.
  const float expected[] = {0.98628443f, 0.01095663f, 0.0012140293f, 0.0012140293f, 0.00033086157f};
  const int order[] = {4, 2, 0, 3, 1};
  double total = 0;
  for (float v : x) total += std::exp(static_cast<double>(v) - 7.0);
  for (size_t i = 0; i < 5; ++i) {
    double formula = std::exp(static_cast<double>(x[static_cast<size_t>(order[i])]) - 7.0) / total;
    EXPECT_EQ(static_cast<float>(formula), expected[i]) << "expert " << order[i];
  }

  for (const char* name : {"moe_topk_softmax", "moe_softmax_topk_renorm"}) {
    Selection gated = select_row(example(name), x, 5, "w");
    ASSERT_TRUE(gated.status.is_ok()) << name << ": " << gated.status.to_string();
    EXPECT_EQ(gated.indices, (std::vector<int32_t>{4, 2, 0, 3, 1})) << name;
    ASSERT_EQ(gated.values.size(), 5u) << name;
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_LE(ulp_distance(gated.values[i], expected[i]), 2)
          << name << ", expert " << order[i] << ": " << gated.values[i];
    }
  }
}

TEST(TopkCases, KAboveRowLengthFails) {
  const std::vector<float> x = {0.3f, -1.0f, 2.5f, 0.3f, 7.0f};
  for (const char* name : {"moe_topk_softmax", "moe_softmax_topk_renorm"}) {
    Selection s = select_row(example(name), x, 6, "w");
    EXPECT_EQ(s.status.code(), StatusCode::kOutOfRange) << name << ": " << s.status.to_string();
  }
  Selection s = select_row(parse_text(kTopk), x, 6, "v");
  EXPECT_EQ(s.status.code(), StatusCode::kOutOfRange) << s.status.to_string();
}

TEST(TopkCases, ZeroKRejected) {
  auto literal = ir::parse_pipeline("kernel k0(x: f32[n]) -> (v: f32[2], idx: s32[2]) {\n  v, idx = topk(x, k=0)\n}\n");
  ASSERT_FALSE(literal.is_ok()) << "topk with k=0 must not verify";
  EXPECT_NE(literal.status().message().find("k must be positive"), std::string::npos) << literal.status().to_string();

  Selection s = select_row(parse_text(kTopk), {1, 2, 3}, 0, "v");
  EXPECT_EQ(s.status.code(), StatusCode::kInvalidArgument) << s.status.to_string();
}

}  // namespace
}  // namespace rowjit::testing
