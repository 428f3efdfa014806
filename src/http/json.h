/* JSON rendering at the edge. A json_buf writes into a caller-provided buffer and never
 * grows: callers size it from the known maximum of what they render, and overflow is a
 * programmer error (asserted). Strings are escaped so that the output is valid ASCII JSON
 * whatever bytes they hold. Any thread. */
#ifndef WS_HTTP_JSON_H
#define WS_HTTP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/accounts.h"
#include "core/event.h"
#include "core/record.h"
#include "core/status.h"

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
} json_buf;

/* The most one rendered event can take. */
#define JSON_EVENT_MAX 800

void json_raw(json_buf *j, const char *s, size_t len);
void json_lit(json_buf *j, const char *s);             /* NUL-terminated literal, copied as is */
void json_str(json_buf *j, const char *s, size_t len); /* quoted and escaped */
void json_u64(json_buf *j, uint64_t v);
void json_i64(json_buf *j, int64_t v);

/* {"error":{"code":"<code of s>","message":"<message>"}} */
void json_error(json_buf *j, ws_status s, const char *message, size_t message_len);
/* The same with ,"index":N inside the error when index >= 0 (the batch item at fault). */
void json_error_at(json_buf *j, ws_status s, const char *message, size_t message_len, long index);
/* {"accountID":"id","balance":N}: the seed's endpoints */
void json_account(json_buf *j, const char *id, size_t len, int64_t balance);
/* {"accountID":"id","balance":N,"available":N,"pendingCredits":N,"currency":"C",
 * "overdraftLimit":N,"maxBalance":N|null}: the JSON API's (available: balance minus pending
 * debits) */
void json_account_full(json_buf *j, const char *id, size_t len, int64_t balance,
                       uint64_t pending_debits, uint64_t pending_credits,
                       const ws_account_params *p);
/* One event object, as in docs/api.md. */
void json_event(json_buf *j, const ws_event *e);

/* The most one rendered log record can take. */
#define JSON_RECORD_MAX 1400
/* One log record (GET /events?records=all), as in docs/api.md. */
void json_record(json_buf *j, const ws_record *r, uint64_t lsn, uint64_t seq,
                 uint64_t timestamp_us);

#endif
