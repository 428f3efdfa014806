/* The checkpointer (see checkpoint.h). One checkpoint:
 *   1. scan the log from the newest checkpoint's next_lsn up to the committed position,
 *      collecting one (account, seq, balance after) triple per event, one idempotency
 *      entry per record with a transferID or key, and the pending transfers made or
 *      resolved (staged at once, the newest state of each last);
 *   2. sort the triples by account (stable, so seq order is kept): each account's run gives
 *      its index entries, and its last triple its balance as of the checkpoint;
 *   3. stage the directory chunks of the new accounts, every balance chunk touched (the
 *      previous checkpoint's chunk, patched), the index values (in key order), the
 *      idempotency parts, the pending transfers (those made in the range packed) and the
 *      meta; write them in one write, and flush once flush_records are unflushed. */
#include "engine/checkpoint.h"
#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint32_t account;
    bool two_phase; /* an event of a two-phase record: it goes in the 'y' index too */
    uint64_t seq;
    int64_t balance;
} triple;

/* One account's events in the sorted triples: from events[at] on, as long as the triples
 * are that account's. 8 bytes: a checkpoint after a start can touch every account. */
typedef struct {
    uint32_t account;
    uint32_t at;
} run;

struct ckpt {
    ckpt_config cfg;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping; /* under mu */
    bool poked;    /* under mu */
    _Atomic uint64_t done_lsn;
    _Atomic uint64_t durable_lsn; /* the newest flushed checkpoint's next_lsn */
    _Atomic uint64_t flushes;
    _Atomic uint64_t count;
    _Atomic uint64_t us_max; /* the longest checkpoint, scan to write (and flush, if any) */
    _Atomic uint64_t us_total;
    _Atomic bool poke_sent; /* the writer's poke is pending: do not send another */
    int reader;
    bool failed;
    store_ckpt *out;
    store_ckpt_meta meta; /* the newest checkpoint */
    /* one checkpoint's work, reused */
    triple *events;
    size_t event_count, event_cap;
    triple *sorted; /* the events by account, then seq (a counting sort into here) */
    size_t sorted_cap;
    uint32_t *counts; /* per account index, for the sort */
    size_t counts_cap;
    run *runs; /* the accounts touched, sorted by ID for the index keys */
    size_t run_count, run_cap;
    uint64_t *fps;
    uint64_t *lsns;
    size_t idem_count, idem_cap;
    /* the pending transfers made in the range (lsn order), each as of the range's end, and
     * the resolutions of those made before it: one put each */
    ws_pending_entry *made;
    size_t made_count, made_cap;
    ws_pending_entry *older;
    size_t older_count, older_cap;
    uint64_t range_lsn; /* the range's first lsn */
    uint64_t target_lsn;
    const char *problem;
};

static void *grow(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) {
        return p;
    }
    size_t n = *cap ? *cap : 4096;
    while (n < need) {
        n *= 2;
    }
    void *q = realloc(p, n * size);
    WS_ASSERT(q); /* out of memory on the checkpointer: nothing sane to do but stop */
    *cap = n;
    return q;
}

static void add_event(ckpt *c, uint32_t account, uint64_t seq, int64_t balance, bool two_phase) {
    c->events = grow(c->events, &c->event_cap, c->event_count + 1, sizeof(triple));
    c->events[c->event_count++] = (triple){account, two_phase, seq, balance};
}

static void add_idem(ckpt *c, const ws_record *r, uint64_t lsn) {
    size_t cap = c->idem_cap; /* both arrays grow alike */
    c->fps = grow(c->fps, &cap, c->idem_count + 1, sizeof(uint64_t));
    c->lsns = grow(c->lsns, &c->idem_cap, c->idem_count + 1, sizeof(uint64_t));
    c->fps[c->idem_count] = ws_idem_record_fp(store_fp_key(c->cfg.st), r);
    c->lsns[c->idem_count++] = lsn;
}

/* A pending transfer made (made) or resolved in the range. A resolution of one made in the
 * range updates its entry there (found by lsn: they were made in lsn order), so a pending
 * transfer made and posted in one range is put once, posted. */
static void stage_pending(ckpt *c, const ws_pending_entry *e, bool made) {
    if (made) {
        c->made = grow(c->made, &c->made_cap, c->made_count + 1, sizeof(*e));
        c->made[c->made_count++] = *e;
        return;
    }
    if (e->lsn >= c->range_lsn) {
        size_t lo = 0;
        size_t hi = c->made_count;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (c->made[mid].lsn < e->lsn) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (lo < c->made_count && c->made[lo].lsn == e->lsn) {
            c->made[lo] = *e; /* as the put of the resolution replaced the first */
            return;
        }
    }
    c->older = grow(c->older, &c->older_cap, c->older_count + 1, sizeof(*e));
    c->older[c->older_count++] = *e;
}

/* The made ones packed, a value per STORE_PENDING_PACK_MAX (a key per pending transfer was
 * part of what the memtable inserts, flushes and compactions of the projection cost more
 * under two-phase transfers than under single ones: docs/performance.md); the older ones,
 * resolved in this range, one by one. */
static void put_pending(ckpt *c) {
    for (size_t i = 0; i < c->made_count; i += STORE_PENDING_PACK_MAX) {
        size_t n = c->made_count - i;
        store_ckpt_put_pending_pack(c->out, c->made + i,
                                    n < STORE_PENDING_PACK_MAX ? n : STORE_PENDING_PACK_MAX);
    }
    for (size_t i = 0; i < c->older_count; i++) {
        store_ckpt_put_pending(c->out, &c->older[i]);
    }
}

/* ---- 1. collect ---------------------------------------------------------------------------- */

static ws_status collect(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq,
                         uint64_t timestamp_us) {
    (void)timestamp_us;
    ckpt *c = ctx;
    store_ckpt_meta *m = &c->meta;
    if (lsn >= c->target_lsn) {
        return WS_NOT_FOUND; /* the committed position of the start: done */
    }
    const ws_accounts *t = c->cfg.accounts;
    if (r->kind == WS_REC_ACCOUNT_CREATED) {
        uint32_t index = ws_accounts_read_index(t, r->account, r->account_len);
        if (index != m->account_count) {
            c->problem = "an account created in the log is not where the table has it";
            return WS_CORRUPT;
        }
        m->account_count++;
        m->total_money += r->amount;
        add_event(c, index, seq, (int64_t)r->amount, false);
        ws_account_params p = ws_record_params(r);
        if (!ws_account_params_is_default(&p)) {
            store_ckpt_put_params(c->out, index, &p);
        }
    } else if (r->kind == WS_REC_TRANSFER) {
        uint32_t from = ws_accounts_read_index(t, r->account, r->account_len);
        uint32_t to = ws_accounts_read_index(t, r->to, r->to_len);
        if (from == WS_ACCOUNT_NONE || to == WS_ACCOUNT_NONE) {
            c->problem = "a transfer's account is not in the table";
            return WS_CORRUPT;
        }
        add_event(c, from, seq, r->from_balance, false);
        add_event(c, to, seq + 1, r->to_balance, false);
        add_idem(c, r, lsn);
        m->transfers++;
    } else if (r->kind == WS_REC_PENDING || r->kind == WS_REC_RESOLVED) {
        uint32_t from = ws_accounts_read_index(t, r->account, r->account_len);
        uint32_t to = ws_accounts_read_index(t, r->to, r->to_len);
        if (from == WS_ACCOUNT_NONE || to == WS_ACCOUNT_NONE) {
            c->problem = "a pending transfer's account is not in the table";
            return WS_CORRUPT;
        }
        add_event(c, from, seq, r->from_balance, true);
        add_event(c, to, seq + 1, r->to_balance, true);
        if (r->txn_len > 0) {
            add_idem(c, r, lsn); /* an expiry has no transferID */
        }
        bool pending = r->kind == WS_REC_PENDING;
        /* a resolution's put replaces its pending transfer's if both are in this range */
        ws_pending_entry e = {.lsn = pending ? lsn : r->pending_lsn,
                              .id_hash = ws_ledger_pending_id_hash(
                                  store_fp_key(c->cfg.st), pending ? r->txn : r->pending,
                                  pending ? r->txn_len : r->pending_len),
                              .amount = pending ? r->amount : r->pending_amount,
                              .expires_us = pending ? r->expires_us : 0,
                              .from = from,
                              .to = to,
                              .status = pending                   ? WS_PENDING_OPEN
                                        : r->step == WS_STEP_POST ? WS_PENDING_POSTED
                                        : r->step == WS_STEP_VOID ? WS_PENDING_VOIDED
                                                                  : WS_PENDING_EXPIRED};
        stage_pending(c, &e, pending);
        m->transfers++;
    } else {
        add_idem(c, r, lsn); /* a TransferRefused, StepRefused or RequestKey */
        m->refusals += r->kind == WS_REC_TRANSFER_REFUSED || r->kind == WS_REC_STEP_REFUSED;
    }
    m->next_lsn = lsn + 1;
    m->next_seq = seq + ws_record_event_count(r->kind);
    return WS_OK;
}

/* ---- 3. stage ------------------------------------------------------------------------------- */

/* Sorts the events by account: a counting sort over the account indexes, stable, so each
 * account's events stay in seq order (they were collected in log order). Linear: a qsort of
 * the 524,288 events of a full checkpoint took about 60 ms. */
static void sort_by_account(ckpt *c) {
    size_t accounts = (size_t)c->meta.account_count + 1;
    c->counts = grow(c->counts, &c->counts_cap, accounts, sizeof(uint32_t));
    c->sorted = grow(c->sorted, &c->sorted_cap, c->event_count, sizeof(triple));
    memset(c->counts, 0, accounts * sizeof(uint32_t));
    for (size_t i = 0; i < c->event_count; i++) {
        c->counts[c->events[i].account + 1]++;
    }
    for (size_t a = 1; a < accounts; a++) {
        c->counts[a] += c->counts[a - 1]; /* counts[a]: where account a's events begin */
    }
    for (size_t i = 0; i < c->event_count; i++) {
        c->sorted[c->counts[c->events[i].account]++] = c->events[i];
    }
    triple *t = c->events;
    c->events = c->sorted;
    c->sorted = t;
    size_t cap = c->event_cap;
    c->event_cap = c->sorted_cap;
    c->sorted_cap = cap;
}

static void stage_directory(ckpt *c, uint64_t from_count) {
    const char *ids[STORE_CHUNK_ACCOUNTS];
    uint8_t lens[STORE_CHUNK_ACCOUNTS];
    uint64_t to = c->meta.account_count;
    for (uint64_t chunk = from_count / STORE_CHUNK_ACCOUNTS;
         chunk * STORE_CHUNK_ACCOUNTS < to && from_count < to; chunk++) {
        uint64_t first = chunk * STORE_CHUNK_ACCOUNTS;
        size_t n = (size_t)(to - first < STORE_CHUNK_ACCOUNTS ? to - first : STORE_CHUNK_ACCOUNTS);
        for (size_t i = 0; i < n; i++) {
            ids[i] = ws_accounts_id(c->cfg.accounts, (uint32_t)(first + i), &lens[i]);
        }
        store_ckpt_put_directory(c->out, (uint32_t)chunk, ids, lens, n);
    }
}

/* The balance chunk of the accounts in events[at..end) (one chunk's), patched onto the
 * previous checkpoint's. */
static WS_MUST_USE ws_status stage_balances(ckpt *c, uint32_t chunk, size_t at, size_t end) {
    int64_t vals[STORE_CHUNK_ACCOUNTS];
    size_t old_n;
    ws_status s = store_ckpt_balances(c->cfg.st, chunk, vals, &old_n);
    if (s != WS_OK) {
        return s;
    }
    uint64_t first = (uint64_t)chunk * STORE_CHUNK_ACCOUNTS;
    uint64_t left = c->meta.account_count - first;
    size_t n = (size_t)(left < STORE_CHUNK_ACCOUNTS ? left : STORE_CHUNK_ACCOUNTS);
    size_t fresh = 0;
    for (size_t i = at; i < end; i++) {
        /* the last triple of each account's run holds its newest balance */
        if (i + 1 == end || c->events[i + 1].account != c->events[i].account) {
            size_t k = c->events[i].account - first;
            fresh += k >= old_n;
            vals[k] = c->events[i].balance;
        }
    }
    if (old_n > n || fresh != n - old_n) {
        c->problem = "a balance chunk does not hold the accounts it should";
        return WS_CORRUPT;
    }
    store_ckpt_put_balances(c->out, chunk, vals, n);
    return WS_OK;
}

/* The end of the run at r in the sorted triples. */
static size_t run_end(const ckpt *c, const run *r) {
    size_t j = r->at;
    while (j < c->event_count && c->events[j].account == r->account) {
        j++;
    }
    return j;
}

/* The run's values of index ix: all its events ('x') or those of two-phase records ('y'). */
static void stage_index(ckpt *c, const run *r, store_index ix, uint64_t *seqs) {
    uint8_t len;
    const char *id = ws_accounts_id(c->cfg.accounts, r->account, &len);
    size_t n = 0;
    for (size_t k = r->at, end = run_end(c, r); k < end; k++) {
        if (ix == STORE_INDEX_EVENTS || c->events[k].two_phase) {
            seqs[n++] = c->events[k].seq;
        }
        if (n == STORE_INDEX_SEQS_MAX || (k + 1 == end && n > 0)) {
            store_ckpt_put_index(c->out, ix, id, len, seqs, n);
            n = 0;
        }
    }
}

/* Runs in the order of their index keys: by ID, a prefix first (its key's 0x00 sorts
 * before any ID byte). */
static int run_order(const void *a, const void *b, void *accounts) {
    uint8_t xl;
    uint8_t yl;
    const char *x = ws_accounts_id(accounts, ((const run *)a)->account, &xl);
    const char *y = ws_accounts_id(accounts, ((const run *)b)->account, &yl);
    int d = memcmp(x, y, xl < yl ? xl : yl);
    return d != 0 ? d : (int)xl - (int)yl;
}

/* The balance chunks in account order, then the 'x' values and the 'y' values each in key
 * order: RocksDB's memtable inserts a batch's keys with the position of the previous insert
 * as its starting point, so keys in ascending order are found in a few comparisons where
 * keys in account-index order searched the skiplist from its top. The sort is of the
 * accounts touched, one qsort; the inserts were half the checkpointer's CPU under a load of
 * two-phase transfers (perf, docs/performance.md). */
static WS_MUST_USE ws_status stage_accounts(ckpt *c) {
    if (c->event_count == 0) {
        return WS_OK; /* refusals only: no account changed */
    }
    sort_by_account(c);
    c->run_count = 0;
    size_t chunk_at = 0;
    ws_status s = WS_OK;
    for (size_t i = 0; i < c->event_count && s == WS_OK;) {
        size_t j = i;
        uint32_t a = c->events[i].account;
        while (j < c->event_count && c->events[j].account == a) {
            j++;
        }
        c->runs = grow(c->runs, &c->run_cap, c->run_count + 1, sizeof(run));
        c->runs[c->run_count++] = (run){a, (uint32_t)i};
        /* the chunk ends: its balances */
        uint32_t chunk = a / STORE_CHUNK_ACCOUNTS;
        if (j == c->event_count || c->events[j].account / STORE_CHUNK_ACCOUNTS != chunk) {
            s = stage_balances(c, chunk, chunk_at, j);
            chunk_at = j;
        }
        i = j;
    }
    if (s != WS_OK) {
        return s;
    }
    qsort_r(c->runs, c->run_count, sizeof(run), run_order, (void *)c->cfg.accounts);
    uint64_t seqs[STORE_INDEX_SEQS_MAX];
    for (size_t i = 0; i < c->run_count; i++) {
        stage_index(c, &c->runs[i], STORE_INDEX_EVENTS, seqs);
    }
    for (size_t i = 0; i < c->run_count; i++) {
        stage_index(c, &c->runs[i], STORE_INDEX_TWO_PHASE, seqs);
    }
    return WS_OK;
}

static void stage_idem(ckpt *c, uint64_t first_lsn) {
    for (size_t at = 0, part = 0; at < c->idem_count; at += STORE_IDEM_PART_MAX, part++) {
        size_t n = c->idem_count - at;
        n = n < STORE_IDEM_PART_MAX ? n : STORE_IDEM_PART_MAX;
        store_ckpt_put_idem(c->out, first_lsn, (uint32_t)part, c->fps + at, c->lsns + at, n);
    }
}

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Flushes the checkpoints written since the last flush if they cover flush_records records,
 * or any at all when last (the stop). */
static WS_MUST_USE ws_status maybe_flush(ckpt *c, bool last) {
    uint64_t durable = atomic_load(&c->durable_lsn);
    uint64_t unflushed = c->meta.next_lsn - durable;
    if (unflushed == 0 || (!last && unflushed < c->cfg.flush_records)) {
        return WS_OK;
    }
    ws_status s = store_ckpt_flush(c->cfg.st);
    if (s == WS_OK) {
        atomic_store(&c->durable_lsn, c->meta.next_lsn);
        atomic_fetch_add(&c->flushes, 1);
    }
    return s;
}

/* One checkpoint up to the committed position (WS_OK if there was nothing to do), flushed
 * as maybe_flush says. */
static WS_MUST_USE ws_status checkpoint(ckpt *c, bool last) {
    c->target_lsn = atomic_load_explicit(&c->cfg.committed->next_lsn, memory_order_acquire);
    if (c->target_lsn <= c->meta.next_lsn) {
        return maybe_flush(c, last);
    }
    uint64_t t0 = now_us();
    store_ckpt_meta before = c->meta;
    c->event_count = 0;
    c->idem_count = 0;
    c->made_count = 0;
    c->older_count = 0;
    c->range_lsn = before.next_lsn;
    c->problem = NULL;
    epoch_enter(c->cfg.epoch, c->reader);
    ws_status s = store_scan_log(c->cfg.st, before.next_lsn, collect, c);
    s = s == WS_NOT_FOUND ? WS_OK : s;
    if (s == WS_OK && c->meta.next_lsn != c->target_lsn) {
        c->problem = "the log ends before the committed position";
        s = WS_CORRUPT;
    }
    if (s == WS_OK) {
        stage_directory(c, before.account_count);
        s = stage_accounts(c);
    }
    epoch_exit(c->cfg.epoch, c->reader);
    if (s == WS_OK) {
        stage_idem(c, before.next_lsn);
        put_pending(c);
        store_ckpt_put_meta(c->out, &c->meta);
        s = store_ckpt_write(c->cfg.st, c->out);
    }
    if (s != WS_OK) {
        const char *why = c->problem ? c->problem : ws_status_message(s);
        ws_log(WS_LOG_ERROR,
               WS_FIELDS(WS_LOG_STR("event", "checkpoint_failed"),
                         WS_LOG_NUM("from_lsn", before.next_lsn),
                         WS_LOG_NUM("to_lsn", c->target_lsn - 1), WS_LOG_STR("why", why)),
               "checkpoint of lsn %llu..%llu failed: %s", (unsigned long long)before.next_lsn,
               (unsigned long long)c->target_lsn - 1, why);
        c->meta = before;
        return s;
    }
    atomic_store(&c->done_lsn, c->meta.next_lsn);
    atomic_fetch_add(&c->count, 1);
    s = maybe_flush(c, last);
    if (s != WS_OK) {
        ws_log(WS_LOG_ERROR,
               WS_FIELDS(WS_LOG_STR("event", "checkpoint_failed"),
                         WS_LOG_NUM("from_lsn", atomic_load(&c->durable_lsn)),
                         WS_LOG_NUM("to_lsn", c->meta.next_lsn - 1), WS_LOG_STR("why", "flush")),
               "flush of the checkpoints of lsn %llu..%llu failed",
               (unsigned long long)atomic_load(&c->durable_lsn),
               (unsigned long long)c->meta.next_lsn - 1);
        return s;
    }
    uint64_t took = now_us() - t0;
    atomic_fetch_add(&c->us_total, took);
    if (took > atomic_load(&c->us_max)) {
        atomic_store(&c->us_max, took);
    }
    return WS_OK;
}

/* ---- the thread ----------------------------------------------------------------------------- */

static void deadline_after(struct timespec *ts, uint64_t ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *ckpt_main(void *arg) {
    ckpt *c = arg;
    pthread_setname_np(pthread_self(), "ws-checkpoint");
    bool stop = false;
    while (!stop) {
        struct timespec ts;
        deadline_after(&ts, c->cfg.interval_ms);
        pthread_mutex_lock(&c->mu);
        while (!c->stopping && !c->poked) {
            if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0) {
                break; /* the interval passed */
            }
        }
        stop = c->stopping;
        c->poked = false;
        pthread_mutex_unlock(&c->mu);
        atomic_store(&c->poke_sent, false);
        if (!c->failed && checkpoint(c, stop) != WS_OK) {
            c->failed = true;
            c->cfg.on_failure(c->cfg.ctx);
        }
    }
    return NULL;
}

ws_status ckpt_start(const ckpt_config *cfg, ckpt **out) {
    ckpt *c = calloc(1, sizeof(*c));
    if (!c) {
        return WS_INTERNAL;
    }
    c->cfg = *cfg;
    c->meta = cfg->from;
    c->reader = epoch_reader_add(cfg->epoch); /* here, before any I/O thread takes one */
    atomic_init(&c->done_lsn, cfg->from.next_lsn);
    atomic_init(&c->durable_lsn, cfg->from.next_lsn);
    c->cfg.flush_records = cfg->flush_records ? cfg->flush_records : CKPT_FLUSH_RECORDS_DEFAULT;
    c->out = store_ckpt_new();
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (!c->out || c->reader < 0 || pthread_create(&c->tid, NULL, ckpt_main, c) != 0) {
        store_ckpt_free(c->out);
        free(c);
        return WS_INTERNAL;
    }
    *out = c;
    return WS_OK;
}

void ckpt_poke(ckpt *c, uint64_t next_lsn) {
    if (next_lsn - atomic_load_explicit(&c->done_lsn, memory_order_relaxed) < CKPT_RECORDS_MAX ||
        atomic_exchange(&c->poke_sent, true)) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->poked = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void ckpt_stop(ckpt *c) {
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->tid, NULL);
}

void ckpt_free(ckpt *c) {
    if (!c) {
        return;
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    store_ckpt_free(c->out);
    free(c->events);
    free(c->made);
    free(c->older);
    free(c->sorted);
    free(c->counts);
    free(c->runs);
    free(c->fps);
    free(c->lsns);
    free(c);
}

uint64_t ckpt_count(ckpt *c) { return atomic_load(&c->count); }

uint64_t ckpt_us_max(ckpt *c) { return atomic_load(&c->us_max); }

uint64_t ckpt_us_total(ckpt *c) { return atomic_load(&c->us_total); }

uint64_t ckpt_durable_lsn(ckpt *c) { return atomic_load(&c->durable_lsn); }

uint64_t ckpt_flushes(ckpt *c) { return atomic_load(&c->flushes); }

uint64_t ckpt_next_lsn(ckpt *c) { return atomic_load(&c->done_lsn); }
