/* Clients that give up before their write is answered. h2o frees such a request while the
 * writer still holds its command; the service must neither touch the freed request nor
 * lose or duplicate the write. Each abandoned transfer is then retried with its
 * transferID: the retry must report it applied exactly once.
 *
 * The server is the fault-injection twin with every commit delayed by COMMIT_DELAY_MS and
 * no fault armed, so that a write takes longer than the clients' 1 ms timeout whatever the
 * disk: on a fast disk the plain binary answered every transfer within 1 ms and the test
 * had nothing to prove. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define ACCOUNTS 10
#define THREADS 4
#define PER_THREAD 150
#define START_AMOUNT 1000000u
#define COMMIT_DELAY_MS "5"

static ws_server *srv;

static void setup(void) {
    srv = ws_server_new(NULL);
    cr_assert_not_null(srv);
    cr_assert(ws_server_add_env(srv, "WS_FAULT_COMMIT_DELAY_MS", COMMIT_DELAY_MS));
    cr_assert(ws_server_start(srv));
}

static void teardown(void) { ws_cleanup_all(); }

typedef struct {
    int index;
    size_t aborted;
} hasty;

static void transfer_path(char *out, size_t size, int t, int i) {
    int from = (t * 7 + i) % ACCOUNTS;
    int to = (from + 1 + i % (ACCOUNTS - 1)) % ACCOUNTS;
    snprintf(out, size,
             "/api/1.0/wallet/balance_transfer?fromAccount=d%d&toAccount=d%d&amount=1"
             "&transferID=gone-%d-%d",
             from, to, t, i);
}

/* Sends transfers with a 1 ms timeout, so most are abandoned before their answer. */
static void *send_and_leave(void *arg) {
    hasty *h = arg;
    ws_client *c = ws_client_new(srv);
    ws_client_set_timeout_ms(c, 1);
    ws_response r = WS_RESPONSE_INIT;
    char path[256];
    for (int i = 0; i < PER_THREAD; i++) {
        transfer_path(path, sizeof(path), h->index, i);
        if (ws_get(c, &r, "%s", path) == 0) {
            h->aborted++;
        }
    }
    ws_response_free(&r);
    ws_client_free(c);
    return NULL;
}

Test(disconnect, abandoned_writes_are_applied_once, .init = setup, .fini = teardown,
     .timeout = 120) {
    ws_client *c = ws_client_new(srv);
    ws_response r = WS_RESPONSE_INIT;
    for (int a = 0; a < ACCOUNTS; a++) {
        cr_assert_eq(ws_get(c, &r, "/api/1.0/wallet/create_account?accountID=d%d&startAmount=%u", a,
                            START_AMOUNT),
                     201);
    }
    pthread_t tid[THREADS];
    hasty h[THREADS];
    for (int t = 0; t < THREADS; t++) {
        h[t] = (hasty){.index = t};
        cr_assert_eq(pthread_create(&tid[t], NULL, send_and_leave, &h[t]), 0);
    }
    size_t aborted = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(tid[t], NULL);
        aborted += h[t].aborted;
    }
    cr_log_info("%zu of %d transfers abandoned by their client", aborted, THREADS * PER_THREAD);
    cr_assert_gt(aborted, 0, "the 1 ms timeout abandoned no request: the test proves nothing");

    /* Every transfer, abandoned or not, is retried: it must now be a 200, applied once. */
    char path[256];
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < PER_THREAD; i++) {
            transfer_path(path, sizeof(path), t, i);
            cr_assert_eq(ws_get(c, &r, "%s", path), 200, "%s: %s", path, r.body);
        }
    }
    ws_event_list all = {0};
    cr_assert(ws_events_fetch_all(c, NULL, &all));
    cr_assert_eq(all.count, ACCOUNTS + 2u * THREADS * PER_THREAD,
                 "each transfer must be in the log exactly once");
    uint64_t sum = 0;
    for (int a = 0; a < ACCOUNTS; a++) {
        char id[16];
        uint64_t b;
        snprintf(id, sizeof(id), "d%d", a);
        cr_assert(ws_balance(c, id, &b));
        sum += b;
    }
    cr_assert_eq(sum, (uint64_t)ACCOUNTS * START_AMOUNT);
    ws_event_list_free(&all);
    ws_response_free(&r);
    ws_client_free(c);
    cr_assert_eq(ws_server_stop(srv), 0);
    char out[2048];
    cr_assert_eq(ws_server_verify(srv, out, sizeof(out)), 0, "%s", out);
}
