#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>
#include <xbyak/xbyak.h>

#include "jit/exec_memory.h"

namespace {

using rowjit::StatusCode;
using rowjit::jit::ExecMemoryPolicy;
using rowjit::jit::ExecutableBuffer;

// x86-64 encoding of `mov eax, 42; ret`: B8+rd id is MOV r32, imm32 and C3 is near
// RET.
const std::vector<std::uint8_t> kReturn42 = {0xB8, 0x2A, 0x00, 0x00, 0x00, 0xC3};

// Sets an exec memory policy for one test and restores kNormal on exit.
class ScopedExecMemoryPolicy {
 public:
  explicit ScopedExecMemoryPolicy(ExecMemoryPolicy policy) {
    rowjit::jit::set_exec_memory_policy_for_testing(policy);
  }
  ~ScopedExecMemoryPolicy() {
    rowjit::jit::set_exec_memory_policy_for_testing(ExecMemoryPolicy::kNormal);
  }
};

template <typename Function>
Function entry_as(const ExecutableBuffer& buffer) {
  return reinterpret_cast<Function>(const_cast<void*>(buffer.entry()));
}

struct Mapping {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  std::string permissions;
  std::string line;
};

std::vector<Mapping> read_self_maps() {
  std::vector<Mapping> mappings;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    Mapping mapping;
    char permissions[8] = {};
    unsigned long begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx %7s", &begin, &end, permissions) != 3) continue;
    mapping.begin = begin;
    mapping.end = end;
    mapping.permissions = permissions;
    mapping.line = line;
    mappings.push_back(mapping);
  }
  return mappings;
}

TEST(ExecMemory, RunsRawBytes) {
  auto buffer = ExecutableBuffer::create(kReturn42.data(), kReturn42.size());
  ASSERT_TRUE(buffer.is_ok()) << buffer.status().to_string();
  EXPECT_EQ(entry_as<int (*)()>(*buffer)(), 42);
}

TEST(ExecMemory, RunsXbyakCode) {
  // DontSetProtectRWE keeps Xbyak's own buffer plain read-write memory.
  Xbyak::CodeGenerator generator(4096, Xbyak::DontSetProtectRWE);
  generator.mov(generator.eax, generator.edi);
  generator.add(generator.eax, generator.esi);
  generator.ret();

  auto buffer = ExecutableBuffer::create(generator.getCode(), generator.getSize());
  ASSERT_TRUE(buffer.is_ok()) << buffer.status().to_string();
  EXPECT_EQ(entry_as<int (*)(int, int)>(*buffer)(40, 2), 42);
}

TEST(ExecMemory, CopiesCodeAndPadsWithInt3) {
  auto buffer = ExecutableBuffer::create(kReturn42.data(), kReturn42.size());
  ASSERT_TRUE(buffer.is_ok()) << buffer.status().to_string();
  const auto* bytes = static_cast<const std::uint8_t*>(buffer->entry());
  long page = sysconf(_SC_PAGESIZE);

  EXPECT_EQ(buffer->size(), kReturn42.size());
  EXPECT_EQ(buffer->mapped_size(), static_cast<std::size_t>(page));
  EXPECT_EQ(std::memcmp(bytes, kReturn42.data(), kReturn42.size()), 0);
  EXPECT_EQ(bytes[kReturn42.size()], 0xCC);
  EXPECT_EQ(bytes[buffer->mapped_size() - 1], 0xCC);
}

TEST(ExecMemory, NoRwxMappingWhileAlive) {
  auto buffer = ExecutableBuffer::create(kReturn42.data(), kReturn42.size());
  ASSERT_TRUE(buffer.is_ok()) << buffer.status().to_string();
  auto entry = reinterpret_cast<std::uintptr_t>(buffer->entry());

  std::string rwx_lines;
  std::string entry_permissions;
  for (const Mapping& mapping : read_self_maps()) {
    if (mapping.permissions.rfind("rwx", 0) == 0) rwx_lines += mapping.line + "\n";
    if (entry >= mapping.begin && entry < mapping.end) entry_permissions = mapping.permissions;
  }

  EXPECT_EQ(rwx_lines, "") << "writable and executable mappings in /proc/self/maps";
  EXPECT_EQ(entry_permissions, "r-xp");
}

TEST(ExecMemory, DenyWriteExecTogetherStillWorks) {
  ScopedExecMemoryPolicy policy(ExecMemoryPolicy::kDenyWriteExecTogether);
  auto buffer = ExecutableBuffer::create(kReturn42.data(), kReturn42.size());
  ASSERT_TRUE(buffer.is_ok()) << buffer.status().to_string();
  EXPECT_EQ(entry_as<int (*)()>(*buffer)(), 42);
}

TEST(ExecMemory, DenyRwToRxFails) {
  {
    ScopedExecMemoryPolicy policy(ExecMemoryPolicy::kDenyRwToRx);
    auto buffer = ExecutableBuffer::create(kReturn42.data(), kReturn42.size());
    ASSERT_FALSE(buffer.is_ok());
    const std::string message = buffer.status().message();
    EXPECT_EQ(buffer.status().code(), StatusCode::kExecMemoryDenied);
    EXPECT_NE(message.find("mprotect"), std::string::npos) << message;
    EXPECT_NE(message.find(std::strerror(EACCES)), std::string::npos) << message;
    EXPECT_NE(message.find("ROWJIT_MAX_ISA=none"), std::string::npos) << message;
    EXPECT_NE(message.find("interpreter"), std::string::npos) << message;
  }

  // With the normal policy back, creation works again.
  auto buffer = ExecutableBuffer::create(kReturn42.data(), kReturn42.size());
  ASSERT_TRUE(buffer.is_ok()) << buffer.status().to_string();
  EXPECT_EQ(entry_as<int (*)()>(*buffer)(), 42);
}

TEST(ExecMemory, MoveConstructEmptiesSource) {
  auto created = ExecutableBuffer::create(kReturn42.data(), kReturn42.size());
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  ExecutableBuffer source = std::move(created).value();
  const void* entry = source.entry();

  ExecutableBuffer target(std::move(source));
  EXPECT_EQ(source.entry(), nullptr);
  EXPECT_EQ(source.size(), 0u);
  EXPECT_EQ(source.mapped_size(), 0u);
  EXPECT_TRUE(source.empty());
  EXPECT_EQ(target.entry(), entry);
  EXPECT_EQ(entry_as<int (*)()>(target)(), 42);
}

TEST(ExecMemory, MoveAssignReplacesAndEmpties) {
  auto first = ExecutableBuffer::create(kReturn42.data(), kReturn42.size());
  auto second = ExecutableBuffer::create(kReturn42.data(), kReturn42.size());
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  ExecutableBuffer target = std::move(first).value();
  ExecutableBuffer source = std::move(second).value();
  const void* source_entry = source.entry();

  target = std::move(source);
  EXPECT_TRUE(source.empty());
  EXPECT_EQ(target.entry(), source_entry);
  EXPECT_EQ(entry_as<int (*)()>(target)(), 42);

  // Self-assignment through an alias keeps the buffer, and an empty buffer can be
  // assigned to and destroyed.
  ExecutableBuffer& alias = target;
  target = std::move(alias);
  EXPECT_EQ(target.entry(), source_entry);
  source = ExecutableBuffer();
  EXPECT_TRUE(source.empty());
}

TEST(ExecMemory, ZeroSizeIsInvalidArgument) {
  auto buffer = ExecutableBuffer::create(kReturn42.data(), 0);
  ASSERT_FALSE(buffer.is_ok());
  EXPECT_EQ(buffer.status().code(), StatusCode::kInvalidArgument);
}

TEST(ExecMemory, NullCodeIsInvalidArgument) {
  auto buffer = ExecutableBuffer::create(nullptr, 16);
  ASSERT_FALSE(buffer.is_ok());
  EXPECT_EQ(buffer.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
