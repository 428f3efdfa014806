#!/usr/bin/env bash
# Installs the npm tools of one test directory (tests/contract, tests/ui) into its
# node_modules with `npm ci`, from its package-lock.json only: exact versions, nothing
# resolved anew. Skipped when node_modules was installed from the same package.json,
# package-lock.json, .npmrc and Node.js version (a stamp records them) and every PACKAGE is
# there, so it costs nothing once done. ctest runs it first (the fixtures contract_tools and
# ui_tools, tests/CMakeLists.txt) through each directory's npm-ci.sh; it can be run by hand.
#
# Install scripts are not run (--ignore-scripts): no tool here needs one, one of Prism's
# dependencies would only report the install over the network (SCARF_ANALYTICS=false says no
# too), and playwright-core must fetch no browser (the browser test runs Debian's chromium).
# Node.js and npm come from Debian's packages (scripts/install-deps.sh).
#
# usage: tests/npm-ci.sh DIR PACKAGE...   (the packages it then prints the versions of)
set -euo pipefail
cd "$1"
shift

for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "npm-ci: $tool is missing: run scripts/install-deps.sh (Debian's nodejs and npm)" >&2
        exit 1
    fi
done

# One install at a time, should two test runs start together.
exec 9<package-lock.json
flock -w 600 9

installed() {
    local p
    for p in "$@"; do
        [ -f "node_modules/$p/package.json" ] || return 1
    done
}

stamp=node_modules/.wallet-service-stamp
want="$(cat package.json package-lock.json .npmrc | sha256sum | cut -c1-64) node $(node --version)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && installed "$@"; then
    exit 0
fi

echo "npm-ci: installing the pinned tools of $(basename "$PWD")/package-lock.json (npm $(npm --version), node $(node --version))"
start=$(date +%s)
SCARF_ANALYTICS=false PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    timeout 900 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
installed "$@" || {
    echo "npm-ci: npm ci left out one of: $*" >&2
    exit 1
}
echo "$want" >"$stamp"
versions=
for p in "$@"; do
    versions+=" $p $(node -p "require('./node_modules/$p/package.json').version")"
done
echo "npm-ci: done in $(($(date +%s) - start)) s:$versions"
