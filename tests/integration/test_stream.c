/* GET /events/stream (Server-Sent Events) against the real binary: the stream carries exactly
 * the committed log (ids = seqs, the same objects as GET /events), resumes with Last-Event-ID
 * and with after= without a gap or a duplicate, across kill -9 and clean restarts and under a
 * transfer load; it needs the API key when keys are configured; --max-streams caps it (503
 * overloaded past it, and a closed stream frees its place); a client that stops reading is
 * disconnected after --stream-stall-timeout while the writer keeps committing and other
 * requests are served; an idle stream outlives the idle and request timeouts and gets
 * ": ping" comments; SIGTERM ends open streams cleanly and stops within a few seconds.
 * Loopback only; every wait is bounded. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"

#define STREAM "/api/1.0/wallet/events/stream"
#define KEY "str34m-k3y-0123456789abcdef"

static void teardown(void) {
    ws_client_free(cli);
    cli = NULL;
    ws_cleanup_all();
}

TestSuite(stream, .fini = teardown, .timeout = 200);

/* ---- an SSE client on libcurl ---------------------------------------------------------- */

typedef struct {
    uint64_t id;
    char *data; /* malloc'd */
} sse_event;

typedef struct {
    /* inputs */
    int port;
    const char *query;         /* appended to the path ("?after=5"), or NULL */
    const char *last_event_id; /* sent as Last-Event-ID, or NULL */
    const char *auth;          /* a whole header line, or NULL */
    size_t stop_after;         /* abort after this many events (0: no bound) */
    _Atomic uint64_t *until;   /* abort once an event with id >= *until arrived (0: none) */
    _Atomic bool *cancel;      /* abort when it turns true */
    int timeout_ms;
    /* outputs */
    int curl_code;
    long status;
    char content_type[96];
    sse_event *items;
    size_t count, cap;
    size_t comments, pings, oks;
    bool malformed; /* a line that is none of id:, data:, a comment or blank */
    /* parser state */
    char line[2048];
    size_t line_len;
    bool line_overflow;
    uint64_t cur_id;
    bool has_id;
    char *cur_data;
} sse;

static void sse_free(sse *s) {
    for (size_t i = 0; i < s->count; i++) {
        free(s->items[i].data);
    }
    free(s->items);
    free(s->cur_data);
    s->items = NULL;
    s->cur_data = NULL;
    s->count = s->cap = 0;
}

static bool sse_stop_now(const sse *s) {
    if (s->stop_after > 0 && s->count >= s->stop_after) {
        return true;
    }
    uint64_t until = s->until != NULL ? atomic_load(s->until) : 0;
    return until > 0 && s->count > 0 && s->items[s->count - 1].id >= until;
}

static void sse_dispatch(sse *s) {
    if (s->cur_data == NULL) {
        s->has_id = false;
        return;
    }
    if (s->count == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->items = realloc(s->items, s->cap * sizeof(*s->items));
    }
    s->items[s->count++] = (sse_event){s->has_id ? s->cur_id : 0, s->cur_data};
    s->cur_data = NULL;
    s->has_id = false;
}

static void sse_line(sse *s, const char *l, size_t n) {
    if (n == 0) {
        sse_dispatch(s);
    } else if (l[0] == ':') {
        s->comments++;
        s->pings += n == 6 && memcmp(l, ": ping", 6) == 0;
        s->oks += n == 4 && memcmp(l, ": ok", 4) == 0;
    } else if (n > 4 && memcmp(l, "id: ", 4) == 0) {
        s->cur_id = strtoull(l + 4, NULL, 10);
        s->has_id = true;
    } else if (n > 6 && memcmp(l, "data: ", 6) == 0 && s->cur_data == NULL) {
        s->cur_data = strndup(l + 6, n - 6);
    } else {
        s->malformed = true;
    }
}

static size_t sse_write(char *p, size_t size, size_t nmemb, void *ud) {
    sse *s = ud;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (s->line_overflow) {
                s->malformed = true;
            } else {
                sse_line(s, s->line, s->line_len);
            }
            s->line_len = 0;
            s->line_overflow = false;
            if (sse_stop_now(s)) {
                return 0; /* abort the transfer: the client leaves */
            }
        } else if (s->line_len < sizeof(s->line)) {
            s->line[s->line_len++] = p[i];
        } else {
            s->line_overflow = true;
        }
    }
    return n;
}

static int sse_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a, (void)b, (void)c, (void)d;
    sse *s = ud;
    return s->cancel != NULL && atomic_load(s->cancel);
}

static size_t sse_header(char *p, size_t size, size_t nmemb, void *ud) {
    sse *s = ud;
    size_t n = size * nmemb;
    if (n > 13 && strncasecmp(p, "content-type:", 13) == 0) {
        size_t v = 13;
        while (v < n && p[v] == ' ') {
            v++;
        }
        size_t e = n;
        while (e > v && (p[e - 1] == '\r' || p[e - 1] == '\n')) {
            e--;
        }
        snprintf(s->content_type, sizeof(s->content_type), "%.*s", (int)(e - v), p + v);
    }
    return n;
}

/* Reads the stream until it ends, a stop condition holds or timeout_ms pass. */
static void sse_run(sse *s) {
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d" STREAM "%s", s->port,
             s->query ? s->query : "");
    struct curl_slist *hdr = NULL;
    char lei[96];
    if (s->last_event_id != NULL) {
        snprintf(lei, sizeof(lei), "Last-Event-ID: %s", s->last_event_id);
        hdr = curl_slist_append(hdr, lei);
    }
    if (s->auth != NULL) {
        hdr = curl_slist_append(hdr, s->auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, sse_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, sse_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    s->curl_code = (int)curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s->status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
}

/* The events of an SSE run as GET /events records, each checked to parse alone. */
static bool sse_events(const sse *s, ws_event_list *out) {
    for (size_t i = 0; i < s->count; i++) {
        char body[1200];
        snprintf(body, sizeof(body), "{\"events\":[%s],\"next\":null}", s->items[i].data);
        size_t before = out->count;
        if (!ws_events_parse(body, out) || out->count != before + 1 ||
            out->items[before].seq != s->items[i].id) {
            fprintf(stderr, "stream event %zu (id %llu) does not parse as its seq: %s\n", i,
                    (unsigned long long)s->items[i].id, s->items[i].data);
            return false;
        }
    }
    return true;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static void make_accounts(int n, const char *prefix) {
    ws_response r = WS_RESPONSE_INIT;
    for (int i = 0; i < n; i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"accountID\":\"%s%d\",\"startAmount\":1000000000000}",
                 prefix, i);
        cr_assert_eq(ws_post(cli, &r, "/api/1.0/wallet/accounts", "application/json", body,
                             strlen(body), NULL),
                     201, "%s", r.body);
    }
    ws_response_free(&r);
}

/* A batch of n transfers of 1 (random transferIDs) between the accounts prefix0..prefix(k-1),
 * through c. */
static long post_batch(ws_client *c, const char *prefix, int k, int n, uint64_t *seed) {
    static __thread char body[64 << 10];
    size_t len = (size_t)snprintf(body, sizeof(body), "{\"transfers\":[");
    for (int i = 0; i < n; i++) {
        int a = (int)(ws_splitmix64(seed) % (uint64_t)k);
        int b = (a + 1 + (int)(ws_splitmix64(seed) % (uint64_t)(k - 1))) % k;
        unsigned long long id = (unsigned long long)ws_splitmix64(seed);
        len += (size_t)snprintf(body + len, sizeof(body) - len,
                                "%s{\"transferID\":\"t%016llx\",\"fromAccount\":\"%s%d\","
                                "\"toAccount\":\"%s%d\",\"amount\":1}",
                                i ? "," : "", id, prefix, a, prefix, b);
    }
    len += (size_t)snprintf(body + len, sizeof(body) - len, "]}");
    ws_response r = WS_RESPONSE_INIT;
    long st = ws_post(c, &r, "/api/1.0/wallet/transfers", "application/json", body, len, NULL);
    ws_response_free(&r);
    return st;
}

/* Every event of the log, through GET /events. */
static void fetch_log(ws_event_list *log) {
    memset(log, 0, sizeof(*log));
    cr_assert(ws_events_fetch_all(cli, NULL, log), "GET /events");
}

/* The stream's events equal the log's from after on: every field, ids = seqs, in order. */
static void assert_matches_log(const ws_event_list *got, const ws_event_list *log, uint64_t after) {
    cr_assert_eq(got->count, log->count - after, "%zu events streamed, the log has %zu after %llu",
                 got->count, log->count - after, (unsigned long long)after);
    for (size_t i = 0; i < got->count; i++) {
        cr_assert_eq(got->items[i].seq, after + 1 + i, "event %zu has seq %llu", i,
                     (unsigned long long)got->items[i].seq);
        cr_assert(ws_event_equal(&got->items[i], &log->items[after + i]),
                  "event seq %llu differs from GET /events", (unsigned long long)(after + 1 + i));
    }
}

/* ---- the stream is the committed log ------------------------------------------------------ */

typedef struct {
    sse s;
    pthread_t tid;
} sse_thread;

static void *sse_main(void *arg) {
    sse_run(&((sse_thread *)arg)->s);
    return NULL;
}

Test(stream, carries_exactly_the_log_live) {
    start(NULL);
    make_accounts(4, "a");
    uint64_t seed = 7;
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(post_batch(cli, "a", 4, 50, &seed), 200);
    }
    /* 4 accounts + 250 transfers = 504 events before; 250 more while the stream is open */
    _Atomic uint64_t until = 1004;
    sse_thread t = {.s = {.port = srv->port, .until = &until, .timeout_ms = 20000}};
    cr_assert_eq(pthread_create(&t.tid, NULL, sse_main, &t), 0);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(post_batch(cli, "a", 4, 25, &seed), 200);
        ws_sleep_ms(20);
    }
    pthread_join(t.tid, NULL);
    cr_assert_eq(t.s.status, 200);
    cr_assert_str_eq(t.s.content_type, "text/event-stream");
    cr_assert_eq(t.s.curl_code, CURLE_WRITE_ERROR, "the client left, curl code %d", t.s.curl_code);
    cr_assert(!t.s.malformed, "a malformed line");
    cr_assert_eq(t.s.oks, 0, "no ': ok' when events are waiting at the start");
    ws_event_list log;
    fetch_log(&log);
    cr_assert_eq(log.count, 1004);
    ws_event_list got = {0};
    cr_assert(sse_events(&t.s, &got));
    assert_matches_log(&got, &log, 0);
    sse_free(&t.s);
    ws_event_list_free(&got);

    /* after=N starts at N+1; a stream at the end starts with ": ok", then waits */
    sse s2 = {.port = srv->port, .query = "?after=1000", .timeout_ms = 1500};
    sse_run(&s2);
    cr_assert_eq(s2.curl_code, CURLE_OPERATION_TIMEDOUT, "a stream does not end by itself");
    cr_assert(sse_events(&s2, &got));
    assert_matches_log(&got, &log, 1000);
    sse_free(&s2);
    ws_event_list_free(&got);
    sse s3 = {.port = srv->port, .query = "?after=1004", .timeout_ms = 800};
    sse_run(&s3);
    cr_assert_eq(s3.status, 200);
    cr_assert_eq(s3.count, 0);
    cr_assert_eq(s3.oks, 1, "': ok' first when nothing is waiting");
    sse_free(&s3);
    ws_event_list_free(&log);
}

Test(stream, refuses_bad_requests) {
    start(NULL);
    ws_response r = WS_RESPONSE_INIT;
    cr_assert_eq(ws_get(cli, &r, STREAM "?after=x"), 400);
    cr_assert(ws_json_is_error(r.body, "invalid_parameter"), "%s", r.body);
    cr_assert_eq(ws_get(cli, &r, STREAM "?limit=5"), 400);
    cr_assert(ws_json_is_error(r.body, "invalid_parameter"), "%s", r.body);
    cr_assert_eq(ws_send(cli, "GET", &r, STREAM, NULL, "", 0, "Last-Event-ID: 12a"), 400);
    cr_assert(ws_json_is_error(r.body, "invalid_parameter"), "%s", r.body);
    cr_assert_eq(ws_request(cli, "POST", &r, STREAM), 405);
    ws_response_free(&r);
    /* an empty Last-Event-ID is no Last-Event-ID: after= stands */
    make_accounts(3, "b");
    sse s = {.port = srv->port, .query = "?after=2", .last_event_id = "", .timeout_ms = 800};
    sse_run(&s);
    cr_assert_eq(s.status, 200);
    cr_assert_eq(s.count, 1);
    cr_assert_eq(s.items[0].id, 3);
    sse_free(&s);
}

/* ---- resume under load, across restarts -------------------------------------------------- */

typedef struct {
    _Atomic int port; /* 0 while the server restarts */
    _Atomic bool stop;
    _Atomic long ok;
    _Atomic uint64_t seed; /* each loader takes its own */
} load_ctx;

static void *load_main(void *arg) {
    load_ctx *l = arg;
    uint64_t seed = atomic_fetch_add(&l->seed, 1);
    while (!atomic_load(&l->stop)) {
        int port = atomic_load(&l->port);
        if (port == 0) {
            ws_sleep_ms(5);
            continue;
        }
        ws_server fake = {.port = port};
        snprintf(fake.url, sizeof(fake.url), "http://127.0.0.1:%d", port);
        ws_client *c = ws_client_new(&fake);
        ws_client_set_timeout_ms(c, 3000);
        while (!atomic_load(&l->stop) && atomic_load(&l->port) == port) {
            if (post_batch(c, "l", 8, 5, &seed) == 200) {
                atomic_fetch_add(&l->ok, 1);
            }
            ws_sleep_ms(2);
        }
        ws_client_free(c);
    }
    return NULL;
}

typedef struct {
    load_ctx *load;
    _Atomic uint64_t target; /* once set: read up to it, then return */
    sse_event *items;        /* every event received, in order */
    size_t count, cap;
    size_t connections, by_header, by_after, refused;
    char error[256];
} consumer_ctx;

/* Connects, reads 50..549 events (or until the target), leaves; resumes from the last id
 * received, alternately with Last-Event-ID (and a conflicting after=0, which it must win
 * over) and with after=. Every event must be the one after the last. */
static void *consumer_main(void *arg) {
    consumer_ctx *c = arg;
    uint64_t seed = 99;
    int64_t deadline = ws_now_ms() + 150000;
    uint64_t last = 0;
    while (ws_now_ms() < deadline && c->error[0] == '\0') {
        uint64_t target = atomic_load(&c->target);
        if (target > 0 && last >= target) {
            return NULL;
        }
        int port = atomic_load(&c->load->port);
        if (port == 0) {
            ws_sleep_ms(5);
            continue;
        }
        char q[48], id[24];
        snprintf(q, sizeof(q), "?after=%llu", (unsigned long long)last);
        snprintf(id, sizeof(id), "%llu", (unsigned long long)last);
        bool header = c->connections % 2 == 0;
        sse s = {.port = port,
                 .query = header ? "?after=0" : q,
                 .last_event_id = header ? id : NULL,
                 .stop_after = 50 + ws_splitmix64(&seed) % 500,
                 .until = &c->target,
                 .timeout_ms = 3000};
        sse_run(&s);
        c->connections++;
        if (s.status != 200) {
            c->refused++;
            ws_sleep_ms(10);
        } else {
            header ? c->by_header++ : c->by_after++;
        }
        for (size_t i = 0; i < s.count; i++) {
            if (s.items[i].id != last + 1) {
                snprintf(c->error, sizeof(c->error),
                         "connection %zu (%s): event id %llu after %llu", c->connections,
                         header ? "Last-Event-ID" : "after=", (unsigned long long)s.items[i].id,
                         (unsigned long long)last);
                break;
            }
            last = s.items[i].id;
            if (c->count == c->cap) {
                c->cap = c->cap ? c->cap * 2 : 4096;
                c->items = realloc(c->items, c->cap * sizeof(*c->items));
            }
            c->items[c->count++] = s.items[i];
            s.items[i].data = NULL;
        }
        sse_free(&s);
    }
    if (c->error[0] == '\0') {
        snprintf(c->error, sizeof(c->error), "the consumer did not reach the end in time");
    }
    return NULL;
}

Test(stream, resumes_without_gap_or_duplicate_under_load_and_restarts, .timeout = 240) {
    start(NULL);
    make_accounts(8, "l");
    load_ctx load = {0};
    atomic_store(&load.seed, 1);
    atomic_store(&load.port, srv->port);
    consumer_ctx cons = {.load = &load};
    pthread_t loaders[2], consumer;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pthread_create(&loaders[i], NULL, load_main, &load), 0);
    }
    cr_assert_eq(pthread_create(&consumer, NULL, consumer_main, &cons), 0);
    /* kill -9, clean stop, kill -9: each under the load, with the consumer reading */
    const bool kill9[] = {true, false, true};
    for (int round = 0; round < 3; round++) {
        ws_sleep_ms(1500);
        atomic_store(&load.port, 0);
        restart(kill9[round]);
        atomic_store(&load.port, srv->port);
    }
    ws_sleep_ms(1500);
    atomic_store(&load.stop, true);
    for (int i = 0; i < 2; i++) {
        pthread_join(loaders[i], NULL);
    }
    ws_event_list log;
    fetch_log(&log);
    atomic_store(&cons.target, (uint64_t)log.count);
    pthread_join(consumer, NULL);
    cr_assert_str_empty(cons.error, "%s", cons.error);
    cr_log_info("streamed %zu events over %zu connections (%zu by Last-Event-ID, %zu by after=, "
                "%zu refused), %ld batches acknowledged",
                cons.count, cons.connections, cons.by_header, cons.by_after, cons.refused,
                atomic_load(&load.ok));
    cr_assert_gt(atomic_load(&load.ok), 50, "the load ran");
    cr_assert_gt(cons.by_header, 3);
    cr_assert_gt(cons.by_after, 3);
    sse tmp = {.items = cons.items, .count = cons.count};
    ws_event_list got = {0};
    cr_assert(sse_events(&tmp, &got));
    assert_matches_log(&got, &log, 0);
    sse_free(&tmp);
    ws_event_list_free(&got);
    ws_event_list_free(&log);
}

/* ---- authorization ------------------------------------------------------------------------ */

Test(stream, needs_the_key_when_keys_are_configured) {
    srv = ws_server_new(NULL);
    cr_assert_not_null(srv);
    char keys[WS_PATH_MAX];
    snprintf(keys, sizeof(keys), "%s/keys", srv->root);
    FILE *f = fopen(keys, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", KEY);
    fclose(f);
    chmod(keys, 0600);
    snprintf(srv->extra[0], sizeof(srv->extra[0]), "--api-key-file");
    cr_assert_lt(strlen(keys), sizeof(srv->extra[1]));
    memcpy(srv->extra[1], keys, strlen(keys) + 1);
    srv->extra_count = 2;
    cr_assert(ws_server_start(srv));
    cli = ws_client_new(srv);
    ws_response r = WS_RESPONSE_INIT;
    cr_assert_eq(ws_get(cli, &r, STREAM), 401);
    cr_assert(ws_json_is_error(r.body, "unauthorized"), "%s", r.body);
    cr_assert_str_eq(r.www_authenticate, "Bearer");
    cr_assert(ws_client_add_header(cli, "Authorization: Bearer wrong-key"));
    cr_assert_eq(ws_get(cli, &r, STREAM "?after=0"), 401);
    ws_client_clear_headers(cli);
    cr_assert(ws_client_add_header(cli, "Authorization: Bearer " KEY));
    make_accounts(2, "k");
    ws_response_free(&r);
    sse s = {.port = srv->port, .auth = "Authorization: Bearer " KEY, .timeout_ms = 800};
    sse_run(&s);
    cr_assert_eq(s.status, 200);
    cr_assert_eq(s.count, 2);
    sse_free(&s);
}

/* ---- raw sockets: the cap, a slow consumer, the stop --------------------------------------- */

/* Opens a stream on a raw socket (rcvbuf: SO_RCVBUF before connecting, 0 for the default)
 * and reads its response head; returns the fd and the status in *status. */
static int raw_stream(int port, int rcvbuf, int *status) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    if (rcvbuf > 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    static const char req[] = "GET " STREAM " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    cr_assert(ws_raw_send(fd, req, sizeof(req) - 1, 2000));
    char head[1024];
    size_t n = 0;
    int64_t deadline = ws_now_ms() + 3000;
    while (n < sizeof(head) - 1 && ws_now_ms() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        ssize_t k = recv(fd, head + n, 1, 0); /* byte by byte: leave the body unread */
        if (k <= 0) {
            break;
        }
        n++;
        head[n] = '\0';
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0) {
            break;
        }
    }
    head[n] = '\0';
    *status = n > 12 ? atoi(head + 9) : 0;
    return fd;
}

/* Reads until EOF (or an error) within timeout_ms; returns the bytes read, -1 on timeout.
 * The last bytes go into tail. */
static long read_to_eof(int fd, int timeout_ms, char *tail, size_t tail_size) {
    long total = 0;
    int64_t deadline = ws_now_ms() + timeout_ms;
    char buf[16384];
    size_t tl = 0;
    while (ws_now_ms() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        ssize_t k = recv(fd, buf, sizeof(buf), 0);
        if (k <= 0) {
            if (tail) {
                tail[tl] = '\0';
            }
            return total;
        }
        total += k;
        if (tail) {
            size_t keep = (size_t)k < tail_size - 1 ? (size_t)k : tail_size - 1;
            if (tl + keep > tail_size - 1) {
                memmove(tail, tail + (tl + keep - (tail_size - 1)), tail_size - 1 - keep);
                tl = tail_size - 1 - keep;
            }
            memcpy(tail + tl, buf + k - keep, keep);
            tl += keep;
        }
    }
    return -1;
}

/* The status of a stream request, left after timeout_ms (a 200 never ends by itself). */
static long probe_stream(const char *query, int timeout_ms) {
    sse s = {.port = srv->port, .query = query, .timeout_ms = timeout_ms};
    sse_run(&s);
    sse_free(&s);
    return s.status;
}

Test(stream, caps_open_streams) {
    start((const char *const[]){"--max-streams", "3", NULL});
    make_accounts(2, "c");
    int fds[3], st;
    for (int i = 0; i < 3; i++) {
        fds[i] = raw_stream(srv->port, 0, &st);
        cr_assert_eq(st, 200, "stream %d", i);
    }
    ws_response r = WS_RESPONSE_INIT;
    cr_assert_eq(ws_get(cli, &r, STREAM), 503);
    cr_assert(ws_json_is_error(r.body, "overloaded"), "%s", r.body);
    cr_assert(r.has_retry_after);
    cr_assert_eq(ws_get(cli, &r, "/health"), 200, "other routes are served");
    /* a client that leaves frees its place (seen within a tick, without any write) */
    close(fds[0]);
    long got = 0;
    for (int i = 0; i < 40 && got != 200; i++) {
        ws_sleep_ms(50);
        got = probe_stream("?after=999999", 300);
        if (got != 200) {
            cr_assert_eq(got, 503);
        }
    }
    ws_response_free(&r);
    cr_assert_eq(got, 200, "the place of the closed stream was freed");
    /* the probe that got it has left too (its timeout): the place is free again */
    got = 0;
    for (int i = 0; i < 40 && got != 200; i++) {
        ws_sleep_ms(50);
        got = probe_stream("", 300);
    }
    cr_assert_eq(got, 200, "the place of the probe was freed");
    close(fds[1]);
    close(fds[2]);
}

Test(stream, disconnects_a_slow_consumer_without_holding_the_writer) {
    start((const char *const[]){"--stream-stall-timeout", "1000", "--max-streams", "1", NULL});
    make_accounts(8, "s");
    int st;
    int slow = raw_stream(srv->port, 2048, &st); /* reads nothing from here on */
    cr_assert_eq(st, 200);
    /* commit far more than the socket buffers hold (64 KiB + the client's 2 KiB, doubled by
     * Linux, plus one chunk), with the slow stream open: every batch is acknowledged */
    uint64_t seed = 3;
    int64_t t0 = ws_now_ms();
    int64_t slowest = 0;
    for (int i = 0; i < 60; i++) {
        int64_t a = ws_now_ms();
        cr_assert_eq(post_batch(cli, "s", 8, 100, &seed), 200, "batch %d", i);
        int64_t d = ws_now_ms() - a;
        slowest = d > slowest ? d : slowest;
    }
    cr_log_info("6000 transfers committed in %lld ms with a stalled stream (slowest batch %lld ms)",
                (long long)(ws_now_ms() - t0), (long long)slowest);
    cr_assert_lt(slowest, 1000, "a batch waited %lld ms", (long long)slowest);
    /* the stalled stream is disconnected after ~1 s; meanwhile other requests are served */
    ws_response r = WS_RESPONSE_INIT;
    long freed = 0;
    int64_t until = ws_now_ms() + 6000;
    while (ws_now_ms() < until && freed != 200) {
        cr_assert_eq(ws_get(cli, &r, "/health"), 200);
        cr_assert_eq(post_batch(cli, "s", 8, 10, &seed), 200);
        freed = probe_stream("?after=999999999", 200);
        ws_sleep_ms(50);
    }
    ws_response_free(&r);
    cr_assert_eq(freed, 200, "the slow stream's place (--max-streams 1) was not freed");
    /* the slow client finds its connection closed once it reads what was buffered */
    long n = read_to_eof(slow, 5000, NULL, 0);
    cr_assert_geq(n, 0, "the slow consumer's connection was not closed");
    close(slow);
    FILE *f = fopen(srv->log_path, "r");
    cr_assert_not_null(f);
    char line[1024];
    bool logged = false;
    while (fgets(line, sizeof(line), f)) {
        logged |= strstr(line, "event stream closed: the client took nothing") != NULL;
    }
    fclose(f);
    cr_assert(logged, "the disconnection is logged");
}

Test(stream, idle_stream_outlives_timeouts_and_gets_pings, .timeout = 60) {
    start((const char *const[]){"--idle-timeout", "200", "--request-timeout", "200", NULL});
    make_accounts(2, "i");
    sse_thread t = {.s = {.port = srv->port, .query = "?after=2", .timeout_ms = 17500}};
    cr_assert_eq(pthread_create(&t.tid, NULL, sse_main, &t), 0);
    ws_sleep_ms(16000); /* past a ping (15 s) and far past h2o's own timer (1.4 s) */
    make_accounts(1, "j");
    pthread_join(t.tid, NULL);
    cr_assert_eq(t.s.status, 200);
    cr_assert_eq(t.s.curl_code, CURLE_OPERATION_TIMEDOUT, "the stream was cut: curl %d",
                 t.s.curl_code);
    cr_assert_geq(t.s.pings, 1, "no ': ping' in 16 s");
    cr_assert_eq(t.s.count, 1, "the event committed after 16 s idle arrived");
    cr_assert_eq(t.s.items[0].id, 3);
    sse_free(&t.s);
}

Test(stream, sigterm_ends_open_streams_cleanly) {
    start(NULL);
    make_accounts(2, "t");
    int fds[3], st;
    for (int i = 0; i < 3; i++) {
        fds[i] = raw_stream(srv->port, 0, &st);
        cr_assert_eq(st, 200);
    }
    int64_t t0 = ws_now_ms();
    cr_assert_eq(ws_server_stop(srv), 0, "a clean stop");
    int64_t took = ws_now_ms() - t0;
    cr_log_info("stopped in %lld ms with 3 streams open", (long long)took);
    cr_assert_lt(took, 5000, "the stop took %lld ms", (long long)took);
    for (int i = 0; i < 3; i++) {
        char tail[64];
        cr_assert_geq(read_to_eof(fds[i], 2000, tail, sizeof(tail)), 0, "stream %d not closed", i);
        size_t n = strlen(tail);
        cr_assert(n >= 5 && strcmp(tail + n - 5, "0\r\n\r\n") == 0,
                  "stream %d did not end with the last chunk: ...%s", i, tail);
        close(fds[i]);
    }
}
