// Member access for tests that read JSON output with the library's reader
// (runtime/json_value.h).
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "runtime/json_value.h"

namespace rowjit::testing {

// Returns the member `name` of `object`. JsonValue::find returns null for a
// missing member, which a test would crash on, so a missing member records a
// test failure naming it and yields a null value instead.
inline const JsonValue& json_member(const JsonValue& object, std::string_view name) {
  static const JsonValue kMissing;
  const JsonValue* member = object.find(name);
  if (member == nullptr) {
    ADD_FAILURE() << "the JSON " << json_kind_name(object.kind) << " has no member \"" << name << "\"";
    return kMissing;
  }
  return *member;
}

}  // namespace rowjit::testing
