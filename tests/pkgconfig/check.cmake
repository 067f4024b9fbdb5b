# Installs the built cadre into a scratch prefix, builds examples/demo.cpp from a plain
# Makefile with `pkg-config --cflags --libs cadre`, and runs it on two ranks.
# Called by ctest with -DSOURCE -DBUILD -DWORK.
include(${CMAKE_CURRENT_LIST_DIR}/../check_run.cmake)

file(REMOVE_RECURSE ${WORK})
run("install" ${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix)
file(GLOB_RECURSE pcs ${WORK}/prefix/*/cadre.pc)
if(NOT pcs)
  message(FATAL_ERROR "cadre.pc is not installed")
endif()
list(GET pcs 0 pc)
get_filename_component(pcdir ${pc} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pcdir})
run("pkg-config --cflags --libs cadre" pkg-config --cflags --libs cadre)
run("make" make -C ${WORK} -f ${SOURCE}/tests/pkgconfig/Makefile DEMO=${SOURCE}/examples/demo.cpp)
if(NOT MPIEXEC)  # the build's own (-DMPIEXEC), else the one on PATH
  find_program(MPIEXEC NAMES mpiexec mpirun REQUIRED)
endif()
run("the demo built with pkg-config" ${MPIEXEC} -np 2 ${WORK}/cadre-demo)
if(NOT OUT MATCHES "sum of squares below")
  message(FATAL_ERROR "the demo built with pkg-config did not print its result")
endif()
message("pkg-config build of the demo: ok")
