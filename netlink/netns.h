// Network namespaces: handles on them, named ones under /run/netns (as `ip netns` makes),
// and running a function inside one without moving the caller's thread. Knows nothing about
// Kubernetes.
//
// Why a thread per call: setns(CLONE_NEWNET) moves only the calling thread, and a thread that
// has been moved must never run anything else afterwards (later work on it, and threads it
// starts, would silently live in the other namespace; a failed switch back would poison it).
// So runInNetns starts a fresh thread, moves it, runs the function, and lets it exit. The
// same rule as the CNI project's ns package (containernetworking/plugins pkg/ns, README of
// containernetworking/cni pkg/ns). Costs tens of microseconds.
//
// Thread-safety: the functions are thread-safe; a Netns or NamedNetns object is not shared
// between threads without a lock (it is a plain value holding an fd or a path).
#pragma once

#include <sys/types.h>

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/fd.h"

namespace cubelet::netlink {

// Where `ip netns add NAME` puts the namespace: a bind mount at /run/netns/NAME.
inline constexpr std::string_view kNetnsDir = "/run/netns";

// An open network namespace (an nsfs fd), e.g. from /run/netns/NAME or /proc/PID/ns/net.
// Holding it keeps the namespace alive.
class Netns {
 public:
  // Opens `path` and checks that it is a network namespace. NotFound when the path does not
  // exist, InvalidArgument when it is not a network namespace.
  static absl::StatusOr<Netns> open(const std::string& path);
  // The calling thread's own namespace (/proc/thread-self/ns/net, not /proc/self, which is
  // the main thread's).
  static absl::StatusOr<Netns> current();

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  // Identity: two handles on one namespace have the same inode (nsfs has one device).
  ino_t inode() const { return inode_; }

 private:
  Netns(Fd fd, std::string path, ino_t inode) : fd_(std::move(fd)), path_(std::move(path)), inode_(inode) {}
  Fd fd_;
  std::string path_;
  ino_t inode_ = 0;
};

// A network namespace kept alive by a bind mount at <dir>/<name>, made and removed the way
// `ip netns add/delete` do it (so `ip netns`, `nsenter --net=PATH` and CNI runtimes see it).
// The destructor removes it; the namespace itself goes away once nothing else (an open
// Netns, a process, a socket) holds it. Move-only.
class NamedNetns {
 public:
  // AlreadyExists when <dir>/<name> exists. `name` is a single path component.
  static absl::StatusOr<NamedNetns> create(std::string_view name, std::string_view dir = kNetnsDir);
  // Unmounts and unlinks <dir>/<name> if it exists (for a namespace some other process or an
  // earlier crash left behind). NotFound is never returned: nothing there is success.
  static absl::Status remove(std::string_view name, std::string_view dir = kNetnsDir);

  NamedNetns(NamedNetns&& o) noexcept : name_(std::move(o.name_)), path_(std::exchange(o.path_, {})) {}
  NamedNetns& operator=(NamedNetns&& o) noexcept;
  NamedNetns(const NamedNetns&) = delete;
  NamedNetns& operator=(const NamedNetns&) = delete;
  ~NamedNetns();

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  absl::StatusOr<Netns> open() const { return Netns::open(path_); }
  // Removes it now, reporting errors (the destructor only logs them). Idempotent.
  absl::Status remove();

 private:
  NamedNetns(std::string name, std::string path) : name_(std::move(name)), path_(std::move(path)) {}
  std::string name_;
  std::string path_;  // "" once removed or moved from
};

namespace detail {

// Runs `body` on a new thread that first joins the network namespace `nsFd` (`label` names
// it in errors), then exits. Returns the error of starting the thread or of setns (body is
// not run then). An exception thrown by body is rethrown on the caller's thread.
absl::Status runOnNetnsThread(int nsFd, std::string_view label, absl::FunctionRef<void()> body);

// What runInNetns returns for a function returning R: Status for void and Status,
// StatusOr<T> for StatusOr<T> (not nested), else StatusOr<R>.
template <typename R>
struct InNetnsResult {
  using type = absl::StatusOr<R>;
};
template <typename T>
struct InNetnsResult<absl::StatusOr<T>> {
  using type = absl::StatusOr<T>;
};
template <>
struct InNetnsResult<absl::Status> {
  using type = absl::Status;
};
template <>
struct InNetnsResult<void> {
  using type = absl::Status;
};

template <typename F>
using InNetnsResultOf = typename InNetnsResult<std::invoke_result_t<F&>>::type;

template <typename F>
InNetnsResultOf<F> runInNetns(int nsFd, std::string_view label, F& fn) {
  using R = std::invoke_result_t<F&>;
  static_assert(!std::is_reference_v<R>, "runInNetns: return a value, not a reference into the thread");
  if constexpr (std::is_void_v<R>) {
    return runOnNetnsThread(nsFd, label, [&] { fn(); });
  } else {
    std::optional<R> out;
    absl::Status st = runOnNetnsThread(nsFd, label, [&] { out.emplace(fn()); });
    if (!st.ok()) return st;
    return std::move(*out);
  }
}

}  // namespace detail

// Runs fn() inside a network namespace on a dedicated thread and returns its result (see
// InNetnsResult), or the error of entering the namespace. The caller's thread never changes
// namespace. Sockets fn creates stay in that namespace whichever thread uses them later, so
// fn may return them (Socket::openIn does just that). Threads fn starts inherit the
// namespace. Needs CAP_SYS_ADMIN. The namespace is given by an open fd, a Netns, or a path
// (/run/netns/NAME, /proc/PID/ns/net; opened on the caller's thread).
template <typename F>
detail::InNetnsResultOf<F> runInNetns(int nsFd, F&& fn) {
  return detail::runInNetns(nsFd, "fd " + std::to_string(nsFd), fn);
}

template <typename F>
detail::InNetnsResultOf<F> runInNetns(const Netns& ns, F&& fn) {
  return detail::runInNetns(ns.fd(), ns.path(), fn);
}

template <typename F>
detail::InNetnsResultOf<F> runInNetns(const std::string& path, F&& fn) {
  absl::StatusOr<Netns> ns = Netns::open(path);
  if (!ns.ok()) return ns.status();
  return detail::runInNetns(ns->fd(), path, fn);
}

}  // namespace cubelet::netlink
