#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ir/lexer.h"
#include "ir/parser.h"

namespace rowjit::ir {
namespace {

const char* const kSoftmax = R"(# Softmax over each row.
kernel softmax(x: f32[n]) -> (y: f32[n]) {
  m = max(x)
  e = exp(x - m)
  y = e / sum(e)
}
)";

TEST(Lexer, TokensHaveLineAndColumn) {
  std::vector<Token> tokens = tokenize("a = b # note\n  c>=2.5e-1");
  ASSERT_EQ(tokens.size(), 8u);
  EXPECT_EQ(tokens[0].kind, TokenKind::kName);
  EXPECT_EQ(tokens[0].text, "a");
  EXPECT_EQ(tokens[0].loc.line, 1);
  EXPECT_EQ(tokens[0].loc.column, 1);
  EXPECT_EQ(tokens[1].kind, TokenKind::kSymbol);
  EXPECT_EQ(tokens[1].loc.column, 3);
  EXPECT_EQ(tokens[2].text, "b");
  EXPECT_EQ(tokens[3].kind, TokenKind::kNewline);
  EXPECT_EQ(tokens[3].loc.line, 1);
  EXPECT_EQ(tokens[3].loc.column, 13);
  EXPECT_EQ(tokens[4].text, "c");
  EXPECT_EQ(tokens[4].loc.line, 2);
  EXPECT_EQ(tokens[4].loc.column, 3);
  EXPECT_EQ(tokens[5].text, ">=");
  EXPECT_EQ(tokens[5].loc.column, 4);
  EXPECT_EQ(tokens[6].kind, TokenKind::kNumber);
  EXPECT_EQ(tokens[6].text, "2.5e-1");
  EXPECT_EQ(tokens[6].loc.column, 6);
  EXPECT_EQ(tokens[7].kind, TokenKind::kEnd);
}

TEST(Lexer, NewlineInsideParensIsDropped) {
  std::vector<Token> tokens = tokenize("f(a,\n b)\nc");
  std::vector<TokenKind> kinds;
  for (const Token& t : tokens) kinds.push_back(t.kind);
  std::vector<TokenKind> expected = {TokenKind::kName,   TokenKind::kSymbol,  TokenKind::kName,
                                     TokenKind::kSymbol, TokenKind::kName,    TokenKind::kSymbol,
                                     TokenKind::kNewline, TokenKind::kName,   TokenKind::kEnd};
  EXPECT_EQ(kinds, expected);
}

TEST(Lexer, NumberValues) {
  std::vector<Token> tokens = tokenize("32 0.5 1e-3 2E+2 inf nan");
  ASSERT_EQ(tokens.size(), 7u);
  EXPECT_TRUE(is_integer_token(tokens[0]));
  EXPECT_FALSE(is_integer_token(tokens[1]));
  EXPECT_FALSE(is_integer_token(tokens[2]));
  EXPECT_EQ(*number_value(tokens[0]), 32.0);
  EXPECT_EQ(*number_value(tokens[1]), 0.5);
  EXPECT_EQ(*number_value(tokens[2]), 0.001);
  EXPECT_EQ(*number_value(tokens[3]), 200.0);
  EXPECT_TRUE(is_number_token(tokens[4]));
  EXPECT_EQ(*number_value(tokens[4]), INFINITY);
  EXPECT_TRUE(std::isnan(*number_value(tokens[5])));
  EXPECT_EQ(*integer_value(tokens[0], true), -32);
}

TEST(Lexer, ErrorStopsTokens) {
  std::vector<Token> tokens = tokenize("a 1.x b");
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[1].kind, TokenKind::kError);
  EXPECT_EQ(tokens[1].text, "expected a digit after the '.' of number '1.', found 'x'");
  EXPECT_EQ(tokens[1].loc.column, 5);
  EXPECT_EQ(tokens[2].kind, TokenKind::kEnd);
}

TEST(Parser, Softmax) {
  auto parsed = parse_pipeline(kSoftmax);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  const Pipeline& p = *parsed;
  EXPECT_EQ(p.name, "softmax");
  ASSERT_EQ(p.inputs.size(), 1u);
  ValueId x = p.inputs[0];
  EXPECT_EQ(p.value(x).name, "x");
  EXPECT_EQ(p.value(x).kind, ValueKind::kInput);
  EXPECT_EQ(p.value(x).type, (ValueType{ElemType::kF32, Shape::row()}));

  // m = max(x); _ = x - m; e = exp(_); _ = sum(e); y = e / _
  ASSERT_EQ(p.ops.size(), 5u);
  const Op& max_op = p.ops[0];
  const Op& sub_op = p.ops[1];
  const Op& exp_op = p.ops[2];
  const Op& sum_op = p.ops[3];
  const Op& div_op = p.ops[4];
  EXPECT_EQ(max_op.kind, OpKind::kReduceMax);
  EXPECT_EQ(sub_op.kind, OpKind::kSub);
  EXPECT_EQ(exp_op.kind, OpKind::kExp);
  EXPECT_EQ(sum_op.kind, OpKind::kReduceSum);
  EXPECT_EQ(div_op.kind, OpKind::kDiv);

  ValueId m = max_op.results.at(0);
  ValueId e = exp_op.results.at(0);
  EXPECT_EQ(p.value(m).name, "m");
  EXPECT_EQ(p.value(m).type, (ValueType{ElemType::kF32, Shape::scalar()}));
  EXPECT_EQ(max_op.operands, std::vector<ValueId>({x}));
  EXPECT_EQ(sub_op.operands, std::vector<ValueId>({x, m}));
  EXPECT_EQ(p.value(sub_op.results.at(0)).name, "");
  EXPECT_EQ(exp_op.operands, sub_op.results);
  EXPECT_EQ(p.value(e).name, "e");
  EXPECT_EQ(sum_op.operands, std::vector<ValueId>({e}));
  EXPECT_EQ(div_op.operands, std::vector<ValueId>({e, sum_op.results.at(0)}));

  ASSERT_EQ(p.outputs.size(), 1u);
  EXPECT_EQ(p.outputs[0], div_op.results.at(0));
  EXPECT_EQ(p.value(p.outputs[0]).name, "y");
  EXPECT_EQ(p.value(p.outputs[0]).type, (ValueType{ElemType::kF32, Shape::row()}));
}

TEST(Parser, OpLocations) {
  auto parsed = parse_pipeline(kSoftmax);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  // Line 4 is "  e = exp(x - m)": the call at column 7, the '-' at column 13.
  EXPECT_EQ(parsed->ops[1].loc.line, 4);
  EXPECT_EQ(parsed->ops[1].loc.column, 13);
  EXPECT_EQ(parsed->ops[2].loc.line, 4);
  EXPECT_EQ(parsed->ops[2].loc.column, 7);
}

TEST(Parser, MinusFoldsIntoLiteral) {
  auto parsed = parse_pipeline(
      "kernel f(x: f32[n]) -> (a: f32[n], b: f32[n], c: f32[n]) {\n"
      "  a = x * -2\n"
      "  b = x - -(3)\n"
      "  c = -x + - -inf\n"
      "}\n");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  const Pipeline& p = *parsed;
  ASSERT_EQ(p.ops.size(), 4u);
  EXPECT_EQ(p.ops[0].kind, OpKind::kMul);
  const Value& minus_two = p.value(p.ops[0].operands.at(1));
  EXPECT_EQ(minus_two.kind, ValueKind::kConstant);
  EXPECT_EQ(minus_two.constant, -2.0);
  EXPECT_EQ(p.ops[1].kind, OpKind::kSub);
  EXPECT_EQ(p.value(p.ops[1].operands.at(1)).constant, -3.0);
  EXPECT_EQ(p.ops[2].kind, OpKind::kNeg);
  EXPECT_EQ(p.ops[3].kind, OpKind::kAdd);
  EXPECT_EQ(p.value(p.ops[3].operands.at(1)).constant, INFINITY);
  // One input plus three literals plus four op results: no folded-away literal is left.
  EXPECT_EQ(p.values.size(), 8u);
}

TEST(Parser, PrecedenceAndComparison) {
  auto parsed = parse_pipeline(
      "kernel f(x: f32[n]) -> (y: u8[n/8]) {\n"
      "  y = pack_bits(x + 1 * 2 < (x - 3) / 4)\n"
      "}\n");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  std::vector<OpKind> kinds;
  for (const Op& op : parsed->ops) kinds.push_back(op.kind);
  std::vector<OpKind> expected = {OpKind::kMul, OpKind::kAdd, OpKind::kSub, OpKind::kDiv, OpKind::kLt,
                                  OpKind::kPackBits};
  EXPECT_EQ(kinds, expected);
  EXPECT_EQ(parsed->ops[4].operands, std::vector<ValueId>({parsed->ops[1].results[0], parsed->ops[3].results[0]}));
}

TEST(Parser, StatementSeparatorsAndLineBreaks) {
  auto parsed = parse_pipeline(
      "\n# leading comment\n"
      "kernel f(\n  x: f32[n],  # the logits\n  label: s32\n)\n  -> (y: f32)\n{\n"
      "  m = max(x); s = sum(exp(x -\n"
      "      m))\n"
      "\n"
      "  y = m + log(s) - gather(x,\n  label) }  # trailing comment\n");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->inputs.size(), 2u);
  EXPECT_EQ(parsed->ops.size(), 8u);
}

TEST(Parser, Parameters) {
  auto parsed = parse_pipeline(
      "kernel f(x: f32[n], param tau: f32 > 0 = 1, param k: s32 >= 1 = 2, param shift: f32 >= -1.5,\n"
      "         param bias: f32[n]) -> (w: f32[k], i: s32[k]) {\n"
      "  w, i = topk((x + bias) / tau + shift, k=k)\n"
      "}\n");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  const Pipeline& p = *parsed;
  ASSERT_EQ(p.inputs.size(), 5u);

  const Value& tau = p.value(p.inputs[1]);
  EXPECT_EQ(tau.kind, ValueKind::kParam);
  EXPECT_EQ(tau.type, (ValueType{ElemType::kF32, Shape::scalar()}));
  ASSERT_TRUE(tau.param_bound.has_value());
  EXPECT_EQ(tau.param_bound->relation, ParamBound::Relation::kGreater);
  EXPECT_EQ(tau.param_bound->limit, 0.0);
  EXPECT_EQ(tau.param_default, 1.0);

  const Value& k = p.value(p.inputs[2]);
  EXPECT_EQ(k.type, (ValueType{ElemType::kS32, Shape::scalar()}));
  ASSERT_TRUE(k.param_bound.has_value());
  EXPECT_EQ(k.param_bound->relation, ParamBound::Relation::kGreaterEqual);
  EXPECT_EQ(k.param_bound->limit, 1.0);
  EXPECT_EQ(k.param_default, 2.0);

  const Value& shift = p.value(p.inputs[3]);
  ASSERT_TRUE(shift.param_bound.has_value());
  EXPECT_EQ(shift.param_bound->limit, -1.5);
  EXPECT_FALSE(shift.param_default.has_value());

  const Value& bias = p.value(p.inputs[4]);
  EXPECT_EQ(bias.kind, ValueKind::kParam);
  EXPECT_EQ(bias.type, (ValueType{ElemType::kF32, Shape::row()}));
  EXPECT_FALSE(bias.param_bound.has_value());

  const Op& topk = p.ops.back();
  EXPECT_EQ(topk.kind, OpKind::kTopK);
  EXPECT_EQ(attr_word(topk, "k"), "k");
  EXPECT_EQ(p.value(topk.results.at(0)).name, "w");
  EXPECT_EQ(p.value(topk.results.at(1)).name, "i");
  EXPECT_EQ(p.value(topk.results.at(1)).type, (ValueType{ElemType::kS32, Shape::fixed("k")}));
}

TEST(Parser, Shapes) {
  auto parsed = parse_pipeline(
      "kernel f(a: f32[n], b: f32[n/32], c: f32[4], d: s32[4], param k: s32, e: s8) -> (y: f32[n]) {\n"
      "  y = a * b + sum(c) + sum(gather(a, d)) + convert(e, to=f32)\n"
      "}\n");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  const Pipeline& p = *parsed;
  EXPECT_EQ(p.value(p.inputs[0]).type.shape, Shape::row());
  EXPECT_EQ(p.value(p.inputs[1]).type.shape, Shape::blocks(32));
  EXPECT_EQ(p.value(p.inputs[2]).type.shape, Shape::fixed(4));
  EXPECT_EQ(p.value(p.inputs[3]).type, (ValueType{ElemType::kS32, Shape::fixed(4)}));
  EXPECT_EQ(p.value(p.inputs[5]).type, (ValueType{ElemType::kS8, Shape::scalar()}));
}

TEST(Parser, AttributeValueTypes) {
  auto parsed = parse_pipeline(
      "kernel f(x: f32[n]) -> (q: s8[n], b: f32[n/16], g: f32[n]) {\n"
      "  q = convert(x, to=s8, round=nearest_away, saturate=true)\n"
      "  b = block_max(x, block=16)\n"
      "  g = group_mask(x, groups=4, keep=2, score=max)\n"
      "}\n");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  const Pipeline& p = *parsed;
  const Op& convert = p.ops[0];
  ASSERT_EQ(convert.attrs.size(), 3u);
  EXPECT_EQ(convert.attrs.at("to"), AttrValue(std::string("s8")));
  EXPECT_EQ(convert.attrs.at("round"), AttrValue(std::string("nearest_away")));
  EXPECT_EQ(convert.attrs.at("saturate"), AttrValue(true));
  EXPECT_EQ(p.ops[1].attrs.at("block"), AttrValue(int64_t{16}));
  EXPECT_EQ(p.ops[2].attrs.at("groups"), AttrValue(int64_t{4}));
  EXPECT_EQ(p.ops[2].attrs.at("keep"), AttrValue(int64_t{2}));
  EXPECT_EQ(p.ops[2].attrs.at("score"), AttrValue(std::string("max")));
}

TEST(Parser, FloatAttributeStaysDouble) {
  // block=16.0 is a double, which the typing rule for block ops rejects.
  auto parsed = parse_pipeline(
      "kernel f(x: f32[n]) -> (b: f32[n/16]) {\n"
      "  b = block_max(x, block=16.0)\n"
      "}\n");
  ASSERT_FALSE(parsed.is_ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidPipeline);
  EXPECT_NE(parsed.status().message().find("line 2, column 7: op 'block_max'"), std::string::npos)
      << parsed.status().message();
}

struct MalformedCase {
  const char* label;
  std::string text;
  StatusCode code;
  std::string message;  // expected substring, with the location
};

// Pipelines are built around one statement line so that locations are easy
// to count: line 1 is the signature and line 2 the first statement.
std::string kernel_with(const std::string& signature_tail, const std::string& body) {
  return "kernel f(x: f32[n]" + signature_tail + " {\n" + body + "}\n";
}

std::vector<MalformedCase> malformed_cases() {
  const std::string sig = ") -> (y: f32[n])";
  return {
      {"missing arrow", kernel_with(") (y: f32[n])", "  y = exp(x)\n"), StatusCode::kParseError,
       "line 1, column 21: expected '->', found '('"},
      {"unknown type", "kernel f(x: f64[n]) -> (y: f32[n]) {\n  y = exp(x)\n}\n", StatusCode::kParseError,
       "line 1, column 13: expected an element type (f32, f16, bf16, s32, s8, u8, e4m3, e5m2, e2m1, e8m0, bool, "
       "q8_0, q4_0, mxfp4), found 'f64'"},
      {"unknown op", kernel_with(sig, "  y = softmax(x)\n"), StatusCode::kParseError,
       "line 2, column 7: unknown op 'softmax'; the ops are listed in docs/ir.md"},
      {"misspelled op", kernel_with(sig, "  y = sigmod(x)\n"), StatusCode::kParseError,
       "line 2, column 7: unknown op 'sigmod'; did you mean 'sigmoid'?"},
      {"wrong arity", kernel_with(sig, "  y = exp(x, x)\n"), StatusCode::kInvalidPipeline,
       "line 2, column 7: op 'exp': expected 1 operand(s), got 2"},
      {"unknown attribute", kernel_with(sig, "  y = exp(x, scale=2)\n"), StatusCode::kInvalidPipeline,
       "line 2, column 7: op 'exp': unknown attribute 'scale'; this op takes no attributes"},
      {"bad attribute value", kernel_with(") -> (y: s8[n])", "  y = convert(x, to=s8, round=sideways)\n"),
       StatusCode::kInvalidPipeline, "line 2, column 7: op 'convert': unknown rounding mode 'sideways'"},
      {"attribute given twice", kernel_with(") -> (y: f32[2])", "  y, i = topk(x, k=2, k=3)\n"),
       StatusCode::kParseError, "line 2, column 23: attribute 'k' is given twice"},
      {"operand after attribute", kernel_with(") -> (y: s8[n])", "  y = convert(x, to=s8, x)\n"),
       StatusCode::kParseError,
       "line 2, column 25: expected an attribute 'name=value' (operands come before attributes), found 'x'"},
      {"undefined name", kernel_with(sig, "  y = exp(z)\n"), StatusCode::kInvalidPipeline,
       "line 2, column 11: 'z' is not defined"},
      {"name assigned twice", kernel_with(sig, "  e = exp(x)\n  e = log(x)\n  y = exp(e)\n"),
       StatusCode::kInvalidPipeline, "line 3, column 3: 'e' is already defined; every value is assigned once"},
      {"output never assigned", kernel_with(") -> (y: f32[n], z: f32)", "  y = exp(x)\n"),
       StatusCode::kInvalidPipeline, "line 1, column 36: output 'z' is declared but never assigned"},
      {"output type mismatch", kernel_with(") -> (y: s32[n])", "  y = exp(x)\n"), StatusCode::kInvalidPipeline,
       "line 2, column 3: output 'y' is declared s32[n] but is assigned a value of type f32[n]"},
      {"shape mismatch", kernel_with(", param k: s32) -> (y: f32[k])", "  v, i = topk(x, k=k)\n  y = v + x\n"),
       StatusCode::kInvalidPipeline,
       "line 3, column 9: op 'add': operand 'x' (f32[n]) has shape [n], which does not combine with shape [k]"},
      {"type mismatch", kernel_with(", label: s32" + sig, "  y = x + label\n"), StatusCode::kInvalidPipeline,
       "line 2, column 9: op 'add': operand 'label' (s32) has element type s32 but another operand has f32"},
      {"unterminated paren", kernel_with(sig, "  y = exp(x\n"), StatusCode::kParseError,
       "line 3, column 1: expected ',' or ')', found '}'"},
      {"paren open at end of input", "kernel f(x: f32[n]) -> (y: f32[n]) {\n  y = exp((x)\n",
       StatusCode::kParseError, "line 3, column 1: expected ',' or ')', found end of input"},
      {"garbage after brace", kernel_with(sig, "  y = exp(x)\n") + "# done\nfoo\n", StatusCode::kParseError,
       "line 5, column 1: expected end of input after '}', found 'foo'"},
      {"reserved word as value name", kernel_with(sig, "  n = exp(x)\n  y = exp(n)\n"), StatusCode::kParseError,
       "line 2, column 3: expected a value name, found reserved word 'n'"},
      {"reserved word as input name", "kernel f(inf: f32[n]) -> (y: f32[n]) {\n  y = exp(inf)\n}\n",
       StatusCode::kParseError, "line 1, column 10: expected an input name or 'param', found reserved word 'inf'"},
      {"reserved word in expression", kernel_with(sig, "  y = x * n\n"), StatusCode::kParseError,
       "line 2, column 11: expected an expression, found reserved word 'n'"},
      {"topk k names a non-parameter", kernel_with(", j: s32) -> (y: f32)", "  v, i = topk(x, k=j)\n  y = sum(v)\n"),
       StatusCode::kInvalidPipeline,
       "line 2, column 10: op 'topk': k='j' must name a scalar s32 parameter (param j: s32)"},
      {"one name for two results", kernel_with(") -> (y: f32[2])", "  y = topk(x, k=2)\n"),
       StatusCode::kInvalidPipeline,
       "line 2, column 3: the statement assigns 1 name, but op 'topk' returns 2 results"},
      {"two names for one result", kernel_with(sig, "  y, z = exp(x)\n"), StatusCode::kInvalidPipeline,
       "line 2, column 3: the statement assigns 2 names, but op 'exp' returns 1 result"},
      {"multi-result operand", kernel_with(") -> (y: f32[2])", "  y = exp(topk(x, k=2))\n"),
       StatusCode::kInvalidPipeline, "line 2, column 11: op 'topk' returns 2 results and cannot be an operand"},
      {"bad number", kernel_with(sig, "  y = x * 1e\n"), StatusCode::kParseError,
       "line 2, column 13: expected a digit in the exponent of number '1e', found end of line"},
      {"number out of range", kernel_with(sig, "  y = x * 1e999\n"), StatusCode::kParseError,
       "line 2, column 11: number '1e999' is outside the range of a double"},
      {"bound on u8 parameter", kernel_with(", param s: u8 > 0" + sig, "  y = exp(x)\n"),
       StatusCode::kInvalidPipeline,
       "line 1, column 33: parameter 's' has type u8; a bound applies only to a scalar f32 or s32 parameter"},
      {"default violates bound", kernel_with(", param tau: f32 > 0 = -1" + sig, "  y = x / tau\n"),
       StatusCode::kInvalidPipeline,
       "line 1, column 42: the default -1 of parameter 'tau' does not satisfy its bound > 0"},
      {"infinite f32 default", kernel_with(", param tau: f32 = inf" + sig, "  y = x / tau\n"),
       StatusCode::kInvalidPipeline, "line 1, column 38: the default of parameter 'tau' is inf"},
      {"missing equals", kernel_with(sig, "  y exp(x)\n"), StatusCode::kParseError,
       "line 2, column 5: expected '=' or ',', found 'exp'"},
      {"unexpected character", kernel_with(sig, "  y = x @ 2\n"), StatusCode::kParseError,
       "line 2, column 9: expected a name, number or operator, found '@'"},
      {"missing kernel keyword", "kernal f(x: f32[n]) -> (y: f32[n]) {\n  y = exp(x)\n}\n", StatusCode::kParseError,
       "line 1, column 1: expected 'kernel', found 'kernal'"},
      {"missing opening brace", "kernel f(x: f32[n]) -> (y: f32[n])\n  y = exp(x)\n}\n", StatusCode::kParseError,
       "line 2, column 3: expected '{', found 'y'"},
      {"two statements on a line", kernel_with(sig, "  y = exp(x) z = x\n"), StatusCode::kParseError,
       "line 2, column 14: expected a newline, ';' or '}' after the statement, found 'z'"},
      {"missing closing brace", "kernel f(x: f32[n]) -> (y: f32[n]) {\n  y = exp(x)\n", StatusCode::kParseError,
       "line 3, column 1: expected a statement or '}', found end of input"},
      {"zero length", "kernel f(x: f32[0]) -> (y: f32[n]) {\n  y = exp(x)\n}\n", StatusCode::kParseError,
       "line 1, column 17: expected a positive integer length, found '0'"},
      {"assignment renames input", kernel_with(sig, "  y = x\n"), StatusCode::kInvalidPipeline,
       "line 2, column 3: 'y' would only rename 'x'"},
  };
}

TEST(ParserErrors, MalformedPipelines) {
  std::vector<MalformedCase> cases = malformed_cases();
  ASSERT_GE(cases.size(), 20u);
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.label);
    auto parsed = parse_pipeline(c.text);
    ASSERT_FALSE(parsed.is_ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), c.code) << parsed.status().to_string();
    EXPECT_NE(parsed.status().message().find(c.message), std::string::npos)
        << "message: " << parsed.status().message() << "\nexpected to contain: " << c.message;
  }
}

TEST(ParserErrors, NestingLimit) {
  auto nested = [](int depth) {
    return "kernel f(x: f32[n]) -> (y: f32[n]) {\n  y = " + std::string(static_cast<size_t>(depth), '(') + "exp(x)" +
           std::string(static_cast<size_t>(depth), ')') + "\n}\n";
  };
  EXPECT_TRUE(parse_pipeline(nested(150)).is_ok());

  // The first '(' is at column 7, so the 201st, which would open level 201, is at column 207.
  auto parsed = parse_pipeline(nested(300));
  ASSERT_FALSE(parsed.is_ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kParseError);
  EXPECT_EQ(parsed.status().message(),
            "line 2, column 207: expression is nested more than 200 levels deep; split it into several statements");
}

TEST(ParserErrors, EmptyInput) {
  auto parsed = parse_pipeline("  # nothing\n");
  ASSERT_FALSE(parsed.is_ok());
  EXPECT_EQ(parsed.status().message(), "line 2, column 1: expected 'kernel', found end of input");
}

}  // namespace
}  // namespace rowjit::ir
