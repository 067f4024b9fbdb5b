# Slurm jobs on the test cluster (tests/cluster/slurm.sh runs munged, slurmctld and a slurmd a
# host inside the cluster's namespaces): the example job scripts with sbatch, salloc, and a
# job cancelled with scancel. Labels cluster and slurm; skipped, saying why, without root,
# namespaces or Slurm.
#
# Included from tests/CMakeLists.txt after cluster.cmake (uses EXPECT, RUN, CLUSTER, CSC,
# LEFT_NONE, cadre_cluster_test).

set(SLURM_TEST ${CMAKE_CURRENT_SOURCE_DIR}/cluster/slurm_test.sh)
function(cadre_slurm_test name timeout)
  cadre_cluster_test(${name} ${timeout} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS "cluster;slurm"
                       WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT CADRE_BUILD_DIR=${PROJECT_BINARY_DIR})
endfunction()
if(CADRE_BUILD_EXAMPLES)
  cadre_slurm_test(slurm_sbatch_task_farm 180 ${EXPECT} --status zero
    --grep "job 1: cn[1-3], 6 tasks" --count 1 --grep "cadre demo: 6 nodes" --count 1
    --grep "cadre: job finished with status 0: clean" --count 1
    --grep "slurm_test: the batch job exited with 0" --count 1 ${LEFT_NONE}
    -- ${CLUSTER} run 3 --slurm -- ${SLURM_TEST} batch
       ${PROJECT_SOURCE_DIR}/examples/slurm/task_farm.sbatch)
  cadre_slurm_test(slurm_sbatch_actors 180 ${EXPECT} --status zero
    --grep "job 1: cn[1-3], 6 tasks" --count 1
    --grep "cadre: job finished with status 0: clean" --count 1
    --grep "slurm_test: the batch job exited with 0" --count 1 ${LEFT_NONE}
    -- ${CLUSTER} run 3 --slurm -- ${SLURM_TEST} batch
       ${PROJECT_SOURCE_DIR}/examples/slurm/actors.sbatch)
  cadre_slurm_test(slurm_sbatch_spawn 180 ${EXPECT} --status zero
    --grep "a node to start on cn3" --count 1
    --grep "on_host(\"cn3\"): no live node on that host (hosts with live nodes: cn1, cn2)" --count 1
    --grep "it is one of the job's hosts (SLURM_JOB_NODELIST, CADRE_HOSTS): start a node there" --count 1
    --grep "spawned node 4 runs on cn3" --count 1
    --grep "spawner: ok (2 world nodes, 3 spawned)" --count 1
    --grep "slurm_test: the batch job exited with 0" --count 1 ${LEFT_NONE}
    -- ${CLUSTER} run 3 --slurm -- ${SLURM_TEST} batch
       ${PROJECT_SOURCE_DIR}/examples/slurm/spawn.sbatch)
  # Every slot of the allocation taken by a rank: spawn_nodes refuses before the spawn.
  cadre_slurm_test(slurm_salloc 180 ${EXPECT} --status nonzero
    --grep "no free capacity for 2 more node(s): MPI_UNIVERSE_SIZE is 6 and 6 node(s) are running (0 free)" --count 1
    --grep "slurm_test: salloc exited with 1" --count 1 ${LEFT_NONE}
    -- ${CLUSTER} run 3 --slurm -- ${SLURM_TEST} salloc ${RUN} -- $<TARGET_FILE:cadre-spawner>)
endif()
cadre_slurm_test(slurm_scancel 180 ${EXPECT} --status zero
  --grep "slurm_test: cancelled job 1" --count 1
  --grep "slurm_test: job 1 and all its processes gone" --count 1 ${LEFT_NONE}
  -- ${CLUSTER} run 3 --slurm -- ${SLURM_TEST} scancel ${RUN} -- ${CSC} long_map 300)
