// EventRecorder against a fake apiserver: repeats fold into a count, similar events (same
// object, type and reason, other messages) are combined from the tenth distinct message on.
#include "kubelet/api/events.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

namespace cubelet::api {
namespace {

using namespace std::chrono_literals;

class FakeEvents {
 public:
  FakeEvents() {
    srv_.Post(R"(/api/v1/namespaces/([^/]+)/events)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      json ev = json::parse(req.body);
      created_.push_back(ev);
      res.set_content(ev.dump(), "application/json");
    });
    srv_.Patch(R"(/api/v1/namespaces/([^/]+)/events/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      patched_.push_back({req.matches[2], json::parse(req.body)});
      res.set_content(R"({"kind":"Event"})", "application/json");
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(5ms);
  }
  ~FakeEvents() {
    srv_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<json> created() {
    std::lock_guard<std::mutex> l(mu_);
    return created_;
  }
  std::vector<std::pair<std::string, json>> patched() {
    std::lock_guard<std::mutex> l(mu_);
    return patched_;
  }

 private:
  std::mutex mu_;
  std::vector<json> created_;
  std::vector<std::pair<std::string, json>> patched_;
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
};

template <typename F>
bool eventually(F f) {
  for (int i = 0; i < 300; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

class EventRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config::RestConfig rc;
    rc.server = fake_.url();
    client_ = std::move(*Client::create(rc));
    recorder_ = std::make_unique<EventRecorder>(client_.get(), "kubelet", "node1", 1000, 1000);
    thread_ = std::jthread([this](std::stop_token st) { recorder_->run(st); });
  }
  void TearDown() override {
    thread_.request_stop();
    thread_.join();
  }
  ObjectRef pod_{"Pod", "v1", "web", "default", "uid-1", ""};
  FakeEvents fake_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<EventRecorder> recorder_;
  std::jthread thread_;
};

TEST_F(EventRecorderTest, IdenticalRepeatsFoldIntoACount) {
  recorder_->record(pod_, "Warning", "BackOff", "Back-off restarting failed container");
  ASSERT_TRUE(eventually([&] { return fake_.created().size() == 1; }));
  recorder_->record(pod_, "Warning", "BackOff", "Back-off restarting failed container");
  recorder_->record(pod_, "Warning", "BackOff", "Back-off restarting failed container");
  ASSERT_TRUE(eventually([&] { return fake_.patched().size() == 2; }));
  auto created = fake_.created()[0];
  EXPECT_EQ(created["reason"], "BackOff");
  EXPECT_EQ(created["involvedObject"]["uid"], "uid-1");
  EXPECT_EQ(created["source"]["component"], "kubelet");
  EXPECT_EQ(fake_.patched()[0].first, created["metadata"]["name"]);
  EXPECT_EQ(fake_.patched()[1].second["count"], 3);
}

TEST_F(EventRecorderTest, SimilarEventsAreCombinedFromTheTenthMessage) {
  for (int i = 0; i < 9; ++i) recorder_->record(pod_, "Warning", "Failed", "error " + std::to_string(i));
  ASSERT_TRUE(eventually([&] { return fake_.created().size() == 9; }));
  recorder_->record(pod_, "Warning", "Failed", "error 9");
  ASSERT_TRUE(eventually([&] { return fake_.created().size() == 10; }));
  EXPECT_EQ(fake_.created()[9]["message"], "(combined from similar events): error 9");
  // Further similar events update the combined one, with the newest message.
  recorder_->record(pod_, "Warning", "Failed", "error 10");
  ASSERT_TRUE(eventually([&] { return fake_.patched().size() == 1; }));
  EXPECT_EQ(fake_.patched()[0].first, fake_.created()[9]["metadata"]["name"]);
  EXPECT_EQ(fake_.patched()[0].second["message"], "(combined from similar events): error 10");
  EXPECT_EQ(fake_.patched()[0].second["count"], 2);
  // Another reason, or another object, is not combined.
  recorder_->record(pod_, "Normal", "Pulled", "pulled");
  ObjectRef other = pod_;
  other.uid = "uid-2";
  recorder_->record(other, "Warning", "Failed", "error 11");
  ASSERT_TRUE(eventually([&] { return fake_.created().size() == 12; }));
  EXPECT_EQ(fake_.created()[10]["message"], "pulled");
  EXPECT_EQ(fake_.created()[11]["message"], "error 11");
}

}  // namespace
}  // namespace cubelet::api
