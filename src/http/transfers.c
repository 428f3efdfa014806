/* The transfers resource: the seed's GET balance_transfer, and the JSON API's POST /transfers
 * with one transfer object or a batch of up to 8,190 (docs/api.md). Every form is a job: one
 * group of commands that the writer decides in order and applies in one commit; a batch is
 * answered with one result per transfer, in request order. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/request.h"
#include "http/internal.h"

#define BODY_SMALL_MAX 1024
/* The most one result of a batch can take: the transactionID, the code, two balances; and
 * what a two-phase step adds: its accounts, pendingID and totals. */
#define RESULT_MAX (WS_ID_LEN_MAX * 6 + 160)
#define RESULT_STEP_MAX (WS_ID_LEN_MAX * 6 * 3 + 240)

static void replayed_header(h2o_req_t *req) {
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("idempotent-replayed"), 0,
                          "Idempotent-Replayed", H2O_STRLIT("true"));
}

/* What a two-phase step that succeeded did, and the balances and pending totals after:
 * ,"status":"pending"|"posted"|"voided"[,"pendingID":..],"fromBalance":..,"fromAvailable":..,
 * "toBalance":..,"toPendingCredits":.. */
static void step_fields(json_buf *b, const ws_command *c) {
    static const char *const status[] = {
        [WS_STEP_PENDING] = "pending", [WS_STEP_POST] = "posted", [WS_STEP_VOID] = "voided"};
    json_lit(b, ",\"status\":\"");
    json_lit(b, status[c->step]);
    json_lit(b, "\"");
    if (c->step == WS_STEP_PENDING) {
        json_lit(b, ",\"timeoutSeconds\":");
        json_u64(b, c->timeout_s);
    } else {
        json_lit(b, ",\"pendingID\":");
        json_str(b, c->pending, c->pending_len);
    }
    json_lit(b, ",\"fromBalance\":");
    json_i64(b, c->from_balance);
    json_lit(b, ",\"fromAvailable\":");
    json_i64(b, (int64_t)((ws_i128)c->from_balance - c->from_pd));
    json_lit(b, ",\"toBalance\":");
    json_i64(b, c->to_balance);
    json_lit(b, ",\"toPendingCredits\":");
    json_u64(b, c->to_pc);
}

static void answer_one(h2o_req_t *req, const http_job *j) {
    const ws_command *c = &j->one;
    if (c->replayed) {
        replayed_header(req);
    }
    if (c->status != WS_OK) {
        http_answer_refusal(req, c);
        return;
    }
    json_buf body = http_pool_buf(req, BODY_SMALL_MAX);
    json_lit(&body, "{\"transactionID\":");
    json_str(&body, c->transfer_id, c->transfer_id_len);
    json_lit(&body, ",\"fromAccount\":");
    json_str(&body, c->account, c->account_len);
    json_lit(&body, ",\"toAccount\":");
    json_str(&body, c->to, c->to_len);
    json_lit(&body, ",\"amount\":");
    json_u64(&body, c->step == WS_STEP_NONE ? c->amount : c->moved);
    if (c->step != WS_STEP_NONE) {
        step_fields(&body, c);
    } else {
        json_lit(&body, ",\"fromBalance\":");
        json_i64(&body, c->from_balance);
        json_lit(&body, ",\"toBalance\":");
        json_i64(&body, c->to_balance);
    }
    json_lit(&body, "}");
    http_send_body(req, 200, &body);
}

/* {"results":[{"transactionID":..,"code":"ok","fromBalance":..,"toBalance":..},
 *             {"transactionID":..,"code":"insufficient_funds"}, ...]}; "replayed":true on an
 * idempotent replay. 200 whatever the outcomes: each result says its own; 503 unavailable
 * when the batch could not be committed. */
static void answer_batch(h2o_req_t *req, const http_job *j) {
    const ws_group *g = &j->group;
    for (size_t i = 0; i < g->n; i++) {
        if (g->cmds[i].status == WS_UNAVAILABLE) {
            /* Read-only (nothing decided) or a failed commit (the batch may come back whole
             * at restart): no result is known, so none is given. */
            http_send_error(req, WS_UNAVAILABLE,
                            "the batch could not be committed (storage failed or the service "
                            "is read-only): retry it with the same transferIDs after a restart");
            return;
        }
    }
    size_t steps = 0;
    for (size_t i = 0; i < g->n; i++) {
        steps += g->cmds[i].step != WS_STEP_NONE;
    }
    json_buf body = http_pool_buf(req, 32 + g->n * RESULT_MAX + steps * RESULT_STEP_MAX);
    json_lit(&body, "{\"results\":[");
    for (size_t i = 0; i < g->n; i++) {
        const ws_command *c = &g->cmds[i];
        json_lit(&body, i ? ",{\"transactionID\":" : "{\"transactionID\":");
        json_str(&body, c->transfer_id, c->transfer_id_len);
        json_lit(&body, ",\"code\":\"");
        json_lit(&body, ws_status_code(c->status));
        json_lit(&body, "\"");
        if (c->status == WS_OK && c->step != WS_STEP_NONE) {
            json_lit(&body, ",\"fromAccount\":");
            json_str(&body, c->account, c->account_len);
            json_lit(&body, ",\"toAccount\":");
            json_str(&body, c->to, c->to_len);
            json_lit(&body, ",\"amount\":");
            json_u64(&body, c->moved);
            step_fields(&body, c);
        } else if (c->status == WS_OK) {
            json_lit(&body, ",\"fromBalance\":");
            json_i64(&body, c->from_balance);
            json_lit(&body, ",\"toBalance\":");
            json_i64(&body, c->to_balance);
        }
        if (c->replayed) {
            json_lit(&body, ",\"replayed\":true");
        }
        json_lit(&body, "}");
    }
    json_lit(&body, "]}");
    http_send_body(req, 200, &body);
}

int http_balance_transfer(http_server *srv, h2o_req_t *req, const ws_query *q) {
    static const char *const known[] = {"fromAccount", "toAccount", "amount", "transferID"};
    ws_command c = {.kind = WS_CMD_TRANSFER};
    if (!http_only_known(req, q, known, 4) ||
        !http_get_id(req, q, "fromAccount", true, c.account, &c.account_len) ||
        !http_get_id(req, q, "toAccount", true, c.to, &c.to_len) ||
        !http_get_number(req, q, "amount", true, 1, WS_AMOUNT_MAX, 0, &c.amount) ||
        !http_get_id(req, q, "transferID", false, c.transfer_id, &c.transfer_id_len)) {
        return 0;
    }
    return http_submit_one(srv, req, &c, answer_one);
}

int http_post_transfers(http_server *srv, h2o_req_t *req, const ws_query *q) {
    if (!http_only_known(req, q, NULL, 0) || !http_json_body(req)) {
        return 0;
    }
    /* The loop's decoding space (WS_GROUP_MAX commands, 1.9 MB), made at its first POST: a
     * job then takes exactly the commands that arrived. */
    io_thread *t = H2O_STRUCT_FROM_MEMBER(io_thread, ctx, req->conn->ctx);
    if (!t->scratch && !(t->scratch = calloc(WS_GROUP_MAX, sizeof(ws_command)))) {
        return http_send_error(req, WS_INTERNAL, "out of memory");
    }
    ws_command *scratch = t->scratch;
    size_t n;
    bool batch;
    ws_decode_error err;
    if (ws_decode_transfers(req->entity.base, req->entity.len, scratch, &n, &batch, &err) !=
        WS_OK) {
        return http_send_error_at(req, err.status, err.index, "%s", err.message);
    }
    if (!batch) {
        if (scratch[0].linked) {
            return http_send_error(req, WS_INVALID_PARAMETER,
                                   "linked ties a transfer to the next one of a batch; a single "
                                   "transfer cannot be linked");
        }
        if (!http_idempotency_key(req, &scratch[0])) {
            return 0;
        }
        return http_submit_one(srv, req, &scratch[0], answer_one);
    }
    ws_command none;
    if (!http_idempotency_key(req, &none)) {
        return 0;
    }
    if (none.idem_key_len > 0) {
        return http_send_error(req, WS_INVALID_PARAMETER,
                               "Idempotency-Key is for a single operation; a batch is "
                               "idempotent by the transferID of each transfer");
    }
    http_job *j = http_job_new(req, n, answer_batch);
    if (!j) {
        return 0;
    }
    memcpy(j->group.cmds, scratch, n * sizeof(ws_command));
    return http_job_submit(srv, req, j);
}

/* The refusal of a write, worded from the command alone so that a replay is byte-identical. */
void http_answer_refusal(h2o_req_t *req, const ws_command *c) {
    int al = c->account_len, tl = c->to_len, xl = c->transfer_id_len;
    const char *a = c->account, *t = c->to, *x = c->transfer_id;
    switch (c->status) {
    case WS_ACCOUNT_EXISTS:
        http_send_error(req, c->status, "account '%.*s' already exists", al, a);
        break;
    case WS_ACCOUNT_NOT_FOUND:
        http_send_error(req, c->status, "account '%.*s' does not exist",
                        c->missing_side == 2 ? tl : al, c->missing_side == 2 ? t : a);
        break;
    case WS_SAME_ACCOUNT:
        http_send_error(req, c->status, "fromAccount and toAccount are both '%.*s'", al, a);
        break;
    case WS_INSUFFICIENT_FUNDS:
        http_send_error(req, c->status, "account '%.*s' has insufficient funds for %" PRIu64, al, a,
                        c->amount);
        break;
    case WS_BALANCE_OVERFLOW:
        http_send_error(req, c->status,
                        "crediting %" PRIu64 " to account '%.*s' would exceed the maximum "
                        "balance of %" PRIu64,
                        c->amount, tl, t, WS_AMOUNT_MAX);
        break;
    case WS_CURRENCY_MISMATCH:
        http_send_error(req, c->status, "accounts '%.*s' and '%.*s' hold different currencies", al,
                        a, tl, t);
        break;
    case WS_BALANCE_LIMIT_EXCEEDED:
        http_send_error(req, c->status,
                        "crediting %" PRIu64 " to account '%.*s' would pass its maxBalance",
                        c->amount, tl, t);
        break;
    case WS_TRANSFER_ID_CONFLICT:
        http_send_error(req, c->status,
                        "transferID '%.*s' was already used with a different fromAccount, "
                        "toAccount or amount",
                        xl, x);
        break;
    case WS_PENDING_TRANSFER_NOT_FOUND:
        http_send_error(req, c->status, "no pending transfer has transferID '%.*s'",
                        (int)c->pending_len, c->pending);
        break;
    case WS_PENDING_TRANSFER_ALREADY_POSTED:
    case WS_PENDING_TRANSFER_ALREADY_VOIDED:
    case WS_PENDING_TRANSFER_EXPIRED:
        http_send_error(req, c->status, "pending transfer '%.*s' %s", (int)c->pending_len,
                        c->pending,
                        c->status == WS_PENDING_TRANSFER_ALREADY_POSTED   ? "was already posted"
                        : c->status == WS_PENDING_TRANSFER_ALREADY_VOIDED ? "was already voided"
                                                                          : "has expired");
        break;
    case WS_EXCEEDS_PENDING_AMOUNT:
        http_send_error(req, c->status,
                        "posting %" PRIu64 " exceeds what pending transfer '%.*s' holds", c->amount,
                        (int)c->pending_len, c->pending);
        break;
    case WS_IDEMPOTENCY_KEY_CONFLICT:
        http_send_error(req, c->status,
                        "Idempotency-Key '%.*s' was already used with a different request",
                        (int)c->idem_key_len, c->idem_key);
        break;
    default:
        http_send_error(req, c->status, "%s", ws_status_message(c->status));
    }
}
