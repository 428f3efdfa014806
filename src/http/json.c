/* The JSON writers. */
#include "http/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void json_raw(json_buf *j, const char *s, size_t len) {
    WS_ASSERT(j->len + len <= j->cap);
    memcpy(j->buf + j->len, s, len);
    j->len += len;
}

void json_lit(json_buf *j, const char *s) { json_raw(j, s, strlen(s)); }

/* A byte json_str writes as it is: printable ASCII but '"' and '\\'. */
static bool plain_byte(unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; }

/* Runs of plain bytes are copied whole: the IDs of every answer are nothing else, and a copy
 * per byte showed in the profile of the transfer routes. */
void json_str(json_buf *j, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    json_raw(j, "\"", 1);
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && plain_byte((unsigned char)s[run])) {
            run++;
        }
        json_raw(j, s + i, run - i);
        if (run == len) {
            break;
        }
        unsigned char c = (unsigned char)s[run];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            json_raw(j, esc, 2);
        } else {
            /* Control and non-ASCII bytes: shown as \u00XX so the body stays valid JSON. */
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            json_raw(j, esc, 6);
        }
        i = run + 1;
    }
    json_raw(j, "\"", 1);
}

/* The decimal digits of v, written backwards from end; returns where they begin. Every answer
 * holds several numbers, and snprintf was most of the cost of writing them. */
static char *digits(uint64_t v, char *end) {
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

void json_u64(json_buf *j, uint64_t v) {
    char tmp[24];
    char *at = digits(v, tmp + sizeof(tmp));
    json_raw(j, at, (size_t)(tmp + sizeof(tmp) - at));
}

void json_i64(json_buf *j, int64_t v) {
    char tmp[24];
    /* the magnitude in unsigned arithmetic, so INT64_MIN has one */
    uint64_t m = v < 0 ? 0u - (uint64_t)v : (uint64_t)v;
    char *at = digits(m, tmp + sizeof(tmp));
    if (v < 0) {
        *--at = '-';
    }
    json_raw(j, at, (size_t)(tmp + sizeof(tmp) - at));
}

void json_error(json_buf *j, ws_status s, const char *message, size_t message_len) {
    json_error_at(j, s, message, message_len, -1);
}

void json_error_at(json_buf *j, ws_status s, const char *message, size_t message_len, long index) {
    json_lit(j, "{\"error\":{\"code\":\"");
    json_lit(j, ws_status_code(s));
    json_lit(j, "\",\"message\":");
    json_str(j, message, message_len);
    if (index >= 0) {
        json_lit(j, ",\"index\":");
        json_u64(j, (uint64_t)index);
    }
    json_lit(j, "}}");
}

void json_account(json_buf *j, const char *id, size_t len, int64_t balance) {
    json_lit(j, "{\"accountID\":");
    json_str(j, id, len);
    json_lit(j, ",\"balance\":");
    json_i64(j, balance);
    json_lit(j, "}");
}

/* ,"currency":"C","overdraftLimit":N,"maxBalance":N or null */
static void json_params(json_buf *j, const ws_account_params *p) {
    json_lit(j, ",\"currency\":");
    json_str(j, p->currency, p->currency_len);
    json_lit(j, ",\"overdraftLimit\":");
    json_u64(j, p->overdraft);
    json_lit(j, ",\"maxBalance\":");
    if (p->max_balance == WS_AMOUNT_MAX) {
        json_lit(j, "null");
    } else {
        json_u64(j, p->max_balance);
    }
}

void json_account_full(json_buf *j, const char *id, size_t len, int64_t balance,
                       uint64_t pending_debits, uint64_t pending_credits,
                       const ws_account_params *p) {
    json_lit(j, "{\"accountID\":");
    json_str(j, id, len);
    json_lit(j, ",\"balance\":");
    json_i64(j, balance);
    json_lit(j, ",\"available\":");
    json_i64(j, (int64_t)((ws_i128)balance - pending_debits));
    json_lit(j, ",\"pendingCredits\":");
    json_u64(j, pending_credits);
    json_params(j, p);
    json_lit(j, "}");
}

static void str_or_null(json_buf *j, const char *s, size_t len) {
    if (len == 0) {
        json_lit(j, "null");
    } else {
        json_str(j, s, len);
    }
}

void json_event(json_buf *j, const ws_event *e) {
    char ts[WS_TIMESTAMP_LEN + 1];
    ws_format_timestamp(e->timestamp_us, ts);
    json_lit(j, "{\"seq\":");
    json_u64(j, e->seq);
    json_lit(j, ",\"type\":\"");
    json_lit(j, ws_event_type_name(e->type));
    json_lit(j, "\",\"accountID\":");
    json_str(j, e->account, e->account_len);
    json_lit(j, ",\"amount\":");
    json_u64(j, e->amount);
    json_lit(j, ",\"balance\":");
    json_i64(j, e->balance);
    json_lit(j, ",\"transactionID\":");
    str_or_null(j, e->transaction, e->transaction_len);
    json_lit(j, ",\"counterparty\":");
    str_or_null(j, e->counterparty, e->counterparty_len);
    if (e->two_phase) {
        json_lit(j, ",\"available\":");
        json_i64(j, e->available);
        json_lit(j, ",\"pendingCredits\":");
        json_u64(j, e->pending_credits);
        if (e->pending_len > 0) {
            json_lit(j, ",\"pendingID\":");
            json_str(j, e->pending, e->pending_len);
        }
    }
    json_lit(j, ",\"timestamp\":\"");
    json_raw(j, ts, WS_TIMESTAMP_LEN);
    json_lit(j, "\"}");
}

static void json_timestamp(json_buf *j, uint64_t timestamp_us) {
    char ts[WS_TIMESTAMP_LEN + 1];
    ws_format_timestamp(timestamp_us, ts);
    json_lit(j, ",\"timestamp\":\"");
    json_raw(j, ts, WS_TIMESTAMP_LEN);
    json_lit(j, "\"}");
}

/* A RequestKey: the key, the operation, the outcome and what its answer named. */
static void json_request_key(json_buf *j, const ws_record *r) {
    json_lit(j, ",\"key\":");
    json_str(j, r->txn, r->txn_len);
    json_lit(j, r->op == WS_OP_CREATE_ACCOUNT ? ",\"operation\":\"create_account\",\"accountID\":"
                                              : ",\"operation\":\"transfer\",\"transactionID\":");
    json_str(j, r->account, r->account_len);
    json_lit(j, ",\"code\":\"");
    json_lit(j, ws_status_code(r->status));
    json_lit(j, "\"");
}

void json_record(json_buf *j, const ws_record *r, uint64_t lsn, uint64_t seq,
                 uint64_t timestamp_us) {
    static const char *const types[] = {
        [WS_REC_ACCOUNT_CREATED] = "AccountCreated",   [WS_REC_TRANSFER] = "Transfer",
        [WS_REC_TRANSFER_REFUSED] = "TransferRefused", [WS_REC_REQUEST_KEY] = "RequestKey",
        [WS_REC_PENDING] = "TransferPending",          [WS_REC_RESOLVED] = "PendingResolved",
        [WS_REC_STEP_REFUSED] = "StepRefused"};
    static const char *const steps[] = {[WS_STEP_PENDING] = "pending",
                                        [WS_STEP_POST] = "post",
                                        [WS_STEP_VOID] = "void",
                                        [WS_STEP_EXPIRE] = "expire"};
    json_lit(j, "{\"lsn\":");
    json_u64(j, lsn);
    json_lit(j, ",\"type\":\"");
    json_lit(j, types[r->kind]);
    json_lit(j, "\",\"seq\":");
    if (ws_record_event_count(r->kind) == 0) {
        json_lit(j, "null");
    } else {
        json_u64(j, seq);
    }
    if (r->kind == WS_REC_REQUEST_KEY) {
        json_request_key(j, r);
        json_timestamp(j, timestamp_us);
        return;
    }
    if (r->kind == WS_REC_ACCOUNT_CREATED) {
        json_lit(j, ",\"accountID\":");
        json_str(j, r->account, r->account_len);
        json_lit(j, ",\"amount\":");
        json_u64(j, r->amount);
        ws_account_params p = ws_record_params(r);
        json_params(j, &p);
        json_timestamp(j, timestamp_us);
        return;
    }
    json_lit(j, ",\"transactionID\":");
    str_or_null(j, r->txn, r->txn_len);
    json_lit(j, ",\"fromAccount\":");
    str_or_null(j, r->account, r->account_len);
    json_lit(j, ",\"toAccount\":");
    str_or_null(j, r->to, r->to_len);
    json_lit(j, ",\"amount\":");
    json_u64(j, r->amount);
    if (r->kind == WS_REC_PENDING || r->kind == WS_REC_RESOLVED || r->kind == WS_REC_STEP_REFUSED) {
        json_lit(j, ",\"step\":\"");
        json_lit(j, steps[r->step]);
        json_lit(j, "\"");
        if (r->pending_len > 0) {
            json_lit(j, ",\"pendingID\":");
            json_str(j, r->pending, r->pending_len);
        }
        if (r->kind == WS_REC_PENDING || r->kind == WS_REC_STEP_REFUSED) {
            json_lit(j, ",\"timeoutSeconds\":");
            json_u64(j, r->timeout_s);
        }
        if (r->kind == WS_REC_PENDING) {
            char ts[WS_TIMESTAMP_LEN + 1];
            json_lit(j, ",\"expiresAt\":");
            if (r->expires_us) {
                ws_format_timestamp(r->expires_us, ts);
                json_lit(j, "\"");
                json_raw(j, ts, WS_TIMESTAMP_LEN);
                json_lit(j, "\"");
            } else {
                json_lit(j, "null");
            }
        }
        if (r->kind == WS_REC_RESOLVED) {
            json_lit(j, ",\"pendingLsn\":");
            json_u64(j, r->pending_lsn);
            json_lit(j, ",\"pendingAmount\":");
            json_u64(j, r->pending_amount);
        }
    }
    if (r->kind == WS_REC_TRANSFER || r->kind == WS_REC_PENDING || r->kind == WS_REC_RESOLVED) {
        json_lit(j, ",\"fromBalance\":");
        json_i64(j, r->from_balance);
        json_lit(j, ",\"toBalance\":");
        json_i64(j, r->to_balance);
        if (r->kind != WS_REC_TRANSFER) {
            json_lit(j, ",\"fromPendingDebits\":");
            json_u64(j, r->from_pd);
            json_lit(j, ",\"fromPendingCredits\":");
            json_u64(j, r->from_pc);
            json_lit(j, ",\"toPendingDebits\":");
            json_u64(j, r->to_pd);
            json_lit(j, ",\"toPendingCredits\":");
            json_u64(j, r->to_pc);
        }
    } else {
        json_lit(j, ",\"code\":\"");
        json_lit(j, ws_status_code(r->status));
        json_lit(j, "\"");
    }
    json_timestamp(j, timestamp_us);
}
