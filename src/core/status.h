/* Operating errors as values. One X-macro table yields the enum, the stable JSON code a
 * client sees, the HTTP status and a default message (libuv's UV_ERRNO_MAP pattern).
 * Thread-safe: everything here is constant data.
 *
 * The enum values are stored on disk (the status byte of an idempotency record), so the
 * order is fixed: add new statuses at the end only, never insert, remove or reorder. */
#ifndef WS_CORE_STATUS_H
#define WS_CORE_STATUS_H

#define WS_STATUS_MAP(X)                                                                           \
    X(OK, "ok", 200, "ok")                                                                         \
    X(CREATED, "created", 201, "created")                                                          \
    X(MISSING_PARAMETER, "missing_parameter", 400, "a required parameter is missing")              \
    X(INVALID_PARAMETER, "invalid_parameter", 400, "a parameter is malformed")                     \
    X(UNAUTHORIZED, "unauthorized", 401, "missing or wrong API key")                               \
    X(ACCOUNT_NOT_FOUND, "account_not_found", 404, "the account does not exist")                   \
    X(NOT_FOUND, "not_found", 404, "no such endpoint")                                             \
    X(METHOD_NOT_ALLOWED, "method_not_allowed", 405, "only GET is allowed on this endpoint")       \
    X(ACCOUNT_EXISTS, "account_exists", 409, "an account with this ID already exists")             \
    X(TRANSFER_ID_CONFLICT, "transfer_id_conflict", 409,                                           \
      "this transferID was already used with different parameters")                                \
    X(PAYLOAD_TOO_LARGE, "payload_too_large", 413, "the request body is too large")                \
    X(URI_TOO_LONG, "uri_too_long", 414, "the request URI is too long")                            \
    X(INSUFFICIENT_FUNDS, "insufficient_funds", 422, "the source account has too little money")    \
    X(SAME_ACCOUNT, "same_account", 422, "fromAccount and toAccount must differ")                  \
    X(BALANCE_OVERFLOW, "balance_overflow", 422,                                                   \
      "the transfer would push the destination balance past the maximum")                          \
    X(INTERNAL, "internal", 500, "internal error")                                                 \
    X(CORRUPT, "corrupt", 500, "stored data failed its integrity check")                           \
    X(OVERLOADED, "overloaded", 503, "the service is at capacity, retry shortly")                  \
    X(UNAVAILABLE, "unavailable", 503,                                                             \
      "writes are refused: storage failed (read-only until restart) or the service is stopping")   \
    X(BAD_REQUEST, "bad_request", 400, "the request is not valid HTTP/1.1")                        \
    X(REQUEST_TIMEOUT, "request_timeout", 408, "the request did not arrive in time")               \
    X(EXPECTATION_FAILED, "expectation_failed", 417, "only Expect: 100-continue is supported")     \
    X(HEADERS_TOO_LARGE, "headers_too_large", 431, "the request header fields are too large")

typedef enum {
#define WS_STATUS_ENUM(name, code, http, msg) WS_##name,
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

#endif
