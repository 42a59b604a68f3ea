// cubelet-cni: the CNI plugin binary (also installed as `loopback`). Run by a runtime with no
// arguments: reads the CNI_* environment and the network config on stdin, prints the result
// or the spec's error object on stdout (where runtimes look for it).
//
// `cubelet-cni install --bin-dir DIR --conf-dir DIR --pod-cidr CIDR[,CIDR] [--data-dir DIR]
// [--mtu N]` installs this binary and writes the conflist, as cubelet does itself; for nodes
// whose agent does not (the upstream kubelet in the local cluster).
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "netlink/cni/install.h"
#include "netlink/cni/plugin.h"

namespace {

int install(int argc, char** argv) {
  std::string binDir, confDir, self = "/proc/self/exe";
  cubelet::cni::NetworkSettings settings;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "cubelet-cni install: " << flag << " needs a value\n";
      return 2;
    }
    std::string value = argv[++i];
    if (flag == "--bin-dir") {
      binDir = value;
    } else if (flag == "--conf-dir") {
      confDir = value;
    } else if (flag == "--data-dir") {
      settings.dataDir = value;
    } else if (flag == "--mtu") {
      settings.mtu = static_cast<unsigned>(std::strtoul(value.c_str(), nullptr, 10));
    } else if (flag == "--pod-cidr") {
      std::stringstream ss(value);
      for (std::string c; std::getline(ss, c, ',');) {
        if (!c.empty()) settings.podCidrs.push_back(c);
      }
    } else {
      std::cerr << "cubelet-cni install: unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (binDir.empty() || confDir.empty() || settings.podCidrs.empty()) {
    std::cerr << "usage: cubelet-cni install --bin-dir DIR --conf-dir DIR --pod-cidr CIDR[,CIDR] [--data-dir DIR] "
                 "[--mtu N]\n";
    return 2;
  }
  auto installed = cubelet::cni::installPlugin(self, binDir);
  if (!installed.ok()) {
    std::cerr << "cubelet-cni install: " << installed.status().message() << "\n";
    return 1;
  }
  auto written = cubelet::cni::writeConflist(confDir, settings);
  if (!written.ok()) {
    std::cerr << "cubelet-cni install: " << written.status().message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc > 1 && std::string(argv[1]) == "install") return install(argc, argv);
  if (argc > 1) {
    std::cerr << "cubelet-cni is a CNI plugin: run it with the CNI_* environment and the config on stdin, or as\n"
                 "  cubelet-cni install --bin-dir DIR --conf-dir DIR --pod-cidr CIDR[,CIDR] [--data-dir DIR] "
                 "[--mtu N]\n";
    return 2;
  }
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  cubelet::cni::Output out = cubelet::cni::run(input, [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
  });
  std::cout << out.stdoutText;
  if (!out.stdoutText.empty() && out.stdoutText.back() != '\n') std::cout << '\n';
  std::cout.flush();
  return out.exitCode;
}
