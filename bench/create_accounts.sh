#!/usr/bin/env bash
# Creates COUNT accounts named acc0..acc<COUNT-1> with BALANCE each on the service at
# BASE_URL, 64 requests in flight over keep-alive connections (curl --parallel).
# usage: bench/create_accounts.sh BASE_URL COUNT BALANCE
set -euo pipefail
base=$1 count=$2 balance=$3
list=$(mktemp)
trap 'rm -f "$list"' EXIT
for ((i = 0; i < count; i++)); do
    printf 'url = "%s/api/1.0/wallet/create_account?startAmount=%s&accountID=acc%d"\noutput = "/dev/null"\n' \
        "$base" "$balance" "$i"
done >"$list"
curl -s --parallel --parallel-max 64 -K "$list" -w '%{http_code}\n' | sort | uniq -c
