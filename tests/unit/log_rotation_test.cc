#include "kubelet/logs/log_rotation.h"
#include "tests/unit/fake_runtime_client.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

namespace cubelet::logs {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using FakeRuntime = fakes::FakeRuntimeClient;
using namespace std::chrono_literals;

std::string suffixFor(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  struct tm tm;
  localtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

std::string gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return "<cannot open>";
  std::string out;
  char buf[4096];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class LogRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() / ("cubelet-log-rotation-test-" + std::to_string(getpid()) + "-" +
                                        std::to_string(counter++));
    fs::create_directories(dir_);
    log_ = (dir_ / "0.log").string();
    fake_.containers["c1"] = {log_, v1::CONTAINER_RUNNING};
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<ContainerLogManager> manager(int maxFiles, int64_t maxSize = 10) {
    ContainerLogManagerOptions o;
    o.maxFiles = maxFiles;
    o.maxSize = maxSize;
    o.now = [this] { return now_; };
    auto m = ContainerLogManager::create(&fake_, o);
    EXPECT_TRUE(m.ok()) << m.status();
    return std::move(*m);
  }
  void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::app) << text; }
  std::vector<std::string> files() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
  std::string log_;
  FakeRuntime fake_;
  std::chrono::system_clock::time_point now_ = std::chrono::system_clock::from_time_t(1700000000);
};

TEST_F(LogRotationTest, OptionsAreValidated) {
  ContainerLogManagerOptions o;
  o.maxFiles = 1;
  auto m = ContainerLogManager::create(&fake_, o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(), "invalid MaxFiles 1, must be > 1");
  o.maxFiles = 2;
  o.maxWorkers = 0;
  EXPECT_FALSE(ContainerLogManager::create(&fake_, o).ok());
}

TEST_F(LogRotationTest, RotatesOnlyRunningContainersAtMaxSize) {
  std::string small = (dir_ / "small.log").string();
  std::string exited = (dir_ / "exited.log").string();
  fake_.containers["c2"] = {small, v1::CONTAINER_RUNNING};
  fake_.containers["c3"] = {exited, v1::CONTAINER_EXITED};
  write(log_, "0123456789");  // exactly maxSize
  write(small, "012345678");
  write(exited, "0123456789abcdef");
  auto m = manager(5);
  ASSERT_TRUE(m->rotateOnce().ok());
  std::string rotated = "0.log." + suffixFor(now_);
  EXPECT_EQ(files(), (std::vector<std::string>{"0.log", rotated, "exited.log", "small.log"}));
  EXPECT_EQ(slurp((dir_ / rotated).string()), "0123456789");
  EXPECT_EQ(fs::file_size(log_), 0u);
  EXPECT_EQ(fake_.reopened, std::vector<std::string>{"c1"});
}

TEST_F(LogRotationTest, AsksTheRuntimeForAContainersLogPathOnceWhileItRuns) {
  write(log_, "");
  auto m = manager(5);
  for (int round = 0; round < 3; ++round) ASSERT_TRUE(m->rotateOnce().ok());
  EXPECT_EQ(fake_.statusCalls["c1"], 1);
  // Stopped, then running again (a new instance would have a new ID; the path is asked anew
  // all the same).
  fake_.containers["c1"].state = v1::CONTAINER_EXITED;
  ASSERT_TRUE(m->rotateOnce().ok());
  fake_.containers["c1"].state = v1::CONTAINER_RUNNING;
  write(log_, "0123456789");
  ASSERT_TRUE(m->rotateOnce().ok());
  EXPECT_EQ(fake_.statusCalls["c1"], 2);
  EXPECT_EQ(fake_.reopened, std::vector<std::string>{"c1"});  // and it still rotates
}

TEST_F(LogRotationTest, KeepsMaxFilesAndCompressesOlderOnes) {
  ::chmod(dir_.c_str(), 0755);
  auto m = manager(4);
  std::vector<std::string> suffixes;
  for (int round = 0; round < 5; ++round) {
    write(log_, "round " + std::to_string(round) + " data\n");
    ::chmod(log_.c_str(), 0640);
    suffixes.push_back(suffixFor(now_));
    ASSERT_TRUE(m->rotateOnce().ok()) << round;
    now_ += 1s;
  }
  // Live log + newest rotated uncompressed + maxFiles-2 compressed.
  EXPECT_EQ(files(), (std::vector<std::string>{"0.log", "0.log." + suffixes[2] + ".gz",
                                               "0.log." + suffixes[3] + ".gz", "0.log." + suffixes[4]}));
  EXPECT_EQ(gunzip((dir_ / ("0.log." + suffixes[2] + ".gz")).string()), "round 2 data\n");
  EXPECT_EQ(gunzip((dir_ / ("0.log." + suffixes[3] + ".gz")).string()), "round 3 data\n");
  EXPECT_EQ(slurp((dir_ / ("0.log." + suffixes[4])).string()), "round 4 data\n");
  struct stat st;
  ASSERT_EQ(::stat((dir_ / ("0.log." + suffixes[3] + ".gz")).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);

  auto all = ContainerLogManager::allLogs(log_);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ(all->back(), log_);
  EXPECT_EQ(all->front(), (dir_ / ("0.log." + suffixes[2] + ".gz")).string());
}

TEST_F(LogRotationTest, RemovesTmpAndUncompressedDuplicates) {
  write(log_ + ".20200101-000000.tmp", "half");
  write(log_ + ".20200101-000001", "dup");
  write(log_ + ".20200101-000001.gz", "x");
  write(log_, "0123456789");
  auto m = manager(5);
  ASSERT_TRUE(m->rotateOnce().ok());
  EXPECT_EQ(files(), (std::vector<std::string>{"0.log", "0.log.20200101-000001.gz", "0.log." + suffixFor(now_)}));
}

TEST_F(LogRotationTest, FailedReopenRenamesTheLogBack) {
  fake_.reopenError = absl::UnavailableError("runtime down");
  write(log_, "0123456789");
  auto m = manager(5);
  auto st = m->rotateOnce();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find("failed to reopen container log c1"), std::string::npos) << st;
  EXPECT_EQ(files(), std::vector<std::string>{"0.log"});
  EXPECT_EQ(slurp(log_), "0123456789");
}

TEST_F(LogRotationTest, MissingLiveLogIsReopened) {
  auto m = manager(5);
  ASSERT_TRUE(m->rotateOnce().ok());
  EXPECT_EQ(fake_.reopened, std::vector<std::string>{"c1"});
  EXPECT_EQ(files(), std::vector<std::string>{"0.log"});
}

TEST_F(LogRotationTest, DisabledDoesNothing) {
  write(log_, "0123456789");
  auto m = manager(5, 0);
  EXPECT_FALSE(m->enabled());
  ASSERT_TRUE(m->rotateOnce().ok());
  EXPECT_EQ(fake_.listCalls, 0);
  EXPECT_EQ(files(), std::vector<std::string>{"0.log"});
}

TEST_F(LogRotationTest, WorkersRotateManyContainers) {
  ContainerLogManagerOptions o;
  o.maxSize = 4;
  o.maxWorkers = 3;
  o.now = [this] { return now_; };
  for (int i = 0; i < 6; ++i) {
    std::string p = (dir_ / ("c" + std::to_string(i) + ".log")).string();
    fake_.containers["w" + std::to_string(i)] = {p, v1::CONTAINER_RUNNING};
    write(p, "12345");
  }
  auto m = ContainerLogManager::create(&fake_, o);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->rotateOnce().ok());
  EXPECT_EQ(fake_.reopened.size(), 7u);  // six + c1, whose log did not exist
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(fs::exists(dir_ / ("c" + std::to_string(i) + ".log." + suffixFor(now_)))) << i;
  }
}

TEST_F(LogRotationTest, CleanRemovesTheLogAndItsRotatedFiles) {
  write(log_, "live");
  write(log_ + ".20200101-000000.gz", "x");
  write(log_ + ".20200101-000001", "y");
  write((dir_ / "1.log").string(), "other container attempt");
  auto m = manager(5, 0);  // works with rotation disabled too
  ASSERT_TRUE(m->clean("c1").ok());
  EXPECT_EQ(files(), std::vector<std::string>{"1.log"});
  EXPECT_EQ(m->clean("missing").code(), absl::StatusCode::kNotFound);
}

TEST_F(LogRotationTest, MonitorThreadRotatesAndStops) {
  ContainerLogManagerOptions o;
  o.maxSize = 4;
  o.monitorInterval = 20ms;
  o.now = [this] { return now_; };
  write(log_, "12345");
  auto m = ContainerLogManager::create(&fake_, o);
  ASSERT_TRUE(m.ok());
  (*m)->start();
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!fs::exists(log_ + "." + suffixFor(now_)) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(fs::exists(log_ + "." + suffixFor(now_)));
  auto start = std::chrono::steady_clock::now();
  (*m)->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  int calls = 0;
  {
    std::lock_guard lock(fake_.mu);
    calls = fake_.listCalls;
  }
  std::this_thread::sleep_for(60ms);
  std::lock_guard lock(fake_.mu);
  EXPECT_EQ(fake_.listCalls, calls);
}

}  // namespace
}  // namespace cubelet::logs
