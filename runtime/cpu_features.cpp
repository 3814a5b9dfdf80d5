#include "runtime/cpu_features.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define ROWJIT_HAVE_CPUID 1
#else
#define ROWJIT_HAVE_CPUID 0
#endif

namespace rowjit {
namespace {

constexpr const char* kAcceptedIsaNames = "expected one of avx512, avx2, none (letter case is ignored)";

// XCR0 masks: bit 1 SSE, bit 2 AVX, bit 5 opmask, bit 6 upper halves of zmm0-15,
// bit 7 zmm16-31.
constexpr std::uint64_t kXcr0SseAvx = 0x06;             // xmm and upper ymm state
constexpr std::uint64_t kXcr0SseAvxAvx512 = 0xE6;       // plus opmask and zmm state

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char ca = static_cast<unsigned char>(a[i]);
    unsigned char cb = static_cast<unsigned char>(b[i]);
    if (std::tolower(ca) != std::tolower(cb)) return false;
  }
  return true;
}

std::string_view trim_spaces(std::string_view text) {
  const char* kSpaces = " \t\r\n";
  std::size_t begin = text.find_first_not_of(kSpaces);
  if (begin == std::string_view::npos) return {};
  std::size_t end = text.find_last_not_of(kSpaces);
  return text.substr(begin, end - begin + 1);
}

// Parses `value` as an ISA name. A failure message calls the value `subject`.
Result<Isa> parse_isa_named(std::string_view value, const char* subject) {
  for (Isa isa : {Isa::kNone, Isa::kAvx2, Isa::kAvx512}) {
    if (equals_ignoring_case(value, isa_name(isa))) return isa;
  }
  return Status(StatusCode::kInvalidArgument,
                std::string("invalid ") + subject + " '" + std::string(value) + "': " +
                    kAcceptedIsaNames);
}

#if ROWJIT_HAVE_CPUID

struct CpuidRegisters {
  std::uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegisters cpuid(std::uint32_t leaf, std::uint32_t subleaf = 0) {
  CpuidRegisters r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

bool bit(std::uint32_t value, int index) { return ((value >> index) & 1u) != 0; }

std::uint64_t read_xcr0() {
  std::uint32_t low = 0, high = 0;
  // XGETBV with ECX = 0 reads XCR0. Inline assembly avoids compiling this file with
  // -mxsave, which _xgetbv() would need.
  __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (static_cast<std::uint64_t>(high) << 32) | low;
}

std::string read_vendor(const CpuidRegisters& leaf0) {
  char text[13] = {};
  std::memcpy(text + 0, &leaf0.ebx, 4);
  std::memcpy(text + 4, &leaf0.edx, 4);
  std::memcpy(text + 8, &leaf0.ecx, 4);
  return std::string(text);
}

std::string read_brand(std::uint32_t max_extended_leaf) {
  if (max_extended_leaf < 0x80000004u) return {};
  char text[49] = {};
  for (std::uint32_t i = 0; i < 3; ++i) {
    CpuidRegisters r = cpuid(0x80000002u + i);
    std::memcpy(text + 16 * i + 0, &r.eax, 4);
    std::memcpy(text + 16 * i + 4, &r.ebx, 4);
    std::memcpy(text + 16 * i + 8, &r.ecx, 4);
    std::memcpy(text + 16 * i + 12, &r.edx, 4);
  }
  return std::string(trim_spaces(text));
}

bool is_amd_family_vendor(std::string_view vendor) {
  return vendor == "AuthenticAMD" || vendor == "HygonGenuine";
}

#endif  // ROWJIT_HAVE_CPUID

bool read_text_file(const std::filesystem::path& path, std::string& text) {
  std::ifstream in(path);
  if (!in) return false;
  std::getline(in, text);
  text = std::string(trim_spaces(text));
  return true;
}

// Parses a sysfs size such as "48K", "1024K" or "32M", or returns 0 when malformed.
std::size_t parse_sysfs_size(std::string_view text) {
  std::size_t digits = 0;
  std::size_t value = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    value = value * 10 + static_cast<std::size_t>(text[digits] - '0');
    ++digits;
  }
  if (digits == 0) return 0;
  std::string_view suffix = text.substr(digits);
  if (suffix.empty()) return value;
  if (suffix == "K") return value << 10;
  if (suffix == "M") return value << 20;
  if (suffix == "G") return value << 30;
  return 0;
}

void fill_missing_caches(CacheSizes& caches, const CacheSizes& fallback) {
  if (caches.l1d_bytes == 0) caches.l1d_bytes = fallback.l1d_bytes;
  if (caches.l2_bytes == 0) caches.l2_bytes = fallback.l2_bytes;
  if (caches.l3_bytes == 0) caches.l3_bytes = fallback.l3_bytes;
  if (caches.line_bytes == 0) caches.line_bytes = fallback.line_bytes;
}

// Encodes the test override of the ISA cap: kNoTestCap, or the value of an Isa.
constexpr int kNoTestCap = -1;
std::atomic<int> g_test_cap{kNoTestCap};

// Reads ROWJIT_MAX_ISA once per process. An invalid value is reported and ignored.
std::optional<Isa> environment_cap_once() {
  static const std::optional<Isa> cap = [] {
    Result<std::optional<Isa>> parsed = read_isa_cap_from_env();
    if (parsed.is_ok()) return *parsed;
    std::fprintf(stderr, "rowjit: warning: %s; the ISA cap is ignored, so the JIT targets %s\n",
                 parsed.status().message().c_str(), isa_name(best_isa(host_cpu())));
    return std::optional<Isa>();
  }();
  return cap;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kNone: return "none";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "unknown";
}

Result<Isa> parse_isa(std::string_view name) { return parse_isa_named(name, "ISA name"); }

Result<Isa> parse_isa_cap(std::string_view value) {
  return parse_isa_named(trim_spaces(value), "ISA cap");
}

CacheSizes read_cache_sizes_from_cpuid([[maybe_unused]] std::string_view vendor) {
  CacheSizes caches;
#if ROWJIT_HAVE_CPUID
  std::uint32_t leaf = 0;
  if (is_amd_family_vendor(vendor)) {
    std::uint32_t max_extended_leaf = __get_cpuid_max(0x80000000u, nullptr);
    if (max_extended_leaf < 0x8000001Du) return caches;
    // Leaf 0x8000001D exists only with topology extensions (0x80000001 ECX bit 22).
    if (!bit(cpuid(0x80000001u).ecx, 22)) return caches;
    leaf = 0x8000001Du;
  } else {
    // Intel's leaf 4, which HostCpu.CpuidCachesMatchSysfs compares with
    // sysfs on the host (it matched on an Intel Xeon).
    if (__get_cpuid_max(0, nullptr) < 4) return caches;
    leaf = 4;
  }

  // Both leaves share one layout: EAX[4:0] type (0 ends the list, 1 data,
  // 2 instruction, 3 unified), EAX[7:5] level, EBX ways, partitions and line size,
  // ECX sets, each stored minus one.
  constexpr std::uint32_t kMaxSubleaves = 16;
  for (std::uint32_t subleaf = 0; subleaf < kMaxSubleaves; ++subleaf) {
    CpuidRegisters r = cpuid(leaf, subleaf);
    std::uint32_t type = r.eax & 0x1F;
    if (type == 0) break;
    if (type == 2) continue;
    std::uint32_t level = (r.eax >> 5) & 0x7;
    std::size_t ways = ((r.ebx >> 22) & 0x3FF) + 1;
    std::size_t partitions = ((r.ebx >> 12) & 0x3FF) + 1;
    std::size_t line = (r.ebx & 0xFFF) + 1;
    std::size_t sets = static_cast<std::size_t>(r.ecx) + 1;
    std::size_t bytes = ways * partitions * line * sets;
    if (level == 1) {
      caches.l1d_bytes = bytes;
      caches.line_bytes = line;
    } else if (level == 2) {
      caches.l2_bytes = bytes;
    } else if (level == 3) {
      caches.l3_bytes = bytes;
    }
  }
#endif
  return caches;
}

CacheSizes read_cache_sizes_from_sysfs(const std::string& cache_dir) {
  CacheSizes caches;
  std::error_code error;
  std::filesystem::directory_iterator entries(cache_dir, error);
  if (error) return caches;

  for (const std::filesystem::directory_entry& entry : entries) {
    std::string name = entry.path().filename().string();
    if (name.rfind("index", 0) != 0) continue;
    std::string level, type, size, line;
    if (!read_text_file(entry.path() / "level", level)) continue;
    if (!read_text_file(entry.path() / "type", type)) continue;
    if (!read_text_file(entry.path() / "size", size)) continue;
    if (type == "Instruction") continue;

    std::size_t bytes = parse_sysfs_size(size);
    if (level == "1") {
      caches.l1d_bytes = bytes;
      if (read_text_file(entry.path() / "coherency_line_size", line)) {
        caches.line_bytes = parse_sysfs_size(line);
      }
    } else if (level == "2") {
      caches.l2_bytes = bytes;
    } else if (level == "3") {
      caches.l3_bytes = bytes;
    }
  }
  return caches;
}

CpuFeatures detect_cpu_features() {
  CpuFeatures features;
#if ROWJIT_HAVE_CPUID
  CpuidRegisters leaf0 = cpuid(0);
  std::uint32_t max_leaf = leaf0.eax;
  features.vendor = read_vendor(leaf0);
  features.brand = read_brand(__get_cpuid_max(0x80000000u, nullptr));

  std::size_t clflush_line_bytes = 0;
  if (max_leaf >= 1) {
    CpuidRegisters leaf1 = cpuid(1);
    std::uint32_t base_family = (leaf1.eax >> 8) & 0xF;
    std::uint32_t base_model = (leaf1.eax >> 4) & 0xF;
    // The extended family counts only when the base family is 0xF, and the extended
    // model only for families 6 and 0xF. Xbyak 6.68 uses the same rule.
    features.family = base_family;
    if (base_family == 0xF) features.family += (leaf1.eax >> 20) & 0xFF;
    features.model = base_model;
    if (base_family == 0x6 || base_family == 0xF) {
      features.model += ((leaf1.eax >> 16) & 0xF) << 4;
    }
    features.stepping = leaf1.eax & 0xF;

    features.fma = bit(leaf1.ecx, 12);
    features.sse41 = bit(leaf1.ecx, 19);
    features.osxsave = bit(leaf1.ecx, 27);
    features.avx = bit(leaf1.ecx, 28);
    features.f16c = bit(leaf1.ecx, 29);
    // EBX[15:8] is the CLFLUSH line size in 8-byte units.
    clflush_line_bytes = ((leaf1.ebx >> 8) & 0xFF) * 8;
  }
  if (max_leaf >= 7) {
    CpuidRegisters leaf7 = cpuid(7, 0);
    features.avx2 = bit(leaf7.ebx, 5);
    features.bmi2 = bit(leaf7.ebx, 8);
    features.avx512f = bit(leaf7.ebx, 16);
    features.avx512dq = bit(leaf7.ebx, 17);
    features.avx512bw = bit(leaf7.ebx, 30);
    features.avx512vl = bit(leaf7.ebx, 31);
  }
  if (features.osxsave) features.xcr0 = read_xcr0();

  features.caches = read_cache_sizes_from_cpuid(features.vendor);
  if (features.caches.line_bytes == 0) features.caches.line_bytes = clflush_line_bytes;
#endif
  CacheSizes& caches = features.caches;
  if (caches.l1d_bytes == 0 || caches.l2_bytes == 0 || caches.l3_bytes == 0 ||
      caches.line_bytes == 0) {
    fill_missing_caches(caches, read_cache_sizes_from_sysfs("/sys/devices/system/cpu/cpu0/cache"));
  }
  return features;
}

Isa best_isa(const CpuFeatures& features) {
  bool avx2 = features.avx2 && features.fma && features.osxsave &&
              (features.xcr0 & kXcr0SseAvx) == kXcr0SseAvx;
  if (!avx2) return Isa::kNone;
  bool avx512 = features.avx512f && features.avx512bw && features.avx512dq &&
                features.avx512vl && (features.xcr0 & kXcr0SseAvxAvx512) == kXcr0SseAvxAvx512;
  return avx512 ? Isa::kAvx512 : Isa::kAvx2;
}

bool splits_zmm(const CpuFeatures& features) {
  return features.vendor == "AuthenticAMD" && features.family == 25 && best_isa(features) == Isa::kAvx512;
}

Isa effective_isa(const CpuFeatures& features, std::optional<Isa> cap) {
  Isa best = best_isa(features);
  if (!cap) return best;
  return std::min(best, *cap);
}

Result<std::optional<Isa>> read_isa_cap_from_env() {
  const char* value = std::getenv("ROWJIT_MAX_ISA");
  if (value == nullptr || trim_spaces(value).empty()) return std::optional<Isa>();
  Result<Isa> cap = parse_isa_named(trim_spaces(value), "ROWJIT_MAX_ISA value");
  if (!cap.is_ok()) return cap.status();
  return std::optional<Isa>(*cap);
}

const CpuFeatures& host_cpu() {
  static const CpuFeatures features = detect_cpu_features();
  return features;
}

std::optional<Isa> host_isa_cap() {
  int test_cap = g_test_cap.load(std::memory_order_acquire);
  if (test_cap != kNoTestCap) return static_cast<Isa>(test_cap);
  return environment_cap_once();
}

Isa host_isa() { return effective_isa(host_cpu(), host_isa_cap()); }

void set_isa_cap_for_testing(std::optional<Isa> cap) {
  g_test_cap.store(cap ? static_cast<int>(*cap) : kNoTestCap, std::memory_order_release);
}

}  // namespace rowjit
