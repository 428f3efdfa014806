/* Access control and TLS against the real binary: --api-key-file with two keys, every way a
 * request can lack the right key (401 unauthorized with WWW-Authenticate: Bearer, and
 * nothing changed: balances and the event log are checked), /health open, keys never in
 * the log, HTTPS with a self-signed certificate made at test time by the openssl CLI, plain
 * HTTP to the TLS port, and the start-up refusals (exit 2) for bad key files and bad or
 * mismatched certificates, none of which may create the data directory. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define API "/api/1.0/wallet"
/* Two keys: one long, one of exactly the 16-byte minimum. */
#define KEY1 "k1-7f3a9c0e5b2d4f6a8c1e3b5d7f9a0c2e"
#define KEY2 "Z9y8X7w6V5u4T3s2"

static ws_response R = WS_RESPONSE_INIT;

static void teardown(void) {
    ws_response_free(&R);
    ws_cleanup_all();
}

TestSuite(auth, .fini = teardown, .timeout = 120);

/* Writes text to dir/name with mode; the path goes into out. */
static void write_file(const char *dir, const char *name, const char *text, mode_t mode, char *out,
                       size_t out_size) {
    snprintf(out, out_size, "%s/%s", dir, name);
    FILE *f = fopen(out, "w");
    cr_assert_not_null(f, "cannot create %s", out);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(out, mode), 0);
}

static void add_arg(ws_server *s, const char *a) {
    cr_assert_lt(s->extra_count, WS_EXTRA_ARGS_MAX);
    cr_assert_lt(strlen(a), sizeof s->extra[0], "argument too long: %s", a);
    snprintf(s->extra[s->extra_count++], sizeof s->extra[0], "%s", a);
}

/* The keys file of the tests: a comment, a blank line, CRLF and padding around KEY2. */
static void write_keys(const char *dir, char *path, size_t size) {
    write_file(dir, "keys",
               "# wallet-service API keys\n" KEY1 "\r\n\n   \t\n  " KEY2 " \t\r\n# end\n", 0600,
               path, size);
}

/* A self-signed P-256 certificate for 127.0.0.1 into dir/<prefix>.crt and dir/<prefix>.key. */
static void make_cert(const char *dir, const char *prefix) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "timeout 60 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
             "-nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
             "-keyout %s/%s.key -out %s/%s.crt >%s/openssl.log 2>&1",
             dir, prefix, dir, prefix, dir);
    cr_assert_eq(system(cmd), 0, "openssl could not make a certificate: %s", cmd);
}

static ws_client *client_with(const ws_server *s, const char *header) {
    ws_client *c = ws_client_new(s);
    cr_assert_not_null(c);
    if (header != NULL) {
        cr_assert(ws_client_add_header(c, header));
    }
    return c;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static size_t event_count(ws_client *c) {
    ws_event_list all = {0};
    cr_assert(ws_events_fetch_all(c, NULL, &all), "fetching /events failed");
    size_t n = all.count;
    ws_event_list_free(&all);
    return n;
}

static void expect_unauthorized(const char *what) {
    cr_assert_eq(R.status, 401, "%s: expected 401, got %ld %s", what, R.status,
                 R.body != NULL ? R.body : "(none)");
    cr_assert(ws_json_is_error(R.body, "unauthorized"), "%s: body %s", what, R.body);
    cr_assert_str_eq(R.content_type, "application/json", "%s", what);
    cr_assert_str_eq(R.www_authenticate, "Bearer", "%s: WWW-Authenticate '%s'", what,
                     R.www_authenticate);
    cr_assert_null(strstr(R.body, KEY1), "%s: the key is echoed", what);
    cr_assert_null(strstr(R.body, "k1-7f3a"), "%s: part of the key is echoed", what);
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

Test(auth, two_keys_both_work_and_health_is_open) {
    ws_server *s = ws_server_new(NULL);
    cr_assert_not_null(s);
    char keys[WS_PATH_MAX];
    write_keys(s->root, keys, sizeof keys);
    add_arg(s, "--api-key-file");
    add_arg(s, keys);
    cr_assert(ws_server_start(s));

    ws_client *k1 = client_with(s, "Authorization: Bearer " KEY1);
    ws_client *k2 = client_with(s, "Authorization: bearer " KEY2); /* the scheme is caseless */
    ws_client *none = client_with(s, NULL);
    cr_assert_eq(ws_get(k1, &R, API "/create_account?startAmount=1000&accountID=A"), 201, "%s",
                 R.body);
    cr_assert_eq(ws_get(k2, &R, API "/create_account?startAmount=0&accountID=B"), 201, "%s",
                 R.body);
    cr_assert_eq(ws_get(k2, &R, API "/balance_transfer?fromAccount=A&toAccount=B&amount=300"), 200,
                 "%s", R.body);
    uint64_t a = 0, b = 0;
    cr_assert(ws_balance(k1, "A", &a) && ws_balance(k2, "B", &b));
    cr_assert_eq(a, 700);
    cr_assert_eq(b, 300);
    cr_assert_eq(event_count(k1), 4);

    /* /health needs no key, and a wrong key does not spoil it. */
    cr_assert_eq(ws_get(none, &R, "/health"), 200);
    cr_assert_str_eq(R.body, "{\"status\":\"ok\"}");
    ws_client *bad = client_with(s, "Authorization: Bearer not-a-key-at-all-000");
    cr_assert_eq(ws_get(bad, &R, "/health"), 200);

    ws_client_free(k1);
    ws_client_free(k2);
    ws_client_free(none);
    ws_client_free(bad);
    cr_assert_eq(ws_server_stop(s), 0);
    cr_assert_eq(ws_server_verify(s, NULL, 0), 0);
}

Test(auth, every_missing_or_wrong_key_is_401_and_changes_nothing) {
    ws_server *s = ws_server_new(NULL);
    cr_assert_not_null(s);
    char keys[WS_PATH_MAX];
    write_keys(s->root, keys, sizeof keys);
    add_arg(s, "--api-key-file");
    add_arg(s, keys);
    cr_assert(ws_server_start(s));
    ws_client *good = client_with(s, "Authorization: Bearer " KEY1);
    cr_assert_eq(ws_get(good, &R, API "/create_account?startAmount=500&accountID=A"), 201);
    cr_assert_eq(ws_get(good, &R, API "/create_account?startAmount=500&accountID=B"), 201);
    size_t events_before = event_count(good);

    /* NULL: no Authorization header at all. */
    const char *headers[] = {
        NULL,
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",                /* another scheme */
        "Authorization: Token " KEY1,                               /* another scheme, right key */
        "Authorization: " KEY1,                                     /* no scheme */
        "Authorization: BearerX " KEY1,                             /* a scheme that starts alike */
        "Authorization: Bearer wrong-wrong-wrong-wrong-wrong",      /* a wrong key */
        "Authorization: Bearer k1-7f3a9c0e5b2d4f6a8c1e3b5d7f9a0c2", /* KEY1 less one byte */
        "Authorization: Bearer k1-7f3a9c0e5b2d4f6a8c1e3b5d7f9a0c2e0", /* KEY1 plus one byte */
        "Authorization: Bearer Z9y8X7w6V5u4T3s",                      /* KEY2 less one byte */
        "Authorization: Bearer z9y8x7w6v5u4t3s2",                     /* KEY2 in other case */
        "Authorization: Bearer " KEY1 KEY2,                           /* both keys glued */
        "Authorization: Bearer",                                      /* empty bearer */
        "Authorization: Bearer ",                                     /* empty bearer, a space */
        "Authorization;", /* curl's way to send an empty value */
    };
    const char *paths[] = {
        API "/create_account?startAmount=7&accountID=C",
        API "/balance_transfer?fromAccount=A&toAccount=B&amount=100",
        API "/balance_transfer?fromAccount=A&toAccount=B&amount=100&transferID=t1",
        API "/get_balance?accountID=A",
        API "/events",
        API "/nowhere",
        "/",
    };
    for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++) {
        ws_client *c = client_with(s, headers[h]);
        char what[256];
        for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
            snprintf(what, sizeof what, "header '%s', GET %s", headers[h] ? headers[h] : "(none)",
                     paths[p]);
            ws_get(c, &R, "%s", paths[p]);
            expect_unauthorized(what);
        }
        snprintf(what, sizeof what, "header '%s', POST transfer",
                 headers[h] ? headers[h] : "(none)");
        ws_request(c, "POST", &R, API "/balance_transfer?fromAccount=A&toAccount=B&amount=1");
        expect_unauthorized(what);
        ws_client_free(c);
    }

    /* A 401 says nothing about whether an account exists: the same body for both. */
    ws_client *none = client_with(s, NULL);
    ws_get(none, &R, API "/get_balance?accountID=A");
    char known[512];
    snprintf(known, sizeof known, "%s", R.body);
    ws_get(none, &R, API "/get_balance?accountID=nobody");
    cr_assert_str_eq(R.body, known);
    ws_client_free(none);

    /* Two Authorization headers, one of them right: refused as ambiguous. */
    ws_client *two = client_with(s, "Authorization: Bearer " KEY1);
    cr_assert(ws_client_add_header(two, "Authorization: Bearer wrong-wrong-wrong-wrong"));
    ws_get(two, &R, API "/get_balance?accountID=A");
    expect_unauthorized("two Authorization headers");
    ws_client_free(two);

    /* Nothing changed: balances, the log, no account C, and transferID t1 is still free. */
    uint64_t a = 0, b = 0;
    cr_assert(ws_balance(good, "A", &a) && ws_balance(good, "B", &b));
    cr_assert_eq(a, 500);
    cr_assert_eq(b, 500);
    cr_assert_eq(event_count(good), events_before);
    cr_assert_eq(ws_get(good, &R, API "/get_balance?accountID=C"), 404, "%s", R.body);
    cr_assert_eq(
        ws_get(good, &R, API "/balance_transfer?fromAccount=A&toAccount=B&amount=5&transferID=t1"),
        200, "%s", R.body);
    cr_assert(!R.replayed, "t1 was recorded by a refused request");
    ws_client_free(good);
    cr_assert_eq(ws_server_stop(s), 0);

    /* Neither key is in the server's log. */
    const char *log = read_all(s->log_path);
    cr_assert_null(strstr(log, KEY1), "KEY1 in the log:\n%s", log);
    cr_assert_null(strstr(log, KEY2), "KEY2 in the log:\n%s", log);
    cr_assert_eq(ws_server_verify(s, NULL, 0), 0);
}

Test(auth, https_full_flow_with_a_self_signed_certificate) {
    ws_server *s = ws_server_new(NULL);
    cr_assert_not_null(s);
    make_cert(s->root, "srv");
    char keys[WS_PATH_MAX], cert[WS_PATH_MAX], key[WS_PATH_MAX];
    write_keys(s->root, keys, sizeof keys);
    snprintf(cert, sizeof cert, "%s/srv.crt", s->root);
    snprintf(key, sizeof key, "%s/srv.key", s->root);
    add_arg(s, "--api-key-file");
    add_arg(s, keys);
    add_arg(s, "--tls-cert");
    add_arg(s, cert);
    add_arg(s, "--tls-key");
    add_arg(s, key);
    cr_assert(ws_server_start(s));

    ws_client *c = client_with(s, "Authorization: Bearer " KEY2);
    ws_client_use_tls(c, cert);
    cr_assert_eq(ws_get(c, &R, "/health"), 200, "curl %d", R.curl_code);
    cr_assert_eq(ws_get(c, &R, API "/create_account?startAmount=1000&accountID=A"), 201, "%s",
                 R.body);
    cr_assert_eq(ws_get(c, &R, API "/create_account?startAmount=5&accountID=B"), 201, "%s", R.body);
    cr_assert_eq(ws_get(c, &R, API "/balance_transfer?fromAccount=A&toAccount=B&amount=250"), 200,
                 "%s", R.body);
    cr_assert_str_eq(R.body + strlen("{\"transactionID\":\"") + 36,
                     "\",\"fromAccount\":\"A\",\"toAccount\":\"B\",\"amount\":250,"
                     "\"fromBalance\":750,\"toBalance\":255}");
    uint64_t a = 0, b = 0;
    cr_assert(ws_balance(c, "A", &a) && ws_balance(c, "B", &b));
    cr_assert_eq(a, 750);
    cr_assert_eq(b, 255);
    cr_assert_eq(event_count(c), 4);

    /* The key is still required over TLS. */
    ws_client *nokey = client_with(s, NULL);
    ws_client_use_tls(nokey, cert);
    ws_get(nokey, &R, API "/get_balance?accountID=A");
    expect_unauthorized("HTTPS without a key");

    /* The certificate is really checked: without our CA the handshake is refused. */
    ws_client *untrusting = client_with(s, "Authorization: Bearer " KEY2);
    ws_client_use_tls(untrusting, NULL);
    cr_assert_eq(ws_get(untrusting, &R, "/health"), 0);
    cr_assert_eq(R.curl_code, CURLE_PEER_FAILED_VERIFICATION, "curl %d", R.curl_code);

    /* Plain HTTP to the TLS port fails at the transport level, and the server serves on. */
    ws_client *plain = client_with(s, "Authorization: Bearer " KEY2);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ws_get(plain, &R, API "/get_balance?accountID=A"), 0, "plain HTTP got %ld",
                     R.status);
        cr_assert_neq(R.curl_code, CURLE_OK);
        cr_assert_eq(ws_get(c, &R, "/health"), 200, "after plain HTTP: curl %d", R.curl_code);
    }
    cr_assert(ws_balance(c, "A", &a));
    cr_assert_eq(a, 750);

    ws_client_free(c);
    ws_client_free(nokey);
    ws_client_free(untrusting);
    ws_client_free(plain);
    cr_assert_eq(ws_server_stop(s), 0);
    cr_assert_eq(ws_server_verify(s, NULL, 0), 0);
}

/* ALPN offers http/1.1 only: a client asking for HTTP/2 gets HTTP/1.1; TLS 1.2 works. */
Test(auth, tls_is_http1_only_and_accepts_tls12) {
    ws_server *s = ws_server_new(NULL);
    cr_assert_not_null(s);
    make_cert(s->root, "srv");
    char cert[WS_PATH_MAX], key[WS_PATH_MAX];
    snprintf(cert, sizeof cert, "%s/srv.crt", s->root);
    snprintf(key, sizeof key, "%s/srv.key", s->root);
    add_arg(s, "--tls-cert");
    add_arg(s, cert);
    add_arg(s, "--tls-key");
    add_arg(s, key);
    cr_assert(ws_server_start(s));
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/health", s->port);
    long versions[][2] = {
        {CURL_HTTP_VERSION_2TLS, CURL_SSLVERSION_DEFAULT},
        {CURL_HTTP_VERSION_1_1, CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2}};
    for (size_t i = 0; i < 2; i++) {
        CURL *h = curl_easy_init();
        cr_assert_not_null(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CAINFO, cert);
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, versions[i][0]);
        curl_easy_setopt(h, CURLOPT_SSLVERSION, versions[i][1]);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        FILE *sink = fopen("/dev/null", "w");
        curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
        CURLcode rc = curl_easy_perform(h);
        fclose(sink);
        long status = 0, http_version = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &http_version);
        curl_easy_cleanup(h);
        cr_assert_eq(rc, CURLE_OK, "case %zu: %s", i, curl_easy_strerror(rc));
        cr_assert_eq(status, 200);
        cr_assert_eq(http_version, CURL_HTTP_VERSION_1_1, "case %zu: HTTP version %ld", i,
                     http_version);
    }
    cr_assert_eq(ws_server_stop(s), 0);
}

/* Runs the binary with a fresh data dir under root plus args; expects exit 2, a message
 * naming `names`, no data directory created and, if not NULL, `secret` nowhere in the
 * output. */
static void expect_refusal(const char *root, const char *const *args, const char *names,
                           const char *secret) {
    char data[WS_PATH_MAX];
    snprintf(data, sizeof data, "%s/never", root);
    const char *argv[16] = {"--port", "0", "--data-dir", data};
    char what[1024] = "";
    int n = 4;
    for (int i = 0; args[i] != NULL; i++) {
        cr_assert_lt(n, 15);
        argv[n++] = args[i];
        snprintf(what + strlen(what), sizeof what - strlen(what), " %s", args[i]);
    }
    argv[n] = NULL;
    char out[2048];
    int rc = ws_run_binary(argv, out, sizeof out, 10000);
    cr_assert_eq(rc, 2, "args%s: exit %d, output:\n%s", what, rc, out);
    cr_assert_not_null(strstr(out, names), "the message should name %s:\n%s", names, out);
    cr_assert(!exists(data), "the data directory was created:\n%s", out);
    if (secret != NULL) {
        cr_assert_null(strstr(out, secret), "the message shows the key:\n%s", out);
    }
}

Test(auth, bad_key_files_refuse_to_start) {
    ws_server *s = ws_server_new(NULL); /* only for its temporary directory */
    cr_assert_not_null(s);
    char p[WS_PATH_MAX];
    const char *root = s->root;

    snprintf(p, sizeof p, "%s/absent", root);
    expect_refusal(root, (const char *[]){"--api-key-file", p, NULL}, p, NULL);

    write_file(root, "empty", "", 0600, p, sizeof p);
    expect_refusal(root, (const char *[]){"--api-key-file", p, NULL}, "no key", NULL);

    write_file(root, "comments", "# only\n\n   # comments\r\n", 0600, p, sizeof p);
    expect_refusal(root, (const char *[]){"--api-key-file", p, NULL}, "no key", NULL);

    write_file(root, "short", KEY1 "\nshort-key-15chr\n", 0600, p, sizeof p);
    expect_refusal(root, (const char *[]){"--api-key-file", p, NULL}, "line 2", "short-key-15chr");

    write_file(root, "space", "two words-0123456789abcdef\n", 0600, p, sizeof p);
    expect_refusal(root, (const char *[]){"--api-key-file", p, NULL}, "line 1", "words-0123");

    write_file(root, "binary", "key-with-\x01-control-0123456789\n", 0600, p, sizeof p);
    expect_refusal(root, (const char *[]){"--api-key-file", p, NULL}, "line 1", "control-01");

    write_file(root, "shared", KEY1 "\n", 0640, p, sizeof p);
    expect_refusal(root, (const char *[]){"--api-key-file", p, NULL}, "chmod 600", KEY1);

    write_file(root, "world", KEY1 "\n", 0604, p, sizeof p);
    expect_refusal(root, (const char *[]){"--api-key-file", p, NULL}, "chmod 600", KEY1);

    expect_refusal(root, (const char *[]){"--api-key-file", root, NULL}, "not a regular file",
                   NULL);
    expect_refusal(root, (const char *[]){"--api-key-file", "", NULL}, "must not be empty", NULL);

    /* The environment variable is checked the same way. */
    write_file(root, "short2", "short-key-15chr\n", 0600, p, sizeof p);
    setenv("WALLET_API_KEY_FILE", p, 1);
    expect_refusal(root, (const char *[]){NULL}, "line 1", "short-key-15chr");
    unsetenv("WALLET_API_KEY_FILE");

    /* --help never shows a key, even with a keys file configured. */
    char keys[WS_PATH_MAX];
    write_keys(root, keys, sizeof keys);
    char out[4096];
    const char *help[] = {"--api-key-file", keys, "--help", NULL};
    cr_assert_eq(ws_run_binary(help, out, sizeof out, 10000), 0);
    cr_assert_not_null(strstr(out, "--api-key-file"));
    cr_assert_null(strstr(out, KEY1));
    cr_assert_null(strstr(out, KEY2));
}

Test(auth, bad_tls_settings_refuse_to_start) {
    ws_server *s = ws_server_new(NULL); /* only for its temporary directory */
    cr_assert_not_null(s);
    const char *root = s->root;
    make_cert(root, "one");
    make_cert(root, "two");
    char c1[WS_PATH_MAX], k1[WS_PATH_MAX], k2[WS_PATH_MAX], junk[WS_PATH_MAX];
    snprintf(c1, sizeof c1, "%s/one.crt", root);
    snprintf(k1, sizeof k1, "%s/one.key", root);
    snprintf(k2, sizeof k2, "%s/two.key", root);
    write_file(root, "junk.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n", 0600, junk,
               sizeof junk);

    expect_refusal(root, (const char *[]){"--tls-cert", c1, NULL}, "both or neither", NULL);
    expect_refusal(root, (const char *[]){"--tls-key", k1, NULL}, "both or neither", NULL);
    expect_refusal(root, (const char *[]){"--tls-cert", c1, "--tls-key", k2, NULL},
                   "does not match", NULL);
    expect_refusal(root, (const char *[]){"--tls-cert", junk, "--tls-key", k1, NULL}, junk, NULL);
    expect_refusal(root, (const char *[]){"--tls-cert", c1, "--tls-key", junk, NULL}, junk, NULL);
    expect_refusal(root, (const char *[]){"--tls-cert", k1, "--tls-key", c1, NULL}, "--tls-cert",
                   NULL);
    char absent[WS_PATH_MAX];
    snprintf(absent, sizeof absent, "%s/absent.crt", root);
    expect_refusal(root, (const char *[]){"--tls-cert", absent, "--tls-key", k1, NULL}, absent,
                   NULL);

    /* The matching pair starts, so the refusals above are about the files. */
    add_arg(s, "--tls-cert");
    add_arg(s, c1);
    add_arg(s, "--tls-key");
    add_arg(s, k1);
    cr_assert(ws_server_start(s));
    cr_assert_eq(ws_server_stop(s), 0);
}
