// Static pods: pods the node agent reads from manifest files in staticPodPath rather than
// from the apiserver (the upstream kubelet's "file" pod source), and the mirror pods that
// make them visible in the apiserver.
//
// A manifest is one Pod (YAML or JSON) per file. Its pod gets, as upstream:
//  - the name "<name>-<nodeName>", namespace "default" when unset, spec.nodeName;
//  - a UID derived from the node name, the file path and the manifest content, so the same
//    file on the same node always yields the same UID and any edit yields a new one (the
//    upstream kubelet hashes its Go object dump; ours hashes the canonical JSON, so the
//    two agents give different UIDs for the same file);
//  - the annotations kubernetes.io/config.hash (the UID), config.source ("file") and
//    config.seen.
// The mirror pod is that pod as posted to the apiserver: annotation
// kubernetes.io/config.mirror = the hash, the Node as controller owner, no UID of its own.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace cubelet::pod {

using nlohmann::json;

inline constexpr char kConfigHashAnnotation[] = "kubernetes.io/config.hash";
inline constexpr char kConfigMirrorAnnotation[] = "kubernetes.io/config.mirror";
inline constexpr char kConfigSourceAnnotation[] = "kubernetes.io/config.source";
inline constexpr char kConfigSeenAnnotation[] = "kubernetes.io/config.seen";

// The static pod of one manifest file (its text already read). Errors name the file and
// the field, e.g. "/etc/kubernetes/manifests/web.yaml: spec.containers[0].image: Required
// value".
absl::StatusOr<json> staticPodFromManifest(const std::string& path, const std::string& text,
                                           const std::string& nodeName);

bool isStaticPod(const json& pod);
bool isMirrorPod(const json& pod);
// "<namespace>/<name>": what ties a static pod to its mirror.
std::string podFullName(const json& pod);
// The mirror pod belongs to this exact version of the static pod (same hash).
bool isMirrorOf(const json& mirror, const json& staticPod);
// The mirror pod to create for `staticPod` on the node (nodeUid from the Node object).
json mirrorPodFor(const json& staticPod, const std::string& nodeName, const std::string& nodeUid);

// Reads staticPodPath: every regular file whose name does not start with '.', in name
// order. A file that cannot be read or parsed is logged (file and field) and skipped; the
// other pods are unaffected.
class StaticPodSource {
 public:
  StaticPodSource(std::string dir, std::string nodeName) : dir_(std::move(dir)), nodeName_(std::move(nodeName)) {}

  // One pass over the directory: the pods of its valid manifests. Keeps each pod's
  // config.seen from the pass that first saw it.
  std::vector<json> read();

  // Calls `changed` with the whole set whenever it differs from the last one delivered
  // (the first pass is delivered by the caller through read()): at once on inotify events
  // in the directory, and every `resync` as a safety net (and for a directory that does
  // not exist yet).
  void run(std::stop_token stop, std::chrono::milliseconds resync,
           const std::function<void(const std::vector<json>&)>& changed);

 private:
  const std::string dir_, nodeName_;
  std::map<std::string, std::string> seen_;  // uid -> config.seen (run/read thread only)
  std::map<std::string, std::string> errors_;  // path -> last error logged, to log each once
  std::string last_;  // the last set read, serialized
};

}  // namespace cubelet::pod
