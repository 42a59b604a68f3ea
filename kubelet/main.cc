// cubelet: a Kubernetes node agent. Parses flags and the config file, then runs until
// SIGTERM or SIGINT.
#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include "base/log.h"
#include "kubelet/config/config.h"
#include "kubelet/kubelet.h"
#include "kubelet/version.h"

int main(int argc, char** argv) {
  // Two malloc arenas instead of one per thread (up to 8 per core): most of cubelet's
  // threads wait, and each arena would keep its own free memory resident.
  mallopt(M_ARENA_MAX, 2);
  // Blocks from 128 KiB up (a pod list, a big watch event) are mapped and unmapped on their
  // own. glibc would otherwise raise this threshold after the first such free and serve them
  // from the arenas, where they fragment and stay resident.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cfg = cubelet::config::loadConfig(args);
  if (!cfg.ok()) {
    fprintf(stderr, "Error: %s\n", std::string(cfg.status().message()).c_str());
    return 1;
  }
  if (cfg->flags.showVersion) {
    printf("Kubernetes %s\n", cubelet::kKubeVersion);
    return 0;
  }
  if (cfg->flags.showHelp) {
    fputs(cubelet::config::usage().c_str(), stdout);
    return 0;
  }
  cubelet::log::setVerbosity(cfg->kubelet.verbosity);
  cubelet::log::setFormat(cfg->kubelet.loggingFormat == "json" ? cubelet::log::Format::kJson
                                                               : cubelet::log::Format::kText);
  for (const auto& w : cfg->warnings) LOG_WARNING << w;

  // Signals are taken synchronously by one thread; every other thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto kubelet = cubelet::Kubelet::create(*cfg);
  if (!kubelet.ok()) {
    LOG_ERROR << "failed to start cubelet: " << kubelet.status().message();
    return 1;
  }
  std::stop_source stop;
  std::jthread signals([&stop, sigs](std::stop_token) {
    int sig = 0;
    sigwait(&sigs, &sig);
    LOG_INFO << "received signal " << sig << ", stopping";
    stop.request_stop();
  });
  int rc = (*kubelet)->run(stop.get_token());
  if (!stop.stop_requested()) {
    // run() ended on its own: wake the signal thread so it can be joined.
    stop.request_stop();
    pthread_kill(signals.native_handle(), SIGTERM);
  }
  return rc;
}
