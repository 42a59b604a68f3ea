// The CRI floor: the pods a benchmark asks a node agent to run, started directly through the
// CRI (RunPodSandbox, CreateContainer, StartContainer for each container) with the configs
// cubelet itself would build for them, so that an agent's own share of a pod start is the
// difference between its create->Running time and this tool's.
//
// A pod "starts" when StartContainer of its last container returned. Pods are started in
// batches: a batch of 1 is one pod after the other (each measured on its own), a batch of N
// starts N pods at once on N threads, each measured from the batch's start (as a burst of
// pods created at once is measured from their creation).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "kubelet/runtime/cri_client.h"
#include "kubelet/runtime/pod_config.h"

namespace cubelet::crifloor {

struct FloorOptions {
  // The pod to start (a Pod object as JSON): every copy gets the name "<name>-<i>" and a
  // fresh UID; the namespace stays.
  nlohmann::json pod;
  int count = 1;  // pods in all
  int burst = 1;  // pods per batch (1: one after the other)
  runtime::NodeSettings node;
  // Each pod's cgroup parent is "<cgroupRoot>/pod<uid>" (the runtime creates it); empty:
  // the runtime's default.
  std::string cgroupRoot;
  // Mounted read-only into every container: host path -> container path (e.g. a
  // service-account token directory, as a real pod has).
  std::vector<std::pair<std::string, std::string>> mounts;
};

struct FloorResult {
  std::vector<double> podMs;     // each pod's start, in start order of completion
  std::vector<double> batchMs;   // each batch from its start to its last pod started
  std::vector<std::string> sandboxIds;  // every sandbox made, for removePods()
  // The JSON the tool prints: {"pods_ms": [...], "batches_ms": [...]}.
  nlohmann::json toJson() const;
};

// Starts the pods. The first failure of a CRI call or of building a config stops the run
// and is returned, naming the pod and the call; the sandboxes made so far are in `made`
// (when not null) so the caller can remove them.
absl::StatusOr<FloorResult> startPods(runtime::CriClient& cri, const FloorOptions& options,
                                      std::vector<std::string>* made = nullptr);

// Stops and removes the sandboxes (and with them their containers), `parallel` at a time.
// Returns the first error; removal goes on past it.
absl::Status removePods(runtime::RuntimeServiceClient& cri, const std::vector<std::string>& sandboxIds,
                        int parallel = 8);

// p in [0,100]: the nearest-rank percentile of `values` (0 when empty).
double percentile(std::vector<double> values, double p);

}  // namespace cubelet::crifloor
