// Helpers for the interpreter tests: build small pipelines in C++ and hold
// caller-side tensors as raw bytes with a row stride.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/interpreter.h"
#include "ir/parser.h"
#include "ir/tensor.h"

namespace rowjit::ir::testing {

// Builder wrapper for tests: a failed step throws, so GoogleTest reports the
// status message as the failure.
class TestPipeline {
 public:
  explicit TestPipeline(std::string name) : builder_(std::move(name)) {}

  ValueId input(const std::string& name, ElemType elem, Shape shape = Shape::row()) {
    return check(builder_.add_input(name, {elem, std::move(shape)}));
  }
  ValueId param(const std::string& name, ElemType elem, Shape shape = Shape::scalar(),
                std::optional<double> default_value = std::nullopt, std::optional<ParamBound> bound = std::nullopt) {
    return check(builder_.add_param(name, {elem, std::move(shape)}, default_value, bound));
  }
  ValueId literal(double value) { return builder_.constant(value); }
  ValueId op(OpKind kind, std::vector<ValueId> operands, std::map<std::string, AttrValue> attrs = {}) {
    return check(builder_.add(kind, std::move(operands), std::move(attrs)));
  }
  std::vector<ValueId> ops(OpKind kind, std::vector<ValueId> operands, std::map<std::string, AttrValue> attrs = {}) {
    return check(builder_.add_op(kind, std::move(operands), std::move(attrs)));
  }
  // Declares output `name` with the type of `value` and binds it.
  void output(const std::string& name, ValueId value) {
    check(builder_.declare_output(name, builder_.pipeline().value(value).type));
    check(builder_.name_value(value, name));
  }
  Pipeline finish() { return check(builder_.finish()); }

 private:
  template <typename T>
  static T check(Result<T> result) {
    if (!result) throw std::runtime_error(result.status().to_string());
    return std::move(result).value();
  }
  static void check(const Status& status) {
    if (!status.is_ok()) throw std::runtime_error(status.to_string());
  }

  Builder builder_;
};

// Parses pipeline text; a parse error throws with its message.
inline Pipeline parse(const char* text) {
  auto pipeline = parse_pipeline(text);
  if (!pipeline) throw std::runtime_error(pipeline.status().to_string());
  return std::move(pipeline).value();
}

// Caller memory for one tensor: `rows` rows of `stride` bytes.
struct TestTensor {
  ElemType type = ElemType::kF32;
  int64_t stride = 0;
  std::vector<uint8_t> bytes;

  TensorRef ref() { return {bytes.data(), type, stride}; }

  template <typename T>
  T at(int64_t row, int64_t index) const {
    T value;
    std::memcpy(&value, bytes.data() + row * stride + index * static_cast<int64_t>(sizeof(T)), sizeof(T));
    return value;
  }
  template <typename T>
  std::vector<T> row(int64_t row, int64_t count) const {
    std::vector<T> out;
    for (int64_t i = 0; i < count; ++i) out.push_back(at<T>(row, i));
    return out;
  }
  uint8_t byte(int64_t row, int64_t index) const { return bytes[static_cast<size_t>(row * stride + index)]; }
};

// A tensor holding `rows` of elements of C++ type T, stored as `type`, with a
// row stride of `stride` bytes (0: the packed row size). Padding bytes are 0xCD.
template <typename T>
TestTensor make_tensor(ElemType type, const std::vector<std::vector<T>>& rows, int64_t stride = 0) {
  size_t width = rows.empty() ? 0 : rows[0].size();
  TestTensor tensor;
  tensor.type = type;
  tensor.stride = stride != 0 ? stride : static_cast<int64_t>(width * sizeof(T));
  tensor.bytes.assign(static_cast<size_t>(tensor.stride) * rows.size() + 1, 0xCD);
  for (size_t r = 0; r < rows.size(); ++r) {
    if (!rows[r].empty()) std::memcpy(tensor.bytes.data() + r * tensor.stride, rows[r].data(), rows[r].size() * sizeof(T));
  }
  return tensor;
}

// An output tensor of `rows` rows with `stride` bytes each, filled with 0xCD so
// that bytes the run does not write are visible.
inline TestTensor make_output(ElemType type, int64_t rows, int64_t stride) {
  TestTensor tensor;
  tensor.type = type;
  tensor.stride = stride;
  tensor.bytes.assign(static_cast<size_t>(stride * rows) + 1, 0xCD);
  return tensor;
}

// The tensors and parameters of one interpreter run.
class TestRun {
 public:
  TestRun(int64_t rows, int64_t n) {
    args_.rows = rows;
    args_.n = n;
  }

  // Adds an input whose rows hold elements of C++ type T, stored as `type`.
  template <typename T>
  TestRun& input(const std::string& name, ElemType type, const std::vector<std::vector<T>>& rows, int64_t stride = 0) {
    tensors_[name] = make_tensor(type, rows, stride);
    return *this;
  }
  // Adds an output of `row_bytes` bytes per row, filled with 0xCD.
  TestRun& output(const std::string& name, ElemType type, int64_t row_bytes) {
    tensors_[name] = make_output(type, args_.rows, row_bytes);
    return *this;
  }
  TestRun& scalar(const std::string& name, double value) {
    args_.scalars[name] = value;
    return *this;
  }
  TestRun& first_row(int64_t first_row) {
    args_.first_row = first_row;
    return *this;
  }

  Status run(const Pipeline& pipeline) {
    for (auto& [name, tensor] : tensors_) args_.tensors[name] = tensor.ref();
    return interpret(pipeline, args_);
  }

  const TestTensor& operator[](const std::string& name) const { return tensors_.at(name); }

 private:
  RunArgs args_;
  std::map<std::string, TestTensor> tensors_;
};

// Runs a pipeline with one f32[n] input "x" and one f32 output "y" of
// `y_length` elements per row on each row of `rows`, and returns the output rows.
inline Result<std::vector<std::vector<float>>> run_rows(const Pipeline& pipeline,
                                                        const std::vector<std::vector<float>>& rows,
                                                        int64_t y_length = -1) {
  int64_t n = rows.empty() ? 0 : static_cast<int64_t>(rows[0].size());
  if (y_length < 0) y_length = n;
  TestTensor x = make_tensor(ElemType::kF32, rows);
  TestTensor y = make_output(ElemType::kF32, static_cast<int64_t>(rows.size()), 4 * y_length);
  RunArgs args;
  args.rows = static_cast<int64_t>(rows.size());
  args.n = n;
  args.tensors["x"] = x.ref();
  args.tensors["y"] = y.ref();
  Status status = interpret(pipeline, args);
  if (!status.is_ok()) return status;
  std::vector<std::vector<float>> out;
  for (int64_t r = 0; r < args.rows; ++r) out.push_back(y.row<float>(r, y_length));
  return out;
}

// Runs on one row and returns its output row.
inline Result<std::vector<float>> run_row(const Pipeline& pipeline, const std::vector<float>& row,
                                          int64_t y_length = -1) {
  auto rows = run_rows(pipeline, {row}, y_length);
  if (!rows) return rows.status();
  return rows->front();
}

// softmax(x: f32[n]) -> (y: f32[n]) as in docs/ir.md.
inline Pipeline softmax_pipeline() {
  TestPipeline p("softmax");
  ValueId x = p.input("x", ElemType::kF32);
  ValueId m = p.op(OpKind::kReduceMax, {x});
  ValueId e = p.op(OpKind::kExp, {p.op(OpKind::kSub, {x, m})});
  p.output("y", p.op(OpKind::kDiv, {e, p.op(OpKind::kReduceSum, {e})}));
  return p.finish();
}

}  // namespace rowjit::ir::testing
