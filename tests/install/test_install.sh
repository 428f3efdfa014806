#!/usr/bin/env bash
# make install's script into a staging root (DESTDIR: files only, no user, systemd not told):
# the layout, the unit checked by systemd-analyze verify (with ExecStart pointed at the staged
# binary), and the staged binary started with the unit's environment, answering /ready and
# stopping cleanly on SIGTERM. Loopback only; at most 20 s of waiting.
# usage: test_install.sh BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=$1
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test_install: FAIL: $*" >&2; exit 1; }

DESTDIR=$tmp/root PREFIX=/usr/local UNITDIR=/lib/systemd/system \
    bash "$here/scripts/install.sh" "$bin" >/dev/null
unit=$tmp/root/lib/systemd/system/wallet-service.service
for f in usr/local/bin/wallet-service lib/systemd/system/wallet-service.service \
    usr/local/share/doc/wallet-service/README.md usr/local/share/doc/wallet-service/api.md; do
    [ -f "$tmp/root/$f" ] || fail "$f not installed"
done
[ -x "$tmp/root/usr/local/bin/wallet-service" ] || fail "the binary is not executable"
[ "$(stat -c %a "$unit")" = 644 ] || fail "the unit's mode is $(stat -c %a "$unit"), not 644"
grep -qx 'ExecStart=/usr/local/bin/wallet-service' "$unit" || fail "ExecStart is not the PREFIX's binary"
grep -qx 'User=wallet' "$unit" || fail "the unit does not run as wallet"
grep -qx 'StateDirectory=wallet-service' "$unit" || fail "no StateDirectory"
grep -qx 'Environment=WALLET_DATA_DIR=/var/lib/wallet-service' "$unit" || fail "the data is not in /var/lib/wallet-service"
if grep -q '@' "$unit"; then fail "a placeholder is left in the unit"; fi

# The unit as systemd reads it, its ExecStart pointed at the staged binary.
sed "s|^ExecStart=/usr/local/bin/|ExecStart=$tmp/root/usr/local/bin/|" "$unit" \
    >"$tmp/wallet-service.service"
out=$(systemd-analyze verify --man=no "$tmp/wallet-service.service" 2>&1) ||
    fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"

# The staged binary with the unit's environment (its data dir in the staging root), on a
# free loopback port: ready, then a clean stop. The directory is made as StateDirectory
# makes it (the service makes what is inside).
mkdir -p -m 0750 "$tmp/var/lib/wallet-service"
WALLET_DATA_DIR=$tmp/var/lib/wallet-service WALLET_PORT=0 WALLET_BIND=127.0.0.1 \
    "$tmp/root/usr/local/bin/wallet-service" >"$tmp/out" 2>"$tmp/err" &
pid=$!
port=
for _ in $(seq 200); do
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || fail "the staged binary did not start: $(cat "$tmp/err")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/ready")
[ "$code" = 200 ] || fail "/ready answered $code"
[ -d "$tmp/var/lib/wallet-service/log" ] || fail "WALLET_DATA_DIR was not used"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"
echo "test_install: ok"
