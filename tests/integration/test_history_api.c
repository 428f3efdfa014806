/* An account's history through the real binary: GET /accounts/{id}/events (a range of times
 * and a seq cursor, paged oldest first and newest first) and GET /accounts/{id}/balance?at=
 * (balance, available and pendingCredits as of a seq or a time). Both read the per-account
 * indexes of the newest checkpoint and the log after it, so every check runs with the events
 * in the log only, in the index only, and on both sides of the boundary: a checkpoint is
 * written at a clean stop, --checkpoint-interval 3600000 keeps the periodic ones away, and
 * one test waits for them instead. What an answer must be is computed here from the
 * account's events in the whole log of /events (a scan of the log itself, not of the index),
 * whose figures the oracle (ws_check_state) replays through the state machine. Exact codes,
 * statuses and bodies; every loop is bounded. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"
#include "harness.h"

#define API "/api/1.0/wallet/"
#define JSON "application/json"
#define PAGES_MAX 5000 /* the most pages one walk may take */
#define EXPIRY_WAIT_MS 5000

/* Checkpoints only at a clean stop. */
static const char *const no_checkpoints[] = {"--checkpoint-interval", "3600000", NULL};

static ws_response R = WS_RESPONSE_INIT;

/* What the oracle is told: the accounts made and every acknowledgement. */
#define ACCOUNTS_MAX 8
static const char *acct_ids[ACCOUNTS_MAX];
static uint64_t acct_starts[ACCOUNTS_MAX];
static size_t acct_count;
static ws_transfer_list acked;

#define BODY (R.body != NULL ? R.body : "(none)")

static void teardown(void) {
    ws_client_free(cli);
    cli = NULL;
    ws_response_free(&R);
    ws_transfer_list_free(&acked);
    acct_count = 0;
    ws_cleanup_all();
}

TestSuite(history_api, .fini = teardown, .timeout = 60);

static void expect_error(const char *what, long status, const char *code) {
    cr_assert_eq(R.status, status, "%s: expected %ld %s, got %ld %s", what, status, code, R.status,
                 BODY);
    cr_assert(ws_json_is_error(BODY, code), "%s: expected %s, got %s", what, code, BODY);
    cr_assert_str_eq(R.content_type, JSON, "%s: Content-Type", what);
}

/* ---- writes, recorded for the oracle ----------------------------------------------------- */

static void make_account(const char *id, uint64_t start_amount) {
    char b[160];
    snprintf(b, sizeof(b), "{\"accountID\":\"%s\",\"startAmount\":%" PRIu64 "}", id, start_amount);
    ws_post(cli, &R, API "accounts", JSON, b, strlen(b), NULL);
    cr_assert_eq(R.status, 201, "create %s: %ld %s", id, R.status, BODY);
    cr_assert(acct_count < ACCOUNTS_MAX);
    acct_ids[acct_count] = id;
    acct_starts[acct_count++] = start_amount;
}

/* Records the 200 answer in R to a transfer or a two-phase step as acknowledged. */
static void ack(ws_ack_kind kind, uint32_t timeout_s, bool amount_given) {
    cr_assert_eq(R.status, 200, "%s", BODY);
    ws_transfer_ok t;
    memset(&t, 0, sizeof(t));
    uint64_t avail = 0;
    bool ok = ws_json_str(BODY, "transactionID", t.txn, sizeof(t.txn)) == 1 &&
              ws_json_str(BODY, "fromAccount", t.from, sizeof(t.from)) == 1 &&
              ws_json_str(BODY, "toAccount", t.to, sizeof(t.to)) == 1 &&
              ws_json_u64(BODY, "amount", &t.amount) &&
              ws_json_u64(BODY, "fromBalance", &t.from_balance) &&
              ws_json_u64(BODY, "toBalance", &t.to_balance);
    if (kind != WS_ACK_TRANSFER) {
        ok = ok && ws_json_u64(BODY, "fromAvailable", &avail) &&
             ws_json_u64(BODY, "toPendingCredits", &t.to_pending_credits) &&
             (kind == WS_ACK_PENDING ||
              ws_json_str(BODY, "pendingID", t.pending_id, sizeof(t.pending_id)) == 1);
    }
    cr_assert(ok, "not an acknowledgement: %s", BODY);
    t.kind = kind;
    t.explicit_id = true;
    t.timeout_s = timeout_s;
    t.amount_given = amount_given;
    t.from_available = (int64_t)avail;
    snprintf(t.body, sizeof(t.body), "%s", BODY);
    cr_assert(ws_transfer_list_add(&acked, &t));
}

static void post_transfer(const char *body) {
    const char *b = dq(body);
    ws_post(cli, &R, API "transfers", JSON, b, strlen(b), NULL);
}

static void transfer(const char *id, const char *from, const char *to, uint64_t amount) {
    char b[256];
    snprintf(b, sizeof(b),
             "{'transferID':'%s','fromAccount':'%s','toAccount':'%s','amount':%" PRIu64 "}", id,
             from, to, amount);
    post_transfer(b);
    ack(WS_ACK_TRANSFER, 0, false);
}

static void pending(const char *id, const char *from, const char *to, uint64_t amount,
                    uint32_t timeout_s) {
    char b[256];
    char tail[48] = "";
    if (timeout_s != 0) {
        snprintf(tail, sizeof(tail), ",'timeoutSeconds':%u", (unsigned)timeout_s);
    }
    snprintf(b, sizeof(b),
             "{'transferID':'%s','fromAccount':'%s','toAccount':'%s','amount':%" PRIu64
             ",'pending':true%s}",
             id, from, to, amount, tail);
    post_transfer(b);
    ack(WS_ACK_PENDING, timeout_s, false);
}

/* amount 0: all of it. */
static void post_pending(const char *id, const char *pending_id, uint64_t amount) {
    char b[256];
    char tail[48] = "";
    if (amount != 0) {
        snprintf(tail, sizeof(tail), ",'amount':%" PRIu64, amount);
    }
    snprintf(b, sizeof(b), "{'transferID':'%s','postPendingID':'%s'%s}", id, pending_id, tail);
    post_transfer(b);
    ack(WS_ACK_POST, 0, amount != 0);
}

static void void_pending(const char *id, const char *pending_id) {
    char b[256];
    snprintf(b, sizeof(b), "{'transferID':'%s','voidPendingID':'%s'}", id, pending_id);
    post_transfer(b);
    ack(WS_ACK_VOID, 0, false);
}

/* The oracle: the log replays to every figure, holds exactly what was acknowledged (and the
 * writer's expiries), and the history routes agree with it (see ws_check_state). */
static void check_oracle(const char *when) {
    ws_expect e = {.accounts = acct_ids,
                   .start_amounts = acct_starts,
                   .account_count = acct_count,
                   .acked = acked.items,
                   .acked_count = acked.count};
    ws_state st;
    char err[1024];
    cr_assert(ws_check_state(cli, &e, &st, err, sizeof(err)), "%s: %s", when, err);
    cr_assert_eq(st.transfers, acked.count, "%s: %zu transfers and steps in the log, %zu acked",
                 when, st.transfers, acked.count);
    ws_state_free(&st);
}

/* ---- events and times -------------------------------------------------------------------- */

static void expect_events(const char *what, const ws_event_list *got, const ws_event_list *want) {
    for (size_t i = 0; i < got->count && i < want->count; i++) {
        cr_assert(ws_event_equal(&got->items[i], &want->items[i]),
                  "%s: entry %zu is seq %" PRIu64 " %s, expected seq %" PRIu64 " %s", what, i,
                  got->items[i].seq, got->items[i].type, want->items[i].seq, want->items[i].type);
    }
    cr_assert_eq(got->count, want->count, "%s: %zu events, expected %zu", what, got->count,
                 want->count);
}

/* The account's events (or all of them, acct NULL), the reference: from the whole log of
 * /events, which scans the log itself, not the per-account index the routes read; the
 * account's must equal /events?accountID= too. */
static void reference(const char *acct, ws_event_list *out) {
    memset(out, 0, sizeof(*out));
    cr_assert(ws_events_fetch_all(cli, NULL, out), "/events");
    if (acct != NULL) {
        size_t n = 0;
        for (size_t i = 0; i < out->count; i++) {
            if (strcmp(out->items[i].account, acct) == 0) {
                out->items[n++] = out->items[i];
            }
        }
        out->count = n;
        ws_event_list filtered = {0};
        cr_assert(ws_events_fetch_all(cli, acct, &filtered), "/events?accountID=%s", acct);
        expect_events("/events?accountID= against /events", &filtered, out);
        ws_event_list_free(&filtered);
    }
    cr_assert_gt(out->count, 0);
}

static uint64_t last_seq(void) {
    ws_event_list all;
    reference(NULL, &all);
    uint64_t last = all.items[all.count - 1].seq;
    ws_event_list_free(&all);
    return last;
}

/* An event's timestamp in nanoseconds since the epoch. */
static int64_t event_ns(const ws_event_rec *e) {
    uint64_t us;
    cr_assert(ws_timestamp_us(e->timestamp, &us), "timestamp %s", e->timestamp);
    return (int64_t)us * 1000;
}

static int64_t clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How an instant is written in a query: the styles RFC 3339 allows for one instant. */
typedef enum {
    TIME_Z9,         /* 2026-12-03T08:52:39.246178000Z */
    TIME_PLUS1,      /* 2026-12-03T09:52:39.246178000+01:00 ('+' sent as is: a literal plus) */
    TIME_MINUS0530,  /* 2026-12-03T03:22:39.246178-05:30, the fewest fraction digits */
    TIME_LOWER,      /* 2026-12-03t08:52:39.246178000z */
    TIME_PCT_PLUS14, /* 2026-12-03T22:52:39.246178000%2B14:00 (a percent-encoded plus) */
    TIME_STYLES,
} time_style;

/* The instant ns (since the epoch) in style into out. */
static void rfc3339(int64_t ns, time_style style, char *out, size_t cap) {
    static const int offsets_min[TIME_STYLES] = {0, 60, -330, 0, 840};
    int offset = offsets_min[style];
    int64_t local = ns + (int64_t)offset * 60 * 1000000000;
    int64_t secs = local / 1000000000;
    int64_t frac = local % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    cr_assert_not_null(gmtime_r(&t, &tm));
    char fraction[32];
    snprintf(fraction, sizeof(fraction), ".%09" PRId64, frac);
    if (style == TIME_MINUS0530) { /* the fewest digits that hold it, none for a whole second */
        size_t len = strlen(fraction);
        while (len > 1 && fraction[len - 1] == '0') {
            fraction[--len] = '\0';
        }
        if (len == 1) {
            fraction[0] = '\0';
        }
    }
    char zone[16];
    if (offset == 0) {
        snprintf(zone, sizeof(zone), "%s", style == TIME_LOWER ? "z" : "Z");
    } else {
        int a = offset < 0 ? -offset : offset;
        snprintf(zone, sizeof(zone), "%s%02d:%02d",
                 offset < 0                 ? "-"
                 : style == TIME_PCT_PLUS14 ? "%2B"
                                            : "+",
                 a / 60, a % 60);
    }
    snprintf(out, cap, "%04d-%02d-%02d%c%02d:%02d:%02d%s%s", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, style == TIME_LOWER ? 't' : 'T', tm.tm_hour, tm.tm_min, tm.tm_sec,
             fraction, zone);
}

/* ---- pages ------------------------------------------------------------------------------- */

/* GET accounts/ACCT/events?QUERY: one 200 page, appended to out; returns its size. */
static size_t history_page(const char *acct, const char *query, ws_event_list *out) {
    ws_get(cli, &R, API "accounts/%s/events%s%s", acct, query[0] != '\0' ? "?" : "", query);
    cr_assert_eq(R.status, 200, "accounts/%s/events?%s: %ld %s", acct, query, R.status, BODY);
    cr_assert_str_eq(R.content_type, JSON);
    size_t before = out->count;
    cr_assert(ws_events_parse(BODY, out), "accounts/%s/events?%s: malformed %s", acct, query, BODY);
    return out->count - before;
}

/* Every page of accounts/ACCT/events?BASE with page size limit (0: the default, 100) in one
 * direction, the first page after `after` if has_after, following next; into out. Each
 * page: at most limit events, in the page's order and past the one before; when next is a
 * number the page is full and next its last seq, and more follow; next null ends it. */
static void history_walk(const char *acct, const char *base, unsigned limit, bool reverse,
                         bool has_after, uint64_t after, ws_event_list *out) {
    memset(out, 0, sizeof(*out));
    unsigned page_max = limit != 0 ? limit : 100;
    for (int n = 0; n < PAGES_MAX; n++) {
        char q[768];
        int len = snprintf(q, sizeof(q), "%s", base);
        if (limit != 0) {
            len += snprintf(q + len, sizeof(q) - (size_t)len, "%slimit=%u", len ? "&" : "", limit);
        }
        if (reverse) {
            len += snprintf(q + len, sizeof(q) - (size_t)len, "%sreverse=true", len ? "&" : "");
        }
        if (has_after) {
            len += snprintf(q + len, sizeof(q) - (size_t)len, "%safter=%" PRIu64, len ? "&" : "",
                            after);
        }
        cr_assert_lt((size_t)len, sizeof(q));
        size_t at = out->count;
        size_t got = history_page(acct, q, out);
        cr_assert_leq(got, page_max, "%s?%s: %zu events in a page of %u", acct, q, got, page_max);
        cr_assert(n == 0 || got > 0, "%s?%s: an empty page after a next", acct, q);
        for (size_t i = at; i < out->count; i++) {
            cr_assert(i == 0 || (reverse ? out->items[i].seq < out->items[i - 1].seq
                                         : out->items[i].seq > out->items[i - 1].seq),
                      "%s?%s: seq %" PRIu64 " out of order", acct, q, out->items[i].seq);
        }
        if (!out->has_next) {
            return;
        }
        cr_assert_eq(got, page_max, "%s?%s: next %" PRIu64 " on a page of %zu", acct, q, out->next,
                     got);
        cr_assert_eq(out->next, out->items[out->count - 1].seq, "%s?%s: next is not the last seq",
                     acct, q);
        has_after = true;
        after = out->next;
        out->has_next = false;
    }
    cr_assert_fail("%s?%s: more than %d pages", acct, base, PAGES_MAX);
}

/* A range of the events: from <= timestamp < until (ns; INT64_MIN / INT64_MAX: no bound),
 * and past the cursor after (seq > after, or reverse seq < after) if has_after. */
typedef struct {
    int64_t from_ns;
    int64_t until_ns;
    bool has_after;
    uint64_t after;
    bool reverse;
} range;

/* The events of ref in r, in r's order, into out. */
static void select_events(const ws_event_list *ref, const range *r, ws_event_list *out) {
    memset(out, 0, sizeof(*out));
    out->items = calloc(ref->count + 1, sizeof(ws_event_rec));
    cr_assert_not_null(out->items);
    out->cap = ref->count + 1;
    for (size_t k = 0; k < ref->count; k++) {
        const ws_event_rec *e = &ref->items[r->reverse ? ref->count - 1 - k : k];
        int64_t t = event_ns(e);
        bool cursor = !r->has_after || (r->reverse ? e->seq < r->after : e->seq > r->after);
        if (t >= r->from_ns && t < r->until_ns && cursor) {
            out->items[out->count++] = *e;
        }
    }
}

/* Walks acct's history in both directions with limits 1, 2, 3, the default and 1000, and
 * with a cursor at each of its events and around them: each walk gives exactly the events
 * of the reference, or their reverse. */
static void check_paging(const char *acct, const char *when) {
    ws_event_list ref, want, got;
    reference(acct, &ref);
    static const unsigned limits[] = {1, 2, 3, 0, 1000};
    char what[160];
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        for (int reverse = 0; reverse < 2; reverse++) {
            range r = {INT64_MIN, INT64_MAX, false, 0, reverse};
            select_events(&ref, &r, &want);
            history_walk(acct, reverse ? "" : (i % 2 ? "reverse=false" : ""), limits[i], reverse,
                         false, 0, &got);
            snprintf(what, sizeof(what), "%s: %s %s limit %u", when, acct,
                     reverse ? "newest first" : "oldest first", limits[i]);
            expect_events(what, &got, &want);
            ws_event_list_free(&got);
            ws_event_list_free(&want);
        }
    }
    /* Cursors: each event's seq, the seq before it, none yet (0) and past the end. */
    for (size_t k = 0; k <= ref.count + 1; k++) {
        uint64_t cursors[2] = {k < ref.count    ? ref.items[k].seq
                               : k == ref.count ? 0
                                                : UINT64_MAX,
                               k < ref.count ? ref.items[k].seq - 1 : ref.items[0].seq + 1};
        for (int c = 0; c < 2; c++) {
            for (int reverse = 0; reverse < 2; reverse++) {
                range r = {INT64_MIN, INT64_MAX, true, cursors[c], reverse};
                select_events(&ref, &r, &want);
                history_walk(acct, "", 3, reverse, true, cursors[c], &got);
                snprintf(what, sizeof(what), "%s: %s %s after %" PRIu64, when, acct,
                         reverse ? "newest first" : "oldest first", cursors[c]);
                expect_events(what, &got, &want);
                ws_event_list_free(&got);
                ws_event_list_free(&want);
            }
        }
    }
    ws_event_list_free(&ref);
}

/* ---- what balance?at= must answer -------------------------------------------------------- */

/* The expected answer to balance?at= for acct as of ref[idx] (idx < 0: before it existed):
 * that event's balance, seq and timestamp, and the pending totals of the account's last
 * two-phase event at or before it (none: 0), PD = its balance - its available. */
static void expect_balance(const char *what, const char *acct, const ws_event_list *ref, long idx) {
    if (idx < 0) {
        expect_error(what, 404, "account_not_found");
        char msg[256];
        ws_json_error_message(BODY, msg, sizeof(msg));
        cr_assert(strstr(msg, "did not exist yet") != NULL, "%s: message %s", what, msg);
        return;
    }
    const ws_event_rec *e = &ref->items[idx];
    uint64_t pd = 0, pc = 0;
    for (long k = idx; k >= 0; k--) {
        const ws_event_rec *t = &ref->items[k];
        if (t->two_phase) {
            cr_assert_geq((int64_t)t->balance, t->available);
            pd = (uint64_t)((int64_t)t->balance - t->available);
            pc = t->pending_credits;
            break;
        }
    }
    char want[512];
    snprintf(want, sizeof(want),
             "{\"accountID\":\"%s\",\"balance\":%" PRIu64 ",\"available\":%" PRId64
             ",\"pendingCredits\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"timestamp\":\"%s\"}",
             acct, e->balance, (int64_t)e->balance - (int64_t)pd, pc, e->seq, e->timestamp);
    cr_assert_eq(R.status, 200, "%s: %ld %s, expected %s", what, R.status, BODY, want);
    cr_assert_str_eq(BODY, want, "%s: got %s, expected %s", what, BODY, want);
    cr_assert_str_eq(R.content_type, JSON);
}

/* The index of acct's last event in ref with seq <= at_seq, or -1. */
static long last_at_seq(const ws_event_list *ref, uint64_t at_seq) {
    long idx = -1;
    for (size_t k = 0; k < ref->count && ref->items[k].seq <= at_seq; k++) {
        idx = (long)k;
    }
    return idx;
}

/* The index of acct's last event in ref with a timestamp <= at_ns, or -1. */
static long last_at_time(const ws_event_list *ref, int64_t at_ns) {
    long idx = -1;
    for (size_t k = 0; k < ref->count && event_ns(&ref->items[k]) <= at_ns; k++) {
        idx = (long)k;
    }
    return idx;
}

/* balance?at= for acct at every seq from 0 to past the end of the log; at each event's own
 * timestamp (of any account), a microsecond and a nanosecond before it and a nanosecond
 * after it, in the styles of rfc3339; far in the past and far in the future, where the
 * figures are those of GET /accounts/{id}. */
static void check_balances(const char *acct, const char *when) {
    ws_event_list ref, all;
    reference(acct, &ref);
    reference(NULL, &all);
    uint64_t end = all.items[all.count - 1].seq;
    char what[192];
    for (uint64_t s = 0; s <= end + 2; s++) {
        ws_get(cli, &R, API "accounts/%s/balance?at=%" PRIu64, acct, s);
        snprintf(what, sizeof(what), "%s: %s at seq %" PRIu64, when, acct, s);
        expect_balance(what, acct, &ref, last_at_seq(&ref, s));
    }
    ws_get(cli, &R, API "accounts/%s/balance?at=%s", acct, "000");
    expect_balance("at=000", acct, &ref, -1);
    ws_get(cli, &R, API "accounts/%s/balance?at=9223372036854775807", acct);
    expect_balance("at the largest seq", acct, &ref, (long)ref.count - 1);
    for (size_t k = 0; k < all.count; k++) {
        const ws_event_rec *e = &all.items[k];
        if (k > 0 && strcmp(e->timestamp, all.items[k - 1].timestamp) == 0) {
            continue;
        }
        ws_get(cli, &R, API "accounts/%s/balance?at=%s", acct, e->timestamp);
        snprintf(what, sizeof(what), "%s: %s at %s", when, acct, e->timestamp);
        expect_balance(what, acct, &ref, last_at_time(&ref, event_ns(e)));
        /* A microsecond and a nanosecond before it, a nanosecond after (rounded down). */
        static const int64_t deltas_ns[] = {-1000, -1, 1};
        for (size_t d = 0; d < 3; d++) {
            char t[64];
            int64_t at = event_ns(e) + deltas_ns[d];
            rfc3339(at, (time_style)((k + d) % TIME_STYLES), t, sizeof(t));
            ws_get(cli, &R, API "accounts/%s/balance?at=%s", acct, t);
            snprintf(what, sizeof(what), "%s: %s at %s", when, acct, t);
            expect_balance(what, acct, &ref, last_at_time(&ref, at));
        }
    }
    ws_get(cli, &R, API "accounts/%s/balance?at=1970-01-01T00:00:00Z", acct);
    expect_balance("at the epoch", acct, &ref, -1);
    ws_get(cli, &R, API "accounts/%s/balance?at=0000-01-01T00:00:00Z", acct);
    expect_balance("at year 0", acct, &ref, -1);
    ws_get(cli, &R, API "accounts/%s/balance?at=9999-12-31T23:59:59.999999999Z", acct);
    expect_balance("at the far future", acct, &ref, (long)ref.count - 1);
    char far[512];
    snprintf(far, sizeof(far), "%s", BODY);
    /* The newest figures are the account's own. */
    ws_get(cli, &R, API "accounts/%s", acct);
    cr_assert_eq(R.status, 200, "%s", BODY);
    const char *figures = strstr(far, ",\"balance\":");
    const char *seq = strstr(far, ",\"seq\":");
    cr_assert(figures != NULL && seq != NULL);
    cr_assert(strncmp(BODY + strlen("{\"accountID\":\"") + strlen(acct) + 1, figures,
                      (size_t)(seq - figures)) == 0,
              "%s: GET accounts/%s %s, balance at the far future %s", when, acct, BODY, far);
    ws_event_list_free(&ref);
    ws_event_list_free(&all);
}

/* ---- the routes and their refusals ------------------------------------------------------- */

Test(history_api, routes_answers_and_refusals) {
    start(NULL);
    make_account("a", 100);
    make_account("b", 0);
    transfer("t1", "a", "b", 30);

    /* Without parameters, the answer is that of /events?accountID=a, byte for byte. */
    ws_get(cli, &R, API "events?accountID=a");
    cr_assert_eq(R.status, 200);
    char events_a[4096];
    snprintf(events_a, sizeof(events_a), "%s", BODY);
    ws_get(cli, &R, API "accounts/a/events");
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert_str_eq(BODY, events_a);
    cr_assert_str_eq(R.content_type, JSON);
    ws_event_list a;
    reference("a", &a);
    cr_assert_eq(a.count, 2);
    /* One page each way: the same objects, next at the page's last. */
    const char *first = events_a + strlen("{\"events\":[");
    const char *second = strstr(events_a, "},{") + 2;
    const char *tail = strstr(events_a, "],\"next\":");
    char want[1024];
    ws_get(cli, &R, API "accounts/a/events?limit=1");
    snprintf(want, sizeof(want), "{\"events\":[%.*s],\"next\":%" PRIu64 "}",
             (int)(second - 1 - first), first, a.items[0].seq);
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert_str_eq(BODY, want);
    ws_get(cli, &R, API "accounts/a/events?reverse=true&limit=1");
    snprintf(want, sizeof(want), "{\"events\":[%.*s],\"next\":%" PRIu64 "}", (int)(tail - second),
             second, a.items[1].seq);
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert_str_eq(BODY, want);
    ws_get(cli, &R, API "accounts/a/events?reverse=true&limit=1&after=%" PRIu64, a.items[1].seq);
    snprintf(want, sizeof(want), "{\"events\":[%.*s],\"next\":null}", (int)(second - 1 - first),
             first);
    cr_assert_str_eq(BODY, want);

    ws_get(cli, &R, API "accounts/a/balance?at=%" PRIu64, a.items[1].seq);
    snprintf(want, sizeof(want),
             "{\"accountID\":\"a\",\"balance\":70,\"available\":70,\"pendingCredits\":0,"
             "\"seq\":%" PRIu64 ",\"timestamp\":\"%s\"}",
             a.items[1].seq, a.items[1].timestamp);
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert_str_eq(BODY, want);
    cr_assert_str_eq(R.content_type, JSON);
    ws_get(cli, &R, API "accounts/b/balance?at=1");
    expect_error("b at seq 1", 404, "account_not_found");
    cr_assert_str_eq(BODY, "{\"error\":{\"code\":\"account_not_found\",\"message\":\"account 'b' "
                           "did not exist yet at 1\"}}");
    ws_event_list_free(&a);

    static const struct {
        const char *path;
        long status;
        const char *code;
    } refusals[] = {
        /* events */
        {"accounts/nobody/events", 404, "account_not_found"},
        {"accounts/nobody/events?from=2026-01-01T00:00:00Z&reverse=true", 404, "account_not_found"},
        {"accounts/bad!id/events", 400, "invalid_parameter"},
        {"accounts//events", 400, "invalid_parameter"},
        {"accounts/iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii/events", 400,
         "invalid_parameter"}, /* 65 */
        {"accounts/a/other", 404, "not_found"},
        {"accounts/a/events/x", 404, "not_found"},
        {"accounts/a/events/", 404, "not_found"},
        {"accounts/a/balances", 404, "not_found"},
        {"accounts/a/events?from=2026-11-30", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-11-30T23:59:59", 400, "invalid_parameter"}, /* no zone */
        {"accounts/a/events?from=2026-11-30%2023:59:59Z", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-13-01T00:00:00Z", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-02-29T00:00:00Z", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-11-31T00:00:00Z", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-11-30T24:00:00Z", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-11-30T23:60:00Z", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-11-30T23:59:59.Z", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-11-30T23:59:59.1234567890Z", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-11-30T23:59:59+1:00", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-11-30T23:59:59+24:00", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-11-30T23:59:59+0100", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-11-30T23:59:59ZZ", 400, "invalid_parameter"},
        {"accounts/a/events?from=", 400, "invalid_parameter"},
        {"accounts/a/events?from=1764547199", 400, "invalid_parameter"},
        {"accounts/a/events?until=yesterday", 400, "invalid_parameter"},
        {"accounts/a/events?until=2026-11-30T23:59:59.5", 400, "invalid_parameter"},
        {"accounts/a/events?reverse=TRUE", 400, "invalid_parameter"},
        {"accounts/a/events?reverse=1", 400, "invalid_parameter"},
        {"accounts/a/events?reverse=", 400, "invalid_parameter"},
        {"accounts/a/events?reverse=yes", 400, "invalid_parameter"},
        {"accounts/a/events?accountID=a", 400, "invalid_parameter"},
        {"accounts/a/events?at=1", 400, "invalid_parameter"},
        {"accounts/a/events?records=all", 400, "invalid_parameter"},
        {"accounts/a/events?from=2026-12-01T00:00:00.000001Z&until=2026-12-01T00:00:00Z", 400,
         "invalid_parameter"},
        {"accounts/a/events?from=2026-12-01T00:00:00Z&until=2026-11-30T23:00:00+02:00", 400,
         "invalid_parameter"},
        {"accounts/a/events?limit=0", 400, "invalid_parameter"},
        {"accounts/a/events?limit=1001", 400, "invalid_parameter"},
        {"accounts/a/events?limit=-1", 400, "invalid_parameter"},
        {"accounts/a/events?limit=", 400, "invalid_parameter"},
        {"accounts/a/events?limit=ten", 400, "invalid_parameter"},
        {"accounts/a/events?limit=1&limit=2", 400, "invalid_parameter"},
        {"accounts/a/events?after=-1", 400, "invalid_parameter"},
        {"accounts/a/events?after=", 400, "invalid_parameter"},
        {"accounts/a/events?after=1.5", 400, "invalid_parameter"},
        {"accounts/a/events?after=18446744073709551616", 400, "invalid_parameter"},
        {"accounts/a/events?after", 400, "invalid_parameter"},
        /* balance */
        {"accounts/a/balance", 400, "missing_parameter"},
        {"accounts/a/balance?at=", 400, "invalid_parameter"},
        {"accounts/a/balance?at=abc", 400, "invalid_parameter"},
        {"accounts/a/balance?at=-1", 400, "invalid_parameter"},
        {"accounts/a/balance?at=1.5", 400, "invalid_parameter"},
        {"accounts/a/balance?at=1e3", 400, "invalid_parameter"},
        {"accounts/a/balance?at=%2B1", 400, "invalid_parameter"},
        {"accounts/a/balance?at=99999999999999999999", 400, "invalid_parameter"},
        {"accounts/a/balance?at=2026-11-30T23:59:59", 400, "invalid_parameter"},
        {"accounts/a/balance?at=2026-02-30T00:00:00Z", 400, "invalid_parameter"},
        {"accounts/a/balance?at=1&at=2", 400, "invalid_parameter"},
        {"accounts/a/balance?at=1&limit=1", 400, "invalid_parameter"},
        {"accounts/a/balance?seq=1", 400, "invalid_parameter"},
        {"accounts/nobody/balance?at=1", 404, "account_not_found"},
        {"accounts/nobody/balance?at=2026-01-01T00:00:00Z", 404, "account_not_found"},
        {"accounts/bad!id/balance?at=1", 400, "invalid_parameter"},
        {"accounts//balance?at=1", 400, "invalid_parameter"},
    };
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        ws_get(cli, &R, API "%s", refusals[i].path);
        expect_error(refusals[i].path, refusals[i].status, refusals[i].code);
    }
    ws_get(cli, &R, API "accounts/nobody/events");
    cr_assert_str_eq(BODY, "{\"error\":{\"code\":\"account_not_found\",\"message\":\"account "
                           "'nobody' does not exist\"}}");
    ws_get(cli, &R, API "accounts/nobody/balance?at=1");
    cr_assert_str_eq(BODY, "{\"error\":{\"code\":\"account_not_found\",\"message\":\"account "
                           "'nobody' does not exist\"}}");

    /* A leap second reads as the next second's start. */
    ws_get(cli, &R, API "accounts/a/events?from=2016-12-31T23:59:60Z&until=2017-01-01T00:00:00Z");
    cr_assert_str_eq(BODY, "{\"events\":[],\"next\":null}");
    ws_get(cli, &R, API "accounts/a/events?from=2016-12-31T23:59:60Z");
    cr_assert_str_eq(BODY, events_a);
    ws_get(cli, &R, API "accounts/a/balance?at=2016-12-31T23:59:60.5Z");
    expect_error("a in 2016", 404, "account_not_found");

    /* Each route takes GET only. */
    static const char *const paths[] = {API "accounts/a/events", API "accounts/a/balance?at=1"};
    for (size_t i = 0; i < 2; i++) {
        ws_request(cli, "POST", &R, "%s", paths[i]);
        expect_error(paths[i], 405, "method_not_allowed");
        ws_request(cli, "DELETE", &R, "%s", paths[i]);
        expect_error(paths[i], 405, "method_not_allowed");
    }
    /* Nothing of it wrote anything. */
    cr_assert_eq(last_seq(), 4);
    check_oracle("after the refusals");
}

/* ---- paging over the checkpoint boundary ------------------------------------------------- */

/* Seven writes, each touching a: transfers both ways, a pending transfer posted in part, one
 * voided, and one left open. Names are unique per round. */
static void round_of_writes(int round) {
    char id[4][24];
    for (int i = 0; i < 4; i++) {
        snprintf(id[i], sizeof(id[i]), "r%d-%d", round, i);
    }
    char open_id[24];
    snprintf(open_id, sizeof(open_id), "r%d-open", round);
    transfer(id[0], "a", "b", 10);
    transfer(id[1], "b", "a", 3);
    pending(id[2], "a", "c", 20, 0);
    char post_id[32];
    snprintf(post_id, sizeof(post_id), "%s-post", id[2]);
    post_pending(post_id, id[2], 15);
    pending(id[3], "c", "a", 5, 0);
    char void_id[32];
    snprintf(void_id, sizeof(void_id), "%s-void", id[3]);
    void_pending(void_id, id[3]);
    pending(open_id, "a", "b", 2, 0);
}

static void check_all_paging(const char *when) {
    check_paging("a", when);
    check_paging("b", when);
    check_paging("c", when);
}

Test(history_api, paging_across_checkpoints) {
    start(no_checkpoints);
    make_account("a", 1000);
    make_account("b", 500);
    make_account("c", 0);
    round_of_writes(1);
    check_all_paging("all in the log");
    restart(false);
    check_all_paging("all in the index");
    round_of_writes(2);
    check_all_paging("the index and the log");
    restart(false);
    round_of_writes(3);
    check_all_paging("two checkpoints and the log");
    restart(true);
    check_all_paging("after kill -9: the log replayed");
    round_of_writes(4);
    ws_event_list ref;
    reference("a", &ref);
    cr_assert_geq(ref.count, 20, "a has %zu events", ref.count);
    ws_event_list_free(&ref);
    check_all_paging("after kill -9 and more writes");
    check_oracle("at the end");
}

/* ---- from and until ---------------------------------------------------------------------- */

#define CANDIDATES_MAX 64

/* One instant a range may start or end at, and how to write it. */
typedef struct {
    int64_t ns;
    char text[64];
} instant;

static size_t add_instant(instant *c, size_t n, int64_t ns, const char *verbatim) {
    cr_assert_lt(n, CANDIDATES_MAX);
    c[n].ns = ns;
    if (verbatim != NULL) {
        snprintf(c[n].text, sizeof(c[n].text), "%s", verbatim);
    } else {
        rfc3339(ns, (time_style)(n % TIME_STYLES), c[n].text, sizeof(c[n].text));
    }
    return n + 1;
}

/* For every pair of instants (from <= until), and each alone: the account's events in the
 * range, both directions, in one page of 1000 and (for some) in pages of 2 after a cursor. */
static void check_ranges(const char *acct, const instant *c, size_t n, const char *when) {
    ws_event_list ref, want, got;
    reference(acct, &ref);
    char q[256];
    char what[512];
    size_t walks = 0;
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = 0; j <= n; j++) {
            /* i == n: no from; j == n: no until */
            if (i < n && j < n && c[i].ns > c[j].ns) {
                continue;
            }
            int len = 0;
            q[0] = '\0';
            if (i < n) {
                len += snprintf(q + len, sizeof(q) - (size_t)len, "from=%s", c[i].text);
            }
            if (j < n) {
                len += snprintf(q + len, sizeof(q) - (size_t)len, "%suntil=%s", len ? "&" : "",
                                c[j].text);
            }
            for (int reverse = 0; reverse < 2; reverse++) {
                range r = {i < n ? c[i].ns : INT64_MIN, j < n ? c[j].ns : INT64_MAX, false, 0,
                           reverse};
                select_events(&ref, &r, &want);
                history_walk(acct, q, 1000, reverse, false, 0, &got);
                snprintf(what, sizeof(what), "%s: %s %s %s", when, acct, q,
                         reverse ? "newest first" : "oldest first");
                expect_events(what, &got, &want);
                ws_event_list_free(&got);
                /* With a cursor at the middle of the range's events, in pages of 2. */
                if (want.count >= 2 && walks++ % 3 == 0) {
                    r.has_after = true;
                    r.after = want.items[want.count / 2].seq;
                    ws_event_list_free(&want);
                    select_events(&ref, &r, &want);
                    history_walk(acct, q, 2, reverse, true, r.after, &got);
                    snprintf(what, sizeof(what), "%s: %s %s %s after %" PRIu64, when, acct, q,
                             reverse ? "newest first" : "oldest first", r.after);
                    expect_events(what, &got, &want);
                    ws_event_list_free(&got);
                }
                ws_event_list_free(&want);
            }
        }
    }
    ws_event_list_free(&ref);
}

Test(history_api, from_until_and_their_edges) {
    start(no_checkpoints);
    make_account("a", 1000);
    make_account("b", 1000);
    instant c[CANDIDATES_MAX];
    size_t n = 0;
    /* Batches a few milliseconds apart, the clock read between them; a clean restart half
     * way puts the first half in the index. */
    for (int i = 0; i < 12; i++) {
        ws_sleep_ms(3);
        n = add_instant(c, n, clock_ns(), NULL);
        ws_sleep_ms(3);
        char id[16];
        snprintf(id, sizeof(id), "f%d", i);
        if (i % 4 == 3) {
            pending(id, "b", "a", 7, 0);
        } else {
            transfer(id, i % 2 ? "a" : "b", i % 2 ? "b" : "a", (uint64_t)i + 1);
        }
        if (i == 5) {
            restart(false);
        }
    }
    n = add_instant(c, n, clock_ns() + 1000000000, NULL);
    /* Each of a's events' own timestamp, as the server wrote it, and a nanosecond on either
     * side of a few (fractions of 9 digits: rounding at the microsecond). */
    ws_event_list ref;
    reference("a", &ref);
    for (size_t k = 0; k < ref.count; k++) {
        int64_t t = event_ns(&ref.items[k]);
        n = add_instant(c, n, t, ref.items[k].timestamp);
        if (k % 4 == 1) {
            n = add_instant(c, n, t - 1, NULL);
            n = add_instant(c, n, t + 1, NULL);
        }
    }
    ws_event_list_free(&ref);
    n = add_instant(c, n, 0, "1970-01-01T00:00:00Z");
    n = add_instant(c, n, INT64_MAX, "9999-12-31T23:59:59.999999999Z"); /* past any event */
    check_ranges("a", c, n, "half in the index");

    /* The same after kill -9 (the second half replayed from the log), and in the index only. */
    restart(true);
    check_ranges("b", c, n, "after kill -9");
    restart(false);
    check_ranges("a", c, n, "all in the index");

    /* An event's own timestamp as from includes it, as until excludes it; a nanosecond later
     * as until includes it too (rounded up to the next microsecond, the time still after it). */
    reference("a", &ref);
    const ws_event_rec *e = &ref.items[ref.count / 2];
    ws_event_list got;
    char q[256];
    snprintf(q, sizeof(q), "from=%s&until=%s", e->timestamp, e->timestamp);
    history_walk("a", q, 1000, false, false, 0, &got);
    cr_assert_eq(got.count, 0, "%s", q);
    ws_event_list_free(&got);
    snprintf(q, sizeof(q), "from=%s&limit=1", e->timestamp);
    history_page("a", q, &got);
    cr_assert(got.count == 1 && ws_event_equal(&got.items[0], e), "from=its time: %s", BODY);
    ws_event_list_free(&got);
    char t[64];
    rfc3339(event_ns(e) + 1, TIME_Z9, t, sizeof(t));
    snprintf(q, sizeof(q), "until=%s&reverse=true&limit=1", t);
    history_page("a", q, &got);
    cr_assert(got.count == 1 && ws_event_equal(&got.items[0], e), "until=a ns later: %s", BODY);
    ws_event_list_free(&got);
    snprintf(q, sizeof(q), "from=%s&until=%s", t, e->timestamp);
    ws_get(cli, &R, API "accounts/a/events?%s", q);
    expect_error("from a nanosecond after until", 400, "invalid_parameter");
    ws_event_list_free(&ref);
    check_oracle("at the end");
}

/* ---- balance?at= through two-phase transfers --------------------------------------------- */

static void check_all_balances(const char *when) {
    check_balances("a", when);
    check_balances("b", when);
    check_balances("c", when);
}

/* Polls GET /accounts/ID until its available and pendingCredits are these (bounded). */
static void wait_for_figures(const char *id, int64_t available, uint64_t pending_credits) {
    char want[96];
    snprintf(want, sizeof(want), "\"available\":%" PRId64 ",\"pendingCredits\":%" PRIu64 ",",
             available, pending_credits);
    int64_t t0 = ws_now_ms();
    for (int i = 0; i < EXPIRY_WAIT_MS / 20 && ws_now_ms() - t0 <= EXPIRY_WAIT_MS; i++) {
        cr_assert_eq(ws_get(cli, &R, API "accounts/%s", id), 200, "%s", BODY);
        if (strstr(BODY, want) != NULL) {
            return;
        }
        ws_sleep_ms(20);
    }
    cr_assert_fail("%s never showed %s within %d ms: %s", id, want, EXPIRY_WAIT_MS, BODY);
}

Test(history_api, balance_at_every_seq) {
    start(no_checkpoints);
    make_account("a", 1000);
    make_account("b", 0);
    transfer("t1", "a", "b", 100);
    pending("p1", "a", "b", 200, 0); /* posted in part below */
    /* A refusal with a transferID: a record without events. */
    post_transfer("{'transferID':'p0','fromAccount':'a','toAccount':'nobody','amount':1,"
                  "'pending':true}");
    expect_error("a pending transfer to nobody", 404, "account_not_found");
    make_account("c", 500);
    pending("p2", "a", "c", 50, 0); /* voided below */
    transfer("t2", "c", "a", 30);   /* a's balance moves, its pending totals do not */
    post_pending("x1", "p1", 120);
    pending("p3", "b", "c", 40, 0); /* posted whole after the restart */
    void_pending("v2", "p2");
    transfer("t3", "b", "a", 1);
    check_all_balances("all in the log");
    restart(false);
    check_all_balances("all in the index");

    transfer("t4", "b", "a", 10);
    pending("p4", "a", "b", 70, 1); /* expires by itself */
    post_pending("x3", "p3", 0);
    pending("p5", "c", "a", 25, 0); /* left open */
    /* Checked once p4 has expired: the history must not grow under a check. */
    wait_for_figures("a", 1000 - 100 - 120 + 30 + 1 + 10, 25);
    transfer("t5", "a", "c", 5);
    check_all_balances("the index and the log, p4 expired");
    restart(true);
    check_all_balances("after kill -9: the log replayed");
    restart(false);
    check_all_balances("all in the index again");
    check_oracle("at the end");
}

Test(history_api, before_an_account_existed_and_far_ahead) {
    start(no_checkpoints);
    make_account("a", 10);
    ws_sleep_ms(5);
    char between[64];
    rfc3339(clock_ns(), TIME_PLUS1, between, sizeof(between));
    ws_sleep_ms(5);
    make_account("b", 20);
    transfer("t1", "a", "b", 4);
    for (int round = 0; round < 2; round++) {
        ws_get(cli, &R, API "accounts/b/balance?at=%s", between);
        expect_error("b before it existed", 404, "account_not_found");
        char msg[256];
        ws_json_error_message(BODY, msg, sizeof(msg));
        char want[128];
        snprintf(want, sizeof(want), "account 'b' did not exist yet at %s", between);
        cr_assert_str_eq(msg, want);
        ws_get(cli, &R, API "accounts/b/balance?at=1");
        expect_error("b at seq 1", 404, "account_not_found");
        ws_get(cli, &R, API "accounts/a/balance?at=%s", between);
        cr_assert(R.status == 200 && strstr(BODY, "\"balance\":10,") && strstr(BODY, "\"seq\":1,"),
                  "a before b existed: %s", BODY);
        ws_get(cli, &R, API "accounts/b/balance?at=3000-01-01T00:00:00Z");
        cr_assert(R.status == 200 && strstr(BODY, "\"balance\":24,\"available\":24,"
                                                  "\"pendingCredits\":0,\"seq\":4,"),
                  "b far ahead: %s", BODY);
        ws_get(cli, &R, API "accounts/b/events?until=%s", between);
        cr_assert_str_eq(BODY, "{\"events\":[],\"next\":null}");
        ws_get(cli, &R, API "accounts/b/events?from=3000-01-01T00:00:00Z&reverse=true");
        cr_assert_str_eq(BODY, "{\"events\":[],\"next\":null}");
        restart(false);
    }
}

/* ---- the checkpointer's own schedule ----------------------------------------------------- */

Test(history_api, index_written_behind_the_log) {
    start(NULL); /* a checkpoint about every second */
    make_account("a", 1000);
    make_account("b", 500);
    make_account("c", 0);
    round_of_writes(1);
    check_all_paging("right after the writes");
    check_all_balances("right after the writes");
    ws_sleep_ms(1600);
    check_all_paging("after a checkpoint");
    check_all_balances("after a checkpoint");
    round_of_writes(2);
    check_all_paging("a checkpoint and the log");
    check_all_balances("a checkpoint and the log");
    check_oracle("at the end");
}

/* ---- an account whose index takes several values ----------------------------------------- */

/* POSTs a batch of n transfers or steps, body(i) each; every result must be ok. */
static void batch(size_t n, void (*item)(size_t i, char *out, size_t cap)) {
    size_t cap = 64 + n * 160;
    char *body = malloc(cap);
    cr_assert_not_null(body);
    size_t len = (size_t)snprintf(body, cap, "{\"transfers\":[");
    for (size_t i = 0; i < n; i++) {
        char one[160];
        item(i, one, sizeof(one));
        len += (size_t)snprintf(body + len, cap - len, "%s%s", i ? "," : "", one);
    }
    len += (size_t)snprintf(body + len, cap - len, "]}");
    cr_assert_lt(len, cap);
    ws_client_set_timeout_ms(cli, 30000);
    ws_post(cli, &R, API "transfers", JSON, body, len, NULL);
    free(body);
    cr_assert_eq(R.status, 200, "%.300s", BODY);
    size_t oks = 0;
    for (const char *p = BODY; (p = strstr(p, "\"code\":\"ok\"")) != NULL && oks <= n; p++) {
        oks++;
    }
    cr_assert_eq(oks, n, "%zu of %zu ok: %.300s", oks, n, BODY);
}

#define BIG 1100 /* past one index value (1024 seqs) of a checkpoint */

static void plain_item(size_t i, char *out, size_t cap) {
    snprintf(out, cap,
             "{\"transferID\":\"t-%zu\",\"fromAccount\":\"a\",\"toAccount\":\"b\",\"amount\":1}",
             i);
}

static void pending_item(size_t i, char *out, size_t cap) {
    snprintf(out, cap,
             "{\"transferID\":\"p-%zu\",\"fromAccount\":\"a\",\"toAccount\":\"b\",\"amount\":2,"
             "\"pending\":true}",
             i);
}

/* Posts the first 600 (half of them in part), voids the next 300. */
static void resolve_item(size_t i, char *out, size_t cap) {
    if (i < 600) {
        snprintf(out, cap, "{\"transferID\":\"x-%zu\",\"postPendingID\":\"p-%zu\"%s}", i, i,
                 i % 2 ? ",\"amount\":1" : "");
    } else {
        snprintf(out, cap, "{\"transferID\":\"v-%zu\",\"voidPendingID\":\"p-%zu\"}", i, i);
    }
}

/* balance?at= around each index-value boundary of acct's events (the 1024th, 2048th, ... of
 * all its events and of its two-phase events), and at every 37th seq. */
static void check_big_balances(const char *acct, const char *when) {
    ws_event_list ref, all;
    reference(acct, &ref);
    reference(NULL, &all);
    uint64_t end = all.items[all.count - 1].seq;
    uint64_t marks[16];
    size_t nmarks = 0;
    size_t two_phase = 0;
    for (size_t k = 0; k < ref.count && nmarks < 16; k++) {
        if (k % 1024 == 0 && k > 0) {
            marks[nmarks++] = ref.items[k].seq;
        }
        if (ref.items[k].two_phase && two_phase++ % 1024 == 0 && two_phase > 1) {
            marks[nmarks++] = ref.items[k].seq;
        }
    }
    cr_assert_geq(nmarks, 2, "%s has too few events to cross an index value", acct);
    char what[160];
    for (uint64_t s = 0; s <= end + 1; s++) {
        bool near = false;
        for (size_t m = 0; m < nmarks; m++) {
            near = near || (s + 4 >= marks[m] && s <= marks[m] + 4);
        }
        if (!near && s % 37 != 0 && s != end) {
            continue;
        }
        ws_get(cli, &R, API "accounts/%s/balance?at=%" PRIu64, acct, s);
        snprintf(what, sizeof(what), "%s: %s at seq %" PRIu64, when, acct, s);
        expect_balance(what, acct, &ref, last_at_seq(&ref, s));
    }
    ws_event_list_free(&ref);
    ws_event_list_free(&all);
}

/* Pages of 1000, of 97 and the default (100) in both directions, and cursors around the
 * index-value boundaries. */
static void check_big_paging(const char *acct, const char *when) {
    ws_event_list ref, want, got;
    reference(acct, &ref);
    char what[160];
    static const unsigned limits[] = {1000, 97, 0};
    for (size_t i = 0; i < 3; i++) {
        for (int reverse = 0; reverse < 2; reverse++) {
            range r = {INT64_MIN, INT64_MAX, false, 0, reverse};
            select_events(&ref, &r, &want);
            history_walk(acct, "", limits[i], reverse, false, 0, &got);
            snprintf(what, sizeof(what), "%s: %s limit %u%s", when, acct, limits[i],
                     reverse ? " newest first" : "");
            expect_events(what, &got, &want);
            ws_event_list_free(&got);
            ws_event_list_free(&want);
        }
    }
    for (size_t k = 1020; k < ref.count && k < 2060; k += k < 1030 || k >= 2040 ? 1 : 1010) {
        for (int reverse = 0; reverse < 2; reverse++) {
            range r = {INT64_MIN, INT64_MAX, true, ref.items[k].seq, reverse};
            select_events(&ref, &r, &want);
            history_walk(acct, "", 1000, reverse, true, r.after, &got);
            snprintf(what, sizeof(what), "%s: %s after %" PRIu64 "%s", when, acct, r.after,
                     reverse ? " newest first" : "");
            expect_events(what, &got, &want);
            ws_event_list_free(&got);
            ws_event_list_free(&want);
        }
    }
    ws_event_list_free(&ref);
}

/* Each batch of acct's (one timestamp, over several blocks when large): from=its time and
 * until a microsecond later gives exactly its events, both ways; from alone and until alone
 * split the history there; balance?at= its time is as of its last event. */
static void check_big_times(const char *acct, const char *when) {
    ws_event_list ref, want, got;
    reference(acct, &ref);
    char what[512];
    for (size_t k = 0; k < ref.count; k++) {
        if (k > 0 && strcmp(ref.items[k].timestamp, ref.items[k - 1].timestamp) == 0) {
            continue;
        }
        int64_t t = event_ns(&ref.items[k]);
        char next_us[64];
        rfc3339(t + 1000, TIME_PLUS1, next_us, sizeof(next_us));
        char q[3][160];
        snprintf(q[0], sizeof(q[0]), "from=%s&until=%s", ref.items[k].timestamp, next_us);
        snprintf(q[1], sizeof(q[1]), "from=%s", ref.items[k].timestamp);
        snprintf(q[2], sizeof(q[2]), "until=%s", ref.items[k].timestamp);
        const range ranges[3] = {{t, t + 1000, false, 0, false},
                                 {t, INT64_MAX, false, 0, false},
                                 {INT64_MIN, t, false, 0, true}};
        for (size_t i = 0; i < 3; i++) {
            for (int reverse = 0; reverse < 2; reverse++) {
                if (i > 0 && reverse != ranges[i].reverse) {
                    continue;
                }
                range r = ranges[i];
                r.reverse = reverse;
                select_events(&ref, &r, &want);
                history_walk(acct, q[i], 1000, reverse, false, 0, &got);
                snprintf(what, sizeof(what), "%s: %s %s%s", when, acct, q[i],
                         reverse ? " newest first" : "");
                expect_events(what, &got, &want);
                ws_event_list_free(&got);
                ws_event_list_free(&want);
            }
        }
        ws_get(cli, &R, API "accounts/%s/balance?at=%s", acct, ref.items[k].timestamp);
        snprintf(what, sizeof(what), "%s: %s at %s", when, acct, ref.items[k].timestamp);
        expect_balance(what, acct, &ref, last_at_time(&ref, t));
    }
    ws_event_list_free(&ref);
}

/* Its own time limit: it reads 3,101 events in every way, and under ASan on a slow 2-core
 * machine it ran past the suite's 60 s in one fresh-clone run (the whole suite took 79-81 s
 * there). */
Test(history_api, an_account_past_one_index_value, .timeout = 180) {
    start(no_checkpoints);
    make_account("a", 1000000);
    make_account("b", 0);
    batch(BIG, plain_item);
    batch(BIG, pending_item);
    batch(900, resolve_item);
    ws_event_list ref;
    reference("a", &ref);
    cr_assert_eq(ref.count, 1 + BIG + BIG + 900);
    ws_event_list_free(&ref);
    check_big_paging("a", "all in the log");
    check_big_balances("a", "all in the log");
    check_big_times("a", "all in the log");
    restart(false);
    check_big_times("a", "all in the index");
    check_big_paging("a", "all in the index");
    check_big_paging("b", "all in the index");
    check_big_balances("a", "all in the index");
    check_big_balances("b", "all in the index");
    transfer("after", "b", "a", 5);
    pending("after-p", "a", "b", 5, 0);
    check_big_paging("a", "the index and the log");
    check_big_balances("a", "the index and the log");
}
