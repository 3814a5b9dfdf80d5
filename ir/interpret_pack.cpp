// Pack ops: pack_q8_0, pack_q4_0, pack_mxfp4 and pack_bits, through the
// packers of ir/block_formats.h.
#include <memory>

#include "ir/block_formats.h"
#include "ir/interpret_ops.h"

namespace rowjit::ir::interpret_detail {
namespace {

template <typename T>
std::vector<T> narrow_copy(const RowValues& values) {
  std::vector<T> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<T>(values[i]);
  return out;
}

// std::vector<bool> has no contiguous storage, so the bits go into a plain array.
std::unique_ptr<bool[]> bool_copy(const RowValues& values) {
  auto out = std::make_unique<bool[]>(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i] != 0;
  return out;
}

}  // namespace

Status evaluate_pack(const Op& op, RowContext& context) {
  RowValues& out = context.result(op);
  std::vector<uint8_t> bytes(out.size());
  Status packed;
  switch (op.kind) {
    case OpKind::kPackQ8_0:
      packed = pack_q8_0(narrow_copy<float>(context.operand(op, 0)), narrow_copy<int8_t>(context.operand(op, 1)), bytes);
      break;
    case OpKind::kPackQ4_0:
      packed = pack_q4_0(narrow_copy<float>(context.operand(op, 0)), narrow_copy<uint8_t>(context.operand(op, 1)), bytes);
      break;
    case OpKind::kPackMxfp4:
      packed = pack_mxfp4(narrow_copy<uint8_t>(context.operand(op, 0)), narrow_copy<uint8_t>(context.operand(op, 1)),
                          bytes);
      break;
    case OpKind::kPackBits: {
      const RowValues& bits = context.operand(op, 0);
      packed = pack_bits({bool_copy(bits).get(), bits.size()}, bytes);
      break;
    }
    default:
      return {StatusCode::kInternal,
              "op '" + std::string(op_info(op.kind).name) + "' is not a pack op of the interpreter"};
  }
  if (!packed.is_ok()) {
    return {packed.code(), "row " + std::to_string(context.row) + ": " + packed.message()};
  }
  for (size_t i = 0; i < out.size(); ++i) out[i] = bytes[i];
  return Status::ok();
}

}  // namespace rowjit::ir::interpret_detail
