#include "kubelet/logs/cri_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace cubelet::logs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

std::string line(int sec, const std::string& stream, const std::string& tag, const std::string& content) {
  char ts[64];
  snprintf(ts, sizeof ts, "2024-01-01T00:00:%02d.000000001Z", sec);
  return std::string(ts) + " " + stream + " " + tag + " " + content + "\n";
}

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() / ("cubelet-cri-log-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void append(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << text;
}

// Collects what readLogs writes.
struct Output {
  std::mutex mu;
  std::string text;
  int calls = 0;
  std::function<bool(std::string_view)> sink() {
    return [this](std::string_view s) {
      std::lock_guard lock(mu);
      text.append(s);
      ++calls;
      return true;
    };
  }
  std::string get() {
    std::lock_guard lock(mu);
    return text;
  }
  bool waitFor(const std::string& needle, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (get().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

std::string readAll(const std::string& path, const LogOptions& o) {
  Output out;
  auto st = readLogs(path, o, out.sink(), nullptr, std::stop_token());
  EXPECT_TRUE(st.ok()) << st;
  return out.get();
}

TEST(CriLogParseTest, FullAndPartialLines) {
  auto m = parseCriLogLine("2024-01-01T00:00:01.5Z stdout F hello world\n");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->stream, LogStream::kStdout);
  EXPECT_FALSE(m->partial);
  EXPECT_EQ(m->content, "hello world\n");
  EXPECT_EQ(formatRfc3339NanoFixed(m->time), "2024-01-01T00:00:01.500000000Z");

  m = parseCriLogLine("2024-01-01T02:00:01+02:00 stderr P:extra part\n");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->stream, LogStream::kStderr);
  EXPECT_TRUE(m->partial);
  EXPECT_EQ(m->content, "part");
  EXPECT_EQ(formatRfc3339NanoFixed(m->time), "2024-01-01T00:00:01.000000000Z");

  // Empty content is allowed.
  m = parseCriLogLine("2024-01-01T00:00:01Z stdout F \n");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->content, "\n");
}

TEST(CriLogParseTest, ErrorsSayWhatIsWrong) {
  struct Case {
    const char* line;
    const char* error;
  };
  for (const auto& c : {Case{"garbage", "timestamp is not found"},
                        Case{"yesterday stdout F x\n", "unexpected timestamp format"},
                        Case{"2024-01-01T00:00:01Z stdout\n", "stream type is not found"},
                        Case{"2024-01-01T00:00:01Z stdin F x\n", "unexpected stream type \"stdin\""},
                        Case{"2024-01-01T00:00:01Z stdout F\n", "log tag is not found"}}) {
    auto m = parseCriLogLine(c.line);
    ASSERT_FALSE(m.ok()) << c.line;
    EXPECT_NE(std::string(m.status().message()).find(c.error), std::string::npos) << m.status();
  }
}

class CriLogReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("0.log");
    append(path_, line(1, "stdout", "F", "one") + line(2, "stderr", "F", "two") + "not a log line\n" +
                      line(3, "stdout", "P", "thr") + line(3, "stdout", "P", "e") + line(4, "stdout", "F", "e!") +
                      line(5, "stderr", "F", "five"));
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(CriLogReadTest, AllLinesPartialsJoinedBadLinesSkipped) {
  EXPECT_EQ(readAll(path_, {}), "one\ntwo\nthree!\nfive\n");
}

TEST_F(CriLogReadTest, TimestampsPrefixOnlyLogicalLines) {
  LogOptions o;
  o.timestamps = true;
  EXPECT_EQ(readAll(path_, o),
            "2024-01-01T00:00:01.000000001Z one\n"
            "2024-01-01T00:00:02.000000001Z two\n"
            "2024-01-01T00:00:03.000000001Z three!\n"
            "2024-01-01T00:00:05.000000001Z five\n");
}

TEST_F(CriLogReadTest, TailCountsRawFileLines) {
  LogOptions o;
  o.tailLines = 2;
  EXPECT_EQ(readAll(path_, o), "e!\nfive\n");
  o.tailLines = 4;  // from the first fragment
  EXPECT_EQ(readAll(path_, o), "three!\nfive\n");
  o.tailLines = 0;
  EXPECT_EQ(readAll(path_, o), "");
  o.tailLines = 100;
  EXPECT_EQ(readAll(path_, o), "one\ntwo\nthree!\nfive\n");
}

TEST_F(CriLogReadTest, TailAcrossBlocks) {
  TempDir d;
  std::string p = d.file("big.log");
  std::string all;
  for (int i = 0; i < 2000; ++i) all += line(i % 60, "stdout", "F", "line " + std::to_string(i));
  append(p, all);
  LogOptions o;
  o.tailLines = 3;
  EXPECT_EQ(readAll(p, o), "line 1997\nline 1998\nline 1999\n");
  o.tailLines = 1500;
  std::string got = readAll(p, o);
  EXPECT_EQ(got.substr(0, 9), "line 500\n");
}

TEST_F(CriLogReadTest, SinceSkipsOlderLines) {
  LogOptions o;
  o.since = parseRfc3339("2024-01-01T00:00:03Z");
  EXPECT_EQ(readAll(path_, o), "three!\nfive\n");
}

TEST_F(CriLogReadTest, LimitBytesCountsPrefixesAndCutsTheLastLine) {
  LogOptions o;
  o.limitBytes = 6;
  EXPECT_EQ(readAll(path_, o), "one\ntw");
  o.timestamps = true;
  o.limitBytes = 35;  // 31 bytes of prefix + "one\n"
  EXPECT_EQ(readAll(path_, o), "2024-01-01T00:00:01.000000001Z one\n");
  o.limitBytes = 40;
  EXPECT_EQ(readAll(path_, o), "2024-01-01T00:00:01.000000001Z one\n2024-");
}

TEST_F(CriLogReadTest, StreamFilter) {
  LogOptions o;
  o.stream = "Stderr";
  EXPECT_EQ(readAll(path_, o), "two\nfive\n");
  o.stream = "Stdout";
  EXPECT_EQ(readAll(path_, o), "one\nthree!\n");
  // Filtered lines take no bytes.
  o.stream = "Stderr";
  o.limitBytes = 5;
  EXPECT_EQ(readAll(path_, o), "two\nf");
}

TEST_F(CriLogReadTest, IncompleteLastLineIsReadOnce) {
  append(path_, "2024-01-01T00:00:06Z stdout F unfinished");
  EXPECT_EQ(readAll(path_, {}), "one\ntwo\nthree!\nfive\nunfinished");
}

TEST_F(CriLogReadTest, ClientGoneStopsReading) {
  int calls = 0;
  auto st = readLogs(
      path_, {}, [&](std::string_view) { return ++calls < 2; }, nullptr, std::stop_token());
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(calls, 2);
}

TEST_F(CriLogReadTest, MissingFileIsNotFound) {
  Output out;
  auto st = readLogs(dir_.file("nope.log"), {}, out.sink(), nullptr, std::stop_token());
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(st.message()).find("nope.log"), std::string::npos);
}

TEST_F(CriLogReadTest, FollowReadsToTheEndWhenTheContainerHasExited) {
  LogOptions o;
  o.follow = true;
  o.tailLines = 1;
  Output out;
  auto st = readLogs(path_, o, out.sink(), [] { return false; }, std::stop_token());
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(out.get(), "five\n");
}

TEST(CriLogFollowTest, FollowsWritesAndRotationUntilTheContainerExits) {
  TempDir dir;
  std::string path = dir.file("0.log");
  append(path, line(1, "stdout", "F", "a1"));
  std::atomic<bool> running{true};
  std::atomic<bool> done{false};
  absl::Status result;
  Output out;
  std::atomic<int> statusChecks{0};
  LogOptions o;
  o.follow = true;
  std::jthread reader([&](std::stop_token st) {
    result = readLogs(path, o, out.sink(), [&] { ++statusChecks; return running.load(); }, st);
    done = true;
  });
  ASSERT_TRUE(out.waitFor("a1\n"));
  append(path, line(2, "stdout", "F", "a2"));
  ASSERT_TRUE(out.waitFor("a2\n"));
  // An incomplete line is not delivered until it is finished.
  append(path, "2024-01-01T00:00:03Z stdout F a");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(out.get(), "a1\na2\n");
  append(path, "3\n");
  ASSERT_TRUE(out.waitFor("a3\n"));
  // Rotation: a line lands in the old file just before the rename, the new file shows up a
  // little later.
  append(path, line(4, "stdout", "F", "a4"));
  fs::rename(path, path + ".20240101-000000");
  std::this_thread::sleep_for(300ms);
  append(path, line(5, "stderr", "F", "b1"));
  ASSERT_TRUE(out.waitFor("b1\n")) << out.get();
  append(path, line(6, "stdout", "F", "b2"));
  ASSERT_TRUE(out.waitFor("b2\n"));
  EXPECT_FALSE(done.load());
  // The container exits after its last line: that line is still read, then follow ends.
  append(path, line(7, "stdout", "F", "b3"));
  running = false;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(done.load());
  EXPECT_TRUE(result.ok()) << result;
  EXPECT_EQ(out.get(), "a1\na2\na3\na4\nb1\nb2\nb3\n");
  // Waiting is event- or timer-driven, not a busy loop.
  EXPECT_LT(statusChecks.load(), 100);
}

TEST(CriLogFollowTest, StopTokenEndsFollow) {
  TempDir dir;
  std::string path = dir.file("0.log");
  append(path, line(1, "stdout", "F", "x"));
  std::atomic<bool> done{false};
  Output out;
  LogOptions o;
  o.follow = true;
  std::jthread reader([&](std::stop_token st) {
    EXPECT_TRUE(readLogs(path, o, out.sink(), [] { return true; }, st).ok());
    done = true;
  });
  ASSERT_TRUE(out.waitFor("x\n"));
  std::this_thread::sleep_for(100ms);
  auto start = std::chrono::steady_clock::now();
  reader.request_stop();
  while (!done && std::chrono::steady_clock::now() - start < 3s) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(done.load());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

TEST(CriLogFollowTest, StopTokenEndsWaitingForARotatedFile) {
  TempDir dir;
  std::string path = dir.file("0.log");
  append(path, line(1, "stdout", "F", "x"));
  std::atomic<bool> done{false};
  Output out;
  LogOptions o;
  o.follow = true;
  std::jthread reader([&](std::stop_token st) {
    EXPECT_TRUE(readLogs(path, o, out.sink(), nullptr, st).ok());
    done = true;
  });
  ASSERT_TRUE(out.waitFor("x\n"));
  fs::remove(path);
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(done.load());
  reader.request_stop();
  auto start = std::chrono::steady_clock::now();
  while (!done && std::chrono::steady_clock::now() - start < 3s) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(done.load());
}

json status(std::initializer_list<json> list) {
  json s = json::object();
  s["containerStatuses"] = json::array();
  for (const auto& e : list) s["containerStatuses"].push_back(e);
  return json{{"status", s}};
}

TEST(ResolveLogContainerIdTest, PicksTheContainerAsUpstream) {
  json running = {{"name", "c"}, {"containerID", "containerd://abc"}, {"state", {{"running", json::object()}}},
                  {"lastState", {{"terminated", {{"containerID", "containerd://old"}}}}}};
  auto id = resolveLogContainerId(status({running}), "p", "c", false);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "abc");
  id = resolveLogContainerId(status({running}), "p", "c", true);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "old");

  // The bare status object works too, and init containers are looked up.
  json init = {{"name", "i"}, {"state", {{"terminated", {{"containerID", "containerd://ini"}}}}}};
  json bare = json::object();
  bare["initContainerStatuses"] = json::array({init});
  id = resolveLogContainerId(bare, "p", "i", false);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "ini");

  // Terminated without an id of its own: the last termination's.
  json restarted = {{"name", "c"}, {"state", {{"terminated", {{"reason", "x"}}}}},
                    {"lastState", {{"terminated", {{"containerID", "containerd://prev"}}}}}};
  id = resolveLogContainerId(status({restarted}), "p", "c", false);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "prev");
  // Waiting after a crash: the crashed container's log.
  json crashLoop = {{"name", "c"}, {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
                    {"lastState", {{"terminated", {{"containerID", "containerd://crashed"}}}}}};
  id = resolveLogContainerId(status({crashLoop}), "p", "c", false);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "crashed");
}

TEST(ResolveLogContainerIdTest, UpstreamErrorTexts) {
  auto msg = [](const json& st, const std::string& c, bool previous) {
    auto r = resolveLogContainerId(st, "p", c, previous);
    EXPECT_FALSE(r.ok());
    return std::string(r.status().message());
  };
  json waiting = [](const char* reason) {
    return json{{"name", "c"}, {"state", {{"waiting", {{"reason", reason}}}}}};
  }("ContainerCreating");
  EXPECT_EQ(msg(status({waiting}), "other", false), "container \"other\" in pod \"p\" is not available");
  EXPECT_EQ(msg(status({waiting}), "c", true), "previous terminated container \"c\" in pod \"p\" not found");
  EXPECT_EQ(msg(status({waiting}), "c", false), "container \"c\" in pod \"p\" is waiting to start: ContainerCreating");
  waiting["state"]["waiting"]["reason"] = "ErrImagePull";
  EXPECT_EQ(msg(status({waiting}), "c", false),
            "container \"c\" in pod \"p\" is waiting to start: image can't be pulled");
  waiting["state"]["waiting"]["reason"] = "ImagePullBackOff";
  EXPECT_EQ(msg(status({waiting}), "c", false),
            "container \"c\" in pod \"p\" is waiting to start: trying and failing to pull image");
  json noState = {{"name", "c"}};
  EXPECT_EQ(msg(status({noState}), "c", false), "container \"c\" in pod \"p\" is waiting to start - no logs yet");
  json terminatedNoId = {{"name", "c"}, {"state", {{"terminated", {{"exitCode", 1}}}}}};
  EXPECT_EQ(msg(status({terminatedNoId}), "c", false), "container \"c\" in pod \"p\" is terminated");
}

}  // namespace
}  // namespace cubelet::logs
