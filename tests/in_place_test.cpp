// Outputs that share memory with other tensors: in-place runs, which both
// engines support as the tests below check, and partial overlaps, which both
// reject before writing anything.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ir/interpreter.h"
#include "ir/parser.h"
#include "runtime/compiler.h"
#include "tests/jit_testing.h"

namespace rowjit::testing {
namespace {

constexpr const char* kSoftmax = R"(kernel softmax(x: f32[n]) -> (y: f32[n]) {
  m = max(x)
  e = exp(x - m)
  y = e / sum(e)
})";

// d is written in the sweep of the sum; y's sweep reads x again when exp is
// recomputed (three_pass_recompute) but not when it is reloaded.
constexpr const char* kShiftAndSoftmax = R"(kernel shift_softmax(x: f32[n]) -> (d: f32[n], y: f32[n]) {
  m = max(x)
  d = x - m
  e = exp(d)
  y = e / sum(e)
})";

constexpr const char* kAddBias = R"(kernel add_bias(x: f32[n], param bias: f32[n]) -> (y: f32[n]) {
  y = x + bias
})";

ir::Pipeline parse(const char* text) {
  auto pipeline = ir::parse_pipeline(text);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  return pipeline.is_ok() ? *pipeline : ir::Pipeline{};
}

std::vector<float> ramp(size_t count) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = static_cast<float>(i % 7) * 0.5f - 1.0f;
  return values;
}

ir::RunArgs args_of(int64_t rows, int64_t n) {
  ir::RunArgs args;
  args.rows = rows;
  args.n = n;
  return args;
}

void add(ir::RunArgs& args, const std::string& name, float* data, int64_t stride_floats) {
  args.tensors[name] = {data, ir::ElemType::kF32, stride_floats * 4};
}

bool mentions(const Status& status, const std::string& text) {
  return status.message().find(text) != std::string::npos;
}

// The interpreter and the JIT kernel of every runnable ISA, as one list.
std::vector<std::shared_ptr<const Kernel>> kernels_for(const ir::Pipeline& pipeline,
                                                       std::optional<ir::SoftmaxForm> form = std::nullopt) {
  std::vector<std::shared_ptr<const Kernel>> kernels;
  std::vector<Isa> isas = runnable_isas();
  isas.push_back(Isa::kNone);
  for (Isa isa : isas) {
    CompileOptions options;
    options.isa = isa;
    if (isa != Isa::kNone) options.choices.softmax_form = form;
    auto kernel = compile(pipeline, options);
    EXPECT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    if (kernel.is_ok()) kernels.push_back(*kernel);
  }
  return kernels;
}

std::string engine(const Kernel& kernel) { return kernel.uses_jit() ? isa_name(kernel.isa()) : "interpreter"; }

TEST(InPlace, SoftmaxMatchesSeparateBuffers) {
  ir::Pipeline pipeline = parse(kSoftmax);
  const int64_t rows = 3;
  const int64_t n = 37;
  for (const auto& kernel : kernels_for(pipeline)) {
    std::vector<float> x = ramp(static_cast<size_t>(rows * n));
    std::vector<float> y(x.size());
    std::vector<float> shared = x;
    ir::RunArgs separate = args_of(rows, n);
    add(separate, "x", x.data(), n);
    add(separate, "y", y.data(), n);
    ASSERT_TRUE(kernel->run(separate).is_ok()) << engine(*kernel);
    ir::RunArgs in_place = args_of(rows, n);
    add(in_place, "x", shared.data(), n);
    add(in_place, "y", shared.data(), n);
    Status status = kernel->run(in_place);
    ASSERT_TRUE(status.is_ok()) << engine(*kernel) << ": " << status.to_string();
    for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(shared[i], y[i]) << engine(*kernel) << ", element " << i;
  }
}

TEST(InPlace, OffsetWithinRowRejected) {
  ir::Pipeline pipeline = parse(kSoftmax);
  const int64_t n = 16;
  for (const auto& kernel : kernels_for(pipeline)) {
    std::vector<float> buffer = ramp(static_cast<size_t>(2 * n + 1));
    const std::vector<float> before = buffer;
    ir::RunArgs args = args_of(2, n);
    add(args, "x", buffer.data(), n);
    add(args, "y", buffer.data() + 1, n);
    Status status = kernel->run(args);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << engine(*kernel);
    EXPECT_TRUE(mentions(status, "output 'y' overlaps input 'x' in memory")) << status.to_string();
    EXPECT_EQ(buffer, before) << engine(*kernel) << " wrote before rejecting";
  }
}

TEST(InPlace, RowShiftRejected) {
  ir::Pipeline pipeline = parse(kSoftmax);
  const int64_t n = 16;
  for (const auto& kernel : kernels_for(pipeline)) {
    std::vector<float> buffer = ramp(static_cast<size_t>(4 * n));
    ir::RunArgs args = args_of(3, n);
    add(args, "x", buffer.data() + n, n);  // y's row r + 1 is x's row r
    add(args, "y", buffer.data(), n);
    Status status = kernel->run(args);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << engine(*kernel);
    EXPECT_TRUE(mentions(status, "output 'y' overlaps input 'x'")) << status.to_string();
  }
}

// x and y rows alternate in one buffer: the ranges cross but no byte is shared.
TEST(InPlace, InterleavedRowsAccepted) {
  ir::Pipeline pipeline = parse(kSoftmax);
  const int64_t rows = 3;
  const int64_t n = 20;
  for (const auto& kernel : kernels_for(pipeline)) {
    std::vector<float> buffer = ramp(static_cast<size_t>(2 * rows * n));
    ir::RunArgs args = args_of(rows, n);
    add(args, "x", buffer.data(), 2 * n);
    add(args, "y", buffer.data() + n, 2 * n);
    Status status = kernel->run(args);
    ASSERT_TRUE(status.is_ok()) << engine(*kernel) << ": " << status.to_string();
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += buffer[static_cast<size_t>((2 * r + 1) * n + i)];
      EXPECT_NEAR(sum, 1.0, 1e-5) << engine(*kernel) << ", row " << r;
    }
  }
}

TEST(InPlace, TwoOutputsInOneBufferRejected) {
  ir::Pipeline pipeline = parse(kShiftAndSoftmax);
  const int64_t n = 16;
  for (const auto& kernel : kernels_for(pipeline)) {
    std::vector<float> x = ramp(static_cast<size_t>(n));
    std::vector<float> out(static_cast<size_t>(n));
    ir::RunArgs args = args_of(1, n);
    add(args, "x", x.data(), n);
    add(args, "d", out.data(), n);
    add(args, "y", out.data(), n);
    Status status = kernel->run(args);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << engine(*kernel);
    EXPECT_TRUE(mentions(status, "output 'd' overlaps output 'y'")) << status.to_string();
  }
}

TEST(InPlace, VectorParameterOverlapRejected) {
  ir::Pipeline pipeline = parse(kAddBias);
  const int64_t n = 8;
  for (const auto& kernel : kernels_for(pipeline)) {
    std::vector<float> x = ramp(static_cast<size_t>(2 * n));
    std::vector<float> bias = ramp(static_cast<size_t>(n));
    ir::RunArgs args = args_of(2, n);
    add(args, "x", x.data(), n);
    add(args, "bias", bias.data(), 0);
    add(args, "y", bias.data(), n);
    Status status = kernel->run(args);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << engine(*kernel);
    EXPECT_TRUE(mentions(status, "output 'y' overlaps vector parameter 'bias'")) << status.to_string();
  }
}

// With exp recomputed, the last sweep reads x after the sweep before it
// wrote d, so d cannot replace x in a JIT kernel. The interpreter runs it.
TEST(InPlace, JitRejectsReadAfterWrite) {
  ir::Pipeline pipeline = parse(kShiftAndSoftmax);
  const int64_t n = 40;
  std::vector<float> x = ramp(static_cast<size_t>(n));
  double m = -INFINITY;
  for (float v : x) m = std::max(m, static_cast<double>(v));
  double sum = 0;
  for (float v : x) sum += std::exp(static_cast<double>(v) - m);

  for (const auto& kernel : kernels_for(pipeline, ir::SoftmaxForm::kThreePassRecompute)) {
    std::vector<float> shared = x;
    std::vector<float> y(static_cast<size_t>(n));
    ir::RunArgs args = args_of(1, n);
    add(args, "x", shared.data(), n);
    add(args, "d", shared.data(), n);
    add(args, "y", y.data(), n);
    Status status = kernel->run(args);
    if (kernel->uses_jit()) {
      EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << engine(*kernel);
      EXPECT_TRUE(mentions(status, "output 'd' shares the memory of input 'x', but this kernel reads 'x' in sweep 2"))
          << status.to_string();
      EXPECT_EQ(shared, x) << engine(*kernel) << " wrote before rejecting";
      continue;
    }
    ASSERT_TRUE(status.is_ok()) << status.to_string();
    for (int64_t i = 0; i < n; ++i) {
      double shifted = static_cast<double>(x[static_cast<size_t>(i)]) - m;
      EXPECT_EQ(shared[static_cast<size_t>(i)], static_cast<float>(shifted)) << "d at " << i;
      EXPECT_NEAR(y[static_cast<size_t>(i)], std::exp(shifted) / sum, 1e-6) << "y at " << i;
    }
  }
}

// With exp reloaded from y's buffer, no sweep reads x after d is written.
TEST(InPlace, JitRunsReloadFormInPlace) {
  ir::Pipeline pipeline = parse(kShiftAndSoftmax);
  const int64_t n = 40;
  for (const auto& kernel : kernels_for(pipeline, ir::SoftmaxForm::kThreePassReload)) {
    std::vector<float> x = ramp(static_cast<size_t>(n));
    std::vector<float> d(x.size());
    std::vector<float> y(x.size());
    ir::RunArgs separate = args_of(1, n);
    add(separate, "x", x.data(), n);
    add(separate, "d", d.data(), n);
    add(separate, "y", y.data(), n);
    ASSERT_TRUE(kernel->run(separate).is_ok());

    std::vector<float> shared = x;
    std::vector<float> y_in_place(x.size());
    ir::RunArgs in_place = args_of(1, n);
    add(in_place, "x", shared.data(), n);
    add(in_place, "d", shared.data(), n);
    add(in_place, "y", y_in_place.data(), n);
    Status status = kernel->run(in_place);
    ASSERT_TRUE(status.is_ok()) << engine(*kernel) << ": " << status.to_string();
    EXPECT_EQ(shared, d) << engine(*kernel);
    EXPECT_EQ(y_in_place, y) << engine(*kernel);
  }
}

TEST(InPlace, InterpreterRejectsPartialOverlap) {
  ir::Pipeline pipeline = parse(kSoftmax);
  std::vector<float> buffer = ramp(9);
  ir::RunArgs args = args_of(1, 8);
  add(args, "x", buffer.data() + 1, 8);
  add(args, "y", buffer.data(), 8);
  Status status = ir::interpret(pipeline, args);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(mentions(status, "output 'y' overlaps input 'x'")) << status.to_string();
}

}  // namespace
}  // namespace rowjit::testing
