/* Two-phase transfers through the real binary: a pending transfer reserves (available and
 * pendingCredits), a post moves all or part of it (the rest released), a void releases it,
 * and the writer expires it by itself from the log's clock. Each refusal code with its
 * status, the check order of a post or void, what is reserved counting against funds and
 * maxBalance, batches and linked chains that roll back, retries and conflicts by
 * transferID and by Idempotency-Key, the events and records they leave, and that open,
 * posted and expired pending transfers survive a clean stop and kill -9 and pass --verify.
 * Exact bodies. Every wait is a bounded poll. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"

#define API "/api/1.0/wallet/"
#define JSON "application/json"
#define EXPIRY_WAIT_MS 5000 /* the most a 1-second expiry may take to show */

static ws_response R = WS_RESPONSE_INIT;

/* What the oracle (ws_check_state) is told: the accounts made and every acknowledgement. */
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

TestSuite(pending_api, .fini = teardown, .timeout = 60);

static long post_h(const char *body, const char *header) {
    const char *b = dq(body);
    return ws_post(cli, &R, API "transfers", JSON, b, strlen(b), header);
}

static long post(const char *body) { return post_h(body, NULL); }

static void expect(const char *what, long status, const char *body) {
    const char *want = dq(body);
    cr_assert_eq(R.status, status, "%s: expected %ld, got %ld %s", what, status, R.status, BODY);
    cr_assert_str_eq(BODY, want, "%s: got %s, expected %s", what, BODY, want);
}

/* A fresh answer (not a replay) with exactly this status and body. */
static void expect_fresh(const char *what, long status, const char *body) {
    expect(what, status, body);
    cr_assert(!R.replayed, "%s: a fresh request claims a replay", what);
}

/* A replay: Idempotent-Replayed and exactly this status and body. */
static void expect_replay(const char *what, long status, const char *body) {
    expect(what, status, body);
    cr_assert(R.replayed, "%s: no Idempotent-Replayed header", what);
}

/* The same as expect_replay, but the test goes on when it fails (it still fails): for the
 * retries of a void, which the service answers transfer_id_conflict (see
 * a_void_retried_replays), so that the checks after them still run. */
static void expect_replay_soft(const char *what, long status, const char *body) {
    const char *want = dq(body);
    cr_expect(R.status == status && strcmp(BODY, want) == 0 && R.replayed,
              "%s: expected a replayed %ld %s, got %ld%s %s", what, status, want, R.status,
              R.replayed ? " (replayed)" : "", BODY);
}

static void expect_error(const char *what, long status, const char *code) {
    cr_assert_eq(R.status, status, "%s: expected %ld %s, got %ld %s", what, status, code, R.status,
                 BODY);
    cr_assert(ws_json_is_error(BODY, code), "%s: expected %s, got %s", what, code, BODY);
}

static void make_account(const char *id, uint64_t start_amount, const char *limits) {
    char b[256];
    snprintf(b, sizeof(b), "{'accountID':'%s','startAmount':%" PRIu64 "%s}", id, start_amount,
             limits);
    const char *body = dq(b);
    ws_post(cli, &R, API "accounts", JSON, body, strlen(body), NULL);
    cr_assert_eq(R.status, 201, "create %s: %ld %s", id, R.status, BODY);
    if (limits[0] == '\0') {
        cr_assert(acct_count < ACCOUNTS_MAX);
        acct_ids[acct_count] = id;
        acct_starts[acct_count++] = start_amount;
    }
}

/* GET /accounts/ID of an account in the default currency with these figures and limits
 * (",'overdraftLimit':0,'maxBalance':null" when limits is NULL). */
static void expect_account(const char *what, const char *id, int64_t balance, int64_t available,
                           uint64_t pending_credits, const char *limits) {
    char want[512];
    snprintf(want, sizeof(want),
             "{'accountID':'%s','balance':%" PRId64 ",'available':%" PRId64
             ",'pendingCredits':%" PRIu64 ",'currency':'XXX'%s}",
             id, balance, available, pending_credits,
             limits != NULL ? limits : ",'overdraftLimit':0,'maxBalance':null");
    ws_get(cli, &R, API "accounts/%s", id);
    char w[160];
    snprintf(w, sizeof(w), "%s: GET accounts/%s", what, id);
    expect(w, 200, want);
}

/* Records the answer obj (a single body, or one result of a batch) to a two-phase step or
 * transfer as acknowledged, for the oracle. */
static void ack_obj(const char *obj, ws_ack_kind kind, uint32_t timeout_s, bool amount_given) {
    ws_transfer_ok t;
    memset(&t, 0, sizeof(t));
    uint64_t avail = 0;
    bool ok = ws_json_str(obj, "transactionID", t.txn, sizeof(t.txn)) == 1 &&
              ws_json_u64(obj, "fromBalance", &t.from_balance) &&
              ws_json_u64(obj, "toBalance", &t.to_balance);
    if (kind == WS_ACK_TRANSFER) {
        /* a batch result names no accounts or amount: the caller fills them in */
        ws_json_str(obj, "fromAccount", t.from, sizeof(t.from));
        ws_json_str(obj, "toAccount", t.to, sizeof(t.to));
        ws_json_u64(obj, "amount", &t.amount);
    } else {
        ok = ok && ws_json_str(obj, "fromAccount", t.from, sizeof(t.from)) == 1 &&
             ws_json_str(obj, "toAccount", t.to, sizeof(t.to)) == 1 &&
             ws_json_u64(obj, "amount", &t.amount) && ws_json_u64(obj, "fromAvailable", &avail) &&
             ws_json_u64(obj, "toPendingCredits", &t.to_pending_credits) &&
             (kind == WS_ACK_PENDING ||
              ws_json_str(obj, "pendingID", t.pending_id, sizeof(t.pending_id)) == 1);
    }
    cr_assert(ok, "not an acknowledgement: %s", obj);
    t.kind = kind;
    t.explicit_id = true;
    t.timeout_s = timeout_s;
    t.amount_given = amount_given;
    t.from_available = (int64_t)avail;
    snprintf(t.body, sizeof(t.body), "%s", obj);
    cr_assert(ws_transfer_list_add(&acked, &t));
}

static void ack(ws_ack_kind kind, uint32_t timeout_s, bool amount_given) {
    cr_assert_eq(R.status, 200, "%s", BODY);
    ack_obj(BODY, kind, timeout_s, amount_given);
}

/* The i-th result object of the batch answer in R, into out. */
static const char *batch_result(size_t i, char *out, size_t cap) {
    const char *p = strstr(BODY, "{\"results\":[");
    cr_assert_not_null(p, "%s", BODY);
    p += strlen("{\"results\":[");
    for (size_t k = 0; k < i; k++) {
        p = strstr(p, "},{");
        cr_assert_not_null(p, "no result %zu in %s", i, BODY);
        p += 2;
    }
    const char *end = strchr(p, '}');
    cr_assert_not_null(end);
    cr_assert((size_t)(end - p) + 2 <= cap);
    memcpy(out, p, (size_t)(end - p) + 1);
    out[end - p + 1] = '\0';
    return out;
}

static void ack_batch_transfer(size_t i, const char *from, const char *to, uint64_t amount) {
    char obj[512];
    batch_result(i, obj, sizeof(obj));
    size_t before = acked.count;
    ack_obj(obj, WS_ACK_TRANSFER, 0, false);
    ws_transfer_ok *t = &acked.items[before];
    snprintf(t->from, sizeof(t->from), "%s", from);
    snprintf(t->to, sizeof(t->to), "%s", to);
    t->amount = amount;
}

/* The oracle: the log replays through the state machine to every balance, available and
 * pendingCredits, and holds exactly what was acknowledged (plus the writer's expiries). */
static void check_oracle(const char *when, size_t expiries) {
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
    cr_assert_eq(st.expiries, expiries, "%s: %zu expiries in the log, expected %zu", when,
                 st.expiries, expiries);
    ws_state_free(&st);
}

static void verify_ok(void) {
    char out[4096];
    int rc = ws_server_verify(srv, out, sizeof(out));
    cr_assert_eq(rc, 0, "--verify exited %d:\n%s", rc, out);
    cr_assert(strstr(out, " 0 problems"), "%s", out);
}

/* GET body (events or records) holds the fragment (with ' for "). */
static void expect_in(const char *what, const char *body, const char *fragment) {
    const char *want = dq(fragment);
    cr_assert(strstr(body, want) != NULL, "%s: %s is not in %s", what, want, body);
}

/* Polls GET /accounts/ID (every 20 ms, at most EXPIRY_WAIT_MS) until its available and
 * pendingCredits are these; returns how long it took, in ms, or fails. */
static int64_t wait_for_figures(const char *id, int64_t available, uint64_t pending_credits) {
    char want[96];
    snprintf(want, sizeof(want), "\"available\":%" PRId64 ",\"pendingCredits\":%" PRIu64 ",",
             available, pending_credits);
    int64_t t0 = ws_now_ms();
    for (int i = 0; i < EXPIRY_WAIT_MS / 20; i++) {
        cr_assert_eq(ws_get(cli, &R, API "accounts/%s", id), 200, "%s", BODY);
        if (strstr(BODY, want) != NULL) {
            return ws_now_ms() - t0;
        }
        if (ws_now_ms() - t0 > EXPIRY_WAIT_MS) {
            break;
        }
        ws_sleep_ms(20);
    }
    cr_assert_fail("%s never showed %s within %d ms: %s", id, want, EXPIRY_WAIT_MS, BODY);
    return -1;
}

/* ---- single steps ------------------------------------------------------------------------- */

Test(pending_api, reserve_post_void_and_their_refusals) {
    start(NULL);
    make_account("a", 100, "");
    make_account("b", 0, "");

    post("{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':60,'pending':true,"
         "'timeoutSeconds':3600}");
    const char *p1 = "{'transactionID':'p1','fromAccount':'a','toAccount':'b','amount':60,'status':"
                     "'pending','timeoutSeconds':3600,'fromBalance':100,'fromAvailable':40,"
                     "'toBalance':0,'toPendingCredits':60}";
    expect_fresh("pending p1", 200, p1);
    ack(WS_ACK_PENDING, 3600, false);
    expect_account("p1 reserved", "a", 100, 40, 0, NULL);
    expect_account("p1 reserved", "b", 0, 0, 60, NULL);
    ws_get(cli, &R, API "get_balance?accountID=a");
    expect("the seed's get_balance keeps its body", 200, "{'accountID':'a','balance':100}");

    /* The same request replays; any other use of the transferID conflicts. */
    post("{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':'60','pending':true,"
         "'timeoutSeconds':3600}");
    expect_replay("pending p1 again", 200, p1);
    static const char *const p1_conflicts[] = {
        "{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':61,'pending':true,"
        "'timeoutSeconds':3600}",
        "{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':60,'pending':true,"
        "'timeoutSeconds':3601}",
        "{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':60,'pending':true}",
        "{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':60}",
        "{'transferID':'p1','fromAccount':'b','toAccount':'a','amount':60,'pending':true,"
        "'timeoutSeconds':3600}",
        "{'transferID':'p1','postPendingID':'p1'}",
        "{'transferID':'p1','voidPendingID':'p1'}",
    };
    for (size_t i = 0; i < sizeof(p1_conflicts) / sizeof(p1_conflicts[0]); i++) {
        post(p1_conflicts[i]);
        expect_error(p1_conflicts[i], 409, "transfer_id_conflict");
    }
    ws_get(cli, &R, API "balance_transfer?fromAccount=a&toAccount=b&amount=60&transferID=p1");
    expect_error("p1 through the seed's route", 409, "transfer_id_conflict");

    /* A partial post moves 40 and releases the other 20. */
    post("{'transferID':'x2','postPendingID':'p1','amount':40}");
    const char *x2 = "{'transactionID':'x2','fromAccount':'a','toAccount':'b','amount':40,'status':"
                     "'posted','pendingID':'p1','fromBalance':60,'fromAvailable':60,'toBalance':"
                     "40,'toPendingCredits':0}";
    expect_fresh("post 40 of p1", 200, x2);
    ack(WS_ACK_POST, 0, true);
    expect_account("after the post", "a", 60, 60, 0, NULL);
    expect_account("after the post", "b", 40, 40, 0, NULL);
    post("{'transferID':'x2','postPendingID':'p1','amount':'040'}");
    expect_replay("post x2 again", 200, x2);
    post("{'transferID':'x2','postPendingID':'p1'}");
    expect_error("x2 as a post of all 60", 409, "transfer_id_conflict");
    post("{'transferID':'x2','postPendingID':'p1','amount':41}");
    expect_error("x2 with another amount", 409, "transfer_id_conflict");
    post("{'transferID':'x2','voidPendingID':'p1'}");
    expect_error("x2 as a void", 409, "transfer_id_conflict");
    post("{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':60,'pending':true,"
         "'timeoutSeconds':3600}");
    expect_replay("pending p1 after its post", 200, p1);

    /* Posted: every later post or void is refused, before exceeds_pending_amount. */
    post("{'transferID':'x3','voidPendingID':'p1'}");
    expect_error("void of posted p1", 409, "pending_transfer_already_posted");
    cr_assert(!R.replayed);
    char x3_body[512];
    snprintf(x3_body, sizeof(x3_body), "%s", BODY);
    post("{'transferID':'x3','voidPendingID':'p1'}");
    cr_assert(R.replayed && R.status == 409 && strcmp(BODY, x3_body) == 0,
              "a refused step replays: %ld %s", R.status, BODY);
    post("{'transferID':'x4','postPendingID':'p1','amount':1000}");
    expect_error("post 1000 of posted p1", 409, "pending_transfer_already_posted");
    post("{'transferID':'x4b','postPendingID':'p1'}");
    expect_error("post all of posted p1", 409, "pending_transfer_already_posted");

    /* A void releases it all; the answer names the amount released. */
    post("{'transferID':'p2','fromAccount':'a','toAccount':'b','amount':25,'pending':true}");
    expect_fresh("pending p2", 200,
                 "{'transactionID':'p2','fromAccount':'a','toAccount':'b','amount':25,'status':"
                 "'pending','timeoutSeconds':0,'fromBalance':60,'fromAvailable':35,'toBalance':40,"
                 "'toPendingCredits':25}");
    ack(WS_ACK_PENDING, 0, false);
    post("{'transferID':'v2','voidPendingID':'p2'}");
    const char *v2 = "{'transactionID':'v2','fromAccount':'a','toAccount':'b','amount':25,'status':"
                     "'voided','pendingID':'p2','fromBalance':60,'fromAvailable':60,'toBalance':"
                     "40,'toPendingCredits':0}";
    expect_fresh("void p2", 200, v2);
    ack(WS_ACK_VOID, 0, false);
    post("{'transferID':'v2','voidPendingID':'p2'}");
    expect_replay_soft("void p2 again", 200, v2);
    post("{'transferID':'v2','voidPendingID':'p1'}");
    expect_error("v2 naming another pending transfer", 409, "transfer_id_conflict");
    expect_account("after the void", "a", 60, 60, 0, NULL);
    expect_account("after the void", "b", 40, 40, 0, NULL);
    post("{'transferID':'x5','postPendingID':'p2'}");
    expect_error("post of voided p2", 409, "pending_transfer_already_voided");
    post("{'transferID':'x6','postPendingID':'p2','amount':26}");
    expect_error("post 26 of voided p2 (25)", 409, "pending_transfer_already_voided");
    post("{'transferID':'x7','voidPendingID':'p2'}");
    expect_error("void of voided p2", 409, "pending_transfer_already_voided");

    /* Not found: no pending transfer has the ID, whatever else has it. */
    post("{'transferID':'t1','fromAccount':'a','toAccount':'b','amount':1}");
    cr_assert_eq(R.status, 200, "%s", BODY);
    ack_obj(BODY, WS_ACK_TRANSFER, 0, false);
    static const char *const not_found[] = {
        "{'transferID':'n1','postPendingID':'nope'}",
        "{'transferID':'n2','voidPendingID':'nope'}",
        "{'transferID':'n3','postPendingID':'t1'}",            /* a plain transfer */
        "{'transferID':'n4','voidPendingID':'x2'}",            /* a post */
        "{'transferID':'n5','postPendingID':'x3','amount':1}", /* a refused step */
        "{'transferID':'n6','postPendingID':'P1'}",            /* IDs are case-sensitive */
    };
    for (size_t i = 0; i < sizeof(not_found) / sizeof(not_found[0]); i++) {
        post(not_found[i]);
        expect_error(not_found[i], 404, "pending_transfer_not_found");
    }

    /* exceeds_pending_amount leaves the pending transfer open; a post of all moves all. */
    post("{'transferID':'p3','fromAccount':'a','toAccount':'b','amount':30,'pending':true}");
    ack(WS_ACK_PENDING, 0, false);
    post("{'transferID':'x8','postPendingID':'p3','amount':31}");
    expect_error("post 31 of p3 (30)", 422, "exceeds_pending_amount");
    post("{'transferID':'x8','postPendingID':'p3','amount':31}");
    cr_assert(R.replayed && R.status == 422, "%ld %s", R.status, BODY);
    expect_account("p3 still open", "a", 59, 29, 0, NULL);
    post("{'transferID':'x9','postPendingID':'p3'}");
    const char *x9 = "{'transactionID':'x9','fromAccount':'a','toAccount':'b','amount':30,'status':"
                     "'posted','pendingID':'p3','fromBalance':29,'fromAvailable':29,'toBalance':"
                     "71,'toPendingCredits':0}";
    expect_fresh("post all of p3", 200, x9);
    ack(WS_ACK_POST, 0, false);
    post("{'transferID':'x9','postPendingID':'p3','amount':30}");
    expect_replay("post of all asked again with the whole amount", 200, x9);
    /* ... and the other way round. */
    post("{'transferID':'p4','fromAccount':'a','toAccount':'b','amount':5,'pending':true}");
    ack(WS_ACK_PENDING, 0, false);
    post("{'transferID':'x10','postPendingID':'p4','amount':5}");
    ack(WS_ACK_POST, 0, true);
    char x10[512];
    snprintf(x10, sizeof(x10), "%s", BODY);
    post("{'transferID':'x10','postPendingID':'p4'}");
    cr_assert(R.replayed && R.status == 200 && strcmp(BODY, x10) == 0,
              "post of 5 asked again as all of it: %ld %s", R.status, BODY);

    /* The events of each step, and the records behind them. */
    ws_get(cli, &R, API "events?limit=1000");
    cr_assert_eq(R.status, 200);
    expect_in("events", BODY,
              "{'seq':3,'type':'PendingDebit','accountID':'a','amount':60,'balance':100,"
              "'transactionID':'p1','counterparty':'b','available':40,'pendingCredits':0,"
              "'timestamp':'");
    expect_in("events", BODY,
              "{'seq':4,'type':'PendingCredit','accountID':'b','amount':60,'balance':0,"
              "'transactionID':'p1','counterparty':'a','available':0,'pendingCredits':60,"
              "'timestamp':'");
    expect_in("events", BODY,
              "{'seq':5,'type':'Debit','accountID':'a','amount':40,'balance':60,'transactionID':"
              "'x2','counterparty':'b','available':60,'pendingCredits':0,'pendingID':'p1',"
              "'timestamp':'");
    expect_in("events", BODY,
              "{'seq':6,'type':'Credit','accountID':'b','amount':40,'balance':40,'transactionID':"
              "'x2','counterparty':'a','available':40,'pendingCredits':0,'pendingID':'p1',"
              "'timestamp':'");
    expect_in("events", BODY,
              "{'seq':9,'type':'PendingVoided','accountID':'a','amount':25,'balance':60,"
              "'transactionID':'v2','counterparty':'b','available':60,'pendingCredits':0,"
              "'pendingID':'p2','timestamp':'");
    expect_in("events", BODY,
              "{'seq':10,'type':'PendingVoided','accountID':'b','amount':25,'balance':40,"
              "'transactionID':'v2','counterparty':'a','available':40,'pendingCredits':0,"
              "'pendingID':'p2','timestamp':'");
    expect_in("a plain transfer's events are as before", BODY,
              "{'seq':11,'type':'Debit','accountID':'a','amount':1,'balance':59,'transactionID':"
              "'t1','counterparty':'b','timestamp':'");
    ws_get(cli, &R, API "events?records=all&limit=1000");
    cr_assert_eq(R.status, 200);
    expect_in("records", BODY,
              "'type':'TransferPending','seq':3,'transactionID':'p1','fromAccount':'a','toAccount':"
              "'b','amount':60,'step':'pending','timeoutSeconds':3600,'expiresAt':'20");
    expect_in("records", BODY,
              "'fromBalance':100,'toBalance':0,'fromPendingDebits':60,'fromPendingCredits':0,"
              "'toPendingDebits':0,'toPendingCredits':60,'timestamp'");
    expect_in("records", BODY,
              "'type':'PendingResolved','seq':5,'transactionID':'x2','fromAccount':'a',"
              "'toAccount':'b','amount':40,'step':'post','pendingID':'p1','pendingLsn':3,"
              "'pendingAmount':60,'fromBalance':60,'toBalance':40,'fromPendingDebits':0,"
              "'fromPendingCredits':0,'toPendingDebits':0,'toPendingCredits':0,'timestamp'");
    expect_in("records", BODY,
              "'type':'PendingResolved','seq':9,'transactionID':'v2','fromAccount':'a',"
              "'toAccount':'b','amount':0,'step':'void','pendingID':'p2',");
    expect_in("records", BODY,
              "'type':'TransferPending','seq':7,'transactionID':'p2','fromAccount':'a','toAccount':"
              "'b','amount':25,'step':'pending','timeoutSeconds':0,'expiresAt':null,");
    expect_in("records", BODY,
              "'type':'StepRefused','seq':null,'transactionID':'x3','fromAccount':null,"
              "'toAccount':null,'amount':0,'step':'void','pendingID':'p1','timeoutSeconds':0,"
              "'code':'pending_transfer_already_posted','timestamp'");
    expect_in("records", BODY,
              "'type':'StepRefused','seq':null,'transactionID':'x8','fromAccount':null,"
              "'toAccount':null,'amount':31,'step':'post','pendingID':'p3','timeoutSeconds':0,"
              "'code':'exceeds_pending_amount','timestamp'");
    expect_in("records", BODY,
              "'transactionID':'x5','fromAccount':null,'toAccount':null,'amount':"
              "0,'step':'post','pendingID':'p2','timeoutSeconds':0,'code':'"
              "pending_transfer_already_voided'");
    expect_in("records", BODY,
              "'transactionID':'n1','fromAccount':null,'toAccount':null,'amount':"
              "0,'step':'post','pendingID':'nope','timeoutSeconds':0,'code':'"
              "pending_transfer_not_found'");
    /* A conflict is never remembered. */
    cr_assert(strstr(BODY, "transfer_id_conflict") == NULL, "%s", BODY);

    ws_get(cli, &R, API "events?accountID=b&limit=1000");
    cr_assert(strstr(BODY, dq("'type':'PendingCredit','accountID':'b','amount':25")) != NULL &&
                  strstr(BODY, dq("'accountID':'a'")) == NULL,
              "events of b: %s", BODY);
    check_oracle("running", 0);
    cr_assert_eq(ws_server_stop(srv), 0);
    verify_ok();
}

Test(pending_api, reservations_count_against_funds_and_limits) {
    start(NULL);
    make_account("a", 100, "");
    make_account("c", 0, "");
    make_account("b", 0, ",'maxBalance':100");
    make_account("o", 0, ",'overdraftLimit':50");
    make_account("e", 10, ",'currency':'EUR'");

    post("{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':60,'pending':true}");
    cr_assert_eq(R.status, 200, "%s", BODY);
    /* balance - pending debits - amount below -overdraft: refused, plain or pending. */
    post("{'transferID':'t1','fromAccount':'a','toAccount':'c','amount':41}");
    expect_error("plain 41 of 40 available", 422, "insufficient_funds");
    post("{'transferID':'p2','fromAccount':'a','toAccount':'c','amount':41,'pending':true}");
    expect_error("pending 41 of 40 available", 422, "insufficient_funds");
    post("{'transferID':'p2','fromAccount':'a','toAccount':'c','amount':41,'pending':true}");
    cr_assert(R.replayed && R.status == 422, "a refused pending transfer replays: %s", BODY);
    ws_get(cli, &R, API "balance_transfer?fromAccount=a&toAccount=c&amount=41");
    expect_error("the seed's route counts the reservation", 422, "insufficient_funds");
    post("{'transferID':'t2','fromAccount':'a','toAccount':'c','amount':40}");
    expect_fresh("plain 40 of 40 available", 200,
                 "{'transactionID':'t2','fromAccount':'a','toAccount':'c','amount':40,"
                 "'fromBalance':60,'toBalance':40}");
    post("{'transferID':'p3','fromAccount':'a','toAccount':'c','amount':1,'pending':true}");
    expect_error("pending 1 of 0 available", 422, "insufficient_funds");

    /* balance + pending credits + amount past maxBalance: refused, plain or pending. */
    post("{'transferID':'t3','fromAccount':'o','toAccount':'b','amount':41}");
    expect_error("plain 41 into 60 reserved of 100", 422, "balance_limit_exceeded");
    post("{'transferID':'p4','fromAccount':'o','toAccount':'b','amount':41,'pending':true}");
    expect_error("pending 41 into 60 reserved of 100", 422, "balance_limit_exceeded");
    post("{'transferID':'p5','fromAccount':'c','toAccount':'b','amount':40,'pending':true}");
    expect_fresh("pending 40 up to maxBalance", 200,
                 "{'transactionID':'p5','fromAccount':'c','toAccount':'b','amount':40,'status':"
                 "'pending','timeoutSeconds':0,'fromBalance':40,'fromAvailable':0,'toBalance':0,"
                 "'toPendingCredits':100}");
    post("{'transferID':'t4','fromAccount':'o','toAccount':'b','amount':1}");
    expect_error("plain 1 past maxBalance", 422, "balance_limit_exceeded");
    expect_account("b reserved up to its maximum", "b", 0, 0, 100,
                   ",'overdraftLimit':0,'maxBalance':100");

    /* A post cannot fail on funds or limits: what it moves was reserved. */
    post("{'transferID':'x1','postPendingID':'p1'}");
    expect_fresh("post all of p1 with nothing available", 200,
                 "{'transactionID':'x1','fromAccount':'a','toAccount':'b','amount':60,'status':"
                 "'posted','pendingID':'p1','fromBalance':0,'fromAvailable':0,'toBalance':60,"
                 "'toPendingCredits':40}");
    post("{'transferID':'x2','postPendingID':'p5','amount':40}");
    expect_fresh("post p5 to exactly maxBalance", 200,
                 "{'transactionID':'x2','fromAccount':'c','toAccount':'b','amount':40,'status':"
                 "'posted','pendingID':'p5','fromBalance':0,'fromAvailable':0,'toBalance':100,"
                 "'toPendingCredits':0}");

    /* An overdraft: available goes down to -overdraftLimit, never below. */
    post("{'transferID':'p6','fromAccount':'o','toAccount':'c','amount':50,'pending':true}");
    expect_fresh("pending 50 into the overdraft", 200,
                 "{'transactionID':'p6','fromAccount':'o','toAccount':'c','amount':50,'status':"
                 "'pending','timeoutSeconds':0,'fromBalance':0,'fromAvailable':-50,'toBalance':0,"
                 "'toPendingCredits':50}");
    expect_account("o reserved to its overdraft", "o", 0, -50, 0,
                   ",'overdraftLimit':50,'maxBalance':null");
    post("{'transferID':'t5','fromAccount':'o','toAccount':'c','amount':1}");
    expect_error("plain 1 past the overdraft", 422, "insufficient_funds");
    post("{'transferID':'p7','fromAccount':'o','toAccount':'c','amount':1,'pending':true}");
    expect_error("pending 1 past the overdraft", 422, "insufficient_funds");
    post("{'transferID':'x3','postPendingID':'p6','amount':20}");
    expect_fresh("post 20 of 50 into the overdraft", 200,
                 "{'transactionID':'x3','fromAccount':'o','toAccount':'c','amount':20,'status':"
                 "'posted','pendingID':'p6','fromBalance':-20,'fromAvailable':-20,'toBalance':20,"
                 "'toPendingCredits':0}");
    post("{'transferID':'t6','fromAccount':'o','toAccount':'c','amount':30}");
    expect_fresh("the released 30 spent", 200,
                 "{'transactionID':'t6','fromAccount':'o','toAccount':'c','amount':30,"
                 "'fromBalance':-50,'toBalance':50}");

    /* A pending transfer is checked as a transfer, in the same order. */
    post("{'transferID':'q1','fromAccount':'zz','toAccount':'zz','amount':1,'pending':true}");
    expect_error("same_account outranks account_not_found", 422, "same_account");
    post("{'transferID':'q2','fromAccount':'zz','toAccount':'e','amount':1000,'pending':true}");
    expect_error("unknown fromAccount", 404, "account_not_found");
    post("{'transferID':'q3','fromAccount':'c','toAccount':'zz','amount':1,'pending':true}");
    expect_error("unknown toAccount", 404, "account_not_found");
    post("{'transferID':'q4','fromAccount':'c','toAccount':'e','amount':1000,'pending':true}");
    expect_error("currency_mismatch outranks insufficient_funds", 422, "currency_mismatch");
    post("{'transferID':'q5','fromAccount':'c','toAccount':'b','amount':1000,'pending':true}");
    expect_error("insufficient_funds outranks balance_limit_exceeded", 422, "insufficient_funds");
    post("{'transferID':'q6','fromAccount':'c','toAccount':'a','amount':50,'pending':true,"
         "'timeoutSeconds':60}");
    cr_assert_eq(R.status, 200, "%s", BODY);
    post("{'transferID':'q7','fromAccount':'a','toAccount':'c','amount':1,'pending':true}");
    expect_error("pending credits are no funds", 422, "insufficient_funds");
    post("{'transferID':'q8','voidPendingID':'q6'}");
    cr_assert_eq(R.status, 200, "%s", BODY);
    expect_account("everything released", "c", 50, 50, 0, NULL);
    cr_assert_eq(ws_server_stop(srv), 0);
    verify_ok();
}

/* ---- batches and chains ------------------------------------------------------------------- */

Test(pending_api, batches_and_linked_chains) {
    start(NULL);
    make_account("a", 100, "");
    make_account("b", 0, "");

    /* A pending transfer and its post in one batch: the post is decided after it. */
    const char *batch = "{'transfers':[{'transferID':'q1','fromAccount':'a','toAccount':'b',"
                        "'amount':5,'pending':true,'timeoutSeconds':60},{'transferID':'q2',"
                        "'postPendingID':'q1','amount':3},{'transferID':'q3','fromAccount':'a',"
                        "'toAccount':'b','amount':1},{'transferID':'q4','fromAccount':'a',"
                        "'toAccount':'b','amount':7,'pending':true,'timeoutSeconds':1,'linked':"
                        "true},{'transferID':'q5','voidPendingID':'q4'}]}";
    post(batch);
    const char *q1 = "{'transactionID':'q1','code':'ok','fromAccount':'a','toAccount':'b','amount':"
                     "5,'status':'pending','timeoutSeconds':60,'fromBalance':100,'fromAvailable':"
                     "95,'toBalance':0,'toPendingCredits':5";
    const char *q2 = "{'transactionID':'q2','code':'ok','fromAccount':'a','toAccount':'b','amount':"
                     "3,'status':'posted','pendingID':'q1','fromBalance':97,'fromAvailable':97,"
                     "'toBalance':3,'toPendingCredits':0";
    const char *q3 = "{'transactionID':'q3','code':'ok','fromBalance':96,'toBalance':4";
    const char *q4 = "{'transactionID':'q4','code':'ok','fromAccount':'a','toAccount':'b','amount':"
                     "7,'status':'pending','timeoutSeconds':1,'fromBalance':96,'fromAvailable':89,"
                     "'toBalance':4,'toPendingCredits':7";
    const char *q5 = "{'transactionID':'q5','code':'ok','fromAccount':'a','toAccount':'b','amount':"
                     "7,'status':'voided','pendingID':'q4','fromBalance':96,'fromAvailable':96,"
                     "'toBalance':4,'toPendingCredits':0";
    char want[4096];
    snprintf(want, sizeof(want), "{'results':[%s},%s},%s},%s},%s}]}", q1, q2, q3, q4, q5);
    expect_fresh("pending, post, transfer, pending and void in one batch", 200, want);
    char obj[512];
    ack_obj(batch_result(0, obj, sizeof(obj)), WS_ACK_PENDING, 60, false);
    ack_obj(batch_result(1, obj, sizeof(obj)), WS_ACK_POST, 0, true);
    ack_batch_transfer(2, "a", "b", 1);
    ack_obj(batch_result(3, obj, sizeof(obj)), WS_ACK_PENDING, 1, false);
    ack_obj(batch_result(4, obj, sizeof(obj)), WS_ACK_VOID, 0, false);
    post(batch);
    snprintf(want, sizeof(want),
             "{'results':[%s,'replayed':true},%s,'replayed':true},%s,'replayed':true},%s,"
             "'replayed':true},%s,'replayed':true}]}",
             q1, q2, q3, q4, q5);
    /* a batch answer carries no Idempotent-Replayed header: each result says it */
    cr_expect_str_eq(BODY, dq(want), "the batch again: every step replayed: got %s, expected %s",
                     BODY, dq(want));
    expect_account("after the batch", "a", 96, 96, 0, NULL);

    post("{'transferID':'o1','fromAccount':'a','toAccount':'b','amount':50,'pending':true}");
    ack(WS_ACK_PENDING, 0, false);
    /* Failed chains: every member undone, the pending transfer left as it was. */
    static const struct {
        const char *what, *body, *results;
    } failed[] = {
        {"a pending transfer and its post, then a failure",
         "{'transfers':[{'transferID':'c1','fromAccount':'a','toAccount':'b','amount':10,"
         "'pending':true,'linked':true},{'transferID':'c2','postPendingID':'c1','linked':true},"
         "{'transferID':'c3','fromAccount':'a','toAccount':'b','amount':1000}]}",
         "{'results':[{'transactionID':'c1','code':'linked_event_failed'},{'transactionID':'c2',"
         "'code':'linked_event_failed'},{'transactionID':'c3','code':'insufficient_funds'}]}"},
        {"a post, then a failing void",
         "{'transfers':[{'transferID':'c4','postPendingID':'o1','amount':20,'linked':true},"
         "{'transferID':'c5','voidPendingID':'nope'}]}",
         "{'results':[{'transactionID':'c4','code':'linked_event_failed'},{'transactionID':'c5',"
         "'code':'pending_transfer_not_found'}]}"},
        {"a void, then a failing transfer",
         "{'transfers':[{'transferID':'c6','voidPendingID':'o1','linked':true},{'transferID':"
         "'c7','fromAccount':'b','toAccount':'a','amount':1000}]}",
         "{'results':[{'transactionID':'c6','code':'linked_event_failed'},{'transactionID':'c7',"
         "'code':'insufficient_funds'}]}"},
        {"a void, then a void of the same",
         "{'transfers':[{'transferID':'c8','voidPendingID':'o1','linked':true},{'transferID':"
         "'c9','voidPendingID':'o1'}]}",
         "{'results':[{'transactionID':'c8','code':'linked_event_failed'},{'transactionID':'c9',"
         "'code':'pending_transfer_already_voided'}]}"},
        {"a post, then a post of more than is left",
         "{'transfers':[{'transferID':'c10','postPendingID':'o1','amount':50,'linked':true},"
         "{'transferID':'c11','postPendingID':'o1','amount':1}]}",
         "{'results':[{'transactionID':'c10','code':'linked_event_failed'},{'transactionID':"
         "'c11','code':'pending_transfer_already_posted'}]}"},
        {"a post of more than it holds, linked before a good transfer",
         "{'transfers':[{'transferID':'c12','fromAccount':'a','toAccount':'b','amount':1,"
         "'linked':true},{'transferID':'c13','postPendingID':'o1','amount':51}]}",
         "{'results':[{'transactionID':'c12','code':'linked_event_failed'},{'transactionID':"
         "'c13','code':'exceeds_pending_amount'}]}"},
        {"a chain left open",
         "{'transfers':[{'transferID':'c14','postPendingID':'o1','linked':true}]}",
         "{'results':[{'transactionID':'c14','code':'linked_event_chain_open'}]}"},
    };
    for (size_t i = 0; i < sizeof(failed) / sizeof(failed[0]); i++) {
        post(failed[i].body);
        expect_fresh(failed[i].what, 200, failed[i].results);
        expect_account(failed[i].what, "a", 96, 46, 0, NULL);
        expect_account(failed[i].what, "b", 4, 4, 50, NULL);
    }
    post("{'transferID':'c20','postPendingID':'c1'}");
    expect_error("the pending transfer of a failed chain never was", 404,
                 "pending_transfer_not_found");
    /* Failed members are remembered: the same chain replays, one member alone too. */
    post(failed[1].body);
    expect("the failed chain again", 200,
           "{'results':[{'transactionID':'c4','code':'linked_event_failed','replayed':true},"
           "{'transactionID':'c5','code':'pending_transfer_not_found','replayed':true}]}");
    post("{'transferID':'c4','postPendingID':'o1','amount':20}");
    expect_error("a failed member alone", 422, "linked_event_failed");
    cr_assert(R.replayed);

    /* A chain that succeeds applies every member. */
    post("{'transfers':[{'transferID':'c21','postPendingID':'o1','amount':20,'linked':true},"
         "{'transferID':'c22','fromAccount':'a','toAccount':'b','amount':1}]}");
    expect_fresh("post and transfer in one chain", 200,
                 "{'results':[{'transactionID':'c21','code':'ok','fromAccount':'a','toAccount':'b',"
                 "'amount':20,'status':'posted','pendingID':'o1','fromBalance':76,'fromAvailable':"
                 "76,'toBalance':24,'toPendingCredits':0},{'transactionID':'c22','code':'ok',"
                 "'fromBalance':75,'toBalance':25}]}");
    ack_obj(batch_result(0, obj, sizeof(obj)), WS_ACK_POST, 0, true);
    ack_batch_transfer(1, "a", "b", 1);

    /* Each step refusal in a batch result, each decided against the state before it. */
    post("{'transfers':[{'transferID':'d1','postPendingID':'o1'},{'transferID':'d2',"
         "'voidPendingID':'nope'},{'transferID':'d3','fromAccount':'a','toAccount':'b','amount':"
         "10,'pending':true},{'transferID':'d4','postPendingID':'d3','amount':11},{'transferID':"
         "'d5','voidPendingID':'d3'},{'transferID':'d6','postPendingID':'d3'},{'transferID':"
         "'d7','voidPendingID':'q4'},{'transferID':'q2','postPendingID':'q1'}]}");
    expect_fresh("refusals in a batch", 200,
                 "{'results':[{'transactionID':'d1','code':'pending_transfer_already_posted'},"
                 "{'transactionID':'d2','code':'pending_transfer_not_found'},{'transactionID':'d3',"
                 "'code':'ok','fromAccount':'a','toAccount':'b','amount':10,'status':'pending',"
                 "'timeoutSeconds':0,'fromBalance':75,'fromAvailable':65,'toBalance':25,"
                 "'toPendingCredits':10},{'transactionID':'d4','code':'exceeds_pending_amount'},"
                 "{'transactionID':'d5','code':'ok','fromAccount':'a','toAccount':'b','amount':10,"
                 "'status':'voided','pendingID':'d3','fromBalance':75,'fromAvailable':75,"
                 "'toBalance':25,'toPendingCredits':0},{'transactionID':'d6','code':"
                 "'pending_transfer_already_voided'},{'transactionID':'d7','code':"
                 "'pending_transfer_already_voided'},{'transactionID':'q2','code':"
                 "'transfer_id_conflict'}]}");
    ack_obj(batch_result(2, obj, sizeof(obj)), WS_ACK_PENDING, 0, false);
    ack_obj(batch_result(4, obj, sizeof(obj)), WS_ACK_VOID, 0, false);

    /* A malformed step fails the whole batch with its index; nothing of it is decided. */
    post("{'transfers':[{'transferID':'e1','fromAccount':'a','toAccount':'b','amount':1},"
         "{'transferID':'e2','postPendingID':'o1','fromAccount':'a'}]}");
    expect_error("a post with a fromAccount in a batch", 400, "invalid_parameter");
    cr_assert(strstr(BODY, "\"index\":1") && strstr(BODY, "transfers[1]"), "%s", BODY);
    post("{'transfers':[{'transferID':'e1','postPendingID':'q1'}]}");
    expect_fresh("e1 is still fresh", 200,
                 "{'results':[{'transactionID':'e1','code':'pending_transfer_already_posted'}]}");
    post_h("{'transfers':[{'transferID':'e3','voidPendingID':'o1'}]}", "Idempotency-Key: k1");
    expect_error("an Idempotency-Key on a batch", 400, "invalid_parameter");

    check_oracle("after the batches", 0);
    cr_assert_eq(ws_server_stop(srv), 0);
    verify_ok();
}

/* ---- bad input ------------------------------------------------------------------------------ */

Test(pending_api, malformed_steps_are_refused_and_not_recorded) {
    start(NULL);
    make_account("a", 100, "");
    make_account("b", 0, "");
    post("{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':10,'pending':true}");
    cr_assert_eq(R.status, 200, "%s", BODY);
    static const struct {
        const char *body, *code;
    } bad[] = {
        {"{'transferID':'b1','postPendingID':'p1','fromAccount':'a'}", "invalid_parameter"},
        {"{'transferID':'b1','postPendingID':'p1','toAccount':'b'}", "invalid_parameter"},
        {"{'transferID':'b1','voidPendingID':'p1','fromAccount':'a','toAccount':'b'}",
         "invalid_parameter"},
        {"{'transferID':'b1','voidPendingID':'p1','amount':1}", "invalid_parameter"},
        {"{'transferID':'b1','voidPendingID':'p1','amount':10}", "invalid_parameter"},
        {"{'transferID':'b1','postPendingID':'p1','voidPendingID':'p1'}", "invalid_parameter"},
        {"{'transferID':'b1','voidPendingID':'p1','postPendingID':'p1'}", "invalid_parameter"},
        {"{'transferID':'b1','fromAccount':'a','toAccount':'b','amount':1,'timeoutSeconds':5}",
         "invalid_parameter"},
        {"{'transferID':'b1','fromAccount':'a','toAccount':'b','amount':1,'pending':false,"
         "'timeoutSeconds':5}",
         "invalid_parameter"},
        {"{'transferID':'b1','fromAccount':'a','toAccount':'b','amount':1,'pending':true,"
         "'timeoutSeconds':0}",
         "invalid_parameter"},
        {"{'transferID':'b1','fromAccount':'a','toAccount':'b','amount':1,'pending':true,"
         "'timeoutSeconds':4294967296}",
         "invalid_parameter"},
        {"{'transferID':'b1','fromAccount':'a','toAccount':'b','amount':1,'pending':true,"
         "'timeoutSeconds':-1}",
         "invalid_parameter"},
        {"{'transferID':'b1','fromAccount':'a','toAccount':'b','amount':1,'pending':true,"
         "'timeoutSeconds':1.5}",
         "invalid_parameter"},
        {"{'transferID':'b1','postPendingID':'p1','pending':true}", "invalid_parameter"},
        {"{'transferID':'b1','postPendingID':'p1','pending':false}", "invalid_parameter"},
        {"{'transferID':'b1','voidPendingID':'p1','pending':true}", "invalid_parameter"},
        {"{'transferID':'b1','postPendingID':'p1','timeoutSeconds':5}", "invalid_parameter"},
        {"{'transferID':'b1','postPendingID':'p1','amount':0}", "invalid_parameter"},
        {"{'transferID':'b1','postPendingID':''}", "invalid_parameter"},
        {"{'transferID':'b1','postPendingID':'a/b'}", "invalid_parameter"},
        {"{'transferID':'b1','voidPendingID':5}", "invalid_parameter"},
        {"{'transferID':'b1','voidPendingID':null}", "invalid_parameter"},
        {"{'transferID':'b1','fromAccount':'a','toAccount':'b','amount':1,'pending':'yes'}",
         "invalid_parameter"},
        {"{'transferID':'b1','postPendingID':'p1','linked':true}", "invalid_parameter"},
        {"{'transferID':'b1','pending':true}", "missing_parameter"},
        {"{'transferID':'b1','fromAccount':'a','toAccount':'b','pending':true}",
         "missing_parameter"},
        {"{'transferID':'b1','postPendingID':'p1','postPendingID':'p1'}", "invalid_json"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        post(bad[i].body);
        expect_error(bad[i].body, 400, bad[i].code);
    }
    expect_account("nothing applied", "a", 100, 90, 0, NULL);
    /* Nothing was recorded: b1 is fresh, and p1 still open. */
    post("{'transferID':'b1','voidPendingID':'p1'}");
    expect_fresh("b1 after the refusals", 200,
                 "{'transactionID':'b1','fromAccount':'a','toAccount':'b','amount':10,'status':"
                 "'voided','pendingID':'p1','fromBalance':100,'fromAvailable':100,'toBalance':0,"
                 "'toPendingCredits':0}");
    /* The largest timeout is taken. */
    post("{'transferID':'b2','fromAccount':'a','toAccount':'b','amount':1,'pending':true,"
         "'timeoutSeconds':4294967295}");
    expect_fresh("timeoutSeconds 4294967295", 200,
                 "{'transactionID':'b2','fromAccount':'a','toAccount':'b','amount':1,'status':"
                 "'pending','timeoutSeconds':4294967295,'fromBalance':100,'fromAvailable':99,"
                 "'toBalance':0,'toPendingCredits':1}");
    ws_get(cli, &R, API "events?records=all&limit=1000");
    cr_assert(strstr(BODY, dq("'expiresAt':'21")) != NULL, "136 years on: %s", BODY);
    cr_assert_eq(ws_server_stop(srv), 0);
    verify_ok();
}

/* The error message (and docs/api.md's convention for every number in a body) says a
 * string of digits is taken: "timeoutSeconds must be a whole number from 1 to 4294967295 (a
 * JSON integer or a string of digits)". */
Test(pending_api, timeout_seconds_as_a_string_of_digits) {
    start(NULL);
    make_account("a", 100, "");
    make_account("b", 0, "");
    post("{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':'5','pending':true,"
         "'timeoutSeconds':'3600'}");
    expect_fresh("timeoutSeconds \"3600\"", 200,
                 "{'transactionID':'p1','fromAccount':'a','toAccount':'b','amount':5,'status':"
                 "'pending','timeoutSeconds':3600,'fromBalance':100,'fromAvailable':95,"
                 "'toBalance':0,'toPendingCredits':5}");
}

/* A void retried with its transferID and the same request replays its answer, like a post
 * (docs/api.md: "for a void: the pendingID"), alone, in a batch, by its Idempotency-Key and
 * after a restart. Each check is cr_expect, so one run shows every way it goes wrong. */
Test(pending_api, a_void_retried_replays) {
    start(NULL);
    make_account("a", 100, "");
    make_account("b", 0, "");
    post("{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':10,'pending':true}");
    cr_assert_eq(R.status, 200, "%s", BODY);
    post("{'transferID':'v1','voidPendingID':'p1'}");
    const char *v1 = "{'transactionID':'v1','fromAccount':'a','toAccount':'b','amount':10,'status':"
                     "'voided','pendingID':'p1','fromBalance':100,'fromAvailable':100,'toBalance':"
                     "0,'toPendingCredits':0}";
    expect_fresh("void p1", 200, v1);
    post("{'transferID':'v1','voidPendingID':'p1'}");
    expect_replay_soft("void p1 again", 200, v1);
    post("{'transfers':[{'transferID':'v1','voidPendingID':'p1'}]}");
    cr_expect_str_eq(BODY,
                     dq("{'results':[{'transactionID':'v1','code':'ok','fromAccount':'a',"
                        "'toAccount':'b','amount':10,'status':'voided','pendingID':'p1',"
                        "'fromBalance':100,'fromAvailable':100,'toBalance':0,'toPendingCredits':0,"
                        "'replayed':true}]}"),
                     "void p1 again in a batch: %s", BODY);
    post("{'transferID':'p2','fromAccount':'a','toAccount':'b','amount':7,'pending':true}");
    cr_assert_eq(R.status, 200, "%s", BODY);
    post_h("{'voidPendingID':'p2'}", "Idempotency-Key: k1");
    cr_assert_eq(R.status, 200, "keyed void: %s", BODY);
    char keyed[512];
    snprintf(keyed, sizeof(keyed), "%s", BODY);
    post_h("{'voidPendingID':'p2'}", "Idempotency-Key: k1");
    cr_expect(R.status == 200 && R.replayed && strcmp(BODY, keyed) == 0,
              "keyed void again: %ld %s (first %s)", R.status, BODY, keyed);
    restart(true);
    post("{'transferID':'v1','voidPendingID':'p1'}");
    expect_replay_soft("void p1 again after a restart", 200, v1);
    expect_account("each released once", "a", 100, 100, 0, NULL);
}

/* ---- Idempotency-Key ------------------------------------------------------------------------ */

Test(pending_api, idempotency_key_on_single_steps) {
    start(NULL);
    make_account("a", 100, "");
    make_account("b", 0, "");
    const char *pend = "{'fromAccount':'a','toAccount':'b','amount':10,'pending':true}";
    post_h(pend, "Idempotency-Key: k1");
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert(!R.replayed);
    char id[72];
    cr_assert_eq(ws_json_str(BODY, "transactionID", id, sizeof(id)), 1);
    cr_assert(ws_is_uuid(id), "a generated transactionID: %s", id);
    char first[512];
    snprintf(first, sizeof(first), "%s", BODY);
    ack(WS_ACK_PENDING, 0, false);
    post_h(pend, "Idempotency-Key: k1");
    cr_assert(R.status == 200 && R.replayed && strcmp(BODY, first) == 0,
              "keyed pending again: %ld %s", R.status, BODY);
    post_h("{'fromAccount':'a','toAccount':'b','amount':11,'pending':true}", "Idempotency-Key: k1");
    expect_error("keyed pending, another amount", 409, "idempotency_key_conflict");
    post_h("{'fromAccount':'a','toAccount':'b','amount':10}", "Idempotency-Key: k1");
    expect_error("keyed pending as a plain transfer", 409, "idempotency_key_conflict");
    expect_account("reserved once", "a", 100, 90, 0, NULL);

    /* A post without transferID: generated, and the key brings it back. */
    char body[256];
    snprintf(body, sizeof(body), "{'postPendingID':'%s','amount':4}", id);
    post_h(body, "Idempotency-Key: k2");
    cr_assert_eq(R.status, 200, "%s", BODY);
    char post_id[72];
    cr_assert_eq(ws_json_str(BODY, "transactionID", post_id, sizeof(post_id)), 1);
    cr_assert(ws_is_uuid(post_id) && strcmp(post_id, id) != 0, "%s", BODY);
    snprintf(first, sizeof(first), "%s", BODY);
    ack(WS_ACK_POST, 0, true);
    post_h(body, "Idempotency-Key: k2");
    cr_assert(R.status == 200 && R.replayed && strcmp(BODY, first) == 0, "keyed post again: %ld %s",
              R.status, BODY);
    snprintf(body, sizeof(body), "{'voidPendingID':'%s'}", id);
    post_h(body, "Idempotency-Key: k2");
    expect_error("the post's key on a void", 409, "idempotency_key_conflict");
    expect_account("posted once", "a", 96, 96, 0, NULL);
    post_h(body, "Idempotency-Key: k3");
    expect_error("a keyed void of the posted one", 409, "pending_transfer_already_posted");
    cr_assert(!R.replayed);
    post_h(body, "Idempotency-Key: k3");
    expect_error("the keyed refusal again", 409, "pending_transfer_already_posted");
    cr_assert(R.replayed, "a keyed refusal replays");

    /* A key and a transferID: the key first, then the step by its transferID. */
    post_h("{'transferID':'p2','fromAccount':'a','toAccount':'b','amount':6,'pending':true}",
           "Idempotency-Key: k4");
    cr_assert_eq(R.status, 200, "%s", BODY);
    ack(WS_ACK_PENDING, 0, false);
    post_h("{'transferID':'v2','voidPendingID':'p2'}", "Idempotency-Key: k5");
    const char *v2 = "{'transactionID':'v2','fromAccount':'a','toAccount':'b','amount':6,'status':"
                     "'voided','pendingID':'p2','fromBalance':96,'fromAvailable':96,'toBalance':4,"
                     "'toPendingCredits':0}";
    expect_fresh("keyed void", 200, v2);
    ack(WS_ACK_VOID, 0, false);
    post_h("{'transferID':'v2','voidPendingID':'p2'}", "Idempotency-Key: k5");
    expect_replay_soft("keyed void again", 200, v2);
    post("{'transferID':'v2','voidPendingID':'p2'}");
    expect_replay_soft("the void again by its transferID alone", 200, v2);
    post_h("{'transferID':'v2','voidPendingID':'p2'}", "Idempotency-Key: k1");
    expect_error("the void with the pending transfer's key", 409, "idempotency_key_conflict");

    ws_get(cli, &R, API "events?records=all&limit=1000");
    expect_in("records", BODY,
              "'type':'RequestKey','seq':null,'key':'k5','operation':'transfer',"
              "'transactionID':'v2','code':'ok'");
    check_oracle("keyed steps", 0);
}

/* ---- expiry --------------------------------------------------------------------------------- */

Test(pending_api, expiry_by_the_writer_with_no_traffic) {
    start(NULL);
    make_account("a", 100, "");
    make_account("b", 0, "");
    /* A pending transfer with a 1 s timeout, posted in the same batch: not expired. */
    post("{'transfers':[{'transferID':'q1','fromAccount':'a','toAccount':'b','amount':3,"
         "'pending':true,'timeoutSeconds':1,'linked':true},{'transferID':'q2','postPendingID':"
         "'q1'}]}");
    cr_assert_eq(R.status, 200, "%s", BODY);
    cr_assert(strstr(BODY, dq("'transactionID':'q2','code':'ok'")), "%s", BODY);
    char obj[512];
    ack_obj(batch_result(0, obj, sizeof(obj)), WS_ACK_PENDING, 1, false);
    ack_obj(batch_result(1, obj, sizeof(obj)), WS_ACK_POST, 0, false);

    int64_t t0 = ws_now_ms();
    post("{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':30,'pending':true,"
         "'timeoutSeconds':1}");
    expect_fresh("pending with a 1 s timeout", 200,
                 "{'transactionID':'p1','fromAccount':'a','toAccount':'b','amount':30,'status':"
                 "'pending','timeoutSeconds':1,'fromBalance':97,'fromAvailable':67,'toBalance':3,"
                 "'toPendingCredits':30}");
    ack(WS_ACK_PENDING, 1, false);
    post("{'transferID':'p2','fromAccount':'a','toAccount':'b','amount':20,'pending':true}");
    cr_assert_eq(R.status, 200, "%s", BODY);
    ack(WS_ACK_PENDING, 0, false);
    expect_account("both reserved", "a", 97, 47, 0, NULL);

    /* No request comes: the writer wakes up for the expiry by itself. */
    int64_t waited = wait_for_figures("a", 77, 0);
    int64_t since_sent = ws_now_ms() - t0;
    cr_log_info("expiry visible %lld ms after the pending transfer was sent",
                (long long)since_sent);
    cr_assert_geq(since_sent, 950, "released after %lld ms, before its 1 s timeout",
                  (long long)since_sent);
    (void)waited;
    expect_account("p1 expired, p2 open", "a", 97, 77, 0, NULL);
    expect_account("p1 expired, p2 open", "b", 3, 3, 20, NULL);

    post("{'transferID':'x1','postPendingID':'p1'}");
    expect_error("post of expired p1", 409, "pending_transfer_expired");
    cr_assert(!R.replayed);
    post("{'transferID':'x1','postPendingID':'p1'}");
    expect_error("post of expired p1 again", 409, "pending_transfer_expired");
    cr_assert(R.replayed);
    post("{'transferID':'x2','voidPendingID':'p1'}");
    expect_error("void of expired p1", 409, "pending_transfer_expired");
    post("{'transferID':'x3','postPendingID':'p1','amount':31}");
    expect_error("expired outranks exceeds_pending_amount", 409, "pending_transfer_expired");
    post("{'transfers':[{'transferID':'x4','postPendingID':'p1','amount':1}]}");
    expect("expired in a batch", 200,
           "{'results':[{'transactionID':'x4','code':'pending_transfer_expired'}]}");
    post("{'transferID':'p1','fromAccount':'a','toAccount':'b','amount':30,'pending':true,"
         "'timeoutSeconds':1}");
    cr_assert(R.status == 200 && R.replayed && strstr(BODY, dq("'status':'pending'")),
              "the expired pending transfer itself replays its answer: %s", BODY);

    ws_get(cli, &R, API "events?limit=1000");
    expect_in("events", BODY,
              "'type':'PendingExpired','accountID':'a','amount':30,'balance':97,'transactionID':"
              "'p1','counterparty':'b','available':77,'pendingCredits':0,'pendingID':'p1',"
              "'timestamp':'");
    expect_in("events", BODY,
              "'type':'PendingExpired','accountID':'b','amount':30,'balance':3,'transactionID':"
              "'p1','counterparty':'a','available':3,'pendingCredits':20,'pendingID':'p1',"
              "'timestamp':'");
    ws_get(cli, &R, API "events?records=all&limit=1000");
    expect_in("records", BODY,
              "'type':'PendingResolved','seq':11,'transactionID':null,'fromAccount':'a',"
              "'toAccount':'b','amount':0,'step':'expire','pendingID':'p1',");
    expect_in("records", BODY,
              "'pendingAmount':30,'fromBalance':97,'toBalance':3,'fromPendingDebits':20,"
              "'fromPendingCredits':0,'toPendingDebits':0,'toPendingCredits':20,");
    expect_in("records", BODY,
              "'transactionID':'x1','fromAccount':null,'toAccount':null,'amount':0,'step':'post',"
              "'pendingID':'p1','timeoutSeconds':0,'code':'pending_transfer_expired'");

    /* The open one still posts. */
    post("{'transferID':'x5','postPendingID':'p2'}");
    expect_fresh("post of open p2", 200,
                 "{'transactionID':'x5','fromAccount':'a','toAccount':'b','amount':20,'status':"
                 "'posted','pendingID':'p2','fromBalance':77,'fromAvailable':77,'toBalance':23,"
                 "'toPendingCredits':0}");
    ack(WS_ACK_POST, 0, false);
    check_oracle("after the expiry", 1);
    cr_assert_eq(ws_server_stop(srv), 0);
    verify_ok();
}

/* ---- restarts ------------------------------------------------------------------------------- */

/* The three accounts' GET /accounts bodies, compared after each restart. */
static void snapshot(char (*out)[256]) {
    static const char *const ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ws_get(cli, &R, API "accounts/%s", ids[i]), 200, "%s", BODY);
        snprintf(out[i], 256, "%s", BODY);
    }
}

static void expect_snapshot(const char *when, char (*want)[256]) {
    char now[3][256];
    snapshot(now);
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(now[i], want[i], "%s: %s, before %s", when, now[i], want[i]);
    }
}

Test(pending_api, open_posted_and_expired_survive_restarts) {
    static const char *const args[] = {"--checkpoint-interval", "50", NULL};
    start(args);
    make_account("a", 1000, "");
    make_account("b", 0, "");
    make_account("c", 0, "");
    post("{'transferID':'open1','fromAccount':'a','toAccount':'b','amount':100,'pending':true}");
    ack(WS_ACK_PENDING, 0, false);
    post("{'transferID':'open2','fromAccount':'a','toAccount':'c','amount':50,'pending':true,"
         "'timeoutSeconds':3600}");
    ack(WS_ACK_PENDING, 3600, false);
    post("{'transferID':'pp','fromAccount':'a','toAccount':'b','amount':70,'pending':true}");
    ack(WS_ACK_PENDING, 0, false);
    post("{'transferID':'pp-post','postPendingID':'pp','amount':30}");
    ack(WS_ACK_POST, 0, true);
    char pp_post[512];
    snprintf(pp_post, sizeof(pp_post), "%s", BODY);
    post("{'transferID':'vv','fromAccount':'a','toAccount':'c','amount':40,'pending':true}");
    ack(WS_ACK_PENDING, 0, false);
    post("{'transferID':'vv-void','voidPendingID':'vv'}");
    ack(WS_ACK_VOID, 0, false);
    post("{'transferID':'ee','fromAccount':'a','toAccount':'b','amount':20,'pending':true,"
         "'timeoutSeconds':1}");
    ack(WS_ACK_PENDING, 1, false);
    expect_account("all made", "a", 970, 800, 0, NULL);
    wait_for_figures("a", 820, 0);
    expect_account("ee expired", "a", 970, 820, 0, NULL);
    expect_account("ee expired", "b", 30, 30, 100, NULL);
    expect_account("ee expired", "c", 0, 0, 50, NULL);
    char before[3][256];
    snapshot(before);

    restart(true);
    expect_snapshot("after kill -9", before);
    check_oracle("after kill -9", 1);
    ws_sleep_ms(300); /* several checkpoint intervals */
    restart(false);
    expect_snapshot("after a checkpoint and a clean stop", before);

    /* What each was, it still is. */
    post("{'transferID':'pp-post','postPendingID':'pp','amount':30}");
    cr_assert(R.status == 200 && R.replayed && strcmp(BODY, pp_post) == 0,
              "the post replays after the restarts: %ld %s", R.status, BODY);
    post("{'transferID':'pp-post2','postPendingID':'pp'}");
    expect_error("posted stays posted", 409, "pending_transfer_already_posted");
    post("{'transferID':'vv-post','postPendingID':'vv'}");
    expect_error("voided stays voided", 409, "pending_transfer_already_voided");
    post("{'transferID':'ee-post','postPendingID':'ee'}");
    expect_error("expired stays expired", 409, "pending_transfer_expired");
    post("{'transferID':'open1-post','postPendingID':'open1','amount':60}");
    expect_fresh("an open one posts after the restarts", 200,
                 "{'transactionID':'open1-post','fromAccount':'a','toAccount':'b','amount':60,"
                 "'status':'posted','pendingID':'open1','fromBalance':910,'fromAvailable':860,"
                 "'toBalance':90,'toPendingCredits':0}");
    ack(WS_ACK_POST, 0, true);

    /* A pending transfer whose time comes while the service is down expires after the
     * start, with no request to trigger it. */
    post("{'transferID':'se','fromAccount':'a','toAccount':'c','amount':10,'pending':true,"
         "'timeoutSeconds':1}");
    ack(WS_ACK_PENDING, 1, false);
    expect_account("se reserved", "c", 0, 0, 60, NULL);
    cr_assert(ws_server_kill9(srv));
    ws_client_free(cli);
    cli = NULL;
    ws_sleep_ms(1100);
    cr_assert(ws_server_start(srv), "no restart");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
    wait_for_figures("c", 0, 50);
    expect_account("se expired while down", "a", 910, 860, 0, NULL);
    post("{'transferID':'se-void','voidPendingID':'se'}");
    expect_error("se expired", 409, "pending_transfer_expired");
    post("{'transferID':'open2-void','voidPendingID':'open2'}");
    cr_assert_eq(R.status, 200, "%s", BODY);
    ack(WS_ACK_VOID, 0, false);
    expect_account("open2 voided", "c", 0, 0, 0, NULL);
    check_oracle("at the end", 2);
    cr_assert_eq(ws_server_stop(srv), 0);
    verify_ok();
}
