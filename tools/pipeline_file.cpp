#include "tools/pipeline_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ir/parser.h"

namespace rowjit::cli {
namespace {

CommandResult<std::string> read_text(const std::string& path) {
  // Checked before opening, which would wait for a writer on a FIFO.
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    return run_failure("pipeline file is not a regular file", path, "give the path of a pipeline text file (.rj)");
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    if (errno == ENOENT) return run_failure("pipeline file not found", path, "check the path");
    return run_failure("cannot open pipeline file", path + " (" + std::strerror(errno) + ")",
                       "check the path and the file's permissions");
  }
  std::string text;
  char buffer[4096];
  size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, count);
  bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) {
    return run_failure("cannot read pipeline file", path, "check that it is a readable text file");
  }
  return text;
}

}  // namespace

CommandResult<ir::Pipeline> load_pipeline(const std::string& path) {
  CommandResult<std::string> text = read_text(path);
  if (!text) return text.error();
  Result<ir::Pipeline> pipeline = ir::parse_pipeline(*text);
  if (!pipeline) {
    return run_failure("invalid pipeline", path + ": " + pipeline.status().message(),
                       "fix the pipeline text, whose format docs/ir.md describes");
  }
  return std::move(pipeline).value();
}

}  // namespace rowjit::cli
