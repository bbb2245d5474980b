# xdpguard: `make demo` and `make test` work as root on a fresh Debian 12
# machine; each target first installs the packages it needs, and only those
# (scripts/setup.sh demo|test|bench|build).
BUILD ?= build
SAN ?= $(BUILD)-san
JOBS ?= 2
TEST_JOBS ?= 4
FUZZ_SECONDS ?= 15
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
export BUILD SAN JOBS TEST_JOBS FUZZ_SECONDS CMAKE_FLAGS

# The product, the tests and the benchmarks; `demo` and `bench` leave out
# what they do not run (the tests need GoogleTest to configure).
# Debug info: line tables (-g1: stack traces and perf name file and line;
# full -g was 45% of a file's compile time; CMAKE_FLAGS=-DCMAKE_BUILD_TYPE=Debug
# for a debugger's view of variables). scripts/test.sh configures the same.
CONFIGURE = cmake -S . -B $(BUILD) -G Ninja -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" $(CMAKE_FLAGS)
# clang, ASan+UBSan, -O1 as ASan and libFuzzer recommend: the unit tests and
# the libFuzzer targets.
SAN_CONFIGURE = CC=clang CXX=clang++ cmake -S . -B $(SAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" -DXDPGUARD_FUZZ=ON

.PHONY: all setup build san asan fuzz lint test unit demo bench install package clean

all: build

setup:
	@bash scripts/setup.sh all

build:
	@bash scripts/setup.sh build
	@$(CONFIGURE) -DXDPGUARD_TESTS=ON -DXDPGUARD_BENCH=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# The sanitizer build (clang): the library, its unit tests and the fuzzers.
san:
	@bash scripts/setup.sh test
	@$(SAN_CONFIGURE) >/dev/null
	@cmake --build $(SAN) -j$(JOBS)

# Unit tests under ASan+UBSan.
asan: san
	@ctest --test-dir $(SAN) --output-on-failure -j$(JOBS)

# Every libFuzzer target, FUZZ_SECONDS each.
fuzz: san
	@bash scripts/run-fuzzers.sh $(SAN) $(FUZZ_SECONDS)

# clang-format and clang-tidy on the project's C++ (scripts/lint.sh).
lint: build san
	@JOBS=$(JOBS) bash scripts/lint.sh $(BUILD) $(SAN)

# Every test, phases timed (scripts/test.sh): the builds, then one ctest run
# with the unit, bpf and e2e tests, lint, the sanitized unit tests, the
# fuzzers and the kernel floor check.
test:
	@bash scripts/test.sh

unit: build
	@ctest --test-dir $(BUILD) -L unit -LE "sanitized|lint" --output-on-failure -j$(JOBS)

# Only what the demo runs: the xdpguard binary and its lab's tools.
demo:
	@bash scripts/setup.sh demo
	@$(CONFIGURE) -DXDPGUARD_TESTS=OFF -DXDPGUARD_BENCH=OFF >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target xdpguard
	@./$(BUILD)/src/xdpguard demo

bench:
	@bash scripts/setup.sh bench
	@$(CONFIGURE) -DXDPGUARD_TESTS=OFF -DXDPGUARD_BENCH=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@bash bench/run.sh $(BUILD)

install: build
	@cmake --install $(BUILD)

# The .deb: a release build of the binary alone (no test hooks) in
# $(BUILD)-pkg, then cpack (scripts/package.sh).
package:
	@bash scripts/setup.sh build
	@JOBS=$(JOBS) bash scripts/package.sh $(BUILD)-pkg

clean:
	rm -rf $(BUILD) $(SAN) $(BUILD)-asan $(BUILD)-fuzz $(BUILD)-pkg
