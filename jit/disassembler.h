// Disassembly of compiled kernels for dumps: the finished machine code decoded
// with Zydis, with the emitter's markers, the constant pool and per-sweep
// sizes. `rowjit dump` and the runtime's ROWJIT_DUMP print these listings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jit/compile.h"

namespace rowjit::jit {

enum class AsmSyntax { kIntel, kAtt };

// Returns "intel" or "att".
std::string_view asm_syntax_name(AsmSyntax syntax);
// Parses "intel" or "att"; nullopt for anything else.
std::optional<AsmSyntax> parse_asm_syntax(std::string_view name);

struct ListingOptions {
  AsmSyntax syntax = AsmSyntax::kIntel;
  // Text form: print the machine code bytes of each instruction. The JSON form
  // always has them.
  bool show_bytes = false;
  // One line that heads the listing, such as the pipeline name and its plan;
  // empty for none.
  std::string title;
};

struct ListedInstruction {
  size_t offset = 0;  // from the start of the kernel
  std::vector<uint8_t> bytes;
  std::string text;     // mnemonic and operands, as Zydis formats them
  std::string comment;  // the constant or data that a RIP-relative operand reads; "" if none
};

// One slot of the constant pool: a 32-bit pattern repeated in every lane.
struct ListedConstant {
  int slot = 0;
  size_t offset = 0;  // of the slot's first lane
  uint32_t bits = 0;
};

// Code of one sweep: from its "sweep N" marker up to the next sweep, the
// row-loop step ("next row") or the epilogue. Its "sweep N results" code is
// included.
struct SweepCode {
  int sweep = 0;
  bool resident = false;  // in the copy of the row loop for rows held in registers
  size_t begin = 0;
  size_t end = 0;
  int instruction_count = 0;

  size_t code_bytes() const { return end - begin; }
};

// A decoded kernel: what both listing forms print.
struct Listing {
  std::string isa;
  int unroll = 1;
  AsmSyntax syntax = AsmSyntax::kIntel;
  size_t code_size = 0;   // bytes of instructions
  size_t total_size = 0;  // code, padding, constant pool and other data
  std::vector<ListedInstruction> instructions;
  std::vector<CodeMarker> markers;  // in code order
  // The constant pool starts at the first 64-byte boundary after the code and
  // contains one slot of `slot_bytes` per constant.
  size_t pool_offset = 0;
  size_t slot_bytes = 0;
  bool pool_found = false;  // the bytes at pool_offset repeat each constant in every lane
  std::vector<ListedConstant> constants;
  size_t data_offset = 0;  // first byte after the pool; [data_offset, total_size) is other data
  std::vector<SweepCode> sweeps;
};

// Decodes the instructions of `kernel` (its first code_size bytes) and locates
// its constant pool and sweeps. Bytes that do not decode become one "(bad)"
// instruction per byte, so the listing always covers the whole code.
Listing disassemble(const CompiledKernel& kernel, AsmSyntax syntax);

// Formats the listing as text. After a header comes one instruction per line:
// its offset (hex, at least 4 digits, the same width on every line), its bytes
// if requested, then mnemonic and operands. Each marker is a comment line
// ("; sweep 0", "; op: e = exp(_4)") before the instruction at its offset.
// Then come the constant pool as labelled constants (c0, c1, ... with offset,
// bits in hex and float value) and the code bytes and instruction count of
// each sweep.
std::string format_listing(const CompiledKernel& kernel, const ListingOptions& options);

// Formats the same content as one JSON object. Its keys are title, isa,
// unroll, syntax, code_bytes, total_bytes and five lists:
//   instructions: offset, bytes (hex), text, comment
//   markers: offset, text
//   constants: slot, offset, bits, value, value_text
//   sweeps: sweep, offset, code_bytes, instructions
//   data: offset, bytes (hex), for the bytes after the pool
// Offsets are decimal byte offsets from the start of the kernel. A constant
// that is not finite has value null, and value_text gives "inf", "-inf" or "nan".
std::string format_listing_json(const CompiledKernel& kernel, const ListingOptions& options);

}  // namespace rowjit::jit
