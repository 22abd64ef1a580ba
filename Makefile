# The two set-up commands (see README): `make run` and `make test`.
TERN_ASSETS ?= $(abspath ../shared)
MODEL ?= $(TERN_ASSETS)/models/stories260K.gguf
PROMPT ?= Once upon a time
JOBS ?= $(shell nproc)
export TERN_ASSETS

.PHONY: deps build run test asan fuzz clean

deps:
	./scripts/install-deps.sh

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

# Main job: generate from the default model (the server target replaces this
# once `tern serve` exists).
run: build
	./build/release/tern run -m "$(MODEL)" -p "$(PROMPT)" -n 64

test: build
	ctest --preset release -j $(JOBS)

asan: deps
	cmake --preset asan-ubsan >/dev/null
	cmake --build --preset asan-ubsan -j $(JOBS)
	ctest --preset asan-ubsan -j $(JOBS)

fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)
	./build/fuzz/gguf_fuzz -max_total_time=$${FUZZ_SECONDS:-60} -rss_limit_mb=2048 tests/fuzz/corpus/gguf

clean:
	rm -rf build
