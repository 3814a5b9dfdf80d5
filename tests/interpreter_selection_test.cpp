// topk, group_mask, gather and one_hot through the interpreter: the total
// order with ties and NaN, hand-computed group routing, and index range errors.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "tests/interpreter_testing.h"

namespace rowjit::ir {
namespace {

using testing::parse;
using testing::run_row;
using testing::TestRun;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

const char* const kTopK = R"(kernel k(x: f32[n], param k: s32) -> (v: f32[k], i: s32[k]) {
  v, i = topk(x, k=k)
})";

struct TopK {
  std::vector<float> values;
  std::vector<int32_t> indices;
};

Result<TopK> topk_of(const std::vector<float>& x, int k) {
  TestRun run(1, static_cast<int64_t>(x.size()));
  run.input<float>("x", ElemType::kF32, {x});
  run.scalar("k", k);
  run.output("v", ElemType::kF32, 4 * k).output("i", ElemType::kS32, 4 * k);
  Status status = run.run(parse(kTopK));
  if (!status.is_ok()) return status;
  return TopK{run["v"].row<float>(0, k), run["i"].row<int32_t>(0, k)};
}

TEST(InterpreterTopK, TiesGoToLowerIndex) {
  const std::vector<float> x = {0.5f, 0.1f, 0.5f, 0.3f, 0.5f, 0.0f, 0.3f, 0.1f};
  auto two = topk_of(x, 2);
  ASSERT_TRUE(two.is_ok()) << two.status().to_string();
  EXPECT_EQ(two->indices, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(two->values, (std::vector<float>{0.5f, 0.5f}));
  auto four = topk_of(x, 4);
  ASSERT_TRUE(four.is_ok()) << four.status().to_string();
  EXPECT_EQ(four->indices, (std::vector<int32_t>{0, 2, 4, 3}));
  EXPECT_EQ(four->values, (std::vector<float>{0.5f, 0.5f, 0.5f, 0.3f}));
}

TEST(InterpreterTopK, AllZeroRow) {
  auto r = topk_of(std::vector<float>(8, 0.0f), 3);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->indices, (std::vector<int32_t>{0, 1, 2}));
}

TEST(InterpreterTopK, SignedZerosAreEqual) {
  auto r = topk_of({-0.0f, 0.0f, -1.0f}, 2);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->indices, (std::vector<int32_t>{0, 1}));
  EXPECT_TRUE(std::signbit(r->values[0]));
}

TEST(InterpreterTopK, NaNRanksFirst) {
  auto r = topk_of({0.1f, kNaN, 0.3f, 0.2f, -1.0f, 0.05f, 0.0f, -0.5f}, 2);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->indices, (std::vector<int32_t>{1, 2}));
  EXPECT_TRUE(std::isnan(r->values[0]));
  EXPECT_EQ(r->values[1], 0.3f);
  auto above_inf = topk_of({kInf, kNaN}, 1);
  ASSERT_TRUE(above_inf.is_ok()) << above_inf.status().to_string();
  EXPECT_EQ(above_inf->indices, (std::vector<int32_t>{1}));
}

TEST(InterpreterTopK, AllNaNRow) {
  auto r = topk_of(std::vector<float>(8, kNaN), 2);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->indices, (std::vector<int32_t>{0, 1}));
}

TEST(InterpreterTopK, KEqualsLength) {
  auto r = topk_of({0.3f, -1.0f, 2.5f, 0.3f, 7.0f}, 5);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->indices, (std::vector<int32_t>{4, 2, 0, 3, 1}));
  EXPECT_EQ(r->values, (std::vector<float>{7.0f, 2.5f, 0.3f, 0.3f, -1.0f}));
}

TEST(InterpreterTopK, KAboveLengthFailsWithoutOverread) {
  // The row ends where a PROT_NONE page begins, so a read past it would crash.
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* memory = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  ASSERT_EQ(mprotect(static_cast<uint8_t*>(memory) + page, page, PROT_NONE), 0);
  const float row[5] = {0.3f, -1.0f, 2.5f, 0.3f, 7.0f};
  auto* x = reinterpret_cast<float*>(static_cast<uint8_t*>(memory) + page - sizeof(row));
  std::memcpy(x, row, sizeof(row));

  std::vector<uint8_t> v(6 * 4);
  std::vector<uint8_t> i(6 * 4);
  RunArgs args;
  args.n = 5;
  args.scalars["k"] = 6;
  args.tensors["x"] = {x, ElemType::kF32, 20};
  args.tensors["v"] = {v.data(), ElemType::kF32, 24};
  args.tensors["i"] = {i.data(), ElemType::kS32, 24};
  Status status = interpret(parse(kTopK), args);
  munmap(memory, 2 * page);

  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("k = 6 exceeds the length 5 of 'x'"), std::string::npos) << status.message();
}

TEST(InterpreterTopK, NonPositiveKParameterRejected) {
  auto r = topk_of({1.0f, 2.0f}, 0);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "parameter 'k' = 0 must be a positive integer, because it is the length of [k]");
}

Result<std::vector<float>> group_mask_of(const std::vector<float>& x, const char* attributes) {
  std::string text = std::string("kernel k(x: f32[n]) -> (y: f32[n]) {\n  y = group_mask(x, ") + attributes + ")\n}\n";
  return run_row(parse(text.c_str()), x);
}

TEST(InterpreterGroupMask, ScoreMax) {
  // Group maxima 5, 3, 9, 4: groups 2 and 0 stay.
  auto y = group_mask_of({1, 5, 2, 3, 9, 0, 4, 4}, "groups=4, keep=2, score=max");
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(*y, (std::vector<float>{1, 5, -kInf, -kInf, 9, 0, -kInf, -kInf}));
}

TEST(InterpreterGroupMask, ScoreTop2Sum) {
  // Sums of the two largest: 6, 5, 9, 8: groups 2 and 3 stay.
  auto y = group_mask_of({1, 5, 2, 3, 9, 0, 4, 4}, "groups=4, keep=2, score=top2_sum");
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(*y, (std::vector<float>{-kInf, -kInf, -kInf, -kInf, 9, 0, 4, 4}));
}

TEST(InterpreterGroupMask, Top2SumDiffersFromMax) {
  // {3, 1, 3} scores 6 against 5 for {5, 0, 0}, although its max is lower.
  auto y = group_mask_of({3, 1, 3, 5, 0, 0}, "groups=2, keep=1, score=top2_sum");
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(*y, (std::vector<float>{3, 1, 3, -kInf, -kInf, -kInf}));
  auto by_max = group_mask_of({3, 1, 3, 5, 0, 0}, "groups=2, keep=1, score=max");
  ASSERT_TRUE(by_max.is_ok()) << by_max.status().to_string();
  EXPECT_EQ(*by_max, (std::vector<float>{-kInf, -kInf, -kInf, 5, 0, 0}));
}

TEST(InterpreterGroupMask, TiesKeepLowerGroup) {
  auto y = group_mask_of({1, 2, 2, 1}, "groups=2, keep=1, score=max");
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(*y, (std::vector<float>{1, 2, -kInf, -kInf}));
}

TEST(InterpreterGroupMask, NaNGroupRanksFirst) {
  auto y = group_mask_of({9, 8, kNaN, 0}, "groups=2, keep=1, score=top2_sum");
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ((*y)[0], -kInf);
  EXPECT_EQ((*y)[1], -kInf);
  EXPECT_TRUE(std::isnan((*y)[2]));
  EXPECT_EQ((*y)[3], 0.0f);
}

TEST(InterpreterGroupMask, RowNotMultipleOfGroupsFails) {
  auto y = group_mask_of({1, 2, 3, 4, 5, 6}, "groups=4, keep=1, score=max");
  ASSERT_FALSE(y.is_ok());
  EXPECT_EQ(y.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(y.status().message().find("n = 6 is not a multiple of groups = 4"), std::string::npos)
      << y.status().message();
}

TEST(InterpreterGroupMask, Top2SumNeedsTwoPerGroup) {
  auto y = group_mask_of({1, 2, 3, 4}, "groups=4, keep=1, score=top2_sum");
  ASSERT_FALSE(y.is_ok());
  EXPECT_EQ(y.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(y.status().message().find("groups of at least 2"), std::string::npos) << y.status().message();
}

const char* const kGatherLabel = R"(kernel k(x: f32[n], label: s32) -> (y: f32) {
  y = gather(x, label)
})";

TEST(InterpreterGather, PerRowLabel) {
  TestRun run(2, 3);
  run.input<float>("x", ElemType::kF32, {{1, 2, 3}, {4, 5, 6}});
  run.input<int32_t>("label", ElemType::kS32, {{2}, {0}});
  run.output("y", ElemType::kF32, 4);
  Status status = run.run(parse(kGatherLabel));
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["y"].at<float>(0, 0), 3.0f);
  EXPECT_EQ(run["y"].at<float>(1, 0), 4.0f);
}

TEST(InterpreterGather, LabelOutOfRangeFails) {
  for (int32_t label : {3, -1}) {
    TestRun run(2, 3);
    run.input<float>("x", ElemType::kF32, {{1, 2, 3}, {4, 5, 6}});
    run.input<int32_t>("label", ElemType::kS32, {{0}, {label}});
    run.output("y", ElemType::kF32, 4);
    Status status = run.run(parse(kGatherLabel));
    EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
    std::string expected = "row 1: gather index " + std::to_string(label) + " is outside 'x' of length 3";
    EXPECT_NE(status.message().find(expected), std::string::npos) << status.message();
  }
}

TEST(InterpreterGather, IndexVectorFromTopK) {
  // The MoE pattern: select on x, take the weights from another vector.
  Pipeline p = parse(R"(kernel k(x: f32[n], w: s8[n]) -> (g: s8[2], i: s32[2]) {
    v, i = topk(x, k=2)
    g = gather(w, i)
  })");
  TestRun run(1, 4);
  run.input<float>("x", ElemType::kF32, {{0.1f, 0.9f, 0.5f, 0.7f}});
  run.input<int8_t>("w", ElemType::kS8, {{-1, -2, -3, -4}});
  run.output("g", ElemType::kS8, 2).output("i", ElemType::kS32, 8);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["i"].row<int32_t>(0, 2), (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(run["g"].row<int8_t>(0, 2), (std::vector<int8_t>{-2, -4}));
}

TEST(InterpreterGather, IndexVectorOutOfRangeFails) {
  // The indices of a 4-element row gathered from the 2 blocks of [n/2].
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (g: f32[2]) {
    v, i = topk(x, k=2)
    g = gather(block_max(x, block=2), i)
  })");
  TestRun run(1, 4);
  run.input<float>("x", ElemType::kF32, {{0.0f, 1.0f, 3.0f, 2.0f}});
  run.output("g", ElemType::kF32, 8);
  Status status = run.run(p);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("gather index 2 (element 0 of the indices) is outside"), std::string::npos)
      << status.message();
}

const char* const kOneHot = R"(kernel k(label: s32) -> (y: f32[n]) {
  y = one_hot(label)
})";

TEST(InterpreterOneHot, SetsOneElement) {
  TestRun run(2, 4);
  run.input<int32_t>("label", ElemType::kS32, {{2}, {0}});
  run.output("y", ElemType::kF32, 16);
  Status status = run.run(parse(kOneHot));
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["y"].row<float>(0, 4), (std::vector<float>{0, 0, 1, 0}));
  EXPECT_EQ(run["y"].row<float>(1, 4), (std::vector<float>{1, 0, 0, 0}));
}

TEST(InterpreterOneHot, IndexOutOfRangeFails) {
  for (int32_t label : {4, -1}) {
    TestRun run(1, 4);
    run.input<int32_t>("label", ElemType::kS32, {{label}});
    run.output("y", ElemType::kF32, 16);
    Status status = run.run(parse(kOneHot));
    EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
    std::string expected = "row 0: one_hot index " + std::to_string(label) + " is outside the row of length n = 4";
    EXPECT_NE(status.message().find(expected), std::string::npos) << status.message();
  }
}

}  // namespace
}  // namespace rowjit::ir
