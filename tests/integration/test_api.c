/* The HTTP API against the real binary: the README flow, every error code a client can
 * provoke (with the state checked unchanged afterwards), query parsing, the events
 * pagination and the 2^63-1 edges. Each test gets a fresh server and data directory and
 * ends with a clean SIGTERM (exit 0) and an offline --verify (exit 0). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define MAX_I64 "9223372036854775807"
#define MAX_I64_U 9223372036854775807ull
#define API "/api/1.0/wallet"

static ws_server *srv;
static ws_client *cli;
static ws_response R = WS_RESPONSE_INIT;
static char last_path[2048];

static void setup(void) {
    srv = ws_server_new(NULL);
    cr_assert_not_null(srv, "could not prepare a server (is WS_BINARY set?)");
    cr_assert(ws_server_start(srv), "server did not start");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
}

static void teardown(void) {
    ws_client_free(cli);
    cli = NULL;
    ws_response_free(&R);
    ws_cleanup_all();
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 60);

/* GET path (printf format) into R; remembers the path for assertion messages. */
__attribute__((format(printf, 1, 2))) static long get(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_path, sizeof last_path, fmt, ap);
    va_end(ap);
    return ws_get(cli, &R, "%s", last_path);
}

#define BODY (R.body != NULL ? R.body : "(none)")

/* Asserts the last response: status and exact body. */
#define EXPECT_BODY(st_, body_)                                                                    \
    do {                                                                                           \
        cr_assert_eq(R.status, (st_), "GET %s: expected %d, got %ld %s", last_path, (st_),         \
                     R.status, BODY);                                                              \
        cr_assert_str_eq(BODY, (body_), "GET %s: body", last_path);                                \
        cr_assert_str_eq(R.content_type, "application/json", "GET %s: Content-Type '%s'",          \
                         last_path, R.content_type);                                               \
    } while (0)

/* Asserts the last response is the error (status, code), with the JSON error shape. */
#define EXPECT_ERR(st_, code_)                                                                     \
    do {                                                                                           \
        cr_assert_eq(R.status, (st_), "GET %s: expected %d %s, got %ld %s", last_path, (st_),      \
                     (code_), R.status, BODY);                                                     \
        cr_assert(ws_json_is_error(R.body, (code_)), "GET %s: expected code %s, got %s",           \
                  last_path, (code_), BODY);                                                       \
        cr_assert(strncmp(BODY, "{\"error\":{\"code\":\"" code_ "\",\"message\":\"",               \
                          strlen("{\"error\":{\"code\":\"" code_ "\",\"message\":\"")) == 0 &&     \
                      strlen(BODY) > 3 && strcmp(BODY + strlen(BODY) - 3, "\"}}") == 0,            \
                  "GET %s: error shape %s", last_path, BODY);                                      \
        cr_assert_str_eq(R.content_type, "application/json", "GET %s: Content-Type '%s'",          \
                         last_path, R.content_type);                                               \
        cr_assert(!R.replayed, "GET %s: unexpected Idempotent-Replayed", last_path);               \
    } while (0)

/* Asserts the last error's message contains needle. */
#define EXPECT_MSG_HAS(needle)                                                                     \
    do {                                                                                           \
        char msg_[512];                                                                            \
        ws_json_error_message(R.body, msg_, sizeof msg_);                                          \
        cr_assert(strstr(msg_, (needle)) != NULL, "GET %s: message '%s' should name '%s'",         \
                  last_path, msg_, (needle));                                                      \
    } while (0)

static void create(const char *id, const char *amount) {
    get(API "/create_account?startAmount=%s&accountID=%s", amount, id);
    char want[256];
    snprintf(want, sizeof want, "{\"accountID\":\"%s\",\"balance\":%s}", id, amount);
    EXPECT_BODY(201, want);
}

static uint64_t balance_of(const char *id) {
    uint64_t b = 0;
    cr_assert(ws_balance(cli, id, &b), "get_balance %s failed", id);
    return b;
}

static size_t event_count(void) {
    ws_event_list l = {0};
    cr_assert(ws_events_fetch_all(cli, NULL, &l), "events fetch failed");
    size_t n = l.count;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(l.items[i].seq, i + 1, "seq gap at index %zu: %llu", i,
                     (unsigned long long)l.items[i].seq);
    }
    ws_event_list_free(&l);
    return n;
}

/* Balances of a few accounts and the event count: what "state unchanged" compares. */
typedef struct {
    uint64_t balance[8];
    size_t n;
    size_t events;
} snapshot;

static snapshot snap(const char *const *ids) {
    snapshot s = {.n = 0};
    for (; ids[s.n] != NULL; s.n++) {
        s.balance[s.n] = balance_of(ids[s.n]);
    }
    s.events = event_count();
    return s;
}

static void expect_unchanged(const snapshot *before, const char *const *ids) {
    snapshot now = snap(ids);
    for (size_t i = 0; i < before->n; i++) {
        cr_assert_eq(now.balance[i], before->balance[i], "balance of %s changed: %llu -> %llu",
                     ids[i], (unsigned long long)before->balance[i],
                     (unsigned long long)now.balance[i]);
    }
    cr_assert_eq(now.events, before->events, "event count changed: %zu -> %zu", before->events,
                 now.events);
}

static void finish(void) {
    cr_assert_eq(ws_server_stop(srv), 0, "server did not exit 0 on SIGTERM");
    char out[4096];
    int rc = ws_server_verify(srv, out, sizeof out);
    cr_assert_eq(rc, 0, "--verify exited %d:\n%s", rc, out);
}

static void expect_timestamp(const char *ts) {
    /* 2026-11-23T22:18:32.123456Z */
    const char *shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    cr_assert_eq(strlen(ts), strlen(shape), "timestamp '%s'", ts);
    for (size_t i = 0; shape[i] != '\0'; i++) {
        bool ok = shape[i] == 'd' ? (ts[i] >= '0' && ts[i] <= '9') : ts[i] == shape[i];
        cr_assert(ok, "timestamp '%s' at %zu", ts, i);
    }
}

static void expect_event(const ws_event_rec *e, uint64_t seq, const char *type, const char *acct,
                         uint64_t amount, uint64_t balance, const char *txn, const char *cp) {
    cr_assert_eq(e->seq, seq, "seq %llu != %llu", (unsigned long long)e->seq,
                 (unsigned long long)seq);
    cr_assert_str_eq(e->type, type, "event %llu type", (unsigned long long)seq);
    cr_assert_str_eq(e->account, acct, "event %llu accountID", (unsigned long long)seq);
    cr_assert_eq(e->amount, amount, "event %llu amount %llu != %llu", (unsigned long long)seq,
                 (unsigned long long)e->amount, (unsigned long long)amount);
    cr_assert_eq(e->balance, balance, "event %llu balance %llu != %llu", (unsigned long long)seq,
                 (unsigned long long)e->balance, (unsigned long long)balance);
    if (txn == NULL) {
        cr_assert(e->txn_null, "event %llu transactionID should be null, is '%s'",
                  (unsigned long long)seq, e->txn);
    } else {
        cr_assert(!e->txn_null, "event %llu transactionID is null", (unsigned long long)seq);
        cr_assert_str_eq(e->txn, txn, "event %llu transactionID", (unsigned long long)seq);
    }
    if (cp == NULL) {
        cr_assert(e->counterparty_null, "event %llu counterparty should be null, is '%s'",
                  (unsigned long long)seq, e->counterparty);
    } else {
        cr_assert(!e->counterparty_null, "event %llu counterparty is null",
                  (unsigned long long)seq);
        cr_assert_str_eq(e->counterparty, cp, "event %llu counterparty", (unsigned long long)seq);
    }
    expect_timestamp(e->timestamp);
}

/* ---- the README flow ------------------------------------------------------------------- */

Test(api, readme_flow) {
    create("accountA", "1000");
    create("accountB", "1000");

    get(API "/balance_transfer?fromAccount=accountA&toAccount=accountB&amount=50");
    cr_assert_eq(R.status, 200, "transfer: %ld %s", R.status, BODY);
    cr_assert_str_eq(R.content_type, "application/json");
    cr_assert(!R.replayed, "a first transfer is not a replay");
    char txn[72];
    cr_assert_eq(ws_json_str(R.body, "transactionID", txn, sizeof txn), 1, "%s", BODY);
    cr_assert(ws_is_uuid(txn), "generated transactionID '%s' is not a lowercase UUID", txn);
    char want[512];
    snprintf(want, sizeof want,
             "{\"transactionID\":\"%s\",\"fromAccount\":\"accountA\",\"toAccount\":\"accountB\","
             "\"amount\":50,\"fromBalance\":950,\"toBalance\":1050}",
             txn);
    EXPECT_BODY(200, want);

    get(API "/get_balance?accountID=accountA");
    EXPECT_BODY(200, "{\"accountID\":\"accountA\",\"balance\":950}");
    get(API "/get_balance?accountID=accountB");
    EXPECT_BODY(200, "{\"accountID\":\"accountB\",\"balance\":1050}");

    get(API "/events");
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert_str_eq(R.content_type, "application/json");
    ws_event_list l = {0};
    cr_assert(ws_events_parse(R.body, &l), "events body: %s", BODY);
    cr_assert_eq(l.count, 4, "expected 4 events, got %zu: %s", l.count, BODY);
    cr_assert(!l.has_next, "next should be null: %s", BODY);
    expect_event(&l.items[0], 1, "AccountCreated", "accountA", 1000, 1000, NULL, NULL);
    expect_event(&l.items[1], 2, "AccountCreated", "accountB", 1000, 1000, NULL, NULL);
    expect_event(&l.items[2], 3, "Debit", "accountA", 50, 950, txn, "accountB");
    expect_event(&l.items[3], 4, "Credit", "accountB", 50, 1050, txn, "accountA");
    ws_event_list_free(&l);
    finish();
}

Test(api, health) {
    get("/health");
    EXPECT_BODY(200, "{\"status\":\"ok\"}");
    finish();
}

Test(api, generated_ids_are_uuids) {
    char id1[72], id2[72];
    get(API "/create_account?startAmount=500");
    cr_assert_eq(R.status, 201, "%s", BODY);
    cr_assert_eq(ws_json_str(R.body, "accountID", id1, sizeof id1), 1, "%s", BODY);
    cr_assert(ws_is_uuid(id1), "accountID '%s' is not a lowercase UUID", id1);
    char want[256];
    snprintf(want, sizeof want, "{\"accountID\":\"%s\",\"balance\":500}", id1);
    EXPECT_BODY(201, want);
    get(API "/create_account?startAmount=0");
    cr_assert_eq(R.status, 201, "%s", BODY);
    cr_assert_eq(ws_json_str(R.body, "accountID", id2, sizeof id2), 1, "%s", BODY);
    cr_assert(ws_is_uuid(id2), "accountID '%s' is not a lowercase UUID", id2);
    cr_assert_str_neq(id1, id2, "two generated account IDs are equal");
    cr_assert_eq(balance_of(id1), 500);
    cr_assert_eq(balance_of(id2), 0);

    char t1[72], t2[72];
    get(API "/balance_transfer?fromAccount=%s&toAccount=%s&amount=7", id1, id2);
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert_eq(ws_json_str(R.body, "transactionID", t1, sizeof t1), 1, "%s", BODY);
    get(API "/balance_transfer?fromAccount=%s&toAccount=%s&amount=7", id1, id2);
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert(!R.replayed, "a transfer without transferID is never a replay");
    cr_assert_eq(ws_json_str(R.body, "transactionID", t2, sizeof t2), 1, "%s", BODY);
    cr_assert(ws_is_uuid(t1) && ws_is_uuid(t2), "transactionIDs '%s' '%s'", t1, t2);
    cr_assert_str_neq(t1, t2, "two generated transactionIDs are equal");
    cr_assert_eq(balance_of(id1), 486);
    cr_assert_eq(balance_of(id2), 14);
    cr_assert_eq(event_count(), 6);
    finish();
}

/* ---- 400 missing_parameter ------------------------------------------------------------- */

Test(api, missing_parameter) {
    create("a", "100");
    create("b", "100");
    const char *ids[] = {"a", "b", NULL};
    snapshot before = snap(ids);
    static const struct {
        const char *path;
        const char *param;
    } cases[] = {
        {API "/create_account", "startAmount"},
        {API "/create_account?accountID=c", "startAmount"},
        {API "/balance_transfer?toAccount=b&amount=1", "fromAccount"},
        {API "/balance_transfer?fromAccount=a&amount=1", "toAccount"},
        {API "/balance_transfer?fromAccount=a&toAccount=b", "amount"},
        {API "/balance_transfer?fromAccount=a&toAccount=b&transferID=m1", "amount"},
        {API "/get_balance", "accountID"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        get("%s", cases[i].path);
        EXPECT_ERR(400, "missing_parameter");
        EXPECT_MSG_HAS(cases[i].param);
    }
    expect_unchanged(&before, ids);
    get(API "/get_balance?accountID=c");
    EXPECT_ERR(404, "account_not_found");
    /* A 400 is never recorded: the same transferID then works. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=5&transferID=m1");
    EXPECT_BODY(200, "{\"transactionID\":\"m1\",\"fromAccount\":\"a\",\"toAccount\":\"b\","
                     "\"amount\":5,\"fromBalance\":95,\"toBalance\":105}");
    cr_assert(!R.replayed);
    finish();
}

/* ---- 400 invalid_parameter ------------------------------------------------------------- */

Test(api, invalid_amounts) {
    create("a", "100");
    create("b", "100");
    const char *ids[] = {"a", "b", NULL};
    snapshot before = snap(ids);
    static const char *bad_start[] = {
        "-1",
        "abc",
        "1.5",
        "1e3",
        "0x10",
        "%2B1",
        "+1",
        "%201",
        "1%20",
        "9223372036854775808",
        "18446744073709551616",
        "99999999999999999999999",
        "%EF%BC%91", /* fullwidth 1 */
    };
    for (size_t i = 0; i < sizeof bad_start / sizeof bad_start[0]; i++) {
        get(API "/create_account?startAmount=%s&accountID=n%zu", bad_start[i], i);
        EXPECT_ERR(400, "invalid_parameter");
        EXPECT_MSG_HAS("startAmount");
        get(API "/get_balance?accountID=n%zu", i);
        EXPECT_ERR(404, "account_not_found");
    }
    static const char *bad_amount[] = {
        "0", "00", "-5", "abc", "1.0", "+1", "%2D1", "9223372036854775808", "18446744073709551615",
    };
    for (size_t i = 0; i < sizeof bad_amount / sizeof bad_amount[0]; i++) {
        get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=%s&transferID=bad%zu",
            bad_amount[i], i);
        EXPECT_ERR(400, "invalid_parameter");
        EXPECT_MSG_HAS("amount");
    }
    /* An empty value is not an amount (whether it counts as missing or invalid). */
    get(API "/create_account?startAmount=&accountID=e1");
    cr_assert_eq(R.status, 400, "%s -> %ld %s", last_path, R.status, BODY);
    cr_assert(ws_json_is_error(R.body, "invalid_parameter") ||
                  ws_json_is_error(R.body, "missing_parameter"),
              "%s", BODY);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=");
    cr_assert_eq(R.status, 400, "%s -> %ld %s", last_path, R.status, BODY);
    expect_unchanged(&before, ids);
    /* The 400s were not recorded: the same transferIDs now succeed. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=1&transferID=bad0");
    cr_assert_eq(R.status, 200, "%s -> %ld %s", last_path, R.status, BODY);
    cr_assert(!R.replayed);
    finish();
}

Test(api, invalid_ids) {
    create("a", "100");
    const char *ids[] = {"a", NULL};
    snapshot before = snap(ids);
    char long_id[70];
    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    const char *bad[] = {
        long_id, "a%20b", "a%2Fb", "a/b",   "a+b",   "a%2Bb", "%C3%A9t%C3%A9", "a%00b",
        "%00",   "a:b",   "a%22b", "a%7Bb", "a%25b", "a%0Ab", "a*b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        get(API "/create_account?startAmount=1&accountID=%s", bad[i]);
        EXPECT_ERR(400, "invalid_parameter");
        EXPECT_MSG_HAS("accountID");
        get(API "/get_balance?accountID=%s", bad[i]);
        EXPECT_ERR(400, "invalid_parameter");
        EXPECT_MSG_HAS("accountID");
        get(API "/balance_transfer?fromAccount=%s&toAccount=a&amount=1", bad[i]);
        EXPECT_ERR(400, "invalid_parameter");
        EXPECT_MSG_HAS("fromAccount");
        get(API "/balance_transfer?fromAccount=a&toAccount=%s&amount=1", bad[i]);
        EXPECT_ERR(400, "invalid_parameter");
        EXPECT_MSG_HAS("toAccount");
        get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=1&transferID=%s", bad[i]);
        EXPECT_ERR(400, "invalid_parameter");
        EXPECT_MSG_HAS("transferID");
        get(API "/events?accountID=%s", bad[i]);
        EXPECT_ERR(400, "invalid_parameter");
        EXPECT_MSG_HAS("accountID");
    }
    get(API "/get_balance?accountID=");
    cr_assert_eq(R.status, 400, "%s -> %ld %s", last_path, R.status, BODY);
    expect_unchanged(&before, ids);

    /* The edges that are valid: 64 characters and the whole alphabet. */
    char id64[70];
    memset(id64, 'Z', 64);
    id64[64] = '\0';
    create(id64, "3");
    create("AZaz09._-", "4");
    get(API "/balance_transfer?fromAccount=%s&toAccount=AZaz09._-&amount=3&transferID=%s", id64,
        id64);
    cr_assert_eq(R.status, 200, "%s -> %ld %s", last_path, R.status, BODY);
    cr_assert_eq(balance_of("AZaz09._-"), 7);
    cr_assert_eq(balance_of(id64), 0);
    finish();
}

Test(api, query_syntax) {
    create("a", "100");
    create("b", "100");
    const char *ids[] = {"a", "b", NULL};
    snapshot before = snap(ids);

    /* Unknown parameters, named in the message. */
    get(API "/create_account?startAmount=1&accountID=u1&color=red");
    EXPECT_ERR(400, "invalid_parameter");
    EXPECT_MSG_HAS("color");
    get(API "/get_balance?accountID=a&verbose=1");
    EXPECT_ERR(400, "invalid_parameter");
    EXPECT_MSG_HAS("verbose");
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=1&currency=EUR");
    EXPECT_ERR(400, "invalid_parameter");
    EXPECT_MSG_HAS("currency");
    get(API "/events?foo=1");
    EXPECT_ERR(400, "invalid_parameter");
    EXPECT_MSG_HAS("foo");
    /* Parameter names are case-sensitive. */
    get(API "/get_balance?accountid=a");
    cr_assert_eq(R.status, 400, "%s -> %ld %s", last_path, R.status, BODY);

    /* A parameter given twice, even with the same value. */
    get(API "/create_account?startAmount=1&startAmount=2&accountID=d1");
    EXPECT_ERR(400, "invalid_parameter");
    EXPECT_MSG_HAS("startAmount");
    get(API "/get_balance?accountID=a&accountID=a");
    EXPECT_ERR(400, "invalid_parameter");
    EXPECT_MSG_HAS("accountID");
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=1&amount=1");
    EXPECT_ERR(400, "invalid_parameter");
    EXPECT_MSG_HAS("amount");
    get(API "/balance_transfer?fromAccount=a&fromAccount=b&toAccount=b&amount=1");
    EXPECT_ERR(400, "invalid_parameter");
    EXPECT_MSG_HAS("fromAccount");

    /* Bad percent escapes anywhere. */
    static const char *bad_escapes[] = {
        API "/create_account?startAmount=1&accountID=x%G1",
        API "/create_account?startAmount=1&accountID=x%2",
        API "/create_account?startAmount=1&accountID=x%",
        API "/create_account?startAmount=1%&accountID=x",
        API "/get_balance?accountID=%zz",
        API "/balance_transfer?fromAccount=a&toAccount=b&amount=1&transferID=t%4",
    };
    for (size_t i = 0; i < sizeof bad_escapes / sizeof bad_escapes[0]; i++) {
        get("%s", bad_escapes[i]);
        EXPECT_ERR(400, "invalid_parameter");
    }
    get(API "/get_balance?accountID=x");
    EXPECT_ERR(404, "account_not_found");
    expect_unchanged(&before, ids);
    finish();
}

Test(api, percent_encoded_ids) {
    get(API "/create_account?startAmount=10&accountID=acc%%2D1");
    EXPECT_BODY(201, "{\"accountID\":\"acc-1\",\"balance\":10}");
    get(API "/get_balance?accountID=acc-1");
    EXPECT_BODY(200, "{\"accountID\":\"acc-1\",\"balance\":10}");
    get(API "/get_balance?accountID=%%61%%63%%63%%2D%%31");
    EXPECT_BODY(200, "{\"accountID\":\"acc-1\",\"balance\":10}");
    /* Lowercase hex digits in an escape are the same octet (RFC 3986). */
    get(API "/create_account?startAmount=20&accountID=acc%%2d2");
    EXPECT_BODY(201, "{\"accountID\":\"acc-2\",\"balance\":20}");
    get(API "/create_account?startAmount=1&accountID=acc-1");
    EXPECT_ERR(409, "account_exists");
    get(API "/create_account?startAmount=%%35");
    cr_assert_eq(R.status, 201, "%s -> %ld %s", last_path, R.status, BODY);
    uint64_t v = 0;
    cr_assert(ws_json_u64(R.body, "balance", &v) && v == 5, "%s", BODY);
    get(API
        "/balance_transfer?fromAccount=acc%%2D1&toAccount=acc%%2d2&amount=%%33&transferID=t%%2E1");
    EXPECT_BODY(200, "{\"transactionID\":\"t.1\",\"fromAccount\":\"acc-1\",\"toAccount\":\"acc-2\","
                     "\"amount\":3,\"fromBalance\":7,\"toBalance\":23}");
    get(API "/events?accountID=acc%%2D1");
    cr_assert_eq(R.status, 200, "%s", BODY);
    ws_event_list l = {0};
    cr_assert(ws_events_parse(R.body, &l), "%s", BODY);
    cr_assert_eq(l.count, 2, "%s", BODY);
    expect_event(&l.items[1], 4, "Debit", "acc-1", 3, 7, "t.1", "acc-2");
    ws_event_list_free(&l);
    /* %00 in an ID is rejected, never truncated to "acc". */
    get(API "/create_account?startAmount=1&accountID=acc%%00x");
    EXPECT_ERR(400, "invalid_parameter");
    get(API "/get_balance?accountID=acc%%00x");
    EXPECT_ERR(400, "invalid_parameter");
    get(API "/get_balance?accountID=acc");
    EXPECT_ERR(404, "account_not_found");
    cr_assert_eq(event_count(), 5);
    finish();
}

/* ---- 404 ------------------------------------------------------------------------------- */

Test(api, account_not_found) {
    create("a", "100");
    create("b", "100");
    const char *ids[] = {"a", "b", NULL};
    snapshot before = snap(ids);
    get(API "/get_balance?accountID=ghost");
    EXPECT_ERR(404, "account_not_found");
    EXPECT_MSG_HAS("ghost");
    get(API "/balance_transfer?fromAccount=ghost&toAccount=b&amount=1");
    EXPECT_ERR(404, "account_not_found");
    EXPECT_MSG_HAS("ghost");
    get(API "/balance_transfer?fromAccount=a&toAccount=phantom&amount=1");
    EXPECT_ERR(404, "account_not_found");
    EXPECT_MSG_HAS("phantom");
    /* fromAccount is checked first. */
    get(API "/balance_transfer?fromAccount=ghost&toAccount=phantom&amount=1");
    EXPECT_ERR(404, "account_not_found");
    EXPECT_MSG_HAS("ghost");
    /* Existence is checked before funds. */
    get(API "/balance_transfer?fromAccount=a&toAccount=phantom&amount=1000000");
    EXPECT_ERR(404, "account_not_found");
    EXPECT_MSG_HAS("phantom");
    get(API "/events?accountID=ghost");
    EXPECT_ERR(404, "account_not_found");
    EXPECT_MSG_HAS("ghost");
    /* IDs are case-sensitive. */
    get(API "/get_balance?accountID=A");
    EXPECT_ERR(404, "account_not_found");
    expect_unchanged(&before, ids);
    get(API "/get_balance?accountID=ghost");
    EXPECT_ERR(404, "account_not_found");
    finish();
}

Test(api, unknown_path) {
    static const char *paths[] = {
        "/",
        "/nope",
        API,
        API "/",
        API "/balance",
        API "/get_balance/extra?accountID=a",
        "/api/2.0/wallet/get_balance?accountID=a",
        "/API/1.0/wallet/get_balance?accountID=a",
        "/healthz",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        get("%s", paths[i]);
        EXPECT_ERR(404, "not_found");
    }
    cr_assert_eq(event_count(), 0);
    finish();
}

/* ---- 405 ------------------------------------------------------------------------------- */

Test(api, method_not_allowed) {
    create("a", "100");
    create("b", "100");
    const char *ids[] = {"a", "b", NULL};
    snapshot before = snap(ids);
    static const struct {
        const char *method;
        const char *path;
    } cases[] = {
        {"POST", API "/create_account?startAmount=5&accountID=p1"},
        {"PUT", API "/create_account?startAmount=5&accountID=p2"},
        {"DELETE", API "/get_balance?accountID=a"},
        {"POST", API "/balance_transfer?fromAccount=a&toAccount=b&amount=5&transferID=pt"},
        {"PATCH", API "/balance_transfer?fromAccount=a&toAccount=b&amount=5&transferID=pt2"},
        {"POST", API "/events"},
        {"POST", "/health"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(last_path, sizeof last_path, "%s %s", cases[i].method, cases[i].path);
        ws_request(cli, cases[i].method, &R, "%s", cases[i].path);
        EXPECT_ERR(405, "method_not_allowed");
    }
    get(API "/get_balance?accountID=p1");
    EXPECT_ERR(404, "account_not_found");
    get(API "/get_balance?accountID=p2");
    EXPECT_ERR(404, "account_not_found");
    expect_unchanged(&before, ids);
    /* The 405 transfer was never recorded: its transferID is free. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=5&transferID=pt");
    cr_assert_eq(R.status, 200, "%s -> %ld %s", last_path, R.status, BODY);
    cr_assert(!R.replayed, "a transferID first seen by a 405 must not replay");
    finish();
}

/* ---- 409 ------------------------------------------------------------------------------- */

Test(api, account_exists) {
    create("a", "100");
    create("b", "0");
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=30");
    cr_assert_eq(R.status, 200, "%s", BODY);
    const char *ids[] = {"a", "b", NULL};
    snapshot before = snap(ids);
    get(API "/create_account?startAmount=100&accountID=a");
    EXPECT_ERR(409, "account_exists");
    get(API "/create_account?startAmount=999&accountID=b");
    EXPECT_ERR(409, "account_exists");
    get(API "/create_account?startAmount=0&accountID=b");
    EXPECT_ERR(409, "account_exists");
    expect_unchanged(&before, ids);
    cr_assert_eq(before.balance[0], 70);
    cr_assert_eq(before.balance[1], 30);
    cr_assert_eq(before.events, 4);
    finish();
}

Test(api, transfer_id_conflict) {
    create("a", "100");
    create("b", "100");
    create("c", "100");
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=10&transferID=tx-1");
    EXPECT_BODY(200, "{\"transactionID\":\"tx-1\",\"fromAccount\":\"a\",\"toAccount\":\"b\","
                     "\"amount\":10,\"fromBalance\":90,\"toBalance\":110}");
    const char *ids[] = {"a", "b", "c", NULL};
    snapshot before = snap(ids);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=11&transferID=tx-1");
    EXPECT_ERR(409, "transfer_id_conflict");
    get(API "/balance_transfer?fromAccount=a&toAccount=c&amount=10&transferID=tx-1");
    EXPECT_ERR(409, "transfer_id_conflict");
    get(API "/balance_transfer?fromAccount=c&toAccount=b&amount=10&transferID=tx-1");
    EXPECT_ERR(409, "transfer_id_conflict");
    get(API "/balance_transfer?fromAccount=b&toAccount=a&amount=10&transferID=tx-1");
    EXPECT_ERR(409, "transfer_id_conflict");
    expect_unchanged(&before, ids);
    finish();
}

/* ---- 422 ------------------------------------------------------------------------------- */

Test(api, insufficient_funds) {
    create("a", "100");
    create("b", "5");
    const char *ids[] = {"a", "b", NULL};
    snapshot before = snap(ids);
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=101");
    EXPECT_ERR(422, "insufficient_funds");
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=" MAX_I64);
    EXPECT_ERR(422, "insufficient_funds");
    get(API "/balance_transfer?fromAccount=b&toAccount=a&amount=6&transferID=if1");
    EXPECT_ERR(422, "insufficient_funds");
    expect_unchanged(&before, ids);
    /* The exact balance can be moved, leaving 0; then even 1 is too much. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=100&transferID=all");
    EXPECT_BODY(200, "{\"transactionID\":\"all\",\"fromAccount\":\"a\",\"toAccount\":\"b\","
                     "\"amount\":100,\"fromBalance\":0,\"toBalance\":105}");
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=1");
    EXPECT_ERR(422, "insufficient_funds");
    cr_assert_eq(balance_of("a"), 0);
    cr_assert_eq(balance_of("b"), 105);
    cr_assert_eq(event_count(), 4);
    finish();
}

Test(api, same_account) {
    create("a", "100");
    const char *ids[] = {"a", NULL};
    snapshot before = snap(ids);
    get(API "/balance_transfer?fromAccount=a&toAccount=a&amount=1");
    EXPECT_ERR(422, "same_account");
    /* same_account comes first: before existence and funds. */
    get(API "/balance_transfer?fromAccount=a&toAccount=a&amount=1000");
    EXPECT_ERR(422, "same_account");
    get(API "/balance_transfer?fromAccount=ghost&toAccount=ghost&amount=1");
    EXPECT_ERR(422, "same_account");
    /* Compared after decoding. */
    get(API "/balance_transfer?fromAccount=a&toAccount=%%61&amount=1");
    EXPECT_ERR(422, "same_account");
    expect_unchanged(&before, ids);
    finish();
}

Test(api, max_amount_edges) {
    create("max", MAX_I64);
    create("zero", "0");
    create("one", "1");
    get(API "/create_account?startAmount=9223372036854775808&accountID=over");
    EXPECT_ERR(400, "invalid_parameter");
    const char *ids[] = {"max", "zero", "one", NULL};
    snapshot before = snap(ids);
    /* Insufficient funds is checked before overflow. */
    get(API "/balance_transfer?fromAccount=zero&toAccount=max&amount=1");
    EXPECT_ERR(422, "insufficient_funds");
    get(API "/balance_transfer?fromAccount=one&toAccount=max&amount=1");
    EXPECT_ERR(422, "balance_overflow");
    get(API "/balance_transfer?fromAccount=one&toAccount=max&amount=2");
    EXPECT_ERR(422, "insufficient_funds");
    expect_unchanged(&before, ids);

    /* The whole maximum moves in one transfer. */
    get(API "/balance_transfer?fromAccount=max&toAccount=zero&amount=" MAX_I64 "&transferID=big");
    EXPECT_BODY(200, "{\"transactionID\":\"big\",\"fromAccount\":\"max\",\"toAccount\":\"zero\","
                     "\"amount\":" MAX_I64 ",\"fromBalance\":0,\"toBalance\":" MAX_I64 "}");
    /* one -> zero would reach 2^63: overflow; zero -> one reaches 2^63-1 exactly. */
    get(API "/balance_transfer?fromAccount=one&toAccount=zero&amount=1");
    EXPECT_ERR(422, "balance_overflow");
    get(API "/balance_transfer?fromAccount=zero&toAccount=one&amount=9223372036854775806"
            "&transferID=big2");
    EXPECT_BODY(200, "{\"transactionID\":\"big2\",\"fromAccount\":\"zero\",\"toAccount\":\"one\","
                     "\"amount\":9223372036854775806,\"fromBalance\":1,\"toBalance\":" MAX_I64 "}");
    get(API "/balance_transfer?fromAccount=zero&toAccount=one&amount=1");
    EXPECT_ERR(422, "balance_overflow");
    cr_assert_eq(balance_of("max"), 0);
    cr_assert_eq(balance_of("zero"), 1);
    cr_assert_eq(balance_of("one"), MAX_I64_U);

    ws_event_list l = {0};
    cr_assert(ws_events_fetch_all(cli, NULL, &l));
    cr_assert_eq(l.count, 7);
    expect_event(&l.items[0], 1, "AccountCreated", "max", MAX_I64_U, MAX_I64_U, NULL, NULL);
    expect_event(&l.items[3], 4, "Debit", "max", MAX_I64_U, 0, "big", "zero");
    expect_event(&l.items[4], 5, "Credit", "zero", MAX_I64_U, MAX_I64_U, "big", "max");
    expect_event(&l.items[6], 7, "Credit", "one", MAX_I64_U - 1, MAX_I64_U, "big2", "zero");
    ws_event_list_free(&l);

    /* Total money now passes 2^64 (three accounts near the maximum): must stay exact. */
    create("max2", MAX_I64);
    create("max3", MAX_I64);
    get(API "/balance_transfer?fromAccount=max2&toAccount=max&amount=" MAX_I64 "&transferID=b3");
    cr_assert_eq(R.status, 200, "%s -> %ld %s", last_path, R.status, BODY);
    cr_assert_eq(balance_of("max"), MAX_I64_U);
    cr_assert_eq(balance_of("max2"), 0);
    cr_assert_eq(balance_of("max3"), MAX_I64_U);
    cr_assert_eq(event_count(), 11);
    finish();
}

/* ---- events ---------------------------------------------------------------------------- */

/* GET /events?QUERY into a fresh list; asserts 200 and a well-formed page. */
static void page(ws_event_list *l, const char *query) {
    ws_event_list_free(l);
    get(API "/events%s", query);
    cr_assert_eq(R.status, 200, "%s -> %ld %s", last_path, R.status, BODY);
    cr_assert_str_eq(R.content_type, "application/json");
    cr_assert(ws_events_parse(R.body, l), "%s: malformed page %s", last_path, BODY);
}

static void expect_seqs(const ws_event_list *l, const uint64_t *seqs, size_t n, bool has_next,
                        uint64_t next) {
    cr_assert_eq(l->count, n, "%s: %zu events, expected %zu: %s", last_path, l->count, n, BODY);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(l->items[i].seq, seqs[i], "%s: event %zu has seq %llu, expected %llu",
                     last_path, i, (unsigned long long)l->items[i].seq,
                     (unsigned long long)seqs[i]);
    }
    cr_assert_eq(l->has_next, has_next, "%s: next: %s", last_path, BODY);
    if (has_next) {
        cr_assert_eq(l->next, next, "%s: next %llu, expected %llu", last_path,
                     (unsigned long long)l->next, (unsigned long long)next);
    }
}

Test(api, events_pagination) {
    create("a", "100");
    create("b", "100");
    for (int i = 1; i <= 3; i++) {
        get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=%d&transferID=p%d", i * 10, i);
        cr_assert_eq(R.status, 200, "%s", BODY);
    }
    /* Log: 1 Created a, 2 Created b, 3/4 p1, 5/6 p2, 7/8 p3. */
    ws_event_list l = {0};
    page(&l, "");
    expect_seqs(&l, (uint64_t[]){1, 2, 3, 4, 5, 6, 7, 8}, 8, false, 0);
    expect_event(&l.items[4], 5, "Debit", "a", 20, 70, "p2", "b");
    expect_event(&l.items[5], 6, "Credit", "b", 20, 130, "p2", "a");
    expect_event(&l.items[7], 8, "Credit", "b", 30, 160, "p3", "a");
    page(&l, "?limit=3");
    expect_seqs(&l, (uint64_t[]){1, 2, 3}, 3, true, 3);
    page(&l, "?after=3&limit=3");
    expect_seqs(&l, (uint64_t[]){4, 5, 6}, 3, true, 6);
    page(&l, "?after=6&limit=3");
    expect_seqs(&l, (uint64_t[]){7, 8}, 2, false, 0);
    /* Exactly the last event: nothing more exists, so next is null. */
    page(&l, "?after=5&limit=3");
    expect_seqs(&l, (uint64_t[]){6, 7, 8}, 3, false, 0);
    page(&l, "?limit=8");
    expect_seqs(&l, (uint64_t[]){1, 2, 3, 4, 5, 6, 7, 8}, 8, false, 0);
    page(&l, "?limit=7");
    expect_seqs(&l, (uint64_t[]){1, 2, 3, 4, 5, 6, 7}, 7, true, 7);
    page(&l, "?after=0&limit=1");
    expect_seqs(&l, (uint64_t[]){1}, 1, true, 1);
    page(&l, "?limit=1&after=7");
    expect_seqs(&l, (uint64_t[]){8}, 1, false, 0);
    page(&l, "?after=8");
    expect_seqs(&l, NULL, 0, false, 0);
    cr_assert_str_eq(BODY, "{\"events\":[],\"next\":null}");
    page(&l, "?after=1000000");
    expect_seqs(&l, NULL, 0, false, 0);
    page(&l, "?limit=1000");
    expect_seqs(&l, (uint64_t[]){1, 2, 3, 4, 5, 6, 7, 8}, 8, false, 0);

    /* Per account: a has Created(1) and Debits 3, 5, 7; b has Created(2), Credits 4, 6, 8. */
    page(&l, "?accountID=a");
    expect_seqs(&l, (uint64_t[]){1, 3, 5, 7}, 4, false, 0);
    expect_event(&l.items[0], 1, "AccountCreated", "a", 100, 100, NULL, NULL);
    expect_event(&l.items[3], 7, "Debit", "a", 30, 40, "p3", "b");
    page(&l, "?accountID=a&limit=2");
    expect_seqs(&l, (uint64_t[]){1, 3}, 2, true, 3);
    page(&l, "?accountID=a&limit=2&after=3");
    expect_seqs(&l, (uint64_t[]){5, 7}, 2, false, 0);
    page(&l, "?after=2&accountID=b");
    expect_seqs(&l, (uint64_t[]){4, 6, 8}, 3, false, 0);
    page(&l, "?after=4&accountID=b&limit=1");
    expect_seqs(&l, (uint64_t[]){6}, 1, true, 6);
    page(&l, "?after=8&accountID=b");
    expect_seqs(&l, NULL, 0, false, 0);
    ws_event_list_free(&l);

    /* Parameter validation. */
    static const char *bad[] = {
        "?limit=0",
        "?limit=1001",
        "?limit=abc",
        "?limit=-1",
        "?limit=",
        "?after=abc",
        "?after=-1",
        "?after=1.5",
        "?limit=99999999999999999999999",
        "?after=99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        get(API "/events%s", bad[i]);
        cr_assert_eq(R.status, 400, "%s -> %ld %s", last_path, R.status, BODY);
        cr_assert(
            ws_json_is_error(R.body, "invalid_parameter") ||
                (strcmp(bad[i], "?limit=") == 0 && ws_json_is_error(R.body, "missing_parameter")),
            "%s -> %s", last_path, BODY);
        EXPECT_MSG_HAS(bad[i][1] == 'l' ? "limit" : "after");
    }
    get(API "/events?limit=2&limit=2");
    EXPECT_ERR(400, "invalid_parameter");
    EXPECT_MSG_HAS("limit");
    cr_assert_eq(event_count(), 8);
    finish();
}

Test(api, events_limit_bounds) {
    /* 1001 events: limit=1000 returns 1000 with next=1000, then the last one. */
    create("src", "100000");
    create("dst", "0");
    for (int i = 0; i < 499; i++) {
        get(API "/balance_transfer?fromAccount=src&toAccount=dst&amount=1&transferID=lb%d", i);
        cr_assert_eq(R.status, 200, "%s -> %ld %s", last_path, R.status, BODY);
    }
    get(API "/create_account?startAmount=1&accountID=last");
    cr_assert_eq(R.status, 201);
    ws_event_list l = {0};
    page(&l, "?limit=1000");
    cr_assert_eq(l.count, 1000);
    cr_assert(l.has_next && l.next == 1000, "%s", BODY + R.body_len - 40);
    for (size_t i = 0; i < l.count; i++) {
        cr_assert_eq(l.items[i].seq, i + 1);
    }
    page(&l, "?limit=1000&after=1000");
    expect_seqs(&l, (uint64_t[]){1001}, 1, false, 0);
    expect_event(&l.items[0], 1001, "AccountCreated", "last", 1, 1, NULL, NULL);
    /* The default limit is 100. */
    page(&l, "");
    cr_assert_eq(l.count, 100);
    cr_assert(l.has_next && l.next == 100, "default limit: next");
    page(&l, "?accountID=dst");
    cr_assert_eq(l.count, 100);
    cr_assert(l.has_next && l.next == l.items[99].seq, "default limit per account: next");
    cr_assert_eq(l.items[99].seq, 200); /* Created(2), then Credits 4, 6, ..., 200 */
    ws_event_list_free(&l);
    cr_assert_eq(balance_of("dst"), 499);
    finish();
}

/* ---- 503 unavailable ------------------------------------------------------------------ */

Test(api, unavailable_after_storage_failure) {
    /* Storage fails when a file would pass 64 KiB (RLIMIT_FSIZE, SIGXFSZ ignored): the WAL
     * soon does. The batch that fails gets 503 unavailable, and the service stays read-only
     * (writes 503, reads fine) until a restart; nothing acknowledged is lost. */
    cr_assert_eq(ws_server_stop(srv), 0);
    ws_client_free(cli);
    cli = NULL;
    srv->fsize_limit_bytes = 64 * 1024;
    cr_assert(ws_server_start(srv), "server did not start under a 64 KiB file-size limit");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
    create("a", "1000000");
    create("b", "0");
    int acked = 0;
    bool failed = false;
    for (int i = 0; i < 5000 && !failed; i++) {
        get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=1&transferID=u%d", i);
        if (R.status == 200) {
            acked++;
            continue;
        }
        failed = true;
        EXPECT_ERR(503, "unavailable");
    }
    cr_assert(failed, "5000 transfers fit in 64 KiB files: the limit did not bite");
    cr_log_info("storage failed after %d acknowledged transfers", acked);
    char failed_id[32];
    snprintf(failed_id, sizeof failed_id, "u%d", acked);
    /* Sticky: every write is refused, reads still work. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=1&transferID=after");
    EXPECT_ERR(503, "unavailable");
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=1");
    EXPECT_ERR(503, "unavailable");
    get(API "/create_account?startAmount=5&accountID=c");
    EXPECT_ERR(503, "unavailable");
    cr_assert_eq(balance_of("b"), (uint64_t)acked, "the refused transfer was applied");
    cr_assert_eq(balance_of("a"), 1000000 - (uint64_t)acked);
    get(API "/get_balance?accountID=c");
    EXPECT_ERR(404, "account_not_found");
    cr_assert_eq(event_count(), 2 + 2 * (size_t)acked);
    cr_assert_eq(ws_server_stop(srv), 0, "read-only server did not exit 0 on SIGTERM");

    /* After a restart without the limit: nothing acknowledged is lost, the refused batch
     * is either wholly there or wholly absent, and writes work again. */
    srv->fsize_limit_bytes = 0;
    ws_client_free(cli);
    cli = NULL;
    cr_assert(ws_server_start(srv), "restart failed");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
    uint64_t b = balance_of("b");
    cr_assert(b == (uint64_t)acked || b == (uint64_t)acked + 1, "b = %llu after %d acks",
              (unsigned long long)b, acked);
    cr_assert_eq(balance_of("a") + b, 1000000);
    cr_assert_eq(event_count(), 2 + 2 * (size_t)b);
    /* The refused transferID applies exactly once: a replay if the batch survived. */
    get(API "/balance_transfer?fromAccount=a&toAccount=b&amount=1&transferID=%s", failed_id);
    cr_assert_eq(R.status, 200, "%s -> %ld %s", last_path, R.status, BODY);
    cr_assert_eq(R.replayed, b == (uint64_t)acked + 1, "replayed=%d but b=%llu acked=%d",
                 R.replayed, (unsigned long long)b, acked);
    cr_assert_eq(balance_of("b"), (uint64_t)acked + 1);
    get(API "/create_account?startAmount=5&accountID=c");
    cr_assert_eq(R.status, 201, "%s", BODY);
    finish();
}

/* ---- command line ---------------------------------------------------------------------- */

Test(api, bad_flag_values_exit_2) {
    /* Only the binary is needed; the data directory is a fresh one inside the test's. */
    char dir[WS_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/flags", srv->root);
    const char *const cases[][10] = {
        {"--port", "abc", "--bind", "127.0.0.1", "--data-dir", dir, NULL},
        {"--port", "70000", "--bind", "127.0.0.1", "--data-dir", dir, NULL},
        {"--port", "0", "--bind", "127.0.0.1", "--data-dir", dir, "--io-threads", "x", NULL},
        {"--port", "0", "--bind", "127.0.0.1", "--data-dir", dir, "--queue-max", "-3", NULL},
        {"--port", "0", "--bind", "127.0.0.1", "--data-dir", dir, "--batch-max", "many", NULL},
    };
    char out[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = ws_run_binary(cases[i], out, sizeof out, 10000);
        cr_assert_eq(rc, 2, "case %zu (%s %s): exit %d, output: %s", i,
                     cases[i][6] != NULL ? cases[i][6] : cases[i][0],
                     cases[i][7] != NULL ? cases[i][7] : cases[i][1], rc, out);
        cr_assert(out[0] != '\0', "case %zu: a bad flag must print a message", i);
    }
    finish();
}
