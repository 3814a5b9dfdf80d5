// uniform(seed): Philox4x32-10 numbers keyed by seed, global row and column.
#include "ir/interpret_ops.h"
#include "ir/philox.h"

namespace rowjit::ir::interpret_detail {

Status evaluate_uniform(const Op& op, RowContext& context) {
  OperandReader seed = read_operand(context, op, 0, ElemType::kS32);
  // The s32 seed is used as its 32-bit pattern: -1 keys like 0xFFFFFFFF.
  auto key = static_cast<uint32_t>(static_cast<int32_t>(seed[0]));
  auto global_row = static_cast<uint64_t>(context.args.first_row + context.row);
  RowValues& out = context.result(op);
  for (size_t column = 0; column < out.size(); ++column) out[column] = uniform_at(key, global_row, column);
  return Status::ok();
}

}  // namespace rowjit::ir::interpret_detail
