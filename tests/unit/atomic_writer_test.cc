#include "kubelet/volume/atomic_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace cubelet::volume {
namespace {

namespace fs = std::filesystem;

// A fresh dir under /tmp, removed afterwards; the volume is `<root>/vol`.
class AtomicWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/atomic-writer-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << std::strerror(errno);
    root_ = tmpl;
    vol_ = root_ + "/vol";
    ASSERT_EQ(::mkdir(vol_.c_str(), 0755), 0);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::string p(const std::string& rel) const { return vol_ + "/" + rel; }

  static std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static std::string readLink(const std::string& path) {
    std::error_code ec;
    fs::path t = fs::read_symlink(path, ec);
    return ec ? std::string("<error: ") + ec.message() + ">" : t.string();
  }
  static bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
  }
  static struct stat statOf(const std::string& path, bool follow = true) {
    struct stat st {};
    int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
    EXPECT_EQ(rc, 0) << path << ": " << std::strerror(errno);
    return st;
  }
  // Names directly in the volume dir.
  std::set<std::string> entries() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(vol_)) out.insert(e.path().filename().string());
    return out;
  }
  // Names in the volume dir other than the timestamped versions.
  std::set<std::string> visible() const {
    std::set<std::string> out;
    for (const std::string& n : entries()) {
      if (tsDirs().count(n) == 0) out.insert(n);
    }
    return out;
  }
  std::set<std::string> tsDirs() const {
    std::set<std::string> out;
    for (const std::string& n : entries()) {
      if (n.rfind("..", 0) == 0 && n != "..data" && n != "..data_tmp") out.insert(n);
    }
    return out;
  }

  static FileProjection file(std::string data, uint32_t mode = 0644) {
    FileProjection f;
    f.data = std::move(data);
    f.mode = mode;
    return f;
  }

  std::string root_;
  std::string vol_;
};

std::string utcStamp(std::time_t t) {
  std::tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "..%Y_%m_%d_%H_%M_%S", &tm);
  return buf;
}

// "..YYYY_MM_DD_hh_mm_ss.<digits>". (No std::regex: GCC 12 with ASan warns inside it.)
bool looksLikeTimestampDir(const std::string& name) {
  const std::string pattern = "..dddd_dd_dd_dd_dd_dd.";
  if (name.size() <= pattern.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char want = i < pattern.size() ? pattern[i] : 'd';
    bool digit = name[i] >= '0' && name[i] <= '9';
    if (want == 'd' ? !digit : name[i] != want) return false;
  }
  return true;
}

TEST_F(AtomicWriterTest, FirstWriteLayout) {
  AtomicWriter w(vol_, "test");
  std::string before = utcStamp(std::time(nullptr));
  ASSERT_TRUE(w.write({{"foo", file("foo data")}, {"bar", file("bar data", 0600)}}).ok());
  std::string after = utcStamp(std::time(nullptr));

  std::string ts = readLink(p("..data"));
  EXPECT_TRUE(looksLikeTimestampDir(ts)) << ts;
  EXPECT_GE(ts.substr(0, before.size()), before);
  EXPECT_LE(ts.substr(0, after.size()), after);
  EXPECT_EQ(statOf(p(ts), false).st_mode & 07777, 0755u);
  EXPECT_TRUE(S_ISDIR(statOf(p(ts), false).st_mode));

  EXPECT_EQ(readLink(p("foo")), "..data/foo");
  EXPECT_EQ(readLink(p("bar")), "..data/bar");
  EXPECT_EQ(readFile(p("foo")), "foo data");
  EXPECT_EQ(readFile(p("bar")), "bar data");
  EXPECT_TRUE(S_ISREG(statOf(p(ts + "/foo"), false).st_mode));
  EXPECT_EQ(statOf(p("foo")).st_mode & 07777, 0644u);
  EXPECT_EQ(statOf(p("bar")).st_mode & 07777, 0600u);
  EXPECT_EQ(entries(), (std::set<std::string>{"..data", ts, "foo", "bar"}));
}

TEST_F(AtomicWriterTest, UnchangedPayloadWritesNothing) {
  AtomicWriter w(vol_, "test");
  Payload payload{{"foo", file("same")}, {"a/b", file("nested")}};
  ASSERT_TRUE(w.write(payload).ok());
  std::string ts = readLink(p("..data"));
  ino_t fooIno = statOf(p(ts + "/foo"), false).st_ino;
  ino_t linkIno = statOf(p("..data"), false).st_ino;

  // Modes are not compared, as upstream: a mode-only change writes nothing either.
  payload["foo"].mode = 0600;
  ASSERT_TRUE(w.write(payload).ok());
  EXPECT_EQ(readLink(p("..data")), ts);
  EXPECT_EQ(statOf(p(ts + "/foo"), false).st_ino, fooIno);
  EXPECT_EQ(statOf(p("..data"), false).st_ino, linkIno);
  EXPECT_EQ(tsDirs(), std::set<std::string>{ts});
}

TEST_F(AtomicWriterTest, MissingVisibleLinkRecreatedWhenUnchanged) {
  AtomicWriter w(vol_, "test");
  Payload payload{{"foo", file("x")}};
  ASSERT_TRUE(w.write(payload).ok());
  std::string ts = readLink(p("..data"));
  ASSERT_EQ(::unlink(p("foo").c_str()), 0);
  ASSERT_TRUE(w.write(payload).ok());
  EXPECT_EQ(readLink(p("..data")), ts);
  EXPECT_EQ(readLink(p("foo")), "..data/foo");
  EXPECT_EQ(readFile(p("foo")), "x");
}

TEST_F(AtomicWriterTest, ContentChangeMakesNewVersion) {
  AtomicWriter w(vol_, "test");
  w.setRetireGrace(std::chrono::milliseconds(0));  // upstream: old version removed at once
  ASSERT_TRUE(w.write({{"foo", file("v1")}, {"bar", file("same")}}).ok());
  std::string ts1 = readLink(p("..data"));
  ASSERT_TRUE(w.write({{"foo", file("version two")}, {"bar", file("same")}}).ok());
  std::string ts2 = readLink(p("..data"));
  EXPECT_NE(ts1, ts2);
  EXPECT_FALSE(exists(p(ts1)));
  EXPECT_EQ(readFile(p("foo")), "version two");
  EXPECT_EQ(readFile(p("bar")), "same");
  EXPECT_EQ(entries(), (std::set<std::string>{"..data", ts2, "foo", "bar"}));
}

TEST_F(AtomicWriterTest, ReplacedVersionKeptForGrace) {
  AtomicWriter w(vol_, "test");
  w.setRetireGrace(std::chrono::milliseconds(200));
  ASSERT_TRUE(w.write({{"foo", file("v1")}}).ok());
  std::string ts1 = readLink(p("..data"));
  ASSERT_TRUE(w.write({{"foo", file("v2")}}).ok());
  std::string ts2 = readLink(p("..data"));
  EXPECT_EQ(tsDirs(), (std::set<std::string>{ts1, ts2}));
  EXPECT_EQ(readFile(p(ts1 + "/foo")), "v1");  // a reader inside it still finds its file
  ASSERT_TRUE(w.write({{"foo", file("v2")}}).ok());  // within the grace: kept
  EXPECT_TRUE(exists(p(ts1)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(w.write({{"foo", file("v2")}}).ok());  // unchanged, but past the grace
  EXPECT_EQ(tsDirs(), std::set<std::string>{ts2});

  // A new writer (the next SetUp) does not know the retired version: removed at once.
  ASSERT_TRUE(w.write({{"foo", file("v3")}}).ok());
  std::string ts3 = readLink(p("..data"));
  EXPECT_EQ(tsDirs(), (std::set<std::string>{ts2, ts3}));
  AtomicWriter next(vol_, "test");
  ASSERT_TRUE(next.write({{"foo", file("v3")}}).ok());
  EXPECT_EQ(tsDirs(), std::set<std::string>{ts3});
  EXPECT_EQ(readFile(p("foo")), "v3");
}

TEST_F(AtomicWriterTest, RemovedKeyLosesItsLink) {
  AtomicWriter w(vol_, "test");
  ASSERT_TRUE(w.write({{"foo", file("f")}, {"bar", file("b")}}).ok());
  ASSERT_TRUE(w.write({{"foo", file("f")}}).ok());
  EXPECT_FALSE(exists(p("bar")));
  EXPECT_FALSE(exists(p("..data/bar")));
  EXPECT_EQ(readFile(p("foo")), "f");
  EXPECT_EQ(visible(), (std::set<std::string>{"..data", "foo"}));
}

TEST_F(AtomicWriterTest, NestedPathsOnlyTopLevelLinks) {
  AtomicWriter w(vol_, "test");
  ASSERT_TRUE(w.write({{"a/b/c", file("abc")}, {"a/d", file("ad")}, {"./x//y", file("xy")}, {"top", file("t")}}).ok());
  std::string ts = readLink(p("..data"));
  EXPECT_EQ(entries(), (std::set<std::string>{"..data", ts, "a", "x", "top"}));
  EXPECT_EQ(readLink(p("a")), "..data/a");
  EXPECT_EQ(readLink(p("x")), "..data/x");
  EXPECT_TRUE(S_ISDIR(statOf(p(ts + "/a/b"), false).st_mode));
  EXPECT_EQ(statOf(p(ts + "/a/b"), false).st_mode & 07777, 0755u);
  EXPECT_EQ(readFile(p("a/b/c")), "abc");
  EXPECT_EQ(readFile(p("..data/a/d")), "ad");
  EXPECT_EQ(readFile(p("x/y")), "xy");

  // Dropping everything under "a" removes its link; dropping only a/d keeps it.
  ASSERT_TRUE(w.write({{"a/b/c", file("abc")}, {"top", file("t")}}).ok());
  EXPECT_EQ(readLink(p("a")), "..data/a");
  EXPECT_FALSE(exists(p("..data/a/d")));
  EXPECT_FALSE(exists(p("x")));
  ASSERT_TRUE(w.write({{"top", file("t")}}).ok());
  EXPECT_FALSE(exists(p("a")));
  EXPECT_EQ(visible(), (std::set<std::string>{"..data", "top"}));
}

TEST_F(AtomicWriterTest, ValidationMessages) {
  struct Case {
    std::string path;
    std::string message;  // empty: valid
  };
  std::string longName(256, 'x');
  std::string longPath;
  while (longPath.size() <= 4096) longPath += "abcdefgh/";
  longPath += "z";
  std::vector<Case> cases = {
      {"", "invalid path: must not be empty: \"\""},
      {"/abs", "invalid path: must be relative path: /abs"},
      {longPath, "invalid path: must be less than or equal to 4096 characters"},
      {"..", "invalid path: must not contain '..': .."},
      {"a/../b", "invalid path: must not contain '..': a/../b"},
      {"a/..", "invalid path: must not contain '..': a/.."},
      {longName, "invalid path: filenames must be less than or equal to 255 characters"},
      {"a/" + longName, "invalid path: filenames must be less than or equal to 255 characters"},
      {"..data", "invalid path: must not start with '..': ..data"},
      {"..foo/bar", "invalid path: must not start with '..': ..foo/bar"},
      {".", "invalid path: must name a file: ."},
      {"ok", ""},
      {"a/b/c", ""},
      {"a/..b", ""},
      {"a..", ""},
      {".hidden", ""},
      {std::string(255, 'y'), ""},
  };
  for (const Case& c : cases) {
    absl::Status st = validatePayloadPath(c.path);
    if (c.message.empty()) {
      EXPECT_TRUE(st.ok()) << c.path << ": " << st;
    } else {
      EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.path;
      EXPECT_EQ(st.message(), c.message) << c.path.substr(0, 40);
    }
  }
}

TEST_F(AtomicWriterTest, InvalidPayloadChangesNothing) {
  AtomicWriter w(vol_, "test");
  ASSERT_TRUE(w.write({{"foo", file("v1")}}).ok());
  std::set<std::string> before = entries();
  for (const Payload& bad : std::vector<Payload>{
           {{"foo", file("v2")}, {"../escape", file("x")}},
           {{"foo", file("v2")}, {"./foo", file("dup")}},
           {{"foo", file("v2")}, {"foo/bar", file("conflict")}},
       }) {
    absl::Status st = w.write(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(st.message().find(vol_), std::string::npos) << st;
    EXPECT_EQ(entries(), before);
    EXPECT_EQ(readFile(p("foo")), "v1");
  }
  EXPECT_FALSE(exists(root_ + "/escape"));
}

TEST_F(AtomicWriterTest, ModesIndependentOfUmask) {
  mode_t old = ::umask(077);
  AtomicWriter w(vol_, "test");
  absl::Status st = w.write({{"r", file("r", 0644)},
                             {"x", file("x", 0755)},
                             {"ro", file("ro", 0400)},
                             {"rw", file("rw", 0666)},
                             {"d/n", file("n", 0640)}});
  ::umask(old);
  ASSERT_TRUE(st.ok()) << st;
  std::string ts = readLink(p("..data"));
  EXPECT_EQ(statOf(p(ts)).st_mode & 07777, 0755u);
  EXPECT_EQ(statOf(p(ts + "/d")).st_mode & 07777, 0755u);
  EXPECT_EQ(statOf(p("r")).st_mode & 07777, 0644u);
  EXPECT_EQ(statOf(p("x")).st_mode & 07777, 0755u);
  EXPECT_EQ(statOf(p("ro")).st_mode & 07777, 0400u);
  EXPECT_EQ(statOf(p("rw")).st_mode & 07777, 0666u);
  EXPECT_EQ(statOf(p("d/n")).st_mode & 07777, 0640u);
}

TEST_F(AtomicWriterTest, FsUserChown) {
  ASSERT_EQ(::geteuid(), 0u) << "this test chowns files: run it as root (CI does)";
  AtomicWriter w(vol_, "test");
  FileProjection owned = file("token", 0600);
  owned.fsUser = 4242;
  ASSERT_TRUE(w.write({{"token", owned}, {"plain", file("p")}}).ok());
  std::string ts = readLink(p("..data"));
  struct stat st = statOf(p(ts + "/token"), false);
  EXPECT_EQ(st.st_uid, 4242u);
  EXPECT_EQ(st.st_gid, ::getegid());
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(statOf(p(ts + "/plain"), false).st_uid, 0u);
  // The visible link itself stays root's.
  EXPECT_EQ(statOf(p("token"), false).st_uid, 0u);
}

TEST_F(AtomicWriterTest, SetPermsGetsTimestampDirName) {
  AtomicWriter w(vol_, "test");
  std::string seen;
  bool existedWhenCalled = false;
  ASSERT_TRUE(w.write({{"foo", file("f")}}, [&](const std::string& ts) {
                 seen = ts;
                 existedWhenCalled = exists(p(ts + "/foo")) && !exists(p("..data"));
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(seen, readLink(p("..data")));
  EXPECT_TRUE(existedWhenCalled);
}

TEST_F(AtomicWriterTest, SetPermsErrorLeavesDataUnchanged) {
  AtomicWriter w(vol_, "test");
  ASSERT_TRUE(w.write({{"foo", file("v1")}}).ok());
  std::string ts = readLink(p("..data"));
  std::string attempted;
  absl::Status st = w.write({{"foo", file("v2")}, {"new", file("n")}}, [&](const std::string& name) {
    attempted = name;
    return absl::PermissionDeniedError("fsGroup change failed");
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("fsGroup change failed"), std::string::npos) << st;
  EXPECT_FALSE(attempted.empty());
  EXPECT_NE(attempted, ts);
  EXPECT_EQ(readLink(p("..data")), ts);
  EXPECT_EQ(readFile(p("foo")), "v1");
  EXPECT_FALSE(exists(p("new")));
  EXPECT_FALSE(exists(p(attempted)));
  EXPECT_EQ(entries(), (std::set<std::string>{"..data", ts, "foo"}));
}

TEST_F(AtomicWriterTest, CrashLeftoversAreCleaned) {
  AtomicWriter w(vol_, "test");
  Payload payload{{"foo", file("f")}};
  ASSERT_TRUE(w.write(payload).ok());
  std::string ts = readLink(p("..data"));

  // A crash between mkdtemp and the swap, and one between symlink(..data_tmp) and rename.
  const std::string orphan = "..2020_01_02_03_04_05.12345";
  ASSERT_EQ(::mkdir(p(orphan).c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(p(orphan + "/sub").c_str(), 0755), 0);
  std::ofstream(p(orphan + "/sub/file")) << "half";
  ASSERT_EQ(::symlink(orphan.c_str(), p("..data_tmp").c_str()), 0);
  // Not a name the writer makes: left alone.
  ASSERT_EQ(::mkdir(p("..other").c_str(), 0755), 0);

  ASSERT_TRUE(w.write(payload).ok());  // unchanged payload: cleanup still happens
  EXPECT_FALSE(exists(p("..data_tmp")));
  EXPECT_FALSE(exists(p(orphan)));
  EXPECT_TRUE(exists(p("..other")));
  EXPECT_EQ(readLink(p("..data")), ts);

  // A stale ..data_tmp must not make the next real update fail with EEXIST.
  ASSERT_EQ(::symlink(orphan.c_str(), p("..data_tmp").c_str()), 0);
  ASSERT_TRUE(w.write({{"foo", file("g")}}).ok());
  EXPECT_FALSE(exists(p("..data_tmp")));
  EXPECT_EQ(readFile(p("foo")), "g");
}

TEST_F(AtomicWriterTest, ConcurrentReaderNeverSeesMissingOrMixedFile) {
  AtomicWriter w(vol_, "test");
  const std::string a = "short";
  const std::string b = std::string(10000, 'L') + " a much longer second version";
  ASSERT_TRUE(w.write({{"key", file(a)}, {"other", file("o")}}).ok());

  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::atomic<int> bad{0};
  std::string firstBad;
  std::thread reader([&] {
    const std::string path = p("key");
    while (!stop.load()) {
      FILE* f = std::fopen(path.c_str(), "rb");
      if (f == nullptr) {
        if (bad.fetch_add(1) == 0) firstBad = std::string("open: ") + std::strerror(errno);
        continue;
      }
      std::string got;
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) got.append(buf, n);
      std::fclose(f);
      if (got != a && got != b) {
        if (bad.fetch_add(1) == 0) firstBad = "mixed content of " + std::to_string(got.size()) + " bytes";
      }
      reads.fetch_add(1);
    }
  });
  for (int i = 0; i < 500; ++i) {
    absl::Status st = w.write({{"key", file(i % 2 == 0 ? b : a)}, {"other", file("o")}});
    if (!st.ok()) {
      ADD_FAILURE() << "update " << i << ": " << st;
      break;
    }
  }
  stop.store(true);
  reader.join();
  EXPECT_EQ(bad.load(), 0) << firstBad;
  EXPECT_GT(reads.load(), 0);
  std::cout << reads.load() << " reads during 500 updates\n";
  // Versions replaced in the last second are still there; a new writer removes them.
  ASSERT_TRUE(AtomicWriter(vol_, "test").write({{"key", file(a)}, {"other", file("o")}}).ok());
  EXPECT_EQ(tsDirs().size(), 1u);
}

TEST_F(AtomicWriterTest, UnexpectedDataLinkIsRefused) {
  const std::string outside = root_ + "/outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(outside.c_str(), p("..data").c_str()), 0);
  AtomicWriter w(vol_, "test");
  absl::Status st = w.write({{"foo", file("f")}});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(readLink(p("..data")), outside);
  EXPECT_TRUE(fs::is_empty(outside));
}

TEST_F(AtomicWriterTest, SymlinkedTargetDirIsRefused) {
  const std::string link = root_ + "/link";
  ASSERT_EQ(::symlink(vol_.c_str(), link.c_str()), 0);
  AtomicWriter w(link, "test");
  absl::Status st = w.write({{"foo", file("f")}});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(link), std::string::npos) << st;
  EXPECT_TRUE(entries().empty());
}

TEST_F(AtomicWriterTest, MissingTargetDirIsAnError) {
  AtomicWriter w(root_ + "/nope", "test");
  absl::Status st = w.write({{"foo", file("f")}});
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_NE(st.message().find("No such file or directory"), std::string::npos) << st;
}

TEST_F(AtomicWriterTest, SymlinkPlantedInOldVersionIsNotFollowed) {
  AtomicWriter w(vol_, "test");
  w.setRetireGrace(std::chrono::milliseconds(0));
  ASSERT_TRUE(w.write({{"a/x", file("x1")}}).ok());
  std::string ts = readLink(p("..data"));
  const std::string outside = root_ + "/outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  std::ofstream(outside + "/x") << "x1";
  fs::remove_all(p(ts + "/a"));
  ASSERT_EQ(::symlink(outside.c_str(), p(ts + "/a").c_str()), 0);

  ASSERT_TRUE(w.write({{"a/x", file("x1")}}).ok());
  EXPECT_NE(readLink(p("..data")), ts);  // the planted link does not count as the old content
  EXPECT_TRUE(S_ISDIR(statOf(p("..data/a"), false).st_mode));
  EXPECT_FALSE(exists(p(ts)));                // the tampered version was removed
  EXPECT_EQ(readFile(outside + "/x"), "x1");  // without following its link outside
  EXPECT_EQ(readFile(p("a/x")), "x1");
}

TEST_F(AtomicWriterTest, RemoveAllDoesNotFollowSymlinks) {
  const std::string outside = root_ + "/outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  std::ofstream(outside + "/keep") << "keep";
  ASSERT_EQ(::mkdir(p("t").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(p("t/sub").c_str(), 0700), 0);
  std::ofstream(p("t/sub/f")) << "f";
  ASSERT_EQ(::symlink(outside.c_str(), p("t/sub/link").c_str()), 0);
  ASSERT_EQ(::symlink(outside.c_str(), p("tlink").c_str()), 0);

  EXPECT_TRUE(removeAll(p("t") + "/").ok());
  EXPECT_FALSE(exists(p("t")));
  EXPECT_TRUE(removeAll(p("tlink")).ok());
  EXPECT_FALSE(exists(p("tlink")));
  EXPECT_EQ(readFile(outside + "/keep"), "keep");
  EXPECT_TRUE(removeAll(p("missing")).ok());
  EXPECT_EQ(removeAll("/").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(removeAll(p("..")).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cubelet::volume
