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
#include <strings.h>
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
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Entity";
    case 431:
        return "Request Header Fields Too Large";
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
    /* A response to HEAD has the headers of the GET answer but no body; h2o 2.2 would send
     * whatever it is given, and a keep-alive client would read the body as the next answer. */
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
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

/* The committed-view reader of the request's own loop thread. */
static service_reader *reader_of(h2o_req_t *req) {
    return H2O_STRUCT_FROM_MEMBER(io_thread, ctx, req->conn->ctx)->reader;
}

static int get_balance(http_server *srv, h2o_req_t *req, const ws_query *q) {
    (void)srv;
    static const char *const known[] = {"accountID"};
    char id[WS_ID_LEN_MAX];
    uint8_t len;
    if (!only_known(req, q, known, 1) || !get_id(req, q, "accountID", true, id, &len)) {
        return 0;
    }
    uint64_t balance;
    ws_status s = service_balance(reader_of(req), id, len, &balance);
    if (s == WS_ACCOUNT_NOT_FOUND) {
        return send_error(req, s, "account '%.*s' does not exist", (int)len, id);
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
    json_buf body = pool_buf(req, 64 + (size_t)limit * JSON_RECORD_MAX);
    records_ctx rc = {&body, (size_t)limit, 0, 0, false};
    json_lit(&body, "{\"records\":[");
    ws_status s = after == UINT64_MAX ? WS_OK : store_scan_log(srv->st, after + 1, render_record, &rc);
    if (s != WS_OK && s != WS_NOT_FOUND) {
        return store_failure(req, s);
    }
    json_lit(&body, "],\"next\":");
    if (rc.more) {
        json_u64(&body, rc.last_lsn);
    } else {
        json_lit(&body, "null");
    }
    json_lit(&body, "}");
    send_body(req, 200, &body);
    return 0;
}

static int events(http_server *srv, h2o_req_t *req, const ws_query *q) {
    static const char *const known[] = {"after", "limit", "accountID", "records"};
    uint64_t after;
    uint64_t limit;
    char id[WS_ID_LEN_MAX];
    uint8_t len;
    if (!only_known(req, q, known, 4) ||
        !get_number(req, q, "after", false, 0, UINT64_MAX, 0, &after) ||
        !get_number(req, q, "limit", false, 1, EVENTS_LIMIT_MAX, EVENTS_LIMIT_DEFAULT, &limit) ||
        !get_id(req, q, "accountID", false, id, &len)) {
        return 0;
    }
    const ws_query_param *rec = ws_query_get(q, "records");
    if (rec) {
        if (!h2o_memis(rec->value, rec->value_len, H2O_STRLIT("all"))) {
            return invalid(req, "records", "must be 'all' (every record of the log, by lsn)");
        }
        if (len > 0) {
            return send_error(req, WS_INVALID_PARAMETER,
                              "records=all lists the whole log; it cannot be combined with "
                              "accountID");
        }
        return records(srv, req, after, limit);
    }
    uint64_t balance;
    ws_status s = len > 0 ? service_balance(reader_of(req), id, len, &balance) : WS_OK;
    if (s == WS_ACCOUNT_NOT_FOUND) {
        return send_error(req, s, "account '%.*s' does not exist", (int)len, id);
    }
    json_buf body = pool_buf(req, 64 + (size_t)limit * JSON_EVENT_MAX);
    events_ctx ec = {&body, true, 0};
    bool more = false;
    json_lit(&body, "{\"events\":[");
    s = store_scan_events(srv->st, after, limit, id, len, render_event, &ec, &more);
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

/* The size of the header fields as h2o hands them over: each "name: value\r\n", and Host
 * (which h2o moves out of the list). Only used when the raw head cannot be measured
 * (count_raw_fields): Content-Length, Transfer-Encoding, Expect and Upgrade are missing. */
static size_t header_bytes(const h2o_req_t *req) {
    size_t n =
        req->input.authority.len > 0 ? sizeof("host: \r\n") - 1 + req->input.authority.len : 0;
    for (size_t i = 0; i < req->headers.size; i++) {
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    }
    return n;
}

/* How often the fields that h2o consumes itself appear in the raw request head. h2o 2.2
 * keeps the first Content-Length and ignores the others, lets Transfer-Encoding win over
 * Content-Length, and keeps the last Host, without telling the handler that there were
 * several. These are counted in the raw head, which h2o keeps at the start of the socket's
 * input buffer until the answer is sent; checked is false (nothing counted) if that buffer
 * does not start with this request's method. */
typedef struct {
    bool checked;
    int content_length, transfer_encoding, host;
    size_t header_bytes; /* from the end of the request line to the blank line */
} raw_fields;

static raw_fields count_raw_fields(h2o_req_t *req) {
    raw_fields f = {0};
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL
                             ? req->conn->callbacks->get_socket(req->conn)
                             : NULL;
    if (sock == NULL || sock->input == NULL || sock->input->size < req->input.method.len ||
        memcmp(sock->input->bytes, req->input.method.base, req->input.method.len) != 0) {
        return f;
    }
    f.checked = true;
    const char *end = sock->input->bytes + sock->input->size;
    const char *line = memchr(sock->input->bytes, '\n', sock->input->size);
    const char *fields = line != NULL ? line + 1 : end;
    while (line != NULL && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t n = eol != NULL ? (size_t)(eol - line) : 0;
        n -= n > 0 && line[n - 1] == '\r';
        if (n == 0) {
            break; /* the blank line that ends the head */
        }
        f.header_bytes = (size_t)(eol + 1 - fields);
        f.content_length += n > 15 && strncasecmp(line, "content-length:", 15) == 0;
        f.transfer_encoding += n > 18 && strncasecmp(line, "transfer-encoding:", 18) == 0;
        f.host += n > 5 && strncasecmp(line, "host:", 5) == 0;
        line = eol;
    }
    return f;
}

/* Where a request ends, and which host it is for, must not be in doubt: with two
 * Content-Length fields a proxy in front that chose the other one would see other request
 * boundaries than the service (request smuggling). HTTP/1.1 requires exactly one Host
 * (RFC 9112, 3.2). Answers and returns false when the framing or Host is wrong. */
static bool framing_clear(h2o_req_t *req, const raw_fields *f) {
    if (!f->checked) {
        return true;
    }
    if (f->content_length + f->transfer_encoding > 1) {
        req->http1_is_persistent = 0; /* where this request ends is in doubt */
        send_error(req, WS_BAD_REQUEST,
                   "more than one Content-Length or Transfer-Encoding field, or both");
        return false;
    }
    if (f->host > 1 || (f->host == 0 && req->version >= 0x101)) {
        send_error(req, WS_BAD_REQUEST, "an HTTP/1.1 request needs exactly one Host field");
        return false;
    }
    return true;
}

/* The connection and size limits, checked before routing. Answers and returns false when
 * one is passed. */
static bool within_limits(http_server *srv, h2o_req_t *req, const http_conn *c) {
    if (c != NULL && c->over_cap) {
        req->http1_is_persistent = 0;
        send_error(req, WS_OVERLOADED, "the server has %zu open connections, its maximum",
                   srv->cfg.max_connections);
        return false;
    }
    /* method SP target SP HTTP/1.x */
    size_t line = req->input.method.len + 1 + req->input.path.len + 9;
    if (line > srv->cfg.max_request_line_bytes) {
        req->http1_is_persistent = 0;
        send_error(req, WS_URI_TOO_LONG, "the request line is longer than %zu bytes",
                   srv->cfg.max_request_line_bytes);
        return false;
    }
    raw_fields f = count_raw_fields(req);
    if ((f.checked ? f.header_bytes : header_bytes(req)) > srv->cfg.max_header_bytes) {
        req->http1_is_persistent = 0;
        send_error(req, WS_HEADERS_TOO_LARGE, "the header fields are larger than %zu bytes",
                   srv->cfg.max_header_bytes);
        return false;
    }
    return framing_clear(req, &f);
}

int routes_handle(h2o_handler_t *self, h2o_req_t *req) {
    http_server *srv = ((ws_handler *)self)->srv;
    http_conn *conn = http_conn_of(req);
    if (conn != NULL) {
        if (conn->closing) {
            /* The sweep has shut this connection down: whatever arrived in the same loop
             * turn must not run, since its answer can no longer reach the client (which
             * might then repeat a GET that moved money). */
            req->http1_is_persistent = 0;
            return send_error(req, WS_UNAVAILABLE, "the connection timed out and is closing");
        }
        conn->requests++;
    }
    if (!within_limits(srv, req, conn)) {
        return 0;
    }
    /* h2o would read "GET health" as "/health"; a target must be a path (origin form). */
    if (req->input.path.len == 0 || req->input.path.base[0] != '/') {
        return send_error(req, WS_BAD_REQUEST,
                          "the request target must be a path beginning "
                          "with '/'");
    }
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

/* h2o's own refusals. h2o 2.2 answers some requests itself before they reach the handler
 * (h2o_send_error_generic: 413 for a body past --max-body-bytes, 400 for a broken
 * Content-Length or chunked body or an unknown Transfer-Encoding, 417 for an unknown
 * Expect), with a text/plain body. This filter sees every response; for such a one it
 * swaps the body for our JSON error, keeping h2o's status and using its text as the
 * message. (Requests h2o cannot parse at all are answered by h2o's HTTP/1 parser with a
 * fixed plain-text 400 written straight to the socket, past any filter: see docs/api.md.) */

static ws_status status_for_http(int http) {
    switch (http) {
    case 400:
        return WS_BAD_REQUEST;
    case 404:
        return WS_NOT_FOUND;
    case 405:
        return WS_METHOD_NOT_ALLOWED;
    case 408:
        return WS_REQUEST_TIMEOUT;
    case 413:
        return WS_PAYLOAD_TOO_LARGE;
    case 414:
        return WS_URI_TOO_LONG;
    case 417:
        return WS_EXPECTATION_FAILED;
    case 431:
        return WS_HEADERS_TOO_LARGE;
    case 503:
        return WS_UNAVAILABLE;
    default:
        return WS_INTERNAL;
    }
}

static void json_error_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs,
                               size_t bufcnt, h2o_send_state_t state) {
    if (h2o_send_state_is_in_progress(state)) {
        return; /* h2o's error bodies come whole, in the final call */
    }
    char msg[MESSAGE_MAX];
    size_t len = 0;
    for (size_t i = 0; i < bufcnt && len < sizeof(msg); i++) {
        size_t n = bufs[i].len < sizeof(msg) - len ? bufs[i].len : sizeof(msg) - len;
        memcpy(msg + len, bufs[i].base, n);
        len += n;
    }
    ws_status s = status_for_http(req->res.status);
    if (s == WS_PAYLOAD_TOO_LARGE) {
        int n = snprintf(msg, sizeof(msg), "the request body is larger than %zu bytes",
                         req->conn->ctx->globalconf->max_request_entity_size);
        len = n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : 0;
    }
    if (len == 0) {
        len = strlen(ws_status_message(s));
        memcpy(msg, ws_status_message(s), len);
    }
    json_buf body = pool_buf(req, 64 + 6 * MESSAGE_MAX);
    json_error(&body, s, msg, len);
    req->res.content_length = body.len;
    h2o_iovec_t buf = h2o_iovec_init(body.buf, body.len);
    bool head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    h2o_ostream_send_next(self, req, head ? NULL : &buf, head ? 0 : 1, state);
}

static void on_setup_error_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot) {
    (void)self;
    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (req->res.status >= 400 && ct >= 0 &&
        h2o_memis(req->res.headers.entries[ct].value.base, req->res.headers.entries[ct].value.len,
                  H2O_STRLIT("text/plain; charset=utf-8"))) {
        req->res.headers.entries[ct].value = h2o_iovec_init(H2O_STRLIT("application/json"));
        req->res.headers.entries[ct].orig_name = "Content-Type";
        h2o_ostream_t *o = h2o_add_ostream(req, sizeof(*o), slot);
        o->do_send = json_error_do_send;
        slot = &o->next;
    }
    h2o_setup_next_ostream(req, slot);
}

void routes_register_error_filter(h2o_pathconf_t *path) {
    h2o_filter_t *f = h2o_create_filter(path, sizeof(*f));
    f->on_setup_ostream = on_setup_error_ostream;
}
