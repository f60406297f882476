# Thin wrapper over CMake. The README's two commands:
#   make run    build what is missing, then run the main job
#   make test   build, then run every test
# Also: make bench, make test-asan, make test-tsan, make test-nodeprecated,
# make test-matrix, make install, make clean.

BUILD      ?= build
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
PREFIX     ?= /usr/local

# Debian 12 packages the build and the tests need.
APT_PACKAGES := build-essential cmake pkg-config libssl-dev openssl \
                ca-certificates python3 curl libcurl4-openssl-dev pmccabe \
                clang-format

FUZZ_SECONDS ?= 30
# Every libFuzzer target (fuzz/CMakeLists.txt). A long run of one:
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS=fuzz_identity
FUZZ_TARGETS ?= fuzz_der fuzz_roots_pem fuzz_pem_scan fuzz_name fuzz_identity \
                fuzz_client_hello fuzz_trust fuzz_proxy

.PHONY: all deps build run test bench test-asan test-tsan test-nodeprecated \
        test-matrix fuzz install clean

all: build

# Install missing build dependencies when we can (root + apt), otherwise
# say exactly what is missing.
deps:
	@missing=""; \
	command -v cmake >/dev/null 2>&1 || missing="$$missing cmake"; \
	command -v cc >/dev/null 2>&1 || missing="$$missing build-essential"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v python3 >/dev/null 2>&1 || missing="$$missing python3"; \
	[ -f /usr/include/openssl/ssl.h ] || missing="$$missing libssl-dev"; \
	pkg-config --exists libcurl 2>/dev/null || missing="$$missing libcurl4-openssl-dev"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v pmccabe >/dev/null 2>&1 || missing="$$missing pmccabe"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	  else \
	    echo "missing build dependencies:$$missing (Debian: apt-get install $(APT_PACKAGES))"; exit 1; \
	  fi; \
	fi

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# Only the library and the tool: the demo needs nothing else.
run: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target freshtls_cli
	$(BUILD)/cli/freshtls version
	$(BUILD)/cli/freshtls demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@for b in $(BUILD)/bench/bench_*; do [ -x "$$b" ] && "$$b" || exit 1; done

test-asan: deps
	cmake -S . -B $(BUILD)-asan -DFTLS_SANITIZE=address -DFTLS_BUILD_BENCH=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# TSAN_REPEAT runs the whole TSan suite that many times in a row: a race
# that shows once in three runs must not pass by luck (CI uses 5).
TSAN_REPEAT ?= 1
test-tsan: deps
	cmake -S . -B $(BUILD)-tsan -DFTLS_SANITIZE=thread -DFTLS_BUILD_BENCH=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD)-tsan -j $(JOBS)
	@for i in $$(seq 1 $(TSAN_REPEAT)); do \
	  echo "== TSan run $$i of $(TSAN_REPEAT)"; \
	  (cd $(BUILD)-tsan && TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp" \
	    ctest --output-on-failure -j $(JOBS)) || exit 1; \
	done

# The build embedders and distributions use: no deprecated OpenSSL API.
test-nodeprecated: deps
	cmake -S . -B $(BUILD)-nodep -DFTLS_BUILD_BENCH=OFF $(CMAKE_ARGS) \
	  -DCMAKE_C_FLAGS="-DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED"
	cmake --build $(BUILD)-nodep -j $(JOBS)
	cd $(BUILD)-nodep && ctest --output-on-failure -j $(JOBS)

# The OpenSSL version matrix: for each root (ossl35: Debian 13, OpenSSL
# 3.5; ossl40: Debian unstable with OpenSSL 4.0 from experimental), create
# it with mmdebstrap when missing (root, ~1 minute each), build with
# CMAKE_ARGS, run the tests, then bench_mint and bench_roots with every
# BENCH/RATIO line suffixed by the root's name. Nothing is installed on
# the host but mmdebstrap.
MATRIX     ?= ossl35 ossl40
MATRIX_DIR ?= /var/tmp/freshtls-matrix
test-matrix:
	@command -v mmdebstrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq mmdebstrap >/dev/null; \
	  else echo "make test-matrix needs mmdebstrap (apt-get install mmdebstrap)"; exit 1; fi; }
	@for v in $(MATRIX); do \
	  echo "== matrix $$v: root"; tools/matrix/mkroot.sh $$v $(MATRIX_DIR)/$$v || exit 1; \
	  echo "== matrix $$v: make test"; \
	  CMAKE_ARGS="$(CMAKE_ARGS)" JOBS=$(JOBS) tools/matrix/run.sh $$v $(MATRIX_DIR)/$$v test || exit 1; \
	  echo "== matrix $$v: bench"; \
	  JOBS=$(JOBS) tools/matrix/run.sh $$v $(MATRIX_DIR)/$$v bench || exit 1; \
	done

# Build the libFuzzer targets with clang and run each for FUZZ_SECONDS.
fuzz: deps
	CC=clang cmake -S . -B $(BUILD)-fuzz -DFTLS_BUILD_FUZZ=ON -DFTLS_BUILD_TESTS=OFF \
	  -DFTLS_BUILD_BENCH=OFF -DFTLS_BUILD_CLI=OFF
	cmake --build $(BUILD)-fuzz -j $(JOBS)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)-fuzz/corpus-$$t; \
	  seeds=$(CURDIR)/fuzz/corpus/$$t; [ -d $$seeds ] || seeds=; \
	  echo "== $$t ($(FUZZ_SECONDS)s)"; \
	  ( cd $(BUILD)-fuzz && ./fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -print_final_stats=1 corpus-$$t $$seeds > fuzz-$$t.log 2>&1 ); \
	  rc=$$?; tail -12 $(BUILD)-fuzz/fuzz-$$t.log; \
	  [ $$rc = 0 ] || { echo "$$t failed (exit $$rc): see $(BUILD)-fuzz/fuzz-$$t.log"; exit 1; }; \
	done

# The tool runs from any prefix (relative run path). For the system
# library directories, refresh the loader's cache so other programs find
# libfreshtls too.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)
	@case "$(PREFIX)" in /usr|/usr/local) \
	  if [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then ldconfig; \
	  else echo "note: run ldconfig as root so other programs find libfreshtls"; fi ;; esac

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-fuzz $(BUILD)-nodep
