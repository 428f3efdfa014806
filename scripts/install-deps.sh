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
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
