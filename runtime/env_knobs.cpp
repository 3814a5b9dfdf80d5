#include "runtime/env_knobs.h"

#include <charconv>
#include <cstdlib>
#include <string_view>

#include "runtime/log.h"

namespace rowjit {
namespace {

std::string_view trim(std::string_view text) {
  const char* kSpaces = " \t\r\n";
  size_t begin = text.find_first_not_of(kSpaces);
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(kSpaces);
  return text.substr(begin, end - begin + 1);
}

// Parses a switch: unset or empty is off, "0" off, "1" on.
bool parse_switch(const char* name, const char* raw, std::vector<std::string>& warnings) {
  if (raw == nullptr) return false;
  std::string_view value = trim(raw);
  if (value.empty() || value == "0") return false;
  if (value == "1") return true;
  warnings.push_back(std::string("ignoring ") + name + "='" + raw + "': expected 0 or 1");
  return false;
}

std::size_t parse_capacity(const char* raw, std::vector<std::string>& warnings) {
  if (raw == nullptr) return kDefaultCacheCapacity;
  std::string_view value = trim(raw);
  if (value.empty()) return kDefaultCacheCapacity;
  std::size_t capacity = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), capacity);
  if (error != std::errc() || end != value.data() + value.size()) {
    warnings.push_back(std::string("ignoring ROWJIT_CACHE_CAPACITY='") + raw +
                       "': expected a number of kernels such as 1024 (0 keeps none); using " +
                       std::to_string(kDefaultCacheCapacity));
    return kDefaultCacheCapacity;
  }
  return capacity;
}

}  // namespace

ParsedKnobs parse_knobs(const std::function<const char*(const char*)>& lookup) {
  ParsedKnobs parsed;
  parsed.knobs.verbose = parse_switch("ROWJIT_VERBOSE", lookup("ROWJIT_VERBOSE"), parsed.warnings);
  parsed.knobs.perf_map = parse_switch("ROWJIT_PERF_MAP", lookup("ROWJIT_PERF_MAP"), parsed.warnings);
  parsed.knobs.cache_capacity = parse_capacity(lookup("ROWJIT_CACHE_CAPACITY"), parsed.warnings);
  if (const char* dir = lookup("ROWJIT_DUMP")) parsed.knobs.dump_dir = std::string(trim(dir));
  return parsed;
}

const RuntimeKnobs& env_knobs() {
  static const RuntimeKnobs knobs = [] {
    ParsedKnobs parsed = parse_knobs([](const char* name) { return std::getenv(name); });
    for (const std::string& warning : parsed.warnings) log_line(warning);
    return parsed.knobs;
  }();
  return knobs;
}

}  // namespace rowjit
