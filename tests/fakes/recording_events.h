// An EventRecorder that sends to its own FakeEventsApiserver, its sender thread running from
// construction to destruction: the setup every test of an event-recording component needs.
#pragma once

#include <memory>
#include <stdexcept>
#include <thread>

#include "kubelet/api/client.h"
#include "kubelet/api/events.h"
#include "tests/fakes/fake_events_apiserver.h"

namespace cubelet::testing {

class RecordingEvents {
 public:
  RecordingEvents() {
    config::RestConfig rc;
    rc.server = apiserver_.url();
    auto client = api::Client::create(rc);
    if (!client.ok()) throw std::runtime_error(std::string(client.status().message()));
    client_ = std::move(*client);
    recorder_ = std::make_unique<api::EventRecorder>(client_.get(), "kubelet", "node1", 1000, 1000);
    thread_ = std::jthread([this](std::stop_token st) { recorder_->run(st); });
  }
  ~RecordingEvents() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
  }
  api::EventRecorder& recorder() { return *recorder_; }
  FakeEventsApiserver& apiserver() { return apiserver_; }

 private:
  FakeEventsApiserver apiserver_;
  std::unique_ptr<api::Client> client_;
  std::unique_ptr<api::EventRecorder> recorder_;
  std::jthread thread_;
};

}  // namespace cubelet::testing
