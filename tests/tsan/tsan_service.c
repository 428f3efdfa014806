/* ThreadSanitizer test of engine/service: the queue, the writer thread and the checkpointer
 * on a real store, and the lock-free read path. Submitter threads send transfers (some with
 * client transferIDs, some retried) while the writer validates, commits and answers them
 * and reader threads read balances from the committed view the whole time (also while
 * thousands of accounts are created, so that the account table replaces its slot array
 * under the readers and frees the old ones through the epochs); a second round stops the
 * service while the submitters are still sending. Checks: every accepted command gets
 * exactly one done(), after its outcome is in the log; refused ones get none; retries replay
 * the first answer; readers never see an unknown account or an impossible balance; after a
 * restart money is conserved and the log verifies with every applied transfer once. Every
 * wait is bounded. */
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
#define WAIT_MS_MAX 120000u

static store *st;
static service *svc;
static atomic_size_t done_total;

typedef struct {
    ws_command cmd; /* first, so done() can recover the job */
    atomic_int done_calls;
    bool durable_at_done;
    bool submitted;
    size_t retry_of; /* index + 1 of the transfer this one retries, 0 if none */
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

/* The writer thread: a success must already be in the log (every creation and every
 * fourth transfer is looked up: each lookup reads the account's events). */
static void on_done(ws_command *cmd) {
    job *j = (job *)cmd;
    static size_t transfers_done;
    bool more;
    if (cmd->status == WS_CREATED) {
        find_txn f = {"", 0, false};
        j->durable_at_done =
            store_scan_events(st, 0, 1, cmd->account, cmd->account_len, look_for, &f, &more) ==
                WS_OK &&
            f.found;
    } else if (cmd->status == WS_OK && !cmd->replayed && transfers_done++ % 4 != 0) {
        j->durable_at_done = true; /* not looked up */
    } else if (cmd->status == WS_OK) {
        find_txn f = {cmd->transfer_id, cmd->transfer_id_len, false};
        j->durable_at_done = store_scan_events(st, 0, 100000, cmd->account, cmd->account_len,
                                               look_for, &f, &more) == WS_OK &&
                             f.found;
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
    j->cmd.done = on_done;
    return j;
}

/* Submits, retrying while the queue is full; the final status. */
static ws_status submit(job *j, uint64_t deadline_ms) {
    for (uint64_t tries = 0;; tries++) {
        ws_status s = service_submit(svc, &j->cmd);
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
            j->cmd.done = on_done;
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

/* Reader threads: balances from the committed view while everything else runs. */
static atomic_bool readers_stop;
static atomic_size_t reads_found;

static void *read_balances(void *arg) {
    size_t index = (size_t)(uintptr_t)arg;
    service_reader *r = service_reader_new(svc);
    CHECK(r != NULL, "no reader slot");
    for (size_t n = 0; !atomic_load(&readers_stop) && n < 50000000; n++) {
        char id[24];
        uint64_t b;
        if (n % 3 == 2) {
            snprintf(id, sizeof(id), "grow-%zu", (n / 3 + index) % GROWTH_ACCOUNTS);
        } else {
            snprintf(id, sizeof(id), "acct-%zu", (n + index) % (ACCOUNTS + 1));
        }
        ws_status s = service_balance(r, id, strlen(id), &b);
        CHECK(s == WS_OK || s == WS_ACCOUNT_NOT_FOUND, "read %s: %d", id, s);
        if (s == WS_OK) {
            CHECK(b <= (uint64_t)ACCOUNTS * START_AMOUNT, "read %s: impossible balance %llu", id,
                  (unsigned long long)b);
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
        free(jobs[i]);
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
        free(jobs[i]);
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

/* One round of SUBMITTERS threads; with stop_early the service is stopped while they run. */
static size_t round_of_transfers(size_t round, bool stop_early) {
    static submitter subs[SUBMITTERS];
    memset(subs, 0, sizeof(subs));
    atomic_store(&done_total, 0);
    pthread_t threads[SUBMITTERS];
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
    if (stop_early) {
        /* Stopped: everything accepted was answered before service_stop returned. */
        CHECK(atomic_load(&done_total) == submitted, "%zu answered of %zu accepted",
              atomic_load(&done_total), submitted);
    } else {
        CHECK(wait_done(submitted), "only %zu of %zu answered", atomic_load(&done_total),
              submitted);
    }
    size_t applied = check_round(subs, stop_early);
    for (size_t t = 0; t < SUBMITTERS; t++) {
        for (size_t i = 0; i < subs[t].count; i++) {
            free(subs[t].jobs[i]);
        }
    }
    printf("tsan_service: round %zu: %zu accepted, %zu applied%s\n", round, submitted, applied,
           stop_early ? " (stopped while submitting)" : "");
    return applied;
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
        CHECK(pthread_create(&readers[i], NULL, read_balances, (void *)(uintptr_t)i) == 0, "reader");
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
    CHECK(service_submit(svc, &late) == WS_UNAVAILABLE, "submit after stop accepted");
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
