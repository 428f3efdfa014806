#!/usr/bin/env bash
# Installs the Debian packages wallet-service needs to build, run and test.
# Idempotent and quiet when everything is present: it asks dpkg first and runs
# apt-get (update once, then install) only for what is missing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libh2o-evloop-dev libssl-dev zlib1g-dev
    librocksdb-dev
    uuid-dev
    libyajl-dev
    libcriterion-dev
    libcurl4-openssl-dev curl
    openssl
    clang libclang-rt-14-dev
    wrk
    fuse3 libfuse3-dev
    systemd
    prometheus
    python3-yaml
    chromium fonts-dejavu-core
)
if [ "${1:-}" = "--bench" ]; then
    packages+=(postgresql-15 postgresql-client-15 redis-server redis-tools)
fi
if [ "${1:-}" = "--json-parsers" ]; then
    # bench/json_parsers.sh only: the four parsers compared for the batch API.
    packages+=(libyajl-dev libcjson-dev libjansson-dev libjson-c-dev)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg -s "$p" >/dev/null 2>&1; then
        missing+=("$p")
    fi
done
# chromium is the browser of the ledger explorer's test (tests/ui: playwright-core drives
# Debian's /usr/bin/chromium headless; no browser is downloaded). Without recommends it brings
# no font, so fonts-dejavu-core gives the page's text glyphs in the test's screenshot.
# Node.js and npm run the OpenAPI contract test's tools (tests/contract: npm ci from its
# lockfile). Asked by command, not by dpkg: a machine whose nodejs package bundles npm (and
# conflicts with Debian's npm package) has both already, and installing npm there would
# replace its Node.js.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

# prometheus is wanted only for promtool (tests/integration/test_metrics.c checks GET /metrics
# with `promtool check metrics`). Its postinst starts a Prometheus server (listening on :9090
# on every interface) and enables it at boot. While it is installed, service starts are
# denied through /usr/sbin/policy-rc.d (invoke-rc.d(8); deb-systemd-invoke honours it too),
# unless the machine already has a policy of its own (container images usually deny), and
# the unit is disabled afterwards, so no server runs now or after a reboot.
policy=/usr/sbin/policy-rc.d
own_policy=
if [[ " ${missing[*]} " == *" prometheus "* && ! -e $policy ]]; then
    own_policy=$policy
    trap '"${sudo_cmd[@]}" rm -f "$own_policy"' EXIT
    printf '#!/bin/sh\n# install-deps.sh: no service starts while it installs\nexit 101\n' |
        "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 755 "$policy"
fi

"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
    "${sudo_cmd[@]}" systemctl disable --quiet prometheus.service 2>/dev/null || true
fi
