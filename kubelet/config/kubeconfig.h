// kubeconfig files (clientcmd v1): the current context's server, CA, client certificate and
// key (file or inline data), bearer token (inline or tokenFile). Relative paths are resolved
// against the kubeconfig's own directory, as clientcmd does.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace cubelet::config {

// What the API client needs to reach and authenticate to the apiserver. PEM material is
// loaded into memory so later file changes (rotation) are explicit reloads.
struct RestConfig {
  std::string server;         // https://host:port
  std::string caPem;          // empty: system trust store
  bool insecureSkipVerify = false;
  std::string tlsServerName;  // overrides the name checked in the server's certificate
  std::string clientCertPem;
  std::string clientKeyPem;
  std::string bearerToken;
  std::string source;         // the file it came from, for messages
};

// Parses an already-decoded kubeconfig document. `path` names it in errors and anchors
// relative paths.
absl::StatusOr<RestConfig> restConfigFromKubeconfig(const nlohmann::json& doc, const std::string& path);

// Reads the file and resolves the current context.
absl::StatusOr<RestConfig> loadKubeconfig(const std::string& path);

}  // namespace cubelet::config
