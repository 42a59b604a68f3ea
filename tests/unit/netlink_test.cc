// Unit tests for netlink/: the pure text helpers anywhere; everything else as root, inside
// throwaway network namespaces these tests create (/run/netns/nltest-<pid>-<n>-<tag>) and
// always remove, even on failure. Nothing here reads or changes the root namespace's links,
// addresses or routes: every socket is opened inside a test namespace.
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>

#include "absl/strings/string_view.h"
#include "base/fd.h"
#include "netlink/netns.h"
#include "tests/fakes/test_netns.h"
#include "netlink/nlroute.h"

namespace cubelet::netlink {
namespace {

// `text` contains `part`; the failure message shows both. (Plain gtest: no gmock here.)
// (absl::string_view: Status messages; Debian's abseil does not alias std::string_view.)
::testing::AssertionResult contains(absl::string_view text, absl::string_view part) {
  if (text.find(part) != absl::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

constexpr std::string_view kPrefix = "nltest-";

std::string uniqueNetnsName(std::string_view tag) { return testing::uniqueTestNetnsName(kPrefix, tag); }

void removeStaleTestNamespaces() { testing::removeStaleTestNetns(kPrefix); }

bool isRoot() { return geteuid() == 0; }

VethSpec veth(const std::string& name, const std::string& peerName, int peerNetnsFd) {
  VethSpec v;
  v.name = name;
  v.peerName = peerName;
  v.peerNetnsFd = peerNetnsFd;
  return v;
}

Route route(const std::string& dst, const std::string& gateway, int oifindex = 0) {
  Route r;
  r.dst = dst;
  r.gateway = gateway;
  r.oifindex = oifindex;
  return r;
}

ino_t currentNetnsInode() {
  auto ns = Netns::current();
  return ns.ok() ? ns->inode() : 0;
}

// ---------------------------------------------------------------------------------------------
// Sockets for the connectivity checks.

sockaddr_storage sockAddr(const std::string& ip, int port, socklen_t* len) {
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof *v4;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof *v6;
  }
  return ss;
}

absl::Status errnoError(const std::string& what) {
  return absl::UnavailableError(what + ": " + strerrorname_np(errno));
}

// A TCP listener on ip:<any port>, made inside `ns`; returns it and its port.
absl::StatusOr<std::pair<Fd, int>> listenIn(const Netns& ns, const std::string& ip) {
  return runInNetns(ns, [&]() -> absl::StatusOr<std::pair<Fd, int>> {
    socklen_t len = 0;
    sockaddr_storage ss = sockAddr(ip, 0, &len);
    Fd fd(socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return errnoError("socket");
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return errnoError("bind " + ip);
    if (listen(fd.get(), 4) != 0) return errnoError("listen");
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return errnoError("getsockname");
    int port = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return std::make_pair(std::move(fd), port);
  });
}

// A TCP connection to ip:port made from inside `ns` (within 3 s).
absl::StatusOr<Fd> dialFrom(const Netns& ns, const std::string& ip, int port) {
  return runInNetns(ns, [&]() -> absl::StatusOr<Fd> {
    socklen_t len = 0;
    sockaddr_storage ss = sockAddr(ip, port, &len);
    Fd fd(socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) return errnoError("socket");
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
      return errnoError("connect " + ip);
    }
    pollfd p{fd.get(), POLLOUT, 0};
    if (poll(&p, 1, 3000) != 1) return absl::DeadlineExceededError("connect " + ip + ": timed out");
    int err = 0;
    socklen_t errLen = sizeof err;
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &errLen);
    if (err != 0) {
      errno = err;
      return errnoError("connect " + ip);
    }
    return fd;
  });
}

// Reads what is there within 3 s.
std::string readSome(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 3000) != 1) return "";
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Connects from `from` to a listener on ip in `to` and swaps a few bytes each way: proof
// that packets went through, not just that connect() said yes.
::testing::AssertionResult talks(const Netns& from, const Netns& to, const std::string& ip) {
  auto listener = listenIn(to, ip);
  if (!listener.ok()) return ::testing::AssertionFailure() << listener.status();
  auto client = dialFrom(from, ip, listener->second);
  if (!client.ok()) return ::testing::AssertionFailure() << client.status();
  pollfd p{listener->first.get(), POLLIN, 0};
  if (poll(&p, 1, 3000) != 1) return ::testing::AssertionFailure() << "no connection to accept";
  Fd server(accept4(listener->first.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!server.valid()) return ::testing::AssertionFailure() << "accept: " << strerror(errno);
  if (write(client->get(), "ping", 4) != 4) return ::testing::AssertionFailure() << "client write failed";
  std::string got = readSome(server.get());
  if (got != "ping") return ::testing::AssertionFailure() << "server read \"" << got << "\"";
  if (write(server.get(), "pong", 4) != 4) return ::testing::AssertionFailure() << "server write failed";
  got = readSome(client->get());
  if (got != "pong") return ::testing::AssertionFailure() << "client read \"" << got << "\"";
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------------
// Text helpers (no root).

TEST(NetlinkTextTest, ParsesCidrs) {
  auto p = parseCidr("10.1.0.1/24");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->family, AF_INET);
  EXPECT_EQ(p->prefixLen, 24);
  EXPECT_EQ(p->ip(), "10.1.0.1");
  EXPECT_EQ(p->str(), "10.1.0.1/24");

  auto v6 = parseCidr("FD00:1::1/64");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->family, AF_INET6);
  EXPECT_EQ(v6->str(), "fd00:1::1/64") << "canonical text";

  auto host = parseCidr("10.1.0.1");
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(host->prefixLen, 32) << "a bare address is a host prefix";
  EXPECT_EQ(parseCidr("::1")->prefixLen, 128);
  EXPECT_EQ(parseCidr("0.0.0.0/0")->prefixLen, 0);

  for (const char* bad : {"", "10.1.0.1/33", "fd00::1/129", "10.1.0.1/", "10.1.0.1/-1", "10.1.0.1/+8",
                          "10.1.0.1/24x", "10.1.0/24", "10.1.0.256/24", "host/24", " 10.1.0.1/24"}) {
    auto r = parseCidr(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(contains(parseCidr("10.1.0.1/33").status().message(), "invalid CIDR \"10.1.0.1/33\""));
}

TEST(NetlinkTextTest, ParsesIpsWithoutPrefix) {
  EXPECT_EQ(parseIp("10.1.0.1")->prefixLen, 32);
  EXPECT_EQ(parseIp("fd00::1")->family, AF_INET6);
  EXPECT_FALSE(parseIp("10.1.0.1/24").ok()) << "no prefix length on an IP";
}

TEST(NetlinkTextTest, ParsesAndFormatsMacs) {
  auto m = parseMac("02:42:AC:11:00:0f");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(formatMac(*m), "02:42:ac:11:00:0f");
  EXPECT_EQ(formatMac(*parseMac("02-42-ac-11-00-0f")), "02:42:ac:11:00:0f");
  for (const char* bad : {"", "02:42:ac:11:00", "02:42:ac:11:00:0g", "02:42:ac:11:00:0f:00", "0242.ac11.000f",
                          "02:42:ac:11:00:+f", "02;42:ac:11:00:0f"}) {
    EXPECT_EQ(parseMac(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(NetlinkTextTest, ChecksLinkNames) {
  EXPECT_TRUE(checkLinkName("eth0").ok());
  EXPECT_TRUE(checkLinkName("veth0123456789a").ok()) << "15 bytes is the most";
  for (const char* bad : {"", ".", "..", "veth0123456789ab", "a/b", "a:b", "a b", "a\tb"}) {
    EXPECT_EQ(checkLinkName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// Namespaces.

class NetnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (isRoot()) removeStaleTestNamespaces();
  }
  void SetUp() override {
    ASSERT_TRUE(isRoot()) << "these tests create network namespaces: run them as root (CI does)";
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

// ---------------------------------------------------------------------------------------------
// Links, addresses, routes and neighbours in two namespaces: "host" (a bridge) and "pod" (the
// far end of a veth pair, named eth0), as a CNI bridge plugin lays them out.

class NetlinkTest : public NetnsTest {
 protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (auto [named, ns, sock, tag] : {std::tuple{&hostNamed_, &hostNs_, &host_, "host"},
                                        std::tuple{&podNamed_, &podNs_, &pod_, "pod"}}) {
      auto n = NamedNetns::create(uniqueNetnsName(tag));
      ASSERT_TRUE(n.ok()) << n.status();
      named->emplace(std::move(*n));
      auto h = (*named)->open();
      ASSERT_TRUE(h.ok()) << h.status();
      ns->emplace(std::move(*h));
      auto s = Socket::openIn(**ns);
      ASSERT_TRUE(s.ok()) << s.status();
      sock->emplace(std::move(*s));
    }
  }

  // Host: bridge cbr0 (10.1.0.1/24, fd00:1::1/64) with port veth0; pod: eth0 (10.1.0.2/24,
  // fd00:1::2/64). Everything up, lo too.
  void plumb() {
    auto br = host_->addBridge("cbr0");
    ASSERT_TRUE(br.ok()) << br.status();
    bridge_ = *br;
    auto v = host_->addVeth(veth("veth0", "eth0", podNs_->fd()));
    ASSERT_TRUE(v.ok()) << v.status();
    hostVeth_ = *v;
    auto e = pod_->linkByName("eth0");
    ASSERT_TRUE(e.ok()) << e.status();
    eth0_ = *e;
    ASSERT_TRUE(host_->setMaster(hostVeth_, bridge_).ok());
    for (auto [sock, link] : {std::pair{&host_, &bridge_}, std::pair{&host_, &hostVeth_}, std::pair{&pod_, &eth0_}}) {
      absl::Status st = (*sock)->setLinkUp(*link);
      ASSERT_TRUE(st.ok()) << st;
    }
    for (auto* sock : {&host_, &pod_}) {
      auto lo = (*sock)->linkByName("lo");
      ASSERT_TRUE(lo.ok()) << lo.status();
      ASSERT_TRUE((*sock)->setLinkUp(*lo).ok());
    }
    AddressOptions noDad{.noDad = true};
    for (auto [sock, link, cidr] :
         {std::tuple{&host_, &bridge_, "10.1.0.1/24"}, std::tuple{&host_, &bridge_, "fd00:1::1/64"},
          std::tuple{&pod_, &eth0_, "10.1.0.2/24"}, std::tuple{&pod_, &eth0_, "fd00:1::2/64"}}) {
      absl::Status st = (*sock)->addAddress(*link, cidr, noDad);
      ASSERT_TRUE(st.ok()) << st;
    }
  }

  std::optional<NamedNetns> hostNamed_, podNamed_;
  std::optional<Netns> hostNs_, podNs_;
  std::optional<Socket> host_, pod_;
  Link bridge_, hostVeth_, eth0_;
};

TEST_F(NetlinkTest, BridgeAndVethWithThePeerMadeInThePodNamespace) {
  ASSERT_NO_FATAL_FAILURE(plumb());
  EXPECT_EQ(bridge_.kind, "bridge");
  EXPECT_EQ(hostVeth_.kind, "veth");
  EXPECT_EQ(eth0_.kind, "veth");
  EXPECT_EQ(hostVeth_.peerIndex, eth0_.ifindex) << "IFLA_LINK names the peer's ifindex over there";

  auto port = host_->linkByName("veth0");
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(port->masterIndex, bridge_.ifindex);
  EXPECT_TRUE(port->up());
  auto byIndex = host_->linkByIndex(bridge_.ifindex);
  ASSERT_TRUE(byIndex.ok()) << byIndex.status();
  EXPECT_EQ(byIndex->name, "cbr0");

  // eth0 exists only in the pod's namespace.
  auto none = host_->linkByName("eth0");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound) << none.status();
  EXPECT_TRUE(contains(none.status().message(), "look up link \"eth0\"")) << none.status();
  auto links = pod_->links();
  ASSERT_TRUE(links.ok()) << links.status();
  std::vector<std::string> names;
  for (const auto& l : *links) names.push_back(l.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"eth0", "lo"}));

  // Deleting one end deletes both.
  EXPECT_TRUE(host_->deleteLink("veth0").ok());
  EXPECT_EQ(pod_->linkByName("eth0").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(NetlinkTest, TcpAcrossTheBridgeBothFamiliesAndThroughADefaultRoute) {
  ASSERT_NO_FATAL_FAILURE(plumb());
  EXPECT_TRUE(talks(*podNs_, *hostNs_, "10.1.0.1"));
  EXPECT_TRUE(talks(*hostNs_, *podNs_, "10.1.0.2"));
  EXPECT_TRUE(talks(*podNs_, *hostNs_, "fd00:1::1"));

  // An address of the host off the pod's subnet is reachable only once the pod routes to it.
  auto lo = host_->linkByName("lo");
  ASSERT_TRUE(lo.ok());
  ASSERT_TRUE(host_->addAddress(*lo, "10.99.0.1/32").ok());
  auto before = dialFrom(*podNs_, "10.99.0.1", 1);
  EXPECT_TRUE(contains(before.status().message(), "ENETUNREACH")) << before.status();
  Route def;
  def.gateway = "10.1.0.1";
  absl::Status st = pod_->addRoute(def);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_TRUE(talks(*podNs_, *hostNs_, "10.99.0.1"));
}

TEST_F(NetlinkTest, HairpinMtuAndMacReadBack) {
  ASSERT_NO_FATAL_FAILURE(plumb());
  auto off = host_->hairpin(hostVeth_);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(*off);
  absl::Status st = host_->setHairpin(hostVeth_, true);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_TRUE(host_->hairpin(hostVeth_).value_or(false));
  ASSERT_TRUE(host_->setHairpin(hostVeth_, false).ok());
  EXPECT_FALSE(host_->hairpin(hostVeth_).value_or(true));

  auto notPort = host_->hairpin(bridge_);
  EXPECT_EQ(notPort.status().code(), absl::StatusCode::kNotFound) << notPort.status();
  EXPECT_FALSE(pod_->setHairpin(eth0_, true).ok()) << "eth0 is no bridge port";

  ASSERT_TRUE(pod_->setMtu(eth0_, 1400).ok());
  ASSERT_TRUE(pod_->setMac(eth0_, "02:00:0a:01:00:02").ok());
  auto e = pod_->linkByName("eth0");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->mtu, 1400u);
  EXPECT_EQ(e->mac, "02:00:0a:01:00:02");

  // Several changes in one request.
  LinkChange change;
  change.up = false;
  change.mtu = 1300;
  change.mac = "02:00:0a:01:00:03";
  st = pod_->changeLink(eth0_, change);
  ASSERT_TRUE(st.ok()) << st;
  e = pod_->linkByName("eth0");
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->up());
  EXPECT_EQ(e->mtu, 1300u);
  EXPECT_EQ(e->mac, "02:00:0a:01:00:03");

  st = pod_->setMtu(eth0_, 100000000);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_TRUE(contains(st.message(), "set link \"eth0\" mtu 100000000: ")) << st;
  EXPECT_EQ(pod_->setMac(eth0_, "nonsense").code(), absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(host_->clearMaster(hostVeth_).ok());
  EXPECT_EQ(host_->linkByName("veth0")->masterIndex, 0);
}

TEST_F(NetlinkTest, AddressesListDuplicateAndMissing) {
  ASSERT_NO_FATAL_FAILURE(plumb());
  auto addrs = pod_->addresses(eth0_);
  ASSERT_TRUE(addrs.ok()) << addrs.status();
  std::vector<std::string> got;
  for (const auto& a : *addrs) {
    EXPECT_EQ(a.ifname, "eth0");
    if (a.global) got.push_back(a.ip + "/" + std::to_string(a.prefixLen));
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"10.1.0.2/24", "fd00:1::2/64"}));

  absl::Status dup = host_->addAddress(bridge_, "10.1.0.1/24");
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(std::string(dup.message()),
            "add address 10.1.0.1/24 to link \"cbr0\": Object exists (NLE_EXIST); "
            "kernel: ipv4: Address already assigned");
  EXPECT_EQ(host_->addAddress(bridge_, "fd00:1::1/64").code(), absl::StatusCode::kAlreadyExists);

  ASSERT_TRUE(pod_->addAddress(eth0_, "10.1.0.3/24").ok());
  ASSERT_TRUE(pod_->deleteAddress(eth0_, "10.1.0.3/24").ok());
  absl::Status missing = pod_->deleteAddress(eth0_, "10.1.0.3/24");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_TRUE(contains(missing.message(), "delete address 10.1.0.3/24 from link \"eth0\": ")) << missing;
  EXPECT_EQ(pod_->deleteAddress(eth0_, "fd00:1::9/64").code(), absl::StatusCode::kNotFound);

  EXPECT_EQ(pod_->addAddress(eth0_, "10.1.0.300/24").code(), absl::StatusCode::kInvalidArgument);
  Link gone = eth0_;
  gone.ifindex = 999999;
  absl::Status noLink = pod_->addAddress(gone, "10.1.0.4/24");
  EXPECT_EQ(noLink.code(), absl::StatusCode::kNotFound) << noLink;
}

TEST_F(NetlinkTest, RoutesAddReplaceListDelete) {
  ASSERT_NO_FATAL_FAILURE(plumb());
  Route def4 = route("", "10.1.0.1", eth0_.ifindex);
  Route def6 = route("default", "fd00:1::1", eth0_.ifindex);
  Route net = route("10.2.0.0/16", "10.1.0.1", 0);
  for (const Route* r : {&def4, &def6, &net}) {
    absl::Status st = pod_->addRoute(*r);
    ASSERT_TRUE(st.ok()) << st;
  }
  absl::Status dup = pod_->addRoute(net);
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists) << dup;
  EXPECT_TRUE(contains(dup.message(), "add route 10.2.0.0/16 via 10.1.0.1: ")) << dup;

  auto find = [&](int family, const std::string& dst) -> std::optional<Route> {
    auto routes = pod_->routes(family);
    if (!routes.ok()) return std::nullopt;
    for (const auto& r : *routes) {
      if (r.dst == dst) return r;
    }
    return std::nullopt;
  };
  auto d4 = find(AF_INET, "");
  ASSERT_TRUE(d4.has_value());
  EXPECT_EQ(d4->gateway, "10.1.0.1");
  EXPECT_EQ(d4->oifindex, eth0_.ifindex);
  EXPECT_EQ(d4->scope, RT_SCOPE_UNIVERSE);
  auto d6 = find(AF_INET6, "");
  ASSERT_TRUE(d6.has_value());
  EXPECT_EQ(d6->gateway, "fd00:1::1");
  auto link = find(AF_INET, "10.1.0.0/24");
  ASSERT_TRUE(link.has_value()) << "the prefix route of eth0's address";
  EXPECT_EQ(link->scope, RT_SCOPE_LINK);
  EXPECT_EQ(link->prefsrc, "10.1.0.2");

  // Replace moves it to another gateway and adds what is missing.
  net.gateway = "10.1.0.3";
  ASSERT_TRUE(pod_->replaceRoute(net).ok());
  EXPECT_EQ(find(AF_INET, "10.2.0.0/16")->gateway, "10.1.0.3");
  Route host = route("10.3.0.5/32", "", eth0_.ifindex);
  ASSERT_TRUE(pod_->replaceRoute(host).ok());
  EXPECT_EQ(find(AF_INET, "10.3.0.5/32")->scope, RT_SCOPE_LINK) << "no gateway: scope link, as ip route";

  // Delete, also of routes the kernel added itself (protocol kernel) and without a gateway.
  ASSERT_TRUE(pod_->deleteRoute(net).ok());
  EXPECT_FALSE(find(AF_INET, "10.2.0.0/16").has_value());
  absl::Status missing = pod_->deleteRoute(net);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  ASSERT_TRUE(pod_->deleteRoute(route("10.3.0.5/32", "", 0)).ok());
  Route def4Only;
  def4Only.family = AF_INET;
  ASSERT_TRUE(pod_->deleteRoute(def4Only).ok());
  EXPECT_FALSE(find(AF_INET, "").has_value());
  ASSERT_TRUE(pod_->deleteRoute(def6).ok());
  EXPECT_FALSE(find(AF_INET6, "").has_value());

  // A gateway not on any link: libnl says only "Unspecific failure"; the errno and the
  // kernel's own message say why.
  Route far = route("10.4.0.0/16", "10.9.9.9", eth0_.ifindex);
  absl::Status unreachable = pod_->addRoute(far);
  EXPECT_EQ(unreachable.code(), absl::StatusCode::kFailedPrecondition) << unreachable;
  EXPECT_TRUE(contains(unreachable.message(), "add route 10.4.0.0/16 via 10.9.9.9 dev \"eth0\": ")) << unreachable;
  EXPECT_TRUE(contains(unreachable.message(), "NLE_FAILURE, errno ENETUNREACH")) << unreachable;
  EXPECT_TRUE(contains(unreachable.message(), "; kernel: ")) << unreachable;

  EXPECT_EQ(pod_->addRoute(route("10.5.0.0/16", "", 0)).code(),
            absl::StatusCode::kInvalidArgument)
      << "neither gateway nor device";
  EXPECT_EQ(pod_->addRoute(route("10.5.0.0/16", "fd00:1::1", 0)).code(),
            absl::StatusCode::kInvalidArgument)
      << "mixed families";
}

TEST_F(NetlinkTest, MoveALinkByPathAndByFd) {
  VethSpec spec = veth("mv0", "mv1", -1);
  spec.mtu = 1450;
  spec.peerMac = "02:00:00:00:00:01";
  auto a = host_->addVeth(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->mtu, 1450u);
  auto b = host_->linkByName("mv1");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->mac, "02:00:00:00:00:01");

  absl::Status st = host_->moveToNetns(*b, podNamed_->path());
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(host_->linkByName("mv1").status().code(), absl::StatusCode::kNotFound);
  auto there = pod_->linkByName("mv1");
  ASSERT_TRUE(there.ok()) << there.status();
  EXPECT_EQ(there->mac, "02:00:00:00:00:01");

  st = host_->moveToNetns(*a, podNs_->fd());
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_TRUE(pod_->linkByName("mv0").ok());
  auto bad = host_->moveToNetns(*a, std::string(kNetnsDir) + "/" + uniqueNetnsName("none"));
  EXPECT_EQ(bad.code(), absl::StatusCode::kNotFound) << bad;
}

TEST_F(NetlinkTest, CreateAndDeleteErrors) {
  ASSERT_NO_FATAL_FAILURE(plumb());
  absl::Status missing = host_->deleteLink("nosuch");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_TRUE(contains(missing.message(), "delete link \"nosuch\": ")) << missing;
  EXPECT_EQ(host_->deleteLinkByIndex(999999).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_->deleteLink("much-too-long-name").code(), absl::StatusCode::kInvalidArgument);

  auto again = host_->addBridge("cbr0");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_TRUE(contains(again.status().message(), "add bridge link \"cbr0\": Object exists (NLE_EXIST)"));

  // A veth clash names the end that clashed.
  auto p = host_->addVeth(veth("veth1", "eth0", podNs_->fd()));
  EXPECT_EQ(p.status().code(), absl::StatusCode::kAlreadyExists) << p.status();
  EXPECT_TRUE(contains(p.status().message(), "link \"eth0\" exists in the peer's network namespace")) << p.status();
  EXPECT_EQ(host_->linkByName("veth1").status().code(), absl::StatusCode::kNotFound) << "nothing half-made";
  auto h = host_->addVeth(veth("veth0", "eth1", podNs_->fd()));
  EXPECT_EQ(h.status().code(), absl::StatusCode::kAlreadyExists) << h.status();
  EXPECT_TRUE(contains(h.status().message(), "link \"veth0\" exists here")) << h.status();
  EXPECT_EQ(host_->addVeth(veth("veth0123456789ab", "eth1", -1)).status().code(), absl::StatusCode::kInvalidArgument);
}

// This kernel is built without CONFIG_DUMMY and without module support: the request must fail
// with a clear error rather than anything silent. (On a kernel that has dummy links the link
// is made; the test then checks that instead.)
TEST_F(NetlinkTest, DummyLinksNeedKernelSupport) {
  auto d = host_->addDummy("dummy0");
  if (d.ok()) {
    std::cout << "note: this kernel has dummy links\n";
    EXPECT_EQ(d->kind, "dummy");
    EXPECT_TRUE(host_->deleteLink("dummy0").ok());
    return;
  }
  EXPECT_EQ(d.status().code(), absl::StatusCode::kUnimplemented) << d.status();
  EXPECT_TRUE(contains(d.status().message(), "add dummy link \"dummy0\": Operation not supported (NLE_OPNOTSUPP)"))
      << d.status();
  EXPECT_TRUE(contains(d.status().message(), "this kernel has no \"dummy\" link type")) << d.status();
  EXPECT_EQ(host_->linkByName("dummy0").status().code(), absl::StatusCode::kNotFound);
  // ifb is the stand-in this kernel has (DESIGN.md).
  auto ifb = host_->addLink("ifb0", "ifb");
  ASSERT_TRUE(ifb.ok()) << ifb.status();
  EXPECT_EQ(ifb->kind, "ifb");
}

TEST_F(NetlinkTest, PermanentNeighbours) {
  ASSERT_NO_FATAL_FAILURE(plumb());
  absl::Status st = pod_->addNeighbour(eth0_, "10.1.0.7", "02:00:0a:01:00:07");
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_TRUE(pod_->addNeighbour(eth0_, "fd00:1::7", "02:00:0a:01:00:07").ok());
  auto find = [&](const std::string& ip) -> std::optional<Neighbour> {
    auto all = pod_->neighbours();
    if (!all.ok()) return std::nullopt;
    for (const auto& n : *all) {
      if (n.ip == ip) return n;
    }
    return std::nullopt;
  };
  auto n = find("10.1.0.7");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->mac, "02:00:0a:01:00:07");
  EXPECT_EQ(n->state, NUD_PERMANENT);
  EXPECT_EQ(n->ifindex, eth0_.ifindex);
  EXPECT_EQ(n->family, AF_INET);
  EXPECT_TRUE(find("fd00:1::7").has_value());
  auto v6only = pod_->neighbours(AF_INET6);
  ASSERT_TRUE(v6only.ok());
  for (const auto& nb : *v6only) EXPECT_EQ(nb.family, AF_INET6);

  absl::Status dup = pod_->addNeighbour(eth0_, "10.1.0.7", "02:00:0a:01:00:08");
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists) << dup;
  ASSERT_TRUE(pod_->deleteNeighbour(eth0_, "10.1.0.7").ok());
  EXPECT_FALSE(find("10.1.0.7").has_value());
  EXPECT_EQ(pod_->deleteNeighbour(eth0_, "10.1.0.7").code(), absl::StatusCode::kNotFound);
}

TEST_F(NetlinkTest, ASocketStaysInItsNamespaceWhicheverThreadUsesIt) {
  // host_ was opened inside the host namespace; this thread is still in the caller's, and so
  // is a new thread using the socket.
  ASSERT_TRUE(host_->addBridge("br-thread").ok());
  absl::StatusOr<Link> seen = absl::UnknownError("not run");
  std::thread([&] { seen = host_->linkByName("br-thread"); }).join();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->kind, "bridge");
  EXPECT_EQ(pod_->linkByName("br-thread").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace cubelet::netlink
