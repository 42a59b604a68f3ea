#include "grpcwire/channel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

namespace cubelet::grpcwire {
namespace {

constexpr int32_t kStreamWindow = 4 * 1024 * 1024;
constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;

std::string errnoText(int err) { return std::strerror(err); }

// HTTP status -> gRPC code, for answers that are not gRPC at all (PROTOCOL-HTTP2.md).
absl::StatusCode codeForHttpStatus(int status) {
  switch (status) {
    case 400: return absl::StatusCode::kInternal;
    case 401: return absl::StatusCode::kUnauthenticated;
    case 403: return absl::StatusCode::kPermissionDenied;
    case 404: return absl::StatusCode::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504: return absl::StatusCode::kUnavailable;
    default: return absl::StatusCode::kUnknown;
  }
}

// RST_STREAM error code -> gRPC code, as gRPC clients map them.
absl::StatusCode codeForReset(uint32_t error) {
  switch (error) {
    case NGHTTP2_REFUSED_STREAM: return absl::StatusCode::kUnavailable;
    case NGHTTP2_CANCEL: return absl::StatusCode::kCancelled;
    case NGHTTP2_ENHANCE_YOUR_CALM: return absl::StatusCode::kResourceExhausted;
    case NGHTTP2_INADEQUATE_SECURITY: return absl::StatusCode::kPermissionDenied;
    default: return absl::StatusCode::kInternal;
  }
}

nghttp2_nv header(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

int pollTimeout(std::optional<Clock::time_point> deadline) {
  if (!deadline) return -1;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 60000 ? 60000 : static_cast<int>(left);
}

bool passed(std::optional<Clock::time_point> deadline) { return deadline && Clock::now() >= *deadline; }

}  // namespace

std::string percentDecode(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

std::string timeoutHeader(std::chrono::nanoseconds left) {
  if (left.count() < 1) left = std::chrono::nanoseconds(1);
  constexpr int64_t kMax = 99999999;  // 8 digits
  const int64_t ns = left.count();
  // The finest unit that fits, rounded up so the server never sees less time than is left.
  const std::array<std::pair<int64_t, char>, 6> units = {
      {{1, 'n'}, {1000, 'u'}, {1000000, 'm'}, {1000000000, 'S'}, {60000000000, 'M'}, {3600000000000, 'H'}}};
  for (const auto& [per, unit] : units) {
    const int64_t v = (ns + per - 1) / per;
    if (v <= kMax) return std::to_string(v) + unit;
  }
  return std::to_string(kMax) + "H";
}

struct Channel::Address {
  bool unix = false;
  std::string path;       // unix
  std::string host;       // tcp
  std::string port;       // tcp
  std::string authority;  // :authority
};

// One HTTP/2 connection, used by one call at a time.
class Connection {
 public:
  struct Stream {
    int32_t id = -1;
    std::string body;  // the request: 5-byte prefix + message
    size_t sent = 0;
    int httpStatus = 0;
    std::optional<int> grpcStatus;
    std::string grpcMessage;
    std::string contentType;
    std::string pending;  // received bytes not yet a whole message
    size_t maxMessage = 0;
    const std::function<absl::Status(std::string)>* onMessage = nullptr;
    absl::Status messageError;
    bool closed = false;
    uint32_t resetCode = 0;
    bool anyResponse = false;  // a frame of this stream arrived
  };

  static absl::StatusOr<std::unique_ptr<Connection>> open(const Channel::Address& a,
                                                          std::optional<Clock::time_point> deadline,
                                                          const std::string& target) {
    int fd = -1;
    if (a.unix) {
      fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return absl::UnavailableError("socket: " + errnoText(errno));
      sockaddr_un sa{};
      sa.sun_family = AF_UNIX;
      std::memcpy(sa.sun_path, a.path.data(), a.path.size());
      if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        int err = errno;
        ::close(fd);
        return absl::UnavailableError("connection error: dial unix " + a.path + ": connect: " + errnoText(err));
      }
    } else {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_NUMERICSERV;
      addrinfo* res = nullptr;
      int rc = ::getaddrinfo(a.host.c_str(), a.port.c_str(), &hints, &res);
      if (rc != 0) return absl::UnavailableError("connection error: resolving " + target + ": " + gai_strerror(rc));
      std::string lastError = "no address";
      for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
          lastError = errnoText(errno);
          continue;
        }
        int err = 0;
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
          err = errno;
          if (err == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            int n;
            do {
              n = ::poll(&p, 1, pollTimeout(deadline));
            } while (n < 0 && errno == EINTR);
            if (n == 0) {
              err = ETIMEDOUT;
            } else {
              socklen_t len = sizeof(err);
              ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            }
          }
        }
        if (err == 0) break;
        lastError = errnoText(err);
        ::close(fd);
        fd = -1;
      }
      ::freeaddrinfo(res);
      if (fd < 0) return absl::UnavailableError("connection error: dial tcp " + target + ": connect: " + lastError);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    auto conn = std::unique_ptr<Connection>(new Connection(fd));
    if (auto st = conn->start(); !st.ok()) return st;
    return conn;
  }

  ~Connection() {
    if (session_) nghttp2_session_del(session_);
    if (fd_ >= 0) ::close(fd_);
  }

  // Reads what arrived while idle (SETTINGS, PING, GOAWAY) without blocking; false when the
  // connection cannot carry another call.
  bool usable() {
    if (broken_ || goaway_) return false;
    if (!drain()) return false;
    return !broken_ && !goaway_ && nghttp2_session_want_read(session_);
  }

  // Runs one call on this connection. `retryable` is set when the call cannot have reached
  // the server. `wakeFds` end the wait when readable (cancellation).
  absl::Status exchange(Stream& s, const std::vector<nghttp2_nv>& headers, std::optional<Clock::time_point> deadline,
                        const std::vector<int>& wakeFds, const std::function<void()>& onStarted, bool& retryable) {
    retryable = false;
    stream_ = &s;
    nghttp2_data_provider provider{};
    provider.source.ptr = &s;
    provider.read_callback = &Connection::readBody;
    s.id = nghttp2_submit_request(session_, nullptr, headers.data(), headers.size(), &provider, &s);
    if (s.id < 0) {
      broken_ = true;
      retryable = true;
      return absl::UnavailableError(std::string("http2: ") + nghttp2_strerror(s.id));
    }
    bool started = false;
    while (!s.closed) {
      if (int rv = nghttp2_session_send(session_); rv != 0 || writeError_) {
        broken_ = true;
        retryable = !s.anyResponse;
        return absl::UnavailableError("connection error: write: " +
                                      (writeError_ ? errnoText(writeError_) : std::string(nghttp2_strerror(rv))));
      }
      if (!started && onStarted && s.sent >= s.body.size()) {
        started = true;
        onStarted();
      }
      if (s.closed) break;
      if (goaway_ && s.id > goawayLastStream_) {
        broken_ = true;
        retryable = true;
        return absl::UnavailableError("connection error: the server sent GOAWAY");
      }
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
        broken_ = true;
        return absl::UnavailableError("connection error: the connection was closed");
      }
      std::vector<pollfd> fds;
      fds.push_back({fd_, static_cast<short>(POLLIN | (nghttp2_session_want_write(session_) ? POLLOUT : 0)), 0});
      for (int w : wakeFds) fds.push_back({w, POLLIN, 0});
      int n = ::poll(fds.data(), fds.size(), pollTimeout(deadline));
      if (n < 0) {
        if (errno == EINTR) continue;
        broken_ = true;
        return absl::UnavailableError("poll: " + errnoText(errno));
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents) {
          abandon(s, NGHTTP2_CANCEL);
          return absl::CancelledError("the call was cancelled");
        }
      }
      if (n == 0) {
        if (passed(deadline)) {
          abandon(s, NGHTTP2_CANCEL);
          return absl::DeadlineExceededError("context deadline exceeded");
        }
        continue;
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!receive()) {
          broken_ = true;
          if (s.closed) break;
          retryable = !s.anyResponse && (goaway_ ? s.id > goawayLastStream_ : false);
          return absl::UnavailableError("connection error: " + readError_);
        }
      }
    }
    stream_ = nullptr;
    return absl::OkStatus();
  }

 private:
  explicit Connection(int fd) : fd_(fd) {}

  absl::Status start() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, &Connection::onSend);
    nghttp2_session_callbacks_set_on_header_callback(cb, &Connection::onHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Connection::onData);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Connection::onClose);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Connection::onFrame);
    int rv = nghttp2_session_client_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) return absl::InternalError(std::string("http2: ") + nghttp2_strerror(rv));
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                         {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
    if (nghttp2_session_send(session_) != 0 || writeError_) {
      return absl::UnavailableError("connection error: write: " + errnoText(writeError_));
    }
    return absl::OkStatus();
  }

  // Reads everything available now. False on EOF or error.
  bool drain() {
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      int n = ::poll(&p, 1, 0);
      if (n <= 0) return n == 0 || errno == EINTR;
      if (!receive()) {
        broken_ = true;
        return false;
      }
      if (nghttp2_session_send(session_) != 0 || writeError_) {
        broken_ = true;
        return false;
      }
    }
  }

  bool receive() {
    std::array<uint8_t, 65536> buf;
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      readError_ = "read: " + errnoText(errno);
      return false;
    }
    if (n == 0) {
      readError_ = "the connection was closed by the server";
      return false;
    }
    ssize_t used = nghttp2_session_mem_recv(session_, buf.data(), static_cast<size_t>(n));
    if (used < 0) {
      readError_ = std::string("http2: ") + nghttp2_strerror(static_cast<int>(used));
      return false;
    }
    return true;
  }

  void abandon(Stream& s, uint32_t code) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, code);
    nghttp2_session_send(session_);
    broken_ = true;  // half-read answers are not worth keeping the connection for
    stream_ = nullptr;
  }

  Stream* streamFor(int32_t id) { return stream_ && stream_->id == id ? stream_ : nullptr; }

  static ssize_t onSend(nghttp2_session*, const uint8_t* data, size_t length, int, void* user) {
    auto* c = static_cast<Connection*>(user);
    for (;;) {
      ssize_t n = ::send(c->fd_, data, length, MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return NGHTTP2_ERR_WOULDBLOCK;
      c->writeError_ = errno;
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  }

  static ssize_t readBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source* source, void*) {
    auto* s = static_cast<Stream*>(source->ptr);
    const size_t n = std::min(length, s->body.size() - s->sent);
    std::memcpy(buf, s->body.data() + s->sent, n);
    s->sent += n;
    if (s->sent == s->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                      const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto* c = static_cast<Connection*>(user);
    Stream* s = c->streamFor(frame->hd.stream_id);
    if (!s) return 0;
    s->anyResponse = true;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      s->httpStatus = std::atoi(std::string(v).c_str());
    } else if (n == "grpc-status") {
      s->grpcStatus = std::atoi(std::string(v).c_str());
    } else if (n == "grpc-message") {
      s->grpcMessage = percentDecode(v);
    } else if (n == "content-type") {
      s->contentType = std::string(v);
    }
    return 0;
  }

  static int onData(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
    auto* c = static_cast<Connection*>(user);
    Stream* s = c->streamFor(id);
    if (!s) return 0;
    s->anyResponse = true;
    if (!s->messageError.ok()) return 0;
    s->pending.append(reinterpret_cast<const char*>(data), len);
    size_t pos = 0;
    while (s->pending.size() - pos >= 5) {
      const auto* p = reinterpret_cast<const unsigned char*>(s->pending.data() + pos);
      const uint32_t size = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | uint32_t{p[4]};
      if (p[0] != 0) {
        s->messageError = absl::InternalError("grpc: compressed message received, but no compression was asked for");
      } else if (size > s->maxMessage) {
        s->messageError = absl::ResourceExhaustedError("grpc: received message larger than max (" +
                                                       std::to_string(size) + " vs. " + std::to_string(s->maxMessage) + ")");
      }
      if (!s->messageError.ok()) {
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        s->pending.clear();
        return 0;
      }
      if (s->pending.size() - pos - 5 < size) break;
      std::string message = s->pending.substr(pos + 5, size);
      pos += 5 + size;
      if (s->onMessage && *s->onMessage) {
        absl::Status st = (*s->onMessage)(std::move(message));
        if (!st.ok()) {
          s->messageError = st;
          nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
          s->pending.clear();
          return 0;
        }
      }
    }
    s->pending.erase(0, pos);
    return 0;
  }

  static int onClose(nghttp2_session*, int32_t id, uint32_t error, void* user) {
    auto* c = static_cast<Connection*>(user);
    if (Stream* s = c->streamFor(id)) {
      s->closed = true;
      s->resetCode = error;
    }
    return 0;
  }

  static int onFrame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* c = static_cast<Connection*>(user);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      c->goaway_ = true;
      c->goawayLastStream_ = frame->goaway.last_stream_id;
    } else if (frame->hd.type == NGHTTP2_RST_STREAM) {
      if (Stream* s = c->streamFor(frame->hd.stream_id)) s->anyResponse = frame->rst_stream.error_code != NGHTTP2_REFUSED_STREAM;
    }
    return 0;
  }

  int fd_;
  nghttp2_session* session_ = nullptr;
  Stream* stream_ = nullptr;  // the call running now
  bool broken_ = false;
  bool goaway_ = false;
  int32_t goawayLastStream_ = 0;
  int writeError_ = 0;
  std::string readError_;
};

absl::StatusOr<std::shared_ptr<Channel>> Channel::create(const std::string& target, ChannelOptions options) {
  auto a = std::make_unique<Address>();
  std::string_view t = target;
  if (t.rfind("unix://", 0) == 0) {
    t.remove_prefix(7);
  } else if (t.rfind("unix:", 0) == 0) {
    t.remove_prefix(5);
  } else if (!t.empty() && t[0] == '/') {
    // a bare path
  } else {
    t = {};
  }
  if (!t.empty() || target.rfind("unix:", 0) == 0) {
    if (t.empty() || t[0] != '/') return absl::InvalidArgumentError("\"" + target + "\": a unix socket needs an absolute path");
    if (t.size() >= sizeof(sockaddr_un::sun_path)) return absl::InvalidArgumentError("\"" + target + "\": socket path too long");
    a->unix = true;
    a->path = std::string(t);
    a->authority = "localhost";
  } else {
    const size_t colon = target.rfind(':');
    if (colon == std::string::npos || colon + 1 == target.size())
      return absl::InvalidArgumentError("\"" + target + "\": expected host:port");
    std::string host = target.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) return absl::InvalidArgumentError("\"" + target + "\": expected host:port");
    a->host = host;
    a->port = target.substr(colon + 1);
    a->authority = target;
  }
  return std::shared_ptr<Channel>(new Channel(target, std::move(a), std::move(options)));
}

Channel::Channel(std::string target, std::unique_ptr<Address> address, ChannelOptions options)
    : target_(std::move(target)), address_(std::move(address)), options_(std::move(options)) {
  cancelFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Channel::~Channel() {
  idle_.clear();
  if (cancelFd_ >= 0) ::close(cancelFd_);
}

void Channel::cancelAll() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return;
  cancelled_ = true;
  idle_.clear();
  uint64_t one = 1;
  if (cancelFd_ >= 0) (void)!::write(cancelFd_, &one, sizeof(one));
}

absl::StatusOr<std::unique_ptr<Connection>> Channel::take(std::optional<Clock::time_point> deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return absl::CancelledError("the channel is shutting down");
    while (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->usable()) return conn;
    }
  }
  return Connection::open(*address_, deadline, target_);
}

void Channel::giveBack(std::unique_ptr<Connection> conn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_ || idle_.size() >= options_.maxIdleConnections) return;
  idle_.push_back(std::move(conn));
}

absl::Status Channel::connect(Clock::time_point deadline) {
  for (;;) {
    auto conn = take(deadline);
    if (conn.ok()) {
      giveBack(std::move(*conn));
      return absl::OkStatus();
    }
    if (conn.status().code() != absl::StatusCode::kUnavailable || Clock::now() >= deadline) return conn.status();
    // The peer is not listening yet: try again shortly, as a blocking gRPC dial does.
    auto pause = std::min<Clock::duration>(std::chrono::milliseconds(200), deadline - Clock::now());
    pollfd p{cancelFd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(pause).count())) > 0)
      return absl::CancelledError("the channel is shutting down");
    if (Clock::now() >= deadline) return absl::DeadlineExceededError("context deadline exceeded");
  }
}

absl::Status Channel::run(std::string_view method, std::string_view request, std::optional<Clock::time_point> deadline,
                          int stopFd, const std::function<absl::Status(std::string)>& onMessage,
                          const std::function<void()>& onStarted) {
  std::vector<int> wake = {cancelFd_};
  if (stopFd >= 0) wake.push_back(stopFd);
  for (int attempt = 0;; ++attempt) {
    if (passed(deadline)) return absl::DeadlineExceededError("context deadline exceeded");
    auto conn = take(deadline);
    if (!conn.ok()) return conn.status();

    Connection::Stream s;
    s.maxMessage = options_.maxReceiveMessageSize;
    s.onMessage = &onMessage;
    s.body.reserve(5 + request.size());
    const uint32_t size = static_cast<uint32_t>(request.size());
    s.body.push_back('\0');
    s.body.push_back(static_cast<char>(size >> 24));
    s.body.push_back(static_cast<char>(size >> 16));
    s.body.push_back(static_cast<char>(size >> 8));
    s.body.push_back(static_cast<char>(size));
    s.body.append(request);

    std::string timeout;
    std::vector<nghttp2_nv> headers = {header(":method", "POST"),
                                       header(":scheme", "http"),
                                       header(":path", method),
                                       header(":authority", address_->authority),
                                       header("content-type", "application/grpc"),
                                       header("user-agent", options_.userAgent),
                                       header("te", "trailers")};
    if (deadline) {
      timeout = timeoutHeader(*deadline - Clock::now());
      headers.push_back(header("grpc-timeout", timeout));
    }
    bool retryable = false;
    absl::Status st = (*conn)->exchange(s, headers, deadline, wake, onStarted, retryable);
    if (!st.ok()) {
      if (retryable && attempt == 0 && st.code() == absl::StatusCode::kUnavailable) continue;
      return st;
    }
    const bool complete = s.messageError.ok() && s.resetCode == 0;
    if (complete) giveBack(std::move(*conn));
    if (!s.messageError.ok()) return s.messageError;
    if (s.resetCode != 0) {
      if (s.resetCode == NGHTTP2_REFUSED_STREAM && !s.anyResponse && attempt == 0) continue;
      return absl::Status(codeForReset(s.resetCode),
                          "stream terminated by RST_STREAM with error code: " + std::to_string(s.resetCode));
    }
    if (s.httpStatus != 200) {
      return absl::Status(codeForHttpStatus(s.httpStatus),
                          "unexpected HTTP status code received from server: " + std::to_string(s.httpStatus));
    }
    if (s.contentType.rfind("application/grpc", 0) != 0) {
      return absl::UnknownError("unexpected content-type \"" + s.contentType + "\" from the server");
    }
    if (!s.grpcStatus) return absl::InternalError("server closed the stream without sending trailers");
    if (*s.grpcStatus != 0) {
      const int code = *s.grpcStatus;
      return absl::Status(code > 0 && code <= 16 ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown,
                          s.grpcMessage);
    }
    if (!s.pending.empty()) return absl::InternalError("grpc: the stream ended inside a message");
    return absl::OkStatus();
  }
}

absl::StatusOr<std::string> Channel::call(std::string_view method, std::string_view request,
                                          std::optional<Clock::time_point> deadline) {
  std::optional<std::string> answer;
  std::function<absl::Status(std::string)> onMessage = [&](std::string m) {
    if (answer) {
      return absl::InternalError("grpc: the server sent more than one message for a unary call");
    }
    answer = std::move(m);
    return absl::OkStatus();
  };
  absl::Status st = run(method, request, deadline, -1, onMessage, nullptr);
  if (!st.ok()) return st;
  if (!answer) return absl::InternalError("grpc: the server sent no message for a unary call");
  return std::move(*answer);
}

absl::Status Channel::stream(std::string_view method, std::string_view request, std::stop_token stop,
                             const std::function<absl::Status(std::string)>& onMessage,
                             const std::function<void()>& onStarted) {
  if (stop.stop_requested()) return absl::OkStatus();
  int stopFd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stopFd < 0) return absl::InternalError("eventfd: " + errnoText(errno));
  absl::Status st;
  {
    std::stop_callback wake(stop, [stopFd] {
      uint64_t one = 1;
      (void)!::write(stopFd, &one, sizeof(one));
    });
    st = run(method, request, std::nullopt, stopFd, onMessage, onStarted);
  }
  ::close(stopFd);
  if (stop.stop_requested()) return absl::OkStatus();
  return st;
}

}  // namespace cubelet::grpcwire
