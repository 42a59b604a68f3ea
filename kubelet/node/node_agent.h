// Keeps this machine's Node object in the apiserver: registers it, keeps a watch on it,
// patches its status every nodeStatusUpdateFrequency when something changed (and at least
// every nodeStatusReportFrequency), and renews its Lease in kube-node-lease every quarter of
// the lease duration.
//
// Threads: runStatusLoop, runLease and runWatch each run on a thread owned by the caller;
// poke() may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include "kubelet/api/client.h"
#include "kubelet/api/events.h"
#include "kubelet/node/node_status.h"

namespace cubelet::node {

struct NodeAgentOptions {
  std::string nodeName;
  std::string hostname;
  std::map<std::string, std::string> labels;  // --node-labels
  std::vector<config::Taint> taints;           // --register-with-taints
  std::string providerID;
  Reservations reservations;
  bool registerNode = true;
  std::chrono::nanoseconds updateFrequency = std::chrono::seconds(10);
  std::chrono::nanoseconds reportFrequency = std::chrono::minutes(5);
  int leaseDurationSeconds = 40;
  // Called from the watch thread when the Node's spec.podCIDRs (or spec.podCIDR) changes to
  // a non-empty list.
  std::function<void(std::vector<std::string>)> onPodCidrs;
};

// spec.podCIDRs of a Node (spec.podCIDR alone when the list is missing); empty when unset.
std::vector<std::string> podCidrsOf(const json& node);

class NodeAgent {
 public:
  // `facts` gathers the current NodeFacts; it is called from the status thread only.
  NodeAgent(api::Client& client, api::EventRecorder& events, NodeAgentOptions opts, std::function<NodeFacts()> facts);

  // The reference events about this node use (the kubelet uses the node name as its UID).
  api::ObjectRef nodeRef() const { return {"Node", "", opts_.nodeName, "", opts_.nodeName, ""}; }

  // Creates the Node, or adopts and reconciles an existing one. Retries with back-off until
  // it succeeds (true) or `stop` is requested (false).
  bool registerWithApiserver(std::stop_token stop);

  void runStatusLoop(std::stop_token stop);
  void runLease(std::stop_token stop);
  void runWatch(std::stop_token stop);

  // Asks the status loop to sync now (e.g. the runtime became (un)healthy).
  void poke();

  // The node's podCIDR once the controller-manager assigned one ("" until then).
  std::string podCIDR() const;
  // The newest Node object seen from the apiserver (empty before registration).
  json node() const;

  // One status sync; exposed so start-up can post status right after registration.
  absl::Status syncStatus();

 private:
  absl::Status tryRegister();
  absl::Status renewLease();
  void recordConditionEvents(const json& previous, const json& next);
  std::string nodePath() const { return "/api/v1/nodes/" + opts_.nodeName; }

  api::Client& client_;
  api::EventRecorder& events_;
  const NodeAgentOptions opts_;
  std::function<NodeFacts()> facts_;

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  bool poked_ = false;                 // guarded by mu_
  json node_;                          // guarded by mu_: newest Node seen from the apiserver
  std::string nodeUID_;                // guarded by mu_
  json lastSent_;                      // status thread only
  std::chrono::steady_clock::time_point lastReport_{};  // status thread only
  json lease_;                         // lease thread only
};

}  // namespace cubelet::node
