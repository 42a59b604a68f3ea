# Unit tests for the cubelet-cni plugin (netlink/cni/): parsing, JSON, installation in temp
# dirs; whole ADD/CHECK/DEL runs as root inside throwaway network namespaces.
# Included from tests/CMakeLists.txt.

add_executable(cni_plugin_test ${CMAKE_CURRENT_LIST_DIR}/cni_plugin_test.cc)
target_include_directories(cni_plugin_test PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(cni_plugin_test PRIVATE cubelet_cni GTest::gtest_main)
gtest_discover_tests(cni_plugin_test DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit)
