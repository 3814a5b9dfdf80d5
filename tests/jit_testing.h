// Helpers for the JIT tests: run one pipeline through a compiled kernel and
// through the reference interpreter on the same rows, and compare.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ir/interpreter.h"
#include "ir/parser.h"
#include "runtime/compiler.h"
#include "runtime/cpu_features.h"

namespace rowjit::testing {

// ISAs this machine can run, AVX2 first. AVX2 is tested on AVX-512 machines
// too, by compiling for it explicitly.
inline std::vector<Isa> runnable_isas() {
  std::vector<Isa> isas;
  Isa best = best_isa(host_cpu());
  if (best >= Isa::kAvx2) isas.push_back(Isa::kAvx2);
  if (best >= Isa::kAvx512) isas.push_back(Isa::kAvx512);
  return isas;
}

// Error bound of one output element: |jit - reference| <= relative * |reference| + absolute.
// NaN must match NaN, and infinities must match exactly.
struct Tolerance {
  double relative = 4e-6;
  double absolute = 1e-40;
};

// Rows of f32 data for every [n] input and output of a pipeline, with a row
// stride of n + `padding` elements and the first element `offset` floats
// past a 64-byte boundary, so that tests cover strides and misaligned rows.
// An offset of kAligned puts every buffer on a 64-byte boundary.
inline constexpr int64_t kAligned = -1;
class RowTensors {
 public:
  RowTensors(const ir::Pipeline& pipeline, int64_t rows, int64_t n, int64_t padding, int64_t offset)
      : rows_(rows), n_(n), stride_(n + padding), offset_(offset) {
    for (ir::ValueId id : pipeline.inputs) {
      const ir::Value& v = pipeline.value(id);
      if (v.kind == ir::ValueKind::kInput) buffers_[v.name].assign(static_cast<size_t>(rows * stride_ + 32), 0.0f);
    }
    for (ir::ValueId id : pipeline.outputs) {
      const ir::Value& v = pipeline.value(id);
      int64_t per_row = v.type.shape.is_scalar() ? 1 : stride_;
      buffers_[v.name].assign(static_cast<size_t>(rows * per_row + 32), -7.0f);
      scalar_output_[v.name] = v.type.shape.is_scalar();
    }
  }

  float* row(const std::string& name, int64_t r) {
    int64_t per_row = scalar_output_.count(name) && scalar_output_.at(name) ? 1 : stride_;
    return buffers_.at(name).data() + start(name) + r * per_row;
  }

  // Index of row 0 in the buffer: `offset` floats past the first 64-byte boundary.
  int64_t start(const std::string& name) {
    auto address = reinterpret_cast<uintptr_t>(buffers_.at(name).data());
    int64_t to_boundary = static_cast<int64_t>(((64 - address % 64) % 64) / 4);
    return to_boundary + (offset_ == kAligned ? 0 : offset_);
  }

  // Makes output `output` share the buffer of input `input` (in-place run).
  void alias(const std::string& output, const std::string& input) { aliases_[output] = input; }

  ir::RunArgs args() {
    ir::RunArgs args;
    args.rows = rows_;
    args.n = n_;
    for (auto& [name, buffer] : buffers_) {
      std::string storage = aliases_.count(name) ? aliases_.at(name) : name;
      bool scalar = scalar_output_.count(name) && scalar_output_.at(name);
      args.tensors[name] = ir::TensorRef{buffers_.at(storage).data() + start(storage), ir::ElemType::kF32,
                                         (scalar ? 1 : stride_) * 4};
    }
    return args;
  }

  // True if no element between the end of a row of output `name` and the
  // start of the next row (and after the last row) was written.
  bool padding_intact(const std::string& name) {
    if (scalar_output_.at(name)) return true;
    const std::vector<float>& buffer = buffers_.at(name);
    int64_t first = start(name);
    for (int64_t i = 0; i < first; ++i) {
      if (buffer[static_cast<size_t>(i)] != -7.0f) return false;
    }
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t i = n_; i < stride_; ++i) {
        if (buffer[static_cast<size_t>(first + r * stride_ + i)] != -7.0f) return false;
      }
    }
    for (size_t i = static_cast<size_t>(first + rows_ * stride_); i < buffer.size(); ++i) {
      if (buffer[i] != -7.0f) return false;
    }
    return true;
  }

  int64_t rows() const { return rows_; }
  int64_t n() const { return n_; }

 private:
  int64_t rows_, n_, stride_, offset_;
  std::map<std::string, std::vector<float>> buffers_;
  std::map<std::string, bool> scalar_output_;
  std::map<std::string, std::string> aliases_;
};

// Compares the outputs of two runs element by element; returns how many
// elements differ beyond the tolerance and describes the first few.
inline int compare_outputs(const ir::Pipeline& pipeline, RowTensors& jit, RowTensors& reference,
                           const Tolerance& tolerance, std::string& report, int64_t* nonzero = nullptr) {
  int failures = 0;
  for (ir::ValueId id : pipeline.outputs) {
    const ir::Value& v = pipeline.value(id);
    int64_t count = v.type.shape.is_scalar() ? 1 : jit.n();
    for (int64_t r = 0; r < jit.rows(); ++r) {
      const float* got = jit.row(v.name, r);
      const float* want = reference.row(v.name, r);
      for (int64_t i = 0; i < count; ++i) {
        double g = got[i];
        double w = want[i];
        bool ok;
        if (std::isnan(w) || std::isnan(g)) ok = std::isnan(w) && std::isnan(g);
        else if (std::isinf(w) || std::isinf(g)) ok = g == w;
        else ok = std::fabs(g - w) <= tolerance.relative * std::fabs(w) + tolerance.absolute;
        if (nonzero && g != 0 && !std::isnan(g)) ++*nonzero;
        if (!ok && ++failures <= 5) {
          char line[200];
          std::snprintf(line, sizeof line, "  %s row %lld element %lld: jit %.9g, reference %.9g\n", v.name.c_str(),
                        static_cast<long long>(r), static_cast<long long>(i), g, w);
          report += line;
        }
      }
    }
  }
  return failures;
}

}  // namespace rowjit::testing
