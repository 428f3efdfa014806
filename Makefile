# The two commands a new user needs: `make run` and `make test`. Both install missing
# Debian packages first (scripts/install-deps.sh), then configure and build with CMake.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

# Sanitizer builds live beside the normal one (see README, Testing).
.PHONY: all deps build run test test-asan test-tsan clean

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
	@$(MAKE) --no-print-directory test-asan test-tsan

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

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan
