// Shared by the netlink/ sources only: one errno -> status-code table for the whole library,
// so namespace and netlink errors mean the same thing (the table is in nlroute.h's comment).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace cubelet::netlink::internal {

absl::StatusCode codeForErrno(int err);
// "EEXIST: File exists".
std::string errnoText(int err);
// `what`: errnoText(err), with codeForErrno(err).
absl::Status errnoStatus(int err, const std::string& what);

}  // namespace cubelet::netlink::internal
