# The soak (tests/soak): a long mixed run across the 3-host test cluster whose ledger must
# balance. The full run (10 minutes) is not in the default suite: tests/soak/soak.sh runs it.
# soak_short runs it for 40 s (label cluster), so that the program and its checks stay sound.
#
# Included from tests/CMakeLists.txt after cluster.cmake (uses EXPECT, cadre_cluster_test).

add_executable(cadre-soak soak/soak.cpp soak/soak_work.cpp)
target_link_libraries(cadre-soak PRIVATE cadre)
cadre_cluster_test(soak_short 240 ${EXPECT} --status zero --grep "soak: ok" --count 1
  --grep "soak: passed" --count 1 --lines "killed during a map" 1 10
  -- ${CMAKE_CURRENT_SOURCE_DIR}/soak/soak.sh 40)
set_property(TEST soak_short APPEND PROPERTY ENVIRONMENT CADRE_BUILD_DIR=${PROJECT_BINARY_DIR})
