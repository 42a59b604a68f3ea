// Where the volume manager reads the configMaps and secrets of its pods from: the object
// cache (one watch per referenced object) in the agent, a fake in tests.
#pragma once

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace cubelet::volume {

class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  // The objects (names in namespace `ns`) the pod references now; replaces what it referenced
  // before.
  virtual void registerPod(const std::string& podUid, const std::string& ns, const std::set<std::string>& names) = 0;
  virtual void unregisterPod(const std::string& podUid) = 0;
  // The object; NotFound with the upstream message (`configmap "x" not found`) when it does
  // not exist.
  virtual absl::StatusOr<nlohmann::json> get(const std::string& ns, const std::string& name) = 0;
};

}  // namespace cubelet::volume
