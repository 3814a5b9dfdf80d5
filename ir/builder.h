// Builder: constructs a Pipeline op by op, checking each op's typing rule as it
// is added. The text parser uses it, and so can C++ code that builds pipelines
// directly.
#pragma once

#include <string>
#include <vector>

#include "ir/pipeline.h"
#include "ir/status.h"

namespace rowjit::ir {

class Builder {
 public:
  explicit Builder(std::string pipeline_name);

  // Signature. Inputs and parameters get values at once; outputs are declared
  // with their type and bound later by bind_output().
  Result<ValueId> add_input(const std::string& name, ValueType type, SourceLoc loc = {});
  Result<ValueId> add_param(const std::string& name, ValueType type,
                            std::optional<double> default_value = std::nullopt,
                            std::optional<ParamBound> bound = std::nullopt, SourceLoc loc = {});
  Status declare_output(const std::string& name, ValueType type, SourceLoc loc = {});

  // A numeric literal. It takes the element type of the op that uses it.
  ValueId constant(double value, SourceLoc loc = {});

  // Appends an op, infers its result types and returns the result values.
  Result<std::vector<ValueId>> add_op(OpKind kind, std::vector<ValueId> operands,
                                      std::map<std::string, AttrValue> attrs = {},
                                      SourceLoc loc = {});
  // add_op for single-result ops.
  Result<ValueId> add(OpKind kind, std::vector<ValueId> operands,
                      std::map<std::string, AttrValue> attrs = {}, SourceLoc loc = {});

  // Gives `value` a source name (the statement "name = ..."). If `name` is a
  // declared output, the value becomes that output. Names are assigned once.
  Status name_value(ValueId value, const std::string& name, SourceLoc loc = {});

  // Looks up a named value (input, parameter or named intermediate).
  std::optional<ValueId> lookup(const std::string& name) const;

  // Checks that every output is bound and runs the verifier.
  Result<Pipeline> finish();

  const Pipeline& pipeline() const { return pipeline_; }

 private:
  struct DeclaredOutput {
    std::string name;
    ValueType type;
    SourceLoc loc;
    ValueId value = kNoValue;
  };

  Pipeline pipeline_;
  std::map<std::string, ValueId> names_;
  std::vector<DeclaredOutput> outputs_;
};

}  // namespace rowjit::ir
