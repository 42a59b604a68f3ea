// Error plumbing shared by every library: errors are absl::Status values with context.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CUBELET_CONCAT_INNER(a, b) a##b
#define CUBELET_CONCAT(a, b) CUBELET_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::absl::Status _st = (expr);              \
    if (!_st.ok()) return _st;                \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, f());` — binds the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(CUBELET_CONCAT(_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

namespace cubelet {

// Prefixes an error with context ("reading /etc/foo: ...") keeping its code.
inline absl::Status annotate(const absl::Status& st, std::string_view context) {
  if (st.ok()) return st;
  return absl::Status(st.code(), std::string(context) + ": " + std::string(st.message()));
}

}  // namespace cubelet
