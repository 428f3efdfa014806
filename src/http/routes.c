/* Routing, parameter checks and responses. Reads (get_balance, events, health) are
 * answered here on the loop thread. Writes (create_account, balance_transfer) become a job:
 * a command plus what is needed to answer it later, sent to the writer.
 *
 * A job outlives its request when the client goes away first, so it is reference counted:
 * one reference for the request (dropped by the dispose callback of a guard allocated in
 * the request's pool, which also marks the job orphaned) and one for the writer (dropped
 * after the completion is handled on the loop thread). The completion answers only a job
 * that is not orphaned; an h2o_req_t is touched only on its own loop thread. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "core/parse.h"
#include "core/siphash.h"
#include "http/internal.h"
#include "http/json.h"

#define API "/api/1.0/wallet/"
#define EVENTS_LIMIT_DEFAULT 100
#define EVENTS_LIMIT_MAX 1000
#define MESSAGE_MAX 400
#define BODY_SMALL_MAX 1024

typedef struct {
    ws_command cmd;
    h2o_multithread_message_t msg;
    io_thread *owner;
    h2o_req_t *req;
    atomic_int refs;
    atomic_bool orphaned;
} job;

static const char *reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 422:
        return "Unprocessable Entity";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

static h2o_generator_t no_generator = {NULL, NULL};

static void send_body(h2o_req_t *req, int status, json_buf *body) {
    req->res.status = status;
    req->res.reason = reason(status);
    req->res.content_length = body->len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                   H2O_STRLIT("application/json"));
    h2o_start_response(req, &no_generator);
    h2o_iovec_t buf = h2o_iovec_init(body->buf, body->len);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

static json_buf pool_buf(h2o_req_t *req, size_t cap) {
    return (json_buf){h2o_mem_alloc_pool(&req->pool, cap), cap, 0};
}

/* Answers with the error body of s and a printf-style message. */
__attribute__((format(printf, 3, 4))) static int send_error(h2o_req_t *req, ws_status s,
                                                            const char *fmt, ...) {
    char msg[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    json_buf body = pool_buf(req, 64 + 6 * MESSAGE_MAX);
    json_error(&body, s, msg, len);
    if (s == WS_OVERLOADED) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, "Retry-After",
                       H2O_STRLIT("1"));
    }
    if (s == WS_METHOD_NOT_ALLOWED) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, "Allow", H2O_STRLIT("GET"));
    }
    send_body(req, ws_status_http(s), &body);
    return 0;
}

/* A printable, bounded copy of a client-supplied name for messages. */
static int shown_len(size_t len) { return len > WS_ID_LEN_MAX ? WS_ID_LEN_MAX : (int)len; }

static int invalid(h2o_req_t *req, const char *name, const char *rule) {
    return send_error(req, WS_INVALID_PARAMETER, "%s %s", name, rule);
}

static const char ID_RULE[] = "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";

/* Checks that q holds only the allowed names. Answers and returns false otherwise. */
static bool only_known(h2o_req_t *req, const ws_query *q, const char *const *known, size_t n) {
    for (size_t i = 0; i < q->count; i++) {
        bool ok = false;
        for (size_t k = 0; k < n && !ok; k++) {
            ok = strlen(known[k]) == q->params[i].name_len &&
                 memcmp(known[k], q->params[i].name, q->params[i].name_len) == 0;
        }
        if (!ok) {
            send_error(req, WS_INVALID_PARAMETER, "unknown parameter '%.*s'",
                       shown_len(q->params[i].name_len), q->params[i].name);
            return false;
        }
    }
    return true;
}

/* Reads an optional ID parameter into out/out_len (0 if absent). Answers on error. */
static bool get_id(h2o_req_t *req, const ws_query *q, const char *name, bool required, char *out,
                   uint8_t *out_len) {
    const ws_query_param *p = ws_query_get(q, name);
    *out_len = 0;
    if (!p) {
        if (required) {
            send_error(req, WS_MISSING_PARAMETER, "%s is required", name);
        }
        return !required;
    }
    if (!ws_id_valid(p->value, p->value_len)) {
        invalid(req, name, ID_RULE);
        return false;
    }
    memcpy(out, p->value, p->value_len);
    *out_len = (uint8_t)p->value_len;
    return true;
}

/* Reads a decimal parameter in [min, max]; absent gives def (or an error if required). */
static bool get_number(h2o_req_t *req, const ws_query *q, const char *name, bool required,
                       uint64_t min, uint64_t max, uint64_t def, uint64_t *out) {
    const ws_query_param *p = ws_query_get(q, name);
    if (!p) {
        *out = def;
        if (required) {
            send_error(req, WS_MISSING_PARAMETER, "%s is required", name);
        }
        return !required;
    }
    if (ws_parse_amount(p->value, p->value_len, min, max, out) != WS_OK) {
        send_error(req, WS_INVALID_PARAMETER,
                   "%s must be a whole number from %" PRIu64 " to %" PRIu64
                   ", written with digits only",
                   name, min, max);
        return false;
    }
    return true;
}

/* Random (version 4) UUIDs. libuuid's uuid_generate_random makes about five system calls
 * per ID (getrandom, then getpid/getuid/getppid to reseed random()), which showed in the
 * transfer profile; here each I/O thread draws 4 KiB from getrandom, the same kernel
 * source, once per 256 IDs, and libuuid formats them. */
#define RANDOM_POOL_BYTES 4096

static __thread unsigned char random_pool[RANDOM_POOL_BYTES];
static __thread size_t random_used = RANDOM_POOL_BYTES;

static void generate_id(char *out, uint8_t *len) {
    if (random_used + sizeof(uuid_t) > RANDOM_POOL_BYTES) {
        ws_random_fill(random_pool, RANDOM_POOL_BYTES);
        random_used = 0;
    }
    uuid_t u;
    memcpy(u, random_pool + random_used, sizeof(u));
    memset(random_pool + random_used, 0, sizeof(u)); /* an ID's bits are used once */
    random_used += sizeof(u);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char text[37];
    uuid_unparse_lower(u, text);
    memcpy(out, text, 36);
    *len = 36;
}

static void job_release(job *j) {
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        free(j);
    }
}

static void on_request_dispose(void *p) {
    job *j = *(job **)p;
    atomic_store(&j->orphaned, true);
    job_release(j);
}

/* Writer thread: hand the finished job to its loop. */
static void on_command_done(ws_command *cmd) {
    job *j = (job *)cmd;
    h2o_multithread_send_message(&j->owner->completions, &j->msg);
}

static job *job_new(h2o_req_t *req) {
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        return NULL;
    }
    j->req = req;
    j->owner = H2O_STRUCT_FROM_MEMBER(io_thread, ctx, req->conn->ctx);
    j->cmd.done = on_command_done;
    atomic_init(&j->refs, 2);
    job **guard = h2o_mem_alloc_shared(&req->pool, sizeof(job *), on_request_dispose);
    *guard = j;
    return j;
}

static int submit(http_server *srv, h2o_req_t *req, job *j) {
    ws_status s = service_submit(srv->svc, &j->cmd);
    if (s == WS_OK) {
        return 0; /* answered later, by routes_on_completions */
    }
    job_release(j); /* the writer will never see it */
    if (s == WS_OVERLOADED) {
        return send_error(req, s, "the write queue is full; retry in a moment");
    }
    return send_error(req, s, "%s", ws_status_message(s));
}

static int create_account(http_server *srv, h2o_req_t *req, const ws_query *q) {
    static const char *const known[] = {"startAmount", "accountID"};
    ws_command c = {.kind = WS_CMD_CREATE_ACCOUNT};
    if (!only_known(req, q, known, 2) ||
        !get_number(req, q, "startAmount", true, 0, WS_AMOUNT_MAX, 0, &c.amount) ||
        !get_id(req, q, "accountID", false, c.account, &c.account_len)) {
        return 0;
    }
    if (c.account_len == 0) {
        generate_id(c.account, &c.account_len);
    }
    job *j = job_new(req);
    if (!j) {
        return send_error(req, WS_INTERNAL, "out of memory");
    }
    c.done = j->cmd.done;
    j->cmd = c;
    return submit(srv, req, j);
}

static int balance_transfer(http_server *srv, h2o_req_t *req, const ws_query *q) {
    static const char *const known[] = {"fromAccount", "toAccount", "amount", "transferID"};
    ws_command c = {.kind = WS_CMD_TRANSFER};
    if (!only_known(req, q, known, 4) ||
        !get_id(req, q, "fromAccount", true, c.account, &c.account_len) ||
        !get_id(req, q, "toAccount", true, c.to, &c.to_len) ||
        !get_number(req, q, "amount", true, 1, WS_AMOUNT_MAX, 0, &c.amount) ||
        !get_id(req, q, "transferID", false, c.transfer_id, &c.transfer_id_len)) {
        return 0;
    }
    c.transfer_id_given = c.transfer_id_len > 0;
    if (!c.transfer_id_given) {
        generate_id(c.transfer_id, &c.transfer_id_len);
    }
    job *j = job_new(req);
    if (!j) {
        return send_error(req, WS_INTERNAL, "out of memory");
    }
    c.done = j->cmd.done;
    j->cmd = c;
    return submit(srv, req, j);
}

static int store_failure(h2o_req_t *req, ws_status s) {
    return send_error(req, s == WS_CORRUPT ? WS_CORRUPT : WS_UNAVAILABLE, "%s",
                      ws_status_message(s));
}

static int get_balance(http_server *srv, h2o_req_t *req, const ws_query *q) {
    static const char *const known[] = {"accountID"};
    char id[WS_ID_LEN_MAX];
    uint8_t len;
    if (!only_known(req, q, known, 1) || !get_id(req, q, "accountID", true, id, &len)) {
        return 0;
    }
    uint64_t balance;
    ws_status s = store_get_balance(srv->st, id, len, &balance);
    if (s == WS_ACCOUNT_NOT_FOUND) {
        return send_error(req, s, "account '%.*s' does not exist", (int)len, id);
    }
    if (s != WS_OK) {
        return store_failure(req, s);
    }
    json_buf body = pool_buf(req, BODY_SMALL_MAX);
    json_account(&body, id, len, balance);
    send_body(req, 200, &body);
    return 0;
}

typedef struct {
    json_buf *body;
    bool first;
    uint64_t last_seq;
} events_ctx;

static ws_status render_event(void *ctx, const ws_event *e) {
    events_ctx *ec = ctx;
    if (!ec->first) {
        json_lit(ec->body, ",");
    }
    ec->first = false;
    json_event(ec->body, e);
    ec->last_seq = e->seq;
    return WS_OK;
}

static int events(http_server *srv, h2o_req_t *req, const ws_query *q) {
    static const char *const known[] = {"after", "limit", "accountID"};
    uint64_t after;
    uint64_t limit;
    char id[WS_ID_LEN_MAX];
    uint8_t len;
    if (!only_known(req, q, known, 3) ||
        !get_number(req, q, "after", false, 0, UINT64_MAX, 0, &after) ||
        !get_number(req, q, "limit", false, 1, EVENTS_LIMIT_MAX, EVENTS_LIMIT_DEFAULT, &limit) ||
        !get_id(req, q, "accountID", false, id, &len)) {
        return 0;
    }
    uint64_t balance;
    ws_status s = len > 0 ? store_get_balance(srv->st, id, len, &balance) : WS_OK;
    if (s == WS_ACCOUNT_NOT_FOUND) {
        return send_error(req, s, "account '%.*s' does not exist", (int)len, id);
    }
    json_buf body = pool_buf(req, 64 + (size_t)limit * JSON_EVENT_MAX);
    events_ctx ec = {&body, true, 0};
    bool more = false;
    json_lit(&body, "{\"events\":[");
    if (s == WS_OK) {
        s = store_scan_events(srv->st, after, limit, id, len, render_event, &ec, &more);
    }
    if (s != WS_OK) {
        return store_failure(req, s);
    }
    json_lit(&body, "],\"next\":");
    if (more) {
        json_u64(&body, ec.last_seq);
    } else {
        json_lit(&body, "null");
    }
    json_lit(&body, "}");
    send_body(req, 200, &body);
    return 0;
}

static int health(http_server *srv, h2o_req_t *req, const ws_query *q) {
    (void)srv;
    (void)q;
    static const char ok[] = "{\"status\":\"ok\"}";
    json_buf body = {(char *)ok, sizeof(ok) - 1, sizeof(ok) - 1};
    send_body(req, 200, &body);
    return 0;
}

typedef int (*route_fn)(http_server *srv, h2o_req_t *req, const ws_query *q);

static const struct {
    const char *path;
    route_fn fn;
} routes[] = {
    {API "create_account", create_account},
    {API "balance_transfer", balance_transfer},
    {API "get_balance", get_balance},
    {API "events", events},
    {"/health", health},
};

static route_fn find_route(h2o_iovec_t path) {
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (h2o_memis(path.base, path.len, routes[i].path, strlen(routes[i].path))) {
            return routes[i].fn;
        }
    }
    return NULL;
}

/* Answers 401 unauthorized with the challenge RFC 6750 asks for. */
static int unauthorized(h2o_req_t *req, const char *why) {
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, "WWW-Authenticate",
                   H2O_STRLIT("Bearer"));
    return send_error(req, WS_UNAUTHORIZED, "%s", why);
}

/* With API keys configured, every path but /health needs "Authorization: Bearer <key>".
 * Checked before the path, method or query is looked at, so a 401 says nothing about what
 * exists, and nothing of a refused request reaches the store or the writer. The messages
 * never repeat what the client sent. Answers and returns false when refused. */
static bool authorized(const http_server *srv, h2o_req_t *req) {
    if (srv->cfg.auth == NULL ||
        h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/health"))) {
        return true;
    }
    ssize_t at = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (at < 0) {
        unauthorized(req, "this endpoint requires the header 'Authorization: Bearer <API key>'");
        return false;
    }
    if (h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, at) >= 0) {
        unauthorized(req, "more than one Authorization header");
        return false;
    }
    h2o_iovec_t v = req->headers.entries[at].value;
    switch (auth_check(srv->cfg.auth, v.base, v.len)) {
    case AUTH_OK:
        return true;
    case AUTH_MALFORMED:
        unauthorized(req, "the Authorization header must be 'Bearer' followed by an API key");
        return false;
    case AUTH_WRONG:
        break;
    }
    unauthorized(req, "the API key is not valid");
    return false;
}

int routes_handle(h2o_handler_t *self, h2o_req_t *req) {
    http_server *srv = ((ws_handler *)self)->srv;
    if (!authorized(srv, req)) {
        return 0;
    }
    route_fn fn = find_route(req->path_normalized);
    if (!fn) {
        return send_error(req, WS_NOT_FOUND, "no endpoint at this path; see docs/api.md");
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        return send_error(req, WS_METHOD_NOT_ALLOWED, "%s",
                          ws_status_message(WS_METHOD_NOT_ALLOWED));
    }
    const char *qs = "";
    size_t qlen = 0;
    if (req->query_at != SIZE_MAX) {
        qs = req->path.base + req->query_at + 1;
        qlen = req->path.len - req->query_at - 1;
    }
    if (qlen > WS_QUERY_LEN_MAX) {
        return send_error(req, WS_URI_TOO_LONG, "the query string is longer than %d bytes",
                          WS_QUERY_LEN_MAX);
    }
    ws_query q;
    char *decoded = h2o_mem_alloc_pool(&req->pool, qlen + 1);
    if (ws_query_parse(qs, qlen, decoded, &q) != WS_OK) {
        if (q.bad_name_len > 0) {
            return send_error(req, WS_INVALID_PARAMETER, "parameter '%.*s' %s",
                              shown_len(q.bad_name_len), q.bad_name, q.why);
        }
        return send_error(req, WS_INVALID_PARAMETER, "%s", q.why);
    }
    return fn(srv, req, &q);
}

static void answer_transfer(h2o_req_t *req, const ws_command *c) {
    json_buf body = pool_buf(req, BODY_SMALL_MAX);
    json_lit(&body, "{\"transactionID\":");
    json_str(&body, c->transfer_id, c->transfer_id_len);
    json_lit(&body, ",\"fromAccount\":");
    json_str(&body, c->account, c->account_len);
    json_lit(&body, ",\"toAccount\":");
    json_str(&body, c->to, c->to_len);
    json_lit(&body, ",\"amount\":");
    json_u64(&body, c->amount);
    json_lit(&body, ",\"fromBalance\":");
    json_u64(&body, c->from_balance);
    json_lit(&body, ",\"toBalance\":");
    json_u64(&body, c->to_balance);
    json_lit(&body, "}");
    send_body(req, 200, &body);
}

/* The refusal of a write, worded from the command alone so that a replay is byte-identical. */
static void answer_refusal(h2o_req_t *req, const ws_command *c) {
    int al = c->account_len, tl = c->to_len, xl = c->transfer_id_len;
    const char *a = c->account, *t = c->to, *x = c->transfer_id;
    switch (c->status) {
    case WS_ACCOUNT_EXISTS:
        send_error(req, c->status, "account '%.*s' already exists", al, a);
        break;
    case WS_ACCOUNT_NOT_FOUND:
        send_error(req, c->status, "account '%.*s' does not exist", c->missing_side == 2 ? tl : al,
                   c->missing_side == 2 ? t : a);
        break;
    case WS_SAME_ACCOUNT:
        send_error(req, c->status, "fromAccount and toAccount are both '%.*s'", al, a);
        break;
    case WS_INSUFFICIENT_FUNDS:
        send_error(req, c->status, "account '%.*s' has insufficient funds for %" PRIu64, al, a,
                   c->amount);
        break;
    case WS_BALANCE_OVERFLOW:
        send_error(req, c->status,
                   "crediting %" PRIu64 " to account '%.*s' would exceed the maximum balance "
                   "of %" PRIu64,
                   c->amount, tl, t, WS_AMOUNT_MAX);
        break;
    case WS_TRANSFER_ID_CONFLICT:
        send_error(req, c->status,
                   "transferID '%.*s' was already used with a different fromAccount, "
                   "toAccount or amount",
                   xl, x);
        break;
    default:
        send_error(req, c->status, "%s", ws_status_message(c->status));
    }
}

static void answer(h2o_req_t *req, const ws_command *c) {
    if (c->replayed) {
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("idempotent-replayed"), 0,
                              "Idempotent-Replayed", H2O_STRLIT("true"));
    }
    if (c->status == WS_CREATED) {
        json_buf body = pool_buf(req, BODY_SMALL_MAX);
        json_account(&body, c->account, c->account_len, c->from_balance);
        send_body(req, 201, &body);
    } else if (c->status == WS_OK) {
        answer_transfer(req, c);
    } else {
        answer_refusal(req, c);
    }
}

void routes_on_completions(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        job *j = H2O_STRUCT_FROM_MEMBER(job, msg, m);
        if (!atomic_load(&j->orphaned)) {
            answer(j->req, &j->cmd);
        }
        job_release(j);
    }
}
