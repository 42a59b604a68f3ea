// Container log rotation as the upstream kubelet's ContainerLogManager
// (k/k pkg/kubelet/logs/container_log_manager.go):
// every monitorInterval, each RUNNING container's log (CRI ContainerStatus logPath) that has
// reached maxSize is renamed to `<log>.<YYYYMMDD-hhmmss>` (local time) and the runtime is told
// to reopen it (CRI ReopenContainerLog), which creates a fresh `<log>`. Before that, older
// rotated files are cleaned: `*.tmp` leftovers and uncompressed files whose `.gz` exists are
// deleted, only the newest maxFiles-2 rotated files are kept, and the remaining uncompressed
// ones are gzipped (`<f>.tmp`, renamed to `<f>.gz`, mode kept). So a log has at most the live
// file, one uncompressed rotated file and maxFiles-2 compressed ones. When the reopen fails
// the rotated file is renamed back, to be tried again next round.
//
// Thread-safety: rotateOnce()/rotateContainer() may run concurrently with each other only for
// different containers; start()/stop() from one owner thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kubelet/runtime/cri_client.h"

namespace cubelet::logs {

struct ContainerLogManagerOptions {
  // containerLogMaxSize in bytes; <= 0 disables rotation.
  int64_t maxSize = 10 * 1024 * 1024;
  // containerLogMaxFiles: must be > 1.
  int maxFiles = 5;
  // containerLogMaxWorkers: containers rotated in parallel per round (>= 1).
  int maxWorkers = 1;
  std::chrono::nanoseconds monitorInterval = std::chrono::seconds(10);
  // The clock that names rotated files; tests set it.
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

class ContainerLogManager {
 public:
  // InvalidArgument `invalid MaxFiles <n>, must be > 1` (or a bad worker count / interval).
  // `runtime` must outlive the manager.
  static absl::StatusOr<std::unique_ptr<ContainerLogManager>> create(runtime::RuntimeServiceClient* runtime,
                                                                     ContainerLogManagerOptions options);
  ~ContainerLogManager();
  ContainerLogManager(const ContainerLogManager&) = delete;
  ContainerLogManager& operator=(const ContainerLogManager&) = delete;

  bool enabled() const { return options_.maxSize > 0; }

  // Starts the monitor thread (one round every monitorInterval); does nothing when disabled
  // or already started.
  void start();
  // Stops and joins the monitor thread. Idempotent; the destructor calls it.
  void stop();

  // One monitor round: lists the containers and rotates every running one that needs it.
  // Errors of single containers are logged; the returned error is the listing's, or the
  // first container's error (for tests).
  absl::Status rotateOnce();
  // Rotates one container's log if it has reached maxSize.
  absl::Status rotateContainer(const std::string& containerId);

  // Removes a container's log and all its rotated files (`<logPath>*`, upstream Clean); for
  // when the container is removed. Works whether or not rotation is enabled.
  absl::Status clean(const std::string& containerId);

  // The files of a log that are in use, oldest first: rotated ones (compressed or not), then
  // the live log itself (upstream GetAllLogs). Not found when the live log does not exist.
  static absl::StatusOr<std::vector<std::string>> allLogs(const std::string& logPath);

 private:
  ContainerLogManager(runtime::RuntimeServiceClient* runtime, ContainerLogManagerOptions options)
      : runtime_(runtime), options_(std::move(options)) {}

  absl::Status rotateLog(const std::string& containerId, const std::string& logPath);
  absl::Status rotateLatestLog(const std::string& containerId, const std::string& logPath);
  // The container's log path: asked of the runtime (ContainerStatus) once per container, as
  // it never changes; forgotten when the container no longer runs.
  absl::StatusOr<std::string> logPath(const std::string& containerId);

  runtime::RuntimeServiceClient* runtime_;
  ContainerLogManagerOptions options_;
  std::jthread monitor_;
  std::mutex pathsMu_;
  std::map<std::string, std::string> logPaths_;  // container ID -> log path; guarded by pathsMu_
};

// Gzips `path` into `path.gz` through `path.tmp` (mode of `path` kept), then removes `path`.
// Exposed for tests.
absl::Status compressLogFile(const std::string& path);

}  // namespace cubelet::logs
