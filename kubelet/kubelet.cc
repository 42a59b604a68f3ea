#include "kubelet/kubelet.h"

#include <malloc.h>

#include <netdb.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <cctype>
#include <fstream>
#include <thread>

#include "base/log.h"
#include "base/status_macros.h"
#include "cgroups/cgroups.h"
#include "kubelet/cm/pod_cgroups.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/objects/quantity.h"
#include "kubelet/api/client.h"
#include "kubelet/api/events.h"
#include "kubelet/api/reflector.h"
#include "kubelet/logs/container_logs.h"
#include "kubelet/logs/log_rotation.h"
#include "kubelet/metrics/kubelet_metrics.h"
#include "kubelet/stats/stats_provider.h"
#include "kubelet/config/kubeconfig.h"
#include "kubelet/node/machine_info.h"
#include "kubelet/network/pod_network.h"
#include "kubelet/node/node_agent.h"
#include "kubelet/pod/pod_lifecycle.h"
#include "kubelet/pod/pod_manager.h"
#include "kubelet/pod/pod_workers.h"
#include "kubelet/pod/static_pods.h"
#include "kubelet/pod/status_manager.h"
#include "kubelet/prober/probe_manager.h"
#include "kubelet/runtime/host_files.h"
#include "kubelet/runtime/pod_runtime.h"
#include "kubelet/runtime/cri_client.h"
#include "kubelet/runtime/runtime_health.h"
#include "kubelet/runtime/service_env.h"
#include "kubelet/server/healthz.h"
#include "kubelet/server/kubelet_server.h"
#include "kubelet/volume/mount.h"
#include "kubelet/volume/object_cache.h"
#include "kubelet/volume/token_manager.h"
#include "kubelet/volume/volume_manager.h"
#include "kubelet/version.h"
#include "netlink/nlroute.h"

namespace cubelet {
namespace {

// Pod workers block in CRI calls, a kill for up to its grace period; enough threads that a
// burst of stopping pods does not hold up starting ones.
constexpr int kPodWorkerThreads = 16;
constexpr int kStatusSenders = 4;
// The static pod directory is re-read this often besides on inotify events (upstream's
// fileCheckFrequency).
constexpr std::chrono::milliseconds kStaticPodResync{20000};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

absl::StatusOr<std::string> hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return absl::InternalError("gethostname failed");
  return std::string(buf);
}

// Without --node-ip: the hostname's address if it resolves to a non-loopback one, else the
// default-route interface's address (the upstream kubelet's order).
absl::StatusOr<std::string> detectNodeIP(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) == 0) {
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
    for (int family : {AF_INET, AF_INET6}) {
      for (addrinfo* a = res; a; a = a->ai_next) {
        if (a->ai_family != family) continue;
        char ip[INET6_ADDRSTRLEN] = {0};
        getnameinfo(a->ai_addr, a->ai_addrlen, ip, sizeof ip, nullptr, 0, NI_NUMERICHOST);
        std::string s(ip);
        if (s.rfind("127.", 0) != 0 && s != "::1" && !s.empty()) return s;
      }
    }
  }
  ASSIGN_OR_RETURN(auto sock, netlink::Socket::open());
  ASSIGN_OR_RETURN(auto addrs, sock.addresses());
  ASSIGN_OR_RETURN(auto r4, sock.routes(AF_INET));
  ASSIGN_OR_RETURN(auto r6, sock.routes(AF_INET6));
  return netlink::chooseHostAddress(addrs, r4, r6);
}

// MemAvailable from /proc/meminfo, in bytes; -1 if unreadable.
int64_t memoryAvailableBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * 1024;
  }
  return -1;
}

// Capacity minus systemReserved and kubeReserved of `resource` (validated at start-up).
int64_t minusReserved(const config::KubeletConfiguration& kc, const std::string& resource, int64_t capacity,
                      bool milli) {
  for (const auto* m : {&kc.systemReserved, &kc.kubeReserved}) {
    auto it = m->find(resource);
    if (it == m->end()) continue;
    auto q = objects::Quantity::parse(it->second);
    if (q.ok()) capacity -= milli ? q->milliValue() : q->value();
  }
  return std::max<int64_t>(capacity, 0);
}

class KubeletImpl : public Kubelet {
 public:
  KubeletImpl(const config::Config& cfg, std::unique_ptr<api::Client> client, std::unique_ptr<runtime::CriClient> cri,
              cgroups::ManagerPtr cgroupManager, std::string nodeName, std::string host, std::string nodeIP)
      : cfg_(cfg),
        client_(std::move(client)),
        cri_(std::move(cri)),
        cgroupManager_(std::move(cgroupManager)),
        health_(*cri_),
        events_(client_.get(), "kubelet", nodeName, cfg.kubelet.eventRecordQPS, cfg.kubelet.eventBurst),
        nodeName_(std::move(nodeName)),
        hostname_(std::move(host)),
        nodeIP_(std::move(nodeIP)) {
    const auto& kc = cfg_.kubelet;
    node::NodeAgentOptions o;
    o.nodeName = nodeName_;
    o.hostname = hostname_;
    o.labels = cfg_.flags.nodeLabels;
    o.taints = kc.registerWithTaints;
    o.providerID = kc.providerID;
    o.reservations = node::Reservations{kc.systemReserved, kc.kubeReserved, kc.evictionHard, kc.maxPods, kc.podsPerCore};
    o.registerNode = kc.registerNode;
    o.updateFrequency = kc.nodeStatusUpdateFrequency;
    o.reportFrequency = kc.nodeStatusReportFrequency;
    o.leaseDurationSeconds = kc.nodeLeaseDurationSeconds;
    network_ = std::make_unique<network::PodNetwork>(*cri_, networkOptions());
    {
      logs::ContainerLogManagerOptions lo;
      lo.maxSize = kc.containerLogMaxSizeBytes;
      lo.maxFiles = kc.containerLogMaxFiles;
      lo.maxWorkers = kc.containerLogMaxWorkers;
      lo.monitorInterval = kc.containerLogMonitorInterval;
      // The configuration was validated: create() only fails on what it already refused.
      auto lm = logs::ContainerLogManager::create(cri_.get(), lo);
      if (lm.ok()) {
        logManager_ = std::move(*lm);
      } else {
        LOG_ERROR << "container log rotation disabled: " << lm.status().message();
      }
    }
    o.onPodCidrs = [this](std::vector<std::string> cidrs) { network_->setPodCidrs(std::move(cidrs)); };
    // Standalone (no apiserver): no Node object, no mirror pods, no statuses or events sent.
    if (client_) {
      agent_ = std::make_unique<node::NodeAgent>(*client_, events_, std::move(o), [this] { return facts(); });
    }

    runtime::PodRuntimeOptions ro;
    ro.node.nodeIps = {nodeIP_};
    ro.node.clusterDomain = kc.clusterDomain;
    ro.node.clusterDns = kc.clusterDNS;
    ro.node.podLogsDir = kc.podLogsDir;
    ro.node.seccompProfileRoot = cfg_.flags.rootDir + "/seccomp";
    // resolvConf "" means no host resolver configuration at all; a file is read again for
    // each pod's sandbox config, as upstream does.
    if (kc.resolvConf.empty()) ro.node.resolvConf = std::nullopt;
    ro.resolvConfPath = kc.resolvConf;
    ro.podsDir = cfg_.flags.rootDir + "/pods";
    ro.nodeAllocatable = [this]() -> std::optional<runtime::ResourceList> {
      const nlohmann::json node = this->node();
      const auto& alloc = objects::object(node, {"status", "allocatable"});
      if (alloc.empty()) return std::nullopt;
      runtime::ResourceList out;
      for (const auto& [name, value] : alloc.items()) {
        if (!value.is_string()) continue;
        if (auto q = objects::Quantity::parse(value.get<std::string>()); q.ok()) out.insert_or_assign(name, *q);
      }
      return out;
    };
    if (client_) {
      // configMapAndSecretChangeDetectionStrategy: Watch (one watch per referenced object)
      // or Get (a GET at every use); Cache is served as Watch.
      volume::ObjectCacheOptions oc;
      if (kc.configMapAndSecretChangeDetectionStrategy == "Get") oc.strategy = volume::ChangeDetectionStrategy::kGet;
      configMaps_ = std::make_unique<volume::ObjectCache>(client_.get(), "configmaps", "configmap", oc);
      secrets_ = std::make_unique<volume::ObjectCache>(client_.get(), "secrets", "secret", oc);
      tokens_ = std::make_unique<volume::TokenManager>(client_.get());
      ro.getConfigMap = [this](const std::string& ns, const std::string& name) { return configMaps_->get(ns, name); };
      ro.getRuntimeClass = [this](const std::string& name) {
        return client_->get("/apis/node.k8s.io/v1/runtimeclasses/" + name);
      };
      ro.getSecret = [this](const std::string& ns, const std::string& name) { return secrets_->get(ns, name); };
      ro.serviceEnv = [this](const nlohmann::json& pod) {
        return services_.envFor(objects::str(pod, {"metadata", "namespace"}),
                                objects::boolean(pod, {"spec", "enableServiceLinks"}, true), pod::isStaticPod(pod));
      };
    }
    auto mi = node::readMachineInfo();
    if (mi.ok()) ro.node.memoryCapacity = mi->memoryCapacityBytes;
    if (cgroupManager_) {
      cm::PodCgroupsOptions co;
      co.cgroupRoot = kc.cgroupRoot;
      if (mi.ok()) {
        co.allocatableMilliCpu = minusReserved(kc, "cpu", int64_t{mi->numCPUs} * 1000, true);
        co.allocatableMemoryBytes = minusReserved(kc, "memory", mi->memoryCapacityBytes, false);
      }
      ro.node.cgroupV2 = cgroupManager_->mode() == cgroups::Mode::kV2;
      podCgroups_ = std::make_unique<cm::PodCgroups>(*cgroupManager_, std::move(co));
      ro.cgroupParent = [this, node = ro.node](const nlohmann::json& pod) -> absl::StatusOr<std::string> {
        ASSIGN_OR_RETURN(auto config, runtime::podCgroupConfig(pod, node));
        return podCgroups_->ensurePod(objects::str(pod, {"metadata", "uid"}), config);
      };
    }
    volume::VolumeManagerOptions vo;
    vo.podsDir = ro.podsDir;
    vo.configMaps = configMaps_.get();
    vo.secrets = secrets_.get();
    if (tokens_) {
      vo.token = [this](const volume::TokenRequestSpec& spec) { return tokens_->get(spec); };
      vo.forgetTokens = [this](const std::string& uid) { tokens_->forgetPod(uid); };
    }
    vo.nodeAllocatable = ro.nodeAllocatable;
    vo.node = ro.node;
    vo.tmpfsNoswap = volume::kernelSupportsTmpfsNoswap();
    volumes_ = std::make_unique<volume::VolumeManager>(events_, std::move(vo));
    ro.volumes = volumes_.get();
    prober_ = std::make_unique<prober::Prober>(*cri_);
    probes_ = std::make_unique<prober::ProbeManager>(
        *prober_, events_, prober::ProbeManagerOptions{.onChange = [this](const std::string& uid) {
          dispatcher_->onRuntimeChange(uid);  // a probe result changed: sync the pod
        }});
    ro.probes = probes_.get();
    ro.beforeRemoveContainer = [this](const std::string& id) {
      if (!logManager_) return;
      if (auto st = logManager_->clean(id); !st.ok()) LOG_WARNING << "removing the logs of container " << id << ": " << st.message();
    };
    // Start-up phases go to the lifecycle (made below, before any pod is synced).
    ro.onPhase = [this](const std::string& uid, const char* phase, std::chrono::steady_clock::duration d) {
      if (lifecycle_) lifecycle_->addPhase(uid, phase, d);
    };
    podRuntime_ = std::make_unique<runtime::PodRuntime>(*cri_, events_, std::move(ro));
    status_ = std::make_unique<pod::StatusManager>(client_.get());
    pod::LifecycleOptions lo{nodeName_, kc.maxPods, [this] { return node(); }, podCgroups_.get(), nullptr, nullptr,
                             [this] { return health_.networkError(); }, nullptr, nullptr};
    {
      // The safe sysctls for this kernel and the configured unsafe ones (validated with the
      // configuration).
      std::vector<std::string> allowed = pod::safeSysctls(mi.ok() ? mi->kernelVersion : "");
      allowed.insert(allowed.end(), kc.allowedUnsafeSysctls.begin(), kc.allowedUnsafeSysctls.end());
      if (auto allow = pod::SysctlAllowlist::make(allowed); allow.ok()) {
        lo.sysctls = std::make_shared<const pod::SysctlAllowlist>(*std::move(allow));
      } else {
        LOG_ERROR << "sysctl allowlist: " << allow.status().message();
      }
    }
    // Without an apiserver the static pods are the only source, read before housekeeping.
    lo.podSourcesReady = [this] { return !client_ || podSourceSynced_.load(); };
    if (client_) {
      lo.createMirror = [this](const nlohmann::json& mirror) {
        return client_->create("/api/v1/namespaces/" + objects::str(mirror, {"metadata", "namespace"}) + "/pods", mirror);
      };
      lo.deleteMirror = [this](const nlohmann::json& mirror) {
        nlohmann::json opts = {{"kind", "DeleteOptions"},
                               {"apiVersion", "v1"},
                               {"gracePeriodSeconds", 0},
                               {"preconditions", {{"uid", objects::str(mirror, {"metadata", "uid"})}}}};
        return client_->removeWithBody("/api/v1/namespaces/" + objects::str(mirror, {"metadata", "namespace"}) +
                                           "/pods/" + objects::str(mirror, {"metadata", "name"}),
                                       opts);
      };
    }
    lifecycle_ = std::make_unique<pod::PodLifecycle>(std::move(lo), *podRuntime_, *status_, pods_, events_);
    status_->setOnSent([this](const std::string& uid, const nlohmann::json& status, std::chrono::steady_clock::duration waited) {
      lifecycle_->statusSent(uid, status, waited);
    });
    {
      stats::Dependencies sd;
      sd.runtime = cri_.get();
      sd.images = cri_.get();
      sd.cgroups = cgroupManager_.get();
      sd.podCgroup = [this](const std::string& uid) -> std::string {
        if (!podCgroups_) return "";
        for (auto qos : {runtime::QosClass::kGuaranteed, runtime::QosClass::kBurstable, runtime::QosClass::kBestEffort}) {
          std::string name = podCgroups_->podCgroupName(uid, qos);
          if (auto e = cgroupManager_->exists(name); e.ok() && *e) return name;
        }
        return "";
      };
      if (podCgroups_) sd.systemContainers = {{"pods", podCgroups_->join("kubepods")}};
      sd.nodeName = nodeName_;
      sd.rootDir = cfg_.flags.rootDir;
      sd.podLogsDir = kc.podLogsDir;
      stats_ = std::make_unique<stats::StatsProvider>(std::move(sd));
      metrics::kubeletMetrics().nodeName.with({nodeName_}).set(1);
    }
    workers_ = std::make_unique<pod::PodWorkers>(*lifecycle_, kPodWorkerThreads,
                                                 std::chrono::duration_cast<std::chrono::milliseconds>(kc.syncFrequency));
    dispatcher_ = std::make_unique<pod::PodDispatcher>(pods_, *workers_);
  }

  int run(std::stop_token stop) override {
    const auto& kc = cfg_.kubelet;
    // A healthz port still held (say, by an agent that is still exiting) is retried, as
    // upstream does, rather than taking the node agent down.
    std::jthread healthzRetry;
    if (auto st = healthz_.start(kc.healthzBindAddress, kc.healthzPort); !st.ok()) {
      LOG_ERROR << st.message() << "; retrying every 5s";
      healthzRetry = std::jthread([this, &kc](std::stop_token s) {
        while (api::sleepFor(s, std::chrono::seconds(5))) {
          if (healthz_.start(kc.healthzBindAddress, kc.healthzPort).ok()) {
            LOG_INFO << "healthz listening on " << kc.healthzBindAddress << ":" << kc.healthzPort;
            return;
          }
        }
      });
    }
    LOG_INFO << "cubelet " << kKubeVersion << " starting: node " << nodeName_ << ", address " << nodeIP_
             << ", apiserver " << (client_ ? client_->server() : "none (standalone)") << ", runtime "
             << kc.containerRuntimeEndpoint;
    if (!client_) LOG_INFO << "No API server defined - no node status update will be sent";
    if (podCgroups_) {
      if (auto st = podCgroups_->init(); !st.ok()) {
        LOG_ERROR << "Failed to start ContainerManager: " << st.message();
        return 1;
      }
    }
    if (auto st = setupDataDirs(); !st.ok()) {
      LOG_ERROR << "Failed to set up the kubelet's data directories: " << st.message();
      return 1;
    }
    // First runtime check before registering, so the first status is as true as it can be.
    health_.check();
    // The kubelet API (:10250), started as upstream does while the node registers. A port
    // still held (an agent that is still exiting) is retried; a bad certificate or
    // authentication setting stops the agent.
    std::jthread serverRetry;
    if (kc.enableServer) {
      auto opts = serverOptions();
      if (!opts.ok()) {
        LOG_ERROR << "Failed to start the kubelet API server: " << opts.status().message();
        return 1;
      }
      auto started = server::KubeletServer::start(*opts, serverDeps());
      if (!started.ok() && started.status().code() != absl::StatusCode::kUnavailable) {
        LOG_ERROR << "Failed to start the kubelet API server: " << started.status().message();
        return 1;
      }
      if (started.ok()) {
        apiServer_ = std::move(*started);
      } else {
        LOG_ERROR << started.status().message() << "; retrying every 5s";
        serverRetry = std::jthread([this, o = *opts](std::stop_token st) {
          while (api::sleepFor(st, std::chrono::seconds(5))) {
            auto again = server::KubeletServer::start(o, serverDeps());
            if (again.ok()) {
              std::lock_guard<std::mutex> l(apiServerMu_);
              apiServer_ = std::move(*again);
              return;
            }
          }
        });
      }
    }
    std::jthread runtimeThread([this](std::stop_token st) { runtimeLoop(st); });
    // Standalone nodes take their pod range from the configuration (podCIDR / --pod-cidr).
    if (!client_ && !kc.podCIDR.empty()) network_->setPodCidrs(splitCidrs(kc.podCIDR));
    std::jthread networkThread([this](std::stop_token st) { network_->run(st); });
    std::vector<std::jthread> apiThreads;  // nothing of these in standalone mode
    if (agent_) {
      if (kc.registerNode && !agent_->registerWithApiserver(stop)) return 0;
      apiThreads.emplace_back([this](std::stop_token st) { events_.run(st); });
      events_.record(agent_->nodeRef(), "Normal", "Starting", "Starting kubelet.");
    }
    // Whether the node's resolv.conf leaves ClusterFirst pods room for their search domains
    // (upstream checks once, as its sync loop starts).
    if (!kc.resolvConf.empty()) {
      if (auto warning = runtime::resolvConfLimitsWarning(kc.resolvConf, runtime::readHostFile(kc.resolvConf),
                                                          kc.clusterDomain)) {
        LOG_WARNING << "CheckLimitsForResolvConf: " << *warning;
        if (agent_) events_.record(agent_->nodeRef(), "Warning", "CheckLimitsForResolvConf", *warning);
      }
    }
    if (agent_) {
      apiThreads.emplace_back([this](std::stop_token st) { agent_->runWatch(st); });
      apiThreads.emplace_back([this](std::stop_token st) { agent_->runStatusLoop(st); });
      apiThreads.emplace_back([this](std::stop_token st) { agent_->runLease(st); });
    }

    // Pods: workers, status writer, the sources (static manifests first, so their mirror
    // pods are known as theirs before the apiserver's list arrives), PLEG relist and
    // housekeeping.
    workers_->start();
    probes_->start();
    if (logManager_) logManager_->start();
    std::jthread staticSource;
    if (!kc.staticPodPath.empty()) {
      auto source = std::make_shared<pod::StaticPodSource>(kc.staticPodPath, nodeName_);
      dispatcher_->onStatic(source->read());
      staticSource = std::jthread([this, source](std::stop_token st) {
        source->run(st, kStaticPodResync, [this](const std::vector<nlohmann::json>& pods) { dispatcher_->onStatic(pods); });
      });
    }
    if (client_) {
      // A few senders, so a burst of pods does not queue its statuses behind one connection.
      for (int i = 0; i < kStatusSenders; ++i) apiThreads.emplace_back([this](std::stop_token st) { status_->run(st); });
      apiThreads.emplace_back([this](std::stop_token st) { runServiceSource(st); });
      apiThreads.emplace_back([this](std::stop_token st) { runPodSource(st); });
    }
    std::jthread pleg([this](std::stop_token st) {
      lifecycle_->runPleg(st, std::chrono::seconds(1),
                          [this](const std::string& uid) { dispatcher_->onRuntimeChange(uid); });
    });
    std::jthread eventedPleg([this](std::stop_token st) { runEventedPleg(st); });
    std::jthread tokenCleanup;
    if (tokens_) tokenCleanup = std::jthread([this](std::stop_token st) { tokens_->runCleanup(st); });
    std::jthread housekeeping([this](std::stop_token st) {
      lastSyncLoop_ = std::chrono::steady_clock::now().time_since_epoch().count();
      for (int round = 1; api::sleepFor(st, std::chrono::seconds(2)); ++round) {
        lifecycle_->housekeeping(*workers_);
        lastSyncLoop_ = std::chrono::steady_clock::now().time_since_epoch().count();
        // Every 10 s, the heap's free pages go back to the system: a burst of pods leaves
        // megabytes of freed JSON behind that glibc would otherwise keep.
        if (round % 5 == 0) ::malloc_trim(0);
      }
    });

    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, stop, [] { return false; });
    LOG_INFO << "shutting down";
    if (healthzRetry.joinable()) {
      healthzRetry.request_stop();
      healthzRetry.join();
    }
    healthz_.stop();
    if (serverRetry.joinable()) {
      serverRetry.request_stop();
      serverRetry.join();
    }
    {
      std::lock_guard<std::mutex> l(apiServerMu_);
      if (apiServer_) apiServer_->stop();
    }
    // Nothing may read a cancelled call as "runtime down" or "pod changed": the loops that
    // would stop first. Then in-flight CRI calls (a StopContainer waiting out its grace, a
    // pull) are cancelled so the pod workers return at once; running pods are left running
    // for the next start to adopt, and a pod that was being stopped is stopped again then.
    for (auto* t : {&runtimeThread, &networkThread, &pleg, &eventedPleg, &housekeeping, &staticSource, &tokenCleanup}) {
      t->request_stop();
    }
    for (auto& t : apiThreads) t.request_stop();
    probes_->requestStop();
    if (logManager_) logManager_->stop();
    cri_->cancelInFlight();
    probes_->stop();
    workers_->stop();
    return 0;  // jthreads request stop and join on scope exit
  }

 private:
  absl::StatusOr<server::KubeletServerOptions> serverOptions() const {
    const auto& kc = cfg_.kubelet;
    server::KubeletServerOptions o;
    o.address = kc.address;
    o.port = kc.port;
    o.tls.certFile = kc.tlsCertFile;
    o.tls.keyFile = kc.tlsPrivateKeyFile;
    if (o.tls.certFile.empty()) {
      auto paths = server::ensureSelfSignedCert(cfg_.flags.certDir, hostname_, {nodeIP_});
      if (!paths.ok()) return paths.status();
      o.tls.certFile = paths->first;
      o.tls.keyFile = paths->second;
    }
    o.tls.minVersion = kc.tlsMinVersion;
    o.tls.cipherSuites = kc.tlsCipherSuites;
    o.tls.clientCAFile = kc.authentication.clientCAFile;
    o.authn.anonymous = kc.authentication.anonymous;
    o.authn.webhook = kc.authentication.webhook && client_;
    o.authn.webhookCacheTTL = kc.authentication.webhookCacheTTL;
    o.authn.clientCAFile = kc.authentication.clientCAFile;
    o.authz.mode = kc.authorization.mode;
    o.authz.allowedTTL = kc.authorization.cacheAuthorizedTTL;
    o.authz.deniedTTL = kc.authorization.cacheUnauthorizedTTL;
    o.authz.nodeName = nodeName_;
    o.enableDebuggingHandlers = kc.enableDebuggingHandlers;
    o.enableSystemLogHandler = kc.enableSystemLogHandler;
    return o;
  }

  // The pod as this node knows it: the desired spec with the newest status it computed.
  std::optional<nlohmann::json> withStatus(nlohmann::json pod) const {
    if (auto st = status_->podStatus(objects::str(pod, {"metadata", "uid"}))) pod["status"] = *st;
    return pod;
  }

  server::KubeletServerDeps serverDeps() {
    server::KubeletServerDeps d;
    if (client_) {
      d.api = [this](const std::string& path, const nlohmann::json& obj) { return client_->create(path, obj); };
    }
    d.runtime = cri_.get();
    d.pods = [this] {
      std::vector<nlohmann::json> out;
      for (const auto& p : pods_.all()) out.push_back(*withStatus(*p));
      return out;
    };
    d.pod = [this](const std::string& ns, const std::string& name) -> std::optional<nlohmann::json> {
      for (const auto& p : pods_.all()) {
        if (objects::str(*p, {"metadata", "namespace"}) == ns && objects::str(*p, {"metadata", "name"}) == name)
          return withStatus(*p);
      }
      return std::nullopt;
    };
    // Upstream's syncloop check: the loop has not run for twice the resync period, at least
    // five minutes.
    d.healthChecks.push_back({"syncloop", [this]() -> absl::Status {
                                const int64_t last = lastSyncLoop_.load();
                                if (last == 0) return absl::OkStatus();
                                auto since = std::chrono::steady_clock::now() -
                                             std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last));
                                auto limit = std::max<std::chrono::nanoseconds>(2 * cfg_.kubelet.syncFrequency,
                                                                                std::chrono::minutes(5));
                                if (since > limit) return absl::InternalError("sync Loop took longer than expected");
                                return absl::OkStatus();
                              }});
    d.configz = cfg_.kubelet.document;
    d.statsSummary = [this](bool onlyCpuAndMemory) { return stats_->summaryJson(onlyCpuAndMemory); };
    d.resourceMetrics = [this] { return stats_->resourceMetricsText(); };
    d.metrics = [] { return metrics::kubeletMetrics().registry.render(); };
    d.containerLogs = [this](const server::ContainerLogRequest& req, server::ResponseStream& out) {
      return logs::streamContainerLogs(*cri_, req.pod, req.container, *req.query,
                                       [&out](std::string_view s) { return out.write(s); }, out.stopToken());
    };
    return d;
  }

  // The root dir and its pods dir (0750), as upstream's setupDataDirs. The root dir is made
  // an rshared mount (a bind onto itself when needed), so mounts made below it reach the
  // runtime and can propagate into containers (mountPropagation).
  absl::Status setupDataDirs() {
    const std::string root = cfg_.flags.rootDir;
    for (const std::string& dir : {root, root + "/pods"}) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) return absl::InternalError("mkdir " + dir + ": " + ec.message());
      std::filesystem::permissions(dir, std::filesystem::perms(0750), ec);
      if (ec) return absl::InternalError("chmod " + dir + ": " + ec.message());
    }
    return volume::makeRShared(root);
  }

  // The Node object as last seen; empty while unknown and in standalone mode.
  nlohmann::json node() const { return agent_ ? agent_->node() : nlohmann::json::object(); }

  void runtimeLoop(std::stop_token stop) {
    // The kubelet checks the runtime every 5 seconds.
    while (api::sleepFor(stop, std::chrono::seconds(5))) {
      if (health_.check() && agent_) agent_->poke();
    }
  }

  static std::vector<std::string> splitCidrs(const std::string& list) {
    std::vector<std::string> out;
    std::stringstream ss(list);
    for (std::string c; std::getline(ss, c, ',');) {
      if (!c.empty()) out.push_back(c);
    }
    return out;
  }

  network::PodNetworkOptions networkOptions() {
    const auto& f = cfg_.flags;
    network::PodNetworkOptions o;
    o.manage = f.podNetwork == "cubelet-cni";
    o.binDir = f.cniBinDir;
    o.confDir = f.cniConfDir;
    o.dataDir = f.cniDataDir;
    o.nodeIP = nodeIP_;
    o.reclaimGrace = std::chrono::duration_cast<std::chrono::seconds>(2 * cfg_.kubelet.runtimeRequestTimeout);
    o.plugin = f.cniPlugin;
    if (o.plugin.empty()) {
      // Next to our own binary.
      std::error_code ec;
      std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
      o.plugin = (ec ? std::filesystem::path(".") : self.parent_path()) / "cubelet-cni";
    }
    // The runtime reloads its CNI config asynchronously: re-check its NetworkReady for a few
    // seconds so the node turns Ready as soon as it does, not at the next 5 s check.
    o.onConfigured = [this] {
      for (int i = 0; i < 50; ++i) {
        if (health_.check() && agent_) agent_->poke();
        if (health_.networkError().empty()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    };
    return o;
  }

  // Container events, where the runtime streams them, make a pod sync follow a change at
  // once; the relist stays as the safety net (and is all there is without the stream).
  void runEventedPleg(std::stop_token stop) {
    api::Backoff backoff(std::chrono::seconds(1), std::chrono::seconds(30));
    while (!stop.stop_requested()) {
      auto st = podRuntime_->watchEvents(stop, [this](const std::string& uid) { dispatcher_->onRuntimeChange(uid); });
      if (stop.stop_requested()) return;
      if (absl::IsUnimplemented(st)) {
        LOG_INFO << "the container runtime does not stream container events (GetContainerEvents); "
                    "pod changes are found by relisting every second";
        return;
      }
      LOG_WARNING << "container event stream: " << st.message();
      if (!api::sleepFor(stop, backoff.next())) return;
    }
  }

  // All Services, for the containers' service environment variables (as upstream's service
  // informer: every namespace, since the master service lives in default).
  void runServiceSource(std::stop_token stop) {
    api::Reflector r(*client_, "/api/v1/services", "",
                     api::ReflectorHandler{[this](const std::vector<nlohmann::json>& items) { services_.replace(items); },
                                           [this](const api::WatchEvent& ev) { services_.apply(ev.type, ev.object); }});
    r.run(stop);
  }

  void runPodSource(std::stop_token stop) {
    api::Reflector r(*client_, "/api/v1/pods", "fieldSelector=spec.nodeName%3D" + nodeName_,
                     api::ReflectorHandler{[this](const std::vector<nlohmann::json>& items) {
                                             dispatcher_->onReplace(items);
                                             podSourceSynced_ = true;
                                           },
                                           [this](const api::WatchEvent& ev) { dispatcher_->onEvent(ev); }});
    r.run(stop);
  }

  node::NodeFacts facts() {
    if (!machine_) {
      auto mi = node::readMachineInfo();
      if (!mi.ok()) {
        LOG_ERROR << "Error getting machine info: " << mi.status().message();
      } else {
        machine_ = std::move(*mi);
      }
    }
    node::NodeFacts f;
    f.nodeName = nodeName_;
    if (machine_) {
      f.numCPUs = machine_->numCPUs;
      f.memoryBytes = machine_->memoryCapacityBytes;
      f.hugepages = machine_->hugepages;
      f.machineID = machine_->machineID;
      f.systemUUID = machine_->systemUUID;
      f.bootID = machine_->bootID;
      f.kernelVersion = machine_->kernelVersion;
      f.osImage = machine_->osImage;
    }
    f.architecture = node::architecture();
    std::string rootDir = cfg_.flags.rootDir;
    struct statvfs sv;
    if (statvfs(rootDir.c_str(), &sv) == 0 || statvfs("/", &sv) == 0) {
      f.ephemeralStorageBytes = static_cast<int64_t>(sv.f_blocks) * static_cast<int64_t>(sv.f_frsize);
      f.ephemeralAvailableBytes = static_cast<int64_t>(sv.f_bavail) * static_cast<int64_t>(sv.f_frsize);
    }
    f.memoryAvailableBytes = memoryAvailableBytes();
    f.addresses = {{"InternalIP", nodeIP_}, {"Hostname", hostname_}};
    f.kubeletPort = cfg_.kubelet.port;
    f.containerRuntimeVersion = health_.versionString();
    f.kubeletVersion = kKubeVersion;
    f.readyErrors = health_.errors();
    return f;
  }

  const config::Config cfg_;
  std::unique_ptr<api::Client> client_;
  std::unique_ptr<runtime::CriClient> cri_;
  cgroups::ManagerPtr cgroupManager_;  // null without cgroupsPerQOS
  std::unique_ptr<cm::PodCgroups> podCgroups_;
  runtime::RuntimeHealth health_;
  api::EventRecorder events_;
  std::string nodeName_, hostname_, nodeIP_;
  std::unique_ptr<node::NodeAgent> agent_;
  std::unique_ptr<network::PodNetwork> network_;
  std::unique_ptr<logs::ContainerLogManager> logManager_;
  std::unique_ptr<stats::StatsProvider> stats_;
  server::HealthzServer healthz_;
  std::optional<node::MachineInfo> machine_;  // status thread only
  pod::PodManager pods_;
  std::unique_ptr<prober::Prober> prober_;
  std::unique_ptr<prober::ProbeManager> probes_;
  std::unique_ptr<runtime::PodRuntime> podRuntime_;
  std::unique_ptr<pod::StatusManager> status_;
  std::unique_ptr<pod::PodLifecycle> lifecycle_;
  std::unique_ptr<pod::PodWorkers> workers_;
  std::unique_ptr<pod::PodDispatcher> dispatcher_;
  std::unique_ptr<volume::ObjectSource> configMaps_, secrets_;
  runtime::ServiceStore services_;
  std::unique_ptr<volume::TokenManager> tokens_;
  std::unique_ptr<volume::VolumeManager> volumes_;
  std::atomic<bool> podSourceSynced_{false};  // the apiserver's first pod list arrived
  std::atomic<int64_t> lastSyncLoop_{0};       // steady_clock ticks of the last housekeeping pass
  std::mutex apiServerMu_;
  std::unique_ptr<server::KubeletServer> apiServer_;  // guarded by apiServerMu_ while the retry runs
};

}  // namespace

absl::StatusOr<std::unique_ptr<Kubelet>> Kubelet::create(const config::Config& cfg) {
  // Without a kubeconfig cubelet runs standalone: the static pods only, nothing reported.
  std::unique_ptr<api::Client> client;
  if (!cfg.flags.kubeconfig.empty()) {
    ASSIGN_OR_RETURN(auto rest, config::loadKubeconfig(cfg.flags.kubeconfig));
    api::ClientOptions co;
    co.userAgent = std::string("cubelet/") + kKubeVersion;
    ASSIGN_OR_RETURN(client, api::Client::create(rest, co));
  }

  RETURN_IF_ERROR(node::validateNodeLabels(cfg.flags.nodeLabels));
  node::Reservations res{cfg.kubelet.systemReserved, cfg.kubelet.kubeReserved, cfg.kubelet.evictionHard,
                         cfg.kubelet.maxPods, cfg.kubelet.podsPerCore};
  RETURN_IF_ERROR(annotate(node::validateReservations(res), "kubelet configuration"));

  ASSIGN_OR_RETURN(std::string host, hostname());
  std::string hostnameValue = lower(cfg.flags.hostnameOverride.empty() ? host : cfg.flags.hostnameOverride);
  std::string nodeName = hostnameValue;
  std::string nodeIP = cfg.flags.nodeIP;
  if (nodeIP.empty()) {
    auto ip = detectNodeIP(host);
    if (!ip.ok()) return annotate(ip.status(), "cannot determine the node address");
    nodeIP = *ip;
  }
  ASSIGN_OR_RETURN(auto cri, runtime::CriClient::connect(
                                 cfg.kubelet.containerRuntimeEndpoint,
                                 std::chrono::duration_cast<std::chrono::milliseconds>(cfg.kubelet.runtimeRequestTimeout)));
  cgroups::ManagerPtr cgroupManager;
  if (cfg.kubelet.cgroupsPerQOS) {
    auto driver = cgroups::parseDriver(cfg.kubelet.cgroupDriver);
    if (!driver.ok()) return annotate(driver.status(), "kubelet configuration: cgroupDriver");
    cgroups::Options co;
    co.driver = *driver;
    auto manager = cgroups::createManager(co);
    if (!manager.ok()) return annotate(manager.status(), "cgroupsPerQOS needs the pod cgroup tree");
    cgroupManager = std::move(*manager);
  }
  return std::unique_ptr<Kubelet>(new KubeletImpl(cfg, std::move(client), std::move(cri), std::move(cgroupManager),
                                                  nodeName, hostnameValue, nodeIP));
}

}  // namespace cubelet
