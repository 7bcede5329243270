# The engine's headers in three layers, each including only its own and those below it:
#   1. vocabulary: the types users name in options and results (error.hpp, pipeline/stats.hpp,
#      pipeline/failure_budget.hpp, pipeline/options.hpp); the standard library and Asio only;
#   2. detail/: the engine itself; includes detail and vocabulary headers, never an API header;
#   3. API: what programs call (async/channel.hpp, pipeline/builder.hpp, pipeline/pipeline.hpp,
#      pipeline/merge.hpp, pipeline.hpp).
# Fails naming every include that goes up a layer.
set(root "${INCLUDE_DIR}/spdl")
set(vocabulary error.hpp pipeline/stats.hpp pipeline/failure_budget.hpp pipeline/options.hpp)
file(GLOB engine_detail RELATIVE "${root}" "${root}/detail/*.hpp")
if(engine_detail STREQUAL "")
  message(FATAL_ERROR "no headers under ${root}/detail")
endif()

set(violations "")
function(check header allowed_regex what)
  file(STRINGS "${root}/${header}" lines REGEX "^#include <spdl/")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^#include <spdl/([^>]+)>.*" "\\1" included "${line}")
    list(FIND vocabulary "${included}" in_vocabulary)
    if(NOT included MATCHES "${allowed_regex}" AND in_vocabulary EQUAL -1)
      set(violations "${violations}\n  ${header} includes ${included} (${what})" PARENT_SCOPE)
    endif()
  endforeach()
endfunction()

foreach(header IN LISTS vocabulary)
  # Only the other vocabulary headers: the regex matches nothing.
  check("${header}" "^$" "a vocabulary header includes only vocabulary")
endforeach()
foreach(header IN LISTS engine_detail)
  check("${header}" "^detail/" "a detail header includes only detail and vocabulary headers")
endforeach()

if(NOT violations STREQUAL "")
  message(FATAL_ERROR "includes that go up a layer:${violations}")
endif()
list(LENGTH engine_detail n)
message(STATUS "layering holds: 4 vocabulary headers, ${n} detail headers")
