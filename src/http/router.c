/* The one h2o handler: a request passes the connection, size and framing limits
 * (framing.c), must have a path for a target, passes the API key check (before anything
 * about routes is revealed, but for the open routes: the probes and the explorer's static
 * files), then is routed by path and method and its query parsed. Until the service is up
 * (the state loaded, http_attach), only the operations routes (/health, /ready, /metrics,
 * /openapi.json) and the explorer's files (/ui, /ui/...) are served; a request for any other route
 * is answered 503 unavailable ("starting"), since it would need the state.
 *
 * The route table also names the route label of the request counters (metrics.c), so a
 * label is exactly a route of this table. */
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

/* Readiness: whether writes are accepted now. Starting (the state is still loading),
 * stopping, or read-only after a failed commit or checkpoint: 503 unavailable with the
 * reason. Reads three flags and no storage: load balancers may probe it as often as they
 * like. */
static int ready(http_server *srv, h2o_req_t *req, const ws_query *q) {
    (void)q;
    if (!http_attached(srv)) {
        return http_send_error(req, WS_UNAVAILABLE,
                               "starting: the state (the newest checkpoint and the log after it) "
                               "is still loading");
    }
    if (atomic_load_explicit(&srv->stopping, memory_order_relaxed)) {
        return http_send_error(req, WS_UNAVAILABLE, "stopping: writes are no longer accepted");
    }
    if (service_read_only(srv->svc)) {
        return http_send_error(req, WS_UNAVAILABLE,
                               "read-only: a commit or a checkpoint failed, so writes are refused "
                               "until the service is restarted (reads still work)");
    }
    static const char ok[] = "{\"status\":\"ready\"}";
    json_buf body = {(char *)ok, sizeof(ok) - 1, sizeof(ok) - 1};
    http_send_body(req, 200, &body);
    return 0;
}

/* The OpenAPI document (docs/openapi.yaml), as the build embedded it. It needs no state, so
 * it is served while the service starts too. */
static int openapi(http_server *srv, h2o_req_t *req, const ws_query *q) {
    (void)srv;
    (void)q;
    json_buf body = {(char *)http_openapi_json, http_openapi_json_len, http_openapi_json_len};
    http_send_body(req, 200, &body);
    return 0;
}

typedef struct {
    const char *path;
    bool prefix; /* the path is a prefix followed by an ID (/accounts/{id}) */
    const char *method;
    http_route_fn fn;
    bool ops;      /* served while the service starts (uses the service only once attached) */
    bool open;     /* needs no API key: it tells nothing about accounts (see authorized) */
    uint8_t label; /* its request counters' label, http_route_labels[label] */
} route;

/* Index 0 is every request no route takes. The accounts/{id} route has three labels: the
 * account, its events and its balance at a point (history.c). */
enum {
    LABEL_OTHER,
    LABEL_CREATE_ACCOUNT,
    LABEL_BALANCE_TRANSFER,
    LABEL_GET_BALANCE,
    LABEL_EVENTS,
    LABEL_HEALTH,
    LABEL_READY,
    LABEL_METRICS,
    LABEL_ACCOUNTS,
    LABEL_ACCOUNT,
    LABEL_ACCOUNT_EVENTS,
    LABEL_ACCOUNT_BALANCE,
    LABEL_TRANSFERS,
    LABEL_OPENAPI,
    LABEL_EVENTS_STREAM,
    LABEL_UI,
    LABEL_UI_APP_JS,
    LABEL_UI_STYLE_CSS,
    LABEL_COUNT_
};
_Static_assert(LABEL_COUNT_ == HTTP_ROUTE_LABELS, "one label per route");

const char *const http_route_labels[HTTP_ROUTE_LABELS] = {
    [LABEL_OTHER] = "other",
    [LABEL_CREATE_ACCOUNT] = API "create_account",
    [LABEL_BALANCE_TRANSFER] = API "balance_transfer",
    [LABEL_GET_BALANCE] = API "get_balance",
    [LABEL_EVENTS] = API "events",
    [LABEL_HEALTH] = "/health",
    [LABEL_READY] = "/ready",
    [LABEL_METRICS] = "/metrics",
    [LABEL_ACCOUNTS] = API "accounts",
    [LABEL_ACCOUNT] = API "accounts/{id}",
    [LABEL_ACCOUNT_EVENTS] = API "accounts/{id}/events",
    [LABEL_ACCOUNT_BALANCE] = API "accounts/{id}/balance",
    [LABEL_TRANSFERS] = API "transfers",
    [LABEL_OPENAPI] = "/openapi.json",
    [LABEL_EVENTS_STREAM] = API "events/stream",
    [LABEL_UI] = "/ui",
    [LABEL_UI_APP_JS] = "/ui/app.js",
    [LABEL_UI_STYLE_CSS] = "/ui/style.css",
};

/* The explorer's files are routes of their own, one path each, so a path under /ui/ that is
 * no file (/ui/ itself included) is the usual 404 not_found (and, with keys, the usual 401
 * before that). */
static const route routes[] = {
    {API "create_account", false, "GET", http_create_account, false, false, LABEL_CREATE_ACCOUNT},
    {API "balance_transfer", false, "GET", http_balance_transfer, false, false,
     LABEL_BALANCE_TRANSFER},
    {API "get_balance", false, "GET", http_get_balance, false, false, LABEL_GET_BALANCE},
    {API "events", false, "GET", http_events, false, false, LABEL_EVENTS},
    {API "events/stream", false, "GET", http_events_stream, false, false, LABEL_EVENTS_STREAM},
    {"/health", false, "GET", health, true, true, LABEL_HEALTH},
    {"/ready", false, "GET", ready, true, true, LABEL_READY},
    {"/metrics", false, "GET", http_metrics, true, false, LABEL_METRICS},
    {API "accounts", false, "POST", http_post_account, false, false, LABEL_ACCOUNTS},
    {API "accounts/", true, "GET", http_get_account, false, false, LABEL_ACCOUNT},
    {API "transfers", false, "POST", http_post_transfers, false, false, LABEL_TRANSFERS},
    {"/openapi.json", false, "GET", openapi, true, false, LABEL_OPENAPI},
    {"/ui", false, "GET", http_ui_index, true, true, LABEL_UI},
    {"/ui/app.js", false, "GET", http_ui_app_js, true, true, LABEL_UI_APP_JS},
    {"/ui/style.css", false, "GET", http_ui_style_css, true, true, LABEL_UI_STYLE_CSS},
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

/* The label of path under the accounts/{id} route, as http_get_account splits it: the ID,
 * then nothing, "/events" or "/balance" (anything else is no route). */
static size_t account_label(h2o_iovec_t path) {
    size_t prefix = sizeof(API "accounts/") - 1;
    const char *slash = memchr(path.base + prefix, '/', path.len - prefix);
    if (slash == NULL) {
        return LABEL_ACCOUNT;
    }
    size_t rest = path.len - (size_t)(slash + 1 - path.base);
    return h2o_memis(slash + 1, rest, H2O_STRLIT("events"))    ? LABEL_ACCOUNT_EVENTS
           : h2o_memis(slash + 1, rest, H2O_STRLIT("balance")) ? LABEL_ACCOUNT_BALANCE
                                                               : LABEL_OTHER;
}

size_t http_route_label(const h2o_req_t *req) {
    h2o_iovec_t path = req->path_normalized;
    if (path.base == NULL) {
        /* h2o refused the request before routing it (413, 400, 417): no normalized path;
         * the path as sent, without its query, names the route just as well */
        path = req->input.path;
        const char *q = path.base != NULL ? memchr(path.base, '?', path.len) : NULL;
        path.len = q != NULL ? (size_t)(q - path.base) : path.len;
    }
    const route *r = path.base != NULL ? find_route(path) : NULL;
    if (r == NULL) {
        return LABEL_OTHER;
    }
    return r->prefix ? account_label(path) : r->label;
}

/* Answers 401 unauthorized with the challenge RFC 6750 asks for. */
static int unauthorized(h2o_req_t *req, const char *why) {
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, "WWW-Authenticate",
                   H2O_STRLIT("Bearer"));
    return http_send_error(req, WS_UNAUTHORIZED, "%s", why);
}

/* With API keys configured, every path but the open routes needs "Authorization: Bearer
 * <key>" (/metrics too: it shows traffic and the size of the ledger). The open routes are
 * the two probes /health and /ready, so that load balancers and orchestrators can ask
 * without a key, and the explorer's static files, so that a browser can load the page the
 * key is then typed into; none of them tells anything about accounts. For every other path
 * the key is checked before its method or query is looked at, and a path that is no route
 * gets the 401 too, so a 401 says nothing about what exists, and nothing of a refused
 * request reaches the store or the writer. The messages never repeat what the client sent.
 * r is the route of the path (NULL: none). Answers and returns false when refused. */
static bool authorized(const http_server *srv, h2o_req_t *req, const route *r) {
    if (srv->cfg.auth == NULL || (r != NULL && r->open)) {
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
    const route *r = find_route(req->path_normalized);
    if (!authorized(srv, req, r)) {
        return 0;
    }
    if (!r) {
        return http_send_error(req, WS_NOT_FOUND, "no endpoint at this path; see docs/api.md");
    }
    if (!h2o_memis(req->method.base, req->method.len, r->method, strlen(r->method))) {
        return method_not_allowed(req, r);
    }
    if (!r->ops && !http_service_up(req)) {
        return http_send_error(req, WS_UNAVAILABLE,
                               "starting: the state is still loading; see GET /ready");
    }
    return dispatch(srv, req, r);
}
