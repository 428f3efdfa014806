/* GET /events: pages of the event log (all of it, or one account's), and with records=all
 * the log's records themselves, paged by lsn. Read on the loop thread from the store. */
#include <string.h>

#include "http/internal.h"

#define EVENTS_LIMIT_DEFAULT 100
#define EVENTS_LIMIT_MAX 1000

int http_store_failure(h2o_req_t *req, ws_status s) {
    return http_send_error(req, s == WS_CORRUPT ? WS_CORRUPT : WS_UNAVAILABLE, "%s",
                           ws_status_message(s));
}

ws_status http_render_event(void *ctx, const ws_event *e) {
    http_event_page *pg = ctx;
    if (pg->given++ > 0) {
        json_lit(pg->body, ",");
    }
    json_event(pg->body, e);
    pg->last = e->seq;
    return WS_OK;
}

int http_send_page(h2o_req_t *req, json_buf *body, bool more, uint64_t last) {
    json_lit(body, "],\"next\":");
    if (more) {
        json_u64(body, last);
    } else {
        json_lit(body, "null");
    }
    json_lit(body, "}");
    http_send_body(req, 200, body);
    return 0;
}

/* GET /events?records=all: the log's records, every kind, paged by lsn. */
typedef struct {
    json_buf *body;
    size_t limit;
    size_t given;
    uint64_t last_lsn;
    bool more;
} records_ctx;

static ws_status render_record(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq,
                               uint64_t timestamp_us) {
    records_ctx *rc = ctx;
    if (rc->given == rc->limit) {
        rc->more = true;
        return WS_NOT_FOUND; /* the page is full */
    }
    if (rc->given++ > 0) {
        json_lit(rc->body, ",");
    }
    json_record(rc->body, r, lsn, seq, timestamp_us);
    rc->last_lsn = lsn;
    return WS_OK;
}

static int records(http_server *srv, h2o_req_t *req, uint64_t after, uint64_t limit) {
    json_buf body = http_pool_buf(req, 64 + (size_t)limit * JSON_RECORD_MAX);
    records_ctx rc = {&body, (size_t)limit, 0, 0, false};
    json_lit(&body, "{\"records\":[");
    ws_status s =
        after == UINT64_MAX ? WS_OK : store_scan_log(srv->st, after + 1, render_record, &rc);
    if (s != WS_OK && s != WS_NOT_FOUND) {
        return http_store_failure(req, s);
    }
    return http_send_page(req, &body, rc.more, rc.last_lsn);
}

int http_events(http_server *srv, h2o_req_t *req, const ws_query *q) {
    static const char *const known[] = {"after", "limit", "accountID", "records"};
    uint64_t after;
    uint64_t limit;
    char id[WS_ID_LEN_MAX];
    uint8_t len;
    if (!http_only_known(req, q, known, 4) ||
        !http_get_number(req, q, "after", false, 0, UINT64_MAX, 0, &after) ||
        !http_get_number(req, q, "limit", false, 1, EVENTS_LIMIT_MAX, EVENTS_LIMIT_DEFAULT,
                         &limit) ||
        !http_get_id(req, q, "accountID", false, id, &len)) {
        return 0;
    }
    const ws_query_param *rec = ws_query_get(q, "records");
    if (rec) {
        if (!h2o_memis(rec->value, rec->value_len, H2O_STRLIT("all"))) {
            return http_send_error(req, WS_INVALID_PARAMETER,
                                   "records must be 'all' (every record of the log, by lsn)");
        }
        if (len > 0) {
            return http_send_error(req, WS_INVALID_PARAMETER,
                                   "records=all lists the whole log; it cannot be combined with "
                                   "accountID");
        }
        return records(srv, req, after, limit);
    }
    int64_t balance;
    ws_status s = len > 0 ? service_balance(http_reader(req), id, len, &balance) : WS_OK;
    if (s == WS_ACCOUNT_NOT_FOUND) {
        return http_send_error(req, s, "account '%.*s' does not exist", (int)len, id);
    }
    json_buf body = http_pool_buf(req, 64 + (size_t)limit * JSON_EVENT_MAX);
    http_event_page ec = {&body, 0, 0};
    bool more = false;
    json_lit(&body, "{\"events\":[");
    s = store_scan_events(srv->st, after, limit, id, len, http_render_event, &ec, &more);
    if (s != WS_OK) {
        return http_store_failure(req, s);
    }
    return http_send_page(req, &body, more, ec.last);
}
