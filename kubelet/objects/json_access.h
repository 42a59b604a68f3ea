// Safe reads of JSON that came from outside (the apiserver, files): a missing key, a null, or
// a value of another type yields the fallback instead of throwing. Use these for every read
// of an API response so a malformed object can never take the agent down.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cubelet::objects {

using Path = std::initializer_list<std::string_view>;

// The value at `path`, or nullptr when any step is missing or not an object.
inline const nlohmann::json* find(const nlohmann::json& j, Path path) {
  const nlohmann::json* cur = &j;
  for (std::string_view key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

inline std::string str(const nlohmann::json& j, Path path, std::string fallback = "") {
  const nlohmann::json* v = find(j, path);
  return v && v->is_string() ? v->get<std::string>() : fallback;
}

inline int64_t integer(const nlohmann::json& j, Path path, int64_t fallback) {
  const nlohmann::json* v = find(j, path);
  return v && v->is_number_integer() ? v->get<int64_t>() : fallback;
}

inline bool boolean(const nlohmann::json& j, Path path, bool fallback) {
  const nlohmann::json* v = find(j, path);
  return v && v->is_boolean() ? v->get<bool>() : fallback;
}

// The object at `path`, or an empty object.
inline const nlohmann::json& object(const nlohmann::json& j, Path path) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json* v = find(j, path);
  return v && v->is_object() ? *v : kEmpty;
}

// The array at `path`, or an empty array.
inline const nlohmann::json& array(const nlohmann::json& j, Path path) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  const nlohmann::json* v = find(j, path);
  return v && v->is_array() ? *v : kEmpty;
}

}  // namespace cubelet::objects
