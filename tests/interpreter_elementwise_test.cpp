// Elementwise ops through the interpreter: f32 rounding, s32 wrap-around,
// comparisons, unary math special values, broadcasting and select.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/interpreter_testing.h"

namespace rowjit::ir {
namespace {

using testing::parse;
using testing::run_row;
using testing::TestRun;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kDenormMin = std::numeric_limits<float>::denorm_min();  // 2^-149

TEST(InterpreterElementwise, F32RoundsEachOp) {
  Pipeline p = parse(R"(kernel k(a: f32[n], b: f32[n]) -> (s: f32[n], m: f32[n], q: f32[n]) {
    s = a + b
    m = a * b
    q = a / b
  })");
  TestRun run(1, 3);
  run.input<float>("a", ElemType::kF32, {{1.0f, 0x1.001p0f, 1.0f}});
  run.input<float>("b", ElemType::kF32, {{0x1p-24f, 0x1.001p0f, 3.0f}});
  run.output("s", ElemType::kF32, 12).output("m", ElemType::kF32, 12).output("q", ElemType::kF32, 12);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  // 1 + 2^-24 is a tie between 1 and 1 + 2^-23 and goes to the even 1.
  EXPECT_EQ(run["s"].at<float>(0, 0), 1.0f);
  // (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24, a tie that goes to the even 1 + 2^-11.
  EXPECT_EQ(run["m"].at<float>(0, 1), 0x1.002p0f);
  // 1/3 rounds to 0x1.555556p-2 (the last bits 0101... round up).
  EXPECT_EQ(run["q"].at<float>(0, 2), 0x1.555556p-2f);
  // 3 * 1 is exact.
  EXPECT_EQ(run["m"].at<float>(0, 2), 3.0f);
}

TEST(InterpreterElementwise, MinimumMaximumNaNAndZeros) {
  Pipeline p = parse(R"(kernel k(a: f32[n], b: f32[n]) -> (lo: f32[n], hi: f32[n]) {
    lo = minimum(a, b)
    hi = maximum(a, b)
  })");
  TestRun run(1, 5);
  run.input<float>("a", ElemType::kF32, {{kNaN, 1.0f, -0.0f, 0.0f, 2.0f}});
  run.input<float>("b", ElemType::kF32, {{1.0f, kNaN, 0.0f, -0.0f, 3.0f}});
  run.output("lo", ElemType::kF32, 20).output("hi", ElemType::kF32, 20);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_TRUE(std::isnan(run["lo"].at<float>(0, 0)));
  EXPECT_TRUE(std::isnan(run["lo"].at<float>(0, 1)));
  EXPECT_TRUE(std::isnan(run["hi"].at<float>(0, 0)));
  EXPECT_TRUE(std::isnan(run["hi"].at<float>(0, 1)));
  EXPECT_TRUE(std::signbit(run["lo"].at<float>(0, 2)));
  EXPECT_TRUE(std::signbit(run["lo"].at<float>(0, 3)));
  EXPECT_FALSE(std::signbit(run["hi"].at<float>(0, 2)));
  EXPECT_FALSE(std::signbit(run["hi"].at<float>(0, 3)));
  EXPECT_EQ(run["lo"].at<float>(0, 4), 2.0f);
  EXPECT_EQ(run["hi"].at<float>(0, 4), 3.0f);
}

TEST(InterpreterElementwise, S32Wraps) {
  Pipeline p = parse(R"(kernel k(a: s32[n], b: s32[n]) -> (s: s32[n], d: s32[n], m: s32[n], g: s32[n], v: s32[n]) {
    s = a + b
    d = a - b
    m = a * b
    g = -a
    v = abs(a)
  })");
  TestRun run(1, 3);
  run.input<int32_t>("a", ElemType::kS32, {{2147483647, 65536, -2147483647 - 1}});
  run.input<int32_t>("b", ElemType::kS32, {{1, 65536, 1}});
  for (const char* name : {"s", "d", "m", "g", "v"}) run.output(name, ElemType::kS32, 12);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  const int32_t kMin = -2147483647 - 1;
  EXPECT_EQ(run["s"].at<int32_t>(0, 0), kMin);
  EXPECT_EQ(run["s"].at<int32_t>(0, 1), 131072);
  EXPECT_EQ(run["d"].at<int32_t>(0, 2), 2147483647);
  EXPECT_EQ(run["m"].at<int32_t>(0, 0), 2147483647);
  EXPECT_EQ(run["m"].at<int32_t>(0, 1), 0);  // 2^32 wraps to 0
  EXPECT_EQ(run["m"].at<int32_t>(0, 2), kMin);
  EXPECT_EQ(run["g"].at<int32_t>(0, 0), -2147483647);
  EXPECT_EQ(run["g"].at<int32_t>(0, 2), kMin);
  EXPECT_EQ(run["v"].at<int32_t>(0, 2), kMin);
  EXPECT_EQ(run["v"].at<int32_t>(0, 1), 65536);
}

TEST(InterpreterElementwise, S32MinimumMaximumAndLiteral) {
  Pipeline p = parse(R"(kernel k(a: s32[n]) -> (lo: s32[n], hi: s32[n]) {
    lo = minimum(a, 3)
    hi = maximum(a, -2) + 1
  })");
  TestRun run(1, 3);
  run.input<int32_t>("a", ElemType::kS32, {{-5, 3, 7}});
  run.output("lo", ElemType::kS32, 12).output("hi", ElemType::kS32, 12);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["lo"].row<int32_t>(0, 3), (std::vector<int32_t>{-5, 3, 3}));
  EXPECT_EQ(run["hi"].row<int32_t>(0, 3), (std::vector<int32_t>{-1, 4, 8}));
}

TEST(InterpreterElementwise, ComparisonsFollowIeee) {
  Pipeline p = parse(R"(kernel k(a: f32[n], b: f32[n]) -> (lt: u8[n], le: u8[n], gt: u8[n], ge: u8[n], eq: u8[n], ne: u8[n]) {
    lt = convert(a < b, to=u8)
    le = convert(a <= b, to=u8)
    gt = convert(a > b, to=u8)
    ge = convert(a >= b, to=u8)
    eq = convert(a == b, to=u8)
    ne = convert(a != b, to=u8)
  })");
  TestRun run(1, 5);
  run.input<float>("a", ElemType::kF32, {{kNaN, 1.0f, -0.0f, 2.0f, 1.0f}});
  run.input<float>("b", ElemType::kF32, {{1.0f, kNaN, 0.0f, 2.0f, 2.0f}});
  for (const char* name : {"lt", "le", "gt", "ge", "eq", "ne"}) run.output(name, ElemType::kU8, 5);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  // Columns: nan ? 1, 1 ? nan, -0 ? +0, 2 ? 2, 1 ? 2.
  EXPECT_EQ(run["lt"].row<uint8_t>(0, 5), (std::vector<uint8_t>{0, 0, 0, 0, 1}));
  EXPECT_EQ(run["le"].row<uint8_t>(0, 5), (std::vector<uint8_t>{0, 0, 1, 1, 1}));
  EXPECT_EQ(run["gt"].row<uint8_t>(0, 5), (std::vector<uint8_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(run["ge"].row<uint8_t>(0, 5), (std::vector<uint8_t>{0, 0, 1, 1, 0}));
  EXPECT_EQ(run["eq"].row<uint8_t>(0, 5), (std::vector<uint8_t>{0, 0, 1, 1, 0}));
  EXPECT_EQ(run["ne"].row<uint8_t>(0, 5), (std::vector<uint8_t>{1, 1, 0, 0, 1}));
}

struct UnaryCase {
  const char* expression;  // of x
  float input;
  float expected;  // NaN means "expect NaN"; a signed zero checks the sign
};

TEST(InterpreterElementwise, UnarySpecialValues) {
  const UnaryCase cases[] = {
      {"-x", 0.0f, -0.0f},
      {"abs(x)", -0.0f, 0.0f},
      {"abs(x)", -kInf, kInf},
      {"exp(x)", -kInf, 0.0f},
      {"exp(x)", kInf, kInf},
      {"exp(x)", 0.0f, 1.0f},
      {"exp(x)", 89.0f, kInf},             // e^89 = 4.5e38 > FLT_MAX
      {"exp(x)", -103.0f, kDenormMin},     // e^-103 = 1.31 * 2^-149
      {"exp(x)", -104.0f, 0.0f},           // e^-104 = 0.49 * 2^-149
      {"exp(x)", kNaN, kNaN},
      {"log(x)", 0.0f, -kInf},
      {"log(x)", -0.0f, -kInf},
      {"log(x)", -1.0f, kNaN},
      {"log(x)", kInf, kInf},
      {"log(x)", 1.0f, 0.0f},
      {"sqrt(x)", -0.0f, -0.0f},
      {"sqrt(x)", -1.0f, kNaN},
      {"sqrt(x)", 4.0f, 2.0f},
      {"recip(x)", 0.0f, kInf},
      {"recip(x)", -0.0f, -kInf},
      {"recip(x)", 4.0f, 0.25f},
      {"sigmoid(x)", -kInf, 0.0f},
      {"sigmoid(x)", kInf, 1.0f},
      {"sigmoid(x)", 0.0f, 0.5f},
      {"sigmoid(x)", kNaN, kNaN},
      {"tanh(x)", kInf, 1.0f},
      {"tanh(x)", -kInf, -1.0f},
      {"tanh(x)", -0.0f, -0.0f},
      {"softplus(x)", kInf, kInf},
      {"softplus(x)", -kInf, 0.0f},
      {"softplus(x)", 0.0f, 0x1.62e43p-1f},  // ln 2 = 0.69314718056 rounded to f32
      {"softplus(x)", 100.0f, 100.0f},       // 100 + 3.7e-44 rounds to 100
      {"softplus(x)", kNaN, kNaN},
      {"floor_log2(x)", kDenormMin, -149.0f},
      {"floor_log2(x)", 0x1.8p-130f, -130.0f},  // a denormal
      {"floor_log2(x)", 0.0f, -kInf},
      {"floor_log2(x)", -0.0f, -kInf},
      {"floor_log2(x)", kInf, kInf},
      {"floor_log2(x)", -kInf, kInf},
      {"floor_log2(x)", 0.75f, -1.0f},
      {"floor_log2(x)", -8.0f, 3.0f},
      {"floor_log2(x)", std::numeric_limits<float>::max(), 127.0f},
      {"floor_log2(x)", kNaN, kNaN},
      {"exp2(x)", -149.0f, kDenormMin},
      {"exp2(x)", 127.0f, 0x1p127f},
      {"exp2(x)", 128.0f, kInf},
      {"exp2(x)", -150.0f, 0.0f},  // 2^-150 is a tie between 0 and 2^-149; 0 is even
      {"exp2(x)", -kInf, 0.0f},
      {"exp2(x)", 0.5f, 0x1.6a09e6p0f},  // sqrt(2) = 1.41421356237 rounded to f32
  };
  for (const UnaryCase& c : cases) {
    std::string text = std::string("kernel k(x: f32[n]) -> (y: f32[n]) {\n  y = ") + c.expression + "\n}\n";
    Pipeline p = parse(text.c_str());
    auto y = run_row(p, {c.input});
    ASSERT_TRUE(y.is_ok()) << y.status().to_string();
    float got = (*y)[0];
    if (std::isnan(c.expected)) {
      EXPECT_TRUE(std::isnan(got)) << c.expression << " at " << c.input << " gave " << got;
    } else {
      EXPECT_EQ(got, c.expected) << c.expression << " at " << c.input;
      EXPECT_EQ(std::signbit(got), std::signbit(c.expected)) << c.expression << " at " << c.input;
    }
  }
}

TEST(InterpreterElementwise, ExpOfDifferenceIsUnrounded) {
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (d: f32[n], e: f32[n]) {
    m = max(x)
    d = x - m
    e = exp(d)
  })");
  auto run_x = [&](std::vector<float> x, TestRun& run) {
    run.input<float>("x", ElemType::kF32, {x});
    run.output("d", ElemType::kF32, 4 * x.size()).output("e", ElemType::kF32, 4 * x.size());
    return run.run(p);
  };

  // 0.3f - 7 = -6.69999998807907... is not a float. Rounding it first moves
  // it by 1.8e-7, and exp by as much relative error (2 ulp).
  TestRun run(1, 2);
  Status status = run_x({0.3f, 7.0f}, run);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  const double exact = static_cast<double>(0.3f) - 7.0;
  const auto unrounded = static_cast<float>(std::exp(exact));
  const auto rounded_first = static_cast<float>(std::exp(static_cast<double>(static_cast<float>(exact))));
  ASSERT_NE(unrounded, rounded_first) << "the case no longer tells the two orders apart";
  EXPECT_EQ(run["e"].at<float>(0, 0), unrounded);
  EXPECT_EQ(run["e"].at<float>(0, 1), 1.0f);
  // The difference itself, an output here, is still rounded to f32.
  EXPECT_EQ(run["d"].at<float>(0, 0), static_cast<float>(exact));

  // A difference beyond the f32 range: -3e38 - 3e38 is -inf in f32 and
  // -6e38 in double, and exp gives 0 from either.
  TestRun wide(1, 2);
  status = run_x({-3e38f, 3e38f}, wide);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(wide["d"].at<float>(0, 0), -kInf);
  EXPECT_EQ(wide["e"].at<float>(0, 0), 0.0f);

  // inf - inf is NaN in both orders.
  TestRun infinite(1, 2);
  status = run_x({kInf, 1.0f}, infinite);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_TRUE(std::isnan(infinite["e"].at<float>(0, 0)));
  EXPECT_EQ(infinite["e"].at<float>(0, 1), 0.0f);
}

TEST(InterpreterElementwise, ExpOfDifferenceWithLiteral) {
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (y: f32[n]) {
    y = exp(x - 7)
  })");
  auto y = run_row(p, {0.3f});
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ((*y)[0], static_cast<float>(std::exp(static_cast<double>(0.3f) - 7.0)));
}

TEST(InterpreterElementwise, BlockOperandBroadcastsToRow) {
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (y: f32[n]) {
    y = x - block_max(x, block=4)
  })");
  auto y = run_row(p, {1, 5, 2, 3, 7, 4});
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(*y, (std::vector<float>{-4, 0, -3, -2, 0, -3}));
}

TEST(InterpreterElementwise, SelectWithLiteral) {
  Pipeline p = parse(R"(kernel k(x: f32[n]) -> (y: f32[n]) {
    y = select(x > 0, x, 0.5)
  })");
  auto y = run_row(p, {1.0f, -1.0f, kNaN, 0.0f});
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(*y, (std::vector<float>{1.0f, 0.5f, 0.5f, 0.5f}));
}

TEST(InterpreterElementwise, SelectKeepsNarrowCodes) {
  // E4M3 codes pass through select unchanged, the NaN code 0x7F included.
  Pipeline p = parse(R"(kernel k(a: e4m3[n], b: e4m3[n], c: f32[n]) -> (y: e4m3[n], z: s8[n]) {
    y = select(c > 0, a, b)
    z = select(c > 0, convert(c, to=s8), -3)
  })");
  TestRun run(1, 3);
  run.input<uint8_t>("a", ElemType::kE4M3, {{0x7F, 0x38, 0x01}});
  run.input<uint8_t>("b", ElemType::kE4M3, {{0x00, 0xB8, 0xFF}});
  run.input<float>("c", ElemType::kF32, {{1.0f, -1.0f, 5.0f}});
  run.output("y", ElemType::kE4M3, 3).output("z", ElemType::kS8, 3);
  Status status = run.run(p);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(run["y"].row<uint8_t>(0, 3), (std::vector<uint8_t>{0x7F, 0xB8, 0x01}));
  EXPECT_EQ(run["z"].row<int8_t>(0, 3), (std::vector<int8_t>{1, -3, 5}));
}

}  // namespace
}  // namespace rowjit::ir
