/* Unit tests for store/: the data-format-2 store on a fresh temporary directory per test.
 *
 * The store is driven directly, without the state machine, so that the tests write exactly
 * the log they want. Each test keeps a model of what it wrote (every record with its lsn,
 * first seq and timestamp), and the reads are checked against that model: records by lsn,
 * scans of the log from any lsn, and every events page (after, limit, more; all events or one
 * account's) over the log alone, over checkpoints written by hand the way
 * src/engine/checkpoint.c writes them, and over the log tail after the newest one. An
 * account's history (store_scan_account over every range of seqs, both directions, all events
 * or those of two-phase records; store_account_last; store_seq_after_time) is checked the same
 * way over a log of two-phase records the ledger decides, and over what the checkpointer
 * itself writes (the one test that opens the state machine, to run src/engine/checkpoint.c).
 *
 * The audit (store_verify) must accept all of that with no problem, and report each defect
 * planted on purpose. Defects the store's interface cannot write (a damaged block, a missing
 * seq-index entry) are written into the log/ database directly with RocksDB's C API while
 * the store is closed. */
#include <criterion/criterion.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/crc32c.h"
#include "core/ledger.h"
#include "engine/checkpoint.h"
#include "engine/epoch.h"
#include "engine/sm.h"
#include "recordutil.h"
#include "store/store.h"
#include "testutil.h"

#define NOW_US 1700000000000000u
#define DIR_TEMPLATE "/tmp/ws_store_test_XXXXXX"
#define MODEL_MAX 8192
#define EVENTS_MAX (2 * MODEL_MAX)

static char dir[sizeof(DIR_TEMPLATE)];
static store *st;
static store *st_ro;

/* ---- the model of what a test wrote -----------------------------------------------------------
 */

typedef struct {
    ws_record r;
    uint64_t lsn;
    uint64_t seq;
    uint64_t ts;
} mrec;

static mrec *model;
static size_t model_n;
static uint64_t next_lsn = 1;
static uint64_t next_seq = 1;
static ws_event *events; /* the model's events, by seq - 1 */
static size_t event_n;
/* The tests of two-phase records decide them through the ledger on this state of the model
 * (see "two-phase records" below). */
static ws_ledger hist;
static bool hist_live;

static void setup(void) {
    tmpdir_make(dir, DIR_TEMPLATE, sizeof(DIR_TEMPLATE));
    cr_assert_eq(store_open(dir, false, &st), WS_OK);
    model = calloc(MODEL_MAX, sizeof(*model));
    events = calloc(EVENTS_MAX, sizeof(*events));
    cr_assert(model && events);
    model_n = 0;
    event_n = 0;
    next_lsn = 1;
    next_seq = 1;
}

static void teardown(void) {
    store_close(st_ro);
    store_close(st);
    st_ro = NULL;
    st = NULL;
    free(model);
    free(events);
    if (hist_live) {
        ws_ledger_free(&hist);
        hist_live = false;
    }
    tmpdir_remove(dir);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 120);

static void close_store(void) {
    store_close(st);
    st = NULL;
}

static void reopen_store(void) {
    cr_assert_null(st);
    cr_assert_eq(store_open(dir, false, &st), WS_OK, "reopen");
}

/* Appends recs as one group commit with timestamp ts, and to the model. */
static void append(const ws_record *recs, size_t n, uint64_t ts) {
    store_batch *b = store_batch_new();
    cr_assert_not_null(b);
    store_batch_begin(b, next_lsn, next_seq, ts);
    for (size_t i = 0; i < n; i++) {
        store_batch_add(b, &recs[i]);
        cr_assert_eq(store_batch_count(b), i + 1);
        cr_assert_lt(model_n, MODEL_MAX);
        model[model_n++] = (mrec){recs[i], next_lsn, next_seq, ts};
        ws_event ev[2];
        unsigned k = ws_record_events(&recs[i], next_seq, ts, ev);
        for (unsigned j = 0; j < k; j++) {
            cr_assert_lt(event_n, EVENTS_MAX);
            events[event_n++] = ev[j];
        }
        next_lsn++;
        next_seq += k;
    }
    cr_assert_eq(store_commit(st, b), WS_OK);
    cr_assert_eq(store_batch_count(b), 0, "commit did not empty the batch");
    store_batch_free(b);
}

static void append1(ws_record r, uint64_t ts) { append(&r, 1, ts); }

static void assert_log_end(store *s, uint64_t lsn, uint64_t seq) {
    uint64_t l = 0;
    uint64_t q = 0;
    cr_assert_eq(store_log_end(s, &l, &q, NULL), WS_OK);
    cr_assert_eq(l, lsn, "log end lsn %llu, want %llu", (unsigned long long)l,
                 (unsigned long long)lsn);
    cr_assert_eq(q, seq, "log end seq %llu, want %llu", (unsigned long long)q,
                 (unsigned long long)seq);
}

/* Every record of the model reads back by its lsn. */
static void assert_records(store *s) {
    for (size_t i = 0; i < model_n; i++) {
        ws_record got;
        cr_assert_eq(store_read_record(s, model[i].lsn, &got), WS_OK, "lsn %llu",
                     (unsigned long long)model[i].lsn);
        rec_assert_eq(&got, &model[i].r, "read back");
    }
    ws_record got;
    cr_assert_eq(store_read_record(s, next_lsn, &got), WS_NOT_FOUND);
    cr_assert_eq(store_read_record(s, 0, &got), WS_NOT_FOUND);
    cr_assert_eq(store_read_record(s, UINT64_MAX, &got), WS_NOT_FOUND);
}

/* A small log: five accounts, transfers among them, refusals, over three group commits. */
static void write_small_log(void) {
    ws_record b1[5] = {
        rec_created("alice", 100),
        rec_created("bob", 0),
        rec_created("carol", 50),
        rec_transfer("alice", "bob", "t1", 30, 70, 30),
        rec_refused(WS_INSUFFICIENT_FUNDS, 0, "bob", "carol", "r1", 500),
    };
    append(b1, 5, NOW_US + 1);
    ws_record b2[4] = {
        rec_transfer("carol", "alice", "t2", 50, 0, 120),
        rec_created("dave", 7),
        rec_refused(WS_ACCOUNT_NOT_FOUND, 2, "dave", "erin", "r2", 1),
        rec_transfer("bob", "dave", "t3", 10, 20, 17),
    };
    append(b2, 4, NOW_US + 2);
    ws_record b3[3] = {
        rec_created("erin", 0),
        rec_transfer("alice", "erin", "t4", 120, 0, 120),
        rec_transfer("dave", "carol", "t5", 17, 0, 17),
    };
    append(b3, 3, NOW_US + 3);
}

/* ---- a checkpoint written by hand ---------------------------------------------------------------
 */

typedef struct {
    uint32_t account;
    uint64_t seq;
} acct_seq;

static int by_account_seq(const void *pa, const void *pb) {
    const acct_seq *a = pa;
    const acct_seq *b = pb;
    if (a->account != b->account) {
        return a->account < b->account ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The model replayed through the ledger from empty. */
static void replay_model(ws_ledger *l) {
    cr_assert_eq(ws_ledger_init(l, store_fp_key(st)), WS_OK);
    for (size_t i = 0; i < model_n; i++) {
        ws_effect eff;
        const char *why;
        l->now_us = model[i].ts; /* the block's clock: a pending transfer's expiry */
        cr_assert_eq(ws_ledger_apply(l, &model[i].r, model[i].lsn, model[i].seq, &eff, &why), WS_OK,
                     "the model does not apply: %s", why);
    }
}

/* Stages per-account index ix of the events from first_seq on (for 'y', only those of
 * two-phase records), by account then seq. */
static void stage_index(store_ckpt *c, store_index ix, const ws_ledger *l, uint64_t first_seq) {
    acct_seq *pairs = calloc(event_n + 1, sizeof(*pairs));
    uint64_t *seqs = calloc(event_n + 1, sizeof(uint64_t));
    cr_assert(pairs && seqs);
    size_t np = 0;
    for (size_t i = first_seq - 1; i < event_n; i++) {
        if (ix == STORE_INDEX_TWO_PHASE && !events[i].two_phase) {
            continue;
        }
        uint32_t a = ws_accounts_find(l->accounts, events[i].account, events[i].account_len);
        cr_assert_neq(a, WS_ACCOUNT_NONE);
        pairs[np++] = (acct_seq){a, events[i].seq};
    }
    qsort(pairs, np, sizeof(*pairs), by_account_seq);
    for (size_t i = 0; i < np;) {
        size_t j = i;
        while (j < np && pairs[j].account == pairs[i].account) {
            seqs[j - i] = pairs[j].seq;
            j++;
        }
        uint8_t len;
        const char *id = ws_accounts_id(l->accounts, pairs[i].account, &len);
        store_ckpt_put_index(c, ix, id, len, seqs, j - i);
        i = j;
    }
    free(seqs);
    free(pairs);
}

/* Stages the idempotency entries of the records from first_lsn on, as the checkpointer does. */
static void stage_idem(store_ckpt *c, uint64_t first_lsn) {
    uint64_t *fps = calloc(model_n + 1, sizeof(uint64_t));
    uint64_t *lsns = calloc(model_n + 1, sizeof(uint64_t));
    cr_assert(fps && lsns);
    size_t n = 0;
    for (size_t i = first_lsn - 1; i < model_n; i++) {
        /* an AccountCreated and an expiry (no transferID of its own) have none */
        uint64_t fp = ws_idem_record_fp(store_fp_key(st), &model[i].r);
        if (fp != 0) {
            fps[n] = fp;
            lsns[n++] = model[i].lsn;
        }
    }
    if (n > 0) {
        store_ckpt_put_idem(c, first_lsn, 0, fps, lsns, n);
    }
    free(fps);
    free(lsns);
}

/* A checkpoint written without its 'y' values (as one written before the two-phase index
 * existed would be): the audit must notice. */
static bool ckpt_skip_two_phase_index;

/* Stages every pending transfer of the ledger as of its end: those made from first_lsn on
 * packed ('Q', packs of at most pack_max), the older ones one by one ('q'; each overrides
 * its pack's entry, and putting them all again is the same as putting those resolved). */
static void stage_pending(store_ckpt *c, const ws_ledger *l, uint64_t first_lsn, size_t pack_max) {
    size_t n = ws_pending_count(l->pending);
    size_t i = 0;
    for (; i < n && ws_pending_at(l->pending, i)->lsn < first_lsn; i++) {
        store_ckpt_put_pending(c, ws_pending_at(l->pending, i));
    }
    static ws_pending_entry pack[STORE_PENDING_PACK_MAX];
    size_t k = 0;
    for (; i < n; i++) {
        pack[k++] = *ws_pending_at(l->pending, i);
        if (k == pack_max || i + 1 == n) {
            store_ckpt_put_pending_pack(c, pack, k);
            k = 0;
        }
    }
}

/* The pack size write_checkpoint uses: small, so that the histories' checkpoints have more
 * than one pack. */
#define TEST_PACK_MAX 2

/* Writes a checkpoint of everything appended so far, on top of the newest one, the way the
 * checkpointer does: the directory, the balances of every chunk, the per-account indexes of
 * the events since the previous checkpoint ('x' all, 'y' those of two-phase records), the
 * idempotency entries of its records, the pending transfers, the meta. */
static void write_checkpoint(void) {
    store_ckpt_meta prev;
    cr_assert_eq(store_ckpt_meta_get(st, &prev), WS_OK);
    ws_ledger l;
    replay_model(&l);
    size_t count = ws_accounts_count(l.accounts);
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    static const char *ids[STORE_CHUNK_ACCOUNTS];
    static uint8_t lens[STORE_CHUNK_ACCOUNTS];
    static int64_t bal[STORE_CHUNK_ACCOUNTS];
    for (size_t first = 0; first < count; first += STORE_CHUNK_ACCOUNTS) {
        size_t n = count - first < STORE_CHUNK_ACCOUNTS ? count - first : STORE_CHUNK_ACCOUNTS;
        for (size_t i = 0; i < n; i++) {
            ids[i] = ws_accounts_id(l.accounts, (uint32_t)(first + i), &lens[i]);
            bal[i] = ws_accounts_balance(l.accounts, (uint32_t)(first + i));
        }
        uint32_t chunk = (uint32_t)(first / STORE_CHUNK_ACCOUNTS);
        store_ckpt_put_directory(c, chunk, ids, lens, n);
        store_ckpt_put_balances(c, chunk, bal, n);
    }
    stage_index(c, STORE_INDEX_EVENTS, &l, prev.next_seq);
    if (!ckpt_skip_two_phase_index) {
        stage_index(c, STORE_INDEX_TWO_PHASE, &l, prev.next_seq);
    }
    stage_idem(c, prev.next_lsn);
    stage_pending(c, &l, prev.next_lsn, TEST_PACK_MAX);
    store_ckpt_meta m = {.next_lsn = l.next_lsn,
                         .next_seq = l.next_seq,
                         .account_count = count,
                         .total_money = l.total_money,
                         .transfers = l.transfers,
                         .refusals = l.refusals};
    store_ckpt_put_meta(c, &m);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    ws_ledger_free(&l);
    store_ckpt_meta now;
    cr_assert_eq(store_ckpt_meta_get(st, &now), WS_OK);
    cr_assert_eq(now.next_lsn, next_lsn);
    cr_assert_eq(now.next_seq, next_seq);
}

/* ---- scans against the model
 * --------------------------------------------------------------------- */

typedef struct {
    ws_event *ev;
    size_t n;
    size_t cap;
    size_t stop_after; /* return WS_INTERNAL from the callback after this many; 0 never */
} collected;

static ws_status collect(void *ctx, const ws_event *e) {
    collected *c = ctx;
    cr_assert_lt(c->n, c->cap, "more events than the limit");
    c->ev[c->n++] = *e;
    return c->stop_after && c->n == c->stop_after ? WS_INTERNAL : WS_OK;
}

static void assert_event_eq(const ws_event *got, const ws_event *want) {
    unsigned long long seq = (unsigned long long)want->seq;
    cr_assert_eq(got->seq, want->seq, "seq %llu: got seq %llu", seq, (unsigned long long)got->seq);
    cr_assert_eq(got->type, want->type, "seq %llu: type", seq);
    cr_assert_eq(got->amount, want->amount, "seq %llu: amount", seq);
    cr_assert_eq(got->balance, want->balance, "seq %llu: balance", seq);
    cr_assert_eq(got->timestamp_us, want->timestamp_us, "seq %llu: timestamp", seq);
    cr_assert_eq(got->account_len, want->account_len, "seq %llu: account", seq);
    cr_assert_eq(memcmp(got->account, want->account, want->account_len), 0, "seq %llu", seq);
    cr_assert_eq(got->transaction_len, want->transaction_len, "seq %llu: transaction", seq);
    cr_assert_eq(memcmp(got->transaction, want->transaction, want->transaction_len), 0);
    cr_assert_eq(got->counterparty_len, want->counterparty_len, "seq %llu: counterparty", seq);
    cr_assert_eq(memcmp(got->counterparty, want->counterparty, want->counterparty_len), 0);
    cr_assert_eq(got->two_phase, want->two_phase, "seq %llu: two_phase", seq);
    if (want->two_phase) {
        cr_assert_eq(got->available, want->available, "seq %llu: available", seq);
        cr_assert_eq(got->pending_credits, want->pending_credits, "seq %llu: pending credits", seq);
        cr_assert_eq(got->pending_len, want->pending_len, "seq %llu: pending", seq);
        cr_assert_eq(memcmp(got->pending, want->pending, want->pending_len), 0, "seq %llu", seq);
    }
}

static bool of_account(const ws_event *e, const char *acct) {
    return acct == NULL ||
           (e->account_len == strlen(acct) && memcmp(e->account, acct, e->account_len) == 0);
}

/* One events page (acct NULL: all events) must be exactly what the model says. */
static void assert_page(store *s, uint64_t after, size_t limit, const char *acct) {
    static ws_event buf[EVENTS_MAX];
    collected c = {.ev = buf, .n = 0, .cap = limit < EVENTS_MAX ? limit : EVENTS_MAX};
    bool more = true;
    ws_status rc =
        store_scan_events(s, after, limit, acct, acct ? strlen(acct) : 0, collect, &c, &more);
    cr_assert_eq(rc, WS_OK, "after %llu limit %zu acct %s", (unsigned long long)after, limit,
                 acct ? acct : "-");
    size_t want = 0;
    bool want_more = false;
    for (size_t i = 0; i < event_n; i++) {
        if (events[i].seq <= after || !of_account(&events[i], acct)) {
            continue;
        }
        if (want == limit) {
            want_more = true;
            break;
        }
        cr_assert_lt(want, c.n, "after %llu limit %zu acct %s: only %zu events, want more",
                     (unsigned long long)after, limit, acct ? acct : "-", c.n);
        assert_event_eq(&buf[want], &events[i]);
        want++;
    }
    cr_assert_eq(c.n, want, "after %llu limit %zu acct %s: %zu events, want %zu",
                 (unsigned long long)after, limit, acct ? acct : "-", c.n, want);
    cr_assert_eq(more, want_more, "after %llu limit %zu acct %s: more %d",
                 (unsigned long long)after, limit, acct ? acct : "-", more);
}

/* Every page from every cursor, for all events and for each account of the model (and for
 * IDs of no account). */
static void assert_all_pages(store *s) {
    static const size_t limits[] = {1, 2, 3, 7, 1000};
    const char *accts[16];
    size_t na = 0;
    ws_ledger l;
    replay_model(&l);
    for (size_t i = 0; i < ws_accounts_count(l.accounts) && na < 14; i++) {
        static char idbuf[16][WS_ID_LEN_MAX + 1];
        uint8_t len;
        const char *id = ws_accounts_id(l.accounts, (uint32_t)i, &len);
        memcpy(idbuf[na], id, len);
        idbuf[na][len] = '\0';
        accts[na] = idbuf[na];
        na++;
    }
    ws_ledger_free(&l);
    accts[na++] = "nobody";
    accts[na++] = "a"; /* a prefix of alice */
    for (uint64_t after = 0; after <= next_seq + 1; after++) {
        for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
            assert_page(s, after, limits[k], NULL);
            for (size_t a = 0; a < na; a++) {
                assert_page(s, after, limits[k], accts[a]);
            }
        }
    }
    assert_page(s, UINT64_MAX, 10, NULL);
    assert_page(s, UINT64_MAX, 10, "alice");
    assert_page(s, UINT64_MAX - 1, 10, NULL);
}

typedef struct {
    size_t n;
    uint64_t from;
    size_t stop_after;
} log_walk;

static ws_status check_log_record(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq,
                                  uint64_t ts) {
    log_walk *w = ctx;
    size_t i = (size_t)(w->from - 1) + w->n;
    cr_assert_lt(i, model_n, "scan_log went past the model's end");
    cr_assert_eq(lsn, model[i].lsn, "lsn %llu, want %llu", (unsigned long long)lsn,
                 (unsigned long long)model[i].lsn);
    cr_assert_eq(seq, model[i].seq, "lsn %llu: seq", (unsigned long long)lsn);
    cr_assert_eq(ts, model[i].ts, "lsn %llu: timestamp", (unsigned long long)lsn);
    rec_assert_eq(r, &model[i].r, "scanned");
    w->n++;
    return w->stop_after && w->n == w->stop_after ? WS_INTERNAL : WS_OK;
}

static ws_status count_record(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq,
                              uint64_t ts) {
    (void)r;
    (void)lsn;
    (void)seq;
    (void)ts;
    (*(size_t *)ctx)++;
    return WS_OK;
}

/* Runs verify with its report captured; returns the report and the printed text. */
static ws_status verify(store *s, store_verify_report *rep, char *text, size_t text_max) {
    FILE *out = tmpfile();
    cr_assert_not_null(out);
    ws_status status = store_verify(s, out, rep);
    rewind(out);
    size_t n = fread(text, 1, text_max - 1, out);
    text[n] = '\0';
    fclose(out);
    return status;
}

static void assert_verify_ok(store *s) {
    store_verify_report rep;
    char text[8192];
    cr_assert_eq(verify(s, &rep, text, sizeof(text)), WS_OK, "%s", text);
    cr_assert_eq(rep.problems, 0, "%s", text);
    cr_assert_eq(rep.records, model_n, "%s", text);
    cr_assert_eq(rep.events, event_n, "%s", text);
    cr_assert_not_null(strstr(text, "0 problems"), "%s", text);
}

/* verify must fail and print what. */
static void assert_verify_reports(const char *what) {
    store_verify_report rep;
    char text[8192];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_CORRUPT, "the defect passed:\n%s", text);
    cr_assert_gt(rep.problems, 0);
    cr_assert_not_null(strstr(text, what), "expected \"%s\" in:\n%s", what, text);
}

/* ---- the raw log/ and proj/ databases (the store closed) ---------------------------------------
 */

typedef struct {
    rocksdb_t *db;
    rocksdb_options_t *opt;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
} raw_db;

static raw_db raw_open(const char *sub) {
    cr_assert_null(st, "close the store first: it holds the databases' locks");
    char path[sizeof(DIR_TEMPLATE) + 16];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    raw_db r;
    r.opt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(r.opt, 0);
    r.wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r.wo, 1);
    r.ro = rocksdb_readoptions_create();
    char *err = NULL;
    r.db = rocksdb_open(r.opt, path, &err);
    cr_assert_null(err, "raw open of %s: %s", sub, err);
    return r;
}

static void raw_close(raw_db *r) {
    rocksdb_close(r->db);
    rocksdb_readoptions_destroy(r->ro);
    rocksdb_writeoptions_destroy(r->wo);
    rocksdb_options_destroy(r->opt);
}

static void raw_put(raw_db *r, const char *k, size_t klen, const void *v, size_t vlen) {
    char *err = NULL;
    rocksdb_put(r->db, r->wo, k, klen, v, vlen, &err);
    cr_assert_null(err, "raw put: %s", err);
}

static void raw_delete(raw_db *r, const char *k, size_t klen) {
    char *err = NULL;
    rocksdb_delete(r->db, r->wo, k, klen, &err);
    cr_assert_null(err, "raw delete: %s", err);
}

/* The value of k (malloc'ed, free it), or NULL. */
static char *raw_get(raw_db *r, const char *k, size_t klen, size_t *vlen) {
    char *err = NULL;
    char *v = rocksdb_get(r->db, r->ro, k, klen, vlen, &err);
    cr_assert_null(err, "raw get: %s", err);
    return v;
}

static size_t log_key(char kind, uint64_t n, char *key) {
    key[0] = kind;
    ws_put_u64be((unsigned char *)key + 1, n);
    return 9;
}

/* The log's blocks (the store closed): their keys and record counts, and a seq entry for
 * each naming its block. */
static void assert_blocks_on_disk(const uint64_t *want_lsn, const unsigned *want_count,
                                  size_t want_blocks) {
    raw_db log = raw_open("log");
    rocksdb_iterator_t *it = rocksdb_create_iterator(log.db, log.ro);
    uint64_t first_seq[8];
    size_t blocks = 0;
    for (rocksdb_iter_seek(it, "L", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (k[0] != 'L') {
            break;
        }
        cr_assert_lt(blocks, want_blocks, "more than %zu blocks", want_blocks);
        cr_assert_eq(klen, 9);
        cr_assert_eq(ws_get_u64be((const unsigned char *)k + 1), want_lsn[blocks]);
        const char *v = rocksdb_iter_value(it, &vlen);
        ws_block_header h;
        ws_block_cursor c;
        cr_assert_eq(ws_block_open((const unsigned char *)v, vlen, &h, &c), WS_OK);
        cr_assert_eq(h.first_lsn, want_lsn[blocks]);
        cr_assert_eq(h.count, want_count[blocks], "block %zu holds %u records", blocks, h.count);
        first_seq[blocks] = h.first_seq;
        blocks++;
    }
    rocksdb_iter_destroy(it);
    cr_assert_eq(blocks, want_blocks);
    for (size_t i = 0; i < blocks; i++) {
        char key[9];
        size_t vlen;
        char *v = raw_get(&log, key, log_key('S', first_seq[i], key), &vlen);
        cr_assert_not_null(v, "no seq entry for block %zu", i);
        cr_assert_eq(vlen, 8);
        cr_assert_eq(ws_get_u64be((const unsigned char *)v), want_lsn[i]);
        rocksdb_free(v);
    }
    raw_close(&log);
}

/* ---- opening ----------------------------------------------------------------------------------
 */

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

Test(store, open_creates_log_and_proj) {
    char path[sizeof(DIR_TEMPLATE) + 32];
    snprintf(path, sizeof(path), "%s/log", dir);
    cr_assert(is_dir(path), "no log/");
    snprintf(path, sizeof(path), "%s/proj", dir);
    cr_assert(is_dir(path), "no proj/");
    /* A data directory that does not exist yet is made. */
    snprintf(path, sizeof(path), "%s/fresh", dir);
    store *s = NULL;
    cr_assert_eq(store_open(path, false, &s), WS_OK);
    store_close(s);
    char sub[sizeof(path) + 8];
    snprintf(sub, sizeof(sub), "%s/log", path);
    cr_assert(is_dir(sub));
    snprintf(sub, sizeof(sub), "%s/proj", path);
    cr_assert(is_dir(sub));
}

Test(store, empty_store) {
    assert_log_end(st, 1, 1);
    assert_records(st);
    size_t n = 0;
    cr_assert_eq(store_scan_log(st, 1, count_record, &n), WS_OK);
    cr_assert_eq(n, 0);
    assert_page(st, 0, 100, NULL);
    assert_page(st, 0, 100, "alice");
    store_ckpt_meta m;
    memset(&m, 0xAB, sizeof(m));
    cr_assert_eq(store_ckpt_meta_get(st, &m), WS_OK);
    cr_assert_eq(m.next_lsn, 1);
    cr_assert_eq(m.next_seq, 1);
    cr_assert_eq(m.account_count, 0);
    cr_assert(m.total_money == 0);
    cr_assert_eq(m.transfers, 0);
    cr_assert_eq(m.refusals, 0);
    int64_t bal[STORE_CHUNK_ACCOUNTS];
    size_t nb = 99;
    cr_assert_eq(store_ckpt_balances(st, 0, bal, &nb), WS_OK);
    cr_assert_eq(nb, 0);
    assert_verify_ok(st);
}

Test(store, second_writable_open_is_refused) {
    store *s = NULL;
    cr_assert_eq(store_open(dir, false, &s), WS_UNAVAILABLE, "the lock was not taken");
    cr_assert_null(s);
}

Test(store, read_only_open_of_missing_dir_fails) {
    char missing[sizeof(DIR_TEMPLATE) + 8];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    store *s = NULL;
    cr_assert_neq(store_open(missing, true, &s), WS_OK);
    cr_assert_null(s);
    cr_assert_not(is_dir(missing), "a read-only open made the directory");
}

/* ---- the log -----------------------------------------------------------------------------------
 */

Test(store, batch_is_invisible_until_commit) {
    store_batch *b = store_batch_new();
    cr_assert_not_null(b);
    store_batch_begin(b, 1, 1, NOW_US);
    cr_assert_eq(store_batch_count(b), 0);
    ws_record r = rec_created("alice", 100);
    store_batch_add(b, &r);
    r = rec_created("bob", 0);
    store_batch_add(b, &r);
    cr_assert_eq(store_batch_count(b), 2);
    assert_log_end(st, 1, 1);
    ws_record got;
    cr_assert_eq(store_read_record(st, 1, &got), WS_NOT_FOUND);
    cr_assert_eq(store_commit(st, b), WS_OK);
    cr_assert_eq(store_batch_count(b), 0);
    assert_log_end(st, 3, 3);
    cr_assert_eq(store_read_record(st, 2, &got), WS_OK);
    ws_record want = rec_created("bob", 0);
    rec_assert_eq(&got, &want, "bob");
    /* The emptied batch is reused for the next group commit. */
    store_batch_begin(b, 3, 3, NOW_US + 1);
    r = rec_transfer("alice", "bob", "t1", 1, 99, 1);
    store_batch_add(b, &r);
    cr_assert_eq(store_commit(st, b), WS_OK);
    assert_log_end(st, 4, 5);
    store_batch_free(b);
}

Test(store, empty_commit_writes_nothing) {
    write_small_log();
    store_batch *b = store_batch_new();
    cr_assert_not_null(b);
    store_batch_begin(b, next_lsn, next_seq, NOW_US);
    cr_assert_eq(store_commit(st, b), WS_OK);
    store_batch_free(b);
    assert_log_end(st, next_lsn, next_seq);
    assert_records(st);
}

Test(store, records_read_back) {
    write_small_log();
    assert_log_end(st, 13, 16);
    assert_records(st);
}

Test(store, scan_log_from_every_lsn) {
    write_small_log();
    for (uint64_t from = 1; from <= next_lsn + 2; from++) {
        log_walk w = {.n = 0, .from = from};
        cr_assert_eq(store_scan_log(st, from, check_log_record, &w), WS_OK);
        size_t want = from <= model_n ? model_n - (size_t)(from - 1) : 0;
        cr_assert_eq(w.n, want, "from %llu: %zu records", (unsigned long long)from, w.n);
    }
    log_walk w = {.n = 0, .from = 1};
    cr_assert_eq(store_scan_log(st, UINT64_MAX, check_log_record, &w), WS_OK);
    cr_assert_eq(w.n, 0);
}

Test(store, scan_log_stops_at_callback_status) {
    write_small_log();
    log_walk w = {.n = 0, .from = 2, .stop_after = 3};
    cr_assert_eq(store_scan_log(st, 2, check_log_record, &w), WS_INTERNAL);
    cr_assert_eq(w.n, 3);
}

/* The store checks each block right before writing it: a record the codec must not write
 * (here a transfer of 0) aborts the commit instead of reaching the disk. */
Test(store, commit_of_invalid_record_asserts, .signal = SIGABRT) {
    store_batch *b = store_batch_new();
    cr_assert_not_null(b);
    store_batch_begin(b, 1, 1, NOW_US);
    ws_record r = rec_transfer("a", "b", "t", 0, 1, 1);
    store_batch_add(b, &r);
    ws_status s = store_commit(st, b);
    cr_log_error("commit returned %d instead of aborting", (int)s);
}

/* 200 records in one group commit are cut into blocks of WS_BLOCK_RECORDS_MAX. */
Test(store, blocks_cut_at_records_max) {
    static ws_record recs[200];
    size_t n = 0;
    recs[n++] = rec_created("A", 1000);
    recs[n++] = rec_created("B", 1000);
    uint64_t a = 1000;
    uint64_t b = 1000;
    for (unsigned i = 0; n < 200; i++) {
        char txn[16];
        snprintf(txn, sizeof(txn), "t%u", i);
        if (i % 5 == 4) {
            recs[n++] = rec_refused(WS_INSUFFICIENT_FUNDS, 0, "A", "B", txn, 1000000);
        } else if (i % 2 == 0) {
            a -= 3;
            b += 3;
            recs[n++] = rec_transfer("A", "B", txn, 3, a, b);
        } else {
            a += 1;
            b -= 1;
            recs[n++] = rec_transfer("B", "A", txn, 1, b, a);
        }
    }
    append(recs, 200, NOW_US);
    assert_log_end(st, 201, next_seq);
    assert_records(st);
    log_walk w = {.n = 0, .from = 1};
    cr_assert_eq(store_scan_log(st, 1, check_log_record, &w), WS_OK);
    cr_assert_eq(w.n, 200);
    assert_page(st, 0, 1000, NULL);
    assert_page(st, 100, 50, "B");
    assert_verify_ok(st);

    /* On disk: blocks at lsns 1, 65, 129, 193 holding 64, 64, 64 and 8 records. */
    close_store();
    const uint64_t want_lsn[4] = {1, 65, 129, 193};
    const unsigned want_count[4] = {64, 64, 64, 8};
    assert_blocks_on_disk(want_lsn, want_count, 4);
    reopen_store();
}

/* A block of refusals only has no events, hence no seq entry; pages skip it. */
Test(store, block_without_events_has_no_seq_entry) {
    append1(rec_created("A", 10), NOW_US);
    static ws_record recs[WS_BLOCK_RECORDS_MAX + 1];
    for (unsigned i = 0; i < WS_BLOCK_RECORDS_MAX; i++) {
        char txn[16];
        snprintf(txn, sizeof(txn), "r%u", i);
        recs[i] = rec_refused(WS_ACCOUNT_NOT_FOUND, 2, "A", "X", txn, 1);
    }
    recs[WS_BLOCK_RECORDS_MAX] = rec_created("B", 5);
    append(recs, WS_BLOCK_RECORDS_MAX + 1, NOW_US + 1);
    assert_log_end(st, 67, 3);
    assert_records(st);
    assert_page(st, 0, 10, NULL);
    assert_page(st, 1, 10, NULL);
    assert_page(st, 1, 10, "B");
    assert_verify_ok(st);
    close_store();
    raw_db log = raw_open("log");
    rocksdb_iterator_t *it = rocksdb_create_iterator(log.db, log.ro);
    size_t s_keys = 0;
    for (rocksdb_iter_seek(it, "S", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        s_keys += rocksdb_iter_key(it, &klen)[0] == 'S';
    }
    cr_assert_eq(s_keys, 2, "%zu seq entries for 2 blocks with events", s_keys);
    rocksdb_iter_destroy(it);
    raw_close(&log);
    reopen_store();
}

/* ---- events pages ------------------------------------------------------------------------------
 */

Test(store, event_contents) {
    write_small_log();
    static ws_event buf[64];
    collected c = {.ev = buf, .cap = 64};
    bool more = true;
    cr_assert_eq(store_scan_events(st, 0, 64, NULL, 0, collect, &c, &more), WS_OK);
    cr_assert_not(more);
    cr_assert_eq(c.n, 15);
    /* seq 4 and 5: t1, alice -> bob 30 */
    cr_assert_eq(buf[3].type, WS_EVENT_DEBIT);
    cr_assert_eq(buf[3].balance, 70);
    cr_assert_eq(memcmp(buf[3].account, "alice", 5), 0);
    cr_assert_eq(memcmp(buf[3].counterparty, "bob", 3), 0);
    cr_assert_eq(memcmp(buf[3].transaction, "t1", 2), 0);
    cr_assert_eq(buf[4].type, WS_EVENT_CREDIT);
    cr_assert_eq(buf[4].balance, 30);
    cr_assert_eq(memcmp(buf[4].account, "bob", 3), 0);
    cr_assert_eq(buf[4].timestamp_us, NOW_US + 1);
    /* seq 6: the first event of the second group commit (the refusal took none) */
    cr_assert_eq(buf[5].seq, 6);
    cr_assert_eq(buf[5].timestamp_us, NOW_US + 2);
    cr_assert_eq(buf[5].type, WS_EVENT_DEBIT);
    cr_assert_eq(memcmp(buf[5].account, "carol", 5), 0);
}

Test(store, pages_over_the_log) {
    write_small_log();
    assert_all_pages(st);
}

Test(store, scan_events_stops_at_callback_status) {
    write_small_log();
    static ws_event buf[64];
    collected c = {.ev = buf, .cap = 64, .stop_after = 3};
    bool more = false;
    cr_assert_eq(store_scan_events(st, 0, 100, NULL, 0, collect, &c, &more), WS_INTERNAL);
    cr_assert_eq(c.n, 3);
    c.n = 0;
    cr_assert_eq(store_scan_events(st, 0, 100, "alice", 5, collect, &c, &more), WS_INTERNAL);
    cr_assert_eq(c.n, 3);
}

/* limit 0 gives no event (the HTTP layer asks for 1..1000). */
Test(store, scan_limit_zero_gives_nothing) {
    write_small_log();
    static ws_event buf[1];
    collected c = {.ev = buf, .cap = 0};
    bool more;
    cr_assert_eq(store_scan_events(st, 0, 0, NULL, 0, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 0);
    cr_assert_eq(store_scan_events(st, 0, 0, "alice", 5, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 0);
}

/* Pages over two checkpoints and the log after the newest: an account's events come from
 * the index of each checkpoint and from the tail, and every page is seamless. */
Test(store, pages_across_checkpoints_and_tail) {
    ws_record b1[4] = {rec_created("alice", 100), rec_created("bob", 0),
                       rec_transfer("alice", "bob", "t1", 30, 70, 30),
                       rec_refused(WS_SAME_ACCOUNT, 0, "bob", "bob", "r1", 1)};
    append(b1, 4, NOW_US + 1);
    write_checkpoint();
    assert_all_pages(st);
    ws_record b2[4] = {rec_created("carol", 5), rec_transfer("bob", "carol", "t2", 10, 20, 15),
                       rec_transfer("alice", "bob", "t3", 70, 0, 90),
                       rec_refused(WS_INSUFFICIENT_FUNDS, 0, "alice", "carol", "r2", 1)};
    append(b2, 4, NOW_US + 2);
    write_checkpoint();
    ws_record b3[3] = {rec_transfer("carol", "alice", "t4", 15, 0, 15), rec_created("dave", 1),
                       rec_transfer("dave", "bob", "t5", 1, 0, 91)};
    append(b3, 3, NOW_US + 3);
    assert_all_pages(st);
    assert_verify_ok(st);
    /* The same after a restart. */
    close_store();
    reopen_store();
    assert_all_pages(st);
    assert_log_end(st, next_lsn, next_seq);
    /* And with a checkpoint covering the whole log (an empty tail). */
    write_checkpoint();
    assert_all_pages(st);
    assert_verify_ok(st);
}

/* An account with more events in one checkpoint than one index value holds
 * (STORE_INDEX_SEQS_MAX): pages that start in either value, and across the boundary. */
Test(store, index_values_split_past_seqs_max) {
    append1(rec_created("A", 1000000), NOW_US);
    append1(rec_created("B", 0), NOW_US);
    enum { T = 1500 };
    static ws_record recs[T];
    for (unsigned i = 0; i < T; i++) {
        char txn[16];
        snprintf(txn, sizeof(txn), "t%u", i);
        recs[i] = rec_transfer("A", "B", txn, 1, 1000000 - i - 1, i + 1);
    }
    append(recs, T, NOW_US + 1);
    write_checkpoint();
    append1(rec_transfer("B", "A", "back", 5, T - 5, 1000000 - T + 5), NOW_US + 2);
    const uint64_t afters[] = {0,    1,    2,    1000, 2047, 2048, 2049, 2050,
                               2051, 3000, 3001, 3002, 3003, 3004, 3005};
    const size_t limits[] = {1, 10, 1100, 5000};
    for (size_t i = 0; i < sizeof(afters) / sizeof(afters[0]); i++) {
        for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
            assert_page(st, afters[i], limits[k], "A");
            assert_page(st, afters[i], limits[k], "B");
            assert_page(st, afters[i], limits[k], NULL);
        }
    }
    assert_verify_ok(st);
}

/* ---- reopening ---------------------------------------------------------------------------------
 */

Test(store, close_and_reopen_keeps_everything) {
    write_small_log();
    write_checkpoint();
    append1(rec_created("frank", 3), NOW_US + 9);
    store_ckpt_meta before;
    cr_assert_eq(store_ckpt_meta_get(st, &before), WS_OK);
    close_store();
    reopen_store();
    assert_log_end(st, next_lsn, next_seq);
    assert_records(st);
    store_ckpt_meta after;
    cr_assert_eq(store_ckpt_meta_get(st, &after), WS_OK);
    cr_assert_eq(after.next_lsn, before.next_lsn);
    cr_assert_eq(after.next_seq, before.next_seq);
    cr_assert_eq(after.account_count, before.account_count);
    cr_assert(after.total_money == before.total_money);
    cr_assert_eq(after.transfers, before.transfers);
    cr_assert_eq(after.refusals, before.refusals);
    assert_page(st, 0, 1000, NULL);
    assert_page(st, 0, 1000, "alice");
    assert_page(st, 0, 1000, "frank");
    assert_verify_ok(st);
    /* The reopened log takes the next group commit where it stopped. */
    append1(rec_transfer("frank", "bob", "t9", 3, 0, 23), NOW_US + 10);
    assert_records(st);
}

Test(store, fp_key_survives_reopen) {
    ws_hash_key k = store_fp_key(st);
    cr_assert(k.k0 != 0 || k.k1 != 0, "an all-zero fingerprint key");
    close_store();
    reopen_store();
    ws_hash_key k2 = store_fp_key(st);
    cr_assert_eq(k2.k0, k.k0);
    cr_assert_eq(k2.k1, k.k1);
    cr_assert_eq(store_open(dir, true, &st_ro), WS_OK);
    cr_assert_eq(store_fp_key(st_ro).k0, k.k0, "a read-only open read another key");
    cr_assert_eq(store_fp_key(st_ro).k1, k.k1);
    /* Another data directory has its own key. */
    char other[sizeof(DIR_TEMPLATE) + 8];
    snprintf(other, sizeof(other), "%s/other", dir);
    store *s = NULL;
    cr_assert_eq(store_open(other, false, &s), WS_OK);
    cr_assert(store_fp_key(s).k0 != k.k0 || store_fp_key(s).k1 != k.k1,
              "two directories share a key");
    store_close(s);
}

Test(store, read_only_open_beside_writer) {
    write_small_log();
    write_checkpoint();
    append1(rec_created("zed", 1), NOW_US + 5);
    cr_assert_eq(store_open(dir, true, &st_ro), WS_OK, "read-only open beside the writer");
    assert_log_end(st_ro, next_lsn, next_seq);
    assert_records(st_ro);
    assert_page(st_ro, 0, 1000, NULL);
    assert_page(st_ro, 3, 2, "alice");
    store_ckpt_meta m;
    cr_assert_eq(store_ckpt_meta_get(st_ro, &m), WS_OK);
    cr_assert_eq(m.next_lsn, 13);
    assert_verify_ok(st_ro);
    /* The writer keeps working while the reader is open. */
    append1(rec_created("zoe", 1), NOW_US + 6);
    assert_log_end(st, next_lsn, next_seq);
}

/* ---- the checkpoint's values --------------------------------------------------------------------
 */

typedef struct {
    size_t n;
    ws_ledger *l;
} account_walk;

static ws_status check_loaded_account(void *ctx, uint32_t index, const char *id, size_t len,
                                      int64_t balance) {
    account_walk *w = ctx;
    cr_assert_eq(index, w->n, "account %u out of order", index);
    uint8_t want_len;
    const char *want = ws_accounts_id(w->l->accounts, index, &want_len);
    cr_assert_eq(len, want_len, "index %u", index);
    cr_assert_eq(memcmp(id, want, len), 0, "index %u", index);
    cr_assert_eq(balance, ws_accounts_balance(w->l->accounts, index), "index %u", index);
    w->n++;
    return WS_OK;
}

static ws_status count_idem(void *ctx, uint64_t fp, uint64_t lsn) {
    cr_assert_neq(fp, 0);
    cr_assert_neq(lsn, 0);
    (*(size_t *)ctx)++;
    return WS_OK;
}

/* 1500 accounts: two directory and balance chunks. */
Test(store, checkpoint_of_two_chunks_loads_back) {
    enum { N = 1500 };
    static ws_record recs[N];
    for (unsigned i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof(id), "acct-%u", i);
        recs[i] = rec_created(id, (uint64_t)i * 7);
    }
    append(recs, N, NOW_US);
    append1(rec_transfer("acct-1499", "acct-3", "t1", 100, 1499 * 7 - 100, 121), NOW_US + 1);
    append1(rec_refused(WS_ACCOUNT_NOT_FOUND, 1, "nobody", "acct-3", "r1", 1), NOW_US + 1);
    write_checkpoint();
    store_ckpt_meta m;
    cr_assert_eq(store_ckpt_meta_get(st, &m), WS_OK);
    cr_assert_eq(m.account_count, N);
    cr_assert_eq(m.transfers, 1);
    cr_assert_eq(m.refusals, 1);
    cr_assert(m.total_money == (ws_u128)7 * (N - 1) * N / 2);
    ws_ledger l;
    replay_model(&l);
    account_walk w = {.n = 0, .l = &l};
    cr_assert_eq(store_ckpt_load_accounts(st, N, check_loaded_account, &w), WS_OK);
    cr_assert_eq(w.n, N);
    size_t n = 0;
    cr_assert_eq(store_ckpt_load_idem(st, count_idem, &n), WS_OK);
    cr_assert_eq(n, 2);
    int64_t bal[STORE_CHUNK_ACCOUNTS];
    size_t nb;
    cr_assert_eq(store_ckpt_balances(st, 1, bal, &nb), WS_OK);
    cr_assert_eq(nb, N - STORE_CHUNK_ACCOUNTS);
    cr_assert_eq(bal[1499 - STORE_CHUNK_ACCOUNTS], 1499 * 7 - 100);
    cr_assert_eq(store_ckpt_balances(st, 2, bal, &nb), WS_OK);
    cr_assert_eq(nb, 0, "a chunk past the accounts has balances");
    ws_ledger_free(&l);
    assert_page(st, 0, 10, "acct-1499");
    assert_verify_ok(st);
}

Test(store, checkpoint_meta_round_trip) {
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    store_ckpt_meta m = {.next_lsn = 123456789012ull,
                         .next_seq = 98765432109ull,
                         .account_count = 4000000000ull,
                         .total_money = ((ws_u128)5 << 64) | 77,
                         .transfers = 11,
                         .refusals = 22};
    store_ckpt_put_meta(c, &m);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    close_store();
    reopen_store();
    store_ckpt_meta got;
    cr_assert_eq(store_ckpt_meta_get(st, &got), WS_OK);
    cr_assert_eq(got.next_lsn, m.next_lsn);
    cr_assert_eq(got.next_seq, m.next_seq);
    cr_assert_eq(got.account_count, m.account_count);
    cr_assert(got.total_money == m.total_money, "the 128-bit total lost its high part");
    cr_assert_eq(got.transfers, m.transfers);
    cr_assert_eq(got.refusals, m.refusals);
}

/* ---- pending transfers: packs and single values -------------------------------------------- */

static ws_pending_entry pending_at(uint64_t lsn, ws_pending_status status) {
    return (ws_pending_entry){.lsn = lsn,
                              .id_hash = 1000 + lsn,
                              .amount = lsn * 10,
                              .expires_us = status == WS_PENDING_OPEN ? NOW_US + lsn : 0,
                              .from = (uint32_t)lsn % 3,
                              .to = (uint32_t)lsn % 3 + 1,
                              .status = status};
}

typedef struct {
    ws_pending_entry got[16];
    size_t n;
} pending_seen;

static ws_status see_pending(void *ctx, const ws_pending_entry *e) {
    pending_seen *ps = ctx;
    cr_assert_lt(ps->n, 16);
    ps->got[ps->n++] = *e;
    return WS_OK;
}

/* Two packs, a later resolution of an entry of one ('q' overrides it) and a single value of a
 * version-2 projection before them: all read back once each, merged in lsn order. */
Test(store, pending_packs_and_single_values_merge_by_lsn) {
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    ws_pending_entry a[3] = {pending_at(2, WS_PENDING_OPEN), pending_at(4, WS_PENDING_OPEN),
                             pending_at(6, WS_PENDING_POSTED)};
    ws_pending_entry b[2] = {pending_at(8, WS_PENDING_OPEN), pending_at(9, WS_PENDING_EXPIRED)};
    store_ckpt_put_pending_pack(c, a, 3);
    store_ckpt_put_pending_pack(c, b, 2);
    ws_pending_entry one = pending_at(1, WS_PENDING_VOIDED);
    ws_pending_entry four = pending_at(4, WS_PENDING_POSTED);
    ws_pending_entry nine = pending_at(9, WS_PENDING_EXPIRED);
    store_ckpt_put_pending(c, &one);
    store_ckpt_put_pending(c, &four);
    store_ckpt_put_pending(c, &nine);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    close_store();
    reopen_store();
    pending_seen ps = {.n = 0};
    cr_assert_eq(store_ckpt_load_pending(st, see_pending, &ps), WS_OK);
    const uint64_t want_lsn[] = {1, 2, 4, 6, 8, 9};
    const ws_pending_status want_status[] = {WS_PENDING_VOIDED, WS_PENDING_OPEN,
                                             WS_PENDING_POSTED, WS_PENDING_POSTED,
                                             WS_PENDING_OPEN,   WS_PENDING_EXPIRED};
    cr_assert_eq(ps.n, 6, "%zu entries", ps.n);
    for (size_t i = 0; i < 6; i++) {
        ws_pending_entry want = pending_at(want_lsn[i], want_status[i]);
        const ws_pending_entry *got = &ps.got[i];
        cr_assert(
            got->lsn == want.lsn && got->status == want.status && got->id_hash == want.id_hash &&
                got->amount == want.amount && got->expires_us == want.expires_us &&
                got->from == want.from && got->to == want.to,
            "entry %zu: lsn %llu status %d", i, (unsigned long long)got->lsn, (int)got->status);
    }
}

static void put_u32le(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

/* A 'Q' value at key key_lsn whose entries are those of lsns (count n, status OPEN), its CRC
 * mended unless bad_crc. */
static void raw_pack(raw_db *r, uint64_t key_lsn, const uint64_t *lsns, size_t n, bool bad_crc) {
    unsigned char v[4 + 41 * 4 + 4];
    cr_assert_leq(n, 4);
    put_u32le(v, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        ws_pending_entry e = pending_at(lsns[i], WS_PENDING_OPEN);
        unsigned char *p = v + 4 + 41 * i;
        ws_put_u64le(p, e.lsn);
        p[8] = (unsigned char)e.status;
        put_u32le(p + 9, e.from);
        put_u32le(p + 13, e.to);
        ws_put_u64le(p + 17, e.amount);
        ws_put_u64le(p + 25, e.expires_us);
        ws_put_u64le(p + 33, e.id_hash);
    }
    size_t body = 4 + 41 * n;
    put_u32le(v + body, ws_crc32c(v, body) ^ (bad_crc ? 1u : 0u));
    char key[9];
    raw_put(r, key, log_key('Q', key_lsn, key), v, body + 4);
}

/* The pending transfers of a projection holding the pack of raw_pack(lsns, n) at key_lsn
 * beside a good pack at 1 (lsn 1): WS_CORRUPT is the expected answer for each defect. */
static ws_status load_with_pack(uint64_t key_lsn, const uint64_t *lsns, size_t n, bool bad_crc) {
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    ws_pending_entry first = pending_at(1, WS_PENDING_OPEN);
    store_ckpt_put_pending_pack(c, &first, 1);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    close_store();
    raw_db r = raw_open("proj");
    raw_pack(&r, key_lsn, lsns, n, bad_crc);
    raw_close(&r);
    reopen_store();
    pending_seen ps = {.n = 0};
    return store_ckpt_load_pending(st, see_pending, &ps);
}

Test(store, pending_pack_as_written_by_hand_loads) {
    const uint64_t lsns[] = {10, 12};
    cr_assert_eq(load_with_pack(10, lsns, 2, false), WS_OK, "the by-hand encoding is the store's");
}

Test(store, pending_pack_with_bad_crc_is_corrupt) {
    const uint64_t lsns[] = {10, 12};
    cr_assert_eq(load_with_pack(10, lsns, 2, true), WS_CORRUPT);
}

Test(store, pending_pack_keyed_apart_from_its_first_entry_is_corrupt) {
    const uint64_t lsns[] = {11, 12};
    cr_assert_eq(load_with_pack(10, lsns, 2, false), WS_CORRUPT);
}

Test(store, pending_pack_out_of_lsn_order_is_corrupt) {
    const uint64_t lsns[] = {10, 10};
    cr_assert_eq(load_with_pack(10, lsns, 2, false), WS_CORRUPT);
}

Test(store, pending_pack_overlapping_an_earlier_one_is_corrupt) {
    const uint64_t lsns[] = {1};
    cr_assert_eq(load_with_pack(1, lsns, 1, false), WS_OK, "the same value put again");
    close_store();
    raw_db r = raw_open("proj");
    const uint64_t late[] = {1, 3};
    raw_pack(&r, 1, late, 2, false); /* pack at 1 now holds 1, 3 */
    const uint64_t early[] = {2};
    raw_pack(&r, 2, early, 1, false); /* a pack at 2 after an entry at 3 */
    raw_close(&r);
    reopen_store();
    pending_seen ps = {.n = 0};
    cr_assert_eq(store_ckpt_load_pending(st, see_pending, &ps), WS_CORRUPT);
}

Test(store, empty_pending_pack_is_corrupt) {
    cr_assert_eq(load_with_pack(10, NULL, 0, false), WS_CORRUPT);
}

/* ---- the audit ---------------------------------------------------------------------------------
 */

Test(store, verify_accepts_good_data) {
    write_small_log();
    store_verify_report rep;
    char text[8192];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_OK, "%s", text);
    cr_assert_eq(rep.problems, 0);
    cr_assert_eq(rep.records, 12);
    cr_assert_eq(rep.events, 15);
    cr_assert_eq(rep.accounts, 5);
    cr_assert_eq(rep.transfers, 5);
    cr_assert_eq(rep.refusals, 2);
    write_checkpoint();
    assert_verify_ok(st);
    append1(rec_created("zed", 1), NOW_US + 5);
    assert_verify_ok(st);
}

/* A checkpoint with a balance the log does not give. */
Test(store, verify_detects_checkpoint_balance_differs) {
    write_small_log();
    write_checkpoint();
    int64_t bal[STORE_CHUNK_ACCOUNTS];
    size_t n;
    cr_assert_eq(store_ckpt_balances(st, 0, bal, &n), WS_OK);
    cr_assert_eq(n, 5);
    bal[1]++; /* bob */
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    store_ckpt_put_balances(c, 0, bal, n);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    assert_verify_reports("a balance differs from the replay");
}

/* A checkpoint meta whose totals the log does not give. */
Test(store, verify_detects_checkpoint_meta_differs) {
    write_small_log();
    write_checkpoint();
    store_ckpt_meta m;
    cr_assert_eq(store_ckpt_meta_get(st, &m), WS_OK);
    m.total_money += 1;
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    store_ckpt_put_meta(c, &m);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    assert_verify_reports("its meta differs from the replay");
}

/* A checkpoint that claims records the log does not hold. */
Test(store, verify_detects_checkpoint_past_log_end) {
    write_small_log();
    write_checkpoint();
    store_ckpt_meta m;
    cr_assert_eq(store_ckpt_meta_get(st, &m), WS_OK);
    m.next_lsn += 5;
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    store_ckpt_put_meta(c, &m);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    assert_verify_reports("covers records the log does not have");
}

/* An index entry that names another account's event. */
Test(store, verify_detects_index_entry_of_another_account) {
    write_small_log();
    write_checkpoint();
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    const uint64_t bobs_seq[1] = {2}; /* seq 2 is bob's AccountCreated */
    store_ckpt_put_index(c, STORE_INDEX_EVENTS, "alice", 5, bobs_seq, 1);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    assert_verify_reports("index: an entry is not an event of its account");
}

/* An index key with seq 0 (no event has it) must be reported, not read as seq - 1: the
 * decoder refuses the value (seqs start at 1). */
Test(store, verify_detects_index_entry_with_seq_zero) {
    write_small_log();
    write_checkpoint();
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    const uint64_t zero[1] = {0};
    store_ckpt_put_index(c, STORE_INDEX_EVENTS, "alice", 5, zero, 1);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    assert_verify_reports("index: a value of no account or failing its checks");
}

/* An idempotency entry naming a record that is not there. */
Test(store, verify_detects_idem_entry_of_no_record) {
    write_small_log();
    write_checkpoint();
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    const uint64_t fp[1] = {ws_idem_fp(store_fp_key(st), "t1", 2)};
    const uint64_t lsn[1] = {9}; /* the record at 9 is t3, not t1 */
    store_ckpt_put_idem(c, 999, 0, fp, lsn, 1);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    assert_verify_reports("checkpoint: an idempotency entry names no such record");
}

/* Records the state refuses, written through the store, which does not judge them. */
Test(store, verify_detects_transfer_of_missing_account) {
    write_small_log();
    append1(rec_transfer("ghost", "alice", "tg", 1, 0, 1), NOW_US + 5);
    assert_verify_reports("a transfer of an account never created");
}

Test(store, verify_detects_balance_after_that_differs) {
    write_small_log();
    append1(rec_transfer("bob", "carol", "tb", 1, 19, 19), NOW_US + 5); /* carol has 17 */
    assert_verify_reports("differs from the replayed balance");
}

Test(store, verify_detects_double_creation) {
    write_small_log();
    append1(rec_created("bob", 0), NOW_US + 5);
    assert_verify_reports("account created twice");
}

Test(store, verify_detects_reused_transaction_id) {
    write_small_log();
    append1(rec_transfer("bob", "carol", "t1", 1, 19, 18), NOW_US + 5);
    assert_verify_reports("a transactionID used by two records");
}

/* A group commit whose first lsn leaves a gap after the last block. */
Test(store, verify_detects_gap_in_log) {
    write_small_log();
    store_batch *b = store_batch_new();
    cr_assert_not_null(b);
    store_batch_begin(b, next_lsn + 1, next_seq, NOW_US + 5);
    ws_record r = rec_created("late", 1);
    store_batch_add(b, &r);
    cr_assert_eq(store_commit(st, b), WS_OK);
    store_batch_free(b);
    assert_verify_reports("a block fails its checks, or the log has a gap");
    size_t n = 0;
    cr_assert_eq(store_scan_log(st, 1, count_record, &n), WS_CORRUPT, "a gap was scanned over");
}

/* A block damaged on disk. */
Test(store, verify_detects_damaged_block) {
    write_small_log();
    close_store();
    raw_db log = raw_open("log");
    char key[9];
    size_t klen = log_key('L', 6, key); /* the second group commit's block */
    size_t vlen;
    char *v = raw_get(&log, key, klen, &vlen);
    cr_assert_not_null(v);
    v[vlen / 2] ^= 0x10;
    raw_put(&log, key, klen, v, vlen);
    rocksdb_free(v);
    raw_close(&log);
    reopen_store();
    assert_verify_reports("a block fails its checks");
    ws_record got;
    cr_assert_eq(store_read_record(st, 7, &got), WS_CORRUPT);
    cr_assert_eq(store_read_record(st, 1, &got), WS_OK, "a good block became unreadable");
}

/* A block whose seq entry is missing. */
Test(store, verify_detects_missing_seq_entry) {
    write_small_log();
    close_store();
    raw_db log = raw_open("log");
    char key[9];
    size_t vlen;
    size_t klen = log_key('S', model[5].seq, key); /* the second block's first seq */
    char *v = raw_get(&log, key, klen, &vlen);
    cr_assert_not_null(v, "no seq entry to delete");
    rocksdb_free(v);
    raw_delete(&log, key, klen);
    raw_close(&log);
    reopen_store();
    assert_verify_reports("seq index: no entry for a block with events");
}

/* A seq entry for no block. */
Test(store, verify_detects_stray_seq_entry) {
    write_small_log();
    close_store();
    raw_db log = raw_open("log");
    char key[9];
    unsigned char val[8];
    ws_put_u64be(val, 999);
    raw_put(&log, key, log_key('S', 999, key), val, 8);
    raw_close(&log);
    reopen_store();
    assert_verify_reports("seq index: an entry for no block");
}

/* ---- two-phase records, decided by the ledger --------------------------------------------------
 * A two-phase record carries the pending totals and the expiry its state gives, so these tests
 * have the ledger decide their records: hist follows the model, each group commit is decided
 * record by record on it, then appended. */

#define SEC_US 1000000u

typedef struct {
    ws_record recs[8];
    size_t n;
    uint64_t ts;
} group;

static group grp;

static void hist_start(void) {
    cr_assert_not(hist_live);
    cr_assert_eq(model_n, 0, "hist follows the model from its start");
    cr_assert_eq(ws_ledger_init(&hist, store_fp_key(st)), WS_OK);
    hist_live = true;
}

/* Starts a group commit at time ts. */
static void group_begin(uint64_t ts) {
    grp.n = 0;
    grp.ts = ts;
    hist.now_us = ts;
}

/* Applies r to hist as the group's next record. */
static void group_add(ws_record r) {
    cr_assert_lt(grp.n, sizeof(grp.recs) / sizeof(grp.recs[0]));
    ws_effect eff;
    const char *why = NULL;
    cr_assert_eq(ws_ledger_apply(&hist, &r, hist.next_lsn, hist.next_seq, &eff, &why), WS_OK,
                 "apply: %s", why ? why : "-");
    grp.recs[grp.n++] = r;
}

static void group_commit(void) {
    append(grp.recs, grp.n, grp.ts);
    cr_assert_eq(hist.next_lsn, next_lsn);
    cr_assert_eq(hist.next_seq, next_seq);
}

/* Decides q on hist; it must succeed and append a record. */
static void group_decide(ws_transfer_req q) {
    ws_decision d;
    ws_ledger_decide_transfer(&hist, &q, NULL, &d);
    cr_assert_eq(d.status, WS_OK, "%.*s: %s", (int)q.txn_len, q.txn, ws_status_code(d.status));
    cr_assert(d.append);
    group_add(d.rec);
}

static ws_transfer_req plain_req(const char *from, const char *to, uint64_t amount,
                                 const char *txn) {
    return (ws_transfer_req){.from = from,
                             .from_len = (uint8_t)strlen(from),
                             .to = to,
                             .to_len = (uint8_t)strlen(to),
                             .amount = amount,
                             .txn = txn,
                             .txn_len = (uint8_t)strlen(txn),
                             .txn_given = true};
}

static void g_transfer(const char *from, const char *to, uint64_t amount, const char *txn) {
    group_decide(plain_req(from, to, amount, txn));
}

static void g_pend(const char *from, const char *to, uint64_t amount, const char *txn,
                   uint32_t timeout_s) {
    ws_transfer_req q = plain_req(from, to, amount, txn);
    q.step = WS_STEP_PENDING;
    q.timeout_s = timeout_s;
    q.pending = "";
    group_decide(q);
}

/* A post (amount 0: all of it) or a void of the pending transfer whose transferID is pending. */
static void g_resolve(ws_step step, const char *pending, uint64_t amount, const char *txn) {
    group_decide((ws_transfer_req){.from = "",
                                   .to = "",
                                   .amount = amount,
                                   .txn = txn,
                                   .txn_len = (uint8_t)strlen(txn),
                                   .txn_given = true,
                                   .step = step,
                                   .pending = pending,
                                   .pending_len = (uint8_t)strlen(pending)});
}

/* The expiry of the pending transfer whose transferID is pending (due at the group's time). */
static void g_expire(const char *pending) {
    uint8_t len = (uint8_t)strlen(pending);
    uint64_t lsn = ws_ledger_find_pending(&hist, pending, len);
    cr_assert_neq(lsn, 0, "no pending transfer %s", pending);
    const ws_pending_entry *e = ws_pending_get(hist.pending, lsn);
    cr_assert_not_null(e);
    ws_record r;
    ws_ledger_expire(&hist, e, pending, len, &r);
    group_add(r);
}

/* The history log, in three parts (a test checkpoints between them or not). Seqs:
 *   part 1, 1..14:  1 A, 2 B, 3 C, 4 AB created; 5/6 t1 A->B; 7/8 p1 pending A->C;
 *                   9/10 t2 B->A; 11/12 c1 posts 150 of p1; 13/14 p2 pending B->AB
 *   part 2, 15..22: 15/16 v2 voids p2; 17/18 t3 AB->A; 19/20 p3 pending C->A; 21/22 t4 A->C
 *   part 3, 23..37: 23/24 p4 pending A->B (5 s); 25/26 c3 posts all of p3; 27/28 t5 C->B;
 *                   29/30 t6 B->C and 31/32 p5 pending AB->C in one block; 33/34 p4
 *                   expires; 35 D created and 36/37 t7 A->D in one block
 * Every account but D has events in all three parts, two-phase ones among them; "AB" shares
 * a prefix with "A". The blocks' times are NOW_US + 1..21 s, increasing. */
static void history_part1(void) {
    group_begin(NOW_US + 1 * SEC_US);
    group_add(rec_created("A", 1000));
    group_add(rec_created("B", 500));
    group_add(rec_created("C", 0));
    group_add(rec_created("AB", 10));
    group_commit();
    group_begin(NOW_US + 2 * SEC_US);
    g_transfer("A", "B", 100, "t1");
    group_commit();
    group_begin(NOW_US + 3 * SEC_US);
    g_pend("A", "C", 200, "p1", 0);
    group_commit();
    group_begin(NOW_US + 4 * SEC_US);
    g_transfer("B", "A", 50, "t2");
    group_commit();
    group_begin(NOW_US + 5 * SEC_US);
    g_resolve(WS_STEP_POST, "p1", 150, "c1");
    group_commit();
    group_begin(NOW_US + 6 * SEC_US);
    g_pend("B", "AB", 30, "p2", 0);
    group_commit();
    cr_assert_eq(next_seq, 15);
}

static void history_part2(void) {
    group_begin(NOW_US + 7 * SEC_US);
    g_resolve(WS_STEP_VOID, "p2", 0, "v2");
    group_commit();
    group_begin(NOW_US + 8 * SEC_US);
    g_transfer("AB", "A", 5, "t3");
    group_commit();
    group_begin(NOW_US + 9 * SEC_US);
    g_pend("C", "A", 20, "p3", 0);
    group_commit();
    group_begin(NOW_US + 10 * SEC_US);
    g_transfer("A", "C", 1, "t4");
    group_commit();
    cr_assert_eq(next_seq, 23);
}

static void history_part3(void) {
    group_begin(NOW_US + 11 * SEC_US);
    g_pend("A", "B", 10, "p4", 5);
    group_commit();
    group_begin(NOW_US + 12 * SEC_US);
    g_resolve(WS_STEP_POST, "p3", 0, "c3");
    group_commit();
    group_begin(NOW_US + 13 * SEC_US);
    g_transfer("C", "B", 7, "t5");
    group_commit();
    group_begin(NOW_US + 14 * SEC_US);
    g_transfer("B", "C", 3, "t6");
    g_pend("AB", "C", 1, "p5", 0);
    group_commit();
    group_begin(NOW_US + 20 * SEC_US);
    g_expire("p4");
    group_commit();
    group_begin(NOW_US + 21 * SEC_US);
    group_add(rec_created("D", 0));
    g_transfer("A", "D", 1, "t7");
    group_commit();
    cr_assert_eq(next_seq, 38);
}

/* The whole history log, with a checkpoint after part 1 and another after part 2. */
static void write_history_with_checkpoints(void) {
    hist_start();
    history_part1();
    write_checkpoint();
    history_part2();
    write_checkpoint();
    history_part3();
}

/* ---- an account's history against the model ----------------------------------------------------
 */

/* The model's events of acct in r's range (of two-phase records only if r->two_phase), in r's
 * order, all of them (the limit aside): their indexes in events[] into idx; their count. */
static size_t model_range(const char *acct, const store_range *r, size_t *idx) {
    size_t n = 0;
    for (size_t i = 0; i < event_n; i++) {
        const ws_event *e = &events[i];
        if (e->seq >= r->lo && e->seq < r->hi && of_account(e, acct) &&
            (!r->two_phase || e->two_phase)) {
            idx[n++] = i;
        }
    }
    for (size_t i = 0; r->reverse && i < n / 2; i++) {
        size_t t = idx[i];
        idx[i] = idx[n - 1 - i];
        idx[n - 1 - i] = t;
    }
    return n;
}

#define RANGE_FMT "%s [%llu, %llu) limit %zu reverse %d two_phase %d"
#define RANGE_ARGS(acct, r)                                                                        \
    (acct), (unsigned long long)(r).lo, (unsigned long long)(r).hi, (r).limit, (r).reverse,        \
        (r).two_phase

/* One store_scan_account must give exactly what the model says, and say more exactly when
 * the model has more. */
static void assert_history(store *s, const char *acct, store_range r) {
    static ws_event buf[EVENTS_MAX];
    static size_t idx[EVENTS_MAX];
    size_t n = model_range(acct, &r, idx);
    size_t want = n < r.limit ? n : r.limit;
    bool want_more = n > r.limit;
    collected c = {.ev = buf, .n = 0, .cap = r.limit < EVENTS_MAX ? r.limit : EVENTS_MAX};
    bool more = !want_more; /* so that a scan that does not set it fails */
    ws_status rc = store_scan_account(s, acct, strlen(acct), &r, collect, &c, &more);
    cr_assert_eq(rc, WS_OK, RANGE_FMT ": %s", RANGE_ARGS(acct, r), ws_status_code(rc));
    cr_assert_eq(c.n, want, RANGE_FMT ": %zu events, want %zu", RANGE_ARGS(acct, r), c.n, want);
    for (size_t i = 0; i < want; i++) {
        cr_assert_eq(buf[i].seq, events[idx[i]].seq, RANGE_FMT ": event %zu is seq %llu, want %llu",
                     RANGE_ARGS(acct, r), i, (unsigned long long)buf[i].seq,
                     (unsigned long long)events[idx[i]].seq);
        assert_event_eq(&buf[i], &events[idx[i]]);
    }
    cr_assert_eq(more, want_more, RANGE_FMT ": more %d", RANGE_ARGS(acct, r), more);
}

static const char *const history_accts[] = {"A", "B", "C", "AB", "D", "nobody", "Z"};
#define HISTORY_ACCTS (sizeof(history_accts) / sizeof(history_accts[0]))

/* Every range [lo, hi) of seqs 0..next_seq + 2 (and hi = UINT64_MAX), for every account
 * (and IDs of none), each limit, both directions, all events or the two-phase ones. */
static void assert_all_histories(store *s) {
    static const size_t limits[] = {1, 2, 3, 1000};
    for (size_t a = 0; a < HISTORY_ACCTS; a++) {
        for (uint64_t lo = 0; lo <= next_seq + 1; lo++) {
            for (uint64_t hi = lo; hi <= next_seq + 3; hi++) {
                uint64_t h = hi == next_seq + 3 ? UINT64_MAX : hi;
                for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
                    for (unsigned v = 0; v < 4; v++) {
                        store_range r = {.lo = lo,
                                         .hi = h,
                                         .limit = limits[k],
                                         .reverse = v & 1,
                                         .two_phase = v >> 1};
                        assert_history(s, history_accts[a], r);
                    }
                }
            }
        }
    }
}

/* Pages of limit walked the way a client does (forward: lo after the last seq given;
 * newest first: hi at it) until more is false: together exactly the model's events. */
static void assert_history_walk(store *s, const char *acct, size_t limit, bool reverse,
                                bool two_phase) {
    static ws_event buf[EVENTS_MAX];
    static size_t idx[EVENTS_MAX];
    store_range all = {
        .lo = 1, .hi = UINT64_MAX, .limit = limit, .reverse = reverse, .two_phase = two_phase};
    size_t n = model_range(acct, &all, idx);
    size_t got = 0;
    bool more = true;
    store_range r = all;
    for (size_t page = 0; more && page <= n + 1; page++) {
        collected c = {.ev = buf, .n = 0, .cap = limit};
        cr_assert_eq(store_scan_account(s, acct, strlen(acct), &r, collect, &c, &more), WS_OK);
        for (size_t i = 0; i < c.n; i++) {
            cr_assert_lt(got + i, n, RANGE_FMT ": more events than the model", RANGE_ARGS(acct, r));
            assert_event_eq(&buf[i], &events[idx[got + i]]);
        }
        got += c.n;
        cr_assert(!more || c.n == limit, RANGE_FMT ": more after a short page",
                  RANGE_ARGS(acct, r));
        if (c.n > 0) {
            uint64_t last = buf[c.n - 1].seq;
            if (reverse) {
                r.hi = last;
            } else {
                r.lo = last + 1;
            }
        }
    }
    cr_assert_not(more, "%s: the walk did not end", acct);
    cr_assert_eq(got, n, "%s limit %zu reverse %d two_phase %d: %zu events, want %zu", acct, limit,
                 reverse, two_phase, got, n);
}

static void assert_all_walks(store *s) {
    for (size_t a = 0; a < HISTORY_ACCTS; a++) {
        for (size_t limit = 1; limit <= 13; limit++) {
            for (unsigned v = 0; v < 4; v++) {
                assert_history_walk(s, history_accts[a], limit, v & 1, v >> 1);
            }
        }
    }
}

/* store_account_last against the model: the newest event of acct below `below`. */
static void assert_last(store *s, const char *acct, uint64_t below, bool two_phase) {
    const ws_event *want = NULL;
    for (size_t i = event_n; i-- > 0;) {
        if (events[i].seq < below && of_account(&events[i], acct) &&
            (!two_phase || events[i].two_phase)) {
            want = &events[i];
            break;
        }
    }
    ws_event got;
    memset(&got, 0xAB, sizeof(got));
    bool found = want == NULL; /* so that a call that does not set it fails */
    ws_status rc = store_account_last(s, acct, strlen(acct), below, two_phase, &got, &found);
    cr_assert_eq(rc, WS_OK, "%s below %llu", acct, (unsigned long long)below);
    cr_assert_eq(found, want != NULL, "%s below %llu two_phase %d: found %d", acct,
                 (unsigned long long)below, two_phase, found);
    if (want) {
        cr_assert_eq(got.seq, want->seq, "%s below %llu two_phase %d: seq %llu, want %llu", acct,
                     (unsigned long long)below, two_phase, (unsigned long long)got.seq,
                     (unsigned long long)want->seq);
        assert_event_eq(&got, want);
    }
}

static void assert_all_lasts(store *s) {
    for (size_t a = 0; a < HISTORY_ACCTS; a++) {
        for (uint64_t below = 0; below <= next_seq + 2; below++) {
            assert_last(s, history_accts[a], below, false);
            assert_last(s, history_accts[a], below, true);
        }
        assert_last(s, history_accts[a], UINT64_MAX, false);
        assert_last(s, history_accts[a], UINT64_MAX, true);
    }
}

/* The first seq whose event is later than t, by the model; the next seq if none is. */
static uint64_t model_seq_after(uint64_t t) {
    for (size_t i = 0; i < event_n; i++) {
        if (events[i].timestamp_us > t) {
            return events[i].seq;
        }
    }
    return next_seq;
}

static void assert_seq_after(store *s, uint64_t t) {
    uint64_t got = 0;
    cr_assert_eq(store_seq_after_time(s, t, &got), WS_OK, "t %llu", (unsigned long long)t);
    uint64_t want = model_seq_after(t);
    cr_assert_eq(got, want, "t NOW_US%+lld: seq %llu, want %llu", (long long)(t - NOW_US),
                 (unsigned long long)got, (unsigned long long)want);
}

/* Every time from before the first block to after the last, each microsecond around each
 * block's timestamp. */
static void assert_all_seq_after(store *s) {
    assert_seq_after(s, 0);
    assert_seq_after(s, UINT64_MAX);
    for (size_t i = 0; i < model_n; i++) {
        for (int d = -1; d <= 1; d++) {
            assert_seq_after(s, (uint64_t)((int64_t)model[i].ts + d));
        }
    }
}

/* ---- an account's history: tests ----------------------------------------------------------------
 */

/* The model itself, as the comment on history_part1 lays it out: the tests below lean on
 * these seqs. */
Test(store, history_log_is_as_described) {
    write_history_with_checkpoints();
    cr_assert_eq(event_n, 37);
    const struct {
        uint64_t seq;
        const char *acct;
        ws_event_type type;
        bool two_phase;
    } want[] = {
        {1, "A", WS_EVENT_ACCOUNT_CREATED, false}, {7, "A", WS_EVENT_PENDING_DEBIT, true},
        {8, "C", WS_EVENT_PENDING_CREDIT, true},   {10, "A", WS_EVENT_CREDIT, false},
        {11, "A", WS_EVENT_DEBIT, true},           {12, "C", WS_EVENT_CREDIT, true},
        {15, "B", WS_EVENT_PENDING_VOIDED, true},  {16, "AB", WS_EVENT_PENDING_VOIDED, true},
        {20, "A", WS_EVENT_PENDING_CREDIT, true},  {26, "A", WS_EVENT_CREDIT, true},
        {31, "AB", WS_EVENT_PENDING_DEBIT, true},  {33, "A", WS_EVENT_PENDING_EXPIRED, true},
        {34, "B", WS_EVENT_PENDING_EXPIRED, true}, {35, "D", WS_EVENT_ACCOUNT_CREATED, false},
        {37, "D", WS_EVENT_CREDIT, false},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const ws_event *e = &events[want[i].seq - 1];
        cr_assert_eq(e->seq, want[i].seq);
        cr_assert(of_account(e, want[i].acct), "seq %llu", (unsigned long long)e->seq);
        cr_assert_eq(e->type, want[i].type, "seq %llu: type %d", (unsigned long long)e->seq,
                     e->type);
        cr_assert_eq(e->two_phase, want[i].two_phase, "seq %llu", (unsigned long long)e->seq);
    }
    store_ckpt_meta m;
    cr_assert_eq(store_ckpt_meta_get(st, &m), WS_OK);
    cr_assert_eq(m.next_seq, 23);
    assert_verify_ok(st);
}

/* A few pages spelled out, so that a wrong oracle cannot hide a wrong store: A's events are
 * 1 5 7 10 11 18 20 21 | 23 26 33 36 (the bar: the second checkpoint). */
Test(store, history_of_one_account_spelled_out) {
    write_history_with_checkpoints();
    static ws_event buf[64];
    struct {
        store_range r;
        uint64_t seqs[16];
        size_t n;
        bool more;
    } cases[] = {
        {{1, UINT64_MAX, 100, false, false}, {1, 5, 7, 10, 11, 18, 20, 21, 23, 26, 33, 36}, 12, 0},
        {{1, UINT64_MAX, 100, true, false}, {36, 33, 26, 23, 21, 20, 18, 11, 10, 7, 5, 1}, 12, 0},
        {{6, 24, 3, false, false}, {7, 10, 11}, 3, 1},
        {{6, 24, 3, true, false}, {23, 21, 20}, 3, 1},
        {{15, 34, 100, false, false}, {18, 20, 21, 23, 26, 33}, 6, 0},
        {{15, 34, 4, true, false}, {33, 26, 23, 21}, 4, 1},
        {{1, UINT64_MAX, 100, false, true}, {7, 11, 20, 23, 26, 33}, 6, 0},
        {{1, UINT64_MAX, 2, true, true}, {33, 26}, 2, 1},
        {{12, 26, 100, false, true}, {20, 23}, 2, 0},
        {{12, 26, 1, true, true}, {23}, 1, 1},
        {{21, 23, 100, false, false}, {21}, 1, 0},
        {{23, 24, 100, true, false}, {23}, 1, 0},
        {{12, 18, 100, false, false}, {0}, 0, 0},
        {{37, UINT64_MAX, 100, true, false}, {0}, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        collected c = {.ev = buf, .n = 0, .cap = 64};
        bool more = !cases[i].more;
        cr_assert_eq(store_scan_account(st, "A", 1, &cases[i].r, collect, &c, &more), WS_OK);
        cr_assert_eq(c.n, cases[i].n, "case %zu: %zu events", i, c.n);
        for (size_t k = 0; k < c.n; k++) {
            cr_assert_eq(buf[k].seq, cases[i].seqs[k], "case %zu event %zu: seq %llu", i, k,
                         (unsigned long long)buf[k].seq);
        }
        cr_assert_eq(more, cases[i].more, "case %zu: more %d", i, more);
    }
}

/* Every range over the log alone (no checkpoint): all of it is the tail. */
Test(store, history_over_the_log_alone) {
    hist_start();
    history_part1();
    history_part2();
    history_part3();
    assert_all_histories(st);
    assert_all_walks(st);
    assert_all_lasts(st);
}

/* Every range over two checkpoints (two 'x' and 'y' values per account) and the log after:
 * lo and hi inside the first checkpoint's events, the second's, the tail, and on each
 * boundary; then the same after a restart, and read-only beside the writer. */
Test(store, history_across_checkpoints_and_tail) {
    write_history_with_checkpoints();
    assert_all_histories(st);
    assert_all_walks(st);
    assert_all_lasts(st);
    assert_verify_ok(st);
    close_store();
    reopen_store();
    cr_assert_eq(store_open(dir, true, &st_ro), WS_OK);
    assert_all_walks(st_ro);
    assert_all_lasts(st_ro);
}

/* A checkpoint over the whole log: an empty tail, every event from the indexes. */
Test(store, history_with_empty_tail) {
    write_history_with_checkpoints();
    write_checkpoint();
    assert_all_histories(st);
    assert_all_walks(st);
    assert_all_lasts(st);
    assert_verify_ok(st);
}

/* One checkpoint only, in the middle of part 2's events being in the tail. */
Test(store, history_with_one_checkpoint) {
    hist_start();
    history_part1();
    history_part2();
    write_checkpoint();
    history_part3();
    assert_all_walks(st);
    assert_all_lasts(st);
    static const size_t limits[] = {1, 2, 5, 100};
    for (uint64_t lo = 0; lo <= next_seq + 1; lo++) {
        for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
            for (unsigned v = 0; v < 4; v++) {
                store_range r = {lo, UINT64_MAX, limits[k], v & 1, v >> 1};
                assert_history(st, "A", r);
                assert_history(st, "C", r);
                r.hi = lo + 7;
                assert_history(st, "B", r);
                assert_history(st, "AB", r);
            }
        }
    }
    assert_verify_ok(st);
}

/* Every limit from 1 to past the account's count over the whole range: more exactly while
 * the limit is below the count. */
Test(store, history_limits_one_to_n) {
    write_history_with_checkpoints();
    for (size_t a = 0; a < HISTORY_ACCTS; a++) {
        for (size_t limit = 1; limit <= 14; limit++) {
            for (unsigned v = 0; v < 4; v++) {
                store_range r = {1, UINT64_MAX, limit, v & 1, v >> 1};
                assert_history(st, history_accts[a], r);
                r.lo = 6;  /* inside the first checkpoint */
                r.hi = 30; /* inside the tail */
                assert_history(st, history_accts[a], r);
            }
        }
    }
}

/* An empty range or a limit of 0 gives nothing and no more; lo 0 reads as 1. */
Test(store, history_empty_ranges) {
    write_history_with_checkpoints();
    static ws_event buf[4];
    const store_range empty[] = {
        {5, 5, 10, false, false},          {23, 23, 10, true, false},
        {30, 10, 10, false, false},        {30, 10, 10, true, true},
        {1, 100, 0, false, false},         {1, 100, 0, true, false},
        {0, 0, 10, false, false},          {0, 1, 10, true, false},
        {38, UINT64_MAX, 10, true, false}, {UINT64_MAX, UINT64_MAX, 10, false, false},
    };
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        collected c = {.ev = buf, .n = 0, .cap = 0};
        bool more = true;
        cr_assert_eq(store_scan_account(st, "A", 1, &empty[i], collect, &c, &more), WS_OK);
        cr_assert_eq(c.n, 0, "range %zu", i);
        cr_assert_not(more, "range %zu: more", i);
    }
    store_range zero = {0, 6, 10, false, false};
    assert_history(st, "A", zero); /* seqs 1 and 5 */
    zero.reverse = true;
    assert_history(st, "A", zero);
}

/* The callback's status stops the scan and is returned, from the indexes and from the tail,
 * in both directions. */
Test(store, history_stops_at_callback_status) {
    write_history_with_checkpoints();
    static ws_event buf[64];
    const store_range ranges[] = {
        {1, 23, 100, false, false},   {1, 23, 100, true, false},   /* indexes */
        {23, 100, 100, false, false}, {23, 100, 100, true, false}, /* tail */
        {1, 100, 100, false, true},   {1, 100, 100, true, true},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        collected c = {.ev = buf, .n = 0, .cap = 64, .stop_after = 2};
        bool more = false;
        cr_assert_eq(store_scan_account(st, "A", 1, &ranges[i], collect, &c, &more), WS_INTERNAL,
                     "range %zu", i);
        cr_assert_eq(c.n, 2, "range %zu: %zu events after the stop", i, c.n);
    }
}

/* More events of one account in one checkpoint than one index value holds: ranges that start
 * and end in either value and across the split, both directions. */
Test(store, history_across_split_index_values) {
    hist_start();
    group_begin(NOW_US);
    group_add(rec_created("A", 1000000));
    group_add(rec_created("B", 0));
    group_commit();
    enum { T = 1100 };
    for (unsigned i = 0; i < T; i++) {
        char txn[16];
        snprintf(txn, sizeof(txn), "t%u", i);
        if (i % 8 == 0) {
            group_begin(NOW_US + 1 + i);
        }
        if (i % 100 == 7) {
            g_pend("A", "B", 1, txn, 0); /* some two-phase events, in both values */
        } else {
            g_transfer("A", "B", 1, txn);
        }
        if (i % 8 == 7 || i + 1 == T) {
            group_commit();
        }
    }
    write_checkpoint();
    group_begin(NOW_US + 5000);
    g_transfer("B", "A", 5, "back");
    g_pend("B", "A", 2, "pb", 0);
    group_commit();
    /* A's events: 1, then every other seq 3, 5, ... 2201; the split after 1024 of them */
    const uint64_t los[] = {0, 1, 2, 1000, 2045, 2046, 2047, 2048, 2049, 2201, 2202, 2203, 2205};
    const uint64_t his[] = {2, 2046, 2047, 2048, 2049, 2202, 2203, 2204, 2205, 2206, UINT64_MAX};
    const size_t limits[] = {1, 3, 1100, 5000};
    for (size_t i = 0; i < sizeof(los) / sizeof(los[0]); i++) {
        for (size_t j = 0; j < sizeof(his) / sizeof(his[0]); j++) {
            for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
                for (unsigned v = 0; v < 4; v++) {
                    store_range r = {los[i], his[j], limits[k], v & 1, v >> 1};
                    assert_history(st, "A", r);
                    assert_history(st, "B", r);
                }
            }
        }
    }
    for (uint64_t below = 2040; below <= next_seq + 1; below++) {
        assert_last(st, "A", below, false);
        assert_last(st, "A", below, true);
        assert_last(st, "B", below, true);
    }
    assert_history_walk(st, "A", 1000, false, false);
    assert_history_walk(st, "A", 1000, true, false);
    assert_history_walk(st, "B", 7, true, true);
    assert_verify_ok(st);
}

/* A newest-first page's limit bounds what it gives, not what it may allocate: a limit far
 * above the account's events gives them all, as it does oldest first. */
Test(store, history_newest_first_with_huge_limit) {
    write_history_with_checkpoints();
    store_range r = {1, UINT64_MAX, SIZE_MAX / 2, false, false};
    assert_history(st, "A", r);
    r.reverse = true;
    assert_history(st, "A", r);
}

/* store_account_last at spelled-out points: A's newest event below each. */
Test(store, account_last_spelled_out) {
    write_history_with_checkpoints();
    const struct {
        uint64_t below;
        bool two_phase;
        bool found;
        uint64_t seq;
        int64_t balance;
    } cases[] = {
        {0, false, false, 0, 0},
        {1, false, false, 0, 0},
        {2, false, true, 1, 1000},
        {7, false, true, 5, 900},
        {7, true, false, 0, 0},
        {8, true, true, 7, 900},
        {12, false, true, 11, 800},
        {15, false, true, 11, 800},
        {23, false, true, 21, 804},
        {23, true, true, 20, 805},
        {24, false, true, 23, 804},
        {33, true, true, 26, 824},
        {UINT64_MAX, false, true, 36, 823},
        {UINT64_MAX, true, true, 33, 824},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ws_event e;
        memset(&e, 0, sizeof(e));
        bool found = !cases[i].found;
        cr_assert_eq(store_account_last(st, "A", 1, cases[i].below, cases[i].two_phase, &e, &found),
                     WS_OK);
        cr_assert_eq(found, cases[i].found, "case %zu", i);
        if (found) {
            cr_assert_eq(e.seq, cases[i].seq, "case %zu: seq %llu", i, (unsigned long long)e.seq);
            cr_assert_eq(e.balance, cases[i].balance, "case %zu: balance %lld", i,
                         (long long)e.balance);
        }
    }
    ws_event e;
    bool found = true;
    cr_assert_eq(store_account_last(st, "nobody", 6, UINT64_MAX, false, &e, &found), WS_OK);
    cr_assert_not(found);
    found = true;
    cr_assert_eq(store_account_last(st, "D", 1, UINT64_MAX, true, &e, &found), WS_OK);
    cr_assert_not(found, "D has no two-phase event");
    found = true;
    cr_assert_eq(store_account_last(st, "D", 1, 35, false, &e, &found), WS_OK);
    cr_assert_not(found, "D's first event is 35");
}

/* ---- the first seq after a time -----------------------------------------------------------------
 */

Test(store, seq_after_time_on_empty_log) {
    const uint64_t ts[] = {0, 1, NOW_US, UINT64_MAX};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        uint64_t seq = 99;
        cr_assert_eq(store_seq_after_time(st, ts[i], &seq), WS_OK);
        cr_assert_eq(seq, 1);
    }
}

/* Blocks at distinct times, spelled out: 1..3 at T+10, (a block of refusals only at T+15),
 * 4..5 at T+20, 6 at T+30, 7..8 at T+40. */
Test(store, seq_after_time_spelled_out) {
    const uint64_t t = NOW_US;
    ws_record b1[2] = {rec_created("A", 10), rec_created("B", 0)};
    append(b1, 2, t + 10);
    append1(rec_created("C", 0), t + 10); /* another block at the same time */
    append1(rec_refused(WS_ACCOUNT_NOT_FOUND, 2, "A", "X", "r1", 1), t + 15);
    append1(rec_transfer("A", "B", "t2", 1, 9, 1), t + 20);
    append1(rec_created("D", 0), t + 30);
    append1(rec_transfer("A", "B", "t3", 1, 8, 2), t + 40);
    cr_assert_eq(next_seq, 9);
    const struct {
        uint64_t t;
        uint64_t seq;
    } cases[] = {
        {0, 1},      {t, 1},      {t + 9, 1},  {t + 10, 4},     {t + 11, 4},
        {t + 15, 4}, {t + 19, 4}, {t + 20, 6}, {t + 29, 6},     {t + 30, 7},
        {t + 39, 7}, {t + 40, 9}, {t + 41, 9}, {UINT64_MAX, 9},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t seq = 0;
        cr_assert_eq(store_seq_after_time(st, cases[i].t, &seq), WS_OK);
        cr_assert_eq(seq, cases[i].seq, "T%+lld: seq %llu, want %llu", (long long)(cases[i].t - t),
                     (unsigned long long)seq, (unsigned long long)cases[i].seq);
    }
    assert_all_seq_after(st);
    write_checkpoint(); /* the checkpoint does not change the answer */
    assert_all_seq_after(st);
}

/* Many blocks, some sharing a time, some of refusals only, a group commit cut into several
 * blocks: every time around every block's. */
Test(store, seq_after_time_over_many_blocks) {
    append1(rec_created("A", 1000000), NOW_US);
    append1(rec_created("B", 0), NOW_US);
    static ws_record recs[150];
    int64_t a = 1000000;
    int64_t b = 0;
    uint64_t ts = NOW_US;
    for (unsigned k = 0; k < 40; k++) {
        size_t n = k % 7 == 3 ? 150 : 1 + k % 5; /* 150: cut into three blocks */
        for (size_t i = 0; i < n; i++) {
            char txn[24];
            snprintf(txn, sizeof(txn), "t%u.%zu", k, i);
            if (k % 9 == 4) {
                recs[i] = rec_refused(WS_ACCOUNT_NOT_FOUND, 2, "A", "X", txn, 1);
            } else {
                a--;
                b++;
                recs[i] = rec_transfer("A", "B", txn, 1, a, b);
            }
        }
        ts += k % 4 == 1 ? 0 : 1 + k * 3; /* some groups share the previous one's time */
        append(recs, n, ts);
    }
    assert_all_seq_after(st);
    assert_verify_ok(st);
}

/* Over the history log, with its checkpoints. */
Test(store, seq_after_time_over_history) {
    write_history_with_checkpoints();
    assert_all_seq_after(st);
}

/* ---- the two-phase index in the audit -----------------------------------------------------------
 * A's two-phase events below the second checkpoint: 7 and 11 (the first checkpoint's 'y' value
 * at 7), 20 (the second's, at 20). Seq 1 is A's AccountCreated, 10 its Credit of t2, 8 C's
 * PendingCredit of p1. */

static void put_two_phase(const char *acct, const uint64_t *seqs, size_t n) {
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    store_ckpt_put_index(c, STORE_INDEX_TWO_PHASE, acct, strlen(acct), seqs, n);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
}

/* The model's seqs as the comment above says: the tests below plant defects by them. */
static void assert_a_two_phase_events(void) {
    cr_assert(of_account(&events[6], "A") && events[6].two_phase);
    cr_assert(of_account(&events[10], "A") && events[10].two_phase);
    cr_assert(of_account(&events[19], "A") && events[19].two_phase);
    cr_assert(of_account(&events[0], "A") && !events[0].two_phase);
    cr_assert(of_account(&events[9], "A") && !events[9].two_phase);
    cr_assert(of_account(&events[7], "C") && events[7].two_phase);
}

Test(store, verify_accepts_two_phase_index) {
    write_history_with_checkpoints();
    assert_a_two_phase_events();
    assert_verify_ok(st);
    write_checkpoint();
    assert_verify_ok(st);
}

/* A 'y' entry of one of the account's events that is not of a two-phase record, the count
 * kept right (A's value at 7 lists 7 and 10 instead of 7 and 11): only the kind is wrong. */
Test(store, verify_detects_two_phase_entry_of_plain_event) {
    write_history_with_checkpoints();
    assert_a_two_phase_events();
    const uint64_t seqs[2] = {7, 10};
    put_two_phase("A", seqs, 2);
    assert_verify_reports("two-phase index: an entry is not a two-phase event of its account");
}

/* A 'y' value naming the account's AccountCreated. */
Test(store, verify_detects_two_phase_entry_of_account_created) {
    write_history_with_checkpoints();
    assert_a_two_phase_events();
    const uint64_t seqs[1] = {1};
    put_two_phase("A", seqs, 1);
    assert_verify_reports("two-phase index: an entry is not a two-phase event of its account");
}

/* A 'y' value naming another account's two-phase event (C's PendingCredit at 8). */
Test(store, verify_detects_two_phase_entry_of_another_account) {
    write_history_with_checkpoints();
    assert_a_two_phase_events();
    const uint64_t seqs[1] = {8};
    put_two_phase("A", seqs, 1);
    assert_verify_reports("two-phase index: an entry is not a two-phase event of its account");
}

/* A 'y' value that lists fewer events than there are (A's at 7 without 11). */
Test(store, verify_detects_two_phase_index_short) {
    write_history_with_checkpoints();
    assert_a_two_phase_events();
    const uint64_t seqs[1] = {7};
    put_two_phase("A", seqs, 1);
    assert_verify_reports("two-phase index: the entry count differs from the two-phase events "
                          "below the checkpoint");
}

/* A checkpoint with no 'y' values at all, as one written before the two-phase index was. */
Test(store, verify_detects_missing_two_phase_index) {
    hist_start();
    history_part1();
    ckpt_skip_two_phase_index = true;
    write_checkpoint();
    ckpt_skip_two_phase_index = false;
    assert_verify_reports("two-phase index: the entry count differs from the two-phase events "
                          "below the checkpoint");
}

/* A 'y' value that is not a valid index value. */
Test(store, verify_detects_two_phase_value_failing_its_checks) {
    write_history_with_checkpoints();
    const uint64_t zero[1] = {0};
    put_two_phase("A", zero, 1);
    assert_verify_reports("two-phase index: a value of no account or failing its checks");
}

/* A 'y' value under an ID of no account. */
Test(store, verify_detects_two_phase_value_of_no_account) {
    write_history_with_checkpoints();
    const uint64_t seqs[1] = {7};
    put_two_phase("ghost", seqs, 1);
    assert_verify_reports("two-phase index: a value of no account or failing its checks");
}

/* The same defects leave the 'x' index alone: the plain index's problems are not reported
 * for a 'y' defect. */
Test(store, verify_two_phase_defect_is_not_an_index_defect) {
    write_history_with_checkpoints();
    const uint64_t seqs[1] = {7};
    put_two_phase("A", seqs, 1);
    store_verify_report rep;
    char text[8192];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_CORRUPT, "%s", text);
    cr_assert_eq(rep.problems, 1, "%s", text);
    cr_assert_null(strstr(text, "problem: index:"), "%s", text);
}

/* ---- the checkpointer's two-phase index ---------------------------------------------------------
 * src/engine/checkpoint.c, run once over the log as at a stop (as test_sm.c runs it): the 'y'
 * values it writes are what store_scan_account reads below the checkpoint, and what the audit
 * accepts. */

static int ckpt_failures;

static void on_ckpt_failure(void *ctx) {
    (void)ctx;
    ckpt_failures++;
}

static void run_checkpointer(void) {
    sm *m = NULL;
    cr_assert_eq(sm_open(st, 64, &m), WS_OK);
    epoch *e = epoch_new();
    cr_assert_not_null(e);
    ws_accounts_set_retire(sm_accounts(m), epoch_retire_hook, e);
    store_ckpt_meta newest;
    cr_assert_eq(store_ckpt_meta_get(st, &newest), WS_OK);
    ckpt_config cc = {.st = st,
                      .accounts = sm_accounts(m),
                      .epoch = e,
                      .committed = sm_committed(m),
                      .from = newest,
                      .interval_ms = CKPT_INTERVAL_MS_MAX,
                      .on_failure = on_ckpt_failure,
                      .ctx = NULL};
    ckpt *c = NULL;
    cr_assert_eq(ckpt_start(&cc, &c), WS_OK);
    ckpt_stop(c);
    cr_assert_eq(ckpt_count(c), 1);
    ckpt_free(c);
    ws_accounts_set_retire(sm_accounts(m), NULL, NULL);
    epoch_free(e);
    sm_free(m);
    cr_assert_eq(ckpt_failures, 0, "the checkpoint failed");
    store_ckpt_meta now;
    cr_assert_eq(store_ckpt_meta_get(st, &now), WS_OK);
    cr_assert_eq(now.next_lsn, next_lsn);
    cr_assert_eq(now.next_seq, next_seq);
}

Test(store, checkpointer_writes_two_phase_index) {
    hist_start();
    history_part1();
    run_checkpointer();
    history_part2();
    run_checkpointer();
    /* everything from the indexes, of two checkpoints */
    for (size_t a = 0; a < HISTORY_ACCTS; a++) {
        for (unsigned v = 0; v < 4; v++) {
            store_range r = {1, UINT64_MAX, 1000, v & 1, v >> 1};
            assert_history(st, history_accts[a], r);
        }
    }
    /* A's two-phase events 7, 11 and 20, read from 'y' values */
    static ws_event buf[8];
    collected c = {.ev = buf, .n = 0, .cap = 8};
    bool more = true;
    store_range r = {1, UINT64_MAX, 8, false, true};
    cr_assert_eq(store_scan_account(st, "A", 1, &r, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 3);
    cr_assert_eq(buf[0].seq, 7);
    cr_assert_eq(buf[1].seq, 11);
    cr_assert_eq(buf[2].seq, 20);
    cr_assert_not(more);
    assert_verify_ok(st);
    /* and with a tail after them, then covered by a third checkpoint */
    history_part3();
    assert_all_walks(st);
    assert_all_lasts(st);
    run_checkpointer();
    assert_all_walks(st);
    assert_all_lasts(st);
    assert_verify_ok(st);
}

/* ---- a projection from before the two-phase index ----------------------------------------------
 */

/* Sets the version of the checkpoint's meta (the store closed), its CRC mended. */
static void set_meta_version(raw_db *r, char version) {
    size_t vlen;
    char *v = raw_get(r, "m", 1, &vlen);
    cr_assert(v && vlen == 72 && v[0] == 3, "a version-3 meta");
    v[0] = version;
    ws_put_u64le((unsigned char *)v + 64, ws_crc32c(v, 64));
    raw_put(r, "m", 1, v, vlen);
    free(v);
}

/* Turns the checkpoint's meta back into version 1 (written before 'y' existed) and removes
 * A's 'y' value at 7, as such a projection would lack it. */
static void make_projection_version_1(void) {
    close_store();
    raw_db r = raw_open("proj");
    set_meta_version(&r, 1);
    char key[WS_ID_LEN_MAX + 10];
    key[0] = 'y';
    key[1] = 'A';
    key[2] = '\0';
    ws_put_u64be((unsigned char *)key + 3, 7);
    raw_delete(&r, key, 11);
    raw_close(&r);
}

/* A version-2 meta (before the 'Q' packs; its pending transfers all 'q' values, which this
 * version reads as they are) is used as it stands: not rebuilt, and the audit passes. */
Test(store, projection_of_version_2_is_kept) {
    write_history_with_checkpoints();
    store_ckpt_meta before;
    cr_assert_eq(store_ckpt_meta_get(st, &before), WS_OK);
    close_store();
    raw_db r = raw_open("proj");
    set_meta_version(&r, 2);
    raw_close(&r);
    reopen_store();
    store_ckpt_meta m;
    cr_assert_eq(store_ckpt_meta_get(st, &m), WS_OK);
    cr_assert_eq(m.next_lsn, before.next_lsn, "the checkpoint is kept");
    assert_verify_ok(st);
}

/* --verify (read-only) notes the old projection instead of reporting its missing 'y' values;
 * a read-write open rebuilds it from the log: no checkpoint left, the history still whole. */
Test(store, projection_before_the_two_phase_index_is_rebuilt) {
    write_history_with_checkpoints();
    assert_a_two_phase_events();
    make_projection_version_1();
    cr_assert_eq(store_open(dir, true, &st_ro), WS_OK);
    store_verify_report rep;
    char text[8192];
    cr_assert_eq(verify(st_ro, &rep, text, sizeof(text)), WS_OK, "%s", text);
    cr_assert_not_null(strstr(text, "predates the two-phase index"), "%s", text);
    store_close(st_ro);
    st_ro = NULL;
    reopen_store();
    store_ckpt_meta m;
    cr_assert_eq(store_ckpt_meta_get(st, &m), WS_OK);
    cr_assert_eq(m.next_lsn, 1, "the old checkpoint is gone");
    ws_event last;
    bool found;
    cr_assert_eq(store_account_last(st, "A", 1, 12, true, &last, &found), WS_OK);
    cr_assert(found && last.seq == 11, "A's two-phase event at 11 from the log: %d %llu", found,
              (unsigned long long)last.seq);
    write_checkpoint();
    assert_verify_ok(st);
}
