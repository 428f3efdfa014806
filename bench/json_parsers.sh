#!/usr/bin/env bash
# The measurement behind the choice of JSON parser (docs/design.md): builds bench/json_parsers.c
# once per Debian parser (yajl, cJSON, jansson, json-c) and runs each on an 8,190-transfer
# body. Installs the four -dev packages if they are missing (as root or with sudo).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/../scripts/install-deps.sh" --json-parsers
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for p in YAJL:yajl CJSON:libcjson JANSSON:jansson JSONC:json-c; do
    def=${p%%:*} pc=${p#*:}
    cc -O2 -std=gnu17 -Wall -DUSE_$def "$here/json_parsers.c" -o "$tmp/$pc" \
        $(pkg-config --cflags --libs "$pc")
    "$tmp/$pc"
done
