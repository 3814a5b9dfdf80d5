#include "runtime/perf_map.h"

#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace rowjit {

std::string perf_map_path() { return "/tmp/perf-" + std::to_string(static_cast<long>(::getpid())) + ".map"; }

std::string format_perf_map_line(const void* start, std::size_t size, std::string_view name) {
  char numbers[48];
  std::snprintf(numbers, sizeof(numbers), "%" PRIxPTR " %zx ", reinterpret_cast<std::uintptr_t>(start), size);
  std::string line = numbers;
  line += name;
  line += '\n';
  return line;
}

Status append_perf_map_line(const std::string& path, const void* start, std::size_t size, std::string_view name) {
  // One writer at a time, so that lines from concurrent compiles never mix.
  static std::mutex mutex;
  std::string line = format_perf_map_line(start, size, name);

  std::lock_guard<std::mutex> lock(mutex);
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (file == nullptr) {
    return Status(StatusCode::kIoError, "cannot open perf map '" + path + "' for appending: " + std::strerror(errno) +
                                            "; unset ROWJIT_PERF_MAP or make /tmp writable");
  }
  bool written = std::fwrite(line.data(), 1, line.size(), file) == line.size();
  bool closed = std::fclose(file) == 0;
  if (!written || !closed) {
    return Status(StatusCode::kIoError, "cannot write to perf map '" + path + "': " + std::strerror(errno));
  }
  return Status::ok();
}

}  // namespace rowjit
