#include "ir/parser.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/float_environment.h"
#include "ir/lexer.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace rowjit::ir {
namespace {

// Deepest nesting of parentheses, calls and unary minus in one expression. The
// parser recurses once per level, so the limit keeps hostile input from
// exhausting the stack.
constexpr int kMaxExpressionDepth = 200;

constexpr std::array<std::string_view, 7> kReservedWords = {"n", "inf", "nan", "true", "false", "kernel", "param"};

bool is_reserved(std::string_view word) {
  for (std::string_view reserved : kReservedWords) {
    if (word == reserved) return true;
  }
  return false;
}

Status parse_error(SourceLoc loc, const std::string& message) {
  return {StatusCode::kParseError, location_prefix(loc) + message};
}

Status invalid(SourceLoc loc, const std::string& message) {
  return {StatusCode::kInvalidPipeline, location_prefix(loc) + message};
}

std::string plural(size_t count, const char* noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

// "f32, f16, ..., mxfp4", for the message about an unknown element type.
std::string element_type_list() {
  std::string list;
  for (int i = 0; i <= static_cast<int>(ElemType::kMxfp4); ++i) {
    if (!list.empty()) list += ", ";
    list += elem_type_name(static_cast<ElemType>(i));
  }
  return list;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
    }
  }
  return row[b.size()];
}

// The op name closest to a misspelled one, if it is within two edits.
std::optional<std::string_view> closest_op_name(std::string_view name) {
  std::optional<std::string_view> best;
  size_t best_distance = 3;
  for (int i = 0; i <= static_cast<int>(OpKind::kPackBits); ++i) {
    std::string_view candidate = op_info(static_cast<OpKind>(i)).name;
    size_t distance = edit_distance(name, candidate);
    if (distance < best_distance && distance < name.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::optional<OpKind> comparison_kind(const Token& token) {
  if (token.kind != TokenKind::kSymbol) return std::nullopt;
  if (token.text == "<") return OpKind::kLt;
  if (token.text == "<=") return OpKind::kLe;
  if (token.text == ">") return OpKind::kGt;
  if (token.text == ">=") return OpKind::kGe;
  if (token.text == "==") return OpKind::kEq;
  if (token.text == "!=") return OpKind::kNe;
  return std::nullopt;
}

// An expression while it is parsed. A literal stays pending until an op uses
// it, so "-2" folds into one literal and no unused constant is left behind.
struct Expr {
  SourceLoc loc;
  std::optional<double> literal;
  std::vector<ValueId> values;  // the named value, or every result of the op
  std::optional<OpKind> op;     // the op that computed `values`, for messages
};

class Parser {
 public:
  explicit Parser(std::string_view text) : tokens_(tokenize(text)) {}

  Result<Pipeline> run() {
    ROWJIT_TRY(parse_signature());
    ROWJIT_TRY(parse_body());
    return builder_->finish();
  }

 private:
  // ---- Tokens

  // Index of the token `ahead` places after the current one. Newlines count
  // as tokens only inside the body, because the signature may span lines.
  size_t index_of(size_t ahead) const {
    size_t i = pos_;
    while (true) {
      if (!newlines_end_statements_) {
        while (tokens_[i].kind == TokenKind::kNewline) ++i;
      }
      if (ahead == 0 || tokens_[i].kind == TokenKind::kEnd) return i;
      ++i;
      --ahead;
    }
  }

  const Token& peek(size_t ahead = 0) const { return tokens_[index_of(ahead)]; }

  Token take() {
    size_t i = index_of(0);
    pos_ = tokens_[i].kind == TokenKind::kEnd ? i : i + 1;
    return tokens_[i];
  }

  bool at_symbol(std::string_view symbol, size_t ahead = 0) const {
    const Token& token = peek(ahead);
    return token.kind == TokenKind::kSymbol && token.text == symbol;
  }

  bool at_name(std::string_view name) const {
    return peek().kind == TokenKind::kName && peek().text == name;
  }

  bool at_statement_end() const {
    return peek().kind == TokenKind::kNewline || at_symbol(";");
  }

  // Returns the syntax error for the current token. A kError token carries
  // its own message.
  Status unexpected(const std::string& expected) const {
    const Token& token = peek();
    if (token.kind == TokenKind::kError) return parse_error(token.loc, token.text);
    return parse_error(token.loc, "expected " + expected + ", found " + describe_token(token));
  }

  Status expect_symbol(std::string_view symbol) {
    if (!at_symbol(symbol)) return unexpected("'" + std::string(symbol) + "'");
    take();
    return Status::ok();
  }

  // Takes the name of a value or of the kernel, which must not be a reserved word.
  Result<Token> expect_name(const std::string& expected) {
    const Token& token = peek();
    if (token.kind == TokenKind::kName && is_reserved(token.text)) {
      return parse_error(token.loc, "expected " + expected + ", found reserved word '" + token.text + "'");
    }
    if (token.kind != TokenKind::kName) return unexpected(expected);
    return take();
  }

  // ['-'] number. The grammar has no sign here, but negative bounds,
  // defaults and attributes read naturally and the printer writes them.
  Result<double> parse_signed_number(const std::string& expected) {
    bool negative = at_symbol("-");
    if (negative) take();
    if (!is_number_token(peek())) return unexpected(expected);
    auto value = number_value(take());
    if (!value) return value.status();
    return negative ? -*value : *value;
  }

  Result<int64_t> parse_positive_integer(const std::string& expected) {
    const Token& token = peek();
    if (!is_integer_token(token)) return unexpected(expected);
    auto value = integer_value(token, false);
    if (!value) return value.status();
    if (*value <= 0) return unexpected(expected);
    take();
    return value;
  }

  // ---- Signature

  Status parse_signature() {
    if (!at_name("kernel")) return unexpected("'kernel'");
    take();
    auto name = expect_name("a kernel name");
    if (!name) return name.status();
    builder_.emplace(name->text);

    ROWJIT_TRY(expect_symbol("("));
    if (!at_symbol(")")) {
      while (true) {
        ROWJIT_TRY(parse_entry());
        if (at_symbol(")")) break;
        if (!at_symbol(",")) return unexpected("',' or ')'");
        take();
      }
    }
    take();

    ROWJIT_TRY(expect_symbol("->"));
    ROWJIT_TRY(expect_symbol("("));
    while (true) {
      ROWJIT_TRY(parse_output());
      if (at_symbol(")")) break;
      if (!at_symbol(",")) return unexpected("',' or ')'");
      take();
    }
    take();

    ROWJIT_TRY(expect_symbol("{"));
    newlines_end_statements_ = true;
    return Status::ok();
  }

  Status parse_entry() {
    bool is_param = at_name("param");
    if (is_param) take();
    auto name = expect_name(is_param ? "a parameter name" : "an input name or 'param'");
    if (!name) return name.status();
    ROWJIT_TRY(expect_symbol(":"));
    auto type = parse_type();
    if (!type) return type.status();
    if (!is_param) return builder_->add_input(name->text, *type, name->loc).status();

    std::optional<ParamBound> bound;
    SourceLoc bound_loc;
    if (at_symbol(">") || at_symbol(">=")) {
      Token relation = take();
      bound_loc = relation.loc;
      auto limit = parse_signed_number("a number after '" + relation.text + "'");
      if (!limit) return limit.status();
      bound = ParamBound{relation.text == ">" ? ParamBound::Relation::kGreater : ParamBound::Relation::kGreaterEqual,
                         *limit};
    }
    std::optional<double> default_value;
    SourceLoc default_loc;
    if (at_symbol("=")) {
      take();
      default_loc = peek().loc;
      auto value = parse_signed_number("a default value (a number)");
      if (!value) return value.status();
      default_value = *value;
    }
    ROWJIT_TRY(check_param(name->text, *type, bound, bound_loc, default_value, default_loc));
    return builder_->add_param(name->text, *type, default_value, bound, name->loc).status();
  }

  // Rules on bounds and defaults that Builder::add_param leaves to the caller.
  static Status check_param(const std::string& name, const ValueType& type, const std::optional<ParamBound>& bound,
                            SourceLoc bound_loc, const std::optional<double>& default_value, SourceLoc default_loc) {
    const char* relation = "";
    if (bound) {
      relation = bound->relation == ParamBound::Relation::kGreater ? ">" : ">=";
      bool scalar_number = type.shape.is_scalar() && (type.elem == ElemType::kF32 || type.elem == ElemType::kS32);
      if (!scalar_number) {
        return invalid(bound_loc, "parameter '" + name + "' has type " + type.to_string() +
                                      "; a bound applies only to a scalar f32 or s32 parameter");
      }
      if (std::isnan(bound->limit)) {
        return invalid(bound_loc, "the bound of parameter '" + name + "' is nan; write a number");
      }
    }
    if (!default_value) return Status::ok();
    if (type.elem == ElemType::kF32 && !std::isfinite(*default_value)) {
      return invalid(default_loc, "the default of parameter '" + name + "' is " + format_number(*default_value) +
                                      "; an f32 parameter must be finite");
    }
    if (bound) {
      bool satisfied = bound->relation == ParamBound::Relation::kGreater ? *default_value > bound->limit
                                                                          : *default_value >= bound->limit;
      if (!satisfied) {
        return invalid(default_loc, "the default " + format_number(*default_value) + " of parameter '" + name +
                                        "' does not satisfy its bound " + relation + " " + format_number(bound->limit));
      }
    }
    return Status::ok();
  }

  Status parse_output() {
    auto name = expect_name("an output name");
    if (!name) return name.status();
    ROWJIT_TRY(expect_symbol(":"));
    auto type = parse_type();
    if (!type) return type.status();
    return builder_->declare_output(name->text, *type, name->loc);
  }

  // ELEMTYPE ['[' dim ']']
  Result<ValueType> parse_type() {
    const Token& token = peek();
    std::optional<ElemType> elem;
    if (token.kind == TokenKind::kName) elem = parse_elem_type(token.text);
    if (!elem) return unexpected("an element type (" + element_type_list() + ")");
    take();
    ValueType type{*elem, Shape::scalar()};
    if (!at_symbol("[")) return type;
    take();
    auto shape = parse_dim();
    if (!shape) return shape.status();
    type.shape = *shape;
    ROWJIT_TRY(expect_symbol("]"));
    return type;
  }

  // 'n' | 'n' '/' INT | INT | NAME
  Result<Shape> parse_dim() {
    const Token& token = peek();
    if (token.kind == TokenKind::kName && token.text == "n") {
      take();
      if (!at_symbol("/")) return Shape::row();
      take();
      auto block = parse_positive_integer("a positive integer block size after 'n/'");
      if (!block) return block.status();
      return Shape::blocks(*block);
    }
    if (token.kind == TokenKind::kNumber) {
      auto length = parse_positive_integer("a positive integer length");
      if (!length) return length.status();
      return Shape::fixed(*length);
    }
    if (token.kind == TokenKind::kName && !is_reserved(token.text)) return Shape::fixed(take().text);
    return unexpected("a dimension (n, n/B, a length, or the name of an s32 parameter)");
  }

  // ---- Body

  Status parse_body() {
    while (true) {
      if (at_statement_end()) {
        take();
        continue;
      }
      if (at_symbol("}")) {
        take();
        break;
      }
      if (peek().kind != TokenKind::kName) return unexpected("a statement or '}'");
      ROWJIT_TRY(parse_statement());
    }
    newlines_end_statements_ = false;
    if (peek().kind != TokenKind::kEnd) return unexpected("end of input after '}'");
    return Status::ok();
  }

  // NAME {',' NAME} '=' expr, then a newline, ';' or the closing '}'.
  Status parse_statement() {
    std::vector<Token> names;
    while (true) {
      auto name = expect_name("a value name");
      if (!name) return name.status();
      names.push_back(*name);
      if (!at_symbol(",")) break;
      take();
    }
    if (!at_symbol("=")) return unexpected(names.size() == 1 ? "'=' or ','" : "'='");
    take();
    auto expr = parse_expr();
    if (!expr) return expr.status();
    // The whole statement must parse before its names are bound, so that a
    // syntax error is reported ahead of a naming error on its left.
    if (at_statement_end()) {
      take();
    } else if (!at_symbol("}")) {
      return unexpected("a newline, ';' or '}' after the statement");
    }

    if (names.size() == 1 && expr->values.size() <= 1) {
      auto value = materialize(*expr);
      if (!value) return value.status();
      return builder_->name_value(*value, names[0].text, names[0].loc);
    }
    size_t produced = expr->literal ? 1 : expr->values.size();
    if (produced != names.size()) {
      std::string source = expr->op ? "op '" + std::string(op_info(*expr->op).name) + "' returns " +
                                          plural(produced, "result")
                                    : "the expression has " + plural(produced, "value");
      return invalid(names[0].loc, "the statement assigns " + plural(names.size(), "name") + ", but " + source +
                                       "; write one name per result");
    }
    for (size_t i = 0; i < names.size(); ++i) {
      ROWJIT_TRY(builder_->name_value(expr->values[i], names[i].text, names[i].loc));
    }
    return Status::ok();
  }

  // sum [comparison sum]
  Result<Expr> parse_expr() {
    auto lhs = parse_sum();
    if (!lhs) return lhs;
    auto kind = comparison_kind(peek());
    if (!kind) return lhs;
    Token op = take();
    auto rhs = parse_sum();
    if (!rhs) return rhs;
    return binary(*kind, *lhs, *rhs, op.loc);
  }

  // product {('+' | '-') product}
  Result<Expr> parse_sum() {
    auto lhs = parse_product();
    if (!lhs) return lhs;
    while (at_symbol("+") || at_symbol("-")) {
      Token op = take();
      auto rhs = parse_product();
      if (!rhs) return rhs;
      lhs = binary(op.text == "+" ? OpKind::kAdd : OpKind::kSub, *lhs, *rhs, op.loc);
      if (!lhs) return lhs;
    }
    return lhs;
  }

  // unary {('*' | '/') unary}
  Result<Expr> parse_product() {
    auto lhs = parse_unary();
    if (!lhs) return lhs;
    while (at_symbol("*") || at_symbol("/")) {
      Token op = take();
      auto rhs = parse_unary();
      if (!rhs) return rhs;
      lhs = binary(op.text == "*" ? OpKind::kMul : OpKind::kDiv, *lhs, *rhs, op.loc);
      if (!lhs) return lhs;
    }
    return lhs;
  }

  // '-' unary | primary. Minus on a literal folds into a negative literal.
  Result<Expr> parse_unary() {
    if (depth_ >= kMaxExpressionDepth) {
      return parse_error(peek().loc, "expression is nested more than " + std::to_string(kMaxExpressionDepth) +
                                         " levels deep; split it into several statements");
    }
    ++depth_;
    auto result = parse_unary_nested();
    --depth_;
    return result;
  }

  Result<Expr> parse_unary_nested() {
    if (!at_symbol("-")) return parse_primary();
    Token minus = take();
    auto operand = parse_unary();
    if (!operand) return operand;
    if (operand->literal) return Expr{minus.loc, -*operand->literal, {}, std::nullopt};
    auto value = materialize(*operand);
    if (!value) return value.status();
    auto result = builder_->add(OpKind::kNeg, {*value}, {}, minus.loc);
    if (!result) return result.status();
    return Expr{minus.loc, std::nullopt, {*result}, OpKind::kNeg};
  }

  // number | NAME | NAME '(' [args] ')' | '(' expr ')'
  Result<Expr> parse_primary() {
    const Token& token = peek();
    if (is_number_token(token)) {
      auto value = number_value(take());
      if (!value) return value.status();
      return Expr{token.loc, *value, {}, std::nullopt};
    }
    if (at_symbol("(")) {
      take();
      auto inner = parse_expr();
      if (!inner) return inner;
      ROWJIT_TRY(expect_symbol(")"));
      return inner;
    }
    if (token.kind != TokenKind::kName) return unexpected("an expression");
    if (at_symbol("(", 1)) return parse_call();
    if (is_reserved(token.text)) {
      return parse_error(token.loc, "expected an expression, found reserved word '" + token.text + "'");
    }
    Token name = take();
    auto value = builder_->lookup(name.text);
    if (!value) {
      std::string hint = op_from_name(name.text) ? "; '" + name.text + "' is an op, call it as " + name.text + "(...)"
                                                 : "; assign it with a statement '" + name.text +
                                                       " = ...' before this use, or declare it in the signature";
      return invalid(name.loc, "'" + name.text + "' is not defined" + hint);
    }
    return Expr{name.loc, std::nullopt, {*value}, std::nullopt};
  }

  // NAME '(' [expr {',' expr}] {',' NAME '=' attr} ')'
  Result<Expr> parse_call() {
    Token name = take();
    auto kind = op_from_name(name.text);
    if (!kind) {
      auto closest = closest_op_name(name.text);
      std::string hint = closest ? "; did you mean '" + std::string(*closest) + "'? The" : "; the";
      return parse_error(name.loc, "unknown op '" + name.text + "'" + hint + " ops are listed in docs/ir.md");
    }
    take();  // '('

    std::vector<ValueId> operands;
    std::map<std::string, AttrValue> attrs;
    while (!at_symbol(")")) {
      if (peek().kind == TokenKind::kName && at_symbol("=", 1)) {
        ROWJIT_TRY(parse_attr(attrs));
      } else if (!attrs.empty()) {
        return unexpected("an attribute 'name=value' (operands come before attributes)");
      } else {
        auto operand = parse_expr();
        if (!operand) return operand;
        auto value = materialize(*operand);
        if (!value) return value.status();
        operands.push_back(*value);
      }
      if (at_symbol(")")) break;
      if (!at_symbol(",")) return unexpected("',' or ')'");
      take();
    }
    take();  // ')'

    auto results = builder_->add_op(*kind, std::move(operands), std::move(attrs), name.loc);
    if (!results) return results.status();
    return Expr{name.loc, std::nullopt, *results, kind};
  }

  // NAME '=' (['-'] number | 'true' | 'false' | NAME)
  Status parse_attr(std::map<std::string, AttrValue>& attrs) {
    Token key = take();
    take();  // '='
    if (attrs.count(key.text)) return parse_error(key.loc, "attribute '" + key.text + "' is given twice");

    bool negative = at_symbol("-");
    if (negative) take();
    const Token& token = peek();
    if (is_integer_token(token)) {
      auto value = integer_value(take(), negative);
      if (!value) return value.status();
      attrs[key.text] = *value;
    } else if (is_number_token(token)) {
      auto value = number_value(take());
      if (!value) return value.status();
      attrs[key.text] = negative ? -*value : *value;
    } else if (negative) {
      return unexpected("a number after '-'");
    } else if (token.kind == TokenKind::kName && (token.text == "true" || token.text == "false")) {
      attrs[key.text] = take().text == "true";
    } else if (token.kind == TokenKind::kName) {
      attrs[key.text] = take().text;
    } else {
      return unexpected("a value for attribute '" + key.text + "' (a number, true, false or a name)");
    }
    return Status::ok();
  }

  // ---- Values

  // The single value of `expr`, creating the constant of a pending literal.
  Result<ValueId> materialize(const Expr& expr) {
    if (expr.literal) return builder_->constant(*expr.literal, expr.loc);
    if (expr.values.size() == 1) return expr.values[0];
    // Only an op call yields other than one value.
    std::string op_name = expr.op ? std::string(op_info(*expr.op).name) : "?";
    return invalid(expr.loc, "op '" + op_name + "' returns " + plural(expr.values.size(), "result") +
                                 " and cannot be an operand; assign them first, as in 'a, b = " + op_name + "(...)'");
  }

  Result<Expr> binary(OpKind kind, const Expr& lhs, const Expr& rhs, SourceLoc loc) {
    auto a = materialize(lhs);
    if (!a) return a.status();
    auto b = materialize(rhs);
    if (!b) return b.status();
    auto result = builder_->add(kind, {*a, *b}, {}, loc);
    if (!result) return result.status();
    return Expr{loc, std::nullopt, {*result}, kind};
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool newlines_end_statements_ = false;
  int depth_ = 0;  // parse_unary calls in progress
  std::optional<Builder> builder_;  // created once the kernel name is known
};

}  // namespace

Result<Pipeline> parse_pipeline(std::string_view text) {
  DefaultFloatEnvironment environment;  // literals round to nearest whatever the caller's mode
  return Parser(text).run();
}

}  // namespace rowjit::ir
