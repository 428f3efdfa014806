/* The bad-input catalogue: hostile and malformed requests sent to the real binary over
 * raw TCP (most of them are requests libcurl would refuse to send or would repair), each
 * checked for its status and JSON error code, then the state checked unchanged: every
 * balance and every account's event count. Then the limits one at a time: pipelining, a
 * body on GET, a slow client (request timeout), an idle connection and the connection cap.
 *
 * One table row per case. PLAIN marks the refusals h2o's HTTP/1 parser writes itself
 * (a fixed text/plain 400, see docs/api.md); OK marks requests that must succeed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define API "/api/1.0/wallet/"
#define T API "balance_transfer?"
#define GB API "get_balance?accountID="
#define CA API "create_account?"
#define MAX_I64 9223372036854775807ull
#define PLAIN "(h2o text)"
#define OK ""
#define GEN_MAX (640u << 10)
#define HDR " HTTP/1.1\r\nHost: t\r\n"
#define PAD10 "aaaaaaaaaa"
#define PAD100 PAD10 PAD10 PAD10 PAD10 PAD10 PAD10 PAD10 PAD10 PAD10 PAD10 "bbbbbbbb"
#define PAD100_LESS1 PAD10 PAD10 PAD10 PAD10 PAD10 PAD10 PAD10 PAD10 PAD10 PAD10 "bbbbbbb"
#define PAD300 PAD100 PAD100 PAD100

static ws_server *srv;
static ws_client *cli;

static void teardown(void) {
    ws_client_free(cli);
    cli = NULL;
    ws_cleanup_all();
}

/* ---- generated requests (too long to write out) --------------------------------------- */

static char gen_buf[GEN_MAX];

static size_t fill(char *p, char c, size_t n) {
    memset(p, c, n);
    return n;
}

static void gen_long_query(void) { /* 1025+ bytes of query, request line under 4096 */
    size_t n = (size_t)sprintf(gen_buf, "GET " GB "A&x=");
    n += fill(gen_buf + n, 'a', 1100);
    sprintf(gen_buf + n, HDR "\r\n");
}

static void gen_long_url(void) { /* request line past --max-request-line (4096) */
    size_t n = (size_t)sprintf(gen_buf, "GET " GB);
    n += fill(gen_buf + n, 'a', 5000);
    sprintf(gen_buf + n, HDR "\r\n");
}

static void gen_long_path(void) {
    size_t n = (size_t)sprintf(gen_buf, "GET /");
    n += fill(gen_buf + n, 'p', 6000);
    sprintf(gen_buf + n, HDR "\r\n");
}

static void gen_thousands_of_params(void) {
    size_t n = (size_t)sprintf(gen_buf, "GET " GB "A");
    for (int i = 0; i < 3000; i++) {
        n += (size_t)sprintf(gen_buf + n, "&p%d=1", i);
    }
    sprintf(gen_buf + n, HDR "\r\n");
}

static void gen_empty_pieces(void) { /* 1000 '&' and one parameter: 1011 bytes, valid */
    size_t n = (size_t)sprintf(gen_buf, "GET " API "get_balance?");
    n += fill(gen_buf + n, '&', 1000);
    sprintf(gen_buf + n, "accountID=A" HDR "\r\n");
}

static void gen_big_header(void) { /* one field past --max-header-bytes (8192) */
    size_t n = (size_t)sprintf(gen_buf, "GET " GB "A" HDR "X-Big: ");
    n += fill(gen_buf + n, 'h', 9000);
    sprintf(gen_buf + n, "\r\n\r\n");
}

static void gen_many_headers(void) { /* 60 fields of 200 bytes: past 8192 together */
    size_t n = (size_t)sprintf(gen_buf, "GET " GB "A" HDR);
    for (int i = 0; i < 60; i++) {
        n += (size_t)sprintf(gen_buf + n, "X-H%d: ", i);
        n += fill(gen_buf + n, 'v', 200);
        n += (size_t)sprintf(gen_buf + n, "\r\n");
    }
    sprintf(gen_buf + n, "\r\n");
}

static void gen_too_many_headers(void) { /* 101 small fields: h2o's parser stops at 100 */
    size_t n = (size_t)sprintf(gen_buf, "GET " GB "A" HDR);
    for (int i = 0; i < 101; i++) {
        n += (size_t)sprintf(gen_buf + n, "X-%d: 1\r\n", i);
    }
    sprintf(gen_buf + n, "\r\n");
}

/* A request head that reaches h2o's 417,792-byte limit unfinished. It ends 8 bytes past the
 * limit: h2o answers as soon as it holds 417,792 bytes and then closes, and bytes it never
 * read would make the kernel reset the connection, possibly before the answer is read. */
static void gen_huge_head(void) {
    size_t n = (size_t)sprintf(gen_buf, "GET " GB "A" HDR "X-Huge: ");
    n += fill(gen_buf + n, 'z', 417800 - n);
    gen_buf[n] = '\0';
}

static void gen_chunked_too_large(void) { /* a chunked body past --max-body-bytes */
    size_t n = (size_t)sprintf(gen_buf, "GET /health" HDR "Transfer-Encoding: chunked\r\n\r\n"
                                        "1400\r\n");
    n += fill(gen_buf + n, 'b', 0x1400);
    sprintf(gen_buf + n, "\r\n0\r\n\r\n");
}

static void gen_long_method(void) {
    size_t n = fill(gen_buf, 'X', 5000);
    sprintf(gen_buf + n, " /health" HDR "\r\n");
}

static void gen_long_id(void) { /* 65 characters */
    size_t n = (size_t)sprintf(gen_buf, "GET " GB);
    n += fill(gen_buf + n, 'i', 65);
    sprintf(gen_buf + n, HDR "\r\n");
}

/* Header fields of exactly n bytes ("Host: t\r\n" and one padding field), for a server
 * started with --max-header-bytes 256. */
static void gen_headers(size_t n) {
    size_t k = (size_t)sprintf(gen_buf, "GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: ");
    k += fill(gen_buf + k, 'p', n - 18);
    sprintf(gen_buf + k, "\r\n\r\n");
}
static void gen_headers_256(void) { gen_headers(256); }
static void gen_headers_257(void) { gen_headers(257); }

/* ---- the catalogue -------------------------------------------------------------------- */

typedef struct {
    const char *what;
    const char *path;  /* sent as "GET path HTTP/1.1" with a Host header */
    const char *raw;   /* or this request as is */
    void (*gen)(void); /* or the request this writes into gen_buf */
    int status;
    const char *code; /* the JSON error code, OK, or PLAIN */
} bad_case;

#define P(what, path, status, code)                                                                \
    { what, path, NULL, NULL, status, code }
#define R(what, raw, status, code)                                                                 \
    { what, NULL, raw, NULL, status, code }
#define G(what, gen, status, code)                                                                 \
    { what, NULL, NULL, gen, status, code }
#define XFER(amount) T "fromAccount=A&toAccount=B&amount=" amount

/* Accounts: A 1000, B 500, Z 0, M 2^63-11, F 2^63-1. */
static const bad_case catalogue[] = {
    /* lengths and counts */
    G("query over 1024 bytes", gen_long_query, 414, "uri_too_long"),
    G("request line over 4096 bytes", gen_long_url, 414, "uri_too_long"),
    G("path alone over 4096 bytes", gen_long_path, 414, "uri_too_long"),
    G("3000 parameters", gen_thousands_of_params, 414, "uri_too_long"),
    P("9 parameters", GB "A&a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1", 400, "invalid_parameter"),
    G("1000 empty pieces then one parameter", gen_empty_pieces, 200, OK),
    G("ID of 65 characters", gen_long_id, 400, "invalid_parameter"),
    /* percent-escapes */
    P("escape with non-hex digits", GB "%zz", 400, "invalid_parameter"),
    P("truncated escape at the end", GB "A%", 400, "invalid_parameter"),
    P("escape with one digit", GB "A%4", 400, "invalid_parameter"),
    P("escape of a percent sign", GB "%%41", 400, "invalid_parameter"),
    P("escape with G", GB "%G1", 400, "invalid_parameter"),
    P("escaped parameter name", API "get_balance?%61ccountID=A", 200, OK),
    /* NUL, control bytes and non-UTF-8 in IDs */
    P("%00 after an ID", GB "A%00", 400, "invalid_parameter"),
    P("%00 alone", GB "%00", 400, "invalid_parameter"),
    P("%01 inside an ID", GB "A%01B", 400, "invalid_parameter"),
    P("newline inside an ID", GB "A%0AB", 400, "invalid_parameter"),
    P("header injection in an ID", GB "A%0D%0AX-Injected:%201", 400, "invalid_parameter"),
    P("DEL in an ID", GB "A%7F", 400, "invalid_parameter"),
    P("invalid UTF-8 in an ID", GB "%C3%28", 400, "invalid_parameter"),
    P("bytes FF FE in an ID", GB "%FF%FE", 400, "invalid_parameter"),
    P("valid UTF-8 but not ASCII", GB "caf%C3%A9", 400, "invalid_parameter"),
    R("raw byte FF in the query", "GET " GB "\xff" HDR "\r\n", 400, "invalid_parameter"),
    P("empty ID", GB, 400, "invalid_parameter"),
    P("slash in an ID", GB "A%2FB", 400, "invalid_parameter"),
    P("plus in an ID", GB "A+B", 400, "invalid_parameter"),
    P("path traversal as an ID", GB "..%2F..%2Fetc", 400, "invalid_parameter"),
    P("%00 in fromAccount", T "fromAccount=A%00&toAccount=B&amount=1", 400, "invalid_parameter"),
    P("%00 in a new accountID", CA "accountID=%00x&startAmount=5", 400, "invalid_parameter"),
    /* amounts */
    P("negative amount", XFER("-5"), 400, "invalid_parameter"),
    P("escaped minus", XFER("%2D5"), 400, "invalid_parameter"),
    P("plus sign", XFER("+5"), 400, "invalid_parameter"),
    P("escaped plus sign", XFER("%2B5"), 400, "invalid_parameter"),
    P("decimal amount", XFER("1.5"), 400, "invalid_parameter"),
    P("exponent", XFER("1e3"), 400, "invalid_parameter"),
    P("capital exponent", XFER("1E3"), 400, "invalid_parameter"),
    P("hex amount", XFER("0x10"), 400, "invalid_parameter"),
    P("leading space", XFER("%205"), 400, "invalid_parameter"),
    P("trailing space", XFER("5%20"), 400, "invalid_parameter"),
    P("leading tab", XFER("%095"), 400, "invalid_parameter"),
    P("empty amount", XFER(""), 400, "invalid_parameter"),
    P("20 digits", XFER("12345678901234567890"), 400, "invalid_parameter"),
    P("20 nines", XFER("99999999999999999999"), 400, "invalid_parameter"),
    P("2^63", XFER("9223372036854775808"), 400, "invalid_parameter"),
    P("2^64", XFER("18446744073709551616"), 400, "invalid_parameter"),
    P("zero", XFER("0"), 400, "invalid_parameter"),
    P("zeros", XFER("000"), 400, "invalid_parameter"),
    P("fullwidth digit", XFER("%EF%BC%95"), 400, "invalid_parameter"),
    P("thousands separator", XFER("1%2C000"), 400, "invalid_parameter"),
    P("NaN", XFER("NaN"), 400, "invalid_parameter"),
    P("Infinity", XFER("Infinity"), 400, "invalid_parameter"),
    P("%00 amount", XFER("%00"), 400, "invalid_parameter"),
    P("digits then %00", XFER("5%00"), 400, "invalid_parameter"),
    P("amount without '='", T "fromAccount=A&toAccount=B&amount", 400, "invalid_parameter"),
    P("amount missing", T "fromAccount=A&toAccount=B", 400, "missing_parameter"),
    P("negative startAmount", CA "accountID=n1&startAmount=-1", 400, "invalid_parameter"),
    P("exponent startAmount", CA "accountID=n1&startAmount=1e2", 400, "invalid_parameter"),
    P("startAmount 2^63", CA "accountID=n1&startAmount=9223372036854775808", 400,
      "invalid_parameter"),
    P("empty startAmount", CA "accountID=n1&startAmount=", 400, "invalid_parameter"),
    P("padded startAmount", CA "accountID=n1&startAmount=%201", 400, "invalid_parameter"),
    P("escaped '&' and '=' inside a value", GB "A%26amount%3D5", 400, "invalid_parameter"),
    P("fragment after an ID", GB "A#frag", 400, "invalid_parameter"),
    P("double-encoded escape", GB "%2541", 400, "invalid_parameter"),
    P("%00 as events accountID", API "events?accountID=%00", 400, "invalid_parameter"),
    /* events paging */
    P("limit 0", API "events?limit=0", 400, "invalid_parameter"),
    P("limit past 1000", API "events?limit=1001", 400, "invalid_parameter"),
    P("negative limit", API "events?limit=-1", 400, "invalid_parameter"),
    P("negative after", API "events?after=-1", 400, "invalid_parameter"),
    P("after 2^64", API "events?after=18446744073709551616", 400, "invalid_parameter"),
    P("after 2^64-1", API "events?after=18446744073709551615", 200, OK),
    /* parameters */
    P("parameter given twice", GB "A&accountID=B", 400, "invalid_parameter"),
    P("unknown parameter", API "get_balance?accountId=A", 400, "invalid_parameter"),
    P("empty name", API "get_balance?=A", 400, "invalid_parameter"),
    /* INT64_MAX edges and business refusals */
    P("credit past 2^63-1", T "fromAccount=A&toAccount=M&amount=11", 422, "balance_overflow"),
    P("credit 1 to a full account", T "fromAccount=A&toAccount=F&amount=1", 422,
      "balance_overflow"),
    P("2^63-1 into a nearly full one", T "fromAccount=F&toAccount=M&amount=9223372036854775807",
      422, "balance_overflow"),
    P("2^63-1 from a small account", XFER("9223372036854775807"), 422, "insufficient_funds"),
    P("from an empty account", T "fromAccount=Z&toAccount=A&amount=1", 422, "insufficient_funds"),
    P("to itself", T "fromAccount=A&toAccount=A&amount=1", 422, "same_account"),
    P("to nobody", T "fromAccount=A&toAccount=nobody&amount=1", 404, "account_not_found"),
    P("from nobody", T "fromAccount=nobody&toAccount=A&amount=1", 404, "account_not_found"),
    P("existing account again", CA "accountID=A&startAmount=5", 409, "account_exists"),
    P("balance of nobody", GB "nobody", 404, "account_not_found"),
    /* paths and methods */
    P("unknown path", "/nope", 404, "not_found"),
    P("root", "/", 404, "not_found"),
    P("API base", API, 404, "not_found"),
    P("endpoint with a suffix", API "get_balanceX?accountID=A", 404, "not_found"),
    P("endpoint in capitals", "/API/1.0/wallet/get_balance?accountID=A", 404, "not_found"),
    P("health with a slash", "/health/", 404, "not_found"),
    R("POST a transfer", "POST " XFER("1") HDR "Content-Length: 0\r\n\r\n", 405,
      "method_not_allowed"),
    R("PUT an account", "PUT " CA "accountID=n2&startAmount=1" HDR "Content-Length: 0\r\n\r\n", 405,
      "method_not_allowed"),
    R("DELETE", "DELETE " GB "A" HDR "\r\n", 405, "method_not_allowed"),
    R("unknown method", "FROB /health" HDR "\r\n", 405, "method_not_allowed"),
    R("lowercase get", "get /health" HDR "\r\n", 405, "method_not_allowed"),
    G("method of 5000 letters", gen_long_method, 414, "uri_too_long"),
    P("escaped non-ASCII path", "/h%C3%A9alth", 404, "not_found"),
    R("raw UTF-8 in the path",
      "GET /h\xc3\xa9"
      "alth" HDR "\r\n",
      404, "not_found"),
    R("OPTIONS *", "OPTIONS *" HDR "\r\n", 400, "bad_request"),
    R("target without a slash", "GET health" HDR "\r\n", 400, "bad_request"),
    /* the protocol */
    R("HTTP/1.0", "GET " GB "A HTTP/1.0\r\n\r\n", 200, OK),
    R("HTTP/1.0 with a bad amount", "GET " XFER("x") " HTTP/1.0\r\n\r\n", 400, "invalid_parameter"),
    R("HTTP/1.1 without Host", "GET /health HTTP/1.1\r\n\r\n", 400, "bad_request"),
    R("two Host fields", "GET /health" HDR "Host: u\r\n\r\n", 400, "bad_request"),
    P("matrix parameter in the path", API "get_balance;x?accountID=A", 404, "not_found"),
    R("bare LF line ends", "GET /health HTTP/1.1\nHost: t\n\n", 200, OK),
    R("HTTP/2.0 in the request line", "GET /health HTTP/2.0\r\n\r\n", 400, PLAIN),
    R("two spaces in the request line", "GET  /health" HDR "\r\n", 400, PLAIN),
    R("control byte in the path", "GET /health\x01" HDR "\r\n", 400, PLAIN),
    R("NUL in a header value", "GET /health" HDR "X: a\0b\r\n\r\n", 400, PLAIN),
    R("header line without a colon", "GET /health" HDR "Foo\r\n\r\n", 400, PLAIN),
    G("101 header fields", gen_too_many_headers, 400, PLAIN),
    G("request head at h2o's 417,792-byte limit", gen_huge_head, 400, PLAIN),
    G("one header over 8192 bytes", gen_big_header, 431, "headers_too_large"),
    G("60 headers of 200 bytes", gen_many_headers, 431, "headers_too_large"),
    R("body over 4096 bytes", "GET /health" HDR "Content-Length: 5000\r\n\r\n", 413,
      "payload_too_large"),
    G("chunked body over 4096 bytes", gen_chunked_too_large, 413, "payload_too_large"),
    R("Content-Length not a number", "GET /health" HDR "Content-Length: abc\r\n\r\n", 400,
      "bad_request"),
    R("negative Content-Length", "GET /health" HDR "Content-Length: -1\r\n\r\n", 400,
      "bad_request"),
    R("unknown Transfer-Encoding", "GET /health" HDR "Transfer-Encoding: gzip\r\n\r\n", 400,
      "bad_request"),
    R("broken chunked body", "GET /health" HDR "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
      "bad_request"),
    R("unknown Expect", "GET /health" HDR "Expect: magic\r\nContent-Length: 3\r\n\r\nabc", 417,
      "expectation_failed"),
    R("two Content-Length fields, a transfer hidden after",
      "GET /health" HDR "Content-Length: 0\r\nContent-Length: 86\r\n\r\n"
      "GET " XFER("3") HDR "\r\n",
      400, "bad_request"),
    R("Content-Length and Transfer-Encoding",
      "GET /health" HDR "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
      "bad_request"),
    R("two Transfer-Encoding fields",
      "GET /health" HDR "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400, "bad_request"),
    R("100-continue with a body too large",
      "GET /health" HDR "Expect: 100-continue\r\nContent-Length: 5000\r\n\r\n", 413,
      "payload_too_large"),
    R("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, PLAIN),
    R("h2c upgrade is not taken",
      "GET /health" HDR "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
      200, OK),
    R("body on GET is ignored", "GET " GB "A" HDR "Content-Length: 11\r\n\r\namount=9999", 200, OK),
    R("parameters in a GET body are not read",
      "GET " API "balance_transfer" HDR "Content-Length: 34\r\n\r\n"
      "fromAccount=A&toAccount=B&amount=1",
      400, "missing_parameter"),
};

/* ---- state ---------------------------------------------------------------------------- */

#define ACCOUNTS 5
static const char *const accounts[ACCOUNTS] = {"A", "B", "Z", "M", "F"};
static const uint64_t start_amounts[ACCOUNTS] = {1000, 500, 0, MAX_I64 - 10, MAX_I64};

typedef struct {
    uint64_t balance[ACCOUNTS];
    size_t events[ACCOUNTS];
    size_t total_events;
} snapshot;

static void take_snapshot(snapshot *s) {
    for (int i = 0; i < ACCOUNTS; i++) {
        cr_assert(ws_balance(cli, accounts[i], &s->balance[i]), "balance of %s", accounts[i]);
        ws_event_list l = {0};
        cr_assert(ws_events_fetch_all(cli, accounts[i], &l), "events of %s", accounts[i]);
        s->events[i] = l.count;
        ws_event_list_free(&l);
    }
    ws_event_list all = {0};
    cr_assert(ws_events_fetch_all(cli, NULL, &all));
    s->total_events = all.count;
    ws_event_list_free(&all);
}

static void assert_unchanged(const snapshot *before, const char *after_what) {
    snapshot now;
    take_snapshot(&now);
    for (int i = 0; i < ACCOUNTS; i++) {
        cr_assert_eq(now.balance[i], before->balance[i], "%s: balance of %s moved", after_what,
                     accounts[i]);
        cr_assert_eq(now.events[i], before->events[i], "%s: events of %s", after_what, accounts[i]);
    }
    cr_assert_eq(now.total_events, before->total_events, "%s: event count", after_what);
    ws_response r = WS_RESPONSE_INIT;
    for (int i = 1; i <= 2; i++) { /* accounts the refused creates named must not exist */
        cr_assert_eq(ws_get(cli, &r, API "get_balance?accountID=n%d", i), 404, "%s: n%d exists",
                     after_what, i);
    }
    ws_response_free(&r);
}

static void start(const char *const *args) {
    srv = ws_server_new(args);
    cr_assert_not_null(srv, "could not prepare a server (is WS_BINARY set?)");
    cr_assert(ws_server_start(srv), "server did not start");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
}

static void create_accounts(void) {
    ws_response r = WS_RESPONSE_INIT;
    for (int i = 0; i < ACCOUNTS; i++) {
        cr_assert_eq(ws_get(cli, &r, CA "accountID=%s&startAmount=%llu", accounts[i],
                            (unsigned long long)start_amounts[i]),
                     201, "create %s: %s", accounts[i], r.body ? r.body : "");
    }
    ws_response_free(&r);
}

static void stop_and_verify(void) {
    ws_client_free(cli);
    cli = NULL;
    cr_assert_eq(ws_server_stop(srv), 0, "clean stop");
    char out[4096];
    cr_assert_eq(ws_server_verify(srv, out, sizeof(out)), 0, "--verify: %s", out);
}

/* Checks one answer against its row. */
static void expect(const bad_case *c, const ws_raw_response *r) {
    cr_assert_eq(r->status, c->status, "%s: expected %d, got %d %s", c->what, c->status, r->status,
                 r->body);
    if (strcmp(c->code, PLAIN) == 0) {
        cr_assert(strncmp(r->content_type, "text/plain", 10) == 0 &&
                      strcmp(r->body, "Bad Request") == 0,
                  "%s: h2o's own 400 expected, got '%s' %s", c->what, r->content_type, r->body);
        return;
    }
    cr_assert_str_eq(r->content_type, "application/json", "%s: Content-Type", c->what);
    if (c->code[0] != '\0') {
        cr_assert(ws_json_is_error(r->body, c->code), "%s: expected %s, got %s", c->what, c->code,
                  r->body);
    } else {
        cr_assert(strstr(r->body, "\"error\"") == NULL, "%s: %s", c->what, r->body);
    }
}

static void run_case(const bad_case *c) {
    char line[8192];
    const char *req = c->raw;
    size_t len = req != NULL ? strlen(req) : 0;
    if (c->path != NULL) {
        len = (size_t)snprintf(line, sizeof(line), "GET %s" HDR "\r\n", c->path);
        cr_assert_lt(len, sizeof(line));
        req = line;
    } else if (c->gen != NULL) {
        c->gen();
        req = gen_buf;
        len = strlen(gen_buf);
    } else if (strstr(c->what, "NUL in a header") != NULL) {
        len = strlen(req) + 1 + strlen(req + strlen(req) + 1); /* the one row with a NUL */
    }
    ws_raw_response r;
    int got = ws_raw_exchange(srv->port, req, len, &r, 1, 5000);
    cr_assert_eq(got, 1, "%s: no answer (%d)", c->what, got);
    expect(c, &r);
}

Test(badinput, catalogue, .fini = teardown, .timeout = 120) {
    size_t n = sizeof(catalogue) / sizeof(catalogue[0]);
    cr_assert_geq(n, 60, "the catalogue has %zu cases", n);
    start(NULL);
    create_accounts();
    snapshot before;
    take_snapshot(&before);
    for (size_t i = 0; i < n; i++) {
        run_case(&catalogue[i]);
    }
    assert_unchanged(&before, "after the catalogue");
    ws_response r = WS_RESPONSE_INIT;
    cr_assert_eq(ws_get(cli, &r, "/health"), 200, "still serving");
    ws_response_free(&r);
    stop_and_verify();
}

/* Several requests in one packet: every one answered, in order, on one connection; a
 * refusal in the middle does not disturb the others. HEAD's answer has no body, so the next
 * answer still parses. */
Test(badinput, pipelined_in_order, .fini = teardown, .timeout = 60) {
    start(NULL);
    create_accounts();
    snapshot before;
    take_snapshot(&before);
    static const char reqs[] = "GET " GB "A" HDR "\r\n"
                               "GET " XFER("1.5") HDR "\r\n"
                                                      "HEAD /health" HDR "\r\n"
                                                      "GET /nope" HDR "\r\n"
                                                      "GET " GB "B" HDR "\r\n"
                                                      "GET /health" HDR "Connection: close\r\n\r\n";
    static const bool head[] = {false, false, true, false, false, false};
    int fd = ws_raw_connect(srv->port);
    cr_assert_geq(fd, 0);
    cr_assert(ws_raw_send(fd, reqs, sizeof(reqs) - 1, 5000));
    ws_raw_response r[6];
    bool closed = false;
    int got = ws_raw_read(fd, r, 6, head, 5000, &closed);
    close(fd);
    cr_assert_eq(got, 6, "answers: %d", got);
    cr_assert_eq(r[0].status, 200);
    cr_assert_str_eq(r[0].body, "{\"accountID\":\"A\",\"balance\":1000}");
    cr_assert_eq(r[1].status, 400);
    cr_assert(ws_json_is_error(r[1].body, "invalid_parameter"), "%s", r[1].body);
    cr_assert_eq(r[2].status, 405, "HEAD: %d", r[2].status);
    cr_assert_eq(r[3].status, 404);
    cr_assert(ws_json_is_error(r[3].body, "not_found"), "%s", r[3].body);
    cr_assert_eq(r[4].status, 200);
    cr_assert_str_eq(r[4].body, "{\"accountID\":\"B\",\"balance\":500}");
    cr_assert_eq(r[5].status, 200);
    cr_assert_str_eq(r[5].body, "{\"status\":\"ok\"}");
    cr_assert(r[5].close && closed, "Connection: close is honoured");
    assert_unchanged(&before, "after pipelining");
    stop_and_verify();
}

/* A body on GET is read as a body, never as the next request: a transfer hidden in it
 * must not run (request smuggling). */
Test(badinput, body_is_not_a_request, .fini = teardown, .timeout = 60) {
    start(NULL);
    create_accounts();
    snapshot before;
    take_snapshot(&before);
    static const char hidden[] = "GET " XFER("7") HDR "\r\n";
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET /health" HDR "Content-Length: %zu\r\n\r\n%s",
                     sizeof(hidden) - 1, hidden);
    ws_raw_response r[2];
    int fd = ws_raw_connect(srv->port);
    cr_assert_geq(fd, 0);
    cr_assert(ws_raw_send(fd, req, (size_t)n, 5000));
    int got = ws_raw_read(fd, r, 2, NULL, 1000, NULL); /* waits 1 s for a second answer */
    close(fd);
    cr_assert_eq(got, 1, "one request, one answer (got %d)", got);
    cr_assert_eq(r[0].status, 200);
    assert_unchanged(&before, "after a body on GET");
    stop_and_verify();
}

/* A client that never finishes its request is answered 408 and cut off after
 * --request-timeout, while the server goes on serving everyone else. An idle connection
 * (nothing sent) is closed after --idle-timeout. */
Test(badinput, slow_and_idle_clients, .fini = teardown, .timeout = 60) {
    static const char *const args[] = {"--request-timeout", "1000", "--idle-timeout", "1500", NULL};
    start(args);
    create_accounts();
    static const char partial[] = "GET " GB "A HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    int slow = ws_raw_connect(srv->port);
    int idle = ws_raw_connect(srv->port);
    cr_assert(slow >= 0 && idle >= 0);
    cr_assert(ws_raw_send(slow, partial, sizeof(partial) - 1, 1000));
    int64_t t0 = ws_now_ms();
    ws_response resp = WS_RESPONSE_INIT;
    int served = 0;
    for (int i = 0; i < 10; i++) { /* others are served meanwhile (about 0.5 s) */
        served += ws_get(cli, &resp, GB "A") == 200;
        ws_sleep_ms(50);
    }
    cr_assert_eq(served, 10);
    ws_raw_response r;
    bool closed = false;
    int got = ws_raw_read(slow, &r, 1, NULL, 5000, &closed);
    int64_t took = ws_now_ms() - t0;
    cr_assert_eq(got, 1, "the slow client got no answer");
    cr_assert_eq(r.status, 408);
    cr_assert(ws_json_is_error(r.body, "request_timeout"), "%s", r.body);
    cr_assert(r.close, "408 closes the connection");
    cr_assert_geq(took, 900, "408 after %lld ms, before the timeout", (long long)took);
    close(slow);

    got = ws_raw_read(idle, &r, 1, NULL, 5000, &closed);
    cr_assert_eq(got, 0, "an idle connection gets no answer");
    cr_assert(closed, "the idle connection was not closed");
    close(idle);
    cr_assert_eq(ws_get(cli, &resp, "/health"), 200, "still serving");
    ws_response_free(&resp);
    stop_and_verify();
}

/* The timeouts measure one request or one idle stretch, not the connection's life: a
 * keep-alive client that sends a request every 50 ms for 4x --idle-timeout, and one that
 * streams requests split in two packets for 5x --request-timeout, are served throughout
 * and never cut or answered 408. (The sweep used to see such a client "idle" or
 * "receiving" at every 100 ms tick and close it while in use.) */
Test(badinput, busy_keep_alive_is_not_timed_out, .fini = teardown, .timeout = 60) {
    static const char *const args[] = {"--request-timeout", "200", "--idle-timeout", "300", NULL};
    start(args);
    create_accounts();
    static const char req[] = "GET " GB "A HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd = ws_raw_connect(srv->port);
    cr_assert(fd >= 0);
    ws_raw_response r;
    bool closed = false;
    for (int i = 0; i < 24; i++) { /* about 1.2 s */
        cr_assert(ws_raw_send(fd, req, sizeof(req) - 1, 1000), "request %d: send failed", i);
        int got = ws_raw_read(fd, &r, 1, NULL, 2000, &closed);
        cr_assert_eq(got, 1, "request %d: no answer (closed: %d)", i, closed);
        cr_assert_eq(r.status, 200, "request %d: %d %s", i, r.status, r.body);
        cr_assert(!r.close, "request %d: connection closed", i);
        ws_sleep_ms(50);
    }
    for (int i = 0; i < 100; i++) { /* each request in two packets, 10 ms apart: ~1 s */
        cr_assert(ws_raw_send(fd, req, 20, 1000));
        ws_sleep_ms(10);
        cr_assert(ws_raw_send(fd, req + 20, sizeof(req) - 1 - 20, 1000));
        int got = ws_raw_read(fd, &r, 1, NULL, 2000, &closed);
        cr_assert_eq(got, 1, "split request %d: no answer (closed: %d)", i, closed);
        cr_assert_eq(r.status, 200, "split request %d: %d %s", i, r.status, r.body);
    }
    close(fd);
    stop_and_verify();
}

/* At --max-connections, a new connection's request is answered 503 overloaded (JSON,
 * Retry-After, Connection: close); connections already open are still served; once some
 * close, new ones are served again. */
#define FLOOD 200

Test(badinput, connection_cap, .fini = teardown, .timeout = 60) {
    static const char *const args[] = {"--max-connections", "4", NULL};
    start(args);
    ws_response resp = WS_RESPONSE_INIT;
    cr_assert_eq(ws_get(cli, &resp, "/health"), 200); /* cli holds connection 1 */
    int held[3];
    for (int i = 0; i < 3; i++) {
        held[i] = ws_raw_connect(srv->port);
        cr_assert_geq(held[i], 0);
    }
    ws_sleep_ms(200); /* let the server accept them */
    static const char req[] = "GET /health" HDR "\r\n";
    ws_raw_response r;
    cr_assert_eq(ws_raw_exchange(srv->port, req, sizeof(req) - 1, &r, 1, 5000), 1);
    cr_assert_eq(r.status, 503);
    cr_assert(ws_json_is_error(r.body, "overloaded"), "%s", r.body);
    cr_assert(r.has_retry_after && r.close, "Retry-After and Connection: close");
    cr_assert_eq(ws_get(cli, &resp, "/health"), 200, "an open connection is still served");
    /* A flood far past the cap (and past the 64 accepted only to be refused): the server
     * rests its listeners instead of spinning, and keeps serving the connection it has. */
    int flood[FLOOD];
    for (int i = 0; i < FLOOD; i++) {
        flood[i] = ws_raw_connect(srv->port);
    }
    ws_sleep_ms(300);
    long before = ws_process_cpu_ticks(srv->pid);
    ws_sleep_ms(1000);
    long spent = ws_process_cpu_ticks(srv->pid) - before;
    cr_assert(before >= 0 && spent < 30, "the server used %ld ticks in 1 s of flood", spent);
    cr_assert_eq(ws_get(cli, &resp, "/health"), 200, "served during the flood");
    for (int i = 0; i < FLOOD; i++) {
        if (flood[i] >= 0) {
            close(flood[i]);
        }
    }
    for (int i = 0; i < 3; i++) {
        close(held[i]);
    }
    int status = 0;
    for (int attempt = 0; attempt < 50 && status != 200; attempt++) { /* at most ~5 s */
        ws_sleep_ms(100);
        status = ws_raw_exchange(srv->port, req, sizeof(req) - 1, &r, 1, 1000) == 1 ? r.status : 0;
    }
    cr_assert_eq(status, 200, "no connection served after the others closed");
    ws_response_free(&resp);
    stop_and_verify();
}

/* The limit flags reach the server: small values refuse what the defaults let through, and
 * a bad value (flag or environment) stops the binary with exit 2 before it opens data. */
Test(badinput, limit_flags, .fini = teardown, .timeout = 60) {
    static const char *const bad[][3] = {
        {"--max-connections", "0", NULL},       {"--max-request-line", "63", NULL},
        {"--max-header-bytes", "262145", NULL}, {"--max-body-bytes", "-1", NULL},
        {"--request-timeout", "99", NULL},      {"--idle-timeout", "1e4", NULL},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(ws_run_binary(bad[i], out, sizeof(out), 10000), 2, "%s %s: %s", bad[i][0],
                     bad[i][1], out);
        cr_assert(strstr(out, bad[i][0]) != NULL, "the message names %s: %s", bad[i][0], out);
    }
    static const char *const help[] = {"--help", NULL};
    cr_assert_eq(ws_run_binary(help, out, sizeof(out), 10000), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert(strstr(out, bad[i][0]) != NULL, "--help lists %s", bad[i][0]);
    }
    static const char *const port0[] = {"--port", "0", "--data-dir", "/nonexistent-ws", NULL};
    setenv("WALLET_MAX_BODY_BYTES", "lots", 1);
    cr_assert_eq(ws_run_binary(port0, out, sizeof(out), 10000), 2);
    cr_assert(strstr(out, "--max-body-bytes") != NULL, "the env value is checked: %s", out);
    unsetenv("WALLET_MAX_BODY_BYTES");

    static const char *const args[] = {
        "--max-body-bytes", "10", "--max-header-bytes", "256", "--max-request-line", "128", NULL};
    start(args);
    static const bad_case small[] = {
        R("10-byte body", "GET /health" HDR "Content-Length: 10\r\n\r\n0123456789", 200, OK),
        R("11-byte body", "GET /health" HDR "Content-Length: 11\r\n\r\n0123456789a", 413,
          "payload_too_large"),
        G("256 bytes of headers", gen_headers_256, 200, OK),
        G("257 bytes of headers", gen_headers_257, 431, "headers_too_large"),
        R("300 bytes of headers", "GET /health" HDR "X-Pad: " PAD300 "\r\n\r\n", 431,
          "headers_too_large"),
        P("a 129-byte request line", "/health?" PAD100, 414, "uri_too_long"),
        P("a 128-byte request line", "/health?" PAD100_LESS1, 400, "invalid_parameter"),
    };
    for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
        run_case(&small[i]);
    }
    stop_and_verify();
    ws_server_destroy(srv);

    /* The environment alone sets a limit too (the server inherits it). */
    setenv("WALLET_MAX_REQUEST_LINE", "64", 1);
    start(NULL);
    unsetenv("WALLET_MAX_REQUEST_LINE");
    static const bad_case env[] = {
        P("a 64-byte request line", "/health?" PAD10 PAD10 PAD10 "abcdefghijklm", 400,
          "invalid_parameter"),
        P("a 65-byte request line", "/health?" PAD10 PAD10 PAD10 "abcdefghijklmn", 414,
          "uri_too_long"),
    };
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
        run_case(&env[i]);
    }
    stop_and_verify();
}

/* ---- the JSON API's hostile bodies ------------------------------------------------------ */

/* A JSON row: a request with a body to POST /accounts or /transfers, built and framed by
 * run_json_case (Content-Length, or chunked in pieces of `chunk` bytes, or only a head that
 * declares `declared` bytes), checked like a catalogue row (status, code, Content-Type),
 * plus the error's index and a text the answer must hold. A row refused as a whole must
 * leave the log as it was, not a record more. */
typedef struct {
    const char *what;
    const char *path;         /* POST path */
    const char *content_type; /* NULL: no Content-Type field */
    const char *extra;        /* more header lines ("Name: v\r\n"), or NULL */
    const char *body;         /* body_len bytes, NUL bytes included */
    size_t body_len;          /* (or gen writes the body into json_gen and returns its length) */
    size_t (*gen)(char *buf);
    size_t chunk;    /* > 0: Transfer-Encoding: chunked, in pieces of this many bytes */
    size_t declared; /* > 0: only the head is sent, declaring this Content-Length */
    int status;
    const char *code; /* the JSON error code, or OK */
    long index;       /* the error's "index", -1 for none */
    const char *want; /* a text the answer holds, or NULL */
} json_case;

#define JT API "transfers"
#define JA API "accounts"
#define JCT "application/json"
#define J(what, path, body, status, code)                                                          \
    { what, path, JCT, NULL, body, sizeof(body) - 1, NULL, 0, 0, status, code, -1, NULL }
#define JI(what, path, body, status, code, index)                                                  \
    { what, path, JCT, NULL, body, sizeof(body) - 1, NULL, 0, 0, status, code, index, NULL }
#define JTYPE(what, type, body, status, code)                                                      \
    { what, JT, type, NULL, body, sizeof(body) - 1, NULL, 0, 0, status, code, -1, NULL }
#define JH(what, path, extra, body, status, code)                                                  \
    { what, path, JCT, extra, body, sizeof(body) - 1, NULL, 0, 0, status, code, -1, NULL }
#define JG(what, path, gen, status, code, index)                                                   \
    { what, path, JCT, NULL, NULL, 0, gen, 0, 0, status, code, index, NULL }
#define JC(what, path, body, chunk, status, code, want)                                            \
    { what, path, JCT, NULL, body, sizeof(body) - 1, NULL, chunk, 0, status, code, -1, want }
#define JCG(what, path, gen, chunk, status, code)                                                  \
    { what, path, JCT, NULL, NULL, 0, gen, chunk, 0, status, code, -1, NULL }
#define JD(what, path, extra, declared, status, code)                                              \
    { what, path, JCT, extra, NULL, 0, NULL, 0, declared, status, code, -1, NULL }

#define TR(id, from, to, amount)                                                                   \
    "{\"transferID\":\"" id "\",\"fromAccount\":\"" from "\",\"toAccount\":\"" to                  \
    "\",\"amount\":" amount "}"
#define BATCH_LIMIT (4u << 20)
#define JSON_GEN_MAX (BATCH_LIMIT + 4096)
#define GROUP_MAX 8190

static char json_gen[JSON_GEN_MAX];

/* n transfers from Z (balance 0) to A; the last one's amount is last_amount, the last one's
 * transferID is first_id's when dup_last. */
static size_t gen_transfers(char *buf, size_t n, const char *last_amount, bool dup_last) {
    size_t k = (size_t)sprintf(buf, "{\"transfers\":[");
    for (size_t i = 0; i < n; i++) {
        size_t id = dup_last && i == n - 1 ? 0 : i;
        k += (size_t)sprintf(buf + k,
                             "%s{\"transferID\":\"j%zu\",\"fromAccount\":\"Z\",\"toAccount\":"
                             "\"A\",\"amount\":%s}",
                             i ? "," : "", id, i == n - 1 ? last_amount : "1");
    }
    k += (size_t)sprintf(buf + k, "]}");
    return k;
}
static size_t gen_8191(char *buf) { return gen_transfers(buf, GROUP_MAX + 1, "1", false); }
static size_t gen_8190_bad_last(char *buf) {
    return gen_transfers(buf, GROUP_MAX, "9223372036854775808", false);
}
static size_t gen_8190_dup_last(char *buf) { return gen_transfers(buf, GROUP_MAX, "1", true); }

static size_t gen_long_number(char *buf) { /* an amount of 100,000 digits */
    size_t k = (size_t)sprintf(buf, "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":");
    k += fill(buf + k, '9', 100000);
    return k + (size_t)sprintf(buf + k, "}");
}

static size_t gen_long_key(char *buf) { /* a key of 3000 bytes */
    size_t k = (size_t)sprintf(buf, "{\"");
    k += fill(buf + k, 'k', 3000);
    return k + (size_t)sprintf(buf + k, "\":1,\"startAmount\":1}");
}

static size_t gen_long_account_id(char *buf) { /* an accountID of 4000 characters */
    size_t k = (size_t)sprintf(buf, "{\"startAmount\":1,\"accountID\":\"");
    k += fill(buf + k, 'i', 4000);
    return k + (size_t)sprintf(buf + k, "\"}");
}

/* An existing account's creation padded to len bytes: refused 409, whatever the padding. */
static size_t gen_padded_account(char *buf, size_t len, bool leading) {
    static const char body[] = "{\"accountID\":\"A\",\"startAmount\":1}";
    size_t pad = len - (sizeof(body) - 1);
    if (leading) {
        fill(buf, ' ', pad);
        memcpy(buf + pad, body, sizeof(body) - 1);
    } else {
        memcpy(buf, body, sizeof(body) - 1);
        fill(buf + sizeof(body) - 1, ' ', pad);
    }
    return len;
}
static size_t gen_4000_leading_spaces(char *buf) { return gen_padded_account(buf, 4050, true); }
static size_t gen_account_5000(char *buf) { return gen_padded_account(buf, 5000, false); }
static size_t gen_account_4096(char *buf) { return gen_padded_account(buf, 4096, false); }

/* A refused transfer (Z has nothing) in a batch padded to len bytes. */
static size_t gen_padded_batch(char *buf, size_t len) {
    static const char body[] = "{\"transfers\":[" TR("pad", "Z", "A", "1") "]}";
    memcpy(buf, body, sizeof(body) - 1);
    fill(buf + sizeof(body) - 1, ' ', len - (sizeof(body) - 1));
    return len;
}
static size_t gen_batch_past_limit(char *buf) { return gen_padded_batch(buf, BATCH_LIMIT + 100); }
static size_t gen_batch_at_limit(char *buf) { return gen_padded_batch(buf, BATCH_LIMIT); }

/* Nesting: n '[' (then n ']' when closed), alone or as a transfer's "linked". */
static size_t gen_nested(char *buf, size_t n, bool closed) {
    size_t k = fill(buf, '[', n);
    return k + (closed ? fill(buf + k, ']', n) : 0);
}
static size_t gen_open_10000(char *buf) { return gen_nested(buf, 10000, false); }
static size_t gen_closed_10000(char *buf) { return gen_nested(buf, 10000, true); }
static size_t gen_open_4000(char *buf) { return gen_nested(buf, 4000, false); }
static size_t gen_linked_depth_9(char *buf) { /* 3 levels of batch, 6 of arrays */
    size_t k = (size_t)sprintf(buf, "{\"transfers\":[{\"transferID\":\"n9\",\"fromAccount\":\"Z\","
                                    "\"toAccount\":\"A\",\"amount\":1,\"linked\":");
    k += fill(buf + k, '[', 6);
    k += (size_t)sprintf(buf + k, "true");
    k += fill(buf + k, ']', 6);
    return k + (size_t)sprintf(buf + k, "}]}");
}

/* Accounts: A 1000, B 500, Z 0, M 2^63-11, F 2^63-1 (see the catalogue). */
static const json_case json_catalogue[] = {
    /* huge numbers */
    J("amount 2^63", JT,
      "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":9223372036854775808}", 400,
      "invalid_parameter"),
    J("amount 2^63 as a string", JT,
      "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":\"9223372036854775808\"}", 400,
      "invalid_parameter"),
    J("amount 2^64", JT,
      "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":18446744073709551616}", 400,
      "invalid_parameter"),
    J("amount -2^63", JT,
      "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":-9223372036854775808}", 400,
      "invalid_parameter"),
    J("amount 1e400", JT, "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1e400}", 400,
      "invalid_parameter"),
    J("amount 2^63-1 with a fraction", JT,
      "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":9223372036854775807.0}", 400,
      "invalid_parameter"),
    JG("amount of 100,000 digits", JT, gen_long_number, 400, "invalid_parameter", -1),
    JI("2^63 in a batch", JT,
       "{\"transfers\":[" TR("j1", "Z", "A", "1") "," TR("j2", "Z", "A",
                                                         "9223372036854775808") "]}",
       400, "invalid_parameter", 1),
    J("startAmount 2^63", JA, "{\"accountID\":\"n1\",\"startAmount\":9223372036854775808}", 400,
      "invalid_parameter"),
    J("startAmount 2^63 as a string", JA,
      "{\"accountID\":\"n1\",\"startAmount\":\"9223372036854775808\"}", 400, "invalid_parameter"),
    J("startAmount of 20 nines", JA, "{\"accountID\":\"n1\",\"startAmount\":99999999999999999999}",
      400, "invalid_parameter"),
    /* duplicate keys */
    J("amount twice", JT, "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"amount\":1}",
      400, "invalid_json"),
    J("a key twice, once escaped", JT,
      "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1,\"amo\\u0075nt\":1}", 400,
      "invalid_json"),
    JI("fromAccount twice in a batch", JT,
       "{\"transfers\":[{\"transferID\":\"j1\",\"fromAccount\":\"Z\",\"fromAccount\":\"Z\","
       "\"toAccount\":\"A\",\"amount\":1}]}",
       400, "invalid_json", 0),
    J("transfers twice", JT, "{\"transfers\":[" TR("j1", "Z", "A", "1") "],\"transfers\":[]}", 400,
      "invalid_json"),
    J("accountID twice", JA, "{\"accountID\":\"n1\",\"accountID\":\"n2\",\"startAmount\":1}", 400,
      "invalid_json"),
    JI("a transferID twice in a batch", JT,
       "{\"transfers\":[" TR("j1", "Z", "A", "1") "," TR("j2", "Z", "A", "1") "," TR("j1", "Z", "A",
                                                                                     "1") "]}",
       400, "duplicate_transfer_id", 2),
    /* NUL: escaped (valid JSON, not an ID) and raw (not JSON) */
    J("\\u0000 in fromAccount", JT,
      "{\"fromAccount\":\"A\\u0000\",\"toAccount\":\"B\",\"amount\":1}", 400, "invalid_parameter"),
    J("\\u0000 inside toAccount", JT,
      "{\"fromAccount\":\"A\",\"toAccount\":\"B\\u0000C\",\"amount\":1}", 400, "invalid_parameter"),
    JI("\\u0000 in a batch's transferID", JT,
       "{\"transfers\":[{\"transferID\":\"\\u0000\",\"fromAccount\":\"Z\",\"toAccount\":\"A\","
       "\"amount\":1}]}",
       400, "invalid_parameter", 0),
    J("\\u0000 in an accountID", JA, "{\"accountID\":\"n1\\u0000\",\"startAmount\":1}", 400,
      "invalid_parameter"),
    J("\\u0000 as an amount", JT,
      "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":\"\\u0000\"}", 400,
      "invalid_parameter"),
    J("raw NUL in fromAccount", JT, "{\"fromAccount\":\"A\0\",\"toAccount\":\"B\",\"amount\":1}",
      400, "invalid_json"),
    J("raw NUL in an accountID", JA, "{\"accountID\":\"n\0001\",\"startAmount\":1}", 400,
      "invalid_json"),
    J("raw NUL in a key", JT, "{\"from\0Account\":\"A\",\"toAccount\":\"B\",\"amount\":1}", 400,
      "invalid_json"),
    J("raw NUL after the object", JA, "{\"accountID\":\"n1\",\"startAmount\":1}\0", 400,
      "invalid_json"),
    J("a raw NUL alone", JT, "\0", 400, "invalid_json"),
    /* UTF-8 */
    J("byte FF in a string", JT, "{\"fromAccount\":\"\xff\",\"toAccount\":\"B\",\"amount\":1}", 400,
      "invalid_json"),
    J("byte FF in a key", JT, "{\"from\xff\":\"A\",\"toAccount\":\"B\",\"amount\":1}", 400,
      "invalid_json"),
    J("a lone continuation byte", JA, "{\"accountID\":\"n\x80\",\"startAmount\":1}", 400,
      "invalid_json"),
    J("a sequence cut by the quote", JA, "{\"accountID\":\"n\xc3\",\"startAmount\":1}", 400,
      "invalid_json"),
    J("a five-byte sequence", JT,
      "{\"fromAccount\":\"\xf8\x88\x80\x80\x80\",\"toAccount\":\"B\",\"amount\":1}", 400,
      "invalid_json"),
    J("byte FE outside strings", JT, "\xfe{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1}",
      400, "invalid_json"),
    J("a UTF-8 byte-order mark", JA, "\xef\xbb\xbf{\"accountID\":\"n1\",\"startAmount\":1}", 400,
      "invalid_json"),
    J("valid UTF-8 that is no ID", JA, "{\"accountID\":\"n\xc3\xa9\",\"startAmount\":1}", 400,
      "invalid_parameter"),
    J("an escaped e-acute", JA, "{\"accountID\":\"n\\u00e9\",\"startAmount\":1}", 400,
      "invalid_parameter"),
    J("a lone surrogate escape", JA, "{\"accountID\":\"n\\ud800\",\"startAmount\":1}", 400,
      "invalid_parameter"),
    /* how many transfers */
    JG("8191 transfers", JT, gen_8191, 400, "too_many_transfers", GROUP_MAX),
    JG("8190 transfers, the last with 2^63", JT, gen_8190_bad_last, 400, "invalid_parameter",
       GROUP_MAX - 1),
    JG("8190 transfers, the last repeating the first's ID", JT, gen_8190_dup_last, 400,
       "duplicate_transfer_id", GROUP_MAX - 1),
    J("no transfers", JT, "{\"transfers\":[]}", 400, "too_many_transfers"),
    /* truncated */
    J("an empty body", JT, "", 400, "invalid_json"),
    J("one brace", JA, "{", 400, "invalid_json"),
    J("a batch cut after its bracket", JT, "{\"transfers\":[", 400, "invalid_json"),
    J("a batch cut in a string", JT, "{\"transfers\":[{\"transferID\":\"j1\",\"fromAcc", 400,
      "invalid_json"),
    J("a batch cut after a comma", JT, "{\"transfers\":[" TR("j1", "Z", "A", "1") ",", 400,
      "invalid_json"),
    J("a transfer cut before its brace", JT,
      "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1", 400, "invalid_json"),
    J("a transfer cut in a number", JT, "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":-",
      400, "invalid_json"),
    J("a cut escape", JA, "{\"accountID\":\"n\\u00", 400, "invalid_json"),
    /* other shapes */
    J("null", JT, "null", 400, "invalid_parameter"),
    J("a top-level string", JA, "\"n1\"", 400, "invalid_parameter"),
    J("an object for a string", JT, "{\"fromAccount\":{},\"toAccount\":\"B\",\"amount\":1}", 400,
      "invalid_parameter"),
    JG("a key of 3000 bytes", JA, gen_long_key, 400, "invalid_parameter", -1),
    JG("an accountID of 4000 characters", JA, gen_long_account_id, 400, "invalid_parameter", -1),
    JG("4000 spaces before the object", JA, gen_4000_leading_spaces, 409, "account_exists", -1),
    JH("Idempotency-Key with a space", JT, "Idempotency-Key: a b\r\n",
       "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1}", 400, "invalid_parameter"),
    JH("Idempotency-Key on a batch", JT, "Idempotency-Key: k1\r\n",
       "{\"transfers\":[" TR("j1", "A", "B", "1") "]}", 400, "invalid_parameter"),
    JH("two Idempotency-Keys", JA, "Idempotency-Key: k1\r\nIdempotency-Key: k2\r\n",
       "{\"accountID\":\"n1\",\"startAmount\":1}", 400, "invalid_parameter"),
    /* chunked bodies */
    JC("a chunked batch in 7-byte pieces", JT,
       "{\"transfers\":[" TR("jc1", "Z", "A", "1") "," TR("jc2", "Z", "B", "5") "]}", 7, 200, OK,
       "{\"results\":[{\"transactionID\":\"jc1\",\"code\":\"insufficient_funds\"},"
       "{\"transactionID\":\"jc2\",\"code\":\"insufficient_funds\"}]}"),
    JC("a chunked transfer in 1-byte pieces", JT,
       "{\"fromAccount\":\"A\",\"toAccount\":\"nobody\",\"amount\":1}", 1, 404, "account_not_found",
       NULL),
    JC("a chunked account in one piece", JA, "{\"accountID\":\"A\",\"startAmount\":1}", 4096, 409,
       "account_exists", NULL),
    JC("a chunked body cut short", JT, "{\"transfers\":[" TR("jc3", "Z", "A", "1"), 16, 400,
       "invalid_json", NULL),
    JCG("a chunked account body of 5000 bytes", JA, gen_account_5000, 1000, 413,
        "payload_too_large"),
    JCG("a chunked batch past 4 MiB", JT, gen_batch_past_limit, 65536, 413, "payload_too_large"),
    /* bodies past the limits */
    JD("a batch declaring 4 MiB + 1", JT, NULL, BATCH_LIMIT + 1, 413, "payload_too_large"),
    JD("a batch declaring 2^40 bytes", JT, NULL, 1ull << 40, 413, "payload_too_large"),
    JD("100-continue with 4 MiB + 1", JT, "Expect: 100-continue\r\n", BATCH_LIMIT + 1, 413,
       "payload_too_large"),
    JD("an account declaring 5000 bytes", JA, NULL, 5000, 413, "payload_too_large"),
    JG("an account body of 5000 bytes", JA, gen_account_5000, 413, "payload_too_large", -1),
    JG("an account body of 4096 bytes", JA, gen_account_4096, 409, "account_exists", -1),
    /* the media type */
    JTYPE("text/plain", "text/plain", "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1}",
          415, "unsupported_media_type"),
    JTYPE("no Content-Type", NULL, "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1}", 415,
          "unsupported_media_type"),
    JTYPE("a form", "application/x-www-form-urlencoded", "fromAccount=A&toAccount=B&amount=1", 415,
          "unsupported_media_type"),
    JTYPE("multipart", "multipart/form-data; boundary=x", "--x\r\n\r\n{}\r\n--x--\r\n", 415,
          "unsupported_media_type"),
    JTYPE("a JSON suffix type", "application/merge-patch+json",
          "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1}", 415,
          "unsupported_media_type"),
    JTYPE("application/json with a suffix", "application/jsonp",
          "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1}", 415,
          "unsupported_media_type"),
    JTYPE("an empty Content-Type", "", "{\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":1}",
          415, "unsupported_media_type"),
};

/* Builds c's request into a malloc'd buffer; *len its length. */
static char *json_request(const json_case *c, size_t *len) {
    const char *body = c->body;
    size_t n = c->body_len;
    if (c->gen != NULL) {
        n = c->gen(json_gen);
        cr_assert_lt(n, JSON_GEN_MAX);
        body = json_gen;
    }
    size_t cap = 1024 + n + (c->chunk > 0 ? (n / c->chunk + 2) * 24 : 0);
    char *req = malloc(cap);
    cr_assert_not_null(req);
    size_t k = (size_t)snprintf(req, cap, "POST %s" HDR "%s%s%s%s", c->path,
                                c->content_type != NULL ? "Content-Type: " : "",
                                c->content_type != NULL ? c->content_type : "",
                                c->content_type != NULL ? "\r\n" : "", c->extra ? c->extra : "");
    if (c->declared > 0) {
        k += (size_t)snprintf(req + k, cap - k, "Content-Length: %zu\r\n\r\n", c->declared);
    } else if (c->chunk > 0) {
        k += (size_t)snprintf(req + k, cap - k, "Transfer-Encoding: chunked\r\n\r\n");
        for (size_t at = 0; at < n; at += c->chunk) {
            size_t piece = n - at < c->chunk ? n - at : c->chunk;
            k += (size_t)snprintf(req + k, cap - k, "%zx\r\n", piece);
            memcpy(req + k, body + at, piece);
            k += piece;
            k += (size_t)snprintf(req + k, cap - k, "\r\n");
        }
        k += (size_t)snprintf(req + k, cap - k, "0\r\n\r\n");
    } else {
        k += (size_t)snprintf(req + k, cap - k, "Content-Length: %zu\r\n\r\n", n);
        memcpy(req + k, body, n);
        k += n;
    }
    cr_assert_lt(k, cap);
    *len = k;
    return req;
}

/* The lsn of the log's newest record, from GET /events?records=all. */
static uint64_t json_log_end(void) {
    static ws_response r; /* static: still reachable if an assertion ends the test */
    uint64_t after = 0;
    for (int page = 0; page < 1000; page++) {
        cr_assert_eq(ws_get(cli, &r, API "events?records=all&after=%llu&limit=1000",
                            (unsigned long long)after),
                     200);
        for (const char *p = strstr(r.body, "{\"lsn\":"); p != NULL;
             p = strstr(p + 1, "{\"lsn\":")) {
            after = strtoull(p + 7, NULL, 10);
        }
        if (strstr(r.body, "],\"next\":null}") != NULL) {
            ws_response_free(&r);
            return after;
        }
    }
    cr_assert_fail("the log does not end");
    return 0;
}

/* Sends c, checks the answer against it; returns the answer. A row refused as a whole must
 * leave the log as it was. */
static void run_json_case(const json_case *c, ws_raw_response *r) {
    uint64_t end = json_log_end();
    size_t len;
    char *req = json_request(c, &len);
    int got = ws_raw_exchange(srv->port, req, len, r, 1, 10000);
    free(req);
    cr_assert_eq(got, 1, "%s: no answer (%d)", c->what, got);
    if (c->status >= 400) {
        cr_assert_eq(json_log_end(), end, "%s: a refused request wrote to the log", c->what);
    }
}

static void expect_json(const json_case *c, const ws_raw_response *r) {
    bad_case row = {c->what, NULL, NULL, NULL, c->status, c->code};
    expect(&row, r);
    uint64_t index = 0;
    bool has = ws_json_u64(r->body, "index", &index);
    if (c->index >= 0) {
        cr_assert(has && index == (uint64_t)c->index, "%s: expected index %ld: %s", c->what,
                  c->index, r->body);
    } else {
        cr_assert(!has, "%s: an index where none belongs: %s", c->what, r->body);
    }
    if (c->want != NULL) {
        cr_assert_str_eq(r->body, c->want, "%s", c->what);
    }
    /* Past a body limit the connection is closed (the rest of the body is not read); a
     * refusal of what was read in full leaves it open. */
    cr_assert_eq(r->close, c->status == 413, "%s: Connection: close is %s", c->what,
                 r->close ? "set" : "not set");
}

Test(badinput, json_catalogue, .fini = teardown, .timeout = 180) {
    size_t n = sizeof(json_catalogue) / sizeof(json_catalogue[0]);
    start(NULL);
    create_accounts();
    snapshot before;
    take_snapshot(&before);
    for (size_t i = 0; i < n; i++) {
        ws_raw_response r;
        run_json_case(&json_catalogue[i], &r);
        expect_json(&json_catalogue[i], &r);
    }
    assert_unchanged(&before, "after the JSON catalogue");
    ws_response r = WS_RESPONSE_INIT;
    cr_assert_eq(ws_get(cli, &r, "/health"), 200, "still serving");
    ws_response_free(&r);
    stop_and_verify();
}

/* A valid chunked batch that moves money is taken like any other. */
Test(badinput, json_chunked_batch_applies, .fini = teardown, .timeout = 60) {
    start(NULL);
    create_accounts();
    static const json_case c = JC(
        "a chunked batch that moves money", JT,
        "{\"transfers\":[" TR("ch1", "A", "Z", "30") "," TR("ch2", "Z", "B", "20") "]}", 5, 200, OK,
        "{\"results\":[{\"transactionID\":\"ch1\",\"code\":\"ok\",\"fromBalance\":970,"
        "\"toBalance\":30},{\"transactionID\":\"ch2\",\"code\":\"ok\",\"fromBalance\":10,"
        "\"toBalance\":520}]}");
    ws_raw_response r;
    run_json_case(&c, &r);
    expect_json(&c, &r);
    uint64_t a, b, z;
    cr_assert(ws_balance(cli, "A", &a) && ws_balance(cli, "B", &b) && ws_balance(cli, "Z", &z));
    cr_assert(a == 970 && b == 520 && z == 10, "balances %llu %llu %llu", (unsigned long long)a,
              (unsigned long long)b, (unsigned long long)z);
    stop_and_verify();
}

/* Edges of the documented refusals, each row checked on its own (cr_expect), so one run
 * reports all of them:
 * - nesting: an array or object where none belongs is the wrong shape (invalid_parameter),
 *   however deep; left open it is not JSON (invalid_json);
 * - invalid UTF-8 is invalid_json, strictly (RFC 3629): yajl alone lets overlong forms,
 *   UTF-16 surrogates and code points past U+10FFFF through;
 * - a body may be exactly as large as the limit, chunked too (h2o alone refuses a chunked
 *   body that reaches the limit, one byte before a Content-Length body). */
static const json_case documented[] = {
    JG("10,000 '['", JT, gen_open_10000, 400, "invalid_json", -1),
    JG("10,000 '[' closed again", JT, gen_closed_10000, 400, "invalid_parameter", -1),
    JG("4,000 '[' on /accounts", JA, gen_open_4000, 400, "invalid_json", -1),
    JG("linked nested 9 deep", JT, gen_linked_depth_9, 400, "invalid_parameter", 0),
    J("an overlong '/'", JA, "{\"accountID\":\"n\xc0\xaf\",\"startAmount\":1}", 400,
      "invalid_json"),
    J("an overlong NUL", JA, "{\"accountID\":\"n\xc0\x80\",\"startAmount\":1}", 400,
      "invalid_json"),
    J("a UTF-8 surrogate", JA, "{\"accountID\":\"n\xed\xa0\x80\",\"startAmount\":1}", 400,
      "invalid_json"),
    J("past U+10FFFF", JA, "{\"accountID\":\"n\xf4\x90\x80\x80\",\"startAmount\":1}", 400,
      "invalid_json"),
    J("an overlong key", JA, "{\"\xc0\xaf\":1,\"startAmount\":1}", 400, "invalid_json"),
    JCG("a chunked account body of exactly 4096 bytes", JA, gen_account_4096, 1000, 409,
        "account_exists"),
    JCG("a chunked batch of exactly 4 MiB", JT, gen_batch_at_limit, 65536, 200, OK),
};

Test(badinput, json_documented_refusals, .fini = teardown, .timeout = 120) {
    size_t n = sizeof(documented) / sizeof(documented[0]);
    start(NULL);
    create_accounts();
    snapshot before;
    take_snapshot(&before);
    for (size_t i = 0; i < n; i++) {
        const json_case *c = &documented[i];
        ws_raw_response r;
        run_json_case(c, &r);
        bool code = c->code[0] != '\0' ? ws_json_is_error(r.body, c->code)
                                       : strstr(r.body, "\"error\"") == NULL;
        cr_expect(r.status == c->status && code, "%s: expected %d %s, got %d %s", c->what,
                  c->status, c->code[0] ? c->code : "(success)", r.status, r.body);
        cr_assert(r.status == 200 || (r.status >= 400 && r.status < 500), "%s: a %d answer",
                  c->what, r.status);
    }
    assert_unchanged(&before, "after the documented refusals");
    stop_and_verify();
}
