#include "kubelet/volume/host_path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>


namespace cubelet::volume {
namespace {

struct TypeInfo {
  std::string_view type;  // hostPath.type and getFileType's name
  std::string_view what;  // "is not a <what>"
  mode_t format;          // S_IFDIR ...
};

constexpr TypeInfo kTypes[] = {
    {"Directory", "directory", S_IFDIR},      {"File", "file", S_IFREG},
    {"Socket", "socket file", S_IFSOCK},      {"CharDevice", "character device", S_IFCHR},
    {"BlockDevice", "block device", S_IFBLK},
};

const TypeInfo* byType(std::string_view type) {
  for (const auto& t : kTypes)
    if (t.type == type) return &t;
  return nullptr;
}

const TypeInfo* byFormat(mode_t format) {
  for (const auto& t : kTypes)
    if (t.format == format) return &t;
  return nullptr;
}

absl::Status checkType(const std::string& path, const TypeInfo& want) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    const std::string why = errno == ENOENT ? "path \"" + path + "\" does not exist" : std::strerror(errno);
    return absl::Status(errno == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kFailedPrecondition,
                        "hostPath type check failed, " + path + " is not a " + std::string(want.what) +
                            ", unable to determine its type: " + why);
  }
  const mode_t format = st.st_mode & S_IFMT;
  if (format == want.format) return absl::OkStatus();
  const TypeInfo* got = byFormat(format);
  if (!got) {
    return absl::FailedPreconditionError("only recognise file, directory, socket, block device and character device");
  }
  return absl::FailedPreconditionError("hostPath type check failed: " + path + " is not a " + std::string(want.what) +
                                       ", it's a " + std::string(got->type));
}

bool exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

bool hasBacksteps(std::string_view path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

absl::Status checkHostPath(const std::string& path, const std::string& type) {
  if (hasBacksteps(path)) return absl::InvalidArgumentError("invalid HostPath `" + path + "`: must not contain '..'");
  if (type.empty()) return absl::OkStatus();
  if (type == "DirectoryOrCreate") {
    if (!exists(path)) {
      std::error_code ec;
      std::filesystem::create_directories(path, ec);
      if (ec) return absl::InternalError("mkdir " + path + ": " + ec.message());
    }
    return checkType(path, *byType("Directory"));
  }
  if (type == "FileOrCreate") {
    if (!exists(path)) {
      int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return absl::InternalError("open " + path + ": " + std::strerror(errno));
      close(fd);
    }
    return checkType(path, *byType("File"));
  }
  if (const TypeInfo* t = byType(type)) return checkType(path, *t);
  return absl::InvalidArgumentError(type + " is an invalid volume type");
}

}  // namespace cubelet::volume
