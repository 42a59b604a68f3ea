// Pure computation of the Node object cubelet registers and of its status: capacity and
// allocatable, conditions with the upstream reasons and transition times, addresses,
// nodeInfo. No I/O: everything comes in through NodeFacts, so it is unit-tested directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "kubelet/config/config.h"

namespace cubelet::node {

using nlohmann::json;
using Clock = std::chrono::system_clock;

// Everything observed about the machine and the agent at one point in time.
struct NodeFacts {
  std::string nodeName;
  // machine
  int64_t numCPUs = 0;
  int64_t memoryBytes = 0;
  std::map<int64_t, int64_t> hugepages;  // page size bytes -> total bytes
  int64_t ephemeralStorageBytes = 0;     // filesystem holding the root dir
  std::string machineID, systemUUID, bootID, kernelVersion, osImage;
  std::string operatingSystem = "linux";
  std::string architecture;
  // availability, for the pressure conditions
  int64_t memoryAvailableBytes = -1;     // <0: unknown
  int64_t ephemeralAvailableBytes = -1;  // <0: unknown
  // agent and runtime
  std::vector<std::pair<std::string, std::string>> addresses;  // (type, address)
  int kubeletPort = 10250;
  std::string containerRuntimeVersion;  // "containerd://1.6.20"
  std::string kubeletVersion;           // "v1.37.2"
  // Errors that make the node NotReady; empty means Ready.
  std::vector<std::string> readyErrors;
};

// Reservations taken off capacity to get allocatable.
struct Reservations {
  std::map<std::string, std::string> systemReserved;
  std::map<std::string, std::string> kubeReserved;
  std::map<std::string, std::string> evictionHard;
  int maxPods = 110;
  int podsPerCore = 0;
};

// Validates reservations up front so later status computation cannot fail.
absl::Status validateReservations(const Reservations& r);

// capacity and allocatable as Kubernetes quantity strings.
std::pair<json, json> computeResources(const NodeFacts& f, const Reservations& r);

// Conditions in the upstream order (MemoryPressure, DiskPressure, PIDPressure, Ready),
// carrying lastTransitionTime over from `previous` when a condition's status is unchanged.
json computeConditions(const NodeFacts& f, const Reservations& r, const json& previous, Clock::time_point now);

// The full node status.
json computeStatus(const NodeFacts& f, const Reservations& r, const json& previousConditions, Clock::time_point now);

// The node events the kubelet records for condition changes between two condition lists
// ("NodeHasSufficientMemory", "NodeNotReady" ...): pressure conditions when new or changed,
// Ready only when it changed.
std::vector<std::string> conditionEvents(const json& previous, const json& next);

// True when the two statuses differ in anything but heartbeat times.
bool statusChanged(const json& before, const json& after);

// Default labels the kubelet owns: hostname, os, arch and their beta twins.
std::map<std::string, std::string> defaultLabels(const NodeFacts& f, const std::string& hostname);

// Rejects --node-labels in the kubernetes.io / k8s.io namespaces that a kubelet may not set,
// as the upstream kubelet does at start-up.
absl::Status validateNodeLabels(const std::map<std::string, std::string>& labels);

// The Node object to create at registration.
json initialNode(const NodeFacts& f, const Reservations& r, const std::string& hostname,
                 const std::map<std::string, std::string>& extraLabels,
                 const std::vector<config::Taint>& taints, const std::string& providerID, Clock::time_point now);

// RFC 3339 times as metav1.Time (seconds) and metav1.MicroTime (microseconds) serialize.
std::string formatTime(Clock::time_point t);
std::string formatMicroTime(Clock::time_point t);

}  // namespace cubelet::node
