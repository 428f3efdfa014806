#!/usr/bin/env bash
# make bench: wallet-service against the systems a user would pick instead, in one run,
# under the same client concurrency and the same accounts.
#
#   1. wallet-service (Release build, temporary data dir, free loopback port): health (the
#      HTTP ceiling), get_balance, balance_transfer, create_account, driven by wrk; then
#      --verify over the data and a check that the money adds up.
#   2. The writer alone: wallet-bench-writer, if it sits beside BINARY, commits 200 batches
#      of 8190 transfers over 10,000 accounts (one sync per batch) with no HTTP in front;
#      skipped (and said so) when it is absent.
#   3. PostgreSQL 15 (temporary cluster, loopback, synchronous_commit on): a plpgsql transfer
#      and a balance read, driven by pgbench -M prepared. The SQL files are copied into the
#      cluster's own directory first and every PostgreSQL program runs from /, so nothing
#      the postgres user runs reads the clone (which may sit where it cannot enter).
#   4. Redis 7 (appendonly yes, appendfsync always): a Lua transfer and a GET, driven by
#      redis-benchmark.
#   5. Memory and start-up: MEM_ACCOUNTS accounts are loaded with create_account (one event
#      each), the service is killed with kill -9 right after the load, started again (timed
#      until its "listening on" line: start after kill -9), its RSS read a second later,
#      stopped cleanly and started again (start after clean stop), stopped, and --verify
#      timed over the data; every acknowledged account must have survived the kill.
# For every measured run it also reads the server's CPU time (utime + stime from
# /proc/PID/stat; for PostgreSQL the postmaster and all its children, with the backends it
# has reaped) right before and right after, and divides by the requests served: server CPU
# in microseconds per request. Prints the results table, the targets (each met or MISSED)
# and the memory table. Every server it started is stopped and every temporary directory
# removed on exit, Ctrl-C or failure.
#
# usage: bench/run.sh BINARY
# env: DURATION (10 s per measured run), WARMUP (3 s), CONNECTIONS (64), BATCH_CONNECTIONS
#      (4, for the batches of 1,000 and 8,190), ACCOUNTS (10000),
#      MEM_ACCOUNTS (1000000; 0 skips step 5), BENCH_TMP (parent of the temporary dir; the
#      postgres user must be able to enter it when run as root)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
duration=${DURATION:-10}
warmup=${WARMUP:-3}
conns=${CONNECTIONS:-64}
batch_conns=${BATCH_CONNECTIONS:-4}
export ACCOUNTS=${ACCOUNTS:-10000}
mem_accounts=${MEM_ACCOUNTS:-1000000}
balance=1000000000
pg_bin=/usr/lib/postgresql/15/bin
clk_tck=$(getconf CLK_TCK)

tmp=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/wallet-bench.XXXXXX")
svc_pid= redis_pid= pg_started= writer_pid=
cleanup() {
    set +e
    [ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null && wait "$writer_pid" 2>/dev/null
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

# PostgreSQL refuses to run as root: run its programs as the postgres user then. They run
# from / (every path handed to them is absolute), so the caller's directory, which may be a
# clone the postgres user cannot enter, is never theirs.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
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

# ---- server CPU ---------------------------------------------------------------------------
# stat_fields PID: fields 3.. of /proc/PID/stat in the array st (st[11] = field 14, utime;
# st[12] = stime; st[13] = cutime; st[14] = cstime, all in clock ticks). The comm field can
# hold spaces and parentheses, hence the cut after the last ")". Builtins only: no fork.
stat_fields() {
    local line
    read -r line <"/proc/$1/stat" || return 1
    read -r -a st <<<"${line##*) }"
}

# cpu_ticks PID: utime + stime of the process (all its threads), in clock ticks.
cpu_ticks() {
    stat_fields "$1" || die "cannot read /proc/$1/stat"
    echo $((st[11] + st[12]))
}

# pg_children: the PIDs of the postmaster's children (background processes and backends).
pg_children() { ps --ppid "$pg_pm" -o pid= 2>/dev/null || true; }

# pg_ticks: CPU of the whole PostgreSQL server, in clock ticks: the postmaster's utime +
# stime plus cutime + cstime (the backends it has reaped: pgbench's connections end with its
# run), plus the same four of every child still alive.
pg_ticks() {
    local total pid
    stat_fields "$pg_pm" || die "cannot read the postmaster's /proc/$pg_pm/stat"
    total=$((st[11] + st[12] + st[13] + st[14]))
    for pid in $(pg_children); do
        stat_fields "$pid" 2>/dev/null && total=$((total + st[11] + st[12] + st[13] + st[14]))
    done
    echo "$total"
}

# cpu_us_per_req TICKS REQUESTS: server CPU per request in microseconds, one decimal.
cpu_us_per_req() {
    awk -v t="$1" -v n="$2" -v hz="$clk_tck" 'BEGIN {
        if (n > 0) printf "%.1f", t * 1000000 / hz / n; else print "n/a" }'
}

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
declare -A rps p50 p99 cpu
# record SYSTEM OPERATION RPS P50_MS P99_MS CPU_US_PER_REQ DURABLE
record() {
    rows+=("$1|$2|$3|$4|$5|$6|$7")
    rps["$1/$2"]=$3
    p50["$1/$2"]=$4
    p99["$1/$2"]=$5
    cpu["$1/$2"]=$6
}

# wrk prints latencies as 612.00us, 1.23ms or 1.02s: milliseconds, two decimals.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
        printf "%.2f", n
    }'
}

# wrk_run NAME SCRIPT URL SECONDS: one wrk run against the service (svc_pid); sets w_rps
# w_p50 w_p99 w_bad, and w_cpu, the service's CPU per request over the run.
wrk_run() {
    local out t0 t1 n
    t0=$(cpu_ticks "$svc_pid")
    out=$(wrk -t1 -c"${5:-$conns}" -d"${4}s" --latency -s "$here/$2" "$3")
    t1=$(cpu_ticks "$svc_pid")
    echo "$out" >"$tmp/wrk-$1.txt"
    n=$(awk '/ requests in / {print $1}' <<<"$out")
    w_cpu=$(cpu_us_per_req "$((t1 - t0))" "${n:-0}")
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

# svc_kill9: kills the service with SIGKILL, no clean stop.
svc_kill9() {
    local status=0
    kill -KILL "$svc_pid"
    wait "$svc_pid" 2>/dev/null || status=$?
    svc_pid=
    [ "$status" = 137 ] || die "wallet-service exited with status $status before its kill -9"
}

bench_service() {
    log "wallet-service: $ACCOUNTS accounts, wrk -t1 -c$conns, ${warmup}s warm-up + ${duration}s each"
    svc_start "$tmp/svc-data"
    local codes
    codes=$("$here/create_accounts.sh" "$svc_url" "$ACCOUNTS" "$balance" 2>/dev/null)
    grep -q "^ *$ACCOUNTS 201$" <<<"$codes" || die "creating accounts: $codes"
    local op script durable
    # post_transfer and pending_post alternate, three pending_post runs each between two
    # post_transfer runs: the log grows through the runs and each run is slower than the one
    # before it on the same server (measured: the CPU per request of three post_transfer runs
    # 16 s apart rose 6% and then 15%), so each pending_post is compared with the mean of the
    # runs before and after it (A/B/A), and the target takes the median of the three ratios
    # (on a noisy 2-core VM one A/B/A ratio ranged 0.27-0.62 over five tries).
    for op in health get_balance balance_transfer post_transfer pending_post post_transfer_2 \
        pending_post_2 post_transfer_3 pending_post_3 post_transfer_4 create_account; do
        case $op in
        health) script=health.lua durable=- ;;
        get_balance) script=get_balance.lua durable=- ;;
        balance_transfer) script=transfer.lua durable=yes ;;
        post_transfer*) script=post_transfer.lua durable=yes ;;
        pending_post*) script=pending_post.lua durable=yes ;;
        create_account) script=create_account.lua durable=yes ;;
        esac
        wrk_run "$op-warmup" "$script" "$svc_url" "$warmup"
        wrk_run "$op" "$script" "$svc_url" "$duration"
        [ "$w_bad" = 0 ] || die "$op: $w_bad non-2xx answers (see wrk output)"
        record wallet-service "$op" "$w_rps" "$w_p50" "$w_p99" "$w_cpu" "$durable"
        log "  $op: $w_rps req/s, p50 $w_p50 ms, p99 $w_p99 ms, server CPU $w_cpu µs/req"
    done
    # Batches: POST /transfers with BATCH transfers a request, BATCH_CONNECTIONS at a time
    # (64 connections of 8,190 would be half a million transfers queued). Transfers/s is
    # requests/s times the batch; latency and CPU are per request.
    local size
    for size in 1000 8190; do
        BATCH=$size wrk_run "batch-$size-warmup" batch.lua "$svc_url" "$warmup" "$batch_conns"
        BATCH=$size wrk_run "batch-$size" batch.lua "$svc_url" "$duration" "$batch_conns"
        [ "$w_bad" = 0 ] || die "batch $size: $w_bad non-2xx answers (see wrk output)"
        local tps
        tps=$(awk -v n="$size" '/Requests\/sec/ {printf "%.0f", $2 * n}' "$tmp/wrk-batch-$size.txt")
        record wallet-service "batch of $size" "$tps" "$w_p50" "$w_p99" \
            "$(awk -v c="$w_cpu" -v n="$size" 'BEGIN { printf "%.2f", c / n }')" yes
        log "  batch of $size: $tps transfers/s ($w_rps req/s), p50 $w_p50 ms, p99 $w_p99 ms a request"
    done
    svc_stop
    "$bin" --verify --data-dir "$tmp/svc-data" >"$tmp/verify.out" 2>&1 || {
        cat "$tmp/verify.out" >&2
        die "--verify failed after the load"
    }
    # Transfers move money; create_account.lua adds accounts with 1000 each.
    local accounts total
    read -r accounts total < <(sed -n \
        's/^verify: [0-9]* events, \([0-9]*\) accounts, [0-9]* transfers, total money \([0-9]*\).*/\1 \2/p' \
        "$tmp/verify.out") || true
    [ -n "${total:-}" ] || die "--verify printed no total: $(cat "$tmp/verify.out")"
    [ "$total" = "$((ACCOUNTS * balance + (accounts - ACCOUNTS) * 1000))" ] ||
        die "wallet-service: money not conserved ($total over $accounts accounts)"
    grep "writer:" "$tmp/svc.err" | tail -n 1 | sed 's/^/bench:   /' >&2 || true
    : >"$tmp/svc.err"
}

# Each system starts on a settled disk: what the build, an earlier run or the previous
# system wrote is on disk (sync) and its deletes have been discarded, so that none of them
# pays for another's writeback in its fdatasync times.
settle() {
    sync
    sleep 2
}

# ---- the writer alone ---------------------------------------------------------------------
# wallet-bench-writer beside the service binary: the writer's group commit with no HTTP in
# front. Sets writer_rate (transfers/s) when it ran, and lets the disk settle after it.
bench_writer() {
    local writer
    writer=$(dirname "$bin")/wallet-bench-writer
    if [ ! -e "$writer" ]; then
        log "writer alone: skipped (no wallet-bench-writer beside $(basename "$bin"))"
        return 0
    fi
    log "writer alone: wallet-bench-writer, 10000 accounts, 200 batches of 8190, one sync each"
    # In the background, so that Ctrl-C reaches the trap at once (cleanup stops it); at
    # most 5 minutes.
    timeout 300 "$writer" --data-dir "$tmp/writer-data" --accounts 10000 --batch 8190 \
        --batches 200 >"$tmp/writer.out" 2>&1 &
    writer_pid=$!
    local status=0
    wait "$writer_pid" || status=$?
    writer_pid=
    [ "$status" = 0 ] || {
        cat "$tmp/writer.out" >&2
        die "wallet-bench-writer exited with status $status"
    }
    local line
    line=$(grep '^writer: .* transfers/s' "$tmp/writer.out" | tail -n 1) || true
    # "writer: N transfers in S s, R transfers/s, B batches, one sync each"
    writer_rate=$(sed -n 's|^writer: .* s, \([0-9.,]*\) transfers/s.*|\1|p' <<<"$line" | tr -d ,)
    [ -n "$writer_rate" ] || {
        cat "$tmp/writer.out" >&2
        die "wallet-bench-writer printed no \"writer: ... transfers/s\" line"
    }
    writer_rate=$(printf '%.0f' "$writer_rate")
    log "  $line"
    rm -rf "$tmp/writer-data"
    settle
}

# ---- PostgreSQL ---------------------------------------------------------------------------
# pg_settle: waits (at most 2 s) until no client backend is left (their titles read
# "postgres: bench bench 127.0.0.1(PORT) ..."), so that those of the run that just ended
# have exited and been reaped into the postmaster's cutime + cstime.
pg_settle() {
    local titles
    for _ in $(seq 100); do
        titles=$(ps --ppid "$pg_pm" -o args= 2>/dev/null) || true
        [[ $titles == *"127.0.0.1("* ]] || return 0
        sleep 0.02
    done
}

# pgbench_run NAME SCRIPT SECONDS: sets g_rps g_p50 g_p99 from the per-transaction log, and
# g_cpu, the whole server's CPU per transaction over the run. SCRIPT is the copy in the
# cluster's directory ($pg_sql).
pgbench_run() {
    local logdir=$tmp/pg/log-$1 out t0 t1 n
    mkdir -p "$logdir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$logdir"
    pg_settle
    t0=$(pg_ticks)
    out=$(as_pg "$pg_bin/pgbench" -h 127.0.0.1 -p "$pg_port" -U bench -n \
        -M prepared -c "${4:-$conns}" -j 1 -T "$3" -D accounts="$ACCOUNTS" -f "$pg_sql/$2" \
        -l --log-prefix="$logdir/tx" bench 2>&1) || {
        echo "$out" >&2
        die "pgbench $1 failed"
    }
    pg_settle
    t1=$(pg_ticks)
    echo "$out" >"$tmp/pgbench-$1.txt"
    n=$(awk -F': ' '/^number of transactions actually processed/ {print $2 + 0}' <<<"$out")
    g_cpu=$(cpu_us_per_req "$((t1 - t0))" "${n:-0}")
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
    # The SQL files are copied into the cluster's directory: the clone may sit where the
    # postgres user cannot enter (a home or parent directory of mode 700).
    pg_sql=$tmp/pg/sql
    mkdir -p "$pg_sql"
    cp "$here"/pg/*.sql "$pg_sql/"
    chmod 755 "$tmp/pg" "$pg_sql"
    chmod 644 "$pg_sql"/*.sql
    chmod 711 "$tmp"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$tmp/pg"
    as_pg test -r "$pg_sql/schema.sql" ||
        die "the postgres user cannot read $pg_sql (is BENCH_TMP under a directory it cannot enter?)"
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
    pg_pm=$(head -n 1 "$tmp/pg/data/postmaster.pid")
    local psql=("$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U bench -v ON_ERROR_STOP=1 -q)
    as_pg "${psql[@]}" -d postgres -c "CREATE DATABASE bench" >/dev/null
    as_pg "${psql[@]}" -d bench -f "$pg_sql/schema.sql" >/dev/null
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
        record "PostgreSQL 15" "$name" "$g_rps" "$g_p50" "$g_p99" "$g_cpu" "$durable"
        log "  $name: $g_rps tx/s, p50 $g_p50 ms, p99 $g_p99 ms, server CPU $g_cpu µs/tx"
    done
    # Batches: transfer_batch(n) applies n transfers in one transaction.
    local size
    for size in 1000 8190; do
        pgbench_run "batch-$size-warmup" "batch_$size.sql" "$warmup" "$batch_conns"
        pgbench_run "batch-$size" "batch_$size.sql" "$duration" "$batch_conns"
        local tps
        tps=$(awk -v n="$size" '/^tps = / {printf "%.0f", $3 * n}' "$tmp/pgbench-batch-$size.txt")
        record "PostgreSQL 15" "batch of $size" "$tps" "$g_p50" "$g_p99" \
            "$(awk -v c="$g_cpu" -v n="$size" 'BEGIN { printf "%.2f", c / n }')" yes
        log "  batch of $size: $tps transfers/s ($g_rps tx/s), p50 $g_p50 ms, p99 $g_p99 ms a transaction"
    done
    local sum
    sum=$(as_pg "${psql[@]}" -d bench -At -c "SELECT sum(balance) FROM accounts")
    [ "$sum" = "$((ACCOUNTS * balance))" ] || die "PostgreSQL: money not conserved ($sum)"
    as_pg "$pg_bin/pg_ctl" -D "$tmp/pg/data" -m fast -w stop >/dev/null
    pg_started=
}

# ---- Redis --------------------------------------------------------------------------------
# redis_run NAME REQUESTS ARGS...: one redis-benchmark run; sets r_rps r_p50 r_p99, and
# r_cpu, redis-server's CPU per request over the run.
redis_run() {
    local name=$1 n=$2 out t0 t1
    shift 2
    t0=$(cpu_ticks "$redis_pid")
    out=$(redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "${redis_conns:-$conns}" -n "$n" \
        -r "$ACCOUNTS" -P "${redis_pipeline:-1}" --csv "$@" 2>&1) || {
        echo "$out" >&2
        die "redis-benchmark $name failed"
    }
    t1=$(cpu_ticks "$redis_pid")
    r_cpu=$(cpu_us_per_req "$((t1 - t0))" "$n")
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
    "${cli[@]}" PING 2>/dev/null | grep -q PONG || {
        tail -n 20 "$tmp/redis/server.log" >&2
        die "Redis did not start"
    }
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
        redis_run "$name-warmup" 20000 "${cmd[@]}"
        rate=$r_rps
        n=$((rate * duration))
        [ "$n" -ge 1000 ] || n=1000
        redis_run "$name" "$n" "${cmd[@]}"
        record "Redis 7" "$name" "$r_rps" "$r_p50" "$r_p99" "$r_cpu" "$durable"
        log "  $name: $r_rps req/s, p50 $r_p50 ms, p99 $r_p99 ms, server CPU $r_cpu µs/req ($n requests)"
    done
    # Batches: the same EVALSHA transfer pipelined BATCH deep (one write and one fsync for
    # what arrives together), BATCH_CONNECTIONS clients; rps counts transfers.
    local size
    for size in 1000 8190; do
        local cmd=(EVALSHA "$sha" 2 acc:__rand_int__ acc:__rand_int__ 1)
        redis_conns=$batch_conns redis_pipeline=$size redis_run "batch-$size-warmup" \
            "$((size * batch_conns * 20))" "${cmd[@]}"
        n=$((r_rps * duration))
        [ "$n" -ge "$((size * batch_conns))" ] || n=$((size * batch_conns))
        redis_conns=$batch_conns redis_pipeline=$size redis_run "batch-$size" "$n" "${cmd[@]}"
        record "Redis 7" "batch of $size" "$r_rps" "$r_p50" "$r_p99" "$r_cpu" yes
        log "  batch of $size (pipelined): $r_rps transfers/s, p50 $r_p50 ms, p99 $r_p99 ms a command"
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
# rss_kib PID: VmRSS in KiB (builtins only, so that reading it delays nothing).
rss_kib() {
    local k v _
    while read -r k v _; do
        [ "$k" = VmRSS: ] && echo "$v" && return 0
    done <"/proc/$1/status"
    die "no VmRSS for process $1"
}

bench_memory() {
    log "memory and start-up: $mem_accounts accounts (create_account, one event each), kill -9, start, clean stop, start"
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
    # The load has just finished: read the RSS and kill -9 at once, with whatever the
    # service had not yet written out (memtables, a snapshot at stop) left unwritten.
    local loaded_rss
    loaded_rss=$(rss_kib "$svc_pid")
    svc_kill9
    svc_start "$data"
    local kill9_start_ms=$svc_start_ms restart_rss clean_rss
    sleep 1
    restart_rss=$(rss_kib "$svc_pid")
    svc_stop
    svc_start "$data"
    local clean_start_ms=$svc_start_ms
    sleep 1
    clean_rss=$(rss_kib "$svc_pid")
    svc_stop
    t0=$(now_ms)
    "$bin" --verify --data-dir "$data" >"$tmp/verify.out" 2>&1 || {
        cat "$tmp/verify.out" >&2
        die "--verify failed"
    }
    local verify_ms=$(($(now_ms) - t0))
    local accounts events total
    accounts=$(sed -n 's/^verify: \([0-9]*\) events, \([0-9]*\) accounts.*/\2/p' "$tmp/verify.out")
    events=$(sed -n 's/^verify: \([0-9]*\) events, \([0-9]*\) accounts.*/\1/p' "$tmp/verify.out")
    total=$(sed -n 's/^verify: .*, total money \([0-9]*\).*/\1/p' "$tmp/verify.out")
    [ "${accounts:-0}" -gt 0 ] || die "--verify printed no account count"
    # Every create_account answered 201 was durable before its answer: none may be lost
    # to the kill -9. (The count of 201s may miss a few answers, never add any.)
    [ "$accounts" -ge "$created" ] ||
        die "kill -9 lost accounts: $created acknowledged, $accounts after the restart"
    [ "${total:-}" = "$((accounts * 1000))" ] ||
        die "memory step: money not conserved (${total:-no total} over $accounts accounts of 1000)"
    mem_bytes=$((restart_rss * 1024 / accounts))
    kill9_ms=$kill9_start_ms clean_ms=$clean_start_ms
    mem_line=$(printf '| %s accounts, %s events | %s MiB | %s MiB | %s | %s ms | %s ms | %s ms |' \
        "$accounts" "$events" "$((empty_rss / 1024))" "$((restart_rss / 1024))" "$mem_bytes" \
        "$kill9_start_ms" "$clean_start_ms" "$verify_ms")
    log "  after loading: RSS $((loaded_rss / 1024)) MiB; 1 s after the start after kill -9: $((restart_rss / 1024)) MiB = $mem_bytes bytes/account (after the clean restart: $((clean_rss / 1024)) MiB)"
    log "  start after kill -9 ${kill9_start_ms} ms; start after clean stop ${clean_start_ms} ms; --verify ${verify_ms} ms"
    sed 's/^/bench:   /' "$tmp/verify.out" | tail -n 3 >&2
}

# ---- report -------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {
    if (a != "" && a != "n/a" && b != "n/a" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# check VALUE OP GOAL: met or MISSED (n/a when VALUE or GOAL was not measured).
check() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (v == "" || v == "n/a" || t == "" || t == "n/a") { print "n/a"; exit }
    if (op == ">=") ok = v >= t; else if (op == "<=") ok = v <= t; else ok = v < t
    print ok ? "met" : "MISSED" }'; }

report() {
    echo
    echo "| system | operation | requests/s | p50 ms | p99 ms | server CPU µs/req | durable |"
    echo "|---|---|---|---|---|---|---|"
    local r s o q a b c d
    for r in "${rows[@]}"; do
        IFS='|' read -r s o q a b c d <<<"$r"
        echo "| $s | $o | $q | $a | $b | $c | $d |"
    done
    local ws=wallet-service rd="Redis 7" pg="PostgreSQL 15"
    local tr=${rps[$ws/balance_transfer]} gb=${rps[$ws/get_balance]} hc=${rps[$ws/health]}
    local v_redis v_pg v_gb v_cpu v_health
    v_redis=$(ratio "$tr" "${rps[$rd/balance_transfer]:-0}")
    v_pg=$(ratio "$tr" "${rps[$pg/balance_transfer]:-0}")
    v_gb=$(ratio "$tr" "$gb")
    v_cpu=$(ratio "${cpu[$ws/balance_transfer]}" "${cpu[$ws/get_balance]}")
    v_health=$(ratio "$gb" "$hc")
    local tp99=${p99[$ws/balance_transfer]} rp99=${p99[$rd/balance_transfer]:-n/a}
    echo
    echo "| target | measured | goal | |"
    echo "|---|---|---|---|"
    echo "| transfer vs Redis (appendfsync always) | ${v_redis}x | >= 1.5x | $(check "$v_redis" '>=' 1.5) |"
    echo "| transfer vs PostgreSQL | ${v_pg}x | >= 10x | $(check "$v_pg" '>=' 10) |"
    echo "| transfer vs get_balance | ${v_gb}x | >= 0.8x | $(check "$v_gb" '>=' 0.8) |"
    echo "| server CPU per transfer vs per get_balance | ${v_cpu}x (${cpu[$ws/balance_transfer]} vs ${cpu[$ws/get_balance]} µs) | <= 1.5x | $(check "$v_cpu" '<=' 1.5) |"
    echo "| transfer p99 vs Redis transfer p99 | $tp99 vs $rp99 ms | <= Redis's | $(check "$tp99" '<=' "$rp99") |"
    echo "| get_balance vs HTTP ceiling (health) | ${v_health}x | >= 0.9x | $(check "$v_health" '>=' 0.9) |"
    local pt=${rps[$ws/post_transfer]:-n/a} b1=${rps[$ws/batch of 1000]:-n/a}
    local b8=${rps[$ws/batch of 8190]:-n/a} v_post
    v_post=$(ratio "$pt" "$tr")
    echo "| batches of 8,190 through HTTP | $b8 transfers/s | >= 300,000 | $(check "$b8" '>=' 300000) |"
    local size v
    for size in 1000 8190; do
        local mine=${rps[$ws/batch of $size]:-n/a}
        v=$(ratio "$mine" "${rps[$rd/batch of $size]:-n/a}")
        echo "| batch of $size vs Redis pipelined $size deep | ${v}x | >= 2x | $(check "$v" '>=' 2) |"
        v=$(ratio "$mine" "${rps[$pg/batch of $size]:-n/a}")
        echo "| batch of $size vs PostgreSQL, $size a transaction | ${v}x | >= 20x | $(check "$v" '>=' 20) |"
    done
    echo "| single POST /transfers vs GET balance_transfer | ${v_post}x | >= 0.95x | $(check "$v_post" '>=' 0.95) |"
    # pending_post counts requests: a pending transfer and its post are two, one pair
    # against the mean of the post_transfer runs before and after it; the median of three
    local k pp_ratios=() v_pp
    local pts=("$pt" "${rps[$ws/post_transfer_2]:-n/a}" "${rps[$ws/post_transfer_3]:-n/a}"
        "${rps[$ws/post_transfer_4]:-n/a}")
    local pps=("${rps[$ws/pending_post]:-n/a}" "${rps[$ws/pending_post_2]:-n/a}"
        "${rps[$ws/pending_post_3]:-n/a}")
    for k in 0 1 2; do
        pp_ratios+=("$(awk -v a="${pps[$k]}" -v b="${pts[$k]}" -v c="${pts[$((k + 1))]}" 'BEGIN {
            if (a != "n/a" && b != "n/a" && c != "n/a" && b + c > 0) printf "%.3f", a / 2 / ((b + c) / 2)
            else print "n/a" }')")
    done
    v_pp=$(printf '%s\n' "${pp_ratios[@]}" | grep -v n/a | sort -n | awk '{v[NR] = $1}
        END { if (NR == 3) printf "%.3f", v[2]; else print "n/a" }')
    echo "| pending + post pairs/s vs single POST /transfers (median of 3 A/B/A: ${pp_ratios[*]}) | ${v_pp}x | >= 0.45x | $(check "$v_pp" '>=' 0.45) |"
    if [ -n "${writer_rate:-}" ]; then
        echo "| writer alone (wallet-bench-writer) | $writer_rate transfers/s | >= 1,000,000 | $(check "$writer_rate" '>=' 1000000) |"
    fi
    if [ -n "${mem_line:-}" ]; then
        echo "| memory at $mem_accounts accounts | $mem_bytes B/account | <= 128 | $(check "$mem_bytes" '<=' 128) |"
        echo "| start after clean stop | $clean_ms ms | <= 1000 ms | $(check "$clean_ms" '<=' 1000) |"
        echo "| start after kill -9 | $kill9_ms ms | <= 2000 ms | $(check "$kill9_ms" '<=' 2000) |"
        echo
        echo "| data | RSS empty | RSS after restart | bytes/account | start after kill -9 | start after clean stop | --verify |"
        echo "|---|---|---|---|---|---|---|"
        echo "$mem_line"
    fi
}

log "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), temporary dir on $(df -P "$tmp" | awk 'NR == 2 {print $1}')"
settle
bench_service
settle
bench_writer
bench_postgres
settle
bench_redis
settle
[ "$mem_accounts" -gt 0 ] && bench_memory
report
