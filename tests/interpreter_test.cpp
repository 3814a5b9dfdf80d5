// Interpreter driver and softmax: accuracy against a double formula, the
// special rows of docs/ir.md, strides, in-place runs and the float environment.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "tests/interpreter_testing.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace rowjit::ir {
namespace {

using testing::make_output;
using testing::make_tensor;
using testing::run_row;
using testing::run_rows;
using testing::softmax_pipeline;
using testing::TestPipeline;
using testing::TestTensor;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Softmax in double of f32 inputs.
std::vector<double> softmax_in_double(const std::vector<float>& x) {
  double m = -std::numeric_limits<double>::infinity();
  for (float v : x) m = std::max(m, static_cast<double>(v));
  std::vector<double> e;
  double sum = 0;
  for (float v : x) {
    e.push_back(std::exp(static_cast<double>(v) - m));
    sum += e.back();
  }
  for (double& v : e) v /= sum;
  return e;
}

TEST(InterpreterSoftmax, MatchesDoubleFormula) {
  // Inputs are multiples of 2^-10 in [-8, 8], so x - max(x) is exact in f32.
  // Every f32 rounding has a relative error of at most 2^-24. The numerator
  // exp(x - m) carries one rounding. The sum carries two: the roundings of its
  // exp terms and its own rounding to f32. The division adds one more, so the
  // bound is 4 * 2^-24 = 2^-22, with a little room for second-order terms.
  const double bound = std::ldexp(1.0, -22) * 1.001;
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> steps(-8192, 8192);
  Pipeline pipeline = softmax_pipeline();

  for (int n : {1, 2, 3, 7, 8, 16, 31, 33, 100, 1000, 4099}) {
    std::vector<std::vector<float>> rows(3, std::vector<float>(static_cast<size_t>(n)));
    for (auto& row : rows) {
      for (float& v : row) v = static_cast<float>(std::ldexp(steps(random), -10));
    }
    auto out = run_rows(pipeline, rows);
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    double worst = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<double> expected = softmax_in_double(rows[r]);
      for (size_t i = 0; i < expected.size(); ++i) {
        worst = std::max(worst, std::fabs((*out)[r][i] - expected[i]) / expected[i]);
      }
    }
    EXPECT_LE(worst, bound) << "n = " << n;
  }
}

TEST(InterpreterSoftmax, AllNegativeInfinityGivesNaN) {
  auto y = run_row(softmax_pipeline(), std::vector<float>(8, -kInf));
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  for (float v : *y) EXPECT_TRUE(std::isnan(v));
}

TEST(InterpreterSoftmax, PositiveInfinityGivesNaN) {
  auto y = run_row(softmax_pipeline(), {1.0f, kInf, -2.0f, 0.0f});
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  for (float v : *y) EXPECT_TRUE(std::isnan(v));
}

TEST(InterpreterSoftmax, NaNGivesNaN) {
  auto y = run_row(softmax_pipeline(), {1.0f, 2.0f, kNaN, 0.0f, -5.0f});
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  for (float v : *y) EXPECT_TRUE(std::isnan(v));
}

TEST(InterpreterSoftmax, MaskedRowGivesExactOneHot) {
  std::vector<float> x(16, -kInf);
  x.push_back(0.0f);
  auto y = run_row(softmax_pipeline(), x);
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ((*y)[i], 0.0f) << "i = " << i;
  EXPECT_EQ((*y)[16], 1.0f);
}

TEST(InterpreterSoftmax, LengthOneRows) {
  auto y = run_rows(softmax_pipeline(), {{0.7f}, {1e30f}, {-kInf}});
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ((*y)[0][0], 1.0f);
  EXPECT_EQ((*y)[1][0], 1.0f);
  EXPECT_TRUE(std::isnan((*y)[2][0]));
}

TEST(InterpreterSoftmax, DenormalInputs) {
  // x - max is a denormal or zero and exp of it rounds to 1, so every weight is 1/3.
  float tiny = std::numeric_limits<float>::denorm_min();
  auto y = run_row(softmax_pipeline(), {tiny, -3 * tiny, 0.0f});
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  for (float v : *y) EXPECT_EQ(v, 1.0f / 3.0f);
}

TEST(InterpreterSoftmax, DenormalOutputKept) {
  // e^-100 = 3.72e-44 is an f32 denormal; the sum rounds to 1.
  auto y = run_row(softmax_pipeline(), {0.0f, -100.0f});
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ((*y)[0], 1.0f);
  EXPECT_EQ((*y)[1], static_cast<float>(std::exp(-100.0)));
  EXPECT_GT((*y)[1], 0.0f);
  EXPECT_LT((*y)[1], std::numeric_limits<float>::min());
}

TEST(InterpreterSoftmax, EmptyRows) {
  auto y = run_rows(softmax_pipeline(), {{}, {}});
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(y->size(), 2u);
}

TEST(InterpreterSoftmax, ZeroRows) {
  RunArgs args;
  args.rows = 0;
  args.n = 16;
  args.tensors["x"] = {nullptr, ElemType::kF32, 64};
  args.tensors["y"] = {nullptr, ElemType::kF32, 64};
  Status status = interpret(softmax_pipeline(), args);
  EXPECT_TRUE(status.is_ok()) << status.to_string();
}

TEST(InterpreterDriver, StridesLargerThanRow) {
  // Rows of 3 floats in a 20-byte stride, output rows in a 32-byte stride.
  TestTensor x = make_tensor<float>(ElemType::kF32, {{1, 2, 3}, {-1, -1, -1}}, 20);
  TestTensor y = make_output(ElemType::kF32, 2, 32);
  RunArgs args;
  args.rows = 2;
  args.n = 3;
  args.tensors["x"] = x.ref();
  args.tensors["y"] = y.ref();
  Status status = interpret(softmax_pipeline(), args);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  std::vector<double> expected = softmax_in_double({1, 2, 3});
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(y.at<float>(0, i), expected[i], 1e-7);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(y.at<float>(1, i), 1.0f / 3.0f);
  // The padding between rows is left alone.
  for (int b = 12; b < 32; ++b) EXPECT_EQ(y.byte(0, b), 0xCD) << "byte " << b;
}

TEST(InterpreterDriver, InPlaceRun) {
  TestTensor x = make_tensor<float>(ElemType::kF32, {{0, 0}, {1, 1}});
  RunArgs args;
  args.rows = 2;
  args.n = 2;
  args.tensors["x"] = x.ref();
  args.tensors["y"] = x.ref();
  Status status = interpret(softmax_pipeline(), args);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(x.at<float>(0, 0), 0.5f);
  EXPECT_EQ(x.at<float>(1, 1), 0.5f);
}

TEST(InterpreterDriver, PerRowScalarAndVectorParam) {
  // y = x * scale + bias with a per-row scale and a bias vector shared by all rows.
  TestPipeline p("affine");
  ValueId x = p.input("x", ElemType::kF32);
  ValueId scale = p.input("scale", ElemType::kF32, Shape::scalar());
  ValueId bias = p.param("bias", ElemType::kF32, Shape::row());
  p.output("y", p.op(OpKind::kAdd, {p.op(OpKind::kMul, {x, scale}), bias}));
  Pipeline pipeline = p.finish();

  TestTensor xs = make_tensor<float>(ElemType::kF32, {{1, 2}, {3, 4}});
  TestTensor scales = make_tensor<float>(ElemType::kF32, {{10}, {100}});
  TestTensor biases = make_tensor<float>(ElemType::kF32, {{0.5f, -0.5f}});
  TestTensor y = make_output(ElemType::kF32, 2, 8);
  RunArgs args;
  args.rows = 2;
  args.n = 2;
  args.tensors = {{"x", xs.ref()}, {"scale", scales.ref()}, {"bias", biases.ref()}, {"y", y.ref()}};
  Status status = interpret(pipeline, args);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(y.at<float>(0, 0), 10.5f);
  EXPECT_EQ(y.at<float>(0, 1), 19.5f);
  EXPECT_EQ(y.at<float>(1, 0), 300.5f);
  EXPECT_EQ(y.at<float>(1, 1), 399.5f);
}

#if defined(__x86_64__)
TEST(InterpreterDriver, KeepsDenormalsUnderFlushToZero) {
  // The caller sets FTZ (bit 15) and DAZ (bit 6); the interpreter must still
  // read and produce denormals, and give the caller its MXCSR back.
  TestPipeline p("twice");
  p.output("y", p.op(OpKind::kMul, {p.input("x", ElemType::kF32), p.literal(2)}));
  Pipeline pipeline = p.finish();
  // The inputs are computed before the flush-to-zero mode is set.
  float tiny = std::numeric_limits<float>::denorm_min();
  const std::vector<float> x = {tiny, 3 * tiny};

  unsigned saved = _mm_getcsr();
  unsigned flushing = saved | 0x8040u;
  _mm_setcsr(flushing);
  auto y = run_row(pipeline, x);
  unsigned after = _mm_getcsr();
  _mm_setcsr(saved);

  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ((*y)[0], 2 * tiny);
  EXPECT_EQ((*y)[1], 6 * tiny);
  EXPECT_EQ(after & 0x8040u, 0x8040u);
}
#endif

// The whole test took about 0.4 s in a Release build on this project's 2-core
// machine, so it stays in the default suite. The 5 s limit applies to
// optimized builds only; unoptimized and sanitizer builds check the result alone.
TEST(InterpreterSoftmax, Rows4096x4096InSeconds) {
  const int64_t n = 4096;
  std::vector<std::vector<float>> rows(4096, std::vector<float>(n));
  std::mt19937 random(7);
  std::uniform_real_distribution<float> logits(-10.0f, 10.0f);
  for (auto& row : rows) {
    for (float& v : row) v = logits(random);
  }
  auto start = std::chrono::steady_clock::now();
  auto out = run_rows(softmax_pipeline(), rows);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(seconds, 5.0);
#else
  static_cast<void>(seconds);
#endif
  std::vector<double> expected = softmax_in_double(rows[4095]);
  EXPECT_NEAR((*out)[4095][17], expected[17], 1e-6 * expected[17]);
}

}  // namespace
}  // namespace rowjit::ir
