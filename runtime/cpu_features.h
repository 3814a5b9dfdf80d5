// CPU feature detection and the ISA cap: which x86 vector ISA the JIT may target on
// this machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ir/status.h"

namespace rowjit {

// Vector ISA levels the JIT can target, ordered so that a larger value is a superset.
// kAvx2 means AVX2 + FMA on ymm registers. kAvx512 means AVX-512 F, BW, DQ and VL,
// with zmm registers and opmask registers. kNone means no JIT: pipelines run on the
// reference interpreter.
enum class Isa { kNone = 0, kAvx2 = 1, kAvx512 = 2 };

// Returns "none", "avx2" or "avx512".
const char* isa_name(Isa isa);

// Parses an ISA name: "none", "avx2" or "avx512", in any letter case. Fails with
// kInvalidArgument naming the value and the accepted names.
Result<Isa> parse_isa(std::string_view name);

// Cache sizes of one core. Every field is 0 when unknown.
struct CacheSizes {
  std::size_t l1d_bytes = 0;   // L1 data cache
  std::size_t l2_bytes = 0;
  std::size_t l3_bytes = 0;    // the L3 this core shares with others
  std::size_t line_bytes = 0;  // cache line size
};

// Raw facts about the CPU as CPUID and XGETBV report them. Tests build this by hand to
// mock a machine, so it contains facts only, and best_isa() draws the conclusions.
struct CpuFeatures {
  std::string vendor;  // CPUID leaf 0 vendor string, such as "GenuineIntel" or "AuthenticAMD"
  std::string brand;   // processor brand string, surrounding spaces removed
  // Display family and model, with the extended fields folded in: the numbers that
  // /proc/cpuinfo shows.
  std::uint32_t family = 0;
  std::uint32_t model = 0;
  std::uint32_t stepping = 0;

  bool sse41 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool bmi2 = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512dq = false;
  bool avx512vl = false;
  // The OS has enabled XSAVE and XGETBV, so xcr0 is meaningful.
  bool osxsave = false;
  // XCR0: the register state the OS saves on a context switch. Bit 1 is SSE (xmm),
  // bit 2 AVX (upper ymm), bits 5-7 opmask, upper zmm0-15 and zmm16-31. 0 when
  // osxsave is false.
  std::uint64_t xcr0 = 0;

  CacheSizes caches;
};

// Reads the features of the CPU this thread runs on. Flags come from CPUID leaves 1
// and 7, XCR0 from XGETBV (read only when OSXSAVE is set, because XGETBV faults
// otherwise). Cache sizes come from CPUID leaf 0x8000001D on AMD and Hygon, leaf 4 on
// other vendors, and sysfs for whatever CPUID leaves unknown. Has no failure case: a
// fact it cannot read stays at its zero value.
CpuFeatures detect_cpu_features();

// Decodes cache sizes from the deterministic cache parameters leaf: 0x8000001D on AMD
// and Hygon when CPUID reports topology extensions, leaf 4 otherwise. Fields the leaf
// does not give stay 0.
CacheSizes read_cache_sizes_from_cpuid(std::string_view vendor);

// Reads cache sizes from a Linux cache directory such as
// "/sys/devices/system/cpu/cpu0/cache": the files level, type, size and
// coherency_line_size of each index* subfolder. Sizes may carry a K, M or G suffix
// (powers of 1024). Fields it cannot read stay 0.
CacheSizes read_cache_sizes_from_sysfs(const std::string& cache_dir);

// Returns the widest ISA that both the CPU and the OS support:
// - kAvx2 needs avx2, fma, osxsave and XCR0 bits 1-2 (xmm and ymm state) set;
// - kAvx512 needs everything kAvx2 needs, plus avx512f, bw, dq and vl, and XCR0 bits
//   1-2 and 5-7 (xmm, ymm, opmask and zmm state) set.
// A CPU that reports AVX-512 while its OS does not save opmask and zmm state gets
// kAvx2 at most, never kAvx512.
Isa best_isa(const CpuFeatures& features);

// Returns true for CPUs that execute each 512-bit operation as two 256-bit
// halves (AMD family 25 with AVX-512, Zen 4). Their zmm code does the work of
// ymm code per cycle, and the planner plans exp groups for that
// (ir::TargetDesc::split_zmm).
bool splits_zmm(const CpuFeatures& features);

// Parses a value of the ISA cap, as ROWJIT_MAX_ISA gives it: an ISA name in any
// letter case, surrounding spaces ignored. Fails with kInvalidArgument naming the
// value and the accepted values.
Result<Isa> parse_isa_cap(std::string_view value);

// Returns min(best_isa(features), cap), or best_isa(features) without a cap. A cap
// never raises the ISA above what the machine supports.
Isa effective_isa(const CpuFeatures& features, std::optional<Isa> cap);

// Reads the ISA cap from the environment variable ROWJIT_MAX_ISA on every call.
// Returns no cap when the variable is unset or empty, and the parse_isa_cap() error
// when its value is invalid.
Result<std::optional<Isa>> read_isa_cap_from_env();

// Returns the features of the host CPU, detected on the first call. Thread-safe.
const CpuFeatures& host_cpu();

// Returns the cap that host_isa() applies: the one set by set_isa_cap_for_testing()
// if any, otherwise ROWJIT_MAX_ISA as read on the first call of host_isa_cap() or
// host_isa(). An invalid ROWJIT_MAX_ISA is ignored, and its message is written to
// stderr once per process. Thread-safe.
std::optional<Isa> host_isa_cap();

// Returns effective_isa(host_cpu(), host_isa_cap()): the ISA the JIT targets on this
// machine. Thread-safe.
Isa host_isa();

// For tests and tools only: replaces the environment cap that host_isa() applies
// with `cap`, for the whole process. std::nullopt restores the ROWJIT_MAX_ISA cap.
// To lift every cap, pass Isa::kAvx512. Kernels compiled before the call keep the
// ISA they were compiled for.
void set_isa_cap_for_testing(std::optional<Isa> cap);

}  // namespace rowjit
