#include "kubelet/runtime/termination_message.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <random>

#include "kubelet/logs/cri_log.h"

namespace cubelet::runtime {

absl::StatusOr<std::string> readTerminationMessageFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::string out(kMaxTerminationMessageBytes, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

std::string lastLogContent(std::string_view log, size_t maxLines, size_t maxBytes) {
  // Whole log entries (a run of partial lines ends with a full one), newest kept. Output that
  // ended without a newline (`echo -n DONE; exit 1`) is a last, partial entry: it counts, as
  // the log reader shows it.
  std::deque<std::string> entries;
  std::string pending;
  auto push = [&] {
    entries.push_back(std::move(pending));
    pending.clear();
    if (entries.size() > maxLines) entries.pop_front();
  };
  size_t pos = 0;
  while (pos < log.size()) {
    size_t end = log.find('\n', pos);
    std::string_view line = log.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos + 1);
    pos = end == std::string_view::npos ? log.size() : end + 1;
    auto parsed = logs::parseCriLogLine(line);
    if (!parsed.ok()) continue;
    pending.append(parsed->content);
    if (!parsed->partial) push();
  }
  if (!pending.empty()) push();
  std::string out;
  for (const auto& e : entries) out += e;
  if (out.size() > maxBytes) out.erase(0, out.size() - maxBytes);
  return out;
}

std::string readLastLogContent(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  // 80 lines of at most 16 KiB each (containerd splits longer ones) bound what is needed;
  // read a generous tail and drop the first, possibly cut, line.
  constexpr std::streamoff kTail = 256 * 1024;
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > kTail ? size - kTail : 0;
  in.seekg(start);
  std::string data(static_cast<size_t>(size - start), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  if (start > 0) {
    size_t nl = data.find('\n');
    data.erase(0, nl == std::string::npos ? data.size() : nl + 1);
  }
  return lastLogContent(data);
}

absl::StatusOr<std::string> createTerminationMessageFile(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError("creating " + dir + ": " + ec.message());
  std::random_device rd;
  for (int attempt = 0; attempt < 8; ++attempt) {
    char name[9];
    snprintf(name, sizeof name, "%08x", static_cast<unsigned>(rd()));
    std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return absl::InternalError("creating " + path + ": " + std::strerror(errno));
    }
    // Any user the container runs as may write it (the umask would narrow 0666).
    ::fchmod(fd, 0666);
    ::close(fd);
    return path;
  }
  return absl::InternalError("creating a termination message file in " + dir + ": names exhausted");
}

}  // namespace cubelet::runtime
