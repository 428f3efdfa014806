# The two commands a new user needs: `make run` and `make test`. Both install missing
# Debian packages first (scripts/install-deps.sh), then configure and build with CMake.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: all deps build run test bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@mkdir -p data
	./$(BUILD_DIR)/wallet-service --port 18080 --data-dir ./data

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 300

# The comparison with PostgreSQL 15 and Redis 7 (bench/run.sh; docs/performance.md).
# A Release build of its own, without the tests; installs the peers on first use.
bench:
	@bash scripts/install-deps.sh --bench
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DWS_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-release -j $(JOBS) --target wallet-service >/dev/null
	@bash bench/run.sh build-release/wallet-service

clean:
	rm -rf $(BUILD_DIR) build-release

# The crash loop: kill -9 under concurrent transfer load CRASH_ROUNDS times (at most 100),
# restarting on the same data each time and checking every acknowledged transfer, the
# money and --verify after each. `make test` runs the same test with 3 rounds.
CRASH_ROUNDS ?= 20
.PHONY: crashtest
crashtest: build
	@cd $(BUILD_DIR) && WS_BINARY="$$(pwd)/wallet-service" WS_CRASH_ROUNDS=$(CRASH_ROUNDS) \
		./tests/test_crash --jobs 1 --verbose --filter 'crash/kill9_under_load'
