# xdpguard: `make demo` and `make test` work as root on a fresh Debian 12
# machine; both install what is missing first (scripts/setup.sh).
BUILD ?= build
JOBS ?= 2
FUZZ_SECONDS ?= 15
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all setup build asan fuzz lint test unit demo bench install clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Unit tests under ASan+UBSan (g++).
asan: setup
	@cmake -S . -B $(BUILD)-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DXDPGUARD_SANITIZE=ON -DXDPGUARD_ONLY_UNIT=ON >/dev/null
	@cmake --build $(BUILD)-asan -j$(JOBS) --target unit_tests

# libFuzzer targets (clang).
fuzz: setup
	@CC=clang CXX=clang++ cmake -S . -B $(BUILD)-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DXDPGUARD_FUZZ=ON >/dev/null
	@cmake --build $(BUILD)-fuzz -j$(JOBS)

# clang-format and clang-tidy on the project's C++ (scripts/lint.sh).
lint: build fuzz
	@bash scripts/lint.sh $(BUILD)

# Every test: the lint gates, sanitized unit tests, a short run of every
# fuzzer, then the full suite (unit, bpf, e2e) whose summary closes the output.
test: build asan fuzz
	@echo "== lint: clang-format, clang-tidy"
	@JOBS=$(JOBS) bash scripts/lint.sh $(BUILD)
	@echo "== unit tests under ASan+UBSan"
	@ctest --test-dir $(BUILD)-asan --output-on-failure -j$(JOBS) > $(BUILD)-asan/ctest.log 2>&1 \
	  || (cat $(BUILD)-asan/ctest.log; exit 1)
	@grep -E "tests passed|tests failed" $(BUILD)-asan/ctest.log
	@echo "== fuzzers, $(FUZZ_SECONDS)s each"
	@bash scripts/run-fuzzers.sh $(BUILD)-fuzz $(FUZZ_SECONDS)
	@echo "== unit, bpf and e2e tests"
	@ctest --test-dir $(BUILD) --output-on-failure

unit: build
	@ctest --test-dir $(BUILD) -L unit --output-on-failure -j$(JOBS)

demo: build
	@./$(BUILD)/src/xdpguard demo

bench: build
	@bash bench/run.sh $(BUILD)

install: build
	@cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
