#include "kubelet/config/yaml_json.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace cubelet::config {
namespace {

using nlohmann::json;

json scalarToJson(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: always a string
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  {
    int64_t v = 0;
    const char* b = s.data();
    const char* e = s.data() + s.size();
    if (*b == '+') ++b;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec == std::errc() && p == e) return v;
  }
  {
    bool looksNumeric = s.find_first_not_of("0123456789+-.eE") == std::string::npos &&
                        s.find_first_of("0123456789") != std::string::npos;
    if (looksNumeric) {
      char* end = nullptr;
      errno = 0;
      double d = strtod(s.c_str(), &end);
      if (errno == 0 && end == s.c_str() + s.size()) return d;
    }
  }
  return s;
}

absl::StatusOr<json> toJson(const YAML::Node& n, std::string_view what) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return json(nullptr);
    case YAML::NodeType::Scalar:
      return scalarToJson(n);
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const auto& item : n) {
        auto v = toJson(item, what);
        if (!v.ok()) return v.status();
        arr.push_back(std::move(*v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(std::string(what) + ": line " +
                                            std::to_string(kv.first.Mark().line + 1) +
                                            ": mapping keys must be scalars");
        }
        auto v = toJson(kv.second, what);
        if (!v.ok()) return v.status();
        obj[kv.first.Scalar()] = std::move(*v);
      }
      return obj;
    }
  }
  return json(nullptr);
}

}  // namespace

absl::StatusOr<nlohmann::json> yamlToJson(std::string_view text, std::string_view what) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return toJson(root, what);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(std::string(what) + ": invalid YAML at line " +
                                      std::to_string(e.mark.line + 1) + ", column " +
                                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

absl::StatusOr<nlohmann::json> readYamlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError("cannot read " + path + ": " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return yamlToJson(ss.str(), path);
}

}  // namespace cubelet::config
