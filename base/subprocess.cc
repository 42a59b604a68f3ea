// runProcess: posix_spawn with three pipes, poll() to feed stdin and drain both outputs
// without deadlocking on a full pipe.
#include "base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/fd.h"

extern char** environ;

namespace cubelet {
namespace {

absl::Status errnoError(const std::string& what, int err) {
  return absl::InternalError(what + ": " + std::strerror(err));
}

bool isExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

absl::StatusOr<std::string> findExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (isExecutableFile(name)) return name;
    return absl::NotFoundError("no executable " + name);
  }
  std::string dirs;
  const char* path = std::getenv("PATH");
  std::string all = std::string(path ? path : "") + ":/usr/sbin:/sbin:/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= all.size()) {
    size_t colon = all.find(':', pos);
    std::string dir = all.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    pos = colon == std::string::npos ? all.size() + 1 : colon + 1;
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (isExecutableFile(candidate)) return candidate;
    dirs += (dirs.empty() ? "" : ":") + dir;
  }
  return absl::NotFoundError("no executable " + name + " in " + dirs);
}

absl::StatusOr<ProcessResult> runProcess(const std::vector<std::string>& argv, const std::string& input) {
  if (argv.empty()) return absl::InvalidArgumentError("runProcess: empty argv");
  absl::StatusOr<std::string> exe = findExecutable(argv[0]);
  if (!exe.ok()) return exe.status();
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return errnoError("pipe", errno);
  Fd inR(in[0]), inW(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return errnoError("pipe", errno);
  Fd outR(out[0]), outW(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return errnoError("pipe", errno);
  Fd errR(err[0]), errW(err[1]);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, inR.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, outW.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, errW.get(), 2);
  // The child starts with default signal dispositions and an empty mask (cubelet blocks
  // SIGTERM in every thread).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe->c_str(), &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errnoError("start " + *exe, rc);
  inR.reset();
  outW.reset();
  errW.reset();

  ProcessResult result;
  size_t written = 0;
  if (input.empty()) inW.reset();
  char buf[8192];
  while (outR.valid() || errR.valid()) {
    pollfd fds[3];
    int n = 0;
    if (inW.valid()) fds[n++] = {inW.get(), POLLOUT, 0};
    if (outR.valid()) fds[n++] = {outR.get(), POLLIN, 0};
    if (errR.valid()) fds[n++] = {errR.get(), POLLIN, 0};
    if (::poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (inW.valid() && fds[i].fd == inW.get()) {
        ssize_t w = ::write(inW.get(), input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EINTR && errno != EAGAIN) inW.reset();  // EPIPE: it stopped reading
        if (written == input.size()) inW.reset();
        continue;
      }
      Fd& src = outR.valid() && fds[i].fd == outR.get() ? outR : errR;
      ssize_t r = ::read(src.get(), buf, sizeof buf);
      if (r > 0) {
        (&src == &outR ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        src.reset();
      }
    }
  }
  inW.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errnoError("wait for " + *exe, errno);
  }
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace cubelet
