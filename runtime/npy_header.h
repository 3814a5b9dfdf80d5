// The header dictionary of a .npy file, a Python literal such as
// "{'descr': '<f4', 'fortran_order': False, 'shape': (8, 1000), }".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ir/status.h"

namespace rowjit {

struct NpyHeader {
  std::string descr;           // dtype string, for example "<f4"
  bool fortran_order = false;
  std::vector<int64_t> shape;  // empty for a 0-d array
};

// Parses the dictionary: exactly the keys 'descr', 'fortran_order' and 'shape',
// in any order, with the trailing spaces and newline that pad it. The error
// message describes the problem and its byte offset, without naming the file.
Result<NpyHeader> parse_npy_header(std::string_view text);

// Formats the dictionary the way numpy.save does, without padding.
std::string format_npy_header(const NpyHeader& header);

// Returns header text for an error message: bytes outside printable ASCII as
// \xNN, and at most `max_chars` of the text, then "...". A NUL byte would
// otherwise end the message early, and a control byte reach the terminal.
std::string printable_header_text(std::string_view text, size_t max_chars = 40);

}  // namespace rowjit
