// A minimal JSON reader for tests that check JSON output: objects, arrays,
// strings with the JSON escapes, numbers, true, false and null. It rejects
// trailing text and malformed input, which is what the tests need to know. It
// is no general-purpose parser, because \u escapes above ASCII are rejected.
#pragma once

#include <cctype>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rowjit::testing {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue> object;

  bool has(const std::string& key) const { return kind == Kind::kObject && object.count(key) > 0; }
  const JsonValue& at(const std::string& key) const { return object.at(key); }
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : text_(text) {}

  // The value of the whole text, or nullopt if it is not valid JSON.
  std::optional<JsonValue> read() {
    JsonValue value;
    if (!read_value(value, 0)) return std::nullopt;
    skip_space();
    if (position_ != text_.size()) return std::nullopt;
    return value;
  }

 private:
  void skip_space() {
    while (position_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[position_]))) ++position_;
  }

  bool consume(char c) {
    skip_space();
    if (position_ < text_.size() && text_[position_] == c) {
      ++position_;
      return true;
    }
    return false;
  }

  bool consume_word(std::string_view word) {
    if (text_.substr(position_, word.size()) != word) return false;
    position_ += word.size();
    return true;
  }

  bool read_value(JsonValue& value, int depth) {
    if (depth > 64) return false;
    skip_space();
    if (position_ >= text_.size()) return false;
    char c = text_[position_];
    if (c == '{') return read_object(value, depth);
    if (c == '[') return read_array(value, depth);
    if (c == '"') {
      value.kind = JsonValue::Kind::kString;
      return read_string(value.string);
    }
    if (consume_word("true")) {
      value.kind = JsonValue::Kind::kBool;
      value.boolean = true;
      return true;
    }
    if (consume_word("false")) {
      value.kind = JsonValue::Kind::kBool;
      return true;
    }
    if (consume_word("null")) return true;
    return read_number(value);
  }

  bool read_object(JsonValue& value, int depth) {
    value.kind = JsonValue::Kind::kObject;
    ++position_;
    if (consume('}')) return true;
    do {
      skip_space();
      std::string key;
      if (!read_string(key) || !consume(':')) return false;
      JsonValue member;
      if (!read_value(member, depth + 1)) return false;
      if (!value.object.emplace(key, std::move(member)).second) return false;  // duplicate key
    } while (consume(','));
    return consume('}');
  }

  bool read_array(JsonValue& value, int depth) {
    value.kind = JsonValue::Kind::kArray;
    ++position_;
    if (consume(']')) return true;
    do {
      JsonValue element;
      if (!read_value(element, depth + 1)) return false;
      value.array.push_back(std::move(element));
    } while (consume(','));
    return consume(']');
  }

  bool read_string(std::string& out) {
    if (position_ >= text_.size() || text_[position_] != '"') return false;
    ++position_;
    while (position_ < text_.size()) {
      char c = text_[position_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (position_ >= text_.size()) return false;
      char escape = text_[position_++];
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
          if (position_ + 4 > text_.size()) return false;
          std::string digits(text_.substr(position_, 4));
          char* end = nullptr;
          long code = std::strtol(digits.c_str(), &end, 16);
          if (end != digits.c_str() + 4) return false;
          // The tests only meet ASCII escapes; other code points stay out.
          if (code > 0x7F) return false;
          out += static_cast<char>(code);
          position_ += 4;
          break;
        }
        default: return false;
      }
    }
    return false;
  }

  // JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool read_number(JsonValue& value) {
    size_t start = position_;
    auto digits = [&] {
      size_t first = position_;
      while (position_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[position_]))) ++position_;
      return position_ > first;
    };
    if (position_ < text_.size() && text_[position_] == '-') ++position_;
    if (position_ < text_.size() && text_[position_] == '0') {
      ++position_;
    } else if (!digits()) {
      return false;
    }
    if (position_ < text_.size() && text_[position_] == '.') {
      ++position_;
      if (!digits()) return false;
    }
    if (position_ < text_.size() && (text_[position_] == 'e' || text_[position_] == 'E')) {
      ++position_;
      if (position_ < text_.size() && (text_[position_] == '+' || text_[position_] == '-')) ++position_;
      if (!digits()) return false;
    }
    value.kind = JsonValue::Kind::kNumber;
    value.number = std::strtod(std::string(text_.substr(start, position_ - start)).c_str(), nullptr);
    return true;
  }

  std::string_view text_;
  size_t position_ = 0;
};

inline std::optional<JsonValue> parse_json(std::string_view text) { return JsonReader(text).read(); }

}  // namespace rowjit::testing
