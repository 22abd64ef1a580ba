# `tern serve` end-to-end suite (node + the official openai client), included
# from tests/CMakeLists.txt. Skipped (exit 77) until setup.sh has run npm ci.
# RUN_SERIAL: it starts servers and checks timings-sensitive behaviour
# (disconnects, a full queue), which a loaded machine only makes flaky.
add_test(NAME server_e2e COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh $<TARGET_FILE:tern>)
set_tests_properties(server_e2e PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 RUN_SERIAL TRUE)
