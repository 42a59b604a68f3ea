// The node's pod network as cubelet manages it: once the Node has its podCIDR(s), tell the
// runtime (CRI UpdateRuntimeConfig, as the upstream kubelet does), install cubelet-cni into
// the runtime's CNI bin dir and write its conflist into the CNI conf dir, unless another
// network add-on's config is already there (then the pod network is left to it). Until the conflist
// exists the runtime reports NetworkReady=false and the node stays NotReady with the
// upstream message; pods that need the pod network wait.
//
// Every reclaimPeriod it puts back the plugin, its loopback link and the conflist if someone
// removed or changed them, and reclaims addresses whose sandbox is gone without a CNI DEL
// (the runtime's DEL is best effort): records whose netns path vanished at once, and records
// of sandboxes the runtime no longer lists once they are older than a grace period (an ADD
// still in flight is not listed yet).
//
// Threads: setPodCidrs from any thread; run() on a thread of its own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kubelet/runtime/cri_client.h"

namespace cubelet::network {

struct PodNetworkOptions {
  bool manage = true;        // --pod-network=cubelet-cni; false: "external" (UpdateRuntimeConfig only)
  std::string binDir;        // "" : the runtime's (verbose Status), else /opt/cni/bin
  std::string confDir;       // "" : the runtime's, else /etc/cni/net.d
  std::string plugin;        // the cubelet-cni binary
  std::string dataDir = "/var/lib/cni/networks";
  std::string nodeIP;        // the pods' MTU follows the link holding it
  std::chrono::seconds reclaimGrace = std::chrono::minutes(4);  // 2 x runtimeRequestTimeout
  std::chrono::seconds reclaimPeriod = std::chrono::minutes(1);
  // Called after the conflist was (re)written, so the node's readiness is re-checked at once.
  std::function<void()> onConfigured;
};

class PodNetwork {
 public:
  PodNetwork(runtime::CriClient& cri, PodNetworkOptions opts) : cri_(cri), opts_(std::move(opts)) {}

  // The Node's spec.podCIDRs (spec.podCIDR when only that is set); an unchanged list is a no-op.
  void setPodCidrs(std::vector<std::string> cidrs);
  // Applies the newest podCIDRs (retrying failures with back-off) and reclaims leaked
  // addresses every reclaimPeriod, until `stop`.
  void run(std::stop_token stop);

  // One reclaim pass (exposed for tests): returns how many addresses were freed.
  absl::StatusOr<int> reclaim(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  // Where the conflist goes / went: the flag, else the runtime's, else the default.
  absl::Status resolveDirs();
  const std::string& binDir() const { return binDir_; }
  const std::string& confDir() const { return confDir_; }

 private:
  absl::Status apply(const std::vector<std::string>& cidrs);
  // inode, size and mtime of the plugin and of what was installed: when they are as after the
  // last apply, nothing needs checking.
  std::vector<std::string> installedStamps() const;

  runtime::CriClient& cri_;
  const PodNetworkOptions opts_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<std::string> wanted_;   // guarded by mu_
  bool dirty_ = false;                // guarded by mu_
  // run() thread only:
  std::vector<std::string> applied_;
  std::string sentCidr_;
  std::string binDir_, confDir_;
  std::vector<std::string> stamps_;
  std::string deferredTo_;  // the other add-on's configs last warned about
};

}  // namespace cubelet::network
