// Mount helpers and subPath preparation. Every test that mounts does so in a forked child
// that first enters a private mount namespace (and makes / rprivate), below a temp dir the
// parent creates and removes; the parent never mounts. Needs root.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "kubelet/volume/mount.h"
#include "kubelet/volume/subpath.h"

namespace cubelet::volume {
namespace {

namespace fs = std::filesystem;

// In a child: report a failed check on stderr and fail the child.
#define CHILD_CHECK(cond)                                                                  \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: child check failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                                            \
    }                                                                                      \
  } while (0)
#define CHILD_OK(expr)                                                                          \
  do {                                                                                          \
    auto _st = (expr);                                                                          \
    if (!_st.ok()) {                                                                            \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, _st.ToString().c_str()); \
      return 1;                                                                                 \
    }                                                                                           \
  } while (0)

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "mount_test needs root (it mounts inside private mount namespaces)";
    std::string tmpl = (fs::temp_directory_path() / "mount_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = fs::canonical(tmpl).string();
  }
  void TearDown() override {
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);  // does not follow symlinks
    }
  }

  // Runs fn in a forked child inside a new private mount namespace; returns its exit code.
  static int inPrivateNs(const std::function<int()>& fn) {
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      int rc = 1;
      if (::unshare(CLONE_NEWNS) != 0) {
        std::perror("unshare(CLONE_NEWNS)");
      } else if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        std::perror("make / rprivate");
      } else {
        rc = fn();
      }
      std::fflush(nullptr);
      ::_exit(rc);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string path(const std::string& rel) const { return dir_ + "/" + rel; }
  static void writeFile(const std::string& p, const std::string& content) { std::ofstream(p) << content; }
  static std::string readFile(const std::string& p) {
    std::ifstream in(p);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return s;
  }
  static int countMountsAt(const std::string& p) {
    auto mi = readMountInfo();
    if (!mi.ok()) return -1;
    int n = 0;
    for (const auto& m : *mi) n += m.mountPoint == p ? 1 : 0;
    return n;
  }

  std::string dir_;
};

TEST(MountInfoTest, ParsesFixtureWithEscapesAndOptionalFields) {
  const char* text =
      "22 1 0:21 / / rw,relatime - ext4 /dev/vda1 rw\n"
      "35 22 0:31 / /mnt/with\\040space rw,nosuid shared:5 master:1 - tmpfs tmp\\134fs rw,size=1024k,noswap\n"
      "36 35 0:32 /sub\\011dir /mnt/b\\012c ro unbindable - ext4 /dev/vdb rw\n"
      "\n";
  auto mi = parseMountInfo(text);
  ASSERT_TRUE(mi.ok()) << mi.status();
  ASSERT_EQ(mi->size(), 3u);
  const MountInfo& root = (*mi)[0];
  EXPECT_EQ(root.id, 22);
  EXPECT_EQ(root.parentId, 1);
  EXPECT_EQ(root.mountPoint, "/");
  EXPECT_EQ(root.optionalFields, "");
  EXPECT_FALSE(root.shared());
  const MountInfo& t = (*mi)[1];
  EXPECT_EQ(t.id, 35);
  EXPECT_EQ(t.parentId, 22);
  EXPECT_EQ(t.root, "/");
  EXPECT_EQ(t.mountPoint, "/mnt/with space");
  EXPECT_EQ(t.options, "rw,nosuid");
  EXPECT_EQ(t.optionalFields, "shared:5 master:1");
  EXPECT_TRUE(t.shared());
  EXPECT_EQ(t.fsType, "tmpfs");
  EXPECT_EQ(t.source, "tmp\\fs");
  EXPECT_EQ(t.superOptions, "rw,size=1024k,noswap");
  const MountInfo& b = (*mi)[2];
  EXPECT_EQ(b.root, "/sub\tdir");
  EXPECT_EQ(b.mountPoint, "/mnt/b\nc");
  EXPECT_FALSE(b.shared());
  EXPECT_EQ(b.optionalFields, "unbindable");
}

TEST(MountInfoTest, RejectsMalformedLines) {
  EXPECT_EQ(parseMountInfo("22 1 0:21 / / rw ext4 /dev/vda1 rw\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parseMountInfo("x 1 0:21 / / rw - ext4 /dev/vda1 rw\n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MountInfoTest, ReadsRealMountInfo) {
  auto mi = readMountInfo();
  ASSERT_TRUE(mi.ok()) << mi.status();
  bool sawRoot = false;
  for (const auto& m : *mi) sawRoot |= m.mountPoint == "/";
  EXPECT_TRUE(sawRoot);
  EXPECT_TRUE(isMountPoint("/"));
  EXPECT_TRUE(isMountPoint("/proc"));
  EXPECT_FALSE(isMountPoint("/proc/self/mountinfo"));
  EXPECT_FALSE(isMountPoint("/nonexistent-mount-test-path"));
  auto missing = readMountInfo("/nonexistent/mountinfo");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/mountinfo"), std::string::npos);
}

TEST_F(MountTest, TmpfsWithSizeAndNoswap) {
  std::string mnt = path("tmpfs");
  fs::create_directory(mnt);
  EXPECT_EQ(inPrivateNs([&] {
              CHILD_OK(mountTmpfs(mnt, 1048576, true));
              CHILD_CHECK(isMountPoint(mnt));
              struct statfs sf {};
              CHILD_CHECK(::statfs(mnt.c_str(), &sf) == 0);
              CHILD_CHECK(static_cast<uint64_t>(sf.f_blocks) * static_cast<uint64_t>(sf.f_bsize) == 1048576u);
              auto mi = readMountInfo();
              CHILD_OK(mi.status());
              bool found = false;
              for (const auto& m : *mi) {
                if (m.mountPoint == mnt) {
                  found = true;
                  CHILD_CHECK(m.fsType == "tmpfs");
                  CHILD_CHECK(m.superOptions.find("noswap") != std::string::npos);
                  CHILD_CHECK(m.superOptions.find("size=1024k") != std::string::npos);
                }
              }
              CHILD_CHECK(found);
              CHILD_OK(unmount(mnt));
              CHILD_CHECK(!isMountPoint(mnt));
              return 0;
            }),
            0);
  EXPECT_FALSE(isMountPoint(mnt)) << "the tmpfs leaked into the parent's namespace";
}

TEST_F(MountTest, TmpfsErrorNamesPath) {
  EXPECT_EQ(inPrivateNs([&] {
              auto st = mountTmpfs(path("missing"), std::nullopt, false);
              CHILD_CHECK(!st.ok());
              CHILD_CHECK(std::string(st.message()).find(path("missing")) != std::string::npos);
              return 0;
            }),
            0);
}

TEST_F(MountTest, BindReadOnly) {
  fs::create_directory(path("src"));
  fs::create_directory(path("dst"));
  writeFile(path("src/f"), "hello");
  EXPECT_EQ(inPrivateNs([&] {
              CHILD_OK(bindMount(path("src"), path("dst"), true));
              CHILD_CHECK(isMountPoint(path("dst")));
              CHILD_CHECK(readFile(path("dst/f")) == "hello");
              int fd = ::open(path("dst/new").c_str(), O_CREAT | O_WRONLY, 0644);
              CHILD_CHECK(fd < 0 && errno == EROFS);
              fd = ::open(path("src/new").c_str(), O_CREAT | O_WRONLY, 0644);
              CHILD_CHECK(fd >= 0);
              ::close(fd);
              CHILD_OK(unmount(path("dst")));
              CHILD_OK(bindMount(path("src"), path("dst"), false));
              fd = ::open(path("dst/new2").c_str(), O_CREAT | O_WRONLY, 0644);
              CHILD_CHECK(fd >= 0);
              ::close(fd);
              CHILD_OK(unmount(path("dst")));
              return 0;
            }),
            0);
}

TEST_F(MountTest, MakeRSharedIsIdempotent) {
  std::string d = path("root");
  fs::create_directory(d);
  EXPECT_EQ(inPrivateNs([&] {
              CHILD_CHECK(countMountsAt(d) == 0);
              CHILD_OK(makeRShared(d));
              auto mi = readMountInfo();
              CHILD_OK(mi.status());
              bool shared = false;
              for (const auto& m : *mi) shared |= m.mountPoint == d && m.shared();
              CHILD_CHECK(shared);
              CHILD_CHECK(countMountsAt(d) == 1);
              CHILD_OK(makeRShared(d));
              CHILD_CHECK(countMountsAt(d) == 1);
              // A subdirectory is on that shared mount already: nothing to do.
              fs::create_directory(d + "/sub");
              CHILD_OK(makeRShared(d + "/sub"));
              CHILD_CHECK(countMountsAt(d + "/sub") == 0);
              return 0;
            }),
            0);
}

TEST_F(MountTest, MakeRSharedOnPrivateMountPoint) {
  std::string d = path("m");
  fs::create_directory(d);
  EXPECT_EQ(inPrivateNs([&] {
              CHILD_OK(mountTmpfs(d, 65536, false));
              CHILD_OK(makeRShared(d));
              CHILD_CHECK(countMountsAt(d) == 1);  // no extra self-bind on a mount point
              auto mi = readMountInfo();
              CHILD_OK(mi.status());
              bool shared = false;
              for (const auto& m : *mi) shared |= m.mountPoint == d && m.shared();
              CHILD_CHECK(shared);
              return 0;
            }),
            0);
}

TEST_F(MountTest, UnmountOfNonMountIsOk) {
  fs::create_directory(path("plain"));
  EXPECT_EQ(inPrivateNs([&] {
              CHILD_OK(unmount(path("plain")));
              CHILD_OK(unmount(path("does-not-exist")));
              return 0;
            }),
            0);
}

TEST_F(MountTest, MountsUnderDeepestFirst) {
  std::string a = path("a");
  fs::create_directories(a);
  EXPECT_EQ(inPrivateNs([&] {
              CHILD_OK(mountTmpfs(a, 65536, false));
              fs::create_directories(a + "/b/c");
              fs::create_directories(a + "/z");
              CHILD_OK(mountTmpfs(a + "/b", 65536, false));
              fs::create_directories(a + "/b/c");
              CHILD_OK(mountTmpfs(a + "/b/c", 65536, false));
              CHILD_OK(mountTmpfs(a + "/z", 65536, false));
              CHILD_OK(mountTmpfs(a + "/z", 65536, false));  // stacked
              auto under = mountsUnder(a);
              CHILD_OK(under.status());
              for (const auto& p : *under) std::fprintf(stderr, "  under: %s\n", p.c_str());
              CHILD_CHECK(under->size() == 5);
              CHILD_CHECK((*under)[0] == a + "/b/c");
              CHILD_CHECK(under->back() == a);
              for (const auto& p : *under) CHILD_OK(unmount(p));
              auto after = mountsUnder(a);
              CHILD_OK(after.status());
              CHILD_CHECK(after->empty());
              auto missing = mountsUnder(path("nope"));
              CHILD_OK(missing.status());
              CHILD_CHECK(missing->empty());
              return 0;
            }),
            0);
}

// ---------------------------------------------------------------------------------------
// subPath

class SubPathTest : public MountTest {
 protected:
  void SetUp() override {
    MountTest::SetUp();
    if (HasFatalFailure()) return;
    vol_ = path("vol");
    subpaths_ = path("pod/volume-subpaths");
    fs::create_directories(vol_ + "/dir/inner");
    writeFile(vol_ + "/dir/inner/x", "inner-x");
    writeFile(vol_ + "/file", "file-content");
    // configMap-style layout: key -> ..data/key, ..data -> ..2026_timestamp
    fs::create_directories(vol_ + "/..2026_01_01_00_00_00.1");
    writeFile(vol_ + "/..2026_01_01_00_00_00.1/key", "key-value");
    fs::create_directory_symlink("..2026_01_01_00_00_00.1", vol_ + "/..data");
    fs::create_symlink("..data/key", vol_ + "/key");
    fs::create_symlink("/etc", vol_ + "/abs-escape");
    fs::create_symlink("../../..", vol_ + "/dir/rel-escape");
  }
  std::string target(const std::string& volName, int idx) const {
    return subpaths_ + "/" + volName + "/c1/" + std::to_string(idx);
  }
  std::string vol_, subpaths_;
};

TEST_F(SubPathTest, BindsFileAndDirectory) {
  EXPECT_EQ(inPrivateNs([&] {
              auto f = prepareSubPath(vol_, "file", target("v", 0));
              CHILD_OK(f.status());
              CHILD_CHECK(*f == target("v", 0));
              CHILD_CHECK(isMountPoint(*f));
              CHILD_CHECK(readFile(*f) == "file-content");
              struct stat st {};
              CHILD_CHECK(::stat(path("pod/volume-subpaths/v").c_str(), &st) == 0 && (st.st_mode & 07777) == 0750);
              auto d = prepareSubPath(vol_, "dir/inner", target("v", 1));
              CHILD_OK(d.status());
              CHILD_CHECK(isMountPoint(*d));
              CHILD_CHECK(readFile(*d + "/x") == "inner-x");
              // Again (a container restart): the existing bind is reused, not stacked.
              CHILD_OK(prepareSubPath(vol_, "dir/inner", target("v", 1)).status());
              CHILD_CHECK(countMountsAt(*d) == 1);
              // A different source at the same target replaces the old bind.
              CHILD_OK(prepareSubPath(vol_, "dir", target("v", 1)).status());
              CHILD_CHECK(countMountsAt(*d) == 1);
              CHILD_CHECK(fs::exists(*d + "/inner/x"));
              return 0;
            }),
            0);
}

TEST_F(SubPathTest, ModesOfCreatedTargets) {
  EXPECT_EQ(inPrivateNs([&] {
              CHILD_OK(prepareSubPath(vol_, "file", target("v", 0)).status());
              CHILD_OK(prepareSubPath(vol_, "dir", target("v", 1)).status());
              CHILD_OK(unmount(target("v", 0)));
              CHILD_OK(unmount(target("v", 1)));
              struct stat st {};
              CHILD_CHECK(::lstat(target("v", 0).c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640);
              CHILD_CHECK(::lstat(target("v", 1).c_str(), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750);
              return 0;
            }),
            0);
}

TEST_F(SubPathTest, InVolumeSymlinkLikeConfigMapKeyWorks) {
  EXPECT_EQ(inPrivateNs([&] {
              auto k = prepareSubPath(vol_, "key", target("cm", 0));
              CHILD_OK(k.status());
              CHILD_CHECK(readFile(*k) == "key-value");
              struct stat a {}, b {};
              CHILD_CHECK(::stat(k->c_str(), &a) == 0);
              CHILD_CHECK(::stat((vol_ + "/..2026_01_01_00_00_00.1/key").c_str(), &b) == 0);
              CHILD_CHECK(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
              return 0;
            }),
            0);
}

TEST_F(SubPathTest, RejectsEscapes) {
  EXPECT_EQ(inPrivateNs([&] {
              struct Case {
                std::string sub;
                absl::StatusCode code;
              };
              const Case cases[] = {
                  {"abs-escape", absl::StatusCode::kPermissionDenied},          // -> /etc
                  {"abs-escape/passwd", absl::StatusCode::kPermissionDenied},   // through it
                  {"dir/rel-escape", absl::StatusCode::kPermissionDenied},      // -> ../../..
                  {"dir/rel-escape/etc", absl::StatusCode::kPermissionDenied},  //
                  {"/etc", absl::StatusCode::kInvalidArgument},
                  {"../vol/file", absl::StatusCode::kInvalidArgument},
                  {"dir/../../x", absl::StatusCode::kInvalidArgument},
                  {"", absl::StatusCode::kInvalidArgument},
              };
              int idx = 0;
              for (const Case& c : cases) {
                std::string t = target("bad", idx++);
                auto r = prepareSubPath(vol_, c.sub, t);
                std::fprintf(stderr, "  %s -> %s\n", c.sub.c_str(), r.status().ToString().c_str());
                CHILD_CHECK(!r.ok());
                CHILD_CHECK(r.status().code() == c.code);
                if (!c.sub.empty()) CHILD_CHECK(std::string(r.status().message()).find(c.sub) != std::string::npos);
                CHILD_CHECK(!isMountPoint(t));
                CHILD_CHECK(!fs::exists(fs::symlink_status(t)));
              }
              auto mi = mountsUnder(subpaths_);
              CHILD_OK(mi.status());
              CHILD_CHECK(mi->empty());
              return 0;
            }),
            0);
}

TEST_F(SubPathTest, MissingSubPathIsNotFound) {
  EXPECT_EQ(inPrivateNs([&] {
              auto r = prepareSubPath(vol_, "no/such", target("v", 0));
              CHILD_CHECK(r.status().code() == absl::StatusCode::kNotFound);
              CHILD_CHECK(std::string(r.status().message()).find("no/such") != std::string::npos);
              return 0;
            }),
            0);
}

TEST_F(SubPathTest, MakeSubPathDirsCreatesInsideOnly) {
  ::umask(0022);
  ASSERT_TRUE(makeSubPathDirs(vol_, "new/a/b", 02775).ok());
  struct stat st {};
  ASSERT_EQ(::stat((vol_ + "/new/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02775u);
  ASSERT_EQ(::stat((vol_ + "/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02775u);
  // Existing dirs (also through an in-volume symlink) are left alone.
  fs::create_directory_symlink("new", vol_ + "/newlink");
  EXPECT_TRUE(makeSubPathDirs(vol_, "newlink/a/c", 0750).ok());
  EXPECT_TRUE(fs::is_directory(vol_ + "/new/a/c"));
  ASSERT_EQ(::stat((vol_ + "/new/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02775u);
  // Through an escaping symlink: refused, nothing created outside.
  std::string outside = path("outside");
  fs::create_directory(outside);
  fs::create_directory_symlink(outside, vol_ + "/out-abs");
  fs::create_directory_symlink("../outside", vol_ + "/out-rel");
  for (const char* sub : {"out-abs/x", "out-rel/x/y"}) {
    auto st2 = makeSubPathDirs(vol_, sub, 0755);
    EXPECT_EQ(st2.code(), absl::StatusCode::kPermissionDenied) << sub << ": " << st2;
    EXPECT_NE(std::string(st2.message()).find(sub), std::string::npos) << st2;
  }
  EXPECT_TRUE(fs::is_empty(outside));
  EXPECT_EQ(makeSubPathDirs(vol_, "/abs", 0755).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(makeSubPathDirs(vol_, "a/../b", 0755).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MountTest, UnmountBusyFallsBackToDetach) {
  std::string mnt = path("busy");
  fs::create_directory(mnt);
  EXPECT_EQ(inPrivateNs([&] {
              CHILD_OK(mountTmpfs(mnt, 65536, false));
              CHILD_CHECK(::chdir(mnt.c_str()) == 0);  // keeps the mount busy
              CHILD_CHECK(::umount2(mnt.c_str(), 0) != 0 && errno == EBUSY);
              CHILD_OK(unmount(mnt));
              CHILD_CHECK(!isMountPoint(mnt));
              CHILD_CHECK(::chdir("/") == 0);
              return 0;
            }),
            0);
}

TEST_F(MountTest, BoundFileIsMountPoint) {
  writeFile(path("f"), "x");
  writeFile(path("g"), "");
  EXPECT_EQ(inPrivateNs([&] {
              CHILD_CHECK(!isMountPoint(path("g")));
              CHILD_OK(bindMount(path("f"), path("g"), false));
              CHILD_CHECK(isMountPoint(path("g")));
              CHILD_CHECK(readFile(path("g")) == "x");
              auto under = mountsUnder(dir_);
              CHILD_OK(under.status());
              CHILD_CHECK(under->size() == 1 && (*under)[0] == path("g"));
              return 0;
            }),
            0);
}

// CVE-2021-25741: a container swaps a path component between a real directory and a symlink
// to / while the kubelet prepares the subPath. Every success must bind the in-volume dir.
TEST_F(SubPathTest, SwapRaceNeverBindsHostPath) {
  fs::create_directories(vol_ + "/race-real/etc");
  writeFile(vol_ + "/race-real/etc/marker", "in-volume");
  fs::create_symlink("/", vol_ + "/race-link");
  fs::create_symlink("/", vol_ + "/race");  // starts as the evil symlink
  EXPECT_EQ(inPrivateNs([&] {
              struct stat want {};
              CHILD_CHECK(::stat((vol_ + "/race-real/etc").c_str(), &want) == 0);
              std::atomic<bool> stop{false};
              std::atomic<int> swaps{0};
              // Alternately rename the real dir and the symlink into place as "race".
              std::thread swapper([&] {
                const std::string race = vol_ + "/race";
                const std::string real = vol_ + "/race-real";
                bool realIn = false;
                while (!stop.load()) {
                  // RENAME_EXCHANGE swaps "race" with "race-real" atomically.
                  if (::renameat2(AT_FDCWD, race.c_str(), AT_FDCWD, real.c_str(), RENAME_EXCHANGE) == 0) {
                    realIn = !realIn;
                    ++swaps;
                  }
                  // Vary how long each state lasts so prepareSubPath sees both.
                  ::usleep(static_cast<useconds_t>(swaps.load() * 7919 % 50));
                }
                (void)realIn;
              });
              while (swaps.load() < 10) std::this_thread::yield();
              int successes = 0, refusals = 0, other = 0;
              // At least 200 runs; more (up to 2000) until both states were seen.
              int runs = 0;
              for (int i = 0; i < 2000 && (i < 200 || successes == 0 || refusals == 0); ++i) {
                ++runs;
                std::string t = target("race", 0);
                auto r = prepareSubPath(vol_, "race/etc", t);
                if (r.ok()) {
                  ++successes;
                  struct stat got {};
                  if (::stat(t.c_str(), &got) != 0 || got.st_dev != want.st_dev || got.st_ino != want.st_ino) {
                    stop = true;
                    swapper.join();
                    std::fprintf(stderr, "iteration %d bound something that is not the volume's dir\n", i);
                    return 1;
                  }
                  if (!unmount(t).ok()) {
                    stop = true;
                    swapper.join();
                    return 1;
                  }
                } else if (r.status().code() == absl::StatusCode::kPermissionDenied) {
                  ++refusals;
                } else {
                  ++other;  // e.g. NotFound while "race" is being renamed
                }
                CHILD_CHECK(!isMountPoint(t) || !r.ok());
              }
              stop = true;
              swapper.join();
              std::fprintf(stderr, "  race: %d runs: %d bound in-volume, %d refused, %d other, %d swaps\n", runs, successes,
                           refusals, other, swaps.load());
              CHILD_CHECK(successes + refusals + other == runs);
              // Both states were hit, or the test proved nothing.
              CHILD_CHECK(successes > 0);
              CHILD_CHECK(refusals > 0);
              return 0;
            }),
            0);
}

TEST_F(SubPathTest, CleanSubPathsUnmountsAndRemoves) {
  EXPECT_EQ(inPrivateNs([&] {
              CHILD_OK(prepareSubPath(vol_, "file", target("v1", 0)).status());
              CHILD_OK(prepareSubPath(vol_, "dir", target("v1", 1)).status());
              CHILD_OK(prepareSubPath(vol_, "key", subpaths_ + "/v2/c2/3").status());
              // A stray symlink must be removed, not followed.
              fs::create_symlink(vol_, subpaths_ + "/v2/c2/7");
              CHILD_OK(cleanSubPaths(subpaths_));
              CHILD_CHECK(!fs::exists(fs::symlink_status(subpaths_)));
              auto mi = mountsUnder(path("pod"));
              CHILD_OK(mi.status());
              CHILD_CHECK(mi->empty());
              // The volume is untouched.
              CHILD_CHECK(readFile(vol_ + "/file") == "file-content");
              CHILD_CHECK(readFile(vol_ + "/dir/inner/x") == "inner-x");
              CHILD_CHECK(readFile(vol_ + "/key") == "key-value");
              CHILD_CHECK(fs::is_symlink(vol_ + "/key"));
              // Missing dir: OK.
              CHILD_OK(cleanSubPaths(subpaths_));
              return 0;
            }),
            0);
}

}  // namespace
}  // namespace cubelet::volume
