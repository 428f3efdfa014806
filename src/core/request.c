/* The JSON request decoder (see request.h). yajl hands over events (keys, strings, the raw
 * digits of numbers, the opening and closing of objects and arrays); a small state machine
 * places each value in the command it belongs to, and the first thing out of place stops
 * the parse with the reason. yajl keeps no recursion, so nesting cannot exhaust the stack.
 *
 * "Not JSON" outranks "the wrong shape": the shape check stops at the first misplaced value,
 * possibly before the syntax error behind it (in "amount":0100 yajl hands over the number 0
 * before it sees the 1), so a refused body is parsed once more for its syntax alone, with
 * every string and key checked as strict UTF-8 (yajl checks only the byte structure: it
 * lets overlong forms, surrogates and code points past U+10FFFF through), and a body that
 * fails that is invalid_json whatever the first parse said. */
#include "core/request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

typedef enum {
    F_NONE = 0,
    F_TRANSFER_ID,
    F_FROM,
    F_TO,
    F_AMOUNT,
    F_LINKED,
    F_ACCOUNT_ID,
    F_START_AMOUNT,
    F_TRANSFERS,
    F_CURRENCY,
    F_OVERDRAFT,
    F_MAX_BALANCE,
    F_PENDING,
    F_TIMEOUT,
    F_POST,
    F_VOID,
} field;

static const char *const field_names[] = {
    [F_TRANSFER_ID] = "transferID",
    [F_FROM] = "fromAccount",
    [F_TO] = "toAccount",
    [F_AMOUNT] = "amount",
    [F_LINKED] = "linked",
    [F_ACCOUNT_ID] = "accountID",
    [F_START_AMOUNT] = "startAmount",
    [F_TRANSFERS] = "transfers",
    [F_CURRENCY] = "currency",
    [F_OVERDRAFT] = "overdraftLimit",
    [F_MAX_BALANCE] = "maxBalance",
    [F_PENDING] = "pending",
    [F_TIMEOUT] = "timeoutSeconds",
    [F_POST] = "postPendingID",
    [F_VOID] = "voidPendingID",
};

typedef struct {
    bool accounts; /* decoding POST /accounts */
    bool batch;    /* the top level's first key was "transfers" */
    bool form_set; /* the top level's first key has been seen */
    int depth;     /* open objects and arrays */
    ws_command *out;
    size_t n;            /* items finished */
    ws_command *cur;     /* the item being filled, NULL outside one */
    field key;           /* the field whose value comes next */
    unsigned seen;       /* fields given in the current item (bit per field) */
    bool transfers_open; /* inside the "transfers" array */
    bool top_object;     /* the top level is an object */
    ws_decode_error *err;
} dec;

static int fail(dec *d, ws_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records the refusal (the first one wins) and stops the parse. */
static int fail(dec *d, ws_status s, const char *fmt, ...) {
    if (d->err->status != WS_OK) {
        return 0;
    }
    d->err->status = s;
    d->err->index = d->batch && d->cur ? (long)d->n : -1;
    char what[WS_DECODE_MESSAGE_MAX - 32]; /* room for the "transfers[N]: " prefix */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (d->err->index >= 0) {
        snprintf(d->err->message, sizeof(d->err->message), "transfers[%ld]: %s", d->err->index,
                 what);
    } else {
        snprintf(d->err->message, sizeof(d->err->message), "%s", what);
    }
    return 0;
}

/* A client's key as a message may show it: at most 64 bytes, printable ASCII, '?' for any
 * other byte (so the message never holds a broken UTF-8 sequence). */
static const char *shown_key(const unsigned char *k, size_t n, char out[65]) {
    size_t m = n > 64 ? 64 : n;
    for (size_t i = 0; i < m; i++) {
        out[i] = k[i] >= 0x20 && k[i] < 0x7f ? (char)k[i] : '?';
    }
    out[m] = '\0';
    return out;
}

static field field_of(const dec *d, const unsigned char *k, size_t n) {
    static const field transfer[] = {F_TRANSFER_ID, F_FROM,    F_TO,   F_AMOUNT, F_LINKED,
                                     F_PENDING,     F_TIMEOUT, F_POST, F_VOID};
    static const field account[] = {F_ACCOUNT_ID, F_START_AMOUNT, F_CURRENCY, F_OVERDRAFT,
                                    F_MAX_BALANCE};
    const field *set = d->accounts ? account : transfer;
    size_t count =
        d->accounts ? sizeof(account) / sizeof(account[0]) : sizeof(transfer) / sizeof(transfer[0]);
    for (size_t i = 0; i < count; i++) {
        const char *name = field_names[set[i]];
        if (strlen(name) == n && memcmp(name, k, n) == 0) {
            return set[i];
        }
    }
    return F_NONE;
}

/* Starts the item that a top-level object (single form) or an element of "transfers" is. */
static void begin_item(dec *d) {
    d->cur = &d->out[d->n];
    memset(d->cur, 0, sizeof(*d->cur));
    d->cur->kind = d->accounts ? WS_CMD_CREATE_ACCOUNT : WS_CMD_TRANSFER;
    d->seen = 0;
}

/* The fields of a two-phase step that do not go together: false (refused) if c has any. */
static bool step_fields_ok(dec *d) {
    ws_command *c = d->cur;
    bool resolve = d->seen & (1u << F_POST | 1u << F_VOID);
    if ((d->seen & 1u << F_POST) && (d->seen & 1u << F_VOID)) {
        return fail(d, WS_INVALID_PARAMETER, "postPendingID and voidPendingID exclude each other");
    }
    if (resolve && (d->seen & (1u << F_FROM | 1u << F_TO))) {
        return fail(d, WS_INVALID_PARAMETER,
                    "a post or void names only the pending transfer: its fromAccount and "
                    "toAccount are the pending transfer's");
    }
    if (resolve && (d->seen & (1u << F_PENDING | 1u << F_TIMEOUT))) {
        return fail(d, WS_INVALID_PARAMETER,
                    "pending and timeoutSeconds are for a pending transfer, not a post or void");
    }
    if ((d->seen & 1u << F_VOID) && (d->seen & 1u << F_AMOUNT)) {
        return fail(d, WS_INVALID_PARAMETER, "a void releases the whole amount: give no amount");
    }
    if ((d->seen & 1u << F_TIMEOUT) && c->step != WS_STEP_PENDING) {
        return fail(d, WS_INVALID_PARAMETER, "timeoutSeconds needs \"pending\": true");
    }
    return true;
}

static int end_item(dec *d) {
    if (!d->accounts && !step_fields_ok(d)) {
        return 0;
    }
    bool resolve = !d->accounts && (d->seen & (1u << F_POST | 1u << F_VOID));
    const unsigned need =
        d->accounts ? 1u << F_START_AMOUNT
        : resolve
            ? (d->batch ? 1u << F_TRANSFER_ID : 0)
            : (1u << F_FROM | 1u << F_TO | 1u << F_AMOUNT | (d->batch ? 1u << F_TRANSFER_ID : 0));
    static const field order[] = {F_TRANSFER_ID, F_FROM, F_TO, F_AMOUNT, F_START_AMOUNT};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if ((need & (1u << order[i])) && !(d->seen & (1u << order[i]))) {
            return fail(d, WS_MISSING_PARAMETER, "%s is required%s", field_names[order[i]],
                        order[i] == F_TRANSFER_ID ? " in a batch" : "");
        }
    }
    if (d->accounts && d->cur->has_max_balance && d->cur->amount > d->cur->max_balance) {
        d->key = F_START_AMOUNT;
        return fail(d, WS_INVALID_PARAMETER, "startAmount must not exceed maxBalance");
    }
    d->n++;
    d->cur = NULL;
    return 1;
}

static int on_key(void *ctx, const unsigned char *k, size_t n) {
    dec *d = ctx;
    if (d->depth == 1 && !d->form_set) {
        d->form_set = true;
        d->batch = !d->accounts && n == 9 && memcmp(k, "transfers", 9) == 0;
        if (d->batch) {
            d->key = F_TRANSFERS;
            return 1;
        }
        begin_item(d);
    } else if (d->depth == 1 && d->batch) {
        char shown[65];
        if (n == 9 && memcmp(k, "transfers", 9) == 0) {
            return fail(d, WS_INVALID_JSON, "duplicate key 'transfers'");
        }
        return fail(d, WS_INVALID_PARAMETER, "unknown field '%s' beside 'transfers'",
                    shown_key(k, n, shown));
    }
    field f = field_of(d, k, n);
    if (f == F_NONE) {
        char shown[65];
        return fail(d, WS_INVALID_PARAMETER, "unknown field '%s'", shown_key(k, n, shown));
    }
    if (d->seen & (1u << f)) {
        return fail(d, WS_INVALID_JSON, "duplicate key '%s'", field_names[f]);
    }
    d->seen |= 1u << f;
    d->key = f;
    return 1;
}

/* The value of the current key is not of its type. */
static int wrong_type(dec *d) {
    switch (d->key) {
    case F_TRANSFER_ID:
    case F_FROM:
    case F_TO:
    case F_ACCOUNT_ID:
        return fail(d, WS_INVALID_PARAMETER,
                    "%s must be a string of 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
                    field_names[d->key]);
    case F_AMOUNT:
    case F_START_AMOUNT:
    case F_OVERDRAFT:
    case F_MAX_BALANCE:
        return fail(d, WS_INVALID_PARAMETER,
                    "%s must be a whole number from %d to "
                    "9223372036854775807 (a JSON integer or a string "
                    "of digits)",
                    field_names[d->key], d->key == F_AMOUNT ? 1 : 0);
    case F_CURRENCY:
        return fail(d, WS_INVALID_PARAMETER,
                    "currency must be a string of 3-12 characters of A-Z and 0-9");
    case F_LINKED:
    case F_PENDING:
        return fail(d, WS_INVALID_PARAMETER, "%s must be true or false", field_names[d->key]);
    case F_TIMEOUT:
        return fail(d, WS_INVALID_PARAMETER,
                    "timeoutSeconds must be a whole number from 1 to 4294967295 (a JSON integer "
                    "or a string of digits)");
    case F_POST:
    case F_VOID:
        return fail(d, WS_INVALID_PARAMETER,
                    "%s must be the transferID of a pending transfer: a string of 1-64 "
                    "characters of A-Z, a-z, 0-9, '.', '_' or '-'",
                    field_names[d->key]);
    case F_TRANSFERS:
        return fail(d, WS_INVALID_PARAMETER, "transfers must be an array of transfer objects");
    case F_NONE:
        break;
    }
    return fail(d, WS_INVALID_PARAMETER,
                d->batch ? "a transfer must be a JSON object" : "the body must be a JSON object");
}

static bool amount_field(field f) {
    return f == F_AMOUNT || f == F_START_AMOUNT || f == F_OVERDRAFT || f == F_MAX_BALANCE ||
           f == F_TIMEOUT;
}

static int set_amount(dec *d, const char *s, size_t n) {
    if (d->key == F_TIMEOUT) {
        uint64_t t;
        if (ws_parse_amount(s, n, 1, UINT32_MAX, &t) != WS_OK) {
            return wrong_type(d);
        }
        d->cur->timeout_s = (uint32_t)t;
        d->key = F_NONE;
        return 1;
    }
    uint64_t min = d->key == F_AMOUNT ? 1 : 0;
    uint64_t *dst = d->key == F_OVERDRAFT     ? &d->cur->overdraft
                    : d->key == F_MAX_BALANCE ? &d->cur->max_balance
                                              : &d->cur->amount;
    if (ws_parse_amount(s, n, min, WS_AMOUNT_MAX, dst) != WS_OK) {
        return wrong_type(d);
    }
    d->cur->has_max_balance |= d->key == F_MAX_BALANCE;
    d->key = F_NONE;
    return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t n) {
    dec *d = ctx;
    ws_command *c = d->cur;
    char *dst = NULL;
    uint8_t *dst_len = NULL;
    switch (d->key) {
    case F_AMOUNT:
    case F_START_AMOUNT:
    case F_OVERDRAFT:
    case F_MAX_BALANCE:
    case F_TIMEOUT:
        return set_amount(d, (const char *)s, n);
    case F_CURRENCY:
        if (!ws_currency_valid((const char *)s, n)) {
            return wrong_type(d);
        }
        memcpy(c->currency, s, n);
        c->currency_len = (uint8_t)n;
        d->key = F_NONE;
        return 1;
    case F_TRANSFER_ID:
        dst = c->transfer_id;
        dst_len = &c->transfer_id_len;
        c->transfer_id_given = true;
        break;
    case F_FROM:
    case F_ACCOUNT_ID:
        dst = c->account;
        dst_len = &c->account_len;
        break;
    case F_TO:
        dst = c->to;
        dst_len = &c->to_len;
        break;
    case F_POST:
    case F_VOID:
        dst = c->pending;
        dst_len = &c->pending_len;
        c->step = d->key == F_POST ? WS_STEP_POST : WS_STEP_VOID;
        break;
    default:
        return wrong_type(d);
    }
    /* A NUL byte (\u0000) or any other byte outside the ID alphabet is refused here. */
    if (!ws_id_valid((const char *)s, n)) {
        return wrong_type(d);
    }
    memcpy(dst, s, n);
    *dst_len = (uint8_t)n;
    d->key = F_NONE;
    return 1;
}

static int on_number(void *ctx, const char *s, size_t n) {
    dec *d = ctx;
    if (!amount_field(d->key)) {
        return wrong_type(d);
    }
    return set_amount(d, s, n); /* the raw digits: "1.0", "-1" and "1e3" are refused */
}

static int on_boolean(void *ctx, int b) {
    dec *d = ctx;
    if (d->key == F_PENDING) {
        if (b && d->cur->step == WS_STEP_NONE) {
            d->cur->step = WS_STEP_PENDING;
        }
        d->key = F_NONE;
        return 1;
    }
    if (d->key != F_LINKED) {
        return wrong_type(d);
    }
    d->cur->linked = b != 0;
    d->key = F_NONE;
    return 1;
}

static int on_null(void *ctx) { return wrong_type(ctx); }

static int on_start_map(void *ctx) {
    dec *d = ctx;
    d->depth++;
    if (d->depth == 1) {
        d->top_object = true;
        return 1; /* the top level; its first key decides the form */
    }
    if (d->batch && d->transfers_open && d->depth == 3 && !d->cur) {
        if (d->n == WS_GROUP_MAX) {
            d->cur = &d->out[0]; /* for the index in the message */
            d->n = WS_GROUP_MAX;
            return fail(d, WS_TOO_MANY_TRANSFERS, "a batch holds at most %d transfers",
                        WS_GROUP_MAX);
        }
        begin_item(d);
        return 1;
    }
    return wrong_type(d);
}

static int on_end_map(void *ctx) {
    dec *d = ctx;
    d->depth--;
    if (d->cur && (d->depth == 0 || (d->batch && d->depth == 2))) {
        return end_item(d);
    }
    return 1;
}

static int on_start_array(void *ctx) {
    dec *d = ctx;
    d->depth++;
    if (d->batch && d->key == F_TRANSFERS && d->depth == 2) {
        d->transfers_open = true;
        d->key = F_NONE;
        return 1;
    }
    return wrong_type(d);
}

static int on_end_array(void *ctx) {
    dec *d = ctx;
    d->depth--;
    if (d->batch && d->depth == 1) {
        d->transfers_open = false;
    }
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

/* Whether s[0..n) is strict UTF-8 (RFC 3629): no overlong form, no surrogate, nothing past
 * U+10FFFF, no stray or missing continuation byte. */
static bool utf8_strict(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2, cp = c & 0x1fu, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, cp = c & 0x0fu, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, cp = c & 0x07u, min = 0x10000;
        } else {
            return false; /* a continuation byte, C0, C1 or F5..FF first */
        }
        if (n - i < len) {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += len;
    }
    return true;
}

static int strict_string(void *ctx, const unsigned char *s, size_t n) {
    *(bool *)ctx = utf8_strict(s, n);
    return *(bool *)ctx;
}

/* The syntax-only parse: NULL if body is JSON with strict UTF-8, else why not, in out. */
static const char *not_json(const char *body, size_t len, char *out, size_t size) {
    static const yajl_callbacks strict = {.yajl_string = strict_string,
                                          .yajl_map_key = strict_string};
    bool utf8_ok = true;
    yajl_handle h = yajl_alloc(&strict, NULL, &utf8_ok);
    WS_ASSERT(h != NULL);
    yajl_status ys = yajl_parse(h, (const unsigned char *)body, len);
    if (ys == yajl_status_ok) {
        ys = yajl_complete_parse(h);
    }
    const char *verdict = NULL;
    if (!utf8_ok) {
        verdict = "invalid UTF-8 in a string";
    } else if (ys != yajl_status_ok) {
        /* yajl's own words, without the excerpt of the body it would add */
        unsigned char *why = yajl_get_error(h, 0, (const unsigned char *)body, len);
        snprintf(out, size, "%s", why ? (const char *)why : "a syntax error");
        yajl_free_error(h, why);
        out[strcspn(out, "\n")] = '\0';
        verdict = out;
    }
    yajl_free(h);
    return verdict;
}

static ws_status run(dec *d, const char *body, size_t len) {
    d->err->status = WS_OK;
    d->err->index = -1;
    d->err->message[0] = '\0';
    if (len == 0) {
        d->cur = NULL;
        fail(d, WS_INVALID_JSON, "the body is empty: send a JSON object");
        return d->err->status;
    }
    yajl_handle h = yajl_alloc(&callbacks, NULL, d);
    WS_ASSERT(h != NULL);
    yajl_status ys = yajl_parse(h, (const unsigned char *)body, len);
    if (ys == yajl_status_ok) {
        ys = yajl_complete_parse(h);
    }
    yajl_free(h);
    char text[120];
    const char *why;
    if ((ys != yajl_status_ok || d->err->status != WS_OK) &&
        (why = not_json(body, len, text, sizeof(text))) != NULL) {
        d->err->status = WS_OK; /* "not JSON" replaces whatever the shape check found */
        d->cur = NULL;          /* the fault is the body's, not a transfer's */
        fail(d, WS_INVALID_JSON, "the body is not valid JSON: %s", why);
        return d->err->status;
    }
    WS_ASSERT(ys == yajl_status_ok || d->err->status != WS_OK);
    if (d->err->status == WS_OK && !d->form_set) {
        /* {}: an item without a field, which end_item refuses for the first one missing */
        WS_ASSERT(d->top_object);
        begin_item(d);
        end_item(d);
    }
    return d->err->status;
}

/* The second use of a transferID in a batch: the least index that repeats an earlier one.
 * Sorting, not hashing: the IDs are the client's, and a sort cannot be made slow. */
static int by_id_then_index(const void *pa, const void *pb, void *ctx) {
    const ws_command *base = ctx;
    uint16_t ia = *(const uint16_t *)pa;
    uint16_t ib = *(const uint16_t *)pb;
    const ws_command *a = &base[ia];
    const ws_command *b = &base[ib];
    if (a->transfer_id_len != b->transfer_id_len) {
        return a->transfer_id_len < b->transfer_id_len ? -1 : 1;
    }
    int c = memcmp(a->transfer_id, b->transfer_id, a->transfer_id_len);
    return c != 0 ? c : ia < ib ? -1 : 1;
}

static long first_duplicate(ws_command *out, size_t n) {
    uint16_t order[WS_GROUP_MAX];
    for (size_t i = 0; i < n; i++) {
        order[i] = (uint16_t)i;
    }
    qsort_r(order, n, sizeof(order[0]), by_id_then_index, out);
    long dup = -1;
    for (size_t i = 1; i < n; i++) {
        const ws_command *a = &out[order[i - 1]];
        const ws_command *b = &out[order[i]];
        if (a->transfer_id_len == b->transfer_id_len &&
            memcmp(a->transfer_id, b->transfer_id, a->transfer_id_len) == 0 &&
            (dup < 0 || order[i] < dup)) {
            dup = order[i];
        }
    }
    return dup;
}

ws_status ws_decode_transfers(const char *body, size_t len, ws_command *out, size_t *n, bool *batch,
                              ws_decode_error *err) {
    dec d = {.out = out, .err = err};
    *n = 0;
    ws_status s = run(&d, body, len);
    *batch = d.batch;
    if (s == WS_OK && d.batch && d.n == 0) {
        d.cur = NULL;
        fail(&d, WS_TOO_MANY_TRANSFERS, "the batch holds no transfer: send 1 to %d", WS_GROUP_MAX);
        return err->status;
    }
    if (s == WS_OK && d.batch) {
        long dup = first_duplicate(out, d.n);
        if (dup >= 0) {
            err->status = WS_DUPLICATE_TRANSFER_ID;
            err->index = dup;
            snprintf(err->message, sizeof(err->message),
                     "transfers[%ld]: transferID '%.*s' is given twice in this batch", dup,
                     (int)out[dup].transfer_id_len, out[dup].transfer_id);
            return err->status;
        }
    }
    if (s == WS_OK) {
        *n = d.n;
    }
    return s;
}

ws_status ws_decode_account(const char *body, size_t len, ws_command *out, ws_decode_error *err) {
    dec d = {.accounts = true, .out = out, .err = err};
    return run(&d, body, len);
}
