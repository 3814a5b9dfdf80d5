#include "runtime/dump.h"

#include <filesystem>
#include <sstream>
#include <system_error>

#include "ir/planner.h"
#include "ir/printer.h"
#include "jit/disassembler.h"
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
  jit::ListingOptions options;
  options.show_bytes = true;
  options.title = label;
  dump += jit::format_listing(*compiled, options);
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
