/* libFuzzer harness for ws_query_parse. Besides "no crash, no sanitizer report", it checks
 * the parser against a small reference written for clarity, not speed: the same verdict,
 * the same parameters in the same order. On success it also re-encodes the parameters
 * (every byte as %XX) and parses that again, which must give the same parameters back. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "fuzz.h"

typedef struct {
    char name[WS_QUERY_LEN_MAX];
    size_t name_len;
    char value[WS_QUERY_LEN_MAX];
    size_t value_len;
} ref_param;

static int ref_hex(unsigned char c) {
    const char *digits = "0123456789abcdef";
    const char *p = c ? strchr(digits, c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c) : NULL;
    return p ? (int)(p - digits) : -1;
}

/* Decodes s[0..n) into out; false on a bad or truncated escape. */
static bool ref_decode(const unsigned char *s, size_t n, char *out, size_t *out_len) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (n - i < 3 || ref_hex(s[i + 1]) < 0 || ref_hex(s[i + 2]) < 0) {
                return false;
            }
            out[o++] = (char)(ref_hex(s[i + 1]) * 16 + ref_hex(s[i + 2]));
            i += 2;
        } else {
            out[o++] = (char)s[i];
        }
    }
    *out_len = o;
    return true;
}

/* The reference: true and the parameters if the query is acceptable. */
static bool ref_parse(const unsigned char *q, size_t len, ref_param *out, size_t *count) {
    *count = 0;
    if (len > WS_QUERY_LEN_MAX) {
        return false;
    }
    size_t start = 0;
    while (start <= len) {
        size_t end = start;
        while (end < len && q[end] != '&') {
            end++;
        }
        if (end > start) {
            size_t eq = start;
            while (eq < end && q[eq] != '=') {
                eq++;
            }
            ref_param p;
            if (!ref_decode(q + start, eq - start, p.name, &p.name_len) || p.name_len == 0 ||
                eq == end || *count == WS_QUERY_PARAMS_MAX) {
                return false;
            }
            for (size_t i = 0; i < *count; i++) {
                if (out[i].name_len == p.name_len && !memcmp(out[i].name, p.name, p.name_len)) {
                    return false;
                }
            }
            if (!ref_decode(q + eq + 1, end - eq - 1, p.value, &p.value_len)) {
                return false;
            }
            out[(*count)++] = p;
        }
        start = end + 1;
    }
    return true;
}

static void require_same(const ws_query *q, const ref_param *ref, size_t count) {
    REQUIRE(q->count == count);
    for (size_t i = 0; i < count; i++) {
        const ws_query_param *p = &q->params[i];
        REQUIRE(p->name_len == ref[i].name_len && !memcmp(p->name, ref[i].name, p->name_len));
        REQUIRE(p->value_len == ref[i].value_len && !memcmp(p->value, ref[i].value, p->value_len));
        if (memchr(p->name, '\0', p->name_len) == NULL) {
            char name[WS_QUERY_LEN_MAX + 1];
            memcpy(name, p->name, p->name_len);
            name[p->name_len] = '\0';
            REQUIRE(ws_query_get(q, name) == p);
        }
    }
}

/* Every byte of every parameter as %XX, joined with '&' and '='. */
static size_t encode_all(const ws_query *q, char *out) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < q->count; i++) {
        const ws_query_param *p = &q->params[i];
        if (i > 0) {
            out[n++] = '&';
        }
        for (size_t k = 0; k < p->name_len; k++) {
            unsigned char c = (unsigned char)p->name[k];
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
        out[n++] = '=';
        for (size_t k = 0; k < p->value_len; k++) {
            unsigned char c = (unsigned char)p->value[k];
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Exactly size bytes of decode buffer, in its own allocation, so ASan sees any write
     * past the documented minimum. */
    char *buf = malloc(size ? size : 1);
    REQUIRE(buf != NULL);
    ws_query q;
    ws_status s = ws_query_parse((const char *)data, size, buf, &q);
    static ref_param ref[WS_QUERY_PARAMS_MAX];
    size_t ref_count;
    bool ref_ok = ref_parse(data, size, ref, &ref_count);
    REQUIRE((s == WS_OK) == ref_ok);
    if (s != WS_OK) {
        REQUIRE(s == WS_INVALID_PARAMETER && q.why != NULL && q.why[0] != '\0');
        free(buf);
        return 0;
    }
    require_same(&q, ref, ref_count);

    /* Re-encoded, the parameters parse back the same, when that still fits the limit. */
    static char again[3 * WS_QUERY_LEN_MAX + WS_QUERY_PARAMS_MAX * 2];
    size_t n = encode_all(&q, again);
    if (n <= WS_QUERY_LEN_MAX) {
        char buf2[WS_QUERY_LEN_MAX];
        ws_query q2;
        REQUIRE(ws_query_parse(again, n, buf2, &q2) == WS_OK);
        require_same(&q2, ref, ref_count);
    }
    free(buf);
    return 0;
}
