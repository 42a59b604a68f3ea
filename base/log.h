// klog-compatible logging: "I1126 13:53:46.123456    4242 file.cc:42] msg key=value"
// by default, JSON lines with setFormat(Format::kJson). Thread-safe.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace cubelet::log {

enum class Severity { kInfo, kWarning, kError, kFatal };
enum class Format { kText, kJson };

void setVerbosity(int v);
int verbosity();
void setFormat(Format f);

// Writes one record to stderr. `file` is reduced to its base name.
void write(Severity sev, const char* file, int line, std::string_view msg);

class Line {
 public:
  Line(Severity sev, const char* file, int line) : sev_(sev), file_(file), line_(line) {}
  ~Line() { write(sev_, file_, line_, os_.str()); }
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  template <typename T>
  Line& operator<<(const T& v) {
    os_ << v;
    return *this;
  }

 private:
  Severity sev_;
  const char* file_;
  int line_;
  std::ostringstream os_;
};

}  // namespace cubelet::log

#define LOG_INFO ::cubelet::log::Line(::cubelet::log::Severity::kInfo, __FILE__, __LINE__)
#define LOG_WARNING ::cubelet::log::Line(::cubelet::log::Severity::kWarning, __FILE__, __LINE__)
#define LOG_ERROR ::cubelet::log::Line(::cubelet::log::Severity::kError, __FILE__, __LINE__)
// Verbose info, only built into a string when -v is at least `n`.
#define VLOG(n) \
  if (::cubelet::log::verbosity() < (n)) {} else LOG_INFO
