#!/usr/bin/env bash
# make bench: wallet-service against the systems a user would pick instead, in one run,
# under the same client concurrency and the same accounts.
#
#   1. wallet-service (Release build, temporary data dir, free loopback port): health (the
#      HTTP ceiling), get_balance, balance_transfer, create_account, driven by wrk.
#   2. PostgreSQL 15 (temporary cluster, loopback, synchronous_commit on): a plpgsql transfer
#      and a balance read, driven by pgbench -M prepared.
#   3. Redis 7 (appendonly yes, appendfsync always): a Lua transfer and a GET, driven by
#      redis-benchmark.
#   4. Memory and start-up: RSS of the service holding MEM_ACCOUNTS accounts, time to start
#      on that data dir (one event per account) and time for --verify over it.
# Prints one Markdown table, the ratios and the targets. Every server it started is stopped
# and every temporary directory removed on exit, Ctrl-C or failure.
#
# usage: bench/run.sh BINARY
# env: DURATION (10 s per measured run), WARMUP (3 s), CONNECTIONS (64), ACCOUNTS (10000),
#      MEM_ACCOUNTS (1000000; 0 skips step 4), BENCH_TMP (parent of the temporary dir)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
duration=${DURATION:-10}
warmup=${WARMUP:-3}
conns=${CONNECTIONS:-64}
export ACCOUNTS=${ACCOUNTS:-10000}
mem_accounts=${MEM_ACCOUNTS:-1000000}
balance=1000000000
pg_bin=/usr/lib/postgresql/15/bin

tmp=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/wallet-bench.XXXXXX")
svc_pid= redis_pid= pg_started= load_pid=
cleanup() {
    set +e
    [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
    [ -n "$svc_pid" ] && kill "$svc_pid" 2>/dev/null && wait "$svc_pid" 2>/dev/null
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    if [ -n "$pg_started" ]; then
        as_pg "$pg_bin/pg_ctl" -D "$tmp/pg/data" -m immediate -w stop >/dev/null 2>&1
        # Interrupted while starting: pg_ctl may not know the postmaster yet.
        [ -f "$tmp/pg/data/postmaster.pid" ] && kill -QUIT "$(head -n 1 "$tmp/pg/data/postmaster.pid")"
        sleep 0.2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# PostgreSQL refuses to run as root: run its programs as the postgres user then.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A loopback port nothing listens on (the peers need a fixed one; the service takes port 0).
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free loopback port found"
}

now_ms() { date +%s%3N; }

# Waits (at most 30 s) until the log file $1 has a line matching $2.
wait_for_line() {
    for _ in $(seq 600); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# ---- results ------------------------------------------------------------------------------
rows=()
declare -A rps p50 p99
# record SYSTEM OPERATION RPS P50_MS P99_MS DURABLE
record() {
    rows+=("$1|$2|$3|$4|$5|$6")
    rps["$1/$2"]=$3
    p50["$1/$2"]=$4
    p99["$1/$2"]=$5
}

# wrk prints latencies as 612.00us, 1.23ms or 1.02s: milliseconds, two decimals.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
        printf "%.2f", n
    }'
}

# wrk_run NAME SCRIPT URL SECONDS: one wrk run; sets w_rps w_p50 w_p99 w_bad.
wrk_run() {
    local out
    out=$(wrk -t1 -c"$conns" -d"${4}s" --latency -s "$here/$2" "$3")
    echo "$out" >"$tmp/wrk-$1.txt"
    w_rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
    w_p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    w_p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    w_bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    w_bad=${w_bad:-0}
}

# ---- wallet-service -----------------------------------------------------------------------
# svc_start DATA_DIR: starts the service on a free port; sets svc_pid, svc_url, svc_start_ms.
svc_start() {
    local t0
    : >"$tmp/svc.out"
    t0=$(now_ms)
    "$bin" --port 0 --data-dir "$1" >"$tmp/svc.out" 2>>"$tmp/svc.err" &
    svc_pid=$!
    wait_for_line "$tmp/svc.out" '^listening on' || {
        cat "$tmp/svc.err" >&2
        die "wallet-service did not start"
    }
    svc_start_ms=$(($(now_ms) - t0))
    svc_url=http://127.0.0.1:$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/svc.out")
}

svc_stop() {
    kill "$svc_pid"
    wait "$svc_pid" || die "wallet-service exited with status $?"
    svc_pid=
}

bench_service() {
    log "wallet-service: $ACCOUNTS accounts, wrk -t1 -c$conns, ${warmup}s warm-up + ${duration}s each"
    svc_start "$tmp/svc-data"
    local codes
    codes=$("$here/create_accounts.sh" "$svc_url" "$ACCOUNTS" "$balance" 2>/dev/null)
    grep -q "^ *$ACCOUNTS 201$" <<<"$codes" || die "creating accounts: $codes"
    local op script durable
    for op in health get_balance balance_transfer create_account; do
        case $op in
        health) script=health.lua durable=- ;;
        get_balance) script=get_balance.lua durable=- ;;
        balance_transfer) script=transfer.lua durable=yes ;;
        create_account) script=create_account.lua durable=yes ;;
        esac
        wrk_run "$op-warmup" "$script" "$svc_url" "$warmup"
        wrk_run "$op" "$script" "$svc_url" "$duration"
        [ "$w_bad" = 0 ] || die "$op: $w_bad non-2xx answers (see wrk output)"
        record wallet-service "$op" "$w_rps" "$w_p50" "$w_p99" "$durable"
        log "  $op: $w_rps req/s, p50 $w_p50 ms, p99 $w_p99 ms"
    done
    svc_stop
    "$bin" --verify --data-dir "$tmp/svc-data" >"$tmp/verify.out" 2>&1 || {
        cat "$tmp/verify.out" >&2
        die "--verify failed after the load"
    }
    grep "writer:" "$tmp/svc.err" | tail -n 1 | sed 's/^/bench:   /' >&2 || true
    : >"$tmp/svc.err"
}

# ---- PostgreSQL ---------------------------------------------------------------------------
# pgbench_run NAME SCRIPT SECONDS: sets g_rps g_p50 g_p99 from the per-transaction log.
pgbench_run() {
    local logdir=$tmp/pg/log-$1 out
    mkdir -p "$logdir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$logdir"
    out=$(cd "$logdir" && as_pg "$pg_bin/pgbench" -h 127.0.0.1 -p "$pg_port" -U bench -n \
        -M prepared -c "$conns" -j 1 -T "$3" -D accounts="$ACCOUNTS" -f "$here/pg/$2" \
        -l --log-prefix="$logdir/tx" bench 2>&1) || {
        echo "$out" >&2
        die "pgbench $1 failed"
    }
    echo "$out" >"$tmp/pgbench-$1.txt"
    local failed
    failed=$(awk -F': ' '/^number of failed transactions/ {print $2 + 0}' <<<"$out")
    [ "${failed:-0}" = 0 ] || die "pgbench $1: $failed failed transactions"
    g_rps=$(awk '/^tps = / {printf "%.0f", $3}' <<<"$out")
    # Log lines: client transaction latency_us script_no epoch_s epoch_us.
    read -r g_p50 g_p99 < <(cat "$logdir"/tx.* | awk '{print $3}' | sort -n | awk '
        { v[NR] = $1 }
        END {
            i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
            i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
            printf "%.2f %.2f\n", v[i50] / 1000, v[i99] / 1000
        }')
}

bench_postgres() {
    log "PostgreSQL 15: synchronous_commit on, pgbench -M prepared -c$conns -j1"
    mkdir -p "$tmp/pg"
    chmod 711 "$tmp"
    [ "$(id -u)" -eq 0 ] && chown postgres "$tmp/pg"
    as_pg "$pg_bin/initdb" -D "$tmp/pg/data" -U bench --auth=trust -E UTF8 --no-locale \
        >"$tmp/pg/initdb.log" 2>&1 || {
        cat "$tmp/pg/initdb.log" >&2
        die "initdb failed"
    }
    pg_port=$(free_port)
    pg_started=1 # from here on, cleanup stops it
    # Defaults kept (fsync on, synchronous_commit on, full_page_writes on); only where it
    # listens, and enough connections for the load.
    as_pg "$pg_bin/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/server.log" -w -t 60 \
        -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$tmp/pg -c max_connections=$((conns + 16))" \
        start >/dev/null || {
        cat "$tmp/pg/server.log" >&2
        die "PostgreSQL did not start"
    }
    local psql=("$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U bench -v ON_ERROR_STOP=1 -q)
    as_pg "${psql[@]}" -d postgres -c "CREATE DATABASE bench" >/dev/null
    as_pg "${psql[@]}" -d bench -f "$here/pg/schema.sql" >/dev/null
    as_pg "${psql[@]}" -d bench -c "INSERT INTO accounts SELECT 'acc' || i, $balance
        FROM generate_series(0, $ACCOUNTS - 1) AS i" >/dev/null
    as_pg "${psql[@]}" -d bench -c "VACUUM ANALYZE accounts" >/dev/null
    local name script durable
    for name in get_balance balance_transfer; do
        case $name in
        get_balance) script=balance.sql durable=- ;;
        balance_transfer) script=transfer.sql durable=yes ;;
        esac
        pgbench_run "$name-warmup" "$script" "$warmup"
        pgbench_run "$name" "$script" "$duration"
        record "PostgreSQL 15" "$name" "$g_rps" "$g_p50" "$g_p99" "$durable"
        log "  $name: $g_rps tx/s, p50 $g_p50 ms, p99 $g_p99 ms"
    done
    local sum
    sum=$(as_pg "${psql[@]}" -d bench -At -c "SELECT sum(balance) FROM accounts")
    [ "$sum" = "$((ACCOUNTS * balance))" ] || die "PostgreSQL: money not conserved ($sum)"
    as_pg "$pg_bin/pg_ctl" -D "$tmp/pg/data" -m fast -w stop >/dev/null
    pg_started=
}

# ---- Redis --------------------------------------------------------------------------------
# redis_run NAME REQUESTS ARGS...: one redis-benchmark run; sets r_rps r_p50 r_p99.
redis_run() {
    local name=$1 n=$2 out
    shift 2
    out=$(redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$conns" -n "$n" -r "$ACCOUNTS" \
        --csv "$@" 2>&1) || {
        echo "$out" >&2
        die "redis-benchmark $name failed"
    }
    echo "$out" >"$tmp/redis-$name.txt"
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",...
    IFS=, read -r _ r_rps _ _ r_p50 _ r_p99 _ < <(tail -n 1 <<<"$out" | tr -d '"')
    r_rps=$(printf '%.0f' "$r_rps")
    r_p50=$(printf '%.2f' "$r_p50")
    r_p99=$(printf '%.2f' "$r_p99")
}

bench_redis() {
    log "Redis 7: appendonly yes, appendfsync always, redis-benchmark -c$conns"
    mkdir -p "$tmp/redis"
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp/redis" --appendonly yes \
        --appendfsync always --save '' --daemonize no --logfile "$tmp/redis/server.log" &
    redis_pid=$!
    local cli=(redis-cli -h 127.0.0.1 -p "$redis_port")
    for _ in $(seq 200); do
        "${cli[@]}" PING 2>/dev/null | grep -q PONG && break
        sleep 0.05
    done
    "${cli[@]}" PING | grep -q PONG || die "Redis did not start"
    # redis-benchmark's __rand_int__ is a 12-digit zero-padded number.
    awk -v n="$ACCOUNTS" -v b="$balance" 'BEGIN {
        for (i = 0; i < n; i++) {
            k = sprintf("acc:%012d", i)
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(b), b
        }
    }' | "${cli[@]}" --pipe >/dev/null
    local sha
    sha=$("${cli[@]}" SCRIPT LOAD "$(cat "$here/redis/transfer.lua")")
    local name durable n rate
    for name in get_balance balance_transfer; do
        local cmd
        case $name in
        get_balance) cmd=(GET acc:__rand_int__) durable=- ;;
        balance_transfer) cmd=(EVALSHA "$sha" 2 acc:__rand_int__ acc:__rand_int__ 1) durable=yes ;;
        esac
        # redis-benchmark runs a count, not a time: calibrate the count on the warm-up.
        local t0=$(now_ms)
        redis_run "$name-warmup" 20000 "${cmd[@]}"
        rate=$r_rps
        n=$((rate * duration))
        [ "$n" -ge 1000 ] || n=1000
        redis_run "$name" "$n" "${cmd[@]}"
        record "Redis 7" "$name" "$r_rps" "$r_p50" "$r_p99" "$durable"
        log "  $name: $r_rps req/s, p50 $r_p50 ms, p99 $r_p99 ms ($n requests)"
    done
    local sum
    sum=$("${cli[@]}" EVAL "local s = 0 for i = 0, tonumber(ARGV[1]) - 1 do
        s = s + tonumber(redis.call('GET', string.format('acc:%012d', i))) end
        return s" 0 "$ACCOUNTS")
    [ "$sum" = "$((ACCOUNTS * balance))" ] || die "Redis: money not conserved ($sum)"
    "${cli[@]}" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=
}

# ---- memory and start-up ------------------------------------------------------------------
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

bench_memory() {
    log "memory and start-up: $mem_accounts accounts (create_account, one event each)"
    local data=$tmp/mem-data
    svc_start "$data"
    local empty_rss created=0 remaining rate=20000 secs out t0
    empty_rss=$(rss_kib "$svc_pid")
    # wrk runs for a time, not a count: rounds with a quota, each sized from the last rate.
    # A round's count of 201s can miss the last few answers, so rounds stop within one
    # connection count of the goal; the exact number is read from --verify below.
    for _ in $(seq 20); do
        remaining=$((mem_accounts - created))
        [ "$remaining" -gt "$conns" ] || break
        secs=$((remaining * 12 / 10 / rate + 1))
        [ "$secs" -le 120 ] || secs=120
        t0=$(now_ms)
        out=$(QUOTA=$remaining wrk -t1 -c"$conns" -d"${secs}s" -s "$here/create_quota.lua" \
            "$svc_url" | awk '/^created / {print $2}')
        [ "${out:-0}" -gt 0 ] || die "a create_account round created nothing"
        created=$((created + out))
        rate=$((out * 1000 / ($(now_ms) - t0) + 1))
        [ "$rate" -ge 1000 ] || rate=1000
    done
    [ "$((mem_accounts - created))" -le "$conns" ] || die "created only $created accounts"
    local loaded_rss
    loaded_rss=$(rss_kib "$svc_pid")
    svc_stop
    svc_start "$data"
    local start_ms=$svc_start_ms restart_rss
    sleep 1
    restart_rss=$(rss_kib "$svc_pid")
    svc_stop
    t0=$(now_ms)
    "$bin" --verify --data-dir "$data" >"$tmp/verify.out" 2>&1 || {
        cat "$tmp/verify.out" >&2
        die "--verify failed"
    }
    local verify_ms=$(($(now_ms) - t0))
    local accounts events
    accounts=$(sed -n 's/^verify: \([0-9]*\) events, \([0-9]*\) accounts.*/\2/p' "$tmp/verify.out")
    events=$(sed -n 's/^verify: \([0-9]*\) events, \([0-9]*\) accounts.*/\1/p' "$tmp/verify.out")
    [ "${accounts:-0}" -gt 0 ] || die "--verify printed no account count"
    mem_bytes=$((restart_rss * 1024 / accounts))
    mem_line=$(printf '| %s accounts, %s events | %s MiB | %s MiB | %s | %s ms | %s ms |' \
        "$accounts" "$events" "$((empty_rss / 1024))" "$((restart_rss / 1024))" "$mem_bytes" \
        "$start_ms" "$verify_ms")
    log "  after loading: RSS $((loaded_rss / 1024)) MiB; after restart: $((restart_rss / 1024)) MiB = $mem_bytes bytes/account; start ${start_ms} ms; --verify ${verify_ms} ms"
    sed 's/^/bench:   /' "$tmp/verify.out" | tail -n 3 >&2
}

# ---- report -------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
check() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
    ok = (op == ">=") ? (v >= t) : (v < t); print ok ? "met" : "MISSED" }'; }

report() {
    echo
    echo "| system | operation | requests/s | p50 ms | p99 ms | durable |"
    echo "|---|---|---|---|---|---|"
    local r
    for r in "${rows[@]}"; do
        IFS='|' read -r s o q a b d <<<"$r"
        echo "| $s | $o | $q | $a | $b | $d |"
    done
    local tr=${rps[wallet-service/balance_transfer]} gb=${rps[wallet-service/get_balance]}
    local hc=${rps[wallet-service/health]}
    local v1 v2 v3 v4
    v1=$(ratio "$tr" "${rps[Redis 7/balance_transfer]:-0}")
    v2=$(ratio "$tr" "${rps[PostgreSQL 15/balance_transfer]:-0}")
    v3=$(ratio "$gb" "$hc")
    v4=$(ratio "$tr" "$gb")
    local tp99=${p99[wallet-service/balance_transfer]}
    echo
    echo "| target | measured | goal | |"
    echo "|---|---|---|---|"
    echo "| transfer vs Redis (appendfsync always) | ${v1}x | >= 1.5x | $(check "$v1" 1.5 '>=') |"
    echo "| transfer vs PostgreSQL | ${v2}x | >= 10x | $(check "$v2" 10 '>=') |"
    echo "| get_balance vs HTTP ceiling (health) | ${v3}x | >= 0.85x | $(check "$v3" 0.85 '>=') |"
    echo "| transfer vs get_balance | ${v4}x | >= 0.8x | $(check "$v4" 0.8 '>=') |"
    echo "| transfer p99 | ${tp99} ms | < 5 ms | $(check "$tp99" 5 '<') |"
    if [ -n "${mem_line:-}" ]; then
        echo "| memory at $mem_accounts accounts | $mem_bytes B/account | <= 128 | $(check "$mem_bytes" 128.5 '<') |"
        echo
        echo "| data | RSS empty | RSS after restart | bytes/account | start | --verify |"
        echo "|---|---|---|---|---|---|"
        echo "$mem_line"
    fi
}

log "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), temporary dir on $(df -P "$tmp" | awk 'NR == 2 {print $1}')"
# Each system starts on a settled disk: what the build, an earlier run or the previous
# system wrote is on disk (sync) and its deletes have been discarded, so that none of them
# pays for another's writeback in its fdatasync times.
settle() {
    sync
    sleep 2
}
settle
bench_service
settle
bench_postgres
settle
bench_redis
settle
[ "$mem_accounts" -gt 0 ] && bench_memory
report
