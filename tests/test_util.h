// Helpers for the example and case tests: reading the example pipelines,
// running a pipeline through the reference interpreter on std::vector data,
// and comparing floats by ulp distance.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ir/interpreter.h"
#include "ir/parser.h"
#include "ir/pipeline.h"
#include "ir/tensor.h"
#include "ir/types.h"
#include "tests/reference_formulas.h"

namespace rowjit::testing {

// Path of examples/<name>.rj in the source tree.
inline std::string example_path(const std::string& name) {
  return std::string(ROWJIT_SOURCE_DIR) + "/examples/" + name + ".rj";
}

// Returns the whole file, or "" if it cannot be read (the parse then fails and
// the test reports it).
inline std::string read_text_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

inline Result<ir::Pipeline> parse_example(const std::string& name) {
  return ir::parse_pipeline(read_text_file(example_path(name)));
}

// A softmax with a second output that reads the sum only through a
// comparison: a NaN in the sum does not reach z, so the max must track NaN.
inline constexpr const char* kSelectOnSumPipeline = R"(kernel k(x: f32[n]) -> (y: f32[n], z: f32[n]) {
  m = max(x)
  d = x - m
  e = exp(d)
  s = sum(e)
  y = e / s
  z = select(s > 1e30, 0, d)
})";

// Byte that fills every output buffer before a run, so that a test can check
// that a rejected run wrote nothing.
inline constexpr uint8_t kSentinelByte = 0xA5;

// Bytes one row of `count` elements of `type` takes; a block format is sized
// by its blocks, counting a partial last block as whole.
inline int64_t row_storage_bytes(ir::ElemType type, int64_t count) {
  switch (type) {
    case ir::ElemType::kF32:
    case ir::ElemType::kS32:
      return count * 4;
    case ir::ElemType::kF16:
    case ir::ElemType::kBF16:
      return count * 2;
    case ir::ElemType::kE2M1:
      return (count + 1) / 2;
    case ir::ElemType::kQ8_0:
      return (count + 31) / 32 * 34;
    case ir::ElemType::kQ4_0:
      return (count + 31) / 32 * 18;
    case ir::ElemType::kMxfp4:
      return (count + 31) / 32 * 17;
    default:
      return count;
  }
}

// One interpreter run over `rows` rows of length `n`. Inputs are given as
// row-major vectors; every output is allocated from the pipeline's signature
// and filled with kSentinelByte before the run.
class PipelineRun {
 public:
  PipelineRun(const ir::Pipeline& pipeline, int64_t rows, int64_t n) : pipeline_(pipeline) {
    args_.rows = rows;
    args_.n = n;
  }

  PipelineRun& input(const std::string& name, const std::vector<float>& values) {
    return add_tensor(name, ir::ElemType::kF32, values.data(), values.size() * sizeof(float));
  }
  PipelineRun& input(const std::string& name, const std::vector<int32_t>& values) {
    return add_tensor(name, ir::ElemType::kS32, values.data(), values.size() * sizeof(int32_t));
  }
  PipelineRun& param(const std::string& name, double value) {
    args_.scalars[name] = value;
    return *this;
  }
  PipelineRun& first_row(int64_t row) {
    args_.first_row = row;
    return *this;
  }

  // Allocates the outputs and runs the interpreter.
  Status run() {
    for (ir::ValueId id : pipeline_.outputs) {
      const ir::Value& value = pipeline_.value(id);
      int64_t count = element_count(value.type.shape);
      int64_t row_bytes = row_storage_bytes(value.type.elem, count);
      auto& buffer = outputs_[value.name];
      buffer.assign(static_cast<size_t>(row_bytes * args_.rows), kSentinelByte);
      output_counts_[value.name] = count;
      args_.tensors[value.name] = {buffer.data(), value.type.elem, row_bytes};
    }
    return ir::interpret(pipeline_, args_);
  }

  // Elements per row of output `name` as allocated by run().
  int64_t count(const std::string& name) const { return output_counts_.at(name); }

  const std::vector<uint8_t>& bytes(const std::string& name) const { return outputs_.at(name); }

  // Bytes of row `row` of output `name`.
  std::vector<uint8_t> row_bytes(const std::string& name, int64_t row) const {
    const auto& buffer = outputs_.at(name);
    int64_t stride = args_.tensors.at(name).row_stride_bytes;
    auto begin = buffer.begin() + static_cast<std::ptrdiff_t>(row * stride);
    return {begin, begin + static_cast<std::ptrdiff_t>(stride)};
  }

  std::vector<float> f32(const std::string& name) const { return as<float>(name); }
  std::vector<int32_t> s32(const std::string& name) const { return as<int32_t>(name); }
  std::vector<int8_t> s8(const std::string& name) const { return as<int8_t>(name); }

  // True if no byte of any output differs from kSentinelByte.
  bool outputs_untouched() const {
    for (const auto& [name, buffer] : outputs_) {
      for (uint8_t byte : buffer) {
        if (byte != kSentinelByte) return false;
      }
    }
    return true;
  }

 private:
  PipelineRun& add_tensor(const std::string& name, ir::ElemType type, const void* data, size_t size) {
    auto& buffer = inputs_[name];
    buffer.resize(size);
    if (size > 0) std::memcpy(buffer.data(), data, size);
    int64_t rows = args_.rows > 0 ? args_.rows : 1;
    args_.tensors[name] = {buffer.data(), type, static_cast<int64_t>(size) / rows};
    return *this;
  }

  int64_t element_count(const ir::Shape& shape) const {
    switch (shape.kind) {
      case ir::Shape::Kind::kScalar: return 1;
      case ir::Shape::Kind::kRow: return args_.n;
      case ir::Shape::Kind::kBlocks: return (args_.n + shape.block - 1) / shape.block;
      case ir::Shape::Kind::kFixed: {
        if (shape.symbol.empty()) return shape.length;
        auto value = ir::scalar_param(pipeline_, args_, shape.symbol);
        // A missing or invalid k gets a one-element buffer; the run rejects it.
        return value && *value >= 1 ? static_cast<int64_t>(*value) : 1;
      }
    }
    return 0;
  }

  template <typename T>
  std::vector<T> as(const std::string& name) const {
    const auto& buffer = outputs_.at(name);
    std::vector<T> values(buffer.size() / sizeof(T));
    if (!values.empty()) std::memcpy(values.data(), buffer.data(), values.size() * sizeof(T));
    return values;
  }

  const ir::Pipeline& pipeline_;
  ir::RunArgs args_;
  std::map<std::string, std::vector<uint8_t>> inputs_;
  std::map<std::string, std::vector<uint8_t>> outputs_;
  std::map<std::string, int64_t> output_counts_;
};

// Distance between two floats in units in the last place: the number of
// representable floats between them (0 for equal values, with -0 == +0).
inline int64_t ulp_distance(float a, float b) {
  auto ordered = [](float f) {
    int32_t bits = std::bit_cast<int32_t>(f);
    return bits < 0 ? -static_cast<int64_t>(bits & 0x7FFFFFFF) : static_cast<int64_t>(bits);
  };
  int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

inline uint32_t float_bits(float f) { return std::bit_cast<uint32_t>(f); }

// Values uniform in [-range, range].
inline std::vector<float> random_values(std::mt19937& rng, size_t count, float range) {
  std::uniform_real_distribution<float> dist(-range, range);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

// `count` values at least step / 2 apart, in random order, centred on 0. Router
// tests use them so that no two logits (or their rounded probabilities) tie,
// which would make the expected expert order depend on rounding.
inline std::vector<float> distinct_values(std::mt19937& rng, size_t count, float step) {
  std::vector<float> values(count);
  std::uniform_real_distribution<float> jitter(0, step / 2);
  for (size_t i = 0; i < count; ++i) {
    values[i] = (static_cast<float>(i) - static_cast<float>(count) / 2) * step + jitter(rng);
  }
  std::shuffle(values.begin(), values.end(), rng);
  return values;
}

// Checks an f32 result against a reference: NaN exactly, an infinite value or
// one beyond the f32 range as the matching infinity (which is what rounding to
// f32 gives), other values within the reference's tolerance.
inline ::testing::AssertionResult matches(float actual, const ref::Expected& expected) {
  if (std::isnan(expected.value) ? std::isnan(actual) : actual == static_cast<float>(expected.value)) {
    return ::testing::AssertionSuccess();
  }
  double difference = std::fabs(static_cast<double>(actual) - expected.value);
  if (std::isfinite(static_cast<float>(expected.value)) && difference <= expected.tolerance) {
    return ::testing::AssertionSuccess();
  }
  std::ostringstream message;
  message << std::setprecision(9) << "got " << actual << ", expected " << expected.value << std::setprecision(3)
          << " within " << expected.tolerance << " (off by " << difference << ")";
  return ::testing::AssertionFailure() << message.str();
}

}  // namespace rowjit::testing
