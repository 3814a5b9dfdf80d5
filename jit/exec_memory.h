// Executable memory for JIT code, mapped under W^X: pages are writable or
// executable, never both at once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ir/status.h"

namespace rowjit::jit {

// Owner of one mmap'd region that contains finished machine code, readable and
// executable but not writable. Move-only: a moved-from buffer is empty (entry() is null, size()
// is 0) and safe to destroy or assign to.
class ExecutableBuffer {
 public:
  // Maps anonymous pages read-write, copies `size` bytes of `code` into them, fills
  // the rest of the last page with int3 (0xCC) so that a jump past the code traps,
  // then changes the protection to read-execute. The region is never writable and
  // executable at the same time.
  //
  // Fails with kInvalidArgument when `code` is null or `size` is 0. Fails with
  // kExecMemoryDenied when mmap or mprotect fails, and the message names the call and
  // the errno text and tells the caller that the pipeline can still run on the
  // reference interpreter with ROWJIT_MAX_ISA=none. Nothing stays mapped after a
  // failure.
  static Result<ExecutableBuffer> create(const std::uint8_t* code, std::size_t size);

  // An empty buffer: entry() is null and size() is 0.
  ExecutableBuffer() = default;
  ~ExecutableBuffer();

  ExecutableBuffer(ExecutableBuffer&& other) noexcept;
  ExecutableBuffer& operator=(ExecutableBuffer&& other) noexcept;
  ExecutableBuffer(const ExecutableBuffer&) = delete;
  ExecutableBuffer& operator=(const ExecutableBuffer&) = delete;

  // Address of the first code byte; null when empty. Valid while this buffer lives.
  const void* entry() const { return mapping_; }
  // Number of code bytes passed to create(); 0 when empty.
  std::size_t size() const { return size_; }
  // Length of the mapping: size() rounded up to whole pages; 0 when empty.
  std::size_t mapped_size() const { return mapped_size_; }
  bool empty() const { return mapping_ == nullptr; }

 private:
  ExecutableBuffer(void* mapping, std::size_t size, std::size_t mapped_size)
      : mapping_(mapping), size_(size), mapped_size_(mapped_size) {}
  void release();

  void* mapping_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_size_ = 0;
};

// Behaviour of the mmap and mprotect wrappers, so that tests can play a system that
// restricts executable memory.
enum class ExecMemoryPolicy {
  kNormal,                 // call mmap and mprotect as requested
  kDenyWriteExecTogether,  // fail with EACCES any request for pages both writable and executable
  kDenyRwToRx,             // fail with EACCES every mprotect that adds execute, as PaX MPROTECT does
};

// For tests only: sets the policy of every later ExecutableBuffer::create() in the
// process. Tests must restore ExecMemoryPolicy::kNormal when they finish.
void set_exec_memory_policy_for_testing(ExecMemoryPolicy policy);

}  // namespace rowjit::jit
