// CRI v1 client over gRPC (unix socket). Only what the node needs so far: Version and
// Status; the pod lifecycle calls arrive with the pod work. Thread-safe (gRPC stubs are).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cubelet::runtime {

struct RuntimeVersion {
  std::string runtimeName;         // "containerd"
  std::string runtimeVersion;      // "1.6.20~ds1"
  std::string runtimeApiVersion;   // "v1"
};

struct RuntimeCondition {
  std::string type;  // RuntimeReady, NetworkReady
  bool status = false;
  std::string reason;
  std::string message;
};

struct RuntimeStatus {
  std::vector<RuntimeCondition> conditions;
  const RuntimeCondition* find(const std::string& type) const {
    for (const auto& c : conditions)
      if (c.type == type) return &c;
    return nullptr;
  }
};

class CriClient {
 public:
  // `endpoint` as the kubelet takes it: unix:///path or a bare /path.
  static absl::StatusOr<std::unique_ptr<CriClient>> connect(const std::string& endpoint,
                                                            std::chrono::milliseconds timeout);
  virtual ~CriClient() = default;
  virtual absl::StatusOr<RuntimeVersion> version() = 0;
  virtual absl::StatusOr<RuntimeStatus> status() = 0;
};

// The kubelet's formatting of a condition in NotReady messages:
// "NetworkReady=false reason:NetworkPluginNotReady message:..."
std::string describeCondition(const RuntimeCondition* c);

}  // namespace cubelet::runtime
