#include "base/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>

namespace cubelet::log {
namespace {

std::atomic<int> g_verbosity{0};
std::atomic<Format> g_format{Format::kText};
std::mutex g_mu;

std::string_view baseName(const char* path) {
  std::string_view p(path);
  auto slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

}  // namespace

void setVerbosity(int v) { g_verbosity = v; }
int verbosity() { return g_verbosity; }
void setFormat(Format f) { g_format = f; }

void write(Severity sev, const char* file, int line, std::string_view msg) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto micros = duration_cast<microseconds>(now.time_since_epoch()).count() % 1000000;
  struct tm tm;
  gmtime_r(&secs, &tm);
  std::string out;
  if (g_format == Format::kJson) {
    nlohmann::json j;
    j["ts"] = duration_cast<microseconds>(now.time_since_epoch()).count() / 1e6;
    j["caller"] = std::string(baseName(file)) + ":" + std::to_string(line);
    j["msg"] = msg;
    if (sev != Severity::kInfo) j["err"] = sev == Severity::kWarning ? "warning" : "error";
    j["v"] = 0;
    out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else {
    static constexpr char kSev[] = {'I', 'W', 'E', 'F'};
    char head[64];
    snprintf(head, sizeof head, "%c%02d%02d %02d:%02d:%02d.%06lld %7ld ", kSev[static_cast<int>(sev)],
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             static_cast<long long>(micros), static_cast<long>(syscall(SYS_gettid)));
    out.append(head).append(baseName(file)).append(":").append(std::to_string(line)).append("] ");
    out.append(msg).append("\n");
  }
  std::lock_guard<std::mutex> lock(g_mu);
  fwrite(out.data(), 1, out.size(), stderr);
}

}  // namespace cubelet::log
