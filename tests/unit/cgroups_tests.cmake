# Unit tests for cgroups/ (fake cgroupfs trees in temp dirs; read-only detection on the host).
# Included from tests/CMakeLists.txt.

add_executable(cgroups_test ${CMAKE_CURRENT_LIST_DIR}/cgroups_test.cc)
target_include_directories(cgroups_test PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(cgroups_test PRIVATE cubelet_cgroups GTest::gtest_main)
gtest_discover_tests(cgroups_test DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit)
