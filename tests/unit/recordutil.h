/* Log records for the unit tests of the log and its users (record, ledger, store): one
 * builder per record kind from C strings, and a field-by-field comparison that names the
 * field that differs. Header-only: tests/CMakeLists.txt makes one binary per .c file. */
#ifndef WS_TEST_RECORDUTIL_H
#define WS_TEST_RECORDUTIL_H

#include <criterion/criterion.h>
#include <string.h>

#include "core/record.h"

/* Copies the C string src (at most WS_ID_LEN_MAX bytes) into dst; returns its length. */
static inline uint8_t rec_set_id(char *dst, const char *src) {
    size_t n = strlen(src);
    cr_assert(n <= WS_ID_LEN_MAX, "ID \"%s\" is longer than %d bytes", src, WS_ID_LEN_MAX);
    memcpy(dst, src, n);
    return (uint8_t)n;
}

static inline ws_record rec_created(const char *id, uint64_t amount) {
    ws_record r;
    memset(&r, 0, sizeof(r));
    r.kind = WS_REC_ACCOUNT_CREATED;
    r.status = WS_OK;
    r.account_len = rec_set_id(r.account, id);
    r.amount = amount;
    r.from_balance = (int64_t)amount;
    ws_record_set_params(&r, NULL);
    return r;
}

static inline ws_record rec_transfer(const char *from, const char *to, const char *txn,
                                     uint64_t amount, int64_t from_after, int64_t to_after) {
    ws_record r;
    memset(&r, 0, sizeof(r));
    r.kind = WS_REC_TRANSFER;
    r.status = WS_OK;
    r.account_len = rec_set_id(r.account, from);
    r.to_len = rec_set_id(r.to, to);
    r.txn_len = rec_set_id(r.txn, txn);
    r.amount = amount;
    r.from_balance = from_after;
    r.to_balance = to_after;
    return r;
}

static inline ws_record rec_refused(ws_status why, uint8_t missing_side, const char *from,
                                    const char *to, const char *txn, uint64_t amount) {
    ws_record r;
    memset(&r, 0, sizeof(r));
    r.kind = WS_REC_TRANSFER_REFUSED;
    r.status = why;
    r.missing_side = missing_side;
    r.account_len = rec_set_id(r.account, from);
    r.to_len = rec_set_id(r.to, to);
    r.txn_len = rec_set_id(r.txn, txn);
    r.amount = amount;
    return r;
}

/* Asserts that got is want, field by field (bytes past an ID's length are not compared). */
static inline void rec_assert_eq(const ws_record *got, const ws_record *want, const char *what) {
    cr_assert_eq(got->kind, want->kind, "%s: kind", what);
    cr_assert_eq(got->status, want->status, "%s: status", what);
    cr_assert_eq(got->missing_side, want->missing_side, "%s: missing_side", what);
    cr_assert_eq(got->amount, want->amount, "%s: amount", what);
    cr_assert_eq(got->from_balance, want->from_balance, "%s: from_balance", what);
    cr_assert_eq(got->to_balance, want->to_balance, "%s: to_balance", what);
    cr_assert_eq(got->account_len, want->account_len, "%s: account_len", what);
    cr_assert_eq(memcmp(got->account, want->account, want->account_len), 0, "%s: account", what);
    cr_assert_eq(got->to_len, want->to_len, "%s: to_len", what);
    cr_assert_eq(memcmp(got->to, want->to, want->to_len), 0, "%s: to", what);
    cr_assert_eq(got->txn_len, want->txn_len, "%s: txn_len", what);
    cr_assert_eq(memcmp(got->txn, want->txn, want->txn_len), 0, "%s: txn", what);
}

#endif
