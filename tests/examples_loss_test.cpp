// The loss examples (cross_entropy, z_loss, log_z_loss) through the reference
// interpreter, against the double-precision formulas and error bounds of
// tests/reference_formulas.h.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/reference_formulas.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
const std::vector<int64_t> kLengths = {1, 7, 32, 33, 257};
constexpr int64_t kRowsPerRun = 3;

void check_cross_entropy(const ir::Pipeline& pipeline, const std::vector<float>& x, const std::vector<int32_t>& labels,
                         int64_t n) {
  int64_t rows = static_cast<int64_t>(labels.size());
  PipelineRun run(pipeline, rows, n);
  run.input("x", x).input("label", labels);
  Status status = run.run();
  ASSERT_TRUE(status.is_ok()) << status.to_string();

  std::vector<float> loss = run.f32("loss");
  std::vector<float> grad = run.f32("grad");
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> row(x.begin() + r * n, x.begin() + (r + 1) * n);
    ref::CrossEntropy expected = ref::cross_entropy(row, labels[static_cast<size_t>(r)]);
    EXPECT_TRUE(matches(loss[static_cast<size_t>(r)], expected.loss)) << "row " << r;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_TRUE(matches(grad[static_cast<size_t>(r * n + i)], expected.grad[static_cast<size_t>(i)]))
          << "row " << r << ", column " << i;
    }
  }
}

TEST(ExampleCrossEntropy, RandomRows) {
  auto pipeline = parse_example("cross_entropy");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::mt19937 rng(99);
  for (float range : {8.0f, 80.0f}) {
    for (int64_t n : kLengths) {
      SCOPED_TRACE("n = " + std::to_string(n) + ", range = " + std::to_string(range));
      std::vector<float> x = random_values(rng, static_cast<size_t>(n * kRowsPerRun), range);
      std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n - 1));
      std::vector<int32_t> labels;
      for (int64_t r = 0; r < kRowsPerRun; ++r) labels.push_back(pick(rng));
      check_cross_entropy(*pipeline, x, labels, n);
    }
  }
}

TEST(ExampleCrossEntropy, SpecialRows) {
  auto pipeline = parse_example("cross_entropy");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  struct Case {
    std::vector<float> x;
    int32_t label;
  };
  const std::vector<Case> cases = {
      {{0}, 0},                        // loss 0, gradient 0
      {{0, 0, 0, 0}, 2},               // loss log 4
      {{100, 0, -100}, 0},             // confident and right: loss about e^-100
      {{100, 0, -100}, 2},             // confident and wrong: loss about 200
      {{-kInf, 0, 1}, 2},              // a masked class
      {{1, kNaN, 2}, 0},               // NaN spreads to loss and gradient
      {{0, kInf}, 0},
      {{3e38f, -3e38f}, 1},            // x - max overflows: loss inf
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.x) + ", label " + std::to_string(c.label));
    check_cross_entropy(*pipeline, c.x, {c.label}, static_cast<int64_t>(c.x.size()));
  }
}

TEST(ExampleCrossEntropy, KnownValues) {
  // x = [0, 0, 0, 0], label 2: loss = log 4, grad = [1/4, 1/4, -3/4, 1/4], all
  // exactly representable except log 4 (checked to 1 ulp).
  auto pipeline = parse_example("cross_entropy");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 4);
  run.input("x", std::vector<float>{0, 0, 0, 0}).input("label", std::vector<int32_t>{2});
  ASSERT_TRUE(run.run().is_ok());
  EXPECT_LE(ulp_distance(run.f32("loss")[0], static_cast<float>(std::log(4.0))), 1);
  EXPECT_EQ(run.f32("grad"), (std::vector<float>{0.25f, 0.25f, -0.75f, 0.25f}));
}

TEST(ExampleCrossEntropy, LabelOutOfRangeFails) {
  auto pipeline = parse_example("cross_entropy");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (int32_t label : {-1, 3, 1000}) {
    PipelineRun run(*pipeline, 1, 3);
    run.input("x", std::vector<float>{1, 2, 3}).input("label", std::vector<int32_t>{label});
    Status status = run.run();
    EXPECT_EQ(status.code(), StatusCode::kOutOfRange) << "label " << label << ": " << status.to_string();
  }
}

TEST(ExampleZLoss, RandomRows) {
  auto pipeline = parse_example("z_loss");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::mt19937 rng(123);
  for (auto [a, b] : {std::pair{1.0, 0.0}, std::pair{0.5, 2.0}, std::pair{4.0, -1.5}}) {
    for (int64_t n : kLengths) {
      SCOPED_TRACE("a = " + std::to_string(a) + ", b = " + std::to_string(b) + ", n = " + std::to_string(n));
      std::vector<float> x = random_values(rng, static_cast<size_t>(n * kRowsPerRun), 5);
      std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n - 1));
      std::vector<int32_t> labels;
      for (int64_t r = 0; r < kRowsPerRun; ++r) labels.push_back(pick(rng));
      PipelineRun run(*pipeline, kRowsPerRun, n);
      run.input("x", x).input("label", labels).param("a", a).param("b", b);
      Status status = run.run();
      ASSERT_TRUE(status.is_ok()) << status.to_string();
      std::vector<float> loss = run.f32("loss");
      for (int64_t r = 0; r < kRowsPerRun; ++r) {
        std::vector<float> row(x.begin() + r * n, x.begin() + (r + 1) * n);
        // A one-element row has std 0, so z and the loss are NaN in both.
        EXPECT_TRUE(matches(loss[static_cast<size_t>(r)], ref::z_loss(row, labels[static_cast<size_t>(r)], a, b)))
            << "row " << r;
      }
    }
  }
}

TEST(ExampleZLoss, ShiftAndScaleInvariant) {
  // x and 3x + 1000 give the same z, so the same loss up to rounding.
  auto pipeline = parse_example("z_loss");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::vector<float> x = {0.5f, -1, 2, 0.25f, -0.75f};
  std::vector<float> moved;
  for (float v : x) moved.push_back(3 * v + 1000);
  PipelineRun run(*pipeline, 2, 5);
  std::vector<float> both = x;
  both.insert(both.end(), moved.begin(), moved.end());
  run.input("x", both).input("label", std::vector<int32_t>{2, 2}).param("a", 1.0).param("b", 1.0);
  ASSERT_TRUE(run.run().is_ok());
  std::vector<float> loss = run.f32("loss");
  EXPECT_TRUE(matches(loss[0], ref::z_loss(x, 2, 1, 1)));
  EXPECT_TRUE(matches(loss[1], ref::z_loss(moved, 2, 1, 1)));
  EXPECT_NEAR(loss[0], loss[1], 1e-4);
}

TEST(ExampleZLoss, ConstantRowGivesNaN) {
  auto pipeline = parse_example("z_loss");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 4);
  run.input("x", std::vector<float>{2, 2, 2, 2}).input("label", std::vector<int32_t>{1}).param("a", 1.0).param("b", 0.0);
  ASSERT_TRUE(run.run().is_ok());
  EXPECT_TRUE(std::isnan(run.f32("loss")[0]));
}

TEST(ExampleZLoss, RejectsNonPositiveA) {
  auto pipeline = parse_example("z_loss");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (double a : {0.0, -1.0}) {
    PipelineRun run(*pipeline, 1, 3);
    run.input("x", std::vector<float>{1, 2, 3}).input("label", std::vector<int32_t>{0}).param("a", a).param("b", 0.0);
    Status status = run.run();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << "a = " << a;
    EXPECT_TRUE(run.outputs_untouched()) << "a = " << a;
  }
}

TEST(ExampleLogZLoss, RandomAndSpecialRows) {
  auto pipeline = parse_example("log_z_loss");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::mt19937 rng(77);
  std::vector<std::vector<float>> rows = {
      {0}, {0, 0, 0, 0}, {-kInf, 0}, {-kInf, -kInf}, {kInf, 0}, {kNaN, 1}, {1e30f, 0}, {-50, -60, -70},
  };
  for (int64_t n : kLengths) rows.push_back(random_values(rng, static_cast<size_t>(n), 8));
  for (const auto& row : rows) {
    SCOPED_TRACE(::testing::PrintToString(row));
    PipelineRun run(*pipeline, 1, static_cast<int64_t>(row.size()));
    run.input("x", row);
    ASSERT_TRUE(run.run().is_ok());
    EXPECT_TRUE(matches(run.f32("y")[0], ref::log_z_loss(row)));
  }
}

TEST(ExampleLogZLoss, KnownValue) {
  // Four zeros: log Z = log 4, so y = (log 4)^2.
  auto pipeline = parse_example("log_z_loss");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 4);
  run.input("x", std::vector<float>{0, 0, 0, 0});
  ASSERT_TRUE(run.run().is_ok());
  double log4 = std::log(4.0);
  EXPECT_LE(ulp_distance(run.f32("y")[0], static_cast<float>(log4 * log4)), 2);
}

}  // namespace
}  // namespace rowjit::testing
