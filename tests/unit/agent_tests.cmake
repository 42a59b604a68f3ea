# Unit tests for the agent's libraries (config, API client, CRI health, node status).
# Included from tests/CMakeLists.txt.

set(_agent_tests
  config_test:kubelet_config
  kubeconfig_test:kubelet_config
  api_client_test:kubelet_api
  events_test:kubelet_api
  runtime_health_test:kubelet_runtime
  cri_client_test:kubelet_runtime
  grpcwire_test:grpcwire
  pod_runtime_test:kubelet_runtime
  host_files_test:kubelet_runtime
  node_status_test:kubelet_node
  pod_config_test:kubelet_podconfig
  pod_cgroup_config_test:kubelet_podconfig
  pod_cgroups_test:kubelet_cm
  pull_secrets_test:kubelet_podconfig
  service_env_test:kubelet_podconfig
  pod_workers_test:kubelet_pod
  admission_test:kubelet_pod
  status_manager_test:kubelet_pod
  static_pods_test:kubelet_pod
  prober_handlers_test:kubelet_prober
  probe_manager_test:kubelet_prober
  pod_network_test:kubelet_network
  pod_lifecycle_test:kubelet_pod
  mount_test:kubelet_volume
  atomic_writer_test:kubelet_volume
  token_manager_test:kubelet_volume
  volume_manager_test:kubelet_volumemgr
  object_cache_test:kubelet_volume
  kubelet_server_test:kubelet_server
  cri_log_test:kubelet_logs
  log_options_test:kubelet_logs
  log_rotation_test:kubelet_logs
  container_logs_test:kubelet_logs
  metrics_test:kubelet_metrics
  stats_test:kubelet_stats
  cri_floor_test:cri_floor
)
foreach(_entry IN LISTS _agent_tests)
  string(REPLACE ":" ";" _parts "${_entry}")
  list(GET _parts 0 _test)
  list(GET _parts 1 _lib)
  add_executable(${_test} ${CMAKE_CURRENT_LIST_DIR}/${_test}.cc)
  target_include_directories(${_test} PRIVATE ${CMAKE_SOURCE_DIR})
  # cri_api_grpc: the fake runtime is a real gRPC server.
  target_link_libraries(${_test} PRIVATE ${_lib} cri_api_grpc GTest::gtest_main)
  gtest_discover_tests(${_test} DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit)
endforeach()
target_link_libraries(api_client_test PRIVATE PkgConfig::HTTPLIB)
target_link_libraries(status_manager_test PRIVATE PkgConfig::HTTPLIB)
target_link_libraries(events_test PRIVATE PkgConfig::HTTPLIB)
target_link_libraries(pod_runtime_test PRIVATE PkgConfig::HTTPLIB)
target_link_libraries(prober_handlers_test PRIVATE PkgConfig::HTTPLIB)
target_link_libraries(probe_manager_test PRIVATE PkgConfig::HTTPLIB)
target_link_libraries(pod_lifecycle_test PRIVATE PkgConfig::HTTPLIB)
target_link_libraries(token_manager_test PRIVATE PkgConfig::HTTPLIB)
target_link_libraries(volume_manager_test PRIVATE PkgConfig::HTTPLIB)
target_link_libraries(object_cache_test PRIVATE PkgConfig::HTTPLIB)
