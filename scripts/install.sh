#!/usr/bin/env bash
# make install: the binary, the systemd unit, the README, a `wallet` system user and its data
# directory /var/lib/wallet-service. With DESTDIR set (a staging root, as for packaging) it
# only copies files under it: no user is made and systemd is not told.
# usage: scripts/install.sh BINARY   env: PREFIX (/usr/local), DESTDIR (none)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$1
prefix=${PREFIX:-/usr/local}
dest=${DESTDIR:-}
unitdir=${UNITDIR:-/etc/systemd/system}

[ -x "$bin" ] || { echo "install: no binary at $bin (run make build)" >&2; exit 1; }
install -d "$dest$prefix/bin" "$dest$unitdir" "$dest$prefix/share/doc/wallet-service"
install -m 0755 "$bin" "$dest$prefix/bin/wallet-service"
sed "s|@BINDIR@|$prefix/bin|" "$here/deploy/wallet-service.service" >"$dest$unitdir/wallet-service.service.tmp"
chmod 0644 "$dest$unitdir/wallet-service.service.tmp"
mv "$dest$unitdir/wallet-service.service.tmp" "$dest$unitdir/wallet-service.service"
install -m 0644 "$here/README.md" "$here/docs/api.md" "$dest$prefix/share/doc/wallet-service/"
echo "install: $dest$prefix/bin/wallet-service, $dest$unitdir/wallet-service.service"

if [ -n "$dest" ]; then
    exit 0
fi
if ! id -u wallet >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/wallet-service --no-create-home \
        --shell /usr/sbin/nologin --comment "wallet-service" wallet
    echo "install: made the system user wallet"
fi
install -d -o wallet -g wallet -m 0750 /var/lib/wallet-service
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    echo "install: start it with: systemctl enable --now wallet-service"
else
    echo "install: systemd is not running here; the unit is in place for when it is"
fi
