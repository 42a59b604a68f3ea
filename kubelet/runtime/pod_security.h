// Internal to pod_config: Linux security contexts of sandboxes and containers
// (kuberuntime security_context.go, pkg/securitycontext, the seccomp/AppArmor helpers,
// verifyRunAsNonRoot and the namespace modes of kuberuntime/util).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kubelet/runtime/pod_config.h"
#include "kubelet/runtime/pod_spec.h"

namespace cubelet::runtime::podsec {

// DetermineEffectiveSecurityContext: the pod's SELinux options, runAsUser, runAsGroup and
// runAsNonRoot, overridden field by field by the container's security context.
podspec::SecurityContext effectiveSecurityContext(const podspec::Pod& pod, const podspec::Container& container);

// The image user the way getImageUser reports it: the uid when known, else the username,
// else uid 0 (an image without a user runs as root).
struct ImageUser {
  std::optional<int64_t> uid;
  std::string username;
};
ImageUser imageUser(std::optional<int64_t> uid, std::string_view username);

// verifyRunAsNonRoot with the image user as imageUser() returns it.
absl::Status verifyRunAsNonRoot(const podspec::Pod& pod, const podspec::Container& container, const ImageUser& user);

// Namespace modes: network/IPC NODE with hostNetwork/hostIPC, else POD; PID NODE with
// hostPID, POD with shareProcessNamespace, else CONTAINER; the user namespace NODE unless
// hostUsers is false, which needs `userNamespace`.
absl::StatusOr<::runtime::v1::NamespaceOption> namespacesForPod(
    const podspec::Pod& pod, const std::optional<::runtime::v1::UserNamespace>& userNamespace);

// Any init, regular or ephemeral container asks for privileged.
bool hasPrivilegedContainer(const podspec::Pod& pod);

absl::StatusOr<::runtime::v1::LinuxSandboxSecurityContext> sandboxSecurityContext(const podspec::Pod& pod,
                                                                                  const SandboxOptions& options);

absl::StatusOr<::runtime::v1::LinuxContainerSecurityContext> containerSecurityContext(
    const podspec::Pod& pod, const podspec::Container& container, const NodeSettings& node,
    const ContainerOptions& options);

// Go's path/filepath.Join(root, rel): joined and cleaned ("a/../b" -> "b").
std::string joinPath(std::string_view root, std::string_view rel);

}  // namespace cubelet::runtime::podsec
