# Installs the built cadre into a scratch prefix, builds the consumer project against it (in
# its default build type: no -g, no -rdynamic) and runs it on two ranks: a registered task
# runs, and unregistered static functions are named by NotRegistered. Called by ctest with
# -DSOURCE -DBUILD -DWORK -DMPIEXEC -DMPI_CXX_COMPILER (the MPI cadre was built with).
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "install failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE}/tests/consumer -B ${WORK}/build
                        -DCMAKE_PREFIX_PATH=${WORK}/prefix -DMPI_CXX_COMPILER=${MPI_CXX_COMPILER}
                        RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}/build RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed")
endif()
if(NOT MPIEXEC)  # the build's own (-DMPIEXEC), else the one on PATH
  find_program(MPIEXEC NAMES mpiexec mpirun REQUIRED)
endif()
execute_process(COMMAND ${MPIEXEC} -np 2 ${WORK}/build/consumer RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(rc OR NOT out MATCHES "triple\\(14\\) = 42"
   OR NOT out MATCHES "unregistered static functions named")
  message(FATAL_ERROR "the consumer did not run correctly (status ${rc})")
endif()
message("consumer project: ok")
