// Host-local IP address management for cubelet-cni: which pod (sandbox id + interface) holds
// which address of the node's pod ranges, stored on disk so that it survives a crash of the
// plugin or of cubelet at any instruction. Knows nothing about Kubernetes objects.
//
// Layout under `dir` (<dataDir>/<network name>):
//   lock                      empty; flock(LOCK_EX) held around every read-modify-write
//   <ip>                      one file per allocated address ("10.244.0.7", "fd00::7"),
//                             holding key=value lines: id, ifname, netns, pod_uid, created
//                             (the records of one allocate are links of one file)
//   last_reserved.<4|6>       the round-robin cursor (temp file + rename; losing it only
//                             loses the position)
//   .tmp-*                    reservations being written; never an allocation
//
// Crash safety: an address is reserved by writing its complete record to a temp file,
// fsync, then link(2)-ing it to <ip>. link() is an atomic test-and-set that fails with EEXIST
// when the address is taken, and the name only ever appears with its full content, so there
// is no window in which a crash leaves an empty or half-written reservation. A crash after
// the link leaves a complete record that names its sandbox, so the runtime's DEL frees it;
// when no DEL ever comes, the record's netns path being gone marks it stale (the runtime
// creates the netns before ADD and removes it after its last DEL attempt).
//
// Records are read tolerantly: unknown keys are ignored, '\r' before a newline is dropped. A
// file named like an address that is not such a record (written by hand, a symlink, the
// host-local form "<id>\r\n<ifname>") still marks its address taken, is listed with an empty
// owner and is never released by this class: remove it by hand.
//
// Candidates: round robin per family from last_reserved+1 over rangeStart..rangeEnd,
// wrapping once, skipping the network address, the gateway and the IPv4 broadcast. The walk
// checks candidates against the dir's names in memory, so it costs one step per address on
// record; it gives up after (addresses on record + 4096) candidates, which only matters when
// files appear without the lock (an IPv6 /64 is never enumerated).
//
// Concurrency: any number of processes may use one dir at once; flock serialises them. Every
// public operation opens and locks `lock` itself, so one IpamStore may also be shared by
// threads.
//
// Errors name the dir, the operation and the errno text ("IPAM store /var/lib/cni/x: link
// .tmp-1f2e to 10.244.0.7: Permission denied"), with PermissionDenied (EACCES, EPERM),
// NotFound (ENOENT), Unavailable (ENOSPC, EDQUOT, EMFILE, ENFILE, ENOMEM, EIO) or Internal.
// InvalidArgument: a bad range or owner. ResourceExhausted only ever means a full range.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "netlink/nlroute.h"

namespace cubelet::cni {

// One address range: every host address of `subnet` between rangeStart and rangeEnd
// (inclusive; default: network+1 .. the last address before broadcast for IPv4, network+1 ..
// the last address for IPv6), minus the gateway.
struct IpamRange {
  netlink::IpPrefix subnet;            // "10.244.0.0/24"
  std::optional<netlink::IpPrefix> gateway;  // default: network + 1
  std::optional<netlink::IpPrefix> rangeStart;
  std::optional<netlink::IpPrefix> rangeEnd;
};

// Who holds an address. No field may contain '\n', '\r' or NUL.
struct IpamOwner {
  std::string containerId;  // CNI_CONTAINERID (the sandbox id); required
  std::string ifname;       // CNI_IFNAME; required by allocate
  std::string netns;        // CNI_NETNS at ADD ("" when unknown: never judged stale by it)
  std::string podUid;       // K8S_POD_UID from CNI_ARGS, "" when absent
};

// From allocate: address with the subnet's prefix length (10.244.0.7/24) and the range's
// gateway. From find, list and the release calls, which do not know the ranges (a record
// holds only its owner): address in host form (10.244.0.7/32, fd00::7/128) and gateway unset
// (family 0); the caller maps them to its ranges.
struct IpamAllocation {
  netlink::IpPrefix address;
  netlink::IpPrefix gateway;  // /32 or /128 host form
  IpamOwner owner;            // empty for a record that could not be parsed (list only)
  int64_t created = 0;        // unix seconds; 0 when unknown
};

class IpamStore {
 public:
  // Creates `dir` (0700, parents too) when missing, and its lock file, and takes and drops
  // the lock once, so that an unusable dir fails here.
  static absl::StatusOr<IpamStore> open(std::string dir);

  // One address per range (a dual-stack pod passes one IPv4 and one IPv6 range), all or
  // nothing: if a later range fails, the earlier reservations are released again (also
  // addresses the owner already held, so a failed ADD leaves it holding none).
  // Idempotent for an owner: when (containerId, ifname) already holds an address in a
  // range, that address is returned again, with the record as stored (an ADD retried after
  // a crash). Ranges must not overlap.
  // Before giving up on a full range, stale records (their netns path no longer exists) are
  // released and the range is tried once more. ResourceExhausted names the range when it is
  // still full: "no IP addresses available in range 10.244.0.0/24".
  absl::StatusOr<std::vector<IpamAllocation>> allocate(const IpamOwner& owner, const std::vector<IpamRange>& ranges);

  // Releases every address held by (containerId, ifname): the records with that id whose
  // ifname is `ifname` (or that have none). Succeeds when there is none (DEL is idempotent).
  absl::Status release(std::string_view containerId, std::string_view ifname);

  // The addresses (containerId, ifname) holds, for CHECK; empty when none.
  absl::StatusOr<std::vector<IpamAllocation>> find(std::string_view containerId, std::string_view ifname);

  // Every allocation, for cubelet's reclaim sweep and for tests.
  absl::StatusOr<std::vector<IpamAllocation>> list();

  // Releases, under the lock, every allocation for which `stale` returns true; returns them.
  // Records that cannot be parsed are never passed to `stale`. `stale` must not use this
  // store (the lock is held).
  absl::StatusOr<std::vector<IpamAllocation>> releaseIf(const std::function<bool(const IpamAllocation&)>& stale);

  // Releases the records whose netns path no longer exists (lstat says ENOENT; a record
  // without netns is never stale), and removes temp files older than a minute; returns the
  // released records.
  absl::StatusOr<std::vector<IpamAllocation>> releaseStale();

  const std::string& dir() const { return dir_; }

 private:
  explicit IpamStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace cubelet::cni
