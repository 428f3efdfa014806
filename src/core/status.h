/* Operating errors as values. One X-macro table yields the enum, the stable JSON code a
 * client sees, the HTTP status and a default message (libuv's UV_ERRNO_MAP pattern).
 * Thread-safe: everything here is constant data.
 *
 * Nothing on disk depends on the enum's order: a stored outcome has its own number
 * (core/record.h). New statuses still go at the end, so that logs and tests read alike. */
#ifndef WS_CORE_STATUS_H
#define WS_CORE_STATUS_H

/* Columns: the enum name, the JSON code, the HTTP status, its reason phrase, whether it is
 * the generic status of that HTTP status (the one an HTTP-level refusal of h2o's own is
 * reported as: exactly one per HTTP status used, 1 in the column), and a default message. */
#define WS_STATUS_MAP(X)                                                                           \
    X(OK, "ok", 200, "OK", 1, "ok")                                                                \
    X(CREATED, "created", 201, "Created", 1, "created")                                            \
    X(MISSING_PARAMETER, "missing_parameter", 400, "Bad Request", 0,                               \
      "a required parameter is missing")                                                           \
    X(INVALID_PARAMETER, "invalid_parameter", 400, "Bad Request", 0, "a parameter is malformed")   \
    X(UNAUTHORIZED, "unauthorized", 401, "Unauthorized", 1, "missing or wrong API key")            \
    X(ACCOUNT_NOT_FOUND, "account_not_found", 404, "Not Found", 0, "the account does not exist")   \
    X(NOT_FOUND, "not_found", 404, "Not Found", 1, "no such endpoint")                             \
    X(METHOD_NOT_ALLOWED, "method_not_allowed", 405, "Method Not Allowed", 1,                      \
      "this method is not allowed on this endpoint")                                               \
    X(ACCOUNT_EXISTS, "account_exists", 409, "Conflict", 0,                                        \
      "an account with this ID already exists")                                                    \
    X(TRANSFER_ID_CONFLICT, "transfer_id_conflict", 409, "Conflict", 1,                            \
      "this transferID was already used with different parameters")                                \
    X(PAYLOAD_TOO_LARGE, "payload_too_large", 413, "Payload Too Large", 1,                         \
      "the request body is too large")                                                             \
    X(URI_TOO_LONG, "uri_too_long", 414, "URI Too Long", 1, "the request URI is too long")         \
    X(INSUFFICIENT_FUNDS, "insufficient_funds", 422, "Unprocessable Entity", 1,                    \
      "the source account has too little money")                                                   \
    X(SAME_ACCOUNT, "same_account", 422, "Unprocessable Entity", 0,                                \
      "fromAccount and toAccount must differ")                                                     \
    X(BALANCE_OVERFLOW, "balance_overflow", 422, "Unprocessable Entity", 0,                        \
      "the transfer would push the destination balance past the maximum")                          \
    X(INTERNAL, "internal", 500, "Internal Server Error", 1, "internal error")                     \
    X(CORRUPT, "corrupt", 500, "Internal Server Error", 0,                                         \
      "stored data failed its integrity check")                                                    \
    X(OVERLOADED, "overloaded", 503, "Service Unavailable", 0,                                     \
      "the service is at capacity, retry shortly")                                                 \
    X(UNAVAILABLE, "unavailable", 503, "Service Unavailable", 1,                                   \
      "writes are refused: storage failed (read-only until restart) or the service is stopping")   \
    X(BAD_REQUEST, "bad_request", 400, "Bad Request", 1, "the request is not valid HTTP/1.1")      \
    X(REQUEST_TIMEOUT, "request_timeout", 408, "Request Timeout", 1,                               \
      "the request did not arrive in time")                                                        \
    X(EXPECTATION_FAILED, "expectation_failed", 417, "Expectation Failed", 1,                      \
      "only Expect: 100-continue is supported")                                                    \
    X(HEADERS_TOO_LARGE, "headers_too_large", 431, "Request Header Fields Too Large", 1,           \
      "the request header fields are too large")                                                   \
    X(INVALID_JSON, "invalid_json", 400, "Bad Request", 0, "the body is not valid JSON")           \
    X(UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415, "Unsupported Media Type", 1,          \
      "the body must be Content-Type: application/json")                                           \
    X(TOO_MANY_TRANSFERS, "too_many_transfers", 400, "Bad Request", 0,                             \
      "a batch holds 1 to 8190 transfers")                                                         \
    X(DUPLICATE_TRANSFER_ID, "duplicate_transfer_id", 400, "Bad Request", 0,                       \
      "a transferID appears twice in one batch")                                                   \
    X(LINKED_EVENT_FAILED, "linked_event_failed", 422, "Unprocessable Entity", 0,                  \
      "another transfer of its linked chain failed")                                               \
    X(LINKED_EVENT_CHAIN_OPEN, "linked_event_chain_open", 422, "Unprocessable Entity", 0,          \
      "the batch ends inside a linked chain")                                                      \
    X(IDEMPOTENCY_KEY_CONFLICT, "idempotency_key_conflict", 409, "Conflict", 0,                    \
      "this Idempotency-Key was used with a different request")                                    \
    X(CURRENCY_MISMATCH, "currency_mismatch", 422, "Unprocessable Entity", 0,                      \
      "fromAccount and toAccount hold different currencies")                                       \
    X(BALANCE_LIMIT_EXCEEDED, "balance_limit_exceeded", 422, "Unprocessable Entity", 0,            \
      "the transfer would push the destination balance past its maxBalance")                       \
    X(TOO_MANY_CURRENCIES, "too_many_currencies", 422, "Unprocessable Entity", 0,                  \
      "the service already holds accounts in 256 distinct currencies")                             \
    X(PENDING_TRANSFER_NOT_FOUND, "pending_transfer_not_found", 404, "Not Found", 0,               \
      "no pending transfer has this transferID")                                                   \
    X(PENDING_TRANSFER_ALREADY_POSTED, "pending_transfer_already_posted", 409, "Conflict", 0,      \
      "the pending transfer was already posted")                                                   \
    X(PENDING_TRANSFER_ALREADY_VOIDED, "pending_transfer_already_voided", 409, "Conflict", 0,      \
      "the pending transfer was already voided")                                                   \
    X(PENDING_TRANSFER_EXPIRED, "pending_transfer_expired", 409, "Conflict", 0,                    \
      "the pending transfer expired")                                                              \
    X(EXCEEDS_PENDING_AMOUNT, "exceeds_pending_amount", 422, "Unprocessable Entity", 0,            \
      "the amount posted exceeds the pending amount")

typedef enum {
#define WS_STATUS_ENUM(name, code, http, reason, generic, msg) WS_##name,
    WS_STATUS_MAP(WS_STATUS_ENUM)
#undef WS_STATUS_ENUM
        WS_STATUS_COUNT_
} ws_status;

/* The stable machine-readable code, e.g. "insufficient_funds". */
const char *ws_status_code(ws_status s);
/* The HTTP status a client receives for s. */
int ws_status_http(ws_status s);
/* A default human-readable message for s. */
const char *ws_status_message(ws_status s);
/* The reason phrase of an HTTP status the service answers with ("Conflict"), from the
 * table; "Unknown" for any other. */
const char *ws_http_reason(int http);
/* The generic status of an HTTP status (the one h2o's own refusals are reported as);
 * WS_INTERNAL for one the table does not use. */
ws_status ws_status_of_http(int http);

#endif
