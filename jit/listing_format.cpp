// The text and JSON forms of a kernel listing (jit/disassembler.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "jit/disassembler.h"

namespace rowjit::jit {
namespace {

// Bytes per line of the --bytes column; longer instructions continue on the
// next line, so the mnemonic column stays put.
constexpr size_t kBytesPerLine = 12;
// Width of the instruction text before its comment.
constexpr size_t kTextColumn = 44;

std::string hex(size_t value, int width) {
  char text[32];
  std::snprintf(text, sizeof text, "%0*zx", width, value);
  return text;
}

std::string hex_bits(uint32_t bits) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", bits);
  return text;
}

float float_of(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// %.9g round-trips every float.
std::string float_text(uint32_t bits) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", static_cast<double>(float_of(bits)));
  return text;
}

std::string byte_list(const uint8_t* bytes, size_t count, const char* separator) {
  std::string text;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) text += separator;
    text += hex(bytes[i], 2);
  }
  return text;
}

// Hex digits of every offset in the listing: at least 4, enough for the end.
int offset_width(const Listing& listing) {
  int width = 4;
  while (width < 16 && (listing.total_size >> (4 * width)) != 0) ++width;
  return width;
}

void write_instruction(std::ostringstream& out, const ListedInstruction& instruction, int width,
                       bool show_bytes) {
  std::string line = hex(instruction.offset, width) + ":  ";
  size_t first_count = std::min(instruction.bytes.size(), kBytesPerLine);
  if (show_bytes) {
    std::string bytes = byte_list(instruction.bytes.data(), first_count, " ");
    bytes.resize(kBytesPerLine * 3, ' ');
    line += bytes;
  }
  line += instruction.text;
  if (!instruction.comment.empty()) {
    size_t column = line.size() - instruction.text.size() + kTextColumn;
    if (line.size() < column) line.resize(column, ' ');
    line += "  ; " + instruction.comment;
  }
  out << line << "\n";
  if (!show_bytes) return;
  for (size_t i = first_count; i < instruction.bytes.size(); i += kBytesPerLine) {
    size_t count = std::min(instruction.bytes.size() - i, kBytesPerLine);
    out << std::string(static_cast<size_t>(width) + 3, ' ')
        << byte_list(instruction.bytes.data() + i, count, " ") << "\n";
  }
}

void write_constants(std::ostringstream& out, const Listing& listing, int width) {
  if (listing.constants.empty()) {
    out << "; constant pool: empty\n";
    return;
  }
  out << "; constant pool: " << listing.constants.size() << " constants";
  if (listing.pool_found) {
    out << " at 0x" << hex(listing.pool_offset, width) << ", " << listing.slot_bytes
        << " bytes each (the value in all " << listing.slot_bytes / 4 << " lanes)\n";
  } else {
    out << ", not found at the 64-byte boundary after the code\n";
  }
  for (const ListedConstant& constant : listing.constants) {
    std::string label = "c" + std::to_string(constant.slot);
    label.resize(std::max<size_t>(label.size(), 5), ' ');
    out << label << " ";
    if (listing.pool_found) out << hex(constant.offset, width) << ":  ";
    out << hex_bits(constant.bits) << "  " << float_text(constant.bits);
    // Integer constants (exponent biases, masks) read as tiny subnormal floats.
    bool subnormal = (constant.bits & 0x7F800000u) == 0 && (constant.bits & 0x007FFFFFu) != 0;
    if (subnormal) out << " (int32 " << static_cast<int32_t>(constant.bits) << ")";
    out << "\n";
  }
}

// Writes bytes[begin, end) as little-endian 32-bit words, 8 per line.
void write_words(std::ostringstream& out, const std::vector<uint8_t>& bytes, size_t begin, size_t end, int width) {
  for (size_t offset = begin; offset < end; offset += 32) {
    out << hex(offset, width) << ":  ";
    for (size_t i = offset; i < std::min(offset + 32, end); i += 4) {
      uint32_t word = 0;
      std::memcpy(&word, bytes.data() + i, std::min<size_t>(4, end - i));
      out << (i > offset ? " " : "") << hex(word, 8);
    }
    out << "\n";
  }
}

// Writes the bytes after the pool: each named region (lane tables, MXCSR
// value, tail masks) as 32-bit words under its name, and the alignment
// padding between regions as a byte count.
void write_other_data(std::ostringstream& out, const Listing& listing, const CompiledKernel& kernel, int width) {
  if (!listing.pool_found || listing.data_offset >= listing.total_size) return;
  out << "; other data: " << listing.total_size - listing.data_offset << " bytes\n";
  size_t position = listing.data_offset;
  auto pad_to = [&](size_t offset) {
    if (offset > position) out << "; padding: " << offset - position << " bytes\n";
    position = std::max(position, offset);
  };
  for (const DataRegion& region : kernel.data_regions) {
    if (region.offset < position || region.offset + region.size > listing.total_size) continue;
    pad_to(region.offset);
    out << "; " << region.name << "\n";
    write_words(out, kernel.bytes, region.offset, region.offset + region.size, width);
    position = region.offset + region.size;
  }
  // Bytes that no region names (none in kernels from the emitter) stay visible as words.
  if (kernel.data_regions.empty()) {
    write_words(out, kernel.bytes, position, listing.total_size, width);
  } else {
    pad_to(listing.total_size);
  }
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00" + hex(static_cast<unsigned char>(c), 2);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace

std::string format_listing(const CompiledKernel& kernel, const ListingOptions& options) {
  Listing listing = disassemble(kernel, options.syntax);
  int width = offset_width(listing);
  std::ostringstream out;

  if (!options.title.empty()) out << "; " << options.title << "\n";
  out << "; " << listing.isa << " kernel, unroll " << listing.unroll << ", " << asm_syntax_name(listing.syntax)
      << " syntax: " << listing.code_size << " code bytes in " << listing.instructions.size() << " instructions, "
      << listing.constants.size() << " constants, " << listing.total_size << " bytes in all\n";

  size_t next_marker = 0;
  for (const ListedInstruction& instruction : listing.instructions) {
    while (next_marker < listing.markers.size() && listing.markers[next_marker].offset <= instruction.offset) {
      out << "; " << listing.markers[next_marker++].text << "\n";
    }
    write_instruction(out, instruction, width, options.show_bytes);
  }
  while (next_marker < listing.markers.size()) out << "; " << listing.markers[next_marker++].text << "\n";

  out << "\n";
  write_constants(out, listing, width);
  write_other_data(out, listing, kernel, width);

  out << "\n";
  for (const SweepCode& sweep : listing.sweeps) {
    out << "; sweep " << sweep.sweep << (sweep.resident ? " (resident rows)" : "") << ": " << sweep.code_bytes()
        << " code bytes, " << sweep.instruction_count
        << (sweep.instruction_count == 1 ? " instruction" : " instructions") << " (0x" << hex(sweep.begin, width) << " to 0x" << hex(sweep.end, width) << ")\n";
  }
  out << "; all code: " << listing.code_size << " bytes, " << listing.instructions.size() << " instructions\n";
  return out.str();
}

std::string format_listing_json(const CompiledKernel& kernel, const ListingOptions& options) {
  Listing listing = disassemble(kernel, options.syntax);
  std::ostringstream out;
  out << "{\n";
  out << "  \"title\": " << json_string(options.title) << ",\n";
  out << "  \"isa\": " << json_string(listing.isa) << ",\n";
  out << "  \"unroll\": " << listing.unroll << ",\n";
  out << "  \"syntax\": " << json_string(asm_syntax_name(listing.syntax)) << ",\n";
  out << "  \"code_bytes\": " << listing.code_size << ",\n";
  out << "  \"total_bytes\": " << listing.total_size << ",\n";

  out << "  \"instructions\": [";
  for (size_t i = 0; i < listing.instructions.size(); ++i) {
    const ListedInstruction& instruction = listing.instructions[i];
    out << (i > 0 ? ",\n" : "\n") << "    {\"offset\": " << instruction.offset << ", \"bytes\": \""
        << byte_list(instruction.bytes.data(), instruction.bytes.size(), "") << "\", \"text\": "
        << json_string(instruction.text) << ", \"comment\": " << json_string(instruction.comment) << "}";
  }
  out << "\n  ],\n";

  out << "  \"markers\": [";
  for (size_t i = 0; i < listing.markers.size(); ++i) {
    out << (i > 0 ? ",\n" : "\n") << "    {\"offset\": " << listing.markers[i].offset
        << ", \"text\": " << json_string(listing.markers[i].text) << "}";
  }
  out << "\n  ],\n";

  out << "  \"constants\": [";
  for (size_t i = 0; i < listing.constants.size(); ++i) {
    const ListedConstant& constant = listing.constants[i];
    float value = float_of(constant.bits);
    out << (i > 0 ? ",\n" : "\n") << "    {\"slot\": " << constant.slot << ", \"offset\": ";
    if (listing.pool_found) out << constant.offset;
    else out << "null";
    out << ", \"bits\": \"" << hex_bits(constant.bits) << "\", \"value\": "
        << (std::isfinite(value) ? float_text(constant.bits) : "null")
        << ", \"value_text\": " << json_string(float_text(constant.bits)) << "}";
  }
  out << "\n  ],\n";

  out << "  \"sweeps\": [";
  for (size_t i = 0; i < listing.sweeps.size(); ++i) {
    const SweepCode& sweep = listing.sweeps[i];
    out << (i > 0 ? ",\n" : "\n") << "    {\"sweep\": " << sweep.sweep
        << ", \"resident\": " << (sweep.resident ? "true" : "false") << ", \"offset\": " << sweep.begin
        << ", \"code_bytes\": " << sweep.code_bytes() << ", \"instructions\": " << sweep.instruction_count << "}";
  }
  out << "\n  ],\n";

  out << "  \"data\": {\"offset\": " << listing.data_offset << ", \"bytes\": \"";
  if (listing.data_offset < listing.total_size) {
    out << byte_list(kernel.bytes.data() + listing.data_offset, listing.total_size - listing.data_offset, "");
  }
  out << "\", \"regions\": [";
  for (size_t i = 0; i < kernel.data_regions.size(); ++i) {
    const DataRegion& region = kernel.data_regions[i];
    out << (i > 0 ? ", " : "") << "{\"offset\": " << region.offset << ", \"size\": " << region.size
        << ", \"name\": " << json_string(region.name) << "}";
  }
  out << "]}\n";
  out << "}\n";
  return out.str();
}

}  // namespace rowjit::jit
