#include "kubelet/pod/static_pods.h"

#include <openssl/evp.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/log.h"
#include "kubelet/api/reflector.h"
#include "kubelet/config/yaml_json.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/objects/timefmt.h"

namespace cubelet::pod {
namespace {

using objects::str;

std::string md5Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

// RFC 1123 subdomain: lowercase alphanumerics, '-' and '.', starting and ending with an
// alphanumeric, at most 253 characters.
bool isDnsSubdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c));
    if (!alnum && c != '-' && c != '.') return false;
    if ((i == 0 || i + 1 == s.size()) && !alnum) return false;
  }
  return true;
}

// RFC 1123 label: as a subdomain without dots, at most 63 characters.
bool isDnsLabel(const std::string& s) {
  return s.size() <= 63 && s.find('.') == std::string::npos && isDnsSubdomain(s);
}

absl::Status fieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(field + ": " + what);
}

// The checks that keep a broken manifest from reaching the runtime (the apiserver makes the
// same ones on the mirror pod): identity, and each container's name and image.
absl::Status validate(const json& manifest) {
  if (!manifest.is_object()) return fieldError("<root>", "Invalid value: a manifest must be a Pod object");
  const std::string kind = str(manifest, {"kind"});
  if (kind != "Pod") {
    return fieldError("kind", kind.empty() ? "Required value: must be Pod"
                                           : "Unsupported value: \"" + kind + "\": supported values: \"Pod\"");
  }
  const std::string apiVersion = str(manifest, {"apiVersion"});
  if (apiVersion != "v1") {
    return fieldError("apiVersion", apiVersion.empty() ? "Required value: must be v1"
                                                       : "Unsupported value: \"" + apiVersion + "\": supported values: \"v1\"");
  }
  const json* meta = objects::find(manifest, {"metadata"});
  if (!meta || !meta->is_object()) return fieldError("metadata", "Required value");
  const json* name = objects::find(*meta, {"name"});
  if (!name || !name->is_string() || name->get<std::string>().empty()) {
    return fieldError("metadata.name", "Required value: name or generateName is required");
  }
  if (const json* ns = objects::find(*meta, {"namespace"}); ns && !ns->is_string()) {
    return fieldError("metadata.namespace", "Invalid value: must be a string");
  } else if (ns && !ns->get<std::string>().empty() && !isDnsLabel(ns->get<std::string>())) {
    return fieldError("metadata.namespace", "Invalid value: \"" + ns->get<std::string>() +
                                                "\": a lowercase RFC 1123 label must consist of lower case "
                                                "alphanumeric characters or '-'");
  }
  for (const char* m : {"labels", "annotations"}) {
    const json* v = objects::find(*meta, {m});
    if (!v || v->is_null()) continue;
    if (!v->is_object()) return fieldError(std::string("metadata.") + m, "Invalid value: must be a map of strings");
    for (const auto& [k, val] : v->items()) {
      if (!val.is_string()) return fieldError(std::string("metadata.") + m + "[" + k + "]", "Invalid value: must be a string");
    }
  }
  const json* spec = objects::find(manifest, {"spec"});
  if (!spec || !spec->is_object()) return fieldError("spec", "Required value");
  for (const char* list : {"initContainers", "containers"}) {
    const json* cs = objects::find(*spec, {list});
    const std::string field = std::string("spec.") + list;
    if (!cs || cs->is_null()) {
      if (std::string(list) == "containers") return fieldError(field, "Required value");
      continue;
    }
    if (!cs->is_array()) return fieldError(field, "Invalid value: must be a list of containers");
    if (std::string(list) == "containers" && cs->empty()) return fieldError(field, "Required value");
    std::set<std::string> names;
    for (size_t i = 0; i < cs->size(); ++i) {
      const json& c = (*cs)[i];
      const std::string at = field + "[" + std::to_string(i) + "]";
      if (!c.is_object()) return fieldError(at, "Invalid value: must be a container object");
      const std::string cname = str(c, {"name"});
      if (cname.empty()) return fieldError(at + ".name", "Required value");
      if (!isDnsLabel(cname)) {
        return fieldError(at + ".name", "Invalid value: \"" + cname +
                                            "\": a lowercase RFC 1123 label must consist of lower case "
                                            "alphanumeric characters or '-'");
      }
      if (!names.insert(cname).second) return fieldError(at + ".name", "Duplicate value: \"" + cname + "\"");
      const json* image = objects::find(c, {"image"});
      if (!image || !image->is_string() || image->get<std::string>().empty()) {
        return fieldError(at + ".image", "Required value");
      }
      for (const char* l : {"command", "args"}) {
        const json* v = objects::find(c, {l});
        if (!v || v->is_null()) continue;
        if (!v->is_array()) return fieldError(at + "." + l, "Invalid value: must be a list of strings");
        for (size_t k = 0; k < v->size(); ++k) {
          if (!(*v)[k].is_string()) {
            return fieldError(at + "." + l + "[" + std::to_string(k) + "]", "Invalid value: must be a string");
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

// The defaults the apiserver would give these fields, so a static pod runs as its mirror
// pod reads.
void applySpecDefaults(json& spec) {
  if (str(spec, {"restartPolicy"}).empty()) spec["restartPolicy"] = "Always";
  if (str(spec, {"dnsPolicy"}).empty()) spec["dnsPolicy"] = "ClusterFirst";
  if (!objects::find(spec, {"terminationGracePeriodSeconds"})) spec["terminationGracePeriodSeconds"] = 30;
  if (str(spec, {"schedulerName"}).empty()) spec["schedulerName"] = "default-scheduler";
  for (const char* list : {"initContainers", "containers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (auto& c : spec[list]) {
      if (str(c, {"terminationMessagePath"}).empty()) c["terminationMessagePath"] = "/dev/termination-log";
      if (str(c, {"terminationMessagePolicy"}).empty()) c["terminationMessagePolicy"] = "File";
    }
  }
}

std::string nowSeen() {
  auto now = std::chrono::system_clock::now();
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::string s = objects::formatTimeNanos(nanos);
  char frac[16];
  snprintf(frac, sizeof frac, ".%09lldZ", static_cast<long long>(nanos % 1000000000));
  return s.substr(0, s.size() - 1) + frac;
}

}  // namespace

absl::StatusOr<json> staticPodFromManifest(const std::string& path, const std::string& text,
                                           const std::string& nodeName) {
  auto parsed = config::yamlToJson(text, path);
  if (!parsed.ok()) return parsed.status();
  if (auto st = validate(*parsed); !st.ok()) return absl::InvalidArgumentError(path + ": " + std::string(st.message()));
  json pod = *parsed;
  pod.erase("status");
  json& meta = pod["metadata"];
  std::string uid = str(meta, {"uid"});
  if (uid.empty()) {
    // The node, the file and the content: stable across restarts, new on every edit.
    uid = md5Hex("host:" + nodeName + "file:" + path + parsed->dump());
    meta["uid"] = uid;
  }
  const std::string name = str(meta, {"name"}) + "-" + nodeName;
  if (!isDnsSubdomain(name)) {
    return absl::InvalidArgumentError(path + ": metadata.name: Invalid value: \"" + name +
                                      "\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                                      "characters, '-' or '.', and must start and end with an alphanumeric character");
  }
  meta["name"] = name;
  if (str(meta, {"namespace"}).empty()) meta["namespace"] = "default";
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) meta["annotations"] = json::object();
  meta["annotations"][kConfigHashAnnotation] = uid;
  meta["annotations"][kConfigSourceAnnotation] = "file";
  pod["spec"]["nodeName"] = nodeName;
  applySpecDefaults(pod["spec"]);
  pod["status"] = {{"phase", "Pending"}};
  return pod;
}

bool isStaticPod(const json& pod) {
  const std::string source = str(pod, {"metadata", "annotations", kConfigSourceAnnotation});
  return !source.empty() && source != "api";
}

bool isMirrorPod(const json& pod) { return objects::find(pod, {"metadata", "annotations", kConfigMirrorAnnotation}); }

std::string podFullName(const json& pod) {
  return str(pod, {"metadata", "namespace"}) + "/" + str(pod, {"metadata", "name"});
}

bool isMirrorOf(const json& mirror, const json& staticPod) {
  const std::string hash = str(mirror, {"metadata", "annotations", kConfigMirrorAnnotation});
  return !hash.empty() && hash == str(staticPod, {"metadata", "annotations", kConfigHashAnnotation});
}

json mirrorPodFor(const json& staticPod, const std::string& nodeName, const std::string& nodeUid) {
  json mirror = staticPod;
  mirror.erase("status");
  json& meta = mirror["metadata"];
  meta.erase("uid");
  meta.erase("resourceVersion");
  meta["annotations"][kConfigMirrorAnnotation] = str(staticPod, {"metadata", "annotations", kConfigHashAnnotation});
  meta["ownerReferences"] = json::array(
      {{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", nodeName}, {"uid", nodeUid}, {"controller", true}}});
  mirror["apiVersion"] = "v1";
  mirror["kind"] = "Pod";
  return mirror;
}

std::vector<json> StaticPodSource::read() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code fec;
    if (!entry.is_regular_file(fec)) continue;
    files.push_back(entry.path().string());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    LOG_WARNING << "Unable to read config path \"" << dir_ << "\": " << ec.message();
  }
  std::sort(files.begin(), files.end());
  std::vector<json> pods;
  std::map<std::string, std::string> errors;
  std::set<std::string> uids, fullNames;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    absl::StatusOr<json> pod = in ? staticPodFromManifest(file, ss.str(), nodeName_)
                                  : absl::StatusOr<json>(absl::UnavailableError(file + ": cannot be read"));
    if (pod.ok() && !fullNames.insert(podFullName(*pod)).second) {
      pod = absl::AlreadyExistsError(file + ": metadata.name: Duplicate value: another manifest in " + dir_ +
                                     " already defines pod " + podFullName(*pod));
    }
    if (pod.ok() && !uids.insert(str(*pod, {"metadata", "uid"})).second) {
      pod = absl::AlreadyExistsError(file + ": metadata.uid: Duplicate value: \"" + str(*pod, {"metadata", "uid"}) + "\"");
    }
    if (!pod.ok()) {
      std::string msg(pod.status().message());
      if (errors_[file] != msg) LOG_ERROR << "Could not process manifest file: " << msg;
      errors[file] = msg;
      continue;
    }
    const std::string uid = str(*pod, {"metadata", "uid"});
    auto seen = seen_.find(uid);
    std::string when = seen != seen_.end() ? seen->second : nowSeen();
    (*pod)["metadata"]["annotations"][kConfigSeenAnnotation] = when;
    pods.push_back(std::move(*pod));
  }
  errors_ = std::move(errors);
  std::map<std::string, std::string> seen;
  for (const auto& p : pods) {
    const std::string uid = str(p, {"metadata", "uid"});
    seen[uid] = str(p, {"metadata", "annotations", kConfigSeenAnnotation});
  }
  seen_ = std::move(seen);
  last_ = json(pods).dump();
  return pods;
}

void StaticPodSource::run(std::stop_token stop, std::chrono::milliseconds resync,
                          const std::function<void(const std::vector<json>&)>& changed) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) LOG_WARNING << "inotify unavailable; static pods are re-read every " << resync.count() << "ms";
  int wd = -1;
  auto deliverIfChanged = [&] {
    std::string before = last_;
    std::vector<json> pods = read();
    if (last_ != before) changed(pods);
  };
  auto lastResync = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    if (fd >= 0 && wd < 0) {
      wd = inotify_add_watch(fd, dir_.c_str(),
                             IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                 IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
      // The directory may have appeared with files in it since the last pass.
      if (wd >= 0) deliverIfChanged();
    }
    bool event = false;
    if (fd >= 0) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 500) > 0) {
        alignas(inotify_event) char buf[16384];
        ssize_t n;
        while ((n = ::read(fd, buf, sizeof buf)) > 0) {
          for (char* ptr = buf; ptr < buf + n;) {
            auto* ev = reinterpret_cast<inotify_event*>(ptr);
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) wd = -1;
            ptr += sizeof(inotify_event) + ev->len;
          }
          event = true;
        }
        // An editor writes a file in several steps: let them settle before reading.
        if (event && !api::sleepFor(stop, std::chrono::milliseconds(100))) break;
      }
    } else if (!api::sleepFor(stop, std::chrono::milliseconds(500))) {
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (event || now - lastResync >= resync) {
      lastResync = now;
      deliverIfChanged();
    }
  }
  if (fd >= 0) close(fd);
}

}  // namespace cubelet::pod
