// Running a helper program to completion: argv, optional stdin text, captured stdout and
// stderr, exit status. For the few external tools cubelet and cubelet-cni drive
// (iptables-restore); no shell is involved, so nothing in argv is interpreted.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cubelet {

struct ProcessResult {
  int exitCode = -1;   // the exit status, or 128 + signal number when killed by a signal
  std::string out;     // stdout
  std::string err;     // stderr
};

// Starts argv[0] (looked up in PATH when it has no '/'), feeds it `input` on stdin, waits for
// it and returns what it printed. An error only when it could not be started at all; a
// non-zero exit is a ProcessResult for the caller to judge.
absl::StatusOr<ProcessResult> runProcess(const std::vector<std::string>& argv, const std::string& input = "");

// The first executable named `name` in the directories of $PATH, then in /usr/sbin, /sbin,
// /usr/bin, /bin (CNI plugins inherit the runtime's PATH, which may lack the sbin dirs).
// NotFound names the directories searched.
absl::StatusOr<std::string> findExecutable(const std::string& name);

}  // namespace cubelet
