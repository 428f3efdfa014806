/* The event and idempotency-record codecs. Byte order is explicit (shifts, not memcpy of
 * host integers), so the format is the same on any host. */
#include "core/event.h"

#include <string.h>
#include <time.h>

#include "core/crc32c.h"

void ws_put_u64le(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

uint64_t ws_get_u64le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

void ws_put_u64be(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        p[7 - i] = (unsigned char)(v >> (8 * i));
    }
}

uint64_t ws_get_u64be(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void put_u32le(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static uint32_t get_u32le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *ws_event_type_name(ws_event_type t) {
    switch (t) {
    case WS_EVENT_ACCOUNT_CREATED:
        return "AccountCreated";
    case WS_EVENT_DEBIT:
        return "Debit";
    case WS_EVENT_CREDIT:
        return "Credit";
    case WS_EVENT_PENDING_DEBIT:
        return "PendingDebit";
    case WS_EVENT_PENDING_CREDIT:
        return "PendingCredit";
    case WS_EVENT_PENDING_VOIDED:
        return "PendingVoided";
    case WS_EVENT_PENDING_EXPIRED:
        return "PendingExpired";
    }
    WS_ASSERT(!"unknown event type");
    return "";
}

static bool event_well_formed(const ws_event *e) {
    bool type_ok = e->type == WS_EVENT_ACCOUNT_CREATED || e->type == WS_EVENT_DEBIT ||
                   e->type == WS_EVENT_CREDIT;
    bool refs_ok = e->type == WS_EVENT_ACCOUNT_CREATED
                       ? e->transaction_len == 0 && e->counterparty_len == 0
                       : e->transaction_len > 0 && e->counterparty_len > 0;
    /* The IDs must be IDs, not merely of the right length: a record is checked against
     * everything the rest of the service assumes of it (found by tests/fuzz/fuzz_event). */
    bool ids_ok = ws_id_valid(e->account, e->account_len) &&
                  (e->transaction_len == 0 || ws_id_valid(e->transaction, e->transaction_len)) &&
                  (e->counterparty_len == 0 || ws_id_valid(e->counterparty, e->counterparty_len));
    return type_ok && refs_ok && ids_ok && e->seq > 0 && e->account_len > 0 &&
           e->account_len <= WS_ID_LEN_MAX && e->transaction_len <= WS_ID_LEN_MAX &&
           e->counterparty_len <= WS_ID_LEN_MAX && e->amount <= WS_AMOUNT_MAX && e->balance >= 0 &&
           (uint64_t)e->balance <= WS_AMOUNT_MAX && e->timestamp_us < WS_TIMESTAMP_US_MAX;
}

size_t ws_event_encode(const ws_event *e, unsigned char *out) {
    WS_ASSERT(event_well_formed(e));
    memset(out, 0, WS_EVENT_HEADER_SIZE);
    out[0] = WS_EVENT_VERSION;
    out[1] = (unsigned char)e->type;
    out[2] = e->account_len;
    out[3] = e->transaction_len;
    out[4] = e->counterparty_len;
    ws_put_u64le(out + 8, e->seq);
    ws_put_u64le(out + 16, e->amount);
    ws_put_u64le(out + 24, (uint64_t)e->balance);
    ws_put_u64le(out + 32, e->timestamp_us);
    size_t n = WS_EVENT_HEADER_SIZE;
    memcpy(out + n, e->account, e->account_len);
    n += e->account_len;
    memcpy(out + n, e->transaction, e->transaction_len);
    n += e->transaction_len;
    memcpy(out + n, e->counterparty, e->counterparty_len);
    n += e->counterparty_len;
    put_u32le(out + n, ws_crc32c(out, n));
    return n + 4;
}

ws_status ws_event_decode(const unsigned char *buf, size_t len, ws_event *e) {
    if (len < WS_EVENT_HEADER_SIZE + 4 || len > WS_EVENT_SIZE_MAX) {
        return WS_CORRUPT;
    }
    if (get_u32le(buf + len - 4) != ws_crc32c(buf, len - 4)) {
        return WS_CORRUPT;
    }
    if (buf[0] != WS_EVENT_VERSION || buf[5] || buf[6] || buf[7]) {
        return WS_CORRUPT;
    }
    size_t body = (size_t)buf[2] + buf[3] + buf[4];
    if (len != WS_EVENT_HEADER_SIZE + body + 4) {
        return WS_CORRUPT;
    }
    memset(e, 0, sizeof(*e));
    e->type = (ws_event_type)buf[1];
    e->account_len = buf[2];
    e->transaction_len = buf[3];
    e->counterparty_len = buf[4];
    e->seq = ws_get_u64le(buf + 8);
    e->amount = ws_get_u64le(buf + 16);
    e->balance = (int64_t)ws_get_u64le(buf + 24);
    e->timestamp_us = ws_get_u64le(buf + 32);
    if (e->account_len > WS_ID_LEN_MAX || e->transaction_len > WS_ID_LEN_MAX ||
        e->counterparty_len > WS_ID_LEN_MAX) {
        return WS_CORRUPT;
    }
    const unsigned char *p = buf + WS_EVENT_HEADER_SIZE;
    memcpy(e->account, p, e->account_len);
    p += e->account_len;
    memcpy(e->transaction, p, e->transaction_len);
    p += e->transaction_len;
    memcpy(e->counterparty, p, e->counterparty_len);
    return event_well_formed(e) ? WS_OK : WS_CORRUPT;
}

void ws_format_timestamp(uint64_t timestamp_us, char *out) {
    time_t secs = (time_t)(timestamp_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, WS_TIMESTAMP_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm);
    WS_ASSERT(n == 19);
    unsigned us = (unsigned)(timestamp_us % 1000000);
    for (int i = 6; i >= 1; i--) {
        out[19 + i] = (char)('0' + us % 10);
        us /= 10;
    }
    out[19] = '.';
    out[26] = 'Z';
    out[27] = '\0';
}

/* Transfer record layout, version 1:
 *   0 u8 version  1 u8 status  2 u8 from_len  3 u8 to_len  4 u8 missing_side  5..7 zero
 *   8 u64 amount  16 u64 from_balance  24 u64 to_balance  32 u64 seq
 *   40 from bytes, to bytes, u32 crc32c */
size_t ws_transfer_record_encode(const ws_transfer_record *r, unsigned char *out) {
    WS_ASSERT(ws_id_valid(r->from, r->from_len));
    WS_ASSERT(ws_id_valid(r->to, r->to_len));
    WS_ASSERT(r->status >= 0 && r->status < WS_STATUS_COUNT_);
    WS_ASSERT(r->missing_side <= 2);
    memset(out, 0, 40);
    out[0] = 1;
    out[1] = (unsigned char)r->status;
    out[2] = r->from_len;
    out[3] = r->to_len;
    out[4] = r->missing_side;
    ws_put_u64le(out + 8, r->amount);
    ws_put_u64le(out + 16, r->from_balance);
    ws_put_u64le(out + 24, r->to_balance);
    ws_put_u64le(out + 32, r->seq);
    memcpy(out + 40, r->from, r->from_len);
    memcpy(out + 40 + r->from_len, r->to, r->to_len);
    size_t n = 40 + (size_t)r->from_len + r->to_len;
    put_u32le(out + n, ws_crc32c(out, n));
    return n + 4;
}

ws_status ws_transfer_record_decode(const unsigned char *buf, size_t len, ws_transfer_record *r) {
    if (len < 44 || len > WS_TRANSFER_RECORD_SIZE_MAX) {
        return WS_CORRUPT;
    }
    if (get_u32le(buf + len - 4) != ws_crc32c(buf, len - 4)) {
        return WS_CORRUPT;
    }
    if (buf[0] != 1 || buf[1] >= WS_STATUS_COUNT_ || buf[2] == 0 || buf[3] == 0 ||
        buf[2] > WS_ID_LEN_MAX || buf[3] > WS_ID_LEN_MAX || len != 44u + buf[2] + buf[3] ||
        buf[4] > 2 || buf[5] || buf[6] || buf[7]) {
        return WS_CORRUPT;
    }
    memset(r, 0, sizeof(*r));
    r->status = (ws_status)buf[1];
    r->from_len = buf[2];
    r->to_len = buf[3];
    r->missing_side = buf[4];
    r->amount = ws_get_u64le(buf + 8);
    r->from_balance = ws_get_u64le(buf + 16);
    r->to_balance = ws_get_u64le(buf + 24);
    r->seq = ws_get_u64le(buf + 32);
    memcpy(r->from, buf + 40, r->from_len);
    memcpy(r->to, buf + 40 + r->from_len, r->to_len);
    bool amounts_ok = r->amount >= 1 && r->amount <= WS_AMOUNT_MAX &&
                      r->from_balance <= WS_AMOUNT_MAX && r->to_balance <= WS_AMOUNT_MAX;
    /* A retry is answered from this record, so its IDs must be IDs (tests/fuzz/fuzz_transfer
     * found records with any bytes there accepted). */
    bool ids_ok = ws_id_valid(r->from, r->from_len) && ws_id_valid(r->to, r->to_len);
    return amounts_ok && ids_ok ? WS_OK : WS_CORRUPT;
}
