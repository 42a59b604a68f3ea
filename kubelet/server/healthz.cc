#include "kubelet/server/healthz.h"

#include <httplib.h>

namespace cubelet::server {

HealthzServer::HealthzServer() : srv_(std::make_unique<httplib::Server>()) {
  auto ok = [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain; charset=utf-8"); };
  srv_->Get("/healthz", ok);
  srv_->Get("/healthz/ping", ok);
  srv_->Get("/healthz/syncloop", ok);
  // Two workers answer a health check in microseconds; the default pool has eight threads.
  srv_->new_task_queue = [] { return new httplib::ThreadPool(2); };
}

HealthzServer::~HealthzServer() { stop(); }

absl::Status HealthzServer::start(const std::string& address, int port) {
  if (port == 0) return absl::OkStatus();  // disabled, as upstream
  if (!srv_->bind_to_port(address.c_str(), port)) {
    return absl::UnavailableError("cannot listen on " + address + ":" + std::to_string(port) + " for healthz");
  }
  port_ = port;
  thread_ = std::thread([this] { srv_->listen_after_bind(); });
  return absl::OkStatus();
}

void HealthzServer::stop() {
  if (thread_.joinable()) {
    srv_->stop();
    thread_.join();
  }
}

}  // namespace cubelet::server
