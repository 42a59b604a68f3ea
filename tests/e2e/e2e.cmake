# End-to-end tests: pytest files run against the local cluster hack/up.sh started (with
# whichever node agent it runs). Label e2e; they share one cluster, so they run serially.
find_program(PYTHON3 python3 REQUIRED)
foreach(_file test_node_status test_node_disruption test_pods)
  add_test(NAME e2e_${_file}
           COMMAND ${PYTHON3} -m pytest -v -p no:cacheprovider ${CMAKE_CURRENT_LIST_DIR}/${_file}.py)
  set_tests_properties(e2e_${_file} PROPERTIES LABELS e2e RUN_SERIAL TRUE TIMEOUT 1200
                       ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR}")
endforeach()
