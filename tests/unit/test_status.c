/* Unit tests for core/status: the table every error response is built from. Clients match
 * on the codes, so each status must have one, unique and equal to its enum name. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "core/status.h"

Test(status, every_status_is_complete) {
    cr_assert_gt(WS_STATUS_COUNT_, 0);
    for (int i = 0; i < WS_STATUS_COUNT_; i++) {
        ws_status s = (ws_status)i;
        const char *code = ws_status_code(s);
        const char *msg = ws_status_message(s);
        cr_assert_not_null(code, "status %d", i);
        cr_assert_gt(strlen(code), 0, "status %d has an empty code", i);
        cr_assert_not_null(msg, "status %d", i);
        cr_assert_gt(strlen(msg), 0, "status %d has an empty message", i);
        cr_assert_geq(ws_status_http(s), 200, "status %d (%s)", i, code);
        cr_assert_leq(ws_status_http(s), 599, "status %d (%s)", i, code);
    }
}

Test(status, codes_are_unique) {
    for (int i = 0; i < WS_STATUS_COUNT_; i++) {
        for (int j = i + 1; j < WS_STATUS_COUNT_; j++) {
            cr_assert_str_neq(ws_status_code((ws_status)i), ws_status_code((ws_status)j),
                              "statuses %d and %d share a code", i, j);
        }
    }
}

Test(status, code_is_lowercased_enum_name) {
    /* Walks the same X-macro the table is built from, so each code is checked against the
     * name of the enumerator it belongs to, not merely against its neighbours. */
    struct {
        ws_status s;
        const char *name;
    } rows[] = {
#define ROW(name, code, http, reason, generic, msg) {WS_##name, #name},
        WS_STATUS_MAP(ROW)
#undef ROW
    };
    cr_assert_eq(sizeof(rows) / sizeof(rows[0]), (size_t)WS_STATUS_COUNT_);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char want[64];
        size_t n = strlen(rows[i].name);
        cr_assert_lt(n, sizeof(want));
        for (size_t k = 0; k <= n; k++) {
            want[k] = (char)tolower((unsigned char)rows[i].name[k]);
        }
        cr_assert_eq((size_t)rows[i].s, i);
        cr_assert_str_eq(ws_status_code(rows[i].s), want);
    }
}

Test(status, success_codes_are_2xx_and_errors_are_not) {
    cr_assert_eq(ws_status_http(WS_OK), 200);
    cr_assert_eq(ws_status_http(WS_CREATED), 201);
    for (int i = 0; i < WS_STATUS_COUNT_; i++) {
        ws_status s = (ws_status)i;
        if (s != WS_OK && s != WS_CREATED) {
            cr_assert_geq(ws_status_http(s), 400, "%s", ws_status_code(s));
        }
    }
}

Test(status, spot_checks) {
    cr_assert_str_eq(ws_status_code(WS_OK), "ok");
    cr_assert_str_eq(ws_status_code(WS_INSUFFICIENT_FUNDS), "insufficient_funds");
    cr_assert_eq(ws_status_http(WS_INSUFFICIENT_FUNDS), 422);
    cr_assert_str_eq(ws_status_code(WS_ACCOUNT_NOT_FOUND), "account_not_found");
    cr_assert_eq(ws_status_http(WS_ACCOUNT_NOT_FOUND), 404);
    cr_assert_str_eq(ws_status_code(WS_INVALID_PARAMETER), "invalid_parameter");
    cr_assert_eq(ws_status_http(WS_INVALID_PARAMETER), 400);
    cr_assert_eq(ws_status_http(WS_TRANSFER_ID_CONFLICT), 409);
    cr_assert_eq(ws_status_http(WS_BALANCE_OVERFLOW), 422);
    cr_assert_eq(ws_status_http(WS_CORRUPT), 500);
    cr_assert_eq(ws_status_http(WS_OVERLOADED), 503);
    cr_assert_str_eq(ws_status_message(WS_SAME_ACCOUNT), "fromAccount and toAccount must differ");
}

Test(status, stored_values_never_move) {
    /* An idempotency record stores the status of a refused transfer as a byte: these values
     * are on disk and must stay what they were when the records were written. */
    cr_assert_eq(WS_OK, 0);
    cr_assert_eq(WS_ACCOUNT_NOT_FOUND, 5);
    cr_assert_eq(WS_INSUFFICIENT_FUNDS, 12);
    cr_assert_eq(WS_SAME_ACCOUNT, 13);
    cr_assert_eq(WS_BALANCE_OVERFLOW, 14);
    cr_assert_eq(WS_UNAVAILABLE, 18);
}

/* Every HTTP status the table uses has one reason phrase (all its rows agree) and exactly
 * one generic status, which ws_status_of_http returns. */
Test(status, reasons_and_generic_statuses_come_from_the_table) {
    for (int i = 0; i < WS_STATUS_COUNT_; i++) {
        int http = ws_status_http((ws_status)i);
        int generic = 0;
        for (int j = 0; j < WS_STATUS_COUNT_; j++) {
            if (ws_status_http((ws_status)j) == http) {
                generic += ws_status_of_http(http) == (ws_status)j;
            }
        }
        cr_assert_eq(generic, 1, "HTTP %d has %d generic statuses", http, generic);
        cr_assert_eq(ws_status_http(ws_status_of_http(http)), http);
        cr_assert_neq(strcmp(ws_http_reason(http), "Unknown"), 0, "HTTP %d", http);
    }
    cr_assert_str_eq(ws_http_reason(409), "Conflict");
    cr_assert_str_eq(ws_http_reason(422), "Unprocessable Entity");
    cr_assert_str_eq(ws_http_reason(299), "Unknown");
    cr_assert_eq(ws_status_of_http(400), WS_BAD_REQUEST);
    cr_assert_eq(ws_status_of_http(413), WS_PAYLOAD_TOO_LARGE);
    cr_assert_eq(ws_status_of_http(415), WS_UNSUPPORTED_MEDIA_TYPE);
    cr_assert_eq(ws_status_of_http(299), WS_INTERNAL);
}
