#include "ir/tensor_overlap.h"

#include <cstdint>
#include <string>

namespace rowjit::ir {
namespace {

// The bytes a tensor covers: `rows` rows of `row_bytes` bytes, each `stride`
// bytes after the previous one.
struct Region {
  ValueId id = kNoValue;
  __int128 start = 0;
  int64_t rows = 1;
  int64_t stride = 0;
  int64_t row_bytes = 0;
};

__int128 floor_div(__int128 a, __int128 b) {
  __int128 q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

__int128 ceil_div(__int128 a, __int128 b) { return -floor_div(-a, b); }

bool regions_overlap(const Region& a, const Region& b) {
  if (a.row_bytes == 0 || b.row_bytes == 0) return false;
  __int128 a_end = a.start + __int128{a.rows - 1} * a.stride + a.row_bytes;
  __int128 b_end = b.start + __int128{b.rows - 1} * b.stride + b.row_bytes;
  if (a_end <= b.start || b_end <= a.start) return false;
  if (a.rows == 1 && b.rows == 1) return true;
  // NOTE: rows of different strides are not compared row by row, so
  // interleaved rows of different strides whose ranges cross count as an overlap.
  if (a.rows > 1 && b.rows > 1 && a.stride != b.stride) return true;

  // Row i of a and row j of b overlap when, with k = j - i and d the offset
  // of b from a, d + k * stride lies in (-b.row_bytes, a.row_bytes).
  __int128 stride = a.rows > 1 ? a.stride : b.stride;
  __int128 d = b.start - a.start;
  __int128 k_min = ceil_div(-b.row_bytes - d + 1, stride);
  __int128 k_max = floor_div(a.row_bytes - d - 1, stride);
  if (k_min < -(a.rows - 1)) k_min = -(a.rows - 1);
  if (k_max > b.rows - 1) k_max = b.rows - 1;
  return k_min <= k_max;
}

std::string role(const Pipeline& pipeline, ValueId id) {
  const Value& v = pipeline.value(id);
  bool output = pipeline.find_output(v.name).has_value();
  if (output) return "output '" + v.name + "'";
  return std::string(v.kind == ValueKind::kParam ? "vector parameter '" : "input '") + v.name + "'";
}

}  // namespace

Result<std::vector<InPlaceAlias>> find_in_place_aliases(const Pipeline& pipeline, const RunArgs& args) {
  std::vector<InPlaceAlias> aliases;
  if (args.rows <= 0 || pipeline.outputs.empty()) return aliases;

  std::vector<Region> regions;
  std::vector<bool> is_output;
  regions.reserve(args.tensors.size());
  for (const auto& [name, ref] : args.tensors) {
    std::optional<ValueId> output = pipeline.find_output(name);
    std::optional<ValueId> id = output ? output : pipeline.find_input(name);
    if (!id) continue;  // validate_run_args() rejects unknown names
    const Value& v = pipeline.value(*id);
    auto length = shape_length(pipeline, v.type.shape, args);
    if (!length) return length.status();
    Region region;
    region.id = *id;
    region.start = static_cast<__int128>(reinterpret_cast<std::uintptr_t>(ref.data));
    // A vector parameter is one row for all rows, and a one-row call has no stride.
    bool per_row = v.kind != ValueKind::kParam && args.rows > 1;
    region.rows = per_row ? args.rows : 1;
    region.stride = per_row ? ref.row_stride_bytes : 0;
    region.row_bytes = storage_bytes(v.type.elem, *length);
    regions.push_back(region);
    is_output.push_back(output.has_value());
  }

  for (size_t i = 0; i < regions.size(); ++i) {
    if (!is_output[i]) continue;
    for (size_t j = 0; j < regions.size(); ++j) {
      if (j == i || (is_output[j] && j < i)) continue;  // each pair of outputs once
      const Region& out = regions[i];
      const Region& other = regions[j];
      if (!regions_overlap(out, other)) continue;
      const Value& other_value = pipeline.value(other.id);
      bool in_place = !is_output[j] && other_value.kind == ValueKind::kInput && out.start == other.start &&
                      out.rows == other.rows && out.stride == other.stride;
      if (in_place) {
        aliases.push_back({out.id, other.id});
        continue;
      }
      return Status(StatusCode::kInvalidArgument,
                    role(pipeline, out.id) + " overlaps " + role(pipeline, other.id) +
                        " in memory; an output may share memory only with an input of the same data pointer and "
                        "row stride (in place), so pass separate buffers or exactly the input's");
    }
  }
  return aliases;
}

}  // namespace rowjit::ir
