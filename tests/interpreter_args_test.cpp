// validate_run_args through interpret(): each rejected argument and its message.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/interpreter_testing.h"
#include "tests/run_args_cases.h"

namespace rowjit::ir {
namespace {

using testing::EntriesArgs;
using testing::kEntriesText;
using testing::make_output;
using testing::parse;
using testing::RunArgsCase;

class InterpreterArgs : public ::testing::Test {
 protected:
  void SetUp() override { pipeline_ = parse(kEntriesText); }

  // The message of the rejected run, or "" if the run succeeded.
  std::string rejection() {
    Status status = interpret(pipeline_, entries_.args);
    if (status.is_ok()) return "";
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
    return status.message();
  }

  Pipeline pipeline_;
  EntriesArgs entries_;
};

TEST_F(InterpreterArgs, ValidRunUsesDefaults) {
  EXPECT_EQ(rejection(), "");
  EXPECT_EQ(entries_.y.at<float>(1, 3), 4.0f);
  EXPECT_EQ(entries_.i.row<int32_t>(1, 2), (std::vector<int32_t>{3, 2}));
}

TEST_F(InterpreterArgs, StrideUnusedForOneRow) {
  entries_.args.rows = 1;
  entries_.args.tensors["x"].row_stride_bytes = 0;
  EXPECT_EQ(rejection(), "");
  EXPECT_EQ(entries_.y.at<float>(0, 1), 1.0f);
}

// Each case of run_args_cases(). kernel_args_test.cpp expects the same
// messages from Kernel::run.
class InterpreterArgCases : public InterpreterArgs, public ::testing::WithParamInterface<RunArgsCase> {};

INSTANTIATE_TEST_SUITE_P(RunArgs, InterpreterArgCases, ::testing::ValuesIn(testing::run_args_cases()),
                         [](const auto& info) { return info.param.name; });

TEST_P(InterpreterArgCases, Message) {
  const RunArgsCase& run_args_case = GetParam();
  for (size_t step = 0; step < run_args_case.steps.size(); ++step) {
    run_args_case.steps[step].change(entries_);
    EXPECT_EQ(rejection(), run_args_case.steps[step].message) << "step " << step;
  }
}

TEST_F(InterpreterArgs, TopKAboveLengthRejectedUpFront) {
  // Valid arguments, but k = 5 exceeds the row length 4: every row would
  // fail, so the check of the arguments rejects it, and no row runs.
  entries_.args.scalars["k"] = 5;
  entries_.v = make_output(ElemType::kF32, 2, 20);
  entries_.i = make_output(ElemType::kS32, 2, 20);
  entries_.args.tensors["v"] = entries_.v.ref();
  entries_.args.tensors["i"] = entries_.i.ref();
  std::vector<uint8_t> before = entries_.v.bytes;
  Status status = interpret(pipeline_, entries_.args);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(status.message(), "topk: k = 5 exceeds the length 4 of 'x'; k must be at most the number of elements");
  EXPECT_EQ(entries_.v.bytes, before);
  // Zero rows run nothing, so no k is too large for them.
  entries_.args.rows = 0;
  EXPECT_TRUE(interpret(pipeline_, entries_.args).is_ok());
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

TEST(InterpreterArgNames, ScalarOnPipelineWithoutParams) {
  Pipeline p = parse(R"(kernel plain(x: f32[n]) -> (y: f32[n]) {
    y = x * 2
  })");
  std::vector<float> x(3, 1.0f);
  std::vector<float> y(3, 0.0f);
  RunArgs args;
  args.rows = 1;
  args.n = 3;
  args.tensors["x"] = {x.data(), ElemType::kF32, 12};
  args.tensors["y"] = {y.data(), ElemType::kF32, 12};
  args.scalars["tau"] = 2;
  Status status = validate_run_args(p, args);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "unknown parameter 'tau'; pipeline 'plain' has no scalar parameters, so RunArgs::scalars must be empty");
}

}  // namespace
}  // namespace rowjit::ir
