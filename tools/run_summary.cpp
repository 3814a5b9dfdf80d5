#include "tools/run_summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "tools/npy_layout.h"
#include "tools/signature.h"

namespace rowjit::cli {
namespace {

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

// Range of finite-or-infinite values, with NaNs counted apart.
struct Range {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  int64_t count = 0;
  int64_t nan_count = 0;

  void add(double value) {
    if (std::isnan(value)) {
      ++nan_count;
      return;
    }
    low = std::min(low, value);
    high = std::max(high, value);
    ++count;
  }

  std::string to_string(const std::string& label, const char* pattern,
                        const std::string& nan_unit) const {
    std::string text;
    if (count > 0) text = label + " " + format(pattern, low) + " .. " + format(pattern, high);
    if (nan_count > 0) {
      text += (text.empty() ? "" : ", ") + std::to_string(nan_count) + " " + nan_unit +
              (nan_count == 1 ? "" : "s") + " NaN";
    }
    return text;
  }
};

template <typename T>
T element(const NpyArray& array, int64_t index) {
  T value;
  std::memcpy(&value, array.data.data() + index * sizeof(T), sizeof(T));
  return value;
}

// Statistics worth a glance: row sums for f32 vectors, the range of the
// values for f32 scalars and integers; "" for stored codes and bytes.
std::string describe_values(const ir::Value& value, const NpyArray& array) {
  ir::ElemType type = value.type.elem;
  if (array.element_count() == 0) return "";

  if (type == ir::ElemType::kF32 && array.shape.size() == 2) {
    Range sums;
    int64_t length = array.shape[1];
    for (int64_t row = 0; row < array.shape[0]; ++row) {
      double sum = 0;
      for (int64_t i = 0; i < length; ++i) sum += element<float>(array, row * length + i);
      sums.add(sum);
    }
    return sums.to_string("row sums", "%.6f", "row");
  }

  Range values;
  for (int64_t i = 0; i < array.element_count(); ++i) {
    switch (type) {
      case ir::ElemType::kF32: values.add(element<float>(array, i)); break;
      case ir::ElemType::kS32: values.add(element<int32_t>(array, i)); break;
      case ir::ElemType::kS8: values.add(element<int8_t>(array, i)); break;
      case ir::ElemType::kU8: values.add(element<uint8_t>(array, i)); break;
      default: return "";
    }
  }
  return values.to_string("values", "%g", "value");
}

std::string describe_output(const ir::Value& value, const NpyArray& array) {
  std::string shape;
  for (int64_t dimension : array.shape) {
    shape += (shape.empty() ? "" : "x") + std::to_string(dimension);
  }
  std::string text = value.name + ": " + std::string(ir::elem_type_name(value.type.elem)) + " " +
                     shape;
  if (stored_as_row_bytes(value.type.elem)) text += " bytes";
  std::string values = describe_values(value, array);
  if (!values.empty()) text += ", " + values;
  return text;
}

}  // namespace

std::string format_run_summary(const ir::Pipeline& pipeline, const RunRequest& request,
                               const BoundRun& run, const Execution& execution) {
  std::string text = pipeline.name + ": " + std::to_string(run.args.rows) +
                     (run.args.rows == 1 ? " row" : " rows");
  if (uses_row_length(pipeline)) text += " x " + std::to_string(run.args.n);

  std::string written;
  for (const NameValue& output : request.outputs) {
    const ir::Value& value = pipeline.value(*pipeline.find_output(output.name));
    written += (written.empty() ? "" : "; ") + describe_output(value, run.outputs.at(output.name));
  }
  size_t count = request.outputs.size();
  text += ", " + std::to_string(count) + (count == 1 ? " output (" : " outputs (") + written + ")";

  std::vector<std::string> discarded;
  for (const std::string& name : output_names(pipeline)) {
    bool requested = false;
    for (const NameValue& output : request.outputs) requested |= output.name == name;
    if (!requested) discarded.push_back(name);
  }
  if (!discarded.empty()) text += ", discarded " + join_names(discarded);

  text += " in " + format("%.2f", execution.milliseconds) + " ms [" +
          std::string(engine_name(execution.engine)) + "]";
  return text;
}

}  // namespace rowjit::cli
