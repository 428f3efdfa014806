/* ThreadSanitizer test of engine/service: the queue, the writer thread and the checkpointer
 * on a real store, and the lock-free read path. Submitter threads send single transfers (some
 * with client transferIDs, some retried) and batch submitters groups of 1..BATCH_CMDS_MAX
 * transfers (with linked chains, some left open, and retried batches) while the writer
 * validates, commits and answers them and reader threads read balances from the committed
 * view the whole time (also while thousands of accounts are created, so that the account
 * table replaces its slot array under the readers and frees the old ones through the
 * epochs); a second round stops the service while both kinds of submitters are still
 * sending. Checks: every accepted group gets exactly one done(), after its outcome is in the
 * log; refused ones get none; retries replay the first answer; a chain is applied whole or
 * not at all; readers never see an unknown account or an impossible balance; after a restart
 * money is conserved and the log verifies with every applied transfer once. The readers
 * also read the writer's metrics (service_metrics_read) all along: they only grow. Every wait
 * is bounded. */
#include <ftw.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "engine/service.h"
#include "engine/sm.h"

enum { ACCOUNTS = 10, SUBMITTERS = 4, PER_SUBMITTER = 400, START_AMOUNT = 1000 };
enum { READERS = 2, GROWTH_ACCOUNTS = 3000 };
enum { BATCHERS = 2, BATCHES_PER = 60, BATCH_CMDS_MAX = 50 };
#define WAIT_MS_MAX 120000u

static store *st;
static service *svc;
static atomic_size_t done_total;

typedef struct {
    ws_group group; /* first, so done() can recover the job */
    ws_command cmd; /* the command of a single request; a batch's are allocated */
    atomic_int done_calls;
    bool durable_at_done; /* every success looked up inside done() was in the log */
    bool submitted;
    size_t retry_of; /* index + 1 of the transfer (or batch) this one retries, 0 if none */
} job;

typedef struct {
    const char *txn;
    size_t len;
    bool found;
} find_txn;

static ws_status look_for(void *ctx, const ws_event *e) {
    find_txn *f = ctx;
    f->found |= e->transaction_len == f->len && memcmp(e->transaction, f->txn, f->len) == 0;
    return WS_OK;
}

/* The writer thread: whether a success is already in the log (every creation and every
 * fourth transfer is looked up: each lookup reads the account's events). */
static bool durable(const ws_command *cmd) {
    static size_t transfers_done;
    bool more;
    if (cmd->status == WS_CREATED) {
        find_txn f = {"", 0, false};
        return store_scan_events(st, 0, 1, cmd->account, cmd->account_len, look_for, &f, &more) ==
                   WS_OK &&
               f.found;
    }
    if (cmd->status != WS_OK || (!cmd->replayed && transfers_done++ % 4 != 0)) {
        return true; /* nothing to look up, or not looked up */
    }
    find_txn f = {cmd->transfer_id, cmd->transfer_id_len, false};
    return store_scan_events(st, 0, 100000, cmd->account, cmd->account_len, look_for, &f, &more) ==
               WS_OK &&
           f.found;
}

static void on_done(ws_group *g) {
    job *j = (job *)g;
    j->durable_at_done = true;
    for (size_t i = 0; i < g->n; i++) {
        j->durable_at_done &= durable(&g->cmds[i]);
    }
    atomic_fetch_add(&j->done_calls, 1);
    atomic_fetch_add(&done_total, 1);
}

static void set_id(char *dst, uint8_t *len, const char *src) {
    size_t n = strlen(src);
    CHECK(n >= 1 && n <= WS_ID_LEN_MAX, "id %s", src);
    *len = (uint8_t)n;
    memcpy(dst, src, n);
}

static job *new_job(ws_command_kind kind, const char *from, const char *to, uint64_t amount,
                    const char *tid, bool given) {
    job *j = calloc(1, sizeof(*j));
    CHECK(j != NULL, "out of memory");
    j->cmd.kind = kind;
    j->cmd.amount = amount;
    set_id(j->cmd.account, &j->cmd.account_len, from);
    if (kind == WS_CMD_TRANSFER) {
        set_id(j->cmd.to, &j->cmd.to_len, to);
        set_id(j->cmd.transfer_id, &j->cmd.transfer_id_len, tid);
        j->cmd.transfer_id_given = given;
    }
    j->group = (ws_group){.cmds = &j->cmd, .n = 1, .done = on_done};
    return j;
}

static job *new_batch(size_t n) {
    job *j = calloc(1, sizeof(*j));
    ws_command *cmds = calloc(n, sizeof(*cmds));
    CHECK(j != NULL && cmds != NULL, "out of memory");
    j->group = (ws_group){.cmds = cmds, .n = n, .done = on_done};
    return j;
}

static void free_job(job *j) {
    if (j->group.cmds != &j->cmd) {
        free(j->group.cmds);
    }
    free(j);
}

/* Submits, retrying while the queue is full; the final status. */
static ws_status submit(job *j, uint64_t deadline_ms) {
    for (uint64_t tries = 0;; tries++) {
        ws_status s = service_submit(svc, &j->group);
        if (s != WS_OVERLOADED || (tries % 256 == 255 && now_ms() > deadline_ms)) {
            j->submitted = s == WS_OK;
            return s;
        }
        sched_yield();
    }
}

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

typedef struct {
    size_t index;
    size_t round;
    job *jobs[PER_SUBMITTER];
    size_t count;         /* jobs made */
    size_t submitted;     /* of which accepted */
    ws_status stopped_by; /* WS_OK, or the refusal that ended the loop */
    bool saw_read_only;
} submitter;

static void *submit_transfers(void *arg) {
    submitter *s = arg;
    uint32_t x = 2463534242u + (uint32_t)(s->index * 7919u + s->round * 104729u);
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    for (size_t i = 0; i < PER_SUBMITTER; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        job *j;
        char tid[48];
        const job *prev = i > 0 ? s->jobs[i - 1] : NULL;
        if (i % 25 == 24 && prev->submitted && prev->cmd.transfer_id_given) {
            /* A client retry of the previous transfer, same parameters. */
            j = calloc(1, sizeof(*j));
            CHECK(j != NULL, "out of memory");
            memcpy(&j->cmd, &prev->cmd, offsetof(ws_command, status));
            j->group = (ws_group){.cmds = &j->cmd, .n = 1, .done = on_done};
            j->retry_of = i;
        } else {
            char from[16];
            char to[16];
            snprintf(from, sizeof(from), "acct-%u", x % ACCOUNTS);
            snprintf(to, sizeof(to), "acct-%u", (x >> 8) % ACCOUNTS);
            bool given = i % 2 == 1;
            snprintf(tid, sizeof(tid), "%s-%zu-%zu-%zu", given ? "client" : "gen", s->round,
                     s->index, i);
            j = new_job(WS_CMD_TRANSFER, from, to, 1 + (x >> 16) % 300, tid, given);
        }
        s->jobs[s->count++] = j;
        s->saw_read_only |= service_read_only(svc);
        ws_status rc = submit(j, deadline);
        if (rc != WS_OK) {
            s->stopped_by = rc;
            return NULL;
        }
        s->submitted++;
    }
    return NULL;
}

/* Batch submitters: groups of 1..BATCH_CMDS_MAX transfers, a fifth of them tied to the next
 * (linked), the last member now and then too (an open chain); every fifth batch resubmits
 * the one before it (if that one was accepted) as a client retry. */
typedef struct {
    size_t index;
    size_t round;
    job *jobs[BATCHES_PER];
    size_t count;
    size_t submitted;
    ws_status stopped_by;
    bool saw_read_only;
} batcher;

static atomic_size_t batches_in; /* batches accepted in this round, all batchers */

static uint32_t xorshift(uint32_t x) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

static job *random_batch(const batcher *b, size_t i, uint32_t *x) {
    *x = xorshift(*x);
    size_t n = 1 + *x % BATCH_CMDS_MAX;
    job *j = new_batch(n);
    for (size_t k = 0; k < n; k++) {
        *x = xorshift(*x);
        ws_command *c = &j->group.cmds[k];
        char from[16];
        char to[16];
        char tid[48];
        snprintf(from, sizeof(from), "acct-%u", *x % ACCOUNTS);
        snprintf(to, sizeof(to), "acct-%u", (*x >> 8) % ACCOUNTS);
        snprintf(tid, sizeof(tid), "batch-%zu-%zu-%zu-%zu", b->round, b->index, i, k);
        c->kind = WS_CMD_TRANSFER;
        c->amount = 1 + (*x >> 16) % 300;
        set_id(c->account, &c->account_len, from);
        set_id(c->to, &c->to_len, to);
        set_id(c->transfer_id, &c->transfer_id_len, tid);
        c->transfer_id_given = true;
        c->linked = k + 1 < n ? (*x >> 27) % 5 == 0 : (*x >> 24) % 16 == 0;
    }
    return j;
}

static void *submit_batches(void *arg) {
    batcher *b = arg;
    uint32_t x = 88172645u + (uint32_t)(b->index * 7907u + b->round * 104723u);
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    for (size_t i = 0; i < BATCHES_PER; i++) {
        job *j;
        const job *prev = i > 0 ? b->jobs[i - 1] : NULL;
        if (i % 5 == 4 && prev->submitted) {
            j = new_batch(prev->group.n);
            for (size_t k = 0; k < prev->group.n; k++) {
                memcpy(&j->group.cmds[k], &prev->group.cmds[k], offsetof(ws_command, status));
            }
            j->retry_of = i;
        } else {
            j = random_batch(b, i, &x);
        }
        b->jobs[b->count++] = j;
        b->saw_read_only |= service_read_only(svc);
        ws_status rc = submit(j, deadline);
        if (rc != WS_OK) {
            b->stopped_by = rc;
            return NULL;
        }
        b->submitted++;
        atomic_fetch_add(&batches_in, 1);
    }
    return NULL;
}

static bool same_accounts(const ws_command *c) {
    return c->account_len == c->to_len && memcmp(c->account, c->to, c->to_len) == 0;
}

/* A chain of k new members: all applied, or none (the first failure with its own code, the
 * others linked_event_failed); an open one all linked_event_chain_open. The members applied. */
static size_t check_chain(const ws_command *c, size_t k, bool open, size_t t, size_t i) {
    size_t ok = 0;
    size_t own = 0;
    for (size_t m = 0; m < k; m++) {
        CHECK(!c[m].replayed, "batch %zu/%zu: a new chain member replayed", t, i);
        ok += c[m].status == WS_OK;
        if (open) {
            CHECK(c[m].status == WS_LINKED_EVENT_CHAIN_OPEN, "batch %zu/%zu: open chain: %s", t, i,
                  ws_status_code(c[m].status));
        } else if (c[m].status != WS_OK && c[m].status != WS_LINKED_EVENT_FAILED) {
            ws_status want = same_accounts(&c[m]) ? WS_SAME_ACCOUNT : WS_INSUFFICIENT_FUNDS;
            CHECK(c[m].status == want, "batch %zu/%zu: chain member: %s", t, i,
                  ws_status_code(c[m].status));
            own++;
        }
    }
    CHECK(open || ok == k || (ok == 0 && own == 1),
          "batch %zu/%zu: a chain of %zu with %zu applied, %zu failed on their own", t, i, k, ok,
          own);
    return ok;
}

/* A fresh batch's answers; the transfers it applied. */
static size_t check_fresh_batch(const ws_group *g, size_t t, size_t i) {
    size_t applied = 0;
    for (size_t k = 0; k < g->n;) {
        const ws_command *c = &g->cmds[k];
        if (!c->linked) {
            CHECK(!c->replayed, "batch %zu/%zu: command %zu replayed", t, i, k);
            CHECK(same_accounts(c) ? c->status == WS_SAME_ACCOUNT
                                   : c->status == WS_OK || c->status == WS_INSUFFICIENT_FUNDS,
                  "batch %zu/%zu: command %zu: %s", t, i, k, ws_status_code(c->status));
            applied += c->status == WS_OK;
            k++;
            continue;
        }
        size_t e = k;
        while (e < g->n && g->cmds[e].linked) {
            e++;
        }
        bool open = e == g->n;
        size_t end = open ? g->n : e + 1;
        applied += check_chain(c, end - k, open, t, i);
        k = end;
    }
    return applied;
}

/* Every batch of a round; the transfers newly applied. */
static size_t check_batchers(batcher *bats, bool stopped_early) {
    size_t applied = 0;
    for (size_t t = 0; t < BATCHERS; t++) {
        batcher *b = &bats[t];
        CHECK(!b->saw_read_only, "the service turned read-only");
        CHECK(b->stopped_by == WS_OK || (stopped_early && b->stopped_by == WS_UNAVAILABLE),
              "batcher %zu: %zu submitted, then %d", t, b->submitted, b->stopped_by);
        CHECK(stopped_early || b->submitted == BATCHES_PER, "batcher %zu: %zu submitted", t,
              b->submitted);
        for (size_t i = 0; i < b->count; i++) {
            const job *j = b->jobs[i];
            int calls = atomic_load(&j->done_calls);
            CHECK(calls == (j->submitted ? 1 : 0), "batch %zu/%zu: %d done() calls", t, i, calls);
            if (!j->submitted) {
                continue;
            }
            CHECK(j->durable_at_done, "batch %zu/%zu answered before durable", t, i);
            if (!j->retry_of) {
                applied += check_fresh_batch(&j->group, t, i);
                continue;
            }
            const ws_group *o = &b->jobs[j->retry_of - 1]->group;
            for (size_t k = 0; k < o->n; k++) {
                const ws_command *c = &j->group.cmds[k];
                const ws_command *w = &o->cmds[k];
                CHECK(c->replayed && c->status == w->status && c->from_balance == w->from_balance &&
                          c->to_balance == w->to_balance,
                      "batch %zu/%zu: retried command %zu answered differently (%s, first %s)", t,
                      i, k, ws_status_code(c->status), ws_status_code(w->status));
            }
        }
    }
    return applied;
}

/* Reader threads: balances from the committed view while everything else runs. */
static atomic_bool readers_stop;
static atomic_size_t reads_found;

/* What GET /metrics reads, read while the writer counts: every counter only grows, and a
 * histogram's count is its +Inf bucket. */
static void read_metrics(service_metrics *prev) {
    service_metrics m;
    service_metrics_read(svc, &m);
    uint64_t total = 0, total_prev = 0;
    for (int i = 0; i < WS_STATUS_COUNT_; i++) {
        CHECK(m.commands[i] >= prev->commands[i], "commands[%d] went back", i);
        total += m.commands[i];
        total_prev += prev->commands[i];
    }
    CHECK(total >= total_prev && m.replays >= prev->replays, "commands went back");
    const stats_histogram_view *h = &m.commit_ns, *hp = &prev->commit_ns;
    CHECK(h->cumulative[h->bounds->count] >= hp->cumulative[hp->bounds->count],
          "commits went back");
    CHECK(m.last_seq >= prev->last_seq && m.last_lsn >= prev->last_lsn, "the log went back");
    CHECK(m.accounts <= ACCOUNTS + GROWTH_ACCOUNTS, "%llu accounts",
          (unsigned long long)m.accounts);
    *prev = m;
}

static void *read_balances(void *arg) {
    size_t index = (size_t)(uintptr_t)arg;
    service_reader *r = service_reader_new(svc);
    CHECK(r != NULL, "no reader slot");
    service_metrics seen;
    service_metrics_read(svc, &seen);
    for (size_t n = 0; !atomic_load(&readers_stop) && n < 50000000; n++) {
        if (n % 1024 == 0) {
            read_metrics(&seen);
        }
        char id[24];
        int64_t b;
        if (n % 3 == 2) {
            snprintf(id, sizeof(id), "grow-%zu", (n / 3 + index) % GROWTH_ACCOUNTS);
        } else {
            snprintf(id, sizeof(id), "acct-%zu", (n + index) % (ACCOUNTS + 1));
        }
        ws_status s = service_balance(r, id, strlen(id), &b);
        CHECK(s == WS_OK || s == WS_ACCOUNT_NOT_FOUND, "read %s: %d", id, s);
        if (s == WS_OK) {
            CHECK(b >= 0 && (uint64_t)b <= (uint64_t)ACCOUNTS * START_AMOUNT,
                  "read %s: impossible balance %lld", id, (long long)b);
            CHECK(strcmp(id, "acct-10") != 0, "read an account that was never created");
            atomic_fetch_add(&reads_found, 1);
        }
        if (n % 64 == 0) {
            sched_yield();
        }
    }
    return NULL;
}

/* Enough accounts that the table replaces its slot array a few times under the readers. */
static void grow_table(void) {
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    static job *jobs[GROWTH_ACCOUNTS];
    atomic_store(&done_total, 0);
    for (size_t i = 0; i < GROWTH_ACCOUNTS; i++) {
        char id[24];
        snprintf(id, sizeof(id), "grow-%zu", i);
        jobs[i] = new_job(WS_CMD_CREATE_ACCOUNT, id, NULL, 0, NULL, false);
        CHECK(submit(jobs[i], deadline) == WS_OK, "create %s refused", id);
    }
    CHECK(wait_done(GROWTH_ACCOUNTS), "growth creations not answered in time");
    for (size_t i = 0; i < GROWTH_ACCOUNTS; i++) {
        CHECK(jobs[i]->cmd.status == WS_CREATED, "create grow-%zu: %d", i, jobs[i]->cmd.status);
        free_job(jobs[i]);
    }
}

static void create_accounts(void) {
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    job *jobs[ACCOUNTS];
    for (size_t i = 0; i < ACCOUNTS; i++) {
        char id[16];
        snprintf(id, sizeof(id), "acct-%zu", i);
        jobs[i] = new_job(WS_CMD_CREATE_ACCOUNT, id, NULL, START_AMOUNT, NULL, false);
        CHECK(submit(jobs[i], deadline) == WS_OK, "create %s refused", id);
    }
    CHECK(wait_done(ACCOUNTS), "account creations not answered in time");
    for (size_t i = 0; i < ACCOUNTS; i++) {
        CHECK(jobs[i]->cmd.status == WS_CREATED, "create %zu: status %d", i, jobs[i]->cmd.status);
        CHECK(jobs[i]->durable_at_done, "create %zu answered before durable", i);
        free_job(jobs[i]);
    }
}

/* Checks every job of a round; returns the number of transfers newly applied. */
static size_t check_round(submitter *subs, bool stopped_early) {
    size_t applied = 0;
    for (size_t t = 0; t < SUBMITTERS; t++) {
        submitter *s = &subs[t];
        CHECK(!s->saw_read_only, "the service turned read-only");
        if (stopped_early) {
            CHECK(s->stopped_by == WS_OK || s->stopped_by == WS_UNAVAILABLE,
                  "submitter %zu: submit returned %d", t, s->stopped_by);
        } else {
            CHECK(s->stopped_by == WS_OK && s->submitted == PER_SUBMITTER,
                  "submitter %zu: %zu submitted, then %d", t, s->submitted, s->stopped_by);
        }
        for (size_t i = 0; i < s->count; i++) {
            const job *j = s->jobs[i];
            const ws_command *c = &j->cmd;
            int calls = atomic_load(&j->done_calls);
            CHECK(calls == (j->submitted ? 1 : 0), "job %zu/%zu: %d done() calls", t, i, calls);
            if (!j->submitted) {
                continue;
            }
            bool same = c->account_len == c->to_len && memcmp(c->account, c->to, c->to_len) == 0;
            if (j->retry_of) {
                const ws_command *o = &s->jobs[j->retry_of - 1]->cmd;
                CHECK(c->replayed, "retry %zu/%zu not replayed", t, i);
                CHECK(c->status == o->status && c->from_balance == o->from_balance &&
                          c->to_balance == o->to_balance,
                      "retry %zu/%zu answered differently", t, i);
            } else if (same) {
                CHECK(c->status == WS_SAME_ACCOUNT, "job %zu/%zu: status %d", t, i, c->status);
            } else {
                CHECK(c->status == WS_OK || c->status == WS_INSUFFICIENT_FUNDS,
                      "job %zu/%zu: status %d", t, i, c->status);
                CHECK(!c->replayed, "job %zu/%zu replayed", t, i);
            }
            if (c->status == WS_OK) {
                CHECK(j->durable_at_done, "job %zu/%zu answered before durable", t, i);
                applied += !c->replayed;
            }
        }
    }
    return applied;
}

/* One round of SUBMITTERS and BATCHERS threads; with stop_early the service is stopped while
 * they run. */
static size_t round_of_transfers(size_t round, bool stop_early) {
    static submitter subs[SUBMITTERS];
    static batcher bats[BATCHERS];
    memset(subs, 0, sizeof(subs));
    memset(bats, 0, sizeof(bats));
    atomic_store(&done_total, 0);
    pthread_t threads[SUBMITTERS];
    pthread_t bthreads[BATCHERS];
    atomic_store(&batches_in, 0);
    for (size_t t = 0; t < BATCHERS; t++) {
        bats[t].index = t;
        bats[t].round = round;
        bats[t].stopped_by = WS_OK;
        CHECK(pthread_create(&bthreads[t], NULL, submit_batches, &bats[t]) == 0, "thread");
    }
    if (stop_early) {
        /* Singles spinning on a full queue leave a batch of many transfers no room: let the
         * batches in first, so that the stop meets both kinds. */
        uint64_t deadline = now_ms() + WAIT_MS_MAX;
        while (atomic_load(&batches_in) < BATCHERS && now_ms() < deadline) {
            sleep_ms(1);
        }
    }
    for (size_t t = 0; t < SUBMITTERS; t++) {
        subs[t].index = t;
        subs[t].round = round;
        subs[t].stopped_by = WS_OK;
        CHECK(pthread_create(&threads[t], NULL, submit_transfers, &subs[t]) == 0, "thread");
    }
    if (stop_early) {
        sleep_ms(20);
        service_stop(svc); /* the submitters keep calling service_submit meanwhile */
    }
    size_t submitted = 0;
    for (size_t t = 0; t < SUBMITTERS; t++) {
        CHECK(join_within(threads[t], WAIT_MS_MAX), "submitter %zu stuck", t);
        submitted += subs[t].submitted;
    }
    size_t batches = 0;
    for (size_t t = 0; t < BATCHERS; t++) {
        CHECK(join_within(bthreads[t], WAIT_MS_MAX), "batcher %zu stuck", t);
        batches += bats[t].submitted;
    }
    if (stop_early) {
        /* Stopped: everything accepted was answered before service_stop returned. */
        CHECK(atomic_load(&done_total) == submitted + batches, "%zu answered of %zu accepted",
              atomic_load(&done_total), submitted + batches);
    } else {
        CHECK(wait_done(submitted + batches), "only %zu of %zu answered", atomic_load(&done_total),
              submitted + batches);
    }
    size_t applied = check_round(subs, stop_early);
    size_t batched = check_batchers(bats, stop_early);
    for (size_t t = 0; t < SUBMITTERS; t++) {
        for (size_t i = 0; i < subs[t].count; i++) {
            free_job(subs[t].jobs[i]);
        }
    }
    for (size_t t = 0; t < BATCHERS; t++) {
        for (size_t i = 0; i < bats[t].count; i++) {
            free_job(bats[t].jobs[i]);
        }
    }
    printf("tsan_service: round %zu: %zu single transfers accepted, %zu applied; %zu batches "
           "accepted, %zu of their transfers applied%s\n",
           round, submitted, applied, batches, batched,
           stop_early ? " (stopped while submitting)" : "");
    return applied + batched;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void) {
    char dir[] = "/tmp/ws_tsan_service_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(store_open(dir, false, &st) == WS_OK, "store_open %s", dir);
    service_config cfg = {.queue_max = 256, .batch_max = 32, .checkpoint_interval_ms = 20};
    CHECK(service_start(st, &cfg, &svc) == WS_OK, "service_start");
    pthread_t readers[READERS];
    for (size_t i = 0; i < READERS; i++) {
        CHECK(pthread_create(&readers[i], NULL, read_balances, (void *)(uintptr_t)i) == 0,
              "reader");
    }
    create_accounts();

    size_t applied = round_of_transfers(1, false);
    grow_table();
    applied += round_of_transfers(2, true);
    atomic_store(&readers_stop, true);
    for (size_t i = 0; i < READERS; i++) {
        CHECK(join_within(readers[i], WAIT_MS_MAX), "reader %zu stuck", i);
    }
    CHECK(atomic_load(&reads_found) > 0, "the readers never found an account");
    ws_command late = {.kind = WS_CMD_CREATE_ACCOUNT, .amount = 1, .account_len = 1};
    late.account[0] = 'z';
    ws_group late_group = {.cmds = &late, .n = 1, .done = on_done};
    CHECK(service_submit(svc, &late_group) == WS_UNAVAILABLE, "submit after stop accepted");
    service_free(svc);
    CHECK(applied > 0, "no transfer applied");

    /* Restart from disk: money conserved (sm_open refuses balances that do not add up to
     * the money created), the log verifies and holds each transfer once. */
    store_close(st);
    CHECK(store_open(dir, false, &st) == WS_OK, "reopen");
    sm *m;
    CHECK(sm_open(st, 32, &m) == WS_OK, "sm_open after the restart");
    CHECK(sm_total_money(m) == (ws_u128)ACCOUNTS * START_AMOUNT, "money not conserved");
    sm_free(m);
    FILE *devnull = fopen("/dev/null", "w");
    CHECK(devnull != NULL, "/dev/null");
    store_verify_report rep;
    CHECK(store_verify(st, devnull, &rep) == WS_OK, "verify: %llu problems",
          (unsigned long long)rep.problems);
    fclose(devnull);
    CHECK(rep.transfers == applied, "%llu transfers stored, %zu applied",
          (unsigned long long)rep.transfers, applied);
    CHECK(rep.events == ACCOUNTS + GROWTH_ACCOUNTS + 2 * applied, "%llu events",
          (unsigned long long)rep.events);
    store_close(st);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
