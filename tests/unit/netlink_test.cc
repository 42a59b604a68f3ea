// Unit tests for netlink/, as root, inside throwaway network namespaces these tests create
// (/run/netns/nltest-<pid>-<n>-<tag>) and always remove, even on failure. Nothing here reads
// or changes the root namespace's links, addresses or routes.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <stdexcept>
#include <thread>

#include "absl/strings/string_view.h"
#include "netlink/netns.h"

namespace cubelet::netlink {
namespace {

// `text` contains `part`; the failure message shows both. (Plain gtest: no gmock here.)
// (absl::string_view: Status messages; Debian's abseil does not alias std::string_view.)
::testing::AssertionResult contains(absl::string_view text, absl::string_view part) {
  if (text.find(part) != absl::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

constexpr std::string_view kPrefix = "nltest-";

std::string uniqueNetnsName(std::string_view tag) {
  static int counter = 0;
  return std::string(kPrefix) + std::to_string(getpid()) + "-" + std::to_string(++counter) + "-" + std::string(tag);
}

// Namespaces an earlier run of this test left behind when it was killed: ours by prefix,
// their process gone.
void removeStaleTestNamespaces() {
  DIR* d = opendir(std::string(kNetnsDir).c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind(kPrefix, 0) != 0) continue;
    pid_t pid = static_cast<pid_t>(std::atoi(name.c_str() + kPrefix.size()));
    if (pid > 0 && pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(name);
  }
  closedir(d);
  for (const auto& name : stale) (void)NamedNetns::remove(name);
}

bool isRoot() { return geteuid() == 0; }

ino_t currentNetnsInode() {
  auto ns = Netns::current();
  return ns.ok() ? ns->inode() : 0;
}

// ---------------------------------------------------------------------------------------------
// Namespaces.

class NetnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (isRoot()) removeStaleTestNamespaces();
  }
  void SetUp() override {
    if (!isRoot()) GTEST_SKIP() << "needs root: creates network namespaces";
    callerInode_ = currentNetnsInode();
    ASSERT_NE(callerInode_, 0u);
  }
  void TearDown() override {
    if (isRoot()) {
      EXPECT_EQ(currentNetnsInode(), callerInode_) << "the test's thread changed namespace";
    }
  }
  ino_t callerInode_ = 0;
};

TEST_F(NetnsTest, NamedNamespaceLifecycle) {
  std::string name = uniqueNetnsName("a");
  std::string path;
  {
    auto ns = NamedNetns::create(name);
    ASSERT_TRUE(ns.ok()) << ns.status();
    path = ns->path();
    EXPECT_EQ(path, std::string(kNetnsDir) + "/" + name);
    auto handle = ns->open();
    ASSERT_TRUE(handle.ok()) << handle.status();
    EXPECT_NE(handle->inode(), callerInode_) << "a new namespace, not ours";

    auto again = NamedNetns::create(name);
    EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();

    // The handle keeps the namespace alive after its name is gone.
    EXPECT_TRUE(ns->remove().ok());
    struct stat st {};
    EXPECT_NE(stat(path.c_str(), &st), 0) << path << " still exists";
    EXPECT_TRUE(ns->remove().ok()) << "idempotent";
    auto inside = runInNetns(*handle, [] { return currentNetnsInode(); });
    ASSERT_TRUE(inside.ok()) << inside.status();
    EXPECT_EQ(*inside, handle->inode());
  }
  EXPECT_TRUE(NamedNetns::remove(name).ok()) << "nothing there is success";
  EXPECT_EQ(NamedNetns::create("a/b").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NamedNetns::create("..").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NetnsTest, DestructorRemovesTheName) {
  std::string path;
  {
    auto ns = NamedNetns::create(uniqueNetnsName("d"));
    ASSERT_TRUE(ns.ok()) << ns.status();
    path = ns->path();
    NamedNetns moved = std::move(*ns);  // the moved-from one must not remove it
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0);
  }
  struct stat st {};
  EXPECT_NE(stat(path.c_str(), &st), 0) << path << " left behind";
}

TEST_F(NetnsTest, OpenChecksTheFileIsANetworkNamespace) {
  EXPECT_EQ(Netns::open("/proc/self/ns/uts").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(Netns::open("/proc/self/ns/uts").status().message(), "not a network namespace"));
  EXPECT_EQ(Netns::open("/proc/self/status").status().code(), absl::StatusCode::kInvalidArgument);
  auto missing = Netns::open(std::string(kNetnsDir) + "/" + uniqueNetnsName("missing"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  auto self = Netns::current();
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_EQ(self->inode(), callerInode_);
}

TEST_F(NetnsTest, RunInNetnsReturnsValuesAndErrorsAndNeverMovesTheCaller) {
  auto named = NamedNetns::create(uniqueNetnsName("run"));
  ASSERT_TRUE(named.ok()) << named.status();
  auto ns = named->open();
  ASSERT_TRUE(ns.ok()) << ns.status();

  // A plain value comes back as StatusOr<T>, computed inside the namespace.
  absl::StatusOr<ino_t> inode = runInNetns(*ns, [] { return currentNetnsInode(); });
  ASSERT_TRUE(inode.ok()) << inode.status();
  EXPECT_EQ(*inode, ns->inode());
  EXPECT_EQ(currentNetnsInode(), callerInode_);

  // By path and by fd too.
  auto byPath = runInNetns(named->path(), [] { return currentNetnsInode(); });
  ASSERT_TRUE(byPath.ok()) << byPath.status();
  EXPECT_EQ(*byPath, ns->inode());
  auto byFd = runInNetns(ns->fd(), [] { return currentNetnsInode(); });
  ASSERT_TRUE(byFd.ok()) << byFd.status();
  EXPECT_EQ(*byFd, ns->inode());

  // StatusOr<T> is not nested; its error passes through unchanged.
  absl::StatusOr<int> failed = runInNetns(*ns, []() -> absl::StatusOr<int> { return absl::NotFoundError("gone"); });
  EXPECT_EQ(failed.status(), absl::NotFoundError("gone"));
  absl::StatusOr<int> value = runInNetns(*ns, []() -> absl::StatusOr<int> { return 42; });
  EXPECT_EQ(value.value_or(0), 42);

  // Status and void give Status.
  absl::Status st = runInNetns(*ns, [] { return absl::AbortedError("stop"); });
  EXPECT_EQ(st, absl::AbortedError("stop"));
  bool ran = false;
  absl::Status done = runInNetns(*ns, [&] { ran = true; });
  EXPECT_TRUE(done.ok()) << done;
  EXPECT_TRUE(ran);

  // The namespace cannot be entered: the function never runs.
  ran = false;
  absl::Status bad = runInNetns(-1, [&] { ran = true; });
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.message(), "entering network namespace fd -1")) << bad;
  EXPECT_FALSE(ran);
  auto missing = runInNetns(std::string(kNetnsDir) + "/" + uniqueNetnsName("none"), [] { return 1; });
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  // Exceptions cross back to the caller.
  EXPECT_THROW((void)runInNetns(*ns, []() -> int { throw std::runtime_error("boom"); }), std::runtime_error);

  // Threads started inside inherit the namespace; the caller is still where it was.
  auto nested = runInNetns(*ns, [] {
    ino_t seen = 0;
    std::thread([&] { seen = currentNetnsInode(); }).join();
    return seen;
  });
  EXPECT_EQ(nested.value_or(0), ns->inode());
  EXPECT_EQ(currentNetnsInode(), callerInode_);
}

}  // namespace
}  // namespace cubelet::netlink
