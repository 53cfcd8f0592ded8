# Thin wrapper over CMake so people can type make, make test, make run.
BUILD ?= build
SAN_BUILD ?= build-sanitize
# The sanitizer build uses clang, so the gcc default build and this one
# together keep the code clean on both compilers (and clang builds the fuzzers).
SAN_CC ?= clang
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

SOAK_SECS ?= 600

.PHONY: all deps-build deps-test test test-sanitize san-build soak lint run clean

all: deps-build
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps-build:
	@scripts/deps build

deps-test:
	@scripts/deps test

test: deps-test all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

san-build: deps-test
	@cmake -S . -B $(SAN_BUILD) -DSQ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_C_COMPILER=$(SAN_CC) >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)

test-sanitize: san-build
	cd $(SAN_BUILD) && ctest --output-on-failure -j $(JOBS)

# The sanitizer-built synqd under every command, kill -9 restarts and RSS/fd
# sampling for SOAK_SECS seconds (tests/README.md, "Soak").
soak: san-build
	SQ_BIN_DIR=$(SAN_BUILD) python3 tests/soak/soak.py --seconds $(SOAK_SECS)

# clang-format and clang-tidy (scripts/lint; .ci/run runs it too). Not part
# of make test, which only builds and runs the tests.
lint: deps-test
	@scripts/lint

run: all
	mkdir -p data
	./$(BUILD)/synqd -l 127.0.0.1 -p 11300 -b ./data

clean:
	rm -rf $(BUILD) $(SAN_BUILD) build-lint
