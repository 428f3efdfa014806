#!/usr/bin/env bash
# Installs the browser test's one npm package, playwright-core (the driver only: it downloads
# no browser, and the test runs Debian's /usr/bin/chromium), into tests/ui/node_modules with
# `npm ci`, from package-lock.json only: the exact version, nothing resolved anew. Skipped when
# node_modules was installed from the same package.json, package-lock.json, .npmrc and Node.js
# version (a stamp records them), so it costs nothing once done. ctest runs it first (the
# fixture ui_tools, tests/CMakeLists.txt); it can be run by hand too.
#
# Install scripts are not run (--ignore-scripts): playwright-core has none that the test needs,
# and PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD makes sure nothing fetches a browser. Node.js and npm come
# from scripts/install-deps.sh, as for tests/contract.
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
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f node_modules/playwright-core/package.json ]; then
    exit 0
fi

echo "npm-ci: installing the pinned playwright-core of package-lock.json (npm $(npm --version), node $(node --version))"
start=$(date +%s)
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 900 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
echo "npm-ci: done in $(($(date +%s) - start)) s: playwright-core $(node -p 'require("./node_modules/playwright-core/package.json").version')"
