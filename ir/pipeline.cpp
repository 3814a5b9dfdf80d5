#include "ir/pipeline.h"

namespace rowjit::ir {

std::optional<ValueId> Pipeline::find_input(const std::string& name) const {
  for (ValueId id : inputs) {
    if (value(id).name == name) return id;
  }
  return std::nullopt;
}

std::optional<ValueId> Pipeline::find_output(const std::string& name) const {
  for (ValueId id : outputs) {
    if (value(id).name == name) return id;
  }
  return std::nullopt;
}

std::string Pipeline::display_name(ValueId id) const {
  const Value& v = value(id);
  if (!v.name.empty()) return v.name;
  return "_" + std::to_string(id);
}

namespace {

template <typename T>
std::optional<T> attr_as(const Op& op, const std::string& key) {
  auto it = op.attrs.find(key);
  if (it == op.attrs.end()) return std::nullopt;
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> attr_int(const Op& op, const std::string& key) {
  return attr_as<int64_t>(op, key);
}

std::optional<double> attr_float(const Op& op, const std::string& key) {
  if (auto i = attr_as<int64_t>(op, key)) return static_cast<double>(*i);
  return attr_as<double>(op, key);
}

std::optional<bool> attr_bool(const Op& op, const std::string& key) {
  return attr_as<bool>(op, key);
}

std::optional<std::string> attr_word(const Op& op, const std::string& key) {
  return attr_as<std::string>(op, key);
}

}  // namespace rowjit::ir
