/* Unit tests for core/parse: amounts, IDs and query strings. These parsers are the first
 * thing untrusted input meets, so the tests walk the edges: numeric bounds, every byte class
 * an ID may or may not hold, and every malformed shape a query string can take. */
#include <criterion/criterion.h>
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
