# End-to-end tests: pytest files run against the local cluster hack/up.sh started (with
# whichever node agent it runs). Label e2e; they share one cluster, so they run serially.
# Every tests/e2e/test_*.py file is one CTest test, so a new file cannot be left out of CI.
#
# Order: the files marked "# e2e order: restarts node components" (they restart the agent,
# the runtime or the apiserver) run first. Then the token rotation pod starts, the other files
# run while its token ages (8 to 12 minutes), and its result is collected last: a restarted
# agent would write its token anew, and waiting for it alone would add those minutes to CI.
find_program(PYTHON3 python3 REQUIRED)
set(_e2e_properties LABELS e2e RUN_SERIAL TRUE TIMEOUT 1200 ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR}")
file(GLOB _e2e_files CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/test_*.py)
list(SORT _e2e_files)
set(_e2e_restarting)
set(_e2e_quiet)
foreach(_path IN LISTS _e2e_files)
  get_filename_component(_file ${_path} NAME_WE)
  if(_file STREQUAL "test_token_rotation")
    add_test(NAME e2e_test_token_rotation_start
             COMMAND ${PYTHON3} -m pytest -v -p no:cacheprovider ${_path} -k "starts_with")
    add_test(NAME e2e_test_token_rotation
             COMMAND ${PYTHON3} -m pytest -v -p no:cacheprovider ${_path} -k "rotated_before")
    set_tests_properties(e2e_test_token_rotation_start e2e_test_token_rotation PROPERTIES ${_e2e_properties})
    continue()
  endif()
  add_test(NAME e2e_${_file}
           COMMAND ${PYTHON3} -m pytest -v -p no:cacheprovider ${_path})
  set_tests_properties(e2e_${_file} PROPERTIES ${_e2e_properties})
  file(STRINGS ${_path} _restarts REGEX "^# e2e order: restarts node components")
  if(_restarts)
    list(APPEND _e2e_restarting e2e_${_file})
  else()
    list(APPEND _e2e_quiet e2e_${_file})
  endif()
endforeach()
if(TEST e2e_test_token_rotation)
  set_tests_properties(e2e_test_token_rotation_start PROPERTIES DEPENDS "${_e2e_restarting}")
  foreach(_t IN LISTS _e2e_quiet)
    set_tests_properties(${_t} PROPERTIES DEPENDS e2e_test_token_rotation_start)
  endforeach()
  set_tests_properties(e2e_test_token_rotation PROPERTIES DEPENDS "${_e2e_quiet};e2e_test_token_rotation_start")
endif()
