// Unit tests for the host-local IPAM store (netlink/cni/ipam.h), each in its own temp dir
// under /tmp: allocation order, release, ranges, stale records, several processes and
// threads at once, and processes SIGKILLed in the middle of allocating.
#include "netlink/cni/ipam.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/string_view.h"

namespace cubelet::cni {
namespace {

namespace fs = std::filesystem;

// `text` contains `part`; the failure message shows both.
::testing::AssertionResult contains(absl::string_view text, absl::string_view part) {
  if (text.find(part) != absl::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/ipam-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

netlink::IpPrefix cidr(std::string_view text) {
  auto p = netlink::parseCidr(text);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : netlink::IpPrefix{};
}

IpamRange range(std::string_view subnet, std::string_view start = "", std::string_view end = "",
                std::string_view gateway = "") {
  IpamRange r;
  r.subnet = cidr(subnet);
  if (!start.empty()) r.rangeStart = cidr(start);
  if (!end.empty()) r.rangeEnd = cidr(end);
  if (!gateway.empty()) r.gateway = cidr(gateway);
  return r;
}

IpamOwner owner(std::string id, std::string ifname = "eth0", std::string netns = "") {
  IpamOwner o;
  o.containerId = std::move(id);
  o.ifname = std::move(ifname);
  o.netns = std::move(netns);
  o.podUid = "uid-" + o.containerId;
  return o;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::vector<std::string> names(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The address files of `dir` (names that parse as IPs).
std::vector<std::string> recordNames(const std::string& dir) {
  std::vector<std::string> out;
  for (const std::string& n : names(dir)) {
    if (netlink::parseIp(n).ok()) out.push_back(n);
  }
  return out;
}

// The test's own reading of a record written by the store: exactly the five keys, in order,
// every line complete. Returns the key -> value map, empty when the content is not that.
std::map<std::string, std::string> strictRecord(const std::string& content) {
  static const char* const kKeys[] = {"id", "ifname", "netns", "pod_uid", "created"};
  std::map<std::string, std::string> out;
  std::istringstream in(content);
  std::string line;
  size_t i = 0;
  size_t consumed = 0;
  while (std::getline(in, line)) {
    consumed += line.size() + 1;
    if (i >= std::size(kKeys)) return {};
    std::string key = std::string(kKeys[i]) + "=";
    if (line.rfind(key, 0) != 0) return {};
    out[kKeys[i]] = line.substr(key.size());
    ++i;
  }
  if (i != std::size(kKeys) || consumed != content.size() || out["id"].empty() || out["created"].empty()) return {};
  return out;
}

IpamStore openStore(const std::string& dir) {
  auto s = IpamStore::open(dir);
  if (!s.ok()) {
    ADD_FAILURE() << s.status();
    std::abort();
  }
  return std::move(*s);
}

// One allocation from one range; its address text ("10.244.0.2/24"), or the error's text.
std::string allocOne(IpamStore& store, const IpamOwner& o, const IpamRange& r) {
  auto got = store.allocate(o, {r});
  if (!got.ok()) return "error: " + got.status().ToString();
  if (got->size() != 1) return "error: " + std::to_string(got->size()) + " allocations";
  return (*got)[0].address.str();
}

// ---------------------------------------------------------------------------------------------

TEST(IpamStore, FirstAllocationIsDotTwoWithGatewayDotOne) {
  TempDir tmp;
  std::string dir = tmp / "networks/cbr0";  // the parents are created too
  IpamStore store = openStore(dir);
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << std::oct << st.st_mode;

  IpamOwner o = owner("sandbox-a", "eth0", "/run/netns/cni-a");
  auto got = store.allocate(o, {range("10.244.0.0/24")});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  const IpamAllocation& a = (*got)[0];
  EXPECT_EQ(a.address.str(), "10.244.0.2/24");
  EXPECT_EQ(a.gateway.str(), "10.244.0.1/32");
  EXPECT_EQ(a.owner.containerId, "sandbox-a");
  EXPECT_EQ(a.owner.netns, "/run/netns/cni-a");
  EXPECT_GT(a.created, 0);

  EXPECT_EQ(names(dir), (std::vector<std::string>{"10.244.0.2", "last_reserved.4", "lock"}));
  auto rec = strictRecord(readFile(dir + "/10.244.0.2"));
  EXPECT_EQ(rec["id"], "sandbox-a");
  EXPECT_EQ(rec["ifname"], "eth0");
  EXPECT_EQ(rec["netns"], "/run/netns/cni-a");
  EXPECT_EQ(rec["pod_uid"], "uid-sandbox-a");
  EXPECT_EQ(rec["created"], std::to_string(a.created));
  EXPECT_EQ(readFile(dir + "/last_reserved.4"), "10.244.0.2\n");
  ASSERT_EQ(::stat((dir + "/10.244.0.2").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(IpamStore, SequentialOwnersGetDistinctAddresses) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(allocOne(store, owner("s" + std::to_string(i)), range("10.244.0.0/24")),
              "10.244.0." + std::to_string(i + 2) + "/24");
  }
  EXPECT_EQ(recordNames(tmp.path()).size(), 10u);
}

TEST(IpamStore, ReleasedAddressIsNotReusedAtOnce) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  IpamRange r = range("10.244.0.0/24");
  EXPECT_EQ(allocOne(store, owner("a"), r), "10.244.0.2/24");
  EXPECT_EQ(allocOne(store, owner("b"), r), "10.244.0.3/24");
  ASSERT_TRUE(store.release("a", "eth0").ok());
  EXPECT_FALSE(fs::exists(tmp / "10.244.0.2"));
  EXPECT_EQ(allocOne(store, owner("c"), r), "10.244.0.4/24");
}

TEST(IpamStore, ThreeHundredPodsOneAfterAnotherOnASlash24) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  IpamRange r = range("10.244.0.0/24");
  // A /24 has .2 .. .254 (253 addresses); round robin wraps from .254 back to .2.
  for (int i = 0; i < 300; ++i) {
    std::string id = "pod-" + std::to_string(i);
    std::string want = "10.244.0." + std::to_string(2 + i % 253) + "/24";
    ASSERT_EQ(allocOne(store, owner(id), r), want) << "pod " << i;
    ASSERT_TRUE(store.release(id, "eth0").ok());
  }
  EXPECT_TRUE(recordNames(tmp.path()).empty());
}

TEST(IpamStore, FullSmallRangeIsResourceExhaustedNamingTheRange) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  // /29: .1 is the gateway and .7 the broadcast, leaving .2 .. .6.
  IpamRange r = range("10.9.0.0/29");
  for (int i = 2; i <= 6; ++i) {
    EXPECT_EQ(allocOne(store, owner("s" + std::to_string(i)), r), "10.9.0." + std::to_string(i) + "/29");
  }
  auto full = store.allocate(owner("one-too-many"), {r});
  ASSERT_FALSE(full.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(full.status())) << full.status();
  EXPECT_EQ(full.status().message(), "no IP addresses available in range 10.9.0.0/29");
  // Nothing was left behind by the failed attempt.
  EXPECT_EQ(recordNames(tmp.path()).size(), 5u);
  for (const std::string& n : names(tmp.path())) EXPECT_NE(n.rfind(".tmp-", 0), 0u) << n;

  // /30: the one address between gateway and broadcast.
  IpamRange r30 = range("10.9.1.0/30");
  EXPECT_EQ(allocOne(store, owner("t1"), r30), "10.9.1.2/30");
  EXPECT_TRUE(contains(allocOne(store, owner("t2"), r30), "no IP addresses available in range 10.9.1.0/30"));
}

TEST(IpamStore, SameOwnerGetsItsAddressAgain) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  IpamRange r = range("10.244.0.0/24");
  auto first = store.allocate(owner("a"), {r});
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = store.allocate(owner("a"), {r});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].address.str(), "10.244.0.2/24");
  EXPECT_EQ((*again)[0].gateway.str(), "10.244.0.1/32");
  EXPECT_EQ((*again)[0].created, (*first)[0].created);
  EXPECT_EQ(recordNames(tmp.path()).size(), 1u);
  // Another interface of the same sandbox is another owner.
  EXPECT_EQ(allocOne(store, owner("a", "net1"), r), "10.244.0.3/24");
}

TEST(IpamStore, ReleaseIsIdempotentAndMatchesTheInterface) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  IpamRange r = range("10.244.0.0/24");
  ASSERT_EQ(allocOne(store, owner("a"), r), "10.244.0.2/24");
  EXPECT_TRUE(store.release("a", "net1").ok());  // another interface: not ours to free
  EXPECT_TRUE(store.release("b", "eth0").ok());  // nobody
  EXPECT_EQ(recordNames(tmp.path()).size(), 1u);
  EXPECT_TRUE(store.release("a", "eth0").ok());
  EXPECT_TRUE(recordNames(tmp.path()).empty());
  EXPECT_TRUE(store.release("a", "eth0").ok());
  EXPECT_TRUE(absl::IsInvalidArgument(store.release("", "eth0")));
}

TEST(IpamStore, FindReturnsTheOwnersAddressesInHostForm) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  auto got = store.allocate(owner("a", "eth0", "/run/netns/x"), {range("10.244.0.0/24"), range("fd00:1::/64")});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(allocOne(store, owner("b"), range("10.244.0.0/24")), "10.244.0.3/24");

  auto found = store.find("a", "eth0");
  ASSERT_TRUE(found.ok()) << found.status();
  std::set<std::string> addrs;
  for (const auto& a : *found) {
    addrs.insert(a.address.str());
    EXPECT_EQ(a.owner.netns, "/run/netns/x");
    EXPECT_EQ(a.gateway.family, 0);
  }
  EXPECT_EQ(addrs, (std::set<std::string>{"10.244.0.2/32", "fd00:1::2/128"}));
  EXPECT_TRUE(store.find("a", "net1")->empty());
  ASSERT_TRUE(store.release("a", "eth0").ok());
  EXPECT_TRUE(store.find("a", "eth0")->empty());
  EXPECT_EQ(store.find("b", "eth0")->size(), 1u);
}

TEST(IpamStore, DualStackIsAllOrNothing) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  IpamRange v4 = range("10.244.0.0/24");
  IpamRange v6 = range("fd00::/126");  // ::1 gateway, ::2 and ::3 usable
  auto both = store.allocate(owner("a"), {v4, v6});
  ASSERT_TRUE(both.ok()) << both.status();
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0].address.str(), "10.244.0.2/24");
  EXPECT_EQ((*both)[1].address.str(), "fd00::2/126");
  EXPECT_EQ((*both)[1].gateway.str(), "fd00::1/128");
  ASSERT_TRUE(store.allocate(owner("b"), {v4, v6}).ok());

  // The IPv6 range is full now: c gets nothing, and its IPv4 reservation is undone.
  auto c = store.allocate(owner("c"), {v4, v6});
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(c.status())) << c.status();
  EXPECT_TRUE(contains(c.status().message(), "range fd00::/126"));
  EXPECT_TRUE(store.find("c", "eth0")->empty());
  EXPECT_EQ(recordNames(tmp.path()),
            (std::vector<std::string>{"10.244.0.2", "10.244.0.3", "fd00::2", "fd00::3"}));
  for (const std::string& n : names(tmp.path())) EXPECT_NE(n.rfind(".tmp-", 0), 0u) << n;

  // The IPv4 cursor stayed where the last successful allocation left it.
  EXPECT_EQ(readFile(tmp / "last_reserved.4"), "10.244.0.3\n");
  EXPECT_EQ(readFile(tmp / "last_reserved.6"), "fd00::3\n");
}

TEST(IpamStore, RangeStartAndEndAreHonoured) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  IpamRange r = range("10.244.0.0/24", "10.244.0.10", "10.244.0.12");
  EXPECT_EQ(allocOne(store, owner("a"), r), "10.244.0.10/24");
  EXPECT_EQ(allocOne(store, owner("b"), r), "10.244.0.11/24");
  EXPECT_EQ(allocOne(store, owner("c"), r), "10.244.0.12/24");
  EXPECT_TRUE(contains(allocOne(store, owner("d"), r),
                       "no IP addresses available in range 10.244.0.0/24 (10.244.0.10-10.244.0.12)"));

  // A range that takes in the network, gateway and broadcast addresses still skips them.
  IpamRange whole = range("10.1.0.0/30", "10.1.0.0", "10.1.0.3");
  EXPECT_EQ(allocOne(store, owner("e"), whole), "10.1.0.2/30");
  EXPECT_TRUE(contains(allocOne(store, owner("f"), whole), "no IP addresses available"));

  // A gateway elsewhere in the subnet frees .1 and takes its own address out.
  IpamRange gw = range("10.2.0.0/29", "", "", "10.2.0.6");
  std::set<std::string> got;
  for (int i = 0; i < 5; ++i) got.insert(allocOne(store, owner("g" + std::to_string(i)), gw));
  EXPECT_EQ(got, (std::set<std::string>{"10.2.0.1/29", "10.2.0.2/29", "10.2.0.3/29", "10.2.0.4/29", "10.2.0.5/29"}));
}

TEST(IpamStore, BadRangesAndOwnersAreInvalidArgument) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  auto bad = [&](const IpamOwner& o, const std::vector<IpamRange>& rs) {
    auto got = store.allocate(o, rs);
    EXPECT_TRUE(absl::IsInvalidArgument(got.status())) << got.status();
    return std::string(got.status().message());
  };
  EXPECT_TRUE(contains(bad(owner("a"), {range("10.244.0.0/24", "10.245.0.1")}),
                       "IPAM range 10.244.0.0/24: rangeStart 10.245.0.1 is outside the subnet"));
  EXPECT_TRUE(contains(bad(owner("a"), {range("10.244.0.0/24", "10.244.0.9", "10.244.0.8")}), "is after rangeEnd"));
  EXPECT_TRUE(contains(bad(owner("a"), {range("10.244.0.0/24", "", "", "fd00::1")}), "not of the subnet's family"));
  EXPECT_TRUE(contains(bad(owner("a"), {range("10.244.0.0/31")}), "no host addresses"));
  EXPECT_TRUE(contains(bad(owner("a"), {range("10.244.0.0/24", "10.244.0.0", "10.244.0.0")}), "no usable address"));
  EXPECT_TRUE(contains(bad(owner("a"), {range("10.244.0.0/24"), range("10.244.0.128/25")}), "overlap"));
  EXPECT_TRUE(contains(bad(owner("a"), {}), "no ranges"));
  EXPECT_TRUE(contains(bad(owner(""), {range("10.244.0.0/24")}), "container id is empty"));
  EXPECT_TRUE(contains(bad(owner("a", ""), {range("10.244.0.0/24")}), "interface name is empty"));
  EXPECT_TRUE(contains(bad(owner("a\nid=b"), {range("10.244.0.0/24")}), "newline"));
  EXPECT_TRUE(contains(bad(owner("a", "eth0", "/run/netns/x\r"), {range("10.244.0.0/24")}), "newline"));
  // A subnet given with host bits set means its network.
  EXPECT_EQ(allocOne(store, owner("a"), range("10.244.0.77/24")), "10.244.0.2/24");
  EXPECT_TRUE(recordNames(tmp.path()) == std::vector<std::string>{"10.244.0.2"});
}

TEST(IpamStore, Ipv6RangesWrapAroundTheirEnd) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  IpamRange r = range("fd00:10::/64");
  EXPECT_EQ(allocOne(store, owner("a"), r), "fd00:10::2/64");
  EXPECT_EQ(allocOne(store, owner("b"), r), "fd00:10::3/64");
  // From the last address of the /64 the walk wraps to the start.
  writeFile(tmp / "last_reserved.6", "fd00:10::ffff:ffff:ffff:fffe\n");
  EXPECT_EQ(allocOne(store, owner("c"), r), "fd00:10::ffff:ffff:ffff:ffff/64");
  EXPECT_EQ(allocOne(store, owner("d"), r), "fd00:10::4/64");
  // A cursor that is garbage or of the other family restarts at the beginning.
  writeFile(tmp / "last_reserved.6", "junk");
  EXPECT_EQ(allocOne(store, owner("e"), r), "fd00:10::5/64");
  // A whole /0 works too (128-bit arithmetic at its limits).
  writeFile(tmp / "last_reserved.6", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n");
  EXPECT_EQ(allocOne(store, owner("f"), range("::/0")), "::2/0");
  ASSERT_TRUE(store.release("f", "eth0").ok());
  writeFile(tmp / "last_reserved.6", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe\n");
  EXPECT_EQ(allocOne(store, owner("f"), range("::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/0");
  ASSERT_TRUE(store.release("f", "eth0").ok());
  // A name that is not in canonical form still marks its address taken.
  writeFile(tmp / "fd00:10:0::6", "id=hand\nifname=eth0\n");
  EXPECT_EQ(allocOne(store, owner("g"), r), "fd00:10::7/64");
}

TEST(IpamStore, StaleRecordsAreSweptWhenTheRangeIsFull) {
  TempDir tmp;
  std::string dir = tmp / "store";
  IpamStore store = openStore(dir);
  IpamRange r = range("10.9.0.0/29");  // .2 .. .6
  std::vector<std::string> netns;
  for (int i = 0; i < 5; ++i) {
    netns.push_back(tmp / ("netns-" + std::to_string(i)));
    writeFile(netns.back(), "");
    EXPECT_EQ(allocOne(store, owner("s" + std::to_string(i), "eth0", netns.back()), r),
              "10.9.0." + std::to_string(i + 2) + "/29");
  }
  // s2's sandbox is gone without a DEL; a record without netns is never judged stale.
  ASSERT_EQ(::unlink(netns[2].c_str()), 0);
  EXPECT_EQ(allocOne(store, owner("late", "eth0", netns[0]), r), "10.9.0.4/29");
  EXPECT_TRUE(store.find("s2", "eth0")->empty());
  ASSERT_TRUE(store.release("late", "eth0").ok());
  ASSERT_EQ(allocOne(store, owner("nons", "eth0", ""), r), "10.9.0.4/29");

  // releaseStale on its own.
  ASSERT_EQ(::unlink(netns[0].c_str()), 0);
  ASSERT_EQ(::unlink(netns[1].c_str()), 0);
  auto released = store.releaseStale();
  ASSERT_TRUE(released.ok()) << released.status();
  std::set<std::string> ids;
  for (const auto& a : *released) ids.insert(a.owner.containerId + "@" + a.address.ip());
  EXPECT_EQ(ids, (std::set<std::string>{"s0@10.9.0.2", "s1@10.9.0.3"}));
  EXPECT_EQ(recordNames(dir), (std::vector<std::string>{"10.9.0.4", "10.9.0.5", "10.9.0.6"}));
}

TEST(IpamStore, OwnerWithAMissingNetnsKeepsWhatItJustReserved) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  // The owner's own (missing) netns must not make the sweep free its first range's address.
  IpamOwner o = owner("a", "eth0", tmp / "no-such-netns");
  ASSERT_TRUE(store.allocate(owner("b"), {range("fd00::/126")}).ok());
  ASSERT_TRUE(store.allocate(owner("c"), {range("fd00::/126")}).ok());
  auto got = store.allocate(o, {range("10.0.0.0/30"), range("fd00::/126")});
  EXPECT_TRUE(absl::IsResourceExhausted(got.status())) << got.status();
  EXPECT_TRUE(store.find("a", "eth0")->empty());
  ASSERT_TRUE(store.allocate(o, {range("10.0.0.0/30")}).ok());
  // Retried with a full second range: the sweep runs but keeps a's own record, then the
  // rollback frees it (all or nothing).
  got = store.allocate(o, {range("10.0.0.0/30"), range("fd00::/126")});
  EXPECT_TRUE(absl::IsResourceExhausted(got.status())) << got.status();
  EXPECT_TRUE(store.find("a", "eth0")->empty());
}

TEST(IpamStore, ReleaseStaleRemovesOldTempFiles) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  writeFile(tmp / ".tmp-old", "id=x\n");
  writeFile(tmp / ".tmp-new", "id=y\n");
  timespec times[2] = {{::time(nullptr) - 120, 0}, {::time(nullptr) - 120, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (tmp / ".tmp-old").c_str(), times, 0), 0);
  auto released = store.releaseStale();
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_TRUE(released->empty());
  EXPECT_FALSE(fs::exists(tmp / ".tmp-old"));
  EXPECT_TRUE(fs::exists(tmp / ".tmp-new"));
}

TEST(IpamStore, UnparsableFilesNamedLikeAddressesStayTaken) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  writeFile(tmp / "10.244.0.2", "garbage");
  writeFile(tmp / "10.244.0.3", "legacy-id\r\neth0");  // host-local's form
  writeFile(tmp / "10.244.0.4", "");                  // what a host-local crash leaves
  ASSERT_EQ(::mkfifo((tmp / "10.244.0.5").c_str(), 0600), 0);
  ASSERT_EQ(::symlink("10.244.0.2", (tmp / "10.244.0.6").c_str()), 0);
  writeFile(tmp / "not-an-address", "whatever");
  EXPECT_EQ(allocOne(store, owner("a"), range("10.244.0.0/24")), "10.244.0.7/24");

  auto all = store.list();
  ASSERT_TRUE(all.ok()) << all.status();
  std::map<std::string, std::string> byIp;
  for (const auto& a : *all) byIp[a.address.ip()] = a.owner.containerId;
  EXPECT_EQ(byIp, (std::map<std::string, std::string>{{"10.244.0.2", ""},
                                                      {"10.244.0.3", ""},
                                                      {"10.244.0.4", ""},
                                                      {"10.244.0.5", ""},
                                                      {"10.244.0.6", ""},
                                                      {"10.244.0.7", "a"}}));

  EXPECT_TRUE(store.release("legacy-id", "eth0").ok());
  auto stale = store.releaseStale();
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_TRUE(stale->empty());
  int asked = 0;
  auto released = store.releaseIf([&](const IpamAllocation& a) {
    ++asked;
    EXPECT_EQ(a.owner.containerId, "a");
    return false;
  });
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(recordNames(tmp.path()).size(), 6u);
}

TEST(IpamStore, RecordsWrittenByHandAreReadTolerantly) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  writeFile(tmp / "10.244.0.9", "version=2\r\nid=hand\r\nifname=eth1\r\n\r\ncreated=42\r\nextra=x=y");
  writeFile(tmp / "10.244.0.10", "id=noif\n");
  auto found = store.find("hand", "eth1");
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].address.str(), "10.244.0.9/32");
  EXPECT_EQ((*found)[0].created, 42);
  // The same owner allocating in that range gets the record back.
  EXPECT_EQ(allocOne(store, owner("hand", "eth1"), range("10.244.0.0/24")), "10.244.0.9/24");
  // A record without ifname belongs to every interface of its id.
  EXPECT_EQ(store.find("noif", "eth7")->size(), 1u);
  EXPECT_TRUE(store.release("noif", "eth7").ok());
  EXPECT_FALSE(fs::exists(tmp / "10.244.0.10"));
}

TEST(IpamStore, ReleaseIfReleasesWhatThePredicatePicks) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  IpamRange r = range("10.244.0.0/24");
  for (const char* id : {"keep-1", "drop-1", "keep-2", "drop-2"}) ASSERT_TRUE(store.allocate(owner(id), {r}).ok());
  auto released = store.releaseIf([](const IpamAllocation& a) { return a.owner.containerId.rfind("drop", 0) == 0; });
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(released->size(), 2u);
  auto left = store.list();
  ASSERT_TRUE(left.ok());
  std::set<std::string> ids;
  for (const auto& a : *left) ids.insert(a.owner.containerId);
  EXPECT_EQ(ids, (std::set<std::string>{"keep-1", "keep-2"}));
}

TEST(IpamStore, ErrorsNameTheStoreAndTheErrno) {
  TempDir tmp;
  writeFile(tmp / "file", "");
  auto s = IpamStore::open(tmp / "file/sub");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.status().message(), "IPAM store " + (tmp / "file/sub") + ": mkdir " + (tmp / "file/sub") +
                                                 ": Not a directory"));
  s = IpamStore::open(tmp / "file");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.status().message(), "IPAM store " + (tmp / "file") + ": open: Not a directory"));

  IpamStore store = openStore(tmp / "store");
  fs::remove_all(tmp / "store");
  auto got = store.allocate(owner("a"), {range("10.244.0.0/24")});
  EXPECT_TRUE(absl::IsNotFound(got.status())) << got.status();
  EXPECT_TRUE(contains(got.status().message(), "open: No such file or directory"));
}

// ---------------------------------------------------------------------------------------------
// Several allocators at once.

TEST(IpamStore, TwentyProcessesAtOnceGetDistinctAddresses) {
  TempDir tmp;
  { IpamStore created = openStore(tmp.path()); }
  constexpr int kProcs = 20;
  int start[2], results[2];
  ASSERT_EQ(::pipe(start), 0);
  ASSERT_EQ(::pipe(results), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcs; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(start[1]);
      char c;
      (void)!::read(start[0], &c, 1);  // returns when the parent closes its end: all go at once
      auto store = IpamStore::open(tmp.path());
      std::string line = "error\n";
      if (store.ok()) {
        auto got = store->allocate(owner("proc-" + std::to_string(i)), {range("10.244.0.0/24"), range("fd00::/64")});
        if (got.ok()) line = (*got)[0].address.ip() + " " + (*got)[1].address.ip() + "\n";
        else line = "error " + got.status().ToString() + "\n";
      }
      (void)!::write(results[1], line.data(), line.size());  // < PIPE_BUF: atomic
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  ::close(start[0]);
  ::close(start[1]);
  ::close(results[1]);
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(results[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(results[0]);
  std::set<std::string> v4, v6;
  std::istringstream in(out);
  std::string a, b;
  while (in >> a >> b) {
    v4.insert(a);
    v6.insert(b);
  }
  EXPECT_EQ(v4.size(), static_cast<size_t>(kProcs)) << out;
  EXPECT_EQ(v6.size(), static_cast<size_t>(kProcs)) << out;
  EXPECT_EQ(recordNames(tmp.path()).size(), 2u * kProcs);
}

TEST(IpamStore, EightThreadsSharingAStoreGetDistinctAddresses) {
  TempDir tmp;
  IpamStore shared = openStore(tmp.path());
  constexpr int kThreads = 8, kEach = 10;
  std::vector<std::vector<std::string>> got(kThreads);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      // Half the threads use the shared object, half their own.
      std::optional<IpamStore> own;
      if (t % 2) own.emplace(openStore(tmp.path()));
      IpamStore& store = own ? *own : shared;
      for (int i = 0; i < kEach; ++i) {
        got[t].push_back(allocOne(store, owner("t" + std::to_string(t) + "-" + std::to_string(i)),
                                  range("10.244.0.0/24")));
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& v : got) {
    for (const auto& a : v) {
      EXPECT_EQ(a.rfind("10.244.0.", 0), 0u) << a;
      all.insert(a);
    }
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
}

// ---------------------------------------------------------------------------------------------
// Crash safety: allocators SIGKILLed at random moments.

// Checks the dir as a crash may have left it: only the lock, cursors, temp files and complete
// records; no owner twice in one family. Returns the ids on record.
std::set<std::string> checkCrashInvariants(const std::string& dir) {
  std::set<std::string> ids;
  std::set<std::pair<std::string, int>> ownerFamily;
  for (const std::string& n : names(dir)) {
    if (n == "lock" || n.rfind("last_reserved.", 0) == 0) {
      if (n != "lock") {
        std::string cur = readFile(dir + "/" + n);
        EXPECT_TRUE(netlink::parseIp(cur.substr(0, cur.find('\n'))).ok()) << n << ": \"" << cur << "\"";
      }
      continue;
    }
    if (n.rfind(".tmp-", 0) == 0) continue;
    auto ip = netlink::parseIp(n);
    EXPECT_TRUE(ip.ok()) << "unexpected file " << n;
    if (!ip.ok()) continue;
    auto rec = strictRecord(readFile(dir + "/" + n));
    EXPECT_FALSE(rec.empty()) << n << " is not a complete record: \"" << readFile(dir + "/" + n) << "\"";
    if (rec.empty()) continue;
    EXPECT_TRUE(ownerFamily.emplace(rec["id"] + "/" + rec["ifname"], ip->family).second)
        << rec["id"] << " holds two addresses of one family";
    ids.insert(rec["id"]);
  }
  return ids;
}

TEST(IpamStore, AllocatorsKilledAtRandomMomentsLeaveOnlyCompleteRecords) {
  TempDir tmp;
  const std::vector<IpamRange> ranges = {range("10.244.0.0/24"), range("fd00::/64")};
  { IpamStore created = openStore(tmp.path()); }
  std::mt19937 rng(12345);
  constexpr int kIterations = 200;
  int leftovers = 0;
  for (int iter = 0; iter < kIterations; ++iter) {
    const std::string prefix = "crash-" + std::to_string(iter) + "-";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = IpamStore::open(tmp.path());
      if (!store.ok()) ::_exit(2);
      for (int k = 0;; ++k) {
        std::string id = prefix + std::to_string(k);
        if (!store->allocate(owner(id), ranges).ok()) ::_exit(3);
        if (!store->release(id, "eth0").ok()) ::_exit(4);
      }
    }
    ::usleep(std::uniform_int_distribution<useconds_t>(0, 20000)(rng));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);

    std::set<std::string> ids = checkCrashInvariants(tmp.path());
    // Only the child just killed can hold anything: earlier ones were released below.
    for (const std::string& id : ids) ASSERT_EQ(id.rfind(prefix, 0), 0u) << id;
    ASSERT_LE(ids.size(), 1u);
    // The DEL the runtime sends for the sandbox it lost.
    IpamStore store = openStore(tmp.path());
    for (const std::string& id : ids) {
      ASSERT_TRUE(store.release(id, "eth0").ok());
      ++leftovers;
    }
    ASSERT_TRUE(recordNames(tmp.path()).empty()) << "iteration " << iter;
  }
  std::cout << "[ info ] " << kIterations << " kills, " << leftovers << " left a record to release\n";
  // The store still works, and the temp files of the killed ones go once they are old.
  IpamStore store = openStore(tmp.path());
  EXPECT_TRUE(store.allocate(owner("after"), ranges).ok());
  for (const std::string& n : names(tmp.path())) {
    if (n.rfind(".tmp-", 0) != 0) continue;
    timespec old[2] = {{::time(nullptr) - 120, 0}, {::time(nullptr) - 120, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (tmp / n).c_str(), old, 0), 0);
  }
  ASSERT_TRUE(store.releaseStale().ok());
  for (const std::string& n : names(tmp.path())) EXPECT_NE(n.rfind(".tmp-", 0), 0u) << n;
}

// ---------------------------------------------------------------------------------------------
// Cost (printed, not asserted: it depends on the disk).

TEST(IpamStore, CostOfAllocateWith250Records) {
  TempDir tmp;
  IpamStore store = openStore(tmp.path());
  IpamRange r = range("10.244.0.0/24");
  for (int i = 0; i < 250; ++i) {
    ASSERT_TRUE(store.allocate(owner("held-" + std::to_string(i), "eth0", "/run/netns/cni-x"), {r}).ok());
  }
  using Clock = std::chrono::steady_clock;
  auto micros = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
  constexpr int kRounds = 20;
  std::vector<long> alloc, rel, find;
  for (int i = 0; i < kRounds; ++i) {
    std::string id = "probe-" + std::to_string(i);
    auto t0 = Clock::now();
    auto got = store.allocate(owner(id), {r});
    auto t1 = Clock::now();
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(store.find(id, "eth0").ok());
    auto t2 = Clock::now();
    ASSERT_TRUE(store.release(id, "eth0").ok());
    auto t3 = Clock::now();
    alloc.push_back(micros(t1 - t0));
    find.push_back(micros(t2 - t1));
    rel.push_back(micros(t3 - t2));
  }
  // What the disk alone costs for the two flushes an allocate needs: a new small file synced,
  // then linked and its dir synced.
  std::vector<long> disk;
  for (int i = 0; i < kRounds; ++i) {
    std::string name = tmp / ("baseline-" + std::to_string(i));
    auto t0 = Clock::now();
    int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "id=x\nifname=eth0\n", 17), 17);
    ASSERT_EQ(::fsync(fd), 0);
    ::close(fd);
    int dfd = ::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_EQ(::link(name.c_str(), (name + ".linked").c_str()), 0);
    ASSERT_EQ(::fsync(dfd), 0);
    ::close(dfd);
    disk.push_back(micros(Clock::now() - t0));
  }
  auto median = [](std::vector<long> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::cout << "[ info ] with 251 records, median of " << kRounds << ": allocate " << median(alloc)
            << " us (max " << *std::max_element(alloc.begin(), alloc.end()) << "), find (reads every record) "
            << median(find) << " us, release " << median(rel) << " us; the disk's file + dir fsync alone "
            << median(disk) << " us\n";
}

}  // namespace
}  // namespace cubelet::cni
