/* The connection, size and framing limits of a request, checked before it is routed: the
 * connection cap, the request line, the header bytes, and framing that leaves in doubt where
 * the request ends (two Content-Length fields, or Content-Length with Transfer-Encoding) or
 * which host it is for. */
#include <string.h>
#include <strings.h>

#include "http/internal.h"

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
        http_send_error(req, WS_BAD_REQUEST,
                        "more than one Content-Length or Transfer-Encoding field, or both");
        return false;
    }
    if (f->host > 1 || (f->host == 0 && req->version >= 0x101)) {
        http_send_error(req, WS_BAD_REQUEST, "an HTTP/1.1 request needs exactly one Host field");
        return false;
    }
    return true;
}

/* The connection and size limits, checked before routing. Answers and returns false when
 * one is passed. */
bool http_within_limits(http_server *srv, h2o_req_t *req, const http_conn *c) {
    if (c != NULL && c->over_cap) {
        req->http1_is_persistent = 0;
        http_send_error(req, WS_OVERLOADED, "the server has %zu open connections, its maximum",
                        srv->cfg.max_connections);
        return false;
    }
    /* method SP target SP HTTP/1.x */
    size_t line = req->input.method.len + 1 + req->input.path.len + 9;
    if (line > srv->cfg.max_request_line_bytes) {
        req->http1_is_persistent = 0;
        http_send_error(req, WS_URI_TOO_LONG, "the request line is longer than %zu bytes",
                        srv->cfg.max_request_line_bytes);
        return false;
    }
    raw_fields f = count_raw_fields(req);
    if ((f.checked ? f.header_bytes : header_bytes(req)) > srv->cfg.max_header_bytes) {
        req->http1_is_persistent = 0;
        http_send_error(req, WS_HEADERS_TOO_LARGE, "the header fields are larger than %zu bytes",
                        srv->cfg.max_header_bytes);
        return false;
    }
    return framing_clear(req, &f);
}
