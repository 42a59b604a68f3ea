#include "kubelet/stats/stats_provider.h"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "base/log.h"

namespace cubelet::stats {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

constexpr std::chrono::seconds kMinRateWindow{1};
constexpr std::chrono::minutes kCpuCacheExpiry{10};
constexpr long kTmpfsMagic = 0x01021994;
// cgroup v1 reports "no limit" as a page-rounded LLONG_MAX; anything this large is no limit.
constexpr uint64_t kV1Unlimited = uint64_t{1} << 62;

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<uint64_t> readUint(const std::string& path) {
  auto text = readFile(path);
  if (!text) return std::nullopt;
  std::string t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  uint64_t n = 0;
  if (!absl::SimpleAtoi(t, &n)) return std::nullopt;
  return n;
}

TimePoint fromNanos(int64_t ns) { return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns))); }

std::string joinCgroup(const std::string& base, const std::string& rel) {
  std::string r = rel;
  while (!r.empty() && r.front() == '/') r.erase(0, 1);
  return r.empty() ? base : base + "/" + r;
}

std::optional<FsStats> statFs(const std::string& path, TimePoint time) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  FsStats f;
  f.time = time;
  const uint64_t frsize = st.f_frsize;
  f.capacityBytes = uint64_t{st.f_blocks} * frsize;
  f.availableBytes = uint64_t{st.f_bavail} * frsize;
  f.usedBytes = (uint64_t{st.f_blocks} - uint64_t{st.f_bfree}) * frsize;
  f.inodes = st.f_files;
  f.inodesFree = st.f_ffree;
  f.inodesUsed = uint64_t{st.f_files} - uint64_t{st.f_ffree};
  return f;
}

// Capacity-side fields of `from` copied into `to` (rootfs/logs/volumes report their own use
// with the capacity of the filesystem holding them).
void copyCapacity(FsStats& to, const std::optional<FsStats>& from) {
  if (!from) return;
  to.availableBytes = from->availableBytes;
  to.capacityBytes = from->capacityBytes;
  to.inodes = from->inodes;
  to.inodesFree = from->inodesFree;
}

bool isTmpfs(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == kTmpfsMagic;
}

struct DuResult {
  uint64_t bytes = 0;
  uint64_t inodes = 0;
};

// Disk usage of a tree like `du -s -x`: allocated blocks of each inode once, not crossing
// into other filesystems, not following symlinks.
std::optional<DuResult> diskUsage(const std::string& root) {
  struct stat rootSt {};
  if (::lstat(root.c_str(), &rootSt) != 0) return std::nullopt;
  DuResult r;
  std::set<std::pair<dev_t, ino_t>> seen;
  auto account = [&](const struct stat& st) {
    if (!seen.insert({st.st_dev, st.st_ino}).second) return;
    r.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    r.inodes++;
  };
  account(rootSt);
  if (!S_ISDIR(rootSt.st_mode)) return r;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) return r;
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (st.st_dev != rootSt.st_dev) {
      if (S_ISDIR(st.st_mode)) it.disable_recursion_pending();
      continue;
    }
    account(st);
  }
  return r;
}

// removeTerminatedPods: per pod (name, namespace, uid) one sandbox stays as it is; of
// several, the ready ones, or the newest when none is ready.
std::vector<v1::PodSandbox> dedupSandboxes(std::vector<v1::PodSandbox> sandboxes) {
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<v1::PodSandbox>> byPod;
  std::sort(sandboxes.begin(), sandboxes.end(),
            [](const v1::PodSandbox& a, const v1::PodSandbox& b) { return a.created_at() < b.created_at(); });
  for (auto& s : sandboxes) {
    byPod[{s.metadata().name(), s.metadata().namespace_(), s.metadata().uid()}].push_back(std::move(s));
  }
  std::vector<v1::PodSandbox> out;
  for (auto& [ref, list] : byPod) {
    if (list.size() == 1) {
      out.push_back(std::move(list[0]));
      continue;
    }
    bool found = false;
    for (auto& s : list) {
      if (s.state() == v1::SANDBOX_READY) {
        out.push_back(s);
        found = true;
      }
    }
    if (!found) out.push_back(std::move(list.back()));
  }
  return out;
}

struct CgroupSample {
  std::optional<uint64_t> cpuNs;
  std::optional<MemoryStats> memory;
};

void addOpt(std::optional<uint64_t>& to, const std::optional<uint64_t>& v) {
  if (v) to = to.value_or(0) + *v;
}

}  // namespace

struct StatsProvider::Impl {
  Dependencies deps;

  struct CpuRecord {
    TimePoint time;
    uint64_t usage = 0;
    std::optional<uint64_t> rate;
    TimePoint lastSeen;
  };
  struct DuEntry {
    TimePoint at;
    std::optional<DuResult> result;
  };
  struct SandboxInfo {
    std::optional<int> pid;
    bool hostNetwork = false;
  };

  std::mutex mu;
  std::map<std::string, CpuRecord> cpu;
  std::map<std::string, DuEntry> du;
  std::map<std::string, SandboxInfo> sandboxes;

  TimePoint now() const { return deps.clock ? deps.clock() : std::chrono::system_clock::now(); }

  // usageNanoCores for `key` from its previous sample.
  std::optional<uint64_t> nanoCores(const std::string& key, TimePoint time, uint64_t usage) {
    std::lock_guard<std::mutex> lock(mu);
    auto [it, inserted] = cpu.try_emplace(key);
    CpuRecord& r = it->second;
    r.lastSeen = time;
    if (inserted || usage < r.usage || time < r.time) {
      r.time = time;
      r.usage = usage;
      r.rate.reset();
      return std::nullopt;
    }
    const auto dt = std::chrono::duration_cast<std::chrono::nanoseconds>(time - r.time).count();
    if (time - r.time < kMinRateWindow) return r.rate;  // too close to the last sample
    const double rate = static_cast<double>(usage - r.usage) * 1e9 / static_cast<double>(dt);
    r.time = time;
    r.usage = usage;
    r.rate = static_cast<uint64_t>(rate);
    return r.rate;
  }

  void pruneCpu(TimePoint now) {
    std::lock_guard<std::mutex> lock(mu);
    std::erase_if(cpu, [&](const auto& kv) { return now - kv.second.lastSeen > kCpuCacheExpiry; });
  }

  std::optional<DuResult> cachedDu(const std::string& path, TimePoint now) {
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = du.find(path);
      if (it != du.end() && now - it->second.at < deps.duCachePeriod && now >= it->second.at) return it->second.result;
    }
    auto r = diskUsage(path);
    std::lock_guard<std::mutex> lock(mu);
    du[path] = DuEntry{now, r};
    // Forget entries of paths not asked for in a long time (deleted pods).
    std::erase_if(du, [&](const auto& kv) { return now - kv.second.at > 10 * deps.duCachePeriod; });
    return r;
  }

  // The directory of `cgroup` in the hierarchy holding `controller` (v1), or in the unified
  // tree (v2); nullopt without a cgroup manager or that controller.
  std::optional<std::string> controllerDir(const std::string& controller, const std::string& cgroup) const {
    if (deps.cgroups == nullptr) return std::nullopt;
    const auto& layout = deps.cgroups->layout();
    if (layout.mode == cgroups::Mode::kV2) return joinCgroup(layout.unified, cgroup);
    auto it = layout.v1.find(controller);
    if (it == layout.v1.end()) return std::nullopt;
    return joinCgroup(it->second, cgroup);
  }

  // CPU and memory of one cgroup, read from its interface files (not Manager::stats(),
  // which also wants pids.current, absent from the v1 root); nullopt when neither the
  // memory nor the cpu numbers can be read.
  std::optional<CgroupSample> sampleCgroup(const std::string& path, TimePoint time) const {
    if (deps.cgroups == nullptr) return std::nullopt;
    const bool v2 = deps.cgroups->mode() == cgroups::Mode::kV2;
    CgroupSample s;
    if (auto dir = controllerDir("cpuacct", path)) {
      if (v2) {
        if (auto text = readFile(*dir + "/cpu.stat")) {
          auto kv = parseFlatKeyed(*text);
          if (auto it = kv.find("usage_usec"); it != kv.end()) s.cpuNs = it->second * 1000;
        }
      } else if (auto n = readUint(*dir + "/cpuacct.usage")) {
        s.cpuNs = n;
      }
    }
    if (auto dir = controllerDir("memory", path)) {
      if (auto usage = readUint(*dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes"))) {
        MemoryStats m;
        m.time = time;
        m.usageBytes = usage;
        std::map<std::string, uint64_t> kv;
        if (auto text = readFile(*dir + "/memory.stat")) kv = parseFlatKeyed(*text);
        auto pick = [&](std::initializer_list<const char*> keys) -> std::optional<uint64_t> {
          for (const char* k : keys)
            if (auto it = kv.find(k); it != kv.end()) return it->second;
          return std::nullopt;
        };
        // Hierarchical totals first on v1, as cadvisor does.
        const uint64_t inactiveFile =
            (v2 ? pick({"inactive_file"}) : pick({"total_inactive_file", "inactive_file"})).value_or(0);
        m.workingSetBytes = *usage > inactiveFile ? *usage - inactiveFile : 0;
        m.rssBytes = v2 ? pick({"anon"}) : pick({"total_rss", "rss"});
        m.pageFaults = v2 ? pick({"pgfault"}) : pick({"total_pgfault", "pgfault"});
        m.majorPageFaults = v2 ? pick({"pgmajfault"}) : pick({"total_pgmajfault", "pgmajfault"});
        // v2 "max" does not parse: no limit.
        auto limit = readUint(*dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes"));
        if (limit && *limit < kV1Unlimited)
          m.availableBytes = *limit > *m.workingSetBytes ? *limit - *m.workingSetBytes : 0;
        s.memory = m;
      }
    }
    if (!s.cpuNs && !s.memory) {
      VLOG(4) << "stats: no cpu or memory numbers for cgroup \"" << path << "\"";
      return std::nullopt;
    }
    return s;
  }

  std::optional<CpuStats> cpuStats(const std::string& key, TimePoint time, std::optional<uint64_t> usage) {
    if (!usage) return std::nullopt;
    CpuStats c;
    c.time = time;
    c.usageCoreNanoSeconds = usage;
    c.usageNanoCores = nanoCores(key, time, *usage);
    return c;
  }

  SandboxInfo sandboxInfo(const std::string& id) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (auto it = sandboxes.find(id); it != sandboxes.end()) return it->second;
    }
    SandboxInfo info;
    auto st = deps.runtime->podSandboxStatus(id, true);
    if (!st.ok()) {
      VLOG(4) << "stats: sandbox " << id << ": " << std::string(st.status().message());
      return info;  // not cached: try again next time
    }
    info.hostNetwork = st->status().linux().namespaces().options().network() == v1::NODE;
    if (auto it = st->info().find("info"); it != st->info().end()) info.pid = sandboxPidFromInfo(it->second);
    std::lock_guard<std::mutex> lock(mu);
    sandboxes[id] = info;
    return info;
  }

  std::optional<NetworkStats> networkFrom(const std::string& netDevPath, TimePoint time) const {
    auto text = readFile(netDevPath);
    if (!text) return std::nullopt;
    auto ifaces = parseNetDev(*text);
    if (!ifaces.ok()) {
      VLOG(4) << "stats: " << netDevPath << ": " << std::string(ifaces.status().message());
      return std::nullopt;
    }
    NetworkStats n;
    n.time = time;
    for (const auto& i : *ifaces) {
      if (i.name == "eth0") n.defaultInterface = i;
    }
    n.interfaces = std::move(*ifaces);
    return n;
  }

  std::optional<TimePoint> bootTime() const {
    auto text = readFile(deps.procRoot + "/stat");
    if (!text) return std::nullopt;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("btime ", 0) == 0) {
        int64_t secs = 0;
        if (absl::SimpleAtoi(line.substr(6), &secs)) return TimePoint(std::chrono::seconds(secs));
      }
    }
    return std::nullopt;
  }

  std::optional<RlimitStats> rlimit(TimePoint time) const {
    RlimitStats r;
    r.time = time;
    if (auto text = readFile(deps.procRoot + "/sys/kernel/pid_max")) {
      int64_t n = 0;
      std::string t = *text;
      while (!t.empty() && t.back() == '\n') t.pop_back();
      if (absl::SimpleAtoi(t, &n)) r.maxpid = n;
    }
    // Processes = numeric entries of /proc (upstream counts them the same way on Linux).
    std::error_code ec;
    int64_t procs = 0;
    for (fs::directory_iterator it(deps.procRoot, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename();
      if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) ++procs;
    }
    if (!ec) r.curproc = procs;
    return r;
  }

  NodeStats node(TimePoint t, bool onlyCpuAndMemory) {
    NodeStats n;
    n.nodeName = deps.nodeName;
    n.startTime = bootTime().value_or(TimePoint{});
    const auto meminfo = readFile(deps.procRoot + "/meminfo");
    const auto mem = meminfo ? parseMeminfo(*meminfo) : std::map<std::string, uint64_t>{};
    std::optional<uint64_t> capacity;
    if (auto it = mem.find("MemTotal"); it != mem.end()) capacity = it->second;

    auto root = sampleCgroup("", t);
    if (root) n.cpu = cpuStats("node", t, root->cpuNs);
    std::optional<MemoryStats> m = root ? root->memory : std::nullopt;
    if (!m && capacity && mem.count("MemFree")) {
      // cgroup v2 has no memory.current at the root: derive usage from /proc/meminfo.
      MemoryStats mm;
      mm.time = t;
      const uint64_t usage = *capacity - std::min(*capacity, mem.at("MemFree"));
      mm.usageBytes = usage;
      const uint64_t inactiveFile = mem.count("Inactive(file)") ? mem.at("Inactive(file)") : 0;
      mm.workingSetBytes = usage > inactiveFile ? usage - inactiveFile : 0;
      m = mm;
    }
    if (m) {
      m->availableBytes.reset();
      if (capacity && m->workingSetBytes)
        m->availableBytes = *capacity > *m->workingSetBytes ? *capacity - *m->workingSetBytes : 0;
      n.memory = m;
    }
    for (const auto& [name, path] : deps.systemContainers) {
      ContainerStats c;
      c.name = name;
      c.startTime = n.startTime;
      if (auto s = sampleCgroup(path, t)) {
        c.cpu = cpuStats("sys/" + name, t, s->cpuNs);
        c.memory = s->memory;
      }
      n.systemContainers.push_back(std::move(c));
    }
    if (onlyCpuAndMemory) return n;

    n.network = networkFrom(deps.procRoot + "/net/dev", t);
    n.fs = statFs(deps.rootDir, t);
    if (deps.images != nullptr) {
      auto info = deps.images->imageFsInfo();
      if (!info.ok()) {
        VLOG(4) << "stats: ImageFsInfo: " << std::string(info.status().message());
      } else if (info->image_filesystems_size() > 0) {
        const auto& u = info->image_filesystems(0);
        FsStats f;
        f.time = u.timestamp() > 0 ? fromNanos(u.timestamp()) : t;
        if (u.has_used_bytes()) f.usedBytes = u.used_bytes().value();
        if (u.has_inodes_used()) f.inodesUsed = u.inodes_used().value();
        if (!u.fs_id().mountpoint().empty()) copyCapacity(f, statFs(u.fs_id().mountpoint(), t));
        n.runtime = RuntimeStats{f, f};
      }
    }
    n.rlimit = rlimit(t);
    return n;
  }

  absl::StatusOr<Summary> summary(bool onlyCpuAndMemory) {
    const TimePoint t = now();
    auto sandboxList = deps.runtime->listPodSandbox(v1::PodSandboxFilter());
    if (!sandboxList.ok())
      return absl::Status(sandboxList.status().code(),
                          "failed to list all pod sandboxes: " + std::string(sandboxList.status().message()));
    auto containerList = deps.runtime->listContainers(v1::ContainerFilter());
    if (!containerList.ok())
      return absl::Status(containerList.status().code(),
                          "failed to list all containers: " + std::string(containerList.status().message()));
    std::map<std::string, v1::ContainerStats> criStats;
    if (auto cs = deps.runtime->listContainerStats(v1::ContainerStatsFilter()); cs.ok()) {
      for (auto& s : *cs) criStats[s.attributes().id()] = std::move(s);
    } else {
      VLOG(4) << "stats: ListContainerStats: " << std::string(cs.status().message());
    }

    std::map<std::string, v1::PodSandbox> sandboxById;
    for (auto& s : dedupSandboxes(std::move(*sandboxList))) sandboxById[s.id()] = std::move(s);
    std::map<std::string, std::vector<const v1::Container*>> bySandbox;
    for (const auto& c : *containerList) {
      if (c.state() != v1::CONTAINER_RUNNING || !sandboxById.count(c.pod_sandbox_id())) continue;
      bySandbox[c.pod_sandbox_id()].push_back(&c);
    }

    Summary out;
    out.node = node(t, onlyCpuAndMemory);
    const std::optional<FsStats> logsFs = onlyCpuAndMemory ? std::nullopt : statFs(deps.podLogsDir, t);
    std::map<std::string, std::optional<FsStats>> mountFs;  // writable layer mountpoint -> fs
    for (const auto& [sandboxId, containers] : bySandbox) {
      const auto& sb = sandboxById.at(sandboxId);
      PodStats p;
      p.podRef = PodReference{sb.metadata().name(), sb.metadata().namespace_(), sb.metadata().uid()};
      p.startTime = fromNanos(sb.created_at());
      const std::string podCg = deps.podCgroup ? deps.podCgroup(p.podRef.uid) : std::string();
      const std::string podLogDir =
          deps.podLogsDir + "/" + p.podRef.namespace_ + "_" + p.podRef.name + "_" + p.podRef.uid;
      for (const v1::Container* c : containers) {
        ContainerStats cs;
        cs.name = c->metadata().name();
        cs.startTime = fromNanos(c->created_at());
        const v1::ContainerStats* cri = criStats.count(c->id()) ? &criStats.at(c->id()) : nullptr;
        std::optional<CgroupSample> cg;
        if (!podCg.empty()) cg = sampleCgroup(podCg + "/" + c->id(), t);
        if (cg && cg->cpuNs) {
          cs.cpu = cpuStats(c->id(), t, cg->cpuNs);
        } else if (cri && cri->has_cpu() && cri->cpu().has_usage_core_nano_seconds()) {
          const TimePoint ts = cri->cpu().timestamp() > 0 ? fromNanos(cri->cpu().timestamp()) : t;
          cs.cpu = cpuStats(c->id(), ts, cri->cpu().usage_core_nano_seconds().value());
          if (cri->cpu().has_usage_nano_cores()) cs.cpu->usageNanoCores = cri->cpu().usage_nano_cores().value();
        }
        if (cg && cg->memory) {
          cs.memory = cg->memory;
        } else if (cri && cri->has_memory()) {
          const auto& mu = cri->memory();
          MemoryStats m;
          m.time = mu.timestamp() > 0 ? fromNanos(mu.timestamp()) : t;
          if (mu.has_working_set_bytes()) m.workingSetBytes = mu.working_set_bytes().value();
          if (mu.has_available_bytes()) m.availableBytes = mu.available_bytes().value();
          if (mu.has_usage_bytes()) m.usageBytes = mu.usage_bytes().value();
          if (mu.has_rss_bytes()) m.rssBytes = mu.rss_bytes().value();
          if (mu.has_page_faults()) m.pageFaults = mu.page_faults().value();
          if (mu.has_major_page_faults()) m.majorPageFaults = mu.major_page_faults().value();
          cs.memory = m;
        }
        if (!onlyCpuAndMemory) {
          if (cri && cri->has_writable_layer()) {
            const auto& wl = cri->writable_layer();
            FsStats f;
            f.time = wl.timestamp() > 0 ? fromNanos(wl.timestamp()) : t;
            if (wl.has_used_bytes()) f.usedBytes = wl.used_bytes().value();
            if (wl.has_inodes_used()) f.inodesUsed = wl.inodes_used().value();
            const std::string& mp = wl.fs_id().mountpoint();
            if (!mp.empty()) {
              if (!mountFs.count(mp)) mountFs[mp] = statFs(mp, t);
              copyCapacity(f, mountFs[mp]);
            }
            cs.rootfs = f;
          }
          if (auto d = cachedDu(podLogDir + "/" + cs.name, t)) {
            FsStats f;
            f.time = t;
            f.usedBytes = d->bytes;
            f.inodesUsed = d->inodes;
            copyCapacity(f, logsFs);
            cs.logs = f;
          }
        }
        p.containers.push_back(std::move(cs));
      }
      std::sort(p.containers.begin(), p.containers.end(),
                [](const ContainerStats& a, const ContainerStats& b) { return a.name < b.name; });

      std::optional<CgroupSample> podSample;
      if (!podCg.empty()) podSample = sampleCgroup(podCg, t);
      if (podSample) {
        p.cpu = cpuStats("pod/" + p.podRef.uid, t, podSample->cpuNs);
        p.memory = podSample->memory;
      }
      // Without a readable pod cgroup: the sum of the containers, as upstream does.
      for (const auto& c : p.containers) {
        if (!podSample && c.cpu) {
          if (!p.cpu) p.cpu = CpuStats{c.cpu->time, std::nullopt, std::nullopt};
          p.cpu->time = std::max(p.cpu->time, c.cpu->time);
          addOpt(p.cpu->usageCoreNanoSeconds, c.cpu->usageCoreNanoSeconds);
          addOpt(p.cpu->usageNanoCores, c.cpu->usageNanoCores);
        }
        if (!podSample && c.memory) {
          if (!p.memory) p.memory = MemoryStats{c.memory->time, {}, {}, {}, {}, {}, {}};
          p.memory->time = std::max(p.memory->time, c.memory->time);
          addOpt(p.memory->usageBytes, c.memory->usageBytes);
          addOpt(p.memory->workingSetBytes, c.memory->workingSetBytes);
          addOpt(p.memory->rssBytes, c.memory->rssBytes);
          addOpt(p.memory->pageFaults, c.memory->pageFaults);
          addOpt(p.memory->majorPageFaults, c.memory->majorPageFaults);
        }
      }

      if (!onlyCpuAndMemory) {
        const SandboxInfo info = sandboxInfo(sandboxId);
        if (!info.hostNetwork && info.pid)
          p.network = networkFrom(deps.procRoot + "/" + std::to_string(*info.pid) + "/net/dev", t);
        podStorage(p, podLogDir, t, out.node.fs);
      }
      out.pods.push_back(std::move(p));
    }
    std::sort(out.pods.begin(), out.pods.end(), [](const PodStats& a, const PodStats& b) {
      return std::tie(a.podRef.namespace_, a.podRef.name, a.podRef.uid) <
             std::tie(b.podRef.namespace_, b.podRef.name, b.podRef.uid);
    });
    {
      // Sandboxes gone from the runtime need no cached pid any more.
      std::lock_guard<std::mutex> lock(mu);
      std::erase_if(sandboxes, [&](const auto& kv) { return !sandboxById.count(kv.first); });
    }
    pruneCpu(t);
    return out;
  }

  // Volumes and ephemeral-storage of one pod.
  void podStorage(PodStats& p, const std::string& podLogDir, TimePoint t, const std::optional<FsStats>& nodeFs) {
    FsStats eph;
    eph.time = t;
    copyCapacity(eph, nodeFs);
    uint64_t used = 0, inodesUsed = 0;
    for (const auto& c : p.containers) {
      if (c.rootfs) {
        used += c.rootfs->usedBytes.value_or(0);
        inodesUsed += c.rootfs->inodesUsed.value_or(0);
      }
    }
    if (auto d = cachedDu(podLogDir, t)) {
      used += d->bytes;
      inodesUsed += d->inodes;
    }
    const std::string podDir = deps.rootDir + "/pods/" + p.podRef.uid;
    struct stat st {};
    if (::lstat((podDir + "/etc-hosts").c_str(), &st) == 0) {
      used += static_cast<uint64_t>(st.st_blocks) * 512;
      inodesUsed += 1;
    }
    std::error_code ec;
    for (fs::directory_iterator plugins(podDir + "/volumes", ec), end; !ec && plugins != end; plugins.increment(ec)) {
      const std::string plugin = plugins->path().filename();
      std::error_code ec2;
      for (fs::directory_iterator vols(plugins->path(), ec2); !ec2 && vols != end; vols.increment(ec2)) {
        const std::string dir = vols->path();
        auto d = cachedDu(dir, t);
        if (!d) continue;
        VolumeStats v;
        v.name = vols->path().filename();
        v.fs.time = t;
        v.fs.usedBytes = d->bytes;
        v.fs.inodesUsed = d->inodes;
        copyCapacity(v.fs, statFs(dir, t));
        p.volume.push_back(std::move(v));
        const bool ephemeral = (plugin == "kubernetes.io~empty-dir" && !isTmpfs(dir)) ||
                               plugin == "kubernetes.io~configmap" || plugin == "kubernetes.io~git-repo";
        if (ephemeral) {
          used += d->bytes;
          inodesUsed += d->inodes;
        }
      }
    }
    std::sort(p.volume.begin(), p.volume.end(), [](const VolumeStats& a, const VolumeStats& b) { return a.name < b.name; });
    eph.usedBytes = used;
    eph.inodesUsed = inodesUsed;
    p.ephemeralStorage = eph;
  }
};

StatsProvider::StatsProvider(Dependencies deps) : impl_(std::make_unique<Impl>()) { impl_->deps = std::move(deps); }
StatsProvider::~StatsProvider() = default;

absl::StatusOr<Summary> StatsProvider::summary(bool onlyCpuAndMemory) {
  if (impl_->deps.runtime == nullptr) return absl::FailedPreconditionError("stats: no CRI runtime client");
  return impl_->summary(onlyCpuAndMemory);
}

absl::StatusOr<std::string> StatsProvider::summaryJson(bool onlyCpuAndMemory) {
  auto s = summary(onlyCpuAndMemory);
  if (!s.ok()) return s.status();
  return toJson(*s);
}

std::string StatsProvider::resourceMetricsText() {
  auto s = summary(true);
  if (!s.ok()) {
    LOG_ERROR << "Error getting summary for resourceMetric prometheus endpoint: " << std::string(s.status().message());
    return metrics::render(resourceMetricFamilies(nullptr, true));
  }
  return metrics::render(resourceMetricFamilies(&*s, false));
}

}  // namespace cubelet::stats
