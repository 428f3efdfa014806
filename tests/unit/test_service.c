/* Unit tests for engine/service: the queue plus the writer thread, on a real store in a
 * fresh temporary directory per test. Several threads submit at once; the tests check the
 * service's promises: every accepted command gets exactly one done() call, only after its
 * outcome is on disk, a refused one gets none, stop drains the queue, and what was written
 * conserves money and passes the offline verifier after a restart. Waits are bounded by
 * deadlines; no assertion depends on timing. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/service.h"
#include "testutil.h"

#define DIR_TEMPLATE "/tmp/ws_service_test_XXXXXX"
#define WAIT_MS_MAX 30000u

static char dir[sizeof(DIR_TEMPLATE)];
static store *st;
static service *svc;
static atomic_size_t done_total;

static void setup(void) {
    tmpdir_make(dir, DIR_TEMPLATE, sizeof(DIR_TEMPLATE));
    cr_assert_eq(store_open(dir, false, &st), WS_OK);
    atomic_store(&done_total, 0);
}

static void teardown(void) {
    if (svc) {
        service_stop(svc);
        service_free(svc);
        svc = NULL;
    }
    store_close(st);
    st = NULL;
    tmpdir_remove(dir);
}

TestSuite(service, .init = setup, .fini = teardown, .timeout = 120);

/* A submission: the command plus what the test learns about its done() calls. cmd is the
 * first member, so done() can recover the job from the command. */
typedef struct {
    ws_command cmd;
    atomic_int done_calls;
    bool durable_at_done; /* the outcome could be read back from the store inside done() */
    bool submitted;       /* service_submit returned WS_OK */
} job;

/* Runs on the writer thread. A success must already be readable from the store. */
static void on_done(ws_command *cmd) {
    job *j = (job *)cmd;
    if (cmd->status == WS_CREATED) {
        uint64_t b;
        j->durable_at_done = store_get_balance(st, cmd->account, cmd->account_len, &b) == WS_OK;
    } else if (cmd->status == WS_OK) {
        ws_transfer_record r;
        j->durable_at_done =
            store_get_transfer(st, cmd->transfer_id, cmd->transfer_id_len, &r) == WS_OK &&
            r.status == WS_OK;
    }
    atomic_fetch_add(&j->done_calls, 1);
    atomic_fetch_add(&done_total, 1);
}

static void set_id(char *dst, uint8_t *len, const char *src) {
    size_t n = strlen(src);
    cr_assert(n >= 1 && n <= WS_ID_LEN_MAX);
    *len = (uint8_t)n;
    memcpy(dst, src, n);
}

static job *new_create(const char *id, uint64_t amount) {
    job *j = calloc(1, sizeof(*j));
    cr_assert_not_null(j);
    j->cmd.kind = WS_CMD_CREATE_ACCOUNT;
    j->cmd.amount = amount;
    set_id(j->cmd.account, &j->cmd.account_len, id);
    j->cmd.done = on_done;
    return j;
}

static job *new_transfer(const char *from, const char *to, uint64_t amount, const char *tid,
                         bool given) {
    job *j = calloc(1, sizeof(*j));
    cr_assert_not_null(j);
    j->cmd.kind = WS_CMD_TRANSFER;
    j->cmd.amount = amount;
    set_id(j->cmd.account, &j->cmd.account_len, from);
    set_id(j->cmd.to, &j->cmd.to_len, to);
    set_id(j->cmd.transfer_id, &j->cmd.transfer_id_len, tid);
    j->cmd.transfer_id_given = given;
    j->cmd.done = on_done;
    return j;
}

/* Submits, retrying while the queue is full, until deadline_ms. */
static ws_status submit_retrying(job *j, uint64_t deadline_ms) {
    for (uint64_t tries = 0;; tries++) {
        ws_status s = service_submit(svc, &j->cmd);
        if (s != WS_OVERLOADED) {
            j->submitted = s == WS_OK;
            return s;
        }
        if (tries % 256 == 255 && now_ms() > deadline_ms) {
            return s;
        }
        sched_yield();
    }
}

/* Polls until done() has been called want times, at most WAIT_MS_MAX. */
static bool wait_done(size_t want) {
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    while (atomic_load(&done_total) < want) {
        if (now_ms() > deadline) {
            return false;
        }
        sleep_ms(1);
    }
    return true;
}

static void start(size_t queue_max, size_t batch_max) {
    service_config cfg = {.queue_max = queue_max, .batch_max = batch_max};
    cr_assert_eq(service_start(st, &cfg, &svc), WS_OK);
    cr_assert_not(service_read_only(svc));
}

static void stop(void) {
    service_stop(svc);
    service_free(svc);
    svc = NULL;
}

typedef struct {
    ws_u128 sum;
    size_t count;
} balance_sum;

static ws_status add_balance(void *ctx, const char *id, size_t len, uint64_t balance) {
    (void)id;
    (void)len;
    balance_sum *a = ctx;
    a->sum += balance;
    a->count++;
    return WS_OK;
}

/* The sum of the stored balances, and the number of accounts. */
static ws_u128 sum_balances(size_t *count) {
    balance_sum a = {0, 0};
    cr_assert_eq(store_scan_accounts(st, add_balance, &a), WS_OK);
    *count = a.count;
    return a.sum;
}

static void assert_verify_ok(store_verify_report *rep) {
    FILE *out = fopen("/dev/null", "w");
    cr_assert_not_null(out);
    ws_status s = store_verify(st, out, rep);
    fclose(out);
    cr_assert_eq(s, WS_OK, "verify found %llu problems", (unsigned long long)rep->problems);
}

/* Concurrent transfers among a few accounts. */
enum { ACCOUNTS = 10, SUBMITTERS = 4, PER_SUBMITTER = 500, START_AMOUNT = 1000 };

typedef struct {
    size_t index;
    job *jobs[PER_SUBMITTER];
    size_t retry_of[PER_SUBMITTER]; /* for a retry, the index of the original + 1, else 0 */
    size_t submitted;
    ws_status bad_status; /* a submit result other than OK, WS_OK if none */
    uint64_t deadline_ms;
} submitter;

static void account_name(char *out, size_t max, size_t i) { snprintf(out, max, "acct-%zu", i); }

static void *submit_transfers(void *arg) {
    submitter *s = arg;
    uint32_t x = 2463534242u + (uint32_t)s->index * 7919u;
    for (size_t i = 0; i < PER_SUBMITTER; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        char tid[32];
        job *j;
        if (i % 25 == 24 && s->jobs[i - 1]->cmd.transfer_id_given) {
            /* A client retry of the previous transfer, with the same parameters. */
            const ws_command *o = &s->jobs[i - 1]->cmd;
            memcpy(tid, o->transfer_id, o->transfer_id_len);
            tid[o->transfer_id_len] = '\0';
            char from[16];
            char to[16];
            memcpy(from, o->account, o->account_len);
            from[o->account_len] = '\0';
            memcpy(to, o->to, o->to_len);
            to[o->to_len] = '\0';
            j = new_transfer(from, to, o->amount, tid, true);
            s->retry_of[i] = i;
        } else {
            char from[16];
            char to[16];
            account_name(from, sizeof(from), x % ACCOUNTS);
            account_name(to, sizeof(to), (x >> 8) % ACCOUNTS);
            bool given = i % 2 == 1;
            snprintf(tid, sizeof(tid), "%s-%zu-%zu", given ? "client" : "gen", s->index, i);
            j = new_transfer(from, to, 1 + (x >> 16) % 300, tid, given);
        }
        s->jobs[i] = j;
        ws_status rc = submit_retrying(j, s->deadline_ms);
        if (rc != WS_OK) {
            s->bad_status = rc;
            return NULL;
        }
        s->submitted++;
    }
    return NULL;
}

static void create_accounts(void) {
    job *jobs[ACCOUNTS];
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    for (size_t i = 0; i < ACCOUNTS; i++) {
        char id[16];
        account_name(id, sizeof(id), i);
        jobs[i] = new_create(id, START_AMOUNT);
        cr_assert_eq(submit_retrying(jobs[i], deadline), WS_OK);
    }
    cr_assert(wait_done(ACCOUNTS), "account creations not answered in time");
    for (size_t i = 0; i < ACCOUNTS; i++) {
        cr_assert_eq(jobs[i]->cmd.status, WS_CREATED);
        cr_assert(jobs[i]->durable_at_done);
        free(jobs[i]);
    }
    atomic_store(&done_total, 0);
}

Test(service, concurrent_transfers_conserve_money) {
    start(4096, 256);
    create_accounts();

    static submitter subs[SUBMITTERS];
    memset(subs, 0, sizeof(subs));
    pthread_t threads[SUBMITTERS];
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    for (size_t t = 0; t < SUBMITTERS; t++) {
        subs[t].index = t;
        subs[t].deadline_ms = deadline;
        cr_assert_eq(pthread_create(&threads[t], NULL, submit_transfers, &subs[t]), 0);
    }
    for (size_t t = 0; t < SUBMITTERS; t++) {
        cr_assert_eq(pthread_join(threads[t], NULL), 0);
    }
    size_t submitted = 0;
    for (size_t t = 0; t < SUBMITTERS; t++) {
        cr_assert_eq(subs[t].bad_status, WS_OK, "submitter %zu: submit returned %d", t,
                     subs[t].bad_status);
        submitted += subs[t].submitted;
    }
    cr_assert_eq(submitted, SUBMITTERS * PER_SUBMITTER);
    cr_assert(wait_done(submitted), "only %zu of %zu answered in time", atomic_load(&done_total),
              submitted);
    stop();
    cr_assert_eq(atomic_load(&done_total), submitted, "done() called after the last answer");

    size_t applied = 0;
    size_t replays = 0;
    for (size_t t = 0; t < SUBMITTERS; t++) {
        for (size_t i = 0; i < PER_SUBMITTER; i++) {
            job *j = subs[t].jobs[i];
            const ws_command *c = &j->cmd;
            cr_assert_eq(atomic_load(&j->done_calls), 1, "job %zu/%zu: %d done() calls", t, i,
                         atomic_load(&j->done_calls));
            bool same = c->account_len == c->to_len && memcmp(c->account, c->to, c->to_len) == 0;
            if (subs[t].retry_of[i]) {
                const ws_command *o = &subs[t].jobs[subs[t].retry_of[i] - 1]->cmd;
                cr_assert(c->replayed, "retry %zu/%zu not replayed", t, i);
                cr_assert_eq(c->status, o->status);
                cr_assert_eq(c->from_balance, o->from_balance);
                cr_assert_eq(c->to_balance, o->to_balance);
                replays++;
            } else if (same) {
                cr_assert_eq(c->status, WS_SAME_ACCOUNT);
            } else {
                cr_assert(c->status == WS_OK || c->status == WS_INSUFFICIENT_FUNDS,
                          "job %zu/%zu: status %d", t, i, c->status);
                cr_assert_not(c->replayed);
            }
            if (c->status == WS_OK) {
                cr_assert(j->durable_at_done, "job %zu/%zu answered before it was durable", t, i);
                applied += !c->replayed;
            }
        }
    }
    for (size_t t = 0; t < SUBMITTERS; t++) {
        for (size_t i = 0; i < PER_SUBMITTER; i++) {
            free(subs[t].jobs[i]); /* after the loop above: a retry reads its original */
        }
    }
    cr_assert_gt(applied, 0);
    cr_assert_gt(replays, 0);
    cr_log_info("%zu transfers applied, %zu replays", applied, replays);

    /* Restart from disk: money conserved, the log verifies and holds each transfer once. */
    store_close(st);
    st = NULL;
    cr_assert_eq(store_open(dir, false, &st), WS_OK);
    size_t count = 0;
    ws_u128 total = sum_balances(&count);
    cr_assert_eq(count, ACCOUNTS);
    cr_assert(total == (ws_u128)ACCOUNTS * START_AMOUNT, "money not conserved");
    store_verify_report rep;
    assert_verify_ok(&rep);
    cr_assert_eq(rep.transfers, applied);
    cr_assert_eq(rep.events, ACCOUNTS + 2 * applied);
}

Test(service, overload_refuses_and_answers_every_accepted) {
    /* One slot and one command per batch: bursts of submissions mostly find the queue full.
     * Each burst starts once everything before it was answered, so its first submission
     * meets an empty queue and must be accepted; the rest may go either way. Whatever the
     * split, every accepted command is answered once and applied, and no refused one is. */
    enum { ROUNDS = 50, BURST = 20, N = ROUNDS * BURST };
    start(1, 1);
    job **jobs = calloc(N, sizeof(*jobs));
    cr_assert_not_null(jobs);
    size_t ok = 0;
    size_t overloaded = 0;
    for (size_t r = 0; r < ROUNDS; r++) {
        for (size_t k = 0; k < BURST; k++) {
            size_t i = r * BURST + k;
            char id[32];
            snprintf(id, sizeof(id), "o-%zu", i);
            jobs[i] = new_create(id, i);
            ws_status s = service_submit(svc, &jobs[i]->cmd);
            cr_assert(s == WS_OK || s == WS_OVERLOADED, "submit %zu returned %d", i, s);
            cr_assert(k > 0 || s == WS_OK, "round %zu: refused although the queue was empty", r);
            jobs[i]->submitted = s == WS_OK;
            ok += s == WS_OK;
            overloaded += s == WS_OVERLOADED;
        }
        cr_assert(wait_done(ok), "round %zu: %zu of %zu answered in time", r,
                  atomic_load(&done_total), ok);
    }
    cr_assert_eq(ok + overloaded, N);
    stop();
    cr_assert_eq(atomic_load(&done_total), ok);
    for (size_t i = 0; i < N; i++) {
        int calls = atomic_load(&jobs[i]->done_calls);
        if (jobs[i]->submitted) {
            cr_assert_eq(calls, 1, "accepted job %zu: %d done() calls", i, calls);
            cr_assert_eq(jobs[i]->cmd.status, WS_CREATED);
            cr_assert(jobs[i]->durable_at_done);
        } else {
            cr_assert_eq(calls, 0, "refused job %zu got done()", i);
            uint64_t b;
            cr_assert_eq(store_get_balance(st, jobs[i]->cmd.account, jobs[i]->cmd.account_len, &b),
                         WS_ACCOUNT_NOT_FOUND, "refused job %zu was applied", i);
        }
        free(jobs[i]);
    }
    free(jobs);
    size_t count = 0;
    (void)sum_balances(&count);
    cr_assert_eq(count, ok);
    cr_log_info("%zu accepted, %zu overloaded", ok, overloaded);
}

Test(service, stop_drains_queued_commands) {
    enum { N = 1000 };
    start(N, 16);
    job **jobs = calloc(N, sizeof(*jobs));
    cr_assert_not_null(jobs);
    for (size_t i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "d-%zu", i);
        jobs[i] = new_create(id, 1);
        cr_assert_eq(service_submit(svc, &jobs[i]->cmd), WS_OK, "submit %zu", i);
    }
    /* No waiting: stop itself must answer everything that was queued. */
    stop();
    cr_assert_eq(atomic_load(&done_total), N);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(atomic_load(&jobs[i]->done_calls), 1, "job %zu", i);
        cr_assert_eq(jobs[i]->cmd.status, WS_CREATED, "job %zu", i);
        free(jobs[i]);
    }
    free(jobs);
    size_t count = 0;
    cr_assert(sum_balances(&count) == N);
    cr_assert_eq(count, N);
    store_verify_report rep;
    assert_verify_ok(&rep);
    cr_assert_eq(rep.events, N);
}

Test(service, restart_continues_from_disk) {
    start(16, 4);
    job *a = new_create("A", 100);
    job *b = new_create("B", 0);
    cr_assert_eq(service_submit(svc, &a->cmd), WS_OK);
    cr_assert_eq(service_submit(svc, &b->cmd), WS_OK);
    cr_assert(wait_done(2));
    stop();
    start(16, 4);
    job *dup = new_create("A", 5);
    job *t = new_transfer("A", "B", 100, "client-1", true);
    cr_assert_eq(service_submit(svc, &dup->cmd), WS_OK);
    cr_assert_eq(service_submit(svc, &t->cmd), WS_OK);
    cr_assert(wait_done(4));
    stop();
    cr_assert_eq(dup->cmd.status, WS_ACCOUNT_EXISTS);
    cr_assert_eq(t->cmd.status, WS_OK);
    cr_assert_eq(t->cmd.from_balance, 0);
    cr_assert_eq(t->cmd.to_balance, 100);
    free(a);
    free(b);
    free(dup);
    free(t);
}

Test(service, start_refuses_tampered_store) {
    start(16, 4);
    job *a = new_create("A", 100);
    cr_assert_eq(service_submit(svc, &a->cmd), WS_OK);
    cr_assert(wait_done(1));
    stop();
    free(a);
    store_batch *bt = store_batch_new();
    cr_assert_not_null(bt);
    store_batch_put_account(bt, "A", 1, 99);
    cr_assert_eq(store_commit(st, bt), WS_OK);
    store_batch_free(bt);
    service_config cfg = {.queue_max = 16, .batch_max = 4};
    service *s = NULL;
    cr_assert_eq(service_start(st, &cfg, &s), WS_CORRUPT);
    cr_assert_null(s);
}

Test(service, submit_after_stop_is_unavailable) {
    start(16, 4);
    job *a = new_create("A", 100);
    cr_assert_eq(service_submit(svc, &a->cmd), WS_OK);
    service_stop(svc);
    cr_assert_eq(atomic_load(&a->done_calls), 1, "stop did not answer the queued command");
    /* Stopped but not freed: other threads may still submit, and must be refused. */
    job *late = new_create("B", 1);
    cr_assert_eq(service_submit(svc, &late->cmd), WS_UNAVAILABLE);
    service_free(svc);
    svc = NULL;
    cr_assert_eq(atomic_load(&late->done_calls), 0);
    uint64_t b;
    cr_assert_eq(store_get_balance(st, "B", 1, &b), WS_ACCOUNT_NOT_FOUND);
    free(a);
    free(late);
}
