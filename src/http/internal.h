/* Shared by the files of src/http only. */
#ifndef WS_HTTP_INTERNAL_H
#define WS_HTTP_INTERNAL_H

#include <h2o.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "core/parse.h"
#include "engine/stats.h"
#include "http/json.h"
#include "http/server.h"

typedef struct io_thread io_thread;

/* ---- the request counters of GET /metrics (metrics.c) ---- */
/* Route labels: router.c's table. */
#define HTTP_ROUTE_LABELS 18
/* HTTP statuses counted one by one: 100..599 (h2o sends no other). */
#define HTTP_STATUS_FIRST 100
#define HTTP_STATUS_SLOTS 500
/* One I/O thread's responses by route label and status; written by that thread only
 * (single-writer counters, engine/stats.h), read by any thread serving /metrics. */
typedef struct {
    stats_counter responses[HTTP_ROUTE_LABELS][HTTP_STATUS_SLOTS];
} http_thread_stats;

struct io_thread {
    http_server *srv;
    /* Reads committed balances; made on this thread by its first request after the service
     * is up (http_service_up), NULL before. */
    service_reader *reader;
    http_thread_stats *stats; /* cache-line aligned, its own allocation; freed never (exit) */
    /* This loop's own h2o configuration: h2o 2.2 keeps one request-body limit a
     * configuration and applies it before any handler runs, so each loop sets its own from
     * the path of the request whose head was just parsed (limit.c). */
    h2o_globalconf_t globalconf;
    ws_command *scratch; /* where POST /transfers bodies are decoded; freed by http_stop */
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;
    h2o_socket_t *listener;
    h2o_timeout_t accept_pause; /* how long accepting rests after running out of fds */
    h2o_timeout_entry_t accept_resume;
    h2o_multithread_queue_t *queue;         /* wakes this loop from other threads */
    h2o_multithread_receiver_t completions; /* finished commands from the writer */
    h2o_multithread_receiver_t control;     /* stop-accepting and exit, from the main thread */
    h2o_multithread_message_t stop_accepting_msg;
    h2o_multithread_message_t exit_msg;
    atomic_bool exiting;
    sem_t ready; /* posted by the thread once its loop is set up */
    /* Limits: this loop's open connections and the timer that enforces their timeouts. */
    h2o_linklist_t conns; /* http_conn.link */
    h2o_timeout_t sweep_period;
    h2o_timeout_entry_t sweep;
    /* This loop's open event streams (stream.c) and the timer that feeds them, linked only
     * while there are any. */
    h2o_linklist_t streams; /* http_stream.link */
    h2o_timeout_t stream_period;
    h2o_timeout_entry_t stream_tick;
};

/* What the server tracks of one accepted connection, for the connection cap and the idle
 * and request timeouts (h2o 2.2 has one timer per HTTP/1 connection, and it runs from the
 * moment the connection is ready for a request). Allocated at accept, freed by the socket's
 * on_close callback; owned by and touched only on its loop's thread. */
typedef enum { CONN_IDLE, CONN_RECEIVING, CONN_BUSY, CONN_STALLED } conn_phase;

typedef struct {
    h2o_linklist_t link;
    io_thread *owner;
    h2o_socket_t *sock;
    bool over_cap; /* accepted past --max-connections: its request is answered 503, then closed */
    bool closing;  /* shut down by the sweep; h2o closes it on its next read or write */
    /* Serving an event stream: the sweep's timeouts do not apply, stream.c bounds it. */
    bool streaming;
    conn_phase phase;
    uint64_t phase_since_ms;
    size_t bytes_written;   /* at the last sweep, to see a response that makes no progress */
    size_t bytes_read;      /* at the last sweep, to see traffic on an idle connection */
    uint64_t requests;      /* requests handed to routes_handle; bumped there */
    uint64_t requests_seen; /* at the last sweep: a change means a request completed */
} http_conn;

struct http_server {
    http_config cfg;
    /* Set by http_attach once the state is loaded, then published by attached (release):
     * a loop thread reads them only after it has seen attached true (acquire). */
    service *svc;
    store *st;
    atomic_bool attached;
    atomic_bool stopping; /* http_stop_accepting was called */
    io_thread *threads;
    size_t thread_count;
    uint16_t port;
    SSL_CTX *ssl_ctx;               /* NULL: plain HTTP */
    atomic_size_t open_connections; /* over every loop, for --max-connections */
    atomic_size_t open_streams;     /* over every loop, for --max-streams */
};

/* The tracked connection of a request, or NULL. Loop thread. */
http_conn *http_conn_of(h2o_req_t *req);
/* The I/O thread whose loop serves req. */
io_thread *http_thread_of(h2o_req_t *req);
/* Whether the service is up (http_attach); srv->svc and srv->st may be used after true.
 * Any thread. */
bool http_attached(http_server *srv);
/* The same, seen by the request's loop thread, which makes its committed-view reader the
 * first time. The hot path's cost once up: one thread-local pointer test. */
bool http_service_up(h2o_req_t *req);

/* The handler h2o calls, carrying the server. */
typedef struct {
    h2o_handler_t super;
    http_server *srv;
} ws_handler;

#define API "/api/1.0/wallet/"

/* ---- router.c: the h2o handler for every path (limits, auth, route, method). ---- */
int http_handle(h2o_handler_t *self, h2o_req_t *req);
/* The label of each route (index 0: "other", every path no route takes). */
extern const char *const http_route_labels[HTTP_ROUTE_LABELS];
/* The route label of a request (of its normalized path, or of the path as sent when h2o
 * refused the request before routing it). */
size_t http_route_label(const h2o_req_t *req);

/* ---- GET /openapi.json: docs/openapi.yaml as JSON, embedded by the build
 * (scripts/openapi_embed.py writes the file that defines these; constant data, any thread). */
extern const unsigned char http_openapi_json[];
extern const size_t http_openapi_json_len;

/* ---- ui.c: GET /ui (index.html), /ui/app.js and /ui/style.css, the ledger explorer's files
 * (ui/), embedded by the build (scripts/ui_embed.py); constant data, any thread. ---- */
int http_ui_index(http_server *srv, h2o_req_t *req, const ws_query *q);
int http_ui_app_js(http_server *srv, h2o_req_t *req, const ws_query *q);
int http_ui_style_css(http_server *srv, h2o_req_t *req, const ws_query *q);

/* ---- metrics.c: GET /metrics and the request counters. ---- */
int http_metrics(http_server *srv, h2o_req_t *req, const ws_query *q);
/* Adds the filter that counts every response h2o sends through a path (its status as sent,
 * h2o's own refusals included). Setup, on the loop's thread. */
void http_register_metrics_filter(h2o_pathconf_t *path);
/* Counts a response written straight to the socket (the 408 of a request timeout), with no
 * request to take a route from: label "other". Loop thread of t. */
void http_count_raw_response(io_thread *t, int status);

/* ---- limit.c: the request-body limit of each path. ---- */
/* The body limit of a request for path (the batch route's own, or the small one). */
size_t http_body_limit(const http_config *cfg, const char *path, size_t len);
/* The calling I/O thread's configuration, whose body limit is set per request. */
void http_limit_thread(h2o_globalconf_t *gc, const http_config *cfg);
/* The body limit of a path on this loop thread. */
size_t http_loop_body_limit(const char *path, size_t len);

/* ---- errors.c: responses and error rendering (the status table's codes and phrases). ---- */
#define HTTP_MESSAGE_MAX 400
json_buf http_pool_buf(h2o_req_t *req, size_t cap);
/* Sends body with status (its reason phrase from the status table), as application/json. */
void http_send_body(h2o_req_t *req, int status, json_buf *body);
/* The same with another Content-Type. */
void http_send_typed(h2o_req_t *req, int status, const char *content_type, json_buf *body);
/* Answers the error body of s and a printf-style message; 0 for the handler to return. */
int http_send_error(h2o_req_t *req, ws_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with the index of the batch item at fault (-1: none). */
int http_send_error_at(h2o_req_t *req, ws_status s, long index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds the filter that rewrites h2o's own plain-text error responses as JSON errors.
 * Setup, on the loop's thread. */
void http_register_error_filter(h2o_pathconf_t *path);

/* ---- framing.c: the connection, size and framing limits, before routing. ---- */
/* Answers and returns false when the request passes a limit or its framing is in doubt. */
bool http_within_limits(http_server *srv, h2o_req_t *req, const http_conn *c);

/* ---- params.c: the query parameters of the GET endpoints. ---- */
extern const char HTTP_ID_RULE[];
bool http_only_known(h2o_req_t *req, const ws_query *q, const char *const *known, size_t n);
bool http_get_id(h2o_req_t *req, const ws_query *q, const char *name, bool required, char *out,
                 uint8_t *out_len);
bool http_get_number(h2o_req_t *req, const ws_query *q, const char *name, bool required,
                     uint64_t min, uint64_t max, uint64_t def, uint64_t *out);
/* A printable, bounded length of a client-supplied name for messages. */
int http_shown_len(size_t len);

/* ---- ids.c ---- */
/* A random (version 4) UUID in out (36 characters). Loop thread. */
void http_generate_id(char *out, uint8_t *len);

/* ---- job.c: a write's life from its request to its answer. ---- */
typedef struct http_job http_job;
/* Answers a finished job on its loop thread (the request is still there). */
typedef void (*http_answer_fn)(h2o_req_t *req, const http_job *j);
struct http_job {
    ws_group group; /* what the writer decides */
    ws_command one; /* the command of a single write (group.cmds points here) */
    h2o_multithread_message_t msg;
    io_thread *owner;
    h2o_req_t *req;
    atomic_int refs;
    atomic_bool orphaned;
    http_answer_fn answer;
};
/* A job for n commands (1: the embedded one), zeroed; NULL on out of memory (answered). */
http_job *http_job_new(h2o_req_t *req, size_t n, http_answer_fn answer);
/* Submits the job's group; answers the request itself when the service refuses it. */
int http_job_submit(http_server *srv, h2o_req_t *req, http_job *j);
/* One write as a job of one command, a copy of c: its accountID (a creation) or transferID
 * (a transfer) generated when the client gave none; answered by answer. */
int http_submit_one(http_server *srv, h2o_req_t *req, const ws_command *c, http_answer_fn answer);
/* The receiver of finished jobs. Loop thread. */
void http_on_completions(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);
/* The committed-view reader of the request's own loop thread. */
service_reader *http_reader(h2o_req_t *req);

/* ---- the resources: accounts.c, transfers.c, events.c ---- */
typedef int (*http_route_fn)(http_server *srv, h2o_req_t *req, const ws_query *q);
int http_create_account(http_server *srv, h2o_req_t *req, const ws_query *q);
int http_get_balance(http_server *srv, h2o_req_t *req, const ws_query *q);
int http_post_account(http_server *srv, h2o_req_t *req, const ws_query *q);
int http_get_account(http_server *srv, h2o_req_t *req, const ws_query *q);
int http_balance_transfer(http_server *srv, h2o_req_t *req, const ws_query *q);
int http_post_transfers(http_server *srv, h2o_req_t *req, const ws_query *q);
int http_events(http_server *srv, h2o_req_t *req, const ws_query *q);

/* ---- stream.c: GET /events/stream, the committed log as Server-Sent Events ---- */
typedef struct http_stream http_stream;
int http_events_stream(http_server *srv, h2o_req_t *req, const ws_query *q);
/* Sets up the loop's stream list and timer. Setup, on the loop's thread. */
void http_streams_init(io_thread *t);
/* Ends every stream of the loop (the service is stopping). Loop thread. */
void http_streams_stop(io_thread *t);
/* ---- events.c: what the event pages share (GET /events and the history routes). ---- */
/* A store read that failed: 500 corrupt (a record failed its checks) or 503 unavailable. */
int http_store_failure(h2o_req_t *req, ws_status s);
/* A page of events being rendered into body after its opening "{\"events\":[". */
typedef struct {
    json_buf *body;
    size_t given;
    uint64_t last; /* the seq of the last event rendered */
} http_event_page;
/* A store_event_fn: renders one event into the page (ctx: an http_event_page). */
ws_status http_render_event(void *ctx, const ws_event *e);
/* Closes the page ("],\"next\":" last or null, "}") and answers it 200. */
int http_send_page(h2o_req_t *req, json_buf *body, bool more, uint64_t last);
/* ---- history.c: GET /accounts/{id}/events and /accounts/{id}/balance (id checked) ---- */
int http_account_events(http_server *srv, h2o_req_t *req, const ws_query *q, const char *id,
                        uint8_t len);
int http_account_balance(http_server *srv, h2o_req_t *req, const ws_query *q, const char *id,
                         uint8_t len);
/* The refusal of a write, worded from the command alone (a replay is byte-identical). */
void http_answer_refusal(h2o_req_t *req, const ws_command *c);
/* Checks a POST's Content-Type (application/json); answers 415 and returns false if not. */
bool http_json_body(h2o_req_t *req);
/* Reads a single POST's Idempotency-Key header into c (idem_key_len 0 if absent); answers
 * 400 and returns false if it is malformed or given twice. */
bool http_idempotency_key(h2o_req_t *req, ws_command *c);

#endif
