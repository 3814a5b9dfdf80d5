#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/cpu_features.h"

namespace {

using rowjit::CacheSizes;
using rowjit::CpuFeatures;
using rowjit::Isa;
using rowjit::StatusCode;

// XCR0 values: 0x07 saves x87, xmm and ymm state, and 0xE7 adds opmask and zmm state.
constexpr std::uint64_t kXcr0Avx = 0x07;
constexpr std::uint64_t kXcr0Avx512 = 0xE7;

CpuFeatures avx2_machine() {
  CpuFeatures features;
  features.sse41 = true;
  features.avx = true;
  features.avx2 = true;
  features.fma = true;
  features.osxsave = true;
  features.xcr0 = kXcr0Avx;
  return features;
}

CpuFeatures avx512_machine() {
  CpuFeatures features = avx2_machine();
  features.avx512f = true;
  features.avx512bw = true;
  features.avx512dq = true;
  features.avx512vl = true;
  features.xcr0 = kXcr0Avx512;
  return features;
}

// Restores ROWJIT_MAX_ISA as it was when the test started.
class ScopedIsaEnv {
 public:
  ScopedIsaEnv() {
    const char* value = std::getenv("ROWJIT_MAX_ISA");
    if (value != nullptr) saved_ = value;
  }
  ~ScopedIsaEnv() {
    if (saved_) {
      setenv("ROWJIT_MAX_ISA", saved_->c_str(), 1);
    } else {
      unsetenv("ROWJIT_MAX_ISA");
    }
  }

 private:
  std::optional<std::string> saved_;
};

// The ISA that the host supports, by GCC's own CPU checks, which also test XCR0.
Isa expected_host_isa() {
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  if (avx2 && avx512) return Isa::kAvx512;
  return avx2 ? Isa::kAvx2 : Isa::kNone;
}

// Fields of the first processor in /proc/cpuinfo, keyed by name.
std::map<std::string, std::string> read_first_cpuinfo() {
  std::map<std::string, std::string> fields;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line) && !line.empty()) {
    std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    fields[key] = value;
  }
  return fields;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text << "\n";
}

void write_cache_index(const std::filesystem::path& dir, const std::string& level,
                       const std::string& type, const std::string& size) {
  std::filesystem::create_directories(dir);
  write_file(dir / "level", level);
  write_file(dir / "type", type);
  write_file(dir / "size", size);
  write_file(dir / "coherency_line_size", "64");
}

TEST(BestIsa, Avx2WithYmmState) {
  EXPECT_EQ(rowjit::best_isa(avx2_machine()), Isa::kAvx2);
}

TEST(BestIsa, Avx512WithoutZmmState) {
  CpuFeatures features = avx512_machine();
  features.xcr0 = kXcr0Avx;
  EXPECT_EQ(rowjit::best_isa(features), Isa::kAvx2);
}

TEST(BestIsa, Avx512WithoutUpperZmmState) {
  CpuFeatures features = avx512_machine();
  features.xcr0 = 0x67;  // opmask and zmm0-15 upper halves, but not zmm16-31
  EXPECT_EQ(rowjit::best_isa(features), Isa::kAvx2);
}

TEST(BestIsa, Avx512WithZmmState) {
  EXPECT_EQ(rowjit::best_isa(avx512_machine()), Isa::kAvx512);
}

TEST(BestIsa, Avx512NeedsEverySubset) {
  bool CpuFeatures::*subsets[] = {&CpuFeatures::avx512f, &CpuFeatures::avx512bw,
                                  &CpuFeatures::avx512dq, &CpuFeatures::avx512vl};
  for (bool CpuFeatures::*subset : subsets) {
    CpuFeatures features = avx512_machine();
    features.*subset = false;
    EXPECT_EQ(rowjit::best_isa(features), Isa::kAvx2);
  }
}

TEST(BestIsa, NoOsxsaveIsNone) {
  CpuFeatures features = avx512_machine();
  features.osxsave = false;
  EXPECT_EQ(rowjit::best_isa(features), Isa::kNone);
}

TEST(BestIsa, NoYmmStateIsNone) {
  CpuFeatures features = avx2_machine();
  features.xcr0 = 0x03;  // x87 and xmm only
  EXPECT_EQ(rowjit::best_isa(features), Isa::kNone);
}

TEST(BestIsa, Avx2WithoutFmaIsNone) {
  CpuFeatures features = avx2_machine();
  features.fma = false;
  EXPECT_EQ(rowjit::best_isa(features), Isa::kNone);
}

TEST(BestIsa, EmptyFeaturesIsNone) {
  EXPECT_EQ(rowjit::best_isa(CpuFeatures()), Isa::kNone);
}

// Only AMD family 25 with AVX-512 (Zen 4) splits zmm operations. Zen 3 has the
// same family and no AVX-512, and Zen 5 (family 26) runs them whole.
TEST(SplitsZmm, OnlyAmdFamily25WithAvx512) {
  CpuFeatures zen4 = avx512_machine();
  zen4.vendor = "AuthenticAMD";
  zen4.family = 25;
  EXPECT_TRUE(rowjit::splits_zmm(zen4));
  CpuFeatures zen3 = avx2_machine();
  zen3.vendor = "AuthenticAMD";
  zen3.family = 25;
  EXPECT_FALSE(rowjit::splits_zmm(zen3));
  CpuFeatures zen5 = zen4;
  zen5.family = 26;
  EXPECT_FALSE(rowjit::splits_zmm(zen5));
  CpuFeatures intel = zen4;
  intel.vendor = "GenuineIntel";
  intel.family = 6;
  EXPECT_FALSE(rowjit::splits_zmm(intel));
  CpuFeatures no_zmm_state = zen4;
  no_zmm_state.xcr0 = kXcr0Avx;
  EXPECT_FALSE(rowjit::splits_zmm(no_zmm_state));
}

TEST(IsaName, NamesAndRoundTrip) {
  EXPECT_STREQ(rowjit::isa_name(Isa::kNone), "none");
  EXPECT_STREQ(rowjit::isa_name(Isa::kAvx2), "avx2");
  EXPECT_STREQ(rowjit::isa_name(Isa::kAvx512), "avx512");
  for (Isa isa : {Isa::kNone, Isa::kAvx2, Isa::kAvx512}) {
    auto parsed = rowjit::parse_isa(rowjit::isa_name(isa));
    ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
    EXPECT_EQ(*parsed, isa);
  }
}

TEST(IsaCap, ParsesAnyCase) {
  auto upper = rowjit::parse_isa_cap("AVX512");
  ASSERT_TRUE(upper.is_ok()) << upper.status().to_string();
  EXPECT_EQ(*upper, Isa::kAvx512);

  auto mixed = rowjit::parse_isa_cap("Avx2");
  ASSERT_TRUE(mixed.is_ok()) << mixed.status().to_string();
  EXPECT_EQ(*mixed, Isa::kAvx2);

  auto padded = rowjit::parse_isa_cap(" None\n");
  ASSERT_TRUE(padded.is_ok()) << padded.status().to_string();
  EXPECT_EQ(*padded, Isa::kNone);
}

TEST(IsaCap, InvalidValueNamesAccepted) {
  auto parsed = rowjit::parse_isa_cap("sse9");
  ASSERT_FALSE(parsed.is_ok());
  const std::string message = parsed.status().message();
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(message.find("'sse9'"), std::string::npos) << message;
  EXPECT_NE(message.find("avx512"), std::string::npos) << message;
  EXPECT_NE(message.find("avx2"), std::string::npos) << message;
  EXPECT_NE(message.find("none"), std::string::npos) << message;
}

TEST(IsaCap, EmptyValueIsInvalid) {
  EXPECT_FALSE(rowjit::parse_isa_cap("").is_ok());
}

TEST(IsaCap, LowersAvx512ToAvx2) {
  EXPECT_EQ(rowjit::effective_isa(avx512_machine(), Isa::kAvx2), Isa::kAvx2);
}

TEST(IsaCap, NoneDisablesJit) {
  EXPECT_EQ(rowjit::effective_isa(avx512_machine(), Isa::kNone), Isa::kNone);
}

TEST(IsaCap, NeverRaisesIsa) {
  EXPECT_EQ(rowjit::effective_isa(avx2_machine(), Isa::kAvx512), Isa::kAvx2);
  EXPECT_EQ(rowjit::effective_isa(CpuFeatures(), Isa::kAvx2), Isa::kNone);
}

TEST(IsaCap, AbsentKeepsBest) {
  EXPECT_EQ(rowjit::effective_isa(avx512_machine(), std::nullopt), Isa::kAvx512);
}

TEST(IsaCap, ReadsEnvironment) {
  ScopedIsaEnv restore;

  unsetenv("ROWJIT_MAX_ISA");
  auto unset = rowjit::read_isa_cap_from_env();
  ASSERT_TRUE(unset.is_ok()) << unset.status().to_string();
  EXPECT_FALSE(unset->has_value());

  setenv("ROWJIT_MAX_ISA", "", 1);
  auto empty = rowjit::read_isa_cap_from_env();
  ASSERT_TRUE(empty.is_ok()) << empty.status().to_string();
  EXPECT_FALSE(empty->has_value());

  setenv("ROWJIT_MAX_ISA", "AVX2", 1);
  auto avx2 = rowjit::read_isa_cap_from_env();
  ASSERT_TRUE(avx2.is_ok()) << avx2.status().to_string();
  EXPECT_EQ(*avx2, std::optional<Isa>(Isa::kAvx2));

  setenv("ROWJIT_MAX_ISA", "sse9", 1);
  auto invalid = rowjit::read_isa_cap_from_env();
  ASSERT_FALSE(invalid.is_ok());
  EXPECT_NE(invalid.status().message().find("ROWJIT_MAX_ISA"), std::string::npos);
  EXPECT_NE(invalid.status().message().find("'sse9'"), std::string::npos);
}

TEST(IsaCap, TestOverrideCapsHost) {
  Isa best = expected_host_isa();

  rowjit::set_isa_cap_for_testing(Isa::kNone);
  EXPECT_EQ(rowjit::host_isa_cap(), std::optional<Isa>(Isa::kNone));
  EXPECT_EQ(rowjit::host_isa(), Isa::kNone);

  rowjit::set_isa_cap_for_testing(Isa::kAvx2);
  EXPECT_EQ(rowjit::host_isa(), best == Isa::kNone ? Isa::kNone : Isa::kAvx2);

  rowjit::set_isa_cap_for_testing(Isa::kAvx512);
  EXPECT_EQ(rowjit::host_isa(), best);

  rowjit::set_isa_cap_for_testing(std::nullopt);
}

TEST(CacheSizes, ReadsSysfsLayout) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("rowjit_cache_test_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  write_cache_index(dir / "index0", "1", "Data", "48K");
  write_cache_index(dir / "index1", "1", "Instruction", "32K");
  write_cache_index(dir / "index2", "2", "Unified", "2048K");
  write_cache_index(dir / "index3", "3", "Unified", "36M");

  CacheSizes caches = rowjit::read_cache_sizes_from_sysfs(dir.string());
  std::filesystem::remove_all(dir);

  EXPECT_EQ(caches.l1d_bytes, 48u * 1024);
  EXPECT_EQ(caches.l2_bytes, 2048u * 1024);
  EXPECT_EQ(caches.l3_bytes, 36u * 1024 * 1024);
  EXPECT_EQ(caches.line_bytes, 64u);
}

TEST(CacheSizes, MissingSysfsIsZero) {
  CacheSizes caches = rowjit::read_cache_sizes_from_sysfs("/nonexistent/rowjit/cache");
  EXPECT_EQ(caches.l1d_bytes, 0u);
  EXPECT_EQ(caches.l2_bytes, 0u);
  EXPECT_EQ(caches.l3_bytes, 0u);
  EXPECT_EQ(caches.line_bytes, 0u);
}

TEST(HostCpu, PrintsAndIsSane) {
  const CpuFeatures& cpu = rowjit::host_cpu();
  std::printf("vendor %s, brand '%s', family 0x%x model 0x%x stepping %u\n",
              cpu.vendor.c_str(), cpu.brand.c_str(), cpu.family, cpu.model, cpu.stepping);
  std::printf("sse4.1 %d avx %d avx2 %d fma %d f16c %d bmi2 %d avx512 f %d bw %d dq %d vl %d\n",
              cpu.sse41, cpu.avx, cpu.avx2, cpu.fma, cpu.f16c, cpu.bmi2, cpu.avx512f,
              cpu.avx512bw, cpu.avx512dq, cpu.avx512vl);
  std::printf("osxsave %d xcr0 0x%llx, best ISA %s, host ISA %s\n", cpu.osxsave,
              static_cast<unsigned long long>(cpu.xcr0), rowjit::isa_name(rowjit::best_isa(cpu)),
              rowjit::isa_name(rowjit::host_isa()));
  std::printf("L1d %zu, L2 %zu, L3 %zu bytes, line %zu bytes\n", cpu.caches.l1d_bytes,
              cpu.caches.l2_bytes, cpu.caches.l3_bytes, cpu.caches.line_bytes);

  EXPECT_FALSE(cpu.vendor.empty());
  EXPECT_GT(cpu.caches.l1d_bytes, 0u);
  EXPECT_GT(cpu.caches.line_bytes, 0u);
  EXPECT_EQ(rowjit::best_isa(cpu), expected_host_isa());
  __builtin_cpu_init();
  EXPECT_EQ(cpu.sse41, __builtin_cpu_supports("sse4.1") != 0);
}

TEST(HostCpu, SameFromEveryThread) {
  constexpr int kThreads = 4;
  std::vector<const CpuFeatures*> features(kThreads, nullptr);
  std::vector<Isa> isas(kThreads, Isa::kNone);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&features, &isas, i] {
      features[i] = &rowjit::host_cpu();
      isas[i] = rowjit::host_isa();
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int i = 1; i < kThreads; ++i) {
    EXPECT_EQ(features[i], features[0]) << "thread " << i;
    EXPECT_EQ(isas[i], isas[0]) << "thread " << i;
  }
}

TEST(HostCpu, AgreesWithProcCpuinfo) {
  std::map<std::string, std::string> info = read_first_cpuinfo();
  if (info.empty()) GTEST_SKIP() << "/proc/cpuinfo is not readable";
  const CpuFeatures& cpu = rowjit::host_cpu();

  EXPECT_EQ(cpu.vendor, info["vendor_id"]);
  EXPECT_EQ(std::to_string(cpu.family), info["cpu family"]);
  EXPECT_EQ(std::to_string(cpu.model), info["model"]);
  EXPECT_EQ(std::to_string(cpu.stepping), info["stepping"]);

  // The kernel may hide a flag that CPUID reports, but never shows one CPUID lacks.
  std::set<std::string> flags;
  std::istringstream words(info["flags"]);
  for (std::string word; words >> word;) flags.insert(word);
  std::map<std::string, bool> detected = {
      {"sse4_1", cpu.sse41},      {"avx", cpu.avx},           {"avx2", cpu.avx2},
      {"fma", cpu.fma},           {"f16c", cpu.f16c},         {"bmi2", cpu.bmi2},
      {"avx512f", cpu.avx512f},   {"avx512bw", cpu.avx512bw}, {"avx512dq", cpu.avx512dq},
      {"avx512vl", cpu.avx512vl},
  };
  for (const auto& [flag, value] : detected) {
    if (flags.count(flag) != 0) {
      EXPECT_TRUE(value) << flag;
    }
  }
}

TEST(HostCpu, CpuidCachesMatchSysfs) {
  const std::string dir = "/sys/devices/system/cpu/cpu0/cache";
  CacheSizes sysfs = rowjit::read_cache_sizes_from_sysfs(dir);
  CacheSizes cpuid = rowjit::read_cache_sizes_from_cpuid(rowjit::host_cpu().vendor);
  if (sysfs.l1d_bytes == 0 || cpuid.l1d_bytes == 0) {
    GTEST_SKIP() << "cache sizes unavailable from sysfs or CPUID";
  }

  EXPECT_EQ(cpuid.l1d_bytes, sysfs.l1d_bytes);
  EXPECT_EQ(cpuid.l2_bytes, sysfs.l2_bytes);
  EXPECT_EQ(cpuid.l3_bytes, sysfs.l3_bytes);
  EXPECT_EQ(cpuid.line_bytes, sysfs.line_bytes);
}

}  // namespace
