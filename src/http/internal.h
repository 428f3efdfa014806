/* Shared by the files of src/http only. */
#ifndef WS_HTTP_INTERNAL_H
#define WS_HTTP_INTERNAL_H

#include <h2o.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "http/server.h"

typedef struct io_thread io_thread;

struct io_thread {
    http_server *srv;
    service_reader *reader; /* reads committed balances; made on this thread */
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
    conn_phase phase;
    uint64_t phase_since_ms;
    size_t bytes_written;   /* at the last sweep, to see a response that makes no progress */
    size_t bytes_read;      /* at the last sweep, to see traffic on an idle connection */
    uint64_t requests;      /* requests handed to routes_handle; bumped there */
    uint64_t requests_seen; /* at the last sweep: a change means a request completed */
} http_conn;

struct http_server {
    http_config cfg;
    service *svc;
    store *st;
    h2o_globalconf_t globalconf;
    io_thread *threads;
    size_t thread_count;
    uint16_t port;
    SSL_CTX *ssl_ctx;               /* NULL: plain HTTP */
    atomic_size_t open_connections; /* over every loop, for --max-connections */
};

/* The tracked connection of a request, or NULL. Loop thread. */
http_conn *http_conn_of(h2o_req_t *req);

/* The h2o handler for every path; routes by path and method. Loop thread. */
int routes_handle(h2o_handler_t *self, h2o_req_t *req);
/* Adds the filter that rewrites h2o's own plain-text error responses as JSON errors.
 * Main thread, during setup. */
void routes_register_error_filter(h2o_pathconf_t *path);
/* The receiver callback for completed commands. Loop thread. */
void routes_on_completions(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* The handler h2o calls, carrying the server. */
typedef struct {
    h2o_handler_t super;
    http_server *srv;
} ws_handler;

#endif
