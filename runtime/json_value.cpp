#include "runtime/json_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace rowjit {
namespace {

constexpr int kMaxDepth = 64;

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  Result<JsonValue> parse() {
    JsonValue value;
    if (!parse_value(value, 0)) return error_status();
    skip_space();
    if (position_ != text_.size()) {
      fail("end of text after the top-level value");
      return error_status();
    }
    return value;
  }

 private:
  // Records the first failure; later ones are consequences of it.
  bool fail(std::string expected) {
    if (expected_.empty()) {
      expected_ = std::move(expected);
      error_position_ = position_;
    }
    return false;
  }

  Status error_status() const {
    int line = 1;
    int column = 1;
    for (size_t i = 0; i < error_position_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string found = "the end of the text";
    if (error_position_ < text_.size()) {
      unsigned char c = static_cast<unsigned char>(text_[error_position_]);
      char byte[16];
      if (c >= 0x20 && c < 0x7F) {
        std::snprintf(byte, sizeof byte, "'%c'", c);
      } else {
        std::snprintf(byte, sizeof byte, "byte 0x%02x", c);
      }
      found = byte;
    }
    return Status(StatusCode::kParseError, "not valid JSON at line " + std::to_string(line) + ", column " +
                                               std::to_string(column) + ": expected " + expected_ +
                                               ", found " + found);
  }

  void skip_space() {
    while (position_ < text_.size()) {
      char c = text_[position_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++position_;
    }
  }

  bool at(char c) const { return position_ < text_.size() && text_[position_] == c; }

  bool expect(char c) {
    skip_space();
    if (!at(c)) return fail(std::string("'") + c + "'");
    ++position_;
    return true;
  }

  bool parse_word(std::string_view word) {
    if (text_.substr(position_, word.size()) != word) return fail("a JSON value");
    position_ += word.size();
    return true;
  }

  bool parse_value(JsonValue& value, int depth) {
    skip_space();
    if (depth > kMaxDepth) return fail("nesting of at most 64 arrays and objects");
    if (position_ >= text_.size()) return fail("a JSON value");
    char c = text_[position_];
    switch (c) {
      case '{': return parse_object(value, depth);
      case '[': return parse_array(value, depth);
      case '"':
        value.kind = JsonValue::Kind::kString;
        return parse_string(value.string);
      case 't':
        value.kind = JsonValue::Kind::kBool;
        value.boolean = true;
        return parse_word("true");
      case 'f':
        value.kind = JsonValue::Kind::kBool;
        return parse_word("false");
      case 'n':
        value.kind = JsonValue::Kind::kNull;
        return parse_word("null");
      default:
        return parse_number(value);
    }
  }

  bool parse_object(JsonValue& value, int depth) {
    value.kind = JsonValue::Kind::kObject;
    ++position_;
    skip_space();
    if (at('}')) {
      ++position_;
      return true;
    }
    while (true) {
      skip_space();
      size_t name_position = position_;
      std::string name;
      if (!at('"')) return fail("a member name in double quotes");
      if (!parse_string(name)) return false;
      if (value.find(name) != nullptr) {
        position_ = name_position;
        return fail("a member name not used before in this object, not \"" + name + "\" again");
      }
      if (!expect(':')) return false;
      JsonValue member;
      if (!parse_value(member, depth + 1)) return false;
      value.members.emplace_back(std::move(name), std::move(member));
      skip_space();
      if (at(',')) {
        ++position_;
        continue;
      }
      if (at('}')) {
        ++position_;
        return true;
      }
      return fail("',' or '}'");
    }
  }

  bool parse_array(JsonValue& value, int depth) {
    value.kind = JsonValue::Kind::kArray;
    ++position_;
    skip_space();
    if (at(']')) {
      ++position_;
      return true;
    }
    while (true) {
      JsonValue element;
      if (!parse_value(element, depth + 1)) return false;
      value.array.push_back(std::move(element));
      skip_space();
      if (at(',')) {
        ++position_;
        continue;
      }
      if (at(']')) {
        ++position_;
        return true;
      }
      return fail("',' or ']'");
    }
  }

  bool parse_string(std::string& out) {
    ++position_;  // the opening quote
    while (position_ < text_.size()) {
      char c = text_[position_];
      if (c == '"') {
        ++position_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return fail("a closing '\"' or a printable character");
      ++position_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (position_ >= text_.size()) break;
      char escape = text_[position_];
      switch (escape) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = 0;
          std::string_view digits = text_.substr(position_ + 1, 4);
          auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), code, 16);
          if (digits.size() != 4 || error != std::errc() || end != digits.data() + 4) {
            return fail("four hexadecimal digits after \\u");
          }
          if (code > 0x7F) return fail("a \\u escape of an ASCII character (at most \\u007f)");
          out += static_cast<char>(code);
          position_ += 4;
          break;
        }
        default:
          return fail("one of the escapes \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u");
      }
      ++position_;
    }
    return fail("a closing '\"'");
  }

  // JSON numbers: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  bool parse_number(JsonValue& value) {
    size_t start = position_;
    auto digits = [&] {
      size_t first = position_;
      while (position_ < text_.size() && text_[position_] >= '0' && text_[position_] <= '9') ++position_;
      return position_ > first;
    };
    if (at('-')) ++position_;

    if (at('0')) {
      ++position_;
    } else if (!digits()) {
      position_ = start;
      return fail("a JSON value");
    }

    if (at('.')) {
      ++position_;
      if (!digits()) return fail("a digit after the decimal point");
    }

    if (at('e') || at('E')) {
      ++position_;
      if (at('+') || at('-')) ++position_;
      if (!digits()) return fail("a digit in the exponent");
    }

    // from_chars ignores the locale, unlike strtod.
    double number = 0;
    auto [end, error] = std::from_chars(text_.data() + start, text_.data() + position_, number);
    if (error != std::errc() || end != text_.data() + position_) {
      position_ = start;
      return fail("a number that fits in a double");
    }
    value.kind = JsonValue::Kind::kNumber;
    value.number = number;
    return true;
  }

  std::string_view text_;
  size_t position_ = 0;
  std::string expected_;
  size_t error_position_ = 0;
};

}  // namespace

const JsonValue* JsonValue::find(std::string_view name) const {
  if (kind != Kind::kObject) return nullptr;
  for (const auto& [member_name, member] : members) {
    if (member_name == name) return &member;
  }
  return nullptr;
}

const char* json_kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::kNull: return "null";
    case JsonValue::Kind::kBool: return "boolean";
    case JsonValue::Kind::kNumber: return "number";
    case JsonValue::Kind::kString: return "string";
    case JsonValue::Kind::kArray: return "array";
    case JsonValue::Kind::kObject: return "object";
  }
  return "?";
}

Result<JsonValue> parse_json(std::string_view text) { return JsonParser(text).parse(); }

std::string json_quote(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    switch (c) {
      case '"': quoted += "\\\""; break;
      case '\\': quoted += "\\\\"; break;
      case '\n': quoted += "\\n"; break;
      case '\r': quoted += "\\r"; break;
      case '\t': quoted += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
          quoted += escape;
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char text[32];
  auto [end, error] = std::to_chars(text, text + sizeof text, value);
  if (error != std::errc()) return "null";
  return std::string(text, end);
}

}  // namespace rowjit
