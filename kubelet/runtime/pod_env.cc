#include "kubelet/runtime/pod_env.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "base/status_macros.h"
#include "kubelet/runtime/pod_dns.h"
#include "kubelet/runtime/pod_gojson.h"
#include "kubelet/runtime/pod_resources.h"
#include "kubelet/runtime/pod_strings.h"

namespace cubelet::runtime::podenv {
namespace {

using objects::Quantity;
using podspec::Container;
using podspec::EnvVarSource;
using podspec::Pod;

// Variables in declaration order; a redeclared name keeps its place.
class OrderedEnv {
 public:
  void set(const std::string& name, std::string value) {
    auto [it, inserted] = index_.try_emplace(name, vars_.size());
    if (inserted) {
      vars_.emplace_back(name, std::move(value));
    } else {
      vars_[it->second].second = std::move(value);
    }
  }
  const std::string* get(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &vars_[it->second].second;
  }
  // Leaves the list empty.
  EnvList take() {
    index_.clear();
    return std::move(vars_);
  }

 private:
  EnvList vars_;
  std::unordered_map<std::string, size_t> index_;
};

// The data of configmaps/secrets named by env sources, fetched once per call.
class ObjectCache {
 public:
  using Data = std::map<std::string, std::string>;
  ObjectCache(const std::function<absl::StatusOr<Data>(const std::string&)>& fetch, std::string_view kind)
      : fetch_(fetch), kind_(kind) {}

  // The object's data; nullptr when it does not exist and the reference is optional.
  absl::StatusOr<const Data*> get(const std::string& name, bool optional) {
    if (auto it = cache_.find(name); it != cache_.end()) return &it->second;
    if (!fetch_) {
      return absl::FailedPreconditionError(
          podstr::cat(kind_, " ", gojson::quote(name), " cannot be resolved: ", kind_, " references are not supported yet"));
    }
    auto data = fetch_(name);
    if (!data.ok()) {
      if (absl::IsNotFound(data.status())) {
        if (optional) return static_cast<const Data*>(nullptr);
        return absl::FailedPreconditionError(podstr::cat(kind_, " ", gojson::quote(name), " not found"));
      }
      return absl::FailedPreconditionError(
          podstr::cat("cannot get ", kind_, " ", gojson::quote(name), ": ", data.status().message()));
    }
    return &cache_.emplace(name, *std::move(data)).first->second;
  }

 private:
  const std::function<absl::StatusOr<Data>(const std::string&)>& fetch_;
  std::string kind_;
  std::map<std::string, Data> cache_;
};

absl::Status withContext(const absl::Status& st, std::string_view context) {
  return absl::Status(st.code(), podstr::cat(context, ": ", st.message()));
}

// fieldpath.SplitMaybeSubscriptedPath: "metadata.labels['k']" -> {"metadata.labels", "k"}.
std::optional<std::pair<std::string, std::string>> splitSubscript(std::string_view fieldPath) {
  if (!fieldPath.ends_with("']")) return std::nullopt;
  std::string_view s = fieldPath.substr(0, fieldPath.size() - 2);
  const size_t open = s.find("['");
  if (open == std::string_view::npos || open == 0) return std::nullopt;
  return std::make_pair(std::string(s.substr(0, open)), std::string(s.substr(open + 2)));
}

bool alnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

std::string asciiLower(std::string s) {
  for (char& c : s) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return s;
}

int64_t ceilDiv(int64_t value, int64_t divisor) {
  const double q = std::ceil(static_cast<double>(value) / static_cast<double>(divisor));
  if (!(q > -9.2e18)) return std::numeric_limits<int64_t>::min();
  if (!(q < 9.2e18)) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(q);
}

void mergeLimits(ResourceList& limits, const ResourceList& allocatable) {
  for (std::string_view res : {"cpu", "memory", "ephemeral-storage"}) {
    auto it = limits.find(res);
    if (it != limits.end() && !it->second.isZero()) continue;
    if (auto a = allocatable.find(res); a != allocatable.end()) limits.insert_or_assign(std::string(res), a->second);
  }
}

Quantity amount(const ResourceList& list, std::string_view name) {
  auto it = list.find(name);
  return it == list.end() ? Quantity() : it->second;
}

std::string ipv6String(const std::array<uint8_t, 16>& b) {
  // Longest run of zero groups (two or more), the first one on a tie, becomes "::".
  int bestStart = -1, bestLen = 0;
  for (int i = 0; i < 8;) {
    if (b[2 * i] == 0 && b[2 * i + 1] == 0) {
      int j = i;
      while (j < 8 && b[2 * j] == 0 && b[2 * j + 1] == 0) ++j;
      if (j - i > bestLen) {
        bestStart = i;
        bestLen = j - i;
      }
      i = j;
    } else {
      ++i;
    }
  }
  if (bestLen < 2) bestStart = -1;
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == bestStart) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out.push_back(':');
    podstr::append(out, podstr::hex((b[2 * i] << 8) | b[2 * i + 1]));
  }
  return out;
}

}  // namespace

std::string expand(std::string_view input, const Lookup& lookup) {
  std::string out;
  size_t checkpoint = 0;
  for (size_t cursor = 0; cursor < input.size(); ++cursor) {
    if (input[cursor] != '$' || cursor + 1 >= input.size()) continue;
    out.append(input.substr(checkpoint, cursor - checkpoint));
    const std::string_view rest = input.substr(cursor + 1);
    size_t advance;
    const gojson::Rune r = gojson::decodeRune(rest);
    if (r.value == '$') {
      out.push_back('$');  // $$ is an escaped $
      advance = 1;
    } else if (r.value == '(') {
      const size_t close = rest.find(')', 1);
      if (close == std::string_view::npos) {
        out += "$(";  // incomplete reference; the rest is copied as is
        advance = 1;
      } else {
        const std::string_view name = rest.substr(1, close - 1);
        if (auto value = lookup(name)) {
          out += *value;
        } else {
          podstr::append(out, "$(", name, ")");
        }
        advance = close + 1;
      }
    } else {
      // A $ that starts no expression stays, with the rune after it (an invalid byte reads
      // as U+FFFD, as in Go).
      out.push_back('$');
      gojson::appendRune(out, r.value);
      advance = r.size;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  if (checkpoint < input.size()) out.append(input.substr(checkpoint));
  return out;
}

std::optional<Ip> parseIp(std::string_view s) {
  if (s.find(':') == std::string_view::npos) {
    std::vector<std::string_view> parts = podstr::split(s, '.');
    if (parts.size() != 4) return std::nullopt;
    std::string text;
    for (std::string_view p : parts) {
      if (p.empty()) return std::nullopt;
      int n = 0;
      for (char c : p) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
        if (n > 255) return std::nullopt;
      }
      podstr::append(text, text.empty() ? "" : ".", n);
    }
    return Ip{true, text};
  }
  std::array<uint8_t, 16> b{};
  if (inet_pton(AF_INET6, std::string(s).c_str(), b.data()) != 1) return std::nullopt;
  const bool mapped = std::all_of(b.begin(), b.begin() + 10, [](uint8_t x) { return x == 0; }) &&
                      b[10] == 0xff && b[11] == 0xff;
  if (mapped) return Ip{true, podstr::cat(b[12], ".", b[13], ".", b[14], ".", b[15])};
  return Ip{false, ipv6String(b)};
}

std::vector<std::string> sortPodIps(const std::vector<std::string>& podIps, const std::vector<std::string>& nodeIps) {
  bool primaryV4 = true;
  if (!nodeIps.empty()) {
    auto first = parseIp(nodeIps.front());
    primaryV4 = !first || first->v4;
  }
  std::vector<std::string> out;
  for (bool wantV4 : {primaryV4, !primaryV4}) {
    for (const std::string& s : podIps) {
      auto ip = parseIp(s);
      if (ip && ip->v4 == wantV4) {
        out.push_back(ip->text);
        break;
      }
    }
  }
  return out;
}

std::string formatMap(const std::map<std::string, std::string>& m) {
  std::string out;
  for (const auto& [k, v] : m) {
    if (!out.empty()) out.push_back('\n');
    podstr::append(out, k, "=", gojson::quote(v));
  }
  return out;
}

bool isQualifiedName(std::string_view value) {
  std::vector<std::string_view> parts = podstr::split(value, '/');
  std::string_view name;
  if (parts.size() == 1) {
    name = parts[0];
  } else if (parts.size() == 2) {
    if (parts[0].empty() || !poddns::dns1123SubdomainError(parts[0]).empty()) return false;
    name = parts[1];
  } else {
    return false;
  }
  if (name.empty() || name.size() > 63) return false;
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

absl::StatusOr<std::string> podFieldValue(const Pod& pod, const EnvVarSource& ref, const ContainerOptions& options,
                                          const NodeSettings& node) {
  // ConvertDownwardAPIFieldLabel: which paths a pod's fieldRef may name.
  if (ref.apiVersion != "v1") {
    return absl::InvalidArgumentError(podstr::cat("unsupported pod version: ", ref.apiVersion));
  }
  std::string path = ref.fieldPath;
  const auto subscript = splitSubscript(path);
  if (subscript) {
    if (subscript->first != "metadata.annotations" && subscript->first != "metadata.labels") {
      return absl::InvalidArgumentError(podstr::cat("field label does not support subscript: ", path));
    }
  } else if (path == "spec.host") {
    path = "spec.nodeName";
  } else if (path != "metadata.annotations" && path != "metadata.labels" && path != "metadata.name" &&
             path != "metadata.namespace" && path != "metadata.uid" && path != "spec.nodeName" &&
             path != "spec.restartPolicy" && path != "spec.serviceAccountName" && path != "spec.schedulerName" &&
             path != "status.phase" && path != "status.hostIP" && path != "status.hostIPs" &&
             path != "status.podIP" && path != "status.podIPs") {
    return absl::InvalidArgumentError(podstr::cat("field label not supported: ", path));
  }

  const std::vector<std::string> podIps = sortPodIps(options.podIps, node.nodeIps);
  std::string podIp = options.podIps.empty() ? std::string() : options.podIps.front();
  if (!podIps.empty()) podIp = podIps.front();
  std::vector<std::string> hostIps;
  for (const std::string& s : options.hostIps) {
    auto ip = parseIp(s);
    hostIps.push_back(ip ? ip->text : s);
  }

  if (path == "spec.nodeName") return pod.nodeName;
  if (path == "spec.serviceAccountName") return pod.serviceAccountName;
  if (path == "status.hostIP" || path == "status.hostIPs") {
    if (hostIps.empty()) return absl::FailedPreconditionError("the node's host IPs are not known yet");
    return path == "status.hostIP" ? hostIps.front() : podstr::join(hostIps, ",");
  }
  if (path == "status.podIP") return podIp;
  if (path == "status.podIPs") return podstr::join(podIps, ",");

  // fieldpath.ExtractFieldPathAsString
  if (subscript) {
    const auto& [field, key] = *subscript;
    const bool annotations = field == "metadata.annotations";
    if (!isQualifiedName(annotations ? asciiLower(key) : key)) {
      return absl::InvalidArgumentError(podstr::cat("invalid key subscript in ", path, ": ", gojson::quote(key),
                                                     " is not a qualified name"));
    }
    const auto& m = annotations ? pod.annotations : pod.labels;
    auto it = m.find(key);
    return it == m.end() ? std::string() : it->second;
  }
  if (path == "metadata.annotations") return formatMap(pod.annotations);
  if (path == "metadata.labels") return formatMap(pod.labels);
  if (path == "metadata.name") return pod.name;
  if (path == "metadata.namespace") return pod.ns;
  if (path == "metadata.uid") return pod.uid;
  return absl::InvalidArgumentError(podstr::cat("unsupported fieldPath: ", path));
}

absl::StatusOr<std::string> resourceFieldValue(const Pod& pod, const Container& container, const EnvVarSource& ref,
                                               const ResourceList& allocatable) {
  // defaultPodLimitsForDownwardAPI: unset limits become the pod-level limit, else allocatable.
  ResourceList defaults = allocatable;
  if (podres::podLevelLimitsSet(pod)) {
    for (std::string_view res : {"cpu", "memory"}) {
      auto lim = pod.resources->limits.find(res);
      if (lim != pod.resources->limits.end() && !lim->second.isZero() && defaults.count(res)) {
        defaults.insert_or_assign(std::string(res), lim->second);
      }
    }
  }
  podspec::ResourceRequirements resources;
  if (ref.containerName.empty()) {
    resources = container.resources;
    mergeLimits(resources.limits, defaults);
  } else {
    // By name, the defaulted regular containers first, then init containers, whose limits
    // the kubelet leaves undefaulted.
    auto byName = [&](const std::vector<Container>& list) -> const Container* {
      for (const Container& c : list) {
        if (c.name == ref.containerName) return &c;
      }
      return nullptr;
    };
    if (const Container* c = byName(pod.containers)) {
      resources = c->resources;
      mergeLimits(resources.limits, defaults);
    } else if (const Container* i = byName(pod.initContainers)) {
      resources = i->resources;
    } else {
      return absl::InvalidArgumentError(podstr::cat("container ", ref.containerName, " not found"));
    }
  }

  const Quantity divisor = ref.divisor && !ref.divisor->isZero() ? *ref.divisor : Quantity::fromInt(1);
  const std::string_view res = ref.resource;
  if (res == "limits.cpu" || res == "requests.cpu") {
    const ResourceList& list = res == "limits.cpu" ? resources.limits : resources.requests;
    return podstr::cat(ceilDiv(amount(list, "cpu").milliValue(), divisor.milliValue()));
  }
  for (std::string_view prefix : {"limits.", "requests."}) {
    if (!res.starts_with(prefix)) continue;
    const std::string_view name = res.substr(prefix.size());
    if (name == "memory" || name == "ephemeral-storage" || name.starts_with("hugepages-")) {
      const ResourceList& list = prefix == "limits." ? resources.limits : resources.requests;
      return podstr::cat(ceilDiv(amount(list, name).value(), divisor.value()));
    }
  }
  return absl::InvalidArgumentError(podstr::cat("unsupported container resource : ", res));
}

absl::StatusOr<EnvList> makeEnvironment(const Pod& pod, const Container& container, const ContainerOptions& options,
                                        const NodeSettings& node) {
  const std::string where = podstr::cat("container ", gojson::quote(container.name));
  ObjectCache configMaps(options.envSources.configMap, "configmap");
  ObjectCache secrets(options.envSources.secret, "secret");
  OrderedEnv env;

  // envFrom first; env entries override what it sets.
  for (size_t i = 0; i < container.envFrom.size(); ++i) {
    const podspec::EnvFromSource& src = container.envFrom[i];
    if (src.kind == podspec::EnvFromSource::Kind::kNone) continue;
    ObjectCache& cache = src.kind == podspec::EnvFromSource::Kind::kConfigMap ? configMaps : secrets;
    auto data = cache.get(src.name, src.optional);
    if (!data.ok()) return withContext(data.status(), podstr::cat(where, ": envFrom[", i, "]"));
    if (!*data) continue;
    for (const auto& [k, v] : **data) env.set(src.prefix + k, v);
  }

  auto lookup = [&](std::string_view name) -> std::optional<std::string> {
    if (const std::string* v = env.get(name)) return *v;
    if (auto it = options.serviceEnv.find(std::string(name)); it != options.serviceEnv.end()) return it->second;
    return std::nullopt;
  };

  for (const podspec::EnvVar& var : container.env) {
    const std::string context = podstr::cat(where, ": env ", gojson::quote(var.name));
    std::string value;
    if (!var.value.empty()) {
      value = expand(var.value, lookup);
    } else if (var.valueFrom) {
      const EnvVarSource& src = *var.valueFrom;
      switch (src.kind) {
        case EnvVarSource::Kind::kNone:
          break;
        case EnvVarSource::Kind::kFieldRef: {
          auto v = podFieldValue(pod, src, options, node);
          if (!v.ok()) return withContext(v.status(), context);
          value = *std::move(v);
          break;
        }
        case EnvVarSource::Kind::kResourceFieldRef: {
          if (!options.nodeAllocatable) {
            return absl::FailedPreconditionError(podstr::cat(context, ": node allocatable is not known yet"));
          }
          auto v = resourceFieldValue(pod, container, src, *options.nodeAllocatable);
          if (!v.ok()) return withContext(v.status(), context);
          value = *std::move(v);
          break;
        }
        case EnvVarSource::Kind::kConfigMapKeyRef:
        case EnvVarSource::Kind::kSecretKeyRef: {
          const bool isConfigMap = src.kind == EnvVarSource::Kind::kConfigMapKeyRef;
          auto data = (isConfigMap ? configMaps : secrets).get(src.name, src.optional);
          if (!data.ok()) return withContext(data.status(), context);
          if (!*data) continue;
          auto it = (*data)->find(src.key);
          if (it == (*data)->end()) {
            if (src.optional) continue;
            return absl::FailedPreconditionError(podstr::cat(context, ": couldn't find key ", src.key, " in ",
                                                              isConfigMap ? "ConfigMap " : "Secret ", pod.ns, "/",
                                                              src.name));
          }
          value = it->second;
          break;
        }
        case EnvVarSource::Kind::kFileKeyRef:
          return absl::FailedPreconditionError(
              podstr::cat(context, ": fileKeyRef (volume ", gojson::quote(src.name), ") is not supported yet"));
      }
    }
    env.set(var.name, std::move(value));
  }

  // Service variables the container does not define itself come last.
  EnvList services;
  for (const auto& [k, v] : options.serviceEnv) {
    if (!env.get(k)) services.emplace_back(k, v);
  }
  EnvList out = env.take();
  out.insert(out.end(), services.begin(), services.end());
  return out;
}

}  // namespace cubelet::runtime::podenv
