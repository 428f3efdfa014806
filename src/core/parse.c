/* Input parsing. Every rule here is strict on purpose: in a money service an input we
 * cannot read exactly is refused, never guessed at. */
#include "core/parse.h"

#include <string.h>

ws_status ws_parse_amount(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out) {
    WS_ASSERT(min <= max);
    if (len == 0) { /* any number of leading zeros; overflow is caught per digit */
        return WS_INVALID_PARAMETER;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c < '0' || c > '9') {
            return WS_INVALID_PARAMETER;
        }
        uint64_t d = (uint64_t)(c - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return WS_INVALID_PARAMETER;
        }
        v = v * 10 + d;
    }
    if (v < min || v > max) {
        return WS_INVALID_PARAMETER;
    }
    *out = v;
    return WS_OK;
}

bool ws_currency_valid(const char *s, size_t len) {
    if (len < WS_CURRENCY_LEN_MIN || len > WS_CURRENCY_LEN_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) {
            return false;
        }
    }
    return true;
}

/* The ID alphabet is '-' '.' '0'-'9' 'A'-'Z' '_' 'a'-'z'. The writer checks every ID of every
 * record three times (deciding, applying, and decoding the block before it is written), so
 * the check runs on eight bytes at once: with every byte below 0x80, byte x + (0x80 - lo) has
 * its high bit set iff x >= lo, and (0x80 + hi) - x iff x <= hi, and neither carries into the
 * next byte. 'A'-'Z' is folded onto 'a'-'z' by setting bit 0x20, which maps nothing else
 * below 0x80 into 'a'-'z'. About two instructions a byte; a loop per byte was 8. */
#define BYTES(b) (0x0101010101010101ull * (uint64_t)(b))
#define HIGH BYTES(0x80)
#define IN_RANGE(w, lo, hi) (((w) + BYTES(0x80 - (lo))) & (BYTES(0x80 + (hi)) - (w)))

static bool id_word_valid(uint64_t w) {
    if (w & HIGH) {
        return false;
    }
    uint64_t in = IN_RANGE(w, '-', '.') | IN_RANGE(w, '0', '9') | IN_RANGE(w, '_', '_') |
                  IN_RANGE(w | BYTES(0x20), 'a', 'z');
    return (in & HIGH) == HIGH;
}

static uint64_t load8(const char *s) {
    uint64_t w;
    memcpy(&w, s, 8);
    return w;
}

static uint64_t load4(const char *s) {
    uint32_t w;
    memcpy(&w, s, 4);
    return w;
}

bool ws_id_valid(const char *s, size_t len) {
    if (len == 0 || len > WS_ID_LEN_MAX) {
        return false;
    }
    if (len >= 8) { /* whole words, then the last eight bytes (which may overlap the one before) */
        bool ok = id_word_valid(load8(s + len - 8));
        for (size_t i = 0; i + 8 < len; i += 8) {
            ok &= id_word_valid(load8(s + i));
        }
        return ok;
    }
    if (len >= 4) { /* the first and the last four bytes, overlapping unless len is 8 */
        return id_word_valid(load4(s) | load4(s + len - 4) << 32);
    }
    /* one to three bytes: the first, the middle and the last, the rest filled with 'a' */
    uint64_t w = BYTES('a') << 24 | (uint64_t)(unsigned char)s[0] |
                 (uint64_t)(unsigned char)s[len / 2] << 8 |
                 (uint64_t)(unsigned char)s[len - 1] << 16;
    return id_word_valid(w);
}

#undef IN_RANGE
#undef HIGH
#undef BYTES

static int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Percent-decodes src[0..len) into dst; returns the decoded length or -1 on a bad escape. */
static long decode(const char *src, size_t len, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] != '%') {
            dst[o++] = src[i];
            continue;
        }
        if (i + 2 >= len) { /* truncated escape */
            return -1;
        }
        int hi = hex_value(src[i + 1]);
        int lo = hex_value(src[i + 2]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        dst[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    return (long)o;
}

static ws_status fail(ws_query *out, const char *name, size_t name_len, const char *why) {
    out->bad_name = name;
    out->bad_name_len = name_len;
    out->why = why;
    return WS_INVALID_PARAMETER;
}

ws_status ws_query_parse(const char *q, size_t len, char *buf, ws_query *out) {
    memset(out, 0, sizeof(*out));
    if (len > WS_QUERY_LEN_MAX) {
        return fail(out, "", 0, "the query string is too long");
    }
    size_t pos = 0;
    size_t used = 0;
    while (pos < len) {
        const char *amp = memchr(q + pos, '&', len - pos);
        size_t end = amp ? (size_t)(amp - q) : len;
        const char *piece = q + pos;
        size_t piece_len = end - pos;
        pos = end + 1;
        if (piece_len == 0) {
            continue;
        }
        const char *eq = memchr(piece, '=', piece_len);
        size_t raw_name_len = eq ? (size_t)(eq - piece) : piece_len;
        long nlen = decode(piece, raw_name_len, buf + used);
        if (nlen < 0) {
            return fail(out, "", 0, "a parameter name has a malformed %-escape");
        }
        const char *name = buf + used;
        used += (size_t)nlen;
        if (nlen == 0) {
            return fail(out, "", 0, "a parameter has an empty name");
        }
        if (!eq) {
            return fail(out, name, (size_t)nlen, "has no value");
        }
        if (out->count == WS_QUERY_PARAMS_MAX) {
            return fail(out, "", 0, "too many parameters");
        }
        for (size_t i = 0; i < out->count; i++) {
            if (out->params[i].name_len == (size_t)nlen &&
                memcmp(out->params[i].name, name, (size_t)nlen) == 0) {
                return fail(out, name, (size_t)nlen, "is given more than once");
            }
        }
        long vlen = decode(eq + 1, piece_len - raw_name_len - 1, buf + used);
        if (vlen < 0) {
            return fail(out, name, (size_t)nlen, "has a malformed %-escape");
        }
        out->params[out->count++] = (ws_query_param){name, (size_t)nlen, buf + used, (size_t)vlen};
        used += (size_t)vlen;
    }
    WS_ASSERT(used <= len);
    return WS_OK;
}

const ws_query_param *ws_query_get(const ws_query *q, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < q->count; i++) {
        if (q->params[i].name_len == n && memcmp(q->params[i].name, name, n) == 0) {
            return &q->params[i];
        }
    }
    return NULL;
}

/* ---- RFC 3339 times -------------------------------------------------------------------- */

/* Reads n digits at s[*at..]; false if any is not a digit. */
static bool digits(const char *s, size_t len, size_t *at, size_t n, unsigned *out) {
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (*at >= len || s[*at] < '0' || s[*at] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(s[(*at)++] - '0');
    }
    *out = v;
    return true;
}

static bool expect(const char *s, size_t len, size_t *at, char c) {
    if (*at >= len || s[*at] != c) {
        return false;
    }
    (*at)++;
    return true;
}

static bool is_leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(unsigned y, unsigned m, unsigned d) {
    static const unsigned before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t years = (int64_t)y - 1970;
    /* leap days in the years before y, counted from year 0 */
    int64_t leaps_before =
        ((int64_t)y + 3) / 4 - ((int64_t)y + 99) / 100 + ((int64_t)y + 399) / 400;
    int64_t leaps_1970 = (1970 + 3) / 4 - (1970 + 99) / 100 + (1970 + 399) / 400;
    int64_t days = years * 365 + (leaps_before - leaps_1970) + before[m - 1] + (d - 1);
    return days + (m > 2 && is_leap(y));
}

ws_status ws_parse_time(const char *s, size_t len, int64_t *us, bool *exact) {
    static const unsigned month_days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t at = 0;
    unsigned y, mo, d, h, mi, sec;
    if (!digits(s, len, &at, 4, &y) || !expect(s, len, &at, '-') || !digits(s, len, &at, 2, &mo) ||
        !expect(s, len, &at, '-') || !digits(s, len, &at, 2, &d) || at >= len ||
        (s[at] != 'T' && s[at] != 't') || !(at++, digits(s, len, &at, 2, &h)) ||
        !expect(s, len, &at, ':') || !digits(s, len, &at, 2, &mi) || !expect(s, len, &at, ':') ||
        !digits(s, len, &at, 2, &sec)) {
        return WS_INVALID_PARAMETER;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] ||
        (mo == 2 && d == 29 && !is_leap(y)) || h > 23 || mi > 59 || sec > 60) {
        return WS_INVALID_PARAMETER;
    }
    int64_t frac_us = 0;
    bool whole = true;
    if (at < len && s[at] == '.') {
        at++;
        size_t n = 0;
        while (at < len && s[at] >= '0' && s[at] <= '9') {
            if (n < 6) {
                frac_us = frac_us * 10 + (s[at] - '0');
            } else if (s[at] != '0') {
                whole = false;
            }
            n++;
            at++;
        }
        if (n == 0 || n > 9) {
            return WS_INVALID_PARAMETER;
        }
        for (size_t k = n; k < 6; k++) {
            frac_us *= 10;
        }
    }
    int64_t offset_s = 0;
    if (at < len && (s[at] == 'Z' || s[at] == 'z')) {
        at++;
    } else if (at < len && (s[at] == '+' || s[at] == '-')) {
        int sign = s[at++] == '+' ? 1 : -1;
        unsigned oh, om;
        if (!digits(s, len, &at, 2, &oh) || !expect(s, len, &at, ':') ||
            !digits(s, len, &at, 2, &om) || oh > 23 || om > 59) {
            return WS_INVALID_PARAMETER;
        }
        offset_s = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return WS_INVALID_PARAMETER;
    }
    if (at != len) {
        return WS_INVALID_PARAMETER;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *us = secs * 1000000 + frac_us;
    *exact = whole;
    return WS_OK;
}
