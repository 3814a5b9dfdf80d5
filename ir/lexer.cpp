#include "ir/lexer.h"

#include <array>
#include <charconv>
#include <limits>

#include "ir/verifier.h"

namespace rowjit::ir {
namespace {

bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// Two-character symbols first, so that "<=" is not read as "<" then "=".
constexpr std::array<std::string_view, 5> kTwoCharSymbols = {"==", "!=", "<=", ">=", "->"};
constexpr std::string_view kOneCharSymbols = "()[]{},:;=<>+-*/";

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  std::vector<Token> run() {
    while (true) {
      skip_blanks_and_comments();
      if (at_end()) break;
      char c = text_[pos_];
      SourceLoc loc = here();
      if (c == '\n') {
        advance(1);
        if (paren_depth_ == 0) push(TokenKind::kNewline, "\n", loc);
      } else if (is_name_start(c)) {
        size_t start = pos_;
        while (!at_end() && is_name_char(text_[pos_])) advance(1);
        push(TokenKind::kName, std::string(text_.substr(start, pos_ - start)), loc);
      } else if (is_digit(c)) {
        if (!lex_number(loc)) return finish();
      } else if (!lex_symbol(loc)) {
        return finish();
      }
    }
    push(TokenKind::kEnd, "", here());
    return finish();
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  SourceLoc here() const { return {line_, column_}; }

  void advance(size_t count) {
    for (size_t i = 0; i < count && !at_end(); ++i) {
      if (text_[pos_] == '\n') {
        ++line_;
        column_ = 1;
      } else {
        ++column_;
      }
      ++pos_;
    }
  }

  void skip_blanks_and_comments() {
    while (!at_end()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r') {
        advance(1);
      } else if (c == '#') {
        while (!at_end() && text_[pos_] != '\n') advance(1);
      } else {
        return;
      }
    }
  }

  // Describes the character at the current position for "found ...".
  std::string describe_here() const {
    if (at_end()) return "end of input";
    char c = text_[pos_];
    if (c == '\n') return "end of line";
    if (c < ' ' || c > '~') {
      // Control characters and bytes of multi-byte UTF-8 sequences.
      static constexpr char kHex[] = "0123456789ABCDEF";
      auto byte = static_cast<unsigned char>(c);
      return std::string("byte 0x") + kHex[byte >> 4] + kHex[byte & 0xF];
    }
    return "'" + std::string(1, c) + "'";
  }

  void push(TokenKind kind, std::string text, SourceLoc loc) { tokens_.push_back({kind, std::move(text), loc}); }

  // Records a lexical error at the current position. Lexing stops after it.
  void fail(const std::string& message) {
    push(TokenKind::kError, message, here());
    push(TokenKind::kEnd, "", here());
  }

  void skip_digits() {
    while (!at_end() && is_digit(text_[pos_])) advance(1);
  }

  bool next_is_digit() const { return !at_end() && is_digit(text_[pos_]); }

  // digits ['.' digits] [('e' | 'E') ['+' | '-'] digits]
  bool lex_number(SourceLoc loc) {
    size_t start = pos_;
    auto written = [&] { return "'" + std::string(text_.substr(start, pos_ - start)) + "'"; };
    skip_digits();
    if (!at_end() && text_[pos_] == '.') {
      advance(1);
      if (!next_is_digit()) {
        fail("expected a digit after the '.' of number " + written() + ", found " + describe_here());
        return false;
      }
      skip_digits();
    }
    if (!at_end() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      advance(1);
      if (!at_end() && (text_[pos_] == '+' || text_[pos_] == '-')) advance(1);
      if (!next_is_digit()) {
        fail("expected a digit in the exponent of number " + written() + ", found " + describe_here());
        return false;
      }
      skip_digits();
    }
    if (!at_end() && (is_name_char(text_[pos_]) || text_[pos_] == '.')) {
      fail("expected an operator or separator after number " + written() + ", found " + describe_here());
      return false;
    }
    push(TokenKind::kNumber, std::string(text_.substr(start, pos_ - start)), loc);
    return true;
  }

  bool lex_symbol(SourceLoc loc) {
    std::string_view rest = text_.substr(pos_);
    for (std::string_view symbol : kTwoCharSymbols) {
      if (rest.substr(0, 2) == symbol) {
        advance(2);
        push(TokenKind::kSymbol, std::string(symbol), loc);
        return true;
      }
    }
    char c = text_[pos_];
    if (kOneCharSymbols.find(c) == std::string_view::npos) {
      if (c == '!') {
        fail("expected '!=', found " + describe_here());
      } else {
        fail("expected a name, number or operator, found " + describe_here());
      }
      return false;
    }
    // A newline inside parentheses does not end a statement.
    if (c == '(') ++paren_depth_;
    if (c == ')' && paren_depth_ > 0) --paren_depth_;
    advance(1);
    push(TokenKind::kSymbol, std::string(1, c), loc);
    return true;
  }

  std::vector<Token> finish() { return std::move(tokens_); }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
  int paren_depth_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view text) { return Lexer(text).run(); }

bool is_number_token(const Token& token) {
  return token.kind == TokenKind::kNumber || (token.kind == TokenKind::kName && (token.text == "inf" || token.text == "nan"));
}

bool is_integer_token(const Token& token) {
  return token.kind == TokenKind::kNumber && token.text.find_first_of(".eE") == std::string::npos;
}

Result<double> number_value(const Token& token) {
  if (token.kind == TokenKind::kName && token.text == "inf") return std::numeric_limits<double>::infinity();
  if (token.kind == TokenKind::kName && token.text == "nan") return std::numeric_limits<double>::quiet_NaN();
  double value = 0;
  const char* first = token.text.data();
  const char* last = first + token.text.size();
  auto [end, error] = std::from_chars(first, last, value);
  if (error == std::errc::result_out_of_range) {
    return Status(StatusCode::kParseError, location_prefix(token.loc) + "number '" + token.text +
                                               "' is outside the range of a double; write inf or 0 instead");
  }
  if (error != std::errc() || end != last) {
    return Status(StatusCode::kInternal, location_prefix(token.loc) + "the lexer accepted '" + token.text +
                                             "' as a number, but it does not convert to a double");
  }
  return value;
}

Result<int64_t> integer_value(const Token& token, bool negative) {
  // Converting the signed text accepts -2^63, which has no positive counterpart.
  std::string text = (negative ? "-" : "") + token.text;
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) {
    return Status(StatusCode::kParseError,
                  location_prefix(token.loc) + "integer '" + text + "' is outside the range of int64");
  }
  if (error != std::errc() || end != text.data() + text.size()) {
    return Status(StatusCode::kInternal, location_prefix(token.loc) + "the lexer accepted '" + token.text +
                                             "' as an integer, but it does not convert to int64");
  }
  return value;
}

std::string describe_token(const Token& token) {
  switch (token.kind) {
    case TokenKind::kNewline: return "end of line";
    case TokenKind::kEnd: return "end of input";
    case TokenKind::kError: return token.text;
    default: return "'" + token.text + "'";
  }
}

}  // namespace rowjit::ir
