// Kernel::run's argument check (ir/run_signature.h): each rejected argument
// fails with the message of validate_run_args, whole and split, on the
// interpreter and on JIT code, and the signature accepts exactly what
// validate_run_args accepts.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <tuple>

#include "ir/run_signature.h"
#include "runtime/compiler.h"
#include "tests/interpreter_testing.h"
#include "tests/run_args_cases.h"
#include "tests/runtime_testing.h"

namespace rowjit {
namespace {

using ir::ElemType;
using ir::testing::EntriesArgs;
using testing::inline_tasks;
using ir::testing::kEntriesText;
using ir::testing::make_output;
using ir::testing::make_tensor;
using ir::testing::TestTensor;

std::shared_ptr<const Kernel> compile_or_fail(const char* text) {
  auto kernel = compile_text(text);
  if (!kernel) throw std::runtime_error(kernel.status().to_string());
  return *kernel;
}

// The entries of kEntriesText without topk, which the JIT lowers.
constexpr const char* kScaledText = R"(kernel scaled(x: f32[n], param tau: f32 > 0, param eps: f32 >= 0 = 0,
                                        param bias: f32[n]) -> (y: f32[n]) {
  y = x / tau + bias + eps
})";

// Kernel::run on kEntriesText, whose topk keeps it on the interpreter.
class KernelEntriesTest : public ::testing::Test {
 protected:
  void SetUp() override { kernel_ = compile_or_fail(kEntriesText); }

  // The message of the rejected run, or "" if the run succeeded. `split`
  // splits the run into tasks.
  std::string rejection(bool split) {
    Status status = split ? kernel_->run(entries_.args, inline_tasks()) : kernel_->run(entries_.args);
    if (status.is_ok()) return "";
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
    return status.message();
  }

  std::shared_ptr<const Kernel> kernel_;
  EntriesArgs entries_;
};

// The test parameter is true when the run is split into tasks.
class KernelArgs : public KernelEntriesTest, public ::testing::WithParamInterface<bool> {};

INSTANTIATE_TEST_SUITE_P(WholeAndSplit, KernelArgs, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Split" : "Whole"; });

TEST_P(KernelArgs, ValidRunUsesDefaults) {
  EXPECT_EQ(rejection(GetParam()), "");
  EXPECT_EQ(entries_.y.at<float>(1, 3), 4.0f);
  EXPECT_EQ(entries_.i.row<int32_t>(1, 2), (std::vector<int32_t>{3, 2}));
}

TEST_P(KernelArgs, StrideUnusedForOneRow) {
  entries_.args.rows = 1;
  entries_.args.tensors["x"].row_stride_bytes = 0;
  EXPECT_EQ(rejection(GetParam()), "");
  EXPECT_EQ(entries_.y.at<float>(0, 1), 1.0f);
}

TEST_P(KernelArgs, RejectedRunWritesNothing) {
  std::vector<uint8_t> before = entries_.y.bytes;
  entries_.args.scalars["tau"] = 0;
  EXPECT_NE(rejection(GetParam()), "");
  EXPECT_EQ(entries_.y.bytes, before);
}

// Each case of run_args_cases(), which interpreter_args_test.cpp runs through
// interpret(), run whole and split into tasks.
class KernelArgCases : public KernelEntriesTest,
                       public ::testing::WithParamInterface<std::tuple<ir::testing::RunArgsCase, bool>> {};

INSTANTIATE_TEST_SUITE_P(RunArgs, KernelArgCases,
                         ::testing::Combine(::testing::ValuesIn(ir::testing::run_args_cases()), ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + (std::get<1>(info.param) ? "_Split" : "_Whole");
                         });

TEST_P(KernelArgCases, Message) {
  const auto& [run_args_case, split] = GetParam();
  for (size_t step = 0; step < run_args_case.steps.size(); ++step) {
    run_args_case.steps[step].change(entries_);
    EXPECT_EQ(rejection(split), run_args_case.steps[step].message) << "step " << step;
  }
}

// The same checks on a kernel that runs JIT code where the host allows it:
// the tensors reach KernelArgs by their sorted position, not by name.
class KernelJitArgs : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    kernel_ = compile_or_fail(kScaledText);
    x_ = make_tensor<float>(ElemType::kF32, {{1, 2, 3, 4}, {5, 6, 7, 8}, {-2, -4, 6, 8}});
    bias_ = make_tensor<float>(ElemType::kF32, {{0.5f, 0, -1, 2}});
    y_ = make_output(ElemType::kF32, 3, 16);
    args_.rows = 3;
    args_.n = 4;
    args_.tensors = {{"x", x_.ref()}, {"bias", bias_.ref()}, {"y", y_.ref()}};
    args_.scalars = {{"tau", 2.0}};
  }

  Status run() { return GetParam() ? kernel_->run(args_, inline_tasks()) : kernel_->run(args_); }

  std::shared_ptr<const Kernel> kernel_;
  TestTensor x_, bias_, y_;
  ir::RunArgs args_;
};

INSTANTIATE_TEST_SUITE_P(WholeAndSplit, KernelJitArgs, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Split" : "Whole"; });

TEST_P(KernelJitArgs, UsesJitWhenHostCan) { EXPECT_EQ(kernel_->uses_jit(), testing::host_has_jit()); }

// y = x / tau + bias + eps, by hand: every value is exact in f32.
TEST_P(KernelJitArgs, DefaultAndGivenParameters) {
  ASSERT_TRUE(run().is_ok());
  EXPECT_EQ(y_.row<float>(0, 4), (std::vector<float>{1.0f, 1.0f, 0.5f, 4.0f}));
  EXPECT_EQ(y_.row<float>(1, 4), (std::vector<float>{3.0f, 3.0f, 2.5f, 6.0f}));
  EXPECT_EQ(y_.row<float>(2, 4), (std::vector<float>{-0.5f, -2.0f, 2.0f, 6.0f}));

  args_.scalars["eps"] = 0.25;
  args_.scalars["tau"] = 4.0;
  ASSERT_TRUE(run().is_ok());
  EXPECT_EQ(y_.row<float>(0, 4), (std::vector<float>{1.0f, 0.75f, 0.0f, 3.25f}));
  EXPECT_EQ(y_.row<float>(2, 4), (std::vector<float>{0.25f, -0.75f, 0.75f, 4.25f}));
}

TEST_P(KernelJitArgs, PaddedStrides) {
  x_ = make_tensor<float>(ElemType::kF32, {{1, 2, 3, 4}, {5, 6, 7, 8}, {-2, -4, 6, 8}}, 32);
  y_ = make_output(ElemType::kF32, 3, 24);
  args_.tensors["x"] = x_.ref();
  args_.tensors["y"] = y_.ref();
  ASSERT_TRUE(run().is_ok());
  EXPECT_EQ(y_.row<float>(2, 4), (std::vector<float>{-0.5f, -2.0f, 2.0f, 6.0f}));
  // The padding after each output row is left as it was.
  EXPECT_EQ(y_.byte(0, 16), 0xCD);
  EXPECT_EQ(y_.byte(1, 20), 0xCD);
}

TEST_P(KernelJitArgs, MissingAndUnknownNames) {
  ir::RunArgs valid = args_;
  args_.tensors.erase("bias");
  EXPECT_EQ(run().message(), "missing tensor 'bias'; it is required by param bias: f32[n]");
  args_ = valid;
  args_.tensors["z"] = x_.ref();
  EXPECT_EQ(run().message(), "unknown tensor 'z'; pipeline 'scaled' has the tensors x, bias, y");
  args_ = valid;
  args_.scalars["k"] = 2;
  EXPECT_EQ(run().message(), "unknown parameter 'k'; pipeline 'scaled' has the scalar parameters tau, eps");
  args_ = valid;
  args_.scalars.erase("tau");
  EXPECT_EQ(run().message(), "missing parameter 'tau'; it is required because param tau: f32 has no default");
}

TEST_P(KernelJitArgs, TypesDataAndStrides) {
  ir::RunArgs valid = args_;
  args_.tensors["bias"].type = ElemType::kF16;
  EXPECT_EQ(run().message(), "tensor 'bias' has element type f16, expected f32");
  args_ = valid;
  args_.tensors["x"].data = nullptr;
  EXPECT_EQ(run().message(), "tensor 'x' has null data but 3 rows are requested");
  args_ = valid;
  args_.tensors["y"].row_stride_bytes = 8;
  EXPECT_EQ(run().message(),
            "tensor 'y' has row stride 8 bytes, smaller than one row of 16 bytes (4 x f32); pass a stride of at "
            "least 16");
}

TEST_P(KernelJitArgs, ParameterValues) {
  std::vector<uint8_t> before = y_.bytes;
  args_.scalars["eps"] = -1;
  EXPECT_EQ(run().message(), "parameter 'eps' = -1 must be >= 0");
  args_.scalars["eps"] = 0;
  args_.scalars["tau"] = 1e-46;
  EXPECT_EQ(run().message(), "parameter 'tau' = 1e-46 (0 in f32) must be > 0");
  args_.scalars["tau"] = -std::numeric_limits<double>::infinity();
  EXPECT_EQ(run().message(), "parameter 'tau' = -inf must be finite");
  EXPECT_EQ(y_.bytes, before);
}

// Parameters whose sorted order (a, c) is not their signature order (c, a),
// and an input that the computation never reads.
TEST(KernelSlots, SortedOrderDiffersFromSignature) {
  auto kernel = compile_or_fail(R"(kernel k(x: f32[n], z: f32[n], param c: f32 = 2, param a: f32 = 1) -> (y: f32[n]) {
    y = x * c + a
  })");
  EXPECT_EQ(kernel->uses_jit(), testing::host_has_jit());
  auto x = make_tensor<float>(ElemType::kF32, {{1, -2}, {3, 0.5f}});
  auto z = make_tensor<float>(ElemType::kF32, {{100, 100}, {100, 100}});
  auto y = make_output(ElemType::kF32, 2, 8);
  ir::RunArgs args;
  args.rows = 2;
  args.n = 2;
  args.tensors = {{"x", x.ref()}, {"z", z.ref()}, {"y", y.ref()}};

  ASSERT_TRUE(kernel->run(args).is_ok());
  EXPECT_EQ(y.row<float>(1, 2), (std::vector<float>{7.0f, 2.0f}));
  args.scalars = {{"c", 3.0}};
  ASSERT_TRUE(kernel->run(args).is_ok());
  EXPECT_EQ(y.row<float>(1, 2), (std::vector<float>{10.0f, 2.5f}));
  args.scalars = {{"a", -1.0}};
  ASSERT_TRUE(kernel->run(args).is_ok());
  EXPECT_EQ(y.row<float>(0, 2), (std::vector<float>{1.0f, -5.0f}));
  args.scalars = {{"a", 0.0}, {"c", -1.0}};
  ASSERT_TRUE(kernel->run(args, inline_tasks()).is_ok());
  EXPECT_EQ(y.row<float>(0, 2), (std::vector<float>{-1.0f, 2.0f}));
  EXPECT_EQ(y.row<float>(1, 2), (std::vector<float>{-3.0f, -0.5f}));
}

TEST(RunSignature, EntriesSortedByName) {
  ir::Pipeline pipeline = ir::testing::parse(kEntriesText);
  ir::RunSignature signature(pipeline);
  std::vector<std::string> tensors;
  for (const auto& tensor : signature.tensors()) tensors.push_back(tensor.name);
  EXPECT_EQ(tensors, (std::vector<std::string>{"bias", "i", "v", "x", "y"}));
  std::vector<std::string> params;
  for (const auto& param : signature.scalar_params()) params.push_back(param.name);
  EXPECT_EQ(params, (std::vector<std::string>{"eps", "k", "tau"}));
  EXPECT_FALSE(signature.checks_by_reference());
}

TEST(RunSignature, DefaultsAndLengths) {
  ir::Pipeline pipeline = ir::testing::parse(kEntriesText);
  ir::RunSignature signature(pipeline);
  const auto& params = signature.scalar_params();
  ASSERT_EQ(params.size(), 3u);
  EXPECT_TRUE(params[0].default_valid);   // eps = 0, eps >= 0
  EXPECT_FALSE(params[0].is_length);
  EXPECT_TRUE(params[1].default_valid);   // k = 2
  EXPECT_TRUE(params[1].is_length);
  EXPECT_FALSE(params[2].default_valid);  // tau has no default
  EXPECT_FALSE(signature.tensors()[0].per_row);  // bias is a vector parameter
  EXPECT_TRUE(signature.tensors()[3].per_row);
}

// A pipeline the verifier would reject, with an input declared twice: every
// check goes to validate_run_args.
TEST(RunSignature, DuplicateNameChecksByReference) {
  ir::Pipeline pipeline = ir::testing::parse(kScaledText);
  pipeline.inputs.push_back(pipeline.inputs[0]);
  ir::RunSignature signature(pipeline);
  EXPECT_TRUE(signature.checks_by_reference());

  std::vector<float> row(4, 1.0f);
  ir::RunArgs args;
  args.n = 4;
  args.tensors = {{"x", {row.data(), ElemType::kF32, 16}},
                  {"bias", {row.data(), ElemType::kF32, 16}},
                  {"y", {row.data(), ElemType::kF32, 16}}};
  args.scalars = {{"tau", 1.0}};
  EXPECT_FALSE(signature.accepts(pipeline, args));
  EXPECT_TRUE(signature.check(pipeline, args).is_ok());
}

// A change to valid arguments of kEntriesText.
using Mutation = std::function<void(ir::RunArgs&)>;

std::vector<Mutation> mutations(TestTensor& x) {
  auto set_scalar = [](const std::string& name, double value) {
    return [=](ir::RunArgs& args) { args.scalars[name] = value; };
  };
  auto set_stride = [](const std::string& name, int64_t stride) {
    return [=](ir::RunArgs& args) {
      if (args.tensors.count(name)) args.tensors[name].row_stride_bytes = stride;
    };
  };
  double inf = std::numeric_limits<double>::infinity();
  std::vector<Mutation> list = {
      [](ir::RunArgs& args) { args.tensors.erase("x"); },
      [](ir::RunArgs& args) { args.tensors.erase("i"); },
      [](ir::RunArgs& args) { args.tensors.erase("bias"); },
      [](ir::RunArgs& args) { args.scalars.erase("tau"); },
      [](ir::RunArgs& args) { args.scalars.erase("eps"); },
      [&x](ir::RunArgs& args) { args.tensors["a"] = x.ref(); },
      [&x](ir::RunArgs& args) { args.tensors["zz"] = x.ref(); },
      [&x](ir::RunArgs& args) { args.tensors["tau"] = x.ref(); },
      [&x](ir::RunArgs& args) { args.tensors["k"] = x.ref(); },
      set_scalar("bias", 1),
      set_scalar("x", 1),
      set_scalar("a", 1),
      set_scalar("zz", 1),
      set_scalar("tau", 0),
      set_scalar("tau", -1),
      set_scalar("tau", 1e-50),
      set_scalar("tau", 1e39),
      set_scalar("tau", 3.4e38),
      set_scalar("tau", 1e-40),
      set_scalar("tau", inf),
      set_scalar("tau", std::nan("")),
      set_scalar("eps", -1e-50),
      set_scalar("eps", 0),
      set_scalar("eps", -0.0),
      set_scalar("k", 0),
      set_scalar("k", 1),
      set_scalar("k", 3),
      set_scalar("k", 4),
      set_scalar("k", 5),  // above n = 4: topk's check of its length
      set_scalar("k", 2.5),
      set_scalar("k", -3),
      set_scalar("k", 3e9),
      set_scalar("k", 2147483647),
      set_scalar("k", inf),
      set_stride("x", 0),
      set_stride("x", 15),
      set_stride("x", 64),
      set_stride("y", -4),
      set_stride("v", 4),
      set_stride("v", 12),
      set_stride("bias", 0),
      set_stride("x", std::numeric_limits<int64_t>::max()),
      [](ir::RunArgs& args) { args.tensors["x"].type = ElemType::kF16; },
      [](ir::RunArgs& args) { args.tensors["i"].type = ElemType::kF32; },
      [](ir::RunArgs& args) { args.tensors["bias"].type = ElemType::kS32; },
      [](ir::RunArgs& args) { args.tensors["y"].data = nullptr; },
      [](ir::RunArgs& args) { args.tensors["bias"].data = nullptr; },
      [](ir::RunArgs& args) { args.rows = 0; },
      [](ir::RunArgs& args) { args.rows = 1; },
      [](ir::RunArgs& args) { args.rows = -1; },
      [](ir::RunArgs& args) { args.rows = std::numeric_limits<int64_t>::max(); },
      [](ir::RunArgs& args) { args.rows = int64_t{1} << 60; },
      [](ir::RunArgs& args) { args.n = 0; },
      [](ir::RunArgs& args) { args.n = 5; },
      [](ir::RunArgs& args) { args.n = -1; },
      [](ir::RunArgs& args) { args.first_row = -1; },
      [](ir::RunArgs& args) { args.first_row = 7; },
  };
  return list;
}

// Compares accepts() with validate_run_args on every single change and on
// random pairs and triples of changes, and check() must return the same message.
TEST(RunSignature, AgreesWithValidateRunArgs) {
  ir::Pipeline pipeline = ir::testing::parse(kEntriesText);
  ir::RunSignature signature(pipeline);
  EntriesArgs entries;
  const ir::RunArgs& valid = entries.args;
  ASSERT_TRUE(signature.accepts(pipeline, valid));

  std::vector<Mutation> list = mutations(entries.x);
  auto expect_agreement = [&](const ir::RunArgs& args, const std::string& label) {
    Status reference = ir::validate_run_args(pipeline, args);
    EXPECT_EQ(signature.accepts(pipeline, args), reference.is_ok()) << label << ": " << reference.to_string();
    Status checked = signature.check(pipeline, args);
    EXPECT_EQ(checked.code(), reference.code()) << label;
    EXPECT_EQ(checked.message(), reference.message()) << label;
  };

  int accepted = 0;
  for (size_t m = 0; m < list.size(); ++m) {
    ir::RunArgs args = valid;
    list[m](args);
    expect_agreement(args, "mutation " + std::to_string(m));
    accepted += signature.accepts(pipeline, args);
  }
  // Both outcomes occur, so the comparison cannot pass by rejecting everything.
  EXPECT_GT(accepted, 5);
  EXPECT_LT(accepted, static_cast<int>(list.size()) - 20);

  std::mt19937 engine(20240611);
  std::uniform_int_distribution<size_t> pick(0, list.size() - 1);
  for (int trial = 0; trial < 2000; ++trial) {
    ir::RunArgs args = valid;
    std::string label = "mutations";
    int count = 2 + trial % 2;
    for (int c = 0; c < count; ++c) {
      size_t m = pick(engine);
      list[m](args);
      label += ' ';
      label += std::to_string(m);
    }
    expect_agreement(args, label);
  }
}

}  // namespace
}  // namespace rowjit
