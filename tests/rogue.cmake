# Rogue-rank tests: MPMD jobs whose ranks 0 and 1 run a cadre program (mpi/rogue_target.cpp)
# while the last rank runs cadre-rogue (mpi/rogue.c), a plain C program that joins cadre's
# start-up as any rank can and then attacks the job with forged or oversized MPI messages,
# one attack per test. Each test checks what must hold once the runtime defends itself: the
# attacked nodes report the bad input as a malformed frame from the rogue's node (node 2),
# serve on, obey nothing the rogue forged, and the job ends with status 0.
#
# Included from tests/CMakeLists.txt (uses CADRE_MPIEXEC, EXPECT and cadre_mpi_test).

# The rogue is C against MPI's C API: the C language and MPI::MPI_C, for this directory only.
if(NOT CMAKE_C_COMPILER_LOADED)
  enable_language(C)
endif()
find_package(MPI REQUIRED COMPONENTS C)

add_executable(cadre-rogue mpi/rogue.c)
set_target_properties(cadre-rogue PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(cadre-rogue PRIVATE -Wall -Wextra)
target_link_libraries(cadre-rogue PRIVATE MPI::MPI_C)

add_executable(cadre-rogue-target mpi/rogue_target.cpp)
target_link_libraries(cadre-rogue-target PRIVATE cadre)

# Counts that depend on timing (rate-limited reports) are checked as ranges: expect.sh --lines.

# The report of a frame or envelope that failed its checks names the rogue's node.
set(BAD "malformed frame from node 2")

# The target's bound on the peak memory of nodes 0 and 1 (their baseline is about 20 MiB; the
# floods would add 250 MiB or more). Sanitizers' shadow memory and quarantine blur it: off.
set(ROGUE_PEAK_MIB 160)
if(CADRE_SANITIZE)
  set(ROGUE_PEAK_MIB 0)
endif()

# rogue_test(MODE [PEAK MIB] [ENV VAR=VALUE...] [LINES PATTERN MIN MAX...] [GREP PATTERN N...]
#            [TRACE CHECK_TRACE_ARGS...])
#   Runs `cadre-rogue-target MODE` on ranks 0 and 1 and `cadre-rogue MODE` on rank 2, and
#   expects, besides the given checks: status 0, the target's "ok", the rogue's clean end
#   (final status, every node's link_fin, MPI_Finalize), no node lost. With TRACE the job is
#   traced (CADRE_TRACE) and its file must pass timeline/check_trace.py for nodes 0 and 1
#   (the task square on node 1) with the given arguments, and no message may be dropped
#   besides the rogue's malformed frames.
function(rogue_test mode)
  cmake_parse_arguments(PARSE_ARGV 1 R "" "PEAK" "ENV;LINES;GREP;TRACE")
  set(peak ${ROGUE_PEAK_MIB})
  if(R_PEAK AND ROGUE_PEAK_MIB GREATER 0)
    set(peak ${R_PEAK})
  endif()
  set(lines)
  list(LENGTH R_LINES n)
  if(n GREATER 0)
    math(EXPR last "${n} - 1")
    foreach(i RANGE 0 ${last} 3)
      math(EXPR j "${i} + 1")
      math(EXPR k "${i} + 2")
      list(GET R_LINES ${i} pat)
      list(GET R_LINES ${j} lo)
      list(GET R_LINES ${k} hi)
      list(APPEND lines --lines ${pat} ${lo} ${hi})
    endforeach()
  endif()
  set(greps)
  list(LENGTH R_GREP n)
  if(n GREATER 0)
    math(EXPR last "${n} - 1")
    foreach(i RANGE 0 ${last} 2)
      math(EXPR j "${i} + 1")
      list(GET R_GREP ${i} pat)
      list(GET R_GREP ${j} count)
      list(APPEND greps --grep ${pat} --count ${count})
    endforeach()
  endif()
  set(traced)
  if(R_TRACE)
    set(traced ${CMAKE_CURRENT_SOURCE_DIR}/timeline/traced_job.sh
        ${CMAKE_CURRENT_BINARY_DIR}/rogue_${mode}.json --nodes 2 --task square ${R_TRACE} --)
    list(APPEND greps --grep "check_trace: ok" --count 1
                      --grep "sent after shut-down closed the link" --count 0)
  endif()
  cadre_mpi_test(rogue_${mode} 3 60 ${EXPECT} --status zero
    --grep "rogue target: ok" --count 1
    --grep "rogue: finished" --count 1
    --grep "rogue: no link_fin from" --count 0
    --grep "job finished with status 0" --count 1
    --grep "is lost" --count 0
    ${greps} ${lines}
    -- env ${R_ENV} ${traced} timeout -k 10 40 ${CADRE_MPIEXEC}
         -np 2 $<TARGET_FILE:cadre-rogue-target> ${mode} ${peak}
       : -np 1 $<TARGET_FILE:cadre-rogue> ${mode})
  set_tests_properties(rogue_${mode} PROPERTIES LABELS "mpi;rogue")
endfunction()

# The harness alone: a rogue that attacks nothing leaves no trace.
rogue_test(none GREP "${BAD}" 0)

# 1. 100 bytes on the control tag (64 at most) to nodes 0 and 1; then 100 KiB, above MPI's
#    eager limit (a truncated rendezvous receive is another matter for MPI).
rogue_test(control_oversize
  GREP "${BAD}" 2 "on the control tag, larger than 64 bytes" 2)
rogue_test(control_oversize_large
  GREP "${BAD}" 2 "on the control tag, larger than 64 bytes" 2)

# 2. 100 KiB on the small-frame tag (72 KiB at most) to nodes 0 and 1. A node may report one
#    frame more when the rogue's link resynchronises after the garbage.
rogue_test(small_oversize
  LINES "${BAD}" 2 4
  GREP "on the small-frame tag, larger than 73728 bytes" 2)

# 3. 4 MiB and 96 MiB on the large-frame tag to nodes 0 and 1, whose payload cap is 1 MiB:
#    reported with their sizes, never allocated (the target checks the peak memory: below
#    80 MiB here).
rogue_test(large_oversize
  PEAK 80
  ENV CADRE_PAYLOAD_CAP=1048576
  LINES "${BAD}" 4 8
  GREP "a frame of 4194304 bytes" 2 "a frame of 100663296 bytes" 2)

# 4. Well-formed master-only envelopes from node 2: node_down (node 1 lost) to nodes 0 and 1,
#    final_status to node 1, shutdown to node 1.
rogue_test(forge_node_down GREP "${BAD}" 2 "may only come from the master" 2)
rogue_test(forge_final_status GREP "${BAD}" 1 "may only come from the master" 1)
rogue_test(forge_shutdown GREP "${BAD}" 1 "may only come from the master" 1)
rogue_test(forge_relay GREP "${BAD}" 3 "only the master relays" 1
  "which the master does not know" 1 "may only come from the master" 1)

# 5. down, exit_signal and kill to the driver and the pids after it, claiming to come from a
#    process of node 1 (274 envelopes): refused, the reports rate-limited.
rogue_test(forge_down LINES "does not belong to the sending node" 1 274)

# 6. 20 000 garbage messages to node 0 in about 1.5 s: the reports are rate-limited, and a
#    later report counts the ones left out.
rogue_test(garbage_flood
  LINES "${BAD}" 1 200 "more malformed frame(s) were not logged" 1 100)

# 7. 300 well-formed 1 MiB frames 100 to 399 ahead of the one due, to nodes 0 and 1: what a
#    node keeps of them is bounded (the target checks the peak memory: 98-161 MiB in 13 runs,
#    with up to 64 MiB kept early, 1 MiB frames being received and freed memory the allocator
#    keeps; keeping them all would take 300 MiB more).
rogue_test(early_flood PEAK 200 LINES "${BAD}" 2 1000)

# 7b. 20 000 small frames sent before the frame due, each with an int for the driver (what a
#     driver's small frames do when they overtake a larger one): all kept, all delivered in
#     order, nothing reported.
rogue_test(overtaken GREP "${BAD}" 0)

# 8. Progress with done > total, and progress claiming to come from node 1: neither is shown.
rogue_test(bad_progress GREP "${BAD}" 2 "(777777/1000)" 0 "(4242/4343)" 0)

# 9. A second hello after the welcome: refused, the node table unchanged (target checks).
rogue_test(late_hello GREP "${BAD}" 1 "refused an envelope of class hello" 1)

# 10. The run timeline (a traced job). Chunks of trace events no node sends, to the master:
#     each refused whole as a malformed frame naming what is wrong; a well-formed one with
#     times at the ends of a clock's range is kept but those events left out of the file
#     (it stays JSON the checker accepts); a chunk to the worker is refused.
rogue_test(forge_trace
  GREP "${BAD}" 10 "envelope of class 64: trace events:" 9 "it may only go to the master" 1
  "name index 5 or 0 past its 1 names" 1 "has an unknown kind 200" 1
  "has a span of -5000 ns" 1 "has a time of 9223372036854775807 ns" 1
  "event 0 of 1 has a time of -9223372036854775808 ns" 1
  "message counter 0 has a time of -9223372036854775808 ns" 1
  TRACE --task rogue_task --outside 2)
# 11. Forged clock traffic: the master's probes of the rogue answered with impossible times
#     (refused, the offset measured by the true answers after them), replies short, to no
#     probe, to another node's probe and to a worker, and 4000 probes that nobody answers.
rogue_test(forge_clock
  LINES "${BAD}" 8 60 "only the master probes clocks" 2 40
  GREP "a clock reply of 10 bytes (17 expected)" 1
  "a clock reply to probe 3735928559, which is not pending" 1
  "a clock reply to probe 1, which" 1
  "a clock reply, but this node probes no clocks" 1
  "a clock reply with a time no clock reads" 3
  "rogue: no clock reply to 4000 forged probes" 1
  TRACE --max-offset-us 50000)
