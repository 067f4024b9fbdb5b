# run(WHAT COMMAND...): runs COMMAND, prints its output, stops the script naming WHAT when it
# fails, and leaves its standard output in OUT. For the -P scripts of the package tests.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(rc)
    message(FATAL_ERROR "${what} failed (status ${rc})")
  endif()
  set(OUT "${out}" PARENT_SCOPE)
endfunction()
