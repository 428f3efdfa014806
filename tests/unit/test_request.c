/* Unit tests for core/request: the JSON request decoder (ws_decode_transfers for POST
 * /transfers, ws_decode_account for POST /accounts). Every accepted form (a single transfer
 * with and without transferID and linked, a batch of 1 and of exactly WS_GROUP_MAX, amounts as
 * JSON integers and as strings at both ends of their range, startAmount 0) and every refusal
 * request.h lists, with its exact status and, in a batch, the index of the transfer at fault:
 * text that is not JSON (syntax, invalid UTF-8, every truncation of a valid body, trailing
 * bytes, duplicate keys, nesting past WS_JSON_DEPTH_MAX), JSON of the wrong shape (not an
 * object, unknown fields, wrong types, IDs that are not IDs, a NUL in an ID, amounts with a
 * sign, point or exponent or out of range), missing fields, too many or no transfers, a
 * transferID given twice. A property test encodes random valid batches with a tiny JSON writer
 * (random field order, spacing, escapes and amount forms), decodes them and compares field by
 * field. The two-phase fields (pending, timeoutSeconds, postPendingID, voidPendingID): their
 * ranges, the combinations refused, and the command fields they decode to. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/request.h"

/* Room for the largest batch, as the http layer gives it. */
static ws_command out[WS_GROUP_MAX + 1];
static size_t n_out;
static bool batch_out;
static ws_decode_error err;

/* Decodes body[0..len) as POST /transfers; the outputs land in the globals above. */
static ws_status transfers_len(const char *body, size_t len) {
    memset(out, 0xAB, sizeof(out)); /* stale bytes must not reach a decoded command */
    n_out = 12345;
    batch_out = false;
    memset(&err, 0xCD, sizeof(err));
    ws_status s = ws_decode_transfers(body, len, out, &n_out, &batch_out, &err);
    cr_assert_eq(s, err.status, "the returned status and err.status differ");
    if (s != WS_OK) {
        cr_assert_eq(n_out, 0, "a refused body decoded %zu transfers", n_out);
        cr_assert_gt(strlen(err.message), 0, "a refusal without a message");
        cr_assert_lt(strlen(err.message), WS_DECODE_MESSAGE_MAX);
    } else {
        cr_assert_eq(err.index, -1);
    }
    return s;
}

static ws_status transfers(const char *body) { return transfers_len(body, strlen(body)); }

static ws_command acct;

static ws_status account_len(const char *body, size_t len) {
    memset(&acct, 0xAB, sizeof(acct));
    memset(&err, 0xCD, sizeof(err));
    ws_status s = ws_decode_account(body, len, &acct, &err);
    cr_assert_eq(s, err.status);
    cr_assert_eq(err.index, -1, "an account body has no index");
    if (s != WS_OK) {
        cr_assert_gt(strlen(err.message), 0);
    }
    return s;
}

static ws_status account(const char *body) { return account_len(body, strlen(body)); }

/* Asserts that body is refused with status at index (-1: none). */
static void refused_len(const char *body, size_t len, ws_status status, long index) {
    ws_status s = transfers_len(body, len);
    cr_assert_eq(s, status, "%.*s\n  -> %s (%s), want %s", (int)(len > 300 ? 300 : len), body,
                 ws_status_code(s), err.message, ws_status_code(status));
    cr_assert_eq(err.index, index, "%.*s\n  -> index %ld (%s), want %ld",
                 (int)(len > 300 ? 300 : len), body, err.index, err.message, index);
    if (index >= 0) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "transfers[%ld]", index);
        cr_assert(strstr(err.message, prefix) != NULL, "the message does not name %s: %s", prefix,
                  err.message);
    }
}

static void refused(const char *body, ws_status status, long index) {
    refused_len(body, strlen(body), status, index);
}

static void account_refused(const char *body, ws_status status) {
    ws_status s = account(body);
    cr_assert_eq(s, status, "%s\n  -> %s (%s), want %s", body, ws_status_code(s), err.message,
                 ws_status_code(status));
}

static void assert_id(const char *got, uint8_t len, const char *want, const char *what) {
    cr_assert_eq(len, strlen(want), "%s: length %u, want %zu", what, len, strlen(want));
    cr_assert_eq(memcmp(got, want, len), 0, "%s: %.*s, want %s", what, (int)len, got, want);
}

/* A transfer's request fields, and that its result fields are clear. */
static void assert_transfer(const ws_command *c, const char *tid, const char *from, const char *to,
                            uint64_t amount, bool linked) {
    cr_assert_eq(c->kind, WS_CMD_TRANSFER);
    cr_assert_eq(c->transfer_id_given, tid != NULL);
    assert_id(c->transfer_id, c->transfer_id_len, tid ? tid : "", "transferID");
    assert_id(c->account, c->account_len, from, "fromAccount");
    assert_id(c->to, c->to_len, to, "toAccount");
    cr_assert_eq(c->amount, amount, "amount %llu, want %llu", (unsigned long long)c->amount,
                 (unsigned long long)amount);
    cr_assert_eq(c->linked, linked);
    cr_assert_eq(c->status, WS_OK);
    cr_assert_not(c->replayed);
    cr_assert_eq(c->missing_side, 0);
    cr_assert_eq(c->from_balance, 0);
    cr_assert_eq(c->to_balance, 0);
}

/* A growable text buffer for building bodies (bounded by its users). */
typedef struct {
    char *p;
    size_t len;
    size_t cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...) {
    for (int tries = 0; tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? room : 0, fmt, ap);
        va_end(ap);
        cr_assert_geq(n, 0);
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap : 4096;
        while (cap - t->len <= (size_t)n) {
            cap *= 2;
        }
        t->p = realloc(t->p, cap);
        cr_assert_not_null(t->p);
        t->cap = cap;
    }
    cr_assert_fail("put: no room after growing");
}

/* A batch of n transfers "t-i" from "a-i" to "b-i" of i + 1, linked when i is odd. */
static text batch_of(size_t n) {
    text t = {0};
    put(&t, "{\"transfers\":[");
    for (size_t i = 0; i < n; i++) {
        put(&t,
            "%s{\"transferID\":\"t-%zu\",\"fromAccount\":\"a-%zu\",\"toAccount\":\"b-%zu\","
            "\"amount\":%zu%s}",
            i ? "," : "", i, i, i, i + 1, i % 2 ? ",\"linked\":true" : "");
    }
    put(&t, "]}");
    return t;
}

#define ONE_TRANSFER                                                                               \
    "{\"transferID\":\"T-1\",\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":50}"
#define ITEM(tid)                                                                                  \
    "{\"transferID\":\"" tid "\",\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1}"

/* ---- accepted: POST /transfers ----------------------------------------------------------- */

Test(request, single_with_transfer_id_and_linked) {
    cr_assert_eq(transfers("{\"transferID\": \"T-1\", \"fromAccount\": \"A\", \"toAccount\": "
                           "\"B\", \"amount\": 50, \"linked\": true}"),
                 WS_OK, "%s", err.message);
    cr_assert_eq(n_out, 1);
    cr_assert_not(batch_out);
    assert_transfer(&out[0], "T-1", "A", "B", 50, true);
}

Test(request, single_without_transfer_id_and_linked) {
    cr_assert_eq(transfers("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":50}"), WS_OK,
                 "%s", err.message);
    cr_assert_eq(n_out, 1);
    cr_assert_not(batch_out);
    assert_transfer(&out[0], NULL, "A", "B", 50, false);
    cr_assert_eq(out[0].transfer_id_len, 0);
}

Test(request, single_fields_in_any_order_with_linked_false) {
    cr_assert_eq(transfers("\n {\"linked\":false,\"amount\":\"7\",\"toAccount\":\"B.b\","
                           "\"fromAccount\":\"A_a-1\",\"transferID\":\"x\"}\r\n\t "),
                 WS_OK, "%s", err.message);
    assert_transfer(&out[0], "x", "A_a-1", "B.b", 7, false);
    /* linked without a transferID: a single transfer that opens a chain (the writer answers
     * it linked_event_chain_open). */
    cr_assert_eq(transfers("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"linked\":"
                           "true}"),
                 WS_OK);
    assert_transfer(&out[0], NULL, "A", "B", 1, true);
}

Test(request, amounts_as_integers_and_strings_at_both_ends) {
    const char *forms[] = {"1", "\"1\"", "9223372036854775807", "\"9223372036854775807\"",
                           "\"0001\""};
    const uint64_t want[] = {1, 1, 9223372036854775807ull, 9223372036854775807ull, 1};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char body[160];
        snprintf(body, sizeof(body), "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":%s}",
                 forms[i]);
        cr_assert_eq(transfers(body), WS_OK, "%s: %s", body, err.message);
        cr_assert_eq(out[0].amount, want[i], "%s", body);
    }
}

Test(request, ids_at_the_length_limit_and_through_escapes) {
    char id64[65];
    memset(id64, 'z', 64);
    id64[64] = '\0';
    char body[400];
    snprintf(body, sizeof(body),
             "{\"transferID\":\"%s\",\"fromAccount\":\"%s\",\"toAccount\":\"AZaz09._-\","
             "\"amount\":1}",
             id64, id64);
    cr_assert_eq(transfers(body), WS_OK, "%s", err.message);
    assert_transfer(&out[0], id64, id64, "AZaz09._-", 1, false);
    /* Escapes decode to the ID's characters. */
    cr_assert_eq(transfers("{\"fromAccount\":\"\\u0041\\u002e\",\"toAccount\":\"B\",\"amount\":1}"),
                 WS_OK, "%s", err.message);
    assert_transfer(&out[0], NULL, "A.", "B", 1, false);
}

Test(request, batch_of_one) {
    cr_assert_eq(transfers("{\"transfers\":[" ONE_TRANSFER "]}"), WS_OK, "%s", err.message);
    cr_assert(batch_out);
    cr_assert_eq(n_out, 1);
    assert_transfer(&out[0], "T-1", "A", "B", 50, false);
}

Test(request, batch_of_exactly_group_max) {
    text t = batch_of(WS_GROUP_MAX);
    cr_assert_eq(transfers_len(t.p, t.len), WS_OK, "%s", err.message);
    cr_assert(batch_out);
    cr_assert_eq(n_out, WS_GROUP_MAX);
    for (size_t i = 0; i < WS_GROUP_MAX; i++) {
        char tid[16];
        char from[16];
        char to[16];
        snprintf(tid, sizeof(tid), "t-%zu", i);
        snprintf(from, sizeof(from), "a-%zu", i);
        snprintf(to, sizeof(to), "b-%zu", i);
        assert_transfer(&out[i], tid, from, to, i + 1, i % 2 == 1);
    }
    free(t.p);
}

/* ---- accepted: POST /accounts ------------------------------------------------------------ */

Test(request, account_with_and_without_id) {
    cr_assert_eq(account("{\"accountID\":\"acc-1\",\"startAmount\":100}"), WS_OK, "%s",
                 err.message);
    cr_assert_eq(acct.kind, WS_CMD_CREATE_ACCOUNT);
    assert_id(acct.account, acct.account_len, "acc-1", "accountID");
    cr_assert_eq(acct.amount, 100);
    cr_assert_eq(acct.to_len, 0);
    cr_assert_eq(acct.transfer_id_len, 0);
    cr_assert_not(acct.linked);
    cr_assert_eq(acct.status, WS_OK);

    cr_assert_eq(account("{\"startAmount\":\"5\"}"), WS_OK, "%s", err.message);
    cr_assert_eq(acct.kind, WS_CMD_CREATE_ACCOUNT);
    cr_assert_eq(acct.account_len, 0, "an absent accountID must have length 0");
    cr_assert_eq(acct.amount, 5);
}

Test(request, start_amount_at_both_ends) {
    const char *forms[] = {"0", "\"0\"", "9223372036854775807", "\"9223372036854775807\""};
    const uint64_t want[] = {0, 0, 9223372036854775807ull, 9223372036854775807ull};
    for (size_t i = 0; i < 4; i++) {
        char body[96];
        snprintf(body, sizeof(body), "{\"startAmount\":%s,\"accountID\":\"A\"}", forms[i]);
        cr_assert_eq(account(body), WS_OK, "%s: %s", body, err.message);
        cr_assert_eq(acct.amount, want[i], "%s", body);
    }
}

Test(request, account_currency_and_limits) {
    cr_assert_eq(account("{\"startAmount\":5,\"currency\":\"USD\",\"overdraftLimit\":50,"
                         "\"maxBalance\":\"1000\"}"),
                 WS_OK, "%s", err.message);
    assert_id(acct.currency, acct.currency_len, "USD", "currency");
    cr_assert_eq(acct.overdraft, 50);
    cr_assert(acct.has_max_balance);
    cr_assert_eq(acct.max_balance, 1000);
    ws_account_params p = ws_command_params(&acct);
    cr_assert_eq(p.max_balance, 1000);

    cr_assert_eq(account("{\"startAmount\":5}"), WS_OK, "%s", err.message);
    cr_assert_eq(acct.currency_len, 0, "an absent currency has length 0 (the default)");
    cr_assert_eq(acct.overdraft, 0);
    cr_assert_not(acct.has_max_balance);
    p = ws_command_params(&acct);
    cr_assert(ws_account_params_is_default(&p));

    /* the edges: 3 and 12 characters, a maxBalance of 0 with a start amount of 0 */
    cr_assert_eq(account("{\"startAmount\":0,\"currency\":\"ABC\",\"maxBalance\":0}"), WS_OK);
    cr_assert(acct.has_max_balance);
    cr_assert_eq(acct.max_balance, 0);
    cr_assert_eq(account("{\"startAmount\":7,\"currency\":\"POINTS2026AB\",\"maxBalance\":7,"
                         "\"overdraftLimit\":9223372036854775807}"),
                 WS_OK, "%s", err.message);
    cr_assert_eq(acct.overdraft, WS_AMOUNT_MAX);

    static const char *const bad[] = {
        "{\"startAmount\":1,\"currency\":\"us\"}",
        "{\"startAmount\":1,\"currency\":\"usd\"}",
        "{\"startAmount\":1,\"currency\":\"ABCDEFGHIJKLM\"}",
        "{\"startAmount\":1,\"currency\":\"US D\"}",
        "{\"startAmount\":1,\"currency\":\"\"}",
        "{\"startAmount\":1,\"currency\":840}",
        "{\"startAmount\":1,\"currency\":null}",
        "{\"startAmount\":1,\"overdraftLimit\":-1}",
        "{\"startAmount\":1,\"overdraftLimit\":1.5}",
        "{\"startAmount\":1,\"overdraftLimit\":9223372036854775808}",
        "{\"startAmount\":1,\"maxBalance\":null}",
        "{\"startAmount\":1,\"maxBalance\":true}",
        "{\"startAmount\":11,\"maxBalance\":10}",
        "{\"maxBalance\":10,\"startAmount\":\"11\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(account(bad[i]), WS_INVALID_PARAMETER, "%s -> %s", bad[i], err.message);
    }
    cr_assert_eq(account("{\"startAmount\":1,\"currency\":\"USD\",\"currency\":\"EUR\"}"),
                 WS_INVALID_JSON);
    /* a transfer has no currency: the accounts carry it */
    refused("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"currency\":\"USD\"}",
            WS_INVALID_PARAMETER, -1);
}

/* ---- not JSON ------------------------------------------------------------------------------ */

Test(request, empty_and_blank_bodies) {
    refused_len("", 0, WS_INVALID_JSON, -1);
    refused("   \n\t", WS_INVALID_JSON, -1);
    cr_assert_eq(account_len("", 0), WS_INVALID_JSON);
    account_refused(" ", WS_INVALID_JSON);
}

Test(request, syntax_errors) {
    const char *bodies[] = {
        "{",
        "}",
        "{\"fromAccount\":}",
        "{\"fromAccount\" \"A\"}",
        "{fromAccount:\"A\"}",
        "{'fromAccount':'A'}",
        "{\"fromAccount\":\"A\",}",
        "{\"fromAccount\":\"A\",,\"toAccount\":\"B\"}",
        "{\"amount\":1.}",
        "{\"amount\":.5}",
        "{\"amount\":+1}",
        "{/* a comment */\"amount\":1}",
        "\xef\xbb\xbf{\"amount\":1}", /* a byte order mark */
        "{\"transfers\":[" ONE_TRANSFER ",]}",
        "{\"transfers\":[" ONE_TRANSFER "}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        refused(bodies[i], WS_INVALID_JSON, -1);
    }
}

/* Every strict prefix of a valid body: nothing in it is wrong but its end. */
Test(request, every_truncation_is_invalid_json) {
    const char *valid[] = {
        "{\"transferID\":\"T-1\",\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":50,"
        "\"linked\":true}",
        "{\"transfers\":[" ITEM("a") "," ITEM("b") "]}",
        "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":\"50\"}",
    };
    for (size_t v = 0; v < 3; v++) {
        size_t len = strlen(valid[v]);
        cr_assert_eq(transfers_len(valid[v], len), WS_OK, "%s: %s", valid[v], err.message);
        for (size_t cut = 1; cut < len; cut++) {
            refused_len(valid[v], cut, WS_INVALID_JSON, -1);
        }
    }
    const char *acc = "{\"accountID\":\"A\",\"startAmount\":10}";
    for (size_t cut = 1; cut < strlen(acc); cut++) {
        ws_status s = account_len(acc, cut);
        cr_assert_eq(s, WS_INVALID_JSON, "%.*s -> %s", (int)cut, acc, ws_status_code(s));
    }
}

Test(request, trailing_bytes) {
    const char *tails[] = {"x", "{}", "]", "}", "0", "\"\"", ONE_TRANSFER, "\x01"};
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body), "%s %s", ONE_TRANSFER, tails[i]);
        refused(body, WS_INVALID_JSON, -1);
    }
    /* A NUL byte after the body counts too (the length, not a terminator, ends it). */
    const char with_nul[] = ONE_TRANSFER "\0";
    refused_len(with_nul, sizeof(with_nul) - 1, WS_INVALID_JSON, -1);
    char body[256];
    snprintf(body, sizeof(body), "{\"transfers\":[%s]}x", ONE_TRANSFER);
    refused(body, WS_INVALID_JSON, -1);
    account_refused("{\"startAmount\":1}{\"startAmount\":1}", WS_INVALID_JSON);
}

Test(request, duplicate_keys) {
    refused("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"amount\":1}",
            WS_INVALID_JSON, -1);
    refused("{\"linked\":true,\"fromAccount\":\"A\",\"linked\":false}", WS_INVALID_JSON, -1);
    refused("{\"transfers\":[" ITEM("a") "],\"transfers\":[" ITEM("b") "]}", WS_INVALID_JSON, -1);
    refused("{\"transfers\":[" ITEM("a") "," ITEM("b") "," ITEM("c") ",{\"transferID\":\"d\","
                                                                     "\"transferID\":\"d\"}]}",
            WS_INVALID_JSON, 3);
    account_refused("{\"accountID\":\"A\",\"accountID\":\"B\",\"startAmount\":1}", WS_INVALID_JSON);
    account_refused("{\"startAmount\":1,\"startAmount\":1}", WS_INVALID_JSON);
}

/* yajl checks the UTF-8 of strings; request.h: invalid UTF-8 is WS_INVALID_JSON, in a value or
 * in a key. Among the invalid forms: a stray continuation or 0xFF byte, a sequence cut short,
 * an overlong encoding, an encoded UTF-16 surrogate and a code point past U+10FFFF. */
Test(request, invalid_utf8_is_invalid_json) {
    const char *bad[] = {"\xff",         "\x80",         "\xe2\x82",        "\xc0\xaf",
                         "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
    const char *what[] = {"0xff",         "a stray continuation byte", "a cut sequence",
                          "overlong '/'", "overlong 3-byte",           "a surrogate",
                          "past U+10FFFF"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"fromAccount\":\"A%s\",\"toAccount\":\"B\",\"amount\":1}",
                 bad[i]);
        ws_status s = transfers(body);
        cr_expect_eq(s, WS_INVALID_JSON, "%s in a value: %s (%s)", what[i], ws_status_code(s),
                     err.message);
        snprintf(body, sizeof(body), "{\"from%sAccount\":\"A\"}", bad[i]);
        s = transfers(body);
        cr_expect_eq(s, WS_INVALID_JSON, "%s in a key: %s (%s)", what[i], ws_status_code(s),
                     err.message);
    }
}

/* A raw control byte inside a string is not JSON; \u0000 is JSON, but no ID holds a NUL. */
Test(request, nul_in_an_id) {
    const char raw[] = "{\"fromAccount\":\"A\0B\",\"toAccount\":\"B\",\"amount\":1}";
    refused_len(raw, sizeof(raw) - 1, WS_INVALID_JSON, -1);
    refused("{\"fromAccount\":\"A\\u0000B\",\"toAccount\":\"B\",\"amount\":1}",
            WS_INVALID_PARAMETER, -1);
    refused("{\"transferID\":\"\\u0000\",\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1}",
            WS_INVALID_PARAMETER, -1);
    refused("{\"transfers\":[" ITEM("a") "," ITEM("b") ",{\"transferID\":\"c\\u0000\"}]}",
            WS_INVALID_PARAMETER, 2);
    account_refused("{\"accountID\":\"A\\u0000\",\"startAmount\":1}", WS_INVALID_PARAMETER);
}

/* request.h: an array or object nested where none belongs is the wrong shape
 * (WS_INVALID_PARAMETER), however deep; nesting left open is not JSON (WS_INVALID_JSON).
 * A million levels are refused without trouble either way (yajl keeps no recursion). */
Test(request, deep_nesting_is_the_wrong_shape) {
    enum { HUGE = 1000000 };
    char *deep = malloc(2 * HUGE + 1);
    cr_assert_not_null(deep);
    memset(deep, '[', HUGE);
    memset(deep + HUGE, ']', HUGE);
    cr_expect_eq(transfers_len(deep, 2 * HUGE), WS_INVALID_PARAMETER, "%s", err.message);
    cr_expect_eq(transfers_len(deep, HUGE), WS_INVALID_JSON, "%s", err.message); /* unclosed */
    free(deep);

    char body[256];
    int n = snprintf(body, sizeof(body), "{\"transfers\":[{\"amount\":");
    for (int i = 0; i < 9; i++) {
        n += snprintf(body + n, sizeof(body) - (size_t)n, "{\"a\":");
    }
    n += snprintf(body + n, sizeof(body) - (size_t)n, "1");
    for (int i = 0; i < 9; i++) {
        n += snprintf(body + n, sizeof(body) - (size_t)n, "}");
    }
    snprintf(body + n, sizeof(body) - (size_t)n, "}]}");
    refused(body, WS_INVALID_PARAMETER, 0);
    cr_expect(strstr(err.message, "amount") != NULL, "%s", err.message);
    body[strlen(body) - 1] = '\0'; /* the same, its top object left open */
    refused(body, WS_INVALID_JSON, -1);
}

/* JSON forbids leading zeros and hex in a number: "amount": 0100 and 0x10 are not JSON (yajl
 * reads a number 0, then stops at the next byte). */
Test(request, numbers_that_are_not_json_are_invalid_json) {
    const char *bad[] = {"0100", "0x10", "00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":%s}",
                 bad[i]);
        ws_status s = transfers(body);
        cr_expect_eq(s, WS_INVALID_JSON, "amount %s: %s (%s)", bad[i], ws_status_code(s),
                     err.message);
        snprintf(body, sizeof(body), "{\"startAmount\":%s}", bad[i]);
        s = account(body);
        cr_expect_eq(s, WS_INVALID_JSON, "startAmount %s: %s (%s)", bad[i], ws_status_code(s),
                     err.message);
    }
}

/* ---- JSON of the wrong shape ----------------------------------------------------------------- */

Test(request, top_level_not_an_object) {
    const char *bodies[] = {"[]", "[" ONE_TRANSFER "]", "5", "\"x\"", "null", "true", "false"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        refused(bodies[i], WS_INVALID_PARAMETER, -1);
        account_refused(bodies[i], WS_INVALID_PARAMETER);
    }
}

Test(request, empty_object_misses_its_first_field) {
    refused("{}", WS_MISSING_PARAMETER, -1);
    cr_assert(strstr(err.message, "fromAccount") != NULL, "%s", err.message);
    account_refused("{}", WS_MISSING_PARAMETER);
    cr_assert(strstr(err.message, "startAmount") != NULL, "%s", err.message);
}

Test(request, amounts_out_of_form_or_range) {
    const char *bad[] = {"0",
                         "-1",
                         "-0",
                         "1.0",
                         "1e3",
                         "1E3",
                         "1.5e1",
                         "9223372036854775808",
                         "18446744073709551616",
                         "123456789012345678901234567890",
                         "\"0\"",
                         "\"-1\"",
                         "\"+1\"",
                         "\" 1\"",
                         "\"1 \"",
                         "\"\"",
                         "\"1.0\"",
                         "\"1e3\"",
                         "\"0x10\"",
                         "\"9223372036854775808\"",
                         "true",
                         "null",
                         "[]",
                         "{}",
                         "[1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[160];
        snprintf(body, sizeof(body), "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":%s}",
                 bad[i]);
        refused(body, WS_INVALID_PARAMETER, -1);
        snprintf(body, sizeof(body), "{\"transfers\":[" ITEM("a") ",{\"amount\":%s}]}", bad[i]);
        refused(body, WS_INVALID_PARAMETER, 1);
    }
    const char *bad_start[] = {"-1",     "1.0",  "1e3",  "9223372036854775808",
                               "\"-1\"", "\"\"", "true", "null"};
    for (size_t i = 0; i < sizeof(bad_start) / sizeof(bad_start[0]); i++) {
        char body[96];
        snprintf(body, sizeof(body), "{\"startAmount\":%s}", bad_start[i]);
        account_refused(body, WS_INVALID_PARAMETER);
    }
}

Test(request, unknown_fields) {
    refused("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"memo\":\"x\"}",
            WS_INVALID_PARAMETER, -1);
    refused("{\"FromAccount\":\"A\"}", WS_INVALID_PARAMETER, -1); /* names are case-sensitive */
    refused("{\"fromAccount\":\"A\",\"transfers\":[]}", WS_INVALID_PARAMETER, -1);
    refused("{\"accountID\":\"A\"}", WS_INVALID_PARAMETER, -1);
    refused("{\"transfers\":[" ITEM("a") "],\"x\":1}", WS_INVALID_PARAMETER, -1);
    refused("{\"transfers\":[" ITEM("a") "],\"fromAccount\":\"A\"}", WS_INVALID_PARAMETER, -1);
    refused("{\"transfers\":[" ITEM("a") "," ITEM("b") "," ITEM("c") "," ITEM(
                "d") ","
                     "{\"transferID\":\"e\",\"note\":1}]}",
            WS_INVALID_PARAMETER, 4);
    refused("{\"transfers\":[{\"transfers\":[]}]}", WS_INVALID_PARAMETER, 0);
    account_refused("{\"startAmount\":1,\"linked\":true}", WS_INVALID_PARAMETER);
    account_refused("{\"transfers\":[]}", WS_INVALID_PARAMETER);
    account_refused("{\"fromAccount\":\"A\",\"startAmount\":1}", WS_INVALID_PARAMETER);
}

Test(request, wrong_types) {
    const char *single[] = {
        "{\"fromAccount\":5}",    "{\"toAccount\":null}",
        "{\"transferID\":true}",  "{\"fromAccount\":[\"A\"]}",
        "{\"toAccount\":{}}",     "{\"linked\":\"true\"}",
        "{\"linked\":1}",         "{\"linked\":null}",
        "{\"linked\":[]}",        "{\"amount\":true}",
        "{\"amount\":{\"v\":1}}", "{\"transferID\":1}",
    };
    for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
        refused(single[i], WS_INVALID_PARAMETER, -1);
    }
    const char *transfers_values[] = {"5", "{}", "\"x\"", "null", "true", "{\"a\":1}"};
    for (size_t i = 0; i < sizeof(transfers_values) / sizeof(transfers_values[0]); i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"transfers\":%s}", transfers_values[i]);
        refused(body, WS_INVALID_PARAMETER, -1);
    }
    /* An element of the array that is not an object. */
    const char *elements[] = {"5", "\"x\"", "null", "[]", "true"};
    for (size_t i = 0; i < sizeof(elements) / sizeof(elements[0]); i++) {
        char body[160];
        snprintf(body, sizeof(body), "{\"transfers\":[" ITEM("a") ",%s]}", elements[i]);
        refused(body, WS_INVALID_PARAMETER, -1);
    }
    refused("{\"transfers\":[" ITEM("a") ",{\"transferID\":\"b\",\"linked\":\"yes\"}]}",
            WS_INVALID_PARAMETER, 1);
    account_refused("{\"accountID\":5,\"startAmount\":1}", WS_INVALID_PARAMETER);
    account_refused("{\"accountID\":null,\"startAmount\":1}", WS_INVALID_PARAMETER);
}

Test(request, ids_that_are_not_ids) {
    char id65[80];
    memset(id65, 'z', 65);
    id65[65] = '\0';
    const char *bad[] = {"", "a b", "a/b", "a+b", "caf\xc3\xa9", "a\\nb", "\\u00e9", id65};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"fromAccount\":\"%s\",\"toAccount\":\"B\",\"amount\":1}",
                 bad[i]);
        refused(body, WS_INVALID_PARAMETER, -1);
        snprintf(body, sizeof(body), "{\"toAccount\":\"%s\"}", bad[i]);
        refused(body, WS_INVALID_PARAMETER, -1);
        snprintf(body, sizeof(body), "{\"transferID\":\"%s\"}", bad[i]);
        refused(body, WS_INVALID_PARAMETER, -1);
        snprintf(body, sizeof(body), "{\"transfers\":[{\"transferID\":\"%s\"}]}", bad[i]);
        refused(body, WS_INVALID_PARAMETER, 0);
        snprintf(body, sizeof(body), "{\"accountID\":\"%s\",\"startAmount\":1}", bad[i]);
        account_refused(body, WS_INVALID_PARAMETER);
    }
}

/* ---- missing fields, batch sizes, duplicate transferIDs -------------------------------------- */

Test(request, missing_fields) {
    refused("{\"toAccount\":\"B\",\"amount\":1}", WS_MISSING_PARAMETER, -1);
    cr_assert(strstr(err.message, "fromAccount") != NULL, "%s", err.message);
    refused("{\"fromAccount\":\"A\",\"amount\":1}", WS_MISSING_PARAMETER, -1);
    cr_assert(strstr(err.message, "toAccount") != NULL, "%s", err.message);
    refused("{\"fromAccount\":\"A\",\"toAccount\":\"B\"}", WS_MISSING_PARAMETER, -1);
    cr_assert(strstr(err.message, "amount") != NULL, "%s", err.message);
    refused("{\"linked\":true}", WS_MISSING_PARAMETER, -1);
    account_refused("{\"accountID\":\"A\"}", WS_MISSING_PARAMETER);
}

Test(request, missing_field_in_item_five) {
    const char *fields[4] = {"transferID", "fromAccount", "toAccount", "amount"};
    for (size_t f = 0; f < 4; f++) {
        text t = {0};
        put(&t, "{\"transfers\":[");
        for (size_t i = 0; i < 8; i++) {
            put(&t, "%s{", i ? "," : "");
            const char *sep = "";
            if (!(i == 5 && f == 0)) {
                put(&t, "\"transferID\":\"t-%zu\"", i);
                sep = ",";
            }
            if (!(i == 5 && f == 1)) {
                put(&t, "%s\"fromAccount\":\"A\"", sep);
                sep = ",";
            }
            if (!(i == 5 && f == 2)) {
                put(&t, "%s\"toAccount\":\"B\"", sep);
                sep = ",";
            }
            if (!(i == 5 && f == 3)) {
                put(&t, "%s\"amount\":1", sep);
            }
            put(&t, "}");
        }
        put(&t, "]}");
        refused_len(t.p, t.len, WS_MISSING_PARAMETER, 5);
        cr_assert(strstr(err.message, fields[f]) != NULL, "%s: %s", fields[f], err.message);
        free(t.p);
    }
}

Test(request, too_many_transfers_and_none) {
    text t = batch_of(WS_GROUP_MAX + 1);
    refused_len(t.p, t.len, WS_TOO_MANY_TRANSFERS, WS_GROUP_MAX);
    free(t.p);
    refused("{\"transfers\":[]}", WS_TOO_MANY_TRANSFERS, -1);
    refused("{\"transfers\":[ ]}", WS_TOO_MANY_TRANSFERS, -1);
}

Test(request, duplicate_transfer_id_names_the_second_use) {
    refused("{\"transfers\":[" ITEM("a") "," ITEM("b") "," ITEM("c") "," ITEM("d") "," ITEM(
                "e") "," ITEM("f") "," ITEM("g") "," ITEM("c") "]}",
            WS_DUPLICATE_TRANSFER_ID, 7);
    cr_assert(strstr(err.message, "'c'") != NULL, "%s", err.message);
    /* Two repeated IDs: the least index that repeats an earlier one. */
    refused("{\"transfers\":[" ITEM("x") "," ITEM("y") "," ITEM("z") "," ITEM("y") "," ITEM(
                "w") "," ITEM("x") "]}",
            WS_DUPLICATE_TRANSFER_ID, 3);
    refused("{\"transfers\":[" ITEM("x") "," ITEM("x") "," ITEM("x") "]}", WS_DUPLICATE_TRANSFER_ID,
            1);
    /* IDs that differ only in length or case are different IDs. */
    cr_assert_eq(transfers("{\"transfers\":[" ITEM("a") "," ITEM("aa") "," ITEM("A") "]}"), WS_OK,
                 "%s", err.message);
    /* In a full batch, the last item repeating the first. */
    text t = batch_of(WS_GROUP_MAX);
    char *last = strstr(t.p, "\"t-8189\"");
    cr_assert_not_null(last);
    memcpy(last, "\"t-0\"   ", 8); /* the spaces keep the JSON valid */
    refused_len(t.p, t.len, WS_DUPLICATE_TRANSFER_ID, WS_GROUP_MAX - 1);
    free(t.p);
}

/* Without transferIDs, single transfers of one form repeated are no duplicates: a duplicate
 * is a batch's concern only, and an error found first wins over it. */
Test(request, first_error_wins_over_a_duplicate) {
    refused("{\"transfers\":[" ITEM("a") "," ITEM("a") ",{\"transferID\":\"b\"}]}",
            WS_MISSING_PARAMETER, 2);
}

/* ---- property: random valid batches round-trip ------------------------------------------------
 */

typedef struct {
    uint64_t s;
} rng;

static uint64_t next(rng *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t x = r->s;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static const char ID_CHARS[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

static uint8_t random_id(rng *r, char *id) {
    uint8_t len = (uint8_t)(1 + next(r) % (next(r) % 4 == 0 ? WS_ID_LEN_MAX : 12));
    for (uint8_t i = 0; i < len; i++) {
        id[i] = ID_CHARS[next(r) % (sizeof(ID_CHARS) - 1)];
    }
    return len;
}

/* Writes an ID as a JSON string, some characters as \u escapes. */
static void put_id(text *t, rng *r, const char *id, uint8_t len) {
    put(t, "\"");
    for (uint8_t i = 0; i < len; i++) {
        if (next(r) % 8 == 0) {
            put(t, "\\u%04x", (unsigned)(unsigned char)id[i]);
        } else {
            put(t, "%c", id[i]);
        }
    }
    put(t, "\"");
}

static const char *space(rng *r) {
    static const char *const spaces[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};
    return spaces[next(r) % 7];
}

static uint64_t random_amount(rng *r) {
    switch (next(r) % 5) {
    case 0:
        return 1;
    case 1:
        return WS_AMOUNT_MAX;
    case 2:
        return 1 + next(r) % 1000;
    default:
        return 1 + next(r) % WS_AMOUNT_MAX;
    }
}

/* One transfer object, its fields in random order, amount as an integer or a string (with
 * leading zeros now and then), linked given as true, as false or not at all. */
static void put_transfer(text *t, rng *r, const ws_command *c) {
    int order[5] = {0, 1, 2, 3, 4};
    for (int i = 4; i > 0; i--) {
        int j = (int)(next(r) % (uint64_t)(i + 1));
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    bool linked_given = c->linked || next(r) % 2 == 0;
    put(t, "{%s", space(r));
    bool first = true;
    for (int k = 0; k < 5; k++) {
        if (order[k] == 4 && !linked_given) {
            continue;
        }
        put(t, "%s%s", first ? "" : ",", space(r));
        first = false;
        switch (order[k]) {
        case 0:
            put(t, "\"transferID\"%s:%s", space(r), space(r));
            put_id(t, r, c->transfer_id, c->transfer_id_len);
            break;
        case 1:
            put(t, "\"fromAccount\":");
            put_id(t, r, c->account, c->account_len);
            break;
        case 2:
            put(t, "\"toAccount\":%s", space(r));
            put_id(t, r, c->to, c->to_len);
            break;
        case 3:
            if (next(r) % 2 == 0) {
                put(t, "\"amount\":%llu", (unsigned long long)c->amount);
            } else {
                put(t, "\"amount\":\"%s%llu\"", next(r) % 4 == 0 ? "00" : "",
                    (unsigned long long)c->amount);
            }
            break;
        default:
            put(t, "\"linked\":%s", c->linked ? "true" : "false");
            break;
        }
        put(t, "%s", space(r));
    }
    put(t, "}");
}

Test(request, random_batches_round_trip) {
    enum { BATCHES = 200, ITEMS_MAX = 300 };
    static ws_command want[ITEMS_MAX];
    rng r = {20240601};
    size_t total = 0;
    for (size_t b = 0; b < BATCHES; b++) {
        size_t n = 1 + next(&r) % (b % 10 == 0 ? ITEMS_MAX : 20);
        memset(want, 0, sizeof(want));
        for (size_t i = 0; i < n; i++) {
            ws_command *c = &want[i];
            c->kind = WS_CMD_TRANSFER;
            /* "<i>-<random>": unique in the batch, since the first '-' ends the index. */
            char rand_id[WS_ID_LEN_MAX];
            uint8_t rl = random_id(&r, rand_id);
            int pl = snprintf(c->transfer_id, sizeof(c->transfer_id), "%zu-", i);
            if (rl > WS_ID_LEN_MAX - pl) {
                rl = (uint8_t)(WS_ID_LEN_MAX - pl);
            }
            memcpy(c->transfer_id + pl, rand_id, rl);
            c->transfer_id_len = (uint8_t)(pl + rl);
            c->transfer_id_given = true;
            c->account_len = random_id(&r, c->account);
            c->to_len = random_id(&r, c->to);
            c->amount = random_amount(&r);
            c->linked = next(&r) % 3 == 0;
        }
        text t = {0};
        put(&t, "%s{%s\"transfers\"%s:%s[", space(&r), space(&r), space(&r), space(&r));
        for (size_t i = 0; i < n; i++) {
            put(&t, "%s%s", i ? "," : "", space(&r));
            put_transfer(&t, &r, &want[i]);
        }
        put(&t, "%s]%s}%s", space(&r), space(&r), space(&r));
        ws_status s = transfers_len(t.p, t.len);
        cr_assert_eq(s, WS_OK, "batch %zu: %s (%s)\n%.*s", b, ws_status_code(s), err.message,
                     (int)(t.len > 2000 ? 2000 : t.len), t.p);
        cr_assert(batch_out);
        cr_assert_eq(n_out, n, "batch %zu: %zu decoded, want %zu", b, n_out, n);
        for (size_t i = 0; i < n; i++) {
            const ws_command *g = &out[i];
            const ws_command *w = &want[i];
            cr_assert_eq(g->kind, WS_CMD_TRANSFER);
            cr_assert(g->transfer_id_given);
            cr_assert_eq(g->transfer_id_len, w->transfer_id_len, "batch %zu item %zu", b, i);
            cr_assert_eq(memcmp(g->transfer_id, w->transfer_id, w->transfer_id_len), 0,
                         "batch %zu item %zu: transferID", b, i);
            cr_assert_eq(g->account_len, w->account_len, "batch %zu item %zu", b, i);
            cr_assert_eq(memcmp(g->account, w->account, w->account_len), 0,
                         "batch %zu item %zu: fromAccount", b, i);
            cr_assert_eq(g->to_len, w->to_len, "batch %zu item %zu", b, i);
            cr_assert_eq(memcmp(g->to, w->to, w->to_len), 0, "batch %zu item %zu: toAccount", b, i);
            cr_assert_eq(g->amount, w->amount, "batch %zu item %zu: amount", b, i);
            cr_assert_eq(g->linked, w->linked, "batch %zu item %zu: linked", b, i);
        }
        total += n;
        free(t.p);
    }
    cr_assert_gt(total, 1000, "too few transfers were checked");
    cr_log_info("%zu transfers in %d batches round-tripped", total, BATCHES);
}

/* ---- two-phase transfers: pending, timeoutSeconds, postPendingID, voidPendingID -------- */

/* The two-phase fields of a decoded transfer. */
static void assert_step(const ws_command *c, ws_step step, uint32_t timeout_s,
                        const char *pending) {
    cr_assert_eq(c->step, step, "step %d, want %d", (int)c->step, (int)step);
    cr_assert_eq(c->timeout_s, timeout_s, "timeout_s %u, want %u", c->timeout_s, timeout_s);
    assert_id(c->pending, c->pending_len, pending, "pending");
    cr_assert_eq(c->moved, 0);
    cr_assert_eq(c->from_pd + c->from_pc + c->to_pd + c->to_pc, 0);
}

/* A post or void: the pending transfer's ID, no accounts, amount (0: all of it). */
static void assert_resolve(const ws_command *c, const char *tid, ws_step step, const char *pending,
                           uint64_t amount) {
    cr_assert_eq(c->kind, WS_CMD_TRANSFER);
    cr_assert_eq(c->transfer_id_given, tid != NULL);
    assert_id(c->transfer_id, c->transfer_id_len, tid ? tid : "", "transferID");
    cr_assert_eq(c->account_len, 0, "a post or void with a fromAccount");
    cr_assert_eq(c->to_len, 0, "a post or void with a toAccount");
    cr_assert_eq(c->amount, amount);
    cr_assert_not(c->linked);
    cr_assert_eq(c->status, WS_OK);
    assert_step(c, step, 0, pending);
}

Test(request, pending_transfer_with_and_without_timeout) {
    cr_assert_eq(transfers("{\"transferID\":\"p1\",\"fromAccount\":\"A\",\"toAccount\":\"B\","
                           "\"amount\":30,\"pending\":true,\"timeoutSeconds\":600}"),
                 WS_OK, "%s", err.message);
    cr_assert_eq(n_out, 1);
    assert_transfer(&out[0], "p1", "A", "B", 30, false);
    assert_step(&out[0], WS_STEP_PENDING, 600, "");
    /* no timeout: it never expires */
    cr_assert_eq(transfers("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,"
                           "\"pending\":true}"),
                 WS_OK, "%s", err.message);
    assert_transfer(&out[0], NULL, "A", "B", 1, false);
    assert_step(&out[0], WS_STEP_PENDING, 0, "");
    /* the fields in any order: timeoutSeconds before pending */
    cr_assert_eq(transfers("{\"timeoutSeconds\":7,\"amount\":2,\"pending\":true,\"toAccount\":"
                           "\"B\",\"fromAccount\":\"A\",\"linked\":false}"),
                 WS_OK, "%s", err.message);
    assert_transfer(&out[0], NULL, "A", "B", 2, false);
    assert_step(&out[0], WS_STEP_PENDING, 7, "");
    /* "pending": false is a plain transfer */
    cr_assert_eq(transfers("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":3,"
                           "\"pending\":false}"),
                 WS_OK, "%s", err.message);
    assert_transfer(&out[0], NULL, "A", "B", 3, false);
    assert_step(&out[0], WS_STEP_NONE, 0, "");
    /* and so is one without the field */
    cr_assert_eq(transfers(ONE_TRANSFER), WS_OK);
    assert_step(&out[0], WS_STEP_NONE, 0, "");
}

Test(request, timeout_seconds_range) {
    const char *good[] = {"1", "\"1\"", "4294967295", "\"4294967295\"", "\"0005\"", "86400"};
    const uint32_t want[] = {1, 1, 4294967295u, 4294967295u, 5, 86400};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char body[200];
        snprintf(body, sizeof(body),
                 "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"pending\":true,"
                 "\"timeoutSeconds\":%s}",
                 good[i]);
        cr_assert_eq(transfers(body), WS_OK, "%s: %s", body, err.message);
        assert_step(&out[0], WS_STEP_PENDING, want[i], "");
    }
    const char *bad[] = {"0",
                         "\"0\"",
                         "4294967296",
                         "\"4294967296\"",
                         "18446744073709551616",
                         "-1",
                         "1.0",
                         "1e3",
                         "\"\"",
                         "\" 1\"",
                         "true",
                         "null",
                         "[1]",
                         "{}",
                         "\"+1\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[200];
        snprintf(body, sizeof(body),
                 "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"pending\":true,"
                 "\"timeoutSeconds\":%s}",
                 bad[i]);
        refused(body, WS_INVALID_PARAMETER, -1);
        cr_assert(strstr(err.message, "timeoutSeconds") != NULL, "%s: %s", body, err.message);
        snprintf(body, sizeof(body),
                 "{\"transfers\":[" ITEM("a") ",{\"transferID\":\"b\",\"pending\":true,"
                                              "\"timeoutSeconds\":%s}]}",
                 bad[i]);
        refused(body, WS_INVALID_PARAMETER, 1);
    }
}

Test(request, timeout_seconds_needs_pending_true) {
    refused("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"timeoutSeconds\":5}",
            WS_INVALID_PARAMETER, -1);
    cr_assert(strstr(err.message, "pending") != NULL, "%s", err.message);
    refused("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"pending\":false,"
            "\"timeoutSeconds\":5}",
            WS_INVALID_PARAMETER, -1);
    refused("{\"transfers\":[" ITEM("a") "," ITEM(
                "b") ",{\"transferID\":\"c\",\"fromAccount\":"
                     "\"A\",\"toAccount\":\"B\",\"amount\":1,\"timeoutSeconds\":5}]}",
            WS_INVALID_PARAMETER, 2);
    /* pending must be a boolean */
    const char *values[] = {"\"true\"", "1", "0", "null", "[]", "{}"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char body[160];
        snprintf(body, sizeof(body),
                 "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"pending\":%s}",
                 values[i]);
        refused(body, WS_INVALID_PARAMETER, -1);
    }
    /* and given once */
    refused("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"pending\":true,"
            "\"pending\":true}",
            WS_INVALID_JSON, -1);
    refused("{\"pending\":true,\"timeoutSeconds\":1,\"timeoutSeconds\":2}", WS_INVALID_JSON, -1);
    /* a pending transfer needs what a transfer needs */
    refused("{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"pending\":true,\"timeoutSeconds\":5}",
            WS_MISSING_PARAMETER, -1);
    cr_assert(strstr(err.message, "amount") != NULL, "%s", err.message);
}

Test(request, post_with_and_without_amount) {
    cr_assert_eq(transfers("{\"transferID\":\"c1\",\"postPendingID\":\"p1\",\"amount\":30}"), WS_OK,
                 "%s", err.message);
    cr_assert_eq(n_out, 1);
    cr_assert_not(batch_out);
    assert_resolve(&out[0], "c1", WS_STEP_POST, "p1", 30);
    cr_assert_eq(transfers("{\"postPendingID\":\"p-1.x_Y\"}"), WS_OK, "%s", err.message);
    assert_resolve(&out[0], NULL, WS_STEP_POST, "p-1.x_Y", 0);
    cr_assert_eq(transfers("{\"amount\":\"9223372036854775807\",\"postPendingID\":\"p1\","
                           "\"transferID\":\"c2\"}"),
                 WS_OK, "%s", err.message);
    assert_resolve(&out[0], "c2", WS_STEP_POST, "p1", 9223372036854775807ull);
    char id64[65];
    memset(id64, 'q', 64);
    id64[64] = '\0';
    char body[200];
    snprintf(body, sizeof(body), "{\"postPendingID\":\"%s\"}", id64);
    cr_assert_eq(transfers(body), WS_OK, "%s", err.message);
    assert_resolve(&out[0], NULL, WS_STEP_POST, id64, 0);
    /* amount 0 is not "all of it": leave it out */
    refused("{\"postPendingID\":\"p1\",\"amount\":0}", WS_INVALID_PARAMETER, -1);
}

Test(request, void_without_amount) {
    cr_assert_eq(transfers("{\"transferID\":\"v1\",\"voidPendingID\":\"p1\"}"), WS_OK, "%s",
                 err.message);
    cr_assert_eq(n_out, 1);
    assert_resolve(&out[0], "v1", WS_STEP_VOID, "p1", 0);
    cr_assert_eq(transfers("{\"voidPendingID\":\"p1\",\"linked\":false}"), WS_OK, "%s",
                 err.message);
    assert_resolve(&out[0], NULL, WS_STEP_VOID, "p1", 0);
    /* a void releases the whole amount: any amount is refused */
    const char *amounts[] = {"1", "30", "\"5\"", "0"};
    for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
        char body[120];
        snprintf(body, sizeof(body),
                 "{\"transferID\":\"v1\",\"voidPendingID\":\"p1\",\"amount\":%s}", amounts[i]);
        refused(body, WS_INVALID_PARAMETER, -1);
        snprintf(body, sizeof(body), "{\"amount\":%s,\"voidPendingID\":\"p1\"}", amounts[i]);
        refused(body, WS_INVALID_PARAMETER, -1);
    }
}

/* The fields a post or void must not have, in either order. */
Test(request, post_and_void_exclude_other_fields) {
    const char *step[] = {"\"postPendingID\":\"p1\"", "\"voidPendingID\":\"p1\""};
    const char *other[] = {
        "\"voidPendingID\":\"p2\"", /* both */
        "\"postPendingID\":\"p2\"", /* both */
        "\"fromAccount\":\"A\"",    "\"toAccount\":\"B\"",  "\"pending\":true",
        "\"pending\":false",        "\"timeoutSeconds\":5",
    };
    for (size_t s = 0; s < 2; s++) {
        for (size_t o = 0; o < sizeof(other) / sizeof(other[0]); o++) {
            if ((s == 0 && o == 1) || (s == 1 && o == 0)) {
                continue; /* a field given twice is another test's */
            }
            char body[300];
            snprintf(body, sizeof(body), "{\"transferID\":\"c\",%s,%s}", step[s], other[o]);
            refused(body, WS_INVALID_PARAMETER, -1);
            snprintf(body, sizeof(body), "{%s,\"transferID\":\"c\",%s}", other[o], step[s]);
            refused(body, WS_INVALID_PARAMETER, -1);
            snprintf(body, sizeof(body),
                     "{\"transfers\":[" ITEM("a") ",{\"transferID\":\"c\",%s,%s}," ITEM("d") "]}",
                     step[s], other[o]);
            refused(body, WS_INVALID_PARAMETER, 1);
        }
    }
    refused("{\"postPendingID\":\"p1\",\"voidPendingID\":\"p1\"}", WS_INVALID_PARAMETER, -1);
    cr_assert(strstr(err.message, "postPendingID") != NULL, "%s", err.message);
    refused("{\"postPendingID\":\"p1\",\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1}",
            WS_INVALID_PARAMETER, -1);
    cr_assert(strstr(err.message, "fromAccount") != NULL, "%s", err.message);
    refused("{\"pending\":true,\"postPendingID\":\"p1\"}", WS_INVALID_PARAMETER, -1);
    cr_assert(strstr(err.message, "pending") != NULL, "%s", err.message);
    /* given twice */
    refused("{\"postPendingID\":\"p1\",\"postPendingID\":\"p2\"}", WS_INVALID_JSON, -1);
    refused("{\"voidPendingID\":\"p1\",\"voidPendingID\":\"p1\"}", WS_INVALID_JSON, -1);
}

Test(request, pending_ids_that_are_not_ids) {
    char id65[80];
    memset(id65, 'z', 65);
    id65[65] = '\0';
    const char *bad[] = {"\"\"", "\"a b\"", "\"a/b\"", "\"caf\xc3\xa9\"", "5", "null",
                         "true", "[\"p\"]", "{}",      "\"a\\u0000\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + 1; i++) {
        char value[96];
        if (i < sizeof(bad) / sizeof(bad[0])) {
            snprintf(value, sizeof(value), "%s", bad[i]);
        } else {
            snprintf(value, sizeof(value), "\"%s\"", id65);
        }
        char body[200];
        snprintf(body, sizeof(body), "{\"postPendingID\":%s}", value);
        refused(body, WS_INVALID_PARAMETER, -1);
        cr_assert(strstr(err.message, "postPendingID") != NULL, "%s: %s", body, err.message);
        snprintf(body, sizeof(body), "{\"voidPendingID\":%s}", value);
        refused(body, WS_INVALID_PARAMETER, -1);
        snprintf(body, sizeof(body), "{\"transfers\":[" ITEM("a") ",{\"postPendingID\":%s}]}",
                 value);
        refused(body, WS_INVALID_PARAMETER, 1);
    }
}

/* In a batch every item, a two-phase one too, needs its transferID. */
Test(request, batch_two_phase_items_need_transfer_id) {
    const char *items[] = {
        "{\"postPendingID\":\"p1\"}",
        "{\"postPendingID\":\"p1\",\"amount\":3}",
        "{\"voidPendingID\":\"p1\"}",
        "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"pending\":true}",
        "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"pending\":true,"
        "\"timeoutSeconds\":9}",
    };
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        char body[300];
        snprintf(body, sizeof(body), "{\"transfers\":[" ITEM("a") "," ITEM("b") ",%s]}", items[i]);
        refused(body, WS_MISSING_PARAMETER, 2);
        cr_assert(strstr(err.message, "transferID") != NULL, "%s: %s", body, err.message);
        /* the control: alone it may go without one */
        cr_assert_eq(transfers(items[i]), WS_OK, "%s: %s", items[i], err.message);
        cr_assert_not(out[0].transfer_id_given);
    }
}

/* A batch mixing every kind of step decodes each in its place. */
Test(request, batch_of_every_step) {
    cr_assert_eq(
        transfers(
            "{\"transfers\":["
            "{\"transferID\":\"p1\",\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":"
            "100,\"pending\":true,\"timeoutSeconds\":60,\"linked\":true},"
            "{\"transferID\":\"c1\",\"postPendingID\":\"p1\",\"amount\":30,\"linked\":true},"
            "{\"transferID\":\"v1\",\"voidPendingID\":\"p0\"},"
            "{\"transferID\":\"c2\",\"postPendingID\":\"p9\"}," ITEM(
                "t1") ","
                      "{\"transferID\":\"p2\",\"fromAccount\":\"B\",\"toAccount\":\"A\",\"amount\":"
                      "\"5\",\"pending\":true}]}"),
        WS_OK, "%s", err.message);
    cr_assert(batch_out);
    cr_assert_eq(n_out, 6);
    assert_transfer(&out[0], "p1", "A", "B", 100, true);
    assert_step(&out[0], WS_STEP_PENDING, 60, "");
    cr_assert(out[1].linked);
    out[1].linked = false; /* assert_resolve checks the rest */
    assert_resolve(&out[1], "c1", WS_STEP_POST, "p1", 30);
    assert_resolve(&out[2], "v1", WS_STEP_VOID, "p0", 0);
    assert_resolve(&out[3], "c2", WS_STEP_POST, "p9", 0);
    assert_transfer(&out[4], "t1", "A", "B", 1, false);
    assert_step(&out[4], WS_STEP_NONE, 0, "");
    assert_transfer(&out[5], "p2", "B", "A", 5, false);
    assert_step(&out[5], WS_STEP_PENDING, 0, "");
    /* the transferID of a post may be the same as its pendingID's: the ledger decides */
    cr_assert_eq(transfers("{\"transfers\":[{\"transferID\":\"p1\",\"postPendingID\":\"p1\"}]}"),
                 WS_OK, "%s", err.message);
    /* and the transferIDs of a batch differ, whatever their steps */
    refused("{\"transfers\":[{\"transferID\":\"x\",\"postPendingID\":\"p1\"},"
            "{\"transferID\":\"x\",\"voidPendingID\":\"p2\"}]}",
            WS_DUPLICATE_TRANSFER_ID, 1);
}
