/* Unit tests of src/http/json's writers: numbers by their own digit loop (every power of ten
 * and its neighbours, the extremes, against snprintf), strings copied in runs with every byte
 * value escaped as the format asks, in every position. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http/json.h"

static char out[1024];

static json_buf buf(void) { return (json_buf){out, sizeof(out), 0}; }

static void u64_is(uint64_t v) {
    json_buf j = buf();
    json_u64(&j, v);
    char want[32];
    int n = snprintf(want, sizeof(want), "%" PRIu64, v);
    cr_assert_eq(j.len, (size_t)n, "%s", want);
    cr_assert_eq(memcmp(out, want, j.len), 0, "%s: %.*s", want, (int)j.len, out);
}

static void i64_is(int64_t v) {
    json_buf j = buf();
    json_i64(&j, v);
    char want[32];
    int n = snprintf(want, sizeof(want), "%" PRId64, v);
    cr_assert_eq(j.len, (size_t)n, "%s", want);
    cr_assert_eq(memcmp(out, want, j.len), 0, "%s: %.*s", want, (int)j.len, out);
}

Test(json, numbers_around_every_power_of_ten_and_the_extremes) {
    uint64_t p = 1;
    for (int i = 0; i < 20; i++, p *= 10) {
        for (uint64_t d = 0; d < 3; d++) {
            u64_is(p - 1 + d);
            i64_is((int64_t)(p - 1 + d));
            i64_is(-(int64_t)(p - 1 + d));
        }
        if (i == 19) {
            break;
        }
    }
    u64_is(0);
    u64_is(UINT64_MAX);
    u64_is(UINT64_MAX - 1);
    i64_is(INT64_MAX);
    i64_is(INT64_MIN);
    i64_is(INT64_MIN + 1);
    i64_is(-1);
}

/* What json_str must write for byte c. */
static size_t escaped(unsigned char c, char *w) {
    if (c == '"' || c == '\\') {
        return (size_t)sprintf(w, "\\%c", c);
    }
    if (c < 0x20 || c >= 0x7f) {
        return (size_t)sprintf(w, "\\u%04x", c);
    }
    w[0] = (char)c;
    return 1;
}

Test(json, strings_every_byte_in_every_position) {
    char s[8];
    for (size_t len = 1; len <= sizeof(s); len++) {
        for (size_t at = 0; at < len; at++) {
            for (int b = 0; b <= 0xFF; b++) {
                memset(s, 'a', sizeof(s));
                s[at] = (char)b;
                if (len > 2 && at != 0) {
                    s[0] = '"'; /* a second escape in the same string */
                }
                char want[128];
                size_t n = 0;
                want[n++] = '"';
                for (size_t i = 0; i < len; i++) {
                    n += escaped((unsigned char)s[i], want + n);
                }
                want[n++] = '"';
                json_buf j = buf();
                json_str(&j, s, len);
                cr_assert_eq(j.len, n, "byte 0x%02x at %zu of %zu", b, at, len);
                cr_assert_eq(memcmp(out, want, n), 0, "byte 0x%02x at %zu of %zu: %.*s", b, at, len,
                             (int)j.len, out);
            }
        }
    }
}

Test(json, empty_string_and_plain_id) {
    json_buf j = buf();
    json_str(&j, "", 0);
    json_str(&j, "acc-1.B_z", 9);
    cr_assert_eq(j.len, 13);
    cr_assert_eq(memcmp(out, "\"\"\"acc-1.B_z\"", 13), 0);
}
