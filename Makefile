# The two commands a new user needs: `make run` and `make test`. Both install missing
# Debian packages first (scripts/install-deps.sh), then configure and build with CMake.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

# Sanitizer and fuzzing builds live beside the normal one (see README, Testing).
FUZZ_SECONDS ?= 60
FUZZERS = fuzz_query fuzz_amount_id fuzz_event fuzz_transfer fuzz_block fuzz_request

.PHONY: all deps build run test test-asan test-tsan test-fuzz fuzz-build fuzz bench install clean

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
	@$(MAKE) --no-print-directory test-asan test-tsan test-fuzz

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DWS_SANITIZE=address >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ctest --output-on-failure --timeout 300

# The queue, the service and the concurrent integration tests under ThreadSanitizer.
test-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DWS_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && ctest --output-on-failure --timeout 600

# The libFuzzer harnesses, built with clang in their own directory.
fuzz-build: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
		-DWS_FUZZ=ON -DWS_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-fuzz --target fuzzers -j $(JOBS)

# Replays the committed corpus: every input once, as a regression test.
test-fuzz: fuzz-build
	@cd build-fuzz && ctest --output-on-failure --timeout 300

# Fuzzes each harness for FUZZ_SECONDS, one process at a time. New inputs go to a working
# corpus in build-fuzz/corpus; those that add coverage are then merged into the committed
# corpus (tests/fuzz/corpus). A crash stops here with its input in build-fuzz/artifacts.
fuzz: fuzz-build
	@mkdir -p build-fuzz/artifacts
	@for f in $(FUZZERS); do \
		mkdir -p build-fuzz/corpus/$$f tests/fuzz/corpus/$$f; \
		echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
		ASAN_OPTIONS=halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		./build-fuzz/tests/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=build-fuzz/artifacts/$$f- \
			build-fuzz/corpus/$$f tests/fuzz/corpus/$$f 2>build-fuzz/$$f.log \
			|| { tail -40 build-fuzz/$$f.log; exit 1; }; \
		grep -E "stat::number_of_executed_units|stat::new_units_added" build-fuzz/$$f.log; \
		./build-fuzz/tests/fuzz/$$f -merge=1 tests/fuzz/corpus/$$f build-fuzz/corpus/$$f \
			2>>build-fuzz/$$f.log || exit 1; \
	done

# The comparison with PostgreSQL 15 and Redis 7 (bench/run.sh; docs/performance.md).
# A Release build of its own, without the tests; installs the peers on first use.
bench:
	@bash scripts/install-deps.sh --bench
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DWS_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-release -j $(JOBS) --target wallet-service wallet-bench-writer >/dev/null
	@bash bench/run.sh build-release/wallet-service

# The binary (a Release build of its own), the systemd unit, a `wallet` user and
# /var/lib/wallet-service (scripts/install.sh; run as root). PREFIX=/usr/local and DESTDIR
# (a staging root: files only) as usual.
install: deps
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DWS_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-release -j $(JOBS) --target wallet-service >/dev/null
	@bash scripts/install.sh build-release/wallet-service

clean:
	rm -rf $(BUILD_DIR) build-release build-asan build-tsan build-fuzz

# The crash loops: kill -9 under concurrent transfer load CRASH_ROUNDS times (at most 100),
# then as many power cuts on plfs (tests/powerloss), restarting on the same data each time
# and checking every acknowledged transfer, the money and --verify after each; and the
# no-sync build, which the power cuts must catch. `make test` runs both with 3 rounds.
CRASH_ROUNDS ?= 20
.PHONY: crashtest
crashtest: build
	@cd $(BUILD_DIR) && WS_BINARY="$$(pwd)/wallet-service" WS_CRASH_ROUNDS=$(CRASH_ROUNDS) \
		./tests/test_crash --jobs 1 --verbose --filter 'crash/kill9_under_load'
	@cd $(BUILD_DIR) && WS_BINARY="$$(pwd)/wallet-service" WS_PLFS="$$(pwd)/tests/plfs" \
		WS_NOSYNC_BINARY="$$(pwd)/wallet-service-nosync" WS_POWERLOSS_CUTS=$(CRASH_ROUNDS) \
		./tests/test_powerloss --jobs 1 --verbose
