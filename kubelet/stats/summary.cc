#include "kubelet/stats/summary.h"

#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/numbers.h"

namespace cubelet::stats {
namespace {

using Json = nlohmann::ordered_json;

template <typename T>
void put(Json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

Json cpuJson(const CpuStats& c) {
  Json j;
  j["time"] = formatTime(c.time);
  put(j, "usageNanoCores", c.usageNanoCores);
  put(j, "usageCoreNanoSeconds", c.usageCoreNanoSeconds);
  return j;
}

Json memoryJson(const MemoryStats& m) {
  Json j;
  j["time"] = formatTime(m.time);
  put(j, "availableBytes", m.availableBytes);
  put(j, "usageBytes", m.usageBytes);
  put(j, "workingSetBytes", m.workingSetBytes);
  put(j, "rssBytes", m.rssBytes);
  put(j, "pageFaults", m.pageFaults);
  put(j, "majorPageFaults", m.majorPageFaults);
  return j;
}

void interfaceFields(Json& j, const InterfaceStats& i) {
  j["name"] = i.name;
  put(j, "rxBytes", i.rxBytes);
  put(j, "rxErrors", i.rxErrors);
  put(j, "txBytes", i.txBytes);
  put(j, "txErrors", i.txErrors);
}

Json networkJson(const NetworkStats& n) {
  Json j;
  j["time"] = formatTime(n.time);
  if (n.defaultInterface) interfaceFields(j, *n.defaultInterface);
  if (!n.interfaces.empty()) {
    Json list = Json::array();
    for (const auto& i : n.interfaces) {
      Json e;
      interfaceFields(e, i);
      list.push_back(std::move(e));
    }
    j["interfaces"] = std::move(list);
  }
  return j;
}

void fsFields(Json& j, const FsStats& f) {
  j["time"] = formatTime(f.time);
  put(j, "availableBytes", f.availableBytes);
  put(j, "capacityBytes", f.capacityBytes);
  put(j, "usedBytes", f.usedBytes);
  put(j, "inodesFree", f.inodesFree);
  put(j, "inodes", f.inodes);
  put(j, "inodesUsed", f.inodesUsed);
}

Json fsJson(const FsStats& f) {
  Json j;
  fsFields(j, f);
  return j;
}

Json containerJson(const ContainerStats& c) {
  Json j;
  j["name"] = c.name;
  j["startTime"] = formatTime(c.startTime);
  if (c.cpu) j["cpu"] = cpuJson(*c.cpu);
  if (c.memory) j["memory"] = memoryJson(*c.memory);
  if (c.rootfs) j["rootfs"] = fsJson(*c.rootfs);
  if (c.logs) j["logs"] = fsJson(*c.logs);
  return j;
}

Json podJson(const PodStats& p) {
  Json j;
  j["podRef"] = Json{{"name", p.podRef.name}, {"namespace", p.podRef.namespace_}, {"uid", p.podRef.uid}};
  j["startTime"] = formatTime(p.startTime);
  Json containers = Json::array();
  for (const auto& c : p.containers) containers.push_back(containerJson(c));
  j["containers"] = std::move(containers);
  if (p.cpu) j["cpu"] = cpuJson(*p.cpu);
  if (p.memory) j["memory"] = memoryJson(*p.memory);
  if (p.network) j["network"] = networkJson(*p.network);
  if (!p.volume.empty()) {
    Json vols = Json::array();
    for (const auto& v : p.volume) {
      Json e;
      fsFields(e, v.fs);
      e["name"] = v.name;
      vols.push_back(std::move(e));
    }
    j["volume"] = std::move(vols);
  }
  if (p.ephemeralStorage) j["ephemeral-storage"] = fsJson(*p.ephemeralStorage);
  return j;
}

Json nodeJson(const NodeStats& n) {
  Json j;
  j["nodeName"] = n.nodeName;
  if (!n.systemContainers.empty()) {
    Json list = Json::array();
    for (const auto& c : n.systemContainers) list.push_back(containerJson(c));
    j["systemContainers"] = std::move(list);
  }
  j["startTime"] = formatTime(n.startTime);
  if (n.cpu) j["cpu"] = cpuJson(*n.cpu);
  if (n.memory) j["memory"] = memoryJson(*n.memory);
  if (n.network) j["network"] = networkJson(*n.network);
  if (n.fs) j["fs"] = fsJson(*n.fs);
  if (n.runtime) {
    Json r = Json::object();
    if (n.runtime->imageFs) r["imageFs"] = fsJson(*n.runtime->imageFs);
    if (n.runtime->containerFs) r["containerFs"] = fsJson(*n.runtime->containerFs);
    j["runtime"] = std::move(r);
  }
  if (n.rlimit) {
    Json r;
    r["time"] = formatTime(n.rlimit->time);
    put(r, "maxpid", n.rlimit->maxpid);
    put(r, "curproc", n.rlimit->curproc);
    j["rlimit"] = std::move(r);
  }
  return j;
}

int64_t millis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

metrics::Family family(const char* name, const char* help, metrics::Type type) {
  metrics::Family f;
  f.opts = metrics::Opts{name, help, metrics::Stability::kStable, ""};
  f.type = type;
  return f;
}

}  // namespace

std::string formatTime(TimePoint t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string toJson(const Summary& summary) {
  Json j;
  j["node"] = nodeJson(summary.node);
  Json pods = Json::array();
  for (const auto& p : summary.pods) pods.push_back(podJson(p));
  j["pods"] = std::move(pods);
  return j.dump();
}

std::vector<metrics::Family> resourceMetricFamilies(const Summary* summary, bool scrapeError) {
  using metrics::Type;
  auto nodeCpu = family("node_cpu_usage_seconds_total", "Cumulative cpu time consumed by the node in core-seconds",
                        Type::kCounter);
  auto nodeMem = family("node_memory_working_set_bytes", "Current working set of the node in bytes", Type::kGauge);
  auto startTime = family("container_start_time_seconds", "Start time of the container since unix epoch in seconds",
                          Type::kGauge);
  auto contCpu = family("container_cpu_usage_seconds_total",
                        "Cumulative cpu time consumed by the container in core-seconds", Type::kCounter);
  auto contMem =
      family("container_memory_working_set_bytes", "Current working set of the container in bytes", Type::kGauge);
  auto podCpu =
      family("pod_cpu_usage_seconds_total", "Cumulative cpu time consumed by the pod in core-seconds", Type::kCounter);
  auto podMem = family("pod_memory_working_set_bytes", "Current working set of the pod in bytes", Type::kGauge);
  auto scrape = family("resource_scrape_error", "1 if there was an error while getting container metrics, 0 otherwise",
                       Type::kGauge);
  scrape.samples.push_back({{}, scrapeError ? 1.0 : 0.0, std::nullopt});

  if (!scrapeError && summary != nullptr) {
    const auto& n = summary->node;
    if (n.cpu && n.cpu->usageCoreNanoSeconds)
      nodeCpu.samples.push_back({{}, static_cast<double>(*n.cpu->usageCoreNanoSeconds) / 1e9, millis(n.cpu->time)});
    if (n.memory && n.memory->workingSetBytes)
      nodeMem.samples.push_back({{}, static_cast<double>(*n.memory->workingSetBytes), millis(n.memory->time)});
    for (const auto& p : summary->pods) {
      for (const auto& c : p.containers) {
        metrics::Labels labels = {{"container", c.name}, {"pod", p.podRef.name}, {"namespace", p.podRef.namespace_}};
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(c.startTime.time_since_epoch()).count();
        if (ns >= 1000000000)
          startTime.samples.push_back({labels, static_cast<double>(ns) / 1e9, std::nullopt});
        if (c.cpu && c.cpu->usageCoreNanoSeconds)
          contCpu.samples.push_back({labels, static_cast<double>(*c.cpu->usageCoreNanoSeconds) / 1e9, millis(c.cpu->time)});
        if (c.memory && c.memory->workingSetBytes)
          contMem.samples.push_back({labels, static_cast<double>(*c.memory->workingSetBytes), millis(c.memory->time)});
      }
      metrics::Labels labels = {{"pod", p.podRef.name}, {"namespace", p.podRef.namespace_}};
      if (p.cpu && p.cpu->usageCoreNanoSeconds)
        podCpu.samples.push_back({labels, static_cast<double>(*p.cpu->usageCoreNanoSeconds) / 1e9, millis(p.cpu->time)});
      if (p.memory && p.memory->workingSetBytes)
        podMem.samples.push_back({labels, static_cast<double>(*p.memory->workingSetBytes), millis(p.memory->time)});
    }
  }
  return {std::move(nodeCpu), std::move(nodeMem), std::move(startTime), std::move(contCpu),
          std::move(contMem), std::move(podCpu),  std::move(podMem),    std::move(scrape)};
}

absl::StatusOr<std::vector<InterfaceStats>> parseNetDev(std::string_view text) {
  std::vector<InterfaceStats> out;
  std::istringstream in{std::string(text)};
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    const size_t colon = line.find(':');
    if (lineNo <= 2 || colon == std::string::npos) continue;  // the two header lines
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    std::istringstream fields(line.substr(colon + 1));
    std::vector<uint64_t> v;
    std::string f;
    while (fields >> f) {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(f, &n)) return absl::InvalidArgumentError("net/dev line " + std::to_string(lineNo) + ": bad number " + f);
      v.push_back(n);
    }
    if (v.size() < 16)
      return absl::InvalidArgumentError("net/dev line " + std::to_string(lineNo) + ": " + std::to_string(v.size()) +
                                        " fields, want 16");
    for (const char* prefix : {"lo", "veth", "docker", "nerdctl"}) {
      if (name.rfind(prefix, 0) == 0) name.clear();
    }
    if (name.empty()) continue;
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
    out.push_back(InterfaceStats{name, v[0], v[2], v[8], v[10]});
  }
  return out;
}

std::map<std::string, uint64_t> parseFlatKeyed(std::string_view text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in{std::string(text)};
  std::string key, value;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (!(ls >> key >> value)) continue;
    uint64_t n = 0;
    if (absl::SimpleAtoi(value, &n)) out[key] = n;
  }
  return out;
}

std::map<std::string, uint64_t> parseMeminfo(std::string_view text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream ls(line.substr(colon + 1));
    std::string value, unit;
    ls >> value >> unit;
    uint64_t n = 0;
    if (!absl::SimpleAtoi(value, &n)) continue;
    out[line.substr(0, colon)] = unit == "kB" ? n * 1024 : n;
  }
  return out;
}

std::optional<int> sandboxPidFromInfo(std::string_view infoJson) {
  auto j = nlohmann::json::parse(infoJson, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto it = j.find("pid");
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  const auto pid = it->get<int64_t>();
  if (pid <= 0 || pid > 1 << 30) return std::nullopt;
  return static_cast<int>(pid);
}

}  // namespace cubelet::stats
