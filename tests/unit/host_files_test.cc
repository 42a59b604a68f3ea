// The host files the runtime manager reads and writes (kubelet/runtime/host_files.h): whole
// reads with Go's error texts, and the atomic replacement of the managed hosts file.
#include "kubelet/runtime/host_files.h"
#include "kubelet/runtime/termination_message.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace cubelet::runtime {
namespace {

namespace fs = std::filesystem;

class HostFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("hostfiles-" + std::to_string(getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }

  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static mode_t modeOf(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  static ino_t inodeOf(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_ino;
  }
  // Entries of the directory other than `keep`.
  size_t strays(const std::string& keep) const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) n += e.path().filename() != keep;
    return n;
  }

  fs::path dir_;
};

TEST_F(HostFilesTest, ReadsWholeFilesAndWordsErrorsLikeGo) {
  const fs::path p = dir_ / "hosts";
  std::string big;
  for (int i = 0; i < 5000; ++i) big += "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + "\thost\n";
  std::ofstream(p, std::ios::binary) << big;
  auto read = readHostFile(p.string());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, big);

  std::ofstream(dir_ / "empty").flush();
  EXPECT_EQ(readHostFile((dir_ / "empty").string()).value_or("x"), "");

  auto missing = readHostFile((dir_ / "nope").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "open " + (dir_ / "nope").string() + ": no such file or directory");

  auto dir = readHostFile(dir_.string());
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().message(), "read " + dir_.string() + ": is a directory");
}

TEST_F(HostFilesTest, ReplacesWithExactContentAndModeWhateverTheUmask) {
  const fs::path p = dir_ / "etc-hosts";
  const mode_t old = ::umask(077);
  absl::Status st = replaceFileAtomically(p.string(), "first\n", 0644);
  ::umask(old);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(slurp(p), "first\n");
  EXPECT_EQ(modeOf(p), 0644u);
  EXPECT_EQ(strays("etc-hosts"), 0u) << "no temporary file is left behind";

  // New content is a new file: whoever holds the old one (a container's bind mount) keeps it
  // whole, and the path never shows a partial file.
  const ino_t before = inodeOf(p);
  std::ifstream held(p, std::ios::binary);
  ASSERT_TRUE(replaceFileAtomically(p.string(), "second, longer\n", 0644).ok());
  EXPECT_EQ(slurp(p), "second, longer\n");
  EXPECT_NE(inodeOf(p), before);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(held), {}), "first\n");
  EXPECT_EQ(strays("etc-hosts"), 0u);

  ASSERT_TRUE(replaceFileAtomically(p.string(), "", 0644).ok());
  EXPECT_EQ(slurp(p), "");
}

TEST_F(HostFilesTest, SameContentKeepsTheFileAndFixesItsMode) {
  const fs::path p = dir_ / "etc-hosts";
  ASSERT_TRUE(replaceFileAtomically(p.string(), "same\n", 0644).ok());
  const ino_t before = inodeOf(p);
  ASSERT_EQ(::chmod(p.c_str(), 0600), 0);
  ASSERT_TRUE(replaceFileAtomically(p.string(), "same\n", 0644).ok());
  EXPECT_EQ(inodeOf(p), before) << "containers that mounted it keep sharing it";
  EXPECT_EQ(modeOf(p), 0644u);
  // A prefix is not the same content.
  ASSERT_TRUE(replaceFileAtomically(p.string(), "same\nmore\n", 0644).ok());
  EXPECT_NE(inodeOf(p), before);
}

TEST_F(HostFilesTest, ASymlinkIsReplacedNotFollowed) {
  const fs::path target = dir_ / "target";
  std::ofstream(target) << "keep me\n";
  const fs::path p = dir_ / "etc-hosts";
  fs::create_symlink(target, p);
  ASSERT_TRUE(replaceFileAtomically(p.string(), "keep me\n", 0644).ok());
  EXPECT_FALSE(fs::is_symlink(p)) << "equal content behind a link is not the file itself";
  EXPECT_EQ(slurp(p), "keep me\n");
  EXPECT_EQ(slurp(target), "keep me\n");
}

TEST_F(HostFilesTest, ErrorsNameThePathAndLeaveNothingBehind) {
  const fs::path missingDir = dir_ / "no-such-pod" / "etc-hosts";
  absl::Status st = replaceFileAtomically(missingDir.string(), "x", 0644);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(missingDir.string() + ".tmp-"), std::string::npos) << st;
  EXPECT_NE(st.message().find("no such file or directory"), std::string::npos) << st;

  // A directory where the file should be: the rename fails, the temporary file goes.
  const fs::path p = dir_ / "etc-hosts";
  fs::create_directories(p / "inside");
  st = replaceFileAtomically(p.string(), "x", 0644);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("rename "), std::string::npos) << st;
  EXPECT_NE(st.message().find(" to " + p.string()), std::string::npos) << st;
  EXPECT_EQ(strays("etc-hosts"), 0u);

  if (::geteuid() != 0) {  // root writes anywhere
    fs::remove_all(p);
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
    st = replaceFileAtomically(p.string(), "x", 0644);
    EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
    EXPECT_NE(st.message().find("permission denied"), std::string::npos) << st;
  }
}

TEST(TerminationMessageTest, LastLogContentJoinsPartialLinesAndKeepsAnUnfinishedLast) {
  const std::string log =
      "2026-11-27T08:53:33.1Z stdout P par\n"
      "2026-11-27T08:53:33.2Z stdout F tial\n"
      "2026-11-27T08:53:33.3Z stderr F second\n"
      "2026-11-27T08:53:33.4Z stdout P DONE\n";
  EXPECT_EQ(lastLogContent(log), "partial\nsecond\nDONE");
  EXPECT_EQ(lastLogContent(log, 1), "DONE");
  EXPECT_EQ(lastLogContent(log, 80, 6), "d\nDONE");
}

}  // namespace
}  // namespace cubelet::runtime
