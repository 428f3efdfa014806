/* The record and block codec of data format 2 (layout in record.h). Byte order is explicit,
 * so the format is the same on any host. */
#include "core/record.h"

#include <string.h>

#include "core/accounts.h"
#include "core/crc32c.h"

/* The on-disk kind of an AccountCreated with a currency other than XXX or limits. */
#define CREATED_WITH_PARAMS 5

static void put_u32le(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static uint32_t get_u32le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

unsigned ws_record_event_count(ws_record_kind kind) {
    switch (kind) {
    case WS_REC_ACCOUNT_CREATED:
        return 1;
    case WS_REC_TRANSFER:
    case WS_REC_PENDING:
    case WS_REC_RESOLVED:
        return 2;
    case WS_REC_TRANSFER_REFUSED:
    case WS_REC_REQUEST_KEY:
    case WS_REC_STEP_REFUSED:
        return 0;
    }
    WS_ASSERT(!"unknown record kind");
    return 0;
}

/* The on-disk numbers of outcomes. Fixed forever: add new ones at the end. The first six
 * are the refusals a TransferRefused record may hold. */
static const ws_status outcomes[] = {
    [1] = WS_ACCOUNT_NOT_FOUND,
    [2] = WS_INSUFFICIENT_FUNDS,
    [3] = WS_SAME_ACCOUNT,
    [4] = WS_BALANCE_OVERFLOW,
    [5] = WS_LINKED_EVENT_FAILED,
    [6] = WS_LINKED_EVENT_CHAIN_OPEN,
    [7] = WS_OK,
    [8] = WS_CREATED,
    [9] = WS_ACCOUNT_EXISTS,
    [10] = WS_TRANSFER_ID_CONFLICT,
    [11] = WS_CURRENCY_MISMATCH,
    [12] = WS_BALANCE_LIMIT_EXCEEDED,
    [13] = WS_TOO_MANY_CURRENCIES,
    [14] = WS_PENDING_TRANSFER_NOT_FOUND,
    [15] = WS_PENDING_TRANSFER_ALREADY_POSTED,
    [16] = WS_PENDING_TRANSFER_ALREADY_VOIDED,
    [17] = WS_PENDING_TRANSFER_EXPIRED,
    [18] = WS_EXCEEDS_PENDING_AMOUNT,
};
#define OUTCOME_CODES (sizeof(outcomes) / sizeof(outcomes[0]))

/* The codes of refusals: those a TransferRefused may hold (1-6, 11, 12), then the two-phase
 * ones (14-18) a StepRefused may hold too. */
static bool transfer_refusal_code(uint8_t c) { return (c >= 1 && c <= 6) || c == 11 || c == 12; }
static bool refusal_code(uint8_t c) { return transfer_refusal_code(c) || (c >= 14 && c <= 18); }

uint8_t ws_outcome_code(ws_status s) {
    for (uint8_t c = 1; c < OUTCOME_CODES; c++) {
        if (outcomes[c] == s) {
            return c;
        }
    }
    return 0;
}

ws_status ws_outcome_status(uint8_t code) {
    return code >= 1 && code < OUTCOME_CODES ? outcomes[code] : WS_INTERNAL;
}

uint8_t ws_refusal_code(ws_status s) {
    uint8_t c = ws_outcome_code(s);
    return refusal_code(c) ? c : 0;
}

ws_status ws_refusal_status(uint8_t code) {
    return refusal_code(code) ? outcomes[code] : WS_INTERNAL;
}

ws_account_params ws_record_params(const ws_record *r) {
    ws_account_params p = {
        .currency_len = r->currency_len, .overdraft = r->overdraft, .max_balance = r->max_balance};
    memcpy(p.currency, r->currency, r->currency_len);
    return p;
}

void ws_record_set_params(ws_record *r, const ws_account_params *p) {
    ws_account_params d = ws_account_params_default();
    p = p ? p : &d;
    r->currency_len = p->currency_len;
    memcpy(r->currency, p->currency, p->currency_len);
    r->overdraft = p->overdraft;
    r->max_balance = p->max_balance;
}

/* A balance a record may hold. */
static bool balance_ok(int64_t b) { return b >= -(int64_t)WS_AMOUNT_MAX; }

static bool id_ok(const char *id, uint8_t len) { return ws_id_valid(id, len); }

/* The outcomes a RequestKey may hold for its operation. */
static bool key_outcome_ok(const ws_record *r) {
    if (r->op == WS_OP_CREATE_ACCOUNT) {
        return r->status == WS_CREATED || r->status == WS_ACCOUNT_EXISTS ||
               r->status == WS_TOO_MANY_CURRENCIES;
    }
    return r->op == WS_OP_TRANSFER && ws_outcome_code(r->status) != 0 && r->status != WS_CREATED &&
           r->status != WS_ACCOUNT_EXISTS && r->status != WS_TOO_MANY_CURRENCIES;
}

static bool key_valid(const ws_record *r) {
    return key_outcome_ok(r) && id_ok(r->txn, r->txn_len) && r->to_len == 0 && r->amount == 0 &&
           (r->status == WS_ACCOUNT_NOT_FOUND ? r->missing_side == 1 || r->missing_side == 2
                                              : r->missing_side == 0) &&
           balance_ok(r->from_balance) && balance_ok(r->to_balance);
}

/* Every record but an AccountCreated has no currency or limits. */
static bool no_params(const ws_record *r) {
    return r->currency_len == 0 && r->overdraft == 0 && r->max_balance == 0;
}

/* The two-phase fields: zero but in the kinds that hold them. */
static bool no_step(const ws_record *r) {
    return r->step == WS_STEP_NONE && r->timeout_s == 0 && r->expires_us == 0 &&
           r->pending_lsn == 0 && r->pending_amount == 0 && r->from_pd == 0 && r->from_pc == 0 &&
           r->to_pd == 0 && r->to_pc == 0 && r->pending_len == 0;
}

/* Pending totals a record may hold: pending debits never pass balance + overdraft, nor
 * pending credits maxBalance - balance, so neither passes 2 * WS_AMOUNT_MAX. */
static bool totals_ok(const ws_record *r) {
    const uint64_t max = 2 * WS_AMOUNT_MAX;
    return r->from_pd <= max && r->from_pc <= max && r->to_pd <= max && r->to_pc <= max &&
           balance_ok(r->from_balance) && balance_ok(r->to_balance);
}

static bool missing_side_ok(const ws_record *r) {
    return r->status == WS_ACCOUNT_NOT_FOUND ? r->missing_side == 1 || r->missing_side == 2
                                             : r->missing_side == 0;
}

static bool pending_valid(const ws_record *r) {
    return r->status == WS_OK && r->missing_side == 0 && r->step == WS_STEP_PENDING &&
           id_ok(r->account, r->account_len) && id_ok(r->to, r->to_len) &&
           id_ok(r->txn, r->txn_len) && r->amount >= 1 && r->amount <= WS_AMOUNT_MAX &&
           (r->timeout_s == 0) == (r->expires_us == 0) && r->expires_us < WS_TIMESTAMP_US_MAX &&
           r->pending_lsn == 0 && r->pending_amount == 0 && r->pending_len == 0 && totals_ok(r);
}

static bool resolved_valid(const ws_record *r) {
    bool post = r->step == WS_STEP_POST;
    bool expire = r->step == WS_STEP_EXPIRE;
    return r->status == WS_OK && r->missing_side == 0 &&
           (post || expire || r->step == WS_STEP_VOID) && id_ok(r->account, r->account_len) &&
           id_ok(r->to, r->to_len) && id_ok(r->pending, r->pending_len) &&
           (expire ? r->txn_len == 0 : id_ok(r->txn, r->txn_len)) && r->pending_lsn >= 1 &&
           r->pending_amount >= 1 && r->pending_amount <= WS_AMOUNT_MAX &&
           (post ? r->amount >= 1 && r->amount <= r->pending_amount : r->amount == 0) &&
           r->timeout_s == 0 && r->expires_us == 0 && totals_ok(r);
}

static bool step_refused_valid(const ws_record *r) {
    uint8_t code = ws_refusal_code(r->status);
    bool pending = r->step == WS_STEP_PENDING;
    if (code == 0 || !missing_side_ok(r) || !id_ok(r->txn, r->txn_len) || r->from_balance != 0 ||
        r->to_balance != 0 || r->expires_us != 0 || r->pending_lsn != 0 || r->pending_amount != 0 ||
        r->from_pd != 0 || r->from_pc != 0 || r->to_pd != 0 || r->to_pc != 0 ||
        r->amount > WS_AMOUNT_MAX) {
        return false;
    }
    if (pending) {
        return id_ok(r->account, r->account_len) && id_ok(r->to, r->to_len) && r->amount >= 1 &&
               r->pending_len == 0 && transfer_refusal_code(code);
    }
    return (r->step == WS_STEP_POST || (r->step == WS_STEP_VOID && r->amount == 0)) &&
           r->account_len == 0 && r->to_len == 0 && r->timeout_s == 0 &&
           id_ok(r->pending, r->pending_len) && r->missing_side == 0;
}

bool ws_record_valid(const ws_record *r) {
    if (r->kind == WS_REC_PENDING || r->kind == WS_REC_RESOLVED || r->kind == WS_REC_STEP_REFUSED) {
        if (!no_params(r) || r->op != 0 || r->digest != 0) {
            return false;
        }
        return r->kind == WS_REC_PENDING    ? pending_valid(r)
               : r->kind == WS_REC_RESOLVED ? resolved_valid(r)
                                            : step_refused_valid(r);
    }
    if (!no_step(r) || !id_ok(r->account, r->account_len) || r->amount > WS_AMOUNT_MAX) {
        return false;
    }
    if (r->kind != WS_REC_REQUEST_KEY && (r->op != 0 || r->digest != 0)) {
        return false;
    }
    if (r->kind != WS_REC_ACCOUNT_CREATED && !no_params(r)) {
        return false;
    }
    switch (r->kind) {
    case WS_REC_REQUEST_KEY:
        return key_valid(r);
    case WS_REC_ACCOUNT_CREATED:
        return r->status == WS_OK && r->missing_side == 0 && r->to_len == 0 && r->txn_len == 0 &&
               r->from_balance == (int64_t)r->amount && r->to_balance == 0 &&
               ws_currency_valid(r->currency, r->currency_len) && r->overdraft <= WS_AMOUNT_MAX &&
               r->max_balance <= WS_AMOUNT_MAX && r->amount <= r->max_balance;
    case WS_REC_TRANSFER:
        return r->status == WS_OK && r->missing_side == 0 && id_ok(r->to, r->to_len) &&
               id_ok(r->txn, r->txn_len) && r->amount >= 1 && balance_ok(r->from_balance) &&
               balance_ok(r->to_balance);
    case WS_REC_TRANSFER_REFUSED:
        return transfer_refusal_code(ws_refusal_code(r->status)) &&
               (r->status == WS_ACCOUNT_NOT_FOUND ? r->missing_side == 1 || r->missing_side == 2
                                                  : r->missing_side == 0) &&
               id_ok(r->to, r->to_len) && id_ok(r->txn, r->txn_len) && r->amount >= 1 &&
               r->from_balance == 0 && r->to_balance == 0;
    case WS_REC_PENDING:
    case WS_REC_RESOLVED:
    case WS_REC_STEP_REFUSED:
        break;
    }
    return false;
}

/* The event types of a two-phase record, debit side first. */
static ws_event_type step_event(const ws_record *r, bool debit) {
    switch (r->kind == WS_REC_PENDING ? WS_STEP_PENDING : r->step) {
    case WS_STEP_PENDING:
        return debit ? WS_EVENT_PENDING_DEBIT : WS_EVENT_PENDING_CREDIT;
    case WS_STEP_POST:
        return debit ? WS_EVENT_DEBIT : WS_EVENT_CREDIT;
    case WS_STEP_VOID:
        return WS_EVENT_PENDING_VOIDED;
    default:
        return WS_EVENT_PENDING_EXPIRED;
    }
}

unsigned ws_record_events(const ws_record *r, uint64_t seq, uint64_t timestamp_us,
                          ws_event out[2]) {
    unsigned n = ws_record_event_count(r->kind);
    if (r->kind == WS_REC_ACCOUNT_CREATED) {
        out[0] = (ws_event){.seq = seq,
                            .type = WS_EVENT_ACCOUNT_CREATED,
                            .amount = r->amount,
                            .balance = (int64_t)r->amount,
                            .timestamp_us = timestamp_us,
                            .account_len = r->account_len};
        memcpy(out[0].account, r->account, r->account_len);
    } else if (n == 2) {
        bool step = r->kind != WS_REC_TRANSFER;
        /* an expiry has no transferID of its own: its events carry the pending one's */
        bool own_txn = r->txn_len > 0;
        for (unsigned i = 0; i < 2; i++) {
            bool debit = i == 0;
            ws_event *e = &out[i];
            *e = (ws_event){
                .seq = seq + i,
                .type = !step ? (debit ? WS_EVENT_DEBIT : WS_EVENT_CREDIT) : step_event(r, debit),
                .amount = r->kind == WS_REC_RESOLVED && r->step != WS_STEP_POST ? r->pending_amount
                                                                                : r->amount,
                .balance = debit ? r->from_balance : r->to_balance,
                .timestamp_us = timestamp_us,
                .account_len = debit ? r->account_len : r->to_len,
                .transaction_len = own_txn ? r->txn_len : r->pending_len,
                .counterparty_len = debit ? r->to_len : r->account_len,
                .two_phase = step,
                .pending_len = r->pending_len};
            memcpy(e->account, debit ? r->account : r->to, e->account_len);
            memcpy(e->counterparty, debit ? r->to : r->account, e->counterparty_len);
            memcpy(e->transaction, own_txn ? r->txn : r->pending, e->transaction_len);
            memcpy(e->pending, r->pending, r->pending_len);
            if (step) {
                e->available = (int64_t)((ws_i128)e->balance - (debit ? r->from_pd : r->to_pd));
                e->pending_credits = debit ? r->from_pc : r->to_pc;
            }
        }
    }
    return n;
}

static size_t encode_key(const ws_record *r, unsigned char *out) {
    out[0] = (unsigned char)r->kind;
    out[1] = (unsigned char)r->op;
    out[2] = ws_outcome_code(r->status);
    out[3] = r->missing_side;
    out[4] = r->txn_len;
    out[5] = r->account_len;
    ws_put_u64le(out + 6, r->digest);
    ws_put_u64le(out + 14, (uint64_t)r->from_balance);
    ws_put_u64le(out + 22, (uint64_t)r->to_balance);
    memcpy(out + 30, r->txn, r->txn_len);
    memcpy(out + 30 + r->txn_len, r->account, r->account_len);
    return 30u + r->txn_len + r->account_len;
}

static size_t decode_key(const unsigned char *p, size_t avail, ws_record *r) {
    if (avail < 30 || p[4] > WS_ID_LEN_MAX || p[5] > WS_ID_LEN_MAX ||
        (size_t)30 + p[4] + p[5] > avail) {
        return 0;
    }
    r->op = (ws_record_op)p[1];
    r->status = ws_outcome_status(p[2]);
    r->missing_side = p[3];
    r->txn_len = p[4];
    r->account_len = p[5];
    r->digest = ws_get_u64le(p + 6);
    r->from_balance = (int64_t)ws_get_u64le(p + 14);
    r->to_balance = (int64_t)ws_get_u64le(p + 22);
    memcpy(r->txn, p + 30, r->txn_len);
    memcpy(r->account, p + 30 + r->txn_len, r->account_len);
    return ws_record_valid(r) ? 30u + r->txn_len + r->account_len : 0;
}

/* The IDs of a two-phase record, in their on-disk order. */
static size_t put_ids(const ws_record *r, unsigned char *out) {
    size_t n = 0;
    memcpy(out + n, r->account, r->account_len);
    n += r->account_len;
    memcpy(out + n, r->to, r->to_len);
    n += r->to_len;
    memcpy(out + n, r->txn, r->txn_len);
    n += r->txn_len;
    memcpy(out + n, r->pending, r->pending_len);
    return n + r->pending_len;
}

/* Reads the IDs whose lengths r already holds into r, their size into *size; false if they
 * pass avail. */
static bool get_ids(const unsigned char *p, size_t avail, ws_record *r, size_t *size) {
    size_t ids = (size_t)r->account_len + r->to_len + r->txn_len + r->pending_len;
    if (r->account_len > WS_ID_LEN_MAX || r->to_len > WS_ID_LEN_MAX || r->txn_len > WS_ID_LEN_MAX ||
        r->pending_len > WS_ID_LEN_MAX || ids > avail) {
        return false;
    }
    *size = ids;
    memcpy(r->account, p, r->account_len);
    p += r->account_len;
    memcpy(r->to, p, r->to_len);
    p += r->to_len;
    memcpy(r->txn, p, r->txn_len);
    p += r->txn_len;
    memcpy(r->pending, p, r->pending_len);
    return true;
}

static void put_totals(const ws_record *r, unsigned char *out) {
    ws_put_u64le(out, (uint64_t)r->from_balance);
    ws_put_u64le(out + 8, (uint64_t)r->to_balance);
    ws_put_u64le(out + 16, r->from_pd);
    ws_put_u64le(out + 24, r->from_pc);
    ws_put_u64le(out + 32, r->to_pd);
    ws_put_u64le(out + 40, r->to_pc);
}

static void get_totals(const unsigned char *p, ws_record *r) {
    r->from_balance = (int64_t)ws_get_u64le(p);
    r->to_balance = (int64_t)ws_get_u64le(p + 8);
    r->from_pd = ws_get_u64le(p + 16);
    r->from_pc = ws_get_u64le(p + 24);
    r->to_pd = ws_get_u64le(p + 32);
    r->to_pc = ws_get_u64le(p + 40);
}

#define PENDING_FIXED 72
#define RESOLVED_FIXED 80
#define STEP_REFUSED_FIXED 24

static size_t encode_step(const ws_record *r, unsigned char *out) {
    memset(out, 0, STEP_REFUSED_FIXED);
    out[0] = (unsigned char)r->kind;
    if (r->kind == WS_REC_PENDING) {
        out[1] = r->account_len;
        out[2] = r->to_len;
        out[3] = r->txn_len;
        put_u32le(out + 4, r->timeout_s);
        ws_put_u64le(out + 8, r->amount);
        ws_put_u64le(out + 16, r->expires_us);
        put_totals(r, out + 24);
        return PENDING_FIXED + put_ids(r, out + PENDING_FIXED);
    }
    if (r->kind == WS_REC_RESOLVED) {
        out[1] = (unsigned char)r->step;
        out[2] = r->account_len;
        out[3] = r->to_len;
        out[4] = r->txn_len;
        out[5] = r->pending_len;
        out[6] = out[7] = 0;
        ws_put_u64le(out + 8, r->pending_lsn);
        ws_put_u64le(out + 16, r->amount);
        ws_put_u64le(out + 24, r->pending_amount);
        put_totals(r, out + 32);
        return RESOLVED_FIXED + put_ids(r, out + RESOLVED_FIXED);
    }
    out[1] = (unsigned char)r->step;
    out[2] = ws_refusal_code(r->status);
    out[3] = r->missing_side;
    out[4] = r->account_len;
    out[5] = r->to_len;
    out[6] = r->txn_len;
    out[7] = r->pending_len;
    put_u32le(out + 8, r->timeout_s);
    ws_put_u64le(out + 16, r->amount);
    return STEP_REFUSED_FIXED + put_ids(r, out + STEP_REFUSED_FIXED);
}

/* Decodes a two-phase record (its kind in r already); its size, or 0 if malformed. */
static size_t decode_step(const unsigned char *p, size_t avail, ws_record *r) {
    size_t fixed = r->kind == WS_REC_PENDING    ? PENDING_FIXED
                   : r->kind == WS_REC_RESOLVED ? RESOLVED_FIXED
                                                : STEP_REFUSED_FIXED;
    if (avail < fixed) {
        return 0;
    }
    if (r->kind == WS_REC_PENDING) {
        r->step = WS_STEP_PENDING;
        r->account_len = p[1];
        r->to_len = p[2];
        r->txn_len = p[3];
        r->timeout_s = get_u32le(p + 4);
        r->amount = ws_get_u64le(p + 8);
        r->expires_us = ws_get_u64le(p + 16);
        get_totals(p + 24, r);
    } else if (r->kind == WS_REC_RESOLVED) {
        if (p[6] != 0 || p[7] != 0) {
            return 0;
        }
        r->step = (ws_step)p[1];
        r->account_len = p[2];
        r->to_len = p[3];
        r->txn_len = p[4];
        r->pending_len = p[5];
        r->pending_lsn = ws_get_u64le(p + 8);
        r->amount = ws_get_u64le(p + 16);
        r->pending_amount = ws_get_u64le(p + 24);
        get_totals(p + 32, r);
    } else {
        if (get_u32le(p + 12) != 0) {
            return 0;
        }
        r->step = (ws_step)p[1];
        r->status = ws_refusal_status(p[2]);
        r->missing_side = p[3];
        r->account_len = p[4];
        r->to_len = p[5];
        r->txn_len = p[6];
        r->pending_len = p[7];
        r->timeout_s = get_u32le(p + 8);
        r->amount = ws_get_u64le(p + 16);
    }
    size_t ids;
    return get_ids(p + fixed, avail - fixed, r, &ids) && ws_record_valid(r) ? fixed + ids : 0;
}

static size_t encode_record(const ws_record *r, unsigned char *out) {
    if (r->kind == WS_REC_REQUEST_KEY) {
        return encode_key(r, out);
    }
    if (r->kind == WS_REC_PENDING || r->kind == WS_REC_RESOLVED || r->kind == WS_REC_STEP_REFUSED) {
        return encode_step(r, out);
    }
    size_t n = 0;
    out[n++] = (unsigned char)r->kind;
    if (r->kind == WS_REC_ACCOUNT_CREATED) {
        ws_account_params p = ws_record_params(r);
        if (ws_account_params_is_default(&p)) {
            out[n++] = r->account_len;
            ws_put_u64le(out + n, r->amount);
            n += 8;
            memcpy(out + n, r->account, r->account_len);
            return n + r->account_len;
        }
        out[0] = CREATED_WITH_PARAMS;
        out[n++] = r->account_len;
        out[n++] = r->currency_len;
        out[n++] = 0;
        ws_put_u64le(out + n, r->amount);
        ws_put_u64le(out + n + 8, r->overdraft);
        ws_put_u64le(out + n + 16, r->max_balance);
        n += 24;
        memcpy(out + n, r->account, r->account_len);
        n += r->account_len;
        memcpy(out + n, r->currency, r->currency_len);
        return n + r->currency_len;
    }
    if (r->kind == WS_REC_TRANSFER_REFUSED) {
        out[n++] = ws_refusal_code(r->status);
        out[n++] = r->missing_side;
    }
    out[n++] = r->account_len;
    out[n++] = r->to_len;
    out[n++] = r->txn_len;
    ws_put_u64le(out + n, r->amount);
    n += 8;
    if (r->kind == WS_REC_TRANSFER) {
        ws_put_u64le(out + n, (uint64_t)r->from_balance);
        ws_put_u64le(out + n + 8, (uint64_t)r->to_balance);
        n += 16;
    }
    memcpy(out + n, r->account, r->account_len);
    n += r->account_len;
    memcpy(out + n, r->to, r->to_len);
    n += r->to_len;
    memcpy(out + n, r->txn, r->txn_len);
    return n + r->txn_len;
}

/* Decodes one record at p (end excluded); returns its size, or 0 if it is malformed. */
static size_t decode_record(const unsigned char *p, const unsigned char *end, ws_record *r) {
    size_t avail = (size_t)(end - p);
    memset(r, 0, sizeof(*r));
    if (avail < 1) {
        return 0;
    }
    r->kind = (ws_record_kind)p[0];
    size_t n = 1;
    if (r->kind == WS_REC_ACCOUNT_CREATED) {
        if (avail < 10 || (size_t)10 + p[1] > avail || p[1] > WS_ID_LEN_MAX) {
            return 0;
        }
        r->account_len = p[1];
        r->amount = ws_get_u64le(p + 2);
        r->from_balance = (int64_t)r->amount;
        memcpy(r->account, p + 10, r->account_len);
        ws_record_set_params(r, NULL);
        return ws_record_valid(r) ? 10u + r->account_len : 0;
    }
    if (p[0] == CREATED_WITH_PARAMS) {
        r->kind = WS_REC_ACCOUNT_CREATED;
        if (avail < 28 || p[1] > WS_ID_LEN_MAX || p[2] > WS_CURRENCY_LEN_MAX || p[3] != 0 ||
            (size_t)28 + p[1] + p[2] > avail) {
            return 0;
        }
        r->account_len = p[1];
        r->currency_len = p[2];
        r->amount = ws_get_u64le(p + 4);
        r->overdraft = ws_get_u64le(p + 12);
        r->max_balance = ws_get_u64le(p + 20);
        r->from_balance = (int64_t)r->amount;
        memcpy(r->account, p + 28, r->account_len);
        memcpy(r->currency, p + 28 + r->account_len, r->currency_len);
        ws_account_params q = ws_record_params(r);
        /* one encoding per record: the default parameters are always kind 1 */
        return ws_record_valid(r) && !ws_account_params_is_default(&q)
                   ? 28u + r->account_len + r->currency_len
                   : 0;
    }
    if (r->kind == WS_REC_REQUEST_KEY) {
        return decode_key(p, avail, r);
    }
    if (r->kind == WS_REC_PENDING || r->kind == WS_REC_RESOLVED || r->kind == WS_REC_STEP_REFUSED) {
        return decode_step(p, avail, r);
    }
    if (r->kind != WS_REC_TRANSFER && r->kind != WS_REC_TRANSFER_REFUSED) {
        return 0;
    }
    bool refused = r->kind == WS_REC_TRANSFER_REFUSED;
    size_t fixed = refused ? 1 + 2 + 3 + 8 : 1 + 3 + 24;
    if (avail < fixed) {
        return 0;
    }
    if (refused) {
        r->status = ws_refusal_status(p[n++]);
        r->missing_side = p[n++];
    }
    r->account_len = p[n++];
    r->to_len = p[n++];
    r->txn_len = p[n++];
    r->amount = ws_get_u64le(p + n);
    n += 8;
    if (!refused) {
        r->from_balance = (int64_t)ws_get_u64le(p + n);
        r->to_balance = (int64_t)ws_get_u64le(p + n + 8);
        n += 16;
    }
    size_t ids = (size_t)r->account_len + r->to_len + r->txn_len;
    if (r->account_len > WS_ID_LEN_MAX || r->to_len > WS_ID_LEN_MAX || r->txn_len > WS_ID_LEN_MAX ||
        n + ids > avail) {
        return 0;
    }
    memcpy(r->account, p + n, r->account_len);
    memcpy(r->to, p + n + r->account_len, r->to_len);
    memcpy(r->txn, p + n + r->account_len + r->to_len, r->txn_len);
    return ws_record_valid(r) ? n + ids : 0;
}

void ws_block_begin(ws_block_builder *b, unsigned char *buf, uint64_t first_lsn, uint64_t first_seq,
                    uint64_t timestamp_us) {
    WS_ASSERT(first_lsn >= 1 && first_seq >= 1 && timestamp_us < WS_TIMESTAMP_US_MAX);
    *b = (ws_block_builder){.buf = buf,
                            .len = WS_BLOCK_HEADER_SIZE,
                            .first_lsn = first_lsn,
                            .first_seq = first_seq,
                            .timestamp_us = timestamp_us};
}

bool ws_block_add(ws_block_builder *b, const ws_record *r) {
    /* r is not checked here: the finished block is decoded, every record checked, before it
     * is written (store.c), and the writer's records were applied, which checks them. */
    if (b->count == WS_BLOCK_RECORDS_MAX) {
        return false;
    }
    b->len += encode_record(r, b->buf + b->len);
    b->count++;
    b->events += ws_record_event_count(r->kind);
    return true;
}

size_t ws_block_finish(ws_block_builder *b) {
    WS_ASSERT(b->count >= 1);
    unsigned char *p = b->buf;
    memset(p, 0, WS_BLOCK_HEADER_SIZE);
    p[0] = WS_BLOCK_VERSION;
    p[2] = (unsigned char)b->count;
    p[3] = (unsigned char)(b->count >> 8);
    put_u32le(p + 4, (uint32_t)(b->len - WS_BLOCK_HEADER_SIZE));
    ws_put_u64le(p + 8, b->first_lsn);
    ws_put_u64le(p + 16, b->first_seq);
    ws_put_u64le(p + 24, b->timestamp_us);
    put_u32le(p + b->len, ws_crc32c(p, b->len));
    return b->len + 4;
}

ws_status ws_block_open(const unsigned char *buf, size_t len, ws_block_header *h,
                        ws_block_cursor *c) {
    if (len < WS_BLOCK_HEADER_SIZE + 4 || len > WS_BLOCK_SIZE_MAX ||
        get_u32le(buf + len - 4) != ws_crc32c(buf, len - 4)) {
        return WS_CORRUPT;
    }
    unsigned count = (unsigned)buf[2] | (unsigned)buf[3] << 8;
    if (buf[0] != WS_BLOCK_VERSION || buf[1] != 0 || count < 1 || count > WS_BLOCK_RECORDS_MAX ||
        get_u32le(buf + 4) != len - WS_BLOCK_HEADER_SIZE - 4) {
        return WS_CORRUPT;
    }
    *h = (ws_block_header){.first_lsn = ws_get_u64le(buf + 8),
                           .first_seq = ws_get_u64le(buf + 16),
                           .timestamp_us = ws_get_u64le(buf + 24),
                           .count = count};
    if (h->first_lsn < 1 || h->first_seq < 1 || h->timestamp_us >= WS_TIMESTAMP_US_MAX ||
        h->first_lsn > UINT64_MAX - count || h->first_seq > UINT64_MAX - 2 * count) {
        return WS_CORRUPT;
    }
    /* Walk every record once, so that a cursor over an opened block cannot fail. */
    const unsigned char *p = buf + WS_BLOCK_HEADER_SIZE;
    const unsigned char *end = buf + len - 4;
    for (unsigned i = 0; i < count; i++) {
        ws_record r;
        size_t n = decode_record(p, end, &r);
        if (n == 0) {
            return WS_CORRUPT;
        }
        h->events += ws_record_event_count(r.kind);
        p += n;
    }
    if (p != end) {
        return WS_CORRUPT;
    }
    *c = (ws_block_cursor){.p = buf + WS_BLOCK_HEADER_SIZE,
                           .end = end,
                           .left = count,
                           .lsn = h->first_lsn,
                           .seq = h->first_seq};
    return WS_OK;
}

bool ws_block_next(ws_block_cursor *c, ws_record *r, uint64_t *lsn, uint64_t *seq) {
    if (c->left == 0) {
        return false;
    }
    size_t n = decode_record(c->p, c->end, r);
    WS_ASSERT(n > 0); /* the block was checked whole by ws_block_open */
    c->p += n;
    c->left--;
    *lsn = c->lsn++;
    *seq = c->seq;
    c->seq += ws_record_event_count(r->kind);
    return true;
}
