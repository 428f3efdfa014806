/* RocksDB behind the store interface. Every value RocksDB hands back (errors, Get
 * results) is malloc'ed by it; each is freed right where it is taken. */
#include "store/store.h"

#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "store/internal.h"
#ifdef WS_FAULT_INJECTION
#include "store/fault.h"
#endif

#define KEY_MAX (2 + WS_ID_LEN_MAX + 8)
#define META_SIZE 48 /* format, 7 zero, next_seq, count, total lo, hi, crc32c as u64 */
#define META_FORMAT 1

struct store {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_block_based_table_options_t *table_options;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *read_options;
    rocksdb_readoptions_t *scan_options; /* whole-keyspace scans: no cache fill, readahead */
    bool read_only;
    rocksdb_writeoptions_t *write_options;
};

/* One put staged in a batch (see store_batch_new). */
typedef struct {
    uint32_t key_off;
    uint32_t key_len;
    uint32_t val_len; /* the value follows the key in the arena */
    uint32_t order;   /* put order, to keep the last of equal keys */
} staged;

struct store_batch {
    rocksdb_writebatch_t *wb;
    staged *entries;
    size_t entries_cap;
    size_t count;
    char *arena;
    size_t arena_cap;
    size_t used;
};

/* Logs and frees a RocksDB error string; returns whether there was one. */
static bool take_error(char *err, const char *what) {
    if (!err) {
        return false;
    }
    fprintf(stderr, "wallet-service: rocksdb %s failed: %s\n", what, err);
    rocksdb_free(err);
    return true;
}

ws_status store_open(const char *dir, bool read_only, store **out) {
    store *st = calloc(1, sizeof(*st));
    if (!st) {
        return WS_INTERNAL;
    }
    st->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(st->options, !read_only);
    /* Each transfer inserts five random keys into the memtable, and the skiplist's cache
     * misses dominate the writer's CPU: a 16 MB memtable cost 50 us of server CPU per
     * transfer where a 64 MB one cost 72 us (docs/performance.md). */
    rocksdb_options_set_write_buffer_size(st->options, 16u << 20);
    rocksdb_options_set_max_background_jobs(st->options, 2);
    rocksdb_options_set_keep_log_file_num(st->options, 4); /* RocksDB's own LOG files */
    /* Background flushes and compactions sync every 1 MB instead of in one burst at the end
     * of a file, which would queue the writer's WAL fdatasync behind it: transfer p99
     * 13.5 -> 12.2 ms (medians of three 12 s runs, docs/performance.md). */
    rocksdb_options_set_bytes_per_sync(st->options, 1u << 20);
    st->cache = rocksdb_cache_create_lru(32u << 20);
    st->table_options = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(st->table_options, st->cache);
    rocksdb_block_based_options_set_filter_policy(st->table_options,
                                                  rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(st->options, st->table_options);
    st->read_options = rocksdb_readoptions_create();
    st->scan_options = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(st->scan_options, 0);
    rocksdb_readoptions_set_readahead_size(st->scan_options, 2u << 20);
    st->read_only = read_only;
    st->write_options = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(st->write_options, 1);

    char *err = NULL;
    st->db = read_only ? rocksdb_open_for_read_only(st->options, dir, 0, &err)
                       : rocksdb_open(st->options, dir, &err);
    if (take_error(err, "open")) {
        store_close(st);
        return WS_UNAVAILABLE;
    }
    *out = st;
    return WS_OK;
}

void store_close(store *st) {
    if (!st) {
        return;
    }
    if (st->db) {
        if (!st->read_only) {
            /* Flushing the memtables on a clean stop leaves an empty write-ahead log, so
             * the next start replays nothing and holds no memtable it does not need. After
             * a failed commit RocksDB refuses the flush; the log then stays the truth. */
            rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
            rocksdb_flushoptions_set_wait(fo, 1);
            char *err = NULL;
            rocksdb_flush(st->db, fo, &err);
            take_error(err, "flush at close");
            rocksdb_flushoptions_destroy(fo);
        }
        rocksdb_close(st->db);
    }
    rocksdb_writeoptions_destroy(st->write_options);
    rocksdb_readoptions_destroy(st->read_options);
    rocksdb_readoptions_destroy(st->scan_options);
    rocksdb_options_destroy(st->options);
    rocksdb_block_based_options_destroy(st->table_options);
    rocksdb_cache_destroy(st->cache);
    free(st);
}

static size_t id_key(char kind, const char *id, size_t len, char *key) {
    WS_ASSERT(len > 0 && len <= WS_ID_LEN_MAX);
    key[0] = kind;
    memcpy(key + 1, id, len);
    return len + 1;
}

static size_t event_key(uint64_t seq, char *key) {
    key[0] = 'e';
    ws_put_u64be((unsigned char *)key + 1, seq);
    return 9;
}

static size_t index_key(const char *id, size_t len, uint64_t seq, char *key) {
    size_t n = id_key('x', id, len, key);
    key[n++] = '\0';
    ws_put_u64be((unsigned char *)key + n, seq);
    return n + 8;
}

/* A point read. *val is NULL when the key is absent; otherwise free it with rocksdb_free. */
static WS_MUST_USE ws_status get(store *st, const char *key, size_t klen, char **val,
                                 size_t *vlen) {
    char *err = NULL;
    *val = rocksdb_get(st->db, st->read_options, key, klen, vlen, &err);
    return take_error(err, "get") ? WS_UNAVAILABLE : WS_OK;
}

ws_status store_get_balance(store *st, const char *id, size_t len, uint64_t *out) {
    char key[KEY_MAX];
    size_t klen = id_key('a', id, len, key);
    char *val;
    size_t vlen;
    ws_status s = get(st, key, klen, &val, &vlen);
    if (s != WS_OK) {
        return s;
    }
    if (!val) {
        return WS_ACCOUNT_NOT_FOUND;
    }
    s = vlen == 8 ? WS_OK : WS_CORRUPT;
    if (s == WS_OK) {
        *out = ws_get_u64le((const unsigned char *)val);
    }
    rocksdb_free(val);
    return s;
}

ws_status store_get_transfer(store *st, const char *id, size_t len, ws_transfer_record *out) {
    char key[KEY_MAX];
    size_t klen = id_key('t', id, len, key);
    char *val;
    size_t vlen;
    ws_status s = get(st, key, klen, &val, &vlen);
    if (s != WS_OK) {
        return s;
    }
    if (!val) {
        return WS_NOT_FOUND;
    }
    s = ws_transfer_record_decode((const unsigned char *)val, vlen, out);
    rocksdb_free(val);
    return s;
}

ws_status store_get_meta(store *st, store_meta *out) {
    char *val;
    size_t vlen;
    ws_status s = get(st, "m", 1, &val, &vlen);
    if (s != WS_OK) {
        return s;
    }
    memset(out, 0, sizeof(*out));
    out->next_seq = 1;
    if (!val) {
        return WS_OK;
    }
    const unsigned char *p = (const unsigned char *)val;
    s = WS_CORRUPT;
    if (vlen == META_SIZE && p[0] == META_FORMAT && ws_get_u64le(p + 40) == ws_crc32c(p, 40)) {
        out->next_seq = ws_get_u64le(p + 8);
        out->account_count = ws_get_u64le(p + 16);
        out->total_money = (ws_u128)ws_get_u64le(p + 32) << 64 | ws_get_u64le(p + 24);
        s = WS_OK;
    }
    rocksdb_free(val);
    return s;
}

/* Positions a new iterator at the first key >= from; the caller destroys it. */
rocksdb_iterator_t *store_iterator_(store *st, const char *from, size_t flen) {
    rocksdb_iterator_t *it = rocksdb_create_iterator(st->db, st->read_options);
    rocksdb_iter_seek(it, from, flen);
    return it;
}

rocksdb_iterator_t *store_scan_iterator_(store *st, const char *from, size_t flen) {
    rocksdb_iterator_t *it = rocksdb_create_iterator(st->db, st->scan_options);
    rocksdb_iter_seek(it, from, flen);
    return it;
}

static WS_MUST_USE ws_status iter_status(rocksdb_iterator_t *it) {
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    return take_error(err, "iterate") ? WS_UNAVAILABLE : WS_OK;
}

ws_status store_event_(store *st, uint64_t seq, ws_event *e) {
    char key[9];
    event_key(seq, key);
    char *val;
    size_t vlen;
    ws_status s = get(st, key, 9, &val, &vlen);
    if (s != WS_OK) {
        return s;
    }
    if (!val) {
        return WS_CORRUPT; /* the index names an event that is not there */
    }
    s = ws_event_decode((const unsigned char *)val, vlen, e);
    rocksdb_free(val);
    return s == WS_OK && e->seq != seq ? WS_CORRUPT : s;
}

static WS_MUST_USE ws_status scan_all(store *st, uint64_t after, size_t limit, store_event_fn fn,
                                      void *ctx, bool *more) {
    char key[9];
    event_key(after + 1, key);
    /* A whole-log replay (verify) must not evict the cache the service's reads use. */
    rocksdb_iterator_t *it =
        limit == SIZE_MAX ? store_scan_iterator_(st, key, 9) : store_iterator_(st, key, 9);
    ws_status s = WS_OK;
    size_t n = 0;
    *more = false;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen != 9 || k[0] != 'e') {
            break;
        }
        if (n == limit) {
            *more = true;
            break;
        }
        size_t vlen;
        const char *v = rocksdb_iter_value(it, &vlen);
        ws_event e;
        s = ws_event_decode((const unsigned char *)v, vlen, &e);
        if (s == WS_OK && e.seq != ws_get_u64be((const unsigned char *)k + 1)) {
            s = WS_CORRUPT;
        }
        if (s == WS_OK) {
            s = fn(ctx, &e);
        }
        if (s != WS_OK) {
            break;
        }
        n++;
    }
    if (s == WS_OK) {
        s = iter_status(it);
    }
    rocksdb_iter_destroy(it);
    return s;
}

static WS_MUST_USE ws_status scan_account(store *st, uint64_t after, size_t limit, const char *acct,
                                          size_t acct_len, store_event_fn fn, void *ctx,
                                          bool *more) {
    char key[KEY_MAX];
    size_t prefix = index_key(acct, acct_len, 0, key) - 8;
    if (after == UINT64_MAX) {
        *more = false;
        return WS_OK;
    }
    index_key(acct, acct_len, after + 1, key);
    rocksdb_iterator_t *it = store_iterator_(st, key, prefix + 8);
    ws_status s = WS_OK;
    size_t n = 0;
    *more = false;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen != prefix + 8 || memcmp(k, key, prefix) != 0) {
            break;
        }
        if (n == limit) {
            *more = true;
            break;
        }
        ws_event e;
        s = store_event_(st, ws_get_u64be((const unsigned char *)k + prefix), &e);
        if (s == WS_OK) {
            s = fn(ctx, &e);
        }
        if (s != WS_OK) {
            break;
        }
        n++;
    }
    if (s == WS_OK) {
        s = iter_status(it);
    }
    rocksdb_iter_destroy(it);
    return s;
}

ws_status store_scan_events(store *st, uint64_t after, size_t limit, const char *acct,
                            size_t acct_len, store_event_fn fn, void *ctx, bool *more) {
    if (acct_len > 0) {
        return scan_account(st, after, limit, acct, acct_len, fn, ctx, more);
    }
    if (after == UINT64_MAX) {
        *more = false;
        return WS_OK;
    }
    return scan_all(st, after, limit, fn, ctx, more);
}

ws_status store_scan_accounts(store *st, store_account_fn fn, void *ctx) {
    rocksdb_iterator_t *it = store_scan_iterator_(st, "a", 1);
    ws_status s = WS_OK;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (k[0] != 'a') {
            break;
        }
        size_t vlen;
        const char *v = rocksdb_iter_value(it, &vlen);
        if (klen < 2 || klen > WS_ID_LEN_MAX + 1 || vlen != 8) {
            s = WS_CORRUPT;
            break;
        }
        s = fn(ctx, k + 1, klen - 1, ws_get_u64le((const unsigned char *)v));
        if (s != WS_OK) {
            break;
        }
    }
    if (s == WS_OK) {
        s = iter_status(it);
    }
    rocksdb_iter_destroy(it);
    return s;
}

ws_status store_last_seq(store *st, uint64_t *out) {
    char key[9];
    event_key(UINT64_MAX, key);
    rocksdb_iterator_t *it = rocksdb_create_iterator(st->db, st->read_options);
    rocksdb_iter_seek_for_prev(it, key, 9);
    *out = 0;
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen == 9 && k[0] == 'e') {
            *out = ws_get_u64be((const unsigned char *)k + 1);
        }
    }
    ws_status s = iter_status(it);
    rocksdb_iter_destroy(it);
    return s;
}

/* A batch stages its puts in its own arena and hands them to RocksDB at commit sorted by
 * key, the last put of a key winning. RocksDB's memtable is a skiplist that remembers where
 * its previous insert landed; keys in order let it reuse most of that search, where the
 * random keys of a transfer (two accounts, index entries, a transaction ID) would make it
 * start from the top each time. The arena and the entry array grow to the largest batch and
 * are then reused, so a warmed-up batch does not allocate. */
static void *grow_array(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) {
        return p;
    }
    size_t n = *cap ? *cap : 256;
    while (n < need) {
        n *= 2;
    }
    void *q = realloc(p, n * elem);
    WS_ASSERT(q); /* out of memory on the writer: nothing sane to do but stop */
    *cap = n;
    return q;
}

static void stage(store_batch *b, const char *key, size_t klen, const void *val, size_t vlen) {
    b->entries = grow_array(b->entries, &b->entries_cap, b->count + 1, sizeof(staged));
    b->arena = grow_array(b->arena, &b->arena_cap, b->used + klen + vlen, 1);
    WS_ASSERT(b->used + klen + vlen <= UINT32_MAX);
    memcpy(b->arena + b->used, key, klen);
    memcpy(b->arena + b->used + klen, val, vlen);
    b->entries[b->count] =
        (staged){(uint32_t)b->used, (uint32_t)klen, (uint32_t)vlen, (uint32_t)b->count};
    b->count++;
    b->used += klen + vlen;
}

static int compare_staged(const void *pa, const void *pb, void *ctx) {
    const char *sort_arena = ctx;
    const staged *a = pa;
    const staged *b = pb;
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(sort_arena + a->key_off, sort_arena + b->key_off, n);
    if (c == 0 && a->key_len != b->key_len) {
        c = a->key_len < b->key_len ? -1 : 1;
    }
    if (c == 0) {
        c = a->order < b->order ? -1 : 1;
    }
    return c;
}

static bool same_key(const store_batch *b, const staged *x, const staged *y) {
    return x->key_len == y->key_len &&
           memcmp(b->arena + x->key_off, b->arena + y->key_off, x->key_len) == 0;
}

store_batch *store_batch_new(void) {
    store_batch *b = calloc(1, sizeof(*b));
    if (b) {
        b->wb = rocksdb_writebatch_create();
    }
    return b;
}

void store_batch_free(store_batch *b) {
    if (b) {
        rocksdb_writebatch_destroy(b->wb);
        free(b->entries);
        free(b->arena);
        free(b);
    }
}

void store_batch_clear(store_batch *b) {
    rocksdb_writebatch_clear(b->wb);
    b->count = 0;
    b->used = 0;
}

size_t store_batch_count(const store_batch *b) { return b->count; }

void store_batch_put_account(store_batch *b, const char *id, size_t len, uint64_t balance) {
    WS_ASSERT(balance <= WS_AMOUNT_MAX);
    char key[KEY_MAX];
    size_t klen = id_key('a', id, len, key);
    unsigned char val[8];
    ws_put_u64le(val, balance);
    stage(b, key, klen, val, 8);
}

void store_batch_put_event(store_batch *b, const ws_event *e) {
    unsigned char rec[WS_EVENT_SIZE_MAX];
    size_t n = ws_event_encode(e, rec);
    /* Check the record right before it is written: a codec bug must not reach the disk. */
    ws_event check;
    WS_ASSERT(ws_event_decode(rec, n, &check) == WS_OK && check.seq == e->seq);
    char key[KEY_MAX];
    stage(b, key, event_key(e->seq, key), rec, n);
    size_t klen = index_key(e->account, e->account_len, e->seq, key);
    stage(b, key, klen, "", 0);
}

void store_batch_put_transfer(store_batch *b, const char *id, size_t len,
                              const ws_transfer_record *r) {
    unsigned char rec[WS_TRANSFER_RECORD_SIZE_MAX];
    size_t n = ws_transfer_record_encode(r, rec);
    char key[KEY_MAX];
    stage(b, key, id_key('t', id, len, key), rec, n);
}

void store_batch_put_meta(store_batch *b, const store_meta *m) {
    unsigned char val[META_SIZE] = {META_FORMAT};
    ws_put_u64le(val + 8, m->next_seq);
    ws_put_u64le(val + 16, m->account_count);
    ws_put_u64le(val + 24, (uint64_t)m->total_money);
    ws_put_u64le(val + 32, (uint64_t)(m->total_money >> 64));
    ws_put_u64le(val + 40, ws_crc32c(val, 40));
    stage(b, "m", 1, val, META_SIZE);
}

ws_status store_commit(store *st, store_batch *b) {
    staged *e = b->entries;
    qsort_r(e, b->count, sizeof(staged), compare_staged, b->arena);
    rocksdb_writebatch_clear(b->wb);
    for (size_t i = 0; i < b->count; i++) {
        if (i + 1 < b->count && same_key(b, &e[i], &e[i + 1])) {
            continue; /* a later put of the same key follows */
        }
        const char *k = b->arena + e[i].key_off;
        rocksdb_writebatch_put(b->wb, k, e[i].key_len, k + e[i].key_len, e[i].val_len);
    }
    char *err = NULL;
#ifdef WS_FAULT_INJECTION
    /* Test builds only (wallet-service-faulty): may fail this write or its sync on purpose. */
    store_fault_write(st->db, st->write_options, b->wb, &err);
#else
    rocksdb_write(st->db, st->write_options, b->wb, &err);
#endif
    return take_error(err, "write") ? WS_UNAVAILABLE : WS_OK;
}
