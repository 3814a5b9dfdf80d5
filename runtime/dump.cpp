#include "runtime/dump.h"

#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "ir/planner.h"
#include "ir/printer.h"
#include "runtime/atomic_file.h"
#include "runtime/compiler.h"

namespace rowjit {
namespace {

// Prefixes every line of `text` with "; ".
std::string as_comment_lines(const std::string& text) {
  std::string out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) out += "; " + line + "\n";
  return out;
}

// Writes the machine code as hex, 16 bytes a line, with each emitter marker
// as a comment line before the bytes at its offset, then the constant pool.
std::string format_code_bytes(const jit::CompiledKernel& compiled) {
  std::string out = "; " + std::to_string(compiled.code_size) + " code bytes, unroll " +
                    std::to_string(compiled.unroll) + "\n";
  size_t next_marker = 0;
  size_t offset = 0;
  char text[48];
  while (offset < compiled.code_size) {
    while (next_marker < compiled.markers.size() && compiled.markers[next_marker].offset <= offset) {
      out += "; " + compiled.markers[next_marker++].text + "\n";
    }
    size_t end = std::min(offset + 16, compiled.code_size);
    if (next_marker < compiled.markers.size()) end = std::min(end, compiled.markers[next_marker].offset);
    std::snprintf(text, sizeof(text), "%04zx:", offset);
    out += text;
    for (; offset < end; ++offset) {
      std::snprintf(text, sizeof(text), " %02x", compiled.bytes[offset]);
      out += text;
    }
    out += "\n";
  }
  out += "; constant pool\n";
  for (size_t slot = 0; slot < compiled.constants.size(); ++slot) {
    std::snprintf(text, sizeof(text), "c%zu: 0x%08x\n", slot, compiled.constants[slot]);
    out += text;
  }
  return out;
}

}  // namespace

std::string format_kernel_dump(const std::string& label, const Kernel& kernel) {
  std::string dump = "; kernel " + label + "\n";
  dump += "; isa " + std::string(isa_name(kernel.isa())) + ", softmax form " +
          std::string(ir::softmax_form_name(kernel.plan().softmax_form)) + "\n;\n";
  dump += as_comment_lines(ir::print_pipeline(kernel.pipeline()));
  dump += ";\n";
  dump += as_comment_lines(ir::print_plan(kernel.pipeline(), kernel.plan()));
  dump += "\n";

  const jit::CompiledKernel* compiled = kernel.compiled();
  if (compiled == nullptr) {
    dump += "; no machine code: runs on the reference interpreter: " + kernel.plan().unsupported_reason + "\n";
    return dump;
  }
  dump += format_code_bytes(*compiled);
  return dump;
}

Result<std::string> write_kernel_dump(const std::string& dir, const std::string& label, const Kernel& kernel) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return Status(StatusCode::kIoError, "cannot create dump folder '" + dir + "': " + error.message());
  }
  std::string path = (std::filesystem::path(dir) / (label + ".asm")).string();
  auto file = AtomicFile::create(path);
  if (!file) return file.status();
  ROWJIT_TRY(file->write(format_kernel_dump(label, kernel)));
  ROWJIT_TRY(file->commit());
  return path;
}

}  // namespace rowjit
