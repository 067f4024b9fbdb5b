# Jobs that join a running one: a joinable job (cadre-run --joinable) and separately
# launched joiners under its ompi-server (tests/join/join_test.sh). Label join.
#
# Included from tests/CMakeLists.txt (uses CADRE_MPIEXEC, EXPECT, RUN, cadre_mpi_test).

add_executable(cadre-join-scenario join/join_scenarios.cpp)
target_link_libraries(cadre-join-scenario PRIVATE cadre)
set(JOIN_TEST ${CMAKE_CURRENT_SOURCE_DIR}/join/join_test.sh ${RUN}
    $<TARGET_FILE:cadre-join-scenario>)
function(cadre_join_test name timeout)
  cadre_mpi_test(${name} 3 ${timeout} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS "mpi;join")
endfunction()

cadre_join_test(join_then_leave 120 ${EXPECT} --status zero
  --grep "join_test: good exited with 0" --count 1 --grep "joiner: joined as node 2" --count 1
  --grep "goes on by itself" --count 1 --grep "[master] leave: ok" --count 1
  --grep "hello from joined node 2" --count 1
  --grep "join_test: master exited with 0" --count 1 --grep "FAIL" --count 0
  -- ${JOIN_TEST} leave)
cadre_join_test(join_work_remove_node 120 ${EXPECT} --status zero
  --grep "join_test: good exited with 0" --count 1 --grep "long task: NodeDown" --count 1
  --grep "[master] remove: ok" --count 1 --grep "join_test: master exited with 0" --count 1
  --grep "FAIL" --count 0
  -- ${JOIN_TEST} remove)
cadre_join_test(join_refuses_bad_joiners 180 ${EXPECT} --status zero
  --grep "refused this process: wrong cookie" --count 2
  --grep "refused a joiner (" --count 2
  --grep "refused this process: no cookie was presented" --count 2
  --grep "join_test: dies_after_cookie got: ok" --count 1
  --grep "went away before connecting" --count 1
  --grep "join_test: dies_connecting got: ok" --count 1
  --grep "did not complete MPI_Comm_connect" --count 1
  --grep "[master] refuse: ok" --count 1 --grep "join_test: good exited with 0" --count 1
  --grep "join_test: master exited with 0" --count 1
  --grep "FAIL" --count 0
  -- ${JOIN_TEST} refuse)
cadre_join_test(join_killed_node_is_lost 120 ${EXPECT} --status zero
  --grep "join_test: killed the joined node" --count 1 --grep "[master] killed: ok" --count 1
  --grep "job finished with status 1: 1 node(s) lost on host(s) " --count 1 --grep "join_test: master exited with 1" --count 1
  --grep "FAIL" --count 0
  -- ${JOIN_TEST} killed)
