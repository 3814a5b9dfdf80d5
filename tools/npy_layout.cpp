#include "tools/npy_layout.h"

namespace rowjit::cli {

using ir::ElemType;

std::optional<NpyDtype> npy_dtype_for(ElemType type) {
  switch (type) {
    case ElemType::kF32: return NpyDtype::kF32;
    case ElemType::kF16: return NpyDtype::kF16;
    case ElemType::kS32: return NpyDtype::kS32;
    case ElemType::kS8: return NpyDtype::kS8;
    case ElemType::kU8:
    case ElemType::kE4M3:
    case ElemType::kE5M2:
    case ElemType::kE8M0:
    case ElemType::kBF16:
    case ElemType::kE2M1:
    case ElemType::kQ8_0:
    case ElemType::kQ4_0:
    case ElemType::kMxfp4: return NpyDtype::kU8;
    case ElemType::kBool: return std::nullopt;
  }
  return std::nullopt;
}

bool stored_as_row_bytes(ElemType type) {
  return type == ElemType::kBF16 || type == ElemType::kE2M1 || ir::is_block_format(type);
}

int64_t file_row_length(ElemType type, int64_t elements) {
  if (stored_as_row_bytes(type)) return ir::storage_bytes(type, elements);
  return elements;
}

bool readable_input_type(ElemType type) {
  return npy_dtype_for(type).has_value() && type != ElemType::kE2M1 && !ir::is_block_format(type);
}

std::string npy_save_hint(ElemType type) {
  switch (type) {
    case ElemType::kF32: return "save it as <f4 with arr.astype(np.float32)";
    case ElemType::kF16: return "save it as <f2 with arr.astype(np.float16)";
    case ElemType::kS32: return "save it as <i4 with arr.astype(np.int32)";
    case ElemType::kS8: return "save it as |i1 with arr.astype(np.int8)";
    case ElemType::kU8: return "save it as |u1 with arr.astype(np.uint8)";
    case ElemType::kE4M3:
    case ElemType::kE5M2:
    case ElemType::kE8M0:
      return "save the raw " + std::string(ir::elem_type_name(type)) +
             " codes as |u1, for example arr.view(np.uint8) of an ml_dtypes array";
    case ElemType::kBF16:
      return "save the raw bf16 bytes as |u1 with shape (rows, 2 * n), for example "
             "arr.view(np.uint8) of an ml_dtypes.bfloat16 array";
    default:
      return "rowjit run cannot read " + std::string(ir::elem_type_name(type)) + " inputs";
  }
}

}  // namespace rowjit::cli
