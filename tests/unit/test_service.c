/* Unit tests for engine/service: the queue, the writer thread and the checkpointer, on a real
 * store in a fresh temporary directory per test. Several threads submit at once, single
 * transfers and batches (groups with linked chains, some retried whole); the tests check the
 * service's promises: every accepted group gets exactly one done() call, only after each of
 * its commands' outcomes is in the log (read back inside done()) and published to readers
 * (service_balance inside done()), a refused one gets none, a chain applies whole or not at
 * all, a group larger than the queue and the batch bound passes whole, stop drains the
 * queue, a checkpoint is written on its interval and at stop (so a start after a clean stop
 * replays nothing), and what was written conserves money, passes the offline verifier and
 * loads into the same state after a restart. Waits are bounded by deadlines; no assertion
 * depends on timing. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
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

/* ---- what done() checks, on the writer thread ---------------------------------------------- */

/* A copy of the log, grown inside done() by reading the records after the last one seen. */
static ws_record *mirror;
static size_t mirror_n;
static size_t mirror_cap;
static uint64_t mirror_next_lsn = 1;
static service_reader *writer_reader; /* the writer thread's own reader */

static ws_status mirror_add(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq,
                            uint64_t ts) {
    (void)ctx;
    (void)seq;
    (void)ts;
    if (lsn != mirror_next_lsn) {
        return WS_CORRUPT;
    }
    if (mirror_n == mirror_cap) {
        size_t cap = mirror_cap ? 2 * mirror_cap : 4096;
        ws_record *p = realloc(mirror, cap * sizeof(*p));
        if (!p) {
            return WS_INTERNAL;
        }
        mirror = p;
        mirror_cap = cap;
    }
    mirror[mirror_n++] = *r;
    mirror_next_lsn++;
    return WS_OK;
}

static bool same_id(const char *a, size_t alen, const char *b, size_t blen) {
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* The refusals a TransferRefused record keeps (a failed chain's members included). */
static bool is_refusal(ws_status s) {
    return s == WS_ACCOUNT_NOT_FOUND || s == WS_INSUFFICIENT_FUNDS || s == WS_SAME_ACCOUNT ||
           s == WS_BALANCE_OVERFLOW || s == WS_LINKED_EVENT_FAILED ||
           s == WS_LINKED_EVENT_CHAIN_OPEN;
}

/* True if the log holds the record that makes cmd's outcome durable (or it needs none). */
static bool outcome_in_log(const ws_command *c) {
    bool transfer_ok = c->kind == WS_CMD_TRANSFER && c->status == WS_OK;
    bool refusal = c->kind == WS_CMD_TRANSFER && c->transfer_id_given && is_refusal(c->status);
    if (c->status != WS_CREATED && !transfer_ok && !refusal) {
        return true;
    }
    if (store_scan_log(st, mirror_next_lsn, mirror_add, NULL) != WS_OK) {
        return false;
    }
    for (size_t i = mirror_n; i-- > 0;) {
        const ws_record *r = &mirror[i];
        if (c->status == WS_CREATED) {
            if (r->kind == WS_REC_ACCOUNT_CREATED &&
                same_id(r->account, r->account_len, c->account, c->account_len)) {
                return r->amount == c->amount;
            }
        } else if (r->kind != WS_REC_ACCOUNT_CREATED &&
                   same_id(r->txn, r->txn_len, c->transfer_id, c->transfer_id_len)) {
            bool same = same_id(r->account, r->account_len, c->account, c->account_len) &&
                        same_id(r->to, r->to_len, c->to, c->to_len) && r->amount == c->amount;
            return same &&
                   (transfer_ok
                        ? r->kind == WS_REC_TRANSFER && r->from_balance == c->from_balance &&
                              r->to_balance == c->to_balance
                        : r->kind == WS_REC_TRANSFER_REFUSED && r->status == c->status &&
                              r->missing_side == c->missing_side);
        }
    }
    return false;
}

/* True if readers already see the accounts cmd's outcome touched. */
static bool outcome_visible(const ws_command *c) {
    if (!writer_reader) {
        writer_reader = service_reader_new(svc);
        if (!writer_reader) {
            return false;
        }
    }
    int64_t b;
    if (c->status == WS_CREATED) {
        return service_balance(writer_reader, c->account, c->account_len, &b) == WS_OK;
    }
    if (c->kind == WS_CMD_TRANSFER && c->status == WS_OK) {
        return service_balance(writer_reader, c->account, c->account_len, &b) == WS_OK &&
               service_balance(writer_reader, c->to, c->to_len, &b) == WS_OK;
    }
    return true;
}

/* A submission: a group (one command, cmd, for a single request; several for a batch) plus
 * what the test learns about its done() calls. The group is the first member, so done() can
 * recover the job from the group. */
typedef struct {
    ws_group group;
    ws_command cmd; /* the command of a single request */
    atomic_int done_calls;
    bool durable_at_done; /* every command's outcome was in the log inside done() */
    bool visible_at_done; /* and readers saw it */
    bool submitted;       /* service_submit returned WS_OK */
} job;

/* Runs on the writer thread. */
static void on_done(ws_group *g) {
    job *j = (job *)g;
    j->durable_at_done = true;
    j->visible_at_done = true;
    for (size_t i = 0; i < g->n; i++) {
        j->durable_at_done &= outcome_in_log(&g->cmds[i]);
        j->visible_at_done &= outcome_visible(&g->cmds[i]);
    }
    atomic_fetch_add(&j->done_calls, 1);
    atomic_fetch_add(&done_total, 1);
}

/* ---- building and submitting ------------------------------------------------------------------
 */

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
    j->group = (ws_group){.cmds = &j->cmd, .n = 1, .done = on_done};
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
    j->group = (ws_group){.cmds = &j->cmd, .n = 1, .done = on_done};
    return j;
}

/* A batch request: n commands, filled in by the caller, in one group. */
static job *new_batch(size_t n) {
    job *j = calloc(1, sizeof(*j));
    ws_command *cmds = calloc(n, sizeof(*cmds));
    cr_assert(j && cmds);
    j->group = (ws_group){.cmds = cmds, .n = n, .done = on_done};
    return j;
}

static void free_job(job *j) {
    if (j && j->group.cmds != &j->cmd) {
        free(j->group.cmds);
    }
    free(j);
}

static void fill_transfer(ws_command *c, const char *from, const char *to, uint64_t amount,
                          const char *tid, bool linked) {
    memset(c, 0, sizeof(*c));
    c->kind = WS_CMD_TRANSFER;
    c->amount = amount;
    set_id(c->account, &c->account_len, from);
    set_id(c->to, &c->to_len, to);
    set_id(c->transfer_id, &c->transfer_id_len, tid);
    c->transfer_id_given = true;
    c->linked = linked;
}

/* Submits, retrying while the queue is full, until deadline_ms. */
static ws_status submit_retrying(job *j, uint64_t deadline_ms) {
    for (uint64_t tries = 0;; tries++) {
        ws_status s = service_submit(svc, &j->group);
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

/* Submits j and waits for its answer; asserts it was durable and visible when given. */
static void run_one(job *j) {
    size_t before = atomic_load(&done_total);
    cr_assert_eq(submit_retrying(j, now_ms() + WAIT_MS_MAX), WS_OK);
    cr_assert(wait_done(before + 1), "no answer in time");
    cr_assert_eq(atomic_load(&j->done_calls), 1);
    cr_assert(j->durable_at_done, "answered before its outcome was in the log");
    cr_assert(j->visible_at_done, "answered before readers saw its outcome");
}

/* Counts the services started, so that a reader is never used past its service's life. */
static unsigned svc_generation;

static void start_cfg(const service_config *cfg) {
    writer_reader = NULL; /* readers die with their service */
    svc_generation++;
    cr_assert_eq(service_start(st, cfg, &svc), WS_OK);
    cr_assert_not(service_read_only(svc));
}

static void start_with(size_t queue_max, size_t batch_max, uint64_t checkpoint_interval_ms) {
    service_config cfg = {.queue_max = queue_max,
                          .batch_max = batch_max,
                          .checkpoint_interval_ms = checkpoint_interval_ms};
    start_cfg(&cfg);
}

static void start(size_t queue_max, size_t batch_max) { start_with(queue_max, batch_max, 0); }

static void stop(void) {
    service_stop(svc);
    service_free(svc);
    svc = NULL;
}

/* The balance readers see, or UINT64_MAX if they see no such account. */
static uint64_t read_balance(const char *id) {
    static service_reader *r;
    static unsigned r_of;
    if (r_of != svc_generation) {
        r = service_reader_new(svc);
        cr_assert_not_null(r);
        r_of = svc_generation;
    }
    int64_t b = 0;
    ws_status s = service_balance(r, id, strlen(id), &b);
    cr_assert(s == WS_OK || s == WS_ACCOUNT_NOT_FOUND, "service_balance: %s", ws_status_code(s));
    return s == WS_OK ? (uint64_t)b : UINT64_MAX;
}

static void assert_verify_ok(store_verify_report *rep) {
    FILE *out = fopen("/dev/null", "w");
    cr_assert_not_null(out);
    ws_status s = store_verify(st, out, rep);
    fclose(out);
    cr_assert_eq(s, WS_OK, "verify found %llu problems", (unsigned long long)rep->problems);
}

static void log_end(uint64_t *lsn, uint64_t *seq) {
    cr_assert_eq(store_log_end(st, lsn, seq, NULL), WS_OK);
}

static store_ckpt_meta ckpt_meta(void) {
    store_ckpt_meta m;
    cr_assert_eq(store_ckpt_meta_get(st, &m), WS_OK);
    return m;
}

/* ---- concurrent transfers ---------------------------------------------------------------------
 */

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
        cr_assert(jobs[i]->visible_at_done);
        free(jobs[i]);
    }
    atomic_store(&done_total, 0);
}

/* The sum of every account's balance as readers see it; asserts each is there. */
static ws_u128 sum_of_accounts(void) {
    ws_u128 sum = 0;
    for (size_t i = 0; i < ACCOUNTS; i++) {
        char id[16];
        account_name(id, sizeof(id), i);
        uint64_t b = read_balance(id);
        cr_assert_neq(b, UINT64_MAX, "%s missing", id);
        sum += b;
    }
    return sum;
}

/* One submitted transfer's answer: once, durable and published at done(), a retry the same
 * as its original, anything else an outcome the rules allow. */
static void check_job(const submitter *s, size_t i, size_t *applied, size_t *replays) {
    const job *j = s->jobs[i];
    const ws_command *c = &j->cmd;
    size_t t = s->index;
    cr_assert_eq(atomic_load(&j->done_calls), 1, "job %zu/%zu: %d done() calls", t, i,
                 atomic_load(&j->done_calls));
    cr_assert(j->durable_at_done, "job %zu/%zu answered before it was in the log", t, i);
    cr_assert(j->visible_at_done, "job %zu/%zu answered before it was published", t, i);
    bool same = c->account_len == c->to_len && memcmp(c->account, c->to, c->to_len) == 0;
    if (s->retry_of[i]) {
        const ws_command *o = &s->jobs[s->retry_of[i] - 1]->cmd;
        cr_assert(c->replayed, "retry %zu/%zu not replayed", t, i);
        cr_assert_eq(c->status, o->status);
        cr_assert_eq(c->missing_side, o->missing_side);
        cr_assert_eq(c->from_balance, o->from_balance);
        cr_assert_eq(c->to_balance, o->to_balance);
        (*replays)++;
    } else if (same) {
        cr_assert_eq(c->status, WS_SAME_ACCOUNT);
    } else {
        cr_assert(c->status == WS_OK || c->status == WS_INSUFFICIENT_FUNDS,
                  "job %zu/%zu: status %d", t, i, c->status);
        cr_assert_not(c->replayed);
    }
    *applied += c->status == WS_OK && !c->replayed;
}

/* ---- concurrent batches -------------------------------------------------------------------- */

/* Batch submitters: groups of 1..BATCH_CMDS_MAX transfers with linked chains among them (some
 * left open at the group's end), and now and then the previous batch again, once it is
 * answered, as a client retry. */
enum { BATCHERS = 2, BATCHES_PER = 60, BATCH_CMDS_MAX = 20 };

typedef struct {
    size_t index;
    job *jobs[BATCHES_PER];
    size_t retry_of[BATCHES_PER]; /* for a retried batch, the original's index + 1, else 0 */
    size_t submitted;
    ws_status bad_status;
    bool wait_failed; /* the original of a retry was not answered in time */
    uint64_t deadline_ms;
} batcher;

static uint32_t xorshift(uint32_t x) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

/* Polls until j's done() has been called, at most until deadline_ms. */
static bool wait_job(const job *j, uint64_t deadline_ms) {
    while (atomic_load(&j->done_calls) == 0) {
        if (now_ms() > deadline_ms) {
            return false;
        }
        sleep_ms(1);
    }
    return true;
}

static job *random_batch(batcher *b, size_t i, uint32_t *x) {
    *x = xorshift(*x);
    size_t n = 1 + *x % BATCH_CMDS_MAX;
    job *j = new_batch(n);
    for (size_t k = 0; k < n; k++) {
        *x = xorshift(*x);
        char from[16];
        char to[16];
        char tid[48];
        account_name(from, sizeof(from), *x % ACCOUNTS);
        account_name(to, sizeof(to), (*x >> 8) % ACCOUNTS);
        snprintf(tid, sizeof(tid), "batch-%zu-%zu-%zu", b->index, i, k);
        /* A quarter of the members are tied to the next one; the last one rarely, which
         * leaves its chain open. */
        bool linked = k + 1 < n ? (*x >> 28) % 4 == 0 : (*x >> 24) % 16 == 0;
        fill_transfer(&j->group.cmds[k], from, to, 1 + (*x >> 16) % 400, tid, linked);
    }
    return j;
}

static void *submit_batches(void *arg) {
    batcher *b = arg;
    uint32_t x = 88172645u + (uint32_t)b->index * 104729u;
    for (size_t i = 0; i < BATCHES_PER; i++) {
        job *j;
        if (i % 6 == 5 && b->jobs[i - 1]->submitted) {
            const job *o = b->jobs[i - 1];
            if (!wait_job(o, b->deadline_ms)) {
                b->wait_failed = true;
                return NULL;
            }
            j = new_batch(o->group.n);
            for (size_t k = 0; k < o->group.n; k++) {
                memcpy(&j->group.cmds[k], &o->group.cmds[k], offsetof(ws_command, status));
            }
            b->retry_of[i] = i;
        } else {
            j = random_batch(b, i, &x);
        }
        b->jobs[i] = j;
        ws_status rc = submit_retrying(j, b->deadline_ms);
        if (rc != WS_OK) {
            b->bad_status = rc;
            return NULL;
        }
        b->submitted++;
    }
    return NULL;
}

static bool same_accounts(const ws_command *c) {
    return c->account_len == c->to_len && memcmp(c->account, c->to, c->to_len) == 0;
}

/* A chain of k members (none a replay: every transferID is new): all applied, or none, the
 * first failure with its own code and the others linked_event_failed; an open one all
 * linked_event_chain_open. Returns the members applied. */
static size_t check_chain(const ws_command *c, size_t k, bool open, const char *where) {
    size_t ok = 0;
    size_t own = 0;
    for (size_t i = 0; i < k; i++) {
        cr_assert_not(c[i].replayed, "%s: chain member %zu replayed", where, i);
        ok += c[i].status == WS_OK;
        if (open) {
            cr_assert_eq(c[i].status, WS_LINKED_EVENT_CHAIN_OPEN, "%s: open chain member %zu: %s",
                         where, i, ws_status_code(c[i].status));
        } else if (c[i].status != WS_OK && c[i].status != WS_LINKED_EVENT_FAILED) {
            cr_assert(c[i].status ==
                          (same_accounts(&c[i]) ? WS_SAME_ACCOUNT : WS_INSUFFICIENT_FUNDS),
                      "%s: chain member %zu: %s", where, i, ws_status_code(c[i].status));
            own++;
        }
    }
    if (!open) {
        cr_assert(ok == k || (ok == 0 && own == 1),
                  "%s: a chain of %zu with %zu applied and %zu failed on their own", where, k, ok,
                  own);
    }
    return ok;
}

/* Every command of a fresh batch; returns the transfers applied. */
static size_t check_fresh_batch(const ws_group *g, const char *where) {
    size_t applied = 0;
    for (size_t i = 0; i < g->n;) {
        const ws_command *c = &g->cmds[i];
        if (!c->linked) {
            cr_assert_not(c->replayed, "%s: command %zu replayed", where, i);
            if (same_accounts(c)) {
                cr_assert_eq(c->status, WS_SAME_ACCOUNT, "%s: command %zu", where, i);
            } else {
                cr_assert(c->status == WS_OK || c->status == WS_INSUFFICIENT_FUNDS,
                          "%s: command %zu: %s", where, i, ws_status_code(c->status));
            }
            applied += c->status == WS_OK;
            i++;
            continue;
        }
        size_t j = i;
        while (j < g->n && g->cmds[j].linked) {
            j++;
        }
        bool open = j == g->n;
        size_t end = open ? g->n : j + 1;
        applied += check_chain(c, end - i, open, where);
        i = end;
    }
    return applied;
}

static void check_batcher(const batcher *b, size_t *applied, size_t *replays) {
    cr_assert_eq(b->bad_status, WS_OK, "batcher %zu: submit returned %d", b->index, b->bad_status);
    cr_assert_not(b->wait_failed, "batcher %zu: a batch was not answered in time", b->index);
    cr_assert_eq(b->submitted, BATCHES_PER);
    for (size_t i = 0; i < BATCHES_PER; i++) {
        const job *j = b->jobs[i];
        char where[32];
        snprintf(where, sizeof(where), "batch %zu/%zu", b->index, i);
        cr_assert_eq(atomic_load(&j->done_calls), 1, "%s: %d done() calls", where,
                     atomic_load(&j->done_calls));
        cr_assert(j->durable_at_done, "%s answered before it was in the log", where);
        cr_assert(j->visible_at_done, "%s answered before it was published", where);
        if (!b->retry_of[i]) {
            *applied += check_fresh_batch(&j->group, where);
            continue;
        }
        const ws_group *o = &b->jobs[b->retry_of[i] - 1]->group;
        cr_assert_eq(j->group.n, o->n);
        for (size_t k = 0; k < o->n; k++) {
            const ws_command *c = &j->group.cmds[k];
            const ws_command *w = &o->cmds[k];
            cr_assert(c->replayed,
                      "%s: retried command %zu of %zu (linked %d) not replayed: %s, first %s",
                      where, k, o->n, w->linked, ws_status_code(c->status),
                      ws_status_code(w->status));
            cr_assert_eq(c->status, w->status, "%s: retried command %zu: %s, first %s", where, k,
                         ws_status_code(c->status), ws_status_code(w->status));
            cr_assert_eq(c->missing_side, w->missing_side);
            cr_assert_eq(c->from_balance, w->from_balance, "%s: command %zu", where, k);
            cr_assert_eq(c->to_balance, w->to_balance, "%s: command %zu", where, k);
            (*replays)++;
        }
    }
}

/* Single transfers and batches from several threads at once. */
Test(service, concurrent_transfers_conserve_money) {
    start(4096, 256);
    create_accounts();

    static submitter subs[SUBMITTERS];
    static batcher bats[BATCHERS];
    memset(subs, 0, sizeof(subs));
    memset(bats, 0, sizeof(bats));
    pthread_t threads[SUBMITTERS];
    pthread_t bthreads[BATCHERS];
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    for (size_t t = 0; t < SUBMITTERS; t++) {
        subs[t].index = t;
        subs[t].deadline_ms = deadline;
        cr_assert_eq(pthread_create(&threads[t], NULL, submit_transfers, &subs[t]), 0);
    }
    for (size_t t = 0; t < BATCHERS; t++) {
        bats[t].index = t;
        bats[t].deadline_ms = deadline;
        cr_assert_eq(pthread_create(&bthreads[t], NULL, submit_batches, &bats[t]), 0);
    }
    for (size_t t = 0; t < SUBMITTERS; t++) {
        cr_assert_eq(pthread_join(threads[t], NULL), 0);
    }
    for (size_t t = 0; t < BATCHERS; t++) {
        cr_assert_eq(pthread_join(bthreads[t], NULL), 0);
    }
    size_t submitted = 0;
    for (size_t t = 0; t < SUBMITTERS; t++) {
        cr_assert_eq(subs[t].bad_status, WS_OK, "submitter %zu: submit returned %d", t,
                     subs[t].bad_status);
        submitted += subs[t].submitted;
    }
    cr_assert_eq(submitted, SUBMITTERS * PER_SUBMITTER);
    for (size_t t = 0; t < BATCHERS; t++) {
        submitted += bats[t].submitted;
    }
    cr_assert(wait_done(submitted), "only %zu of %zu answered in time", atomic_load(&done_total),
              submitted);
    cr_assert(sum_of_accounts() == (ws_u128)ACCOUNTS * START_AMOUNT, "money not conserved");
    stop();
    cr_assert_eq(atomic_load(&done_total), submitted, "done() called after the last answer");

    size_t applied = 0;
    size_t replays = 0;
    for (size_t t = 0; t < SUBMITTERS; t++) {
        for (size_t i = 0; i < PER_SUBMITTER; i++) {
            check_job(&subs[t], i, &applied, &replays);
        }
    }
    size_t batch_applied = 0;
    size_t batch_replays = 0;
    for (size_t t = 0; t < BATCHERS; t++) {
        check_batcher(&bats[t], &batch_applied, &batch_replays);
    }
    for (size_t t = 0; t < SUBMITTERS; t++) {
        for (size_t i = 0; i < PER_SUBMITTER; i++) {
            free_job(subs[t].jobs[i]); /* after the loop above: a retry reads its original */
        }
    }
    for (size_t t = 0; t < BATCHERS; t++) {
        for (size_t i = 0; i < BATCHES_PER; i++) {
            free_job(bats[t].jobs[i]);
        }
    }
    cr_assert_gt(applied, 0);
    cr_assert_gt(replays, 0);
    cr_assert_gt(batch_applied, 0);
    cr_assert_gt(batch_replays, 0);
    cr_log_info("%zu single transfers applied, %zu replays; %zu batched applied, %zu replays",
                applied, replays, batch_applied, batch_replays);
    applied += batch_applied;

    /* Restart from disk: money conserved, the log verifies and holds each transfer once. */
    store_close(st);
    st = NULL;
    cr_assert_eq(store_open(dir, false, &st), WS_OK);
    store_verify_report rep;
    assert_verify_ok(&rep);
    cr_assert_eq(rep.transfers, applied);
    cr_assert_eq(rep.events, ACCOUNTS + 2 * applied);
    cr_assert_eq(rep.accounts, ACCOUNTS);
    start(16, 4);
    cr_assert(sum_of_accounts() == (ws_u128)ACCOUNTS * START_AMOUNT, "money not conserved");
    free(mirror);
}

/* ---- batches, one at a time ------------------------------------------------------------ */

/* One group of eight: two chains that hold or fail, an open one, unlinked transfers; a
 * batch_max smaller than the group does not split it. One done() call, after every
 * command's outcome is in the log and published. */
Test(service, batch_is_answered_once_after_it_is_durable) {
    start(16, 4);
    job *acc[3] = {new_create("A", 100), new_create("B", 0), new_create("C", 0)};
    for (size_t i = 0; i < 3; i++) {
        run_one(acc[i]);
        free(acc[i]);
    }
    job *b = new_batch(8);
    ws_command *c = b->group.cmds;
    fill_transfer(&c[0], "A", "B", 10, "b-1", false);
    fill_transfer(&c[1], "A", "B", 20, "b-2", true); /* holds: B has 30 for b-3 */
    fill_transfer(&c[2], "B", "C", 30, "b-3", false);
    fill_transfer(&c[3], "A", "C", 5, "b-4", true); /* fails at b-5 */
    fill_transfer(&c[4], "A", "C", 500, "b-5", true);
    fill_transfer(&c[5], "B", "A", 1, "b-6", false);
    fill_transfer(&c[6], "C", "A", 1, "b-7", false);
    fill_transfer(&c[7], "A", "B", 1, "b-8", true); /* open */
    run_one(b);
    const ws_status want[8] = {WS_OK,
                               WS_OK,
                               WS_OK,
                               WS_LINKED_EVENT_FAILED,
                               WS_INSUFFICIENT_FUNDS,
                               WS_LINKED_EVENT_FAILED,
                               WS_OK,
                               WS_LINKED_EVENT_CHAIN_OPEN};
    const uint64_t from[8] = {90, 70, 0, 0, 0, 0, 29, 0};
    const uint64_t to[8] = {10, 30, 30, 0, 0, 0, 71, 0};
    for (size_t i = 0; i < 8; i++) {
        cr_assert_eq(c[i].status, want[i], "b-%zu: %s", i + 1, ws_status_code(c[i].status));
        cr_assert_not(c[i].replayed);
        cr_assert_eq(c[i].from_balance, from[i], "b-%zu", i + 1);
        cr_assert_eq(c[i].to_balance, to[i], "b-%zu", i + 1);
    }
    cr_assert_eq(read_balance("A"), 71);
    cr_assert_eq(read_balance("B"), 0);
    cr_assert_eq(read_balance("C"), 29);
    stop();

    /* After a restart the same batch replays every answer. */
    start(16, 4);
    job *again = new_batch(8);
    for (size_t i = 0; i < 8; i++) {
        memcpy(&again->group.cmds[i], &c[i], offsetof(ws_command, status));
    }
    run_one(again);
    for (size_t i = 0; i < 8; i++) {
        const ws_command *r = &again->group.cmds[i];
        cr_assert(r->replayed, "b-%zu not replayed", i + 1);
        cr_assert_eq(r->status, c[i].status, "b-%zu", i + 1);
        cr_assert_eq(r->from_balance, c[i].from_balance, "b-%zu", i + 1);
        cr_assert_eq(r->to_balance, c[i].to_balance, "b-%zu", i + 1);
    }
    cr_assert_eq(read_balance("A"), 71);
    free_job(b);
    free_job(again);
    free(mirror);
}

/* A batch of WS_GROUP_MAX through a queue of 4 commands and batches of 2: taken into the
 * empty queue, decided whole in one commit, answered once. */
Test(service, group_larger_than_queue_and_batch_max) {
    start(4, 2);
    job *a = new_create("A", 100000);
    job *bb = new_create("B", 0);
    run_one(a);
    run_one(bb);
    job *b = new_batch(WS_GROUP_MAX);
    for (size_t i = 0; i < WS_GROUP_MAX; i++) {
        char tid[24];
        snprintf(tid, sizeof(tid), "w-%zu", i);
        fill_transfer(&b->group.cmds[i], "A", "B", 1, tid, i + 1 < WS_GROUP_MAX);
    }
    run_one(b);
    for (size_t i = 0; i < WS_GROUP_MAX; i++) {
        cr_assert_eq(b->group.cmds[i].status, WS_OK, "w-%zu: %s", i,
                     ws_status_code(b->group.cmds[i].status));
        cr_assert_eq(b->group.cmds[i].to_balance, i + 1, "w-%zu", i);
    }
    cr_assert_eq(read_balance("A"), 100000 - WS_GROUP_MAX);
    cr_assert_eq(read_balance("B"), WS_GROUP_MAX);
    /* The writer goes on with single requests. */
    job *t = new_transfer("B", "A", 1, "after", true);
    run_one(t);
    cr_assert_eq(t->cmd.status, WS_OK);
    cr_assert_eq(t->cmd.from_balance, WS_GROUP_MAX - 1);
    stop();
    store_verify_report rep;
    assert_verify_ok(&rep);
    cr_assert_eq(rep.transfers, WS_GROUP_MAX + 1);
    free(a);
    free(bb);
    free_job(b);
    free(t);
    free(mirror);
}

/* ---- overload, stop, restart ------------------------------------------------------------------
 */

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
            ws_status s = service_submit(svc, &jobs[i]->group);
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
    service_stop(svc);
    cr_assert_eq(atomic_load(&done_total), ok);
    for (size_t i = 0; i < N; i++) {
        int calls = atomic_load(&jobs[i]->done_calls);
        char id[32];
        snprintf(id, sizeof(id), "o-%zu", i);
        if (jobs[i]->submitted) {
            cr_assert_eq(calls, 1, "accepted job %zu: %d done() calls", i, calls);
            cr_assert_eq(jobs[i]->cmd.status, WS_CREATED);
            cr_assert(jobs[i]->durable_at_done);
            cr_assert(jobs[i]->visible_at_done);
            cr_assert_eq(read_balance(id), i);
        } else {
            cr_assert_eq(calls, 0, "refused job %zu got done()", i);
            cr_assert_eq(read_balance(id), UINT64_MAX, "refused job %zu was applied", i);
        }
        free(jobs[i]);
    }
    free(jobs);
    service_free(svc);
    svc = NULL;
    cr_assert_eq(ckpt_meta().account_count, ok);
    cr_log_info("%zu accepted, %zu overloaded", ok, overloaded);
    free(mirror);
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
        cr_assert_eq(service_submit(svc, &jobs[i]->group), WS_OK, "submit %zu", i);
    }
    /* No waiting: stop itself must answer everything that was queued. */
    stop();
    cr_assert_eq(atomic_load(&done_total), N);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(atomic_load(&jobs[i]->done_calls), 1, "job %zu", i);
        cr_assert_eq(jobs[i]->cmd.status, WS_CREATED, "job %zu", i);
        cr_assert(jobs[i]->durable_at_done, "job %zu", i);
        free(jobs[i]);
    }
    free(jobs);
    store_ckpt_meta m = ckpt_meta();
    cr_assert_eq(m.account_count, N);
    cr_assert(m.total_money == N);
    store_verify_report rep;
    assert_verify_ok(&rep);
    cr_assert_eq(rep.events, N);
    free(mirror);
}

Test(service, restart_continues_from_disk) {
    start(16, 4);
    job *a = new_create("A", 100);
    job *b = new_create("B", 0);
    run_one(a);
    run_one(b);
    stop();
    start(16, 4);
    cr_assert_eq(read_balance("A"), 100);
    cr_assert_eq(read_balance("B"), 0);
    job *dup = new_create("A", 5);
    job *t = new_transfer("A", "B", 100, "client-1", true);
    run_one(dup);
    run_one(t);
    stop();
    cr_assert_eq(dup->cmd.status, WS_ACCOUNT_EXISTS);
    cr_assert_eq(t->cmd.status, WS_OK);
    cr_assert_eq(t->cmd.from_balance, 0);
    cr_assert_eq(t->cmd.to_balance, 100);
    /* After a second restart the transfer replays. */
    start(16, 4);
    job *again = new_transfer("A", "B", 100, "client-1", true);
    run_one(again);
    cr_assert_eq(again->cmd.status, WS_OK);
    cr_assert(again->cmd.replayed);
    cr_assert_eq(again->cmd.to_balance, 100);
    cr_assert_eq(read_balance("B"), 100);
    free(a);
    free(b);
    free(dup);
    free(t);
    free(again);
    free(mirror);
}

/* Reads see an account once its creation is answered, and each transfer once it is. */
Test(service, reads_follow_answers) {
    start(16, 4);
    cr_assert_eq(read_balance("A"), UINT64_MAX);
    job *a = new_create("A", 100);
    job *b = new_create("B", 5);
    run_one(a);
    run_one(b);
    cr_assert_eq(read_balance("A"), 100);
    cr_assert_eq(read_balance("B"), 5);
    job *t = new_transfer("A", "B", 40, "g-1", false);
    run_one(t);
    cr_assert_eq(read_balance("A"), 60);
    cr_assert_eq(read_balance("B"), 45);
    job *refused = new_transfer("A", "B", 61, "client-1", true);
    run_one(refused);
    cr_assert_eq(refused->cmd.status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(read_balance("A"), 60);
    cr_assert_eq(read_balance("a"), UINT64_MAX, "IDs are case-sensitive");
    free(a);
    free(b);
    free(t);
    free(refused);
    free(mirror);
}

Test(service, start_refuses_tampered_store) {
    start(16, 4);
    job *a = new_create("A", 100);
    run_one(a);
    stop();
    free(a);
    /* The checkpoint written at stop now claims a balance the log does not give. */
    int64_t bal[STORE_CHUNK_ACCOUNTS];
    size_t n;
    cr_assert_eq(store_ckpt_balances(st, 0, bal, &n), WS_OK);
    cr_assert_eq(n, 1);
    bal[0] = 99;
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    store_ckpt_put_balances(c, 0, bal, 1);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    service_config cfg = {.queue_max = 16, .batch_max = 4};
    service *s = NULL;
    cr_assert_eq(service_start(st, &cfg, &s), WS_CORRUPT);
    cr_assert_null(s);
    free(mirror);
}

Test(service, submit_after_stop_is_unavailable) {
    start(16, 4);
    job *a = new_create("A", 100);
    cr_assert_eq(service_submit(svc, &a->group), WS_OK);
    service_stop(svc);
    cr_assert_eq(atomic_load(&a->done_calls), 1, "stop did not answer the queued command");
    /* Stopped but not freed: other threads may still submit, and must be refused. */
    job *late = new_create("B", 1);
    cr_assert_eq(service_submit(svc, &late->group), WS_UNAVAILABLE);
    cr_assert_eq(read_balance("A"), 100, "reads stop with the service");
    cr_assert_eq(read_balance("B"), UINT64_MAX);
    service_free(svc);
    svc = NULL;
    cr_assert_eq(atomic_load(&late->done_calls), 0);
    free(a);
    free(late);
    free(mirror);
}

/* ---- checkpoints ------------------------------------------------------------------------------
 */

/* Waits until the newest checkpoint covers the whole log, while the service runs. */
static bool wait_checkpoint_at_log_end(void) {
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    for (;;) {
        uint64_t lsn;
        uint64_t seq;
        log_end(&lsn, &seq);
        store_ckpt_meta m = ckpt_meta();
        if (m.next_lsn == lsn && m.next_seq == seq) {
            return true;
        }
        if (now_ms() > deadline) {
            return false;
        }
        sleep_ms(5);
    }
}

Test(service, checkpoint_on_interval_and_restart_from_it) {
    start_with(64, 16, 20);
    job *jobs[6] = {
        new_create("A", 100),
        new_create("B", 0),
        new_transfer("A", "B", 30, "client-1", true),
        new_transfer("A", "B", 500, "client-2", true), /* refused, remembered */
        new_transfer("B", "A", 5, "g-1", false),
        new_create("C", 1),
    };
    for (size_t i = 0; i < 6; i++) {
        run_one(jobs[i]);
    }
    cr_assert(wait_checkpoint_at_log_end(), "no checkpoint within %u ms", WAIT_MS_MAX);
    store_ckpt_meta m = ckpt_meta();
    cr_assert_eq(m.next_lsn, 7, "one record per outcome to remember");
    cr_assert_eq(m.account_count, 3);
    cr_assert(m.total_money == 101);
    cr_assert_eq(m.transfers, 2);
    cr_assert_eq(m.refusals, 1);
    /* More work: a later checkpoint covers it too. */
    job *later = new_transfer("C", "B", 1, "client-3", true);
    run_one(later);
    cr_assert(wait_checkpoint_at_log_end(), "no second checkpoint within %u ms", WAIT_MS_MAX);
    cr_assert_eq(ckpt_meta().next_lsn, 8);
    stop();

    /* A restart loads the checkpoint: the same balances, and every transferID replays. */
    start(16, 4);
    cr_assert_eq(read_balance("A"), 75);
    cr_assert_eq(read_balance("B"), 26);
    cr_assert_eq(read_balance("C"), 0);
    job *r1 = new_transfer("A", "B", 30, "client-1", true);
    job *r2 = new_transfer("A", "B", 500, "client-2", true);
    job *r3 = new_transfer("C", "B", 1, "client-3", true);
    run_one(r1);
    run_one(r2);
    run_one(r3);
    cr_assert(r1->cmd.replayed && r2->cmd.replayed && r3->cmd.replayed);
    cr_assert_eq(r1->cmd.status, WS_OK);
    cr_assert_eq(r1->cmd.from_balance, 70);
    cr_assert_eq(r1->cmd.to_balance, 30);
    cr_assert_eq(r2->cmd.status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(r3->cmd.status, WS_OK);
    cr_assert_eq(r3->cmd.to_balance, 26);
    stop();
    store_verify_report rep;
    assert_verify_ok(&rep);
    for (size_t i = 0; i < 6; i++) {
        free(jobs[i]);
    }
    free(later);
    free(r1);
    free(r2);
    free(r3);
    free(mirror);
}

/* With an hour between checkpoints, the only one is the one service_stop makes: it covers
 * the whole log, so the next start replays nothing. */
Test(service, stop_checkpoints_so_a_restart_replays_nothing) {
    start_with(64, 16, CKPT_INTERVAL_MS_MAX);
    job *jobs[4] = {new_create("A", 10), new_create("B", 20),
                    new_transfer("A", "B", 10, "client-1", true),
                    new_transfer("A", "B", 10, "client-2", true)};
    for (size_t i = 0; i < 4; i++) {
        run_one(jobs[i]);
    }
    cr_assert_eq(ckpt_meta().next_lsn, 1, "a checkpoint before the interval passed");
    stop();
    uint64_t lsn;
    uint64_t seq;
    log_end(&lsn, &seq);
    store_ckpt_meta m = ckpt_meta();
    cr_assert_eq(m.next_lsn, lsn, "the stop's checkpoint does not cover the log");
    cr_assert_eq(m.next_seq, seq);
    cr_assert_eq(m.account_count, 2);
    cr_assert_eq(m.transfers, 1);
    cr_assert_eq(m.refusals, 1);
    /* A stop with nothing new writes no other checkpoint, and loses nothing. */
    start(16, 4);
    cr_assert_eq(read_balance("A"), 0);
    cr_assert_eq(read_balance("B"), 30);
    stop();
    store_ckpt_meta again = ckpt_meta();
    cr_assert_eq(again.next_lsn, m.next_lsn);
    store_verify_report rep;
    assert_verify_ok(&rep);
    for (size_t i = 0; i < 4; i++) {
        free(jobs[i]);
    }
    free(mirror);
}

/* The meta of the newest checkpoint a crash now would leave: what a read-only open (another
 * RocksDB instance, which sees only flushed files) finds. */
static store_ckpt_meta durable_meta(void) {
    store *ro = NULL;
    cr_assert_eq(store_open(dir, true, &ro), WS_OK);
    store_ckpt_meta m;
    cr_assert_eq(store_ckpt_meta_get(ro, &m), WS_OK);
    store_close(ro);
    return m;
}

static uint64_t lag(void) {
    service_metrics m;
    service_metrics_read(svc, &m);
    return m.checkpoint_lag;
}

static bool wait_lag(uint64_t want) {
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    while (lag() != want) {
        if (now_ms() > deadline) {
            return false;
        }
        sleep_ms(5);
    }
    return true;
}

/* Checkpoints are written every interval but flushed only once those since the last flush
 * cover flush_records records, and at the stop: until then a crash would leave the older
 * one, and the lag metric (what a start after a crash replays) counts from it. */
Test(service, checkpoints_are_flushed_by_records_and_at_stop) {
    service_config cfg = {.queue_max = 64,
                          .batch_max = 16,
                          .checkpoint_interval_ms = 20,
                          .checkpoint_flush_records = 5};
    start_cfg(&cfg);
    job *jobs[7] = {new_create("A", 100),
                    new_create("B", 0),
                    new_transfer("A", "B", 1, "t-1", true),
                    new_transfer("A", "B", 2, "t-2", true),
                    new_transfer("A", "B", 3, "t-3", true),
                    new_transfer("A", "B", 4, "t-4", true),
                    new_transfer("A", "B", 5, "t-5", true)};
    for (size_t i = 0; i < 3; i++) {
        run_one(jobs[i]);
    }
    cr_assert(wait_checkpoint_at_log_end(), "no checkpoint within %u ms", WAIT_MS_MAX);
    cr_assert_eq(ckpt_meta().next_lsn, 4, "the writing store reads the newest checkpoint");
    cr_assert_eq(durable_meta().next_lsn, 1, "3 records of 5 were flushed");
    cr_assert_eq(lag(), 3);
    for (size_t i = 3; i < 5; i++) {
        run_one(jobs[i]);
    }
    cr_assert(wait_lag(0), "5 unflushed records were not flushed within %u ms (lag %llu)",
              WAIT_MS_MAX, (unsigned long long)lag());
    store_ckpt_meta d = durable_meta();
    cr_assert_eq(d.next_lsn, 6);
    cr_assert_eq(d.transfers, 3);
    for (size_t i = 5; i < 7; i++) {
        run_one(jobs[i]);
    }
    cr_assert(wait_checkpoint_at_log_end(), "no checkpoint within %u ms", WAIT_MS_MAX);
    cr_assert_eq(durable_meta().next_lsn, 6, "2 records of 5 were flushed");
    cr_assert_eq(lag(), 2);
    stop();
    d = durable_meta();
    cr_assert_eq(d.next_lsn, 8, "the stop flushes");
    cr_assert_eq(d.transfers, 5);
    start(16, 4);
    cr_assert_eq(read_balance("A"), 85);
    cr_assert_eq(read_balance("B"), 15);
    cr_assert_eq(lag(), 0);
    stop();
    store_verify_report rep;
    assert_verify_ok(&rep);
    for (size_t i = 0; i < 7; i++) {
        free(jobs[i]);
    }
    free(mirror);
}

/* Readers share the epoch's slots with the checkpointer: once it runs (a checkpoint was
 * written), EPOCH_READERS_MAX - 1 are left, and then service_reader_new says no. */
Test(service, readers_are_bounded) {
    start_with(16, 4, 20);
    job *a = new_create("A", 1);
    run_one(a);
    cr_assert(wait_checkpoint_at_log_end());
    /* run_one's writer-thread reader took one slot already. */
    size_t made = 1;
    for (size_t i = 0; i < 2 * EPOCH_READERS_MAX; i++) {
        service_reader *r = service_reader_new(svc);
        if (!r) {
            break;
        }
        int64_t b;
        cr_assert_eq(service_balance(r, "A", 1, &b), WS_OK);
        made++;
    }
    cr_assert_eq(made, EPOCH_READERS_MAX - 1, "%zu readers", made);
    cr_assert_null(service_reader_new(svc));
    free(a);
    free(mirror);
}
