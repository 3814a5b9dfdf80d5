#include "tools/memory_budget.h"

#include <sys/sysinfo.h>

#include <cstdio>

namespace rowjit::cli {

std::optional<int64_t> memory_and_swap_bytes() {
  struct sysinfo info {};
  if (sysinfo(&info) != 0) return std::nullopt;
  unsigned __int128 total = static_cast<unsigned __int128>(info.totalram) + info.totalswap;
  total *= info.mem_unit;
  if (total == 0) return std::nullopt;
  if (total > static_cast<unsigned __int128>(INT64_MAX)) return INT64_MAX;
  return static_cast<int64_t>(total);
}

std::string describe_bytes(int64_t bytes) {
  char text[96];
  std::snprintf(text, sizeof text, "%lld bytes (%.1f GiB)", static_cast<long long>(bytes),
                static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

std::string describe_rows(const ir::RunArgs& args) {
  return "rows x n = " + std::to_string(args.rows) + " x " + std::to_string(args.n);
}

}  // namespace rowjit::cli
