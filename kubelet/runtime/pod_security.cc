#include "kubelet/runtime/pod_security.h"

#include <limits>
#include <vector>

#include "base/status_macros.h"
#include "kubelet/runtime/pod_gojson.h"
#include "kubelet/runtime/pod_strings.h"

namespace cubelet::runtime::podsec {
namespace {

using podspec::Container;
using podspec::Pod;
using ::runtime::v1::SecurityProfile;

// These must match moby's defaults (oci/defaults.go), as the kubelet's do.
constexpr std::string_view kDefaultMaskedPaths[] = {
    "/proc/asound",     "/proc/acpi",        "/proc/interrupts", "/proc/kcore",
    "/proc/keys",       "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi",       "/sys/firmware",    "/sys/devices/virtual/powercap",
};
constexpr std::string_view kDefaultReadonlyPaths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

SecurityProfile profile(SecurityProfile::ProfileType type, std::string ref = "") {
  SecurityProfile p;
  p.set_profile_type(type);
  p.set_localhost_ref(std::move(ref));
  return p;
}

// fieldSeccompProfile for a profile that is set.
absl::StatusOr<SecurityProfile> seccompFromField(const podspec::ProfileRef& p, const std::string& root) {
  if (p.type == "RuntimeDefault") return profile(SecurityProfile::RuntimeDefault);
  if (p.type == "Localhost") {
    if (!p.localhostProfile || p.localhostProfile->empty()) {
      return absl::InvalidArgumentError("localhostProfile must be set if seccompProfile type is Localhost.");
    }
    return profile(SecurityProfile::Localhost, joinPath(root, *p.localhostProfile));
  }
  return profile(SecurityProfile::Unconfined);
}

// getSeccompProfile: the container's profile, else the pod's, else RuntimeDefault with
// seccompDefault and Unconfined without.
absl::StatusOr<SecurityProfile> seccompProfile(const Pod& pod, const Container& c, const NodeSettings& node) {
  if (c.securityContext && c.securityContext->seccompProfile) {
    return seccompFromField(*c.securityContext->seccompProfile, node.seccompProfileRoot);
  }
  if (pod.securityContext.seccompProfile) {
    return seccompFromField(*pod.securityContext.seccompProfile, node.seccompProfileRoot);
  }
  return profile(node.seccompDefault ? SecurityProfile::RuntimeDefault : SecurityProfile::Unconfined);
}

// apparmor.GetProfile: the container's field, else the deprecated per-container pod
// annotation (static pods may carry only that), else the pod's field.
std::optional<podspec::ProfileRef> appArmorProfile(const Pod& pod, const Container& c) {
  if (c.securityContext && c.securityContext->appArmorProfile) return c.securityContext->appArmorProfile;
  auto it = pod.annotations.find("container.apparmor.security.beta.kubernetes.io/" + c.name);
  if (it != pod.annotations.end()) {
    const std::string& v = it->second;
    if (v == "runtime/default") return podspec::ProfileRef{"RuntimeDefault", std::nullopt};
    if (v == "unconfined") return podspec::ProfileRef{"Unconfined", std::nullopt};
    if (v.starts_with("localhost/")) return podspec::ProfileRef{"Localhost", v.substr(10)};
  }
  return pod.securityContext.appArmorProfile;
}

absl::Status setSupplementalGroupsPolicy(const std::optional<std::string>& policy,
                                         ::runtime::v1::SupplementalGroupsPolicy& out) {
  if (!policy) return absl::OkStatus();
  if (!::runtime::v1::SupplementalGroupsPolicy_Parse(*policy, &out)) {
    return absl::InvalidArgumentError(podstr::cat("unsupported supplementalGroupsPolicy: ", *policy));
  }
  return absl::OkStatus();
}

void setSeLinux(const podspec::SeLinuxOptions& in, ::runtime::v1::SELinuxOption* out) {
  out->set_user(in.user);
  out->set_role(in.role);
  out->set_type(in.type);
  out->set_level(in.level);
}

}  // namespace

std::string joinPath(std::string_view root, std::string_view rel) {
  std::string joined;
  if (!root.empty() && !rel.empty()) {
    joined = podstr::cat(root, "/", rel);
  } else {
    joined = podstr::cat(root, rel);
  }
  if (joined.empty()) return "";
  const bool rooted = joined.front() == '/';
  std::vector<std::string_view> out;
  for (std::string_view seg : podstr::split(joined, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (!rooted) {
        out.push_back(seg);
      }
      continue;
    }
    out.push_back(seg);
  }
  std::string cleaned = podstr::join(out, "/");
  if (rooted) return "/" + cleaned;
  return cleaned.empty() ? "." : cleaned;
}

podspec::SecurityContext effectiveSecurityContext(const Pod& pod, const Container& container) {
  podspec::SecurityContext eff;
  const podspec::PodSecurityContext& p = pod.securityContext;
  eff.seLinuxOptions = p.seLinuxOptions;
  eff.runAsUser = p.runAsUser;
  eff.runAsGroup = p.runAsGroup;
  eff.runAsNonRoot = p.runAsNonRoot;
  if (!container.securityContext) return eff;
  const podspec::SecurityContext& c = *container.securityContext;
  if (c.seLinuxOptions) eff.seLinuxOptions = c.seLinuxOptions;
  if (c.capabilities) eff.capabilities = c.capabilities;
  if (c.privileged) eff.privileged = c.privileged;
  if (c.runAsUser) eff.runAsUser = c.runAsUser;
  if (c.runAsGroup) eff.runAsGroup = c.runAsGroup;
  if (c.runAsNonRoot) eff.runAsNonRoot = c.runAsNonRoot;
  if (c.readOnlyRootFilesystem) eff.readOnlyRootFilesystem = c.readOnlyRootFilesystem;
  if (c.allowPrivilegeEscalation) eff.allowPrivilegeEscalation = c.allowPrivilegeEscalation;
  if (c.procMount) eff.procMount = c.procMount;
  return eff;
}

ImageUser imageUser(std::optional<int64_t> uid, std::string_view username) {
  if (uid) return {uid, ""};
  if (!username.empty()) return {std::nullopt, std::string(username)};
  return {0, ""};
}

absl::Status verifyRunAsNonRoot(const Pod& pod, const Container& container, const ImageUser& user) {
  const podspec::SecurityContext eff = effectiveSecurityContext(pod, container);
  if (!eff.runAsNonRoot || !*eff.runAsNonRoot) return absl::OkStatus();
  const std::string where =
      podstr::cat("(pod: ", gojson::quote(podspec::podDescription(pod)), ", container: ", container.name, ")");
  if (eff.runAsUser) {
    if (*eff.runAsUser == 0) {
      return absl::FailedPreconditionError(podstr::cat("container's runAsUser breaks non-root policy ", where));
    }
    return absl::OkStatus();
  }
  if (!user.uid) {
    if (user.username.empty()) return absl::OkStatus();
    return absl::FailedPreconditionError(podstr::cat("container has runAsNonRoot and image has non-numeric user (",
                                                      user.username, "), cannot verify user is non-root ", where));
  }
  if (*user.uid == 0) {
    return absl::FailedPreconditionError(podstr::cat("container has runAsNonRoot and image will run as root ", where));
  }
  constexpr int64_t kMaxUid = std::numeric_limits<int32_t>::max();
  if (*user.uid < 0 || *user.uid > kMaxUid) {
    return absl::FailedPreconditionError(podstr::cat("container has runAsNonRoot and image has an invalid user id (",
                                                      *user.uid, "). (Must be 1-(", kMaxUid, ")): must be between 0 and ",
                                                      kMaxUid, ", inclusive ", where));
  }
  return absl::OkStatus();
}

absl::StatusOr<::runtime::v1::NamespaceOption> namespacesForPod(
    const Pod& pod, const std::optional<::runtime::v1::UserNamespace>& userNamespace) {
  using ::runtime::v1::NamespaceMode;
  ::runtime::v1::NamespaceOption ns;
  ns.set_ipc(pod.hostIpc ? NamespaceMode::NODE : NamespaceMode::POD);
  ns.set_network(pod.hostNetwork ? NamespaceMode::NODE : NamespaceMode::POD);
  if (pod.hostPid) {
    ns.set_pid(NamespaceMode::NODE);
  } else if (pod.shareProcessNamespace.value_or(false)) {
    ns.set_pid(NamespaceMode::POD);
  } else {
    ns.set_pid(NamespaceMode::CONTAINER);
  }
  if (pod.hostUsers.value_or(true)) {
    ns.mutable_userns_options()->set_mode(NamespaceMode::NODE);
  } else if (userNamespace) {
    *ns.mutable_userns_options() = *userNamespace;
  } else {
    return absl::FailedPreconditionError(
        "can't set `spec.hostUsers: false`, runtime does not support user namespaces");
  }
  return ns;
}

bool hasPrivilegedContainer(const Pod& pod) {
  for (const auto* list : {&pod.initContainers, &pod.containers, &pod.ephemeralContainers}) {
    for (const Container& c : *list) {
      if (c.securityContext && c.securityContext->privileged.value_or(false)) return true;
    }
  }
  return false;
}

absl::StatusOr<::runtime::v1::LinuxSandboxSecurityContext> sandboxSecurityContext(const Pod& pod,
                                                                                  const SandboxOptions& options) {
  ::runtime::v1::LinuxSandboxSecurityContext sc;
  sc.set_privileged(hasPrivilegedContainer(pod));
  // The sandbox always runs under the runtime's default seccomp profile, so pods may use
  // least-privileged profiles (kubernetes/kubernetes#84623).
  *sc.mutable_seccomp() = profile(SecurityProfile::RuntimeDefault);
  const podspec::PodSecurityContext& p = pod.securityContext;
  if (p.runAsUser) sc.mutable_run_as_user()->set_value(*p.runAsUser);
  if (p.runAsGroup) sc.mutable_run_as_group()->set_value(*p.runAsGroup);
  ASSIGN_OR_RETURN(*sc.mutable_namespace_options(), namespacesForPod(pod, options.userNamespace));
  if (p.fsGroup) sc.add_supplemental_groups(*p.fsGroup);
  for (int64_t g : options.extraSupplementalGroups) sc.add_supplemental_groups(g);
  for (int64_t g : p.supplementalGroups) sc.add_supplemental_groups(g);
  ::runtime::v1::SupplementalGroupsPolicy policy = ::runtime::v1::Merge;
  RETURN_IF_ERROR(setSupplementalGroupsPolicy(p.supplementalGroupsPolicy, policy));
  sc.set_supplemental_groups_policy(policy);
  if (p.seLinuxOptions) setSeLinux(*p.seLinuxOptions, sc.mutable_selinux_options());
  return sc;
}

absl::StatusOr<::runtime::v1::LinuxContainerSecurityContext> containerSecurityContext(
    const Pod& pod, const Container& container, const NodeSettings& node, const ContainerOptions& options) {
  const podspec::SecurityContext eff = effectiveSecurityContext(pod, container);
  ::runtime::v1::LinuxContainerSecurityContext sc;
  if (eff.capabilities) {
    // Names go to the runtime as written in the pod ("NET_ADMIN"); runtimes add "CAP_".
    for (const std::string& cap : eff.capabilities->add) sc.mutable_capabilities()->add_add_capabilities(cap);
    for (const std::string& cap : eff.capabilities->drop) sc.mutable_capabilities()->add_drop_capabilities(cap);
  }
  if (eff.seLinuxOptions) setSeLinux(*eff.seLinuxOptions, sc.mutable_selinux_options());
  if (eff.runAsUser) sc.mutable_run_as_user()->set_value(*eff.runAsUser);
  if (eff.runAsGroup) sc.mutable_run_as_group()->set_value(*eff.runAsGroup);
  sc.set_privileged(eff.privileged.value_or(false));
  sc.set_readonly_rootfs(eff.readOnlyRootFilesystem.value_or(false));

  ASSIGN_OR_RETURN(*sc.mutable_seccomp(), seccompProfile(pod, container, node));

  // apparmor_profile is deprecated in the CRI but still the only field runtimes before
  // containerd 1.7 read, so upstream sets both.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  if (auto aa = appArmorProfile(pod, container)) {
    if (aa->type == "RuntimeDefault") {
      *sc.mutable_apparmor() = profile(SecurityProfile::RuntimeDefault);
      sc.set_apparmor_profile("runtime/default");
    } else if (aa->type == "Unconfined") {
      *sc.mutable_apparmor() = profile(SecurityProfile::Unconfined);
      sc.set_apparmor_profile("unconfined");
    } else if (aa->type == "Localhost") {
      if (!aa->localhostProfile) return absl::InvalidArgumentError("missing localhost apparmor profile name");
      *sc.mutable_apparmor() = profile(SecurityProfile::Localhost, *aa->localhostProfile);
      sc.set_apparmor_profile("localhost/" + *aa->localhostProfile);
    } else {
      return absl::InvalidArgumentError(podstr::cat("unknown apparmor profile type: ", gojson::quote(aa->type)));
    }
  }
#pragma GCC diagnostic pop

  // Without a runAsUser the image's user applies; the runtime gets it explicitly.
  if (!eff.runAsUser) {
    const ImageUser user = imageUser(options.imageUid, options.imageUsername);
    if (user.uid) sc.mutable_run_as_user()->set_value(*user.uid);
    sc.set_run_as_username(user.username);
  }

  ASSIGN_OR_RETURN(*sc.mutable_namespace_options(), namespacesForPod(pod, options.userNamespace));
  if (!options.targetContainerId.empty() && sc.namespace_options().pid() == ::runtime::v1::CONTAINER) {
    sc.mutable_namespace_options()->set_pid(::runtime::v1::TARGET);
    sc.mutable_namespace_options()->set_target_id(options.targetContainerId);
  }

  const podspec::PodSecurityContext& p = pod.securityContext;
  if (p.fsGroup) sc.add_supplemental_groups(*p.fsGroup);
  for (int64_t g : p.supplementalGroups) sc.add_supplemental_groups(g);
  ::runtime::v1::SupplementalGroupsPolicy policy = ::runtime::v1::Merge;
  RETURN_IF_ERROR(setSupplementalGroupsPolicy(p.supplementalGroupsPolicy, policy));
  sc.set_supplemental_groups_policy(policy);
  for (int64_t g : options.extraSupplementalGroups) sc.add_supplemental_groups(g);

  // no_new_privs only when allowPrivilegeEscalation is explicitly false; the API no longer
  // defaults it.
  sc.set_no_new_privs(eff.allowPrivilegeEscalation && !*eff.allowPrivilegeEscalation);

  // procMount Unmasked clears both lists; privileged containers get them too (runtimes
  // ignore them for privileged containers).
  if (!eff.procMount || *eff.procMount != "Unmasked") {
    for (std::string_view path : kDefaultMaskedPaths) sc.add_masked_paths(std::string(path));
    for (const std::string& path : node.extraMaskedPaths) sc.add_masked_paths(path);
    for (std::string_view path : kDefaultReadonlyPaths) sc.add_readonly_paths(std::string(path));
  }
  return sc;
}

}  // namespace cubelet::runtime::podsec
