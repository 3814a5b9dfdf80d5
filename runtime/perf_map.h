// Symbols of JIT kernels for the Linux `perf` tool. perf reads
// /tmp/perf-PID.map, one "START SIZE name" line per code region (START and
// SIZE in hex without 0x, the name being the rest of the line), to name
// samples that fall in anonymous executable memory. This is the map format
// that perf documents for JIT compilers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ir/status.h"

namespace rowjit {

// Returns "/tmp/perf-<pid>.map" for this process.
std::string perf_map_path();

// Formats one map line, newline included: "7f3a2c001000 2c0 rowjit:softmax...".
std::string format_perf_map_line(const void* start, std::size_t size, std::string_view name);

// Appends one line to the map at `path`, creating the file if needed.
// Thread-safe within the process. Fails with kIoError naming the path and the
// system's reason.
//
// NOTE: perf keeps the last line it reads for an address, so when an evicted
// kernel's pages are reused by a later kernel, samples taken before the reuse
// are attributed by whichever line perf applies; lines are never removed.
Status append_perf_map_line(const std::string& path, const void* start, std::size_t size, std::string_view name);

}  // namespace rowjit
