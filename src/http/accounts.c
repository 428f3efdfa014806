/* The accounts resource: the seed's GET create_account and get_balance, and the JSON API's
 * POST /accounts and GET /accounts/{id}. A creation is a write (a job for the writer); a
 * balance is read from the committed view in memory, on the loop thread. */
#include <string.h>
#include <strings.h>

#include "core/request.h"
#include "http/internal.h"

#define BODY_SMALL_MAX 1024

/* A creation without a currency gets the configured default. */
static void default_currency(const http_server *srv, ws_command *c) {
    if (c->currency_len == 0) {
        const char *d = srv->cfg.default_currency ? srv->cfg.default_currency : WS_DEFAULT_CURRENCY;
        c->currency_len = (uint8_t)strlen(d);
        memcpy(c->currency, d, c->currency_len);
    }
}

static void answer(h2o_req_t *req, const http_job *j, bool full) {
    const ws_command *c = &j->one;
    if (c->replayed) {
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("idempotent-replayed"), 0,
                              "Idempotent-Replayed", H2O_STRLIT("true"));
    }
    if (c->status != WS_CREATED) {
        http_answer_refusal(req, c);
        return;
    }
    json_buf body = http_pool_buf(req, BODY_SMALL_MAX);
    if (full) {
        ws_account_params p = ws_command_params(c);
        json_account_full(&body, c->account, c->account_len, c->from_balance, 0, 0, &p);
    } else {
        json_account(&body, c->account, c->account_len, c->from_balance);
    }
    http_send_body(req, 201, &body);
}

/* The seed's create_account answers {accountID, balance}; POST /accounts the whole account. */
static void answer_created(h2o_req_t *req, const http_job *j) { answer(req, j, false); }

static void answer_created_full(h2o_req_t *req, const http_job *j) { answer(req, j, true); }

int http_create_account(http_server *srv, h2o_req_t *req, const ws_query *q) {
    static const char *const known[] = {"startAmount", "accountID"};
    ws_command c = {.kind = WS_CMD_CREATE_ACCOUNT};
    if (!http_only_known(req, q, known, 2) ||
        !http_get_number(req, q, "startAmount", true, 0, WS_AMOUNT_MAX, 0, &c.amount) ||
        !http_get_id(req, q, "accountID", false, c.account, &c.account_len)) {
        return 0;
    }
    default_currency(srv, &c);
    return http_submit_one(srv, req, &c, answer_created);
}

int http_post_account(http_server *srv, h2o_req_t *req, const ws_query *q) {
    ws_command c;
    ws_decode_error err;
    if (!http_only_known(req, q, NULL, 0) || !http_json_body(req)) {
        return 0;
    }
    if (ws_decode_account(req->entity.base, req->entity.len, &c, &err) != WS_OK) {
        return http_send_error(req, err.status, "%s", err.message);
    }
    if (!http_idempotency_key(req, &c)) {
        return 0;
    }
    default_currency(srv, &c);
    return http_submit_one(srv, req, &c, answer_created_full);
}

static int balance(h2o_req_t *req, const char *id, uint8_t len, bool full) {
    service_account a;
    ws_status s = full ? service_account_get(http_reader(req), id, len, &a)
                       : service_balance(http_reader(req), id, len, &a.balance);
    if (s != WS_OK) {
        return http_send_error(req, WS_ACCOUNT_NOT_FOUND, "account '%.*s' does not exist", (int)len,
                               id);
    }
    json_buf body = http_pool_buf(req, BODY_SMALL_MAX);
    if (full) {
        json_account_full(&body, id, len, a.balance, a.pending_debits, a.pending_credits,
                          &a.params);
    } else {
        json_account(&body, id, len, a.balance);
    }
    http_send_body(req, 200, &body);
    return 0;
}

int http_get_balance(http_server *srv, h2o_req_t *req, const ws_query *q) {
    (void)srv;
    static const char *const known[] = {"accountID"};
    char id[WS_ID_LEN_MAX];
    uint8_t len;
    if (!http_only_known(req, q, known, 1) || !http_get_id(req, q, "accountID", true, id, &len)) {
        return 0;
    }
    return balance(req, id, len, false);
}

/* GET /accounts/{id}, /accounts/{id}/events and /accounts/{id}/balance: the ID is the path's
 * next segment, as it is (an ID needs no escapes). */
int http_get_account(http_server *srv, h2o_req_t *req, const ws_query *q) {
    size_t prefix = sizeof(API "accounts/") - 1;
    h2o_iovec_t path = req->path_normalized;
    const char *id = path.base + prefix;
    size_t rest = path.len - prefix;
    const char *slash = memchr(id, '/', rest);
    size_t len = slash ? (size_t)(slash - id) : rest;
    h2o_iovec_t sub = slash ? h2o_iovec_init(slash + 1, rest - len - 1) : h2o_iovec_init("", 0);
    bool events = h2o_memis(sub.base, sub.len, H2O_STRLIT("events"));
    bool at = h2o_memis(sub.base, sub.len, H2O_STRLIT("balance"));
    if (slash && !events && !at) {
        return http_send_error(req, WS_NOT_FOUND, "no endpoint at this path; see docs/api.md");
    }
    if (!ws_id_valid(id, len)) {
        return http_send_error(req, WS_INVALID_PARAMETER, "the accountID in the path %s",
                               HTTP_ID_RULE);
    }
    if (events) {
        return http_account_events(srv, req, q, id, (uint8_t)len);
    }
    if (at) {
        return http_account_balance(srv, req, q, id, (uint8_t)len);
    }
    if (!http_only_known(req, q, NULL, 0)) {
        return 0;
    }
    return balance(req, id, (uint8_t)len, true);
}

static const h2o_iovec_t key_header = {H2O_STRLIT("idempotency-key")};

bool http_idempotency_key(h2o_req_t *req, ws_command *c) {
    c->idem_key_len = 0;
    ssize_t at = h2o_find_header_by_str(&req->headers, key_header.base, key_header.len, -1);
    if (at < 0) {
        return true;
    }
    if (h2o_find_header_by_str(&req->headers, key_header.base, key_header.len, at) >= 0) {
        http_send_error(req, WS_INVALID_PARAMETER, "more than one Idempotency-Key header");
        return false;
    }
    h2o_iovec_t v = req->headers.entries[at].value;
    if (!ws_id_valid(v.base, v.len)) {
        http_send_error(req, WS_INVALID_PARAMETER, "the Idempotency-Key %s", HTTP_ID_RULE);
        return false;
    }
    memcpy(c->idem_key, v.base, v.len);
    c->idem_key_len = (uint8_t)v.len;
    return true;
}

bool http_json_body(h2o_req_t *req) {
    ssize_t at = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (at >= 0) {
        h2o_iovec_t v = req->headers.entries[at].value;
        size_t n = 0;
        while (n < v.len && v.base[n] != ';' && v.base[n] != ' ' && v.base[n] != '\t') {
            n++; /* the media type, before any parameter (";charset=utf-8") */
        }
        if (n == 16 && strncasecmp(v.base, "application/json", 16) == 0) {
            return true;
        }
    }
    http_send_error(req, WS_UNSUPPORTED_MEDIA_TYPE,
                    "send the body with Content-Type: application/json");
    return false;
}
