// A small JSON reader and the writing helpers for the files the runtime owns
// (the tuning file). It covers RFC 8259 except \u escapes outside ASCII, which
// such files never need; it rejects them with a message instead of guessing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ir/status.h"

namespace rowjit {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  // Members in file order; parse_json() rejects duplicate names.
  std::vector<std::pair<std::string, JsonValue>> members;

  // Returns the member `name` of an object, or null when it is absent or this
  // is not an object.
  const JsonValue* find(std::string_view name) const;
};

// Returns "null", "boolean", "number", "string", "array" or "object".
const char* json_kind_name(JsonValue::Kind kind);

// Parses one JSON text. Fails with kParseError naming the line, the column
// and what was expected, for truncated text and trailing garbage too. Nesting
// deeper than 64 levels is rejected, so a hostile file cannot exhaust the stack.
Result<JsonValue> parse_json(std::string_view text);

// Returns `text` as a JSON string literal, quotes included. Control bytes are
// escaped; other bytes pass through, so UTF-8 stays UTF-8.
std::string json_quote(std::string_view text);

// Formats a finite double in the shortest form that parses back to the same
// value; non-finite values, which JSON cannot represent, become null.
std::string json_number(double value);

}  // namespace rowjit
