#!/usr/bin/env bash
# A quick load run of one wallet-service binary (not the peer comparison): starts it on a
# free loopback port with a fresh temporary data directory, creates ACCOUNTS accounts, then
# drives health, get_balance and balance_transfer with wrk (-t1 -c64, SECONDS each) and
# prints one Markdown table. Everything it started is stopped and removed on exit.
# usage: bench/quick.sh [BINARY]   env: SECONDS_EACH (8), ACCOUNTS (10000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/wallet-service}
secs=${SECONDS_EACH:-8}
export ACCOUNTS=${ACCOUNTS:-10000}
dir=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$bin" --port 0 --data-dir "$dir/data" >"$dir/out" 2>"$dir/err" &
pid=$!
port=
for _ in $(seq 200); do
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$dir/out")
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { cat "$dir/err" >&2; exit 1; }
url=http://127.0.0.1:$port
"$here/create_accounts.sh" "$url" "$ACCOUNTS" 1000000000 >/dev/null 2>&1

echo "| operation | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
for script in health get_balance transfer; do
    out=$(wrk -t1 -c64 -d"${secs}s" --latency -s "$here/$script.lua" "$url")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    echo "| $script | $rps | $p50 | $p99 | ${bad:-0} |"
done
kill "$pid" && wait "$pid" 2>/dev/null || true
pid=
grep "writer:" "$dir/err" >&2 || true
