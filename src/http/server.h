/* The HTTP front: h2o event loops, one per I/O thread, each with its own SO_REUSEPORT
 * listener. Reads are served on the I/O threads straight from the store; writes become
 * commands for the service, answered when the writer completes them.
 *
 * Threads: every function here is called from the main thread. */
#ifndef WS_HTTP_SERVER_H
#define WS_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/service.h"
#include "http/auth.h"
#include "store/store.h"

#define HTTP_IO_THREADS_MAX 64

/* Defaults and bounds of the limit flags. h2o 2.2 itself refuses (plain-text 400) any
 * request head over H2O_MAX_REQLEN (417,792 bytes) or with more than 100 header fields, so
 * the request line and header limits stay well under that. */
#define HTTP_MAX_BODY_BYTES_DEFAULT 4096
#define HTTP_MAX_BODY_BYTES_LIMIT (1u << 20)
/* POST /transfers: 8,190 transfers of three 64-character IDs take about 2.4 MB as JSON. */
#define HTTP_MAX_BATCH_BODY_BYTES_DEFAULT (4u << 20)
#define HTTP_MAX_BATCH_BODY_BYTES_LIMIT (64u << 20)
#define HTTP_REQUEST_TIMEOUT_MS_DEFAULT 10000
#define HTTP_IDLE_TIMEOUT_MS_DEFAULT 30000
#define HTTP_TIMEOUT_MS_MIN 100
#define HTTP_TIMEOUT_MS_MAX 3600000
#define HTTP_MAX_CONNECTIONS_DEFAULT 1024
#define HTTP_MAX_CONNECTIONS_LIMIT 1000000
#define HTTP_MAX_REQUEST_LINE_DEFAULT 4096
#define HTTP_MAX_REQUEST_LINE_MIN 64
#define HTTP_MAX_REQUEST_LINE_LIMIT 65536
#define HTTP_MAX_HEADER_BYTES_DEFAULT 8192
#define HTTP_MAX_HEADER_BYTES_MIN 256
#define HTTP_MAX_HEADER_BYTES_LIMIT 262144
/* Event streams (GET /events/stream): how many may be open over all I/O threads, and how
 * long a stream's client may leave a chunk untaken before it is disconnected. */
#define HTTP_MAX_STREAMS_DEFAULT 64
#define HTTP_MAX_STREAMS_LIMIT 100000
#define HTTP_STREAM_STALL_TIMEOUT_MS_DEFAULT 10000

typedef struct http_server http_server;

typedef struct {
    const char *bind; /* numeric IPv4 or IPv6 address */
    uint16_t port;    /* 0: an ephemeral port, see http_port */
    size_t io_threads;
    /* Limits (docs/api.md, "Limits and refusals"). */
    size_t max_body_bytes;            /* 413 past it, on every route but POST /transfers */
    size_t max_batch_body_bytes;      /* 413 past it, on POST /transfers */
    uint64_t request_timeout_ms;      /* from a request's first byte to its last; then 408 */
    uint64_t idle_timeout_ms;         /* a connection with no request under way is closed */
    size_t max_connections;           /* open connections over all I/O threads; then 503 */
    size_t max_request_line_bytes;    /* "GET /path?query HTTP/1.1"; 414 past it */
    size_t max_header_bytes;          /* the header fields together; 431 past it */
    size_t max_streams;               /* open event streams over all I/O threads; then 503 */
    uint64_t stream_stall_timeout_ms; /* a stream's chunk untaken this long: disconnected */
    /* The currency of an account created without one (the seed's create_account always). */
    const char *default_currency; /* a valid code (ws_currency_valid); NULL: "XXX" */
    /* Access control and TLS. auth: the API keys, NULL for none; owned by the caller and
     * kept until after http_stop. tls_cert_path/tls_key_path: PEM files, both or neither
     * (NULL: plain HTTP). */
    const http_auth *auth;
    const char *tls_cert_path;
    const char *tls_key_path;
} http_config;

/* Loads the TLS certificate and key when configured, then binds every listener
 * (SO_REUSEPORT, one per I/O thread) without serving yet, so that a bad certificate, a bad
 * address or a taken port fails before any data is opened. WS_INVALID_PARAMETER: the
 * certificate or key cannot be loaded or do not match, or bind is not a numeric address.
 * WS_UNAVAILABLE: the port is in use or cannot be bound. */
WS_MUST_USE ws_status http_listen(const http_config *cfg, http_server **out);
/* Starts the I/O threads on the bound listeners, before the state is loaded: from now on
 * /health, /ready (503 "starting") and /metrics are answered, and every other route is
 * answered 503 unavailable until http_attach. */
WS_MUST_USE ws_status http_serve(http_server *srv);
/* The service is up: every route is served from now on. The service and store must outlive
 * the server. Once, after http_serve. */
void http_attach(http_server *srv, service *svc, store *st);
/* The port actually bound. */
uint16_t http_port(const http_server *srv);
/* Closes the listeners; open connections are still served (/ready answers 503
 * "stopping"). */
void http_stop_accepting(http_server *srv);
/* Call after service_stop: gives the loops a moment to flush the last answers, then stops
 * and joins the I/O threads. */
void http_stop(http_server *srv);

#endif
