/* GET /metrics: the Prometheus text exposition format (version 0.0.4), and the request
 * counters behind its first family.
 *
 * Every response is counted by a filter (on both paths, so h2o's own refusals too) when it
 * starts, with its route label (router.c) and its status as sent, in the counters of the I/O
 * thread that serves it: each thread owns its counters and is their only writer (single-writer
 * counters, engine/stats.h), so counting costs a route lookup and a load and store, with no
 * lock and no atomic read-modify-write. The handler sums every thread's counters with relaxed
 * loads, and reads the writer's counters and the gauges through service_metrics_read. Only the
 * series that have counted something are written; a series appears at its first count.
 *
 * Not counted: what never becomes a response, and what h2o's HTTP/1 parser answers by itself
 * before a request exists (its fixed plain-text 400, written straight to the socket). The 408
 * of a request timeout, which the server writes straight to the socket as well, is counted
 * (route "other"). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <h2o/version.h>

#include "http/internal.h"
#include "store/store.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Room for everything but the request series, and for one request series. */
#define FIXED_MAX (16384 + WS_STATUS_COUNT_ * 96)
#define SERIES_MAX 160

/* ---- counting ---------------------------------------------------------------------------- */

static void on_setup_count(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot) {
    (void)self;
    int status = req->res.status;
    if (status >= HTTP_STATUS_FIRST && status < HTTP_STATUS_FIRST + HTTP_STATUS_SLOTS) {
        http_thread_stats *st = http_thread_of(req)->stats;
        stats_add(&st->responses[http_route_label(req)][status - HTTP_STATUS_FIRST], 1);
    }
    h2o_setup_next_ostream(req, slot);
}

void http_register_metrics_filter(h2o_pathconf_t *path) {
    h2o_filter_t *f = h2o_create_filter(path, sizeof(*f));
    f->on_setup_ostream = on_setup_count;
}

void http_count_raw_response(io_thread *t, int status) {
    WS_ASSERT(status >= HTTP_STATUS_FIRST && status < HTTP_STATUS_FIRST + HTTP_STATUS_SLOTS);
    stats_add(&t->stats->responses[0][status - HTTP_STATUS_FIRST], 1);
}

/* ---- rendering --------------------------------------------------------------------------- */

static void put(json_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends; the buffer is sized from what is written (overflow is a programmer error). */
static void put(json_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    WS_ASSERT(n >= 0 && (size_t)n < b->cap - b->len);
    b->len += (size_t)n;
}

static void family(json_buf *b, const char *name, const char *type, const char *help) {
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(json_buf *b, const char *name, const char *help, uint64_t v) {
    family(b, name, "gauge", help);
    put(b, "%s %" PRIu64 "\n", name, v);
}

/* ns as seconds in decimal, exactly: 250000 -> "0.00025", 1000000000 -> "1". */
static void seconds(char out[32], uint64_t ns) {
    int n = snprintf(out, 32, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
    while (n > 0 && out[n - 1] == '0') {
        out[--n] = '\0';
    }
    if (n > 0 && out[n - 1] == '.') {
        out[--n] = '\0';
    }
}

/* A histogram; in_seconds: its values are ns, written as seconds. */
static void histogram(json_buf *b, const char *name, const char *help,
                      const stats_histogram_view *h, bool in_seconds) {
    family(b, name, "histogram", help);
    char v[32];
    for (size_t i = 0; i < h->bounds->count; i++) {
        if (in_seconds) {
            seconds(v, h->bounds->le[i]);
        } else {
            snprintf(v, sizeof(v), "%" PRIu64, h->bounds->le[i]);
        }
        put(b, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, v, h->cumulative[i]);
    }
    uint64_t count = h->cumulative[h->bounds->count];
    put(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, count);
    if (in_seconds) {
        seconds(v, h->sum);
    } else {
        snprintf(v, sizeof(v), "%" PRIu64, h->sum);
    }
    put(b, "%s_sum %s\n%s_count %" PRIu64 "\n", name, v, name, count);
}

/* Every thread's request counters, summed into sums (HTTP_ROUTE_LABELS x HTTP_STATUS_SLOTS);
 * returns how many are not zero. */
static size_t sum_requests(const http_server *srv, uint64_t *sums) {
    size_t nonzero = 0;
    for (size_t l = 0; l < HTTP_ROUTE_LABELS; l++) {
        for (size_t s = 0; s < HTTP_STATUS_SLOTS; s++) {
            uint64_t v = 0;
            for (size_t t = 0; t < srv->cfg.io_threads; t++) {
                v += stats_get(&srv->threads[t].stats->responses[l][s]);
            }
            sums[l * HTTP_STATUS_SLOTS + s] = v;
            nonzero += v != 0;
        }
    }
    return nonzero;
}

static void requests(json_buf *b, const uint64_t *sums) {
    family(b, "wallet_http_requests_total", "counter",
           "HTTP responses sent, by route (a path of docs/api.md, or other) and status.");
    for (size_t l = 0; l < HTTP_ROUTE_LABELS; l++) {
        for (size_t s = 0; s < HTTP_STATUS_SLOTS; s++) {
            uint64_t v = sums[l * HTTP_STATUS_SLOTS + s];
            if (v != 0) {
                put(b, "wallet_http_requests_total{route=\"%s\",status=\"%zu\"} %" PRIu64 "\n",
                    http_route_labels[l], s + HTTP_STATUS_FIRST, v);
            }
        }
    }
}

/* The writer's families and the state's gauges. */
static void service_families(json_buf *b, const service_metrics *m) {
    family(b, "wallet_commands_total", "counter",
           "Commands (account creations, transfers, two-phase steps) decided by the writer, by "
           "outcome: ok, created, or the refusal's error code.");
    for (int i = 0; i < WS_STATUS_COUNT_; i++) {
        if (m->commands[i] != 0 || i == WS_OK) {
            put(b, "wallet_commands_total{outcome=\"%s\"} %" PRIu64 "\n",
                ws_status_code((ws_status)i), m->commands[i]);
        }
    }
    family(b, "wallet_command_replays_total", "counter",
           "Commands answered with the outcome recorded for an earlier request with the same "
           "transferID or Idempotency-Key (also in wallet_commands_total).");
    put(b, "wallet_command_replays_total %" PRIu64 "\n", m->replays);
    histogram(b, "wallet_batch_commands", "Commands per group commit (one synced log write).",
              &m->batch_commands, false);
    histogram(b, "wallet_commit_seconds",
              "Time of each group commit's synced log write (store_commit).", &m->commit_ns, true);
    gauge(b, "wallet_queue_depth", "Commands waiting in the queue for the writer.", m->queue_depth);
    gauge(b, "wallet_accounts", "Accounts committed.", m->accounts);
    gauge(b, "wallet_last_seq", "Seq of the newest committed event (0: none).", m->last_seq);
    gauge(b, "wallet_last_lsn", "Lsn of the newest committed log record (0: none).", m->last_lsn);
    gauge(b, "wallet_checkpoint_lag_records",
          "Committed log records past the newest flushed checkpoint (what a start after a "
          "crash replays).",
          m->checkpoint_lag);
    gauge(b, "wallet_pending_transfers_open", "Open pending (two-phase) transfers.",
          m->pending_open);
    gauge(b, "wallet_read_only",
          "1 once a commit or a checkpoint failed: writes are refused until restart.",
          m->read_only ? 1 : 0);
}

int http_metrics(http_server *srv, h2o_req_t *req, const ws_query *q) {
    (void)q;
    uint64_t *sums =
        h2o_mem_alloc_pool(&req->pool, sizeof(uint64_t) * HTTP_ROUTE_LABELS * HTTP_STATUS_SLOTS);
    size_t series = sum_requests(srv, sums);
    json_buf b = http_pool_buf(req, FIXED_MAX + series * SERIES_MAX);
    requests(&b, sums);
    /* While the state loads there is no writer yet: its families and the state's gauges
     * appear once the service is up. */
    if (http_attached(srv)) {
        service_metrics m;
        service_metrics_read(srv->svc, &m);
        service_families(&b, &m);
    }
    gauge(&b, "wallet_open_connections", "Open HTTP connections over all I/O threads.",
          atomic_load_explicit(&srv->open_connections, memory_order_relaxed));
    family(&b, "wallet_build_info", "gauge", "The build that serves; the value is always 1.");
    put(&b, "wallet_build_info{version=\"%s\",h2o=\"%s\",data_format=\"%d\"} 1\n", WS_VERSION,
        H2O_VERSION, STORE_FORMAT);
    http_send_typed(req, 200, CONTENT_TYPE, &b);
    return 0;
}
