#include "kubelet/logs/cri_log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "base/fd.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace cubelet::logs {
namespace {

using Clock = std::chrono::system_clock;
using nlohmann::json;

std::string errnoText(int err) { return std::strerror(err); }

absl::Status fileError(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " " + path + ": " + errnoText(err);
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

// A log file read line by line. Bytes after the last '\n' stay buffered, so that in follow
// mode an incomplete line is read again once the runtime has finished writing it.
class LogFile {
 public:
  LogFile(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  int fd() const { return fd_.get(); }

  // The next line with its '\n' (*complete = true), or at the end of the file the bytes of
  // an unfinished line, not consumed (*complete = false; empty when there are none).
  absl::Status next(std::string* line, bool* complete) {
    for (;;) {
      size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        line->assign(buf_, pos_, nl + 1 - pos_);
        pos_ = nl + 1;
        *complete = true;
        return absl::OkStatus();
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      char chunk[64 * 1024];
      ssize_t n = ::read(fd_.get(), chunk, sizeof chunk);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fileError("failed to read log file", path_, errno);
      }
      if (n == 0) {
        *line = buf_;
        *complete = false;
        return absl::OkStatus();
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  // Switches to a new file (after rotation); an unfinished line of the old one is dropped.
  void reset(Fd fd) {
    if (buf_.size() > pos_) {
      VLOG(2) << "Dropping an incomplete line at the end of a rotated log file path=" << path_
              << " bytes=" << buf_.size() - pos_;
    }
    fd_ = std::move(fd);
    buf_.clear();
    pos_ = 0;
  }

 private:
  Fd fd_;
  std::string path_;
  std::string buf_;
  size_t pos_ = 0;
};

// tail.FindTailLineStartIndex: the offset of the n-th '\n'-terminated line from the end
// (counting raw newlines; an unfinished last line is part of the tail).
absl::StatusOr<off_t> findTailStart(int fd, int64_t n, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return fileError("failed to stat log file", path, errno);
  constexpr off_t kBlock = 4096;
  off_t right = st.st_size;
  off_t left = right;
  int64_t count = 0;
  std::string block;
  while (right > 0 && count <= n) {
    left = std::max<off_t>(0, right - kBlock);
    block.resize(static_cast<size_t>(right - left));
    size_t got = 0;
    while (got < block.size()) {
      ssize_t r = pread(fd, block.data() + got, block.size() - got, left + static_cast<off_t>(got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return fileError("failed to read log file", path, errno);
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    block.resize(got);
    count += std::count(block.begin(), block.end(), '\n');
    right = left;
  }
  size_t skip = 0;
  for (; count > n; --count) skip = block.find('\n', skip) + 1;
  return left + static_cast<off_t>(skip);
}

// Wakes the follower when the log changes: inotify on the file (write, rename, unlink,
// attributes) and on its directory (a new file of that name); an eventfd for the stop token.
// Without inotify (limits reached) it degrades to the 1 s poll.
class Watcher {
 public:
  Watcher(const std::string& path, std::stop_token stop)
      : stopFd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        onStop_(stop, [this] {
          uint64_t one = 1;
          if (stopFd_.valid()) (void)!::write(stopFd_.get(), &one, sizeof one);
        }) {
    inotify_.reset(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!inotify_.valid()) {
      LOG_WARNING << "inotify unavailable for log follow, polling every second path=" << path
                  << " err=" << errnoText(errno);
      return;
    }
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    if (inotify_add_watch(inotify_.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO) < 0) {
      VLOG(2) << "Cannot watch log directory dir=" << dir << " err=" << errnoText(errno);
    }
    watchFile(path);
  }

  void watchFile(const std::string& path) {
    if (!inotify_.valid()) return;
    if (fileWd_ >= 0) inotify_rm_watch(inotify_.get(), fileWd_);
    fileWd_ = inotify_add_watch(inotify_.get(), path.c_str(), IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB);
  }

  // Returns after an event, a stop request or one second (logForceCheckPeriod).
  void wait() {
    pollfd fds[2];
    nfds_t n = 0;
    if (stopFd_.valid()) fds[n++] = {stopFd_.get(), POLLIN, 0};
    if (inotify_.valid()) fds[n++] = {inotify_.get(), POLLIN, 0};
    int r = ::poll(fds, n, 1000);
    if (r <= 0 || !inotify_.valid()) return;
    // Drain the queued events: the caller re-reads and re-checks the file anyway.
    alignas(inotify_event) char events[4096];
    while (::read(inotify_.get(), events, sizeof events) > 0) {
    }
  }

 private:
  Fd inotify_;
  Fd stopFd_;
  int fileWd_ = -1;
  std::stop_callback<std::function<void()>> onStop_;
};

// True when `path` no longer names the file open as `fd` (renamed away, removed or replaced).
bool replaced(const std::string& path, int fd) {
  struct stat open, named;
  if (fstat(fd, &open) != 0) return false;
  if (stat(path.c_str(), &named) != 0) return true;
  return open.st_ino != named.st_ino || open.st_dev != named.st_dev;
}

enum class WriteResult { kOk, kLimitReached, kClientGone };

// logWriter: since, timestamps, the byte limit and the stream filter.
class Writer {
 public:
  Writer(const LogOptions& opts, const std::function<bool(std::string_view)>& sink)
      : opts_(opts), sink_(sink), remain_(opts.limitBytes ? *opts.limitBytes : INT64_MAX) {}

  WriteResult write(const CriLogLine& msg, bool addPrefix) {
    if (opts_.since && msg.time < *opts_.since) return WriteResult::kOk;
    if ((opts_.stream == "Stdout" && msg.stream != LogStream::kStdout) ||
        (opts_.stream == "Stderr" && msg.stream != LogStream::kStderr)) {
      return WriteResult::kOk;
    }
    out_.clear();
    if (opts_.timestamps && addPrefix) {
      out_ = formatRfc3339NanoFixed(msg.time);
      out_ += ' ';
    }
    out_.append(msg.content);
    if (static_cast<int64_t>(out_.size()) > remain_) out_.resize(static_cast<size_t>(remain_));
    if (!out_.empty() && !sink_(out_)) return WriteResult::kClientGone;
    remain_ -= static_cast<int64_t>(out_.size());
    return remain_ <= 0 ? WriteResult::kLimitReached : WriteResult::kOk;
  }

 private:
  const LogOptions& opts_;
  const std::function<bool(std::string_view)>& sink_;
  int64_t remain_;
  std::string out_;
};

absl::StatusOr<Fd> openLog(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fileError("failed to open log file", path, errno);
  return Fd(fd);
}

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string strMember(const json* j, const char* key) {
  if (!j) return "";
  const json* v = member(*j, key);
  return v && v->is_string() ? v->get<std::string>() : "";
}

std::string quoted(const std::string& s) { return json(s).dump(); }

}  // namespace

absl::StatusOr<CriLogLine> parseCriLogLine(std::string_view line) {
  CriLogLine out;
  auto idx = line.find(' ');
  if (idx == std::string_view::npos) return absl::InvalidArgumentError("timestamp is not found");
  auto t = parseRfc3339(line.substr(0, idx));
  if (!t) {
    return absl::InvalidArgumentError("unexpected timestamp format \"2006-01-02T15:04:05.999999999Z07:00\": " +
                                      quoted(std::string(line.substr(0, idx))));
  }
  out.time = *t;
  line.remove_prefix(idx + 1);
  idx = line.find(' ');
  if (idx == std::string_view::npos) return absl::InvalidArgumentError("stream type is not found");
  std::string_view stream = line.substr(0, idx);
  if (stream == "stdout") {
    out.stream = LogStream::kStdout;
  } else if (stream == "stderr") {
    out.stream = LogStream::kStderr;
  } else {
    return absl::InvalidArgumentError("unexpected stream type " + quoted(std::string(stream)));
  }
  line.remove_prefix(idx + 1);
  idx = line.find(' ');
  if (idx == std::string_view::npos) return absl::InvalidArgumentError("log tag is not found");
  std::string_view tags = line.substr(0, idx);
  out.partial = tags.substr(0, tags.find(':')) == "P";
  out.content = line.substr(idx + 1);
  if (out.partial && !out.content.empty() && out.content.back() == '\n') out.content.remove_suffix(1);
  return out;
}

absl::Status readLogs(const std::string& path, const LogOptions& opts,
                      const std::function<bool(std::string_view)>& sink,
                      const std::function<bool()>& containerRunning, std::stop_token stop) {
  // filepath.EvalSymlinks, as upstream: follow the file the link names.
  std::string real = path;
  if (char* rp = realpath(path.c_str(), nullptr)) {
    real = rp;
    free(rp);
  }
  ASSIGN_OR_RETURN(Fd fd, openLog(real));
  if (opts.tailLines) {
    ASSIGN_OR_RETURN(off_t start, findTailStart(fd.get(), *opts.tailLines, real));
    if (lseek(fd.get(), start, SEEK_SET) < 0) return fileError("failed to seek in log file", real, errno);
  }
  LogFile file(std::move(fd), real);
  Writer writer(opts, sink);
  const bool limitedMode = opts.tailLines.has_value() && !opts.follow;
  int64_t limitedNum = opts.tailLines.value_or(0);
  bool running = true;        // upstream `found`
  bool lastLine = false;      // upstream `stop`
  bool pendingReopen = false; // the path names another file now; reopen it at the old one's end
  bool isNewLine = true;
  std::optional<Watcher> watcher;
  std::string line;
  for (;;) {
    if (lastLine || (limitedMode && limitedNum <= 0) || stop.stop_requested()) return absl::OkStatus();
    bool complete = false;
    RETURN_IF_ERROR(file.next(&line, &complete));
    if (!complete) {
      if (opts.follow) {
        if (!running) return absl::OkStatus();
        if (pendingReopen) {
          auto nf = openLog(real);
          if (nf.ok()) {
            VLOG(2) << "Log file was rotated, following the new one path=" << real;
            file.reset(std::move(*nf));
            if (watcher) watcher->watchFile(real);
            pendingReopen = false;
            continue;
          }
          if (!absl::IsNotFound(nf.status())) return nf.status();
          // Not created yet: wait below and retry.
        }
        if (!watcher) {
          watcher.emplace(real, stop);
          continue;  // re-read: a write may have come before the watch
        }
        if (containerRunning && !containerRunning()) {
          running = false;  // read what is left, then return at the end of the file
          continue;
        }
        watcher->wait();
        if (!pendingReopen && replaced(real, file.fd())) pendingReopen = true;
        continue;
      }
      lastLine = true;
      if (line.empty()) continue;
      VLOG(2) << "Incomplete line in log file path=" << real << " line=" << line;
    }
    auto msg = parseCriLogLine(line);
    if (!msg.ok()) {
      VLOG(2) << "Failed when parsing line in log file path=" << real << " err=" << msg.status().message()
              << " line=" << line;
      continue;
    }
    switch (writer.write(*msg, isNewLine)) {
      case WriteResult::kOk:
        break;
      case WriteResult::kLimitReached:
        VLOG(2) << "Finished parsing log file, hit bytes limit path=" << real;
        return absl::OkStatus();
      case WriteResult::kClientGone:
        return absl::OkStatus();
    }
    if (limitedMode) --limitedNum;
    isNewLine = msg->content.empty() || msg->content.back() == '\n';
  }
}

absl::StatusOr<std::string> resolveLogContainerId(const json& podStatus, const std::string& podName,
                                                  const std::string& container, bool previous) {
  const json* status = &podStatus;
  if (const json* s = member(podStatus, "status"); s && !member(podStatus, "containerStatuses")) status = s;
  const json* cs = nullptr;
  for (const char* list : {"containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"}) {
    const json* arr = member(*status, list);
    if (!arr || !arr->is_array()) continue;
    for (const auto& e : *arr) {
      if (strMember(&e, "name") == container) {
        cs = &e;
        break;
      }
    }
    if (cs) break;
  }
  auto fail = [&](const std::string& what) {
    return absl::FailedPreconditionError("container " + quoted(container) + " in pod " + quoted(podName) + " " + what);
  };
  if (!cs) return fail("is not available");
  const json* state = member(*cs, "state");
  const json* lastState = member(*cs, "lastState");
  const json* waiting = state ? member(*state, "waiting") : nullptr;
  const json* runningState = state ? member(*state, "running") : nullptr;
  const json* terminated = state ? member(*state, "terminated") : nullptr;
  const json* lastTerminated = lastState ? member(*lastState, "terminated") : nullptr;

  std::string id;
  if (previous) {
    id = strMember(lastTerminated, "containerID");
    if (id.empty()) {
      return absl::FailedPreconditionError("previous terminated container " + quoted(container) + " in pod " +
                                           quoted(podName) + " not found");
    }
  } else if (runningState) {
    id = strMember(cs, "containerID");
  } else if (terminated) {
    // The next container may not have started: its terminated state has no id, use the last one.
    id = strMember(terminated, "containerID");
    if (id.empty()) id = strMember(lastTerminated, "containerID");
    if (id.empty()) return fail("is terminated");
  } else if (lastTerminated) {
    id = strMember(lastTerminated, "containerID");
    if (id.empty()) return fail("is terminated");
  } else if (waiting) {
    std::string reason = strMember(waiting, "reason");
    if (reason == "ErrImagePull") return fail("is waiting to start: image can't be pulled");
    if (reason == "ImagePullBackOff") return fail("is waiting to start: trying and failing to pull image");
    return fail("is waiting to start: " + reason);
  } else {
    return fail("is waiting to start - no logs yet");
  }
  // kubecontainer.ParseContainerID: "<type>://<id>".
  if (auto sep = id.find("://"); sep != std::string::npos) id = id.substr(sep + 3);
  if (id.empty()) return fail("is not available");
  return id;
}

}  // namespace cubelet::logs
