#include "jit/exec_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

namespace rowjit::jit {
namespace {

std::atomic<ExecMemoryPolicy> g_policy{ExecMemoryPolicy::kNormal};

bool policy_denies(int prot, bool is_mprotect) {
  bool write = (prot & PROT_WRITE) != 0;
  bool exec = (prot & PROT_EXEC) != 0;
  switch (g_policy.load(std::memory_order_relaxed)) {
    case ExecMemoryPolicy::kNormal: return false;
    case ExecMemoryPolicy::kDenyWriteExecTogether: return write && exec;
    case ExecMemoryPolicy::kDenyRwToRx: return is_mprotect && exec;
  }
  return false;
}

// mmap and mprotect through the test policy: a denied request fails with EACCES
// without reaching the kernel.
void* map_anonymous(std::size_t length, int prot) {
  if (policy_denies(prot, /*is_mprotect=*/false)) {
    errno = EACCES;
    return MAP_FAILED;
  }
  return mmap(nullptr, length, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

int protect(void* address, std::size_t length, int prot) {
  if (policy_denies(prot, /*is_mprotect=*/true)) {
    errno = EACCES;
    return -1;
  }
  return mprotect(address, length, prot);
}

Status exec_memory_denied(const char* call, std::size_t length, int error) {
  return Status(StatusCode::kExecMemoryDenied,
                std::string(call) + " of " + std::to_string(length) +
                    " bytes for JIT code failed: " + std::strerror(error) + " (errno " +
                    std::to_string(error) +
                    "). The system may forbid executable memory (for example SELinux "
                    "execmem or PaX MPROTECT); set ROWJIT_MAX_ISA=none to run the "
                    "pipeline on the reference interpreter instead.");
}

}  // namespace

Result<ExecutableBuffer> ExecutableBuffer::create(const std::uint8_t* code, std::size_t size) {
  if (size == 0) {
    return Status(StatusCode::kInvalidArgument,
                  "cannot create an executable buffer of 0 bytes: the code generator "
                  "emitted no code");
  }
  if (code == nullptr) {
    return Status(StatusCode::kInvalidArgument,
                  "cannot create an executable buffer from a null code pointer (size " +
                      std::to_string(size) + ")");
  }

  long page_size = sysconf(_SC_PAGESIZE);
  std::size_t page = page_size > 0 ? static_cast<std::size_t>(page_size) : 4096;
  if (size > SIZE_MAX - (page - 1)) {
    return Status(StatusCode::kInvalidArgument,
                  "executable buffer size " + std::to_string(size) + " bytes is too large");
  }
  std::size_t mapped_size = (size + page - 1) / page * page;

  void* mapping = map_anonymous(mapped_size, PROT_READ | PROT_WRITE);
  if (mapping == MAP_FAILED) {
    return exec_memory_denied("mmap(PROT_READ|PROT_WRITE)", mapped_size, errno);
  }

  std::memcpy(mapping, code, size);
  std::memset(static_cast<std::uint8_t*>(mapping) + size, 0xCC, mapped_size - size);

  // x86 keeps instruction fetch coherent with stores, so no cache flush is needed
  // before the code runs.
  if (protect(mapping, mapped_size, PROT_READ | PROT_EXEC) != 0) {
    int error = errno;
    munmap(mapping, mapped_size);
    return exec_memory_denied("mprotect(PROT_READ|PROT_EXEC)", mapped_size, error);
  }
  return ExecutableBuffer(mapping, size, mapped_size);
}

ExecutableBuffer::~ExecutableBuffer() { release(); }

ExecutableBuffer::ExecutableBuffer(ExecutableBuffer&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_size_(std::exchange(other.mapped_size_, 0)) {}

ExecutableBuffer& ExecutableBuffer::operator=(ExecutableBuffer&& other) noexcept {
  if (this != &other) {
    release();
    mapping_ = std::exchange(other.mapping_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_size_ = std::exchange(other.mapped_size_, 0);
  }
  return *this;
}

void ExecutableBuffer::release() {
  if (mapping_ != nullptr) munmap(mapping_, mapped_size_);
  mapping_ = nullptr;
  size_ = 0;
  mapped_size_ = 0;
}

void set_exec_memory_policy_for_testing(ExecMemoryPolicy policy) {
  g_policy.store(policy, std::memory_order_relaxed);
}

}  // namespace rowjit::jit
