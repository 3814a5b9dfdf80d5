// Checks of the `rowjit run` command line against the pipeline signature, and
// the parsing of --param values. Every failure here is a usage error.
#include <cmath>
#include <set>
#include <sstream>

#include "tools/run_binding.h"
#include "tools/signature.h"

namespace rowjit::cli {
namespace {

std::string format_number(double value) {
  std::ostringstream text;
  text.precision(9);
  text << value;
  return text.str();
}

CommandStatus check_input_names(const ir::Pipeline& pipeline, const RunRequest& request) {
  std::set<std::string> given;
  for (const NameValue& input : request.inputs) {
    std::optional<ir::ValueId> id = pipeline.find_input(input.name);
    if (!id && pipeline.find_output(input.name)) {
      return usage_error("output given as an input", "--input " + input.name,
                         "give it as --output " + input.name + "=FILE.npy");
    }
    if (!id) {
      return usage_error("unknown input", "--input " + input.name,
                         "pipeline " + pipeline.name + " reads " +
                             join_names(tensor_entry_names(pipeline), "no input files"));
    }
    if (is_scalar_param(pipeline.value(*id))) {
      return usage_error("scalar parameter given as an input", "--input " + input.name,
                         "give it as --param " + input.name + "=VALUE");
    }
    if (!given.insert(input.name).second) {
      return usage_error("input given twice", input.name, "give --input " + input.name + " once");
    }
  }

  for (ir::ValueId id : pipeline.inputs) {
    const ir::Value& value = pipeline.value(id);
    if (is_tensor_entry(value) && !given.count(value.name)) {
      return usage_error("missing input", declaration(value),
                         "give --input " + value.name + "=FILE.npy");
    }
  }
  return command_ok();
}

CommandStatus check_param_names(const ir::Pipeline& pipeline, const RunRequest& request) {
  std::set<std::string> given;
  for (const NameValue& param : request.params) {
    std::optional<ir::ValueId> id = pipeline.find_input(param.name);
    if (!id) {
      std::vector<std::string> names = scalar_param_names(pipeline);
      std::string known = names.empty() ? "pipeline " + pipeline.name + " has no parameters; leave out --param"
                                        : "pipeline " + pipeline.name + " has the parameters " + join_names(names);
      return usage_error("unknown parameter", "--param " + param.name, known);
    }
    const ir::Value& value = pipeline.value(*id);
    if (!is_scalar_param(value)) {
      std::string what = value.kind == ir::ValueKind::kParam ? "vector parameter given as --param"
                                                             : "input given as --param";
      return usage_error(what, declaration(value),
                         "give it as --input " + param.name + "=FILE.npy");
    }
    if (!given.insert(param.name).second) {
      return usage_error("parameter given twice", param.name,
                         "give --param " + param.name + " once");
    }
  }

  for (ir::ValueId id : pipeline.inputs) {
    const ir::Value& value = pipeline.value(id);
    if (is_scalar_param(value) && !value.param_default && !given.count(value.name)) {
      return usage_error("missing parameter", declaration(value),
                         "give --param " + value.name + "=VALUE");
    }
  }
  return command_ok();
}

CommandStatus check_output_names(const ir::Pipeline& pipeline, const RunRequest& request) {
  if (request.outputs.empty()) {
    return usage_error("no output requested",
                       "pipeline " + pipeline.name + " writes " + join_names(output_names(pipeline)),
                       "give --output NAME=FILE.npy for at least one of them");
  }
  std::set<std::string> names;
  std::set<std::string> paths;
  for (const NameValue& output : request.outputs) {
    if (!pipeline.find_output(output.name)) {
      return usage_error("unknown output", "--output " + output.name,
                         "pipeline " + pipeline.name + " writes " +
                             join_names(output_names(pipeline)));
    }
    if (!names.insert(output.name).second) {
      return usage_error("output given twice", output.name,
                         "give --output " + output.name + " once");
    }
    if (!paths.insert(output.value).second) {
      return usage_error("two outputs name the same file", output.value,
                         "give each output its own file");
    }
  }
  return command_ok();
}

CommandStatus check_rows_from(const ir::Pipeline& pipeline, const RunRequest& request) {
  if (!request.rows_from) return command_ok();
  std::optional<ir::ValueId> id = pipeline.find_input(*request.rows_from);
  if (!id || pipeline.value(*id).kind != ir::ValueKind::kInput) {
    return usage_error("invalid --rows-from", *request.rows_from,
                       "name one of the per-row inputs of pipeline " + pipeline.name + ": " +
                           join_names(per_row_input_names(pipeline)));
  }
  return command_ok();
}

// Whether `param` is the length of a [k] shape anywhere in the pipeline.
bool is_length_param(const ir::Pipeline& pipeline, const ir::Value& param) {
  for (const ir::Value& value : pipeline.values) {
    const ir::Shape& shape = value.type.shape;
    if (shape.kind == ir::Shape::Kind::kFixed && shape.symbol == param.name) return true;
  }
  return false;
}

// Parses one --param value as the parameter's element type and checks it as
// the kernel would: an f32 value after rounding to f32, then its bound, and a
// [k] length for being at least 1. Any failure is a usage error.
CommandResult<double> parse_param_value(const ir::Pipeline& pipeline, const ir::Value& param,
                                        const std::string& text) {
  std::string what = "invalid value for --param " + param.name;
  std::string shown = "'" + text + "'";
  double value = 0;

  if (ir::is_integer(param.type.elem)) {
    std::optional<int64_t> integer = parse_integer(text);
    if (!integer) {
      return usage_error(what, shown, "give an integer, because it is declared " + declaration(param));
    }
    int64_t low = param.type.elem == ir::ElemType::kU8 ? 0
                  : param.type.elem == ir::ElemType::kS8 ? -128
                                                         : -2147483648LL;
    int64_t high = param.type.elem == ir::ElemType::kU8 ? 255
                   : param.type.elem == ir::ElemType::kS8 ? 127
                                                          : 2147483647LL;
    if (*integer < low || *integer > high) {
      return usage_error(what, shown,
                         "give an integer in [" + std::to_string(low) + ", " + std::to_string(high) +
                             "], because it is declared " + declaration(param));
    }
    value = static_cast<double>(*integer);
  } else {
    std::optional<double> real = parse_real(text);
    if (!real) {
      return usage_error(what, shown, "give a decimal number such as 0.5 or 1e-3");
    }
    if (!std::isfinite(*real)) {
      return usage_error(what, shown,
                         "give a finite number, because it is declared " + declaration(param));
    }
    value = *real;
  }

  // The kernel receives an f32 parameter as a float: 1e39 becomes inf, and
  // 1e-50 becomes 0, which breaks a bound such as "> 0".
  double effective = value;
  if (param.type.elem == ir::ElemType::kF32) {
    effective = static_cast<double>(static_cast<float>(value));
    if (!std::isfinite(effective)) {
      return usage_error(what, shown,
                         "give a number within +-3.4e38, because it is declared " + declaration(param) +
                             " and larger values overflow f32");
    }
    if (effective != value) shown += " (" + format_number(effective) + " in f32)";
  }
  if (param.param_bound) {
    bool strict = param.param_bound->relation == ir::ParamBound::Relation::kGreater;
    double limit = param.param_bound->limit;
    bool holds = strict ? effective > limit : effective >= limit;
    if (!holds) {
      return usage_error(what, shown,
                         "give a value " + std::string(strict ? "> " : ">= ") + format_number(limit) +
                             ", because it is declared " + declaration(param));
    }
  }
  if (value < 1 && is_length_param(pipeline, param)) {
    return usage_error(what, shown,
                       "give an integer >= 1, because it is the length of [" + param.name + "]");
  }
  return value;
}

}  // namespace

CommandStatus check_request_names(const ir::Pipeline& pipeline, const RunRequest& request) {
  ROWJIT_CLI_TRY(check_input_names(pipeline, request));
  ROWJIT_CLI_TRY(check_param_names(pipeline, request));
  ROWJIT_CLI_TRY(check_output_names(pipeline, request));
  ROWJIT_CLI_TRY(check_rows_from(pipeline, request));
  return command_ok();
}

CommandStatus bind_params(const ir::Pipeline& pipeline, const RunRequest& request,
                          ir::RunArgs& args) {
  for (const NameValue& param : request.params) {
    const ir::Value& value = pipeline.value(*pipeline.find_input(param.name));
    CommandResult<double> parsed = parse_param_value(pipeline, value, param.value);
    if (!parsed) return parsed.error();
    args.scalars[param.name] = *parsed;
  }
  return command_ok();
}

}  // namespace rowjit::cli
