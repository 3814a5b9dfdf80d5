#include "tools/output_files.h"

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
    Result<std::string> bytes = encode_npy(array->second);
    if (!bytes) return run_failure(bytes.status());
    Status written = file.write(*bytes);
    if (!written) return run_failure(written);
  }
  for (auto& [name, file] : files_) {
    Status committed = file.commit();
    if (!committed) return run_failure(committed);
  }
  return command_ok();
}

}  // namespace rowjit::cli
