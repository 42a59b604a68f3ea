// Starts one container in the fake CRI runtime through a real CriClient (sandbox, image,
// create, start), for tests that need a running container to exec into without a PodRuntime.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "kubelet/runtime/cri_client.h"
#include "tests/fakes/fake_cri.h"

namespace cubelet::testing {

// The new container's id. The sandbox is pod `web` in `default` with `uid`; the image is
// added to the fake's local store first.
inline absl::StatusOr<std::string> startFakeContainer(runtime::CriClient& cri, FakeRuntimeService& fake,
                                                      const std::string& uid, const std::string& name = "app",
                                                      const std::string& image = "busybox:1.36") {
  fake.addImage(image);
  runtime::v1::PodSandboxConfig sandbox;
  sandbox.mutable_metadata()->set_name("web");
  sandbox.mutable_metadata()->set_namespace_("default");
  sandbox.mutable_metadata()->set_uid(uid);
  auto sandboxId = cri.runPodSandbox(sandbox, "");
  if (!sandboxId.ok()) return sandboxId.status();
  runtime::v1::ContainerConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_image()->set_image(image);
  auto id = cri.createContainer(*sandboxId, config, sandbox);
  if (!id.ok()) return id.status();
  if (auto st = cri.startContainer(*id); !st.ok()) return st;
  return id;
}

}  // namespace cubelet::testing
