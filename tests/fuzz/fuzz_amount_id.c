/* libFuzzer harness for ws_parse_amount and ws_id_valid, each checked against a small
 * reference: an amount is accepted exactly when the input is one or more ASCII digits whose
 * value (compared as a digit string, so no arithmetic can overflow) is at most 2^63-1, and a
 * parsed amount prints back as the input without its leading zeros. An ID is valid exactly
 * when it is 1..64 bytes, each one of [A-Za-z0-9._-]. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "fuzz.h"

static const char AMOUNT_MAX_DIGITS[] = "9223372036854775807";

/* The canonical digits of s (leading zeros dropped, "0" for zero), or NULL if s is not an
 * acceptable amount. */
static const char *ref_amount(const uint8_t *s, size_t len, char *out) {
    if (len == 0) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return NULL;
        }
    }
    size_t z = 0;
    while (z + 1 < len && s[z] == '0') {
        z++;
    }
    size_t n = len - z;
    size_t max_n = sizeof(AMOUNT_MAX_DIGITS) - 1;
    if (n > max_n || (n == max_n && memcmp(s + z, AMOUNT_MAX_DIGITS, n) > 0)) {
        return NULL;
    }
    memcpy(out, s + z, n);
    out[n] = '\0';
    return out;
}

static bool ref_id_valid(const uint8_t *s, size_t len) {
    static const char allowed[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    if (len < 1 || len > 64) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0' || strchr(allowed, s[i]) == NULL) {
            return false;
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A private copy of exactly size bytes, so ASan catches a read past the end. */
    char *s = malloc(size ? size : 1);
    REQUIRE(s != NULL);
    memcpy(s, data, size);

    char canon[32];
    const char *want = ref_amount(data, size, canon);
    uint64_t v = 0;
    ws_status st = ws_parse_amount(s, size, 0, WS_AMOUNT_MAX, &v);
    REQUIRE((st == WS_OK) == (want != NULL));
    if (st == WS_OK) {
        REQUIRE(v <= WS_AMOUNT_MAX);
        char printed[32];
        snprintf(printed, sizeof(printed), "%" PRIu64, v);
        REQUIRE(strcmp(printed, want) == 0);
        /* The bounds are honoured on both sides. */
        uint64_t w = 0;
        REQUIRE((ws_parse_amount(s, size, 1, WS_AMOUNT_MAX, &w) == WS_OK) == (v >= 1));
        REQUIRE((ws_parse_amount(s, size, 0, v, &w) == WS_OK) && w == v);
        if (v > 0) {
            REQUIRE(ws_parse_amount(s, size, 0, v - 1, &w) == WS_INVALID_PARAMETER);
        }
    } else {
        REQUIRE(st == WS_INVALID_PARAMETER);
    }

    REQUIRE(ws_id_valid(s, size) == ref_id_valid(data, size));
    free(s);
    return 0;
}
