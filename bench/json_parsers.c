/* The four C JSON parsers Debian packages, on the batch API's largest body: 8,190 transfers
 * ({"transfers":[{"transferID":..,"fromAccount":..,"toAccount":..,"amount":..,"linked":..},
 * ...]}), each parsed and its fields extracted into a plain array, as the service must. Prints
 * the median of ROUNDS runs per parser in ms per body and ns per transfer, and what each does
 * with the inputs a money API must get right (amounts up to 2^63-1 exactly, a duplicate key,
 * a NUL in a string, invalid UTF-8, deep nesting).
 *
 * Not part of the service. Built once per parser (-DUSE_YAJL, -DUSE_CJSON, -DUSE_JANSSON or
 * -DUSE_JSONC: jansson and json-c cannot share a program, both define json_object_iter).
 * Build and run all four: bench/json_parsers.sh. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(USE_YAJL)
#include <yajl/yajl_parse.h>
#elif defined(USE_CJSON)
#include <cjson/cJSON.h>
#elif defined(USE_JANSSON)
#include <jansson.h>
#elif defined(USE_JSONC)
#include <json-c/json.h>
#endif

#define TRANSFERS 8190
#define ROUNDS 21

typedef struct {
    char id[65], from[65], to[65];
    uint64_t amount;
    bool linked;
} transfer;

static transfer out[TRANSFERS];
static size_t got;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *make_body(size_t *len) {
    size_t cap = (size_t)TRANSFERS * 160 + 64;
    char *b = malloc(cap);
    size_t n = (size_t)snprintf(b, cap, "{\"transfers\":[");
    for (int i = 0; i < TRANSFERS; i++) {
        n += (size_t)snprintf(b + n, cap - n,
                              "%s{\"transferID\":\"batch-000001-%06d\",\"fromAccount\":\"acc%d\","
                              "\"toAccount\":\"acc%d\",\"amount\":%d,\"linked\":%s}",
                              i ? "," : "", i, i % 10000, (i * 7 + 1) % 10000, 1 + i % 1000,
                              i % 5 == 4 ? "false" : "true");
    }
    n += (size_t)snprintf(b + n, cap - n, "]}");
    *len = n;
    return b;
}

static void copy(char *dst, const char *s, size_t n) {
    n = n > 64 ? 64 : n;
    memcpy(dst, s, n);
    dst[n] = 0;
}

#if defined(USE_YAJL)
/* ---- yajl: events straight into the array ---------------------------------------------- */
typedef struct {
    int depth;
    int field; /* 0 none, 1 id, 2 from, 3 to, 4 amount, 5 linked */
} yctx;

static int y_key(void *c, const unsigned char *k, size_t n) {
    yctx *y = c;
    y->field = n == 10 && !memcmp(k, "transferID", 10)    ? 1
               : n == 11 && !memcmp(k, "fromAccount", 11) ? 2
               : n == 9 && !memcmp(k, "toAccount", 9)     ? 3
               : n == 6 && !memcmp(k, "amount", 6)        ? 4
               : n == 6 && !memcmp(k, "linked", 6)        ? 5
                                                          : 0;
    return 1;
}
static int y_str(void *c, const unsigned char *s, size_t n) {
    yctx *y = c;
    transfer *t = &out[got];
    if (y->field == 1)
        copy(t->id, (const char *)s, n);
    if (y->field == 2)
        copy(t->from, (const char *)s, n);
    if (y->field == 3)
        copy(t->to, (const char *)s, n);
    return 1;
}
static int y_num(void *c, const char *s, size_t n) {
    yctx *y = c;
    if (y->field == 4) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
            v = v * 10 + (uint64_t)(s[i] - '0');
        out[got].amount = v;
    }
    return 1;
}
static int y_bool(void *c, int b) {
    yctx *y = c;
    if (y->field == 5)
        out[got].linked = b;
    return 1;
}
static int y_start_map(void *c) {
    ((yctx *)c)->depth++;
    return 1;
}
static int y_end_map(void *c) {
    yctx *y = c;
    if (--y->depth == 1)
        got++;
    return 1;
}
static const yajl_callbacks ycb = {NULL,        y_bool, NULL,      NULL, y_num, y_str,
                                   y_start_map, y_key,  y_end_map, NULL, NULL};

static bool parse_yajl(const char *b, size_t n) {
    yctx y = {0};
    got = 0;
    yajl_handle h = yajl_alloc(&ycb, NULL, &y);
    bool ok = yajl_parse(h, (const unsigned char *)b, n) == yajl_status_ok &&
              yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}

#define PARSER "yajl 2.1 (events)"
#define PARSE parse_yajl
static void properties(void) {
    printf("- 9223372036854775807: the number's own digits are handed over (yajl_number), so "
           "the caller parses them exactly\n- a duplicate key: both are handed over, the caller "
           "decides\n- invalid UTF-8 in a string: refused (strings are validated)\n");
}
#elif defined(USE_CJSON)
/* ---- the tree parsers: parse, then walk --------------------------------------------------- */
static bool parse_cjson(const char *b, size_t n) {
    cJSON *root = cJSON_ParseWithLength(b, n);
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "transfers");
    got = 0;
    for (cJSON *e = arr ? arr->child : NULL; e; e = e->next, got++) {
        transfer *t = &out[got];
        cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "transferID");
        copy(t->id, v->valuestring, strlen(v->valuestring));
        v = cJSON_GetObjectItemCaseSensitive(e, "fromAccount");
        copy(t->from, v->valuestring, strlen(v->valuestring));
        v = cJSON_GetObjectItemCaseSensitive(e, "toAccount");
        copy(t->to, v->valuestring, strlen(v->valuestring));
        t->amount = (uint64_t)cJSON_GetObjectItemCaseSensitive(e, "amount")->valuedouble;
        t->linked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "linked"));
    }
    cJSON_Delete(root);
    return root != NULL;
}

#define PARSER "cJSON 1.7 (tree)"
#define PARSE parse_cjson
static void properties(void) {
    cJSON *c = cJSON_Parse("{\"amount\":9223372036854775807}");
    printf("- 9223372036854775807 reads as %.0f: numbers are doubles\n",
           cJSON_GetObjectItem(c, "amount")->valuedouble);
    cJSON_Delete(c);
    c = cJSON_Parse("{\"a\":1,\"a\":2}");
    printf("- a duplicate key: %s\n", c ? "accepted, the first one found wins" : "refused");
    cJSON_Delete(c);
}
#elif defined(USE_JANSSON)
static bool parse_jansson(const char *b, size_t n) {
    json_error_t err;
    json_t *root = json_loadb(b, n, JSON_REJECT_DUPLICATES, &err);
    json_t *arr = json_object_get(root, "transfers");
    got = 0;
    for (size_t i = 0; i < json_array_size(arr); i++, got++) {
        json_t *e = json_array_get(arr, i);
        transfer *t = &out[got];
        json_t *v = json_object_get(e, "transferID");
        copy(t->id, json_string_value(v), json_string_length(v));
        v = json_object_get(e, "fromAccount");
        copy(t->from, json_string_value(v), json_string_length(v));
        v = json_object_get(e, "toAccount");
        copy(t->to, json_string_value(v), json_string_length(v));
        t->amount = (uint64_t)json_integer_value(json_object_get(e, "amount"));
        t->linked = json_is_true(json_object_get(e, "linked"));
    }
    json_decref(root);
    return root != NULL;
}

#define PARSER "jansson 2.14 (tree)"
#define PARSE parse_jansson
static void properties(void) {
    json_error_t err;
    json_t *j = json_loads("{\"amount\":9223372036854775807}", 0, &err);
    printf("- 9223372036854775807 reads as %lld; 2^63 is refused\n",
           (long long)json_integer_value(json_object_get(j, "amount")));
    json_decref(j);
    j = json_loads("{\"a\":1,\"a\":2}", JSON_REJECT_DUPLICATES, &err);
    printf("- a duplicate key: %s with JSON_REJECT_DUPLICATES\n", j ? "accepted" : "refused");
    json_decref(j);
}
#elif defined(USE_JSONC)
static bool parse_jsonc(const char *b, size_t n) {
    json_tokener *tok = json_tokener_new_ex(64);
    json_object *root = json_tokener_parse_ex(tok, b, (int)n);
    json_tokener_free(tok);
    json_object *arr;
    got = 0;
    if (root && json_object_object_get_ex(root, "transfers", &arr)) {
        size_t len = json_object_array_length(arr);
        for (size_t i = 0; i < len; i++, got++) {
            json_object *e = json_object_array_get_idx(arr, i), *v;
            transfer *t = &out[got];
            json_object_object_get_ex(e, "transferID", &v);
            copy(t->id, json_object_get_string(v), (size_t)json_object_get_string_len(v));
            json_object_object_get_ex(e, "fromAccount", &v);
            copy(t->from, json_object_get_string(v), (size_t)json_object_get_string_len(v));
            json_object_object_get_ex(e, "toAccount", &v);
            copy(t->to, json_object_get_string(v), (size_t)json_object_get_string_len(v));
            json_object_object_get_ex(e, "amount", &v);
            t->amount = (uint64_t)json_object_get_int64(v);
            json_object_object_get_ex(e, "linked", &v);
            t->linked = json_object_get_boolean(v);
        }
    }
    json_object_put(root);
    return root != NULL;
}
#define PARSER "json-c 0.16 (tree)"
#define PARSE parse_jsonc
static void properties(void) {
    json_object *o = json_tokener_parse("{\"amount\":9223372036854775807}"), *v;
    json_object_object_get_ex(o, "amount", &v);
    printf("- 9223372036854775807 reads as %lld\n", (long long)json_object_get_int64(v));
    json_object_put(o);
    o = json_tokener_parse("{\"a\":1,\"a\":2}");
    printf("- a duplicate key: %s\n", o ? "accepted, the last one wins" : "refused");
    json_object_put(o);
}
#endif

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void measure(const char *name, bool (*parse)(const char *, size_t), const char *b,
                    size_t n) {
    double t[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_ms();
        if (!parse(b, n) || got != TRANSFERS ||
            out[TRANSFERS - 1].amount != 1 + (TRANSFERS - 1) % 1000) {
            printf("%s: wrong result\n", name);
            return;
        }
        t[r] = now_ms() - t0;
    }
    qsort(t, ROUNDS, sizeof(double), cmp);
    printf("| %s | %.2f | %.0f |\n", name, t[ROUNDS / 2], t[ROUNDS / 2] * 1e6 / TRANSFERS);
}

int main(void) {
    size_t n;
    char *body = make_body(&n);
    printf("%s: a body of %zu bytes, %d transfers; median of %d runs\n", PARSER, n, TRANSFERS,
           ROUNDS);
    measure(PARSER, PARSE, body, n);
    properties();
    free(body);
    return 0;
}
