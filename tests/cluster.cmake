# Jobs across the hosts of a test cluster built on this machine (tests/cluster/cluster.sh:
# three network namespaces cn1..cn3 on a private subnet, TCP only, two slots each). Each test
# builds a fresh cluster, runs one job from cn1 and checks that no process is left on any
# host. Label cluster. Without root or namespaces each test is skipped and says why.
#
# Included from tests/CMakeLists.txt (uses EXPECT, RUN, SC, CADRE_TEST_MPI_ENV).

add_executable(cadre-cluster-scenario cluster/cluster_scenarios.cpp)
target_link_libraries(cadre-cluster-scenario PRIVATE cadre)
set(CLUSTER ${CMAKE_CURRENT_SOURCE_DIR}/cluster/cluster.sh)
set(FAULT ${CMAKE_CURRENT_SOURCE_DIR}/cluster/fault_test.sh)
set(CSC $<TARGET_FILE:cadre-cluster-scenario>)
set(LEFT_NONE --grep "cluster: no process left on any host" --count 1)
# One rank a host (cn1, cn2, cn3) or two (6 ranks), over `mpirun --hostfile`.
set(BY_HOST --hostfile @HOSTFILE@ --map-by node)
function(cadre_cluster_test name timeout)
  cadre_add_test(${name} ${ARGN})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${timeout} LABELS cluster PROCESSORS 2
                       RUN_SERIAL TRUE SKIP_RETURN_CODE 77 ENVIRONMENT "${CADRE_TEST_MPI_ENV}")
endfunction()
# These also run in the sanitized build (label sanitize): placement, spawning, and the faults
# that cadre survives or reports.
function(cadre_cluster_sanitized)
  foreach(t IN LISTS ARGN)
    set_tests_properties(${t} PROPERTIES LABELS "cluster;sanitize")
  endforeach()
endfunction()

# -- the suites across hosts --------------------------------------------------------------
cadre_cluster_test(cluster_tasks 240 ${EXPECT} --status zero --grep "[  PASSED  ]" --count 1
  ${LEFT_NONE} -- ${CLUSTER} run 3 -- mpirun -np 3 ${BY_HOST} $<TARGET_FILE:cadre-test-tasks>)
cadre_cluster_test(cluster_processes 300 ${EXPECT} --status zero --grep "[  PASSED  ]" --count 1
  ${LEFT_NONE} -- ${CLUSTER} run 3 -- mpirun -np 3 ${BY_HOST} $<TARGET_FILE:cadre-test-processes>)
cadre_cluster_test(cluster_control 120 ${EXPECT} --status zero --grep "[  PASSED  ]" --count 1
  ${LEFT_NONE} -- ${CLUSTER} run 3 -- mpirun -np 3 ${BY_HOST} $<TARGET_FILE:cadre-test-control>)
cadre_cluster_test(cluster_output 120 ${EXPECT} --status zero --ordered
  --grep "stats ok: 200 lines" --count 1 --grep "progress: 100.0% (1000/1000)" --count 1
  ${LEFT_NONE} -- ${CLUSTER} run 3 -- env CADRE_PROGRESS=lines mpirun -np 5 ${BY_HOST} ${SC} output)
cadre_cluster_test(cluster_spawn 240 ${EXPECT} --status zero --grep "[  PASSED  ]" --count 1
  ${LEFT_NONE} -- ${CLUSTER} run 3 -- mpirun -np 2 ${BY_HOST} $<TARGET_FILE:cadre-test-spawn>
     $<TARGET_FILE:cadre-spawn-other>)
cadre_cluster_test(cluster_placement 120 ${EXPECT} --status zero
  --grep "nodes: cn1:0@cn1 cn2:1@cn2 cn3:2@cn3" --count 1 --grep "on_host: ok" --count 1 --grep "random_on: ok" --count 1
  --grep "cn2:1 <1.2> info: hello from cn2" --count 1 --grep "cn3:2 <2.2> info: hello from cn3" --count 1
  --grep "cn3:3 <3.2> info: hello from cn3" --count 1 --grep "info: cn2 heard from cn3" --count 1
  --grep "spawned on host: ok (cn3:3, cn2:4)" --count 1
  --grep "the host 'cn9' is not known to this job (known: cn1, cn2, cn3" --count 1
  --grep "no live node on that host (hosts with live nodes: cn1, cn2, cn3)" --count 1
  --grep "it is not one of the job's hosts either" --count 1
  --grep "placement: ok" --count 1 --grep "FAIL" --count 0 ${LEFT_NONE}
  -- ${CLUSTER} run 3 -- ${RUN} -n 3 --hostfile @HOSTFILE@ --mpirun-arg --map-by
     --mpirun-arg node -- ${CSC} placement)

# -- faults across hosts ------------------------------------------------------------------
# Survivable under --enable-recovery: every rank of cn3 killed, or stopped past the timeout.
foreach(how IN ITEMS kill stop)
  set(extra)
  if(how STREQUAL stop)
    # Continued after the loss, a stopped rank ends itself within 3 x heartbeat_timeout.
    set(extra --grep "(limit 3000 ms): yes" --count 1)
  endif()
  cadre_cluster_test(cluster_host_ranks_${how} 180 ${EXPECT} --status 1
    --grep "lose_host: ok" --count 1 --grep "map complete: ok (4000 results" --count 1
    --grep "CallFailed: node_down" --count 1 --grep "NodeDown: ok (2 tasks)" --count 1
    --grep "monitors: 2 node_down events, 2 process Downs" --count 1
    --grep "chatter stopped after" --count 4
    --grep "job finished with status 1: 2 node(s) lost on host(s) cn3 (every node there)" --count 1
    --grep "FAIL" --count 0 ${LEFT_NONE} ${extra}
    -- ${CLUSTER} run 3 -- ${RUN} -n 6 --recovery --hostfile @HOSTFILE@ -- ${CSC} lose_host cn3 ${how})
endforeach()
# A host's daemon killed: under default mpirun Open MPI ends the job (not survivable); under
# --enable-recovery Open MPI 4.1.4 lets it go on, and cadre finishes without the host's nodes.
cadre_cluster_test(cluster_daemon_killed 180 ${EXPECT} --status nonzero
  --grep "fault_test: killed the daemon of cn3" --count 1
  --grep "\"lost_hosts\": [\"cn3\"]" --count 1
  --grep "cadre-run: Open MPI lost the daemon of host cn3" --count 1
  --grep "fault_test: the job ended" --count 1
  --grep "fault_test: no process of the job on any host" --count 1 --grep "FAIL" --count 0 ${LEFT_NONE}
  -- ${CLUSTER} run 3 --outside -- ${FAULT} daemon cn3 ${RUN} ${CSC} long_map 60)
cadre_cluster_test(cluster_daemon_killed_recovery 180 ${EXPECT} --status 1
  --grep "fault_test: killed the daemon of cn3" --count 1
  --grep "\"lost_hosts\": [\"cn3\"]" --count 1
  --grep "job finished with status 1: 2 node(s) lost on host(s) cn3 (every node there)" --count 1
  --grep "long_map: " --count 1 --grep "fault_test: the job ended" --count 1
  --grep "fault_test: no process of the job on any host" --count 1 --grep "FAIL" --count 0 ${LEFT_NONE}
  -- env FAULT_RECOVERY=1 ${CLUSTER} run 3 --outside -- ${FAULT} daemon cn3 ${RUN} ${CSC} long_map 6)
cadre_cluster_test(cluster_link_cut 240 ${EXPECT} --status nonzero
  --grep "fault_test: cut the link of cn3" --count 1
  --grep "cadre[cn1:0] error: node 4 (cn3:4 on host cn3) is lost: silent for" --count 1
  --grep "cadre[cn1:0] error: node 5 (cn3:5 on host cn3) is lost: silent for" --count 1
  --grep "\"lost_hosts\": [\"cn3\"]" --count 1
  --grep "cadre-run: Open MPI lost the daemon of host cn3" --count 1
  --grep "fault_test: the job ended" --count 1
  --grep "fault_test: no process of the job on any host" --count 1 --grep "FAIL" --count 0 ${LEFT_NONE}
  -- ${CLUSTER} run 3 --outside -- ${FAULT} cut cn3 ${RUN} ${CSC} long_map 60)
# The master's driver throws, or the master is killed: every other node on every host stops.
cadre_cluster_test(cluster_driver_throws 120 ${EXPECT} --status nonzero
  --grep "the driver threw std::runtime_error: deliberate, with tasks running on every host" --count 1
  ${LEFT_NONE} -- ${CLUSTER} run 3 -- ${RUN} -n 6 --hostfile @HOSTFILE@ -- ${CSC} driver_throws)
# Each of the 7 other nodes ends itself once its master has been silent for 3 x heartbeat_timeout:
# its loop says so, or (a slow loop, as under AddressSanitizer) its watchdog, at the same limit.
cadre_cluster_test(cluster_master_killed 120 ${EXPECT} --status nonzero
  --grep "master: killing myself" --count 1
  --grep "(3 x heartbeat_timeout): this node" --count 7 --grep "without yielding" --count 0
  --grep "cadre-run: the master was lost" --count 1 ${LEFT_NONE}
  -- ${CLUSTER} run 3 -- ${RUN} -n 6 --recovery --hostfile @HOSTFILE@ -- ${CSC} master_killed)
cadre_cluster_sanitized(cluster_placement cluster_spawn cluster_host_ranks_kill
  cluster_host_ranks_stop cluster_link_cut cluster_master_killed)
