# Installs the built cadre into a scratch prefix; builds examples/native_node.c with gcc alone
# from the installed files (pkg-config cadre-c) and with a CMake project of C only; checks
# that the library exports the C API alone; and runs the gcc-built node under a C++ master.
# Called by ctest with -DSOURCE -DBUILD -DWORK -DMASTER -DMPIEXEC -DSPAWN (MPI can spawn).
include(${CMAKE_CURRENT_LIST_DIR}/../check_run.cmake)

file(REMOVE_RECURSE ${WORK})
run("install" ${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix)
file(GLOB_RECURSE pcs ${WORK}/prefix/*/cadre-c.pc)
if(NOT pcs)
  message(FATAL_ERROR "cadre-c.pc is not installed")
endif()
list(GET pcs 0 pc)
get_filename_component(pcdir ${pc} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pcdir})
run("pkg-config --cflags --libs cadre-c" pkg-config --cflags --libs cadre-c)
string(STRIP "${OUT}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run("pkg-config --variable=libdir" pkg-config --variable=libdir cadre-c)
string(STRIP "${OUT}" libdir)
run("gcc (C11, pedantic, warnings as errors)" gcc -std=c11 -Wall -Wextra -pedantic -Werror
    ${SOURCE}/examples/native_node.c ${flags} -Wl,-rpath,${libdir} -o ${WORK}/native_node)
message("gcc alone from the installed files: ok")

# Only the C API leaves the library.
run("nm" nm -D --defined-only ${libdir}/libcadre_c.so)
string(REGEX MATCHALL "[^\n]+" symbols "${OUT}")
set(exported 0)
foreach(line IN LISTS symbols)
  if(NOT line MATCHES " (cadre_[a-z_]+|CADRE_[A-Z_0-9.]+)$")
    message(FATAL_ERROR "libcadre_c.so exports more than the C API: ${line}")
  endif()
  math(EXPR exported "${exported} + 1")
endforeach()
message("exports: ${exported} symbols, all cadre_*")

run("configuring the C-only project" ${CMAKE_COMMAND} -S ${SOURCE}/tests/native/c_project
    -B ${WORK}/c_project -DCMAKE_PREFIX_PATH=${WORK}/prefix
    -DEXAMPLE=${SOURCE}/examples/native_node.c)
run("building the C-only project" ${CMAKE_COMMAND} --build ${WORK}/c_project)

if(NOT MPIEXEC)  # the build's own (-DMPIEXEC), else the one on PATH
  find_program(MPIEXEC NAMES mpiexec mpirun REQUIRED)
endif()
if(NOT SPAWN)
  message("not run under this MPI: the master calling the native node (it spawns the node, and "
          "MPICH's ch4:ucx device has no dynamic processes)")
  set(node_runs)
else()
  set(node_runs ${WORK}/native_node ${WORK}/c_project/native_node)
endif()
foreach(node IN LISTS node_runs)
  run("the master calling ${node}" ${MPIEXEC} -np 1 ${MASTER} example ${node})
  if(NOT OUT MATCHES "native example: ok")
    message(FATAL_ERROR "the native example did not answer correctly")
  endif()
endforeach()
message("native C package: ok")

# The README shows examples/native_node.c whole: the listing must be the file.
file(READ ${SOURCE}/README.md readme)
file(READ ${SOURCE}/examples/native_node.c example)
string(FIND "${example}" "#include <cadre/cadre.h>" at)
string(SUBSTRING "${example}" ${at} -1 body)
string(FIND "${readme}" "```c\n${body}```" found)
if(found EQUAL -1)
  message(FATAL_ERROR "the README's listing of examples/native_node.c differs from the file")
endif()
message("README listing: ok")
