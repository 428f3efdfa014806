/* GET /metrics and GET /ready against the real binary. Every scrape is checked by Debian's
 * `promtool check metrics` (found on PATH at test time; the test fails without it), and the
 * counters are checked to move exactly as the requests made: commands by outcome, responses
 * by route and status (h2o's own 413 included), replays, the histograms of batch size and
 * commit time, and the gauges (accounts, seq, lsn, open pending transfers, read-only).
 * Under a concurrent load over two I/O threads the scrapes stay valid and monotonic and add
 * up to what the load threads counted. /ready is 200 normally, 503 after a failed commit
 * (a file-size limit makes storage fail) and 503 "starting" while the state loads (the test
 * twin's WS_FAULT_START_DELAY_MS holds the start); /metrics needs the API key when keys are
 * configured, /ready and /health do not. Every wait is bounded. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define API "/api/1.0/wallet"
#define JSON "application/json"
#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define KEY "m3tr1cs-k3y-0123456789abcdef"

static ws_server *srv;
static ws_client *cli;
static ws_response R = WS_RESPONSE_INIT;
static pid_t manual_pid; /* a server this file started by itself (the starting test) */

#define BODY (R.body != NULL ? R.body : "(none)")

static void teardown(void) {
    if (manual_pid > 0) {
        kill(manual_pid, SIGKILL);
        waitpid(manual_pid, NULL, 0);
        manual_pid = 0;
    }
    ws_client_free(cli);
    cli = NULL;
    ws_response_free(&R);
    ws_cleanup_all();
}

TestSuite(metrics, .fini = teardown, .timeout = 180);

static void start(void) {
    srv = ws_server_new(NULL);
    cr_assert_not_null(srv, "could not prepare a server (is WS_BINARY set?)");
    cr_assert(ws_server_start(srv), "server did not start");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
}

static void restart(void) {
    ws_client_free(cli);
    cli = NULL;
    cr_assert_eq(ws_server_stop(srv), 0, "clean stop");
    cr_assert(ws_server_start(srv), "server did not start again");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
}

/* ---- promtool ----------------------------------------------------------------------------- */

/* promtool's path: the first executable one on PATH (Debian's prometheus package puts it in
 * /usr/bin). The test fails, never skips, without it: scripts/install-deps.sh installs it. */
static const char *promtool(void) {
    static char found[WS_PATH_MAX];
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/bin", path != NULL ? path : "");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
        snprintf(found, sizeof found, "%s/promtool", d[0] != '\0' ? d : ".");
        if (access(found, X_OK) == 0) {
            return found;
        }
    }
    cr_assert_fail("promtool is not installed (Debian package prometheus; run "
                   "scripts/install-deps.sh)");
    return NULL;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            cap *= 2;
            cr_assert_lt(cap, 64u << 20, "%s is too large", path);
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* `promtool check metrics` on body (its stdin): it must exit 0 and print nothing (no
 * error, no lint problem). */
static void check_with_promtool(const char *body) {
    char in[WS_PATH_MAX], out[WS_PATH_MAX], cmd[4 * WS_PATH_MAX];
    snprintf(in, sizeof in, "%s/scrape.txt", srv->root);
    snprintf(out, sizeof out, "%s/promtool.out", srv->root);
    FILE *f = fopen(in, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(body, 1, strlen(body), f), strlen(body));
    cr_assert_eq(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "timeout 60 '%s' check metrics <'%s' >'%s' 2>&1", promtool(), in,
             out);
    int rc = system(cmd);
    char *said = read_all(out);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "promtool check metrics failed (%d): %s\n%s",
              rc, said, body);
    cr_assert_eq(said[0], '\0', "promtool check metrics printed: %s", said);
    free(said);
}

/* ---- reading a scrape --------------------------------------------------------------------- */

/* GET /metrics: 200 with the exposition format's Content-Type; the body (free it). */
static char *scrape_with(ws_client *c) {
    ws_response r = WS_RESPONSE_INIT;
    cr_assert_eq(ws_get(c, &r, "/metrics"), 200, "GET /metrics: %ld %s", r.status,
                 r.body != NULL ? r.body : "");
    cr_assert_str_eq(r.content_type, PROM_TYPE);
    char *body = strdup(r.body);
    cr_assert_not_null(body);
    ws_response_free(&r);
    return body;
}

static char *scrape(void) { return scrape_with(cli); }

/* The value of the sample named exactly series (name and labels as the service writes
 * them); false if the scrape has no such sample. */
static bool sample(const char *body, const char *series, double *out) {
    size_t n = strlen(series);
    for (const char *p = body; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            char *end;
            *out = strtod(p + n + 1, &end);
            cr_assert(end != p + n + 1 && (*end == '\n' || *end == '\0'), "sample %s: %.*s", series,
                      (int)(eol != NULL ? eol - p : (long)strlen(p)), p);
            return true;
        }
        p = eol != NULL ? eol + 1 : p + strlen(p);
    }
    return false;
}

/* A counter's value: an absent series has counted nothing yet. */
static double counter(const char *body, const char *series) {
    double v;
    return sample(body, series, &v) ? v : 0;
}

/* A gauge, which must be there. */
static double gauge(const char *body, const char *name) {
    double v;
    cr_assert(sample(body, name, &v), "no gauge %s in:\n%s", name, body);
    return v;
}

/* The sum of every sample whose line starts with prefix (a family's series). */
static double sum_of(const char *body, const char *prefix) {
    double sum = 0;
    size_t n = strlen(prefix);
    for (const char *p = body; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        const char *sp = strchr(p, ' ');
        if (strncmp(p, prefix, n) == 0 && sp != NULL && (eol == NULL || sp < eol)) {
            sum += strtod(sp + 1, NULL);
        }
        p = eol != NULL ? eol + 1 : p + strlen(p);
    }
    return sum;
}

static double requests(const char *body, const char *route, int status) {
    char series[256];
    snprintf(series, sizeof series, "wallet_http_requests_total{route=\"%s\",status=\"%d\"}", route,
             status);
    return counter(body, series);
}

static double commands(const char *body, const char *outcome) {
    char series[128];
    snprintf(series, sizeof series, "wallet_commands_total{outcome=\"%s\"}", outcome);
    return counter(body, series);
}

/* A histogram's buckets are cumulative (non-decreasing, in the order written), the +Inf one
 * equals _count; returns _count. */
static double histogram_count(const char *body, const char *name) {
    char prefix[128], series[160];
    snprintf(prefix, sizeof prefix, "%s_bucket{le=\"", name);
    double last = -1;
    int buckets = 0;
    size_t n = strlen(prefix);
    for (const char *p = body; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        if (strncmp(p, prefix, n) == 0) {
            const char *sp = strchr(p, ' ');
            cr_assert_not_null(sp);
            double v = strtod(sp + 1, NULL);
            cr_assert_geq(v, last, "%s: a bucket below the one before", name);
            last = v;
            buckets++;
        }
        p = eol != NULL ? eol + 1 : p + strlen(p);
    }
    cr_assert_geq(buckets, 2, "%s: no buckets", name);
    snprintf(series, sizeof series, "%s_bucket{le=\"+Inf\"}", name);
    cr_assert_eq(counter(body, series), last, "%s: +Inf is not the last bucket", name);
    snprintf(series, sizeof series, "%s_count", name);
    cr_assert_eq(gauge(body, series), last, "%s: _count differs from the +Inf bucket", name);
    return last;
}

/* Every family the service documents, with its HELP and TYPE lines. */
static void check_families(const char *body, bool service_up) {
    static const struct {
        const char *name, *type;
        bool service; /* only once the state is loaded */
    } families[] = {
        {"wallet_http_requests_total", "counter", false},
        {"wallet_commands_total", "counter", true},
        {"wallet_command_replays_total", "counter", true},
        {"wallet_batch_commands", "histogram", true},
        {"wallet_commit_seconds", "histogram", true},
        {"wallet_queue_depth", "gauge", true},
        {"wallet_accounts", "gauge", true},
        {"wallet_last_seq", "gauge", true},
        {"wallet_last_lsn", "gauge", true},
        {"wallet_checkpoint_lag_records", "gauge", true},
        {"wallet_pending_transfers_open", "gauge", true},
        {"wallet_read_only", "gauge", true},
        {"wallet_open_connections", "gauge", false},
        {"wallet_build_info", "gauge", false},
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        char help[128], type[128];
        snprintf(help, sizeof help, "# HELP %s ", families[i].name);
        snprintf(type, sizeof type, "# TYPE %s %s\n", families[i].name, families[i].type);
        bool want = service_up || !families[i].service;
        cr_assert_eq(strstr(body, help) != NULL, want, "HELP of %s", families[i].name);
        cr_assert_eq(strstr(body, type) != NULL, want, "TYPE of %s", families[i].name);
    }
    cr_assert_not_null(strstr(body, "wallet_build_info{version=\"" WS_VERSION "\","),
                       "build_info:\n%s", body);
}

/* ---- requests ------------------------------------------------------------------------------ */

static long post(const char *path, const char *body) {
    return ws_post(cli, &R, path, JSON, body, strlen(body), NULL);
}

static void create(const char *id, unsigned amount) {
    char body[128];
    snprintf(body, sizeof body, "{\"accountID\":\"%s\",\"startAmount\":%u}", id, amount);
    cr_assert_eq(post(API "/accounts", body), 201, "create %s: %ld %s", id, R.status, BODY);
}

static long transfer(const char *from, const char *to, unsigned amount, const char *id) {
    char body[256];
    if (id != NULL) {
        snprintf(body, sizeof body,
                 "{\"transferID\":\"%s\",\"fromAccount\":\"%s\",\"toAccount\":\"%s\","
                 "\"amount\":%u}",
                 id, from, to, amount);
    } else {
        snprintf(body, sizeof body, "{\"fromAccount\":\"%s\",\"toAccount\":\"%s\",\"amount\":%u}",
                 from, to, amount);
    }
    return post(API "/transfers", body);
}

/* ---- the counters move as requests are made ------------------------------------------------ */

Test(metrics, counters_move_with_requests) {
    start();
    char *s0 = scrape();
    check_with_promtool(s0);
    check_families(s0, true);
    cr_assert_eq(gauge(s0, "wallet_accounts"), 0);
    cr_assert_eq(gauge(s0, "wallet_read_only"), 0);
    cr_assert_eq(commands(s0, "ok"), 0, "ok is written from the start");
    free(s0);

    create("a", 1000);
    create("b", 0);
    char *s1 = scrape();
    enum { N = 7 };
    for (int i = 0; i < N; i++) {
        cr_assert_eq(transfer("a", "b", 1, NULL), 200, "%ld %s", R.status, BODY);
    }
    cr_assert_eq(transfer("a", "b", 5000, NULL), 422);
    cr_assert(ws_json_is_error(R.body, "insufficient_funds"), "%s", BODY);
    cr_assert_eq(transfer("a", "a", 1, NULL), 422);
    cr_assert(ws_json_is_error(R.body, "same_account"), "%s", BODY);
    cr_assert_eq(transfer("a", "b", 2, "t-once"), 200);
    cr_assert_eq(transfer("a", "b", 2, "t-once"), 200);
    cr_assert(R.replayed, "the retry of t-once was not a replay");
    cr_assert_eq(ws_get(cli, &R, "/no/such/path"), 404);
    char big[5000];
    memset(big, ' ', sizeof big);
    cr_assert_eq(ws_post(cli, &R, API "/accounts", JSON, big, sizeof big, NULL), 413,
                 "h2o's own 413: %ld", R.status);
    cr_assert_eq(ws_request(cli, "POST", &R, "/metrics"), 405);
    char *s2 = scrape();
    check_with_promtool(s2);
    check_families(s2, true);

    /* commands by outcome: N + the new transferID + its replay, one refusal of each code */
    cr_assert_eq(commands(s1, "created"), 2);
    cr_assert_eq(commands(s2, "ok") - commands(s1, "ok"), N + 2, "ok");
    cr_assert_eq(commands(s2, "insufficient_funds") - commands(s1, "insufficient_funds"), 1);
    cr_assert_eq(commands(s2, "same_account") - commands(s1, "same_account"), 1);
    cr_assert_eq(
        gauge(s2, "wallet_command_replays_total") - gauge(s1, "wallet_command_replays_total"), 1);
    cr_assert_eq(sum_of(s2, "wallet_commands_total{") - sum_of(s1, "wallet_commands_total{"), N + 4,
                 "every command decided is counted once");
    /* responses by route and status, the scrapes' own included (each counted once sent) */
    const char *transfers = API "/transfers";
    cr_assert_eq(requests(s2, transfers, 200) - requests(s1, transfers, 200), N + 2);
    cr_assert_eq(requests(s2, transfers, 422) - requests(s1, transfers, 422), 2);
    cr_assert_eq(requests(s1, API "/accounts", 201), 2);
    cr_assert_eq(requests(s2, API "/accounts", 413) - requests(s1, API "/accounts", 413), 1,
                 "h2o's own refusal is counted under its route");
    cr_assert_eq(requests(s2, "other", 404) - requests(s1, "other", 404), 1);
    cr_assert_eq(requests(s2, "/metrics", 405) - requests(s1, "/metrics", 405), 1);
    cr_assert_eq(requests(s2, "/metrics", 200) - requests(s1, "/metrics", 200), 1,
                 "the scrape s1 itself");
    /* one commit per acknowledged new write (refusals and replays write nothing) */
    double commits =
        histogram_count(s2, "wallet_batch_commands") - histogram_count(s1, "wallet_batch_commands");
    cr_assert_eq(commits, N + 1, "group commits");
    cr_assert_eq(gauge(s2, "wallet_batch_commands_sum") - gauge(s1, "wallet_batch_commands_sum"),
                 N + 1, "one command per commit");
    cr_assert_eq(histogram_count(s2, "wallet_commit_seconds") -
                     histogram_count(s1, "wallet_commit_seconds"),
                 N + 1);
    cr_assert_gt(gauge(s2, "wallet_commit_seconds_sum"), gauge(s1, "wallet_commit_seconds_sum"));
    /* the gauges: 2 creations (2 events, 2 records), N + 1 transfers (2 events, 1 record) */
    cr_assert_eq(gauge(s2, "wallet_accounts"), 2);
    cr_assert_eq(gauge(s2, "wallet_last_seq"), 2 + 2 * (N + 1));
    cr_assert_eq(gauge(s2, "wallet_last_lsn"), 2 + (N + 1));
    cr_assert_leq(gauge(s2, "wallet_checkpoint_lag_records"), 2 + (N + 1));
    cr_assert_eq(gauge(s2, "wallet_queue_depth"), 0);
    cr_assert_eq(gauge(s2, "wallet_read_only"), 0);
    cr_assert_geq(gauge(s2, "wallet_open_connections"), 1);
    free(s1);
    free(s2);

    /* a pending transfer is open until voided; a clean stop checkpoints everything */
    cr_assert_eq(post(API "/transfers", "{\"transferID\":\"p1\",\"fromAccount\":\"a\","
                                        "\"toAccount\":\"b\",\"amount\":3,\"pending\":true}"),
                 200, "%s", BODY);
    char *s3 = scrape();
    cr_assert_eq(gauge(s3, "wallet_pending_transfers_open"), 1);
    cr_assert_eq(post(API "/transfers", "{\"transferID\":\"v1\",\"voidPendingID\":\"p1\"}"), 200,
                 "%s", BODY);
    char *s4 = scrape();
    cr_assert_eq(gauge(s4, "wallet_pending_transfers_open"), 0);
    cr_assert_eq(commands(s4, "ok") - commands(s3, "ok"), 1);
    free(s3);
    free(s4);
    cr_assert_eq(post(API "/transfers", "{\"transferID\":\"p2\",\"fromAccount\":\"a\","
                                        "\"toAccount\":\"b\",\"amount\":4,\"pending\":true}"),
                 200, "%s", BODY);
    restart();
    char *s5 = scrape();
    check_with_promtool(s5);
    cr_assert_eq(gauge(s5, "wallet_pending_transfers_open"), 1, "loaded from the checkpoint");
    cr_assert_eq(gauge(s5, "wallet_accounts"), 2);
    cr_assert_eq(gauge(s5, "wallet_checkpoint_lag_records"), 0, "a clean stop checkpoints");
    cr_assert_eq(commands(s5, "ok"), 0, "counters start from zero at each start");
    free(s5);
}

/* ---- under load, over two I/O threads ------------------------------------------------------ */

#define LOAD_THREADS 4
#define LOAD_ACCOUNTS 8
#define LOAD_TRANSFERS 300
#define SCRAPES_MAX 200

static atomic_int loads_finished;

static void *load_main(void *arg) {
    ws_load_thread(arg);
    atomic_fetch_add(&loads_finished, 1);
    return NULL;
}

Test(metrics, scrapes_under_load_add_up) {
    start(); /* the harness runs two I/O threads */
    char names[LOAD_ACCOUNTS][16];
    const char *ids[LOAD_ACCOUNTS];
    uint64_t starts[LOAD_ACCOUNTS];
    char err[256];
    cr_assert(ws_create_named_accounts(cli, "m", LOAD_ACCOUNTS, 1000, 0, names, ids, starts, err,
                                       sizeof err),
              "%s", err);
    char *before = scrape();
    ws_load loads[LOAD_THREADS];
    pthread_t threads[LOAD_THREADS];
    atomic_store(&loads_finished, 0);
    for (int i = 0; i < LOAD_THREADS; i++) {
        loads[i] = (ws_load){.srv = srv,
                             .thread_index = i,
                             .accounts = ids,
                             .account_count = LOAD_ACCOUNTS,
                             .seed = 11,
                             .transfers_max = LOAD_TRANSFERS,
                             .amount_max = 20,
                             .amount_huge = 1000000,
                             .id_prefix = "m",
                             .time_limit_ms = 60000};
        cr_assert_eq(pthread_create(&threads[i], NULL, load_main, &loads[i]), 0);
    }
    /* scrape all along: each scrape valid, every counter at least where it was */
    char *prev = strdup(before);
    int scrapes = 0;
    int64_t deadline = ws_now_ms() + 60000;
    while (scrapes < SCRAPES_MAX && ws_now_ms() < deadline &&
           atomic_load(&loads_finished) < LOAD_THREADS) {
        scrapes++;
        char *s = scrape();
        if (scrapes == 3) {
            check_with_promtool(s);
        }
        cr_assert_geq(sum_of(s, "wallet_commands_total{"), sum_of(prev, "wallet_commands_total{"));
        cr_assert_geq(sum_of(s, "wallet_http_requests_total{"),
                      sum_of(prev, "wallet_http_requests_total{"));
        cr_assert_geq(histogram_count(s, "wallet_batch_commands"),
                      histogram_count(prev, "wallet_batch_commands"));
        cr_assert_geq(histogram_count(s, "wallet_commit_seconds"),
                      histogram_count(prev, "wallet_commit_seconds"));
        cr_assert_geq(gauge(s, "wallet_last_seq"), gauge(prev, "wallet_last_seq"));
        free(prev);
        prev = s;
        ws_sleep_ms(5);
    }
    size_t attempts = 0, ok = 0, insufficient = 0, same = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    char *after = scrape();
    /* a client times out after 10 s: if one did, say whether a commit took that long */
    cr_log_info("commits slower than 1 s: %.0f of %.0f",
                histogram_count(after, "wallet_commit_seconds") -
                    counter(after, "wallet_commit_seconds_bucket{le=\"1\"}"),
                histogram_count(after, "wallet_commit_seconds"));
    for (int i = 0; i < LOAD_THREADS; i++) {
        cr_assert_eq(loads[i].other, 0, "thread %d: %s", i, loads[i].first_other);
        cr_assert_eq(loads[i].transport_errors, 0);
        attempts += loads[i].attempts;
        ok += loads[i].ok_count;
        insufficient += loads[i].insufficient;
        same += loads[i].same_account;
    }
    cr_log_info("%d scrapes during %zu transfers", scrapes, attempts);
    cr_assert_gt(scrapes, 1);
    cr_assert_eq(ok + insufficient + same, attempts);
    check_with_promtool(after);
    const char *bt = API "/balance_transfer";
    cr_assert_eq(requests(after, bt, 200) - requests(before, bt, 200), ok);
    cr_assert_eq(requests(after, bt, 422) - requests(before, bt, 422), insufficient + same);
    cr_assert_eq(commands(after, "ok") - commands(before, "ok"), ok);
    cr_assert_eq(commands(after, "insufficient_funds") - commands(before, "insufficient_funds"),
                 insufficient);
    cr_assert_eq(commands(after, "same_account") - commands(before, "same_account"), same);
    /* every acknowledged transfer is in a group commit; refusals only when they shared one */
    double committed =
        gauge(after, "wallet_batch_commands_sum") - gauge(before, "wallet_batch_commands_sum");
    cr_assert_geq(committed, ok, "commands in commits");
    cr_assert_leq(committed, attempts, "commands in commits");
    cr_assert_leq(histogram_count(after, "wallet_batch_commands") -
                      histogram_count(before, "wallet_batch_commands"),
                  ok, "more commits than acknowledged transfers");
    cr_assert_eq(gauge(after, "wallet_last_seq") - gauge(before, "wallet_last_seq"), 2.0 * ok);
    for (int i = 0; i < LOAD_THREADS; i++) {
        ws_load_free(&loads[i]);
    }
    free(prev);
    free(before);
    free(after);
}

/* ---- /ready ---------------------------------------------------------------------------------- */

static void expect_ready(void) {
    cr_assert_eq(ws_get(cli, &R, "/ready"), 200, "/ready: %ld %s", R.status, BODY);
    cr_assert_str_eq(R.body, "{\"status\":\"ready\"}");
    cr_assert_str_eq(R.content_type, JSON);
}

/* 503 unavailable whose message starts with why. */
static void expect_unavailable(ws_client *c, const char *path, const char *why) {
    cr_assert_eq(ws_get(c, &R, "%s", path), 503, "%s: %ld %s", path, R.status, BODY);
    cr_assert(ws_json_is_error(R.body, "unavailable"), "%s: %s", path, BODY);
    char msg[512];
    ws_json_error_message(R.body, msg, sizeof msg);
    cr_assert_eq(strncmp(msg, why, strlen(why)), 0, "%s: message '%s', not '%s...'", path, msg,
                 why);
}

Test(metrics, ready_is_503_once_read_only) {
    start();
    expect_ready();
    cr_assert_eq(ws_get(cli, &R, "/health"), 200);
    cr_assert_str_eq(R.body, "{\"status\":\"ok\"}");
    cr_assert_eq(ws_request(cli, "POST", &R, "/ready"), 405);

    /* Storage fails when a file would pass 64 KiB (RLIMIT_FSIZE): the WAL soon does. */
    ws_client_free(cli);
    cli = NULL;
    cr_assert_eq(ws_server_stop(srv), 0);
    srv->fsize_limit_bytes = 64 * 1024;
    /* no checkpoint before the commit fails: then the writer decides the failing batch */
    snprintf(srv->extra[srv->extra_count++], sizeof srv->extra[0], "--checkpoint-interval");
    snprintf(srv->extra[srv->extra_count++], sizeof srv->extra[0], "3600000");
    cr_assert(ws_server_start(srv), "no start under a 64 KiB file-size limit");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
    expect_ready();
    create("a", 1000000);
    create("b", 0);
    bool failed = false;
    for (int i = 0; i < 5000 && !failed; i++) {
        failed = transfer("a", "b", 1, NULL) != 200;
    }
    cr_assert(failed, "5000 transfers fit in 64 KiB files: the limit did not bite");
    cr_assert_eq(R.status, 503, "%s", BODY);
    cr_assert(ws_json_is_error(R.body, "unavailable"), "%s", BODY);
    expect_unavailable(cli, "/ready", "read-only");
    cr_assert_eq(ws_get(cli, &R, "/health"), 200, "liveness is unchanged");
    char *s = scrape();
    check_with_promtool(s);
    cr_assert_eq(gauge(s, "wallet_read_only"), 1);
    cr_assert_geq(commands(s, "unavailable"), 1, "the failed batch's commands");
    cr_assert_geq(requests(s, "/ready", 503), 1);
    free(s);

    srv->fsize_limit_bytes = 0;
    restart();
    expect_ready();
    char *s2 = scrape();
    cr_assert_eq(gauge(s2, "wallet_read_only"), 0);
    free(s2);
}

/* ---- /ready while starting ------------------------------------------------------------------ */

/* Starts the test twin (WS_FAULTY_BINARY) by hand on srv's data directory with its start held
 * for delay_ms, its output in srv->root/manual.log; returns the port of its "starting on"
 * line, which comes before the state is loaded (the harness waits for "listening on"). */
static int start_held(const char *delay_ms) {
    const char *bin = getenv("WS_FAULTY_BINARY");
    cr_assert(bin != NULL && bin[0] != '\0', "WS_FAULTY_BINARY is not set");
    char log[WS_PATH_MAX], env_delay[64];
    snprintf(log, sizeof log, "%s/manual.log", srv->root);
    snprintf(env_delay, sizeof env_delay, "WS_FAULT_START_DELAY_MS=%s", delay_ms);
    size_t n = 0;
    while (environ[n] != NULL) {
        n++;
    }
    char **envp = calloc(n + 2, sizeof *envp);
    cr_assert_not_null(envp);
    envp[0] = env_delay;
    memcpy(envp + 1, environ, n * sizeof *envp);
    char *argv[] = {(char *)bin,   "--port",       "0", "--bind", "127.0.0.1", "--data-dir",
                    srv->data_dir, "--io-threads", "2", NULL};
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
            _exit(127);
        }
        execve(bin, argv, envp);
        _exit(127);
    }
    free(envp);
    manual_pid = pid;
    const char *marker = "wallet-service: starting on 127.0.0.1:";
    for (int i = 0; i < 1000; i++) { /* 10 s */
        FILE *f = fopen(log, "r");
        char text[4096] = "";
        if (f != NULL) {
            size_t got = fread(text, 1, sizeof text - 1, f);
            text[got] = '\0';
            fclose(f);
        }
        const char *p = strstr(text, marker);
        if (p != NULL && strchr(p, '\n') != NULL) {
            cr_assert_null(strstr(text, "listening on"), "ready before the start was held");
            return atoi(p + strlen(marker));
        }
        cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "the server exited: %s", text);
        ws_sleep_ms(10);
    }
    cr_assert_fail("no 'starting on' line in 10 s");
    return 0;
}

static int stop_manual(void) {
    cr_assert_eq(kill(manual_pid, SIGTERM), 0);
    int status = 0;
    for (int i = 0; i < 1500; i++) { /* 15 s */
        if (waitpid(manual_pid, &status, WNOHANG) == manual_pid) {
            manual_pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
        }
        ws_sleep_ms(10);
    }
    cr_assert_fail("the server did not stop in 15 s");
    return -1;
}

Test(metrics, ready_says_starting_while_the_state_loads) {
    start();
    create("a", 42);
    ws_client_free(cli);
    cli = NULL;
    cr_assert_eq(ws_server_stop(srv), 0);

    ws_server held = *srv; /* the same directories, another process and port */
    held.port = start_held("3000");
    snprintf(held.url, sizeof held.url, "http://127.0.0.1:%d", held.port);
    ws_client *c = ws_client_new(&held);
    cr_assert_not_null(c);
    expect_unavailable(c, "/ready", "starting");
    cr_assert_eq(ws_get(c, &R, "/health"), 200, "liveness while starting");
    expect_unavailable(c, API "/get_balance?accountID=a", "starting");
    expect_unavailable(c, API "/accounts/a", "starting");
    cr_assert_eq(ws_post(c, &R, API "/transfers", JSON, "{}", 2, NULL), 503);
    cr_assert(ws_json_is_error(R.body, "unavailable"), "%s", BODY);
    cr_assert_eq(ws_get(c, &R, "/nothing/here"), 404, "no route is no route, starting or not");
    char *s = scrape_with(c);
    check_with_promtool(s);
    check_families(s, false);
    cr_assert_eq(requests(s, "/ready", 503), 1);
    cr_assert_eq(requests(s, API "/get_balance", 503), 1);
    cr_assert_eq(requests(s, "/health", 200), 1);
    free(s);

    bool ready = false;
    for (int i = 0; i < 1500 && !ready; i++) { /* 15 s */
        ready = ws_get(c, &R, "/ready") == 200;
        if (!ready) {
            cr_assert(ws_json_is_error(R.body, "unavailable"), "%s", BODY);
            ws_sleep_ms(10);
        }
    }
    cr_assert(ready, "not ready within 15 s");
    cr_assert_str_eq(R.body, "{\"status\":\"ready\"}");
    uint64_t balance;
    cr_assert(ws_balance(c, "a", &balance));
    cr_assert_eq(balance, 42);
    char *s2 = scrape_with(c);
    check_families(s2, true);
    cr_assert_eq(gauge(s2, "wallet_accounts"), 1);
    free(s2);
    ws_client_free(c);
    cr_assert_eq(stop_manual(), 0, "clean stop");
}

/* ---- with API keys ------------------------------------------------------------------------- */

Test(metrics, metrics_needs_the_key_ready_does_not) {
    srv = ws_server_new(NULL);
    cr_assert_not_null(srv);
    char keys[WS_PATH_MAX];
    snprintf(keys, sizeof keys, "%s/keys", srv->root);
    FILE *f = fopen(keys, "w");
    cr_assert_not_null(f);
    cr_assert_gt(fprintf(f, "%s\n", KEY), 0);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(keys, 0600), 0);
    cr_assert_lt(strlen(keys), sizeof srv->extra[0]);
    snprintf(srv->extra[srv->extra_count++], sizeof srv->extra[0], "--api-key-file");
    snprintf(srv->extra[srv->extra_count++], sizeof srv->extra[0], "%s", keys);
    cr_assert(ws_server_start(srv));
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);

    cr_assert_eq(ws_get(cli, &R, "/metrics"), 401, "%s", BODY);
    cr_assert(ws_json_is_error(R.body, "unauthorized"), "%s", BODY);
    cr_assert_str_eq(R.www_authenticate, "Bearer");
    cr_assert_eq(ws_request(cli, "POST", &R, "/metrics"), 401, "401 before 405");
    expect_ready();
    cr_assert_eq(ws_get(cli, &R, "/health"), 200);
    cr_assert(ws_client_add_header(cli, "Authorization: Bearer wrong-key-0123456789"));
    cr_assert_eq(ws_get(cli, &R, "/metrics"), 401);
    ws_client_clear_headers(cli);
    cr_assert(ws_client_add_header(cli, "Authorization: Bearer " KEY));
    char *s = scrape();
    check_with_promtool(s);
    cr_assert_eq(requests(s, "/metrics", 401), 3, "the refused scrapes are counted too");
    cr_assert_eq(requests(s, "/ready", 200), 1);
    free(s);
    char log[WS_PATH_MAX];
    snprintf(log, sizeof log, "%s", srv->log_path);
    char *text = read_all(log);
    cr_assert_null(strstr(text, KEY), "the key is in the log");
    free(text);
}
