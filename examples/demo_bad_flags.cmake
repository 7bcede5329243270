# Runs the demo with bad command lines: each must exit with code 2 and say why on stderr.
#   cmake -DDEMO=<the demo program> -DEMPTY=<a scratch folder> -P demo_bad_flags.cmake
file(REMOVE_RECURSE "${EMPTY}")
file(MAKE_DIRECTORY "${EMPTY}/some_class")  # a class folder without images

set(failures 0)
function(expect_usage_error)
  execute_process(COMMAND "${DEMO}" ${ARGN} RESULT_VARIABLE rc OUTPUT_QUIET
                  ERROR_VARIABLE err TIMEOUT 30)
  if(NOT rc EQUAL 2 OR NOT err MATCHES "^demo: ")
    message(SEND_ERROR "demo ${ARGN}: exit code ${rc} (want 2), stderr: ${err}")
  else()
    string(REGEX MATCH "^[^\n]*" first "${err}")
    message(STATUS "demo ${ARGN} -> 2: ${first}")
  endif()
endfunction()

expect_usage_error(--bogus)
expect_usage_error(--batch)
expect_usage_error(--batch 0)
expect_usage_error(--batch 12x)
expect_usage_error(--threads -1)
expect_usage_error(--epochs many)
expect_usage_error(--small --data "${EMPTY}")
expect_usage_error(--data "${EMPTY}" --make-data "${EMPTY}")
expect_usage_error(--data "${EMPTY}/missing")
expect_usage_error(--data "${EMPTY}")
file(REMOVE_RECURSE "${EMPTY}")
