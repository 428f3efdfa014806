#!/usr/bin/env bash
# Installs the contract test's npm tools (Redocly CLI, Prism) from package-lock.json only:
# tests/npm-ci.sh does it (npm ci, skipped once done).
exec bash "$(dirname "$0")/../npm-ci.sh" "$(dirname "$0")" @redocly/cli @stoplight/prism-cli
