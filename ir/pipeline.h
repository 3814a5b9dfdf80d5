// The pipeline: a typed SSA graph of ops that maps each row of its inputs to
// the same row of its outputs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ir/ops.h"
#include "ir/types.h"

namespace rowjit::ir {

using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;

// Position in pipeline text, 1-based; line 0 means "built in C++, no text".
struct SourceLoc {
  int line = 0;
  int column = 0;
};

enum class ValueKind : uint8_t {
  kInput,     // tensor or per-row scalar read from memory
  kParam,     // pipeline parameter: one scalar (or one [n] vector) for all rows
  kConstant,  // numeric literal
  kOpResult,
};

// A bound on a scalar parameter, checked when the pipeline runs ("tau: f32 > 0").
struct ParamBound {
  enum class Relation : uint8_t { kGreater, kGreaterEqual };
  Relation relation = Relation::kGreater;
  double limit = 0;
};

struct Value {
  std::string name;      // source name, or "" for an unnamed intermediate
  ValueType type;
  ValueKind kind = ValueKind::kOpResult;
  int32_t op = -1;       // defining op index, for kOpResult
  int32_t result = 0;    // which result of that op
  double constant = 0;   // kConstant
  std::optional<double> param_default;  // kParam with "= value"
  std::optional<ParamBound> param_bound;
  SourceLoc loc;
};

// Attribute value: an integer, a float, a bool, or a word (enum name or the
// name of an integer parameter, as in "k=k").
using AttrValue = std::variant<int64_t, double, bool, std::string>;

struct Op {
  OpKind kind;
  std::vector<ValueId> operands;
  std::vector<ValueId> results;
  std::map<std::string, AttrValue> attrs;  // ordered, so printing is stable
  SourceLoc loc;
};

struct Pipeline {
  std::string name;
  std::vector<Value> values;
  std::vector<Op> ops;              // in program order
  std::vector<ValueId> inputs;      // inputs and params, in signature order
  std::vector<ValueId> outputs;     // in signature order; each is an op result or input

  const Value& value(ValueId id) const { return values.at(static_cast<size_t>(id)); }
  Value& value(ValueId id) { return values.at(static_cast<size_t>(id)); }

  // Finds a signature input, parameter or output by name.
  std::optional<ValueId> find_input(const std::string& name) const;
  std::optional<ValueId> find_output(const std::string& name) const;
  // Name used for a value in text: its source name or "_<id>".
  std::string display_name(ValueId id) const;
};

// Typed accessors for attributes; they return nullopt when the attribute is
// missing or has another type.
std::optional<int64_t> attr_int(const Op& op, const std::string& key);
std::optional<double> attr_float(const Op& op, const std::string& key);
std::optional<bool> attr_bool(const Op& op, const std::string& key);
std::optional<std::string> attr_word(const Op& op, const std::string& key);

}  // namespace rowjit::ir
