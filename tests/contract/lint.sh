#!/usr/bin/env bash
# Lints the OpenAPI document with Redocly CLI (pinned in package-lock.json), with the rules of
# redocly.yaml: Redocly's recommended-strict set (every problem an error) and more.
# usage: lint.sh [DOC] (default: docs/openapi.yaml)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
doc="${1:-$here/../../docs/openapi.yaml}"
# No telemetry, no update check: the test runs offline.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1
exec timeout 120 "$here/node_modules/.bin/redocly" lint --config "$here/redocly.yaml" \
    --format stylish "$doc"
