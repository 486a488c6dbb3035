# Thin front door: installs what is missing, configures, builds, tests and runs with CMake.
BUILD     ?= build
SAN_BUILD ?= build-san
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build test test-plain test-sanitize run demo bench clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

test: test-plain test-sanitize

test-plain: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-sanitize: deps
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGK_SANITIZE=address,undefined
	cmake --build $(SAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir $(SAN_BUILD) --output-on-failure -j $(JOBS)

run: build
	sh scripts/run.sh $(BUILD)

# A schema migration walked end to end (examples/orders); exits with the verification's status.
demo: build
	sh scripts/demo.sh $(BUILD)

# The benchmark (tests/bench, docs/performance.md) on the optimised build: a table, and the same
# figures as JSON in $(BUILD)/bench/results.json. About two minutes.
bench: build
	$(BUILD)/tests/bench/gk-bench --out $(BUILD)/bench/results.json

clean:
	rm -rf $(BUILD) $(SAN_BUILD) .run .demo
