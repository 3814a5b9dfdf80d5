#include "tools/output_files.h"

#include <new>
#include <optional>

#include "tools/memory_budget.h"

namespace rowjit::cli {

CommandResult<OutputFiles> OutputFiles::create(const std::vector<NameValue>& outputs) {
  OutputFiles files;
  for (const NameValue& output : outputs) {
    Result<AtomicFile> file = AtomicFile::create(output.value);
    if (!file) return run_failure(file.status());
    files.files_.emplace_back(output.name, std::move(file).value());
  }
  return files;
}

CommandStatus OutputFiles::commit(const std::map<std::string, NpyArray>& arrays) {
  for (auto& [name, file] : files_) {
    auto array = arrays.find(name);
    if (array == arrays.end()) {
      return run_failure("no array for output", name, "this is a bug in rowjit run");
    }
    // Encoding copies the whole array, which can exhaust memory the run did not.
    std::optional<Result<std::string>> bytes;
    try {
      bytes = encode_npy(array->second);
    } catch (const std::bad_alloc&) {
      return run_failure("out of memory",
                         "encoding output " + name + " of " +
                             describe_bytes(static_cast<int64_t>(array->second.data.size())) +
                             " into .npy bytes failed",
                         kSmallerRunFix);
    }
    if (!*bytes) return run_failure(bytes->status());
    Status written = file.write(**bytes);
    if (!written) return run_failure(written);
  }
  for (auto& [name, file] : files_) {
    Status committed = file.commit();
    if (!committed) return run_failure(committed);
  }
  return command_ok();
}

}  // namespace rowjit::cli
