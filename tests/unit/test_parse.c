/* Unit tests for core/parse: amounts, RFC 3339 times, IDs and query strings. These parsers
 * are the first thing untrusted input meets, so the tests walk the edges: numeric bounds,
 * every day of the calendar, every byte class an ID may or may not hold, and every malformed
 * shape a time or a query string can take. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"

/* Parses a NUL-terminated literal with the full amount range. */
static ws_status amount(const char *s, uint64_t *out) {
    return ws_parse_amount(s, strlen(s), 0, WS_AMOUNT_MAX, out);
}

static void assert_amount(const char *s, uint64_t want) {
    uint64_t v = 12345;
    cr_assert_eq(amount(s, &v), WS_OK, "\"%s\" should parse", s);
    cr_assert_eq(v, want, "\"%s\" parsed as %llu", s, (unsigned long long)v);
}

static void assert_amount_rejected(const char *s, size_t len) {
    uint64_t v = 12345;
    cr_assert_eq(ws_parse_amount(s, len, 0, WS_AMOUNT_MAX, &v), WS_INVALID_PARAMETER,
                 "\"%.*s\" should be rejected", (int)len, s);
    cr_assert_eq(v, 12345, "a rejected parse must not write *out");
}

/* A syntax error must be refused on its own, not only because its value falls out of range,
 * so these are also tried with the widest range [0, UINT64_MAX]. */
static void assert_syntax_rejected(const char *s, size_t len) {
    assert_amount_rejected(s, len);
    uint64_t v = 12345;
    cr_assert_eq(ws_parse_amount(s, len, 0, UINT64_MAX, &v), WS_INVALID_PARAMETER,
                 "\"%.*s\" should be rejected for any range", (int)len, s);
    cr_assert_eq(v, 12345);
}

Test(parse_amount, valid_values) {
    assert_amount("0", 0);
    assert_amount("1", 1);
    assert_amount("7", 7);
    assert_amount("42", 42);
    assert_amount("1000000", 1000000);
    assert_amount("123456789012345678", 123456789012345678u);
}

Test(parse_amount, leading_zeros) {
    assert_amount("007", 7);
    assert_amount("00", 0);
    assert_amount("0000000001", 1);
    /* 20 digits, value within range. */
    assert_amount("00000000000000000001", 1);
    assert_amount("09223372036854775807", WS_AMOUNT_MAX);
    /* More than 20 digits: still an exact, in-range number. */
    assert_amount("000000000000000000001", 1);
    assert_amount("0000000000000000000000000000009223372036854775807", WS_AMOUNT_MAX);
}

Test(parse_amount, min_max_bounds) {
    uint64_t v = 0;
    cr_assert_eq(ws_parse_amount("1", 1, 1, 10, &v), WS_OK);
    cr_assert_eq(v, 1);
    cr_assert_eq(ws_parse_amount("10", 2, 1, 10, &v), WS_OK);
    cr_assert_eq(v, 10);
    v = 99;
    cr_assert_eq(ws_parse_amount("0", 1, 1, 10, &v), WS_INVALID_PARAMETER);
    cr_assert_eq(ws_parse_amount("11", 2, 1, 10, &v), WS_INVALID_PARAMETER);
    cr_assert_eq(v, 99);
    cr_assert_eq(ws_parse_amount("0", 1, 0, 0, &v), WS_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(ws_parse_amount("1", 1, 0, 0, &v), WS_INVALID_PARAMETER);
    cr_assert_eq(ws_parse_amount("5", 1, 5, 5, &v), WS_OK);
    cr_assert_eq(v, 5);
}

Test(parse_amount, max_is_2_pow_63_minus_1) {
    assert_amount("9223372036854775807", 9223372036854775807u);
    assert_amount("9223372036854775806", 9223372036854775806u);
    assert_amount_rejected("9223372036854775808", 19);
    assert_amount_rejected("9999999999999999999", 19);
}

Test(parse_amount, twenty_and_twenty_one_digits) {
    assert_amount_rejected("10000000000000000000", 20);
    assert_amount_rejected("99999999999999999999", 20);
    assert_amount_rejected("100000000000000000000", 21);
    assert_amount_rejected("999999999999999999999", 21);
    assert_amount_rejected("184467440737095516150", 21);
}

Test(parse_amount, u64_overflow) {
    /* UINT64_MAX fits u64 but exceeds WS_AMOUNT_MAX; one more wraps u64 itself. */
    assert_amount_rejected("18446744073709551615", 20);
    assert_amount_rejected("18446744073709551616", 20);
    assert_amount_rejected("18446744073709551620", 20);
    /* Even with a max of UINT64_MAX, the wrap-around must be caught, not taken modulo 2^64. */
    uint64_t v = 7;
    cr_assert_eq(ws_parse_amount("18446744073709551615", 20, 0, UINT64_MAX, &v), WS_OK);
    cr_assert_eq(v, UINT64_MAX);
    v = 7;
    cr_assert_eq(ws_parse_amount("18446744073709551616", 20, 0, UINT64_MAX, &v),
                 WS_INVALID_PARAMETER);
    cr_assert_eq(ws_parse_amount("36893488147419103232", 20, 0, UINT64_MAX, &v),
                 WS_INVALID_PARAMETER);
    cr_assert_eq(ws_parse_amount("100000000000000000000", 21, 0, UINT64_MAX, &v),
                 WS_INVALID_PARAMETER);
    cr_assert_eq(v, 7);
}

Test(parse_amount, empty) {
    assert_syntax_rejected("", 0);
    assert_syntax_rejected("5", 0);
}

Test(parse_amount, signs_spaces_and_other_notations) {
    const char *bad[] = {"+5",    "-5",    "-0", " 5",  "5 ",      "5\t",  "\n5",
                         "1.5",   "1.",    ".5", "1e3", "1E3",     "0x10", "0X10",
                         "1_000", "1,000", "a",  "5a",  "\xd9\xa3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_syntax_rejected(bad[i], strlen(bad[i]));
    }
}

Test(parse_amount, embedded_nul) {
    assert_syntax_rejected("1\0002", 3);
    assert_syntax_rejected("\0001", 2);
    assert_syntax_rejected("1\000", 2);
    /* The explicit length is honoured: only "12" is read from "123". */
    uint64_t v = 0;
    cr_assert_eq(ws_parse_amount("123", 2, 0, WS_AMOUNT_MAX, &v), WS_OK);
    cr_assert_eq(v, 12);
}

Test(parse_amount, non_ascii_bytes) {
    char s[3] = {'1', 0, '2'};
    for (int b = 0x80; b <= 0xFF; b++) {
        s[1] = (char)b;
        assert_syntax_rejected(s, 3);
    }
    /* Bytes just outside '0'..'9'. */
    assert_syntax_rejected("/", 1);
    assert_syntax_rejected(":", 1);
}

Test(parse_amount, every_byte) {
    /* Only '0'..'9' are digits, in any position of a string. */
    for (int b = 0; b <= 0xFF; b++) {
        char s[3] = {'1', (char)b, '1'};
        uint64_t v = 0;
        bool digit = b >= '0' && b <= '9';
        ws_status want = digit ? WS_OK : WS_INVALID_PARAMETER;
        cr_assert_eq(ws_parse_amount(s, 3, 0, UINT64_MAX, &v), want, "byte 0x%02x", b);
        if (digit) {
            cr_assert_eq(v, 101u + 10u * (unsigned)(b - '0'));
        }
        cr_assert_eq(ws_parse_amount(s + 1, 1, 0, UINT64_MAX, &v), want, "byte 0x%02x", b);
    }
}

static bool id_ok(const char *s) { return ws_id_valid(s, strlen(s)); }

Test(id_valid, lengths) {
    char s[WS_ID_LEN_MAX + 2];
    memset(s, 'a', sizeof(s));
    cr_assert(ws_id_valid(s, 1));
    cr_assert(ws_id_valid(s, WS_ID_LEN_MAX));
    cr_assert_not(ws_id_valid(s, 0));
    cr_assert_not(ws_id_valid(s, WS_ID_LEN_MAX + 1));
    cr_assert_eq(WS_ID_LEN_MAX, 64);
}

Test(id_valid, each_allowed_class) {
    cr_assert(id_ok("abcdefghijklmnopqrstuvwxyz"));
    cr_assert(id_ok("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
    cr_assert(id_ok("0123456789"));
    cr_assert(id_ok("."));
    cr_assert(id_ok("_"));
    cr_assert(id_ok("-"));
    cr_assert(id_ok("Alice.Smith_01-x"));
}

Test(id_valid, every_byte) {
    /* Exactly 26 + 26 + 10 + 3 byte values are allowed, in any position. */
    int allowed = 0;
    for (int b = 0; b <= 0xFF; b++) {
        char s[3] = {'a', (char)b, 'a'};
        bool want = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
                    b == '.' || b == '_' || b == '-';
        cr_assert_eq(ws_id_valid(s, 3), want, "byte 0x%02x in the middle", b);
        cr_assert_eq(ws_id_valid(s + 1, 1), want, "byte 0x%02x alone", b);
        cr_assert_eq(ws_id_valid(s + 1, 2), want, "byte 0x%02x first", b);
        allowed += want;
    }
    cr_assert_eq(allowed, 65);
}

/* The check reads eight bytes at a time, four and four below eight, and byte by byte below
 * four: every byte value at every position of every length, the rest valid, against a
 * per-byte rule; and a string that is valid but for a byte past its end. */
Test(id_valid, every_byte_at_every_position_of_every_length) {
    char s[WS_ID_LEN_MAX + 1];
    for (size_t len = 1; len <= WS_ID_LEN_MAX; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int b = 0; b <= 0xFF; b++) {
                memset(s, 'Z', sizeof(s));
                s[at] = (char)b;
                bool want = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                            (b >= '0' && b <= '9') || b == '.' || b == '_' || b == '-';
                cr_assert_eq(ws_id_valid(s, len), want, "byte 0x%02x at %zu of %zu", b, at, len);
            }
        }
        memset(s, '9', sizeof(s));
        s[len] = ' ';
        cr_assert(ws_id_valid(s, len), "a bad byte just past %zu", len);
    }
}

Test(id_valid, rejected_bytes) {
    cr_assert_not(id_ok("a b"));
    cr_assert_not(id_ok(" a"));
    cr_assert_not(id_ok("a/b"));
    cr_assert_not(id_ok("a%20"));
    cr_assert_not(id_ok("a+b"));
    cr_assert_not(ws_id_valid("a\0b", 3));
    cr_assert_not(ws_id_valid("\0", 1));
    cr_assert_not(id_ok("caf\xc3\xa9"));
    cr_assert_not(id_ok("\x80"));
    cr_assert_not(id_ok("\xff"));
    cr_assert_not(id_ok("a\tb"));
    cr_assert_not(id_ok("a\nb"));
    cr_assert_not(id_ok("\x1f"));
    cr_assert_not(id_ok("\x7f"));
    /* The failing byte at the very end of a maximum-length ID. */
    char s[WS_ID_LEN_MAX];
    memset(s, 'z', sizeof(s));
    cr_assert(ws_id_valid(s, sizeof(s)));
    s[WS_ID_LEN_MAX - 1] = '/';
    cr_assert_not(ws_id_valid(s, sizeof(s)));
}

/* A parse of a NUL-terminated literal; buf must hold strlen(q) bytes. */
static ws_status query(const char *q, char *buf, ws_query *out) {
    return ws_query_parse(q, strlen(q), buf, out);
}

static void assert_param(const ws_query *q, const char *name, const char *value, size_t len) {
    const ws_query_param *p = ws_query_get(q, name);
    cr_assert_not_null(p, "parameter %s missing", name);
    cr_assert_eq(p->name_len, strlen(name));
    cr_assert_eq(memcmp(p->name, name, p->name_len), 0);
    cr_assert_eq(p->value_len, len, "%s: value_len %zu, want %zu", name, p->value_len, len);
    cr_assert_eq(memcmp(p->value, value, len), 0, "%s: wrong value", name);
}

static void assert_rejected(const char *q, size_t len) {
    char buf[WS_QUERY_LEN_MAX + 16];
    ws_query out;
    cr_assert_eq(ws_query_parse(q, len, buf, &out), WS_INVALID_PARAMETER, "\"%.*s\" accepted",
                 (int)len, q);
    cr_assert_not_null(out.why);
    cr_assert_gt(strlen(out.why), 0);
}

Test(query, simple) {
    char buf[64];
    ws_query q;
    cr_assert_eq(query("from=alice&to=bob&amount=100", buf, &q), WS_OK);
    cr_assert_eq(q.count, 3);
    assert_param(&q, "from", "alice", 5);
    assert_param(&q, "to", "bob", 3);
    assert_param(&q, "amount", "100", 3);
    /* Order is preserved. */
    cr_assert_eq(q.params[0].name_len, 4);
    cr_assert_eq(memcmp(q.params[2].name, "amount", 6), 0);
    cr_assert_null(ws_query_get(&q, "missing"));
    cr_assert_null(ws_query_get(&q, "fro"));
    cr_assert_null(ws_query_get(&q, "fromx"));
    cr_assert_null(ws_query_get(&q, "From"));
}

Test(query, empty_string) {
    char buf[1];
    ws_query q;
    cr_assert_eq(ws_query_parse("", 0, buf, &q), WS_OK);
    cr_assert_eq(q.count, 0);
    cr_assert_null(ws_query_get(&q, "a"));
}

Test(query, percent_decoding) {
    char buf[64];
    ws_query q;
    cr_assert_eq(query("x=%41&y=a%2db&%7a=%2D%2d", buf, &q), WS_OK);
    cr_assert_eq(q.count, 3);
    assert_param(&q, "x", "A", 1);
    assert_param(&q, "y", "a-b", 3);
    assert_param(&q, "z", "--", 2);
    cr_assert_eq(query("v=%e2%82%AC%20", buf, &q), WS_OK);
    assert_param(&q, "v", "\xe2\x82\xac ", 4);
}

Test(query, plus_is_literal) {
    char buf[64];
    ws_query q;
    cr_assert_eq(query("a=1+2&b+c=%2B", buf, &q), WS_OK);
    assert_param(&q, "a", "1+2", 3);
    assert_param(&q, "b+c", "+", 1);
    cr_assert_null(ws_query_get(&q, "b c"));
}

Test(query, truncated_and_bad_escapes) {
    const char *bad[] = {"a=%", "a=%4", "a=1%",  "a=12%4",  "a=%zz",  "a=%4z",  "a=%z4", "a=%g0",
                         "%=1", "%4=1", "%zz=1", "b=1&a=%", "a=% 41", "a=%%41", "a=%-1", "a=%+1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_rejected(bad[i], strlen(bad[i]));
    }
    /* The escape is judged by the length passed in, not by what follows in memory. */
    assert_rejected("a=%41", 4);
    char buf[16];
    ws_query q;
    cr_assert_eq(ws_query_parse("a=%41", 5, buf, &q), WS_OK);
    assert_param(&q, "a", "A", 1);
}

Test(query, bad_escape_in_value_names_the_param) {
    char buf[64];
    ws_query q;
    cr_assert_eq(query("amount=%zz", buf, &q), WS_INVALID_PARAMETER);
    cr_assert_eq(q.bad_name_len, 6);
    cr_assert_eq(memcmp(q.bad_name, "amount", 6), 0);
}

Test(query, percent_00_is_a_nul_byte) {
    char buf[64];
    ws_query q;
    cr_assert_eq(query("a=x%00y&b=%00", buf, &q), WS_OK);
    assert_param(&q, "a", "x\0y", 3);
    assert_param(&q, "b", "\0", 1);
}

Test(query, duplicate_names) {
    char buf[64];
    ws_query q;
    cr_assert_eq(query("from=a&to=b&from=c", buf, &q), WS_INVALID_PARAMETER);
    cr_assert_eq(q.bad_name_len, 4);
    cr_assert_eq(memcmp(q.bad_name, "from", 4), 0);
    cr_assert_not_null(q.why);

    cr_assert_eq(query("a=1&%61=2", buf, &q), WS_INVALID_PARAMETER);
    cr_assert_eq(q.bad_name_len, 1);
    cr_assert_eq(q.bad_name[0], 'a');

    /* Same value twice is still a duplicate name. */
    cr_assert_eq(query("a=1&a=1", buf, &q), WS_INVALID_PARAMETER);
    /* Names that differ only by case or length are distinct. */
    cr_assert_eq(query("a=1&A=2&aa=3", buf, &q), WS_OK);
    cr_assert_eq(q.count, 3);
    assert_param(&q, "a", "1", 1);
    assert_param(&q, "A", "2", 1);
    assert_param(&q, "aa", "3", 1);
}

Test(query, piece_without_equals) {
    char buf[64];
    ws_query q;
    cr_assert_eq(query("a=1&flag", buf, &q), WS_INVALID_PARAMETER);
    cr_assert_eq(q.bad_name_len, 4);
    cr_assert_eq(memcmp(q.bad_name, "flag", 4), 0);
    assert_rejected("flag", 4);
    assert_rejected("flag&a=1", 8);
}

Test(query, empty_name) {
    assert_rejected("=5", 2);
    assert_rejected("=", 1);
    assert_rejected("a=1&=5", 6);
}

Test(query, empty_pieces_skipped) {
    char buf[64];
    ws_query q;
    cr_assert_eq(query("&&a=1&", buf, &q), WS_OK);
    cr_assert_eq(q.count, 1);
    assert_param(&q, "a", "1", 1);
    cr_assert_eq(query("&", buf, &q), WS_OK);
    cr_assert_eq(q.count, 0);
    cr_assert_eq(query("a=1&&&b=2", buf, &q), WS_OK);
    cr_assert_eq(q.count, 2);
    assert_param(&q, "b", "2", 1);
}

Test(query, empty_value) {
    char buf[64];
    ws_query q;
    cr_assert_eq(query("a=&b=2", buf, &q), WS_OK);
    cr_assert_eq(q.count, 2);
    assert_param(&q, "a", "", 0);
    assert_param(&q, "b", "2", 1);
    cr_assert_eq(query("a=", buf, &q), WS_OK);
    assert_param(&q, "a", "", 0);
}

Test(query, equals_in_value_is_kept) {
    char buf[64];
    ws_query q;
    cr_assert_eq(query("a=b=c", buf, &q), WS_OK);
    assert_param(&q, "a", "b=c", 3);
}

Test(query, param_count_limit) {
    char s[128];
    char buf[128];
    ws_query q;
    size_t n = 0;
    for (int i = 0; i < WS_QUERY_PARAMS_MAX; i++) {
        n += (size_t)snprintf(s + n, sizeof(s) - n, "%sp%d=%d", i ? "&" : "", i, i);
    }
    cr_assert_eq(ws_query_parse(s, n, buf, &q), WS_OK);
    cr_assert_eq(q.count, WS_QUERY_PARAMS_MAX);
    assert_param(&q, "p0", "0", 1);
    assert_param(&q, "p7", "7", 1);
    /* Empty pieces do not count towards the limit. */
    char s2[160];
    int n2 = snprintf(s2, sizeof(s2), "&&%s&&", s);
    cr_assert_eq(ws_query_parse(s2, (size_t)n2, buf, &q), WS_OK);
    cr_assert_eq(q.count, WS_QUERY_PARAMS_MAX);

    n += (size_t)snprintf(s + n, sizeof(s) - n, "&extra=1");
    cr_assert_eq(ws_query_parse(s, n, buf, &q), WS_INVALID_PARAMETER);
    cr_assert_not_null(q.why);
}

Test(query, length_limit) {
    static char s[WS_QUERY_LEN_MAX + 2];
    static char buf[WS_QUERY_LEN_MAX + 2];
    ws_query q;
    /* "a=" followed by a long value: exactly the limit is fine, one more byte is not. */
    memset(s, 'v', sizeof(s));
    s[0] = 'a';
    s[1] = '=';
    cr_assert_eq(ws_query_parse(s, WS_QUERY_LEN_MAX, buf, &q), WS_OK);
    cr_assert_eq(q.count, 1);
    cr_assert_eq(q.params[0].value_len, WS_QUERY_LEN_MAX - 2);
    cr_assert_eq(ws_query_parse(s, WS_QUERY_LEN_MAX + 1, buf, &q), WS_INVALID_PARAMETER);
    cr_assert_eq(q.bad_name_len, 0);
    cr_assert_not_null(q.why);
}

Test(query, decoded_output_fits_input_length) {
    /* The contract lets buf be exactly len bytes; a guard byte after it must survive. */
    const char *s = "%61=%62%63&d=%65";
    size_t len = strlen(s);
    char buf[64];
    memset(buf, '#', sizeof(buf));
    ws_query q;
    cr_assert_eq(ws_query_parse(s, len, buf, &q), WS_OK);
    cr_assert_eq(buf[len], '#');
    assert_param(&q, "a", "bc", 2);
    assert_param(&q, "d", "e", 1);
}

/* ---- RFC 3339 times ------------------------------------------------------------------------
 * The expected values were computed apart from the parser, with GNU date (date -u -d ...
 * +%s), and the calendar as a whole is checked by walking every day of years 0000..9999. */

#define SEC 1000000LL

static void assert_time(const char *s, int64_t want_us, bool want_exact) {
    int64_t us = 12345;
    bool exact = !want_exact;
    cr_assert_eq(ws_parse_time(s, strlen(s), &us, &exact), WS_OK, "\"%s\" should parse", s);
    cr_assert_eq(us, want_us, "\"%s\" parsed as %lld, want %lld", s, (long long)us,
                 (long long)want_us);
    cr_assert_eq(exact, want_exact, "\"%s\": exact %d", s, exact);
}

static void assert_time_rejected_len(const char *s, size_t len) {
    int64_t us = 12345;
    bool exact = false;
    cr_assert_eq(ws_parse_time(s, len, &us, &exact), WS_INVALID_PARAMETER,
                 "\"%.*s\" should be rejected", (int)len, s);
    cr_assert_eq(us, 12345, "a rejected time must not write *us");
}

static void assert_time_rejected(const char *s) { assert_time_rejected_len(s, strlen(s)); }

Test(parse_time, known_values) {
    assert_time("1970-01-01T00:00:00Z", 0, true);
    assert_time("2026-12-03T08:47:11.317574Z", 1796287631317574LL, true);
    assert_time("2026-12-03T08:47:11Z", 1796287631 * SEC, true);
    assert_time("2026-11-30T23:59:59Z", 1796083199 * SEC, true);
    assert_time("2026-12-01T00:00:00Z", 1796083200 * SEC, true);
    assert_time("1000-06-15T12:34:56Z", -30595922704LL * SEC, true);
    assert_time("1900-02-28T00:00:00Z", -2203977600LL * SEC, true);
    assert_time("1900-03-01T00:00:00Z", -2203891200LL * SEC, true);
    assert_time("2100-03-01T00:00:00Z", 4107542400LL * SEC, true);
}

Test(parse_time, before_the_epoch_is_negative) {
    assert_time("1969-12-31T23:59:59Z", -1 * SEC, true);
    assert_time("1969-12-31T23:59:59.5Z", -500000, true);
    assert_time("1969-12-31T23:59:59.999999Z", -1, true);
    /* rounded down, towards the past: -0.1 us is -1 us */
    assert_time("1969-12-31T23:59:59.9999999Z", -1, false);
    assert_time("1969-12-31T23:59:59.000000001Z", -1 * SEC, false);
}

Test(parse_time, lower_case_t_and_z) {
    const int64_t want = 1796287631317574LL;
    assert_time("2026-12-03t08:47:11.317574Z", want, true);
    assert_time("2026-12-03T08:47:11.317574z", want, true);
    assert_time("2026-12-03t08:47:11.317574z", want, true);
    assert_time("2026-12-03t08:47:11.317574+00:00", want, true);
}

Test(parse_time, offsets) {
    /* the header's own example: one hour east of UTC */
    assert_time("2026-12-01T00:59:59+01:00", 1796083199 * SEC, true);
    assert_time("2026-11-30T19:00:00-05:00", 1796083200 * SEC, true);
    assert_time("2026-12-03T14:17:11.317574+05:30", 1796287631317574LL, true);
    assert_time("2026-12-03T03:02:11.317574-05:45", 1796287631317574LL, true);
    assert_time("2026-12-03T08:47:11.317574+00:00", 1796287631317574LL, true);
    assert_time("2026-12-03T08:47:11.317574-00:00", 1796287631317574LL, true);
    /* the widest offsets */
    assert_time("2026-12-03T00:00:00+23:59", 1796169660 * SEC, true);
    assert_time("2026-12-03T00:00:00-23:59", 1796342340 * SEC, true);
    /* an offset that crosses the epoch */
    assert_time("1970-01-01T00:30:00+01:00", -1800 * SEC, true);
    assert_time("1969-12-31T23:30:00-01:00", 1800 * SEC, true);
}

Test(parse_time, fraction_of_one_to_nine_digits) {
    const int64_t base = 1796287631 * SEC; /* 2026-12-03T08:47:11Z */
    assert_time("2026-12-03T08:47:11.3Z", base + 300000, true);
    assert_time("2026-12-03T08:47:11.31Z", base + 310000, true);
    assert_time("2026-12-03T08:47:11.317Z", base + 317000, true);
    assert_time("2026-12-03T08:47:11.3175Z", base + 317500, true);
    assert_time("2026-12-03T08:47:11.31757Z", base + 317570, true);
    assert_time("2026-12-03T08:47:11.317574Z", base + 317574, true);
    assert_time("2026-12-03T08:47:11.3175749Z", base + 317574, false);
    assert_time("2026-12-03T08:47:11.31757499Z", base + 317574, false);
    assert_time("2026-12-03T08:47:11.317574999Z", base + 317574, false);
    assert_time("2026-12-03T08:47:11.0Z", base, true);
    assert_time("2026-12-03T08:47:11.000000Z", base, true);
    assert_time("2026-12-03T08:47:11.999999Z", base + 999999, true);
    assert_time("2026-12-03T08:47:11.999999999Z", base + 999999, false);
    /* a fraction before an offset */
    assert_time("2026-12-03T09:47:11.5+01:00", base + 500000, true);
}

/* exact is false only when a nonzero digit below the microsecond was dropped. */
Test(parse_time, exact_flag) {
    const int64_t base = 1796287631 * SEC;
    assert_time("2026-12-03T08:47:11.3175740Z", base + 317574, true);
    assert_time("2026-12-03T08:47:11.31757400Z", base + 317574, true);
    assert_time("2026-12-03T08:47:11.317574000Z", base + 317574, true);
    assert_time("2026-12-03T08:47:11.317574001Z", base + 317574, false);
    assert_time("2026-12-03T08:47:11.317574010Z", base + 317574, false);
    assert_time("2026-12-03T08:47:11.317574100Z", base + 317574, false);
    assert_time("2026-12-03T08:47:11.000000001Z", base, false);
    assert_time("2026-12-03T08:47:11.000000000Z", base, true);
    assert_time("2026-12-03T08:47:11Z", base, true);
}

Test(parse_time, leap_days) {
    assert_time("2024-02-29T00:00:00Z", 1709164800 * SEC, true);
    assert_time("2000-02-29T23:59:59Z", 951868799 * SEC, true);
    assert_time("1600-02-29T00:00:00Z", -11670998400LL * SEC, true);
    assert_time("2400-02-29T12:00:00Z", 13574606400LL * SEC, true);
    assert_time("0000-02-29T00:00:00Z", -62162121600LL * SEC, true); /* 0 is a leap year */
    assert_time("0000-03-01T00:00:00Z", -62162035200LL * SEC, true);
}

Test(parse_time, first_and_last_years) {
    assert_time("0000-01-01T00:00:00Z", -62167219200LL * SEC, true);
    assert_time("9999-12-31T00:00:00Z", 253402214400LL * SEC, true);
    assert_time("9999-12-31T23:59:59Z", 253402300799LL * SEC, true);
    assert_time("9999-12-31T23:59:59.999999Z", 253402300799LL * SEC + 999999, true);
}

/* Second 60 reads as the start of the next second, fraction and all. */
Test(parse_time, leap_second_is_the_next_seconds_start) {
    assert_time("2016-12-31T23:59:60Z", 1483228800 * SEC, true);
    assert_time("2016-12-31T23:59:60.25Z", 1483228800 * SEC + 250000, true);
    assert_time("2017-01-01T00:59:60+01:00", 1483228800 * SEC, true);
    int64_t leap = 0;
    int64_t next = 1;
    bool exact;
    cr_assert_eq(ws_parse_time("2016-12-31T23:59:60Z", 20, &leap, &exact), WS_OK);
    cr_assert_eq(ws_parse_time("2017-01-01T00:00:00Z", 20, &next, &exact), WS_OK);
    cr_assert_eq(leap, next);
}

/* Every day of years 0000..9999 at midnight is the day before's plus 86400 s, from the known
 * first day to the known last; and the day after each month's last is refused. */
Test(parse_time, every_day_of_the_calendar) {
    static const unsigned month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t want = -62167219200LL * SEC; /* 0000-01-01 */
    size_t days = 0;
    char s[32];
    for (unsigned y = 0; y <= 9999; y++) {
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (unsigned m = 1; m <= 12; m++) {
            unsigned last = month_days[m - 1] + (m == 2 && leap);
            for (unsigned d = 1; d <= last; d++) {
                snprintf(s, sizeof(s), "%04u-%02u-%02uT00:00:00Z", y, m, d);
                int64_t us = 0;
                bool exact = false;
                cr_assert_eq(ws_parse_time(s, 20, &us, &exact), WS_OK, "%s", s);
                cr_assert_eq(us, want, "%s: %lld, want %lld", s, (long long)us, (long long)want);
                cr_assert(exact);
                want += 86400 * SEC;
                days++;
            }
            snprintf(s, sizeof(s), "%04u-%02u-%02uT00:00:00Z", y, m, last + 1);
            assert_time_rejected(s);
        }
    }
    cr_assert_eq(days, 3652425, "%zu days in 10000 years", days);
    cr_assert_eq(want, 253402300800LL * SEC, "the day after 9999-12-31");
}

Test(parse_time, dates_that_do_not_exist) {
    assert_time_rejected("2023-02-29T00:00:00Z");
    assert_time_rejected("1900-02-29T00:00:00Z");
    assert_time_rejected("2100-02-29T00:00:00Z");
    assert_time_rejected("2024-02-30T00:00:00Z");
    assert_time_rejected("2026-04-31T00:00:00Z");
    assert_time_rejected("2026-06-31T00:00:00Z");
    assert_time_rejected("2026-01-32T00:00:00Z");
    assert_time_rejected("2026-12-32T00:00:00Z");
    assert_time_rejected("2026-01-00T00:00:00Z");
    assert_time_rejected("2026-13-01T00:00:00Z");
    assert_time_rejected("2026-00-01T00:00:00Z");
    assert_time_rejected("2026-99-01T00:00:00Z");
}

Test(parse_time, times_that_do_not_exist) {
    assert_time_rejected("2026-12-03T24:00:00Z");
    assert_time_rejected("2026-12-03T99:00:00Z");
    assert_time_rejected("2026-12-03T08:60:00Z");
    assert_time_rejected("2026-12-03T08:47:61Z");
    assert_time_rejected("2026-12-03T08:47:99Z");
    assert_time_rejected("2026-12-03T08:47:61.5Z");
}

Test(parse_time, zone_required_and_well_formed) {
    assert_time_rejected("2026-12-03T08:47:11");        /* no zone */
    assert_time_rejected("2026-12-03T08:47:11.317574"); /* no zone */
    assert_time_rejected("2026-12-03T08:47:11+24:00");  /* offset hour */
    assert_time_rejected("2026-12-03T08:47:11-24:00");  /* offset hour */
    assert_time_rejected("2026-12-03T08:47:11+01:60");  /* offset minute */
    assert_time_rejected("2026-12-03T08:47:11+0100");   /* no colon */
    assert_time_rejected("2026-12-03T08:47:11+01");     /* no minutes */
    assert_time_rejected("2026-12-03T08:47:11+1:00");   /* short hour */
    assert_time_rejected("2026-12-03T08:47:11+01:0");   /* short minute */
    assert_time_rejected("2026-12-03T08:47:11+");       /* a sign alone */
    assert_time_rejected("2026-12-03T08:47:11 +01:00"); /* a space */
    assert_time_rejected("2026-12-03T08:47:11UTC");     /* a name */
    assert_time_rejected("2026-12-03T08:47:11GMT");     /* a name */
    assert_time_rejected("2026-12-03T08:47:11 Z");      /* a space */
}

Test(parse_time, separator_is_t) {
    assert_time_rejected("2026-12-03 08:47:11Z");
    assert_time_rejected("2026-12-03_08:47:11Z");
    assert_time_rejected("2026-12-0308:47:11Z");
    assert_time_rejected("2026/12/03T08:47:11Z");
    assert_time_rejected("2026-12-03T08.47.11Z");
    assert_time_rejected("2026-12-03");
    assert_time_rejected("2026-12-03T");
    assert_time_rejected("08:47:11Z");
}

Test(parse_time, fraction_limits) {
    assert_time_rejected("2026-12-03T08:47:11.3175749999Z"); /* 10 digits */
    assert_time_rejected("2026-12-03T08:47:11.0000000000Z"); /* 10 zeros */
    assert_time_rejected("2026-12-03T08:47:11.Z");           /* empty */
    assert_time_rejected("2026-12-03T12:00:00.Z");           /* empty */
    assert_time_rejected("2026-12-03T08:47:11.+01:00");      /* empty */
    assert_time_rejected("2026-12-03T08:47:11.");            /* empty, no zone */
    assert_time_rejected("2026-12-03T08:47:11,5Z");          /* a comma */
    assert_time_rejected("2026-12-03T08:47:11.5.5Z");        /* two points */
    assert_time_rejected("2026-12-03T08:47:11.-5Z");         /* a sign */
}

Test(parse_time, short_and_long_fields) {
    assert_time_rejected("226-12-03T08:47:11Z");
    assert_time_rejected("02026-12-03T08:47:11Z");
    assert_time_rejected("+2026-12-03T08:47:11Z");
    assert_time_rejected("-2026-12-03T08:47:11Z");
    assert_time_rejected("2026-1-03T08:47:11Z");
    assert_time_rejected("2026-012-03T08:47:11Z");
    assert_time_rejected("2026-12-3T08:47:11Z");
    assert_time_rejected("2026-12-003T08:47:11Z");
    assert_time_rejected("2026-12-03T8:47:11Z");
    assert_time_rejected("2026-12-03T08:7:11Z");
    assert_time_rejected("2026-12-03T08:47:1Z");
    assert_time_rejected("2026-12-03T08:47:111Z");
    assert_time_rejected("2026-12-03T08:47Z"); /* no seconds */
    assert_time_rejected("2026-12-03T08Z");
    assert_time_rejected("2O26-12-03T08:47:11Z"); /* a letter O */
    assert_time_rejected("2026-12-03T08:4 :11Z");
}

Test(parse_time, trailing_bytes_and_empty) {
    assert_time_rejected("");
    assert_time_rejected_len("", 0);
    assert_time_rejected("2026-12-03T08:47:11ZZ");
    assert_time_rejected("2026-12-03T08:47:11Z ");
    assert_time_rejected("2026-12-03T08:47:11Z\n");
    assert_time_rejected("2026-12-03T08:47:11+01:00Z");
    assert_time_rejected("2026-12-03T08:47:11Z+01:00");
    assert_time_rejected("2026-12-03T08:47:11+01:000");
    assert_time_rejected(" 2026-12-03T08:47:11Z");
    /* a NUL byte inside the length */
    assert_time_rejected_len("2026-12-03T08:47:11Z\0", 21);
    assert_time_rejected_len("2026-12-03T08:47:11\0Z", 21);
}

/* The length bounds the parse: every proper prefix of a valid time is refused, and no byte
 * past the length is read (each prefix sits in a buffer of exactly its size, so that ASan
 * sees an overread). */
Test(parse_time, length_is_respected) {
    const char *s = "2026-12-03T08:47:11.317574Z";
    size_t full = strlen(s);
    for (size_t len = 0; len <= full; len++) {
        char *p = malloc(len + 1);
        cr_assert_not_null(p);
        memcpy(p, s, len);
        if (len < full) {
            assert_time_rejected_len(p, len);
        } else {
            int64_t us = 0;
            bool exact = false;
            cr_assert_eq(ws_parse_time(p, len, &us, &exact), WS_OK);
            cr_assert_eq(us, 1796287631317574LL);
            cr_assert(exact);
        }
        free(p);
    }
    /* the same bytes with more after them, cut by the length */
    int64_t us = 0;
    bool exact = false;
    cr_assert_eq(ws_parse_time("2026-12-03T08:47:11ZGARBAGE", 20, &us, &exact), WS_OK);
    cr_assert_eq(us, 1796287631 * SEC);
}
