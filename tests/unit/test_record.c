/* Unit tests for core/record: the records of data format 2 and the blocks that carry them.
 *
 * Blocks are also built here byte by byte from the layout written in record.h, independently
 * of the codec: the codec's output must equal those bytes, and ws_block_open must refuse
 * every malformed variant. A tampered block is re-sealed (its byte count and CRC recomputed)
 * so that the check under test is reached, and every refusal has a positive control built by
 * the same helper, so that a refusal cannot come from a mistake in the test's own bytes.
 * The two-phase kinds (TransferPending, PendingResolved, StepRefused) are tested the same way,
 * with every field ws_record_valid checks and the events each one stands for. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/record.h"
#include "recordutil.h"

#define NOW_US 1700000000123456u

/* ---- the test's own encoder ------------------------------------------------------------------ */

typedef struct {
    unsigned char b[WS_BLOCK_SIZE_MAX + 512];
    size_t n;
} bytes;

static void put8(bytes *o, unsigned v) {
    cr_assert_lt(o->n, sizeof(o->b));
    o->b[o->n++] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static void put64(bytes *o, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        put8(o, (unsigned)(v >> (8 * i)) & 0xff);
    }
}

static void put_str(bytes *o, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        put8(o, (unsigned char)s[i]);
    }
}

/* AccountCreated: u8 kind=1, u8 id_len, u64 amount, id */
static void raw_created(bytes *o, const char *id, uint64_t amount) {
    put8(o, 1);
    put8(o, (unsigned)strlen(id));
    put64(o, amount);
    put_str(o, id, strlen(id));
}

/* Transfer: u8 kind=2, u8 from_len, u8 to_len, u8 txn_len, u64 amount, u64 from_balance,
 * u64 to_balance, from, to, txn */
static void raw_transfer(bytes *o, const char *from, const char *to, const char *txn,
                         uint64_t amount, uint64_t fb, uint64_t tb) {
    put8(o, 2);
    put8(o, (unsigned)strlen(from));
    put8(o, (unsigned)strlen(to));
    put8(o, (unsigned)strlen(txn));
    put64(o, amount);
    put64(o, fb);
    put64(o, tb);
    put_str(o, from, strlen(from));
    put_str(o, to, strlen(to));
    put_str(o, txn, strlen(txn));
}

/* TransferRefused: u8 kind=3, u8 code, u8 missing_side, u8 from_len, u8 to_len, u8 txn_len,
 * u64 amount, from, to, txn */
static void raw_refused(bytes *o, unsigned code, unsigned side, const char *from, const char *to,
                        const char *txn, uint64_t amount) {
    put8(o, 3);
    put8(o, code);
    put8(o, side);
    put8(o, (unsigned)strlen(from));
    put8(o, (unsigned)strlen(to));
    put8(o, (unsigned)strlen(txn));
    put64(o, amount);
    put_str(o, from, strlen(from));
    put_str(o, to, strlen(to));
    put_str(o, txn, strlen(txn));
}

/* Recomputes the byte count of the records and the CRC of a block of len bytes, as the
 * codec would have written them, after a test changed its bytes. */
static void reseal(unsigned char *buf, size_t len) {
    cr_assert_geq(len, WS_BLOCK_HEADER_SIZE + 4);
    put32(buf + 4, (uint32_t)(len - WS_BLOCK_HEADER_SIZE - 4));
    put32(buf + len - 4, ws_crc32c(buf, len - 4));
}

/* A block around the record bytes recs, with count in its header: the layout of record.h
 * (u8 version 2, u8 zero, u16 count, u32 bytes, u64 first lsn, u64 first seq, u64 timestamp,
 * records, u32 crc32c). Returns its size. */
static size_t raw_block(unsigned char *out, const bytes *recs, unsigned count, uint64_t lsn,
                        uint64_t seq, uint64_t ts) {
    memset(out, 0, WS_BLOCK_HEADER_SIZE);
    out[0] = WS_BLOCK_VERSION;
    out[2] = (unsigned char)count;
    out[3] = (unsigned char)(count >> 8);
    for (int i = 0; i < 8; i++) {
        out[8 + i] = (unsigned char)(lsn >> (8 * i));
        out[16 + i] = (unsigned char)(seq >> (8 * i));
        out[24 + i] = (unsigned char)(ts >> (8 * i));
    }
    memcpy(out + WS_BLOCK_HEADER_SIZE, recs->b, recs->n);
    size_t len = WS_BLOCK_HEADER_SIZE + recs->n + 4;
    reseal(out, len);
    return len;
}

static ws_status open_buf(const unsigned char *buf, size_t len) {
    ws_block_header h;
    ws_block_cursor c;
    return ws_block_open(buf, len, &h, &c);
}

static unsigned char blk[WS_BLOCK_SIZE_MAX + 512];

/* A block holding the record bytes recs (count records) opens, or is refused. */
static void assert_raw_ok(const bytes *recs, unsigned count, const char *what) {
    size_t len = raw_block(blk, recs, count, 1, 1, NOW_US);
    cr_assert_eq(open_buf(blk, len), WS_OK, "control \"%s\" was refused", what);
}

static void assert_raw_refused(const bytes *recs, unsigned count, const char *what) {
    size_t len = raw_block(blk, recs, count, 1, 1, NOW_US);
    cr_assert_eq(open_buf(blk, len), WS_CORRUPT, "%s was accepted", what);
}

/* ---- blocks built by the codec -----------------------------------------------------------------
 */

/* Builds a block of n records with the codec; returns its size. */
static size_t build(unsigned char *buf, const ws_record *recs, size_t n, uint64_t lsn, uint64_t seq,
                    uint64_t ts) {
    ws_block_builder b;
    ws_block_begin(&b, buf, lsn, seq, ts);
    for (size_t i = 0; i < n; i++) {
        cr_assert(ws_block_add(&b, &recs[i]), "record %zu did not fit", i);
    }
    cr_assert_eq(b.count, n);
    size_t len = ws_block_finish(&b);
    cr_assert_leq(len, WS_BLOCK_SIZE_MAX);
    return len;
}

/* One record of each kind, IDs of the extreme lengths 1 and 64. */
static const char *id64 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._";

static void sample(ws_record r[4]) {
    r[0] = rec_created("a", 500);
    r[1] = rec_transfer("a", id64, "t-1", 200, 300, 200);
    r[2] = rec_refused(WS_ACCOUNT_NOT_FOUND, 2, "a", "nobody", id64, 7);
    r[3] = rec_created(id64, WS_AMOUNT_MAX);
}

Test(record, sample_ids_are_extremes) {
    cr_assert_eq(strlen(id64), WS_ID_LEN_MAX);
    cr_assert(ws_id_valid(id64, WS_ID_LEN_MAX));
}

Test(record, event_counts) {
    cr_assert_eq(ws_record_event_count(WS_REC_ACCOUNT_CREATED), 1);
    cr_assert_eq(ws_record_event_count(WS_REC_TRANSFER), 2);
    cr_assert_eq(ws_record_event_count(WS_REC_TRANSFER_REFUSED), 0);
}

/* Each record kind survives a block, alone and together, with every field. */
Test(record, round_trip_each_kind) {
    ws_record r[4];
    sample(r);
    ws_record refusals[] = {
        rec_refused(WS_ACCOUNT_NOT_FOUND, 1, "x", "y", "t", 1),
        rec_refused(WS_INSUFFICIENT_FUNDS, 0, "x", "y", "t", WS_AMOUNT_MAX),
        rec_refused(WS_SAME_ACCOUNT, 0, "x", "x", "t", 3),
        rec_refused(WS_BALANCE_OVERFLOW, 0, "x", "y", "t", 4),
        rec_transfer("x", "y", "t", WS_AMOUNT_MAX, 0, WS_AMOUNT_MAX),
        rec_transfer("x", "y", "t", 1, WS_AMOUNT_MAX, 1),
        rec_created("z", 0),
    };
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    for (size_t k = 0; k < 4 + sizeof(refusals) / sizeof(refusals[0]); k++) {
        const ws_record *want = k < 4 ? &r[k] : &refusals[k - 4];
        size_t len = build(buf, want, 1, 1, 1, NOW_US);
        ws_block_header h;
        ws_block_cursor c;
        cr_assert_eq(ws_block_open(buf, len, &h, &c), WS_OK, "record %zu", k);
        cr_assert_eq(h.count, 1);
        ws_record got;
        uint64_t lsn;
        uint64_t seq;
        cr_assert(ws_block_next(&c, &got, &lsn, &seq));
        rec_assert_eq(&got, want, "alone");
        cr_assert_not(ws_block_next(&c, &got, &lsn, &seq));
    }
    size_t len = build(buf, r, 4, 1, 1, NOW_US);
    ws_block_header h;
    ws_block_cursor c;
    cr_assert_eq(ws_block_open(buf, len, &h, &c), WS_OK);
    for (size_t i = 0; i < 4; i++) {
        ws_record got;
        uint64_t lsn;
        uint64_t seq;
        cr_assert(ws_block_next(&c, &got, &lsn, &seq), "record %zu missing", i);
        rec_assert_eq(&got, &r[i], "together");
    }
}

/* The codec writes exactly the layout record.h documents. */
Test(record, codec_writes_the_documented_layout) {
    ws_record r[4];
    sample(r);
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len = build(buf, r, 4, 77, 1234, NOW_US);
    bytes recs = {.n = 0};
    raw_created(&recs, "a", 500);
    raw_transfer(&recs, "a", id64, "t-1", 200, 300, 200);
    raw_refused(&recs, 1, 2, "a", "nobody", id64, 7);
    raw_created(&recs, id64, WS_AMOUNT_MAX);
    unsigned char want[WS_BLOCK_SIZE_MAX + 512];
    size_t want_len = raw_block(want, &recs, 4, 77, 1234, NOW_US);
    cr_assert_eq(len, want_len);
    for (size_t i = 0; i < len; i++) {
        cr_assert_eq(buf[i], want[i], "byte %zu differs: codec 0x%02x, layout 0x%02x", i, buf[i],
                     want[i]);
    }
}

/* lsns and seqs inside a block are implied by its header: gapless, a refusal taking an lsn
 * but no seq. */
Test(record, next_gives_implied_lsns_and_seqs) {
    ws_record r[6] = {
        rec_created("a", 10),
        rec_transfer("a", "b", "t1", 1, 9, 1),
        rec_refused(WS_INSUFFICIENT_FUNDS, 0, "a", "b", "t2", 100),
        rec_refused(WS_SAME_ACCOUNT, 0, "a", "a", "t3", 1),
        rec_transfer("b", "a", "t4", 1, 0, 10),
        rec_created("c", 0),
    };
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len = build(buf, r, 6, 10, 100, NOW_US);
    ws_block_header h;
    ws_block_cursor c;
    cr_assert_eq(ws_block_open(buf, len, &h, &c), WS_OK);
    cr_assert_eq(h.first_lsn, 10);
    cr_assert_eq(h.first_seq, 100);
    cr_assert_eq(h.timestamp_us, NOW_US);
    cr_assert_eq(h.count, 6);
    cr_assert_eq(h.events, 6);
    const uint64_t want_seq[6] = {100, 101, 103, 103, 103, 105};
    for (size_t i = 0; i < 6; i++) {
        ws_record got;
        uint64_t lsn = 0;
        uint64_t seq = 0;
        cr_assert(ws_block_next(&c, &got, &lsn, &seq), "record %zu", i);
        cr_assert_eq(lsn, 10 + i);
        cr_assert_eq(seq, want_seq[i], "record %zu: seq %llu", i, (unsigned long long)seq);
        rec_assert_eq(&got, &r[i], "implied");
    }
    ws_record got;
    uint64_t lsn;
    uint64_t seq;
    cr_assert_not(ws_block_next(&c, &got, &lsn, &seq));
    cr_assert_not(ws_block_next(&c, &got, &lsn, &seq), "next past the end twice");
}

Test(record, block_of_refusals_only_has_no_events) {
    ws_record r[2] = {rec_refused(WS_ACCOUNT_NOT_FOUND, 1, "a", "b", "t1", 5),
                      rec_refused(WS_BALANCE_OVERFLOW, 0, "a", "b", "t2", 5)};
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len = build(buf, r, 2, 3, 9, NOW_US);
    ws_block_header h;
    ws_block_cursor c;
    cr_assert_eq(ws_block_open(buf, len, &h, &c), WS_OK);
    cr_assert_eq(h.events, 0);
    for (uint64_t i = 0; i < 2; i++) {
        ws_record got;
        uint64_t lsn;
        uint64_t seq;
        cr_assert(ws_block_next(&c, &got, &lsn, &seq));
        cr_assert_eq(lsn, 3 + i);
        cr_assert_eq(seq, 9, "a refusal moved the seq");
    }
}

/* ---- events ------------------------------------------------------------------------------------
 */

static void assert_event(const ws_event *e, uint64_t seq, ws_event_type type, const char *acct,
                         uint64_t amount, uint64_t balance, const char *txn, const char *peer) {
    cr_assert_eq(e->seq, seq);
    cr_assert_eq(e->type, type);
    cr_assert_eq(e->amount, amount);
    cr_assert_eq(e->balance, balance);
    cr_assert_eq(e->timestamp_us, NOW_US);
    cr_assert_eq(e->account_len, strlen(acct));
    cr_assert_eq(memcmp(e->account, acct, e->account_len), 0);
    cr_assert_eq(e->transaction_len, strlen(txn));
    cr_assert_eq(memcmp(e->transaction, txn, e->transaction_len), 0);
    cr_assert_eq(e->counterparty_len, strlen(peer));
    cr_assert_eq(memcmp(e->counterparty, peer, e->counterparty_len), 0);
}

Test(record, events_of_account_created) {
    ws_record r = rec_created("alice", 500);
    ws_event ev[2];
    cr_assert_eq(ws_record_events(&r, 42, NOW_US, ev), 1);
    assert_event(&ev[0], 42, WS_EVENT_ACCOUNT_CREATED, "alice", 500, 500, "", "");
}

Test(record, events_of_transfer) {
    ws_record r = rec_transfer("alice", "bob", "tx-9", 30, 70, 130);
    ws_event ev[2];
    cr_assert_eq(ws_record_events(&r, 7, NOW_US, ev), 2);
    assert_event(&ev[0], 7, WS_EVENT_DEBIT, "alice", 30, 70, "tx-9", "bob");
    assert_event(&ev[1], 8, WS_EVENT_CREDIT, "bob", 30, 130, "tx-9", "alice");
}

Test(record, events_of_refusal_are_none) {
    ws_record r = rec_refused(WS_INSUFFICIENT_FUNDS, 0, "alice", "bob", "tx-9", 30);
    ws_event ev[2];
    memset(ev, 0xA5, sizeof(ev));
    cr_assert_eq(ws_record_events(&r, 7, NOW_US, ev), 0);
    const unsigned char *p = (const unsigned char *)ev;
    for (size_t i = 0; i < sizeof(ev); i++) {
        cr_assert_eq(p[i], 0xA5, "a refusal wrote an event (byte %zu)", i);
    }
}

/* ---- limits ------------------------------------------------------------------------------------
 */

Test(record, add_refuses_past_records_max) {
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    ws_block_builder b;
    ws_block_begin(&b, buf, 1, 1, NOW_US);
    char id[8];
    for (unsigned i = 0; i < WS_BLOCK_RECORDS_MAX; i++) {
        snprintf(id, sizeof(id), "a%u", i);
        ws_record r = rec_created(id, i);
        cr_assert(ws_block_add(&b, &r), "record %u refused", i);
    }
    size_t len_full = b.len;
    ws_record extra = rec_created("extra", 1);
    cr_assert_not(ws_block_add(&b, &extra), "record %d accepted", WS_BLOCK_RECORDS_MAX + 1);
    cr_assert_eq(b.count, WS_BLOCK_RECORDS_MAX);
    cr_assert_eq(b.len, len_full, "a refused add appended bytes");
    cr_assert_eq(b.events, WS_BLOCK_RECORDS_MAX);
    size_t len = ws_block_finish(&b);
    ws_block_header h;
    ws_block_cursor c;
    cr_assert_eq(ws_block_open(buf, len, &h, &c), WS_OK);
    cr_assert_eq(h.count, WS_BLOCK_RECORDS_MAX);
    ws_record got;
    uint64_t lsn;
    uint64_t seq;
    unsigned n = 0;
    while (n <= WS_BLOCK_RECORDS_MAX && ws_block_next(&c, &got, &lsn, &seq)) {
        snprintf(id, sizeof(id), "a%u", n);
        ws_record want = rec_created(id, n);
        rec_assert_eq(&got, &want, "full block");
        n++;
    }
    cr_assert_eq(n, WS_BLOCK_RECORDS_MAX);
}

/* The largest block there can be (every record the largest transfer) fits the bound. */
Test(record, largest_block_fits_size_max) {
    static unsigned char buf[WS_BLOCK_SIZE_MAX];
    ws_block_builder b;
    ws_block_begin(&b, buf, 1, 1, NOW_US);
    char from[WS_ID_LEN_MAX + 1];
    char to[WS_ID_LEN_MAX + 1];
    memset(from, 'f', WS_ID_LEN_MAX);
    memset(to, 't', WS_ID_LEN_MAX);
    from[WS_ID_LEN_MAX] = to[WS_ID_LEN_MAX] = '\0';
    for (unsigned i = 0; i < WS_BLOCK_RECORDS_MAX; i++) {
        ws_record r = rec_transfer(from, to, id64, WS_AMOUNT_MAX, WS_AMOUNT_MAX, WS_AMOUNT_MAX);
        cr_assert(ws_block_add(&b, &r));
    }
    size_t len = ws_block_finish(&b);
    cr_assert_leq(len, WS_BLOCK_SIZE_MAX);
    cr_assert_eq(open_buf(buf, len), WS_OK);
}

Test(record, finish_of_empty_block_asserts, .signal = SIGABRT) {
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    ws_block_builder b;
    ws_block_begin(&b, buf, 1, 1, NOW_US);
    size_t len = ws_block_finish(&b);
    cr_log_error("returned %zu instead of aborting", len);
}

/* ---- ws_block_open refuses --------------------------------------------------------------------
 */

Test(record, open_refuses_any_flipped_bit) {
    ws_record r[4];
    sample(r);
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len = build(buf, r, 4, 1, 1, NOW_US);
    cr_assert_eq(open_buf(buf, len), WS_OK);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (unsigned char)(1u << bit);
            cr_assert_eq(open_buf(buf, len), WS_CORRUPT, "bit %d of byte %zu flipped: accepted",
                         bit, i);
            buf[i] ^= (unsigned char)(1u << bit);
        }
    }
    cr_assert_eq(open_buf(buf, len), WS_OK);
}

Test(record, open_refuses_wrong_version_and_nonzero_pad) {
    bytes recs = {.n = 0};
    raw_created(&recs, "a", 1);
    assert_raw_ok(&recs, 1, "version 2");
    const unsigned versions[] = {0, 1, 3, 255};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        size_t len = raw_block(blk, &recs, 1, 1, 1, NOW_US);
        blk[0] = (unsigned char)versions[i];
        reseal(blk, len);
        cr_assert_eq(open_buf(blk, len), WS_CORRUPT, "version %u accepted", versions[i]);
    }
    size_t len = raw_block(blk, &recs, 1, 1, 1, NOW_US);
    blk[1] = 1;
    reseal(blk, len);
    cr_assert_eq(open_buf(blk, len), WS_CORRUPT, "a nonzero byte 1 was accepted");
}

Test(record, open_refuses_count_zero) {
    bytes none = {.n = 0};
    assert_raw_refused(&none, 0, "an empty block");
    bytes recs = {.n = 0};
    raw_created(&recs, "a", 1);
    assert_raw_refused(&recs, 0, "a block with a record but count 0");
}

Test(record, open_refuses_count_mismatch) {
    bytes recs = {.n = 0};
    raw_created(&recs, "a", 1);
    raw_created(&recs, "b", 2);
    assert_raw_ok(&recs, 2, "count 2 of 2");
    assert_raw_refused(&recs, 1, "count 1 for 2 records");
    assert_raw_refused(&recs, 3, "count 3 for 2 records");
}

Test(record, open_refuses_count_past_records_max) {
    bytes recs = {.n = 0};
    char id[8];
    for (unsigned i = 0; i < WS_BLOCK_RECORDS_MAX; i++) {
        snprintf(id, sizeof(id), "a%u", i);
        raw_created(&recs, id, 1);
    }
    assert_raw_ok(&recs, WS_BLOCK_RECORDS_MAX, "64 records");
    raw_created(&recs, "over", 1);
    assert_raw_refused(&recs, WS_BLOCK_RECORDS_MAX + 1, "65 valid records in one block");
}

Test(record, open_refuses_byte_count_mismatch) {
    bytes recs = {.n = 0};
    raw_created(&recs, "a", 1);
    size_t len = raw_block(blk, &recs, 1, 1, 1, NOW_US);
    put32(blk + 4, (uint32_t)recs.n + 1); /* then only the CRC */
    put32(blk + len - 4, ws_crc32c(blk, len - 4));
    cr_assert_eq(open_buf(blk, len), WS_CORRUPT);
}

Test(record, open_refuses_truncated_block) {
    bytes recs = {.n = 0};
    raw_created(&recs, "alice", 1);
    raw_transfer(&recs, "alice", "bob", "tx", 1, 0, 1);
    size_t full = raw_block(blk, &recs, 2, 1, 1, NOW_US);
    cr_assert_eq(open_buf(blk, full), WS_OK);
    /* Cut anywhere inside the records, then sealed again: the last record is incomplete. */
    for (size_t cut = 1; cut < recs.n; cut++) {
        bytes part = {.n = 0};
        memcpy(part.b, recs.b, recs.n - cut);
        part.n = recs.n - cut;
        size_t len = raw_block(blk, &part, 2, 1, 1, NOW_US);
        cr_assert_eq(open_buf(blk, len), WS_CORRUPT, "%zu bytes cut and resealed: accepted", cut);
    }
    /* Cut without resealing, and shorter than a header. */
    full = raw_block(blk, &recs, 2, 1, 1, NOW_US);
    for (size_t len = 0; len < full; len++) {
        cr_assert_eq(open_buf(blk, len), WS_CORRUPT, "the first %zu bytes accepted", len);
    }
}

Test(record, open_refuses_trailing_bytes) {
    bytes recs = {.n = 0};
    raw_created(&recs, "a", 1);
    assert_raw_ok(&recs, 1, "no trailer");
    put8(&recs, 0);
    assert_raw_refused(&recs, 1, "a zero byte after the last record");
    recs.n--;
    raw_created(&recs, "b", 1); /* a whole record the count does not cover */
    assert_raw_refused(&recs, 1, "a record past the count");
}

Test(record, open_refuses_oversized_buffer) {
    static unsigned char big[WS_BLOCK_SIZE_MAX + 8];
    bytes recs = {.n = 0};
    raw_created(&recs, "a", 1);
    size_t len = raw_block(big, &recs, 1, 1, 1, NOW_US);
    cr_assert_eq(open_buf(big, len), WS_OK);
    cr_assert_eq(open_buf(big, WS_BLOCK_SIZE_MAX + 8), WS_CORRUPT);
}

Test(record, open_refuses_bad_header_numbers) {
    bytes recs = {.n = 0};
    raw_created(&recs, "a", 1);
    size_t len = raw_block(blk, &recs, 1, 0, 1, NOW_US);
    cr_assert_eq(open_buf(blk, len), WS_CORRUPT, "first lsn 0 accepted");
    len = raw_block(blk, &recs, 1, 1, 0, NOW_US);
    cr_assert_eq(open_buf(blk, len), WS_CORRUPT, "first seq 0 accepted");
    len = raw_block(blk, &recs, 1, UINT64_MAX, 1, NOW_US);
    cr_assert_eq(open_buf(blk, len), WS_CORRUPT, "an lsn past 2^64 accepted");
    len = raw_block(blk, &recs, 1, 1, 1, WS_TIMESTAMP_US_MAX);
    cr_assert_eq(open_buf(blk, len), WS_CORRUPT, "a timestamp in year 10000 accepted");
    len = raw_block(blk, &recs, 1, 1, 1, WS_TIMESTAMP_US_MAX - 1);
    cr_assert_eq(open_buf(blk, len), WS_OK, "the last timestamp refused");
}

Test(record, open_refuses_unknown_kind) {
    const unsigned kinds[] = {0, 4, 5, 127, 255};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        bytes recs = {.n = 0};
        raw_created(&recs, "a", 1);
        recs.b[0] = (unsigned char)kinds[i];
        assert_raw_refused(&recs, 1, "an unknown record kind");
    }
}

/* Every ID of every kind must be a valid ID: one bad byte anywhere in it is refused. */
Test(record, open_refuses_invalid_id_bytes) {
    const char bad[] = {'!', ' ', '/', '+', '\0', (char)0x80, (char)0xff};
    for (size_t k = 0; k < sizeof(bad); k++) {
        char id[4] = "abc";
        id[1] = bad[k];
        bytes recs;
        /* id[1] == 0 shortens strlen: build the bytes with explicit lengths instead. */
        recs.n = 0;
        put8(&recs, 1);
        put8(&recs, 3);
        put64(&recs, 1);
        put_str(&recs, id, 3);
        assert_raw_refused(&recs, 1, "an invalid byte in a created ID");
        for (int which = 0; which < 3; which++) {
            const char *ids[3] = {"from", "to-x", "txn1"};
            char buf[3][5];
            for (int i = 0; i < 3; i++) {
                memcpy(buf[i], ids[i], 5);
            }
            buf[which][2] = bad[k];
            recs.n = 0;
            put8(&recs, 2);
            put8(&recs, 4);
            put8(&recs, 4);
            put8(&recs, 4);
            put64(&recs, 1);
            put64(&recs, 0);
            put64(&recs, 1);
            for (int i = 0; i < 3; i++) {
                put_str(&recs, buf[i], 4);
            }
            assert_raw_refused(&recs, 1, "an invalid byte in a transfer's ID");
            recs.n = 0;
            put8(&recs, 3);
            put8(&recs, 2);
            put8(&recs, 0);
            put8(&recs, 4);
            put8(&recs, 4);
            put8(&recs, 4);
            put64(&recs, 1);
            for (int i = 0; i < 3; i++) {
                put_str(&recs, buf[i], 4);
            }
            assert_raw_refused(&recs, 1, "an invalid byte in a refusal's ID");
        }
    }
    bytes ok = {.n = 0};
    raw_created(&ok, "a-b_c.D9", 1);
    raw_transfer(&ok, "from", "to-x", "txn1", 1, 0, 1);
    raw_refused(&ok, 2, 0, "from", "to-x", "txn1", 1);
    assert_raw_ok(&ok, 3, "valid IDs");
}

Test(record, open_refuses_id_length_zero) {
    bytes recs = {.n = 0};
    raw_created(&recs, "", 1);
    assert_raw_refused(&recs, 1, "a created ID of length 0");
    recs.n = 0;
    raw_transfer(&recs, "", "b", "t", 1, 0, 1);
    assert_raw_refused(&recs, 1, "a transfer fromAccount of length 0");
    recs.n = 0;
    raw_transfer(&recs, "a", "", "t", 1, 0, 1);
    assert_raw_refused(&recs, 1, "a transfer toAccount of length 0");
    recs.n = 0;
    raw_transfer(&recs, "a", "b", "", 1, 0, 1);
    assert_raw_refused(&recs, 1, "a transfer transactionID of length 0");
    recs.n = 0;
    raw_refused(&recs, 2, 0, "a", "b", "", 1);
    assert_raw_refused(&recs, 1, "a refusal transactionID of length 0");
    recs.n = 0;
    raw_refused(&recs, 2, 0, "", "b", "t", 1);
    assert_raw_refused(&recs, 1, "a refusal fromAccount of length 0");
}

Test(record, open_refuses_id_length_past_max) {
    char id65[WS_ID_LEN_MAX + 2];
    memset(id65, 'a', WS_ID_LEN_MAX + 1);
    id65[WS_ID_LEN_MAX + 1] = '\0';
    bytes recs = {.n = 0};
    raw_created(&recs, id64, 1);
    assert_raw_ok(&recs, 1, "a created ID of 64");
    recs.n = 0;
    raw_created(&recs, id65, 1);
    assert_raw_refused(&recs, 1, "a created ID of 65");
    recs.n = 0;
    raw_transfer(&recs, id65, "b", "t", 1, 0, 1);
    assert_raw_refused(&recs, 1, "a fromAccount of 65");
    recs.n = 0;
    raw_transfer(&recs, "a", id65, "t", 1, 0, 1);
    assert_raw_refused(&recs, 1, "a toAccount of 65");
    recs.n = 0;
    raw_transfer(&recs, "a", "b", id65, 1, 0, 1);
    assert_raw_refused(&recs, 1, "a transactionID of 65");
    recs.n = 0;
    raw_refused(&recs, 2, 0, "a", "b", id65, 1);
    assert_raw_refused(&recs, 1, "a refusal's transactionID of 65");
    /* A length of 255 claims more bytes than the block holds. */
    recs.n = 0;
    put8(&recs, 1);
    put8(&recs, 255);
    put64(&recs, 1);
    put_str(&recs, "abc", 3);
    assert_raw_refused(&recs, 1, "an ID length of 255");
}

Test(record, open_refuses_amount_past_max) {
    const uint64_t over = WS_AMOUNT_MAX + 1;
    bytes recs = {.n = 0};
    raw_created(&recs, "a", WS_AMOUNT_MAX);
    raw_transfer(&recs, "a", "b", "t", WS_AMOUNT_MAX, 0, WS_AMOUNT_MAX);
    raw_refused(&recs, 2, 0, "a", "b", "u", WS_AMOUNT_MAX);
    assert_raw_ok(&recs, 3, "amounts of 2^63-1");
    recs.n = 0;
    raw_created(&recs, "a", over);
    assert_raw_refused(&recs, 1, "a start amount of 2^63");
    recs.n = 0;
    raw_created(&recs, "a", UINT64_MAX);
    assert_raw_refused(&recs, 1, "a start amount of 2^64-1");
    recs.n = 0;
    raw_transfer(&recs, "a", "b", "t", over, 0, 1);
    assert_raw_refused(&recs, 1, "a transfer amount of 2^63");
    recs.n = 0;
    raw_transfer(&recs, "a", "b", "t", 1, over, 1);
    assert_raw_refused(&recs, 1, "a fromAccount balance of 2^63");
    recs.n = 0;
    raw_transfer(&recs, "a", "b", "t", 1, 0, over);
    assert_raw_refused(&recs, 1, "a toAccount balance of 2^63");
    recs.n = 0;
    raw_refused(&recs, 2, 0, "a", "b", "t", over);
    assert_raw_refused(&recs, 1, "a refused amount of 2^63");
}

Test(record, open_refuses_transfer_amount_zero) {
    bytes recs = {.n = 0};
    raw_created(&recs, "a", 0);
    assert_raw_ok(&recs, 1, "a start amount of 0");
    recs.n = 0;
    raw_transfer(&recs, "a", "b", "t", 0, 0, 0);
    assert_raw_refused(&recs, 1, "a transfer of 0");
    recs.n = 0;
    raw_refused(&recs, 2, 0, "a", "b", "t", 0);
    assert_raw_refused(&recs, 1, "a refused transfer of 0");
}

Test(record, open_refuses_refusal_code_out_of_range) {
    for (unsigned code = 1; code <= 6; code++) {
        bytes recs = {.n = 0};
        raw_refused(&recs, code, code == 1 ? 1 : 0, "a", "b", "t", 1);
        assert_raw_ok(&recs, 1, "a refusal code 1..6");
    }
    const unsigned bad[] = {0, 7, 8, 100, 255};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bytes recs = {.n = 0};
        raw_refused(&recs, bad[i], 0, "a", "b", "t", 1);
        assert_raw_refused(&recs, 1, "a refusal code out of 1..6");
        recs.n = 0;
        raw_refused(&recs, bad[i], 1, "a", "b", "t", 1);
        assert_raw_refused(&recs, 1, "a refusal code out of 1..6 with a side");
    }
}

Test(record, open_refuses_missing_side_wrong_for_code) {
    bytes recs = {.n = 0};
    raw_refused(&recs, 1, 1, "a", "b", "t", 1);
    raw_refused(&recs, 1, 2, "a", "b", "u", 1);
    assert_raw_ok(&recs, 2, "account_not_found with side 1 and 2");
    const unsigned bad_nf[] = {0, 3, 255};
    for (size_t i = 0; i < sizeof(bad_nf) / sizeof(bad_nf[0]); i++) {
        recs.n = 0;
        raw_refused(&recs, 1, bad_nf[i], "a", "b", "t", 1);
        assert_raw_refused(&recs, 1, "account_not_found without side 1 or 2");
    }
    for (unsigned code = 2; code <= 6; code++) {
        for (unsigned side = 1; side <= 2; side++) {
            recs.n = 0;
            raw_refused(&recs, code, side, "a", "b", "t", 1);
            assert_raw_refused(&recs, 1, "a side on a refusal other than account_not_found");
        }
    }
}

/* One bad record among good ones spoils the whole block. */
Test(record, open_refuses_one_bad_record_among_good) {
    bytes recs = {.n = 0};
    raw_created(&recs, "a", 1);
    raw_transfer(&recs, "a", "b", "t", 0, 1, 0); /* amount 0 */
    raw_created(&recs, "c", 1);
    assert_raw_refused(&recs, 3, "a bad record in the middle");
}

/* ---- refusal codes and record validity ------------------------------------------------------- */

Test(record, refusal_codes_are_fixed) {
    cr_assert_eq(ws_refusal_code(WS_ACCOUNT_NOT_FOUND), 1);
    cr_assert_eq(ws_refusal_code(WS_INSUFFICIENT_FUNDS), 2);
    cr_assert_eq(ws_refusal_code(WS_SAME_ACCOUNT), 3);
    cr_assert_eq(ws_refusal_code(WS_BALANCE_OVERFLOW), 4);
    cr_assert_eq(ws_refusal_code(WS_LINKED_EVENT_FAILED), 5);
    cr_assert_eq(ws_refusal_code(WS_LINKED_EVENT_CHAIN_OPEN), 6);
    cr_assert_eq(ws_refusal_code(WS_CURRENCY_MISMATCH), 11);
    cr_assert_eq(ws_refusal_code(WS_BALANCE_LIMIT_EXCEEDED), 12);
    cr_assert_eq(ws_refusal_code(WS_PENDING_TRANSFER_NOT_FOUND), 14);
    cr_assert_eq(ws_refusal_code(WS_PENDING_TRANSFER_ALREADY_POSTED), 15);
    cr_assert_eq(ws_refusal_code(WS_PENDING_TRANSFER_ALREADY_VOIDED), 16);
    cr_assert_eq(ws_refusal_code(WS_PENDING_TRANSFER_EXPIRED), 17);
    cr_assert_eq(ws_refusal_code(WS_EXCEEDS_PENDING_AMOUNT), 18);
    static const uint8_t codes[] = {1, 2, 3, 4, 5, 6, 11, 12, 14, 15, 16, 17, 18};
    for (size_t i = 0; i < sizeof(codes); i++) {
        uint8_t c = codes[i];
        cr_assert_eq(ws_refusal_code(ws_refusal_status(c)), c, "code %u does not round trip", c);
    }
    /* Every other status has no code. */
    for (int s = 0; s < WS_STATUS_COUNT_; s++) {
        bool refusal = s == WS_ACCOUNT_NOT_FOUND || s == WS_INSUFFICIENT_FUNDS ||
                       s == WS_SAME_ACCOUNT || s == WS_BALANCE_OVERFLOW ||
                       s == WS_LINKED_EVENT_FAILED || s == WS_LINKED_EVENT_CHAIN_OPEN ||
                       s == WS_CURRENCY_MISMATCH || s == WS_BALANCE_LIMIT_EXCEEDED ||
                       (s >= WS_PENDING_TRANSFER_NOT_FOUND && s <= WS_EXCEEDS_PENDING_AMOUNT);
        if (!refusal) {
            cr_assert_eq(ws_refusal_code((ws_status)s), 0, "status %s has a refusal code",
                         ws_status_code((ws_status)s));
        }
    }
    cr_assert_eq(ws_refusal_status(0), WS_INTERNAL);
    for (unsigned c = 7; c <= 255; c++) {
        if (c == 11 || c == 12 || (c >= 14 && c <= 18)) {
            continue;
        }
        cr_assert_eq(ws_refusal_status((uint8_t)c), WS_INTERNAL, "code %u", c);
    }
}

Test(record, record_valid) {
    ws_record r[4];
    sample(r);
    for (size_t i = 0; i < 4; i++) {
        cr_assert(ws_record_valid(&r[i]), "sample %zu", i);
    }
    ws_record x = rec_created("a", 5);
    x.from_balance = 4;
    cr_assert_not(ws_record_valid(&x), "a created balance other than its amount");
    x = rec_created("a", 5);
    x.to_len = 1;
    x.to[0] = 'b';
    cr_assert_not(ws_record_valid(&x), "a created record with a toAccount");
    x = rec_transfer("a", "b", "t", 1, 0, 1);
    x.status = WS_INSUFFICIENT_FUNDS;
    cr_assert_not(ws_record_valid(&x), "a transfer with a refusal status");
    x = rec_refused(WS_TRANSFER_ID_CONFLICT, 0, "a", "b", "t", 1);
    cr_assert_not(ws_record_valid(&x), "transfer_id_conflict is not a stored refusal");
    x = rec_refused(WS_INSUFFICIENT_FUNDS, 0, "a", "b", "t", 1);
    x.from_balance = 3;
    cr_assert_not(ws_record_valid(&x), "a refusal with a balance");
    x = rec_refused(WS_INSUFFICIENT_FUNDS, 0, "a", "b", "t", 1);
    x.kind = (ws_record_kind)9;
    cr_assert_not(ws_record_valid(&x), "an unknown kind");
}

/* ---- currencies, limits and signed balances ------------------------------------------------ */

/* AccountCreated with a currency or limits: u8 kind=5, u8 id_len, u8 currency_len, u8 zero,
 * u64 amount, u64 overdraft, u64 max_balance, id, currency */
static void raw_created5(bytes *o, const char *id, const char *cur, size_t cur_len, uint64_t amount,
                         uint64_t overdraft, uint64_t max) {
    put8(o, 5);
    put8(o, (unsigned)strlen(id));
    put8(o, (unsigned)cur_len);
    put8(o, 0);
    put64(o, amount);
    put64(o, overdraft);
    put64(o, max);
    put_str(o, id, strlen(id));
    put_str(o, cur, cur_len);
}

static ws_record rec_created_with(const char *id, uint64_t amount, const char *cur,
                                  uint64_t overdraft, uint64_t max) {
    ws_record r = rec_created(id, amount);
    ws_account_params p = {
        .currency_len = (uint8_t)strlen(cur), .overdraft = overdraft, .max_balance = max};
    memcpy(p.currency, cur, p.currency_len);
    ws_record_set_params(&r, &p);
    return r;
}

static void assert_params_eq(const ws_record *got, const ws_record *want, const char *what) {
    cr_assert_eq(got->currency_len, want->currency_len, "%s: currency_len", what);
    cr_assert_eq(memcmp(got->currency, want->currency, want->currency_len), 0, "%s: currency",
                 what);
    cr_assert_eq(got->overdraft, want->overdraft, "%s: overdraft", what);
    cr_assert_eq(got->max_balance, want->max_balance, "%s: max_balance", what);
}

/* Encodes recs as one block, opens it and reads every record back, comparing every field. */
static void assert_round_trip(const ws_record *recs, size_t n, const char *what) {
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len = build(buf, recs, n, 9, 40, NOW_US);
    ws_block_header h;
    ws_block_cursor c;
    cr_assert_eq(ws_block_open(buf, len, &h, &c), WS_OK, "%s: refused", what);
    cr_assert_eq(h.count, n);
    for (size_t i = 0; i < n; i++) {
        ws_record got;
        uint64_t lsn;
        uint64_t seq;
        cr_assert(ws_block_next(&c, &got, &lsn, &seq), "%s: record %zu missing", what, i);
        cr_assert_eq(lsn, 9 + i);
        rec_assert_eq(&got, &recs[i], what);
        assert_params_eq(&got, &recs[i], what);
    }
    ws_record got;
    uint64_t lsn;
    uint64_t seq;
    cr_assert_not(ws_block_next(&c, &got, &lsn, &seq), "%s: a record too many", what);
}

Test(record, account_created_with_params_round_trips_as_kind_5) {
    ws_record r[] = {
        rec_created_with("a", 500, "USD", 7, 1000),
        rec_created_with(id64, WS_AMOUNT_MAX, "ABCDEFGHIJ12", WS_AMOUNT_MAX, WS_AMOUNT_MAX),
        rec_created_with("b", 0, "XXX", 0, 0),              /* the default currency, a max */
        rec_created_with("c", 3, "XXX", 1, WS_AMOUNT_MAX),  /* an overdraft only */
        rec_created_with("d", 42, "EUR", 0, WS_AMOUNT_MAX), /* a currency only */
        rec_created_with("e", 9, "EUR", 0, 9),              /* amount == max */
    };
    size_t n = sizeof(r) / sizeof(r[0]);
    for (size_t i = 0; i < n; i++) {
        cr_assert(ws_record_valid(&r[i]), "record %zu", i);
        unsigned char buf[WS_BLOCK_SIZE_MAX];
        size_t len = build(buf, &r[i], 1, 1, 1, NOW_US);
        cr_assert_eq(buf[WS_BLOCK_HEADER_SIZE], 5, "record %zu: on-disk kind", i);
        cr_assert_eq(len, WS_BLOCK_HEADER_SIZE + 28 + r[i].account_len + r[i].currency_len + 4,
                     "record %zu: size", i);
        assert_round_trip(&r[i], 1, "alone");
    }
    ws_record mixed[] = {r[0], rec_created("x", 5), rec_transfer("a", "x", "t", 1, 499, 6), r[1]};
    assert_round_trip(mixed, 4, "among other kinds");
    /* the codec writes the documented layout */
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len = build(buf, r, 2, 3, 4, NOW_US);
    bytes recs = {.n = 0};
    raw_created5(&recs, "a", "USD", 3, 500, 7, 1000);
    raw_created5(&recs, id64, "ABCDEFGHIJ12", 12, WS_AMOUNT_MAX, WS_AMOUNT_MAX, WS_AMOUNT_MAX);
    unsigned char want[WS_BLOCK_SIZE_MAX + 512];
    size_t want_len = raw_block(want, &recs, 2, 3, 4, NOW_US);
    cr_assert_eq(len, want_len);
    cr_assert_eq(memcmp(buf, want, len), 0, "the codec differs from the layout of record.h");
}

Test(record, default_params_encode_as_kind_1) {
    ws_record r = rec_created("a", 77);
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len = build(buf, &r, 1, 1, 1, NOW_US);
    cr_assert_eq(buf[WS_BLOCK_HEADER_SIZE], 1, "on-disk kind");
    cr_assert_eq(len, WS_BLOCK_HEADER_SIZE + 10 + 1 + 4);
    /* explicitly given default parameters are the same record */
    ws_record d = rec_created_with("a", 77, "XXX", 0, WS_AMOUNT_MAX);
    unsigned char buf2[WS_BLOCK_SIZE_MAX];
    cr_assert_eq(build(buf2, &d, 1, 1, 1, NOW_US), len);
    cr_assert_eq(memcmp(buf, buf2, len), 0);
    /* and a kind 1 decodes with the default parameters filled in */
    ws_block_header h;
    ws_block_cursor c;
    cr_assert_eq(ws_block_open(buf, len, &h, &c), WS_OK);
    ws_record got;
    uint64_t lsn;
    uint64_t seq;
    cr_assert(ws_block_next(&c, &got, &lsn, &seq));
    assert_params_eq(&got, &d, "kind 1");
    ws_account_params p = ws_record_params(&got);
    cr_assert(ws_account_params_is_default(&p));
}

Test(record, open_refuses_kind_5_with_default_params) {
    bytes recs = {.n = 0};
    raw_created5(&recs, "a", "XXX", 3, 5, 0, WS_AMOUNT_MAX);
    assert_raw_refused(&recs, 1, "a kind 5 holding the default parameters");
    /* controls: any one parameter off its default makes it a valid kind 5 */
    recs.n = 0;
    raw_created5(&recs, "a", "XXX", 3, 5, 1, WS_AMOUNT_MAX);
    assert_raw_ok(&recs, 1, "kind 5 with an overdraft");
    recs.n = 0;
    raw_created5(&recs, "a", "XXX", 3, 5, 0, WS_AMOUNT_MAX - 1);
    assert_raw_ok(&recs, 1, "kind 5 with a maximum");
    recs.n = 0;
    raw_created5(&recs, "a", "XXY", 3, 5, 0, WS_AMOUNT_MAX);
    assert_raw_ok(&recs, 1, "kind 5 with a currency");
}

Test(record, open_refuses_kind_5_with_bad_fields) {
    bytes recs = {.n = 0};
    raw_created5(&recs, "a", "USD", 3, 11, 0, 10);
    assert_raw_refused(&recs, 1, "a start amount above the maximum");
    recs.n = 0;
    raw_created5(&recs, "a", "USD", 3, 1, WS_AMOUNT_MAX + 1, WS_AMOUNT_MAX);
    assert_raw_refused(&recs, 1, "an overdraft past WS_AMOUNT_MAX");
    recs.n = 0;
    raw_created5(&recs, "a", "USD", 3, 1, 0, WS_AMOUNT_MAX + 1);
    assert_raw_refused(&recs, 1, "a maximum past WS_AMOUNT_MAX");
    recs.n = 0;
    raw_created5(&recs, "a", "USD", 3, 1, 0, 10);
    recs.b[3] = 1;
    assert_raw_refused(&recs, 1, "a kind 5 with a nonzero pad byte");
    recs.n = 0;
    raw_created5(&recs, "a", "USD", 3, 1, 0, 10);
    recs.n--;
    assert_raw_refused(&recs, 1, "a truncated kind 5");
    recs.n = 0;
    raw_created5(&recs, "a", "USD", 3, 1, 0, 10);
    assert_raw_ok(&recs, 1, "the control");
}

Test(record, open_refuses_invalid_currency) {
    const struct {
        const char *code;
        size_t len;
    } bad[] = {
        {"usd", 3},
        {"US", 2},
        {"", 0},
        {"ABCDEFGHIJKLM", 13},
        {"U$D", 3},
        {"U D", 3},
        {"US\0", 3},
        {"US-", 3},
        {"\x80US", 3},
        {"USd", 3},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        bytes recs = {.n = 0};
        raw_created5(&recs, "a", bad[k].code, bad[k].len, 1, 0, 10);
        assert_raw_refused(&recs, 1, "an invalid currency");
    }
    const char *good[] = {"USD", "ABCDEFGHIJKL", "X9Z", "000"};
    for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
        bytes recs = {.n = 0};
        raw_created5(&recs, "a", good[k], strlen(good[k]), 1, 0, 10);
        assert_raw_ok(&recs, 1, good[k]);
    }
}

Test(record, negative_balances_round_trip) {
    const int64_t min = -(int64_t)WS_AMOUNT_MAX;
    ws_record r[] = {
        rec_transfer("a", "b", "t1", 5, -5, 5),
        rec_transfer("a", "b", "t2", WS_AMOUNT_MAX, min, (int64_t)WS_AMOUNT_MAX),
        rec_transfer("a", "b", "t3", 1, min, -1), /* a credit to a negative balance */
        rec_transfer("a", "b", "t4", 3, -1, min + 3),
    };
    assert_round_trip(r, 4, "negative balances");
    /* two's complement in the u64 fields */
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len = build(buf, r, 1, 1, 1, NOW_US);
    bytes recs = {.n = 0};
    raw_transfer(&recs, "a", "b", "t1", 5, UINT64_MAX - 4, 5);
    unsigned char want[WS_BLOCK_SIZE_MAX + 512];
    cr_assert_eq(raw_block(want, &recs, 1, 1, 1, NOW_US), len);
    cr_assert_eq(memcmp(buf, want, len), 0);
}

Test(record, balance_of_int64_min_is_refused) {
    bytes recs = {.n = 0};
    raw_transfer(&recs, "a", "b", "t", 1, (uint64_t)INT64_MIN, 1);
    assert_raw_refused(&recs, 1, "a fromAccount balance of INT64_MIN");
    recs.n = 0;
    raw_transfer(&recs, "a", "b", "t", 1, 0, (uint64_t)INT64_MIN);
    assert_raw_refused(&recs, 1, "a toAccount balance of INT64_MIN");
    recs.n = 0;
    raw_transfer(&recs, "a", "b", "t", 1, (uint64_t)INT64_MIN + 1, (uint64_t)INT64_MIN + 1);
    assert_raw_ok(&recs, 1, "balances of -WS_AMOUNT_MAX");
    ws_record r = rec_transfer("a", "b", "t", 1, INT64_MIN, 1);
    cr_assert_not(ws_record_valid(&r));
    r = rec_transfer("a", "b", "t", 1, 1, INT64_MIN);
    cr_assert_not(ws_record_valid(&r));
    r = rec_transfer("a", "b", "t", 1, INT64_MIN + 1, INT64_MIN + 1);
    cr_assert(ws_record_valid(&r));
}

/* ---- two-phase records: TransferPending, PendingResolved, StepRefused ------------------- */

/* A two-phase record's balances and pending totals after it. */
typedef struct {
    int64_t fb;
    int64_t tb;
    uint64_t fpd;
    uint64_t fpc;
    uint64_t tpd;
    uint64_t tpc;
} totals;

static void set_totals(ws_record *r, totals t) {
    r->from_balance = t.fb;
    r->to_balance = t.tb;
    r->from_pd = t.fpd;
    r->from_pc = t.fpc;
    r->to_pd = t.tpd;
    r->to_pc = t.tpc;
}

static ws_record rec_pending(const char *from, const char *to, const char *txn, uint64_t amount,
                             uint32_t timeout_s, uint64_t expires_us, totals t) {
    ws_record r = rec_transfer(from, to, txn, amount, 0, 0);
    r.kind = WS_REC_PENDING;
    r.step = WS_STEP_PENDING;
    r.timeout_s = timeout_s;
    r.expires_us = expires_us;
    set_totals(&r, t);
    return r;
}

/* A post, void or expiry (txn "" for an expiry) of the pending transfer pending at lsn. */
static ws_record rec_resolved(ws_step step, const char *from, const char *to, const char *txn,
                              const char *pending, uint64_t pending_lsn, uint64_t amount,
                              uint64_t pending_amount, totals t) {
    ws_record r;
    memset(&r, 0, sizeof(r));
    r.kind = WS_REC_RESOLVED;
    r.status = WS_OK;
    r.step = step;
    r.account_len = rec_set_id(r.account, from);
    r.to_len = rec_set_id(r.to, to);
    r.txn_len = rec_set_id(r.txn, txn);
    r.pending_len = rec_set_id(r.pending, pending);
    r.pending_lsn = pending_lsn;
    r.amount = amount;
    r.pending_amount = pending_amount;
    set_totals(&r, t);
    return r;
}

/* A refused pending transfer (from, to, no pending) or post or void (no from or to). */
static ws_record rec_step_refused(ws_step step, ws_status why, uint8_t side, const char *from,
                                  const char *to, const char *txn, const char *pending,
                                  uint64_t amount, uint32_t timeout_s) {
    ws_record r;
    memset(&r, 0, sizeof(r));
    r.kind = WS_REC_STEP_REFUSED;
    r.status = why;
    r.step = step;
    r.missing_side = side;
    r.account_len = rec_set_id(r.account, from);
    r.to_len = rec_set_id(r.to, to);
    r.txn_len = rec_set_id(r.txn, txn);
    r.pending_len = rec_set_id(r.pending, pending);
    r.amount = amount;
    r.timeout_s = timeout_s;
    return r;
}

/* rec_assert_eq and every two-phase field. */
static void step_assert_eq(const ws_record *got, const ws_record *want, const char *what) {
    rec_assert_eq(got, want, what);
    cr_assert_eq(got->step, want->step, "%s: step", what);
    cr_assert_eq(got->timeout_s, want->timeout_s, "%s: timeout_s", what);
    cr_assert_eq(got->expires_us, want->expires_us, "%s: expires_us", what);
    cr_assert_eq(got->pending_lsn, want->pending_lsn, "%s: pending_lsn", what);
    cr_assert_eq(got->pending_amount, want->pending_amount, "%s: pending_amount", what);
    cr_assert_eq(got->from_pd, want->from_pd, "%s: from_pd", what);
    cr_assert_eq(got->from_pc, want->from_pc, "%s: from_pc", what);
    cr_assert_eq(got->to_pd, want->to_pd, "%s: to_pd", what);
    cr_assert_eq(got->to_pc, want->to_pc, "%s: to_pc", what);
    cr_assert_eq(got->pending_len, want->pending_len, "%s: pending_len", what);
    cr_assert_eq(memcmp(got->pending, want->pending, want->pending_len), 0, "%s: pending", what);
    assert_params_eq(got, want, what);
}

static const totals T_PENDING = {100, 5, 30, 7, 2, 30};
static const totals T_POSTED = {80, 25, 0, 7, 2, 0};
static const totals T_RELEASED = {100, 5, 0, 7, 2, 0};
/* the extremes a record may hold */
static const totals T_EXTREME = {-(int64_t)WS_AMOUNT_MAX, (int64_t)WS_AMOUNT_MAX,
                                 2 * WS_AMOUNT_MAX,       2 * WS_AMOUNT_MAX,
                                 2 * WS_AMOUNT_MAX,       2 * WS_AMOUNT_MAX};

#define EXPIRES_US (NOW_US + 10 * 1000000ull)

/* One record of each two-phase kind and step, 13 in all. */
static size_t two_phase_sample(ws_record *r) {
    size_t n = 0;
    r[n++] = rec_pending("alice", "bob", "p-1", 30, 10, EXPIRES_US, T_PENDING);
    r[n++] = rec_pending(id64, "b", id64, WS_AMOUNT_MAX, WS_TIMEOUT_MAX, WS_TIMESTAMP_US_MAX - 1,
                         T_EXTREME);
    r[n++] = rec_pending("a", "b", "p-2", 1, 0, 0, T_PENDING); /* no timeout */
    r[n++] = rec_resolved(WS_STEP_POST, "alice", "bob", "c-1", "p-1", 3, 20, 30, T_POSTED);
    r[n++] = rec_resolved(WS_STEP_POST, id64, "b", id64, id64, UINT64_MAX, WS_AMOUNT_MAX,
                          WS_AMOUNT_MAX, T_EXTREME);
    r[n++] = rec_resolved(WS_STEP_VOID, "alice", "bob", "v-1", "p-1", 3, 0, 30, T_RELEASED);
    r[n++] = rec_resolved(WS_STEP_EXPIRE, "alice", "bob", "", "p-1", 3, 0, 30, T_RELEASED);
    r[n++] = rec_step_refused(WS_STEP_PENDING, WS_ACCOUNT_NOT_FOUND, 2, "alice", "nobody", "p-9",
                              "", 5, 60);
    r[n++] = rec_step_refused(WS_STEP_PENDING, WS_INSUFFICIENT_FUNDS, 0, id64, "b", id64, "",
                              WS_AMOUNT_MAX, WS_TIMEOUT_MAX);
    r[n++] = rec_step_refused(WS_STEP_POST, WS_PENDING_TRANSFER_NOT_FOUND, 0, "", "", "c-9", "p-x",
                              0, 0);
    r[n++] = rec_step_refused(WS_STEP_POST, WS_EXCEEDS_PENDING_AMOUNT, 0, "", "", "c-8", id64,
                              WS_AMOUNT_MAX, 0);
    r[n++] = rec_step_refused(WS_STEP_VOID, WS_PENDING_TRANSFER_ALREADY_POSTED, 0, "", "", "v-9",
                              "p-1", 0, 0);
    r[n++] = rec_step_refused(WS_STEP_VOID, WS_LINKED_EVENT_FAILED, 0, "", "", "v-8", "p-1", 0, 0);
    return n;
}

Test(record, two_phase_event_counts) {
    cr_assert_eq(ws_record_event_count(WS_REC_PENDING), 2);
    cr_assert_eq(ws_record_event_count(WS_REC_RESOLVED), 2);
    cr_assert_eq(ws_record_event_count(WS_REC_STEP_REFUSED), 0);
}

Test(record, two_phase_sample_is_valid) {
    ws_record r[16];
    size_t n = two_phase_sample(r);
    for (size_t i = 0; i < n; i++) {
        cr_assert(ws_record_valid(&r[i]), "sample %zu", i);
    }
}

/* Each two-phase record survives a block alone, all of them together among the other kinds,
 * with every field; lsns and seqs implied (two events for TransferPending and
 * PendingResolved, none for StepRefused). */
Test(record, two_phase_round_trip) {
    ws_record r[16];
    size_t n = two_phase_sample(r);
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t len = build(buf, &r[i], 1, 1, 1, NOW_US);
        ws_block_header h;
        ws_block_cursor c;
        cr_assert_eq(ws_block_open(buf, len, &h, &c), WS_OK, "record %zu refused", i);
        cr_assert_eq(h.count, 1);
        cr_assert_eq(h.events, ws_record_event_count(r[i].kind));
        ws_record got;
        uint64_t lsn;
        uint64_t seq;
        cr_assert(ws_block_next(&c, &got, &lsn, &seq));
        char what[48];
        snprintf(what, sizeof(what), "record %zu alone", i);
        step_assert_eq(&got, &r[i], what);
        cr_assert_not(ws_block_next(&c, &got, &lsn, &seq));
    }
    ws_record all[20];
    size_t m = 0;
    all[m++] = rec_created("alice", 100);
    for (size_t i = 0; i < n; i++) {
        all[m++] = r[i];
        if (i == 4) {
            all[m++] = rec_transfer("alice", "bob", "t-1", 1, 99, 6);
        }
    }
    size_t len = build(buf, all, m, 50, 500, NOW_US);
    ws_block_header h;
    ws_block_cursor c;
    cr_assert_eq(ws_block_open(buf, len, &h, &c), WS_OK);
    cr_assert_eq(h.count, m);
    unsigned events = 0;
    for (size_t i = 0; i < m; i++) {
        events += ws_record_event_count(all[i].kind);
    }
    cr_assert_eq(h.events, events);
    cr_assert_eq(events, 1 + 2 + 7 * 2, "the sample's events");
    uint64_t want_seq = 500;
    for (size_t i = 0; i < m; i++) {
        ws_record got;
        uint64_t lsn;
        uint64_t seq;
        cr_assert(ws_block_next(&c, &got, &lsn, &seq), "record %zu missing", i);
        cr_assert_eq(lsn, 50 + i);
        cr_assert_eq(seq, want_seq, "record %zu: seq %llu, want %llu", i, (unsigned long long)seq,
                     (unsigned long long)want_seq);
        want_seq += ws_record_event_count(all[i].kind);
        step_assert_eq(&got, &all[i], "together");
    }
}

/* The test's own encoders of the two-phase kinds, from the layout in record.h. */
static void put32b(bytes *o, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        put8(o, (v >> (8 * i)) & 0xff);
    }
}

static void put_totals(bytes *o, totals t) {
    put64(o, (uint64_t)t.fb);
    put64(o, (uint64_t)t.tb);
    put64(o, t.fpd);
    put64(o, t.fpc);
    put64(o, t.tpd);
    put64(o, t.tpc);
}

/* TransferPending: u8 kind=6, u8 from_len, u8 to_len, u8 txn_len, u32 timeout_s, u64 amount,
 * u64 expires_us, u64 from_balance, u64 to_balance, u64 from_pd, u64 from_pc, u64 to_pd,
 * u64 to_pc, from, to, txn */
static void raw_pending(bytes *o, const char *from, const char *to, const char *txn,
                        uint32_t timeout_s, uint64_t amount, uint64_t expires_us, totals t) {
    put8(o, 6);
    put8(o, (unsigned)strlen(from));
    put8(o, (unsigned)strlen(to));
    put8(o, (unsigned)strlen(txn));
    put32b(o, timeout_s);
    put64(o, amount);
    put64(o, expires_us);
    put_totals(o, t);
    put_str(o, from, strlen(from));
    put_str(o, to, strlen(to));
    put_str(o, txn, strlen(txn));
}

/* PendingResolved: u8 kind=7, u8 step, u8 from_len, u8 to_len, u8 txn_len, u8 pending_len,
 * u16 zero, u64 pending_lsn, u64 amount, u64 pending_amount, u64 from_balance,
 * u64 to_balance, u64 from_pd, u64 from_pc, u64 to_pd, u64 to_pc, from, to, txn, pending */
static void raw_resolved(bytes *o, unsigned step, const char *from, const char *to, const char *txn,
                         const char *pending, uint64_t pending_lsn, uint64_t amount,
                         uint64_t pending_amount, totals t) {
    put8(o, 7);
    put8(o, step);
    put8(o, (unsigned)strlen(from));
    put8(o, (unsigned)strlen(to));
    put8(o, (unsigned)strlen(txn));
    put8(o, (unsigned)strlen(pending));
    put8(o, 0);
    put8(o, 0);
    put64(o, pending_lsn);
    put64(o, amount);
    put64(o, pending_amount);
    put_totals(o, t);
    put_str(o, from, strlen(from));
    put_str(o, to, strlen(to));
    put_str(o, txn, strlen(txn));
    put_str(o, pending, strlen(pending));
}

/* StepRefused: u8 kind=8, u8 step, u8 code, u8 missing_side, u8 from_len, u8 to_len,
 * u8 txn_len, u8 pending_len, u32 timeout_s, u32 zero, u64 amount, from, to, txn, pending */
static void raw_step_refused(bytes *o, unsigned step, unsigned code, unsigned side,
                             const char *from, const char *to, const char *txn, const char *pending,
                             uint32_t timeout_s, uint64_t amount) {
    put8(o, 8);
    put8(o, step);
    put8(o, code);
    put8(o, side);
    put8(o, (unsigned)strlen(from));
    put8(o, (unsigned)strlen(to));
    put8(o, (unsigned)strlen(txn));
    put8(o, (unsigned)strlen(pending));
    put32b(o, timeout_s);
    put32b(o, 0);
    put64(o, amount);
    put_str(o, from, strlen(from));
    put_str(o, to, strlen(to));
    put_str(o, txn, strlen(txn));
    put_str(o, pending, strlen(pending));
}

/* The raw bytes of the first records of two_phase_sample: one of each kind and step. */
static void raw_two_phase(bytes *o) {
    raw_pending(o, "alice", "bob", "p-1", 10, 30, EXPIRES_US, T_PENDING);
    raw_resolved(o, 2, "alice", "bob", "c-1", "p-1", 3, 20, 30, T_POSTED);
    raw_resolved(o, 3, "alice", "bob", "v-1", "p-1", 3, 0, 30, T_RELEASED);
    raw_resolved(o, 4, "alice", "bob", "", "p-1", 3, 0, 30, T_RELEASED);
    raw_step_refused(o, 1, 1, 2, "alice", "nobody", "p-9", "", 60, 5);
    raw_step_refused(o, 2, 14, 0, "", "", "c-9", "p-x", 0, 0);
    raw_step_refused(o, 3, 15, 0, "", "", "v-9", "p-1", 0, 0);
}

static size_t two_phase_one_of_each(ws_record *out) {
    ws_record r[16];
    (void)two_phase_sample(r);
    const size_t pick[7] = {0, 3, 5, 6, 7, 9, 11};
    for (size_t i = 0; i < 7; i++) {
        out[i] = r[pick[i]];
    }
    return 7;
}

/* The codec writes exactly the layout record.h documents for the two-phase kinds. */
Test(record, two_phase_codec_writes_the_documented_layout) {
    ws_record r[7];
    size_t n = two_phase_one_of_each(r);
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len = build(buf, r, n, 3, 7, NOW_US);
    bytes recs = {.n = 0};
    raw_two_phase(&recs);
    unsigned char want[WS_BLOCK_SIZE_MAX + 512];
    size_t want_len = raw_block(want, &recs, (unsigned)n, 3, 7, NOW_US);
    cr_assert_eq(len, want_len, "codec %zu bytes, layout %zu", len, want_len);
    for (size_t i = 0; i < len; i++) {
        cr_assert_eq(buf[i], want[i], "byte %zu differs: codec 0x%02x, layout 0x%02x", i, buf[i],
                     want[i]);
    }
    assert_raw_ok(&recs, (unsigned)n, "the layout's own bytes");
}

/* A corrupted byte anywhere in a block of two-phase records fails the CRC. */
Test(record, open_refuses_two_phase_flipped_bits) {
    ws_record r[16];
    size_t n = two_phase_sample(r);
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    size_t len = build(buf, r, n, 1, 1, NOW_US);
    cr_assert_eq(open_buf(buf, len), WS_OK);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (unsigned char)(1u << bit);
            cr_assert_eq(open_buf(buf, len), WS_CORRUPT, "bit %d of byte %zu flipped: accepted",
                         bit, i);
            buf[i] ^= (unsigned char)(1u << bit);
        }
    }
    cr_assert_eq(open_buf(buf, len), WS_OK);
}

/* The offsets of the length bytes of each two-phase kind (from, to, txn[, pending]). */
static const struct {
    const char *kind;
    size_t offsets[4];
    size_t count;
} LENGTHS[3] = {{"TransferPending", {1, 2, 3}, 3},
                {"PendingResolved", {2, 3, 4, 5}, 4},
                {"StepRefused", {4, 5, 6, 7}, 4}};

/* One valid record of each two-phase kind, as raw bytes, with IDs long enough that a
 * length one shorter is still a valid ID. */
static void raw_of_kind(bytes *o, size_t k) {
    o->n = 0;
    if (k == 0) {
        raw_pending(o, "from", "to-x", "txn1", 10, 30, EXPIRES_US, T_PENDING);
    } else if (k == 1) {
        raw_resolved(o, 2, "from", "to-x", "txn1", "pend", 3, 20, 30, T_POSTED);
    } else {
        raw_step_refused(o, 1, 2, 0, "from", "to-x", "txn1", "", 0, 5);
    }
}

/* Resealed with a length byte off by one, or out of range, each record is refused: the
 * record then ends elsewhere than the block says, or an ID is empty or too long. */
Test(record, open_refuses_two_phase_resealed_bad_lengths) {
    for (size_t k = 0; k < 3; k++) {
        bytes recs;
        raw_of_kind(&recs, k);
        assert_raw_ok(&recs, 1, LENGTHS[k].kind);
        for (size_t f = 0; f < LENGTHS[k].count; f++) {
            size_t at = LENGTHS[k].offsets[f];
            const unsigned char orig = recs.b[at];
            const unsigned values[] = {orig + 1u, orig - 1u, 0, WS_ID_LEN_MAX + 1, 255};
            for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
                if (k == 2 && f == 3 && values[v] == 0) {
                    continue; /* a pending transfer's refusal has no pending ID: 0 is right */
                }
                raw_of_kind(&recs, k);
                recs.b[at] = (unsigned char)values[v];
                size_t len = raw_block(blk, &recs, 1, 1, 1, NOW_US);
                cr_assert_eq(open_buf(blk, len), WS_CORRUPT,
                             "%s: length byte %zu set to %u (was %u), resealed: accepted",
                             LENGTHS[k].kind, at, values[v], orig);
            }
        }
        /* and cut anywhere, resealed */
        raw_of_kind(&recs, k);
        size_t full = recs.n;
        for (size_t cut = 1; cut < full; cut++) {
            raw_of_kind(&recs, k);
            recs.n = full - cut;
            size_t len = raw_block(blk, &recs, 1, 1, 1, NOW_US);
            cr_assert_eq(open_buf(blk, len), WS_CORRUPT, "%s: %zu bytes cut: accepted",
                         LENGTHS[k].kind, cut);
        }
        /* a byte more than the record, resealed */
        raw_of_kind(&recs, k);
        put8(&recs, 'x');
        assert_raw_refused(&recs, 1, "a two-phase record with a trailing byte");
    }
}

/* The other fixed bytes of the two-phase kinds: the zero padding, the steps, the codes. */
Test(record, open_refuses_two_phase_bad_fixed_bytes) {
    bytes recs;
    for (size_t pad = 6; pad <= 7; pad++) {
        raw_of_kind(&recs, 1);
        recs.b[pad] = 1;
        assert_raw_refused(&recs, 1, "a PendingResolved with a nonzero pad byte");
    }
    for (size_t pad = 12; pad <= 15; pad++) {
        raw_of_kind(&recs, 2);
        recs.b[pad] = 1;
        assert_raw_refused(&recs, 1, "a StepRefused with a nonzero pad byte");
    }
    const unsigned bad_resolved_steps[] = {0, 1, 5, 255};
    for (size_t i = 0; i < sizeof(bad_resolved_steps) / sizeof(bad_resolved_steps[0]); i++) {
        raw_of_kind(&recs, 1);
        recs.b[1] = (unsigned char)bad_resolved_steps[i];
        assert_raw_refused(&recs, 1, "a PendingResolved of no post, void or expiry");
    }
    const unsigned bad_refused_steps[] = {0, 4, 5, 255};
    for (size_t i = 0; i < sizeof(bad_refused_steps) / sizeof(bad_refused_steps[0]); i++) {
        raw_of_kind(&recs, 2);
        recs.b[1] = (unsigned char)bad_refused_steps[i];
        assert_raw_refused(&recs, 1, "a StepRefused of no pending transfer, post or void");
    }
    /* a pending transfer's refusal holds a transfer's code (1-6, 11, 12), no other */
    const unsigned pending_ok[] = {2, 3, 4, 5, 6, 11, 12};
    for (size_t i = 0; i < sizeof(pending_ok) / sizeof(pending_ok[0]); i++) {
        raw_of_kind(&recs, 2);
        recs.b[2] = (unsigned char)pending_ok[i];
        assert_raw_ok(&recs, 1, "a pending transfer's refusal code");
    }
    const unsigned pending_bad[] = {0, 7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 19, 255};
    for (size_t i = 0; i < sizeof(pending_bad) / sizeof(pending_bad[0]); i++) {
        raw_of_kind(&recs, 2);
        recs.b[2] = (unsigned char)pending_bad[i];
        assert_raw_refused(&recs, 1, "a pending transfer's refusal with another code");
    }
    /* a post's refusal: the two-phase codes too */
    for (unsigned code = 14; code <= 18; code++) {
        recs.n = 0;
        raw_step_refused(&recs, 2, code, 0, "", "", "txn1", "pend", 0, 5);
        assert_raw_ok(&recs, 1, "a post's two-phase refusal code");
    }
    /* a TransferRefused never holds a two-phase code */
    for (unsigned code = 13; code <= 18; code++) {
        recs.n = 0;
        raw_refused(&recs, code, 0, "a", "b", "t", 1);
        assert_raw_refused(&recs, 1, "a TransferRefused with a code of 13-18");
    }
}

/* ---- ws_record_valid of the two-phase kinds ---- */

/* Asserts that r is refused by ws_record_valid and, as bytes, by ws_block_open. */
static void assert_invalid(const ws_record *r, const char *what) {
    cr_assert_not(ws_record_valid(r), "%s: valid", what);
}

Test(record, record_valid_refuses_malformed_pending) {
    const ws_record ok = rec_pending("a", "b", "p", 30, 10, EXPIRES_US, T_PENDING);
    cr_assert(ws_record_valid(&ok));
    ws_record x;
#define REFUSED(what, stmt)                                                                        \
    do {                                                                                           \
        x = ok;                                                                                    \
        stmt;                                                                                      \
        assert_invalid(&x, what);                                                                  \
    } while (0)
    REFUSED("a status other than ok", x.status = WS_INSUFFICIENT_FUNDS);
    REFUSED("a missing side", x.missing_side = 1);
    REFUSED("step none", x.step = WS_STEP_NONE);
    REFUSED("step post", x.step = WS_STEP_POST);
    REFUSED("amount 0", x.amount = 0);
    REFUSED("an amount past 2^63-1", x.amount = WS_AMOUNT_MAX + 1);
    REFUSED("a timeout without an expiry", x.expires_us = 0);
    REFUSED("an expiry without a timeout", x.timeout_s = 0);
    REFUSED("an expiry in year 10000", x.expires_us = WS_TIMESTAMP_US_MAX);
    REFUSED("a pending lsn", x.pending_lsn = 1);
    REFUSED("a pending amount", x.pending_amount = 1);
    REFUSED("a pending ID", x.pending_len = rec_set_id(x.pending, "p"));
    REFUSED("pending debits past 2 * 2^63-1", x.from_pd = 2 * WS_AMOUNT_MAX + 1);
    REFUSED("pending credits past 2 * 2^63-1", x.to_pc = 2 * WS_AMOUNT_MAX + 1);
    REFUSED("the fromAccount's pending credits past it", x.from_pc = UINT64_MAX);
    REFUSED("the toAccount's pending debits past it", x.to_pd = UINT64_MAX);
    REFUSED("a balance of INT64_MIN", x.from_balance = INT64_MIN);
    REFUSED("a toAccount balance of INT64_MIN", x.to_balance = INT64_MIN);
    REFUSED("no fromAccount", x.account_len = 0);
    REFUSED("no toAccount", x.to_len = 0);
    REFUSED("no transferID", x.txn_len = 0);
    REFUSED("an invalid ID byte", x.to[0] = '/');
    REFUSED("a currency", ws_record_set_params(&x, NULL));
    REFUSED("an overdraft", x.overdraft = 1);
    REFUSED("a maximum", x.max_balance = 1);
    REFUSED("a RequestKey's op", x.op = WS_OP_TRANSFER);
    REFUSED("a RequestKey's digest", x.digest = 1);
#undef REFUSED
    x = ok;
    x.timeout_s = 0;
    x.expires_us = 0;
    cr_assert(ws_record_valid(&x), "the control: no timeout and no expiry");
}

Test(record, record_valid_refuses_malformed_resolved) {
    const ws_record post = rec_resolved(WS_STEP_POST, "a", "b", "c", "p", 3, 20, 30, T_POSTED);
    const ws_record voided = rec_resolved(WS_STEP_VOID, "a", "b", "v", "p", 3, 0, 30, T_RELEASED);
    const ws_record expiry = rec_resolved(WS_STEP_EXPIRE, "a", "b", "", "p", 3, 0, 30, T_RELEASED);
    cr_assert(ws_record_valid(&post));
    cr_assert(ws_record_valid(&voided));
    cr_assert(ws_record_valid(&expiry));
    ws_record x;
#define REFUSED(base, what, stmt)                                                                  \
    do {                                                                                           \
        x = base;                                                                                  \
        stmt;                                                                                      \
        assert_invalid(&x, what);                                                                  \
    } while (0)
    REFUSED(post, "a post of more than the pending amount", x.amount = 31);
    REFUSED(post, "a post of 0", x.amount = 0);
    REFUSED(post, "a post without a transferID", x.txn_len = 0);
    REFUSED(post, "a pending amount of 0", (x.pending_amount = 0, x.amount = 0));
    REFUSED(post, "a pending amount past 2^63-1",
            (x.pending_amount = WS_AMOUNT_MAX + 1, x.amount = 1));
    REFUSED(post, "pending lsn 0", x.pending_lsn = 0);
    REFUSED(post, "no pending ID", x.pending_len = 0);
    REFUSED(post, "an invalid pending ID", x.pending[0] = ' ');
    REFUSED(post, "a timeout", x.timeout_s = 1);
    REFUSED(post, "an expiry time", x.expires_us = 1);
    REFUSED(post, "a status", x.status = WS_PENDING_TRANSFER_EXPIRED);
    REFUSED(post, "a missing side", x.missing_side = 2);
    REFUSED(post, "step none", x.step = WS_STEP_NONE);
    REFUSED(post, "step pending", x.step = WS_STEP_PENDING);
    REFUSED(post, "an unknown step", x.step = (ws_step)5);
    REFUSED(post, "no fromAccount", x.account_len = 0);
    REFUSED(post, "no toAccount", x.to_len = 0);
    REFUSED(post, "pending debits past 2 * 2^63-1", x.from_pd = 2 * WS_AMOUNT_MAX + 1);
    REFUSED(post, "a balance of INT64_MIN", x.to_balance = INT64_MIN);
    REFUSED(post, "a currency", ws_record_set_params(&x, NULL));
    REFUSED(voided, "a void with an amount", x.amount = 1);
    REFUSED(voided, "a void with the pending amount", x.amount = 30);
    REFUSED(voided, "a void without a transferID", x.txn_len = 0);
    REFUSED(expiry, "an expiry with a transferID", x.txn_len = rec_set_id(x.txn, "e"));
    REFUSED(expiry, "an expiry with an amount", x.amount = 30);
    REFUSED(expiry, "an expiry without a pending ID", x.pending_len = 0);
#undef REFUSED
    x = post;
    x.amount = 30;
    cr_assert(ws_record_valid(&x), "the control: a post of all of it");
    x = post;
    x.amount = 1;
    cr_assert(ws_record_valid(&x), "the control: a post of 1");
}

Test(record, record_valid_refuses_malformed_step_refused) {
    const ws_record pend =
        rec_step_refused(WS_STEP_PENDING, WS_INSUFFICIENT_FUNDS, 0, "a", "b", "p", "", 5, 10);
    const ws_record post =
        rec_step_refused(WS_STEP_POST, WS_PENDING_TRANSFER_NOT_FOUND, 0, "", "", "c", "p", 0, 0);
    const ws_record voided = rec_step_refused(WS_STEP_VOID, WS_PENDING_TRANSFER_ALREADY_VOIDED, 0,
                                              "", "", "v", "p", 0, 0);
    cr_assert(ws_record_valid(&pend));
    cr_assert(ws_record_valid(&post));
    cr_assert(ws_record_valid(&voided));
    ws_record x;
#define REFUSED(base, what, stmt)                                                                  \
    do {                                                                                           \
        x = base;                                                                                  \
        stmt;                                                                                      \
        assert_invalid(&x, what);                                                                  \
    } while (0)
    REFUSED(post, "a post's refusal with a fromAccount",
            x.account_len = rec_set_id(x.account, "a"));
    REFUSED(post, "a post's refusal with a toAccount", x.to_len = rec_set_id(x.to, "b"));
    REFUSED(post, "a post's refusal with a timeout", x.timeout_s = 1);
    REFUSED(post, "a post's refusal without a pending ID", x.pending_len = 0);
    REFUSED(post, "a post's refusal with a missing side",
            (x.status = WS_ACCOUNT_NOT_FOUND, x.missing_side = 1));
    REFUSED(post, "an amount past 2^63-1", x.amount = WS_AMOUNT_MAX + 1);
    REFUSED(voided, "a void's refusal with an amount", x.amount = 1);
    REFUSED(voided, "a void's refusal with a fromAccount",
            x.account_len = rec_set_id(x.account, "a"));
    REFUSED(pend, "a pending transfer's refusal with a pending ID",
            x.pending_len = rec_set_id(x.pending, "p"));
    REFUSED(pend, "a pending transfer's refusal of 0", x.amount = 0);
    REFUSED(pend, "without a fromAccount", x.account_len = 0);
    REFUSED(pend, "without a toAccount", x.to_len = 0);
    REFUSED(pend, "without a transferID", x.txn_len = 0);
    REFUSED(pend, "account_not_found without its side", x.status = WS_ACCOUNT_NOT_FOUND);
    REFUSED(pend, "a side on another refusal", x.missing_side = 1);
    REFUSED(pend, "a balance", x.from_balance = 1);
    REFUSED(pend, "a toAccount balance", x.to_balance = -1);
    REFUSED(pend, "an expiry time", x.expires_us = EXPIRES_US);
    REFUSED(pend, "a pending lsn", x.pending_lsn = 1);
    REFUSED(pend, "a pending amount", x.pending_amount = 1);
    REFUSED(pend, "pending debits", x.from_pd = 1);
    REFUSED(pend, "pending credits", x.to_pc = 1);
    REFUSED(pend, "the fromAccount's pending credits", x.from_pc = 1);
    REFUSED(pend, "the toAccount's pending debits", x.to_pd = 1);
    REFUSED(pend, "ok is no refusal", x.status = WS_OK);
    REFUSED(pend, "transfer_id_conflict is no stored refusal", x.status = WS_TRANSFER_ID_CONFLICT);
    REFUSED(pend, "step none", x.step = WS_STEP_NONE);
    REFUSED(pend, "step expire", x.step = WS_STEP_EXPIRE);
    REFUSED(pend, "a currency", ws_record_set_params(&x, NULL));
    REFUSED(pend, "a digest", x.digest = 7);
    /* a pending transfer is refused as a transfer: never by a post's or void's code */
    const ws_status two_phase[] = {
        WS_PENDING_TRANSFER_NOT_FOUND, WS_PENDING_TRANSFER_ALREADY_POSTED,
        WS_PENDING_TRANSFER_ALREADY_VOIDED, WS_PENDING_TRANSFER_EXPIRED, WS_EXCEEDS_PENDING_AMOUNT};
    for (size_t i = 0; i < 5; i++) {
        REFUSED(pend, ws_status_code(two_phase[i]), x.status = two_phase[i]);
        x = post;
        x.status = two_phase[i];
        cr_assert(ws_record_valid(&x), "the control: a post refused %s",
                  ws_status_code(two_phase[i]));
    }
#undef REFUSED
    x = pend;
    x.status = WS_ACCOUNT_NOT_FOUND;
    x.missing_side = 1;
    cr_assert(ws_record_valid(&x), "the control: account_not_found with its side");
    x = post;
    x.amount = 7;
    cr_assert(ws_record_valid(&x), "the control: a post's refusal with an amount");
}

/* A TransferRefused never holds a code only a two-phase step can have (13-18), and the
 * plain kinds hold no two-phase field. */
Test(record, record_valid_refuses_two_phase_fields_in_plain_kinds) {
    const ws_status two_phase[] = {WS_TOO_MANY_CURRENCIES,
                                   WS_PENDING_TRANSFER_NOT_FOUND,
                                   WS_PENDING_TRANSFER_ALREADY_POSTED,
                                   WS_PENDING_TRANSFER_ALREADY_VOIDED,
                                   WS_PENDING_TRANSFER_EXPIRED,
                                   WS_EXCEEDS_PENDING_AMOUNT};
    for (size_t i = 0; i < sizeof(two_phase) / sizeof(two_phase[0]); i++) {
        ws_record x = rec_refused(two_phase[i], 0, "a", "b", "t", 1);
        assert_invalid(&x, ws_status_code(two_phase[i]));
    }
    ws_record plain[4] = {rec_created("a", 5),
                          rec_transfer("a", "b", "t", 1, 0, 1),
                          rec_refused(WS_INSUFFICIENT_FUNDS, 0, "a", "b", "t", 1),
                          {0}};
    plain[3].kind = WS_REC_REQUEST_KEY;
    plain[3].op = WS_OP_TRANSFER;
    plain[3].status = WS_OK;
    plain[3].txn_len = rec_set_id(plain[3].txn, "key");
    plain[3].account_len = rec_set_id(plain[3].account, "t");
    for (size_t k = 0; k < 4; k++) {
        cr_assert(ws_record_valid(&plain[k]), "the control: plain kind %zu", k);
        for (int f = 0; f < 11; f++) {
            ws_record x = plain[k];
            switch (f) {
            case 0:
                x.step = WS_STEP_PENDING;
                break;
            case 1:
                x.step = WS_STEP_POST;
                break;
            case 2:
                x.timeout_s = 1;
                break;
            case 3:
                x.expires_us = 1;
                break;
            case 4:
                x.pending_lsn = 1;
                break;
            case 5:
                x.pending_amount = 1;
                break;
            case 6:
                x.from_pd = 1;
                break;
            case 7:
                x.from_pc = 1;
                break;
            case 8:
                x.to_pd = 1;
                break;
            case 9:
                x.to_pc = 1;
                break;
            default:
                x.pending_len = rec_set_id(x.pending, "p");
                break;
            }
            cr_assert_not(ws_record_valid(&x), "plain kind %zu with two-phase field %d: valid", k,
                          f);
        }
    }
}

/* ---- the events of the two-phase records ---- */

/* The two-phase fields of an event. */
static void assert_two_phase_event(const ws_event *e, int64_t available, uint64_t pending_credits,
                                   const char *pending) {
    cr_assert(e->two_phase, "seq %llu: not a two-phase event", (unsigned long long)e->seq);
    cr_assert_eq(e->available, available, "seq %llu: available %lld, want %lld",
                 (unsigned long long)e->seq, (long long)e->available, (long long)available);
    cr_assert_eq(e->pending_credits, pending_credits, "seq %llu: pending credits",
                 (unsigned long long)e->seq);
    cr_assert_eq(e->pending_len, strlen(pending), "seq %llu: pending ID length",
                 (unsigned long long)e->seq);
    cr_assert_eq(memcmp(e->pending, pending, e->pending_len), 0);
}

Test(record, events_of_pending_transfer) {
    ws_record r = rec_pending("alice", "bob", "p-1", 30, 10, EXPIRES_US, T_PENDING);
    ws_event ev[2];
    cr_assert_eq(ws_record_events(&r, 7, NOW_US, ev), 2);
    assert_event(&ev[0], 7, WS_EVENT_PENDING_DEBIT, "alice", 30, 100, "p-1", "bob");
    assert_event(&ev[1], 8, WS_EVENT_PENDING_CREDIT, "bob", 30, 5, "p-1", "alice");
    /* available = balance - pending debits */
    assert_two_phase_event(&ev[0], 100 - 30, 7, "");
    assert_two_phase_event(&ev[1], 5 - 2, 30, "");
    /* at the extremes a ledger can reach: pending debits of balance + overdraft */
    const totals extreme = {
        (int64_t)WS_AMOUNT_MAX, -(int64_t)WS_AMOUNT_MAX, 2 * WS_AMOUNT_MAX, 0, 0,
        2 * WS_AMOUNT_MAX};
    r = rec_pending("a", "b", "p", 1, 0, 0, extreme);
    cr_assert_eq(ws_record_events(&r, 1, NOW_US, ev), 2);
    cr_assert_eq(ev[0].available, -(int64_t)WS_AMOUNT_MAX, "(2^63-1) - 2 * (2^63-1)");
    cr_assert_eq(ev[0].balance, (int64_t)WS_AMOUNT_MAX);
    cr_assert_eq(ev[1].available, -(int64_t)WS_AMOUNT_MAX);
    cr_assert_eq(ev[1].pending_credits, 2 * WS_AMOUNT_MAX);
}

Test(record, events_of_post) {
    ws_record r = rec_resolved(WS_STEP_POST, "alice", "bob", "c-1", "p-1", 3, 20, 30, T_POSTED);
    ws_event ev[2];
    cr_assert_eq(ws_record_events(&r, 11, NOW_US, ev), 2);
    assert_event(&ev[0], 11, WS_EVENT_DEBIT, "alice", 20, 80, "c-1", "bob");
    assert_event(&ev[1], 12, WS_EVENT_CREDIT, "bob", 20, 25, "c-1", "alice");
    assert_two_phase_event(&ev[0], 80 - 0, 7, "p-1");
    assert_two_phase_event(&ev[1], 25 - 2, 0, "p-1");
}

Test(record, events_of_void) {
    ws_record r = rec_resolved(WS_STEP_VOID, "alice", "bob", "v-1", "p-1", 3, 0, 30, T_RELEASED);
    ws_event ev[2];
    cr_assert_eq(ws_record_events(&r, 11, NOW_US, ev), 2);
    /* a void's events carry the amount released */
    assert_event(&ev[0], 11, WS_EVENT_PENDING_VOIDED, "alice", 30, 100, "v-1", "bob");
    assert_event(&ev[1], 12, WS_EVENT_PENDING_VOIDED, "bob", 30, 5, "v-1", "alice");
    assert_two_phase_event(&ev[0], 100, 7, "p-1");
    assert_two_phase_event(&ev[1], 5 - 2, 0, "p-1");
}

Test(record, events_of_expiry) {
    ws_record r = rec_resolved(WS_STEP_EXPIRE, "alice", "bob", "", "p-1", 3, 0, 30, T_RELEASED);
    ws_event ev[2];
    cr_assert_eq(ws_record_events(&r, 11, NOW_US, ev), 2);
    /* no transferID of its own: the events' transaction is the pending transfer's */
    assert_event(&ev[0], 11, WS_EVENT_PENDING_EXPIRED, "alice", 30, 100, "p-1", "bob");
    assert_event(&ev[1], 12, WS_EVENT_PENDING_EXPIRED, "bob", 30, 5, "p-1", "alice");
    assert_two_phase_event(&ev[0], 100, 7, "p-1");
    assert_two_phase_event(&ev[1], 5 - 2, 0, "p-1");
}

Test(record, events_of_step_refused_are_none) {
    ws_record r[16];
    size_t n = two_phase_sample(r);
    for (size_t i = 0; i < n; i++) {
        if (r[i].kind != WS_REC_STEP_REFUSED) {
            continue;
        }
        ws_event ev[2];
        memset(ev, 0xA5, sizeof(ev));
        cr_assert_eq(ws_record_events(&r[i], 7, NOW_US, ev), 0);
        const unsigned char *p = (const unsigned char *)ev;
        for (size_t b = 0; b < sizeof(ev); b++) {
            cr_assert_eq(p[b], 0xA5, "sample %zu wrote an event (byte %zu)", i, b);
        }
    }
}

/* The plain kinds' events are no two-phase events. */
Test(record, events_of_plain_kinds_have_no_two_phase_fields) {
    ws_record t = rec_transfer("alice", "bob", "tx-9", 30, 70, 130);
    ws_event ev[2];
    memset(ev, 0xA5, sizeof(ev));
    cr_assert_eq(ws_record_events(&t, 7, NOW_US, ev), 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_not(ev[i].two_phase);
        cr_assert_eq(ev[i].pending_len, 0);
        cr_assert_eq(ev[i].available, 0);
        cr_assert_eq(ev[i].pending_credits, 0);
    }
}
