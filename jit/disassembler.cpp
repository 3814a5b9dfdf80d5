#include "jit/disassembler.h"

#include <Zydis/Zydis.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace rowjit::jit {
namespace {

// ConstantPool::emit aligns the pool to 64 bytes after the last instruction.
constexpr size_t kPoolAlignment = 64;

std::string hex_offset(size_t offset) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%04zx", offset);
  return text;
}

std::string float_text(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", static_cast<double>(value));
  return text;
}

// Finds the pool after the code and checks that every slot contains its
// constant in every lane, so that a change of the pool layout in the emitter
// shows up as an unlocated pool rather than as wrong labels.
void locate_pool(const CompiledKernel& kernel, Listing& listing) {
  listing.slot_bytes = kernel.isa == "avx512" ? 64 : 32;
  listing.pool_offset = (kernel.code_size + kPoolAlignment - 1) / kPoolAlignment * kPoolAlignment;
  size_t pool_end = listing.pool_offset + kernel.constants.size() * listing.slot_bytes;

  bool found = pool_end <= kernel.bytes.size();
  for (size_t slot = 0; found && slot < kernel.constants.size(); ++slot) {
    for (size_t lane = 0; lane < listing.slot_bytes; lane += 4) {
      uint32_t bits;
      std::memcpy(&bits, kernel.bytes.data() + listing.pool_offset + slot * listing.slot_bytes + lane, 4);
      if (bits != kernel.constants[slot]) found = false;
    }
  }
  listing.pool_found = found;
  listing.data_offset = found ? pool_end : kernel.code_size;

  for (size_t slot = 0; slot < kernel.constants.size(); ++slot) {
    ListedConstant constant;
    constant.slot = static_cast<int>(slot);
    constant.offset = found ? listing.pool_offset + slot * listing.slot_bytes : 0;
    constant.bits = kernel.constants[slot];
    listing.constants.push_back(constant);
  }
}

// Names what a RIP-relative operand at `target` reads: a pool constant, a
// named region of the data after the pool, or other data after the code.
std::string describe_target(const Listing& listing, const std::vector<DataRegion>& regions, size_t target) {
  size_t pool_end = listing.pool_offset + listing.constants.size() * listing.slot_bytes;
  if (listing.pool_found && target >= listing.pool_offset && target < pool_end) {
    size_t slot = (target - listing.pool_offset) / listing.slot_bytes;
    size_t lane_byte = (target - listing.pool_offset) % listing.slot_bytes;
    std::string text = "c" + std::to_string(slot);
    if (lane_byte != 0) text += "+" + std::to_string(lane_byte);
    return text + " = " + float_text(listing.constants[slot].bits);
  }
  for (const DataRegion& region : regions) {
    if (target >= region.offset && target < region.offset + region.size) {
      return region.name + " at " + hex_offset(target);
    }
  }
  if (target >= listing.code_size && target < listing.total_size) return "data at " + hex_offset(target);
  return "";
}

std::string rip_relative_comment(const Listing& listing, const std::vector<DataRegion>& regions,
                                 const ZydisDecodedInstruction& instruction, const ZydisDecodedOperand* operands,
                                 size_t offset) {
  for (int i = 0; i < instruction.operand_count_visible; ++i) {
    const ZydisDecodedOperand& operand = operands[i];
    if (operand.type != ZYDIS_OPERAND_TYPE_MEMORY || operand.mem.base != ZYDIS_REGISTER_RIP) continue;
    ZyanU64 target = 0;
    if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&instruction, &operand, offset, &target))) continue;
    return describe_target(listing, regions, static_cast<size_t>(target));
  }
  return "";
}

// A sweep begins at a marker "sweep N" (exactly: not "sweep N results").
std::optional<int> sweep_start(const std::string& marker) {
  constexpr std::string_view kPrefix = "sweep ";
  if (!marker.starts_with(kPrefix) || marker.size() == kPrefix.size()) return std::nullopt;
  int index = 0;
  for (size_t i = kPrefix.size(); i < marker.size(); ++i) {
    if (marker[i] < '0' || marker[i] > '9') return std::nullopt;
    index = index * 10 + (marker[i] - '0');
  }
  return index;
}

// The row-loop markers that end a sweep's code.
bool ends_sweep(const std::string& marker) {
  return sweep_start(marker).has_value() || marker == "next row" || marker == "epilogue" ||
         marker == "prologue";
}

void measure_sweeps(Listing& listing) {
  // The emitter marks the copy for rows held in registers from "resident
  // rows: ..." to "rows of any other length".
  bool resident = false;
  for (size_t m = 0; m < listing.markers.size(); ++m) {
    const std::string& text = listing.markers[m].text;
    if (text.starts_with("resident rows")) resident = true;
    if (text == "rows of any other length") resident = false;
    std::optional<int> index = sweep_start(text);
    if (!index) continue;
    SweepCode sweep;
    sweep.sweep = *index;
    sweep.resident = resident;
    sweep.begin = listing.markers[m].offset;
    sweep.end = listing.code_size;
    for (size_t next = m + 1; next < listing.markers.size(); ++next) {
      if (ends_sweep(listing.markers[next].text)) {
        sweep.end = listing.markers[next].offset;
        break;
      }
    }
    for (const ListedInstruction& instruction : listing.instructions) {
      if (instruction.offset >= sweep.begin && instruction.offset < sweep.end) ++sweep.instruction_count;
    }
    listing.sweeps.push_back(sweep);
  }
}

}  // namespace

std::string_view asm_syntax_name(AsmSyntax syntax) {
  return syntax == AsmSyntax::kAtt ? "att" : "intel";
}

std::optional<AsmSyntax> parse_asm_syntax(std::string_view name) {
  if (name == "intel") return AsmSyntax::kIntel;
  if (name == "att") return AsmSyntax::kAtt;
  return std::nullopt;
}

Listing disassemble(const CompiledKernel& kernel, AsmSyntax syntax) {
  Listing listing;
  listing.isa = kernel.isa;
  listing.unroll = kernel.unroll;
  listing.syntax = syntax;
  listing.total_size = kernel.bytes.size();
  listing.code_size = std::min(kernel.code_size, kernel.bytes.size());
  listing.markers = kernel.markers;
  std::stable_sort(listing.markers.begin(), listing.markers.end(),
                   [](const CodeMarker& a, const CodeMarker& b) { return a.offset < b.offset; });
  locate_pool(kernel, listing);

  ZydisDecoder decoder;
  ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisFormatter formatter;
  ZydisFormatterInit(&formatter, syntax == AsmSyntax::kAtt ? ZYDIS_FORMATTER_STYLE_ATT : ZYDIS_FORMATTER_STYLE_INTEL);
  // Branch targets and RIP-relative addresses print as offsets from the
  // kernel start, the same numbers as the offset column, without zero padding.
  ZydisFormatterSetProperty(&formatter, ZYDIS_FORMATTER_PROP_ADDR_PADDING_ABSOLUTE, ZYDIS_PADDING_DISABLED);
  ZydisFormatterSetProperty(&formatter, ZYDIS_FORMATTER_PROP_HEX_UPPERCASE, ZYAN_FALSE);

  const uint8_t* code = kernel.bytes.data();
  size_t offset = 0;
  while (offset < listing.code_size) {
    ListedInstruction listed;
    listed.offset = offset;
    ZydisDecodedInstruction instruction;
    ZydisDecodedOperand operands[ZYDIS_MAX_OPERAND_COUNT];
    char text[256];
    bool decoded =
        ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, code + offset, listing.code_size - offset, &instruction,
                                            operands)) &&
        ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&formatter, &instruction, operands,
                                                     instruction.operand_count_visible, text, sizeof text, offset,
                                                     nullptr));
    if (decoded) {
      listed.bytes.assign(code + offset, code + offset + instruction.length);
      listed.text = text;
      listed.comment = rip_relative_comment(listing, kernel.data_regions, instruction, operands, offset);
      offset += instruction.length;
    } else {
      listed.bytes.assign(code + offset, code + offset + 1);
      listed.text = "(bad)";
      offset += 1;
    }
    listing.instructions.push_back(std::move(listed));
  }
  measure_sweeps(listing);
  return listing;
}

}  // namespace rowjit::jit
