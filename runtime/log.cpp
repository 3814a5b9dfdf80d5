#include "runtime/log.h"

#include <cstdio>
#include <mutex>
#include <string>

namespace rowjit {
namespace {

struct LogState {
  std::mutex mutex;
  LogSink sink = nullptr;
  void* context = nullptr;
};

LogState& log_state() {
  static LogState state;
  return state;
}

}  // namespace

void log_line(std::string_view message) {
  std::string line = "rowjit: ";
  line += message;
  LogState& state = log_state();
  std::lock_guard<std::mutex> lock(state.mutex);
  if (state.sink != nullptr) {
    state.sink(state.context, line.c_str());
    return;
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void set_log_sink(LogSink sink, void* context) {
  LogState& state = log_state();
  std::lock_guard<std::mutex> lock(state.mutex);
  state.sink = sink;
  state.context = context;
}

}  // namespace rowjit
