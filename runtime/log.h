// Log lines of the runtime: compile summaries, fallbacks to the interpreter
// and warnings about invalid knobs. Lines go to stderr, or to a sink that the
// embedding engine installs to route them into its own log.
#pragma once

#include <string_view>

namespace rowjit {

// Receives one log line, without a trailing newline. `line` is valid only
// during the call.
using LogSink = void (*)(void* context, const char* line);

// Writes "rowjit: <message>" as one line to the sink, or to stderr when no
// sink is installed. Thread-safe: lines from different threads never
// interleave. The sink is called under a lock, so it must not call
// set_log_sink() or log_line() itself.
void log_line(std::string_view message);

// Installs `sink` for every later line; a null sink restores stderr. When this
// returns, no call of the previous sink is still running.
void set_log_sink(LogSink sink, void* context);

}  // namespace rowjit
