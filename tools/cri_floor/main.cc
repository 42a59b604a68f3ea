// cri-floor: starts pods directly through the CRI, as cubelet would build them, and prints
// how long each start took (see cri_floor.h). Used by hack/bench.sh for the floor under the
// node agents' create->Running times. Run it while no node agent runs on the runtime: an
// agent would stop these pods, which it does not know.
//
//   cri-floor --runtime-endpoint unix:///run/containerd.sock --pod pod.json
//             [--count N] [--burst N] [--node-ip IP] [--cluster-dns IP] [--cluster-domain D]
//             [--resolv-conf FILE] [--pod-logs-dir DIR] [--cgroup-root /cri-floor]
//             [--mount HOSTDIR:CONTAINERDIR]... [--keep]
//
// Prints {"pods_ms": [...], "batches_ms": [...]} on stdout and a summary on stderr; the
// pods are stopped and removed afterwards unless --keep. Exit 1 with the error (naming the
// pod and the call) when a start fails, 2 on bad flags.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "tools/cri_floor/cri_floor.h"

namespace {

int usage(const std::string& why) {
  std::cerr << "cri-floor: " << why
            << "\nusage: cri-floor --runtime-endpoint EP --pod FILE [--count N] [--burst N] [--node-ip IP]"
               " [--cluster-dns IP] [--cluster-domain D] [--resolv-conf FILE] [--pod-logs-dir DIR]"
               " [--cgroup-root PATH] [--mount HOST:CONTAINER]... [--keep]\n";
  return 2;
}

bool parseInt(const std::string& s, int* out) {
  try {
    size_t used = 0;
    int v = std::stoi(s, &used);
    if (used != s.size() || v < 1) return false;
    *out = v;
    return true;
  } catch (...) {
    return false;
  }
}

// Removes the per-pod cgroups the runtime made under `root` in every v1 hierarchy (or v2).
void removeCgroups(const std::string& root) {
  std::error_code ec;
  std::vector<std::filesystem::path> bases;
  for (const auto& e : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) bases.push_back(e.path());
  bases.push_back("/sys/fs/cgroup");
  for (const auto& base : bases) {
    std::filesystem::path dir = base.string() + root;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    for (const auto& pod : std::filesystem::directory_iterator(dir, ec)) {
      if (pod.is_directory(ec)) {
        for (const auto& sub : std::filesystem::directory_iterator(pod.path(), ec))
          if (sub.is_directory(ec)) ::rmdir(sub.path().c_str());
        ::rmdir(pod.path().c_str());
      }
    }
    ::rmdir(dir.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cubelet;
  crifloor::FloorOptions opts;
  std::string endpoint, podFile, resolvConf;
  bool keep = false;
  opts.node.resolvConf = std::nullopt;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--keep") {
      keep = true;
      continue;
    }
    if (i + 1 >= argc) return usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--runtime-endpoint") endpoint = value;
    else if (flag == "--pod") podFile = value;
    else if (flag == "--count") {
      if (!parseInt(value, &opts.count)) return usage("--count: not a positive number: " + value);
    } else if (flag == "--burst") {
      if (!parseInt(value, &opts.burst)) return usage("--burst: not a positive number: " + value);
    } else if (flag == "--node-ip") opts.node.nodeIps.push_back(value);
    else if (flag == "--cluster-dns") opts.node.clusterDns.push_back(value);
    else if (flag == "--cluster-domain") opts.node.clusterDomain = value;
    else if (flag == "--resolv-conf") resolvConf = value;
    else if (flag == "--pod-logs-dir") opts.node.podLogsDir = value;
    else if (flag == "--cgroup-root") opts.cgroupRoot = value;
    else if (flag == "--mount") {
      auto colon = value.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) {
        return usage("--mount wants HOSTDIR:CONTAINERDIR, got " + value);
      }
      opts.mounts.emplace_back(value.substr(0, colon), value.substr(colon + 1));
    } else return usage("unknown flag " + flag);
  }
  if (endpoint.empty() || podFile.empty()) return usage("--runtime-endpoint and --pod are required");
  if (!resolvConf.empty()) {
    std::ifstream in(resolvConf);
    if (!in) return usage("--resolv-conf: cannot read " + resolvConf);
    std::stringstream ss;
    ss << in.rdbuf();
    opts.node.resolvConf = ss.str();
  }
  std::ifstream in(podFile);
  if (!in) return usage("--pod: cannot read " + podFile);
  try {
    opts.pod = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    return usage("--pod " + podFile + ": not JSON: " + e.what());
  }
  auto cri = cubelet::runtime::CriClient::connect(endpoint, std::chrono::minutes(4));
  if (!cri.ok()) {
    std::cerr << "cri-floor: " << cri.status().message() << "\n";
    return 1;
  }
  std::vector<std::string> made;
  auto result = crifloor::startPods(**cri, opts, &made);
  int rc = 0;
  if (result.ok()) {
    std::cout << result->toJson().dump() << "\n";
    std::cerr << "cri-floor: " << result->podMs.size() << " pods, burst " << opts.burst << ": p50 "
              << crifloor::percentile(result->podMs, 50) << " ms, p99 " << crifloor::percentile(result->podMs, 99)
              << " ms\n";
  } else {
    std::cerr << "cri-floor: " << result.status().message() << "\n";
    rc = 1;
  }
  if (!keep) {
    if (auto st = crifloor::removePods(**cri, made); !st.ok()) {
      std::cerr << "cri-floor: " << st.message() << "\n";
      rc = 1;
    }
    if (!opts.cgroupRoot.empty()) removeCgroups(opts.cgroupRoot);
  }
  return rc;
}
