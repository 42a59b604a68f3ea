# Pod -> CRI sandbox/container configs and image pull credentials (pure functions, see
# runtime/pod_config.h and runtime/pull_secrets.h).
# Included from kubelet/CMakeLists.txt.

add_library(kubelet_podconfig STATIC
  ${CMAKE_CURRENT_LIST_DIR}/pod_config.cc
  ${CMAKE_CURRENT_LIST_DIR}/pod_dns.cc
  ${CMAKE_CURRENT_LIST_DIR}/pod_env.cc
  ${CMAKE_CURRENT_LIST_DIR}/pod_gojson.cc
  ${CMAKE_CURRENT_LIST_DIR}/pod_resources.cc
  ${CMAKE_CURRENT_LIST_DIR}/pod_security.cc
  ${CMAKE_CURRENT_LIST_DIR}/pod_spec.cc
  ${CMAKE_CURRENT_LIST_DIR}/pull_secrets.cc
  ${CMAKE_CURRENT_LIST_DIR}/service_env.cc
)
target_link_libraries(kubelet_podconfig PUBLIC base kubelet_objects cri_api absl::strings)
