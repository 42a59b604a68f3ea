# Unit tests for netlink/cni/: the host-local IPAM store, in temp dirs under /tmp (no root,
# no namespaces). Included from tests/CMakeLists.txt.

add_executable(ipam_test ${CMAKE_CURRENT_LIST_DIR}/ipam_test.cc)
target_include_directories(ipam_test PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(ipam_test PRIVATE cubelet_cni GTest::gtest_main)
gtest_discover_tests(ipam_test DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit)
