#include "kubelet/volume/volume_manager.h"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/runtime/pod_env.h"
#include "kubelet/runtime/pod_spec.h"
#include "kubelet/volume/host_path.h"
#include "kubelet/volume/mount.h"
#include "kubelet/volume/object_cache.h"
#include "kubelet/volume/ownership.h"
#include "kubelet/volume/subpath.h"

namespace cubelet::volume {
namespace {

using runtime::podspec::Container;
using runtime::podspec::DownwardApiFile;
using runtime::podspec::EnvVarSource;
using runtime::podspec::ObjectVolumeSource;
using runtime::podspec::Pod;
using runtime::podspec::Volume;
using runtime::podspec::VolumeProjection;

constexpr char kEmptyDirPlugin[] = "kubernetes.io~empty-dir";
constexpr char kConfigMapPlugin[] = "kubernetes.io~configmap";
constexpr char kSecretPlugin[] = "kubernetes.io~secret";
constexpr char kDownwardApiPlugin[] = "kubernetes.io~downward-api";
constexpr char kProjectedPlugin[] = "kubernetes.io~projected";
constexpr int32_t kDefaultMode = 0644;

absl::Status sysError(const std::string& what, int err) {
  return absl::InternalError(what + ": " + std::strerror(err));
}

// mkdir with exactly `mode` for a new directory (the umask does not apply); an existing
// directory is left as it is.
absl::Status makeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) {
    if (errno == EEXIST) {
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return absl::OkStatus();
      return absl::FailedPreconditionError(path + " exists and is not a directory");
    }
    return sysError("mkdir " + path, errno);
  }
  if (::chmod(path.c_str(), mode) != 0) return sysError("chmod " + path, errno);
  return absl::OkStatus();
}

// Several errors print as upstream's aggregate: one as itself, more as "[e1, e2]".
absl::Status aggregate(const std::vector<std::string>& errors) {
  if (errors.empty()) return absl::OkStatus();
  if (errors.size() == 1) return absl::InvalidArgumentError(errors.front());
  std::string msg = "[";
  for (size_t i = 0; i < errors.size(); ++i) msg += (i ? ", " : "") + errors[i];
  return absl::InvalidArgumentError(msg + "]");
}

// The effective runAsUser of every container when they all have the same one (FsUserFrom).
std::optional<uint32_t> commonRunAsUser(const Pod& pod) {
  std::optional<int64_t> common;
  bool first = true;
  for (const auto* list : {&pod.initContainers, &pod.containers, &pod.ephemeralContainers}) {
    for (const Container& c : *list) {
      std::optional<int64_t> uid = pod.securityContext.runAsUser;
      if (c.securityContext && c.securityContext->runAsUser) uid = c.securityContext->runAsUser;
      if (!uid) return std::nullopt;
      if (!first && *uid != *common) return std::nullopt;
      common = uid;
      first = false;
    }
  }
  if (!common || *common < 0) return std::nullopt;
  return static_cast<uint32_t>(*common);
}

const Container* findContainer(const Pod& pod, const std::string& name) {
  for (const auto* list : {&pod.containers, &pod.initContainers}) {
    for (const Container& c : *list)
      if (c.name == name) return &c;
  }
  return nullptr;
}

bool isPrivileged(const Container& c) {
  return c.securityContext && c.securityContext->privileged && *c.securityContext->privileged;
}

std::string pluginOf(Volume::Type t) {
  switch (t) {
    case Volume::Type::kEmptyDir: return kEmptyDirPlugin;
    case Volume::Type::kConfigMap: return kConfigMapPlugin;
    case Volume::Type::kSecret: return kSecretPlugin;
    case Volume::Type::kDownwardApi: return kDownwardApiPlugin;
    case Volume::Type::kProjected: return kProjectedPlugin;
    default: return "";
  }
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> objectData(const json& obj, bool secret, const std::string& what) {
  std::map<std::string, std::string> out;
  auto decode = [&](const char* field) -> absl::Status {
    for (const auto& [k, v] : objects::object(obj, {field}).items()) {
      std::string bytes;
      if (!v.is_string() || !absl::Base64Unescape(v.get<std::string>(), &bytes)) {
        return absl::InvalidArgumentError(what + ": " + field + "[" + k + "] is not base64");
      }
      out.emplace(k, std::move(bytes));
    }
    return absl::OkStatus();
  };
  if (secret) {
    RETURN_IF_ERROR(decode("data"));
    return out;
  }
  for (const auto& [k, v] : objects::object(obj, {"data"}).items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  RETURN_IF_ERROR(decode("binaryData"));
  return out;
}

bool kernelSupportsTmpfsNoswap() {
  struct utsname u {};
  if (::uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 4);
}

VolumeManager::VolumeManager(api::EventRecorder& events, VolumeManagerOptions opts)
    : events_(events), opts_(std::move(opts)) {}

std::shared_ptr<VolumeManager::PodState> VolumeManager::podState(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& p = pods_[uid];
  if (!p) p = std::make_shared<PodState>();
  return p;
}

// One setUp call: the parsed pod and what its volumes need.
class VolumeManager::SetUpRun {
 public:
  SetUpRun(VolumeManager& m, const json& podJson, const Pod& pod) : m_(m), podJson_(podJson), pod_(pod) {
    podDir_ = m.podDir(pod.uid);
    fsUser_ = commonRunAsUser(pod);
  }

  absl::StatusOr<MountedVolume> setUp(const Volume& v, VolumeState& state) {
    switch (v.type) {
      case Volume::Type::kHostPath:
        RETURN_IF_ERROR(checkHostPath(v.hostPath, v.hostPathType));
        return MountedVolume{v.hostPath, false, false};
      case Volume::Type::kEmptyDir: {
        std::optional<uint64_t> size;
        if (v.medium == "Memory") size = tmpfsSize(v.sizeLimit);
        if (!v.medium.empty() && v.medium != "Memory") {
          if (v.medium.starts_with("HugePages")) {
            return absl::UnimplementedError("medium " + v.medium +
                                            ": hugePages storage is not supported by this node (no huge pages)");
          }
          return absl::InvalidArgumentError("unknown storage medium \"" + v.medium + "\"");
        }
        ASSIGN_OR_RETURN(std::string dir, emptyDir(kEmptyDirPlugin, v.name, v.medium == "Memory", size));
        if (pod_.securityContext.fsGroup) {
          // As upstream, a failed ownership change does not fail the volume.
          (void)setVolumeOwnership(dir, static_cast<gid_t>(*pod_.securityContext.fsGroup), false);
        }
        return MountedVolume{dir, false, true};
      }
      case Volume::Type::kConfigMap:
      case Volume::Type::kSecret:
      case Volume::Type::kDownwardApi:
      case Volume::Type::kProjected: {
        // The payload first: nothing is mounted for a volume whose data cannot be had.
        ASSIGN_OR_RETURN(Payload payload, payloadOf(v));
        const bool memory = v.type != Volume::Type::kConfigMap;
        ASSIGN_OR_RETURN(std::string dir, emptyDir(pluginOf(v.type), v.name, memory, memory ? tmpfsSize({}) : std::nullopt));
        RETURN_IF_ERROR(makeNestedMountpoints(v.name, dir));
        if (!state.writer) {
          state.writer = std::make_unique<AtomicWriter>(
              dir, "pod " + pod_.ns + "/" + pod_.name + " volume \"" + v.name + "\"");
        }
        std::function<absl::Status(const std::string&)> setPerms;
        if (pod_.securityContext.fsGroup) {
          const gid_t gid = static_cast<gid_t>(*pod_.securityContext.fsGroup);
          setPerms = [dir, gid](const std::string&) { return setVolumeOwnership(dir, gid, true); };
        }
        RETURN_IF_ERROR(state.writer->write(payload, setPerms));
        return MountedVolume{dir, true, true};
      }
      case Volume::Type::kOther:
        break;
    }
    if (v.other.empty()) return absl::InvalidArgumentError(v.path + ": the volume has no volume source");
    return absl::UnimplementedError("volume type " + v.other + " is not supported by this node agent");
  }

 private:
  // The size of a memory-backed volume's tmpfs: node allocatable memory, capped by the pod's
  // memory limit and the volume's sizeLimit (calculateEmptyDirMemorySize).
  std::optional<uint64_t> tmpfsSize(const std::optional<objects::Quantity>& sizeLimit) {
    int64_t size = 0;
    if (m_.opts_.nodeAllocatable) {
      if (auto alloc = m_.opts_.nodeAllocatable()) {
        if (auto it = alloc->find("memory"); it != alloc->end()) size = it->second.value();
      }
    }
    if (size <= 0 && m_.opts_.node.memoryCapacity > 0) size = static_cast<int64_t>(m_.opts_.node.memoryCapacity);
    if (auto cg = runtime::podCgroupConfig(podJson_, m_.opts_.node); cg.ok() && cg->memoryLimitBytes) {
      const int64_t limit = *cg->memoryLimitBytes;
      if (limit > 0 && (size <= 0 || limit <= size)) size = limit;
    }
    if (sizeLimit) {
      const int64_t limit = sizeLimit->value();
      if (limit > 0 && (size <= 0 || limit <= size)) size = limit;
    }
    if (size <= 0) return std::nullopt;
    return static_cast<uint64_t>(size);
  }

  absl::Status podDirs() {
    if (dirsMade_) return absl::OkStatus();
    RETURN_IF_ERROR(makeDir(podDir_, 0750));
    RETURN_IF_ERROR(makeDir(podDir_ + "/volumes", 0750));
    dirsMade_ = true;
    return absl::OkStatus();
  }

  // The volume's directory (0777), with a tmpfs on it when `memory`.
  absl::StatusOr<std::string> emptyDir(const std::string& plugin, const std::string& name, bool memory,
                                       std::optional<uint64_t> size) {
    RETURN_IF_ERROR(podDirs());
    RETURN_IF_ERROR(makeDir(podDir_ + "/volumes/" + plugin, 0750));
    const std::string dir = podDir_ + "/volumes/" + plugin + "/" + name;
    if (memory && isMountPoint(dir)) return dir;  // set up before (this run of the agent or the last)
    // A new directory gets exactly 0777; an existing one (set up before, maybe changed by
    // its containers since) is left as it is.
    RETURN_IF_ERROR(makeDir(dir, 0777));
    if (memory) RETURN_IF_ERROR(mountTmpfs(dir, size, m_.opts_.tmpfsNoswap));
    return dir;
  }

  // MakeNestedMountpoints: the other volumes mounted directly below this one's mount point in
  // some container get a directory in it, since the runtime cannot make one in a read-only
  // volume.
  absl::Status makeNestedMountpoints(const std::string& volume, const std::string& dir) {
    for (const auto* list : {&pod_.initContainers, &pod_.containers, &pod_.ephemeralContainers}) {
      for (const Container& c : *list) {
        std::vector<std::string> all;
        std::vector<std::string> mine;
        for (const auto& vm : c.volumeMounts) {
          std::string p = std::filesystem::path("/" + vm.mountPath).lexically_normal().string();
          while (p.size() > 1 && p.back() == '/') p.pop_back();
          all.push_back(p);
          if (vm.name == volume) mine.push_back(p);
        }
        std::sort(all.begin(), all.end());
        for (const std::string& my : mine) {
          const std::string prefix = my == "/" ? "/" : my + "/";
          std::string previous;
          for (const std::string& mp : all) {
            if (!mp.starts_with(prefix) || mp == my) continue;
            if (!previous.empty() && mp.starts_with(previous)) continue;
            previous = mp + "/";
            const std::string rel = mp.substr(prefix.size());
            std::error_code ec;
            const std::string target = dir + "/" + rel;
            if (std::filesystem::is_directory(target, ec)) continue;
            // Created below the volume root only; every element is checked as the writer would.
            RETURN_IF_ERROR(makeSubPathDirs(dir, rel, 0755));
          }
        }
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<json> fetch(bool secret, const ObjectVolumeSource& src) {
    ObjectSource* source = secret ? m_.opts_.secrets : m_.opts_.configMaps;
    const char* kind = secret ? "secret" : "configmap";
    if (!source) return absl::UnavailableError(std::string("no source of ") + kind + "s on this node");
    auto obj = source->get(pod_.ns, src.name);
    if (!obj.ok()) {
      if (absl::IsNotFound(obj.status()) && src.optional) return json::object();
      if (absl::IsNotFound(obj.status())) {
        return absl::NotFoundError(std::string(kind) + " \"" + src.name + "\" not found");
      }
      return obj.status();
    }
    return obj;
  }

  // configMap / secret data as files (MakePayload).
  absl::Status addObjectFiles(bool secret, const ObjectVolumeSource& src, int32_t defaultMode, Payload& out) {
    ASSIGN_OR_RETURN(json obj, fetch(secret, src));
    ASSIGN_OR_RETURN(auto data, objectData(obj, secret, std::string(secret ? "secret " : "configmap ") + src.name));
    if (src.items.empty()) {
      for (auto& [k, v] : data) out[k] = FileProjection{v, static_cast<uint32_t>(defaultMode), std::nullopt};
      return absl::OkStatus();
    }
    for (const auto& item : src.items) {
      auto it = data.find(item.key);
      if (it == data.end()) {
        if (src.optional) continue;
        return absl::NotFoundError(secret ? "references non-existent secret key: " + item.key
                                          : "configmap references non-existent config key: " + item.key);
      }
      out[item.path] = FileProjection{it->second, static_cast<uint32_t>(item.mode.value_or(defaultMode)), std::nullopt};
    }
    return absl::OkStatus();
  }

  // downwardAPI items (CollectData); errors are collected.
  void addDownwardApiFiles(const std::vector<DownwardApiFile>& files, int32_t defaultMode, Payload& out,
                           std::vector<std::string>& errors) {
    for (const DownwardApiFile& f : files) {
      absl::StatusOr<std::string> value = absl::UnknownError("unset");
      if (f.ref.kind == EnvVarSource::Kind::kFieldRef) {
        value = runtime::podenv::podFieldValue(pod_, f.ref, runtime::ContainerOptions{}, m_.opts_.node);
      } else {
        const Container* c = findContainer(pod_, f.ref.containerName);
        std::optional<runtime::ResourceList> alloc;
        if (m_.opts_.nodeAllocatable) alloc = m_.opts_.nodeAllocatable();
        if (!c) {
          value = absl::InvalidArgumentError("container " + f.ref.containerName + " not found");
        } else if (!alloc) {
          value = absl::UnavailableError("node allocatable is not known yet");
        } else {
          value = runtime::podenv::resourceFieldValue(pod_, *c, f.ref, *alloc);
        }
      }
      if (!value.ok()) {
        LOG_WARNING << "downwardAPI " << f.path << " of pod " << pod_.ns << "/" << pod_.name << ": "
                    << value.status().message();
        errors.emplace_back(value.status().message());
        continue;
      }
      std::string path = std::filesystem::path(f.path).lexically_normal().string();
      out[path] = FileProjection{*std::move(value), static_cast<uint32_t>(f.mode.value_or(defaultMode)), std::nullopt};
    }
  }

  absl::StatusOr<Payload> payloadOf(const Volume& v) {
    Payload out;
    switch (v.type) {
      case Volume::Type::kConfigMap:
      case Volume::Type::kSecret: {
        const bool secret = v.type == Volume::Type::kSecret;
        RETURN_IF_ERROR(addObjectFiles(secret, v.object, v.object.defaultMode.value_or(kDefaultMode), out));
        return out;
      }
      case Volume::Type::kDownwardApi: {
        std::vector<std::string> errors;
        addDownwardApiFiles(v.files, v.defaultMode.value_or(kDefaultMode), out, errors);
        RETURN_IF_ERROR(aggregate(errors));
        return out;
      }
      case Volume::Type::kProjected:
        return projectedPayload(v);
      default:
        return absl::InternalError("no payload for volume " + v.name);
    }
  }

  absl::StatusOr<Payload> projectedPayload(const Volume& v) {
    Payload out;
    std::vector<std::string> errors;
    const int32_t defaultMode = v.defaultMode.value_or(kDefaultMode);
    for (const VolumeProjection& p : v.sources) {
      switch (p.kind) {
        case VolumeProjection::Kind::kConfigMap:
        case VolumeProjection::Kind::kSecret: {
          const bool secret = p.kind == VolumeProjection::Kind::kSecret;
          if (auto st = addObjectFiles(secret, p.object, defaultMode, out); !st.ok()) {
            LOG_WARNING << "projected " << (secret ? "secret " : "configmap ") << p.object.name << " of pod " << pod_.ns
                        << "/" << pod_.name << ": " << st.message();
            errors.emplace_back(st.message());
          }
          break;
        }
        case VolumeProjection::Kind::kDownwardApi:
          addDownwardApiFiles(p.files, defaultMode, out, errors);
          break;
        case VolumeProjection::Kind::kServiceAccountToken: {
          auto tok = token(p);
          if (!tok.ok()) {
            errors.emplace_back(tok.status().message());
            break;
          }
          FileProjection f{tok->token, static_cast<uint32_t>(defaultMode), std::nullopt};
          if (fsUser_ || pod_.securityContext.fsGroup) {
            // Only its user (and with fsGroup its group) may read a token.
            f.mode = 0600;
            f.fsUser = fsUser_;
          }
          out[p.tokenPath] = std::move(f);
          break;
        }
        case VolumeProjection::Kind::kOther:
          errors.emplace_back(p.other.empty() ? "a projected volume source has no type"
                                              : "projected volume source " + p.other + " is not supported by this node agent");
          break;
      }
    }
    RETURN_IF_ERROR(aggregate(errors));
    return out;
  }

  absl::StatusOr<Token> token(const VolumeProjection& p) {
    if (!m_.opts_.token) return absl::UnavailableError("no TokenRequest client on this node");
    TokenRequestSpec spec;
    spec.ns = pod_.ns;
    spec.serviceAccount = pod_.serviceAccountName.empty() ? "default" : pod_.serviceAccountName;
    spec.podName = pod_.name;
    spec.podUid = pod_.uid;
    spec.audience = p.audience;
    spec.expirationSeconds = p.expirationSeconds;
    return m_.opts_.token(spec);
  }

  VolumeManager& m_;
  const json& podJson_;
  const Pod& pod_;
  std::string podDir_;
  bool dirsMade_ = false;
  std::optional<uint32_t> fsUser_;
};

SetUpResult VolumeManager::setUp(const json& podJson) {
  SetUpResult out;
  auto parsed = runtime::podspec::parsePod(podJson);
  if (!parsed.ok()) {
    out.error = parsed.status();
    return out;
  }
  const Pod& pod = *parsed;
  if (pod.uid.empty()) {
    out.error = absl::InvalidArgumentError("pod " + pod.ns + "/" + pod.name + " has no UID");
    return out;
  }
  if (opts_.configMaps) opts_.configMaps->registerPod(pod.uid, pod.ns, referencedNames(podJson, "configmaps"));
  if (opts_.secrets) opts_.secrets->registerPod(pod.uid, pod.ns, referencedNames(podJson, "secrets"));
  // The pod's directory (0750, upstream's makePodDataDirs), for every pod: its hosts file
  // and termination-message files go there too.
  if (auto st = makeDir(podDir(pod.uid), 0750); !st.ok()) {
    out.error = absl::Status(st.code(), "error making pod data directories: " + std::string(st.message()));
    return out;
  }
  if (pod.volumes.empty()) return out;

  auto state = podState(pod.uid);
  SetUpRun run(*this, podJson, pod);
  const auto now = std::chrono::steady_clock::now();
  const api::ObjectRef ref{"Pod", "v1", pod.name, pod.ns, pod.uid, ""};
  for (const Volume& v : pod.volumes) {
    VolumeState& vs = state->volumes[v.name];
    if (vs.retryAt > now) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(vs.retryAt - now);
      if (!out.retryAfter || left < *out.retryAfter) out.retryAfter = left;
      if (out.error.ok()) {
        out.error = absl::UnavailableError("volume \"" + v.name + "\" is not set up yet (backing off)");
      }
      continue;
    }
    auto mounted = run.setUp(v, vs);
    if (mounted.ok()) {
      vs.backoff = std::chrono::milliseconds(0);
      vs.retryAt = {};
      out.volumes[v.name] = *std::move(mounted);
      continue;
    }
    const std::string msg = "MountVolume.SetUp failed for volume \"" + v.name + "\" : " +
                            std::string(mounted.status().message());
    LOG_WARNING << "pod " << pod.ns << "/" << pod.name << ": " << msg;
    events_.record(ref, "Warning", "FailedMount", msg);
    vs.backoff = vs.backoff.count() == 0 ? opts_.backoffInitial : std::min(vs.backoff * 2, opts_.backoffMax);
    vs.retryAt = now + vs.backoff;
    if (!out.retryAfter || vs.backoff < *out.retryAfter) out.retryAfter = vs.backoff;
    if (out.error.ok()) out.error = absl::Status(mounted.status().code(), msg);
  }
  // Volumes removed from the spec (never happens to a pod, but static pods are re-read) are
  // forgotten.
  for (auto it = state->volumes.begin(); it != state->volumes.end();) {
    bool inSpec = std::any_of(pod.volumes.begin(), pod.volumes.end(), [&](const Volume& v) { return v.name == it->first; });
    it = inSpec ? std::next(it) : state->volumes.erase(it);
  }
  return out;
}

absl::StatusOr<std::vector<runtime::ContainerMount>> VolumeManager::containerMounts(
    const json& podJson, const json& containerJson, const std::map<std::string, MountedVolume>& volumes,
    const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<runtime::ContainerMount> out;
  ASSIGN_OR_RETURN(Pod pod, runtime::podspec::parsePod(podJson));
  ASSIGN_OR_RETURN(Container c, runtime::podspec::parseContainer(
                                    containerJson, runtime::podspec::containerPath(podJson, containerJson), false));
  const std::string dir = podDir(pod.uid);
  for (size_t i = 0; i < c.volumeMounts.size(); ++i) {
    const auto& vm = c.volumeMounts[i];
    auto it = volumes.find(vm.name);
    if (it == volumes.end()) {
      return absl::NotFoundError("cannot find volume \"" + vm.name + "\" to mount into container \"" + c.name + "\"");
    }
    runtime::ContainerMount m;
    m.containerPath = vm.mountPath.starts_with("/") ? vm.mountPath : "/" + vm.mountPath;
    m.hostPath = it->second.hostPath;
    m.readOnly = vm.readOnly || it->second.readOnly;
    m.selinuxRelabel = it->second.selinuxRelabel;

    std::string subPath = vm.subPath;
    if (!vm.subPathExpr.empty()) {
      std::map<std::string, std::string> envMap(env.begin(), env.end());
      std::set<std::string> missing;
      subPath = runtime::podenv::expand(vm.subPathExpr, [&](std::string_view name) -> std::optional<std::string> {
        auto e = envMap.find(std::string(name));
        if (e == envMap.end() || e->second.empty()) {
          missing.insert(std::string(name));
          return std::string();
        }
        return e->second;
      });
      if (!missing.empty()) {
        std::string names;
        for (const auto& n : missing) names += (names.empty() ? "" : ", ") + n;
        return absl::InvalidArgumentError("missing value for " + names);
      }
    }
    if (!subPath.empty()) {
      if (subPath.front() == '/') {
        return absl::InvalidArgumentError("error SubPath `" + subPath + "` must not be an absolute path");
      }
      if (hasBacksteps(subPath)) {
        return absl::InvalidArgumentError("unable to provision SubPath `" + subPath + "`: must not contain '..'");
      }
      const std::string volumePath = it->second.hostPath;
      struct stat st {};
      if (::stat((volumePath + "/" + subPath).c_str(), &st) != 0) {
        // Made now, with the volume root's mode, so it does not come out owned by the runtime.
        struct stat root {};
        mode_t perm = ::stat(volumePath.c_str(), &root) == 0 ? (root.st_mode & 07777) : 0755;
        if (auto made = makeSubPathDirs(volumePath, subPath, perm); !made.ok()) {
          LOG_WARNING << "pod " << pod.ns << "/" << pod.name << " container " << c.name << ": " << made.message();
          return absl::InvalidArgumentError("failed to create subPath directory for volumeMount \"" + vm.name +
                                            "\" of container \"" + c.name + "\"");
        }
      }
      const std::string target = dir + "/volume-subpaths/" + vm.name + "/" + c.name + "/" + std::to_string(i);
      auto bound = prepareSubPath(volumePath, subPath, target);
      if (!bound.ok()) {
        LOG_WARNING << "pod " << pod.ns << "/" << pod.name << " container " << c.name << ": " << bound.status().message();
        return absl::InvalidArgumentError("failed to prepare subPath for volumeMount \"" + vm.name +
                                          "\" of container \"" + c.name + "\"");
      }
      m.hostPath = *bound;
    }

    const std::string propagation = vm.mountPropagation.value_or("None");
    if (propagation == "None") {
      m.propagation = ::runtime::v1::PROPAGATION_PRIVATE;
    } else if (propagation == "HostToContainer") {
      m.propagation = ::runtime::v1::PROPAGATION_HOST_TO_CONTAINER;
    } else if (propagation == "Bidirectional") {
      if (!isPrivileged(c)) {
        return absl::InvalidArgumentError("Bidirectional mount propagation is available only to privileged containers");
      }
      m.propagation = ::runtime::v1::PROPAGATION_BIDIRECTIONAL;
    } else {
      return absl::InvalidArgumentError("invalid MountPropagation mode: \"" + propagation + "\"");
    }
    if (vm.recursiveReadOnly && *vm.recursiveReadOnly == "Enabled") {
      // containerd 1.6 does not offer recursive read-only mounts (no runtime handler feature).
      return absl::FailedPreconditionError("failed to resolve recursive read-only mode: volume \"" + vm.name +
                                           "\" requested recursive read-only mode, but it is not supported by the "
                                           "runtime");
    }
    out.push_back(std::move(m));
  }
  return out;
}

namespace {

// Unmounts everything at or below `dir`, deepest first, then removes it; nothing is removed
// while anything below is still mounted.
absl::Status unmountAndRemove(const std::string& dir) {
  ASSIGN_OR_RETURN(auto mounts, mountsUnder(dir));
  for (const auto& m : mounts) RETURN_IF_ERROR(unmount(m));
  ASSIGN_OR_RETURN(mounts, mountsUnder(dir));
  if (!mounts.empty()) return absl::FailedPreconditionError(mounts.front() + " is still mounted");
  return removeAll(dir);
}

}  // namespace

absl::Status VolumeManager::tearDown(const std::string& uid) {
  if (uid.empty() || uid.find('/') != std::string::npos || uid == "." || uid == "..") {
    return absl::InvalidArgumentError("bad pod UID \"" + uid + "\"");
  }
  const std::string dir = podDir(uid);
  const std::string volumes = dir + "/volumes";
  std::error_code ec;
  const bool onDisk = std::filesystem::exists(volumes, ec) || std::filesystem::exists(dir + "/volume-subpaths", ec);
  absl::Status first = onDisk ? cleanSubPaths(dir + "/volume-subpaths") : absl::OkStatus();
  if (!first.ok()) return first;
  // A pod without volumes (or torn down already) costs no mountinfo reads.
  if (onDisk) RETURN_IF_ERROR(unmountAndRemove(volumes));
  RETURN_IF_ERROR(removeAll(dir + "/plugins"));
  if (opts_.configMaps) opts_.configMaps->unregisterPod(uid);
  if (opts_.secrets) opts_.secrets->unregisterPod(uid);
  if (opts_.forgetTokens) opts_.forgetTokens(uid);
  std::lock_guard<std::mutex> lock(mu_);
  pods_.erase(uid);
  return absl::OkStatus();
}

int VolumeManager::cleanupOrphans(const std::function<std::set<std::string>()>& liveFn) {
  int removed = 0;
  std::error_code ec;
  std::vector<std::string> uids;
  for (std::filesystem::directory_iterator it(opts_.podsDir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory() && !it->is_symlink()) uids.push_back(it->path().filename().string());
  }
  if (uids.empty()) return 0;
  const std::set<std::string> live = liveFn();
  for (const auto& uid : uids) {
    if (live.count(uid)) continue;
    const std::string dir = podDir(uid);
    if (auto st = tearDown(uid); !st.ok()) {
      LOG_WARNING << "orphaned pod " << uid << ": volumes stay: " << st.message();
      continue;
    }
    auto mounts = mountsUnder(dir);
    if (!mounts.ok() || !mounts->empty()) {
      LOG_WARNING << "orphaned pod " << uid << ": its directory stays, something is still mounted below it";
      continue;
    }
    if (auto st = removeAll(dir); !st.ok()) {
      LOG_WARNING << "orphaned pod " << uid << ": " << st.message();
      continue;
    }
    LOG_INFO << "removed the directory of orphaned pod " << uid;
    ++removed;
  }
  return removed;
}

}  // namespace cubelet::volume
