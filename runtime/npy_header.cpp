#include "runtime/npy_header.h"

#include <cctype>
#include <optional>

namespace rowjit {
namespace {

// Larger dimensions cannot describe a file on any real disk, and the limit
// keeps the product of two dimensions inside int64_t.
constexpr int64_t kMaxDimension = int64_t{1} << 40;

// A cursor over the header text that reads the few Python literals a header holds.
class HeaderReader {
 public:
  explicit HeaderReader(std::string_view text) : text_(text) {}

  void skip_spaces() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  // Describes the current position for an error message.
  std::string where() const {
    if (at_end()) return "at the end of the header";
    return "at offset " + std::to_string(pos_) + " ('" + printable_header_text(text_.substr(pos_, 1)) + "')";
  }

  Status error(const std::string& expected) const {
    return Status(StatusCode::kInvalidArgument, "expected " + expected + " " + where());
  }

  // Reads a quoted string without escapes: dtype strings never need them.
  Result<std::string> read_string() {
    char quote = peek();
    if (quote != '\'' && quote != '"') return error("a quoted string");
    size_t start = ++pos_;
    while (!at_end() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') return error("a string without escapes");
      ++pos_;
    }
    if (at_end()) return error("the closing quote of the string that starts at offset " +
                               std::to_string(start - 1));
    std::string value(text_.substr(start, pos_ - start));
    ++pos_;
    return value;
  }

  Result<bool> read_bool() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    return error("True or False");
  }

  Result<int64_t> read_dimension() {
    if (!std::isdigit(static_cast<unsigned char>(peek()))) return error("a non-negative integer");
    int64_t value = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      value = value * 10 + (text_[pos_] - '0');
      ++pos_;
      if (value > kMaxDimension) {
        return Status(StatusCode::kInvalidArgument,
                      "dimension larger than 2^40 " + where());
      }
    }
    consume('L');  // numpy under Python 2 wrote long integers as "8L"
    return value;
  }

  // Reads "()", "(8,)", "(8, 1000)" or "(8, 1000,)".
  Result<std::vector<int64_t>> read_shape() {
    if (!consume('(')) return error("a shape tuple such as (8, 1000)");
    std::vector<int64_t> shape;
    skip_spaces();
    while (!consume(')')) {
      Result<int64_t> dimension = read_dimension();
      if (!dimension) return dimension.status();
      shape.push_back(*dimension);
      skip_spaces();
      if (consume(',')) {
        skip_spaces();
      } else if (peek() != ')') {
        return error("',' or ')' in the shape tuple");
      }
    }
    return shape;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

Result<NpyHeader> parse_npy_header(std::string_view text) {
  HeaderReader reader(text);
  NpyHeader header;
  bool has_descr = false, has_fortran_order = false, has_shape = false;

  reader.skip_spaces();
  if (!reader.consume('{')) return reader.error("'{' at the start of the header dictionary");
  reader.skip_spaces();
  while (!reader.consume('}')) {
    Result<std::string> key = reader.read_string();
    if (!key) return key.status();
    reader.skip_spaces();
    if (!reader.consume(':')) return reader.error("':' after the key '" + printable_header_text(*key) + "'");
    reader.skip_spaces();

    if (*key == "descr" && !has_descr) {
      if (reader.peek() == '[') {
        return Status(StatusCode::kInvalidArgument,
                      "a structured dtype (a list of fields) in 'descr'; only plain numeric "
                      "dtypes are supported");
      }
      Result<std::string> descr = reader.read_string();
      if (!descr) return descr.status();
      header.descr = *descr;
      has_descr = true;
    } else if (*key == "fortran_order" && !has_fortran_order) {
      Result<bool> fortran_order = reader.read_bool();
      if (!fortran_order) return fortran_order.status();
      header.fortran_order = *fortran_order;
      has_fortran_order = true;
    } else if (*key == "shape" && !has_shape) {
      Result<std::vector<int64_t>> shape = reader.read_shape();
      if (!shape) return shape.status();
      header.shape = *shape;
      has_shape = true;
    } else if (*key == "descr" || *key == "fortran_order" || *key == "shape") {
      return Status(StatusCode::kInvalidArgument, "key '" + printable_header_text(*key) + "' given twice");
    } else {
      return Status(StatusCode::kInvalidArgument,
                    "unknown key '" + printable_header_text(*key) + "'; a header has only 'descr', 'fortran_order' "
                    "and 'shape'");
    }

    reader.skip_spaces();
    if (reader.consume(',')) {
      reader.skip_spaces();
    } else if (reader.peek() != '}') {
      return reader.error("',' or '}' after the value of '" + printable_header_text(*key) + "'");
    }
  }
  reader.skip_spaces();
  if (!reader.at_end()) return reader.error("only padding after the header dictionary");

  if (!has_descr) return Status(StatusCode::kInvalidArgument, "missing key 'descr'");
  if (!has_fortran_order) return Status(StatusCode::kInvalidArgument, "missing key 'fortran_order'");
  if (!has_shape) return Status(StatusCode::kInvalidArgument, "missing key 'shape'");
  return header;
}

std::string format_npy_header(const NpyHeader& header) {
  std::string shape = "(";
  for (size_t i = 0; i < header.shape.size(); ++i) {
    if (i > 0) shape += ", ";
    shape += std::to_string(header.shape[i]);
  }
  if (header.shape.size() == 1) shape += ",";
  shape += ")";
  return "{'descr': '" + header.descr + "', 'fortran_order': " +
         (header.fortran_order ? "True" : "False") + ", 'shape': " + shape + ", }";
}

std::string printable_header_text(std::string_view text, size_t max_chars) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < text.size() && i < max_chars; ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7f) {
      out += static_cast<char>(byte);
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  if (text.size() > max_chars) out += "...";
  return out;
}

}  // namespace rowjit
