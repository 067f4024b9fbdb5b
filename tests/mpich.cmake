# Under MPICH (CADRE_MPI_FLAVOUR mpich: Debian's MPICH 4.0, device ch4:ucx, launcher Hydra)
# some tests cannot run. Each is registered all the same, as a test that prints why it is not
# run and exits 77 (ctest: Skipped, counted apart, never as passed). The reasons:
#
# - dynamic: MPICH 4.0's ch4:ucx device has no dynamic processes. MPI_Comm_spawn fails
#   ("Error in spawn call") and MPI_Open_port fails ("MPIDI_UCX_get_local_upids: The function
#   is currently not supported with ucx netmod"), so spawn_nodes, native nodes (spawned) and
#   joining (MPI_Open_port, MPI_Comm_connect) cannot work.
# - recovery: Hydra has no mode in which a job outlives a killed rank. Under
#   mpiexec -disable-auto-cleanup, mpiexec still exits at once with the killed rank's status
#   (9 for SIGKILL), and the survivors die within about a second, whatever MPI call they make.
# - cluster: the test cluster (tests/cluster) runs Open MPI's mpirun across network namespaces
#   (its hostfile syntax, --map-by, the ORTE daemons whose loss the fault tests provoke), and
#   Slurm launches Open MPI's mpirun there. Not ported to Hydra.
#
# Included from tests/CMakeLists.txt before any test is registered.

set(CADRE_MPICH_WHY_dynamic "MPICH 4.0's ch4:ucx device has no dynamic processes (MPI_Comm_spawn and MPI_Open_port are not supported with the ucx netmod)")
set(CADRE_MPICH_WHY_recovery "Hydra has no recovery mode: under -disable-auto-cleanup mpiexec ends at the first killed rank and the survivors die within a second")
set(CADRE_MPICH_WHY_cluster "the test cluster and its Slurm run Open MPI's mpirun and its daemons; not ported to Hydra")

# cadre_mpich_reason(NAME VAR): sets VAR to why test NAME cannot run under this MPI, or "".
function(cadre_mpich_reason name var)
  set(why "")
  if(CADRE_MPI_FLAVOUR STREQUAL "mpich")
    if(name MATCHES "^(spawn_|join_)" OR name MATCHES "^native_(calls|crash_)"
       OR name STREQUAL "timeline_spawn")
      set(why "${CADRE_MPICH_WHY_dynamic}")
    elseif(name MATCHES "^(recovery_|stuck_task_ends_its_node$|timeline_lost$)")
      set(why "${CADRE_MPICH_WHY_recovery}")
    elseif(name MATCHES "^(cluster_|slurm_|soak_)")
      set(why "${CADRE_MPICH_WHY_cluster}")
    endif()
  endif()
  set(${var} "${why}" PARENT_SCOPE)
endfunction()

# cadre_add_test(NAME COMMAND...): add_test, or under an MPI that cannot run it, a test of the
# same name that says why and is skipped (the caller's properties may follow either way).
function(cadre_add_test name)
  cadre_mpich_reason(${name} why)
  if(why)
    add_test(NAME ${name} COMMAND sh -c "echo \"$0\"; exit 77" "not run under ${CADRE_MPI_FLAVOUR}: ${why}")
    set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77)
  else()
    add_test(NAME ${name} COMMAND ${ARGN})
  endif()
endfunction()

# The MPICH pass of ./cadre-dev test: the target cadre-mpich-ci builds what the tests labelled
# mpich_ci need, and no more (CI gives this pass a few minutes, build included): every test
# but the unit tests (label unit: they use no MPI, and the Open MPI pass runs them), the
# skipped ones included so that their reasons are printed and counted. Called at the end of
# tests/CMakeLists.txt, once every test exists. Only under MPICH: elsewhere the label would
# widen selections such as -L mpi.
function(cadre_mpich_ci_selection)
  if(NOT CADRE_MPI_FLAVOUR STREQUAL "mpich")
    return()
  endif()
  add_custom_target(cadre-mpich-ci)
  add_dependencies(cadre-mpich-ci cadre cadre_c cadre-test-tasks cadre-test-map
    cadre-test-processes cadre-test-driver cadre-test-doorbell cadre-test-trust
    cadre-test-control cadre-scenario cadre-trust-scenario cadre-mpmd-a cadre-mpmd-b
    cadre-mpmd-b-mismatch cadre-rogue cadre-rogue-target cadre-native-scenario
    cadre-native-node cadre-trace-scenario)
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(t IN LISTS tests)
    get_test_property(${t} LABELS labels)
    if(NOT "unit" IN_LIST labels)
      set_property(TEST ${t} APPEND PROPERTY LABELS mpich_ci)
    endif()
  endforeach()
endfunction()
