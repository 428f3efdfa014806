#!/usr/bin/env bash
# --verify shows its progress (done of total, rate, time left) on a terminal and nothing when
# stderr is not one. A log of 1,229,500 records (1,000 accounts, 150 batches of 8,190) made by wallet-bench-writer replays for
# long enough (0.7 s here) for the line to be drawn; `script` (util-linux) gives the
# terminal. At most 120 s for each step.
# usage: test_progress.sh WALLET_SERVICE WALLET_BENCH_WRITER
set -euo pipefail
bin=$1 writer=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_progress: FAIL: $*" >&2; exit 1; }

timeout 120 "$writer" --data-dir "$tmp/data" --accounts 1000 --batch 8190 --batches 150 \
    >/dev/null 2>&1 || fail "wallet-bench-writer failed"
# On a terminal: the progress line, then the summary.
timeout 120 script -qec "$bin --verify --data-dir $tmp/data" /dev/null >"$tmp/tty" ||
    fail "--verify on a terminal failed: $(tr '\r' '\n' <"$tmp/tty" | tail -5)"
tr '\r' '\n' <"$tmp/tty" >"$tmp/lines"
grep -Eq '^verify: [0-9]+ of 1229500 records \([0-9]+%\), [0-9]+ records/s, [0-9]+ s left' \
    "$tmp/lines" || fail "no progress line on a terminal: $(head -c 600 "$tmp/lines")"
grep -Eq '^verify: 1229500 records in [0-9.]+ s' "$tmp/lines" || fail "no final progress line"
grep -q ', 0 problems' "$tmp/lines" || fail "no summary on a terminal"
# Not on a terminal: the summary alone.
timeout 120 "$bin" --verify --data-dir "$tmp/data" >"$tmp/out" 2>"$tmp/err" ||
    fail "--verify failed: $(cat "$tmp/err")"
if grep -q 'records/s' "$tmp/out" "$tmp/err"; then fail "progress shown without a terminal"; fi
grep -q ', 0 problems' "$tmp/out" || fail "no summary without a terminal"
echo "test_progress: ok"
