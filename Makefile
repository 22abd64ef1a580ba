# The two set-up commands (see README): `make run` and `make test`.
TERN_ASSETS ?= $(abspath ../shared)
MODEL ?= $(TERN_ASSETS)/models/stories260K.gguf
PROMPT ?= Once upon a time
JOBS ?= $(shell nproc)
export TERN_ASSETS

.PHONY: deps build run generate test asan fuzz ci clean

deps:
	./scripts/install-deps.sh
	./tests/server/e2e/setup.sh >/dev/null

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

HOST ?= 127.0.0.1
PORT ?= 8080
# The model id clients send: the file name without .gguf (stories260K).
ALIAS ?= $(basename $(notdir $(MODEL)))

# Main job: the OpenAI-compatible server on the default model.
run: build
	./build/release/tern serve -m "$(MODEL)" --host $(HOST) --port $(PORT) --alias "$(ALIAS)"

# One-shot generation from the command line.
generate: build
	./build/release/tern run -m "$(MODEL)" -p "$(PROMPT)" -n 64

test: build
	ctest --preset release -j $(JOBS)

asan: deps
	cmake --preset asan-ubsan >/dev/null
	cmake --build --preset asan-ubsan -j $(JOBS)
	ctest --preset asan-ubsan -j $(JOBS)

# Every parser's libFuzzer target, FUZZ_SECONDS each (corpora kept in build/fuzz/corpus-NAME).
FUZZERS = gguf_fuzz toon_fuzz template_fuzz openai_request_fuzz gateway_config_fuzz
fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS) --target $(FUZZERS)
	for f in $(FUZZERS); do \
	  mkdir -p build/fuzz/corpus-$$f; \
	  ./build/fuzz/$$f -max_total_time=$${FUZZ_SECONDS:-60} -rss_limit_mb=2048 -malloc_limit_mb=512 \
	    build/fuzz/corpus-$$f > build/fuzz/$$f.log 2>&1; rc=$$?; \
	  echo "$$f: exit $$rc, $$(grep -o 'Done [0-9]* runs' build/fuzz/$$f.log)"; \
	  if [ $$rc -ne 0 ]; then tail -60 build/fuzz/$$f.log; exit 1; fi; \
	done

# What CI runs: the test suite, the suite under ASan/UBSan, a bounded fuzz run.
ci: test asan
	$(MAKE) fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-60}

clean:
	rm -rf build
