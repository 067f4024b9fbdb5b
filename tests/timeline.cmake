# The run timeline (CADRE_TRACE, tools/cadre-timeline) under real mpirun: a traced demo job,
# a lost worker, a message flood, a spawned node and an unwritable file
# (timeline/timeline_test.sh says what each checks). cadre-timeline draws with Debian's
# matplotlib (/usr/bin/python3).
#
# Included from tests/CMakeLists.txt (uses SC and CADRE_TEST_MPI_ENV).

add_executable(cadre-trace-scenario timeline/trace_scenarios.cpp)
target_link_libraries(cadre-trace-scenario PRIVATE cadre)
set(TIMELINE ${CMAKE_CURRENT_SOURCE_DIR}/timeline/timeline_test.sh)
set(TIMELINE_OUT ${CMAKE_CURRENT_BINARY_DIR}/timeline)
# The demo job is an example: without the examples (the sanitizer build) its case is left out.
if(TARGET cadre-demo)
  set(DEMO $<TARGET_FILE:cadre-demo>)
  set(cases demo lost flood spawn refused)
else()
  set(DEMO none)
  set(cases lost flood spawn refused)
endif()
foreach(c IN LISTS cases)
  cadre_mpi_test(timeline_${c} 3 120 ${TIMELINE} ${c} ${TIMELINE_OUT} ${DEMO} ${SC}
                 $<TARGET_FILE:cadre-trace-scenario>)
endforeach()
