/* Events: the immutable facts every balance is derived from, and their binary codec.
 *
 * Record layout, version 1, all integers little-endian:
 *   0  u8  version (1)          8  u64 seq             40 account bytes
 *   1  u8  type                 16 u64 amount             transaction bytes
 *   2  u8  account_len          24 u64 balance (after)    counterparty bytes
 *   3  u8  transaction_len      32 u64 timestamp_us       u32 crc32c of all bytes before it
 *   4  u8  counterparty_len
 *   5..7 zero
 * Decode checks the version, the type, the lengths, the total size, that the IDs are valid
 * IDs (ws_id_valid) and the CRC.
 * Pure functions; any thread. */
#ifndef WS_CORE_EVENT_H
#define WS_CORE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/assert.h"
#include "core/parse.h"
#include "core/status.h"

typedef enum {
    WS_EVENT_ACCOUNT_CREATED = 1,
    WS_EVENT_DEBIT = 2,
    WS_EVENT_CREDIT = 3,
    /* The two-phase events (never in data format 1, whose codec below refuses them). */
    WS_EVENT_PENDING_DEBIT = 4,
    WS_EVENT_PENDING_CREDIT = 5,
    WS_EVENT_PENDING_VOIDED = 6,
    WS_EVENT_PENDING_EXPIRED = 7,
} ws_event_type;

#define WS_EVENT_VERSION 1
#define WS_EVENT_HEADER_SIZE 40
#define WS_EVENT_SIZE_MAX (WS_EVENT_HEADER_SIZE + 3 * WS_ID_LEN_MAX + 4)

typedef struct {
    uint64_t seq;
    ws_event_type type;
    uint64_t amount;
    int64_t balance;       /* the account's balance after this event (negative with an overdraft) */
    uint64_t timestamp_us; /* microseconds since the Unix epoch, UTC */
    uint8_t account_len;
    uint8_t transaction_len;  /* 0 for AccountCreated */
    uint8_t counterparty_len; /* 0 for AccountCreated */
    char account[WS_ID_LEN_MAX];
    char transaction[WS_ID_LEN_MAX];
    char counterparty[WS_ID_LEN_MAX];
    /* Events of the two-phase records only (two_phase set): the account's available balance
     * (balance minus pending debits) and pending credits after this event, and the pending
     * transfer's ID for a post, void or expiry (the event's transaction is the post's or
     * void's own ID, or the pending transfer's for an expiry). */
    bool two_phase;
    int64_t available;
    uint64_t pending_credits;
    uint8_t pending_len;
    char pending[WS_ID_LEN_MAX];
} ws_event;

/* "AccountCreated", "Debit", "Credit", "PendingDebit", "PendingCredit", "PendingVoided" or
 * "PendingExpired". */
const char *ws_event_type_name(ws_event_type t);

/* Encodes e into out (at least WS_EVENT_SIZE_MAX bytes); returns the encoded size.
 * Asserts e is well formed. */
size_t ws_event_encode(const ws_event *e, unsigned char *out);

/* Decodes buf[0..len) into e. Returns WS_OK, or WS_CORRUPT on any failed check. */
WS_MUST_USE ws_status ws_event_decode(const unsigned char *buf, size_t len, ws_event *e);

/* Renders timestamp_us as RFC 3339 UTC with microseconds, "2026-11-23T22:18:32.123456Z",
 * into out (at least WS_TIMESTAMP_LEN + 1 bytes). */
#define WS_TIMESTAMP_LEN 27
/* Timestamps from year 10000 on are refused by the codec: they would not fit RFC 3339. */
#define WS_TIMESTAMP_US_MAX 253402300800000000ull
void ws_format_timestamp(uint64_t timestamp_us, char *out);

/* The idempotency record of a transfer: what was asked and what was answered, so that a
 * retry with the same transferID gets the same outcome. Same conventions as events: a
 * version byte, little-endian integers, a CRC32C at the end. */
typedef struct {
    ws_status status; /* WS_OK or the business rejection */
    uint64_t amount;
    uint64_t from_balance; /* after the transfer; 0 when rejected */
    uint64_t to_balance;
    uint64_t seq;         /* the Debit event's seq; 0 when rejected */
    uint8_t missing_side; /* for WS_ACCOUNT_NOT_FOUND: 1 fromAccount, 2 toAccount; else 0 */
    uint8_t from_len;
    uint8_t to_len;
    char from[WS_ID_LEN_MAX];
    char to[WS_ID_LEN_MAX];
} ws_transfer_record;

#define WS_TRANSFER_RECORD_SIZE_MAX (40 + 2 * WS_ID_LEN_MAX + 4)

size_t ws_transfer_record_encode(const ws_transfer_record *r, unsigned char *out);
WS_MUST_USE ws_status ws_transfer_record_decode(const unsigned char *buf, size_t len,
                                                ws_transfer_record *r);

/* Little-endian and big-endian helpers shared by the codecs and the store's keys. */
void ws_put_u64le(unsigned char *p, uint64_t v);
uint64_t ws_get_u64le(const unsigned char *p);
void ws_put_u64be(unsigned char *p, uint64_t v);
uint64_t ws_get_u64be(const unsigned char *p);

#endif
