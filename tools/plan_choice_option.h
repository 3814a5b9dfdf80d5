// The --choice NAME=VALUE option of `rowjit dump` and `rowjit plan`: forces
// one of the plan's choices (ir::PlanChoices) other than the softmax form,
// which --plan forces.
#pragma once

#include <string>
#include <string_view>

#include "ir/plan.h"
#include "tools/command_error.h"

namespace rowjit::cli {

// The names --choice accepts, joined for help and error messages.
std::string plan_choice_names();

// Sets in `choices` the choice that `argument` ("unroll=2") names. Usage
// errors: an unknown name, a value that is not an integer (on or off for a
// flag), and a choice that `choices` already forces, because two values for
// one choice are a mistake. The planner checks the ranges when it plans.
CommandStatus apply_plan_choice(std::string_view argument, ir::PlanChoices& choices);

}  // namespace rowjit::cli
