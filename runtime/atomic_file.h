// A file that appears at its path complete or not at all.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "ir/status.h"

namespace rowjit {

// Writes go to a temporary file in the destination folder, and commit() renames
// it over the destination. Rename within one folder is atomic on POSIX file
// systems, so readers see the old file or the whole new one, never a prefix.
// The destructor removes the temporary file unless commit() succeeded.
class AtomicFile {
 public:
  // Creates the temporary file. Fails with kIoError when the folder is missing
  // or not writable, so callers can check every output before a long run.
  static Result<AtomicFile> create(const std::string& path);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // Appends `bytes` to the temporary file.
  Status write(std::string_view bytes);

  // Closes the temporary file and renames it to path(). On failure the
  // temporary file is removed and the destination is left as it was.
  Status commit();

  // Removes the temporary file; the destination is left as it was.
  void discard();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFile(std::string path, std::string temp_path, int fd)
      : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;  // -1 once committed or discarded
};

}  // namespace rowjit
