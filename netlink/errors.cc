#include "netlink/errors.h"

#include <cerrno>
#include <cstring>

namespace cubelet::netlink::internal {

absl::StatusCode codeForErrno(int err) {
  switch (err) {
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case ENOENT:
    case ENODEV:
    case ESRCH:
    case EADDRNOTAVAIL:
      return absl::StatusCode::kNotFound;
    case EOPNOTSUPP:
      return absl::StatusCode::kUnimplemented;
    case EINVAL:
    case ERANGE:
    case EAFNOSUPPORT:
    case EBADF:
      return absl::StatusCode::kInvalidArgument;
    case EPERM:
    case EACCES:
      return absl::StatusCode::kPermissionDenied;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EBUSY:
    case ENOTEMPTY:
      return absl::StatusCode::kFailedPrecondition;
    case ENOMEM:
    case ENOBUFS:
    case EAGAIN:
    case EMFILE:
    case ENFILE:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kUnknown;
  }
}

std::string errnoText(int err) {
  const char* name = strerrorname_np(err);
  return (name ? std::string(name) : "errno " + std::to_string(err)) + ": " + strerror(err);
}

absl::Status errnoStatus(int err, const std::string& what) {
  return absl::Status(codeForErrno(err), what + ": " + errnoText(err));
}

}  // namespace cubelet::netlink::internal
