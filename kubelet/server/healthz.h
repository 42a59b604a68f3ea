// The kubelet's plain-HTTP healthz endpoint (healthzBindAddress:healthzPort, default
// 127.0.0.1:10248). It answers from start-up on, before the node is registered.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace httplib {
class Server;
}

namespace cubelet::server {

class HealthzServer {
 public:
  HealthzServer();
  ~HealthzServer();  // stops and joins
  // Binds now (errors are returned, e.g. port in use) and serves on a thread.
  absl::Status start(const std::string& address, int port);
  void stop();
  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> srv_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace cubelet::server
