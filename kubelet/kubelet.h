// The agent: built from a Config (no threads, no I/O beyond reading credentials), then run()
// starts healthz, registers the node and keeps its status and lease current until stopped.
#pragma once

#include <memory>
#include <stop_token>

#include "absl/status/statusor.h"
#include "kubelet/config/config.h"

namespace cubelet {

class Kubelet {
 public:
  static absl::StatusOr<std::unique_ptr<Kubelet>> create(const config::Config& cfg);
  virtual ~Kubelet() = default;
  // Runs until `stop` is requested; returns the process exit status.
  virtual int run(std::stop_token stop) = 0;
};

}  // namespace cubelet
