#include "kubelet/logs/container_logs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/unit/fake_runtime_client.h"

namespace cubelet::logs {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using namespace std::chrono_literals;
using nlohmann::json;
using Query = std::multimap<std::string, std::string>;

class ContainerLogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("cubelet-container-logs-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
    current_ = (dir_ / "1.log").string();
    previous_ = (dir_ / "0.log").string();
    std::ofstream(previous_) << "2024-01-01T00:00:01Z stdout F before restart\n";
    std::ofstream(current_) << "2024-01-01T00:00:02Z stdout F hello\n"
                            << "2024-01-01T00:00:03Z stderr F world\n";
    fake_.containers["cur"] = {current_, v1::CONTAINER_RUNNING};
    fake_.containers["old"] = {previous_, v1::CONTAINER_EXITED};
    pod_ = {{"metadata", {{"name", "p"}, {"namespace", "ns"}}},
            {"spec", {{"containers", json::array({{{"name", "app"}}, {{"name", "pending"}}})}}},
            {"status",
             {{"containerStatuses",
               json::array({{{"name", "app"},
                             {"containerID", "containerd://cur"},
                             {"state", {{"running", json::object()}}},
                             {"lastState", {{"terminated", {{"containerID", "containerd://old"}}}}}},
                            {{"name", "pending"}, {"state", {{"waiting", {{"reason", "ErrImagePull"}}}}}}})}}}};
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::pair<int, std::string> run(const std::string& container, const Query& q, std::string* out,
                                  std::stop_token stop = {}) {
    return streamContainerLogs(fake_, pod_, container, q,
                               [out](std::string_view s) {
                                 out->append(s);
                                 return true;
                               },
                               stop);
  }

  fs::path dir_;
  std::string current_, previous_;
  fakes::FakeRuntimeClient fake_;
  json pod_;
};

TEST_F(ContainerLogsTest, StreamsTheCurrentAndThePreviousLog) {
  std::string out;
  EXPECT_EQ(run("app", {}, &out), std::make_pair(0, std::string()));
  EXPECT_EQ(out, "hello\nworld\n");
  out.clear();
  EXPECT_EQ(run("app", {{"previous", "true"}}, &out).first, 0);
  EXPECT_EQ(out, "before restart\n");
  out.clear();
  EXPECT_EQ(run("app", {{"tailLines", "1"}, {"timestamps", "1"}}, &out).first, 0);
  EXPECT_EQ(out, "2024-01-01T00:00:03.000000000Z world\n");
}

TEST_F(ContainerLogsTest, ErrorsAndTheirCodes) {
  std::string out;
  EXPECT_EQ(run("app", {{"tailLines", "x"}}, &out),
            std::make_pair(400, std::string(R"({"message": "Unable to decode query."})")));
  EXPECT_EQ(run("app", {{"limitBytes", "0"}}, &out),
            std::make_pair(422, std::string(R"({"message": "Invalid request."})")));
  EXPECT_EQ(run("nope", {}, &out), std::make_pair(404, std::string("container \"nope\" not found in pod \"p\"")));
  EXPECT_EQ(run("pending", {}, &out),
            std::make_pair(400, std::string("container \"pending\" in pod \"p\" is waiting to start: image can't be pulled")));
  fake_.containers.erase("cur");
  EXPECT_EQ(run("app", {}, &out), std::make_pair(400, std::string("unable to retrieve container logs for cur")));
  EXPECT_EQ(out, "");
}

TEST_F(ContainerLogsTest, FollowEndsWhenTheRuntimeSaysTheContainerExited) {
  std::string out;
  std::atomic<bool> done{false};
  std::pair<int, std::string> result;
  std::jthread t([&] {
    result = run("app", {{"follow", "true"}}, &out);
    done = true;
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(done.load());
  {
    std::lock_guard lock(fake_.mu);
    fake_.containers["cur"].state = v1::CONTAINER_EXITED;
  }
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(done.load());
  EXPECT_EQ(result.first, 0);
  EXPECT_EQ(out, "hello\nworld\n");
}

}  // namespace
}  // namespace cubelet::logs
