/* libFuzzer harness for the JSON request decoder (ws_decode_transfers, ws_decode_account).
 * Properties: a refusal has one of the documented statuses, a message, and an index inside
 * the batch (or -1); an accepted body decodes into commands whose every field is valid, and
 * a reference check: the commands encoded again as JSON (by a plain writer here) decode to
 * exactly the same commands. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/request.h"
#include "fuzz.h"

static ws_command first[WS_GROUP_MAX];
static ws_command again[WS_GROUP_MAX];
static char json[WS_GROUP_MAX * 320 + 64];

static bool documented(ws_status s) {
    return s == WS_INVALID_JSON || s == WS_INVALID_PARAMETER || s == WS_MISSING_PARAMETER ||
           s == WS_TOO_MANY_TRANSFERS || s == WS_DUPLICATE_TRANSFER_ID;
}

static size_t put_id(char *p, const char *name, const char *id, uint8_t len, bool comma) {
    return (size_t)sprintf(p, "%s\"%s\":\"%.*s\"", comma ? "," : "", name, (int)len, id);
}

/* The commands as a body the decoder must read back the same: amounts alternate between
 * integers and strings, so both forms are exercised. */
static size_t encode(const ws_command *c, size_t n, bool batch) {
    size_t at = 0;
    if (batch) {
        at += (size_t)sprintf(json, "{\"transfers\":[");
    }
    for (size_t i = 0; i < n; i++) {
        at += (size_t)sprintf(json + at, "%s{", i ? "," : "");
        bool comma = false;
        if (c[i].transfer_id_given) {
            at += put_id(json + at, "transferID", c[i].transfer_id, c[i].transfer_id_len, false);
            comma = true;
        }
        at += put_id(json + at, "fromAccount", c[i].account, c[i].account_len, comma);
        at += put_id(json + at, "toAccount", c[i].to, c[i].to_len, true);
        at += (size_t)sprintf(json + at, i % 2 ? ",\"amount\":\"%llu\"" : ",\"amount\":%llu",
                              (unsigned long long)c[i].amount);
        at += (size_t)sprintf(json + at, ",\"linked\":%s}", c[i].linked ? "true" : "false");
    }
    if (batch) {
        at += (size_t)sprintf(json + at, "]}");
    }
    return at;
}

static bool same(const ws_command *a, const ws_command *b) {
    return a->kind == b->kind && a->amount == b->amount && a->linked == b->linked &&
           a->transfer_id_given == b->transfer_id_given && a->account_len == b->account_len &&
           a->to_len == b->to_len && a->transfer_id_len == b->transfer_id_len &&
           memcmp(a->account, b->account, a->account_len) == 0 &&
           memcmp(a->to, b->to, a->to_len) == 0 &&
           memcmp(a->transfer_id, b->transfer_id, a->transfer_id_len) == 0;
}

static void check_transfers(const char *body, size_t size) {
    size_t n;
    bool batch;
    ws_decode_error err;
    ws_status s = ws_decode_transfers(body, size, first, &n, &batch, &err);
    if (s != WS_OK) {
        REQUIRE(documented(s) && err.status == s && err.message[0] != '\0');
        REQUIRE(err.index >= -1 && err.index <= WS_GROUP_MAX);
        return;
    }
    REQUIRE(n >= 1 && n <= WS_GROUP_MAX && (batch || n == 1));
    for (size_t i = 0; i < n; i++) {
        const ws_command *c = &first[i];
        REQUIRE(c->kind == WS_CMD_TRANSFER && c->amount >= 1 && c->amount <= WS_AMOUNT_MAX);
        REQUIRE(ws_id_valid(c->account, c->account_len) && ws_id_valid(c->to, c->to_len));
        REQUIRE(c->transfer_id_given == (c->transfer_id_len > 0));
        REQUIRE(!batch || c->transfer_id_given);
        REQUIRE(!c->transfer_id_given || ws_id_valid(c->transfer_id, c->transfer_id_len));
    }
    size_t len = encode(first, n, batch);
    size_t n2;
    bool batch2;
    REQUIRE(ws_decode_transfers(json, len, again, &n2, &batch2, &err) == WS_OK);
    REQUIRE(n2 == n && batch2 == batch);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(same(&first[i], &again[i]));
    }
}

static void check_account(const char *body, size_t size) {
    ws_command c;
    ws_decode_error err;
    ws_status s = ws_decode_account(body, size, &c, &err);
    if (s != WS_OK) {
        REQUIRE(documented(s) && err.message[0] != '\0' && err.index == -1);
        return;
    }
    REQUIRE(c.kind == WS_CMD_CREATE_ACCOUNT && c.amount <= WS_AMOUNT_MAX);
    REQUIRE(c.account_len == 0 || ws_id_valid(c.account, c.account_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy, so that ASan sees any read past the end. */
    char *body = malloc(size ? size : 1);
    REQUIRE(body != NULL);
    memcpy(body, data, size);
    check_transfers(body, size);
    check_account(body, size);
    free(body);
    return 0;
}
