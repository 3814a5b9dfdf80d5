// validate_run_args through interpret(): each rejected argument and its message.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/interpreter_testing.h"

namespace rowjit::ir {
namespace {

using testing::make_output;
using testing::make_tensor;
using testing::parse;
using testing::TestTensor;

// A pipeline with an input, a bounded f32 parameter, an s32 parameter with a
// default that sizes [k] outputs, and a vector parameter.
class InterpreterArgs : public ::testing::Test {
 protected:
  void SetUp() override {
    pipeline_ = parse(R"(kernel k(x: f32[n], param tau: f32 > 0, param eps: f32 >= 0 = 0, param k: s32 = 2,
                                   param bias: f32[n]) -> (y: f32[n], v: f32[k], i: s32[k]) {
      y = x / tau + bias + eps
      v, i = topk(x, k=k)
    })");
    x_ = make_tensor<float>(ElemType::kF32, {{1, 2, 3, 4}, {5, 6, 7, 8}});
    bias_ = make_tensor<float>(ElemType::kF32, {{0, 0, 0, 0}});
    y_ = make_output(ElemType::kF32, 2, 16);
    v_ = make_output(ElemType::kF32, 2, 8);
    i_ = make_output(ElemType::kS32, 2, 8);
    args_.rows = 2;
    args_.n = 4;
    args_.tensors = {{"x", x_.ref()}, {"bias", bias_.ref()}, {"y", y_.ref()}, {"v", v_.ref()}, {"i", i_.ref()}};
    args_.scalars = {{"tau", 2.0}};
  }

  // The message of the rejected run, or "" if the run succeeded.
  std::string rejection() {
    Status status = interpret(pipeline_, args_);
    if (status.is_ok()) return "";
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
    return status.message();
  }

  Pipeline pipeline_;
  TestTensor x_, bias_, y_, v_, i_;
  RunArgs args_;
};

TEST_F(InterpreterArgs, ValidRunUsesDefaults) {
  EXPECT_EQ(rejection(), "");
  EXPECT_EQ(y_.at<float>(1, 3), 4.0f);
  EXPECT_EQ(i_.row<int32_t>(1, 2), (std::vector<int32_t>{3, 2}));
}

TEST_F(InterpreterArgs, MissingTensor) {
  args_.tensors.erase("x");
  EXPECT_EQ(rejection(), "missing tensor 'x'; it is required by input x: f32[n]");
}

TEST_F(InterpreterArgs, MissingOutput) {
  args_.tensors.erase("i");
  EXPECT_EQ(rejection(), "missing tensor 'i'; it is required by output i: s32[k]");
}

TEST_F(InterpreterArgs, MissingVectorParameter) {
  args_.tensors.erase("bias");
  EXPECT_EQ(rejection(), "missing tensor 'bias'; it is required by param bias: f32[n]");
}

TEST_F(InterpreterArgs, MissingParameter) {
  args_.scalars.erase("tau");
  EXPECT_EQ(rejection(), "missing parameter 'tau'; it is required because param tau: f32 has no default");
}

TEST_F(InterpreterArgs, UnknownTensor) {
  args_.tensors["z"] = x_.ref();
  EXPECT_EQ(rejection(), "unknown tensor 'z'; pipeline 'k' has the tensors x, bias, y, v, i");
}

TEST_F(InterpreterArgs, UnknownParameter) {
  args_.scalars["temperature"] = 1.0;
  EXPECT_EQ(rejection(), "unknown parameter 'temperature'; pipeline 'k' has the scalar parameters tau, eps, k");
}

TEST_F(InterpreterArgs, ScalarParameterPassedAsTensor) {
  args_.tensors["tau"] = x_.ref();
  EXPECT_EQ(rejection(),
            "'tau' is a scalar parameter (param tau: f32); pass it in RunArgs::scalars, not in tensors");
}

TEST_F(InterpreterArgs, TensorPassedAsScalar) {
  args_.scalars["bias"] = 1.0;
  EXPECT_EQ(rejection(), "'bias' is param bias: f32[n], not a scalar parameter; pass it in RunArgs::tensors");
}

TEST_F(InterpreterArgs, WrongElementType) {
  args_.tensors["x"].type = ElemType::kS8;
  EXPECT_EQ(rejection(), "tensor 'x' has element type s8, expected f32");
}

TEST_F(InterpreterArgs, NullData) {
  args_.tensors["y"].data = nullptr;
  EXPECT_EQ(rejection(), "tensor 'y' has null data but 2 rows are requested");
}

TEST_F(InterpreterArgs, StrideSmallerThanRow) {
  args_.tensors["x"].row_stride_bytes = 12;
  EXPECT_EQ(rejection(),
            "tensor 'x' has row stride 12 bytes, smaller than one row of 16 bytes (4 x f32); pass a stride of at "
            "least 16");
}

TEST_F(InterpreterArgs, StrideOfKOutput) {
  args_.scalars["k"] = 3;
  EXPECT_EQ(rejection(),
            "tensor 'v' has row stride 8 bytes, smaller than one row of 12 bytes (3 x f32); pass a stride of at "
            "least 12");
}

TEST_F(InterpreterArgs, StrideUnusedForOneRow) {
  args_.rows = 1;
  args_.tensors["x"].row_stride_bytes = 0;
  EXPECT_EQ(rejection(), "");
  EXPECT_EQ(y_.at<float>(0, 1), 1.0f);
}

TEST_F(InterpreterArgs, NonFiniteParameter) {
  args_.scalars["tau"] = std::numeric_limits<double>::infinity();
  EXPECT_EQ(rejection(), "parameter 'tau' = inf must be finite");
  args_.scalars["tau"] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(rejection(), "parameter 'tau' = nan must be finite");
}

TEST_F(InterpreterArgs, NonIntegralS32Parameter) {
  args_.scalars["k"] = 2.5;
  EXPECT_EQ(rejection(), "parameter 'k' = 2.5 must be an integer (s32)");
}

TEST_F(InterpreterArgs, S32ParameterOutOfRange) {
  args_.scalars["k"] = 3e9;
  EXPECT_EQ(rejection(), "parameter 'k' = 3e+09 is outside the s32 range [-2147483648, 2147483647]");
}

TEST_F(InterpreterArgs, BoundViolated) {
  args_.scalars["tau"] = 0;
  EXPECT_EQ(rejection(), "parameter 'tau' = 0 must be > 0");
  args_.scalars["tau"] = 1;
  args_.scalars["eps"] = -0.5;
  EXPECT_EQ(rejection(), "parameter 'eps' = -0.5 must be >= 0");
}

// f32 parameters are checked after rounding to the f32 the kernel receives.
TEST_F(InterpreterArgs, BoundCheckedInF32) {
  args_.scalars["tau"] = 1e-50;
  EXPECT_EQ(rejection(), "parameter 'tau' = 1e-50 (0 in f32) must be > 0");
  args_.scalars["tau"] = 1e39;
  EXPECT_EQ(rejection(), "parameter 'tau' = 1e+39 overflows f32 to inf; use a value within +-3.4e38");
}

TEST_F(InterpreterArgs, RowCountOverflowingAddressSpace) {
  args_.rows = std::numeric_limits<int64_t>::max();
  EXPECT_NE(rejection().find("overflow the address space"), std::string::npos) << rejection();
}

TEST_F(InterpreterArgs, KParameterNotPositive) {
  args_.scalars["k"] = -1;
  EXPECT_EQ(rejection(), "parameter 'k' = -1 must be a positive integer, because it is the length of [k]");
}

TEST_F(InterpreterArgs, NegativeRowsAndLength) {
  args_.n = -1;
  EXPECT_EQ(rejection(), "n = -1 must be >= 0 (it is the row length)");
  args_.n = 4;
  args_.rows = -2;
  EXPECT_EQ(rejection(), "rows = -2 must be >= 0");
  args_.rows = 2;
  args_.first_row = -1;
  EXPECT_EQ(rejection(), "first_row = -1 must be >= 0");
}

TEST_F(InterpreterArgs, RunTimeErrorIsOutOfRange) {
  // Valid arguments, but k = 5 exceeds the row length 4.
  args_.scalars["k"] = 5;
  v_ = make_output(ElemType::kF32, 2, 20);
  i_ = make_output(ElemType::kS32, 2, 20);
  args_.tensors["v"] = v_.ref();
  args_.tensors["i"] = i_.ref();
  Status status = interpret(pipeline_, args_);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(status.message(), "row 0: topk: k = 5 exceeds the length 4 of 'x'; k must be at most the number of elements");
}

TEST(InterpreterShapeLength, EveryShapeKind) {
  Pipeline p = parse(R"(kernel k(x: f32[n], param k: s32 = 3) -> (v: f32[k], i: s32[k]) {
    v, i = topk(x, k=k)
  })");
  RunArgs args;
  args.n = 70;
  EXPECT_EQ(shape_length(p, Shape::scalar(), args).value(), 1);
  EXPECT_EQ(shape_length(p, Shape::row(), args).value(), 70);
  EXPECT_EQ(shape_length(p, Shape::blocks(32), args).value(), 3);
  EXPECT_EQ(shape_length(p, Shape::fixed(4), args).value(), 4);
  EXPECT_EQ(shape_length(p, Shape::fixed("k"), args).value(), 3);
  args.scalars["k"] = 9;
  EXPECT_EQ(shape_length(p, Shape::fixed("k"), args).value(), 9);
  EXPECT_EQ(scalar_param(p, args, "k").value(), 9.0);
  EXPECT_FALSE(scalar_param(p, args, "x").has_value());
}

}  // namespace
}  // namespace rowjit::ir
