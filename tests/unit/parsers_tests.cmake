# Unit tests for the pure parsers in kubelet/parsers.cmake. Included from
# tests/CMakeLists.txt after find_package(GTest) and include(GoogleTest).

foreach(_test quantity_test duration_test machine_info_test)
  add_executable(${_test} ${CMAKE_CURRENT_LIST_DIR}/${_test}.cc)
  target_link_libraries(${_test} PRIVATE GTest::gtest_main)
  gtest_discover_tests(${_test} DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit)
endforeach()
target_link_libraries(quantity_test PRIVATE kubelet_objects)
target_link_libraries(duration_test PRIVATE kubelet_objects)
target_link_libraries(machine_info_test PRIVATE kubelet_machine)
