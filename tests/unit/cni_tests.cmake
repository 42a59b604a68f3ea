# Unit tests for netlink/cni/: the host-local IPAM store (temp dirs under /tmp, no root); the
# plugin's parsing, JSON and installation (temp dirs), and whole ADD/CHECK/DEL runs as root
# inside throwaway network namespaces. Included from tests/CMakeLists.txt.

foreach(_test ipam_test cni_plugin_test)
  add_executable(${_test} ${CMAKE_CURRENT_LIST_DIR}/${_test}.cc)
  target_include_directories(${_test} PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(${_test} PRIVATE cubelet_cni GTest::gtest_main)
  gtest_discover_tests(${_test} DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit)
endforeach()
