// Environment variables that tune the runtime without a rebuild. They are read
// once per process; an invalid value is ignored with one warning line.
//
//   ROWJIT_VERBOSE=1          one log line per Compiler::compile call
//   ROWJIT_DUMP=DIR           annotated assembly of each new kernel, one file each
//   ROWJIT_PERF_MAP=1         kernel symbols appended to /tmp/perf-PID.map
//   ROWJIT_CACHE_CAPACITY=N   kernels a Compiler keeps (default 1024)
//
// ROWJIT_MAX_ISA, the ISA cap, is read by runtime/cpu_features.h.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace rowjit {

inline constexpr std::size_t kDefaultCacheCapacity = 1024;

// Runtime settings that the environment can set.
struct RuntimeKnobs {
  bool verbose = false;                            // log one line per compile call
  std::string dump_dir;                            // empty: no dumps
  bool perf_map = false;                           // append kernel symbols to /tmp/perf-PID.map
  std::size_t cache_capacity = kDefaultCacheCapacity;  // kernels kept per Compiler
};

// Knobs and the warning for each variable whose value was invalid and ignored.
struct ParsedKnobs {
  RuntimeKnobs knobs;
  std::vector<std::string> warnings;
};

// Reads the knobs through `lookup`, which returns a variable's value or null
// when it is unset. Pure, for tests: it neither logs nor reads the environment.
ParsedKnobs parse_knobs(const std::function<const char*(const char*)>& lookup);

// Returns the knobs of this process, read from the environment on the first
// call, which also logs each warning once. Thread-safe.
const RuntimeKnobs& env_knobs();

}  // namespace rowjit
