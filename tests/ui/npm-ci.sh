#!/usr/bin/env bash
# Installs the browser test's one npm package, playwright-core (the driver only: it downloads
# no browser, and the test runs Debian's /usr/bin/chromium), from package-lock.json only:
# tests/npm-ci.sh does it (npm ci, skipped once done).
exec bash "$(dirname "$0")/../npm-ci.sh" "$(dirname "$0")" playwright-core
