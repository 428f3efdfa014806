/* An account's history: GET /accounts/{id}/events (a range of times or seqs, paged, in
 * either direction) and GET /accounts/{id}/balance?at= (its balance, available balance and
 * pending credits as of a time or a seq). Read on the loop thread from the store's indexes:
 * the per-account index of the newest checkpoint and the log after it. */
#include <string.h>

#include "http/internal.h"

#define HISTORY_LIMIT_DEFAULT 100
#define HISTORY_LIMIT_MAX 1000
#define BODY_SMALL_MAX 1024

static const char TIME_RULE[] =
    "must be an RFC 3339 time such as 2026-11-30T23:59:59Z or 2026-12-01T00:59:59.5+01:00";

/* Reads the time parameter name, if given, as microseconds since the epoch rounded up (the
 * first microsecond at or after it). */
static bool get_time(h2o_req_t *req, const ws_query *q, const char *name, bool *given,
                     int64_t *ceil_us) {
    const ws_query_param *p = ws_query_get(q, name);
    *given = p != NULL;
    if (!p) {
        return true;
    }
    bool exact;
    if (ws_parse_time(p->value, p->value_len, ceil_us, &exact) != WS_OK) {
        http_send_error(req, WS_INVALID_PARAMETER, "%s %s", name, TIME_RULE);
        return false;
    }
    *ceil_us += !exact;
    return true;
}

/* The first seq of an event later than t_us (so 1 for a time before the log began). */
static ws_status seq_after(http_server *srv, int64_t t_us, uint64_t *seq) {
    if (t_us < 0) {
        *seq = 1;
        return WS_OK;
    }
    return store_seq_after_time(srv->st, (uint64_t)t_us, seq);
}

static bool account_exists(h2o_req_t *req, const char *id, uint8_t len) {
    service_account a;
    if (service_account_get(http_reader(req), id, len, &a) != WS_OK) {
        http_send_error(req, WS_ACCOUNT_NOT_FOUND, "account '%.*s' does not exist", (int)len, id);
        return false;
    }
    return true;
}

int http_account_events(http_server *srv, h2o_req_t *req, const ws_query *q, const char *id,
                        uint8_t len) {
    static const char *const known[] = {"from", "until", "after", "limit", "reverse"};
    uint64_t after;
    uint64_t limit;
    bool has_from;
    bool has_until;
    int64_t from_us;
    int64_t until_us;
    if (!http_only_known(req, q, known, 5) ||
        !http_get_number(req, q, "after", false, 0, UINT64_MAX, 0, &after) ||
        !http_get_number(req, q, "limit", false, 1, HISTORY_LIMIT_MAX, HISTORY_LIMIT_DEFAULT,
                         &limit) ||
        !get_time(req, q, "from", &has_from, &from_us) ||
        !get_time(req, q, "until", &has_until, &until_us)) {
        return 0;
    }
    const ws_query_param *rev = ws_query_get(q, "reverse");
    bool reverse = rev && h2o_memis(rev->value, rev->value_len, H2O_STRLIT("true"));
    if (rev && !reverse && !h2o_memis(rev->value, rev->value_len, H2O_STRLIT("false"))) {
        return http_send_error(req, WS_INVALID_PARAMETER, "reverse must be 'true' or 'false'");
    }
    if (has_from && has_until && from_us > until_us) {
        return http_send_error(req, WS_INVALID_PARAMETER, "from must not be later than until");
    }
    if (!account_exists(req, id, len)) {
        return 0;
    }
    /* from is inclusive, until exclusive; after is a cursor: past it in the page's order */
    store_range r = {.lo = 1, .hi = UINT64_MAX, .limit = (size_t)limit, .reverse = reverse};
    ws_status s = has_from ? seq_after(srv, from_us - 1, &r.lo) : WS_OK;
    if (s == WS_OK && has_until) {
        s = seq_after(srv, until_us - 1, &r.hi);
    }
    if (s != WS_OK) {
        return http_store_failure(req, s);
    }
    bool has_after = ws_query_get(q, "after") != NULL;
    if (has_after && !reverse && after >= r.lo) {
        r.lo = after == UINT64_MAX ? UINT64_MAX : after + 1;
    } else if (has_after && reverse && after < r.hi) {
        r.hi = after;
    }
    json_buf body = http_pool_buf(req, 64 + (size_t)limit * JSON_EVENT_MAX);
    http_event_page hc = {&body, 0, 0};
    bool more = false;
    json_lit(&body, "{\"events\":[");
    s = store_scan_account(srv->st, id, len, &r, http_render_event, &hc, &more);
    if (s != WS_OK) {
        return http_store_failure(req, s);
    }
    return http_send_page(req, &body, more, hc.last);
}

int http_account_balance(http_server *srv, h2o_req_t *req, const ws_query *q, const char *id,
                         uint8_t len) {
    static const char *const known[] = {"at"};
    if (!http_only_known(req, q, known, 1)) {
        return 0;
    }
    const ws_query_param *at = ws_query_get(q, "at");
    if (!at) {
        return http_send_error(req, WS_MISSING_PARAMETER,
                               "at is required: an RFC 3339 time or a seq");
    }
    uint64_t below = 0; /* the events at or before `at` are those below this seq */
    uint64_t seq;
    int64_t t_us;
    bool exact;
    ws_status s = WS_OK;
    if (ws_parse_amount(at->value, at->value_len, 0, WS_AMOUNT_MAX, &seq) == WS_OK) {
        below = seq + 1;
    } else if (ws_parse_time(at->value, at->value_len, &t_us, &exact) == WS_OK) {
        s = t_us < 0 ? (below = 1, WS_OK) : store_seq_after_time(srv->st, (uint64_t)t_us, &below);
    } else {
        return http_send_error(req, WS_INVALID_PARAMETER,
                               "at must be a seq (digits only) or an RFC 3339 time such as "
                               "2026-11-30T23:59:59Z");
    }
    if (s != WS_OK) {
        return http_store_failure(req, s);
    }
    if (!account_exists(req, id, len)) {
        return 0;
    }
    ws_event last;
    ws_event two_phase;
    bool found = false;
    bool found_two_phase = false;
    s = store_account_last(srv->st, id, len, below, false, &last, &found);
    if (s == WS_OK && found) {
        s = store_account_last(srv->st, id, len, below, true, &two_phase, &found_two_phase);
    }
    if (s != WS_OK) {
        return http_store_failure(req, s);
    }
    if (!found) {
        return http_send_error(req, WS_ACCOUNT_NOT_FOUND,
                               "account '%.*s' did not exist yet at %.*s", (int)len, id,
                               http_shown_len(at->value_len), at->value);
    }
    /* Plain transfers move the balance but not the pending totals: those are as of the
     * account's last two-phase event. */
    int64_t pending_debits = found_two_phase ? two_phase.balance - two_phase.available : 0;
    uint64_t pending_credits = found_two_phase ? two_phase.pending_credits : 0;
    json_buf body = http_pool_buf(req, BODY_SMALL_MAX);
    json_lit(&body, "{\"accountID\":");
    json_str(&body, id, len);
    json_lit(&body, ",\"balance\":");
    json_i64(&body, last.balance);
    json_lit(&body, ",\"available\":");
    json_i64(&body, last.balance - pending_debits);
    json_lit(&body, ",\"pendingCredits\":");
    json_u64(&body, pending_credits);
    json_lit(&body, ",\"seq\":");
    json_u64(&body, last.seq);
    char ts[WS_TIMESTAMP_LEN + 1];
    ws_format_timestamp(last.timestamp_us, ts);
    json_lit(&body, ",\"timestamp\":\"");
    json_lit(&body, ts);
    json_lit(&body, "\"}");
    http_send_body(req, 200, &body);
    return 0;
}
