/* The one h2o handler: a request passes the connection, size and framing limits
 * (framing.c), must have a path for a target, passes the API key check (before anything
 * about routes is revealed), then is routed by path and method and its query parsed. */
#include <string.h>

#include "http/internal.h"

static int health(http_server *srv, h2o_req_t *req, const ws_query *q) {
    (void)srv;
    (void)q;
    static const char ok[] = "{\"status\":\"ok\"}";
    json_buf body = {(char *)ok, sizeof(ok) - 1, sizeof(ok) - 1};
    http_send_body(req, 200, &body);
    return 0;
}

typedef struct {
    const char *path;
    bool prefix; /* the path is a prefix followed by an ID (/accounts/{id}) */
    const char *method;
    http_route_fn fn;
} route;

static const route routes[] = {
    {API "create_account", false, "GET", http_create_account},
    {API "balance_transfer", false, "GET", http_balance_transfer},
    {API "get_balance", false, "GET", http_get_balance},
    {API "events", false, "GET", http_events},
    {"/health", false, "GET", health},
    {API "accounts", false, "POST", http_post_account},
    {API "accounts/", true, "GET", http_get_account},
    {API "transfers", false, "POST", http_post_transfers},
};

static const route *find_route(h2o_iovec_t path) {
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        size_t n = strlen(routes[i].path);
        if (routes[i].prefix ? path.len > n && memcmp(path.base, routes[i].path, n) == 0
                             : h2o_memis(path.base, path.len, routes[i].path, n)) {
            return &routes[i];
        }
    }
    return NULL;
}

/* Answers 401 unauthorized with the challenge RFC 6750 asks for. */
static int unauthorized(h2o_req_t *req, const char *why) {
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, "WWW-Authenticate",
                   H2O_STRLIT("Bearer"));
    return http_send_error(req, WS_UNAUTHORIZED, "%s", why);
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

static int method_not_allowed(h2o_req_t *req, const route *r) {
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, "Allow", r->method,
                   strlen(r->method));
    return http_send_error(req, WS_METHOD_NOT_ALLOWED, "only %s is allowed on this endpoint",
                           r->method);
}

/* Parses the query and calls the route. */
static int dispatch(http_server *srv, h2o_req_t *req, const route *r) {
    const char *qs = "";
    size_t qlen = 0;
    if (req->query_at != SIZE_MAX) {
        qs = req->path.base + req->query_at + 1;
        qlen = req->path.len - req->query_at - 1;
    }
    if (qlen > WS_QUERY_LEN_MAX) {
        return http_send_error(req, WS_URI_TOO_LONG, "the query string is longer than %d bytes",
                               WS_QUERY_LEN_MAX);
    }
    ws_query q;
    char *decoded = h2o_mem_alloc_pool(&req->pool, qlen + 1);
    if (ws_query_parse(qs, qlen, decoded, &q) != WS_OK) {
        if (q.bad_name_len > 0) {
            return http_send_error(req, WS_INVALID_PARAMETER, "parameter '%.*s' %s",
                                   http_shown_len(q.bad_name_len), q.bad_name, q.why);
        }
        return http_send_error(req, WS_INVALID_PARAMETER, "%s", q.why);
    }
    return r->fn(srv, req, &q);
}

int http_handle(h2o_handler_t *self, h2o_req_t *req) {
    http_server *srv = ((ws_handler *)self)->srv;
    http_conn *conn = http_conn_of(req);
    if (conn != NULL) {
        if (conn->closing) {
            /* The sweep has shut this connection down: whatever arrived in the same loop
             * turn must not run, since its answer can no longer reach the client (which
             * might then repeat a GET that moved money). */
            req->http1_is_persistent = 0;
            return http_send_error(req, WS_UNAVAILABLE, "the connection timed out and is closing");
        }
        conn->requests++;
    }
    if (!http_within_limits(srv, req, conn)) {
        return 0;
    }
    /* h2o would read "GET health" as "/health"; a target must be a path (origin form). */
    if (req->input.path.len == 0 || req->input.path.base[0] != '/') {
        return http_send_error(req, WS_BAD_REQUEST,
                               "the request target must be a path beginning with '/'");
    }
    if (!authorized(srv, req)) {
        return 0;
    }
    const route *r = find_route(req->path_normalized);
    if (!r) {
        return http_send_error(req, WS_NOT_FOUND, "no endpoint at this path; see docs/api.md");
    }
    if (!h2o_memis(req->method.base, req->method.len, r->method, strlen(r->method))) {
        return method_not_allowed(req, r);
    }
    return dispatch(srv, req, r);
}
