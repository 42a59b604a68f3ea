// The kubelet_* metrics served on /metrics, with the upstream names, label names, buckets,
// HELP texts and stability levels (k/k pkg/kubelet/metrics/metrics.go and
// pkg/kubelet/server/metrics/metrics.go), plus process_start_time_seconds.
//
// One process-wide instance: kubeletMetrics(). Each comment says where upstream observes
// the metric, so the code doing the same thing here does it alike.
#pragma once

#include <string>

#include "kubelet/metrics/registry.h"

namespace cubelet::metrics {

// Label values used upstream.
inline constexpr const char* kContainerTypeContainer = "container";
inline constexpr const char* kContainerTypeInit = "init_container";
inline constexpr const char* kContainerTypeEphemeral = "ephemeral_container";

struct KubeletMetrics {
  Registry registry;

  // --- pods and containers ---------------------------------------------------------------
  // Set after each PLEG relist upstream (pleg/generic.go updateRunningPodAndContainerMetrics):
  // pods with at least one running (ready) sandbox.
  Gauge& runningPods;
  // Same place: containers of the relisted pods by state, container_state = "created" |
  // "running" | "exited" | "unknown" (kubecontainer.State). Upstream only sets the states
  // it saw, so a state that disappears keeps its last value.
  GaugeVec& runningContainers;  // {container_state}
  // pod_workers.go / kubelet.go SyncPod: from the first time the pod worker saw the pod until
  // its containers run (observed once per pod, when the status first reports Running).
  Histogram& podStartDuration;
  // util/pod_startup_latency_tracker.go: creationTimestamp -> all containers started and
  // observed via watch, minus image pull time; first_with_network "true" for the first
  // non-hostNetwork pod of the node, else "false".
  HistogramVec& podStartSliDuration;    // {first_with_network}
  HistogramVec& podStartTotalDuration;  // {first_with_network}; same, pull time included
  // kubelet.go SyncPod (deferred): one sync of a pod, operation_type = the update type,
  // "create" (first sync), "update" or "sync".
  HistogramVec& podWorkerDuration;  // {operation_type}
  // pod_workers.go UpdatePod: from the pod update being received to its worker starting.
  Histogram& podWorkerStartDuration;
  // Cubelet's own (no upstream counterpart): where a pod's start went, observed once per pod
  // when the status that first reports all its containers running was written. phase =
  // "admission", "cgroups", "volumes", "sandbox", "image", "create", "start" (summed over
  // attempts and containers) and "status_write" (that status queued -> acknowledged).
  HistogramVec& podStartPhaseDuration;  // {phase}

  // --- runtime operations (kuberuntime/instrumented_services.go) ---------------------------
  // Every CRI call; recorded by kubelet/runtime/cri_client.cc.
  CounterVec& runtimeOperations;          // {operation_type}
  CounterVec& runtimeOperationsErrors;    // {operation_type}
  HistogramVec& runtimeOperationsDuration;  // {operation_type}
  // RunPodSandbox only, by RuntimeClass handler ("" for the default).
  HistogramVec& runPodsandboxDuration;  // {runtime_handler}
  CounterVec& runPodsandboxErrors;      // {runtime_handler}

  // --- PLEG (pleg/generic.go Relist) ----------------------------------------------------------
  Histogram& plegRelistDuration;  // duration of each relist
  Histogram& plegRelistInterval;  // time since the previous relist started
  Gauge& plegLastSeen;            // unix seconds of the last relist (setToCurrentTime)
  Counter& plegDiscardEvents;     // events dropped because the channel was full

  // --- eviction (eviction/eviction_manager.go) ----------------------------------------------
  CounterVec& evictions;  // {eviction_signal}, e.g. "memory.available"

  // --- starts (kuberuntime_manager.go SyncPod) ------------------------------------------------
  Counter& startedPods;        // each RunPodSandbox attempt
  Counter& startedPodsErrors;  // each failed RunPodSandbox
  // Each container start attempt, before startContainer (which includes the image pull),
  // container_type per the constants above.
  CounterVec& startedContainers;        // {container_type}
  // Failed starts; code = the reason startContainer failed with, the same string that
  // becomes the waiting reason: "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError",
  // "CreateContainerError", "PreCreateHookError", "PreStartHookError", "RunContainerError",
  // "PostStartHookError".
  CounterVec& startedContainersErrors;  // {container_type, code}

  // --- node and pod manager -------------------------------------------------------------------
  GaugeVec& nodeName;  // {node}, value 1; set once at start (kubelet.go)
  // kubelet_pods.go HandlePodCleanups, each housekeeping pass: static = "" for API pods and
  // "true" for static pods (both children always set); desired = all pods of the pod
  // manager, active = those not yet terminated; mirrorPods = mirror pods in the pod manager.
  GaugeVec& desiredPods;  // {static}
  GaugeVec& activePods;   // {static}
  Gauge& mirrorPods;

  // --- HTTP server (server/server.go, server/metrics/metrics.go; ALPHA in recent releases,
  // older ones had plain client_golang metrics with an extra "host" label) -------------------
  // Labels in this order: method, path (the route bucket: "healthz", "pods", "stats",
  // "metrics", "metrics/resource", "containerLogs", "exec", ... or "other"), server_type
  // ("readonly" | "readwrite"), long_running ("true" for exec/attach/portforward/debug).
  // Upstream counts each request and observes its duration when it completes; inflight is
  // incremented on entry and decremented on exit.
  CounterVec& httpRequests;
  HistogramVec& httpRequestsDuration;
  GaugeVec& httpInflightRequests;

  KubeletMetrics();
};

// The process-wide instance (created on first use; never destroyed before exit).
KubeletMetrics& kubeletMetrics();

// Records one CRI call on the runtime_operations metrics.
void recordRuntimeOperation(const std::string& operation, double seconds, bool failed);

}  // namespace cubelet::metrics
