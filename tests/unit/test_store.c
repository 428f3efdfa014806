/* Unit tests for store/: the data-format-2 store on a fresh temporary directory per test.
 *
 * The store is driven directly, without the state machine, so that the tests write exactly
 * the log they want. Each test keeps a model of what it wrote (every record with its lsn,
 * first seq and timestamp), and the reads are checked against that model: records by lsn,
 * scans of the log from any lsn, and every events page (after, limit, more; all events or one
 * account's) over the log alone, over checkpoints written by hand the way
 * src/engine/checkpoint.c writes them, and over the log tail after the newest one.
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

#include "core/ledger.h"
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
        cr_assert_eq(ws_ledger_apply(l, &model[i].r, model[i].lsn, model[i].seq, &eff, &why), WS_OK,
                     "the model does not apply: %s", why);
    }
}

/* Stages the per-account index of the events from first_seq on, by account then seq. */
static void stage_index(store_ckpt *c, const ws_ledger *l, uint64_t first_seq) {
    acct_seq *pairs = calloc(event_n + 1, sizeof(*pairs));
    uint64_t *seqs = calloc(event_n + 1, sizeof(uint64_t));
    cr_assert(pairs && seqs);
    size_t np = 0;
    for (size_t i = first_seq - 1; i < event_n; i++) {
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
        store_ckpt_put_index(c, STORE_INDEX_EVENTS, id, len, seqs, j - i);
        i = j;
    }
    free(seqs);
    free(pairs);
}

/* Stages the idempotency entries of the records from first_lsn on. */
static void stage_idem(store_ckpt *c, uint64_t first_lsn) {
    uint64_t *fps = calloc(model_n + 1, sizeof(uint64_t));
    uint64_t *lsns = calloc(model_n + 1, sizeof(uint64_t));
    cr_assert(fps && lsns);
    size_t n = 0;
    for (size_t i = first_lsn - 1; i < model_n; i++) {
        const ws_record *r = &model[i].r;
        if (r->kind != WS_REC_ACCOUNT_CREATED) {
            fps[n] = ws_idem_fp(store_fp_key(st), r->txn, r->txn_len);
            lsns[n++] = model[i].lsn;
        }
    }
    if (n > 0) {
        store_ckpt_put_idem(c, first_lsn, 0, fps, lsns, n);
    }
    free(fps);
    free(lsns);
}

/* Writes a checkpoint of everything appended so far, on top of the newest one, the way the
 * checkpointer does: the directory, the balances of every chunk, the per-account index of the
 * events since the previous checkpoint, the idempotency entries of its records, the meta. */
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
    stage_index(c, &l, prev.next_seq);
    stage_idem(c, prev.next_lsn);
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
