/* Parsing of untrusted request input: amounts, IDs and query strings. Pure functions, no
 * allocation: callers pass the buffers. Safe to call from any thread. */
#ifndef WS_CORE_PARSE_H
#define WS_CORE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/assert.h"
#include "core/status.h"

/* The largest balance or amount: 2^63-1, so that every value fits a signed 64-bit integer
 * in any client language. */
#define WS_AMOUNT_MAX ((uint64_t)INT64_MAX)
/* Sums of balances can pass 2^64 (many accounts near the maximum), so totals are 128-bit. */
__extension__ typedef unsigned __int128 ws_u128;
/* A signed 128-bit integer, for balance arithmetic that must not overflow (a balance may be
 * as low as -WS_AMOUNT_MAX with an overdraft limit). */
__extension__ typedef __int128 ws_i128;
/* Currency codes are WS_CURRENCY_LEN_MIN..WS_CURRENCY_LEN_MAX characters of [A-Z0-9]. */
#define WS_CURRENCY_LEN_MIN 3
#define WS_CURRENCY_LEN_MAX 12
/* IDs are 1..WS_ID_LEN_MAX characters of [A-Za-z0-9._-]. */
#define WS_ID_LEN_MAX 64
/* A query string may hold at most this many parameters. */
#define WS_QUERY_PARAMS_MAX 8
/* A query string longer than this (raw, before decoding) is rejected. */
#define WS_QUERY_LEN_MAX 1024

/* Parses a decimal amount: one or more ASCII digits, nothing else (no sign, space, point,
 * exponent or hex), value in [min, max]. Leading zeros are allowed ("007" is 7).
 * Returns WS_OK and sets *out, or WS_INVALID_PARAMETER. */
WS_MUST_USE ws_status ws_parse_amount(const char *s, size_t len, uint64_t min, uint64_t max,
                                      uint64_t *out);

/* Parses an RFC 3339 date-time: "2026-11-30T23:59:59Z", optionally with a fraction of 1 to
 * 9 digits ("...59.5Z"), and 'Z' or a numeric offset ("2026-12-01T00:59:59+01:00"); 'T' and
 * 'Z' may be lower case; second 60 (a leap second) is read as the next second's start.
 * Years 0000..9999. Sets *us to microseconds since the Unix epoch (negative before 1970),
 * rounded down, and *exact to whether no digit below the microsecond was dropped. Returns
 * WS_OK, or WS_INVALID_PARAMETER for anything else (a date that does not exist included). */
WS_MUST_USE ws_status ws_parse_time(const char *s, size_t len, int64_t *us, bool *exact);

/* True if s[0..len) is a valid ID: 1..WS_ID_LEN_MAX characters of [A-Za-z0-9._-]. */
bool ws_id_valid(const char *s, size_t len);

/* True if s[0..len) is a valid currency code: 3..12 characters of [A-Z0-9]. */
bool ws_currency_valid(const char *s, size_t len);

typedef struct {
    const char *name; /* points into the caller's decode buffer, not NUL-terminated */
    size_t name_len;
    const char *value; /* likewise */
    size_t value_len;
} ws_query_param;

typedef struct {
    ws_query_param params[WS_QUERY_PARAMS_MAX];
    size_t count;
    /* On failure: the parameter at fault (may be empty when the string as a whole is bad)
     * and a fixed description. Both point into static data or the decode buffer. */
    const char *bad_name;
    size_t bad_name_len;
    const char *why;
} ws_query;

/* Splits q[0..len) on '&' and '=' and percent-decodes names and values into buf, which must
 * hold at least len bytes ('+' is kept literally). Rejects, with WS_INVALID_PARAMETER and
 * out->why set: a malformed or truncated %-escape, a parameter without '=', an empty name,
 * a name given twice, more than WS_QUERY_PARAMS_MAX parameters, a string longer than
 * WS_QUERY_LEN_MAX. Empty pieces between '&'s are skipped. */
WS_MUST_USE ws_status ws_query_parse(const char *q, size_t len, char *buf, ws_query *out);

/* Finds a parameter by name; NULL if absent. */
const ws_query_param *ws_query_get(const ws_query *q, const char *name);

#endif
