#include "runtime/in_place.h"

#include <algorithm>
#include <optional>
#include <string>

#include "ir/tensor_overlap.h"

namespace rowjit {
namespace {

bool contains(const std::vector<ir::ValueId>& ids, ir::ValueId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// The first sweep that stores `output` or spills a value into its buffer.
std::optional<size_t> first_write(const ir::Plan& plan, ir::ValueId output) {
  for (size_t s = 0; s < plan.sweeps.size(); ++s) {
    const ir::Sweep& sweep = plan.sweeps[s];
    if (contains(sweep.stores, output)) return s;
    for (ir::ValueId spilled : sweep.spills) {
      if (plan.spill_buffer[static_cast<size_t>(spilled)] == output) return s;
    }
  }
  return std::nullopt;
}

Result<int64_t> row_bytes(const ir::Pipeline& pipeline, const ir::RunArgs& args, ir::ValueId id) {
  const ir::Value& v = pipeline.value(id);
  auto length = ir::shape_length(pipeline, v.type.shape, args);
  if (!length) return length.status();
  return ir::storage_bytes(v.type.elem, *length);
}

}  // namespace

Status check_jit_in_place(const ir::Pipeline& pipeline, const ir::Plan& plan, const ir::RunArgs& args) {
  auto aliases = ir::find_in_place_aliases(pipeline, args);
  if (!aliases) return aliases.status();
  for (const ir::InPlaceAlias& alias : *aliases) {
    const std::string& output = pipeline.value(alias.output).name;
    const std::string& input = pipeline.value(alias.input).name;
    auto output_bytes = row_bytes(pipeline, args, alias.output);
    auto input_bytes = row_bytes(pipeline, args, alias.input);
    if (!output_bytes) return output_bytes.status();
    if (!input_bytes) return input_bytes.status();
    if (*output_bytes != *input_bytes) {
      return Status(StatusCode::kInvalidArgument,
                    "output '" + output + "' shares the memory of input '" + input + "' but its rows are " +
                        std::to_string(*output_bytes) + " bytes against " + std::to_string(*input_bytes) +
                        "; JIT kernels run in place only on rows of equal size, so pass a separate buffer for '" +
                        output + "'");
    }
    std::optional<size_t> written = first_write(plan, alias.output);
    if (!written) {
      return Status(StatusCode::kInvalidArgument,
                    "output '" + output + "' shares the memory of input '" + input +
                        "', but this kernel writes it outside its sweeps; pass a separate buffer for '" + output +
                        "'");
    }
    for (size_t s = *written + 1; s < plan.sweeps.size(); ++s) {
      if (!contains(plan.sweeps[s].loads, alias.input)) continue;
      return Status(StatusCode::kInvalidArgument,
                    "output '" + output + "' shares the memory of input '" + input + "', but this kernel reads '" +
                        input + "' in sweep " + std::to_string(s) + " after sweep " + std::to_string(*written) +
                        " writes '" + output + "' (rowjit plan lists the sweeps); pass a separate buffer for '" +
                        output + "'");
    }
  }
  return Status::ok();
}

}  // namespace rowjit
