# End-to-end tests: pytest files run against the local cluster hack/up.sh started (with
# whichever node agent it runs). Label e2e; they share one cluster, so they run serially.
# Every tests/e2e/test_*.py file is one CTest test, so a new file cannot be left out of CI.
find_program(PYTHON3 python3 REQUIRED)
file(GLOB _e2e_files CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/test_*.py)
list(SORT _e2e_files)
foreach(_path IN LISTS _e2e_files)
  get_filename_component(_file ${_path} NAME_WE)
  add_test(NAME e2e_${_file}
           COMMAND ${PYTHON3} -m pytest -v -p no:cacheprovider ${_path})
  set_tests_properties(e2e_${_file} PROPERTIES LABELS e2e RUN_SERIAL TRUE TIMEOUT 1200
                       ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR}")
endforeach()
