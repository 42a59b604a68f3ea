#include "kubelet/config/kubeconfig.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "base/status_macros.h"
#include "kubelet/config/yaml_json.h"
#include "kubelet/objects/json_access.h"

namespace cubelet::config {
namespace {

using nlohmann::json;

absl::Status fieldError(const std::string& path, const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError("kubeconfig " + path + ": " + field + ": " + why);
}

absl::StatusOr<std::string> readFile(const std::string& file, const std::string& what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(what + ": cannot read " + file + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string resolvePath(const std::string& base, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  auto slash = base.rfind('/');
  return slash == std::string::npos ? p : base.substr(0, slash + 1) + p;
}

// Finds the entry named `name` in a list like clusters: [{name: x, cluster: {...}}].
absl::StatusOr<json> findNamed(const json& doc, const std::string& path, const std::string& list,
                               const std::string& inner, const std::string& name) {
  if (!doc.contains(list)) return fieldError(path, list, "missing");
  const json& arr = doc[list];
  if (!arr.is_array()) return fieldError(path, list, "must be a list");
  for (size_t i = 0; i < arr.size(); ++i) {
    const json& e = arr[i];
    if (!e.is_object()) return fieldError(path, list + "[" + std::to_string(i) + "]", "must be a mapping");
    if (objects::str(e, {"name"}) == name) {
      if (!e.contains(inner) || !e[inner].is_object()) {
        return fieldError(path, list + "[" + std::to_string(i) + "]." + inner, "missing or not a mapping");
      }
      return e[inner];
    }
  }
  return fieldError(path, list, "no entry named \"" + name + "\"");
}

absl::StatusOr<std::string> optString(const json& obj, const std::string& key, const std::string& path,
                                      const std::string& field) {
  if (!obj.contains(key) || obj[key].is_null()) return std::string();
  if (!obj[key].is_string()) return fieldError(path, field + "." + key, "must be a string");
  return obj[key].get<std::string>();
}

// `<key>-data` (base64 inline) or `<key>` (a file path); inline wins as in clientcmd.
absl::StatusOr<std::string> dataOrFile(const json& obj, const std::string& key, const std::string& path,
                                       const std::string& field) {
  ASSIGN_OR_RETURN(std::string data, optString(obj, key + "-data", path, field));
  if (!data.empty()) {
    std::string out;
    if (!absl::Base64Unescape(data, &out)) {
      return fieldError(path, field + "." + key + "-data", "not valid base64");
    }
    return out;
  }
  ASSIGN_OR_RETURN(std::string file, optString(obj, key, path, field));
  if (file.empty()) return std::string();
  return readFile(resolvePath(path, file), "kubeconfig " + path + ": " + field + "." + key);
}

}  // namespace

absl::StatusOr<RestConfig> restConfigFromKubeconfig(const json& doc, const std::string& path) {
  if (!doc.is_object()) return absl::InvalidArgumentError("kubeconfig " + path + ": not a mapping");
  if (doc.contains("kind") && doc["kind"] != "Config") {
    return fieldError(path, "kind", "must be Config, got " + doc["kind"].dump());
  }
  ASSIGN_OR_RETURN(std::string current, optString(doc, "current-context", path, ""));
  if (current.empty()) return fieldError(path, "current-context", "missing or empty");
  ASSIGN_OR_RETURN(json ctx, findNamed(doc, path, "contexts", "context", current));
  const std::string cf = "contexts[" + current + "].context";
  ASSIGN_OR_RETURN(std::string clusterName, optString(ctx, "cluster", path, cf));
  ASSIGN_OR_RETURN(std::string userName, optString(ctx, "user", path, cf));
  if (clusterName.empty()) return fieldError(path, cf + ".cluster", "missing");

  RestConfig rc;
  rc.source = path;
  ASSIGN_OR_RETURN(json cluster, findNamed(doc, path, "clusters", "cluster", clusterName));
  const std::string cl = "clusters[" + clusterName + "].cluster";
  ASSIGN_OR_RETURN(rc.server, optString(cluster, "server", path, cl));
  if (rc.server.empty()) return fieldError(path, cl + ".server", "missing");
  if (rc.server.rfind("https://", 0) != 0 && rc.server.rfind("http://", 0) != 0) {
    return fieldError(path, cl + ".server", "\"" + rc.server + "\" is not an http(s) URL");
  }
  ASSIGN_OR_RETURN(rc.caPem, dataOrFile(cluster, "certificate-authority", path, cl));
  ASSIGN_OR_RETURN(rc.tlsServerName, optString(cluster, "tls-server-name", path, cl));
  if (cluster.contains("insecure-skip-tls-verify")) {
    if (!cluster["insecure-skip-tls-verify"].is_boolean()) {
      return fieldError(path, cl + ".insecure-skip-tls-verify", "must be true or false");
    }
    rc.insecureSkipVerify = cluster["insecure-skip-tls-verify"].get<bool>();
  }

  if (!userName.empty()) {
    ASSIGN_OR_RETURN(json user, findNamed(doc, path, "users", "user", userName));
    const std::string ul = "users[" + userName + "].user";
    ASSIGN_OR_RETURN(rc.clientCertPem, dataOrFile(user, "client-certificate", path, ul));
    ASSIGN_OR_RETURN(rc.clientKeyPem, dataOrFile(user, "client-key", path, ul));
    if (rc.clientCertPem.empty() != rc.clientKeyPem.empty()) {
      return fieldError(path, ul, "client-certificate and client-key must be given together");
    }
    ASSIGN_OR_RETURN(rc.bearerToken, optString(user, "token", path, ul));
    ASSIGN_OR_RETURN(std::string tokenFile, optString(user, "tokenFile", path, ul));
    if (rc.bearerToken.empty() && !tokenFile.empty()) {
      ASSIGN_OR_RETURN(rc.bearerToken, readFile(resolvePath(path, tokenFile),
                                                "kubeconfig " + path + ": " + ul + ".tokenFile"));
      while (!rc.bearerToken.empty() && isspace(static_cast<unsigned char>(rc.bearerToken.back()))) {
        rc.bearerToken.pop_back();
      }
    }
  }
  return rc;
}

absl::StatusOr<RestConfig> loadKubeconfig(const std::string& path) {
  auto doc = readYamlFile(path);
  if (!doc.ok()) return annotate(doc.status(), "invalid kubeconfig");
  return restConfigFromKubeconfig(*doc, path);
}

}  // namespace cubelet::config
