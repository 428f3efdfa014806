/* Responses and error rendering. Every status line's reason phrase comes from the status
 * table (core/status.h), and so does the error code a client sees. h2o's own refusals
 * (413, 400 and 417, sent before a request reaches the handler) are rewritten as our JSON
 * errors by a filter. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "http/internal.h"

/* At most this many refusals of whole requests are logged per I/O thread and second; the
 * rest are counted and the count is logged with the next line. */
#define REFUSALS_LOGGED_PER_S 10

static h2o_generator_t no_generator = {NULL, NULL};

json_buf http_pool_buf(h2o_req_t *req, size_t cap) {
    return (json_buf){h2o_mem_alloc_pool(&req->pool, cap), cap, 0};
}

void http_send_body(h2o_req_t *req, int status, json_buf *body) {
    http_send_typed(req, status, "application/json", body);
}

void http_send_typed(h2o_req_t *req, int status, const char *content_type, json_buf *body) {
    req->res.status = status;
    req->res.reason = ws_http_reason(status);
    req->res.content_length = body->len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                   content_type, strlen(content_type));
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

/* A refusal of the request as a whole (malformed, unauthorized, no such route, too large,
 * overload, a failure of the service), as against the outcome of a command it carried
 * (insufficient_funds and the like, which /metrics counts by code). */
static bool whole_request(ws_status s) {
    switch (s) {
    case WS_MISSING_PARAMETER:
    case WS_INVALID_PARAMETER:
    case WS_INVALID_JSON:
    case WS_UNAUTHORIZED:
    case WS_NOT_FOUND:
    case WS_METHOD_NOT_ALLOWED:
    case WS_PAYLOAD_TOO_LARGE:
    case WS_URI_TOO_LONG:
    case WS_UNSUPPORTED_MEDIA_TYPE:
    case WS_TOO_MANY_TRANSFERS:
    case WS_DUPLICATE_TRANSFER_ID:
    case WS_BAD_REQUEST:
    case WS_OVERLOADED:
    case WS_UNAVAILABLE:
    case WS_INTERNAL:
    case WS_CORRUPT:
        return true;
    default:
        return false;
    }
}

/* Logs a refusal of a whole request: its code, status, method and route, never its body,
 * its query, its headers or the message (which may quote the body's field names). Rate
 * limited per thread, so a flood of bad requests cannot flood the log. Loop thread. */
static void log_refusal(h2o_req_t *req, ws_status s) {
    static _Thread_local uint64_t window_s;
    static _Thread_local uint64_t logged;
    static _Thread_local uint64_t suppressed;
    uint64_t now_s = h2o_now(req->conn->ctx->loop) / 1000;
    if (now_s != window_s) {
        window_s = now_s;
        logged = 0;
    }
    if (logged == REFUSALS_LOGGED_PER_S) {
        suppressed++;
        return;
    }
    logged++;
    int method_len = req->method.len < 16 ? (int)req->method.len : 16;
    char method[17];
    snprintf(method, sizeof(method), "%.*s", method_len, req->method.base);
    const char *route = http_route_labels[http_route_label(req)];
    char tail[64] = "";
    if (suppressed > 0) {
        snprintf(tail, sizeof(tail), " (%llu more refusals before it not logged)",
                 (unsigned long long)suppressed);
    }
    ws_log(s == WS_INTERNAL || s == WS_CORRUPT ? WS_LOG_ERROR : WS_LOG_WARN,
           WS_FIELDS(WS_LOG_STR("event", "request_refused"), WS_LOG_STR("code", ws_status_code(s)),
                     WS_LOG_NUM("status", ws_status_http(s)), WS_LOG_STR("method", method),
                     WS_LOG_STR("route", route), WS_LOG_NUM("suppressed", suppressed)),
           "refused a request: %s (%d) to %s %s%s", ws_status_code(s), ws_status_http(s), method,
           route, tail);
    suppressed = 0;
}

static int send_error_v(h2o_req_t *req, ws_status s, long index, const char *fmt, va_list ap) {
    if (whole_request(s)) {
        log_refusal(req, s);
    }
    char msg[HTTP_MESSAGE_MAX];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    json_buf body = http_pool_buf(req, 96 + 6 * HTTP_MESSAGE_MAX);
    json_error_at(&body, s, msg, len, index);
    if (s == WS_OVERLOADED) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, "Retry-After",
                       H2O_STRLIT("1"));
    }
    http_send_body(req, ws_status_http(s), &body);
    return 0;
}

int http_send_error(h2o_req_t *req, ws_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = send_error_v(req, s, -1, fmt, ap);
    va_end(ap);
    return r;
}

int http_send_error_at(h2o_req_t *req, ws_status s, long index, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = send_error_v(req, s, index, fmt, ap);
    va_end(ap);
    return r;
}

/* h2o 2.2 answers some requests itself before they reach the handler
 * (h2o_send_error_generic: 413 for a body past the limit, 400 for a broken Content-Length or
 * chunked body or an unknown Transfer-Encoding, 417 for an unknown Expect), with a text/plain
 * body. This filter sees every response; for such a one it swaps the body for our JSON
 * error, keeping h2o's status and using its text as the message. (Requests h2o cannot parse
 * at all are answered by h2o's HTTP/1 parser with a fixed plain-text 400 written straight to
 * the socket, past any filter: see docs/api.md.) */
static void json_error_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs,
                               size_t bufcnt, h2o_send_state_t state) {
    if (h2o_send_state_is_in_progress(state)) {
        return; /* h2o's error bodies come whole, in the final call */
    }
    char msg[HTTP_MESSAGE_MAX];
    size_t len = 0;
    for (size_t i = 0; i < bufcnt && len < sizeof(msg); i++) {
        size_t n = bufs[i].len < sizeof(msg) - len ? bufs[i].len : sizeof(msg) - len;
        memcpy(msg + len, bufs[i].base, n);
        len += n;
    }
    ws_status s = ws_status_of_http(req->res.status);
    if (s == WS_PAYLOAD_TOO_LARGE) {
        /* The limit of this request's path (limit.c). */
        int n = snprintf(msg, sizeof(msg), "the request body is larger than %zu bytes",
                         http_loop_body_limit(req->path.base, req->path.len));
        len = n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : 0;
    }
    if (len == 0) {
        len = strlen(ws_status_message(s));
        memcpy(msg, ws_status_message(s), len);
    }
    json_buf body = http_pool_buf(req, 64 + 6 * HTTP_MESSAGE_MAX);
    json_error(&body, s, msg, len);
    req->res.content_length = body.len;
    req->res.reason = ws_http_reason(req->res.status);
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

void http_register_error_filter(h2o_pathconf_t *path) {
    h2o_filter_t *f = h2o_create_filter(path, sizeof(*f));
    f->on_setup_ostream = on_setup_error_ostream;
}
