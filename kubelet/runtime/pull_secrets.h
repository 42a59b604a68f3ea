// Image pull credentials from a pod's imagePullSecrets, the way the upstream kubelet's
// credential keyring picks them (k8s.io/kubernetes pkg/credentialprovider: BasicDockerKeyring,
// DockerConfigJSON / DockerConfig, and secrets.MakeDockerKeyring).
//
// Flow: the kubelet fetches every Secret named in spec.imagePullSecrets (pullSecretNames),
// turns each into credentials (parsePullSecret), concatenates them in imagePullSecrets order,
// and for each image asks matchCredentials which of them apply. PullImage is then tried with
// each matching credential in that order (toAuthConfig) until one succeeds; with no match the
// image is pulled without credentials.
//
// Pure functions: no I/O, no globals, thread-safe. Malformed input never throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "cri-api/api.pb.h"

namespace cubelet::runtime {

// One registry credential of a pull secret.
struct PullCredential {
  // The keyring key: the config entry's registry with any "http://" / "https://" scheme and a
  // "/v1/" or "/v2/" API path removed, e.g. "localhost:5001", "*.example.com",
  // "quay.io/team", "index.docker.io" (for "https://index.docker.io/v1/").
  std::string registry;
  // Credentials; when the entry has "auth" (base64 "user:pass"), username and password come
  // from it (overriding "username"/"password", as upstream) and `auth` keeps it verbatim.
  std::string username;
  std::string password;
  std::string auth;
  std::string identityToken;  // entry "identitytoken"
  std::string registryToken;  // entry "registrytoken"
  // The secret the credential came from.
  std::string secretNamespace;
  std::string secretName;

  bool operator==(const PullCredential&) const = default;
};

// Names in spec.imagePullSecrets, in order, skipping empty ones (as upstream).
std::vector<std::string> pullSecretNames(const nlohmann::json& pod);

// The credentials in one Secret, as the apiserver returns it (data values base64-encoded):
//  - type kubernetes.io/dockerconfigjson: data[".dockerconfigjson"] is {"auths": {registry:
//    entry, ...}} (a ~/.docker/config.json);
//  - type kubernetes.io/dockercfg: data[".dockercfg"] is {registry: entry, ...} (a legacy
//    ~/.dockercfg).
// An entry is an object with optional string fields username, password, email, auth,
// identitytoken, registrytoken (key case ignored, unknown keys ignored, null = absent). One
// credential per entry, in sorted registry order (nlohmann::json keeps objects sorted;
// upstream iterates a Go map, in no fixed order). Entries whose registry the upstream
// keyring cannot parse as a URL (a non-numeric port, a space or control character ...) are
// skipped, as upstream skips them.
//
// A secret of any other type yields no credentials (upstream ignores it). Errors are
// InvalidArgument naming the secret and the field, e.g.
//   secret default/regcred: data[.dockerconfigjson]: invalid base64
//   secret default/regcred: data[.dockerconfigjson]: auths[localhost:5001].auth: not base64(username:password)
absl::StatusOr<std::vector<PullCredential>> parsePullSecret(const nlohmann::json& secret);

// The repository an image reference names, as the kubelet looks credentials up for it
// (parsers.ParseImageName: docker reference normalization without tag and digest):
//   "busybox:1.36"                       -> "docker.io/library/busybox"
//   "index.docker.io/user/app@sha256:.." -> "docker.io/user/app"
//   "localhost:5001/private/busybox:1.0" -> "localhost:5001/private/busybox"
// InvalidArgument when the reference is not valid (uppercase repository, bad tag or digest ...).
absl::StatusOr<std::string> imageRepository(std::string_view image);

// The credentials of `creds` that apply to `image`, in the order the upstream keyring returns
// them. Keys are visited in reverse lexicographic order of `registry` (so "quay.io/team"
// comes before "quay.io"); each matching key contributes its credentials in `creds` order.
// A key matches the image repository (imageRepository(image)) when
//  - its host has as many dot-separated labels as the image's, each label matching as a glob
//    ("*.example.com" matches "a.example.com", not "a.b.example.com" nor "example.com");
//  - its port equals the image's port (both absent, or the same string);
//  - its path is a string prefix of the image's path ("quay.io/team" matches
//    "quay.io/team/app" and "quay.io/teamx/app").
// When no key matches and the image is on the default registry (no registry host, or
// docker.io / index.docker.io), the credentials whose key is "index.docker.io" apply: so
// "https://index.docker.io/v1/", "index.docker.io" and "docker.io" entries all serve
// Docker Hub images ("docker.io" by the rules above). An invalid image matches nothing.
std::vector<PullCredential> matchCredentials(const std::string& image,
                                             const std::vector<PullCredential>& creds);

// The CRI AuthConfig for PullImage: username, password, auth, identity_token, registry_token.
// server_address stays empty as in the upstream kubelet: containerd drops credentials whose
// server_address, parsed as a URL, does not name the exact host it pulls from, which a
// keyring key ("localhost:5001", "docker.io" for registry-1.docker.io, "*.example.com")
// never does.
::runtime::v1::AuthConfig toAuthConfig(const PullCredential& c);

}  // namespace cubelet::runtime
