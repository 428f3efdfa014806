/* The service's log through the real binary: --log-format json writes one JSON object a line
 * on stderr ({timestamp, level, message, fields}) for the start, the stop, the writer's batch
 * statistics, refusals of whole requests (rate limited) and a turn to read-only after a
 * failed commit; API keys and request bodies never appear in it; text is the default. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

#include "fixture.h"

#define JSON "application/json"
#define SECRET_KEY "sk-LOGTEST-0123456789abcdef"
#define SECRET_BODY "BODYSECRET"

static ws_response R = WS_RESPONSE_INIT;

static void teardown(void) {
    ws_client_free(cli);
    cli = NULL;
    ws_response_free(&R);
    ws_cleanup_all();
}

TestSuite(logs, .fini = teardown, .timeout = 120);

/* The current run's log (stdout and stderr of the server), malloc'ed. */
static char *read_log(void) {
    FILE *f = fopen(srv->log_path, "r");
    cr_assert_not_null(f, "no log at %s", srv->log_path);
    char *buf = malloc(4u << 20);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, (4u << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* One parsed line of the JSON log. */
typedef struct {
    yajl_val root;
    const char *level;
    const char *message;
    const char *event; /* fields.event, or NULL */
} log_line;

static const char *str_at(yajl_val v, const char *a, const char *b) {
    const char *path[] = {a, b, NULL};
    yajl_val s = yajl_tree_get(v, path, yajl_t_string);
    return s ? YAJL_GET_STRING(s) : NULL;
}

static long long num_field(const log_line *l, const char *name) {
    const char *path[] = {"fields", name, NULL};
    yajl_val n = yajl_tree_get(l->root, path, yajl_t_number);
    cr_assert_not_null(n, "no number field %s in a %s line", name, l->event);
    return YAJL_GET_INTEGER(n);
}

/* Parses every line of log but the stdout one ("listening on ..."): each must be a JSON
 * object with a timestamp in RFC 3339 UTC, a level, a message and a fields object. */
static size_t parse_lines(char *log, log_line *out, size_t cap) {
    size_t n = 0;
    for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "listening on ", 13) == 0) {
            continue;
        }
        char err[256];
        yajl_val v = yajl_tree_parse(line, err, sizeof(err));
        cr_assert_not_null(v, "not a JSON line (%s): %s", err, line);
        cr_assert(YAJL_IS_OBJECT(v), "not an object: %s", line);
        const char *ts = str_at(v, "timestamp", NULL);
        cr_assert(ts && strlen(ts) == 27 && ts[10] == 'T' && ts[26] == 'Z', "timestamp: %s", line);
        const char *level = str_at(v, "level", NULL);
        cr_assert(level && (strcmp(level, "info") == 0 || strcmp(level, "warn") == 0 ||
                            strcmp(level, "error") == 0),
                  "level: %s", line);
        const char *message = str_at(v, "message", NULL);
        cr_assert(message && message[0] != '\0', "message: %s", line);
        const char *fpath[] = {"fields", NULL};
        cr_assert_not_null(yajl_tree_get(v, fpath, yajl_t_object), "fields: %s", line);
        cr_assert_lt(n, cap, "too many lines");
        out[n++] = (log_line){v, level, message, str_at(v, "fields", "event")};
    }
    return n;
}

static void free_lines(log_line *l, size_t n) {
    for (size_t i = 0; i < n; i++) {
        yajl_tree_free(l[i].root);
    }
}

static size_t count_event(const log_line *l, size_t n, const char *event) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        k += l[i].event != NULL && strcmp(l[i].event, event) == 0;
    }
    return k;
}

static const log_line *find_event(const log_line *l, size_t n, const char *event,
                                  const char *code) {
    for (size_t i = 0; i < n; i++) {
        if (l[i].event != NULL && strcmp(l[i].event, event) == 0 &&
            (code == NULL || (str_at(l[i].root, "fields", "code") != NULL &&
                              strcmp(str_at(l[i].root, "fields", "code"), code) == 0))) {
            return &l[i];
        }
    }
    return NULL;
}

static void post(const char *path, const char *body) {
    ws_post(cli, &R, path, JSON, body, strlen(body), NULL);
}

static void write_key_file(char *path, size_t cap) {
    snprintf(path, cap, "%s/keys", srv->root);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", SECRET_KEY);
    fclose(f);
    chmod(path, 0600);
}

#define LINES_MAX 4096

Test(logs, json_lines_for_start_stop_stats_and_refusals) {
    static const char *const args[] = {
        "--log-format", "json", "--log-stats-interval", "100", "--io-threads", "1", NULL};
    srv = ws_server_new(args);
    cr_assert_not_null(srv);
    char keys[96];
    write_key_file(keys, sizeof(keys));
    cr_assert(ws_server_add_env(srv, "WALLET_API_KEY_FILE", keys));
    cr_assert(ws_server_start(srv));
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);

    /* refused whole: no key, a wrong key (the secret's neighbour), then with the key a body
     * that is not JSON and one with an unknown field named like a secret */
    cr_assert_eq(ws_get(cli, &R, "/api/1.0/wallet/accounts/a"), 401);
    cr_assert(ws_client_add_header(cli, "Authorization: Bearer " SECRET_KEY "x"));
    cr_assert_eq(ws_get(cli, &R, "/api/1.0/wallet/accounts/a"), 401);
    ws_client_clear_headers(cli);
    cr_assert(ws_client_add_header(cli, "Authorization: Bearer " SECRET_KEY));
    post("/api/1.0/wallet/accounts", "{\"accountID\":\"" SECRET_BODY);
    cr_assert_eq(R.status, 400);
    post("/api/1.0/wallet/accounts", "{\"" SECRET_BODY "\":1}");
    cr_assert_eq(R.status, 400);
    /* work for the writer, over more than one statistics interval */
    post("/api/1.0/wallet/accounts", "{\"accountID\":\"a\",\"startAmount\":1000000}");
    cr_assert_eq(R.status, 201, "%s", R.body);
    post("/api/1.0/wallet/accounts", "{\"accountID\":\"b\",\"startAmount\":0}");
    cr_assert_eq(R.status, 201);
    int64_t until = ws_now_ms() + 400;
    int transfers = 0;
    while (ws_now_ms() < until && transfers < 5000) {
        post("/api/1.0/wallet/transfers",
             "{\"fromAccount\":\"a\",\"toAccount\":\"b\",\"amount\":1}");
        cr_assert_eq(R.status, 200, "%s", R.body);
        transfers++;
    }
    /* a refused transfer is an outcome, not a refusal of the request: not logged */
    post("/api/1.0/wallet/transfers",
         "{\"fromAccount\":\"a\",\"toAccount\":\"b\",\"amount\":999999999}");
    cr_assert_eq(R.status, 422);
    ws_client_free(cli);
    cli = NULL;
    cr_assert_eq(ws_server_stop(srv), 0);

    char *log = read_log();
    cr_assert_null(strstr(log, "LOGTEST"), "an API key in the log:\n%s", log);
    cr_assert_null(strstr(log, SECRET_BODY), "a request body in the log:\n%s", log);
    static log_line lines[LINES_MAX];
    size_t n = parse_lines(log, lines, LINES_MAX);
    cr_assert_eq(count_event(lines, n, "starting"), 1);
    cr_assert_eq(count_event(lines, n, "listening"), 1);
    cr_assert_eq(count_event(lines, n, "stopping"), 1);
    cr_assert_eq(count_event(lines, n, "writer_stats"), 1);
    cr_assert_eq(count_event(lines, n, "checkpointer_stats"), 1);
    cr_assert_eq(count_event(lines, n, "stopped"), 1);
    cr_assert_eq(strcmp(lines[n - 1].event, "stopped"), 0, "the last line is the stop");
    const log_line *w = find_event(lines, n, "writer_stats", NULL);
    cr_assert_geq(num_field(w, "commands"), transfers + 3);
    /* batch statistics: at least two intervals of 100 ms in 400 ms of work */
    size_t stats = count_event(lines, n, "batch_stats");
    cr_assert_geq(stats, 2, "batch_stats lines: %zu", stats);
    long long stat_commands = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines[i].event && strcmp(lines[i].event, "batch_stats") == 0) {
            stat_commands += num_field(&lines[i], "commands");
            cr_assert_geq(num_field(&lines[i], "period_ms"), 100);
            cr_assert_geq(num_field(&lines[i], "commit_us_max"),
                          num_field(&lines[i], "commit_us_mean"));
        }
    }
    cr_assert_leq(stat_commands, transfers + 3, "more commands in the statistics than were sent");
    /* the refusals of whole requests, with their code, status and route, and nothing else */
    cr_assert_eq(count_event(lines, n, "request_refused"), 4, "%zu",
                 count_event(lines, n, "request_refused"));
    const log_line *u = find_event(lines, n, "request_refused", "unauthorized");
    cr_assert_not_null(u);
    cr_assert_str_eq(u->level, "warn");
    cr_assert_eq(num_field(u, "status"), 401);
    cr_assert_str_eq(str_at(u->root, "fields", "route"), "/api/1.0/wallet/accounts/{id}");
    cr_assert_str_eq(str_at(u->root, "fields", "method"), "GET");
    const log_line *j = find_event(lines, n, "request_refused", "invalid_json");
    cr_assert_not_null(j);
    cr_assert_eq(num_field(j, "status"), 400);
    cr_assert_not_null(find_event(lines, n, "request_refused", "invalid_parameter"));
    cr_assert_null(find_event(lines, n, "request_refused", "insufficient_funds"));
    free_lines(lines, n);
    free(log);
}

/* A flood of bad requests is logged at most 10 lines a second (one I/O thread); the ones
 * left out are counted, and the count comes with the next line logged. */
Test(logs, refusals_are_rate_limited_and_counted) {
    static const char *const args[] = {"--log-format", "json", "--io-threads", "1", NULL};
    start(args);
    int sent = 0;
    for (int i = 0; i < 60; i++) {
        cr_assert_eq(ws_get(cli, &R, "/api/1.0/wallet/no-such-route"), 404);
        sent++;
    }
    ws_sleep_ms(1100); /* the next second's window */
    cr_assert_eq(ws_get(cli, &R, "/api/1.0/wallet/no-such-route"), 404);
    sent++;
    ws_client_free(cli);
    cli = NULL;
    cr_assert_eq(ws_server_stop(srv), 0);
    char *log = read_log();
    static log_line lines[LINES_MAX];
    size_t n = parse_lines(log, lines, LINES_MAX);
    size_t logged = count_event(lines, n, "request_refused");
    long long suppressed = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines[i].event && strcmp(lines[i].event, "request_refused") == 0) {
            suppressed += num_field(&lines[i], "suppressed");
            cr_assert_str_eq(str_at(lines[i].root, "fields", "route"), "other");
        }
    }
    /* 60 requests span at most a few one-second windows, 10 lines each, and the last one */
    cr_assert_leq(logged, 41, "%zu lines for %d refusals", logged, sent);
    cr_assert_geq(suppressed, 1, "nothing counted as left out");
    cr_assert_eq((long long)logged + suppressed, sent, "%zu logged + %lld left out != %d sent",
                 logged, suppressed, sent);
    free_lines(lines, n);
    free(log);
}

/* A failed commit turns the service read-only: logged as an error with its cause, with the
 * storage failure before it. */
Test(logs, a_failed_commit_is_logged_as_read_only) {
    static const char *const args[] = {"--log-format", "json", "--checkpoint-interval", "3600000",
                                       NULL};
    srv = ws_server_new(args);
    cr_assert_not_null(srv);
    srv->fsize_limit_bytes = 64 * 1024; /* the WAL soon passes it: the write fails */
    cr_assert(ws_server_start(srv));
    cli = ws_client_new(srv);
    post("/api/1.0/wallet/accounts", "{\"accountID\":\"a\",\"startAmount\":1000000}");
    post("/api/1.0/wallet/accounts", "{\"accountID\":\"b\",\"startAmount\":0}");
    bool failed = false;
    for (int i = 0; i < 5000 && !failed; i++) {
        post("/api/1.0/wallet/transfers",
             "{\"fromAccount\":\"a\",\"toAccount\":\"b\",\"amount\":1}");
        failed = R.status != 200;
    }
    cr_assert(failed, "5000 transfers fit in 64 KiB files: the limit did not bite");
    cr_assert_eq(R.status, 503);
    ws_client_free(cli);
    cli = NULL;
    ws_server_stop(srv); /* its exit status after a failed commit is not the point here */
    char *log = read_log();
    static log_line lines[LINES_MAX];
    size_t n = parse_lines(log, lines, LINES_MAX);
    const log_line *ro = find_event(lines, n, "read_only", NULL);
    cr_assert_not_null(ro, "no read_only line");
    cr_assert_str_eq(ro->level, "error");
    cr_assert_str_eq(str_at(ro->root, "fields", "cause"), "commit");
    const log_line *sf = find_event(lines, n, "storage_failure", NULL);
    cr_assert_not_null(sf, "no storage_failure line");
    cr_assert(sf < ro, "the storage failure comes before the turn to read-only");
    cr_assert_not_null(str_at(sf->root, "fields", "error"));
    cr_assert_not_null(find_event(lines, n, "request_refused", "unavailable"),
                       "the 503 is a refusal of the request");
    free_lines(lines, n);
    free(log);
}

/* Without --log-format: the text lines the service has always written. */
Test(logs, text_is_the_default) {
    start(NULL);
    cr_assert_eq(ws_get(cli, &R, "/api/1.0/wallet/no-such-route"), 404);
    ws_client_free(cli);
    cli = NULL;
    cr_assert_eq(ws_server_stop(srv), 0);
    char *log = read_log();
    cr_assert_not_null(strstr(log, "wallet-service: starting on 127.0.0.1:"), "%s", log);
    cr_assert_not_null(
        strstr(log, "wallet-service: refused a request: not_found (404) to GET other"), "%s", log);
    cr_assert_not_null(strstr(log, "wallet-service: stopped cleanly\n"), "%s", log);
    cr_assert_null(strstr(log, "{\"timestamp\""), "%s", log);
    free(log);
}
