#include "kubelet/runtime/pod_spec.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "base/status_macros.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/runtime/pod_gojson.h"
#include "kubelet/runtime/pod_strings.h"

namespace cubelet::runtime::podspec {
namespace {

using nlohmann::json;

constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

absl::Status typeError(std::string_view path, std::string_view want, const json& got) {
  return absl::InvalidArgumentError(podstr::cat(path, ": expected ", want, ", got ", got.type_name()));
}

// A JSON object being read, with its path for messages. Missing keys and nulls read as
// absent (Go's decoder leaves the zero value); any other type mismatch is an error.
class Obj {
 public:
  Obj(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  const json& raw() const { return j_; }
  std::string field(std::string_view key) const {
    return path_.empty() ? std::string(key) : podstr::cat(path_, ".", key);
  }

  // The value at `key`, or nullptr when missing or null.
  const json* get(std::string_view key) const {
    const json* v = objects::find(j_, {key});
    return v && !v->is_null() ? v : nullptr;
  }

  absl::Status str(std::string_view key, std::string& out) const {
    const json* v = get(key);
    if (!v) return absl::OkStatus();
    if (!v->is_string()) return typeError(field(key), "a string", *v);
    out = v->get<std::string>();
    return absl::OkStatus();
  }
  absl::Status optStr(std::string_view key, std::optional<std::string>& out) const {
    const json* v = get(key);
    if (!v) return absl::OkStatus();
    if (!v->is_string()) return typeError(field(key), "a string", *v);
    out = v->get<std::string>();
    return absl::OkStatus();
  }
  absl::Status boolean(std::string_view key, bool& out) const {
    std::optional<bool> b;
    RETURN_IF_ERROR(optBool(key, b));
    if (b) out = *b;
    return absl::OkStatus();
  }
  absl::Status optBool(std::string_view key, std::optional<bool>& out) const {
    const json* v = get(key);
    if (!v) return absl::OkStatus();
    if (!v->is_boolean()) return typeError(field(key), "a boolean", *v);
    out = v->get<bool>();
    return absl::OkStatus();
  }
  absl::Status optInt(std::string_view key, std::optional<int64_t>& out, int64_t lo = kInt64Min,
                      int64_t hi = kInt64Max) const {
    const json* v = get(key);
    if (!v) return absl::OkStatus();
    ASSIGN_OR_RETURN(out, intValue(*v, field(key), lo, hi));
    return absl::OkStatus();
  }
  absl::Status int32(std::string_view key, int32_t& out) const {
    std::optional<int64_t> v;
    RETURN_IF_ERROR(optInt(key, v, kInt32Min, kInt32Max));
    if (v) out = static_cast<int32_t>(*v);
    return absl::OkStatus();
  }
  absl::Status stringList(std::string_view key, std::vector<std::string>& out) const {
    const json* v = get(key);
    if (!v) return absl::OkStatus();
    if (!v->is_array()) return typeError(field(key), "an array", *v);
    for (size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      if (!e.is_string()) return typeError(podstr::cat(field(key), "[", i, "]"), "a string", e);
      out.push_back(e.get<std::string>());
    }
    return absl::OkStatus();
  }
  absl::Status intList(std::string_view key, std::vector<int64_t>& out) const {
    const json* v = get(key);
    if (!v) return absl::OkStatus();
    if (!v->is_array()) return typeError(field(key), "an array", *v);
    for (size_t i = 0; i < v->size(); ++i) {
      ASSIGN_OR_RETURN(int64_t n, intValue((*v)[i], podstr::cat(field(key), "[", i, "]"), kInt64Min, kInt64Max));
      out.push_back(n);
    }
    return absl::OkStatus();
  }
  absl::Status stringMap(std::string_view key, std::map<std::string, std::string>& out) const {
    const json* v = get(key);
    if (!v) return absl::OkStatus();
    if (!v->is_object()) return typeError(field(key), "an object", *v);
    for (const auto& [k, val] : v->items()) {
      if (!val.is_string()) return typeError(podstr::cat(field(key), "[", k, "]"), "a string", val);
      out[k] = val.get<std::string>();
    }
    return absl::OkStatus();
  }
  // The object at `key`; nullopt when missing or null.
  absl::StatusOr<std::optional<Obj>> object(std::string_view key) const {
    const json* v = get(key);
    if (!v) return std::optional<Obj>();
    if (!v->is_object()) return typeError(field(key), "an object", *v);
    return std::optional<Obj>(Obj(*v, field(key)));
  }
  // The objects of the array at `key`.
  absl::StatusOr<std::vector<Obj>> objects(std::string_view key) const {
    std::vector<Obj> out;
    const json* v = get(key);
    if (!v) return out;
    if (!v->is_array()) return typeError(field(key), "an array", *v);
    for (size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      std::string p = podstr::cat(field(key), "[", i, "]");
      if (!e.is_object()) return typeError(p, "an object", e);
      out.emplace_back(e, std::move(p));
    }
    return out;
  }

  static absl::StatusOr<int64_t> intValue(const json& v, const std::string& path, int64_t lo, int64_t hi) {
    if (v.is_number_unsigned()) {
      const auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(hi)) {
        return absl::InvalidArgumentError(podstr::cat(path, ": ", u, " is out of range"));
      }
      return static_cast<int64_t>(u);
    }
    if (!v.is_number_integer()) return typeError(path, "an integer", v);
    const auto n = v.get<int64_t>();
    if (n < lo || n > hi) return absl::InvalidArgumentError(podstr::cat(path, ": ", n, " is out of range"));
    return n;
  }

 private:
  const json& j_;
  std::string path_;
};

absl::StatusOr<ResourceList> parseResourceList(const Obj& parent, std::string_view key) {
  ResourceList out;
  const json* v = parent.get(key);
  if (!v) return out;
  if (!v->is_object()) return typeError(parent.field(key), "an object", *v);
  for (const auto& [name, q] : v->items()) {
    ASSIGN_OR_RETURN(out[name], parseQuantityJson(q, podstr::cat(parent.field(key), "[", name, "]")));
  }
  return out;
}

absl::StatusOr<ResourceRequirements> parseResources(const Obj& o) {
  ResourceRequirements r;
  ASSIGN_OR_RETURN(r.requests, parseResourceList(o, "requests"));
  ASSIGN_OR_RETURN(r.limits, parseResourceList(o, "limits"));
  return r;
}

absl::StatusOr<std::optional<SeLinuxOptions>> parseSeLinux(const Obj& parent) {
  ASSIGN_OR_RETURN(auto o, parent.object("seLinuxOptions"));
  if (!o) return std::optional<SeLinuxOptions>();
  SeLinuxOptions s;
  RETURN_IF_ERROR(o->str("user", s.user));
  RETURN_IF_ERROR(o->str("role", s.role));
  RETURN_IF_ERROR(o->str("type", s.type));
  RETURN_IF_ERROR(o->str("level", s.level));
  return std::optional<SeLinuxOptions>(std::move(s));
}

absl::StatusOr<std::optional<ProfileRef>> parseProfile(const Obj& parent, std::string_view key) {
  ASSIGN_OR_RETURN(auto o, parent.object(key));
  if (!o) return std::optional<ProfileRef>();
  ProfileRef p;
  RETURN_IF_ERROR(o->str("type", p.type));
  RETURN_IF_ERROR(o->optStr("localhostProfile", p.localhostProfile));
  return std::optional<ProfileRef>(std::move(p));
}

absl::StatusOr<SecurityContext> parseSecurityContext(const Obj& o) {
  SecurityContext sc;
  ASSIGN_OR_RETURN(auto caps, o.object("capabilities"));
  if (caps) {
    Capabilities c;
    RETURN_IF_ERROR(caps->stringList("add", c.add));
    RETURN_IF_ERROR(caps->stringList("drop", c.drop));
    sc.capabilities = std::move(c);
  }
  RETURN_IF_ERROR(o.optBool("privileged", sc.privileged));
  ASSIGN_OR_RETURN(sc.seLinuxOptions, parseSeLinux(o));
  RETURN_IF_ERROR(o.optInt("runAsUser", sc.runAsUser));
  RETURN_IF_ERROR(o.optInt("runAsGroup", sc.runAsGroup));
  RETURN_IF_ERROR(o.optBool("runAsNonRoot", sc.runAsNonRoot));
  RETURN_IF_ERROR(o.optBool("readOnlyRootFilesystem", sc.readOnlyRootFilesystem));
  RETURN_IF_ERROR(o.optBool("allowPrivilegeEscalation", sc.allowPrivilegeEscalation));
  RETURN_IF_ERROR(o.optStr("procMount", sc.procMount));
  ASSIGN_OR_RETURN(sc.seccompProfile, parseProfile(o, "seccompProfile"));
  ASSIGN_OR_RETURN(sc.appArmorProfile, parseProfile(o, "appArmorProfile"));
  return sc;
}

absl::StatusOr<PodSecurityContext> parsePodSecurityContext(const Obj& o) {
  PodSecurityContext sc;
  ASSIGN_OR_RETURN(sc.seLinuxOptions, parseSeLinux(o));
  RETURN_IF_ERROR(o.optInt("runAsUser", sc.runAsUser));
  RETURN_IF_ERROR(o.optInt("runAsGroup", sc.runAsGroup));
  RETURN_IF_ERROR(o.optInt("fsGroup", sc.fsGroup));
  RETURN_IF_ERROR(o.optStr("fsGroupChangePolicy", sc.fsGroupChangePolicy));
  RETURN_IF_ERROR(o.optBool("runAsNonRoot", sc.runAsNonRoot));
  RETURN_IF_ERROR(o.intList("supplementalGroups", sc.supplementalGroups));
  RETURN_IF_ERROR(o.optStr("supplementalGroupsPolicy", sc.supplementalGroupsPolicy));
  ASSIGN_OR_RETURN(auto sysctls, o.objects("sysctls"));
  for (const Obj& s : sysctls) {
    std::string name, value;
    RETURN_IF_ERROR(s.str("name", name));
    RETURN_IF_ERROR(s.str("value", value));
    sc.sysctls.emplace_back(std::move(name), std::move(value));
  }
  ASSIGN_OR_RETURN(sc.seccompProfile, parseProfile(o, "seccompProfile"));
  ASSIGN_OR_RETURN(sc.appArmorProfile, parseProfile(o, "appArmorProfile"));
  return sc;
}

absl::StatusOr<EnvVarSource> parseEnvVarSource(const Obj& o) {
  EnvVarSource s;
  ASSIGN_OR_RETURN(auto fieldRef, o.object("fieldRef"));
  ASSIGN_OR_RETURN(auto resourceRef, o.object("resourceFieldRef"));
  ASSIGN_OR_RETURN(auto configMapRef, o.object("configMapKeyRef"));
  ASSIGN_OR_RETURN(auto secretRef, o.object("secretKeyRef"));
  ASSIGN_OR_RETURN(auto fileRef, o.object("fileKeyRef"));
  // The kubelet takes the first of these that is set; validation allows only one.
  if (fieldRef) {
    s.kind = EnvVarSource::Kind::kFieldRef;
    RETURN_IF_ERROR(fieldRef->str("apiVersion", s.apiVersion));
    if (s.apiVersion.empty()) s.apiVersion = "v1";
    RETURN_IF_ERROR(fieldRef->str("fieldPath", s.fieldPath));
  } else if (resourceRef) {
    s.kind = EnvVarSource::Kind::kResourceFieldRef;
    RETURN_IF_ERROR(resourceRef->str("containerName", s.containerName));
    RETURN_IF_ERROR(resourceRef->str("resource", s.resource));
    if (const json* d = resourceRef->get("divisor")) {
      ASSIGN_OR_RETURN(s.divisor, parseQuantityJson(*d, resourceRef->field("divisor")));
    }
  } else if (configMapRef || secretRef) {
    s.kind = configMapRef ? EnvVarSource::Kind::kConfigMapKeyRef : EnvVarSource::Kind::kSecretKeyRef;
    const Obj& r = configMapRef ? *configMapRef : *secretRef;
    RETURN_IF_ERROR(r.str("name", s.name));
    RETURN_IF_ERROR(r.str("key", s.key));
    RETURN_IF_ERROR(r.boolean("optional", s.optional));
  } else if (fileRef) {
    s.kind = EnvVarSource::Kind::kFileKeyRef;
    RETURN_IF_ERROR(fileRef->str("volumeName", s.name));
    RETURN_IF_ERROR(fileRef->str("path", s.path));
    RETURN_IF_ERROR(fileRef->str("key", s.key));
    RETURN_IF_ERROR(fileRef->boolean("optional", s.optional));
  }
  return s;
}

// Port of an HTTPGet/TCPSocket action: IntOrString; Go writes 0 when it is unset.
absl::Status appendIntOrString(std::string& out, const Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) {
    out += "0";
  } else if (v->is_string()) {
    gojson::appendString(out, v->get<std::string>());
  } else {
    ASSIGN_OR_RETURN(int64_t n, Obj::intValue(*v, o.field(key), kInt32Min, kInt32Max));
    podstr::append(out, n);
  }
  return absl::OkStatus();
}

// json.Marshal of a v1.LifecycleHandler (fields in Go declaration order, omitempty
// honoured, API defaults applied: httpGet path "/" and scheme "HTTP").
absl::StatusOr<std::string> encodeLifecycleHandler(const Obj& h) {
  std::string out = "{";
  bool first = true;
  auto key = [&](std::string_view k) {
    if (!first) out.push_back(',');
    first = false;
    gojson::appendString(out, k);
    out.push_back(':');
  };
  ASSIGN_OR_RETURN(auto exec, h.object("exec"));
  if (exec) {
    std::vector<std::string> command;
    RETURN_IF_ERROR(exec->stringList("command", command));
    key("exec");
    out += "{";
    if (!command.empty()) {
      out += "\"command\":[";
      for (size_t i = 0; i < command.size(); ++i) {
        if (i) out.push_back(',');
        gojson::appendString(out, command[i]);
      }
      out += "]";
    }
    out += "}";
  }
  ASSIGN_OR_RETURN(auto http, h.object("httpGet"));
  if (http) {
    std::string path = "/", host, scheme = "HTTP";
    std::optional<std::string> protocol;
    RETURN_IF_ERROR(http->str("path", path));
    if (path.empty()) path = "/";
    RETURN_IF_ERROR(http->str("host", host));
    RETURN_IF_ERROR(http->str("scheme", scheme));
    if (scheme.empty()) scheme = "HTTP";
    RETURN_IF_ERROR(http->optStr("protocol", protocol));
    ASSIGN_OR_RETURN(auto headers, http->objects("httpHeaders"));
    key("httpGet");
    out += "{\"path\":";
    gojson::appendString(out, path);
    out += ",\"port\":";
    RETURN_IF_ERROR(appendIntOrString(out, *http, "port"));
    if (!host.empty()) {
      out += ",\"host\":";
      gojson::appendString(out, host);
    }
    out += ",\"scheme\":";
    gojson::appendString(out, scheme);
    if (!headers.empty()) {
      out += ",\"httpHeaders\":[";
      for (size_t i = 0; i < headers.size(); ++i) {
        std::string name, value;
        RETURN_IF_ERROR(headers[i].str("name", name));
        RETURN_IF_ERROR(headers[i].str("value", value));
        if (i) out.push_back(',');
        out += "{\"name\":";
        gojson::appendString(out, name);
        out += ",\"value\":";
        gojson::appendString(out, value);
        out += "}";
      }
      out += "]";
    }
    if (protocol) {
      out += ",\"protocol\":";
      gojson::appendString(out, *protocol);
    }
    out += "}";
  }
  ASSIGN_OR_RETURN(auto tcp, h.object("tcpSocket"));
  if (tcp) {
    std::string host;
    RETURN_IF_ERROR(tcp->str("host", host));
    key("tcpSocket");
    out += "{\"port\":";
    RETURN_IF_ERROR(appendIntOrString(out, *tcp, "port"));
    if (!host.empty()) {
      out += ",\"host\":";
      gojson::appendString(out, host);
    }
    out += "}";
  }
  ASSIGN_OR_RETURN(auto sleep, h.object("sleep"));
  if (sleep) {
    std::optional<int64_t> seconds;
    RETURN_IF_ERROR(sleep->optInt("seconds", seconds));
    key("sleep");
    podstr::append(out, "{\"seconds\":", seconds.value_or(0), "}");
  }
  out += "}";
  return out;
}

absl::StatusOr<Container> parseContainerObj(const Obj& o, bool hostNetwork) {
  Container c;
  c.path = o.path();
  RETURN_IF_ERROR(o.str("name", c.name));
  RETURN_IF_ERROR(o.str("image", c.image));
  RETURN_IF_ERROR(o.str("workingDir", c.workingDir));
  RETURN_IF_ERROR(o.stringList("command", c.command));
  RETURN_IF_ERROR(o.stringList("args", c.args));

  ASSIGN_OR_RETURN(auto ports, o.objects("ports"));
  for (const Obj& p : ports) {
    ContainerPort port;
    RETURN_IF_ERROR(p.str("name", port.name));
    RETURN_IF_ERROR(p.int32("hostPort", port.hostPort));
    RETURN_IF_ERROR(p.int32("containerPort", port.containerPort));
    RETURN_IF_ERROR(p.str("protocol", port.protocol));
    if (port.protocol.empty()) port.protocol = "TCP";
    RETURN_IF_ERROR(p.str("hostIP", port.hostIp));
    if (hostNetwork && port.hostPort == 0) port.hostPort = port.containerPort;
    c.ports.push_back(std::move(port));
  }

  ASSIGN_OR_RETURN(auto envFrom, o.objects("envFrom"));
  for (const Obj& e : envFrom) {
    EnvFromSource src;
    RETURN_IF_ERROR(e.str("prefix", src.prefix));
    ASSIGN_OR_RETURN(auto cm, e.object("configMapRef"));
    ASSIGN_OR_RETURN(auto secret, e.object("secretRef"));
    if (cm || secret) {
      src.kind = cm ? EnvFromSource::Kind::kConfigMap : EnvFromSource::Kind::kSecret;
      const Obj& r = cm ? *cm : *secret;
      RETURN_IF_ERROR(r.str("name", src.name));
      RETURN_IF_ERROR(r.boolean("optional", src.optional));
    }
    c.envFrom.push_back(std::move(src));
  }

  ASSIGN_OR_RETURN(auto env, o.objects("env"));
  for (const Obj& e : env) {
    EnvVar var;
    RETURN_IF_ERROR(e.str("name", var.name));
    RETURN_IF_ERROR(e.str("value", var.value));
    ASSIGN_OR_RETURN(auto from, e.object("valueFrom"));
    if (from) {
      ASSIGN_OR_RETURN(var.valueFrom, parseEnvVarSource(*from));
    }
    c.env.push_back(std::move(var));
  }

  ASSIGN_OR_RETURN(auto resources, o.object("resources"));
  if (resources) {
    ASSIGN_OR_RETURN(c.resources, parseResources(*resources));
  }
  // API defaulting (SetDefaults_Pod): a limit without a request sets the request.
  for (const auto& [name, q] : c.resources.limits) c.resources.requests.try_emplace(name, q);

  RETURN_IF_ERROR(o.optStr("restartPolicy", c.restartPolicy));
  RETURN_IF_ERROR(o.boolean("stdin", c.stdinOpen));
  RETURN_IF_ERROR(o.boolean("stdinOnce", c.stdinOnce));
  RETURN_IF_ERROR(o.boolean("tty", c.tty));
  RETURN_IF_ERROR(o.str("terminationMessagePath", c.terminationMessagePath));
  if (c.terminationMessagePath.empty()) c.terminationMessagePath = "/dev/termination-log";
  RETURN_IF_ERROR(o.str("terminationMessagePolicy", c.terminationMessagePolicy));
  if (c.terminationMessagePolicy.empty()) c.terminationMessagePolicy = "File";

  ASSIGN_OR_RETURN(auto sc, o.object("securityContext"));
  if (sc) {
    ASSIGN_OR_RETURN(c.securityContext, parseSecurityContext(*sc));
  }

  ASSIGN_OR_RETURN(auto mounts, o.objects("volumeMounts"));
  for (const Obj& m : mounts) {
    VolumeMount vm;
    RETURN_IF_ERROR(m.str("name", vm.name));
    RETURN_IF_ERROR(m.str("mountPath", vm.mountPath));
    RETURN_IF_ERROR(m.str("subPath", vm.subPath));
    RETURN_IF_ERROR(m.str("subPathExpr", vm.subPathExpr));
    RETURN_IF_ERROR(m.boolean("readOnly", vm.readOnly));
    RETURN_IF_ERROR(m.optStr("mountPropagation", vm.mountPropagation));
    RETURN_IF_ERROR(m.optStr("recursiveReadOnly", vm.recursiveReadOnly));
    c.volumeMounts.push_back(std::move(vm));
  }

  ASSIGN_OR_RETURN(auto lifecycle, o.object("lifecycle"));
  if (lifecycle) {
    ASSIGN_OR_RETURN(auto preStop, lifecycle->object("preStop"));
    if (preStop) {
      ASSIGN_OR_RETURN(c.preStopJson, encodeLifecycleHandler(*preStop));
    }
  }
  return c;
}

absl::StatusOr<std::vector<Container>> parseContainers(const Obj& spec, std::string_view key, bool hostNetwork) {
  std::vector<Container> out;
  ASSIGN_OR_RETURN(auto list, spec.objects(key));
  for (const Obj& o : list) {
    ASSIGN_OR_RETURN(Container c, parseContainerObj(o, hostNetwork));
    out.push_back(std::move(c));
  }
  return out;
}

// A file mode (defaultMode, items[].mode): validation allows 0..0777.
absl::Status modeField(const Obj& o, std::string_view key, std::optional<int32_t>& out) {
  std::optional<int64_t> v;
  RETURN_IF_ERROR(o.optInt(key, v, 0, 0777));
  if (v) out = static_cast<int32_t>(*v);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<KeyToPath>> parseItems(const Obj& o) {
  std::vector<KeyToPath> out;
  ASSIGN_OR_RETURN(auto items, o.objects("items"));
  for (const Obj& i : items) {
    KeyToPath k;
    RETURN_IF_ERROR(i.str("key", k.key));
    RETURN_IF_ERROR(i.str("path", k.path));
    RETURN_IF_ERROR(modeField(i, "mode", k.mode));
    out.push_back(std::move(k));
  }
  return out;
}

absl::StatusOr<ObjectVolumeSource> parseObjectSource(const Obj& o, std::string_view nameKey) {
  ObjectVolumeSource src;
  RETURN_IF_ERROR(o.str(nameKey, src.name));
  ASSIGN_OR_RETURN(src.items, parseItems(o));
  RETURN_IF_ERROR(modeField(o, "defaultMode", src.defaultMode));
  RETURN_IF_ERROR(o.boolean("optional", src.optional));
  return src;
}

absl::StatusOr<std::vector<DownwardApiFile>> parseDownwardApiFiles(const Obj& o) {
  std::vector<DownwardApiFile> out;
  ASSIGN_OR_RETURN(auto items, o.objects("items"));
  for (const Obj& i : items) {
    DownwardApiFile f;
    RETURN_IF_ERROR(i.str("path", f.path));
    RETURN_IF_ERROR(modeField(i, "mode", f.mode));
    ASSIGN_OR_RETURN(f.ref, parseEnvVarSource(i));
    if (f.ref.kind != EnvVarSource::Kind::kFieldRef && f.ref.kind != EnvVarSource::Kind::kResourceFieldRef) {
      return absl::InvalidArgumentError(i.path() + ": must specify fieldRef or resourceFieldRef");
    }
    out.push_back(std::move(f));
  }
  return out;
}

absl::StatusOr<VolumeProjection> parseProjection(const Obj& o) {
  VolumeProjection p;
  ASSIGN_OR_RETURN(auto configMap, o.object("configMap"));
  ASSIGN_OR_RETURN(auto secret, o.object("secret"));
  ASSIGN_OR_RETURN(auto downwardApi, o.object("downwardAPI"));
  ASSIGN_OR_RETURN(auto token, o.object("serviceAccountToken"));
  if (configMap) {
    p.kind = VolumeProjection::Kind::kConfigMap;
    ASSIGN_OR_RETURN(p.object, parseObjectSource(*configMap, "name"));
  } else if (secret) {
    p.kind = VolumeProjection::Kind::kSecret;
    ASSIGN_OR_RETURN(p.object, parseObjectSource(*secret, "name"));
  } else if (downwardApi) {
    p.kind = VolumeProjection::Kind::kDownwardApi;
    ASSIGN_OR_RETURN(p.files, parseDownwardApiFiles(*downwardApi));
  } else if (token) {
    p.kind = VolumeProjection::Kind::kServiceAccountToken;
    RETURN_IF_ERROR(token->str("audience", p.audience));
    RETURN_IF_ERROR(token->str("path", p.tokenPath));
    std::optional<int64_t> seconds;
    RETURN_IF_ERROR(token->optInt("expirationSeconds", seconds));
    if (seconds) p.expirationSeconds = *seconds;
  } else {
    for (const auto& [k, v] : o.raw().items()) {
      if (!v.is_null()) p.other = k;
    }
  }
  return p;
}

absl::StatusOr<Volume> parseVolume(const Obj& o) {
  Volume v;
  v.path = o.path();
  RETURN_IF_ERROR(o.str("name", v.name));
  ASSIGN_OR_RETURN(auto emptyDir, o.object("emptyDir"));
  ASSIGN_OR_RETURN(auto hostPath, o.object("hostPath"));
  ASSIGN_OR_RETURN(auto configMap, o.object("configMap"));
  ASSIGN_OR_RETURN(auto secret, o.object("secret"));
  ASSIGN_OR_RETURN(auto downwardApi, o.object("downwardAPI"));
  ASSIGN_OR_RETURN(auto projected, o.object("projected"));
  if (emptyDir) {
    v.type = Volume::Type::kEmptyDir;
    RETURN_IF_ERROR(emptyDir->str("medium", v.medium));
    if (const json* limit = emptyDir->get("sizeLimit")) {
      ASSIGN_OR_RETURN(v.sizeLimit, parseQuantityJson(*limit, emptyDir->field("sizeLimit")));
    }
  } else if (hostPath) {
    v.type = Volume::Type::kHostPath;
    RETURN_IF_ERROR(hostPath->str("path", v.hostPath));
    RETURN_IF_ERROR(hostPath->str("type", v.hostPathType));
  } else if (configMap) {
    v.type = Volume::Type::kConfigMap;
    ASSIGN_OR_RETURN(v.object, parseObjectSource(*configMap, "name"));
  } else if (secret) {
    v.type = Volume::Type::kSecret;
    ASSIGN_OR_RETURN(v.object, parseObjectSource(*secret, "secretName"));
  } else if (downwardApi) {
    v.type = Volume::Type::kDownwardApi;
    ASSIGN_OR_RETURN(v.files, parseDownwardApiFiles(*downwardApi));
    RETURN_IF_ERROR(modeField(*downwardApi, "defaultMode", v.defaultMode));
  } else if (projected) {
    v.type = Volume::Type::kProjected;
    RETURN_IF_ERROR(modeField(*projected, "defaultMode", v.defaultMode));
    ASSIGN_OR_RETURN(auto sources, projected->objects("sources"));
    for (const Obj& s : sources) {
      ASSIGN_OR_RETURN(VolumeProjection p, parseProjection(s));
      v.sources.push_back(std::move(p));
    }
  } else {
    for (const auto& [k, val] : o.raw().items()) {
      if (k != "name" && !val.is_null()) v.other = k;
    }
  }
  return v;
}

absl::StatusOr<Pod> parsePodObj(const Obj& root) {
  Pod pod;
  ASSIGN_OR_RETURN(auto meta, root.object("metadata"));
  if (meta) {
    RETURN_IF_ERROR(meta->str("name", pod.name));
    RETURN_IF_ERROR(meta->str("namespace", pod.ns));
    RETURN_IF_ERROR(meta->str("uid", pod.uid));
    RETURN_IF_ERROR(meta->stringMap("labels", pod.labels));
    RETURN_IF_ERROR(meta->stringMap("annotations", pod.annotations));
    RETURN_IF_ERROR(meta->optInt("deletionGracePeriodSeconds", pod.deletionGracePeriodSeconds));
  }
  ASSIGN_OR_RETURN(auto specOpt, root.object("spec"));
  static const json kNoSpec = json::object();
  const Obj spec = specOpt ? *specOpt : Obj(kNoSpec, "spec");
  RETURN_IF_ERROR(spec.str("nodeName", pod.nodeName));
  RETURN_IF_ERROR(spec.str("serviceAccountName", pod.serviceAccountName));
  if (pod.serviceAccountName.empty()) RETURN_IF_ERROR(spec.str("serviceAccount", pod.serviceAccountName));
  RETURN_IF_ERROR(spec.str("hostname", pod.hostname));
  RETURN_IF_ERROR(spec.str("subdomain", pod.subdomain));
  RETURN_IF_ERROR(spec.optStr("hostnameOverride", pod.hostnameOverride));
  RETURN_IF_ERROR(spec.optBool("setHostnameAsFQDN", pod.setHostnameAsFqdn));
  RETURN_IF_ERROR(spec.boolean("hostNetwork", pod.hostNetwork));
  RETURN_IF_ERROR(spec.boolean("hostPID", pod.hostPid));
  RETURN_IF_ERROR(spec.boolean("hostIPC", pod.hostIpc));
  RETURN_IF_ERROR(spec.optBool("shareProcessNamespace", pod.shareProcessNamespace));
  RETURN_IF_ERROR(spec.optBool("hostUsers", pod.hostUsers));
  RETURN_IF_ERROR(spec.str("dnsPolicy", pod.dnsPolicy));
  if (pod.dnsPolicy.empty()) pod.dnsPolicy = "ClusterFirst";
  ASSIGN_OR_RETURN(auto dnsConfig, spec.object("dnsConfig"));
  if (dnsConfig) {
    PodDnsConfig d;
    RETURN_IF_ERROR(dnsConfig->stringList("nameservers", d.nameservers));
    RETURN_IF_ERROR(dnsConfig->stringList("searches", d.searches));
    ASSIGN_OR_RETURN(auto options, dnsConfig->objects("options"));
    for (const Obj& opt : options) {
      DnsConfigOption o;
      RETURN_IF_ERROR(opt.str("name", o.name));
      RETURN_IF_ERROR(opt.optStr("value", o.value));
      d.options.push_back(std::move(o));
    }
    pod.dnsConfig = std::move(d);
  }
  ASSIGN_OR_RETURN(auto hostAliases, spec.objects("hostAliases"));
  for (const Obj& a : hostAliases) {
    HostAlias alias;
    RETURN_IF_ERROR(a.str("ip", alias.ip));
    RETURN_IF_ERROR(a.stringList("hostnames", alias.hostnames));
    pod.hostAliases.push_back(std::move(alias));
  }
  std::optional<int64_t> grace;
  RETURN_IF_ERROR(spec.optInt("terminationGracePeriodSeconds", grace));
  if (grace) pod.terminationGracePeriodSeconds = *grace < 0 ? 1 : *grace;
  std::optional<int64_t> priority;
  RETURN_IF_ERROR(spec.optInt("priority", priority, kInt32Min, kInt32Max));
  if (priority) pod.priority = static_cast<int32_t>(*priority);
  RETURN_IF_ERROR(spec.str("priorityClassName", pod.priorityClassName));

  ASSIGN_OR_RETURN(auto sc, spec.object("securityContext"));
  if (sc) {
    ASSIGN_OR_RETURN(pod.securityContext, parsePodSecurityContext(*sc));
  }
  ASSIGN_OR_RETURN(auto resources, spec.object("resources"));
  if (resources) {
    ASSIGN_OR_RETURN(pod.resources, parseResources(*resources));
  }
  if (spec.get("overhead")) {
    ASSIGN_OR_RETURN(pod.overhead, parseResourceList(spec, "overhead"));
  }
  ASSIGN_OR_RETURN(pod.containers, parseContainers(spec, "containers", pod.hostNetwork));
  ASSIGN_OR_RETURN(pod.initContainers, parseContainers(spec, "initContainers", pod.hostNetwork));
  ASSIGN_OR_RETURN(pod.ephemeralContainers, parseContainers(spec, "ephemeralContainers", false));
  ASSIGN_OR_RETURN(auto volumes, spec.objects("volumes"));
  for (const Obj& v : volumes) {
    ASSIGN_OR_RETURN(Volume volume, parseVolume(v));
    pod.volumes.push_back(std::move(volume));
  }

  ASSIGN_OR_RETURN(auto status, root.object("status"));
  if (status) RETURN_IF_ERROR(status->str("qosClass", pod.qosClass));
  return pod;
}

}  // namespace

absl::StatusOr<objects::Quantity> parseQuantityJson(const json& value, std::string_view path) {
  std::string text;
  if (value.is_string()) {
    text = value.get<std::string>();
    // Quantity.UnmarshalJSON trims surrounding whitespace first.
    const auto first = text.find_first_not_of(" \t\n\v\f\r");
    const auto last = text.find_last_not_of(" \t\n\v\f\r");
    text = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
  } else if (value.is_number_integer()) {
    text = value.dump();
  } else if (value.is_number_float()) {
    text = value.dump();
  } else {
    return typeError(path, "a quantity", value);
  }
  auto q = objects::Quantity::parse(text);
  if (!q.ok()) return absl::InvalidArgumentError(podstr::cat(path, ": ", q.status().message()));
  return q;
}

absl::StatusOr<Pod> parsePod(const json& pod) {
  if (!pod.is_object()) return typeError("pod", "an object", pod);
  return parsePodObj(Obj(pod, ""));
}

absl::StatusOr<Container> parseContainer(const json& container, std::string path, bool hostNetwork) {
  if (!container.is_object()) return typeError(path, "an object", container);
  return parseContainerObj(Obj(container, std::move(path)), hostNetwork);
}

std::string containerPath(const json& pod, const json& container) {
  for (std::string_view key : {"containers", "initContainers", "ephemeralContainers"}) {
    const json& list = objects::array(pod, {"spec", key});
    for (size_t i = 0; i < list.size(); ++i) {
      if (&list[i] == &container) return podstr::cat("spec.", key, "[", i, "]");
    }
  }
  return podstr::cat("container ", gojson::quote(objects::str(container, {"name"})));
}

std::string podDescription(const Pod& pod) { return podstr::cat(pod.name, "_", pod.ns, "(", pod.uid, ")"); }

}  // namespace cubelet::runtime::podspec
