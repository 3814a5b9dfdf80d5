// Lexer for the pipeline text format (docs/ir.md, "Text format").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ir/pipeline.h"
#include "ir/status.h"

namespace rowjit::ir {

enum class TokenKind : uint8_t {
  kName,     // [A-Za-z_][A-Za-z0-9_]*, reserved words included
  kNumber,   // decimal or exponent form without sign: 1, 0.5, 1e-3
  kSymbol,   // punctuation or operator: ( ) [ ] { } , : ; = == != < <= > >= + - * / ->
  kNewline,  // end of a line outside parentheses: a statement terminator
  kEnd,      // end of input
  kError,    // lexical error, with its message (no location) in `text`
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // the token as written; the message for kError
  SourceLoc loc;     // 1-based line and column of the first character
};

// Splits `text` into tokens, ending with kEnd. A lexical error becomes a
// kError token at its position and lexing stops there, so the parser reports
// it only if everything before it parses. `#` comments are dropped, and so are
// newlines inside parentheses, because a call may span lines.
std::vector<Token> tokenize(std::string_view text);

// True for a number token or one of the names `inf` and `nan`.
bool is_number_token(const Token& token);

// True for a number token written without '.' or exponent ("32", not "32.0").
bool is_integer_token(const Token& token);

// Value of a number token (see is_number_token). kParseError if the number
// overflows or underflows a double.
Result<double> number_value(const Token& token);

// Value of an integer token, negated if `negative`. kParseError if it does not
// fit int64_t.
Result<int64_t> integer_value(const Token& token, bool negative);

// Describes a token for "found ..." in messages: "'foo'", "end of line" or
// "end of input".
std::string describe_token(const Token& token);

}  // namespace rowjit::ir
