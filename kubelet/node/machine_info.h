// What the node reports about its machine (capacity and nodeInfo in Node.status), read the
// way the upstream kubelet gets it from cAdvisor. Parsing is kept apart from file access:
// the parse* functions are pure, and readMachineInfo() takes a root prefix so tests can
// point it at a fake tree in a temporary directory.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cubelet::node {

struct MachineInfo {
  // Online CPUs (capacity "cpu" is this many cores).
  int numCPUs = 0;
  // MemTotal from /proc/meminfo, in bytes (capacity "memory").
  int64_t memoryCapacityBytes = 0;
  // Huge page size in bytes -> bytes preallocated in pages of that size
  // (nr_hugepages x size); one entry per size the kernel offers, 0 when none are
  // preallocated (capacity "hugepages-2Mi", "hugepages-1Gi", ...).
  std::map<int64_t, int64_t> hugepages;
  // nodeInfo fields; empty when their source is unreadable.
  std::string machineID;
  std::string systemUUID;
  std::string bootID;
  // "Unknown" when unreadable, as cAdvisor reports it.
  std::string kernelVersion;
  // PRETTY_NAME from os-release; "Linux" when it has none, "Unknown" when unreadable.
  std::string osImage;
};

// The MemTotal value (in KiB) of a /proc/meminfo text ("MemTotal:  16392880 kB").
absl::StatusOr<int64_t> parseMemTotalKiB(std::string_view meminfo);

// The number of CPUs in a kernel CPU list such as "0-3,5\n" (5 here).
absl::StatusOr<int> parseCpuListCount(std::string_view list);

// PRETTY_NAME of an os-release text, unquoted; "Linux" when there is none. Matches
// cAdvisor: the first "PRETTY_NAME=" anywhere, to the end of its line, with '"' trimmed
// from both ends.
std::string parseOsImage(std::string_view osRelease);

// The page size in bytes named by a /sys/kernel/mm/hugepages entry
// ("hugepages-2048kB" -> 2097152), or nullopt if the name is not of that form.
std::optional<int64_t> parseHugepageDirName(std::string_view name);

// GOARCH-style name for a uname machine string: x86_64 -> amd64, aarch64 -> arm64,
// armv7l -> arm, i686 -> 386, ...; unknown machines are returned as they are.
std::string goArchFromMachine(std::string_view machine);

// Reads everything MachineInfo holds from the tree under `rootPrefix` ("" is the real
// root; "/tmp/fake" reads /tmp/fake/proc/meminfo and so on). Only an unreadable or
// unparsable /proc/meminfo, or a malformed CPU list, is an error; other sources fall
// back as documented on the fields. With no /sys/devices/system/cpu/online the CPU count
// comes from sysconf(_SC_NPROCESSORS_ONLN) of the running machine.
absl::StatusOr<MachineInfo> readMachineInfo(std::string_view rootPrefix = "");

// Total size in bytes of the filesystem holding `path` (f_blocks x f_frsize from
// statvfs), which cAdvisor reports as the capacity of the kubelet root dir's filesystem
// (capacity "ephemeral-storage").
absl::StatusOr<int64_t> filesystemCapacityBytes(const std::string& path);

// The GOARCH-style architecture of this machine (uname), for nodeInfo.architecture.
std::string architecture();

}  // namespace cubelet::node
