/* GET /events/stream: the committed event log as Server-Sent Events, live.
 *
 * Each I/O thread keeps the list of its own open streams (io_thread.streams) and, while it
 * has any, a timer every STREAM_TICK_MS. A tick reads the committed seq once (one atomic
 * load: service_committed_seq) and, for each stream behind it whose last chunk h2o has
 * taken, reads the events after the stream's last seq from the store (store_scan_events, as
 * GET /events does, never past the committed seq) and sends as many as fit in
 * STREAM_CHUNK_BYTES as one chunk. h2o_send is asynchronous: the next chunk is read only when
 * h2o calls proceed, which it does once the chunk is in the socket, so a stream holds at most
 * one chunk in the service, and its socket's send buffer is set to STREAM_SNDBUF_BYTES. A
 * consumer far behind is refilled at once from proceed, one at the tail at the next tick; an
 * idle one gets a ": ping" comment every STREAM_PING_MS.
 *
 * Bounds: a stream whose chunk the client has not taken in full within
 * --stream-stall-timeout is shut down (it resumes with Last-Event-ID); at most
 * --max-streams streams are open over all threads (503 overloaded past it). The writer is
 * never involved: streams read the store and one atomic, on their own loop's thread.
 * Streaming connections are exempt from the sweep's idle and request timeouts (server.c);
 * they have this stall bound instead. At stop every stream is ended (its last chunk) and
 * its connection closed. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "http/internal.h"

/* How often each loop with open streams looks for new committed events. */
#define STREAM_TICK_MS 25
/* A comment is sent on a stream that has sent nothing for this long, so that proxies and
 * load balancers do not cut it as idle. */
#define STREAM_PING_MS 15000
/* One chunk: one store scan and one h2o_send, as many events as fit (about 250 of a plain
 * transfer's), at most STREAM_CHUNK_EVENTS. */
#define STREAM_CHUNK_BYTES (64 << 10)
#define STREAM_CHUNK_EVENTS 1024
/* "id: " u64 "\ndata: " event "\n\n" */
#define STREAM_EVENT_MAX (JSON_EVENT_MAX + 48)
/* When h2o has taken a chunk, the next is read at once only if at least this many events
 * are waiting; else at the next tick. A stream at the tail of a busy log then sends one
 * full chunk a tick instead of a few events a chunk (each chunk costs a store iterator, a
 * write and a wake-up of the loop). */
#define STREAM_REFILL_EVENTS 128
/* The kernel's send buffer of a streaming socket (Linux doubles it for its bookkeeping). */
#define STREAM_SNDBUF_BYTES (64 << 10)

struct http_stream {
    h2o_generator_t super;
    h2o_linklist_t link; /* io_thread.streams */
    io_thread *owner;
    h2o_req_t *req;
    http_conn *conn;
    uint64_t last_seq;   /* the seq of the last event sent (the resume point at first) */
    uint64_t sent_at_ms; /* when the last chunk was handed to h2o */
    bool inflight;       /* a chunk is with h2o: wait for proceed */
    bool pumping;        /* inside pump (proceed may come back into it) */
    bool ending;         /* end the response at the next proceed */
    bool ended;          /* the final send is done, h2o stopped it, or it was shut down */
    bool killed;         /* its socket was shut down (a stalled or departed client) */
    bool full;           /* the chunk being built has no room for another event */
    size_t len;          /* bytes of buf in the chunk being built or sent */
    char buf[STREAM_CHUNK_BYTES];
};

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void send_chunk(http_stream *s) {
    h2o_iovec_t v = h2o_iovec_init(s->buf, s->len);
    s->inflight = true;
    s->sent_at_ms = now_ms();
    h2o_send(s->req, &v, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void send_comment(http_stream *s, const char *text) {
    s->len = strlen(text);
    memcpy(s->buf, text, s->len);
    send_chunk(s);
}

/* Ends the response now, or at the next proceed if a chunk is with h2o. */
static void end_stream(http_stream *s) {
    if (s->ended) {
        return;
    }
    if (s->inflight) {
        s->ending = true;
        return;
    }
    s->ended = true;
    h2o_send(s->req, NULL, 0, H2O_SEND_STATE_FINAL);
}

static int stream_fd(const http_stream *s) {
    h2o_socket_t *sock = s->req->conn->callbacks->get_socket(s->req->conn);
    return sock != NULL ? h2o_socket_get_fd(sock) : -1;
}

/* Closes the connection under h2o: it sees the error at its next write (the one it is
 * waiting to complete, or a last comment when none is) and disposes of the request the
 * usual way. */
static void shut_down(http_stream *s) {
    int fd = stream_fd(s);
    if (fd >= 0) {
        shutdown(fd, SHUT_RDWR);
    }
    if (s->conn != NULL) {
        s->conn->closing = true;
    }
    if (!s->inflight) {
        send_comment(s, ": closing\n\n");
    }
    s->ended = true;
    s->killed = true;
}

/* Whether the client has closed its end. h2o does not read a connection while it sends a
 * response, so without this a departed client would hold its place under --max-streams
 * until the next write fails. */
static bool peer_gone(const http_stream *s) {
    int fd = stream_fd(s);
    char b;
    ssize_t n = fd >= 0 ? recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) : 0;
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static ws_status render_sse(void *ctx, const ws_event *e) {
    http_stream *s = ctx;
    if (STREAM_CHUNK_BYTES - s->len < STREAM_EVENT_MAX) {
        s->full = true;
        return WS_OVERLOADED; /* stops the scan; this event goes in the next chunk */
    }
    json_buf j = {s->buf + s->len, STREAM_CHUNK_BYTES - s->len, 0};
    json_lit(&j, "id: ");
    json_u64(&j, e->seq);
    json_lit(&j, "\ndata: ");
    json_event(&j, e);
    json_lit(&j, "\n\n");
    s->len += j.len;
    s->last_seq = e->seq;
    return WS_OK;
}

/* Sends the next chunk of events up to committed, if h2o has taken the last one. */
static void pump(http_stream *s, uint64_t committed) {
    if (s->pumping) {
        return; /* proceed came back synchronously: the loop below goes on */
    }
    s->pumping = true;
    while (!s->inflight && !s->ended && !s->ending && s->last_seq < committed) {
        uint64_t behind = committed - s->last_seq;
        size_t limit = behind < STREAM_CHUNK_EVENTS ? (size_t)behind : STREAM_CHUNK_EVENTS;
        bool more = false;
        s->len = 0;
        s->full = false;
        ws_status st =
            store_scan_events(s->owner->srv->st, s->last_seq, limit, NULL, 0, render_sse, s, &more);
        if (st == WS_OVERLOADED && s->full) {
            st = WS_OK;
        }
        if (st != WS_OK || s->len == 0) {
            /* A store failure (or a log shorter than the committed seq, which would be a
             * bug): end the stream; the client resumes and gets the error as a status. */
            ws_log(WS_LOG_ERROR,
                   WS_FIELDS(WS_LOG_STR("event", "stream_failed"), WS_LOG_NUM("seq", s->last_seq)),
                   "event stream ended after seq %llu: %s", (unsigned long long)s->last_seq,
                   st != WS_OK ? ws_status_message(st) : "the log ends before the committed seq");
            end_stream(s);
            break;
        }
        send_chunk(s);
    }
    s->pumping = false;
}

static void on_proceed(h2o_generator_t *self, h2o_req_t *req) {
    http_stream *s = (http_stream *)self;
    s->inflight = false;
    if (s->killed) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR); /* its socket is shut down already */
        return;
    }
    if (s->ending) {
        s->ending = false;
        end_stream(s);
        return;
    }
    uint64_t committed = service_committed_seq(s->owner->srv->svc);
    if (s->last_seq < committed && committed - s->last_seq >= STREAM_REFILL_EVENTS) {
        pump(s, committed);
    }
}

static void on_stop(h2o_generator_t *self, h2o_req_t *req) {
    (void)req;
    ((http_stream *)self)->ended = true; /* the request is going away (dispose follows) */
}

/* The request's pool is cleared: the stream leaves its thread's list and frees its place
 * under --max-streams. */
static void on_dispose(void *p) {
    http_stream *s = p;
    h2o_linklist_unlink(&s->link);
    atomic_fetch_sub(&s->owner->srv->open_streams, 1);
}

static void schedule(io_thread *t) {
    if (!h2o_linklist_is_empty(&t->streams) && !h2o_timeout_is_linked(&t->stream_tick)) {
        h2o_timeout_link(t->loop, &t->stream_period, &t->stream_tick);
    }
}

static void on_tick(h2o_timeout_entry_t *entry) {
    io_thread *t = H2O_STRUCT_FROM_MEMBER(io_thread, stream_tick, entry);
    uint64_t committed = service_committed_seq(t->srv->svc);
    uint64_t now = now_ms();
    uint64_t stall_ms = t->srv->cfg.stream_stall_timeout_ms;
    for (h2o_linklist_t *n = t->streams.next; n != &t->streams;) {
        http_stream *s = H2O_STRUCT_FROM_MEMBER(http_stream, link, n);
        n = n->next; /* h2o reports a write's end (or error) later, never inside h2o_send */
        if (s->ended) {
            continue;
        }
        if (s->inflight) {
            if (now - s->sent_at_ms >= stall_ms) {
                ws_log(WS_LOG_INFO,
                       WS_FIELDS(WS_LOG_STR("event", "stream_stalled"),
                                 WS_LOG_NUM("seq", s->last_seq)),
                       "event stream closed: the client took nothing for %llu ms (it resumes "
                       "after seq %llu)",
                       (unsigned long long)stall_ms, (unsigned long long)s->last_seq);
                shut_down(s);
            }
        } else if (peer_gone(s)) {
            shut_down(s);
        } else if (s->last_seq < committed) {
            pump(s, committed);
        } else if (now - s->sent_at_ms >= STREAM_PING_MS) {
            send_comment(s, ": ping\n\n");
        }
    }
    schedule(t);
}

void http_streams_init(io_thread *t) {
    h2o_linklist_init_anchor(&t->streams);
    h2o_timeout_init(t->loop, &t->stream_period, STREAM_TICK_MS);
    t->stream_tick.cb = on_tick;
}

void http_streams_stop(io_thread *t) {
    for (h2o_linklist_t *n = t->streams.next; n != &t->streams;) {
        http_stream *s = H2O_STRUCT_FROM_MEMBER(http_stream, link, n);
        n = n->next;
        if (s->inflight && now_ms() - s->sent_at_ms >= STREAM_TICK_MS) {
            shut_down(s); /* a client that is not reading would hold the stop up */
        } else {
            end_stream(s);
        }
    }
}

/* The resume point: Last-Event-ID (as an EventSource sends it when it reconnects) wins over
 * after= (which the same EventSource repeats from its URL). Answers and returns false when
 * either is malformed. */
static bool resume_point(h2o_req_t *req, const ws_query *q, uint64_t *after) {
    static const char *const known[] = {"after"};
    if (!http_only_known(req, q, known, 1) ||
        !http_get_number(req, q, "after", false, 0, UINT64_MAX - 1, 0, after)) {
        return false;
    }
    ssize_t at = h2o_find_header_by_str(&req->headers, H2O_STRLIT("last-event-id"), -1);
    if (at < 0) {
        return true;
    }
    if (h2o_find_header_by_str(&req->headers, H2O_STRLIT("last-event-id"), at) >= 0) {
        http_send_error(req, WS_INVALID_PARAMETER, "more than one Last-Event-ID header");
        return false;
    }
    h2o_iovec_t v = req->headers.entries[at].value;
    if (v.len == 0) {
        return true; /* an EventSource that has seen no id yet: after= (or 0) stands */
    }
    if (ws_parse_amount(v.base, v.len, 0, UINT64_MAX - 1, after) != WS_OK) {
        http_send_error(req, WS_INVALID_PARAMETER,
                        "Last-Event-ID must be the seq of an event (a whole number)");
        return false;
    }
    return true;
}

int http_events_stream(http_server *srv, h2o_req_t *req, const ws_query *q) {
    uint64_t after;
    if (!resume_point(req, q, &after)) {
        return 0;
    }
    if (atomic_load_explicit(&srv->stopping, memory_order_relaxed)) {
        return http_send_error(req, WS_UNAVAILABLE, "stopping: no new event streams");
    }
    size_t open = atomic_fetch_add(&srv->open_streams, 1) + 1;
    if (open > srv->cfg.max_streams) {
        atomic_fetch_sub(&srv->open_streams, 1);
        return http_send_error(req, WS_OVERLOADED,
                               "the server has %zu open event streams, its "
                               "maximum (--max-streams)",
                               srv->cfg.max_streams);
    }
    http_stream *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), on_dispose);
    memset(s, 0, offsetof(http_stream, buf));
    s->super.proceed = on_proceed;
    s->super.stop = on_stop;
    s->owner = http_thread_of(req);
    s->req = req;
    s->conn = http_conn_of(req);
    s->last_seq = after;
    h2o_linklist_insert(&s->owner->streams, &s->link);
    if (s->conn != NULL) {
        s->conn->streaming = true; /* the sweep's timeouts no longer apply (server.c) */
    }
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock != NULL) {
        int size = STREAM_SNDBUF_BYTES;
        (void)setsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
    /* A stream is the last response of its connection. */
    req->http1_is_persistent = 0;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/event-stream"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0, NULL,
                          H2O_STRLIT("no"));
    h2o_start_response(req, &s->super);
    uint64_t committed = service_committed_seq(srv->svc);
    if (s->last_seq < committed) {
        pump(s, committed);
    } else {
        send_comment(s, ": ok\n\n"); /* the head goes out now, not with the first event */
    }
    schedule(s->owner);
    return 0;
}
