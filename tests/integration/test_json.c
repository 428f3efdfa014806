/* The JSON API against the real binary over loopback, through libcurl: POST /accounts,
 * GET /accounts/{id}, POST /transfers (one transfer or a batch of up to 8,190, with linked
 * chains) and GET /events?records=all, every success and every refusal with its status and
 * code, Idempotency-Key replays (across a restart too), the two body limits, and at the end
 * of each test the state: money conserved, the log replaying to every balance
 * (ws_check_state) and --verify passing.
 *
 * Bodies and expected answers are written with ' for " and ` for ' (IDs and amounts hold
 * neither) and converted by dq() before use. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "harness.h"

#define API "/api/1.0/wallet/"
#define JSON "application/json"
#define MAX_I64 9223372036854775807ull
#define BATCH_MAX 8190
#define BODY_LIMIT 4096             /* --max-body-bytes, default */
#define BATCH_BODY_LIMIT (4u << 20) /* --max-batch-body-bytes, default */
#define ACCOUNTS_MAX 64
#define RECORD_PAGES_MAX 200

static ws_response R = WS_RESPONSE_INIT;

#define BODY (R.body != NULL ? R.body : "(none)")

/* ---- text ------------------------------------------------------------------------------- */

/* A growing string. */
typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_add(sbuf *b, const char *fmt, ...) {
    for (int attempt = 0; attempt < 2; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, b->p != NULL ? b->cap - b->len : 0,
                          fmt, ap);
        va_end(ap);
        cr_assert_geq(n, 0);
        if (b->p != NULL && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 > b->len + (size_t)n + 1 ? b->cap * 2 : b->len + (size_t)n + 4096;
        char *p = realloc(b->p, cap);
        cr_assert_not_null(p, "out of memory");
        b->p = p;
        b->cap = cap;
    }
    cr_assert_fail("sb_add did not fit after growing");
}

static void sb_free(sbuf *b) {
    free(b->p);
    *b = (sbuf){0};
}

/* ---- the server ------------------------------------------------------------------------- */

static ws_transfer_list acked;
static char acct_id[ACCOUNTS_MAX][72];
static const char *acct_ptr[ACCOUNTS_MAX];
static uint64_t acct_start[ACCOUNTS_MAX];
static size_t acct_n;

static void teardown(void) {
    ws_client_free(cli);
    cli = NULL;
    ws_response_free(&R);
    ws_transfer_list_free(&acked);
    acct_n = 0;
    ws_cleanup_all();
}

/* ---- requests and answers --------------------------------------------------------------- */

/* POST path with body (written with ' for ") as application/json. */
static long post(const char *path, const char *body, const char *extra_header) {
    const char *b = dq(body);
    return ws_post(cli, &R, path, JSON, b, strlen(b), extra_header);
}

/* POST path with len bytes of body as they are, with Content-Type ctype (NULL: none). */
static long post_raw(const char *path, const char *ctype, const char *body, size_t len) {
    return ws_post(cli, &R, path, ctype, body, len, NULL);
}

static void expect_body(const char *what, long status, const char *body) {
    const char *want = dq(body);
    cr_assert_eq(R.status, status, "%s: expected %ld, got %ld %s", what, status, R.status, BODY);
    cr_assert_str_eq(BODY, want, "%s: got %s, expected %s", what, BODY, want);
    cr_assert_str_eq(R.content_type, JSON, "%s: Content-Type", what);
}

static void expect_fresh(const char *what, long status, const char *body) {
    expect_body(what, status, body);
    cr_assert(!R.replayed, "%s: an original answer carries Idempotent-Replayed", what);
}

static void expect_replay(const char *what, long status, const char *body) {
    expect_body(what, status, body);
    cr_assert(R.replayed, "%s: a replay lacks 'Idempotent-Replayed: true'", what);
}

/* An error answer: status, code, and the index (-1: none). */
static void expect_error_at(const char *what, long status, const char *code, long index) {
    cr_assert_eq(R.status, status, "%s: expected %ld %s, got %ld %s", what, status, code, R.status,
                 BODY);
    cr_assert(ws_json_is_error(R.body, code), "%s: expected %s, got %s", what, code, BODY);
    cr_assert_str_eq(R.content_type, JSON, "%s: Content-Type", what);
    uint64_t at = 0;
    bool has = ws_json_u64(R.body, "index", &at);
    if (index < 0) {
        cr_assert(!has, "%s: an index where none belongs: %s", what, BODY);
    } else {
        cr_assert(has && at == (uint64_t)index, "%s: expected index %ld: %s", what, index, BODY);
    }
    cr_assert(!R.replayed, "%s: a refusal of the request is not a replay", what);
}

static void expect_error(const char *what, long status, const char *code) {
    expect_error_at(what, status, code, -1);
}

/* ---- the log's records (GET /events?records=all) ------------------------------------------ */

typedef struct {
    uint64_t lsn;
    char type[24];
    bool has_seq;
    uint64_t seq;
    uint64_t amount;
    char txn[72], from[72], to[72], account[72], key[72], op[24], code[40], ts[48];
} rec;

typedef struct {
    rec *items;
    size_t count, cap;
} rec_list;

static void rec_list_free(rec_list *l) {
    free(l->items);
    *l = (rec_list){0};
}

static void parse_record(const char *obj, rec *r) {
    memset(r, 0, sizeof(*r));
    cr_assert(ws_json_u64(obj, "lsn", &r->lsn), "record without lsn: %s", obj);
    cr_assert_eq(ws_json_str(obj, "type", r->type, sizeof(r->type)), 1, "type: %s", obj);
    cr_assert_eq(ws_json_str(obj, "timestamp", r->ts, sizeof(r->ts)), 1, "timestamp: %s", obj);
    r->has_seq = ws_json_u64(obj, "seq", &r->seq);
    cr_assert(r->has_seq || strstr(obj, "\"seq\":null") != NULL, "seq: %s", obj);
    ws_json_u64(obj, "amount", &r->amount);
    ws_json_str(obj, "transactionID", r->txn, sizeof(r->txn));
    ws_json_str(obj, "fromAccount", r->from, sizeof(r->from));
    ws_json_str(obj, "toAccount", r->to, sizeof(r->to));
    ws_json_str(obj, "accountID", r->account, sizeof(r->account));
    ws_json_str(obj, "key", r->key, sizeof(r->key));
    ws_json_str(obj, "operation", r->op, sizeof(r->op));
    ws_json_str(obj, "code", r->code, sizeof(r->code));
    bool events = strcmp(r->type, "AccountCreated") == 0 || strcmp(r->type, "Transfer") == 0;
    bool others = strcmp(r->type, "TransferRefused") == 0 || strcmp(r->type, "RequestKey") == 0;
    cr_assert(events || others, "unknown record type: %s", obj);
    cr_assert_eq(r->has_seq, events, "seq is a number exactly for records with events: %s", obj);
}

/* Every record after lsn `after`, in lsn order, following "next". */
static void records_after(uint64_t after, rec_list *out) {
    static ws_response r; /* static: still reachable if an assertion ends the test */
    *out = (rec_list){0};
    for (int page = 0; page < RECORD_PAGES_MAX; page++) {
        long st = ws_get(cli, &r, API "events?records=all&after=%llu&limit=1000",
                         (unsigned long long)after);
        cr_assert_eq(st, 200, "records after %llu: %ld %s", (unsigned long long)after, st,
                     r.body ? r.body : "");
        const char *prefix = "{\"records\":[";
        cr_assert(strncmp(r.body, prefix, strlen(prefix)) == 0, "records page: %.200s", r.body);
        const char *p = r.body + strlen(prefix);
        while (*p == '{') {
            const char *end = strchr(p, '}'); /* records hold no nested objects */
            cr_assert(end != NULL && end - p < 1024, "record: %.200s", p);
            char obj[1024];
            memcpy(obj, p, (size_t)(end - p + 1));
            obj[end - p + 1] = '\0';
            if (out->count == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 1024;
                out->items = realloc(out->items, out->cap * sizeof(rec));
                cr_assert_not_null(out->items);
            }
            rec *x = &out->items[out->count++];
            parse_record(obj, x);
            cr_assert_gt(x->lsn, after, "lsn %llu does not advance past %llu",
                         (unsigned long long)x->lsn, (unsigned long long)after);
            after = x->lsn;
            p = end + 1;
            p += *p == ',';
        }
        if (strcmp(p, "],\"next\":null}") == 0) {
            ws_response_free(&r);
            return;
        }
        cr_assert(strncmp(p, "],\"next\":", 9) == 0, "records page end: %.200s", p);
    }
    cr_assert_fail("more than %d pages of records", RECORD_PAGES_MAX);
}

/* The lsn of the newest record (0 if the log is empty). */
static uint64_t log_end(void) {
    static rec_list l;
    records_after(0, &l);
    uint64_t end = l.count ? l.items[l.count - 1].lsn : 0;
    for (size_t i = 0; i < l.count; i++) {
        cr_assert_eq(l.items[i].lsn, i + 1, "the records are not gapless from lsn 1");
    }
    rec_list_free(&l);
    return end;
}

/* The record of type `type` whose transactionID (or key, for RequestKey) is id; NULL if
 * none. Asserts there is at most one. */
static const rec *find_rec(const rec_list *l, const char *type, const char *id) {
    const rec *found = NULL;
    for (size_t i = 0; i < l->count; i++) {
        const rec *r = &l->items[i];
        const char *rid = strcmp(type, "RequestKey") == 0 ? r->key : r->txn;
        if (strcmp(r->type, type) == 0 && strcmp(rid, id) == 0) {
            cr_assert_null(found, "two %s records for %s", type, id);
            found = r;
        }
    }
    return found;
}

static size_t count_type(const rec_list *l, const char *type) {
    size_t n = 0;
    for (size_t i = 0; i < l->count; i++) {
        n += strcmp(l->items[i].type, type) == 0;
    }
    return n;
}

/* ---- the model: accounts, start amounts and acknowledged transfers ----------------------- */

static void add_account(const char *id, uint64_t start_amount) {
    cr_assert_lt(acct_n, ACCOUNTS_MAX);
    snprintf(acct_id[acct_n], sizeof(acct_id[0]), "%s", id);
    acct_ptr[acct_n] = acct_id[acct_n];
    acct_start[acct_n] = start_amount;
    acct_n++;
}

/* POST /accounts {"accountID":id,"startAmount":amount}: 201 with the exact body. */
static void create(const char *id, uint64_t amount) {
    char body[256], want[256];
    snprintf(body, sizeof(body), "{'accountID':'%s','startAmount':%llu}", id,
             (unsigned long long)amount);
    snprintf(want, sizeof(want),
             "{'accountID':'%s','balance':%llu,'available':%llu,'pendingCredits':0,"
             "'currency':'XXX','overdraftLimit':0,'maxBalance':null}",
             id, (unsigned long long)amount, (unsigned long long)amount);
    post(API "accounts", body, NULL);
    expect_fresh(id, 201, want);
    add_account(id, amount);
}

static void ack(const char *txn, const char *from, const char *to, uint64_t amount,
                uint64_t from_balance, uint64_t to_balance, const char *body) {
    ws_transfer_ok t;
    memset(&t, 0, sizeof(t));
    snprintf(t.txn, sizeof(t.txn), "%s", txn);
    snprintf(t.from, sizeof(t.from), "%s", from);
    snprintf(t.to, sizeof(t.to), "%s", to);
    t.amount = amount;
    t.from_balance = from_balance;
    t.to_balance = to_balance;
    t.explicit_id = true;
    snprintf(t.body, sizeof(t.body), "%s", body);
    cr_assert(ws_transfer_list_add(&acked, &t));
}

/* Records the 200 answer in R to a single transfer as acknowledged; returns its
 * transactionID in txn. */
static void ack_single(const char *from, const char *to, uint64_t amount, char *txn, size_t cap) {
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert(!R.replayed);
    char f[72], t[72];
    uint64_t a = 0, fb = 0, tb = 0;
    cr_assert(ws_json_str(R.body, "transactionID", txn, cap) == 1 &&
                  ws_json_str(R.body, "fromAccount", f, sizeof(f)) == 1 &&
                  ws_json_str(R.body, "toAccount", t, sizeof(t)) == 1 &&
                  ws_json_u64(R.body, "amount", &a) && ws_json_u64(R.body, "fromBalance", &fb) &&
                  ws_json_u64(R.body, "toBalance", &tb),
              "a transfer's answer: %s", BODY);
    cr_assert(strcmp(f, from) == 0 && strcmp(t, to) == 0 && a == amount, "%s", BODY);
    ack(txn, from, to, amount, fb, tb, R.body);
}

/* The whole state: money conserved over GET /accounts/{id} and over get_balance, the log
 * replaying to every balance, every acknowledged transfer in it once and nothing else. */
static void check_state(void) {
    __extension__ unsigned __int128 sum = 0, start_sum = 0;
    for (size_t i = 0; i < acct_n; i++) {
        cr_assert_eq(ws_get(cli, &R, API "accounts/%s", acct_id[i]), 200, "%s: %s", acct_id[i],
                     BODY);
        uint64_t b = 0;
        cr_assert(ws_json_u64(R.body, "balance", &b), "%s", BODY);
        sum += b;
        start_sum += acct_start[i];
    }
    cr_assert(sum == start_sum, "money is not conserved: the balances add up to %llu, not %llu",
              (unsigned long long)sum, (unsigned long long)start_sum);
    ws_expect e = {.accounts = acct_ptr,
                   .start_amounts = acct_start,
                   .account_count = acct_n,
                   .acked = acked.items,
                   .acked_count = acked.count};
    ws_state st;
    char err[2048];
    bool ok = ws_check_state(cli, &e, &st, err, sizeof(err));
    ws_state_free(&st);
    cr_assert(ok, "state: %s", err);
}

static uint64_t balance_of(const char *id) {
    cr_assert_eq(ws_get(cli, &R, API "accounts/%s", id), 200, "%s: %s", id, BODY);
    uint64_t b = 0;
    cr_assert(ws_json_u64(R.body, "balance", &b), "%s", BODY);
    return b;
}

/* The state checked, a clean stop, and --verify. */
static void finish(void) {
    check_state();
    ws_client_free(cli);
    cli = NULL;
    cr_assert_eq(ws_server_stop(srv), 0, "clean stop");
    char out[4096];
    cr_assert_eq(ws_server_verify(srv, out, sizeof(out)), 0, "--verify: %s", out);
}

/* ---- batches ------------------------------------------------------------------------------ */

typedef struct {
    const char *id, *from, *to;
    uint64_t amount;
    bool linked;
} xfer;

#define X(id, from, to, amount)                                                                    \
    { id, from, to, amount, false }
#define L(id, from, to, amount)                                                                    \
    { id, from, to, amount, true }

static void batch_body(sbuf *b, const xfer *x, size_t n) {
    sb_add(b, "{\"transfers\":[");
    for (size_t i = 0; i < n; i++) {
        sb_add(b,
               "%s{\"transferID\":\"%s\",\"fromAccount\":\"%s\",\"toAccount\":\"%s\",\"amount\":%"
               "llu%s}",
               i ? "," : "", x[i].id, x[i].from, x[i].to, (unsigned long long)x[i].amount,
               x[i].linked ? ",\"linked\":true" : "");
    }
    sb_add(b, "]}");
}

static long post_batch(const xfer *x, size_t n, const char *extra_header) {
    static sbuf b;
    batch_body(&b, x, n);
    long st = ws_post(cli, &R, API "transfers", JSON, b.p, b.len, extra_header);
    sb_free(&b);
    return st;
}

typedef struct {
    char txn[72];
    char code[40];
    bool balances;
    uint64_t from_balance, to_balance;
    bool replayed;
} result;

/* Parses {"results":[...]} into out (at most max), checking that each result is exactly
 * as the API renders it. Returns the count. */
static size_t parse_results(const char *body, result *out, size_t max) {
    const char *prefix = "{\"results\":[";
    cr_assert(body != NULL && strncmp(body, prefix, strlen(prefix)) == 0, "results: %.300s",
              body ? body : "");
    const char *p = body + strlen(prefix);
    size_t n = 0;
    while (*p == '{') {
        const char *end = strchr(p, '}');
        cr_assert(end != NULL && end - p < 512 && n < max, "result %zu: %.200s", n, p);
        char obj[512], again[512];
        memcpy(obj, p, (size_t)(end - p + 1));
        obj[end - p + 1] = '\0';
        result *r = &out[n];
        memset(r, 0, sizeof(*r));
        cr_assert(ws_json_str(obj, "transactionID", r->txn, sizeof(r->txn)) == 1 &&
                      ws_json_str(obj, "code", r->code, sizeof(r->code)) == 1,
                  "result %zu: %s", n, obj);
        r->balances = ws_json_u64(obj, "fromBalance", &r->from_balance) &&
                      ws_json_u64(obj, "toBalance", &r->to_balance);
        r->replayed = strstr(obj, ",\"replayed\":true}") != NULL;
        int k = snprintf(again, sizeof(again), "{\"transactionID\":\"%s\",\"code\":\"%s\"", r->txn,
                         r->code);
        if (r->balances) {
            k += snprintf(again + k, sizeof(again) - (size_t)k,
                          ",\"fromBalance\":%llu,\"toBalance\":%llu",
                          (unsigned long long)r->from_balance, (unsigned long long)r->to_balance);
        }
        snprintf(again + k, sizeof(again) - (size_t)k, "%s}",
                 r->replayed ? ",\"replayed\":true" : "");
        cr_assert_str_eq(obj, again, "result %zu is not rendered as the API says", n);
        cr_assert_eq(r->balances, strcmp(r->code, "ok") == 0, "balances exactly on ok: %s", obj);
        n++;
        p = end + 1;
        p += *p == ',';
    }
    cr_assert_str_eq(p, "]}", "the end of the results");
    return n;
}

/* Checks that body holds the results of batch x and records its new successes as
 * acknowledged. */
static void ack_results(const char *body, const xfer *x, size_t n) {
    static result res[BATCH_MAX + 2];
    cr_assert_leq(n, BATCH_MAX + 1);
    size_t got = parse_results(body, res, n + 1);
    cr_assert_eq(got, n, "a batch of %zu got %zu results", n, got);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(res[i].txn, x[i].id, "result %zu is not in request order", i);
        if (strcmp(res[i].code, "ok") == 0 && !res[i].replayed) {
            ack(x[i].id, x[i].from, x[i].to, x[i].amount, res[i].from_balance, res[i].to_balance,
                "(batch)");
        }
    }
}

/* Checks R is the 200 answer to batch x and records its new successes as acknowledged. */
static void ack_batch(const xfer *x, size_t n) {
    cr_assert_eq(R.status, 200, "batch: %ld %s", R.status, BODY);
    ack_results(R.body, x, n);
}

/* The results body `want` (with ' for ") as a retry answers it: every result gains
 * ,"replayed":true, except a transfer_id_conflict (its ID names another record). */
static const char *as_replayed(const char *want) {
    static char out[DQ_MAX];
    const char *w = dq(want);
    size_t o = 0;
    const char *obj = w;
    for (const char *p = w; *p != '\0'; p++) {
        if (*p == '{') {
            obj = p;
        }
        if (*p == '}' && (p[1] == ',' || p[1] == ']')) {
            bool conflict = strstr(obj, "transfer_id_conflict") != NULL &&
                            strstr(obj, "transfer_id_conflict") < p;
            if (!conflict) {
                o += (size_t)snprintf(out + o, sizeof(out) - o, ",\"replayed\":true");
            }
        }
        cr_assert_lt(o + 2, sizeof(out));
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

/* Posts batch x, expects exactly `want` (with ' for "), and acknowledges its successes. */
static void batch_expect(const char *what, const xfer *x, size_t n, const char *want) {
    post_batch(x, n, NULL);
    expect_fresh(what, 200, want);
    ack_batch(x, n);
}

/* Posts batch x again and expects `want` replayed, with nothing new in the log. */
static void batch_retry(const char *what, const xfer *x, size_t n, const char *want) {
    uint64_t end = log_end();
    char replayed[DQ_MAX];
    snprintf(replayed, sizeof(replayed), "%s", as_replayed(want));
    post_batch(x, n, NULL);
    cr_assert_eq(R.status, 200, "%s: %ld %s", what, R.status, BODY);
    cr_assert_str_eq(BODY, replayed, "%s: got %s, expected %s", what, BODY, replayed);
    cr_assert(!R.replayed, "%s: a batch answer has no Idempotent-Replayed header", what);
    cr_assert_eq(log_end(), end, "%s: a retried batch wrote records", what);
}

/* A request that must be refused as a whole: status, code, index, and nothing in the log. */
static void refused_whole(const char *what, const char *path, const char *body,
                          const char *extra_header, long status, const char *code, long index) {
    uint64_t end = log_end();
    post(path, body, extra_header);
    expect_error_at(what, status, code, index);
    cr_assert_eq(log_end(), end, "%s: a refused request wrote to the log", what);
}

/* ---- accounts ------------------------------------------------------------------------------ */

Test(json, accounts, .fini = teardown, .timeout = 120) {
    start(NULL);
    create("A", 1000);
    post(API "accounts", "{'accountID':'B','startAmount':'250'}", NULL);
    expect_fresh("string startAmount", 201,
                 "{'accountID':'B','balance':250,'available':250,'pendingCredits':0,'currency':'"
                 "XXX','overdraftLimit':0,'maxBalance':null}");
    add_account("B", 250);
    post(API "accounts", "{'startAmount':0}", NULL);
    cr_assert_eq(R.status, 201, "generated ID: %s", BODY);
    char gen[72];
    cr_assert_eq(ws_json_str(R.body, "accountID", gen, sizeof(gen)), 1);
    cr_assert(ws_is_uuid(gen), "a generated accountID is a UUID: %s", gen);
    add_account(gen, 0);
    post(API "accounts", "{'startAmount':9223372036854775807,'accountID':'MAXI'}", NULL);
    expect_fresh("2^63-1 as an integer", 201,
                 "{'accountID':'MAXI','balance':9223372036854775807,'available':"
                 "9223372036854775807,'pendingCredits':0,'currency':'XXX','"
                 "overdraftLimit':0,'maxBalance':null}");
    add_account("MAXI", MAX_I64);
    post(API "accounts", "{'accountID':'MAXS','startAmount':'9223372036854775807'}", NULL);
    expect_fresh("2^63-1 as a string", 201,
                 "{'accountID':'MAXS','balance':9223372036854775807,'available':"
                 "9223372036854775807,'pendingCredits':0,'currency':'XXX','"
                 "overdraftLimit':0,'maxBalance':null}");
    add_account("MAXS", MAX_I64);
    post(API "accounts", "{'accountID':'lead0','startAmount':'007'}", NULL);
    expect_fresh("leading zeros", 201,
                 "{'accountID':'lead0','balance':7,'available':7,'pendingCredits':0,'currency':'"
                 "XXX','overdraftLimit':0,'maxBalance':null}");
    add_account("lead0", 7);
    /* Content-Type with a parameter, and in capitals, is JSON. */
    const char *b = dq("{'accountID':'ct1','startAmount':1}");
    ws_post(cli, &R, API "accounts", "application/json; charset=utf-8", b, strlen(b), NULL);
    expect_fresh("charset parameter", 201,
                 "{'accountID':'ct1','balance':1,'available':1,'pendingCredits':0,'currency':'XXX',"
                 "'overdraftLimit':0,'maxBalance':null}");
    add_account("ct1", 1);
    b = dq("{'accountID':'ct2','startAmount':2}");
    ws_post(cli, &R, API "accounts", "Application/JSON", b, strlen(b), NULL);
    expect_fresh("capital media type", 201,
                 "{'accountID':'ct2','balance':2,'available':2,'pendingCredits':0,'currency':'XXX',"
                 "'overdraftLimit':0,'maxBalance':null}");
    add_account("ct2", 2);

    /* GET /accounts/{id}. */
    cr_assert_eq(ws_get(cli, &R, API "accounts/A"), 200);
    expect_fresh("GET A", 200,
                 "{'accountID':'A','balance':1000,'available':1000,'pendingCredits':0,'currency':'"
                 "XXX','overdraftLimit':0,'maxBalance':null}");
    ws_get(cli, &R, API "accounts/MAXI");
    expect_fresh("GET MAXI", 200,
                 "{'accountID':'MAXI','balance':9223372036854775807,'available':"
                 "9223372036854775807,'pendingCredits':0,'currency':'XXX','"
                 "overdraftLimit':0,'maxBalance':null}");
    ws_get(cli, &R, API "accounts/%s", gen);
    cr_assert_eq(R.status, 200);
    ws_get(cli, &R, API "accounts/nobody");
    expect_body("unknown account", 404,
                "{'error':{'code':'account_not_found','message':'account `nobody` does not "
                "exist'}}");
    cr_assert(ws_json_is_error(R.body, "account_not_found"));
    static const char *const bad_ids[] = {
        "bad!id", "a%20b", "A%00",
        "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii", /* 65 */
    };
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        ws_get(cli, &R, API "accounts/%s", bad_ids[i]);
        expect_error(bad_ids[i], 400, "invalid_parameter");
    }
    ws_get(cli, &R,
           API "accounts/iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii");
    expect_error("an ID of 64 characters is an ID", 404, "account_not_found");
    ws_get(cli, &R, API "accounts/A?verbose=1");
    expect_error("a query on GET /accounts/{id}", 400, "invalid_parameter");
    ws_get(cli, &R, API "accounts/");
    expect_error("no ID after /accounts/", 404, "not_found");
    ws_get(cli, &R, API "accounts/A/B");
    expect_error("a path under /accounts/{id} that is not a route", 404, "not_found");
    ws_get(cli, &R, API "accounts/bad!id/events");
    expect_error("a bad ID before /events", 400, "invalid_parameter");

    /* Refusals of a creation. */
    uint64_t end = log_end();
    post(API "accounts", "{'accountID':'A','startAmount':5}", NULL);
    expect_body("existing account", 409,
                "{'error':{'code':'account_exists','message':'account `A` already exists'}}");
    cr_assert(!R.replayed);
    cr_assert_eq(balance_of("A"), 1000);
    cr_assert_eq(log_end(), end, "a refused creation is not in the log");
    static const struct {
        const char *what, *body, *code;
    } bad[] = {
        {"2^63 as an integer", "{'accountID':'n1','startAmount':9223372036854775808}",
         "invalid_parameter"},
        {"2^63 as a string", "{'accountID':'n1','startAmount':'9223372036854775808'}",
         "invalid_parameter"},
        {"2^64", "{'accountID':'n1','startAmount':18446744073709551616}", "invalid_parameter"},
        {"negative", "{'accountID':'n1','startAmount':-1}", "invalid_parameter"},
        {"negative string", "{'accountID':'n1','startAmount':'-1'}", "invalid_parameter"},
        {"fraction", "{'accountID':'n1','startAmount':1.0}", "invalid_parameter"},
        {"exponent", "{'accountID':'n1','startAmount':1e3}", "invalid_parameter"},
        {"padded string", "{'accountID':'n1','startAmount':' 1'}", "invalid_parameter"},
        {"empty string", "{'accountID':'n1','startAmount':''}", "invalid_parameter"},
        {"boolean", "{'accountID':'n1','startAmount':true}", "invalid_parameter"},
        {"null", "{'accountID':'n1','startAmount':null}", "invalid_parameter"},
        {"array", "{'accountID':'n1','startAmount':[1]}", "invalid_parameter"},
        {"numeric ID", "{'accountID':5,'startAmount':1}", "invalid_parameter"},
        {"empty ID", "{'accountID':'','startAmount':1}", "invalid_parameter"},
        {"ID with a space", "{'accountID':'n 1','startAmount':1}", "invalid_parameter"},
        {"ID with \\u0000", "{'accountID':'n1\\u0000','startAmount':1}", "invalid_parameter"},
        {"ID of 65",
         "{'accountID':'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn',"
         "'startAmount':1}",
         "invalid_parameter"},
        {"unknown field", "{'accountID':'n1','startAmount':1,'memo':'EUR'}", "invalid_parameter"},
        {"a batch on /accounts", "{'transfers':[]}", "invalid_parameter"},
        {"an array", "[]", "invalid_parameter"},
        {"a string", "'n1'", "invalid_parameter"},
        {"a number", "5", "invalid_parameter"},
        {"no startAmount", "{'accountID':'n1'}", "missing_parameter"},
        {"empty object", "{}", "missing_parameter"},
        {"truncated", "{'accountID':'n1','startAmount':1", "invalid_json"},
        {"trailing bytes", "{'accountID':'n1','startAmount':1}x", "invalid_json"},
        {"two objects", "{'accountID':'n1','startAmount':1}{}", "invalid_json"},
        {"duplicate key", "{'accountID':'n1','startAmount':1,'startAmount':1}", "invalid_json"},
        {"trailing comma", "{'accountID':'n1','startAmount':1,}", "invalid_json"},
        {"empty body", "", "invalid_json"},
        {"whitespace only", "  \n ", "invalid_json"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        post(API "accounts", bad[i].body, NULL);
        expect_error(bad[i].what, 400, bad[i].code);
    }
    static const char nul_body[] = "{\"accountID\":\"n1\",\"startAmount\":1}\0";
    post_raw(API "accounts", JSON, nul_body, sizeof(nul_body) - 1);
    expect_error("a NUL byte after the object", 400, "invalid_json");
    static const char raw_nul[] = "{\"accountID\":\"n\0001\",\"startAmount\":1}";
    post_raw(API "accounts", JSON, raw_nul, sizeof(raw_nul) - 1);
    expect_error("a raw NUL byte in the ID", 400, "invalid_json");
    static const char bad_utf8[] = "{\"accountID\":\"n\xff\",\"startAmount\":1}";
    post_raw(API "accounts", JSON, bad_utf8, sizeof(bad_utf8) - 1);
    expect_error("invalid UTF-8", 400, "invalid_json");
    post(API "accounts?accountID=n1", "{'startAmount':1}", NULL);
    expect_error("a query on POST /accounts", 400, "invalid_parameter");
    /* The media type. */
    const char *good = dq("{'accountID':'n1','startAmount':1}");
    static const char *const types[] = {"text/plain",
                                        "application/x-www-form-urlencoded",
                                        "application/jsonx",
                                        "application/json-seq",
                                        "json",
                                        NULL};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        post_raw(API "accounts", types[i], good, strlen(good));
        expect_error(types[i] ? types[i] : "no Content-Type", 415, "unsupported_media_type");
    }
    cr_assert_eq(log_end(), end, "a refused request wrote to the log");
    cr_assert_eq(ws_get(cli, &R, API "accounts/n1"), 404, "n1 was created: %s", BODY);

    /* Methods: 405 with Allow. */
    static const struct {
        const char *method, *path, *allow;
    } methods[] = {
        {"GET", API "accounts", "POST"},       {"PUT", API "accounts", "POST"},
        {"POST", API "accounts/A", "GET"},     {"DELETE", API "accounts/A", "GET"},
        {"GET", API "transfers", "POST"},      {"PATCH", API "transfers", "POST"},
        {"POST", API "create_account", "GET"}, {"POST", API "events", "GET"},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        ws_send(cli, methods[i].method, &R, methods[i].path, JSON, good, strlen(good), NULL);
        char what[128], allow[64];
        snprintf(what, sizeof(what), "%s %s", methods[i].method, methods[i].path);
        expect_error(what, 405, "method_not_allowed");
        cr_assert(ws_last_header("Allow", allow, sizeof(allow)), "%s: no Allow header", what);
        cr_assert_str_eq(allow, methods[i].allow, "%s: Allow", what);
    }
    cr_assert_eq(log_end(), end, "a refused method wrote to the log");

    /* GET /events?records=all lists the creations, by lsn. */
    static rec_list l;
    records_after(0, &l);
    cr_assert_eq(l.count, acct_n);
    for (size_t i = 0; i < l.count; i++) {
        cr_assert_str_eq(l.items[i].type, "AccountCreated");
        cr_assert_eq(l.items[i].lsn, i + 1);
        cr_assert_eq(l.items[i].seq, i + 1, "one event per creation");
        cr_assert_str_eq(l.items[i].account, acct_id[i]);
        cr_assert_eq(l.items[i].amount, acct_start[i]);
    }
    rec_list_free(&l);
    ws_get(cli, &R, API "events?records=some");
    expect_error("records=some", 400, "invalid_parameter");
    ws_get(cli, &R, API "events?records=all&accountID=A");
    expect_error("records=all with accountID", 400, "invalid_parameter");
    ws_get(cli, &R, API "events?records=all&after=%zu", acct_n);
    expect_fresh("records after the end", 200, "{'records':[],'next':null}");
    ws_get(cli, &R, API "events?records=all&limit=2");
    cr_assert_eq(R.status, 200);
    cr_assert(strstr(R.body, "],\"next\":2}") != NULL, "a page of two: %s", BODY);
    finish();
}

/* ---- single transfers ---------------------------------------------------------------------- */

#define S1_BODY                                                                                    \
    "{'transactionID':'s1','fromAccount':'A','toAccount':'B','amount':100,'fromBalance':900,"      \
    "'toBalance':600}"

Test(json, single_transfers, .fini = teardown, .timeout = 120) {
    start(NULL);
    create("A", 1000);
    create("B", 500);
    create("Z", 0);
    create("F", MAX_I64);
    create("G", 0);
    post(API "transfers", "{'transferID':'s1','fromAccount':'A','toAccount':'B','amount':100}",
         NULL);
    expect_fresh("s1", 200, S1_BODY);
    ack("s1", "A", "B", 100, 900, 600, "s1");
    uint64_t end = log_end();
    post(API "transfers", "{'transferID':'s1','fromAccount':'A','toAccount':'B','amount':100}",
         NULL);
    expect_replay("s1 again", 200, S1_BODY);
    post(API "transfers", "{'amount':'100','toAccount':'B','fromAccount':'A','transferID':'s1'}",
         NULL);
    expect_replay("s1 with a string amount and other key order", 200, S1_BODY);
    ws_get(cli, &R, API "balance_transfer?fromAccount=A&toAccount=B&amount=100&transferID=s1");
    expect_replay("s1 through GET balance_transfer", 200, S1_BODY);
    cr_assert_eq(log_end(), end, "a replay wrote to the log");
    post(API "transfers", "{'transferID':'s1','fromAccount':'A','toAccount':'B','amount':101}",
         NULL);
    expect_body("s1 with another amount", 409,
                "{'error':{'code':'transfer_id_conflict','message':'transferID `s1` was "
                "already used with a different fromAccount, toAccount or amount'}}");
    post(API "transfers", "{'transferID':'s1','fromAccount':'B','toAccount':'A','amount':100}",
         NULL);
    expect_error("s1 the other way", 409, "transfer_id_conflict");
    cr_assert_eq(log_end(), end, "a conflict wrote to the log");
    cr_assert_eq(balance_of("A"), 900);

    /* No transferID: one is generated. The same through GET has the same shape. */
    char txn[72];
    post(API "transfers", "{'fromAccount':'B','toAccount':'A','amount':50}", NULL);
    ack_single("B", "A", 50, txn, sizeof(txn));
    cr_assert(ws_is_uuid(txn), "a generated transactionID is a UUID: %s", txn);
    char want[512];
    snprintf(want, sizeof(want),
             "{'transactionID':'%s','fromAccount':'B','toAccount':'A','amount':50,"
             "'fromBalance':550,'toBalance':950}",
             txn);
    expect_fresh("generated", 200, want);
    post(API "transfers",
         "{'transferID':'s2','fromAccount':'A','toAccount':'B','amount':1,"
         "'linked':false}",
         NULL);
    expect_fresh("linked false", 200,
                 "{'transactionID':'s2','fromAccount':'A','toAccount':'B','amount':1,"
                 "'fromBalance':949,'toBalance':551}");
    ack("s2", "A", "B", 1, 949, 551, "s2");
    post(API "transfers",
         "{'transferID':'s-esc','fromAccount':'\\u0041','toAccount':'B',"
         "'amount':1}",
         NULL);
    expect_fresh("an escaped ID", 200,
                 "{'transactionID':'s-esc','fromAccount':'A','toAccount':'B','amount':1,"
                 "'fromBalance':948,'toBalance':552}");
    ack("s-esc", "A", "B", 1, 948, 552, "s-esc");

    /* Refusals with a transferID are remembered: each retry answers the same bytes, even
     * once the refusal's reason is gone. */
    static const struct {
        const char *body;
        long status;
        const char *want;
    } refusals[] = {
        {"{'transferID':'r1','fromAccount':'Z','toAccount':'A','amount':5}", 422,
         "{'error':{'code':'insufficient_funds','message':'account `Z` has insufficient "
         "funds for 5'}}"},
        {"{'transferID':'r2','fromAccount':'A','toAccount':'A','amount':5}", 422,
         "{'error':{'code':'same_account','message':'fromAccount and toAccount are both "
         "`A`'}}"},
        {"{'transferID':'r3','fromAccount':'A','toAccount':'F','amount':1}", 422,
         "{'error':{'code':'balance_overflow','message':'crediting 1 to account `F` would "
         "exceed the maximum balance of 9223372036854775807'}}"},
        {"{'transferID':'r4','fromAccount':'A','toAccount':'ghost1','amount':1}", 404,
         "{'error':{'code':'account_not_found','message':'account `ghost1` does not "
         "exist'}}"},
        {"{'transferID':'r5','fromAccount':'ghost2','toAccount':'A','amount':1}", 404,
         "{'error':{'code':'account_not_found','message':'account `ghost2` does not "
         "exist'}}"},
        {"{'transferID':'r6','fromAccount':'A','toAccount':'B','amount':'9223372036854775807'}",
         422,
         "{'error':{'code':'insufficient_funds','message':'account `A` has insufficient "
         "funds for 9223372036854775807'}}"},
    };
    size_t nref = sizeof(refusals) / sizeof(refusals[0]);
    for (size_t i = 0; i < nref; i++) {
        post(API "transfers", refusals[i].body, NULL);
        expect_fresh(refusals[i].body, refusals[i].status, refusals[i].want);
    }
    post(API "transfers", "{'transferID':'s3','fromAccount':'A','toAccount':'Z','amount':10}",
         NULL);
    ack_single("A", "Z", 10, txn, sizeof(txn));
    create("ghost1", 0);
    create("ghost2", 100);
    end = log_end();
    for (size_t i = 0; i < nref; i++) {
        post(API "transfers", refusals[i].body, NULL);
        expect_replay(refusals[i].body, refusals[i].status, refusals[i].want);
    }
    cr_assert_eq(log_end(), end, "a replayed refusal wrote to the log");
    cr_assert_eq(balance_of("Z"), 10);

    /* 2^63-1 as an integer and back as a string. */
    post(API "transfers",
         "{'transferID':'m1','fromAccount':'F','toAccount':'G',"
         "'amount':9223372036854775807}",
         NULL);
    expect_fresh("2^63-1 as an integer", 200,
                 "{'transactionID':'m1','fromAccount':'F','toAccount':'G',"
                 "'amount':9223372036854775807,'fromBalance':0,'toBalance':9223372036854775807}");
    ack("m1", "F", "G", MAX_I64, 0, MAX_I64, "m1");
    post(API "transfers",
         "{'transferID':'m2','fromAccount':'G','toAccount':'F',"
         "'amount':'9223372036854775807'}",
         NULL);
    expect_fresh("2^63-1 as a string", 200,
                 "{'transactionID':'m2','fromAccount':'G','toAccount':'F',"
                 "'amount':9223372036854775807,'fromBalance':0,'toBalance':9223372036854775807}");
    ack("m2", "G", "F", MAX_I64, 0, MAX_I64, "m2");

    /* Whole-request refusals: nothing is decided, nothing is written. */
    static const struct {
        const char *what, *body, *code;
    } bad[] = {
        {"2^63",
         "{'transferID':'v1','fromAccount':'F','toAccount':'G','amount':9223372036854775808}",
         "invalid_parameter"},
        {"2^63 as a string",
         "{'transferID':'v1','fromAccount':'F','toAccount':'G','amount':'9223372036854775808'}",
         "invalid_parameter"},
        {"2^64", "{'fromAccount':'F','toAccount':'G','amount':18446744073709551616}",
         "invalid_parameter"},
        {"20 nines", "{'fromAccount':'F','toAccount':'G','amount':99999999999999999999}",
         "invalid_parameter"},
        {"zero", "{'fromAccount':'A','toAccount':'B','amount':0}", "invalid_parameter"},
        {"zero string", "{'fromAccount':'A','toAccount':'B','amount':'0'}", "invalid_parameter"},
        {"negative", "{'fromAccount':'A','toAccount':'B','amount':-1}", "invalid_parameter"},
        {"fraction", "{'fromAccount':'A','toAccount':'B','amount':1.5}", "invalid_parameter"},
        {"exponent", "{'fromAccount':'A','toAccount':'B','amount':1E2}", "invalid_parameter"},
        {"hex string", "{'fromAccount':'A','toAccount':'B','amount':'0x10'}", "invalid_parameter"},
        {"linked single",
         "{'transferID':'v2','fromAccount':'A','toAccount':'B','amount':1,"
         "'linked':true}",
         "invalid_parameter"},
        {"linked as a string", "{'fromAccount':'A','toAccount':'B','amount':1,'linked':'true'}",
         "invalid_parameter"},
        {"empty fromAccount", "{'fromAccount':'','toAccount':'B','amount':1}", "invalid_parameter"},
        {"\\u0000 in fromAccount", "{'fromAccount':'A\\u0000','toAccount':'B','amount':1}",
         "invalid_parameter"},
        {"\\u0000 in transferID",
         "{'transferID':'\\u0000','fromAccount':'A','toAccount':'B',"
         "'amount':1}",
         "invalid_parameter"},
        {"numeric toAccount", "{'fromAccount':'A','toAccount':7,'amount':1}", "invalid_parameter"},
        {"null transferID", "{'transferID':null,'fromAccount':'A','toAccount':'B','amount':1}",
         "invalid_parameter"},
        {"object fromAccount", "{'fromAccount':{},'toAccount':'B','amount':1}",
         "invalid_parameter"},
        {"unknown field", "{'fromAccount':'A','toAccount':'B','amount':1,'memo':'x'}",
         "invalid_parameter"},
        {"transfers after a field", "{'fromAccount':'A','transfers':[]}", "invalid_parameter"},
        {"an array", "[{'fromAccount':'A','toAccount':'B','amount':1}]", "invalid_parameter"},
        {"no fromAccount", "{'toAccount':'B','amount':1}", "missing_parameter"},
        {"no toAccount", "{'fromAccount':'A','amount':1}", "missing_parameter"},
        {"no amount", "{'fromAccount':'A','toAccount':'B'}", "missing_parameter"},
        {"empty object", "{}", "missing_parameter"},
        {"truncated", "{'fromAccount':'A','toAccount':'B','amount':1", "invalid_json"},
        {"truncated in a string", "{'fromAccount':'A','toAccount':'B", "invalid_json"},
        {"trailing bytes", "{'fromAccount':'A','toAccount':'B','amount':1} 1", "invalid_json"},
        {"duplicate key", "{'fromAccount':'A','fromAccount':'A','toAccount':'B','amount':1}",
         "invalid_json"},
        {"single quotes", "{`fromAccount`:1}", "invalid_json"},
        {"a comment", "{'fromAccount':'A','toAccount':'B','amount':1}/**/", "invalid_json"},
        {"empty body", "", "invalid_json"},
    };
    end = log_end();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        post(API "transfers", bad[i].body, NULL);
        expect_error(bad[i].what, 400, bad[i].code);
    }
    static const char raw_nul[] = "{\"fromAccount\":\"A\0\",\"toAccount\":\"B\",\"amount\":1}";
    post_raw(API "transfers", JSON, raw_nul, sizeof(raw_nul) - 1);
    expect_error("a raw NUL byte in fromAccount", 400, "invalid_json");
    static const char bad_utf8[] = "{\"fromAccount\":\"A\",\"toAccount\":\"\xc3\",\"amount\":1}";
    post_raw(API "transfers", JSON, bad_utf8, sizeof(bad_utf8) - 1);
    expect_error("a truncated UTF-8 sequence", 400, "invalid_json");
    const char *good = dq("{'transferID':'v3','fromAccount':'A','toAccount':'B','amount':1}");
    post_raw(API "transfers", "text/plain", good, strlen(good));
    expect_error("text/plain", 415, "unsupported_media_type");
    post_raw(API "transfers", NULL, good, strlen(good));
    expect_error("no Content-Type", 415, "unsupported_media_type");
    post(API "transfers?dryRun=1", "{'fromAccount':'A','toAccount':'B','amount':1}", NULL);
    expect_error("a query on POST /transfers", 400, "invalid_parameter");
    cr_assert_eq(log_end(), end, "a refused request wrote to the log");

    /* The log: every remembered refusal once, with its code; no RequestKey. */
    static rec_list l;
    records_after(0, &l);
    static const char *const codes[] = {"insufficient_funds", "same_account",
                                        "balance_overflow",   "account_not_found",
                                        "account_not_found",  "insufficient_funds"};
    for (size_t i = 0; i < nref; i++) {
        char id[8];
        snprintf(id, sizeof(id), "r%zu", i + 1);
        const rec *r = find_rec(&l, "TransferRefused", id);
        cr_assert_not_null(r, "no TransferRefused for %s", id);
        cr_assert_str_eq(r->code, codes[i], "%s", id);
        cr_assert_null(find_rec(&l, "Transfer", id));
    }
    cr_assert_eq(count_type(&l, "TransferRefused"), nref);
    cr_assert_eq(count_type(&l, "RequestKey"), 0);
    const rec *m1 = find_rec(&l, "Transfer", "m1");
    cr_assert(m1 != NULL && m1->amount == MAX_I64 && strcmp(m1->from, "F") == 0 &&
              strcmp(m1->to, "G") == 0);
    rec_list_free(&l);
    finish();
}

/* ---- batches ------------------------------------------------------------------------------- */

Test(json, batches, .fini = teardown, .timeout = 120) {
    start(NULL);
    create("A", 1000);
    create("B", 0);
    create("C", 50);
    create("F", MAX_I64);
    static const xfer b1[] = {
        X("b1", "A", "B", 100), X("b2", "B", "C", 150),     X("b3", "B", "C", 100),
        X("b4", "C", "A", 150), X("b5", "A", "nobody", 1),  X("b6", "A", "A", 1),
        X("b7", "C", "A", 1),   X("b8", "A", "C", MAX_I64), X("b9", "A", "F", 1),
    };
    static const char want1[] =
        "{'results':[{'transactionID':'b1','code':'ok','fromBalance':900,'toBalance':100},"
        "{'transactionID':'b2','code':'insufficient_funds'},"
        "{'transactionID':'b3','code':'ok','fromBalance':0,'toBalance':150},"
        "{'transactionID':'b4','code':'ok','fromBalance':0,'toBalance':1050},"
        "{'transactionID':'b5','code':'account_not_found'},"
        "{'transactionID':'b6','code':'same_account'},"
        "{'transactionID':'b7','code':'insufficient_funds'},"
        "{'transactionID':'b8','code':'insufficient_funds'},"
        "{'transactionID':'b9','code':'balance_overflow'}]}";
    batch_expect("batch 1", b1, 9, want1);
    batch_retry("batch 1 again", b1, 9, want1);

    /* A single POST, then a batch that mixes replays, a new transfer and a conflict. */
    post(API "transfers", "{'transferID':'s1','fromAccount':'A','toAccount':'C','amount':10}",
         NULL);
    expect_fresh("s1", 200,
                 "{'transactionID':'s1','fromAccount':'A','toAccount':'C','amount':10,"
                 "'fromBalance':1040,'toBalance':10}");
    ack("s1", "A", "C", 10, 1040, 10, "s1");
    static const xfer b2[] = {X("b1", "A", "B", 100), X("n1", "A", "B", 1), X("b2", "B", "C", 151),
                              X("s1", "A", "C", 10)};
    static const char want2[] =
        "{'results':[{'transactionID':'b1','code':'ok','fromBalance':900,'toBalance':100,"
        "'replayed':true},"
        "{'transactionID':'n1','code':'ok','fromBalance':1039,'toBalance':1},"
        "{'transactionID':'b2','code':'transfer_id_conflict'},"
        "{'transactionID':'s1','code':'ok','fromBalance':1040,'toBalance':10,'replayed':true}]}";
    batch_expect("batch 2", b2, 4, want2);
    /* What a batch decided replays through the single forms too. */
    ws_get(cli, &R, API "balance_transfer?fromAccount=B&toAccount=C&amount=100&transferID=b3");
    expect_replay("b3 through GET", 200,
                  "{'transactionID':'b3','fromAccount':'B','toAccount':'C','amount':100,"
                  "'fromBalance':0,'toBalance':150}");
    post(API "transfers", "{'transferID':'b2','fromAccount':'B','toAccount':'C','amount':150}",
         NULL);
    expect_replay("b2 through POST", 422,
                  "{'error':{'code':'insufficient_funds','message':'account `B` has "
                  "insufficient funds for 150'}}");

    /* A batch body past 4096 bytes is taken on POST /transfers. */
    xfer big[60];
    char ids[60][16];
    for (int i = 0; i < 60; i++) {
        snprintf(ids[i], sizeof(ids[i]), "big-%02d", i);
        big[i] = (xfer)X(ids[i], i % 2 ? "C" : "A", i % 2 ? "A" : "C", 1);
    }
    static sbuf bb;
    batch_body(&bb, big, 60);
    cr_assert_gt(bb.len, BODY_LIMIT, "the body is %zu bytes", bb.len);
    sb_free(&bb);
    post_batch(big, 60, NULL);
    ack_batch(big, 60);

    /* Whole-request refusals: one 4xx, nothing applied. */
    static const struct {
        const char *what, *body, *code;
        long index;
    } bad[] = {
        {"no transfers", "{'transfers':[]}", "too_many_transfers", -1},
        {"a duplicate transferID",
         "{'transfers':[{'transferID':'d1','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'d2','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'d1','fromAccount':'A','toAccount':'B','amount':1}]}",
         "duplicate_transfer_id", 2},
        {"two duplicates: the first second use",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'x2','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'x3','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'x2','fromAccount':'A','toAccount':'B','amount':2},"
         "{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1}]}",
         "duplicate_transfer_id", 3},
        {"no transferID in a batch",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1},"
         "{'fromAccount':'A','toAccount':'B','amount':1}]}",
         "missing_parameter", 1},
        {"no amount in a batch",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B'}]}",
         "missing_parameter", 0},
        {"2^63 in a batch",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'x2','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'x3','fromAccount':'A','toAccount':'B','amount':9223372036854775808}]}",
         "invalid_parameter", 2},
        {"a word for an amount",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':'abc'}]}",
         "invalid_parameter", 0},
        {"an unknown field in a transfer",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'x2','fromAccount':'A','toAccount':'B','amount':1,'note':1}]}",
         "invalid_parameter", 1},
        {"linked as a string",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'x2','fromAccount':'A','toAccount':'B','amount':1,'linked':'yes'}]}",
         "invalid_parameter", 1},
        {"\\u0000 in a transferID",
         "{'transfers':[{'transferID':'x\\u0000','fromAccount':'A','toAccount':'B','amount':1}]}",
         "invalid_parameter", 0},
        {"a duplicate key in a transfer",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'x2','transferID':'x2','fromAccount':'A','toAccount':'B','amount':1}]}",
         "invalid_json", 1},
        {"a field beside transfers",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1}],"
         "'atomic':true}",
         "invalid_parameter", -1},
        {"transfers twice", "{'transfers':[],'transfers':[]}", "invalid_json", -1},
        {"transfers is an object", "{'transfers':{}}", "invalid_parameter", -1},
        {"transfers is null", "{'transfers':null}", "invalid_parameter", -1},
        {"a number for a transfer", "{'transfers':[1]}", "invalid_parameter", -1},
        {"an array for a transfer", "{'transfers':[[]]}", "invalid_parameter", -1},
        {"a syntax error in the middle",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1},"
         "{'transferID':'x2','fromAccount':'A','toAccount':'B','amount':1,}]}",
         "invalid_json", -1},
        {"truncated",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1}",
         "invalid_json", -1},
        {"trailing bytes",
         "{'transfers':[{'transferID':'x1','fromAccount':'A','toAccount':'B','amount':1}]}]",
         "invalid_json", -1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        refused_whole(bad[i].what, API "transfers", bad[i].body, NULL, 400, bad[i].code,
                      bad[i].index);
    }
    static const char one[] =
        "{'transfers':[{'transferID':'k1','fromAccount':'A','toAccount':'B','amount':1}]}";
    refused_whole("Idempotency-Key on a batch", API "transfers", one, "Idempotency-Key: k1", 400,
                  "invalid_parameter", -1);
    refused_whole("a malformed Idempotency-Key on a batch", API "transfers", one,
                  "Idempotency-Key: k/1", 400, "invalid_parameter", -1);
    uint64_t end = log_end();
    const char *good = dq(one);
    post_raw(API "transfers", "text/json", good, strlen(good));
    expect_error("text/json", 415, "unsupported_media_type");
    cr_assert_eq(log_end(), end);
    finish();
}

/* ---- a batch of 8,190, one of 8,191, and the two body limits -------------------------------- */

#define POOL 10
static const char *const pool[POOL] = {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"};
#define POOL_START 1000000u

/* Sends a request head alone (no body) and reads at most one answer within timeout_ms. */
static int head_only(const char *head, ws_raw_response *r, int timeout_ms, int *fd_out) {
    int fd = ws_raw_connect(srv->port);
    cr_assert_geq(fd, 0);
    cr_assert(ws_raw_send(fd, head, strlen(head), 2000));
    int got = ws_raw_read(fd, r, 1, NULL, timeout_ms, NULL);
    if (fd_out != NULL) {
        *fd_out = fd;
    } else {
        close(fd);
    }
    return got;
}

/* A batch of one transfer padded with spaces to exactly len bytes. */
static char *padded_batch(const char *id, size_t len) {
    char *b = malloc(len + 1);
    cr_assert_not_null(b);
    int n = snprintf(b, len + 1,
                     "{\"transfers\":[{\"transferID\":\"%s\",\"fromAccount\":\"p0\","
                     "\"toAccount\":\"p1\",\"amount\":1}]}",
                     id);
    cr_assert(n > 0 && (size_t)n < len);
    memset(b + n, ' ', len - (size_t)n);
    b[len] = '\0';
    return b;
}

Test(json, batch_limits, .fini = teardown, .timeout = 200) {
    start(NULL);
    for (int i = 0; i < POOL; i++) {
        create(pool[i], POOL_START);
    }
    uint64_t before = log_end();
    static rec_list l;
    records_after(before - 1, &l);
    char last_ts[48];
    snprintf(last_ts, sizeof(last_ts), "%s", l.items[0].ts);
    rec_list_free(&l);

    /* 8,190 transfers: all taken, in one commit, in request order. */
    static xfer x[BATCH_MAX + 1];
    static char ids[BATCH_MAX + 1][16];
    uint64_t bal[POOL];
    for (int i = 0; i < POOL; i++) {
        bal[i] = POOL_START;
    }
    static sbuf want;
    sb_add(&want, "{\"results\":[");
    for (size_t i = 0; i < BATCH_MAX; i++) {
        size_t f = i % POOL, t = (3 * i + 1) % POOL;
        uint64_t amount = 1 + i % 97;
        snprintf(ids[i], sizeof(ids[i]), "bt%04zu", i);
        x[i] = (xfer)X(ids[i], pool[f], pool[t], amount);
        bal[f] -= amount;
        bal[t] += amount;
        sb_add(&want,
               "%s{\"transactionID\":\"%s\",\"code\":\"ok\",\"fromBalance\":%llu,"
               "\"toBalance\":%llu}",
               i ? "," : "", ids[i], (unsigned long long)bal[f], (unsigned long long)bal[t]);
    }
    sb_add(&want, "]}");
    static sbuf body;
    batch_body(&body, x, BATCH_MAX);
    cr_assert_gt(body.len, BODY_LIMIT);
    int64_t t0 = ws_now_ms();
    long st = ws_post(cli, &R, API "transfers", JSON, body.p, body.len, NULL);
    int64_t took = ws_now_ms() - t0;
    sb_free(&body);
    cr_assert_eq(st, 200, "8190 transfers: %ld %.300s", st, BODY);
    if (strcmp(R.body, want.p) != 0) {
        size_t k = 0;
        while (R.body[k] == want.p[k]) {
            k++;
        }
        cr_assert_fail("8190 results differ at byte %zu: got '%.120s', expected '%.120s'", k,
                       R.body + k, want.p + k);
    }
    sb_free(&want);
    ack_batch(x, BATCH_MAX);
    fprintf(stderr, "test_json: a batch of 8190 answered in %lld ms\n", (long long)took);
    records_after(before, &l);
    cr_assert_eq(l.count, BATCH_MAX, "records of the batch: %zu", l.count);
    for (size_t i = 0; i < l.count; i++) {
        const rec *r = &l.items[i];
        cr_assert(r->lsn == before + 1 + i && strcmp(r->type, "Transfer") == 0 &&
                      strcmp(r->txn, ids[i]) == 0 && strcmp(r->from, x[i].from) == 0 &&
                      strcmp(r->to, x[i].to) == 0 && r->amount == x[i].amount,
                  "record %zu of the batch: lsn %llu %s %s", i, (unsigned long long)r->lsn, r->type,
                  r->txn);
        cr_assert_str_eq(r->ts, l.items[0].ts, "record %zu is not of the batch's commit", i);
    }
    cr_assert_str_neq(l.items[0].ts, last_ts, "the batch shares a commit with what came before");
    rec_list_free(&l);
    static ws_event_list ev;
    cr_assert(ws_events_fetch_all(cli, NULL, &ev));
    cr_assert_eq(ev.count, POOL + 2 * BATCH_MAX, "events: %zu", ev.count);
    ws_event_list_free(&ev);
    for (int i = 0; i < POOL; i++) {
        cr_assert_eq(balance_of(pool[i]), bal[i], "balance of %s", pool[i]);
    }
    check_state();

    /* 8,191: refused whole, the index naming the first one too many. */
    for (size_t i = 0; i <= BATCH_MAX; i++) {
        snprintf(ids[i], sizeof(ids[i]), "bu%04zu", i);
        x[i] = (xfer)X(ids[i], pool[i % POOL], pool[(i + 1) % POOL], 1);
    }
    uint64_t end = log_end();
    post_batch(x, BATCH_MAX + 1, NULL);
    expect_error_at("8191 transfers", 400, "too_many_transfers", BATCH_MAX);
    cr_assert_eq(log_end(), end, "a refused batch of 8191 wrote to the log");
    for (int i = 0; i < POOL; i++) {
        cr_assert_eq(balance_of(pool[i]), bal[i], "8191 moved %s", pool[i]);
    }

    /* POST /transfers takes a body of exactly --max-batch-body-bytes, refuses one byte more
     * as soon as it sees the head, and waits for a body past the small limit. */
    char *b = padded_batch("pad-4m", BATCH_BODY_LIMIT);
    st = ws_post(cli, &R, API "transfers", JSON, b, BATCH_BODY_LIMIT, NULL);
    free(b);
    char want4m[256];
    snprintf(want4m, sizeof(want4m),
             "{'results':[{'transactionID':'pad-4m','code':'ok','fromBalance':%llu,"
             "'toBalance':%llu}]}",
             (unsigned long long)(bal[0] - 1), (unsigned long long)(bal[1] + 1));
    expect_fresh("a batch of exactly 4 MiB", 200, want4m);
    x[0] = (xfer)X("pad-4m", "p0", "p1", 1);
    ack_batch(x, 1);
    end = log_end();
    ws_raw_response rr;
    char head[512];
    snprintf(head, sizeof(head),
             "POST " API "transfers HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "Content-Length: %u\r\n\r\n",
             BATCH_BODY_LIMIT + 1);
    cr_assert_eq(head_only(head, &rr, 3000, NULL), 1, "no answer to a declared 4 MiB + 1");
    cr_assert_eq(rr.status, 413, "4 MiB + 1: %d %s", rr.status, rr.body);
    cr_assert(rr.close, "a 413 closes the connection");
    cr_assert(ws_json_is_error(rr.body, "payload_too_large"), "%s", rr.body);
    snprintf(head, sizeof(head),
             "POST " API "accounts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "Content-Length: 5000\r\n\r\n");
    cr_assert_eq(head_only(head, &rr, 3000, NULL), 1, "no answer to a declared 5000 on /accounts");
    cr_assert_eq(rr.status, 413, "5000 on /accounts: %d %s", rr.status, rr.body);
    cr_assert(rr.close, "a 413 closes the connection");
    cr_assert(ws_json_is_error(rr.body, "payload_too_large"), "%s", rr.body);
    static const char tail[] =
        "{\"transfers\":[{\"transferID\":\"cl5000\",\"fromAccount\":\"p2\",\"toAccount\":"
        "\"p3\",\"amount\":1}]}";
    snprintf(head, sizeof(head),
             "POST " API "transfers HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "Content-Length: 5000\r\n\r\n");
    int fd = -1;
    cr_assert_eq(head_only(head, &rr, 500, &fd), 0, "a 5000-byte batch was answered early: %d",
                 rr.status);
    char rest[5000];
    memset(rest, ' ', sizeof(rest));
    memcpy(rest, tail, sizeof(tail) - 1);
    cr_assert(ws_raw_send(fd, rest, sizeof(rest), 2000));
    cr_assert_eq(ws_raw_read(fd, &rr, 1, NULL, 5000, NULL), 1);
    close(fd);
    cr_assert_eq(rr.status, 200, "the 5000-byte batch: %d %s", rr.status, rr.body);
    cr_assert(strstr(rr.body, "\"transactionID\":\"cl5000\",\"code\":\"ok\"") != NULL, "%s",
              rr.body);
    x[0] = (xfer)X("cl5000", "p2", "p3", 1);
    ack_results(rr.body, x, 1);
    cr_assert_eq(log_end(), end + 1, "only the 5000-byte batch was written");

    /* Every other route keeps --max-body-bytes: 4096 bytes taken, 5000 refused. */
    char acct[BODY_LIMIT + 1];
    int n = snprintf(acct, sizeof(acct), "{\"accountID\":\"edge\",\"startAmount\":5}");
    memset(acct + n, ' ', sizeof(acct) - 1 - (size_t)n);
    acct[BODY_LIMIT] = '\0';
    post_raw(API "accounts", JSON, acct, BODY_LIMIT);
    expect_fresh("a 4096-byte account body", 201,
                 "{'accountID':'edge','balance':5,'available':5,'pendingCredits':0,'currency':'XXX'"
                 ",'overdraftLimit':0,'maxBalance':null}");
    add_account("edge", 5);
    char big[5000 + 1];
    n = snprintf(big, sizeof(big), "{\"accountID\":\"edge2\",\"startAmount\":5}");
    memset(big + n, ' ', 5000 - (size_t)n);
    big[5000] = '\0';
    end = log_end();
    post_raw(API "accounts", JSON, big, 5000);
    expect_error("a 5000-byte account body", 413, "payload_too_large");
    ws_send(cli, "GET", &R, API "accounts/p0", JSON, big, 5000, NULL);
    expect_error("GET /accounts/{id} with a 5000-byte body", 413, "payload_too_large");
    cr_assert_eq(log_end(), end);
    cr_assert_eq(ws_get(cli, &R, API "accounts/edge2"), 404);
    finish();
}

/* ---- linked chains --------------------------------------------------------------------------- */

static const xfer c1[] = {
    X("u1", "A", "B", 10), L("h1", "A", "C", 100), L("h2", "C", "D", 100),
    X("h3", "D", "B", 50), X("u2", "B", "A", 60),
};
static const char cwant1[] =
    "{'results':[{'transactionID':'u1','code':'ok','fromBalance':990,'toBalance':1010},"
    "{'transactionID':'h1','code':'ok','fromBalance':890,'toBalance':100},"
    "{'transactionID':'h2','code':'ok','fromBalance':0,'toBalance':100},"
    "{'transactionID':'h3','code':'ok','fromBalance':50,'toBalance':1060},"
    "{'transactionID':'u2','code':'ok','fromBalance':1000,'toBalance':950}]}";
/* Fails in the middle: f1 would succeed, f2 cannot; f0 and f4 stand alone. */
static const xfer c2[] = {
    X("f0", "A", "B", 1), L("f1", "A", "C", 10), L("f2", "C", "D", 500),
    X("f3", "D", "A", 5), X("f4", "B", "C", 1),
};
static const char cwant2[] =
    "{'results':[{'transactionID':'f0','code':'ok','fromBalance':949,'toBalance':1001},"
    "{'transactionID':'f1','code':'linked_event_failed'},"
    "{'transactionID':'f2','code':'insufficient_funds'},"
    "{'transactionID':'f3','code':'linked_event_failed'},"
    "{'transactionID':'f4','code':'ok','fromBalance':1000,'toBalance':1}]}";
/* Open at the end. */
static const xfer c3[] = {X("o0", "A", "B", 1), L("o1", "A", "C", 1), L("o2", "C", "D", 1)};
static const char cwant3[] =
    "{'results':[{'transactionID':'o0','code':'ok','fromBalance':948,'toBalance':1001},"
    "{'transactionID':'o1','code':'linked_event_chain_open'},"
    "{'transactionID':'o2','code':'linked_event_chain_open'}]}";
/* A member that needs its predecessor's money: in the wrong order, then in the right one. */
static const xfer c4[] = {
    L("r1", "C", "D", 50),
    X("r2", "A", "C", 50),
    L("r3", "A", "C", 50),
    X("r4", "C", "D", 50),
};
static const char cwant4[] = "{'results':[{'transactionID':'r1','code':'insufficient_funds'},"
                             "{'transactionID':'r2','code':'linked_event_failed'},"
                             "{'transactionID':'r3','code':'ok','fromBalance':898,'toBalance':51},"
                             "{'transactionID':'r4','code':'ok','fromBalance':1,'toBalance':100}]}";
/* Three chains back to back: failing at its last member, holding, failing at its first. */
static const xfer c5[] = {
    L("l1", "A", "B", 5),  X("l2", "B", "nobody", 5), L("l3", "D", "A", 10),
    X("l4", "A", "D", 10), L("l5", "B", "B", 1),      X("l6", "B", "A", 1),
};
static const char cwant5[] = "{'results':[{'transactionID':'l1','code':'linked_event_failed'},"
                             "{'transactionID':'l2','code':'account_not_found'},"
                             "{'transactionID':'l3','code':'ok','fromBalance':90,'toBalance':908},"
                             "{'transactionID':'l4','code':'ok','fromBalance':898,'toBalance':100},"
                             "{'transactionID':'l5','code':'same_account'},"
                             "{'transactionID':'l6','code':'linked_event_failed'}]}";
/* Members that replay earlier transfers, and one whose transferID names another transfer. */
static const xfer c6[] = {
    L("u1", "A", "B", 10), X("n1", "A", "B", 1), L("h1", "A", "C", 100),
    X("bad", "A", "A", 1), L("k1", "A", "B", 1), X("u2", "B", "A", 61),
};
static const char cwant6[] =
    "{'results':[{'transactionID':'u1','code':'ok','fromBalance':990,'toBalance':1010,"
    "'replayed':true},"
    "{'transactionID':'n1','code':'ok','fromBalance':897,'toBalance':1002},"
    "{'transactionID':'h1','code':'ok','fromBalance':890,'toBalance':100,'replayed':true},"
    "{'transactionID':'bad','code':'same_account'},"
    "{'transactionID':'k1','code':'linked_event_failed'},"
    "{'transactionID':'u2','code':'transfer_id_conflict'}]}";
/* A remembered refusal replayed in a chain fails the chain: that member can never apply. */
static const xfer c7[] = {L("o1", "A", "C", 1), X("z1", "A", "B", 2)};
static const char cwant7[] =
    "{'results':[{'transactionID':'o1','code':'linked_event_chain_open','replayed':true},"
    "{'transactionID':'z1','code':'linked_event_failed'}]}";

Test(json, chains, .fini = teardown, .timeout = 120) {
    start(NULL);
    create("A", 1000);
    create("B", 1000);
    create("C", 0);
    create("D", 0);
    batch_expect("a chain that holds", c1, 5, cwant1);
    batch_expect("a chain failing in the middle", c2, 5, cwant2);
    batch_expect("an open chain", c3, 3, cwant3);
    batch_expect("dependent members", c4, 4, cwant4);
    batch_expect("three chains", c5, 6, cwant5);
    batch_expect("replays and a conflict in chains", c6, 6, cwant6);
    batch_expect("a replayed refusal in a chain", c7, 2, cwant7);
    static const char *const accounts[] = {"A", "B", "C", "D"};
    static const uint64_t after[] = {897, 1002, 1, 100};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(balance_of(accounts[i]), after[i], "balance of %s", accounts[i]);
    }
    /* What failed is remembered, so the reason going away changes no answer. */
    post(API "transfers", "{'transferID':'fund','fromAccount':'B','toAccount':'C','amount':1000}",
         NULL);
    expect_fresh("fund C", 200,
                 "{'transactionID':'fund','fromAccount':'B','toAccount':'C','amount':1000,"
                 "'fromBalance':2,'toBalance':1001}");
    ack("fund", "B", "C", 1000, 2, 1001, "fund");
    create("nobody", 0);
    batch_retry("chain 1 again", c1, 5, cwant1);
    batch_retry("chain 2 again", c2, 5, cwant2);
    batch_retry("chain 3 again", c3, 3, cwant3);
    batch_retry("chain 4 again", c4, 4, cwant4);
    batch_retry("chain 5 again", c5, 6, cwant5);
    batch_retry("chain 6 again", c6, 6,
                "{'results':[{'transactionID':'u1','code':'ok','fromBalance':990,"
                "'toBalance':1010},"
                "{'transactionID':'n1','code':'ok','fromBalance':897,'toBalance':1002},"
                "{'transactionID':'h1','code':'ok','fromBalance':890,'toBalance':100},"
                "{'transactionID':'bad','code':'same_account'},"
                "{'transactionID':'k1','code':'linked_event_failed'},"
                "{'transactionID':'u2','code':'transfer_id_conflict'}]}");
    batch_retry("chain 7 again", c7, 2,
                "{'results':[{'transactionID':'o1','code':'linked_event_chain_open'},"
                "{'transactionID':'z1','code':'linked_event_failed'}]}");
    static const uint64_t funded[] = {897, 2, 1001, 100};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(balance_of(accounts[i]), funded[i], "balance of %s", accounts[i]);
    }
    /* A single POST of a failed member replays its refusal too. */
    post(API "transfers", "{'transferID':'f1','fromAccount':'A','toAccount':'C','amount':10}",
         NULL);
    expect_replay("f1 alone", 422,
                  "{'error':{'code':'linked_event_failed','message':'another transfer of its "
                  "linked chain failed'}}");

    /* The log: each failed member once as TransferRefused with its code, never a Transfer. */
    static rec_list l;
    records_after(0, &l);
    static const struct {
        const char *id, *code;
    } refused[] = {
        {"f1", "linked_event_failed"},     {"f2", "insufficient_funds"},
        {"f3", "linked_event_failed"},     {"o1", "linked_event_chain_open"},
        {"o2", "linked_event_chain_open"}, {"r1", "insufficient_funds"},
        {"r2", "linked_event_failed"},     {"l1", "linked_event_failed"},
        {"l2", "account_not_found"},       {"l5", "same_account"},
        {"l6", "linked_event_failed"},     {"bad", "same_account"},
        {"k1", "linked_event_failed"},     {"z1", "linked_event_failed"},
    };
    size_t nref = sizeof(refused) / sizeof(refused[0]);
    for (size_t i = 0; i < nref; i++) {
        const rec *r = find_rec(&l, "TransferRefused", refused[i].id);
        cr_assert_not_null(r, "no TransferRefused for %s", refused[i].id);
        cr_assert_str_eq(r->code, refused[i].code, "%s", refused[i].id);
        cr_assert_null(find_rec(&l, "Transfer", refused[i].id), "%s was applied", refused[i].id);
    }
    cr_assert_eq(count_type(&l, "TransferRefused"), nref, "refusals in the log");
    cr_assert_not_null(find_rec(&l, "Transfer", "u2"));
    cr_assert_eq(count_type(&l, "Transfer"), acked.count, "transfers in the log");
    for (size_t i = 0; i < l.count; i++) {
        cr_assert_eq(l.items[i].lsn, i + 1, "the lsns are not gapless after rollbacks");
    }
    rec_list_free(&l);
    finish();
}

/* ---- Idempotency-Key --------------------------------------------------------------------------
 */

static const char *const key_bodies[][3] = {
    /* key, body, answer; all 2xx-or-refusal answers that a retry must repeat */
    {"acct-k1", "{'accountID':'A','startAmount':100}",
     "{'accountID':'A','balance':100,'available':100,'pendingCredits':0,'currency':'XXX','"
     "overdraftLimit':0,'maxBalance':null}"},
    {"dup-k1", "{'accountID':'A','startAmount':5}",
     "{'error':{'code':'account_exists','message':'account `A` already exists'}}"},
    {"xfer-k2", "{'transferID':'tx2','fromAccount':'A','toAccount':'B','amount':5}",
     "{'transactionID':'tx2','fromAccount':'A','toAccount':'B','amount':5,'fromBalance':95,"
     "'toBalance':55}"},
    {"poor-k3", "{'fromAccount':'Z','toAccount':'A','amount':7}",
     "{'error':{'code':'insufficient_funds','message':'account `Z` has insufficient funds "
     "for 7'}}"},
};
static const long key_status[] = {201, 409, 200, 422};

static void retry_keyed(const char *what) {
    for (size_t i = 0; i < sizeof(key_status) / sizeof(key_status[0]); i++) {
        char hdr[96], label[160];
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key_bodies[i][0]);
        snprintf(label, sizeof(label), "%s: %s", what, key_bodies[i][0]);
        post(i < 2 ? API "accounts" : API "transfers", key_bodies[i][1], hdr);
        expect_replay(label, key_status[i], key_bodies[i][2]);
    }
}

Test(json, idempotency_keys, .fini = teardown, .timeout = 120) {
    start(NULL);
    create("B", 50);
    create("Z", 0);
    for (size_t i = 0; i < sizeof(key_status) / sizeof(key_status[0]); i++) {
        char hdr[96];
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key_bodies[i][0]);
        post(i < 2 ? API "accounts" : API "transfers", key_bodies[i][1], hdr);
        expect_fresh(key_bodies[i][0], key_status[i], key_bodies[i][2]);
    }
    add_account("A", 100);
    ack("tx2", "A", "B", 5, 95, 55, "tx2");
    /* A generated accountID and a generated transactionID come back the same on a retry. */
    post(API "accounts", "{'startAmount':3}", "Idempotency-Key: gen.acct");
    cr_assert_eq(R.status, 201, "%s", BODY);
    char gen_acct[72], gen_body[256];
    cr_assert_eq(ws_json_str(R.body, "accountID", gen_acct, sizeof(gen_acct)), 1);
    cr_assert(ws_is_uuid(gen_acct), "%s", gen_acct);
    snprintf(gen_body, sizeof(gen_body), "%s", R.body);
    add_account(gen_acct, 3);
    post(API "transfers", "{'fromAccount':'A','toAccount':'B','amount':1}",
         "Idempotency-Key: gen_x");
    char gen_txn[72], gen_xbody[512];
    ack_single("A", "B", 1, gen_txn, sizeof(gen_txn));
    cr_assert(ws_is_uuid(gen_txn), "%s", gen_txn);
    snprintf(gen_xbody, sizeof(gen_xbody), "%s", R.body);
    uint64_t end = log_end();
    retry_keyed("retry");
    post(API "accounts", "{'startAmount':3}", "Idempotency-Key: gen.acct");
    expect_replay("generated accountID", 201, gen_body);
    post(API "transfers", "{ 'amount' : '001', 'toAccount':'B', 'fromAccount':'A' }",
         "Idempotency-Key: gen_x");
    expect_replay("generated transactionID, the amount as a string", 200, gen_xbody);
    cr_assert_eq(log_end(), end, "a keyed retry wrote to the log");
    cr_assert_eq(balance_of("A"), 94);
    /* A key names one request: other fields, another operation are a conflict. */
    static const struct {
        const char *path, *body, *key;
    } conflicts[] = {
        {API "accounts", "{'accountID':'A','startAmount':101}", "acct-k1"},
        {API "accounts", "{'startAmount':100}", "acct-k1"},
        {API "accounts", "{'accountID':'A2','startAmount':100}", "acct-k1"},
        {API "transfers", "{'fromAccount':'A','toAccount':'B','amount':100}", "acct-k1"},
        {API "transfers", "{'transferID':'tx3','fromAccount':'A','toAccount':'B','amount':5}",
         "xfer-k2"},
        {API "transfers", "{'fromAccount':'A','toAccount':'B','amount':5}", "xfer-k2"},
        {API "transfers", "{'fromAccount':'A','toAccount':'B','amount':2}", "gen_x"},
        {API "accounts", "{'startAmount':3,'accountID':'named'}", "gen.acct"},
    };
    for (size_t i = 0; i < sizeof(conflicts) / sizeof(conflicts[0]); i++) {
        char hdr[96], want[256];
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", conflicts[i].key);
        snprintf(want, sizeof(want),
                 "{'error':{'code':'idempotency_key_conflict','message':'Idempotency-Key "
                 "`%s` was already used with a different request'}}",
                 conflicts[i].key);
        post(conflicts[i].path, conflicts[i].body, hdr);
        expect_fresh(conflicts[i].body, 409, want);
    }
    cr_assert_eq(log_end(), end, "a key conflict wrote to the log");
    /* Malformed keys, two keys: 400, nothing written. */
    static const char *const bad_keys[] = {
        "Idempotency-Key;", /* libcurl: the field with an empty value */
        "Idempotency-Key: kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
        "Idempotency-Key: a b",
        "Idempotency-Key: a/b",
        "Idempotency-Key: k*",
        "Idempotency-Key: caf\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        refused_whole(bad_keys[i], API "transfers",
                      "{'fromAccount':'A','toAccount':'B','amount':1}", bad_keys[i], 400,
                      "invalid_parameter", -1);
        refused_whole(bad_keys[i], API "accounts", "{'accountID':'kA','startAmount':1}",
                      bad_keys[i], 400, "invalid_parameter", -1);
    }
    refused_whole(
        "a key of 64 characters, on a malformed body", API "accounts", "{",
        "Idempotency-Key: kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", 400,
        "invalid_json", -1);
    cr_assert(ws_client_add_header(cli, "Idempotency-Key: one"));
    refused_whole("two keys", API "transfers", "{'fromAccount':'A','toAccount':'B','amount':1}",
                  "Idempotency-Key: two", 400, "invalid_parameter", -1);
    ws_client_clear_headers(cli);

    /* The GET endpoints ignore the header. */
    cr_assert(ws_client_add_header(cli, "Idempotency-Key: get-k"));
    cr_assert_eq(ws_get(cli, &R, API "create_account?accountID=g1&startAmount=4"), 201, "%s", BODY);
    cr_assert(!R.replayed);
    add_account("g1", 4);
    ws_get(cli, &R, API "create_account?accountID=g1&startAmount=4");
    expect_error("a GET with a key, again", 409, "account_exists");
    ws_client_clear_headers(cli);

    /* The RequestKey records. */
    static rec_list l;
    records_after(0, &l);
    static const char *const ops[] = {"create_account", "create_account", "transfer", "transfer"};
    static const char *const names[] = {"A", "A", "tx2", ""};
    static const char *const codes[] = {"created", "account_exists", "ok", "insufficient_funds"};
    for (size_t i = 0; i < 4; i++) {
        const rec *r = find_rec(&l, "RequestKey", key_bodies[i][0]);
        cr_assert_not_null(r, "no RequestKey for %s", key_bodies[i][0]);
        cr_assert_str_eq(r->op, ops[i], "%s", key_bodies[i][0]);
        cr_assert_str_eq(r->code, codes[i], "%s", key_bodies[i][0]);
        if (names[i][0] != '\0') {
            cr_assert_str_eq(strcmp(ops[i], "transfer") == 0 ? r->txn : r->account, names[i]);
        } else {
            cr_assert(ws_is_uuid(r->txn), "a keyed transfer without transferID: %s", r->txn);
        }
    }
    const rec *g = find_rec(&l, "RequestKey", "gen_x");
    cr_assert(g != NULL && strcmp(g->txn, gen_txn) == 0 && strcmp(g->code, "ok") == 0);
    g = find_rec(&l, "RequestKey", "gen.acct");
    cr_assert(g != NULL && strcmp(g->account, gen_acct) == 0);
    cr_assert_eq(count_type(&l, "RequestKey"), 6);
    /* poor-k3 had no transferID: its refusal is remembered under the key only. */
    cr_assert_eq(count_type(&l, "TransferRefused"), 0);
    rec_list_free(&l);

    /* The money for poor-k3 arrives: its retry still answers the refusal. */
    post(API "transfers", "{'transferID':'fundZ','fromAccount':'B','toAccount':'Z','amount':20}",
         NULL);
    char txn[72];
    ack_single("B", "Z", 20, txn, sizeof(txn));

    /* Across a kill -9: a keyed request acknowledged just before, and the earlier ones. */
    post(API "transfers", "{'fromAccount':'Z','toAccount':'A','amount':2}",
         "Idempotency-Key: late-k4");
    char late_txn[72], late_body[512];
    ack_single("Z", "A", 2, late_txn, sizeof(late_txn));
    snprintf(late_body, sizeof(late_body), "%s", R.body);
    post(API "accounts", "{'accountID':'late','startAmount':9}", "Idempotency-Key: late-k5");
    expect_fresh("late-k5", 201,
                 "{'accountID':'late','balance':9,'available':9,'pendingCredits':0,'currency':'XXX'"
                 ",'overdraftLimit':0,'maxBalance':null}");
    add_account("late", 9);
    restart(true);
    end = log_end();
    post(API "transfers", "{'fromAccount':'Z','toAccount':'A','amount':2}",
         "Idempotency-Key: late-k4");
    expect_replay("late-k4 after kill -9", 200, late_body);
    post(API "accounts", "{'accountID':'late','startAmount':9}", "Idempotency-Key: late-k5");
    expect_replay("late-k5 after kill -9", 201,
                  "{'accountID':'late','balance':9,'available':9,'pendingCredits':0,'currency':'"
                  "XXX','overdraftLimit':0,'maxBalance':null}");
    retry_keyed("after kill -9");
    post(API "accounts", "{'startAmount':3}", "Idempotency-Key: gen.acct");
    expect_replay("gen.acct after kill -9", 201, gen_body);
    post(API "accounts", "{'accountID':'late','startAmount':10}", "Idempotency-Key: late-k5");
    expect_error("late-k5 with another amount after kill -9", 409, "idempotency_key_conflict");
    cr_assert_eq(log_end(), end, "a retry after the restart wrote to the log");
    /* And across a clean restart. */
    restart(false);
    retry_keyed("after a clean restart");
    post(API "transfers", "{'fromAccount':'Z','toAccount':'A','amount':2}",
         "Idempotency-Key: late-k4");
    expect_replay("late-k4 after a clean restart", 200, late_body);
    cr_assert_eq(log_end(), end, "a retry after the restart wrote to the log");
    cr_assert_eq(balance_of("Z"), 18);
    finish();
}

/* ---- nesting -----------------------------------------------------------------------------------
 */

/* An array or object where none belongs is the wrong shape (invalid_parameter), however
 * deep; the same left open is not JSON (invalid_json). Nothing is written either way. */
Test(json, deep_nesting, .fini = teardown, .timeout = 60) {
    start(NULL);
    create("A", 10);
    create("B", 0);
    uint64_t end = log_end();
    static char deep[20000];
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    post_raw(API "transfers", JSON, deep, sizeof(deep));
    cr_expect(R.status == 400 && ws_json_is_error(R.body, "invalid_parameter"),
              "10,000 nested arrays: expected 400 invalid_parameter, got %ld %s", R.status, BODY);
    post_raw(API "transfers", JSON, deep, 10000); /* left open */
    cr_expect(R.status == 400 && ws_json_is_error(R.body, "invalid_json"),
              "10,000 open arrays: expected 400 invalid_json, got %ld %s", R.status, BODY);
    post(API "transfers",
         "{'transfers':[{'transferID':'t1','fromAccount':'A','toAccount':'B',"
         "'amount':1,'linked':[[[[[[true]]]]]]}]}",
         NULL);
    cr_expect(R.status == 400 && ws_json_is_error(R.body, "invalid_parameter") &&
                  strstr(BODY, "\"index\":0") != NULL,
              "a batch nested 9 deep: expected 400 invalid_parameter at index 0, got %ld %s",
              R.status, BODY);
    cr_assert_eq(log_end(), end, "a refused request wrote to the log");
    finish();
}

/* ---- retries after a rolled-back chain ---------------------------------------------------------
 */

#define COMMITTED 400
#define CHAIN 300

/* A failed chain takes back what its members did, their transferIDs included; every other
 * transferID must still be found after that. 400 transfers are committed, then a chain of
 * 300 is tried and fails at its last member (the index then holds about 700 of its 1024
 * slots, so the rolled-back entries sit in long probe runs among the committed ones), then
 * the 400 are retried: each must replay, none may apply again. */
Test(json, retries_after_a_rolled_back_chain, .fini = teardown, .timeout = 120) {
    start(NULL);
    create("A", 1000000);
    create("B", 0);
    create("Z", 0);
    static xfer done[COMMITTED], chain[CHAIN];
    static char done_ids[COMMITTED][16], chain_ids[CHAIN][16];
    static sbuf want;
    sb_add(&want, "{'results':[");
    for (int i = 0; i < COMMITTED; i++) {
        snprintf(done_ids[i], sizeof(done_ids[i]), "done-%03d", i);
        done[i] = (xfer)X(done_ids[i], "A", "B", 1);
        sb_add(&want, "%s{'transactionID':'%s','code':'ok','fromBalance':%d,'toBalance':%d}",
               i ? "," : "", done_ids[i], 1000000 - i - 1, i + 1);
    }
    sb_add(&want, "]}");
    batch_expect("the committed transfers", done, COMMITTED, want.p);
    for (int i = 0; i < CHAIN; i++) {
        snprintf(chain_ids[i], sizeof(chain_ids[i]), "chain-%03d", i);
        chain[i] = (xfer){chain_ids[i], i == CHAIN - 1 ? "Z" : "A", "B", 1, i < CHAIN - 1};
    }
    post_batch(chain, CHAIN, NULL);
    ack_batch(chain, CHAIN);
    static result res[CHAIN];
    cr_assert_eq(parse_results(R.body, res, CHAIN), CHAIN);
    for (int i = 0; i < CHAIN; i++) {
        cr_assert_str_eq(res[i].code, i == CHAIN - 1 ? "insufficient_funds" : "linked_event_failed",
                         "chain member %d", i);
    }
    cr_assert_eq(balance_of("A"), 1000000 - COMMITTED);
    batch_retry("the committed transfers again", done, COMMITTED, want.p);
    cr_assert_eq(balance_of("A"), 1000000 - COMMITTED, "a retry applied a transfer again");
    sb_free(&want);
    finish();
}
