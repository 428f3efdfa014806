/* Idempotent transfers: a transferID retried with the same from/to/amount gets the original
 * outcome (status and byte-identical body, plus "Idempotent-Replayed: true") and is applied
 * at most once, even when the retries race and across a restart. Different parameters under
 * the same transferID are a 409 conflict; a 400 is never recorded. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define API "/api/1.0/wallet"

static ws_server *srv;
static ws_client *cli;
static ws_response R = WS_RESPONSE_INIT;
static char last_path[1024];

static void setup(void) {
    srv = ws_server_new(NULL);
    cr_assert_not_null(srv, "could not prepare a server (is WS_BINARY set?)");
    cr_assert(ws_server_start(srv), "server did not start");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
}

static void teardown(void) {
    ws_client_free(cli);
    cli = NULL;
    ws_response_free(&R);
    ws_cleanup_all();
}

TestSuite(idempotency, .init = setup, .fini = teardown, .timeout = 90);

#define BODY (R.body != NULL ? R.body : "(none)")

__attribute__((format(printf, 1, 2))) static long get(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_path, sizeof last_path, fmt, ap);
    va_end(ap);
    return ws_get(cli, &R, "%s", last_path);
}

static void create(const char *id, unsigned long long amount) {
    get(API "/create_account?startAmount=%llu&accountID=%s", amount, id);
    cr_assert_eq(R.status, 201, "%s -> %ld %s", last_path, R.status, BODY);
}

static uint64_t balance_of(const char *id) {
    uint64_t b = 0;
    cr_assert(ws_balance(cli, id, &b), "get_balance %s failed", id);
    return b;
}

static size_t event_count(void) {
    ws_event_list l = {0};
    cr_assert(ws_events_fetch_all(cli, NULL, &l), "events fetch failed");
    size_t n = l.count;
    ws_event_list_free(&l);
    return n;
}

/* Events carrying transactionID txn: count and kinds. */
static void expect_txn_events(const char *txn, size_t debits, size_t credits) {
    ws_event_list l = {0};
    cr_assert(ws_events_fetch_all(cli, NULL, &l), "events fetch failed");
    size_t d = 0, c = 0;
    for (size_t i = 0; i < l.count; i++) {
        if (!l.items[i].txn_null && strcmp(l.items[i].txn, txn) == 0) {
            d += strcmp(l.items[i].type, "Debit") == 0;
            c += strcmp(l.items[i].type, "Credit") == 0;
        }
    }
    ws_event_list_free(&l);
    cr_assert_eq(d, debits, "transaction %s: %zu Debit events, expected %zu", txn, d, debits);
    cr_assert_eq(c, credits, "transaction %s: %zu Credit events, expected %zu", txn, c, credits);
}

/* Sends the same request again and asserts a replay of (status, body). */
static void expect_replay(long status, const char *body) {
    char path[1024];
    snprintf(path, sizeof path, "%s", last_path);
    get("%s", path);
    cr_assert_eq(R.status, status, "replay %s: expected %ld, got %ld %s", path, status, R.status,
                 BODY);
    cr_assert_str_eq(BODY, body, "replay %s: body differs from the original", path);
    cr_assert(R.replayed, "replay %s: missing 'Idempotent-Replayed: true'", path);
}

Test(idempotency, replay_success) {
    create("a", 1000);
    create("b", 1000);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=100&transferID=t1");
    const char *want = "{\"transactionID\":\"t1\",\"fromAccount\":\"a\",\"toAccount\":\"b\","
                       "\"amount\":100,\"fromBalance\":900,\"toBalance\":1100}";
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert_str_eq(BODY, want);
    cr_assert(!R.replayed, "the first request must not carry Idempotent-Replayed");
    /* Move money so a re-application would show, then replay. */
    get(API "/balance_transfer?fromAccount=b&toAccount=a&amount=1&transferID=t0");
    cr_assert_eq(R.status, 200, "%s", BODY);
    for (int i = 0; i < 3; i++) {
        get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=100&transferID=t1");
        expect_replay(200, want);
    }
    cr_assert_eq(balance_of("a"), 901);
    cr_assert_eq(balance_of("b"), 1099);
    cr_assert_eq(event_count(), 6);
    expect_txn_events("t1", 1, 1);
    /* A different transferID with the same parameters is a new transfer. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=100&transferID=t2");
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert(!R.replayed);
    cr_assert_eq(balance_of("a"), 801);
    cr_assert_eq(event_count(), 8);
    /* Percent-encoding the same values is the same request. */
    get(API "/balance_transfer?fromAccount=%%61&toAccount=b&amount=100&transferID=t%%31");
    cr_assert_eq(R.status, 200, "%s -> %s", last_path, BODY);
    cr_assert_str_eq(BODY, want);
    cr_assert(R.replayed);
    cr_assert_eq(ws_server_stop(srv), 0);
}

Test(idempotency, replay_rejections) {
    create("a", 100);
    create("b", 0);
    create("rich", 10000);
    /* insufficient_funds, then the funds arrive: the retry still gets the 422. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=500&transferID=r-funds");
    cr_assert_eq(R.status, 422, "%s", BODY);
    cr_assert(ws_json_is_error(R.body, "insufficient_funds"), "%s", BODY);
    cr_assert(!R.replayed);
    char funds_body[1024];
    snprintf(funds_body, sizeof funds_body, "%s", BODY);
    get(API "/balance_transfer?fromAccount=rich&toAccount=a&amount=1000&transferID=r-topup");
    cr_assert_eq(R.status, 200, "%s", BODY);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=500&transferID=r-funds");
    expect_replay(422, funds_body);
    cr_assert_eq(balance_of("a"), 1100);
    cr_assert_eq(balance_of("b"), 0);
    expect_txn_events("r-funds", 0, 0);
    /* The same transfer under a new transferID now succeeds. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=500&transferID=r-funds2");
    cr_assert_eq(R.status, 200, "%s", BODY);

    /* account_not_found, then the account is created: still the 404. */
    get(API "/balance_transfer?fromAccount=a&toAccount=late&amount=5&transferID=r-404");
    cr_assert_eq(R.status, 404, "%s", BODY);
    cr_assert(ws_json_is_error(R.body, "account_not_found"), "%s", BODY);
    char nf_body[1024];
    snprintf(nf_body, sizeof nf_body, "%s", BODY);
    create("late", 0);
    get(API "/balance_transfer?fromAccount=a&toAccount=late&amount=5&transferID=r-404");
    expect_replay(404, nf_body);
    cr_assert_eq(balance_of("late"), 0);

    /* same_account. */
    get(API "/balance_transfer?fromAccount=a&toAccount=a&amount=5&transferID=r-same");
    cr_assert_eq(R.status, 422, "%s", BODY);
    cr_assert(ws_json_is_error(R.body, "same_account"), "%s", BODY);
    char same_body[1024];
    snprintf(same_body, sizeof same_body, "%s", BODY);
    expect_replay(422, same_body);

    /* balance_overflow, then the destination drains: still the 422. */
    create("full", 9223372036854775807ull);
    create("sink", 0);
    get(API "/balance_transfer?fromAccount=a&toAccount=full&amount=1&transferID=r-ovf");
    cr_assert_eq(R.status, 422, "%s", BODY);
    cr_assert(ws_json_is_error(R.body, "balance_overflow"), "%s", BODY);
    char ovf_body[1024];
    snprintf(ovf_body, sizeof ovf_body, "%s", BODY);
    get(API "/balance_transfer?fromAccount=full&toAccount=sink&amount=10&transferID=r-drain");
    cr_assert_eq(R.status, 200, "%s", BODY);
    get(API "/balance_transfer?fromAccount=a&toAccount=full&amount=1&transferID=r-ovf");
    expect_replay(422, ovf_body);
    cr_assert_eq(balance_of("full"), 9223372036854775797ull);
    cr_assert_eq(balance_of("a"), 600);
    /* Recorded rejections also conflict with different parameters. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=499&transferID=r-funds");
    cr_assert_eq(R.status, 409, "%s", BODY);
    cr_assert(ws_json_is_error(R.body, "transfer_id_conflict"), "%s", BODY);
    /* 6 accounts, r-topup, r-funds2, r-drain. */
    cr_assert_eq(event_count(), 12);
    cr_assert_eq(ws_server_stop(srv), 0);
}

Test(idempotency, conflict) {
    create("a", 1000);
    create("b", 1000);
    create("c", 1000);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=100&transferID=k1");
    cr_assert_eq(R.status, 200, "%s", BODY);
    char original[1024];
    snprintf(original, sizeof original, "%s", BODY);
    static const char *variants[] = {
        "fromAccount=a&toAccount=b&amount=101",     "fromAccount=a&toAccount=c&amount=100",
        "fromAccount=c&toAccount=b&amount=100",     "fromAccount=b&toAccount=a&amount=100",
        "fromAccount=a&toAccount=b&amount=99",      "fromAccount=a&toAccount=a&amount=100",
        "fromAccount=a&toAccount=ghost&amount=100",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        get(API "/balance_transfer?%s&transferID=k1", variants[i]);
        cr_assert_eq(R.status, 409, "%s -> %ld %s", last_path, R.status, BODY);
        cr_assert(ws_json_is_error(R.body, "transfer_id_conflict"), "%s -> %s", last_path, BODY);
        cr_assert(!R.replayed, "a conflict is not a replay");
    }
    /* Leading zeros make the same amount, so not a conflict. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=0100&transferID=k1");
    cr_assert_eq(R.status, 200, "%s -> %ld %s", last_path, R.status, BODY);
    cr_assert_str_eq(BODY, original);
    cr_assert(R.replayed);
    /* The original is intact and still replays. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=100&transferID=k1");
    expect_replay(200, original);
    cr_assert_eq(balance_of("a"), 900);
    cr_assert_eq(balance_of("b"), 1100);
    cr_assert_eq(balance_of("c"), 1000);
    cr_assert_eq(event_count(), 5);
    expect_txn_events("k1", 1, 1);
    cr_assert_eq(ws_server_stop(srv), 0);
}

Test(idempotency, bad_requests_are_not_recorded) {
    create("a", 1000);
    create("b", 1000);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=abc&transferID=n1");
    cr_assert_eq(R.status, 400, "%s", BODY);
    get(API "/balance_transfer?fromAccount=a&amount=5&transferID=n1");
    cr_assert_eq(R.status, 400, "%s", BODY);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=5&transferID=n1&x=1");
    cr_assert_eq(R.status, 400, "%s", BODY);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=5&transferID=n1");
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert(!R.replayed, "a transferID only seen in 400s must be fresh");
    cr_assert_eq(balance_of("a"), 995);
    cr_assert_eq(ws_server_stop(srv), 0);
}

Test(idempotency, generated_transaction_id_is_reserved) {
    /* A careful reading: the transactionID the service generated names the transfer like a
     * client's transferID, so retrying with it replays and never makes a second transfer
     * sharing that transactionID. */
    create("a", 1000);
    create("b", 1000);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=10");
    cr_assert_eq(R.status, 200, "%s", BODY);
    char txn[72], original[1024];
    cr_assert_eq(ws_json_str(R.body, "transactionID", txn, sizeof txn), 1);
    snprintf(original, sizeof original, "%s", BODY);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=10&transferID=%s", txn);
    expect_replay(200, original);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=11&transferID=%s", txn);
    cr_assert_eq(R.status, 409, "%s", BODY);
    cr_assert_eq(balance_of("a"), 990);
    expect_txn_events(txn, 1, 1);
    cr_assert_eq(ws_server_stop(srv), 0);
}

/* ---- concurrent retries ---------------------------------------------------------------- */

#define RACE_THREADS 8
#define RACE_ROUNDS 25

typedef struct {
    pthread_barrier_t *barrier;
    const ws_server *srv;
    int index;
    /* Results per round, filled by the thread. */
    long status[RACE_ROUNDS];
    bool replayed[RACE_ROUNDS];
    char body[RACE_ROUNDS][256];
    bool client_failed;
} race_arg;

static void *race_thread(void *p) {
    race_arg *a = p;
    ws_client *c = ws_client_new(a->srv);
    ws_response r = WS_RESPONSE_INIT;
    a->client_failed = c == NULL;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        /* Everyone waits, so the 8 identical requests leave together. */
        pthread_barrier_wait(a->barrier);
        if (c == NULL) {
            continue;
        }
        ws_get(c, &r,
               API "/balance_transfer?fromAccount=src&toAccount=dst&amount=%d&transferID=race-%d",
               round + 1, round);
        a->status[round] = r.status;
        a->replayed[round] = r.replayed;
        snprintf(a->body[round], sizeof a->body[round], "%s", r.body != NULL ? r.body : "");
    }
    ws_response_free(&r);
    ws_client_free(c);
    return NULL;
}

Test(idempotency, concurrent_retries) {
    create("src", 100000);
    create("dst", 0);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, RACE_THREADS);
    static race_arg args[RACE_THREADS];
    pthread_t threads[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].barrier = &barrier;
        args[i].srv = srv;
        args[i].index = i;
        cr_assert_eq(pthread_create(&threads[i], NULL, race_thread, &args[i]), 0);
    }
    for (int i = 0; i < RACE_THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    pthread_barrier_destroy(&barrier);
    uint64_t moved = 0;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        int fresh = 0;
        for (int i = 0; i < RACE_THREADS; i++) {
            cr_assert(!args[i].client_failed);
            cr_assert_eq(args[i].status[round], 200, "round %d thread %d: %ld %s", round, i,
                         args[i].status[round], args[i].body[round]);
            cr_assert_str_eq(args[i].body[round], args[0].body[round],
                             "round %d: thread %d saw a different body", round, i);
            fresh += !args[i].replayed[round];
        }
        cr_assert_eq(fresh, 1, "round %d: %d responses without Idempotent-Replayed, expected 1",
                     round, fresh);
        moved += (uint64_t)round + 1;
        char want[256];
        snprintf(want, sizeof want,
                 "{\"transactionID\":\"race-%d\",\"fromAccount\":\"src\",\"toAccount\":\"dst\","
                 "\"amount\":%d,",
                 round, round + 1);
        cr_assert(strncmp(args[0].body[round], want, strlen(want)) == 0, "round %d: %s", round,
                  args[0].body[round]);
    }
    cr_assert_eq(balance_of("src"), 100000 - moved);
    cr_assert_eq(balance_of("dst"), moved);
    ws_event_list l = {0};
    cr_assert(ws_events_fetch_all(cli, NULL, &l));
    cr_assert_eq(l.count, 2 + 2 * RACE_ROUNDS, "events: %zu", l.count);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char txn[32];
        snprintf(txn, sizeof txn, "race-%d", round);
        int n = 0;
        for (size_t i = 0; i < l.count; i++) {
            n += !l.items[i].txn_null && strcmp(l.items[i].txn, txn) == 0;
        }
        cr_assert_eq(n, 2, "%s has %d events, expected 2", txn, n);
    }
    ws_event_list_free(&l);
    cr_assert_eq(ws_server_stop(srv), 0);
    char out[4096];
    int rc = ws_server_verify(srv, out, sizeof out);
    cr_assert_eq(rc, 0, "--verify exited %d:\n%s", rc, out);
}

/* ---- across a restart ------------------------------------------------------------------ */

Test(idempotency, replay_after_restart) {
    create("a", 100);
    create("b", 100);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=60&transferID=s-ok");
    cr_assert_eq(R.status, 200, "%s", BODY);
    char ok_body[1024];
    snprintf(ok_body, sizeof ok_body, "%s", BODY);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=60&transferID=s-funds");
    cr_assert_eq(R.status, 422, "%s", BODY);
    char funds_body[1024];
    snprintf(funds_body, sizeof funds_body, "%s", BODY);
    get(API "/balance_transfer?fromAccount=a&toAccount=ghost&amount=1&transferID=s-404");
    cr_assert_eq(R.status, 404, "%s", BODY);
    char nf_body[1024];
    snprintf(nf_body, sizeof nf_body, "%s", BODY);

    cr_assert_eq(ws_server_stop(srv), 0, "server did not exit 0 on SIGTERM");
    ws_client_free(cli);
    cli = NULL;
    cr_assert(ws_server_start(srv), "restart failed");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);

    get(API "/balance_transfer?fromAccount=b&toAccount=a&amount=100&transferID=s-refill");
    cr_assert_eq(R.status, 200, "%s", BODY);
    create("ghost", 0);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=60&transferID=s-ok");
    expect_replay(200, ok_body);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=60&transferID=s-funds");
    expect_replay(422, funds_body);
    get(API "/balance_transfer?fromAccount=a&toAccount=ghost&amount=1&transferID=s-404");
    expect_replay(404, nf_body);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=61&transferID=s-ok");
    cr_assert_eq(R.status, 409, "%s", BODY);
    cr_assert_eq(balance_of("a"), 140);
    cr_assert_eq(balance_of("b"), 60);
    cr_assert_eq(balance_of("ghost"), 0);
    cr_assert_eq(event_count(), 7);
    expect_txn_events("s-ok", 1, 1);
    cr_assert_eq(ws_server_stop(srv), 0);
    char out[4096];
    int rc = ws_server_verify(srv, out, sizeof out);
    cr_assert_eq(rc, 0, "--verify exited %d:\n%s", rc, out);
}
