# Pure parsers shared across the agent: resource.Quantity and Go durations (objects/), and
# the machine facts the node reports (node/). Included from kubelet/CMakeLists.txt.

add_library(kubelet_objects STATIC
  ${CMAKE_CURRENT_LIST_DIR}/objects/quantity.cc
  ${CMAKE_CURRENT_LIST_DIR}/objects/duration.cc
  ${CMAKE_CURRENT_LIST_DIR}/pod/sysctl_allowlist.cc
)
target_link_libraries(kubelet_objects PUBLIC base)

add_library(kubelet_machine STATIC
  ${CMAKE_CURRENT_LIST_DIR}/node/machine_info.cc
)
target_link_libraries(kubelet_machine PUBLIC base)
