/* GET /ui: the ledger explorer, a static page (ui/index.html, app.js, style.css) that reads
 * the API from the browser. The build embeds the files in the binary (scripts/ui_embed.py),
 * as it does docs/openapi.yaml, so a binary always serves the page of its own build and
 * needs no files beside it; nothing here reads the disk.
 *
 * The files hold no data, so they need no API key (router.c's route table marks them open):
 * the key is typed into the page, which sends it with every data request it makes. What the
 * headers are for:
 * - Content-Security-Policy: scripts, styles and connections from this origin only, no inline
 *   script or style (the embed script refuses a file that has one), no framing. A value of
 *   the API rendered by mistake as markup could then still run no script.
 * - X-Content-Type-Options: nosniff, so each file is taken as the type it is sent with.
 * - Cache-Control: no-cache, so a browser asks again (the files change with the binary, and
 *   carry no validator).
 * - Referrer-Policy: no-referrer: the page links nowhere, and says nothing if it ever does.
 *
 * The page is at /ui, its files at /ui/app.js and /ui/style.css (index.html names them by
 * absolute paths). /ui/ is no route, as no path of the API ends in a slash: docs/openapi.yaml's
 * lint (recommended-strict) refuses a path with a trailing slash, and one without a 2xx
 * answer, so /ui/ could be neither a second address of the page nor a redirect to it. Every
 * handler here is constant data and answers on any I/O thread, while the service starts too
 * (the page's data requests then get 503). */
#include <string.h>

#include "http/internal.h"

/* Defined by the file scripts/ui_embed.py generates; constant data, any thread. */
extern const unsigned char http_ui_file_index_html[];
extern const size_t http_ui_file_index_html_len;
extern const unsigned char http_ui_file_app_js[];
extern const size_t http_ui_file_app_js_len;
extern const unsigned char http_ui_file_style_css[];
extern const size_t http_ui_file_style_css_len;

/* img-src data: is for the empty icon of index.html, which keeps the browser from asking for a
 * /favicon.ico the service does not have. */
static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static void add_header(h2o_req_t *req, const h2o_token_t *token, const char *name,
                       const char *value) {
    h2o_add_header(&req->pool, &req->res.headers, token, name, value, strlen(value));
}

/* A header h2o 2.2 has no token for; lower is its name in lower case, as h2o compares it. */
static void add_named(h2o_req_t *req, const char *lower, const char *name, const char *value) {
    h2o_add_header_by_str(&req->pool, &req->res.headers, lower, strlen(lower), 0, name, value,
                          strlen(value));
}

static int send_file(h2o_req_t *req, const unsigned char *data, size_t len, const char *type) {
    add_header(req, H2O_TOKEN_CACHE_CONTROL, "Cache-Control", "no-cache");
    add_named(req, "x-content-type-options", "X-Content-Type-Options", "nosniff");
    add_named(req, "content-security-policy", "Content-Security-Policy", CSP);
    add_named(req, "referrer-policy", "Referrer-Policy", "no-referrer");
    json_buf body = {(char *)data, len, len};
    http_send_typed(req, 200, type, &body);
    return 0;
}

int http_ui_index(http_server *srv, h2o_req_t *req, const ws_query *q) {
    (void)srv;
    (void)q;
    return send_file(req, http_ui_file_index_html, http_ui_file_index_html_len,
                     "text/html; charset=utf-8");
}

int http_ui_app_js(http_server *srv, h2o_req_t *req, const ws_query *q) {
    (void)srv;
    (void)q;
    return send_file(req, http_ui_file_app_js, http_ui_file_app_js_len,
                     "text/javascript; charset=utf-8");
}

int http_ui_style_css(http_server *srv, h2o_req_t *req, const ws_query *q) {
    (void)srv;
    (void)q;
    return send_file(req, http_ui_file_style_css, http_ui_file_style_css_len,
                     "text/css; charset=utf-8");
}
