// A .npy file starts with the magic string "\x93NUMPY" and a major and a minor
// version byte. The header length follows, 2 bytes little-endian in version
// 1.0 and 4 bytes in 2.0 and 3.0. Then come the header dictionary, padded with
// spaces and ended by '\n', and the raw elements. Version 3.0 differs from 2.0
// only in allowing UTF-8 in the header, which the dtypes read here never need.
#include "runtime/npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "runtime/atomic_file.h"
#include "runtime/npy_header.h"

namespace rowjit {
namespace {

constexpr std::string_view kMagic("\x93NUMPY", 6);
constexpr size_t kVersionEnd = 8;  // magic and the two version bytes
constexpr size_t kDataAlignment = 64;

constexpr std::string_view kAcceptedDtypes =
    "<f4 (float32), <f2 (float16), <i4 (int32), |i1 (int8) and |u1 (uint8)";

Status invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

uint32_t read_little_endian(std::string_view bytes, size_t offset, size_t width) {
  uint32_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value |= uint32_t{static_cast<uint8_t>(bytes[offset + i])} << (8 * i);
  }
  return value;
}

std::string format_shape(const std::vector<int64_t>& shape) {
  NpyArray array;
  array.shape = shape;
  return array.shape_string();
}

Status check_dtype(std::string_view descr, std::string_view source) {
  if (parse_npy_descr(descr)) return Status::ok();
  std::string value = "'" + printable_header_text(descr) + "'";
  if (!descr.empty() && descr[0] == '>') {
    std::string little = "<" + std::string(descr.substr(1));
    std::string fix = parse_npy_descr(little)
                          ? "save it as little-endian with arr.astype('" + little + "')"
                          : "convert it to one of " + std::string(kAcceptedDtypes);
    return invalid("big-endian dtype in " + std::string(source) + ": " + value +
                   "; rowjit reads little-endian data only, so " + fix);
  }
  return invalid("unsupported dtype in " + std::string(source) + ": " + value +
                 "; accepted dtypes are " + std::string(kAcceptedDtypes) +
                 ", so convert with arr.astype(...)");
}

}  // namespace

std::string_view npy_descr(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kF32: return "<f4";
    case NpyDtype::kF16: return "<f2";
    case NpyDtype::kS32: return "<i4";
    case NpyDtype::kS8: return "|i1";
    case NpyDtype::kU8: return "|u1";
  }
  return "?";
}

std::string_view npy_dtype_name(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kF32: return "float32";
    case NpyDtype::kF16: return "float16";
    case NpyDtype::kS32: return "int32";
    case NpyDtype::kS8: return "int8";
    case NpyDtype::kU8: return "uint8";
  }
  return "?";
}

int64_t npy_item_size(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kF32:
    case NpyDtype::kS32: return 4;
    case NpyDtype::kF16: return 2;
    case NpyDtype::kS8:
    case NpyDtype::kU8: return 1;
  }
  return 1;
}

std::optional<NpyDtype> parse_npy_descr(std::string_view descr) {
  for (NpyDtype dtype : {NpyDtype::kF32, NpyDtype::kF16, NpyDtype::kS32, NpyDtype::kS8,
                         NpyDtype::kU8}) {
    if (descr == npy_descr(dtype)) return dtype;
  }
  return std::nullopt;
}

int64_t NpyArray::element_count() const {
  int64_t count = 1;
  for (int64_t dimension : shape) count *= dimension;
  return count;
}

std::string NpyArray::shape_string() const {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  if (shape.size() == 1) text += ",";
  return text + ")";
}

NpyArray make_npy_array(NpyDtype dtype, std::vector<int64_t> shape) {
  NpyArray array;
  array.dtype = dtype;
  array.shape = std::move(shape);
  // NOTE: a shape whose byte count is negative or overflows int64 gets no
  // data, so that encode_npy() and write_npy() reject the array by its size
  // instead of this function allocating a wrapped size.
  int64_t bytes = npy_item_size(dtype);
  for (int64_t dimension : array.shape) {
    if (dimension < 0 || __builtin_mul_overflow(bytes, dimension, &bytes)) return array;
  }
  array.data.assign(static_cast<size_t>(bytes), 0);
  return array;
}

Result<NpyArray> decode_npy(std::string_view bytes, std::string_view source) {
  const std::string name = std::string(source);

  // Magic string and version.
  if (bytes.substr(0, kMagic.size()) != kMagic.substr(0, bytes.size())) {
    return invalid("not a .npy file: " + name +
                   " does not start with the magic string \\x93NUMPY; save the array with "
                   "numpy.save");
  }
  if (bytes.size() < kVersionEnd) {
    return invalid("truncated .npy header in " + name + ": the file has " +
                   std::to_string(bytes.size()) + " bytes, fewer than the " +
                   std::to_string(kVersionEnd) + " of the magic string and version; the file "
                   "is incomplete, so save it again");
  }
  int major = static_cast<uint8_t>(bytes[6]);
  int minor = static_cast<uint8_t>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0) {
    return invalid("unsupported .npy format version in " + name + ": " + std::to_string(major) +
                   "." + std::to_string(minor) +
                   "; rowjit reads versions 1.0, 2.0 and 3.0, so save it with numpy.save");
  }

  // Header length and header.
  size_t length_width = major == 1 ? 2 : 4;
  size_t header_start = kVersionEnd + length_width;
  if (bytes.size() < header_start) {
    return invalid("truncated .npy header in " + name + ": the file has " +
                   std::to_string(bytes.size()) + " bytes, fewer than the " +
                   std::to_string(header_start) + " before the header; the file is "
                   "incomplete, so save it again");
  }
  size_t header_length = read_little_endian(bytes, kVersionEnd, length_width);
  if (bytes.size() - header_start < header_length) {
    return invalid("truncated .npy header in " + name + ": the header length field says " +
                   std::to_string(header_length) + " bytes but only " +
                   std::to_string(bytes.size() - header_start) +
                   " follow; the file is incomplete, so save it again");
  }
  Result<NpyHeader> header = parse_npy_header(bytes.substr(header_start, header_length));
  if (!header) {
    return invalid("invalid .npy header in " + name + ": " + header.status().message() +
                   "; save the array with numpy.save");
  }

  // What the header describes.
  ROWJIT_TRY(check_dtype(header->descr, source));
  if (header->fortran_order) {
    return invalid("Fortran-order array in " + name + ": 'fortran_order': True; rowjit reads "
                   "C order only, so save it with np.save(path, np.ascontiguousarray(arr))");
  }
  if (header->shape.empty() || header->shape.size() > 2) {
    return invalid("unsupported shape in " + name + ": " + format_shape(header->shape) + " has " +
                   std::to_string(header->shape.size()) +
                   " dimensions; save a 1-D or 2-D array, for example " +
                   (header->shape.empty() ? "arr.reshape(1)" : "arr.reshape(-1, arr.shape[-1])"));
  }

  // Data size. Each dimension is at most 2^40, so the product can still overflow.
  NpyArray array;
  array.dtype = *parse_npy_descr(header->descr);
  array.shape = header->shape;
  int64_t expected = npy_item_size(array.dtype);
  for (int64_t dimension : array.shape) {
    if (__builtin_mul_overflow(expected, dimension, &expected)) {
      return invalid("shape too large in " + name + ": " + array.shape_string() +
                     "; no file can hold it, so check the header");
    }
  }
  size_t data_start = header_start + header_length;
  size_t found = bytes.size() - data_start;
  if (found != static_cast<uint64_t>(expected)) {
    bool truncated = found < static_cast<uint64_t>(expected);
    std::string problem = truncated ? "truncated data in " : "unexpected trailing data in ";
    std::string fix = truncated ? "; the file is incomplete, so save it again"
                                : "; the header's shape does not match the data, so save the array again";
    return invalid(problem + name + ": expected " + std::to_string(expected) + " bytes for shape " +
                   array.shape_string() + " of " + std::string(npy_descr(array.dtype)) +
                   ", found " + std::to_string(found) + fix);
  }
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_start), bytes.end());
  return array;
}

Result<std::string> encode_npy(const NpyArray& array) {
  if (array.shape.empty() || array.shape.size() > 2) {
    return invalid("unsupported shape for a .npy file: " + array.shape_string() +
                   "; give a 1-D or 2-D shape");
  }
  for (int64_t dimension : array.shape) {
    if (dimension < 0) {
      return invalid("negative dimension in shape: " + array.shape_string() +
                     "; give non-negative dimensions");
    }
  }
  int64_t expected = npy_item_size(array.dtype);
  for (int64_t dimension : array.shape) {
    if (__builtin_mul_overflow(expected, dimension, &expected)) {
      return invalid("shape too large for a .npy file: " + array.shape_string() + " of " +
                     std::string(npy_descr(array.dtype)) + " needs more than " +
                     std::to_string(std::numeric_limits<int64_t>::max()) + " bytes; give a smaller shape");
    }
  }
  if (static_cast<uint64_t>(expected) != array.data.size()) {
    return invalid("array data size does not match its shape: " + array.shape_string() + " of " +
                   std::string(npy_descr(array.dtype)) + " needs " + std::to_string(expected) +
                   " bytes, the array has " + std::to_string(array.data.size()) +
                   "; resize the data or fix the shape");
  }

  NpyHeader header;
  header.descr = std::string(npy_descr(array.dtype));
  header.shape = array.shape;
  std::string dictionary = format_npy_header(header);

  // Pad with spaces so that magic, version, length field, header and '\n'
  // end on a multiple of 64 bytes, as numpy.save does.
  size_t length_width = 2;
  auto padded_length = [&](size_t width) {
    size_t unpadded = kVersionEnd + width + dictionary.size() + 1;
    return dictionary.size() + 1 + (kDataAlignment - unpadded % kDataAlignment) % kDataAlignment;
  };
  size_t header_length = padded_length(length_width);
  if (header_length > 0xFFFF) {
    length_width = 4;
    header_length = padded_length(length_width);
  }

  std::string bytes(kMagic);
  bytes += static_cast<char>(length_width == 2 ? 1 : 2);
  bytes += '\0';
  for (size_t i = 0; i < length_width; ++i) {
    bytes += static_cast<char>((header_length >> (8 * i)) & 0xFF);
  }
  bytes += dictionary;
  bytes.append(header_length - dictionary.size() - 1, ' ');
  bytes += '\n';
  bytes.append(reinterpret_cast<const char*>(array.data.data()), array.data.size());
  return bytes;
}

Result<NpyArray> read_npy(const std::string& path) {
  // O_NONBLOCK: a FIFO opens at once instead of waiting for a writer, and
  // fstat then rejects it. Regular files read as without the flag.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int error = errno;
    if (error == ENOENT) {
      return Status(StatusCode::kIoError, "file not found: " + path + "; check the path");
    }
    return Status(StatusCode::kIoError, "cannot open file: " + path + " (" +
                                            std::strerror(error) +
                                            "); check the path and the file's permissions");
  }

  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    return Status(StatusCode::kIoError,
                  "not a regular file: " + path + "; give the path of a .npy file");
  }

  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t count = read(fd, bytes.data() + done, bytes.size() - done);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) {
      int error = errno;
      close(fd);
      return Status(StatusCode::kIoError, "cannot read file: " + path + " (" +
                                              std::strerror(error) +
                                              "); check the file and the disk");
    }
    if (count == 0) break;  // the file shrank while being read
    done += static_cast<size_t>(count);
  }
  close(fd);
  bytes.resize(done);
  return decode_npy(bytes, path);
}

Status write_npy(const std::string& path, const NpyArray& array) {
  Result<std::string> bytes = encode_npy(array);
  if (!bytes) return bytes.status();
  Result<AtomicFile> file = AtomicFile::create(path);
  if (!file) return file.status();
  ROWJIT_TRY(file->write(*bytes));
  return file->commit();
}

}  // namespace rowjit
