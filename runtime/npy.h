// Reader and writer for NumPy .npy files (format versions 1.0, 2.0 and 3.0),
// the tensor files that `rowjit run` reads and writes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/status.h"

namespace rowjit {

// The dtypes that rowjit reads and writes: little-endian, or single bytes.
enum class NpyDtype : uint8_t {
  kF32,  // '<f4', numpy.float32
  kF16,  // '<f2', numpy.float16
  kS32,  // '<i4', numpy.int32
  kS8,   // '|i1', numpy.int8
  kU8,   // '|u1', numpy.uint8
};

// The dtype string of the header: "<f4", "<f2", "<i4", "|i1" or "|u1".
std::string_view npy_descr(NpyDtype dtype);
// The numpy name: "float32", "float16", "int32", "int8" or "uint8".
std::string_view npy_dtype_name(NpyDtype dtype);
int64_t npy_item_size(NpyDtype dtype);
// Maps a header's dtype string to a dtype; nullopt for any other string.
std::optional<NpyDtype> parse_npy_descr(std::string_view descr);

// A 1-D or 2-D array in C order with little-endian elements.
struct NpyArray {
  NpyDtype dtype = NpyDtype::kF32;
  std::vector<int64_t> shape;  // one or two dimensions
  std::vector<uint8_t> data;   // element_count() * npy_item_size(dtype) bytes

  int64_t element_count() const;
  // Formats the shape as numpy prints it: "(8, 1000)" or "(1000,)".
  std::string shape_string() const;
};

// Makes an array of `shape` filled with zero bytes.
NpyArray make_npy_array(NpyDtype dtype, std::vector<int64_t> shape);

// Decodes the bytes of a .npy file. `source` names the file in error messages.
// It rejects with kInvalidArgument a bad magic string, an unknown format
// version, a truncated or malformed header and a dtype other than the five
// above (big-endian ones get their own message). It also rejects Fortran
// order, a shape that is not 1-D or 2-D, and data shorter or longer than the
// shape needs.
Result<NpyArray> decode_npy(std::string_view bytes, std::string_view source);

// Encodes `array` as a .npy file: format 1.0, or 2.0 when the header does not
// fit in 65535 bytes. The header is padded so that the data starts at a
// multiple of 64 bytes. Fails when the data size does not match the shape.
Result<std::string> encode_npy(const NpyArray& array);

// Reads and decodes a file; a missing or unreadable file is kIoError.
Result<NpyArray> read_npy(const std::string& path);

// Encodes and writes `array` through a temporary file in the same folder that
// is renamed into place, so a failure never leaves a partial file at `path`.
Status write_npy(const std::string& path, const NpyArray& array);

}  // namespace rowjit
