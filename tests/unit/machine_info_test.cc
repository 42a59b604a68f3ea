#include "kubelet/node/machine_info.h"

#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace cubelet::node {
namespace {

namespace fs = std::filesystem;

// A fake root filesystem in a fresh temporary directory, removed afterwards.
class FakeRoot {
 public:
  FakeRoot() {
    std::string tmpl = (fs::temp_directory_path() / "machine_info_test.XXXXXX").string();
    char* dir = ::mkdtemp(tmpl.data());
    EXPECT_NE(dir, nullptr);
    root_ = tmpl;
  }
  ~FakeRoot() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  FakeRoot(const FakeRoot&) = delete;
  FakeRoot& operator=(const FakeRoot&) = delete;

  const std::string& path() const { return root_; }

  void write(const std::string& rel, const std::string& content) const {
    fs::path p = fs::path(root_) / rel.substr(1);
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  void mkdir(const std::string& rel) const {
    fs::create_directories(fs::path(root_) / rel.substr(1));
  }
  void remove(const std::string& rel) const { fs::remove(fs::path(root_) / rel.substr(1)); }

  // A plausible x86 host.
  void populate() const {
    write("/proc/meminfo",
          "MemTotal:       16392880 kB\n"
          "MemFree:         1234567 kB\n"
          "MemAvailable:    8765432 kB\n");
    write("/sys/devices/system/cpu/online", "0-3,6\n");
    write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "16\n");
    write("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
    write("/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    write("/var/lib/dbus/machine-id", "ffffffffffffffffffffffffffffffff\n");
    write("/sys/class/dmi/id/product_uuid", "EC2A1B3C-4D5E-6F70-8192-A3B4C5D6E7F8\n");
    write("/proc/sys/kernel/random/boot_id", "d1a3c5e7-0000-4000-8000-123456789abc\n");
    write("/proc/sys/kernel/osrelease", "6.1.0-13-amd64\n");
    write("/etc/os-release",
          "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
          "NAME=\"Debian GNU/Linux\"\n"
          "VERSION_ID=\"12\"\n");
  }

 private:
  std::string root_;
};

TEST(MachineInfoTest, ReadsEverythingFromFakeRoot) {
  FakeRoot root;
  root.populate();
  absl::StatusOr<MachineInfo> info = readMachineInfo(root.path());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->numCPUs, 5);
  EXPECT_EQ(info->memoryCapacityBytes, int64_t{16392880} * 1024);
  std::map<int64_t, int64_t> hugepages{{2097152, 16 * 2097152}, {1073741824, 0}};
  EXPECT_EQ(info->hugepages, hugepages);
  EXPECT_EQ(info->machineID, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(info->systemUUID, "EC2A1B3C-4D5E-6F70-8192-A3B4C5D6E7F8");  // as read, not lowercased
  EXPECT_EQ(info->bootID, "d1a3c5e7-0000-4000-8000-123456789abc");
  EXPECT_EQ(info->kernelVersion, "6.1.0-13-amd64");
  EXPECT_EQ(info->osImage, "Debian GNU/Linux 12 (bookworm)");
}

TEST(MachineInfoTest, RootPrefixMayEndWithSlash) {
  FakeRoot root;
  root.populate();
  absl::StatusOr<MachineInfo> info = readMachineInfo(root.path() + "/");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->numCPUs, 5);
}

TEST(MachineInfoTest, FallbacksWhenSourcesAreMissing) {
  FakeRoot root;
  root.populate();
  root.remove("/etc/machine-id");
  root.remove("/sys/class/dmi/id/product_uuid");
  root.remove("/proc/sys/kernel/random/boot_id");
  root.remove("/proc/sys/kernel/osrelease");
  root.remove("/etc/os-release");
  fs::remove_all(root.path() + "/sys/kernel/mm/hugepages");
  absl::StatusOr<MachineInfo> info = readMachineInfo(root.path());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->machineID, "ffffffffffffffffffffffffffffffff");  // dbus copy
  EXPECT_EQ(info->systemUUID, "");  // no DMI, no device tree, no /etc/machine-id
  EXPECT_EQ(info->bootID, "");
  EXPECT_EQ(info->kernelVersion, "Unknown");
  EXPECT_EQ(info->osImage, "Unknown");
  EXPECT_TRUE(info->hugepages.empty());
}

TEST(MachineInfoTest, SystemUuidSourcesInCadvisorOrder) {
  FakeRoot root;
  root.populate();
  root.remove("/sys/class/dmi/id/product_uuid");
  // Without DMI, cAdvisor falls through to /etc/machine-id.
  absl::StatusOr<MachineInfo> info = readMachineInfo(root.path());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->systemUUID, "0123456789abcdef0123456789abcdef");
  // PowerPC device tree strings end in NUL.
  root.write("/proc/device-tree/vm,uuid", std::string("a1b2c3d4-vm\0", 12));
  info = readMachineInfo(root.path());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->systemUUID, "a1b2c3d4-vm");
  root.write("/proc/device-tree/system-id", std::string("IBM,0123ABC\n\0", 13));
  info = readMachineInfo(root.path());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->systemUUID, "IBM,0123ABC");
}

TEST(MachineInfoTest, OsImageFromUsrLibWhenEtcIsMissing) {
  FakeRoot root;
  root.populate();
  root.remove("/etc/os-release");
  root.write("/usr/lib/os-release", "NAME=Clear\nPRETTY_NAME=\"Clear Linux OS\"\n");
  absl::StatusOr<MachineInfo> info = readMachineInfo(root.path());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->osImage, "Clear Linux OS");
}

TEST(MachineInfoTest, HugepagesOfEverySizeTheKernelOffers) {
  FakeRoot root;
  root.populate();
  root.write("/sys/kernel/mm/hugepages/hugepages-64kB/nr_hugepages", "3\n");
  root.mkdir("/sys/kernel/mm/hugepages/hugepages-32768kB");  // no nr_hugepages: zero
  root.mkdir("/sys/kernel/mm/hugepages/not-a-size");
  absl::StatusOr<MachineInfo> info = readMachineInfo(root.path());
  ASSERT_TRUE(info.ok()) << info.status();
  std::map<int64_t, int64_t> want{
      {65536, 3 * 65536}, {2097152, 16 * 2097152}, {33554432, 0}, {1073741824, 0}};
  EXPECT_EQ(info->hugepages, want);
}

TEST(MachineInfoTest, CpuCountFallsBackToSysconf) {
  FakeRoot root;
  root.populate();
  root.remove("/sys/devices/system/cpu/online");
  absl::StatusOr<MachineInfo> info = readMachineInfo(root.path());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->numCPUs, ::sysconf(_SC_NPROCESSORS_ONLN));
}

TEST(MachineInfoTest, ErrorsNameTheFile) {
  FakeRoot root;
  root.populate();
  root.write("/sys/devices/system/cpu/online", "3-1\n");
  absl::StatusOr<MachineInfo> info = readMachineInfo(root.path());
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("/sys/devices/system/cpu/online"), std::string::npos)
      << info.status();

  root.write("/sys/devices/system/cpu/online", "0-1\n");
  root.write("/proc/meminfo", "MemFree: 12 kB\n");
  info = readMachineInfo(root.path());
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("/proc/meminfo"), std::string::npos) << info.status();

  root.remove("/proc/meminfo");
  info = readMachineInfo(root.path());
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(info.status().message().find(root.path() + "/proc/meminfo"), std::string::npos)
      << info.status();
}

TEST(MachineInfoTest, ReadsTheRealMachine) {
  absl::StatusOr<MachineInfo> info = readMachineInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_GE(info->numCPUs, 1);
  EXPECT_GT(info->memoryCapacityBytes, 0);
  EXPECT_FALSE(info->kernelVersion.empty());
  struct utsname u;
  ASSERT_EQ(::uname(&u), 0);
  EXPECT_EQ(info->kernelVersion, u.release);
}

TEST(ParseMemTotalTest, FindsTheValue) {
  EXPECT_EQ(*parseMemTotalKiB("MemTotal:       16392880 kB\nMemFree: 1 kB\n"), 16392880);
  EXPECT_EQ(*parseMemTotalKiB("MemFree: 1 kB\nMemTotal: 2048 kB\n"), 2048);
  EXPECT_EQ(*parseMemTotalKiB("MemTotal:1 kB"), 1);
  // A malformed first occurrence does not hide a later good one.
  EXPECT_EQ(*parseMemTotalKiB("MemTotal: x\nMemTotal: 7 kB\n"), 7);
}

TEST(ParseMemTotalTest, RejectsBadInput) {
  EXPECT_FALSE(parseMemTotalKiB("").ok());
  EXPECT_FALSE(parseMemTotalKiB("MemFree: 1 kB\n").ok());
  EXPECT_FALSE(parseMemTotalKiB("MemTotal: 12 MB\n").ok());
  EXPECT_FALSE(parseMemTotalKiB("MemTotal: kB\n").ok());
  absl::StatusOr<int64_t> huge = parseMemTotalKiB("MemTotal: 99999999999999999999 kB\n");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kOutOfRange);
}

TEST(ParseCpuListTest, CountsRangesAndSingles) {
  EXPECT_EQ(*parseCpuListCount("0"), 1);
  EXPECT_EQ(*parseCpuListCount("0-1\n"), 2);
  EXPECT_EQ(*parseCpuListCount("0-3,5"), 5);
  EXPECT_EQ(*parseCpuListCount("0-3,8-11,16\n"), 9);
  EXPECT_EQ(*parseCpuListCount("7"), 1);
}

TEST(ParseCpuListTest, RejectsMalformedLists) {
  for (const char* s : {"", "\n", "a", "0-", "-1", "3-1", "0,,1", "0-3,", "1 2", "0-1-2"}) {
    absl::StatusOr<int> n = parseCpuListCount(s);
    EXPECT_FALSE(n.ok()) << "\"" << s << "\" gave " << *n;
  }
  EXPECT_EQ(parseCpuListCount("3-1").status().message(),
            "cpu list \"3-1\": descending range \"3-1\"");
}

TEST(ParseOsImageTest, PrettyNameLikeCadvisor) {
  EXPECT_EQ(parseOsImage("NAME=x\nPRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\n"), "Ubuntu 22.04.3 LTS");
  EXPECT_EQ(parseOsImage("PRETTY_NAME=Alpine"), "Alpine");
  EXPECT_EQ(parseOsImage("PRETTY_NAME='single quotes kept'\n"), "'single quotes kept'");
  EXPECT_EQ(parseOsImage("PRETTY_NAME=\"\"x\"\"\n"), "x");
  EXPECT_EQ(parseOsImage("PRETTY_NAME=\n"), "");
  EXPECT_EQ(parseOsImage("NAME=Foo\nID=foo\n"), "Linux");
  EXPECT_EQ(parseOsImage(""), "Linux");
  // The first match anywhere, as cAdvisor's unanchored regexp finds it.
  EXPECT_EQ(parseOsImage("#PRETTY_NAME=\"old\"\nPRETTY_NAME=\"new\"\n"), "old");
}

TEST(ParseHugepageDirNameTest, SizesInBytes) {
  EXPECT_EQ(parseHugepageDirName("hugepages-2048kB"), 2097152);
  EXPECT_EQ(parseHugepageDirName("hugepages-1048576kB"), 1073741824);
  EXPECT_EQ(parseHugepageDirName("hugepages-64kB"), 65536);
  EXPECT_EQ(parseHugepageDirName("hugepages-kB"), std::nullopt);
  EXPECT_EQ(parseHugepageDirName("hugepages-2048"), std::nullopt);
  EXPECT_EQ(parseHugepageDirName("hugepages-0kB"), std::nullopt);
  EXPECT_EQ(parseHugepageDirName("hugepages-2x48kB"), std::nullopt);
  EXPECT_EQ(parseHugepageDirName("other-2048kB"), std::nullopt);
}

TEST(ArchitectureTest, GoArchNames) {
  EXPECT_EQ(goArchFromMachine("x86_64"), "amd64");
  EXPECT_EQ(goArchFromMachine("aarch64"), "arm64");
  EXPECT_EQ(goArchFromMachine("armv7l"), "arm");
  EXPECT_EQ(goArchFromMachine("armv6l"), "arm");
  EXPECT_EQ(goArchFromMachine("i686"), "386");
  EXPECT_EQ(goArchFromMachine("ppc64le"), "ppc64le");
  EXPECT_EQ(goArchFromMachine("s390x"), "s390x");
  EXPECT_EQ(goArchFromMachine("riscv64"), "riscv64");
  EXPECT_EQ(goArchFromMachine("loongarch64"), "loong64");
  std::string arch = architecture();
  EXPECT_FALSE(arch.empty());
#if defined(__x86_64__)
  EXPECT_EQ(arch, "amd64");
#elif defined(__aarch64__)
  EXPECT_EQ(arch, "arm64");
#endif
}

TEST(FilesystemCapacityTest, MatchesStatvfs) {
  FakeRoot root;
  absl::StatusOr<int64_t> bytes = filesystemCapacityBytes(root.path());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  struct statvfs st;
  ASSERT_EQ(::statvfs(root.path().c_str(), &st), 0);
  EXPECT_EQ(*bytes, static_cast<int64_t>(st.f_blocks) * static_cast<int64_t>(st.f_frsize));
  EXPECT_GT(*bytes, 0);
}

TEST(FilesystemCapacityTest, MissingPathIsNotFound) {
  absl::StatusOr<int64_t> bytes = filesystemCapacityBytes("/nonexistent/cubelet/dir");
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(bytes.status().message().find("/nonexistent/cubelet/dir"), std::string::npos);
}

}  // namespace
}  // namespace cubelet::node
