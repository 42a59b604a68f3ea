#include "kubelet/logs/log_rotation.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <set>

#include "base/fd.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace cubelet::logs {
namespace {

constexpr char kCompressSuffix[] = ".gz";
constexpr char kTmpSuffix[] = ".tmp";

absl::Status errnoStatus(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOENT) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// filepath.Glob("<log>.*") (or "<log>*" with `prefixSep` ""), sorted.
absl::StatusOr<std::vector<std::string>> rotatedFiles(const std::string& logPath, const std::string& prefixSep = ".") {
  auto slash = logPath.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : logPath.substr(0, slash));
  std::string prefix = (slash == std::string::npos ? logPath : logPath.substr(slash + 1)) + prefixSep;
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  if (!d) return errnoStatus("failed to list rotated logs in " + dir, errno);
  std::vector<std::string> out;
  while (dirent* e = readdir(d.get())) {
    std::string name = e->d_name;
    if (name.size() >= prefix.size() && name.compare(0, prefix.size(), prefix) == 0 && name != "." && name != "..") {
      out.push_back(slash == std::string::npos ? name : logPath.substr(0, slash + 1) + name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// isInUse: `.tmp` files never are; `.gz` always; an uncompressed file unless its `.gz` exists.
bool inUse(const std::string& f, const std::set<std::string>& all) {
  if (endsWith(f, kTmpSuffix)) return false;
  if (endsWith(f, kCompressSuffix)) return true;
  return !all.count(f + kCompressSuffix);
}

std::vector<std::string> keepInUse(const std::vector<std::string>& logs) {
  std::set<std::string> all(logs.begin(), logs.end());
  std::vector<std::string> kept;
  for (const auto& f : logs) {
    if (inUse(f, all)) {
      kept.push_back(f);
    } else if (unlink(f.c_str()) != 0 && errno != ENOENT) {
      // Best effort, like upstream's cleanupUnusedLogs removal errors are returned below.
      LOG_WARNING << "Failed to remove unused log file path=" << f << " err=" << std::strerror(errno);
    }
  }
  return kept;
}

std::string timestampSuffix(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  struct tm tm;
  localtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

absl::Status compressLogFile(const std::string& path) {
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return errnoStatus("failed to open log " + path, errno);
  struct stat st;
  if (fstat(in.get(), &st) != 0) return errnoStatus("failed to stat log " + path, errno);
  std::string tmp = path + kTmpSuffix;
  int outFd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
  if (outFd < 0) return errnoStatus("failed to create temporary log " + tmp, errno);
  // The umask may have narrowed the mode given to open().
  (void)fchmod(outFd, st.st_mode & 07777);
  gzFile gz = gzdopen(outFd, "wb");
  if (!gz) {
    ::close(outFd);
    unlink(tmp.c_str());
    return absl::InternalError("failed to start compressing " + path + " into " + tmp);
  }
  auto failTmp = [&](const std::string& why) {
    unlink(tmp.c_str());
    return absl::InternalError("failed to compress log " + path + ": " + why);
  };
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      gzclose(gz);
      return failTmp(std::strerror(err));
    }
    if (n == 0) break;
    if (gzwrite(gz, buf, static_cast<unsigned>(n)) != static_cast<int>(n)) {
      int zerr = 0;
      std::string why = gzerror(gz, &zerr);
      gzclose(gz);
      return failTmp(why);
    }
  }
  if (int rc = gzclose(gz); rc != Z_OK) return failTmp("closing " + tmp + " failed (zlib " + std::to_string(rc) + ")");
  std::string gzPath = path + kCompressSuffix;
  if (rename(tmp.c_str(), gzPath.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return errnoStatus("failed to rename " + tmp + " to " + gzPath, err);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return errnoStatus("failed to remove log " + path, errno);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ContainerLogManager>> ContainerLogManager::create(
    runtime::RuntimeServiceClient* runtime, ContainerLogManagerOptions options) {
  if (options.maxFiles <= 1) {
    return absl::InvalidArgumentError("invalid MaxFiles " + std::to_string(options.maxFiles) + ", must be > 1");
  }
  if (options.maxWorkers < 1) {
    return absl::InvalidArgumentError("invalid MaxWorkers " + std::to_string(options.maxWorkers) + ", must be >= 1");
  }
  if (options.monitorInterval.count() <= 0) {
    return absl::InvalidArgumentError("invalid MonitorInterval: must be positive");
  }
  if (!options.now) options.now = [] { return std::chrono::system_clock::now(); };
  return std::unique_ptr<ContainerLogManager>(new ContainerLogManager(runtime, std::move(options)));
}

ContainerLogManager::~ContainerLogManager() { stop(); }

void ContainerLogManager::start() {
  if (!enabled() || monitor_.joinable()) return;
  monitor_ = std::jthread([this](std::stop_token st) {
    std::mutex mu;
    std::condition_variable_any cv;
    while (!st.stop_requested()) {
      auto status = rotateOnce();
      if (!status.ok()) {
        LOG_WARNING << "Container log rotation round failed: " << status.message();
      }
      std::unique_lock lock(mu);
      cv.wait_for(lock, st, options_.monitorInterval, [] { return false; });
    }
  });
}

void ContainerLogManager::stop() {
  if (!monitor_.joinable()) return;
  monitor_.request_stop();
  monitor_.join();
}

absl::Status ContainerLogManager::rotateOnce() {
  if (!enabled()) return absl::OkStatus();
  auto containers = runtime_->listContainers(runtime::v1::ContainerFilter());
  if (!containers.ok()) return annotate(containers.status(), "failed to list containers for log rotation");
  std::vector<std::string> ids;
  for (const auto& c : *containers) {
    // Only running containers write; rotating a stopped one would leave an empty live log.
    if (c.state() == runtime::v1::CONTAINER_RUNNING) ids.push_back(c.id());
  }
  {
    std::lock_guard lock(pathsMu_);
    for (auto it = logPaths_.begin(); it != logPaths_.end();) {
      it = std::find(ids.begin(), ids.end(), it->first) == ids.end() ? logPaths_.erase(it) : std::next(it);
    }
  }
  std::mutex mu;
  absl::Status first;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < ids.size(); i = next++) {
      auto st = rotateContainer(ids[i]);
      if (st.ok()) continue;
      LOG_ERROR << "Failed to rotate log for container id=" << ids[i] << " err=" << st.message();
      std::lock_guard lock(mu);
      if (first.ok()) first = st;
    }
  };
  size_t workers = std::min<size_t>(static_cast<size_t>(options_.maxWorkers), ids.size());
  if (workers <= 1) {
    work();
  } else {
    std::vector<std::jthread> pool;
    for (size_t i = 0; i < workers; ++i) pool.emplace_back(work);
  }
  return first;
}

absl::StatusOr<std::string> ContainerLogManager::logPath(const std::string& id) {
  {
    std::lock_guard lock(pathsMu_);
    if (auto it = logPaths_.find(id); it != logPaths_.end()) return it->second;
  }
  auto resp = runtime_->containerStatus(id, false);
  if (!resp.ok()) return annotate(resp.status(), "failed to get container status for " + id);
  if (!resp->has_status()) return absl::UnknownError("container status is nil for " + id);
  std::lock_guard lock(pathsMu_);
  return logPaths_[id] = resp->status().log_path();
}

absl::Status ContainerLogManager::rotateContainer(const std::string& id) {
  ASSIGN_OR_RETURN(const std::string path, logPath(id));
  if (path.empty()) return absl::OkStatus();  // the runtime does not log this container to a file
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return errnoStatus("failed to stat container log " + path, errno);
    // A failed reopen after the rename may have lost the live log: ask for it again.
    RETURN_IF_ERROR(annotate(runtime_->reopenContainerLog(id), "container " + id + ": failed to reopen log " + path));
    if (stat(path.c_str(), &st) != 0) return errnoStatus("failed to stat reopened container log " + path, errno);
  }
  if (st.st_size < options_.maxSize) return absl::OkStatus();
  return rotateLog(id, path);
}

absl::Status ContainerLogManager::rotateLog(const std::string& id, const std::string& logPath) {
  ASSIGN_OR_RETURN(std::vector<std::string> logs, rotatedFiles(logPath));
  logs = keepInUse(logs);
  // Keep maxFiles-2 rotated files: the live log and the one about to be rotated make up the
  // rest. Oldest go first, so as not to pull a file from under a reader of recent lines.
  size_t keep = static_cast<size_t>(std::max(options_.maxFiles - 2, 0));
  size_t i = 0;
  for (; i + keep < logs.size(); ++i) {
    if (unlink(logs[i].c_str()) != 0 && errno != ENOENT) {
      return errnoStatus("failed to remove old log " + logs[i], errno);
    }
  }
  logs.erase(logs.begin(), logs.begin() + static_cast<std::ptrdiff_t>(i));
  for (const auto& f : logs) {
    if (endsWith(f, kCompressSuffix)) continue;
    RETURN_IF_ERROR(compressLogFile(f));
  }
  return rotateLatestLog(id, logPath);
}

absl::Status ContainerLogManager::rotateLatestLog(const std::string& id, const std::string& logPath) {
  std::string rotated = logPath + "." + timestampSuffix(options_.now());
  if (rename(logPath.c_str(), rotated.c_str()) != 0) {
    return errnoStatus("failed to rotate log " + logPath + " to " + rotated, errno);
  }
  auto st = runtime_->reopenContainerLog(id);
  if (!st.ok()) {
    // Put the log back so the next round can try again.
    if (rename(rotated.c_str(), logPath.c_str()) != 0) {
      LOG_ERROR << "Failed to rename rotated log back path=" << rotated << " to=" << logPath
                << " err=" << std::strerror(errno);
    }
    return annotate(st, "failed to reopen container log " + id);
  }
  return absl::OkStatus();
}

absl::Status ContainerLogManager::clean(const std::string& id) {
  auto resp = runtime_->containerStatus(id, false);
  if (!resp.ok()) return annotate(resp.status(), "failed to get container status for " + id);
  const std::string path = resp->status().log_path();
  if (path.empty()) return absl::OkStatus();
  auto logs = rotatedFiles(path, "");
  if (!logs.ok()) return absl::IsNotFound(logs.status()) ? absl::OkStatus() : logs.status();
  for (const auto& f : *logs) {
    if (unlink(f.c_str()) != 0 && errno != ENOENT) return errnoStatus("failed to remove container log " + f, errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ContainerLogManager::allLogs(const std::string& logPath) {
  ASSIGN_OR_RETURN(std::vector<std::string> logs, rotatedFiles(logPath));
  std::set<std::string> all(logs.begin(), logs.end());
  std::vector<std::string> out;
  for (const auto& f : logs)
    if (inUse(f, all)) out.push_back(f);
  struct stat st;
  if (stat(logPath.c_str(), &st) != 0) return errnoStatus("failed to stat log " + logPath, errno);
  out.push_back(logPath);
  return out;
}

}  // namespace cubelet::logs
