// Installing cubelet-cni and its conflist from the Node's podCIDRs; reclaiming leaked
// addresses.
#include "kubelet/network/pod_network.h"

#include <sys/stat.h>

#include <optional>
#include <set>

#include "base/log.h"
#include "base/status_macros.h"
#include "kubelet/api/reflector.h"
#include "netlink/cni/install.h"
#include "netlink/cni/ipam.h"
#include "netlink/nlroute.h"
#include "nlohmann/json.hpp"

namespace cubelet::network {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// The MTU of the link holding `ip` (0 when it cannot be found: the plugin then leaves the
// kernel's default).
unsigned mtuOfLinkWith(const std::string& ip) {
  if (ip.empty()) return 0;
  absl::StatusOr<netlink::Socket> sock = netlink::Socket::open();
  if (!sock.ok()) return 0;
  absl::StatusOr<std::vector<netlink::Address>> addrs = sock->addresses();
  if (!addrs.ok()) return 0;
  for (const netlink::Address& a : *addrs) {
    if (a.ip != ip) continue;
    absl::StatusOr<netlink::Link> link = sock->linkByIndex(a.ifindex);
    return link.ok() ? link->mtu : 0;
  }
  return 0;
}

}  // namespace

void PodNetwork::setPodCidrs(std::vector<std::string> cidrs) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cidrs == wanted_) return;
  wanted_ = std::move(cidrs);
  dirty_ = true;
  cv_.notify_all();
}

absl::Status PodNetwork::resolveDirs() {
  binDir_ = opts_.binDir;
  confDir_ = opts_.confDir;
  if (!binDir_.empty() && !confDir_.empty()) return absl::OkStatus();
  // containerd reports its CRI config in a verbose Status: info["config"].cni.{binDir,confDir}.
  absl::StatusOr<runtime::v1::StatusResponse> st = cri_.runtimeStatus(true);
  if (!st.ok()) return annotate(st.status(), "read the runtime's CNI directories (verbose Status)");
  auto it = st->info().find("config");
  if (it != st->info().end()) {
    nlohmann::json cfg = nlohmann::json::parse(it->second, nullptr, false);
    if (cfg.is_object() && cfg.contains("cni") && cfg["cni"].is_object()) {
      const nlohmann::json& cni = cfg["cni"];
      if (binDir_.empty() && cni.contains("binDir") && cni["binDir"].is_string()) binDir_ = cni["binDir"];
      if (confDir_.empty() && cni.contains("confDir") && cni["confDir"].is_string()) confDir_ = cni["confDir"];
    }
  }
  if (binDir_.empty()) binDir_ = "/opt/cni/bin";
  if (confDir_.empty()) confDir_ = "/etc/cni/net.d";
  return absl::OkStatus();
}

absl::Status PodNetwork::apply(const std::vector<std::string>& cidrs) {
  std::string joined = join(cidrs);
  if (joined != sentCidr_) {
    // Runtimes with a CNI config template use it; containerd without one only logs it.
    absl::Status st = cri_.updateRuntimeConfig(joined);
    if (!st.ok()) return annotate(st, "UpdateRuntimeConfig with pod CIDR " + joined);
    sentCidr_ = joined;
  }
  if (!opts_.manage) return absl::OkStatus();
  if (binDir_.empty() || confDir_.empty()) RETURN_IF_ERROR(resolveDirs());
  // Another network add-on (Calico, Flannel ...) configured the runtime: the pod network is
  // its job, whatever name its file sorts under. Ours would hijack it.
  if (std::vector<std::string> others = cni::otherNetworkConfigs(confDir_); !others.empty()) {
    std::string list;
    for (const std::string& o : others) list += (list.empty() ? "" : ", ") + o;
    if (list != deferredTo_) {
      LOG_WARNING << "CNI config " << list << " found in " << confDir_
                  << ": leaving the pod network to that add-on and not installing cubelet-cni "
                     "(remove it, or pass --pod-network=external to say so)";
      deferredTo_ = list;
    }
    stamps_ = installedStamps();
    return absl::OkStatus();
  }
  deferredTo_.clear();
  ASSIGN_OR_RETURN(std::vector<std::string> installed, cni::installPlugin(opts_.plugin, binDir_));
  for (const std::string& name : installed) LOG_INFO << "installed CNI plugin " << binDir_ << "/" << name;
  cni::NetworkSettings settings;
  settings.podCidrs = cidrs;
  settings.dataDir = opts_.dataDir;
  settings.mtu = mtuOfLinkWith(opts_.nodeIP);
  ASSIGN_OR_RETURN(bool changed, cni::writeConflist(confDir_, settings));
  stamps_ = installedStamps();
  if (changed) {
    LOG_INFO << "wrote CNI config " << confDir_ << "/" << cni::kConflistName << " for pod CIDR " << joined;
    if (opts_.onConfigured) opts_.onConfigured();
  }
  return absl::OkStatus();
}

std::vector<std::string> PodNetwork::installedStamps() const {
  std::vector<std::string> out;
  for (const std::string& path : {opts_.plugin, binDir_ + "/cubelet-cni", binDir_ + "/loopback", confDir_,
                                  confDir_ + "/" + cni::kConflistName}) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      out.push_back(path + " missing");
      continue;
    }
    out.push_back(path + " " + std::to_string(st.st_ino) + " " + std::to_string(st.st_size) + " " +
                  std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
  }
  return out;
}

absl::StatusOr<int> PodNetwork::reclaim(std::chrono::system_clock::time_point now) {
  if (!opts_.manage) return 0;
  cni::NetworkSettings defaults;
  ASSIGN_OR_RETURN(cni::IpamStore store, cni::IpamStore::open(opts_.dataDir + "/" + defaults.name));
  ASSIGN_OR_RETURN(std::vector<cni::IpamAllocation> stale, store.releaseStale());
  int freed = static_cast<int>(stale.size());
  for (const cni::IpamAllocation& a : stale) {
    LOG_INFO << "released address " << a.address.ip() << " of sandbox " << a.owner.containerId
             << ": its network namespace " << a.owner.netns << " is gone";
  }
  ASSIGN_OR_RETURN(std::vector<runtime::v1::PodSandbox> sandboxes, cri_.listPodSandbox({}));
  std::set<std::string> known;
  for (const auto& s : sandboxes) known.insert(s.id());
  int64_t cutoff = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch() - opts_.reclaimGrace).count();
  ASSIGN_OR_RETURN(std::vector<cni::IpamAllocation> gone, store.releaseIf([&](const cni::IpamAllocation& a) {
    return !a.owner.containerId.empty() && a.created > 0 && a.created < cutoff && !known.count(a.owner.containerId);
  }));
  for (const cni::IpamAllocation& a : gone) {
    LOG_INFO << "released address " << a.address.ip() << " of sandbox " << a.owner.containerId
             << ": the runtime no longer has that sandbox";
  }
  return freed + static_cast<int>(gone.size());
}

void PodNetwork::run(std::stop_token stop) {
  api::Backoff backoff(std::chrono::seconds(1), std::chrono::seconds(30));
  auto nextReclaim = std::chrono::steady_clock::now() + opts_.reclaimPeriod;
  constexpr auto kNever = std::chrono::steady_clock::time_point::max();
  auto retryAt = kNever;
  while (!stop.stop_requested()) {
    std::vector<std::string> cidrs;
    bool work = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto wakeAt = std::min(retryAt, nextReclaim);
      cv_.wait_until(lock, stop, wakeAt, [&] { return dirty_; });
      if (stop.stop_requested()) return;
      if (dirty_ || std::chrono::steady_clock::now() >= retryAt) {
        dirty_ = false;
        cidrs = wanted_;
        work = true;
      }
    }
    if (work && !cidrs.empty() && cidrs != applied_) {
      absl::Status st = apply(cidrs);
      if (st.ok()) {
        applied_ = cidrs;
        retryAt = kNever;
        backoff.reset();
      } else {
        auto delay = backoff.next();
        LOG_ERROR << "pod network: " << st.message() << "; retrying in "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(delay).count() << "ms";
        retryAt = std::chrono::steady_clock::now() + delay;
      }
    } else if (work) {
      retryAt = kNever;
    }
    if (std::chrono::steady_clock::now() >= nextReclaim) {
      nextReclaim = std::chrono::steady_clock::now() + opts_.reclaimPeriod;
      if (!applied_.empty()) {
        // Put back what someone removed or changed (the plugin, its loopback link, the
        // conflist): the runtime cannot set up or tear down any pod without them.
        if (installedStamps() != stamps_) {
          if (absl::Status st = apply(applied_); !st.ok()) LOG_WARNING << "pod network: " << st.message();
        }
        absl::StatusOr<int> freed = reclaim();
        if (!freed.ok()) LOG_WARNING << "pod network: reclaiming leaked addresses: " << freed.status().message();
      }
    }
  }
}

}  // namespace cubelet::network
