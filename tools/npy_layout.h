// How `rowjit run` stores tensors of each IR element type in .npy files.
//
// Types with a NumPy dtype map to it: f32 '<f4', f16 '<f2', s32 '<i4', s8
// '|i1' and u8 '|u1'. The 8-bit float formats e4m3, e5m2 and e8m0 are stored
// as their raw codes in '|u1', one element per byte. The remaining types are
// stored as the raw bytes of each row, '|u1' with shape rows x bytes per row:
// bf16 (two little-endian bytes per element), e2m1 (two elements per byte)
// and the block formats q8_0, q4_0 and mxfp4.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ir/types.h"
#include "runtime/npy.h"

namespace rowjit::cli {

// The dtype of a tensor of `type`; nullopt for bool, which is never stored.
std::optional<NpyDtype> npy_dtype_for(ir::ElemType type);

// Whether rows of `type` are stored as raw bytes (bf16, e2m1, block formats).
bool stored_as_row_bytes(ir::ElemType type);

// Number of file elements in one row of `elements` elements of `type`.
int64_t file_row_length(ir::ElemType type, int64_t elements);

// Whether `rowjit run` can read an input of `type`. It cannot read e2m1,
// because a row of b bytes holds 2b - 1 or 2b elements, nor bool and the
// block formats, which are never inputs.
bool readable_input_type(ir::ElemType type);

// Tells how to save an array for `type`, for error messages:
// "save it as <f4 (arr.astype(np.float32))".
std::string npy_save_hint(ir::ElemType type);

}  // namespace rowjit::cli
