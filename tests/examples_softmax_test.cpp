// The softmax-family examples through the reference interpreter, against the
// double-precision formulas and error bounds of tests/reference_formulas.h, on
// random rows of several lengths and on rows of special values.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/reference_formulas.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Row lengths of the random tests: a single element, a short odd row, one and
// a bit more than one 32-element block, and a long odd row.
const std::vector<int64_t> kLengths = {1, 7, 32, 33, 257};
constexpr int64_t kRowsPerRun = 3;

using RowReference = std::function<std::vector<ref::Expected>(const std::vector<float>&)>;
using Params = std::map<std::string, double>;

// Rows of special values shared by the softmax-family tests.
std::vector<std::vector<float>> special_rows() {
  std::vector<float> masked_then_zero(16, -kInf);
  masked_then_zero.push_back(0);
  return {
      {0},
      {-3},
      {1e30f},
      {kInf},
      {-kInf},
      {kNaN},
      {-kInf, -kInf, -kInf},
      masked_then_zero,
      {0, kInf},
      {-kInf, 0, kInf},
      {1, kNaN, 2},
      {88, 89, 90, 91},                    // exp(x) alone would overflow
      {-100, 0, -200, -110},               // exp(x - max) reaches the subnormals and 0
      {1e-45f, -1e-45f, 0, -0.0f},         // subnormal inputs
      {3.4e38f, -3.4e38f, 1},              // x - max overflows to -inf in f32
      {5, 5, 5, 5, 5},                     // ties
      {-kInf, 1, -kInf, 1},
  };
}

// Runs `rows` (all of one length) in one call and compares every element.
void check_batch(const ir::Pipeline& pipeline, const Params& params, const RowReference& reference,
                 const std::vector<std::vector<float>>& rows) {
  int64_t n = static_cast<int64_t>(rows.front().size());
  std::vector<float> input;
  for (const auto& row : rows) input.insert(input.end(), row.begin(), row.end());
  PipelineRun run(pipeline, static_cast<int64_t>(rows.size()), n);
  run.input("x", input);
  for (const auto& [name, value] : params) run.param(name, value);
  Status status = run.run();
  ASSERT_TRUE(status.is_ok()) << status.to_string();

  std::vector<float> y = run.f32("y");
  for (size_t r = 0; r < rows.size(); ++r) {
    std::vector<ref::Expected> expected = reference(rows[r]);
    for (size_t i = 0; i < rows[r].size(); ++i) {
      EXPECT_TRUE(matches(y[r * static_cast<size_t>(n) + i], expected[i])) << "row " << r << ", column " << i;
    }
  }
}

void check_random_rows(const std::string& example, const Params& params, const RowReference& reference,
                       float range) {
  auto pipeline = parse_example(example);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::mt19937 rng(20240611);
  for (int64_t n : kLengths) {
    SCOPED_TRACE("n = " + std::to_string(n));
    std::vector<std::vector<float>> rows;
    for (int64_t r = 0; r < kRowsPerRun; ++r) rows.push_back(random_values(rng, static_cast<size_t>(n), range));
    check_batch(*pipeline, params, reference, rows);
  }
}

void check_special_rows(const std::string& example, const Params& params, const RowReference& reference) {
  auto pipeline = parse_example(example);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (const auto& row : special_rows()) {
    SCOPED_TRACE(::testing::PrintToString(row));
    check_batch(*pipeline, params, reference, {row});
  }
}

TEST(ExampleSoftmax, RandomRows) {
  check_random_rows("softmax", {}, ref::softmax, 8);
  check_random_rows("softmax", {}, ref::softmax, 80);
}

TEST(ExampleSoftmax, SpecialRows) { check_special_rows("softmax", {}, ref::softmax); }

TEST(ExampleLogSoftmax, RandomRows) {
  check_random_rows("log_softmax", {}, ref::log_softmax, 8);
  check_random_rows("log_softmax", {}, ref::log_softmax, 80);
}

TEST(ExampleLogSoftmax, SpecialRows) { check_special_rows("log_softmax", {}, ref::log_softmax); }

TEST(ExampleSoftmaxTemperature, RandomRows) {
  for (double tau : {0.05, 0.5, 1.0, 7.0}) {
    SCOPED_TRACE("tau = " + std::to_string(tau));
    auto reference = [tau](const std::vector<float>& x) { return ref::softmax_temperature(x, tau); };
    check_random_rows("softmax_temperature", {{"tau", tau}}, reference, 8);
  }
}

TEST(ExampleSoftmaxTemperature, SpecialRows) {
  for (double tau : {1e-3, 2.0}) {
    auto reference = [tau](const std::vector<float>& x) { return ref::softmax_temperature(x, tau); };
    check_special_rows("softmax_temperature", {{"tau", tau}}, reference);
  }
}

TEST(ExampleSoftmaxMasked, RandomRows) { check_random_rows("softmax_masked", {}, ref::softmax_masked, 8); }

TEST(ExampleSoftmaxMasked, SpecialRows) { check_special_rows("softmax_masked", {}, ref::softmax_masked); }

TEST(ExampleDenseToSparseGate, RandomRows) {
  for (double tau : {0.1, 1.0, 3.0}) {
    SCOPED_TRACE("tau = " + std::to_string(tau));
    auto reference = [tau](const std::vector<float>& x) { return ref::dense_to_sparse_gate(x, tau); };
    check_random_rows("dense_to_sparse_gate", {{"tau", tau}}, reference, 8);
  }
}

TEST(ExampleDenseToSparseGate, SpecialRows) {
  auto reference = [](const std::vector<float>& x) { return ref::dense_to_sparse_gate(x, 0.5); };
  check_special_rows("dense_to_sparse_gate", {{"tau", 0.5}}, reference);
}

TEST(ExampleStablemax, RandomRows) {
  check_random_rows("stablemax", {}, ref::stablemax, 8);
  check_random_rows("stablemax", {}, ref::stablemax, 1e6f);
}

TEST(ExampleStablemax, SpecialRows) {
  // StableMax has no max subtraction, so a row near FLT_MAX would overflow the
  // f32 sum; those rows are left out.
  auto pipeline = parse_example("stablemax");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (const auto& row : special_rows()) {
    if (std::fabs(row[0]) > 1e37f) continue;
    SCOPED_TRACE(::testing::PrintToString(row));
    check_batch(*pipeline, {}, ref::stablemax, {row});
  }
}

TEST(ExampleStablemax, KnownValues) {
  // s(-1) = 1/2, s(0) = 1, s(1) = 2, s(3) = 4: the sum is 7.5.
  auto pipeline = parse_example("stablemax");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  PipelineRun run(*pipeline, 1, 4);
  run.input("x", std::vector<float>{-1, 0, 1, 3});
  ASSERT_TRUE(run.run().is_ok());
  std::vector<float> y = run.f32("y");
  const float expected[] = {0.5f / 7.5f, 1 / 7.5f, 2 / 7.5f, 4 / 7.5f};
  for (int i = 0; i < 4; ++i) EXPECT_LE(ulp_distance(y[i], expected[i]), 1) << "column " << i;
}

TEST(ExampleLogStablemax, RandomRows) {
  check_random_rows("log_stablemax", {}, ref::log_stablemax, 8);
  check_random_rows("log_stablemax", {}, ref::log_stablemax, 1e6f);
}

TEST(ExampleLogStablemax, SpecialRows) {
  auto pipeline = parse_example("log_stablemax");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  for (const auto& row : special_rows()) {
    if (std::fabs(row[0]) > 1e37f) continue;
    SCOPED_TRACE(::testing::PrintToString(row));
    check_batch(*pipeline, {}, ref::log_stablemax, {row});
  }
}

TEST(ExampleGumbelSoftmax, RandomRows) {
  auto pipeline = parse_example("gumbel_softmax");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::mt19937 rng(7);
  for (double tau : {0.3, 1.0}) {
    for (int32_t seed : {0, 12345, -7}) {
      for (int64_t n : kLengths) {
        SCOPED_TRACE("tau " + std::to_string(tau) + ", seed " + std::to_string(seed) + ", n " + std::to_string(n));
        std::vector<float> x = random_values(rng, static_cast<size_t>(n * kRowsPerRun), 4);
        PipelineRun run(*pipeline, kRowsPerRun, n);
        run.input("x", x).param("tau", tau).param("seed", seed);
        ASSERT_TRUE(run.run().is_ok());
        std::vector<float> y = run.f32("y");
        for (int64_t r = 0; r < kRowsPerRun; ++r) {
          std::vector<float> row(x.begin() + r * n, x.begin() + (r + 1) * n);
          auto expected = ref::gumbel_softmax(row, tau, static_cast<uint32_t>(seed), static_cast<uint64_t>(r));
          for (int64_t i = 0; i < n; ++i) {
            EXPECT_TRUE(matches(y[static_cast<size_t>(r * n + i)], expected[static_cast<size_t>(i)]))
                << "row " << r << ", column " << i;
          }
        }
      }
    }
  }
}

TEST(ExampleGumbelSoftmax, SplitBatchGivesSameSample) {
  // Rows 2 and 3 of a 4-row call equal a 2-row call that starts at global row 2.
  auto pipeline = parse_example("gumbel_softmax");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::mt19937 rng(11);
  const int64_t n = 33;
  std::vector<float> x = random_values(rng, 4 * n, 4);
  PipelineRun whole(*pipeline, 4, n);
  whole.input("x", x).param("tau", 0.7).param("seed", 99);
  ASSERT_TRUE(whole.run().is_ok());
  PipelineRun tail(*pipeline, 2, n);
  tail.input("x", std::vector<float>(x.begin() + 2 * n, x.end())).param("tau", 0.7).param("seed", 99).first_row(2);
  ASSERT_TRUE(tail.run().is_ok());
  std::vector<float> y_whole = whole.f32("y");
  std::vector<float> y_tail = tail.f32("y");
  for (int64_t i = 0; i < 2 * n; ++i) {
    EXPECT_EQ(float_bits(y_tail[static_cast<size_t>(i)]), float_bits(y_whole[static_cast<size_t>(2 * n + i)]))
        << "element " << i;
  }
}

TEST(ExampleGumbelSoftmax, ReferenceGeneratorMatchesPublishedVectors) {
  // Known-answer vectors of Random123's Philox4x32-10 (its kat_vectors file),
  // which validate the generator the reference above uses.
  EXPECT_EQ(ref::philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(ref::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(ref::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

// softmax_u8: y = rne(255 p). The f32 p differs from the exact one by the
// softmax bound, so y may be either neighbour of a half-integer 255 p that lies
// within 255 times that bound (plus u for the product); elsewhere it is exact.
TEST(ExampleSoftmaxU8, RandomAndSpecialRows) {
  auto pipeline = parse_example("softmax_u8");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::mt19937 rng(5);
  std::vector<std::vector<float>> rows = special_rows();
  for (int64_t n : kLengths) rows.push_back(random_values(rng, static_cast<size_t>(n), 6));
  for (const auto& row : rows) {
    SCOPED_TRACE(::testing::PrintToString(row));
    PipelineRun run(*pipeline, 1, static_cast<int64_t>(row.size()));
    run.input("x", row);
    ASSERT_TRUE(run.run().is_ok());
    const std::vector<uint8_t>& y = run.bytes("y");
    std::vector<ref::Expected> p = ref::softmax(row);
    for (size_t i = 0; i < row.size(); ++i) {
      if (std::isnan(p[i].value)) {
        EXPECT_EQ(y[i], 0) << "NaN converts to 0, column " << i;
        continue;
      }
      double t = 255 * p[i].value;
      double error = 255 * p[i].tolerance + ref::kMargin * ref::kRoundoff * t;
      double lowest = std::nearbyint(t - error);
      double highest = std::nearbyint(t + error);
      EXPECT_GE(y[i], lowest) << "column " << i;
      EXPECT_LE(y[i], highest) << "column " << i;
    }
  }
}

}  // namespace
}  // namespace rowjit::testing
