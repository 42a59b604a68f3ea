// A fake apiserver for the Events API only (httplib on 127.0.0.1): it accepts Event POSTs and
// PATCHes (the EventRecorder's repeats) and keeps every one in order, for tests that check
// which events a component recorded.
#pragma once

#include <httplib.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace cubelet::testing {

// Events as the apiserver received them: every POST, and every PATCH (a repeat) of one.
struct RecordedEvent {
  std::string type, reason, message, fieldPath;
};

class FakeEventsApiserver {
 public:
  FakeEventsApiserver() {
    srv_.Post(R"(/api/v1/namespaces/([^/]+)/events)", [this](const httplib::Request& req, httplib::Response& res) {
      nlohmann::json ev = nlohmann::json::parse(req.body, nullptr, false);
      std::lock_guard<std::mutex> l(mu_);
      if (ev.is_discarded()) {
        res.status = 400;
        return;
      }
      byName_[ev["metadata"]["name"].get<std::string>()] = ev;
      events_.push_back(toRecorded(ev));
      res.status = 201;
      res.set_content(ev.dump(), "application/json");
    });
    srv_.Patch(R"(/api/v1/namespaces/([^/]+)/events/([^/]+))",
               [this](const httplib::Request& req, httplib::Response& res) {
                 std::lock_guard<std::mutex> l(mu_);
                 auto it = byName_.find(req.matches[2].str());
                 if (it == byName_.end()) {
                   res.status = 404;
                   res.set_content(R"({"kind":"Status","reason":"NotFound","message":"not found"})",
                                   "application/json");
                   return;
                 }
                 events_.push_back(toRecorded(it->second));
                 res.set_content(it->second.dump(), "application/json");
               });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FakeEventsApiserver() {
    srv_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<RecordedEvent> events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }

 private:
  static RecordedEvent toRecorded(const nlohmann::json& ev) {
    return {ev.value("type", ""), ev.value("reason", ""), ev.value("message", ""),
            ev["involvedObject"].value("fieldPath", "")};
  }
  std::mutex mu_;
  std::vector<RecordedEvent> events_;
  std::map<std::string, nlohmann::json> byName_;
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace cubelet::testing
