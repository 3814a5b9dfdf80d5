// Sizes from user input that could overflow int64 on their way to an
// allocation or a pointer: huge block sizes, literal lengths, first_row plus
// rows, the rows per task of a parallel run, and .npy shapes. Each must be an
// invalid-argument error naming the value and the limit, never a wrapped size.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ir/parser.h"
#include "ir/run_signature.h"
#include "ir/tensor.h"
#include "runtime/npy.h"
#include "runtime/row_parallel.h"

namespace rowjit::testing {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

ir::Pipeline parse_or_fail(const std::string& text) {
  auto pipeline = ir::parse_pipeline(text);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  return pipeline.is_ok() ? *pipeline : ir::Pipeline{};
}

TEST(SizeLimits, HugeBlockSizeRoundsUp) {
  ir::Pipeline pipeline = parse_or_fail("kernel copy(x: f32[n]) -> (y: f32[n]) {\n  y = x + 0\n}\n");
  ir::RunArgs args;
  args.n = 10;
  auto length = ir::shape_length(pipeline, ir::Shape::blocks(kInt64Max), args);
  ASSERT_TRUE(length.is_ok()) << length.status().to_string();
  // ceil(10 / (2^63 - 1)) = 1, and ceil(0 / B) = 0.
  EXPECT_EQ(*length, 1);
  args.n = 0;
  auto empty = ir::shape_length(pipeline, ir::Shape::blocks(kInt64Max), args);
  ASSERT_TRUE(empty.is_ok()) << empty.status().to_string();
  EXPECT_EQ(*empty, 0);
}

// Literal sizes above the largest row length are rejected when the pipeline
// is parsed, with the value and the limit, instead of when a run starts.
TEST(SizeLimits, HugeLiteralsRejectedWhenParsed) {
  const std::pair<const char*, const char*> cases[] = {
      {"kernel blocks(x: f32[n]) -> (s: f32[n/9223372036854775807]) {\n"
       "  s = block_max(x, block=9223372036854775807)\n}\n",
       "9223372036854775807"},
      {"kernel top(x: f32[n]) -> (v: f32[4611686018427387904], i: s32[4611686018427387904]) {\n"
       "  v, i = topk(x, k=4611686018427387904)\n}\n",
       "4611686018427387904"},
      {"kernel wide(x: f32[n], w: f32[1099511627777]) -> (y: f32[n]) {\n  y = x + 0\n}\n", "1099511627777"},
      {"kernel scaled(x: f32[n], s: f32[n/1099511627777]) -> (y: f32[n]) {\n  y = x + 0\n}\n",
       "1099511627777"},
  };
  for (const auto& [text, value] : cases) {
    auto pipeline = ir::parse_pipeline(text);
    ASSERT_FALSE(pipeline.is_ok()) << text;
    EXPECT_EQ(pipeline.status().code(), StatusCode::kInvalidPipeline) << pipeline.status().to_string();
    EXPECT_NE(pipeline.status().message().find(value), std::string::npos) << pipeline.status().message();
    EXPECT_NE(pipeline.status().message().find("above the largest row length (2^40 elements)"), std::string::npos)
        << pipeline.status().message();
  }
  // 2^40 itself is allowed.
  auto largest = ir::parse_pipeline(
      "kernel top(x: f32[n]) -> (v: f32[1099511627776], i: s32[1099511627776]) {\n"
      "  v, i = topk(x, k=1099511627776)\n}\n");
  EXPECT_TRUE(largest.is_ok()) << largest.status().to_string();
}

TEST(SizeLimits, RowLengthOutOfRange) {
  ir::Pipeline pipeline = parse_or_fail("kernel copy(x: f32[n]) -> (y: f32[n]) {\n  y = x + 0\n}\n");
  ir::RunArgs args;
  args.n = ir::kMaxRowLength + 1;
  auto row = ir::shape_length(pipeline, ir::Shape::row(), args);
  ASSERT_FALSE(row.is_ok());
  EXPECT_EQ(row.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(row.status().message().find("1099511627777"), std::string::npos) << row.status().message();
  auto blocks = ir::shape_length(pipeline, ir::Shape::blocks(32), args);
  ASSERT_FALSE(blocks.is_ok());
  EXPECT_EQ(blocks.status().code(), StatusCode::kInvalidArgument);
}

// topk with a literal k of 2^40, the largest a parsed pipeline may declare.
const char* kHugeTopk =
    "kernel top(x: f32[n]) -> (v: f32[1099511627776], i: s32[1099511627776]) {\n"
    "  v, i = topk(x, k=1099511627776)\n}\n";

// Binds every tensor of `pipeline` to `buffer` with a 16-byte stride.
ir::RunArgs bind_all(const ir::Pipeline& pipeline, std::vector<float>& buffer, int64_t rows) {
  ir::RunArgs args;
  args.rows = rows;
  args.n = 4;
  for (ir::ValueId id : pipeline.inputs) {
    args.tensors[pipeline.value(id).name] = {buffer.data(), pipeline.value(id).type.elem, 16};
  }
  for (ir::ValueId id : pipeline.outputs) {
    args.tensors[pipeline.value(id).name] = {buffer.data(), pipeline.value(id).type.elem, 16};
  }
  return args;
}

// The run-time check behind the parser's: a pipeline whose outputs were given
// 2^62 elements after parsing (2^64 bytes of f32 per row, which wraps to 0 in
// int64 arithmetic) is rejected when a run starts.
TEST(SizeLimits, LiteralLengthRejected) {
  ir::Pipeline pipeline = parse_or_fail(kHugeTopk);
  for (ir::ValueId id : pipeline.outputs) pipeline.values[static_cast<size_t>(id)].type.shape.length = int64_t{1} << 62;
  std::vector<float> buffer(64);
  for (int64_t rows : {int64_t{1}, int64_t{2}}) {
    ir::RunArgs args = bind_all(pipeline, buffer, rows);
    Status status = ir::validate_run_args(pipeline, args);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << "rows = " << rows << ": " << status.to_string();
    EXPECT_NE(status.message().find("4611686018427387904"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("1099511627776"), std::string::npos) << status.message();

    ir::RunSignature signature(pipeline);
    EXPECT_FALSE(signature.accepts(pipeline, args)) << "rows = " << rows;
    EXPECT_EQ(signature.check(pipeline, args).code(), StatusCode::kInvalidArgument) << "rows = " << rows;
  }
}

TEST(SizeLimits, FirstRowPlusRowsOverflows) {
  ir::Pipeline pipeline = parse_or_fail("kernel copy(x: f32[n]) -> (y: f32[n]) {\n  y = x + 0\n}\n");
  std::vector<float> buffer(64);
  ir::RunArgs args = bind_all(pipeline, buffer, 2);
  args.first_row = kInt64Max - 1;
  Status status = ir::validate_run_args(pipeline, args);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
  EXPECT_NE(status.message().find(std::to_string(kInt64Max - 1)), std::string::npos) << status.message();
  ir::RunSignature signature(pipeline);
  EXPECT_FALSE(signature.accepts(pipeline, args));

  // The last representable end, first_row + rows = 2^63 - 1, is accepted.
  args.first_row = kInt64Max - 2;
  EXPECT_TRUE(ir::validate_run_args(pipeline, args).is_ok());
  EXPECT_TRUE(signature.accepts(pipeline, args));
}

TEST(SizeLimits, HugeMinRowsPerTask) {
  ParallelFor parallel;
  parallel.function = [](void*, std::size_t, ParallelTask, void*) {};
  parallel.max_tasks = 8;
  parallel.min_rows_per_task = kInt64Max;
  // ceil(100 / (2^63 - 1)) = 1 task.
  EXPECT_EQ(row_task_count(100, parallel), 1u);
  EXPECT_EQ(row_task_count(kInt64Max, parallel), 1u);
}

TEST(SizeLimits, NpyShapeBytesOverflow) {
  // 2^31 x 2^31 f32 elements are 2^64 bytes, which wraps to 0.
  NpyArray array = make_npy_array(NpyDtype::kF32, {int64_t{1} << 31, int64_t{1} << 31});
  EXPECT_TRUE(array.data.empty());
  Result<std::string> encoded = encode_npy(array);
  ASSERT_FALSE(encoded.is_ok());
  EXPECT_EQ(encoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(encoded.status().message().find("(2147483648, 2147483648)"), std::string::npos)
      << encoded.status().message();
}

}  // namespace
}  // namespace rowjit::testing
