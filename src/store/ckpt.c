/* The checkpoint's keys in the projection database (layout in store.h). Every value ends
 * with the CRC32C of the bytes before it, little-endian; counts are little-endian too.
 *   'm'  u8 version (META_VERSION), 7 zero, u64 next_lsn, next_seq, account_count, total
 *        lo, total hi, transfers, refusals, u64 crc32c
 *   'd'  u16 count, then count times u8 length and the ID, u32 crc32c
 *   'b'  u16 count, then count u64 balances (signed, two's complement), u32 crc32c
 *   'p'  be32(index): u8 currency length, the currency, u64 overdraft, u64 max balance,
 *        u32 crc32c: an account whose currency is not XXX or that has limits
 *   'x'  u32 count, count varint deltas (the first 0: the key's seq), u32 crc32c
 *   'i'  u32 count, count pairs of u64 fingerprint and u64 lsn, u32 crc32c
 *   'q'  be64(lsn): a pending transfer's state (PENDING_VALUE bytes), u32 crc32c
 *   'Q'  be64(first lsn): u32 count, count times u64 lsn and a state, u32 crc32c
 * A checkpoint is one WriteBatch without a WAL, flushed later: RocksDB keeps a prefix of a
 * database's writes across a crash, and each batch is whole in it or absent, so the newest
 * 'm' on disk always describes data written by the same batch or earlier. */
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "store/internal.h"

#define META_SIZE 72
/* 2: the projection has the 'y' index. A version-1 projection (written before it existed)
 * is rebuilt from the log by the next read-write open (store.c).
 * 3: the pending transfers made in a checkpoint's range are packed into 'Q' values. A
 * version-2 projection has 'q' values only, which version 3 reads as they are: it is used
 * as it stands, and its next checkpoint writes version 3. */
#define META_VERSION 3

struct store_ckpt {
    rocksdb_writebatch_t *wb;
    unsigned char *buf; /* one value being encoded */
    size_t cap;
};

static void chunk_key(char kind, uint32_t chunk, char *key) {
    key[0] = kind;
    store_put_u32be_((unsigned char *)key + 1, chunk);
}

ws_status store_ckpt_meta_from_(const char *v, size_t vlen, store_ckpt_meta *m) {
    const unsigned char *p = (const unsigned char *)v;
    if (vlen != META_SIZE || p[0] < 1 || p[0] > META_VERSION ||
        ws_get_u64le(p + 64) != ws_crc32c(p, 64)) {
        return WS_CORRUPT;
    }
    *m =
        (store_ckpt_meta){.next_lsn = ws_get_u64le(p + 8),
                          .next_seq = ws_get_u64le(p + 16),
                          .account_count = ws_get_u64le(p + 24),
                          .total_money = (ws_u128)ws_get_u64le(p + 40) << 64 | ws_get_u64le(p + 32),
                          .transfers = ws_get_u64le(p + 48),
                          .refusals = ws_get_u64le(p + 56)};
    return m->next_lsn >= 1 && m->next_seq >= 1 ? WS_OK : WS_CORRUPT;
}

int store_ckpt_version_(store *st) {
    char *val;
    size_t vlen;
    int v = 0;
    if (store_get_(st, &st->proj, "m", 1, &val, &vlen) == WS_OK && val && vlen > 0) {
        v = (unsigned char)val[0];
    }
    rocksdb_free(val);
    return v;
}

ws_status store_ckpt_meta_get(store *st, store_ckpt_meta *out) {
    char *val;
    size_t vlen;
    ws_status s = store_get_(st, &st->proj, "m", 1, &val, &vlen);
    *out = (store_ckpt_meta){.next_lsn = 1, .next_seq = 1};
    if (s == WS_OK && val) {
        s = store_ckpt_meta_from_(val, vlen, out);
    }
    rocksdb_free(val);
    return s;
}

/* Checks a value's CRC and returns its body's length, or SIZE_MAX. */
static size_t body_len(const char *v, size_t vlen) {
    const unsigned char *p = (const unsigned char *)v;
    if (vlen < 4 || store_get_u32le_(p + vlen - 4) != ws_crc32c(p, vlen - 4)) {
        return SIZE_MAX;
    }
    return vlen - 4;
}

/* Decodes a directory value into ids/lens (pointing into v); the count or -1. */
static long decode_directory(const char *v, size_t vlen, const char **ids, uint8_t *lens) {
    size_t n = body_len(v, vlen);
    if (n == SIZE_MAX || n < 2) {
        return -1;
    }
    const unsigned char *p = (const unsigned char *)v;
    size_t count = (size_t)p[0] | (size_t)p[1] << 8;
    size_t at = 2;
    if (count == 0 || count > STORE_CHUNK_ACCOUNTS) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (at >= n || at + 1 + p[at] > n || !ws_id_valid(v + at + 1, p[at])) {
            return -1;
        }
        lens[i] = p[at];
        ids[i] = v + at + 1;
        at += 1 + (size_t)p[at];
    }
    return at == n ? (long)count : -1;
}

static long decode_balances(const char *v, size_t vlen, int64_t *out) {
    size_t n = body_len(v, vlen);
    const unsigned char *p = (const unsigned char *)v;
    if (n == SIZE_MAX || n < 2) {
        return -1;
    }
    size_t count = (size_t)p[0] | (size_t)p[1] << 8;
    if (count == 0 || count > STORE_CHUNK_ACCOUNTS || n != 2 + 8 * count) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        out[i] = (int64_t)ws_get_u64le(p + 2 + 8 * i);
        if (out[i] < -(int64_t)WS_AMOUNT_MAX) {
            return -1;
        }
    }
    return (long)count;
}

/* The value at the iterator if its key is kind + be32(chunk); NULL otherwise. */
static const char *chunk_value(rocksdb_iterator_t *it, char kind, uint32_t chunk, size_t *vlen) {
    if (!rocksdb_iter_valid(it)) {
        return NULL;
    }
    size_t klen;
    const char *k = rocksdb_iter_key(it, &klen);
    if (klen != 5 || k[0] != kind || store_get_u32be_((const unsigned char *)k + 1) != chunk) {
        return NULL;
    }
    return rocksdb_iter_value(it, vlen);
}

/* One chunk of accounts: n entries of the directory and balance values at the iterators. */
static WS_MUST_USE ws_status load_chunk(rocksdb_iterator_t *d, rocksdb_iterator_t *b,
                                        uint32_t chunk, size_t n, store_account_fn fn, void *ctx) {
    const char *ids[STORE_CHUNK_ACCOUNTS];
    uint8_t lens[STORE_CHUNK_ACCOUNTS];
    int64_t balances[STORE_CHUNK_ACCOUNTS];
    size_t dlen;
    size_t blen;
    const char *dv = chunk_value(d, 'd', chunk, &dlen);
    const char *bv = chunk_value(b, 'b', chunk, &blen);
    if (!dv || !bv || decode_directory(dv, dlen, ids, lens) != (long)n ||
        decode_balances(bv, blen, balances) != (long)n) {
        return WS_CORRUPT;
    }
    ws_status s = WS_OK;
    for (size_t i = 0; i < n && s == WS_OK; i++) {
        s = fn(ctx, chunk * STORE_CHUNK_ACCOUNTS + (uint32_t)i, ids[i], lens[i], balances[i]);
    }
    return s;
}

ws_status store_ckpt_load_accounts(store *st, uint64_t count, store_account_fn fn, void *ctx) {
    rocksdb_iterator_t *d = store_iter_(st, &st->proj, "d", 1, true);
    rocksdb_iterator_t *b = store_iter_(st, &st->proj, "b", 1, true);
    ws_status s = WS_OK;
    for (uint64_t at = 0; at < count && s == WS_OK; at += STORE_CHUNK_ACCOUNTS) {
        uint64_t n = count - at < STORE_CHUNK_ACCOUNTS ? count - at : STORE_CHUNK_ACCOUNTS;
        s = load_chunk(d, b, (uint32_t)(at / STORE_CHUNK_ACCOUNTS), (size_t)n, fn, ctx);
        rocksdb_iter_next(d);
        rocksdb_iter_next(b);
    }
    ws_status ds = store_iter_status_(d);
    ws_status bs = store_iter_status_(b);
    rocksdb_iter_destroy(d);
    rocksdb_iter_destroy(b);
    return ds != WS_OK ? ds : bs != WS_OK ? bs : s;
}

ws_status store_ckpt_load_idem(store *st, ws_idem_fn fn, void *ctx) {
    rocksdb_iterator_t *it = store_iter_(st, &st->proj, "i", 1, true);
    ws_status s = WS_OK;
    for (; s == WS_OK && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen != 13 || k[0] != 'i') {
            break;
        }
        const char *v = rocksdb_iter_value(it, &vlen);
        size_t n = body_len(v, vlen);
        const unsigned char *p = (const unsigned char *)v;
        if (n == SIZE_MAX || n < 4 || n != 4 + 16 * (size_t)store_get_u32le_(p) ||
            store_get_u32le_(p) == 0 || store_get_u32le_(p) > STORE_IDEM_PART_MAX) {
            s = WS_CORRUPT;
            break;
        }
        for (size_t i = 0; i < store_get_u32le_(p) && s == WS_OK; i++) {
            uint64_t fp = ws_get_u64le(p + 4 + 16 * i);
            uint64_t lsn = ws_get_u64le(p + 12 + 16 * i);
            s = fp != 0 && lsn != 0 ? fn(ctx, fp, lsn) : WS_CORRUPT;
        }
    }
    ws_status is = store_iter_status_(it);
    rocksdb_iter_destroy(it);
    return is != WS_OK ? is : s;
}

ws_status store_ckpt_load_params(store *st, store_params_fn fn, void *ctx) {
    rocksdb_iterator_t *it = store_iter_(st, &st->proj, "p", 1, true);
    ws_status s = WS_OK;
    for (; s == WS_OK && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen != 5 || k[0] != 'p') {
            break;
        }
        const char *v = rocksdb_iter_value(it, &vlen);
        size_t n = body_len(v, vlen);
        const unsigned char *p = (const unsigned char *)v;
        ws_account_params a = {0};
        if (n == SIZE_MAX || n < 1 || p[0] > WS_CURRENCY_LEN_MAX || n != 1u + p[0] + 16) {
            s = WS_CORRUPT;
            break;
        }
        a.currency_len = p[0];
        memcpy(a.currency, p + 1, a.currency_len);
        a.overdraft = ws_get_u64le(p + 1 + a.currency_len);
        a.max_balance = ws_get_u64le(p + 9 + a.currency_len);
        bool ok = ws_currency_valid(a.currency, a.currency_len) && a.overdraft <= WS_AMOUNT_MAX &&
                  a.max_balance <= WS_AMOUNT_MAX && !ws_account_params_is_default(&a);
        s = ok ? fn(ctx, store_get_u32be_((const unsigned char *)k + 1), &a) : WS_CORRUPT;
    }
    ws_status is = store_iter_status_(it);
    rocksdb_iter_destroy(it);
    return is != WS_OK ? is : s;
}

ws_status store_ckpt_balances(store *st, uint32_t chunk, int64_t *out, size_t *n) {
    char key[5];
    chunk_key('b', chunk, key);
    char *val;
    size_t vlen;
    *n = 0;
    ws_status s = store_get_(st, &st->proj, key, 5, &val, &vlen);
    if (s == WS_OK && val) {
        long count = decode_balances(val, vlen, out);
        s = count > 0 ? WS_OK : WS_CORRUPT;
        *n = count > 0 ? (size_t)count : 0;
    }
    rocksdb_free(val);
    return s;
}

/* ---- building one ------------------------------------------------------------------------ */

store_ckpt *store_ckpt_new(void) {
    store_ckpt *c = calloc(1, sizeof(*c));
    if (c) {
        c->wb = rocksdb_writebatch_create();
        c->cap = 16 + 16 * (size_t)STORE_IDEM_PART_MAX;
        c->buf = malloc(c->cap);
        if (!c->buf) {
            store_ckpt_free(c);
            c = NULL;
        }
    }
    return c;
}

void store_ckpt_free(store_ckpt *c) {
    if (c) {
        rocksdb_writebatch_destroy(c->wb);
        free(c->buf);
        free(c);
    }
}

/* Seals the value being built (len bytes in c->buf) with its CRC and stages it. */
static void put(store_ckpt *c, const char *key, size_t klen, size_t len) {
    WS_ASSERT(len + 4 <= c->cap);
    store_put_u32le_(c->buf + len, ws_crc32c(c->buf, len));
    rocksdb_writebatch_put(c->wb, key, klen, (const char *)c->buf, len + 4);
}

void store_ckpt_put_directory(store_ckpt *c, uint32_t chunk, const char *const *ids,
                              const uint8_t *lens, size_t n) {
    WS_ASSERT(n >= 1 && n <= STORE_CHUNK_ACCOUNTS);
    c->buf[0] = (unsigned char)n;
    c->buf[1] = (unsigned char)(n >> 8);
    size_t at = 2;
    for (size_t i = 0; i < n; i++) {
        WS_ASSERT(ws_id_valid(ids[i], lens[i]));
        c->buf[at] = lens[i];
        memcpy(c->buf + at + 1, ids[i], lens[i]);
        at += 1 + (size_t)lens[i];
    }
    char key[5];
    chunk_key('d', chunk, key);
    put(c, key, 5, at);
}

void store_ckpt_put_params(store_ckpt *c, uint32_t index, const ws_account_params *a) {
    WS_ASSERT(!ws_account_params_is_default(a));
    c->buf[0] = a->currency_len;
    memcpy(c->buf + 1, a->currency, a->currency_len);
    ws_put_u64le(c->buf + 1 + a->currency_len, a->overdraft);
    ws_put_u64le(c->buf + 9 + a->currency_len, a->max_balance);
    char key[5];
    chunk_key('p', index, key);
    put(c, key, 5, 17u + a->currency_len);
}

/* A pending transfer's state: u8 status, u32 from, u32 to, u64 amount, u64 expires_us, u64
 * id_hash; a 'q' value is one (and its CRC), a 'Q' value a count of (u64 lsn, state). */
#define PENDING_VALUE 33
#define PENDING_PACKED (8 + PENDING_VALUE)

static void encode_pending(unsigned char *p, const ws_pending_entry *e) {
    WS_ASSERT(e->status >= WS_PENDING_OPEN && e->status <= WS_PENDING_EXPIRED);
    p[0] = (unsigned char)e->status;
    store_put_u32le_(p + 1, e->from);
    store_put_u32le_(p + 5, e->to);
    ws_put_u64le(p + 9, e->amount);
    ws_put_u64le(p + 17, e->expires_us);
    ws_put_u64le(p + 25, e->id_hash);
}

/* false if p holds no valid state. */
static bool decode_pending(const unsigned char *p, uint64_t lsn, ws_pending_entry *e) {
    *e = (ws_pending_entry){.lsn = lsn,
                            .status = (ws_pending_status)p[0],
                            .from = store_get_u32le_(p + 1),
                            .to = store_get_u32le_(p + 5),
                            .amount = ws_get_u64le(p + 9),
                            .expires_us = ws_get_u64le(p + 17),
                            .id_hash = ws_get_u64le(p + 25)};
    return p[0] >= WS_PENDING_OPEN && p[0] <= WS_PENDING_EXPIRED && lsn != 0 && e->amount >= 1 &&
           e->amount <= WS_AMOUNT_MAX && e->from != e->to;
}

void store_ckpt_put_pending(store_ckpt *c, const ws_pending_entry *e) {
    encode_pending(c->buf, e);
    char key[9];
    key[0] = 'q';
    ws_put_u64be((unsigned char *)key + 1, e->lsn);
    put(c, key, 9, PENDING_VALUE);
}

void store_ckpt_put_pending_pack(store_ckpt *c, const ws_pending_entry *e, size_t n) {
    WS_ASSERT(n >= 1 && n <= STORE_PENDING_PACK_MAX);
    store_put_u32le_(c->buf, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        WS_ASSERT(i == 0 || e[i].lsn > e[i - 1].lsn);
        ws_put_u64le(c->buf + 4 + PENDING_PACKED * i, e[i].lsn);
        encode_pending(c->buf + 12 + PENDING_PACKED * i, &e[i]);
    }
    char key[9];
    key[0] = 'Q';
    ws_put_u64be((unsigned char *)key + 1, e[0].lsn);
    put(c, key, 9, 4 + PENDING_PACKED * n);
}

/* A cursor over the 'Q' packs, entry by entry in lsn order. */
typedef struct {
    rocksdb_iterator_t *it;
    const unsigned char *v; /* the current pack's entries */
    size_t n, at;
    uint64_t after; /* the previous entry's lsn */
    bool corrupt;
} pack_cursor;

/* The next entry into *e; false at the end or (corrupt set) on a bad value. */
static bool pack_next(pack_cursor *pc, ws_pending_entry *e) {
    while (pc->at == pc->n) {
        if (pc->v) {
            rocksdb_iter_next(pc->it);
        }
        pc->v = NULL;
        pc->n = pc->at = 0;
        size_t klen;
        size_t vlen;
        if (!rocksdb_iter_valid(pc->it)) {
            return false;
        }
        const char *k = rocksdb_iter_key(pc->it, &klen);
        if (klen != 9 || k[0] != 'Q') {
            return false;
        }
        const char *v = rocksdb_iter_value(pc->it, &vlen);
        size_t body = body_len(v, vlen);
        const unsigned char *p = (const unsigned char *)v;
        size_t count = body == SIZE_MAX || body < 4 ? 0 : store_get_u32le_(p);
        if (count == 0 || count > STORE_PENDING_PACK_MAX || body != 4 + PENDING_PACKED * count ||
            ws_get_u64le(p + 4) != ws_get_u64be((const unsigned char *)k + 1)) {
            pc->corrupt = true;
            return false;
        }
        pc->v = p + 4;
        pc->n = count;
    }
    const unsigned char *p = pc->v + PENDING_PACKED * pc->at++;
    uint64_t lsn = ws_get_u64le(p);
    if (lsn <= pc->after || !decode_pending(p + 8, lsn, e)) {
        pc->corrupt = true;
        return false;
    }
    pc->after = lsn;
    return true;
}

/* The next 'q' entry into *e; false at the end or (*corrupt set) on a bad value. */
static bool single_next(rocksdb_iterator_t *it, bool *started, ws_pending_entry *e, bool *corrupt) {
    if (*started) {
        rocksdb_iter_next(it);
    }
    *started = true;
    size_t klen;
    size_t vlen;
    if (!rocksdb_iter_valid(it)) {
        return false;
    }
    const char *k = rocksdb_iter_key(it, &klen);
    if (klen != 9 || k[0] != 'q') {
        return false;
    }
    const char *v = rocksdb_iter_value(it, &vlen);
    if (body_len(v, vlen) != PENDING_VALUE ||
        !decode_pending((const unsigned char *)v, ws_get_u64be((const unsigned char *)k + 1), e)) {
        *corrupt = true;
        return false;
    }
    return true;
}

/* The packs and the single values merged by lsn; where both hold an lsn the single value
 * is the newer (a later checkpoint's resolution) and the pack's entry is passed over. The
 * packs are read without the scans' 2 MB readahead: with no pack, the seek lands on the
 * balance chunks of every level, and the readahead buffers, freed, stayed in the heap: the
 * RSS after a clean start with 1M accounts was 102-106 MiB against 96-99 (mem runs,
 * docs/performance.md). */
ws_status store_ckpt_load_pending(store *st, store_pending_fn fn, void *ctx) {
    pack_cursor pc = {.it = store_iter_(st, &st->proj, "Q", 1, false)};
    rocksdb_iterator_t *qi = store_iter_(st, &st->proj, "q", 1, true);
    bool q_started = false;
    bool q_corrupt = false;
    ws_pending_entry pe;
    ws_pending_entry qe;
    bool have_p = pack_next(&pc, &pe);
    bool have_q = single_next(qi, &q_started, &qe, &q_corrupt);
    ws_status s = WS_OK;
    while (s == WS_OK && (have_p || have_q)) {
        if (have_q && (!have_p || qe.lsn <= pe.lsn)) {
            if (have_p && qe.lsn == pe.lsn) {
                have_p = pack_next(&pc, &pe);
            }
            s = fn(ctx, &qe);
            have_q = single_next(qi, &q_started, &qe, &q_corrupt);
        } else {
            s = fn(ctx, &pe);
            have_p = pack_next(&pc, &pe);
        }
    }
    if (s == WS_OK && (pc.corrupt || q_corrupt)) {
        s = WS_CORRUPT;
    }
    ws_status ps = store_iter_status_(pc.it);
    ws_status qs = store_iter_status_(qi);
    rocksdb_iter_destroy(pc.it);
    rocksdb_iter_destroy(qi);
    return ps != WS_OK ? ps : qs != WS_OK ? qs : s;
}

void store_ckpt_put_balances(store_ckpt *c, uint32_t chunk, const int64_t *balances, size_t n) {
    WS_ASSERT(n >= 1 && n <= STORE_CHUNK_ACCOUNTS);
    c->buf[0] = (unsigned char)n;
    c->buf[1] = (unsigned char)(n >> 8);
    for (size_t i = 0; i < n; i++) {
        WS_ASSERT(balances[i] >= -(int64_t)WS_AMOUNT_MAX);
        ws_put_u64le(c->buf + 2 + 8 * i, (uint64_t)balances[i]);
    }
    char key[5];
    chunk_key('b', chunk, key);
    put(c, key, 5, 2 + 8 * n);
}

size_t store_index_key_(store_index ix, const char *id, size_t len, uint64_t seq, char *key) {
    WS_ASSERT(len > 0 && len <= WS_ID_LEN_MAX);
    key[0] = (char)ix;
    memcpy(key + 1, id, len);
    key[len + 1] = '\0';
    ws_put_u64be((unsigned char *)key + len + 2, seq);
    return len + 10;
}

long store_index_decode_(const unsigned char *v, size_t vlen, uint64_t key_seq, uint64_t *seqs,
                         size_t cap) {
    size_t n = body_len((const char *)v, vlen);
    if (n == SIZE_MAX || n < 4) {
        return -1;
    }
    uint32_t count = store_get_u32le_(v);
    if (count == 0 || count > cap || key_seq == 0) {
        return -1; /* seqs start at 1 */
    }
    const unsigned char *p = v + 4;
    const unsigned char *end = v + n;
    uint64_t seq = key_seq;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t d = 0;
        for (int shift = 0;; shift += 7) {
            if (p == end || shift > 63) {
                return -1;
            }
            d |= (uint64_t)(*p & 0x7f) << shift;
            if (!(*p++ & 0x80)) {
                break;
            }
        }
        if ((i == 0) != (d == 0) || seq > UINT64_MAX - d) {
            return -1; /* the first is the key's seq; the others strictly ascend */
        }
        seq += d;
        seqs[i] = seq;
    }
    return p == end ? (long)count : -1;
}

static size_t put_varint(unsigned char *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

void store_ckpt_put_index(store_ckpt *c, store_index ix, const char *id, size_t len,
                          const uint64_t *seqs, size_t n) {
    for (size_t at = 0; at < n; at += STORE_INDEX_SEQS_MAX) {
        size_t m = n - at < STORE_INDEX_SEQS_MAX ? n - at : STORE_INDEX_SEQS_MAX;
        store_put_u32le_(c->buf, (uint32_t)m);
        size_t pos = 4;
        for (size_t i = 0; i < m; i++) {
            WS_ASSERT(i == 0 || seqs[at + i] > seqs[at + i - 1]);
            pos += put_varint(c->buf + pos, i == 0 ? 0 : seqs[at + i] - seqs[at + i - 1]);
        }
        char key[WS_ID_LEN_MAX + 10];
        put(c, key, store_index_key_(ix, id, len, seqs[at], key), pos);
    }
}

void store_ckpt_put_idem(store_ckpt *c, uint64_t first_lsn, uint32_t part, const uint64_t *fp,
                         const uint64_t *lsn, size_t n) {
    WS_ASSERT(n >= 1 && n <= STORE_IDEM_PART_MAX);
    store_put_u32le_(c->buf, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        WS_ASSERT(fp[i] != 0 && lsn[i] != 0);
        ws_put_u64le(c->buf + 4 + 16 * i, fp[i]);
        ws_put_u64le(c->buf + 12 + 16 * i, lsn[i]);
    }
    char key[13];
    key[0] = 'i';
    ws_put_u64be((unsigned char *)key + 1, first_lsn);
    store_put_u32be_((unsigned char *)key + 9, part);
    put(c, key, 13, 4 + 16 * n);
}

void store_ckpt_put_meta(store_ckpt *c, const store_ckpt_meta *m) {
    unsigned char *p = c->buf;
    memset(p, 0, META_SIZE);
    p[0] = META_VERSION;
    ws_put_u64le(p + 8, m->next_lsn);
    ws_put_u64le(p + 16, m->next_seq);
    ws_put_u64le(p + 24, m->account_count);
    ws_put_u64le(p + 32, (uint64_t)m->total_money);
    ws_put_u64le(p + 40, (uint64_t)(m->total_money >> 64));
    ws_put_u64le(p + 48, m->transfers);
    ws_put_u64le(p + 56, m->refusals);
    ws_put_u64le(p + 64, ws_crc32c(p, 64));
    rocksdb_writebatch_put(c->wb, "m", 1, (const char *)p, META_SIZE);
}

ws_status store_ckpt_write(store *st, store_ckpt *c) {
    char *err = NULL;
    rocksdb_write(st->proj.db, st->proj.write_options, c->wb, &err);
    rocksdb_writebatch_clear(c->wb);
    return store_take_error_(err, "checkpoint write") ? WS_UNAVAILABLE : WS_OK;
}

ws_status store_ckpt_flush(store *st) {
    char *err = NULL;
    rocksdb_flush(st->proj.db, st->flush_options, &err);
    return store_take_error_(err, "checkpoint flush") ? WS_UNAVAILABLE : WS_OK;
}

ws_status store_ckpt_commit(store *st, store_ckpt *c) {
    ws_status s = store_ckpt_write(st, c);
    return s == WS_OK ? store_ckpt_flush(st) : s;
}
