/* The JSON request bodies of the JSON API, decoded straight into commands (yajl's event
 * parser; docs/design.md says why that one). Pure functions of the bytes; any thread; no
 * allocation but yajl's own, freed before returning.
 *
 * POST /transfers takes one transfer object, or {"transfers": [ ... ]} with 1 to
 * WS_GROUP_MAX of them:
 *   {"transferID": "T", "fromAccount": "A", "toAccount": "B", "amount": 50, "linked": true}
 * transferID is optional in the single form (one is generated) and required in a batch;
 * linked is optional (false). POST /accounts takes {"accountID": "A", "startAmount": 100,
 * "currency": "EUR", "overdraftLimit": 0, "maxBalance": 1000} (all but startAmount optional;
 * startAmount <= maxBalance). Amounts are JSON integers or decimal strings ("9223372036854775807"),
 * 1..2^63-1 for a transfer and 0..2^63-1 for a start amount.
 *
 * Everything else is refused, with nothing decided: WS_INVALID_JSON for text that is not
 * JSON (a syntax error, UTF-8 that is not strict RFC 3629, a truncated body, trailing bytes,
 * a duplicate key), which outranks every other refusal; WS_INVALID_PARAMETER for JSON of the
 * wrong shape (not an object, an unknown field, a wrong type, an array or object nested
 * where none belongs, an ID that is not an ID, a NUL in a string, an amount out of range or
 * with a sign, point or exponent); WS_MISSING_PARAMETER;
 * WS_TOO_MANY_TRANSFERS for an empty batch or one past WS_GROUP_MAX; WS_DUPLICATE_TRANSFER_ID
 * for a transferID given twice in one batch. The error says which transfer (its index) and
 * why. */
#ifndef WS_CORE_REQUEST_H
#define WS_CORE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/command.h"
#include "core/status.h"

#define WS_DECODE_MESSAGE_MAX 200

typedef struct {
    ws_status status; /* WS_OK, or why the body is refused */
    long index;       /* the transfer at fault in a batch, -1 if none */
    char message[WS_DECODE_MESSAGE_MAX];
} ws_decode_error;

/* Decodes a POST /transfers body into out[0..*n) (room for WS_GROUP_MAX): kind, accounts,
 * amount, linked, and the transferID with transfer_id_given (false, length 0, when a
 * single transfer has none). *batch tells which form it was. */
WS_MUST_USE ws_status ws_decode_transfers(const char *body, size_t len, ws_command *out, size_t *n,
                                          bool *batch, ws_decode_error *err);

/* Decodes a POST /accounts body into *out (kind, account, account_len 0 when absent,
 * amount, currency with currency_len 0 when absent, overdraft 0 when absent, max_balance
 * with has_max_balance). */
WS_MUST_USE ws_status ws_decode_account(const char *body, size_t len, ws_command *out,
                                        ws_decode_error *err);

#endif
