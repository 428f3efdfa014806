/* h2o setup and the I/O threads. Each thread owns an evloop, an h2o context, a listening
 * socket bound with SO_REUSEPORT (the kernel spreads connections over them) and a
 * multithread queue through which the writer and the main thread reach it.
 *
 * Shutdown, driven by the main thread: http_stop_accepting closes every listener (on its
 * own loop); service_stop then drains and syncs the queue, posting the last answers;
 * http_stop lets each loop run briefly to deliver them, then ends it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "http/internal.h"
#include "http/json.h"

#define LISTEN_BACKLOG 1024
#define ACCEPT_PER_WAKE 64
#define FLUSH_GRACE_MS 300
#define ACCEPT_PAUSE_MS 100
/* How often each loop checks its connections' timeouts, so a timeout fires up to this late. */
#define SWEEP_MS 100
/* Connections accepted past --max-connections only to be answered 503; past this many more,
 * accepting rests instead, so a flood costs neither unbounded memory nor a spinning loop. */
#define OVER_CAP_MAX 64
/* h2o's own request timer runs from when a connection is ready for a request; it is only a
 * backstop behind the sweep's separate idle and request timeouts. */
#define H2O_TIMER_SLACK_MS 1000
#define STATS_LINE 64

static void on_accept(h2o_socket_t *listener, const char *err);

static void resume_accepting(h2o_timeout_entry_t *entry) {
    io_thread *t = H2O_STRUCT_FROM_MEMBER(io_thread, accept_resume, entry);
    if (t->listener) {
        h2o_socket_read_start(t->listener, on_accept);
    }
}

/* Stops accepting for ACCEPT_PAUSE_MS while the open connections are served. */
static void pause_accepting(io_thread *t) {
    if (!h2o_timeout_is_linked(&t->accept_resume)) {
        h2o_socket_read_stop(t->listener);
        h2o_timeout_link(t->loop, &t->accept_pause, &t->accept_resume);
    }
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The socket's on_close callback: h2o closed the connection. */
static void on_conn_close(void *data) {
    http_conn *c = data;
    h2o_linklist_unlink(&c->link);
    atomic_fetch_sub(&c->owner->srv->open_connections, 1);
    free(c);
}

/* Counts and tracks a new connection; false (counting undone) if it must be dropped. */
static bool track(io_thread *t, h2o_socket_t *sock) {
    size_t max = t->srv->cfg.max_connections;
    size_t open = atomic_fetch_add(&t->srv->open_connections, 1) + 1;
    http_conn *c = open <= max + OVER_CAP_MAX ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        atomic_fetch_sub(&t->srv->open_connections, 1);
        return false;
    }
    c->owner = t;
    c->sock = sock;
    c->over_cap = open > max;
    c->phase = CONN_IDLE;
    c->phase_since_ms = now_ms();
    h2o_linklist_insert(&t->conns, &c->link);
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = c;
    return true;
}

static void on_accept(h2o_socket_t *listener, const char *err) {
    io_thread *t = listener->data;
    if (err) {
        return;
    }
    for (int i = 0; i < ACCEPT_PER_WAKE; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock) {
            /* Out of file descriptors, the listener stays readable: without a pause the
             * loop would spin on it at full CPU. Rest, serve the open connections, retry. */
            if (errno == EMFILE || errno == ENFILE) {
                pause_accepting(t);
            }
            break;
        }
        if (!track(t, sock)) {
            /* Far past the connection cap: this one is closed unanswered and the listener
             * rests, leaving later clients in the kernel's backlog. */
            h2o_socket_close(sock);
            pause_accepting(t);
            break;
        }
        h2o_accept(&t->accept_ctx, sock);
    }
}

/* Answers a request that did not arrive in time with 408, written straight to the socket:
 * h2o is only reading it (nothing else is being written), and with TLS nothing is written.
 * Returns whether the answer was handed to the socket. */
static bool send_request_timeout(h2o_socket_t *sock) {
    if (sock->ssl != NULL || h2o_socket_is_writing(sock)) {
        return false;
    }
    char body[256];
    json_buf j = {body, sizeof(body), 0};
    static const char msg[] = "the request did not arrive completely within --request-timeout";
    json_error(&j, WS_REQUEST_TIMEOUT, msg, sizeof(msg) - 1);
    char res[512];
    int n = snprintf(res, sizeof(res),
                     "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%.*s",
                     j.len, (int)j.len, body);
    return n > 0 && (size_t)n < sizeof(res) &&
           send(h2o_socket_get_fd(sock), res, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) > 0;
}

/* One connection's timeouts. The phase is read from the socket: h2o reads an HTTP/1
 * connection only while it waits for a request, so reading with nothing buffered is idle,
 * reading with bytes buffered is a request under way, and not reading is a request being
 * answered (stalled when its response makes no progress). A timed-out connection is shut
 * down; h2o then sees the end on its next read or write and closes it the usual way. */
static void sweep_conn(http_conn *c, uint64_t now, const http_config *cfg) {
    if (c->streaming) {
        return; /* an event stream has its own bound (stream.c) */
    }
    h2o_socket_t *sock = c->sock;
    conn_phase phase = CONN_BUSY;
    if (h2o_socket_is_reading(sock)) {
        phase = sock->input->size == 0 ? CONN_IDLE : CONN_RECEIVING;
    } else if (h2o_socket_is_writing(sock) && sock->bytes_written == c->bytes_written) {
        phase = CONN_STALLED;
    }
    c->bytes_written = sock->bytes_written;
    /* A phase seen at two sweeps is not one phase throughout: a keep-alive client whose
     * requests each fit between two sweeps is seen idle every time. So a request completed
     * since the last sweep restarts every clock, and so does any byte read on a connection
     * seen idle; bytes trickling into a request under way do not restart its clock. */
    bool request_done = c->requests != c->requests_seen;
    bool traffic = sock->bytes_read != c->bytes_read;
    c->requests_seen = c->requests;
    c->bytes_read = sock->bytes_read;
    if (phase != c->phase || request_done || (phase == CONN_IDLE && traffic)) {
        c->phase = phase;
        c->phase_since_ms = now;
        return;
    }
    uint64_t limit = phase == CONN_RECEIVING ? cfg->request_timeout_ms
                     : phase == CONN_BUSY    ? 0
                                             : cfg->idle_timeout_ms;
    if (limit == 0 || c->closing || now - c->phase_since_ms < limit) {
        return;
    }
    if (phase == CONN_RECEIVING && send_request_timeout(sock)) {
        http_count_raw_response(c->owner, 408);
    }
    shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
    c->closing = true;
}

static void on_sweep(h2o_timeout_entry_t *entry) {
    io_thread *t = H2O_STRUCT_FROM_MEMBER(io_thread, sweep, entry);
    uint64_t now = now_ms();
    for (h2o_linklist_t *n = t->conns.next; n != &t->conns; n = n->next) {
        sweep_conn(H2O_STRUCT_FROM_MEMBER(http_conn, link, n), now, &t->srv->cfg);
    }
    h2o_timeout_link(t->loop, &t->sweep_period, &t->sweep);
}

http_conn *http_conn_of(h2o_req_t *req) {
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL
                             ? req->conn->callbacks->get_socket(req->conn)
                             : NULL;
    return sock != NULL && sock->on_close.cb == on_conn_close ? sock->on_close.data : NULL;
}

io_thread *http_thread_of(h2o_req_t *req) {
    return H2O_STRUCT_FROM_MEMBER(io_thread, ctx, req->conn->ctx);
}

bool http_attached(http_server *srv) {
    return atomic_load_explicit(&srv->attached, memory_order_acquire);
}

bool http_service_up(h2o_req_t *req) {
    io_thread *t = http_thread_of(req);
    if (t->reader != NULL) {
        return true;
    }
    if (!http_attached(t->srv)) {
        return false;
    }
    t->reader = service_reader_new(t->srv->svc);
    WS_ASSERT(t->reader != NULL); /* HTTP_IO_THREADS_MAX < EPOCH_READERS_MAX */
    return true;
}

static void on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {
    io_thread *t = H2O_STRUCT_FROM_MEMBER(io_thread, control, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        if (m == &t->stop_accepting_msg && t->listener) {
            if (h2o_timeout_is_linked(&t->accept_resume)) {
                h2o_timeout_unlink(&t->accept_resume);
            }
            h2o_socket_read_stop(t->listener);
            h2o_socket_close(t->listener);
            t->listener = NULL;
            http_streams_stop(t);
        } else if (m == &t->exit_msg) {
            atomic_store(&t->exiting, true);
        }
    }
}

static void init_loop(io_thread *t);

static void *io_main(void *arg) {
    io_thread *t = arg;
    pthread_setname_np(pthread_self(), "ws-io");
    init_loop(t);
    sem_post(&t->ready);
    while (!atomic_load(&t->exiting)) {
        h2o_evloop_run(t->loop, INT32_MAX);
    }
    /* The writer has answered everything; give the sockets a moment to take it. */
    uint64_t until = now_ms() + FLUSH_GRACE_MS;
    while (now_ms() < until) {
        h2o_evloop_run(t->loop, 10);
    }
    return NULL;
}

/* Resolves a numeric address; NULL (after a message) if it is not one. Free with
 * freeaddrinfo. */
static struct addrinfo *resolve(const char *addr, uint16_t port) {
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    if (getaddrinfo(addr, service, &hints, &ai) != 0) {
        ws_log(WS_LOG_ERROR, WS_FIELDS(WS_LOG_STR("bind", addr)),
               "--bind %s is not a numeric IPv4 or IPv6 address", addr);
        return NULL;
    }
    return ai;
}

static void set_port(struct sockaddr *sa, uint16_t port) {
    if (sa->sa_family == AF_INET6) {
        ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
    } else {
        ((struct sockaddr_in *)sa)->sin_port = htons(port);
    }
}

/* SO_REUSEPORT lets every socket of the same user join a port's group, another
 * wallet-service with another data directory included: the kernel would then spread
 * clients over two ledgers. So a fixed port is first bound once without SO_REUSEPORT; that
 * fails while anything listens there, and every wallet-service does it before listening. */
static WS_MUST_USE bool port_is_free(struct addrinfo *ai, uint16_t port) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    set_port(ai->ai_addr, port);
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
              bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* Binds a listening socket with SO_REUSEPORT to port (0: any free port); sets *bound to
 * the port it got. Returns the fd or -1. */
static WS_MUST_USE int bind_listener(struct addrinfo *ai, uint16_t port, uint16_t *bound) {
    set_port(ai->ai_addr, port);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
              setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == 0 &&
              bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (ok && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
        return fd;
    }
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

/* ---- TLS ----
 * One SSL_CTX shared by every loop (OpenSSL's contexts are thread-safe once set up).
 * TLS 1.2 is the minimum; TLS 1.2 ciphers are limited to forward-secret AEAD ones (TLS 1.3
 * has only such). ALPN offers http/1.1 alone, so a client asking for h2 gets HTTP/1.1 and
 * one without ALPN gets HTTP/1.1 as well: h2o starts HTTP/2 only when "h2" was selected. */

static const h2o_iovec_t alpn_protocols[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};

/* An encrypted private key would make OpenSSL prompt on the terminal; refuse it instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata) {
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return 0;
}

/* Prints "wallet-service: <what>: <OpenSSL's reason>" (never key material). */
static void tls_error(const char *what, const char *path) {
    char reason[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();
    if (e != 0) {
        ERR_error_string_n(e, reason, sizeof(reason));
    }
    ERR_clear_error();
    ws_log(WS_LOG_ERROR, WS_FIELDS(WS_LOG_STR("path", path), WS_LOG_STR("error", reason)),
           "%s %s: %s", what, path, reason);
}

static WS_MUST_USE SSL_CTX *tls_context_new(const http_config *cfg) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        tls_error("cannot create a TLS context for", cfg->tls_cert_path);
        return NULL;
    }
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
              SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") == 1;
    if (!ok) {
        tls_error("cannot configure TLS for", cfg->tls_cert_path);
    } else if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_path) != 1) {
        tls_error("cannot load the certificate (PEM) --tls-cert", cfg->tls_cert_path);
        ok = false;
    } else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_path, SSL_FILETYPE_PEM) != 1 &&
               ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
        tls_error("cannot load the private key (unencrypted PEM) --tls-key", cfg->tls_key_path);
        ok = false;
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        ws_log(WS_LOG_ERROR, WS_NO_FIELDS,
               "--tls-key %s does not match the certificate --tls-cert %s", cfg->tls_key_path,
               cfg->tls_cert_path);
        ok = false;
    }
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(ctx, alpn_protocols);
    return ctx;
}

/* One loop's h2o configuration (each loop has its own: its body limit is set per request,
 * limit.c). */
static void setup_config(io_thread *t) {
    http_server *srv = t->srv;
    h2o_globalconf_t *gc = &t->globalconf;
    h2o_config_init(gc);
    gc->server_name = h2o_iovec_init(H2O_STRLIT("wallet-service"));
    gc->max_request_entity_size = srv->cfg.max_body_bytes;
    gc->http1.req_timeout =
        srv->cfg.idle_timeout_ms + srv->cfg.request_timeout_ms + H2O_TIMER_SLACK_MS;
    gc->http2.idle_timeout = srv->cfg.idle_timeout_ms;
    /* The API is HTTP/1.1. HTTP/2 would let one connection hold ~100 events pages at once
     * (a page is built whole before it is sent); with the upgrade off, h2o 2.2 refuses both
     * the h2c upgrade and HTTP/2 with prior knowledge (checked with curl). */
    gc->http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    ws_handler *h = (ws_handler *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = http_handle;
    h->srv = srv;
    /* h2o's own refusals (413, 400, 417 before a request reaches the handler) are sent
     * through the host's fallback path: the filter there turns them into JSON errors. The
     * metrics filter, registered first, counts every response as it starts, after every
     * handler and filter has set its status. */
    http_register_metrics_filter(path);
    http_register_metrics_filter(&host->fallback_path);
    http_register_error_filter(path);
    http_register_error_filter(&host->fallback_path);
    http_limit_thread(gc, &srv->cfg);
}

/* Everything h2o of one loop is created on that loop's own thread: h2o keeps per-thread
 * allocators (the socket buffer recyclers are thread-local), and a socket created on one
 * thread but read on another would share the creator's recycler across threads. */
static void init_loop(io_thread *t) {
    http_server *srv = t->srv;
    t->loop = h2o_evloop_create();
    setup_config(t);
    h2o_context_init(&t->ctx, t->loop, &t->globalconf);
    t->accept_ctx.ctx = &t->ctx;
    t->accept_ctx.hosts = t->globalconf.hosts;
    t->accept_ctx.ssl_ctx = srv->ssl_ctx;
    t->queue = h2o_multithread_create_queue(t->loop);
    h2o_multithread_register_receiver(t->queue, &t->completions, http_on_completions);
    h2o_multithread_register_receiver(t->queue, &t->control, on_control);
    h2o_timeout_init(t->loop, &t->accept_pause, ACCEPT_PAUSE_MS);
    t->accept_resume.cb = resume_accepting;
    h2o_linklist_init_anchor(&t->conns);
    h2o_timeout_init(t->loop, &t->sweep_period, SWEEP_MS);
    t->sweep.cb = on_sweep;
    h2o_timeout_link(t->loop, &t->sweep_period, &t->sweep);
    http_streams_init(t);
    t->listener = h2o_evloop_socket_create(t->loop, t->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    t->listener->data = t;
    h2o_socket_read_start(t->listener, on_accept);
}

static WS_MUST_USE ws_status start_thread(http_server *srv, io_thread *t) {
    t->srv = srv;
    if (pthread_create(&t->tid, NULL, io_main, t) != 0) {
        return WS_INTERNAL;
    }
    sem_wait(&t->ready); /* the receivers exist before anyone may send to them */
    return WS_OK;
}

/* The server of this process. It lives until the process exits (http_stop leaves the loops,
 * their h2o objects and any connection still open to the kernel), and this reference says
 * so: without it, LeakSanitizer reports everything hanging off it at exit. Volatile, so
 * that the store, never read, is not optimized away. */
static http_server *volatile process_server;

ws_status http_listen(const http_config *cfg, http_server **out) {
    WS_ASSERT(cfg->io_threads >= 1 && cfg->io_threads <= HTTP_IO_THREADS_MAX);
    WS_ASSERT((cfg->tls_cert_path == NULL) == (cfg->tls_key_path == NULL));
    SSL_CTX *ssl_ctx = NULL;
    if (cfg->tls_cert_path != NULL && (ssl_ctx = tls_context_new(cfg)) == NULL) {
        return WS_INVALID_PARAMETER;
    }
    struct addrinfo *ai = resolve(cfg->bind, cfg->port);
    if (!ai) {
        SSL_CTX_free(ssl_ctx);
        return WS_INVALID_PARAMETER;
    }
    if (cfg->port != 0 && !port_is_free(ai, cfg->port)) {
        ws_log(WS_LOG_ERROR,
               WS_FIELDS(WS_LOG_STR("bind", cfg->bind), WS_LOG_NUM("port", cfg->port)),
               "cannot listen on %s:%u: %s", cfg->bind, (unsigned)cfg->port, strerror(errno));
        freeaddrinfo(ai);
        SSL_CTX_free(ssl_ctx);
        return WS_UNAVAILABLE;
    }
    http_server *srv = calloc(1, sizeof(*srv));
    WS_ASSERT(srv);
    srv->cfg = *cfg;
    srv->ssl_ctx = ssl_ctx;
    srv->threads = calloc(cfg->io_threads, sizeof(io_thread));
    WS_ASSERT(srv->threads);
    for (size_t i = 0; i < cfg->io_threads; i++) {
        /* on lines of their own: a neighbour's counters are written by another thread */
        size_t size = (sizeof(http_thread_stats) + STATS_LINE - 1) / STATS_LINE * STATS_LINE;
        srv->threads[i].stats = aligned_alloc(STATS_LINE, size);
        WS_ASSERT(srv->threads[i].stats);
        memset(srv->threads[i].stats, 0, size);
    }
    /* The first socket picks the port when 0 was asked for; the rest join it. */
    srv->port = cfg->port;
    for (size_t i = 0; i < cfg->io_threads; i++) {
        srv->threads[i].listen_fd = bind_listener(ai, srv->port, &srv->port);
        if (srv->threads[i].listen_fd < 0) {
            ws_log(WS_LOG_ERROR,
                   WS_FIELDS(WS_LOG_STR("bind", cfg->bind), WS_LOG_NUM("port", srv->port)),
                   "cannot listen on %s:%u: %s", cfg->bind, (unsigned)srv->port, strerror(errno));
            freeaddrinfo(ai);
            return WS_UNAVAILABLE; /* the process exits; nothing else to undo */
        }
    }
    freeaddrinfo(ai);
    process_server = srv;
    *out = srv;
    return WS_OK;
}

ws_status http_serve(http_server *srv) {
    for (size_t i = 0; i < srv->cfg.io_threads; i++) {
        sem_init(&srv->threads[i].ready, 0, 0);
        ws_status s = start_thread(srv, &srv->threads[i]);
        if (s != WS_OK) {
            return s;
        }
        srv->thread_count++;
    }
    return WS_OK;
}

void http_attach(http_server *srv, service *svc, store *st) {
    WS_ASSERT(!atomic_load(&srv->attached));
    srv->svc = svc;
    srv->st = st;
    atomic_store_explicit(&srv->attached, true, memory_order_release);
}

uint16_t http_port(const http_server *srv) { return srv->port; }

void http_stop_accepting(http_server *srv) {
    atomic_store_explicit(&srv->stopping, true, memory_order_relaxed);
    for (size_t i = 0; i < srv->thread_count; i++) {
        io_thread *t = &srv->threads[i];
        h2o_multithread_send_message(&t->control, &t->stop_accepting_msg);
    }
}

void http_stop(http_server *srv) {
    for (size_t i = 0; i < srv->thread_count; i++) {
        io_thread *t = &srv->threads[i];
        h2o_multithread_send_message(&t->control, &t->exit_msg);
    }
    for (size_t i = 0; i < srv->thread_count; i++) {
        pthread_join(srv->threads[i].tid, NULL);
        free(srv->threads[i].scratch);
        srv->threads[i].scratch = NULL;
    }
    /* The loops are stopped but connections may still be open on them; the process is
     * about to exit, so they are left to the kernel rather than torn down one by one. */
    SSL_CTX_free(srv->ssl_ctx); /* drops our reference; OpenSSL clears the key it frees */
    srv->ssl_ctx = NULL;
}
