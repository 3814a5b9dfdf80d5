// Row and block reductions through the interpreter: NaN, signed zeros, empty
// rows, double accumulation, argmax ties and partial blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/interpreter_testing.h"

namespace rowjit::ir {
namespace {

using testing::parse;
using testing::TestRun;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Outputs of every row reduction of one row.
struct RowReductions {
  float max, min, sum, absmax, mean, var;
};

Result<RowReductions> reduce_row(const std::vector<float>& x) {
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (hi: f32, lo: f32, s: f32, a: f32, m: f32, v: f32) {
    hi = max(x)
    lo = min(x)
    s = sum(x)
    a = absmax(x)
    m = mean(x)
    v = var(x)
  })");
  TestRun run(1, static_cast<int64_t>(x.size()));
  run.input<float>("x", ElemType::kF32, {x});
  for (const char* name : {"hi", "lo", "s", "a", "m", "v"}) run.output(name, ElemType::kF32, 4);
  Status status = run.run(p);
  if (!status.is_ok()) return status;
  return RowReductions{run["hi"].at<float>(0, 0), run["lo"].at<float>(0, 0), run["s"].at<float>(0, 0),
                       run["a"].at<float>(0, 0),  run["m"].at<float>(0, 0),  run["v"].at<float>(0, 0)};
}

TEST(InterpreterReduce, OrdinaryRow) {
  auto r = reduce_row({1, -4, 2, 3});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->max, 3.0f);
  EXPECT_EQ(r->min, -4.0f);
  EXPECT_EQ(r->sum, 2.0f);
  EXPECT_EQ(r->absmax, 4.0f);
  EXPECT_EQ(r->mean, 0.5f);
  // Deviations from 0.5: 0.5, -4.5, 1.5, 2.5; squares sum to 29; 29 / 4.
  EXPECT_EQ(r->var, 7.25f);
}

TEST(InterpreterReduce, NaNPropagates) {
  auto r = reduce_row({1, kNaN, -kInf});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(std::isnan(r->max));
  EXPECT_TRUE(std::isnan(r->min));
  EXPECT_TRUE(std::isnan(r->sum));
  EXPECT_TRUE(std::isnan(r->absmax));
  EXPECT_TRUE(std::isnan(r->mean));
  EXPECT_TRUE(std::isnan(r->var));
}

TEST(InterpreterReduce, SignedZeros) {
  for (const std::vector<float>& x : {std::vector<float>{-0.0f, 0.0f}, std::vector<float>{0.0f, -0.0f}}) {
    auto r = reduce_row(x);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->max, 0.0f);
    EXPECT_FALSE(std::signbit(r->max));
    EXPECT_TRUE(std::signbit(r->min));
  }
}

TEST(InterpreterReduce, EmptyRow) {
  auto r = reduce_row({});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->max, -kInf);
  EXPECT_EQ(r->min, kInf);
  EXPECT_EQ(r->sum, 0.0f);
  EXPECT_EQ(r->absmax, 0.0f);
  EXPECT_TRUE(std::isnan(r->mean));
  EXPECT_TRUE(std::isnan(r->var));
}

TEST(InterpreterReduce, SumAccumulatesInDouble) {
  // In f32, 1e8 + 1 rounds back to 1e8 and the sum would be 0; in double it is 1.
  auto r = reduce_row({1e8f, 1.0f, -1e8f});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->sum, 1.0f);
  EXPECT_EQ(r->mean, 1.0f / 3.0f);
}

TEST(InterpreterReduce, SumOfOppositeInfinitiesIsNaN) {
  auto r = reduce_row({kInf, -kInf});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(std::isnan(r->sum));
  EXPECT_EQ(r->absmax, kInf);
}

TEST(InterpreterReduce, SumOverflowsToInfinityOnce) {
  // The double sum 2 * FLT_MAX rounds to inf, but the double mean is FLT_MAX.
  float big = std::numeric_limits<float>::max();
  auto r = reduce_row({big, big});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->sum, kInf);
  EXPECT_EQ(r->mean, big);
  EXPECT_EQ(r->var, 0.0f);
}

TEST(InterpreterReduce, VarianceUsesTwoPasses) {
  // 1e4 + {1, 2, 3}: the mean 10002 is exact and the deviations are -1, 0, 1,
  // so the variance is exactly 2/3 before rounding.
  auto r = reduce_row({10001.0f, 10002.0f, 10003.0f});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->var, static_cast<float>(2.0 / 3.0));
}

Result<int32_t> argmax_of(const std::vector<float>& x) {
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (i: s32) {
    i = argmax(x)
  })");
  TestRun run(1, static_cast<int64_t>(x.size()));
  run.input<float>("x", ElemType::kF32, {x});
  run.output("i", ElemType::kS32, 4);
  Status status = run.run(p);
  if (!status.is_ok()) return status;
  return run["i"].at<int32_t>(0, 0);
}

TEST(InterpreterReduce, ArgmaxTiesAndNaN) {
  EXPECT_EQ(argmax_of({1, 3, 3}).value(), 1);
  EXPECT_EQ(argmax_of({-kInf}).value(), 0);
  EXPECT_EQ(argmax_of({1, kNaN, 5, kNaN}).value(), 1);
  EXPECT_EQ(argmax_of({kInf, 2, kNaN}).value(), 2);
  // -0 and +0 tie, as in topk, so the lower index wins.
  EXPECT_EQ(argmax_of({-0.0f, 0.0f}).value(), 0);
}

TEST(InterpreterReduce, ArgmaxOfEmptyRowFails) {
  auto i = argmax_of({});
  ASSERT_FALSE(i.is_ok());
  EXPECT_EQ(i.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(i.status().message().find("row 0"), std::string::npos) << i.status().message();
  EXPECT_NE(i.status().message().find("argmax of 'x'"), std::string::npos) << i.status().message();
}

TEST(InterpreterReduce, ReductionOfKVector) {
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (s: f32) {
    v, i = topk(x, k=2)
    s = sum(v)
  })");
  TestRun run(1, 4);
  run.input<float>("x", ElemType::kF32, {{1, 4, 2, 8}});
  run.output("s", ElemType::kF32, 4);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["s"].at<float>(0, 0), 12.0f);
}

struct BlockResults {
  std::vector<float> max, sum, absmax, maxmag;
};

Result<BlockResults> reduce_blocks(const std::vector<float>& x, int64_t blocks) {
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (hi: f32[n/3], s: f32[n/3], a: f32[n/3], g: f32[n/3]) {
    hi = block_max(x, block=3)
    s = block_sum(x, block=3)
    a = block_absmax(x, block=3)
    g = block_maxmag(x, block=3)
  })");
  TestRun run(1, static_cast<int64_t>(x.size()));
  run.input<float>("x", ElemType::kF32, {x});
  for (const char* name : {"hi", "s", "a", "g"}) run.output(name, ElemType::kF32, 4 * blocks);
  Status status = run.run(p);
  if (!status.is_ok()) return status;
  return BlockResults{run["hi"].row<float>(0, blocks), run["s"].row<float>(0, blocks),
                      run["a"].row<float>(0, blocks), run["g"].row<float>(0, blocks)};
}

TEST(InterpreterReduce, BlocksWithPartialLastBlock) {
  // Blocks of 3 over 7 elements: {1, -5, 2}, {5, 0.5, -0.25}, {-7}.
  auto r = reduce_blocks({1, -5, 2, 5, 0.5f, -0.25f, -7}, 3);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->max, (std::vector<float>{2, 5, -7}));
  EXPECT_EQ(r->sum, (std::vector<float>{-2, 5.25f, -7}));
  EXPECT_EQ(r->absmax, (std::vector<float>{5, 5, 7}));
  EXPECT_EQ(r->maxmag, (std::vector<float>{-5, 5, -7}));
}

TEST(InterpreterReduce, BlockMaxmagTiesAndNaN) {
  // {3, -3, 1}: the first of equal magnitudes wins; {2, NaN, 9} is NaN.
  auto r = reduce_blocks({3, -3, 1, 2, kNaN, 9}, 2);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->maxmag[0], 3.0f);
  EXPECT_TRUE(std::isnan(r->maxmag[1]));
  EXPECT_TRUE(std::isnan(r->max[1]));
  EXPECT_TRUE(std::isnan(r->sum[1]));
  EXPECT_TRUE(std::isnan(r->absmax[1]));
  // -3 then 3: the negative one comes first.
  auto s = reduce_blocks({-3, 3, 0}, 1);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->maxmag[0], -3.0f);
}

}  // namespace
}  // namespace rowjit::ir
