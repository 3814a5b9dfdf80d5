#include "runtime/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace rowjit {
namespace {

std::string errno_text(int error) { return std::strerror(error); }

// Splits "dir/name" into "dir/" and "name"; a bare name has the folder "".
std::pair<std::string, std::string> split_path(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash + 1), path.substr(slash + 1)};
}

// Checks what already sits at `path`: nothing or a regular file is replaced,
// and a symbolic link is followed to the file it names, which `final_path`
// receives. Anything else (a device such as /dev/null, a FIFO, a socket) is
// rejected, because renaming a file over it would replace the special file.
Status resolve_target(const std::string& path, std::string& final_path) {
  final_path = path;
  struct stat info;
  if (lstat(path.c_str(), &info) != 0) return Status::ok();  // nothing there yet
  if (S_ISLNK(info.st_mode)) {
    char* resolved = realpath(path.c_str(), nullptr);
    if (resolved == nullptr) {
      return Status(StatusCode::kIoError, "invalid output path: '" + path +
                                              "' is a symbolic link to a missing file; give the file path itself");
    }
    final_path = resolved;
    free(resolved);
    if (stat(final_path.c_str(), &info) != 0) return Status::ok();
  }
  if (!S_ISREG(info.st_mode)) {
    const char* kind = S_ISDIR(info.st_mode)    ? "a folder"
                       : S_ISCHR(info.st_mode)  ? "a character device"
                       : S_ISBLK(info.st_mode)  ? "a block device"
                       : S_ISFIFO(info.st_mode) ? "a FIFO"
                                                : "not a regular file";
    return Status(StatusCode::kIoError, "invalid output path: '" + path + "' is " + kind +
                                            "; rowjit writes outputs to regular files only");
  }
  return Status::ok();
}

}  // namespace

Result<AtomicFile> AtomicFile::create(const std::string& requested_path) {
  std::string path;
  ROWJIT_TRY(resolve_target(requested_path, path));
  auto [folder, name] = split_path(path);
  if (name.empty()) {
    return Status(StatusCode::kIoError,
                  "invalid output path: '" + path + "' names a folder; give a file name");
  }

  // The name is unique within this process by the counter and across processes
  // by the pid; O_EXCL makes a leftover file from a crashed run a retry, not a clash.
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string temp_path = folder + "." + name + ".tmp." + std::to_string(getpid()) + "." +
                            std::to_string(counter.fetch_add(1));
    // Mode 0666 lets the umask decide the permissions, as for any new file.
    int fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return AtomicFile(path, std::move(temp_path), fd);
    if (errno != EEXIST) {
      return Status(StatusCode::kIoError, "cannot create output file: " + path + " (" +
                                              errno_text(errno) +
                                              "); check that the folder exists and is writable");
    }
  }
  return Status(StatusCode::kIoError,
                "cannot create a temporary file next to " + path +
                    ": 100 names were taken; remove the leftover ." + name + ".tmp.* files");
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      fd_(std::exchange(other.fd_, -1)) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    discard();
    path_ = std::move(other.path_);
    temp_path_ = std::move(other.temp_path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

AtomicFile::~AtomicFile() { discard(); }

Status AtomicFile::write(std::string_view bytes) {
  if (fd_ < 0) {
    return Status(StatusCode::kInternal,
                  "write after commit or discard: " + path_ + "; this is a bug in rowjit");
  }
  while (!bytes.empty()) {
    ssize_t written = ::write(fd_, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return Status(StatusCode::kIoError, "cannot write output file: " + path_ + " (" +
                                              errno_text(errno) + "); check free disk space");
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return Status::ok();
}

Status AtomicFile::commit() {
  if (fd_ < 0) {
    return Status(StatusCode::kInternal,
                  "commit after commit or discard: " + path_ + "; this is a bug in rowjit");
  }
  // close() can report a delayed write error (NFS, full disk), so it is checked.
  int fd = std::exchange(fd_, -1);
  if (close(fd) != 0) {
    int error = errno;
    std::remove(temp_path_.c_str());
    return Status(StatusCode::kIoError, "cannot write output file: " + path_ + " (" +
                                            errno_text(error) + "); check free disk space");
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    int error = errno;
    std::remove(temp_path_.c_str());
    return Status(StatusCode::kIoError, "cannot replace output file: " + path_ + " (" +
                                            errno_text(error) +
                                            "); check that the path is not a folder");
  }
  return Status::ok();
}

void AtomicFile::discard() {
  if (fd_ < 0) return;
  close(std::exchange(fd_, -1));
  std::remove(temp_path_.c_str());
}

}  // namespace rowjit
