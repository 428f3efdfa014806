/* kill -9 under load (SQLite's crash testing is the standard): 8 threads of random
 * transfers and two-phase steps (pending transfers, some expiring within the run, posts of
 * all or part, voids: ws_load's two_phase); once the first is acknowledged, the test waits a random
 * time (0 to 1 s, to the microsecond, so the rounds land in different phases of the writer's LISTEN
 * -> VALIDATE -> APPLY cycle and of the load) and SIGKILLs the server mid-stream; the clients stop
 * on their connection errors, and the server restarts on the same data. Every transfer acknowledged
 * before the kill must be in the log (Debit + Credit, with the balances the client was
 * told; every acknowledged pending transfer, post and void as its own pair of events with
 * the balances, available and pendingCredits it was told), the only unacknowledged ones
 * allowed are those in flight at the kill (and the writer's expiries), money is conserved,
 * the log replays to every balance, available and pendingCredits and --verify (which checks
 * the pending totals against the open pending transfers) passes.
 *
 * The crash loop runs WS_CRASH_ROUNDS rounds (default 3, at most 100) on one data directory,
 * so each crash lands on recovered state: `make test` runs 3, `make crashtest` 20 (or
 * CRASH_ROUNDS). The random delays come from WS_CRASH_SEED if set, else from the clock; the
 * seed is logged so a failing run can be repeated.
 *
 * The same with SIGTERM and SIGINT instead of SIGKILL (two rounds): the server must exit 0,
 * and a write it refused while stopping (503 unavailable) must not be in the log. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define API "/api/1.0/wallet"
#define ACCOUNTS 20
#define THREADS 8
#define ROUNDS_DEFAULT 3
#define ROUNDS_MAX 100
#define GRACEFUL_ROUNDS 2
#define KILL_DELAY_MAX_US 1000000 /* after the first acknowledgement */
#define LOAD_TIME_MAX_MS 20000

static void teardown(void) { ws_cleanup_all(); }

TestSuite(crash, .fini = teardown, .timeout = 200);

static char account_names[ACCOUNTS][16];
static const char *accounts[ACCOUNTS];
static uint64_t starts[ACCOUNTS];

/* Everything acknowledged over all rounds, and the transfers that were in flight. */
static ws_transfer_list acked;
static char in_flight[ROUNDS_MAX * THREADS][72];
static const char *maybe[ROUNDS_MAX * THREADS];
static size_t maybe_count;
static char (*refused)[72];
static const char **refused_ptrs;
static size_t refused_count, refused_cap;
/* Two-phase steps acknowledged over all rounds, and posts or voids refused as expired. */
static size_t steps_pending, steps_post, steps_void, steps_expired;

static void add_refused(const char *id) {
    if (refused_count == refused_cap) {
        refused_cap = refused_cap == 0 ? 1024 : refused_cap * 2;
        refused = realloc(refused, refused_cap * sizeof *refused);
        refused_ptrs = realloc(refused_ptrs, refused_cap * sizeof *refused_ptrs);
        cr_assert(refused != NULL && refused_ptrs != NULL);
    }
    snprintf(refused[refused_count], sizeof refused[refused_count], "%s", id);
    refused_count++;
    for (size_t i = 0; i < refused_count; i++) {
        refused_ptrs[i] = refused[i]; /* the array may have moved */
    }
}

static void reset_totals(void) {
    ws_transfer_list_free(&acked);
    free(refused);
    free(refused_ptrs);
    refused = NULL;
    refused_ptrs = NULL;
    refused_count = refused_cap = maybe_count = 0;
    steps_pending = steps_post = steps_void = steps_expired = 0;
}

static void verify_ok(ws_server *srv) {
    char out[4096];
    int rc = ws_server_verify(srv, out, sizeof out);
    cr_assert_eq(rc, 0, "--verify exited %d:\n%s", rc, out);
    if (strstr(out, "trying the open again") != NULL) {
        cr_log_info("--verify beside the running service had to retry its open:\n%s", out);
    }
}

static uint64_t seed_from_env_or_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t clock_seed = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    clock_seed ^= (uint64_t)getpid() << 32;
    uint64_t seed;
    cr_assert(ws_env_number("WS_CRASH_SEED", UINT64_MAX, clock_seed % UINT64_MAX + 1, &seed));
    return seed;
}

/* How a round ends: 0 for SIGKILL, else the signal of a graceful stop. The stop comes a
 * random time (rng) after the first acknowledgement. */
static int run_round(ws_server *srv, int round, int stop_signal, uint64_t *rng) {
    static ws_load loads[THREADS];
    pthread_t threads[THREADS];
    _Atomic bool stop = false;
    _Atomic long acks = 0;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "c%d", round);
    for (int i = 0; i < THREADS; i++) {
        memset(&loads[i], 0, sizeof loads[i]);
        loads[i].srv = srv;
        loads[i].thread_index = i;
        loads[i].accounts = accounts;
        loads[i].account_count = ACCOUNTS;
        loads[i].seed = ws_splitmix64(rng);
        loads[i].transfers_max = 1000000;
        loads[i].amount_max = 400;
        loads[i].amount_huge = 0;
        loads[i].all_explicit = true; /* so an unacknowledged transfer in the log has a name */
        loads[i].stop_on_disconnect = true;
        loads[i].two_phase = true; /* pending transfers, posts and voids in flight too */
        loads[i].allow_unavailable = stop_signal != 0; /* refusals while stopping */
        loads[i].id_prefix = prefix;
        loads[i].time_limit_ms = LOAD_TIME_MAX_MS + 15000;
        loads[i].stop = &stop;
        loads[i].acked = &acks;
        cr_assert_eq(pthread_create(&threads[i], NULL, ws_load_thread, &loads[i]), 0);
    }
    int delay_us = (int)(ws_splitmix64(rng) % (KILL_DELAY_MAX_US + 1));
    int64_t deadline = ws_now_ms() + LOAD_TIME_MAX_MS;
    while (atomic_load(&acks) < 1 && ws_now_ms() < deadline) {
        ws_sleep_ms(1);
    }
    struct timespec delay = {.tv_sec = delay_us / 1000000, .tv_nsec = (delay_us % 1000000) * 1000L};
    nanosleep(&delay, NULL);
    long acks_at_kill = atomic_load(&acks);
    bool killed = false;
    int exit_code = -1;
    if (stop_signal == 0) {
        killed = ws_server_kill9(srv); /* the load is still running */
    } else {
        exit_code = ws_server_stop_signal(srv, stop_signal); /* likewise */
    }
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    if (stop_signal == 0) {
        cr_assert(killed, "round %d: kill -9 failed", round);
    }
    /* A graceful stop's exit code is asserted after the data is checked, so a failure
     * also tells whether anything was lost. */
    cr_log_info("round %d: stopped (signal %d) %d us after the first acknowledgement, after %ld",
                round, stop_signal == 0 ? 9 : stop_signal, delay_us, acks_at_kill);
    cr_assert_geq(acks_at_kill, 1, "round %d: nothing acknowledged in %d ms", round,
                  LOAD_TIME_MAX_MS);

    size_t transport = 0;
    for (int i = 0; i < THREADS; i++) {
        ws_load *l = &loads[i];
        cr_assert_eq(l->other, 0, "round %d thread %d: %zu unexpected responses, first: %s", round,
                     i, l->other, l->first_other);
        for (size_t k = 0; k < l->ok_count; k++) {
            cr_assert(ws_transfer_list_add(&acked, &l->ok[k]));
        }
        transport += l->transport_errors;
        steps_pending += l->pendings;
        steps_post += l->posts;
        steps_void += l->voids;
        steps_expired += l->expired;
        for (size_t k = 0; k < l->refused_count; k++) {
            add_refused(l->refused[k]);
        }
        /* At most one request per thread was unanswered: the one in flight at the kill. */
        if (!l->last_answered && l->last_id[0] != '\0') {
            snprintf(in_flight[maybe_count], sizeof in_flight[maybe_count], "%s", l->last_id);
            maybe[maybe_count] = in_flight[maybe_count];
            maybe_count++;
        }
        ws_load_free(l);
    }
    cr_log_info("round %d: %zu threads saw the connection drop", round, transport);
    return exit_code;
}

static void check_after_restart(ws_client *c, int round) {
    ws_expect e = {
        .accounts = accounts,
        .start_amounts = starts,
        .account_count = ACCOUNTS,
        .acked = acked.items,
        .acked_count = acked.count,
        .maybe = maybe,
        .maybe_count = maybe_count,
        .rejected = refused_ptrs,
        .rejected_count = refused_count,
    };
    ws_state st;
    char err[1024];
    bool ok = ws_check_state(c, &e, &st, err, sizeof err);
    cr_assert(ok, "round %d after restart: %s", round, err);
    cr_assert_eq(st.transfers, acked.count + st.maybe_found,
                 "round %d: %zu transfers in the log, %zu acknowledged + %zu in flight", round,
                 st.transfers, acked.count, st.maybe_found);
    cr_log_info("round %d: %zu acknowledged transfers and steps all present (%zu pending, %zu "
                "posts, %zu voids so far); %zu of %zu in-flight applied; %zu expiries",
                round, acked.count, steps_pending, steps_post, steps_void, st.maybe_found,
                maybe_count, st.expiries);

    /* Acknowledged transfers and steps replay byte for byte from the recovered idempotency
     * records. A mismatch fails the test (cr_expect) but lets the later rounds run: their
     * survival checks do not depend on it. */
    cr_expect(ws_replays_match(c, &acked, 50, err, sizeof err), "round %d after the crash: %s",
              round, err);
    ws_response r = WS_RESPONSE_INIT;
    /* An in-flight transfer that reached the log is recorded: it can only replay. */
    for (size_t k = 0; k < maybe_count; k++) {
        if (!st.maybe_in_log[k]) {
            continue;
        }
        ws_get(c, &r, API "/balance_transfer?fromAccount=%s&toAccount=%s&amount=1&transferID=%s",
               accounts[0], accounts[1], maybe[k]);
        cr_assert(r.status == 409 || (r.status == 200 && r.replayed),
                  "in-flight %s is in the log, yet a retry got %ld %s", maybe[k], r.status, r.body);
    }
    ws_response_free(&r);
    ws_state_free(&st);
}

static void run_test(const int *stops, int rounds) {
    cr_assert(rounds >= 1 && rounds <= ROUNDS_MAX);
    reset_totals();
    uint64_t seed = seed_from_env_or_clock();
    uint64_t rng = seed;
    cr_log_info("%d rounds, WS_CRASH_SEED=%llu", rounds, (unsigned long long)seed);
    ws_server *srv = ws_server_new(NULL);
    cr_assert_not_null(srv, "could not prepare a server (is WS_BINARY set?)");
    cr_assert(ws_server_start(srv), "server did not start");
    ws_client *c = ws_client_new(srv);
    cr_assert_not_null(c);
    char err[1024];
    cr_assert(ws_create_named_accounts(c, "crash", ACCOUNTS, 1000, 100, account_names, accounts,
                                       starts, err, sizeof err),
              "%s", err);
    ws_client_free(c);

    size_t acked_before = 0;
    for (int round = 1; round <= rounds; round++) {
        int exit_code = run_round(srv, round, stops[round - 1], &rng);
        cr_assert(ws_server_start(srv), "round %d: restart failed", round);
        verify_ok(srv);
        c = ws_client_new(srv);
        cr_assert_not_null(c);
        check_after_restart(c, round);
        cr_assert_gt(acked.count, acked_before, "round %d acknowledged nothing", round);
        acked_before = acked.count;
        ws_client_free(c);
        if (stops[round - 1] != 0) {
            cr_assert_eq(exit_code, 0,
                         "round %d: exit %d after signal %d under load (data checked intact)",
                         round, exit_code, stops[round - 1]);
        }
    }
    cr_assert_eq(ws_server_stop(srv), 0, "server did not exit 0 on SIGTERM");
    verify_ok(srv);
    cr_log_info("%d rounds: %zu acknowledged transfers and steps survived (%zu pending, %zu posts, "
                "%zu voids; %zu refused expired), %zu in flight at the kills",
                rounds, acked.count, steps_pending, steps_post, steps_void, steps_expired,
                maybe_count);
    /* The load must have put every kind of step through the crashes, or it proves nothing
     * about them. */
    cr_assert(steps_pending > 0 && steps_post > 0 && steps_void > 0,
              "%d rounds acknowledged %zu pending transfers, %zu posts, %zu voids", rounds,
              steps_pending, steps_post, steps_void);
    reset_totals();
}

Test(crash, kill9_under_load, .timeout = 1800) {
    static const int stops[ROUNDS_MAX] = {0}; /* every round ends with SIGKILL */
    uint64_t rounds;
    cr_assert(ws_env_number("WS_CRASH_ROUNDS", ROUNDS_MAX, ROUNDS_DEFAULT, &rounds));
    run_test(stops, (int)rounds);
}

Test(crash, graceful_stop_under_load) {
    static const int stops[GRACEFUL_ROUNDS] = {SIGTERM, SIGINT};
    run_test(stops, GRACEFUL_ROUNDS);
}
