// createManager(): picks the backend for a driver and the mode found at a root.
#include "base/status_macros.h"
#include "cgroups/backends.h"
#include "cgroups/cgroups.h"

namespace cubelet::cgroups {

absl::StatusOr<ManagerPtr> createManager(const Options& options) {
  if (options.driver == Driver::kSystemd) {
    return absl::UnimplementedError(
        "the systemd cgroup driver is not implemented yet; set cgroupDriver: cgroupfs (--cgroup-driver=cgroupfs)");
  }
  std::string root = options.root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  internal::Files files(options.plainDirectories);
  ASSIGN_OR_RETURN(bool rootIsDir, files.isDirectory(root));
  if (!rootIsDir) return absl::NotFoundError("cgroup root " + root + " is not a directory");

  Mode mode;
  if (options.mode) {
    mode = *options.mode;
  } else {
    ASSIGN_OR_RETURN(mode, detectMode(root));
  }

  if (mode == Mode::kV2) {
    ASSIGN_OR_RETURN(Layout layout, layoutFromMounts(mode, root, {}));
    const std::string path = internal::joinPath(root, "cgroup.controllers");
    ASSIGN_OR_RETURN(std::string text, files.readKernelFile(path));
    return internal::makeV2Manager(std::move(layout), files, internal::splitWords(text));
  }

  std::string mountinfo;
  if (options.mountinfo) {
    mountinfo = *options.mountinfo;
  } else {
    ASSIGN_OR_RETURN(mountinfo, files.read("/proc/self/mountinfo"));
  }
  ASSIGN_OR_RETURN(auto mounts, parseMountInfo(mountinfo));
  ASSIGN_OR_RETURN(Layout layout, layoutFromMounts(mode, root, mounts));
  ManagerPtr manager = internal::makeV1Manager(std::move(layout), files);
  if (manager->controllers().empty()) {
    return absl::FailedPreconditionError("none of the cgroup v1 controllers this manager uses (cpu, cpuacct, cpuset, "
                                         "memory, pids, hugetlb, blkio, freezer) is mounted under " +
                                         root);
  }
  return manager;
}

}  // namespace cubelet::cgroups
