#!/usr/bin/env bash
# Installs the contract test's npm tools (Redocly CLI, Prism) into tests/contract/node_modules
# with `npm ci`, from package-lock.json only: exact versions, nothing resolved anew. Skipped
# when node_modules was installed from the same package.json, package-lock.json, .npmrc and
# Node.js version (a stamp records them), so it costs nothing once done. ctest runs it first
# (the fixture contract_tools, tests/CMakeLists.txt); it can be run by hand too.
#
# Install scripts are not run (--ignore-scripts): neither tool needs one, and one of Prism's
# dependencies would only try to report the install over the network. Node.js and npm come
# from Debian's packages (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "npm-ci: $tool is missing: run scripts/install-deps.sh (Debian's nodejs and npm)" >&2
        exit 1
    fi
done

# One install at a time, should two test runs start together.
exec 9<package-lock.json
flock -w 600 9

stamp=node_modules/.wallet-service-stamp
want="$(cat package.json package-lock.json .npmrc | sha256sum | cut -c1-64) node $(node --version)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/prism ] &&
    [ -x node_modules/.bin/redocly ]; then
    exit 0
fi

echo "npm-ci: installing the pinned tools of package-lock.json (npm $(npm --version), node $(node --version))"
start=$(date +%s)
SCARF_ANALYTICS=false timeout 900 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
echo "npm-ci: done in $(($(date +%s) - start)) s: $(node_modules/.bin/redocly --version | tail -1) (redocly), $(node_modules/.bin/prism --version) (prism)"
