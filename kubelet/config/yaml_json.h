// YAML documents (kubeconfig, KubeletConfiguration, manifests) to JSON, so one object model
// (nlohmann::json) serves everything read from YAML or from the apiserver.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace cubelet::config {

// Parses one YAML (or JSON, which is YAML) document. Plain scalars become bool, integer,
// float or null by the YAML 1.2 core schema; quoted scalars stay strings. `what` names the
// source (a file path) in error messages, with line and column.
absl::StatusOr<nlohmann::json> yamlToJson(std::string_view text, std::string_view what);

// Reads and parses a whole file; errors name the file.
absl::StatusOr<nlohmann::json> readYamlFile(const std::string& path);

}  // namespace cubelet::config
