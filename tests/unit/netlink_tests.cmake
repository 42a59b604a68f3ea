# Unit tests for netlink/: text helpers anywhere; links, addresses, routes, neighbours and
# namespaces as root, inside throwaway network namespaces the tests make and remove.
# Included from tests/CMakeLists.txt.

add_executable(netlink_test ${CMAKE_CURRENT_LIST_DIR}/netlink_test.cc)
target_include_directories(netlink_test PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(netlink_test PRIVATE cubelet_netlink GTest::gtest_main)
gtest_discover_tests(netlink_test DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit)
