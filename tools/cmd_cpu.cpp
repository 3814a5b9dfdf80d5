// `rowjit cpu`: prints what rowjit detected about this CPU and OS, and the
// instruction set its kernels use here.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

#include "runtime/cpu_features.h"
#include "runtime/tuning_file.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace rowjit::cli {
namespace {

constexpr OptionSpec kCpuOptions[] = {
    {"--help", "", "print this help and exit", false},
};

constexpr const char* kCpuHelpIntro =
    "Usage: rowjit cpu\n"
    "\n"
    "Prints what rowjit detected about this machine: vendor, brand, family, model and\n"
    "stepping; the CPU features the JIT uses; XCR0 and the register state the OS saves\n"
    "(ymm, opmask and zmm); cache sizes; the best instruction set, the ROWJIT_MAX_ISA\n"
    "cap and the instruction set in use; and the tuning file.\n"
    "\n"
    "Options:\n";

constexpr const char* kCpuHelpOutro =
    "\n"
    "Exit status: 0 on success, 2 for an invalid command line.\n";

void print_cpu_help() {
  std::fputs(kCpuHelpIntro, stdout);
  std::fputs(format_options_help(kCpuOptions).c_str(), stdout);
  std::fputs(kCpuHelpOutro, stdout);
}

struct Feature {
  const char* name;
  bool CpuFeatures::*flag;
};

constexpr Feature kFeatures[] = {
    {"sse4.1", &CpuFeatures::sse41},      {"avx", &CpuFeatures::avx},
    {"avx2", &CpuFeatures::avx2},         {"fma", &CpuFeatures::fma},
    {"f16c", &CpuFeatures::f16c},         {"bmi2", &CpuFeatures::bmi2},
    {"avx512f", &CpuFeatures::avx512f},   {"avx512bw", &CpuFeatures::avx512bw},
    {"avx512dq", &CpuFeatures::avx512dq}, {"avx512vl", &CpuFeatures::avx512vl},
    {"osxsave", &CpuFeatures::osxsave},
};

// XCR0 state components, by bit number.
struct XsaveComponent {
  int bit;
  const char* name;
};

constexpr XsaveComponent kXsaveComponents[] = {
    {0, "x87"},      {1, "sse"},       {2, "avx"},       {3, "bndregs"},  {4, "bndcsr"}, {5, "opmask"},
    {6, "zmm_hi256"}, {7, "hi16_zmm"}, {9, "pkru"},      {17, "tilecfg"}, {18, "tiledata"},
};

std::string xcr0_components(uint64_t xcr0) {
  std::vector<std::string> names;
  uint64_t named = 0;
  for (const XsaveComponent& component : kXsaveComponents) {
    named |= uint64_t{1} << component.bit;
    if (xcr0 & (uint64_t{1} << component.bit)) names.emplace_back(component.name);
  }
  for (int bit = 0; bit < 64; ++bit) {
    if ((xcr0 & ~named) & (uint64_t{1} << bit)) names.push_back("bit " + std::to_string(bit));
  }
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text.empty() ? "no state" : text;
}

std::string yes_no(bool value) { return value ? "yes" : "no"; }

std::string format_cache(std::size_t bytes) {
  if (bytes == 0) return "unknown";
  constexpr std::size_t kKiB = 1024;
  constexpr std::size_t kMiB = 1024 * 1024;
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  if (bytes % kKiB == 0) return std::to_string(bytes / kKiB) + " KiB";
  return std::to_string(bytes) + " bytes";
}

std::string describe_os_state(const CpuFeatures& cpu) {
  if (!cpu.osxsave) return "OS saves: unknown, because the OS has not enabled XSAVE (no ymm or zmm use)\n";
  auto has = [&](int bit) { return (cpu.xcr0 >> bit) & 1; };
  std::ostringstream out;
  out << "OS saves: xmm " << yes_no(has(1)) << ", ymm " << yes_no(has(1) && has(2)) << ", opmask "
      << yes_no(has(5)) << ", zmm " << yes_no(has(6) && has(7)) << "\n";
  return out.str();
}

std::string describe_cap() {
  const char* value = std::getenv("ROWJIT_MAX_ISA");
  if (value == nullptr || *value == '\0') return "no cap (ROWJIT_MAX_ISA not set)";
  Result<std::optional<Isa>> cap = read_isa_cap_from_env();
  if (!cap) return std::string("no cap (ROWJIT_MAX_ISA='") + value + "' is invalid and ignored)";
  if (!*cap) return "no cap (ROWJIT_MAX_ISA not set)";
  return std::string(isa_name(**cap)) + " (ROWJIT_MAX_ISA=" + value + ")";
}

// Names the file that ROWJIT_TUNING_FILE points at and what the runtime made
// of it: the number of entries for this CPU, or why it is not used (the
// loader logs the reason on stderr).
std::string describe_tuning_file() {
  const char* path = std::getenv("ROWJIT_TUNING_FILE");
  if (path == nullptr || *path == '\0') return "none (ROWJIT_TUNING_FILE not set)";
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return std::string(path) + " (from ROWJIT_TUNING_FILE; file not found)";
  const TuningFile* file = process_tuning_file();
  if (file == nullptr) return std::string(path) + " (from ROWJIT_TUNING_FILE; not used, see the message above)";
  size_t count = file->entries.size();
  return std::string(path) + " (from ROWJIT_TUNING_FILE; " + std::to_string(count) +
         (count == 1 ? " entry" : " entries") + " for this CPU)";
}

std::string describe_cpu() {
  const CpuFeatures& cpu = host_cpu();
  std::ostringstream out;
  out << "vendor: " << (cpu.vendor.empty() ? "unknown" : cpu.vendor) << "\n";
  out << "brand: " << (cpu.brand.empty() ? "unknown" : cpu.brand) << "\n";
  out << "family " << cpu.family << ", model " << cpu.model << ", stepping " << cpu.stepping << "\n";

  std::string present;
  std::string missing;
  for (const Feature& feature : kFeatures) {
    std::string& list = cpu.*feature.flag ? present : missing;
    list += (list.empty() ? "" : " ") + std::string(feature.name);
  }
  out << "features: " << (present.empty() ? "none" : present) << "\n";
  out << "features missing: " << (missing.empty() ? "none" : missing) << "\n";

  if (cpu.osxsave) {
    char xcr0[32];
    std::snprintf(xcr0, sizeof xcr0, "0x%016" PRIx64, cpu.xcr0);
    out << "XCR0: " << xcr0 << " (" << xcr0_components(cpu.xcr0) << ")\n";
  } else {
    out << "XCR0: not readable\n";
  }
  out << describe_os_state(cpu);

  out << "caches: L1d " << format_cache(cpu.caches.l1d_bytes) << ", L2 " << format_cache(cpu.caches.l2_bytes)
      << ", L3 " << format_cache(cpu.caches.l3_bytes) << ", line " << format_cache(cpu.caches.line_bytes) << "\n";
  out << "best ISA: " << isa_name(best_isa(cpu)) << "\n";
  if (splits_zmm(cpu)) {
    out << "512-bit operations: two 256-bit halves each (AMD family 25); AVX-512 exps are not grouped\n";
  }
  out << "ISA cap: " << describe_cap() << "\n";
  out << "ISA in use: " << isa_name(host_isa()) << "\n";
  out << "tuning file: " << describe_tuning_file() << "\n";
  return out.str();
}

}  // namespace

int cpu_command(std::span<const std::string> args) {
  CommandResult<ParsedArguments> parsed = parse_arguments(args, kCpuOptions);
  if (!parsed) return report_error("cpu", parsed.error());
  if (!parsed->options.empty()) {
    print_cpu_help();
    return kExitSuccess;
  }
  if (!parsed->positionals.empty()) {
    return report_error("cpu", usage_error("unexpected argument", "'" + parsed->positionals[0] + "'",
                                           "rowjit cpu takes no arguments"));
  }
  std::fputs(describe_cpu().c_str(), stdout);
  return kExitSuccess;
}

}  // namespace rowjit::cli
