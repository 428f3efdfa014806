/* Pages of events: the whole log's (GET /events), one account's from the per-account
 * index of the newest checkpoint and the log after it, and an account's history (a range of
 * seqs or times, either direction, and its balance at a point). */
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

/* A copy of one block and a cursor over it, and the iterator over the log it is read
 * through (made at the first read: one per page, not one per event). */
typedef struct {
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len;
    ws_block_header h;
    ws_block_cursor c;
    rocksdb_iterator_t *it;
} block_copy;

static block_copy *copy_new(void) {
    block_copy *bc = malloc(sizeof(*bc));
    if (bc) {
        bc->len = 0;
        bc->it = NULL;
    }
    return bc;
}

static void copy_free(block_copy *bc) {
    if (bc && bc->it) {
        rocksdb_iter_destroy(bc->it);
    }
    free(bc);
}

static WS_MUST_USE ws_status open_copy(block_copy *bc, const char *val, size_t vlen,
                                       uint64_t key_lsn) {
    if (vlen > sizeof(bc->buf)) {
        return WS_CORRUPT;
    }
    memcpy(bc->buf, val, vlen);
    bc->len = vlen;
    ws_status s = ws_block_open(bc->buf, vlen, &bc->h, &bc->c);
    return s == WS_OK && bc->h.first_lsn != key_lsn ? WS_CORRUPT : s;
}

/* ---- events pages ------------------------------------------------------------------------ */

/* A page of events: those with lo <= seq < hi (of one account, and in index ix), oldest
 * first or newest first, at most limit of them. */
typedef struct {
    uint64_t lo;
    uint64_t hi;
    size_t limit;
    size_t given;
    bool more;
    bool reverse;
    const char *acct; /* NULL: every event */
    size_t acct_len;
    store_index ix; /* STORE_INDEX_TWO_PHASE: only the events of two-phase records */
    store_event_fn fn;
    void *ctx;
    /* newest first: the newest limit events of the log after the checkpoint, a ring that
     * grows (doubling, up to limit) as they come, then wraps */
    ws_event *ring;
    size_t ring_cap;
    size_t ring_n; /* events offered to it; the newest min(ring_n, limit) are kept */
} page;

static bool wanted(const page *pg, const ws_event *e) {
    return (pg->acct == NULL ||
            (e->account_len == pg->acct_len && memcmp(e->account, pg->acct, pg->acct_len) == 0)) &&
           (pg->ix != STORE_INDEX_TWO_PHASE || e->two_phase);
}

/* Gives one event to the page. WS_NOT_FOUND ends the scan (the page is full). */
static ws_status give(page *pg, const ws_event *e) {
    if (pg->given == pg->limit) {
        pg->more = true;
        return WS_NOT_FOUND;
    }
    pg->given++;
    return pg->fn(pg->ctx, e);
}

/* Keeps e in the ring of a newest-first page. */
static ws_status keep(page *pg, const ws_event *e) {
    if (pg->ring_n == pg->ring_cap && pg->ring_cap < pg->limit) {
        size_t cap = pg->ring_cap ? pg->ring_cap * 2 : 16;
        cap = cap > pg->limit ? pg->limit : cap;
        ws_event *r =
            cap <= SIZE_MAX / sizeof(ws_event) ? realloc(pg->ring, cap * sizeof(ws_event)) : NULL;
        if (!r) {
            return WS_INTERNAL;
        }
        pg->ring = r;
        pg->ring_cap = cap;
    }
    pg->ring[pg->ring_n++ % pg->limit] = *e;
    return WS_OK;
}

/* Offers one event, in seq order, to the page. WS_NOT_FOUND ends the scan: the page is full,
 * or the range is passed. */
static ws_status offer(page *pg, const ws_event *e) {
    if (e->seq >= pg->hi) {
        return WS_NOT_FOUND;
    }
    if (e->seq < pg->lo || !wanted(pg, e)) {
        return WS_OK;
    }
    if (pg->reverse) {
        return keep(pg, e); /* the newest are given once all are seen */
    }
    return give(pg, e);
}

static ws_status offer_record(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq,
                              uint64_t timestamp_us) {
    (void)lsn;
    ws_event ev[2];
    unsigned n = ws_record_events(r, seq, timestamp_us, ev);
    ws_status s = WS_OK;
    for (unsigned i = 0; i < n && s == WS_OK; i++) {
        s = offer(ctx, &ev[i]);
    }
    return s;
}

/* The lsn of the block holding event seq (the last block whose first event is at or
 * before it), or 1 if there is none: the scan then starts at the beginning. */
ws_status store_block_of_seq_(store *st, uint64_t seq, uint64_t *lsn) {
    rocksdb_iterator_t *it = rocksdb_create_iterator(st->log.db, st->read_options);
    char key[9];
    rocksdb_iter_seek_for_prev(it, key, store_seq_key_(seq, key));
    *lsn = 1;
    ws_status s = WS_OK;
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        if (klen == 9 && k[0] == 'S') {
            s = vlen == 8 ? WS_OK : WS_CORRUPT;
            *lsn = vlen == 8 ? ws_get_u64be((const unsigned char *)v) : 1;
        }
    }
    ws_status is = store_iter_status_(it);
    rocksdb_iter_destroy(it);
    return is != WS_OK ? is : s;
}

/* The log from the block that holds event pg->lo, or from lsn from if that is later. */
static WS_MUST_USE ws_status scan_log_from(store *st, page *pg, uint64_t from) {
    uint64_t lsn;
    ws_status s = store_block_of_seq_(st, pg->lo, &lsn);
    if (s == WS_OK) {
        s = store_scan_log(st, lsn > from ? lsn : from, offer_record, pg);
    }
    return s == WS_NOT_FOUND ? WS_OK : s;
}

/* Reads the block holding event seq into bc, unless bc already holds it. */
static WS_MUST_USE ws_status load_block(store *st, uint64_t seq, block_copy *bc) {
    if (bc->len != 0 && seq >= bc->h.first_seq && seq < bc->h.first_seq + bc->h.events) {
        return WS_OK;
    }
    if (!bc->it) {
        bc->it = rocksdb_create_iterator(st->log.db, st->read_options);
    }
    /* the 'S' entry of the block (the last at or before seq), then the block it names */
    char key[9];
    size_t klen;
    size_t vlen;
    ws_status s = WS_CORRUPT;
    rocksdb_iter_seek_for_prev(bc->it, key, store_seq_key_(seq, key));
    if (rocksdb_iter_valid(bc->it)) {
        const char *k = rocksdb_iter_key(bc->it, &klen);
        const char *v = rocksdb_iter_value(bc->it, &vlen);
        if (klen == 9 && k[0] == 'S' && vlen == 8) {
            uint64_t lsn = ws_get_u64be((const unsigned char *)v);
            rocksdb_iter_seek(bc->it, key, store_block_key_(lsn, key));
            if (rocksdb_iter_valid(bc->it) &&
                (k = rocksdb_iter_key(bc->it, &klen), klen == 9 && memcmp(k, key, 9) == 0)) {
                v = rocksdb_iter_value(bc->it, &vlen);
                s = open_copy(bc, v, vlen, lsn);
            }
        }
    }
    if (s == WS_CORRUPT && store_iter_status_(bc->it) != WS_OK) {
        s = WS_UNAVAILABLE; /* not a bad block: RocksDB failed to read */
    }
    if (s == WS_OK && (seq < bc->h.first_seq || seq >= bc->h.first_seq + bc->h.events)) {
        s = WS_CORRUPT; /* the seq index names a block that does not hold the event */
    }
    if (s != WS_OK) {
        bc->len = 0;
    }
    return s;
}

/* The event numbered seq, from a cached copy of its block when it is the same one. */
static WS_MUST_USE ws_status event_at(store *st, uint64_t seq, block_copy *bc, ws_event *e) {
    ws_status s = load_block(st, seq, bc);
    if (s != WS_OK) {
        return s;
    }
    ws_block_cursor c = bc->c;
    ws_record r;
    uint64_t lsn;
    uint64_t first;
    while (ws_block_next(&c, &r, &lsn, &first)) {
        ws_event ev[2];
        unsigned n = ws_record_events(&r, first, bc->h.timestamp_us, ev);
        for (unsigned i = 0; i < n; i++) {
            if (ev[i].seq == seq) {
                *e = ev[i];
                return WS_OK;
            }
        }
    }
    return WS_CORRUPT; /* the index names an event that is not there */
}

/* True if the iterator's key is an index key of the account whose prefix key holds. */
static bool same_prefix(rocksdb_iterator_t *it, const char *key, size_t prefix, size_t klen) {
    size_t kl;
    const char *k = rocksdb_iter_key(it, &kl);
    return kl == klen && memcmp(k, key, prefix) == 0;
}

/* The seqs of the index value under the iterator; their count, or -1 if it fails its checks. */
static long index_value(rocksdb_iterator_t *it, size_t prefix, uint64_t *seqs) {
    size_t kl;
    size_t vl;
    const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &kl);
    const char *v = rocksdb_iter_value(it, &vl);
    return store_index_decode_((const unsigned char *)v, vl, ws_get_u64be(k + prefix), seqs,
                               STORE_INDEX_SEQS_MAX);
}

/* The account's events from the checkpoint's index, below its next_seq (later values may
 * already be there; they are read from the log instead), in the page's order. */
static WS_MUST_USE ws_status scan_index(store *st, page *pg, uint64_t below, rocksdb_iterator_t *it,
                                        block_copy *bc) {
    uint64_t hi = pg->hi < below ? pg->hi : below;
    if (pg->lo >= hi) {
        return WS_OK;
    }
    char key[WS_ID_LEN_MAX + 10];
    size_t klen =
        store_index_key_(pg->ix, pg->acct, pg->acct_len, pg->reverse ? hi - 1 : pg->lo, key);
    size_t prefix = klen - 8;
    /* The value holding the first event wanted starts at or before it; going forward,
     * failing that, the first. */
    rocksdb_iter_seek_for_prev(it, key, klen);
    if (!pg->reverse && (!rocksdb_iter_valid(it) || !same_prefix(it, key, prefix, klen))) {
        rocksdb_iter_seek(it, key, prefix);
    }
    uint64_t seqs[STORE_INDEX_SEQS_MAX];
    ws_status s = WS_OK;
    while (s == WS_OK && rocksdb_iter_valid(it) && same_prefix(it, key, prefix, klen)) {
        long n = index_value(it, prefix, seqs);
        if (n < 0) {
            return WS_CORRUPT;
        }
        for (long k = 0; k < n && s == WS_OK; k++) {
            uint64_t seq = seqs[pg->reverse ? n - 1 - k : k];
            if (seq < pg->lo || seq >= hi) {
                /* outside the range: past its end in the page's order stops the scan */
                s = (pg->reverse ? seq < pg->lo : seq >= hi) ? WS_NOT_FOUND : WS_OK;
                continue;
            }
            ws_event e;
            s = event_at(st, seq, bc, &e);
            if (s == WS_OK) {
                s = give(pg, &e);
            }
        }
        if (pg->reverse) {
            rocksdb_iter_prev(it);
        } else {
            rocksdb_iter_next(it);
        }
    }
    if (s == WS_NOT_FOUND) {
        return WS_OK;
    }
    return s == WS_OK ? store_iter_status_(it) : s;
}

/* The newest checkpoint's meta through it (the empty one if there is none). */
static WS_MUST_USE ws_status meta_of(rocksdb_iterator_t *it, store_ckpt_meta *m) {
    *m = (store_ckpt_meta){.next_lsn = 1, .next_seq = 1};
    rocksdb_iter_seek(it, "m", 1);
    size_t klen;
    if (rocksdb_iter_valid(it) && (rocksdb_iter_key(it, &klen), klen == 1) &&
        rocksdb_iter_key(it, &klen)[0] == 'm') {
        size_t vlen;
        const char *v = rocksdb_iter_value(it, &vlen);
        return store_ckpt_meta_from_(v, vlen, m);
    }
    return WS_OK;
}

/* Gives the ring's events, newest first. */
static WS_MUST_USE ws_status give_ring(page *pg) {
    size_t kept = pg->ring_n < pg->limit ? pg->ring_n : pg->limit;
    ws_status s = WS_OK;
    for (size_t k = 0; k < kept && s == WS_OK; k++) {
        s = give(pg, &pg->ring[(pg->ring_n - 1 - k) % pg->limit]);
    }
    pg->more = pg->more || pg->ring_n > pg->limit;
    return s;
}

/* One account's events. Oldest first: the checkpoint's index (one consistent view of the
 * projection, read through one iterator), then the log after the checkpoint. Newest first:
 * the log after the checkpoint, its newest events kept in a ring, then the index backwards. */
static WS_MUST_USE ws_status scan_account(store *st, page *pg) {
    rocksdb_iterator_t *it = rocksdb_create_iterator(st->proj.db, st->read_options);
    store_ckpt_meta m;
    ws_status s = meta_of(it, &m);
    block_copy *bc = copy_new();
    if (!bc) {
        s = WS_INTERNAL;
    }
    if (s == WS_OK && !pg->reverse) {
        s = scan_index(st, pg, m.next_seq, it, bc);
        if (s == WS_OK && !pg->more && pg->hi > m.next_seq) {
            s = scan_log_from(st, pg, m.next_lsn);
        }
    } else if (s == WS_OK) {
        if (pg->hi > m.next_seq) {
            s = scan_log_from(st, pg, m.next_lsn);
        }
        if (s == WS_OK) {
            s = give_ring(pg);
        }
        if (s == WS_OK && !pg->more) {
            s = scan_index(st, pg, m.next_seq, it, bc);
        }
    }
    rocksdb_iter_destroy(it);
    copy_free(bc);
    free(pg->ring);
    return s == WS_NOT_FOUND ? WS_OK : s;
}

ws_status store_scan_events(store *st, uint64_t after, size_t limit, const char *acct,
                            size_t acct_len, store_event_fn fn, void *ctx, bool *more) {
    *more = false;
    if (after == UINT64_MAX || limit == 0) {
        return WS_OK;
    }
    page pg = {.lo = after + 1,
               .hi = UINT64_MAX,
               .limit = limit,
               .acct = acct_len > 0 ? acct : NULL,
               .acct_len = acct_len,
               .ix = STORE_INDEX_EVENTS,
               .fn = fn,
               .ctx = ctx};
    ws_status s = acct_len > 0 ? scan_account(st, &pg) : scan_log_from(st, &pg, 1);
    *more = pg.more;
    return s;
}

/* ---- an account's history ------------------------------------------------------------------ */

ws_status store_scan_account(store *st, const char *acct, size_t len, const store_range *r,
                             store_event_fn fn, void *ctx, bool *more) {
    WS_ASSERT(len > 0);
    *more = false;
    if (r->limit == 0 || r->lo >= r->hi) {
        return WS_OK;
    }
    page pg = {.lo = r->lo < 1 ? 1 : r->lo,
               .hi = r->hi,
               .limit = r->limit,
               .reverse = r->reverse,
               .acct = acct,
               .acct_len = len,
               .ix = r->two_phase ? STORE_INDEX_TWO_PHASE : STORE_INDEX_EVENTS,
               .fn = fn,
               .ctx = ctx};
    ws_status s = scan_account(st, &pg);
    *more = pg.more;
    return s;
}

static ws_status keep_one(void *ctx, const ws_event *e) {
    *(ws_event *)ctx = *e;
    return WS_OK;
}

ws_status store_account_last(store *st, const char *acct, size_t len, uint64_t below,
                             bool two_phase, ws_event *out, bool *found) {
    store_range r = {.lo = 1, .hi = below, .limit = 1, .reverse = true, .two_phase = two_phase};
    bool more;
    out->seq = 0;
    ws_status s = store_scan_account(st, acct, len, &r, keep_one, out, &more);
    *found = s == WS_OK && out->seq != 0;
    return s;
}

ws_status store_seq_after_time(store *st, uint64_t t_us, uint64_t *out) {
    uint64_t next_lsn;
    uint64_t lo = 1;
    uint64_t hi;
    ws_status s = store_log_end(st, &next_lsn, &hi, NULL);
    /* Invariant: the events below lo are at or before t_us, those from hi on after it. Each
     * step reads the block holding the middle event: all of its events share its time. */
    block_copy *bc = copy_new();
    if (!bc) {
        return WS_INTERNAL;
    }
    while (s == WS_OK && lo < hi) {
        s = load_block(st, lo + (hi - lo) / 2, bc);
        if (s == WS_OK && bc->h.timestamp_us > t_us) {
            hi = bc->h.first_seq > lo ? bc->h.first_seq : lo;
        } else if (s == WS_OK) {
            lo = bc->h.first_seq + bc->h.events;
        }
    }
    copy_free(bc);
    *out = lo;
    return s;
}
