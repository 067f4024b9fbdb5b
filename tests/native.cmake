# Native nodes: C programs on <cadre/cadre.h> (cadre::cadre_c), spawned, called by name,
# monitored, crashed and stopped by a C++ master (native/native_scenarios.cpp); and the
# installed C package used by gcc alone (pkg-config) and by a CMake project of C only.
#
# Included from tests/CMakeLists.txt (uses CADRE_MPIEXEC, EXPECT, RUN, NO_ORPHANS).

if(NOT CMAKE_C_COMPILER_LOADED)
  enable_language(C)
endif()

add_executable(cadre-native-node native/test_node.c)
set_target_properties(cadre-native-node PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON
                                                   C_EXTENSIONS OFF)
target_compile_options(cadre-native-node PRIVATE -Wall -Wextra -pedantic)
target_link_libraries(cadre-native-node PRIVATE cadre::cadre_c)
add_executable(cadre-native-scenario native/native_scenarios.cpp)
target_link_libraries(cadre-native-scenario PRIVATE cadre)
set(NSC $<TARGET_FILE:cadre-native-scenario>)
set(NATIVE $<TARGET_FILE:cadre-native-node>)

function(cadre_native_test name np timeout)
  cadre_mpi_test(${name} ${np} ${timeout} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS "mpi;native")
endfunction()

# Every handler by name, the errors named, a flood, monitors, stop_node.
cadre_native_test(native_calls 3 120 ${EXPECT} --status zero
  --grep "native checks: ok" --count 2 --grep "flood: ok (2000 calls, each once)" --count 1
  --grep "says hello" --count 1 --grep "native calls: ok" --count 1 --grep "FAIL" --count 0
  -- ${CADRE_MPIEXEC} -np 1 ${NSC} calls ${NATIVE})
# A segfault in a handler under --enable-recovery: node_down, NodeDown, the job goes on.
cadre_native_test(native_crash_is_node_down 3 120 ${EXPECT} --status 1
  --grep "native: crashing on purpose" --count 1 --grep "native crash: ok" --count 1
  --grep "no_orphans: all" --count 1 --grep "FAIL" --count 0
  -- ${NO_ORPHANS} -- ${RUN} -n 1 --recovery -- ${NSC} crash ${NATIVE})
# Under default mpirun a crashed node ends the job, as any node does. (Under the sanitizers
# UBSan stops the null store before the segfault: the node exits non-zero instead.)
if(CADRE_SANITIZE)
  set(CRASH_REPORT "exited with non-zero status")
else()
  set(CRASH_REPORT "exited on signal 11")
endif()
cadre_native_test(native_crash_ends_default_job 3 120 ${EXPECT} --status nonzero
  --grep "native: crashing on purpose" --count 1 --grep "${CRASH_REPORT}" --count 1
  --grep "native crash: ok" --count 0
  -- ${CADRE_MPIEXEC} -np 1 ${NSC} crash ${NATIVE})
# A native world rank of an MPMD job, and a native program started as rank 0 (refused).
cadre_native_test(native_world_rank 2 60 ${EXPECT} --status zero
  --grep "native world node: ok" --count 1 --grep "FAIL" --count 0
  -- ${CADRE_MPIEXEC} -np 1 ${NSC} world : -np 1 ${NATIVE})
cadre_native_test(native_rank0_refused 1 60 ${EXPECT} --status nonzero
  --grep "a native node cannot be the master" --count 1
  -- ${CADRE_MPIEXEC} -np 1 ${NATIVE})

# The installed C package: gcc alone with pkg-config, a C-only CMake project, the exports.
if(NOT CADRE_SANITIZE)
  add_test(NAME native_c_package
    COMMAND ${CMAKE_COMMAND} -DSOURCE=${PROJECT_SOURCE_DIR} -DBUILD=${PROJECT_BINARY_DIR}
            -DWORK=${CMAKE_CURRENT_BINARY_DIR}/c_package -DMASTER=${NSC}
            -DMPIEXEC=${MPIEXEC_EXECUTABLE} -DSPAWN=$<NOT:$<STREQUAL:${CADRE_MPI_FLAVOUR},mpich>>
            -P ${CMAKE_CURRENT_SOURCE_DIR}/native/package_check.cmake)
  set_tests_properties(native_c_package PROPERTIES TIMEOUT 300 LABELS "package;native"
                       ENVIRONMENT "${CADRE_TEST_MPI_ENV}")
endif()

