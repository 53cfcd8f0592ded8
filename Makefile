# Thin wrapper over CMake so people can type make, make test, make run.
# Sub-makes (CMake's generated Makefiles) print no "Entering directory" lines.
MAKEFLAGS += --no-print-directory
BUILD ?= build
SAN_BUILD ?= build-sanitize
TSAN_BUILD ?= build-tsan
# The sanitizer build uses clang, so the gcc default build and this one
# together keep the code clean on both compilers (and clang builds the fuzzers).
SAN_CC ?= clang
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps-build deps-test test test-sanitize test-tsan san-build soak cluster-full lint run install deb \
	clean
# make install: where to (PREFIX, baked into synq.pc) and a staging root (DESTDIR, for packages).
PREFIX ?= /usr/local
DESTDIR ?=
# make run: where synqd listens and keeps its log.
RUN_ADDR ?= 127.0.0.1
RUN_PORT ?= 11300
RUN_DIR ?= ./data
# make soak: how long the soak runs, in seconds.
SOAK_SECS ?= 600
# make cluster-full: the Jepsen-style run's rounds and cluster size.
CLUSTER_ROUNDS ?= 50
CLUSTER_NODES ?= 3
# e.g. CLUSTER_FAULTS=kill9-leader: only leader kills (50 failover times).
CLUSTER_FAULTS ?=

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

# The cluster's full Jepsen-style run (tests/cluster/README.md): CLUSTER_ROUNDS rounds of kill -9,
# restarts, SIGSTOP and partitions under load, then the checker; prints the failover times
# (median, max) over the leader kills.
cluster-full: all
	SQ_BIN_DIR=$(BUILD) python3 tests/cluster/test_cluster_jepsen.py --rounds $(CLUSTER_ROUNDS) \
		--nodes $(CLUSTER_NODES) $(if $(CLUSTER_FAULTS),--faults $(CLUSTER_FAULTS))

# ThreadSanitizer: synqd and the tools built with -fsanitize=thread, and the cluster tests (a
# cluster node runs libuv's thread pool for libraft's disk work) against them.
test-tsan: deps-test
	@cmake -S . -B $(TSAN_BUILD) -DSQ_TSAN=ON -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_C_COMPILER=$(SAN_CC) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target synqd synq-cli synq-bench
	cd $(TSAN_BUILD) && TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$(CURDIR)/tests/tsan.supp" \
		ctest --output-on-failure -j $(JOBS) -R 'cluster[.]test_cluster_(basic|jepsen|tls)'

# clang-format and clang-tidy (scripts/lint; .ci/run runs it too). Not part
# of make test, which only builds and runs the tests.
lint: deps-test
	@scripts/lint

# Builds synqd alone (not the tests) and starts it in the foreground.
run: deps-build
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target synqd synq-cli
	@mkdir -p $(RUN_DIR)
	@echo "synqd: listening on $(RUN_ADDR):$(RUN_PORT), log in $(RUN_DIR); Ctrl-C (or kill -TERM) stops it"
	@echo "       try: $(BUILD)/synq -p $(RUN_PORT) stats"
	@exec ./$(BUILD)/synqd -l $(RUN_ADDR) -p $(RUN_PORT) -b $(RUN_DIR)

# Installs synqd, synq, synq-bench, libsynq (.so and .a), its headers, synq.pc and the man pages
# under $(DESTDIR)$(PREFIX).
install: deps-build
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target synqd synq-cli synq-bench synq synq_shared
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# make deb: the Debian packages (synqd, libsynq0, libsynq-dev) from this tree, built by
# dpkg-buildpackage on a copy of it and checked with lintian; the .deb files land in $(DEB_DIR).
DEB_DIR ?= build-deb
deb:
	@scripts/deps deb
	@JOBS=$(JOBS) scripts/deb-build $(DEB_DIR)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(TSAN_BUILD) build-lint $(DEB_DIR)
