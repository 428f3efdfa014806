/* wallet-service: flags, start, signals, orderly stop.
 *
 * Start: bind the listeners (a bad address or a taken port fails here, before any data is
 * touched), start the I/O threads (http_serve: from here /health, /ready and /metrics answer,
 * /ready with 503 "starting", and every other route 503 unavailable), open the store, load
 * and check the state (service_start: the newest checkpoint and the log after it, the long
 * part of a start), hand the service to the I/O threads (http_attach: every route is served
 * from here), print "listening on ADDR:PORT". A start that fails after http_serve stops the
 * I/O threads again before it exits. Stop on SIGINT/SIGTERM: close the listeners, let the
 * writer finish and sync every queued command, flush the last answers, close the store,
 * exit 0. Signals are blocked in every thread and taken by sigwait here, so no handler runs
 * in the middle of anything (a signal during the start is taken once it is done). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "http/server.h"

#define EXIT_USAGE 2

typedef struct {
    http_config http;
    service_config service;
    const char *data_dir;
    bool verify;
    const char *api_key_file; /* NULL: no access control */
} options;

static void usage(FILE *out) {
    fprintf(
        out,
        "usage: wallet-service [flags]\n"
        "  --port N          listen port, 0 for any free one   (WALLET_PORT, 18080)\n"
        "  --bind ADDR       numeric IP address to listen on   (WALLET_BIND, 127.0.0.1)\n"
        "  --data-dir DIR    RocksDB data directory            (WALLET_DATA_DIR, ./data)\n"
        "  --io-threads N    HTTP threads, 1..%d               (WALLET_IO_THREADS, cores - 1)\n"
        "  --queue-max N     queued writes before 503, 1..%u   (WALLET_QUEUE_MAX, %d)\n"
        "  --batch-max N     writes per group commit, 1..%u    (WALLET_BATCH_MAX, %d)\n"
        "  --checkpoint-interval MS  projections written behind the log, %u..%u ms\n"
        "                    (WALLET_CHECKPOINT_INTERVAL, %u)\n"
        "  limits (past one: 503, 414, 431, 413 or 408 with a JSON error; docs/api.md):\n"
        "  --max-connections N   open connections, 1..%u     (WALLET_MAX_CONNECTIONS, %u)\n"
        "  --max-request-line N  request line bytes, %u..%u  (WALLET_MAX_REQUEST_LINE, %u)\n"
        "  --max-header-bytes N  header bytes, %u..%u       (WALLET_MAX_HEADER_BYTES, %u)\n"
        "  --max-body-bytes N    body bytes, 0..%u          (WALLET_MAX_BODY_BYTES, %u)\n"
        "  --max-batch-body-bytes N  POST /transfers body bytes, 1024..%u\n"
        "                        (WALLET_MAX_BATCH_BODY_BYTES, %u)\n"
        "  --request-timeout MS  a request's first to last byte (WALLET_REQUEST_TIMEOUT, %u)\n"
        "  --idle-timeout MS     connection with no request  (WALLET_IDLE_TIMEOUT, %u)\n"
        "                        (timeouts %u..%u ms)\n"
        "  --max-streams N       open event streams, 0..%u  (WALLET_MAX_STREAMS, %u)\n"
        "  --stream-stall-timeout MS  a stream's chunk left untaken this long: closed\n"
        "                        (WALLET_STREAM_STALL_TIMEOUT, %u)\n"
        "  --default-currency CODE  currency of accounts created without one, 3-12 of\n"
        "                    A-Z and 0-9                  (WALLET_DEFAULT_CURRENCY, XXX)\n"
        "  --log-format F    text or json: one line per event on stderr, json as\n"
        "                    {timestamp, level, message, fields}  (WALLET_LOG_FORMAT, text)\n"
        "  --log-stats-interval MS  the writer's batch statistics, logged at most this\n"
        "                    often while it works, 0: never  (WALLET_LOG_STATS_INTERVAL, 60000)\n"
        "  --api-key-file PATH\n"
        "                    API keys, one per line, file mode 0600: every endpoint but\n"
        "                    /health and /ready then needs 'Authorization: Bearer <key>'\n"
        "                    (WALLET_API_KEY_FILE, none)\n"
        "  --tls-cert PATH   PEM certificate chain: serve HTTPS     (WALLET_TLS_CERT, none)\n"
        "  --tls-key PATH    its PEM private key; both or neither  (WALLET_TLS_KEY, none)\n"
        "  --verify          replay the event log against the data and exit\n"
        "                    (0 consistent, 1 not, 2 usage or cannot open)\n"
        "  --help, --version\n"
        "Flags override the environment.\n",
        HTTP_IO_THREADS_MAX, SERVICE_QUEUE_MAX_LIMIT, SERVICE_QUEUE_MAX_DEFAULT,
        SERVICE_BATCH_MAX_LIMIT, SERVICE_BATCH_MAX_DEFAULT, CKPT_INTERVAL_MS_MIN,
        CKPT_INTERVAL_MS_MAX, CKPT_INTERVAL_MS_DEFAULT, HTTP_MAX_CONNECTIONS_LIMIT,
        HTTP_MAX_CONNECTIONS_DEFAULT, HTTP_MAX_REQUEST_LINE_MIN, HTTP_MAX_REQUEST_LINE_LIMIT,
        HTTP_MAX_REQUEST_LINE_DEFAULT, HTTP_MAX_HEADER_BYTES_MIN, HTTP_MAX_HEADER_BYTES_LIMIT,
        HTTP_MAX_HEADER_BYTES_DEFAULT, HTTP_MAX_BODY_BYTES_LIMIT, HTTP_MAX_BODY_BYTES_DEFAULT,
        HTTP_MAX_BATCH_BODY_BYTES_LIMIT, HTTP_MAX_BATCH_BODY_BYTES_DEFAULT,
        HTTP_REQUEST_TIMEOUT_MS_DEFAULT, HTTP_IDLE_TIMEOUT_MS_DEFAULT, HTTP_TIMEOUT_MS_MIN,
        HTTP_TIMEOUT_MS_MAX, HTTP_MAX_STREAMS_LIMIT, HTTP_MAX_STREAMS_DEFAULT,
        HTTP_STREAM_STALL_TIMEOUT_MS_DEFAULT);
}

static bool parse_count(const char *name, const char *value, uint64_t min, uint64_t max,
                        uint64_t *out) {
    if (ws_parse_amount(value, strlen(value), min, max, out) != WS_OK) {
        fprintf(stderr, "wallet-service: %s must be a whole number from %llu to %llu, not '%s'\n",
                name, (unsigned long long)min, (unsigned long long)max, value);
        return false;
    }
    return true;
}

/* The limit flags. Returns 1 if applied, 0 on a bad value, -1 if name is not one of them. */
static int apply_limit(http_config *h, const char *name, const char *value) {
    static const struct {
        const char *name;
        uint64_t min, max;
    } limits[] = {
        {"--max-connections", 1, HTTP_MAX_CONNECTIONS_LIMIT},
        {"--max-request-line", HTTP_MAX_REQUEST_LINE_MIN, HTTP_MAX_REQUEST_LINE_LIMIT},
        {"--max-header-bytes", HTTP_MAX_HEADER_BYTES_MIN, HTTP_MAX_HEADER_BYTES_LIMIT},
        {"--max-body-bytes", 0, HTTP_MAX_BODY_BYTES_LIMIT},
        {"--max-batch-body-bytes", 1024, HTTP_MAX_BATCH_BODY_BYTES_LIMIT},
        {"--max-streams", 0, HTTP_MAX_STREAMS_LIMIT},
        {"--request-timeout", HTTP_TIMEOUT_MS_MIN, HTTP_TIMEOUT_MS_MAX},
        {"--idle-timeout", HTTP_TIMEOUT_MS_MIN, HTTP_TIMEOUT_MS_MAX},
        {"--stream-stall-timeout", HTTP_TIMEOUT_MS_MIN, HTTP_TIMEOUT_MS_MAX},
    };
    size_t *sizes[] = {&h->max_connections, &h->max_request_line_bytes, &h->max_header_bytes,
                       &h->max_body_bytes,  &h->max_batch_body_bytes,   &h->max_streams};
    uint64_t *times[] = {&h->request_timeout_ms, &h->idle_timeout_ms, &h->stream_stall_timeout_ms};
    const size_t size_count = sizeof(sizes) / sizeof(sizes[0]);
    _Static_assert(sizeof(limits) / sizeof(limits[0]) ==
                       sizeof(sizes) / sizeof(sizes[0]) + sizeof(times) / sizeof(times[0]),
                   "one target per limit flag: the sizes first, then the times");
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        uint64_t v;
        if (strcmp(name, limits[i].name) != 0) {
            continue;
        }
        if (!parse_count(name, value, limits[i].min, limits[i].max, &v)) {
            return 0;
        }
        if (i < size_count) {
            *sizes[i] = (size_t)v;
        } else {
            *times[i - size_count] = v;
        }
        return 1;
    }
    return -1;
}

/* Applies one setting by flag name; returns false on a bad value or unknown name. */
static bool apply(options *o, const char *name, const char *value) {
    int limit = apply_limit(&o->http, name, value);
    if (limit >= 0) {
        return limit == 1;
    }
    uint64_t v;
    if (strcmp(name, "--port") == 0) {
        if (!parse_count(name, value, 0, 65535, &v)) {
            return false;
        }
        o->http.port = (uint16_t)v;
    } else if (strcmp(name, "--bind") == 0) {
        o->http.bind = value;
    } else if (strcmp(name, "--data-dir") == 0) {
        if (value[0] == '\0') {
            fprintf(stderr, "wallet-service: --data-dir must not be empty\n");
            return false;
        }
        o->data_dir = value;
    } else if (strcmp(name, "--io-threads") == 0) {
        if (!parse_count(name, value, 1, HTTP_IO_THREADS_MAX, &v)) {
            return false;
        }
        o->http.io_threads = (size_t)v;
    } else if (strcmp(name, "--queue-max") == 0) {
        if (!parse_count(name, value, 1, SERVICE_QUEUE_MAX_LIMIT, &v)) {
            return false;
        }
        o->service.queue_max = (size_t)v;
    } else if (strcmp(name, "--batch-max") == 0) {
        if (!parse_count(name, value, 1, SERVICE_BATCH_MAX_LIMIT, &v)) {
            return false;
        }
        o->service.batch_max = (size_t)v;
    } else if (strcmp(name, "--checkpoint-interval") == 0) {
        if (!parse_count(name, value, CKPT_INTERVAL_MS_MIN, CKPT_INTERVAL_MS_MAX, &v)) {
            return false;
        }
        o->service.checkpoint_interval_ms = v;
    } else if (strcmp(name, "--log-stats-interval") == 0) {
        if (!parse_count(name, value, 0, 86400000, &v)) {
            return false;
        }
        o->service.stats_log_interval_ms = v;
    } else if (strcmp(name, "--log-format") == 0) {
        if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0) {
            fprintf(stderr, "wallet-service: --log-format must be 'text' or 'json', not '%s'\n",
                    value);
            return false;
        }
        ws_log_set_format(strcmp(value, "json") == 0 ? WS_LOG_JSON : WS_LOG_TEXT);
    } else if (strcmp(name, "--default-currency") == 0) {
        if (!ws_currency_valid(value, strlen(value))) {
            fprintf(stderr,
                    "wallet-service: --default-currency must be 3-12 characters of A-Z and "
                    "0-9, not '%s'\n",
                    value);
            return false;
        }
        o->http.default_currency = value;
    } else if (strcmp(name, "--api-key-file") == 0 || strcmp(name, "--tls-cert") == 0 ||
               strcmp(name, "--tls-key") == 0) {
        if (value[0] == '\0') {
            fprintf(stderr, "wallet-service: %s must not be empty\n", name);
            return false;
        }
        const char **slot = strcmp(name, "--api-key-file") == 0 ? &o->api_key_file
                            : strcmp(name, "--tls-cert") == 0   ? &o->http.tls_cert_path
                                                                : &o->http.tls_key_path;
        *slot = value;
    } else {
        fprintf(stderr, "wallet-service: unknown flag %s (see --help)\n", name);
        return false;
    }
    return true;
}

static bool apply_env(options *o) {
    // clang-format off
    static const char *const env[][2] = {
        {"WALLET_PORT", "--port"},
        {"WALLET_BIND", "--bind"},
        {"WALLET_DATA_DIR", "--data-dir"},
        {"WALLET_IO_THREADS", "--io-threads"},
        {"WALLET_QUEUE_MAX", "--queue-max"},
        {"WALLET_BATCH_MAX", "--batch-max"},
        {"WALLET_CHECKPOINT_INTERVAL", "--checkpoint-interval"},
        {"WALLET_DEFAULT_CURRENCY", "--default-currency"},
        {"WALLET_LOG_FORMAT", "--log-format"},
        {"WALLET_LOG_STATS_INTERVAL", "--log-stats-interval"},
        /* limits */
        {"WALLET_MAX_CONNECTIONS", "--max-connections"},
        {"WALLET_MAX_REQUEST_LINE", "--max-request-line"},
        {"WALLET_MAX_HEADER_BYTES", "--max-header-bytes"},
        {"WALLET_MAX_BODY_BYTES", "--max-body-bytes"},
        {"WALLET_MAX_BATCH_BODY_BYTES", "--max-batch-body-bytes"},
        {"WALLET_REQUEST_TIMEOUT", "--request-timeout"},
        {"WALLET_IDLE_TIMEOUT", "--idle-timeout"},
        {"WALLET_MAX_STREAMS", "--max-streams"},
        {"WALLET_STREAM_STALL_TIMEOUT", "--stream-stall-timeout"},
        /* access control and TLS */
        {"WALLET_API_KEY_FILE", "--api-key-file"},
        {"WALLET_TLS_CERT", "--tls-cert"},
        {"WALLET_TLS_KEY", "--tls-key"},
    };
    // clang-format on
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
        const char *v = getenv(env[i][0]);
        if (v && !apply(o, env[i][1], v)) {
            return false;
        }
    }
    return true;
}

/* Returns -1 to go on, or the exit code. */
static int parse_args(options *o, int argc, char **argv) {
    /* One core is left to the writer thread (and RocksDB's background work): on 2 cores,
     * 1 I/O thread served 3-13% more get_balance requests than 2, with p99 1.9 ms instead of
     * 4.4-5.2 ms, and transfers at 44 us of server CPU instead of 48-52 (docs/performance.md). */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (options){.http = {.bind = "127.0.0.1",
                            .port = 18080,
                            .io_threads = cores <= 2                        ? 1
                                          : cores - 1 > HTTP_IO_THREADS_MAX ? HTTP_IO_THREADS_MAX
                                                                            : (size_t)cores - 1,
                            .max_body_bytes = HTTP_MAX_BODY_BYTES_DEFAULT,
                            .max_batch_body_bytes = HTTP_MAX_BATCH_BODY_BYTES_DEFAULT,
                            .request_timeout_ms = HTTP_REQUEST_TIMEOUT_MS_DEFAULT,
                            .idle_timeout_ms = HTTP_IDLE_TIMEOUT_MS_DEFAULT,
                            .max_connections = HTTP_MAX_CONNECTIONS_DEFAULT,
                            .max_request_line_bytes = HTTP_MAX_REQUEST_LINE_DEFAULT,
                            .max_header_bytes = HTTP_MAX_HEADER_BYTES_DEFAULT,
                            .max_streams = HTTP_MAX_STREAMS_DEFAULT,
                            .stream_stall_timeout_ms = HTTP_STREAM_STALL_TIMEOUT_MS_DEFAULT},
                   .service = {SERVICE_QUEUE_MAX_DEFAULT, SERVICE_BATCH_MAX_DEFAULT,
                               CKPT_INTERVAL_MS_DEFAULT, SERVICE_STATS_LOG_INTERVAL_MS_DEFAULT},
                   .data_dir = "./data"};
    if (!apply_env(o)) {
        return EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("wallet-service %s\n", WS_VERSION);
            return 0;
        }
        if (strcmp(a, "--verify") == 0) {
            o->verify = true;
            continue;
        }
        const char *eq = strchr(a, '=');
        char name[32];
        const char *value;
        if (eq && (size_t)(eq - a) < sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
            value = eq + 1;
        } else if (i + 1 < argc && strncmp(a, "--", 2) == 0 && strlen(a) < sizeof(name)) {
            snprintf(name, sizeof(name), "%s", a);
            value = argv[++i];
        } else {
            fprintf(stderr, "wallet-service: unknown or incomplete argument '%s' (see --help)\n",
                    a);
            return EXIT_USAGE;
        }
        if (!apply(o, name, value)) {
            return EXIT_USAGE;
        }
    }
    if ((o->http.tls_cert_path == NULL) != (o->http.tls_key_path == NULL)) {
        fprintf(stderr, "wallet-service: --tls-cert and --tls-key go together: give both or "
                        "neither\n");
        return EXIT_USAGE;
    }
    return -1;
}

/* Beside a running service, a compaction can delete a table file between --verify reading
 * the MANIFEST that lists it and opening it (every table file is opened at open, so only the
 * open races); the next attempt reads the newer MANIFEST. */
#define VERIFY_OPEN_ATTEMPTS 5
#define VERIFY_OPEN_PAUSE_MS 100

static int run_verify(const options *o) {
    store *st = NULL;
    if (isatty(STDERR_FILENO)) {
        store_set_progress(stderr); /* the replay's progress, on a terminal only */
    }
    ws_status open_status = store_open(o->data_dir, true, &st);
    for (int i = 1;
         i < VERIFY_OPEN_ATTEMPTS && open_status != WS_OK && open_status != WS_INVALID_PARAMETER;
         i++) {
        ws_log(WS_LOG_WARN, WS_NO_FIELDS, "--verify: trying the open again");
        nanosleep(&(struct timespec){0, VERIFY_OPEN_PAUSE_MS * 1000000L}, NULL);
        open_status = store_open(o->data_dir, true, &st);
    }
    if (open_status != WS_OK) {
        if (open_status != WS_INVALID_PARAMETER) {
            ws_log(WS_LOG_ERROR, WS_FIELDS(WS_LOG_STR("data_dir", o->data_dir)),
                   "cannot open %s for --verify", o->data_dir);
        }
        return EXIT_USAGE;
    }
    store_verify_report r;
    ws_status s = store_verify(st, stdout, &r);
    store_close(st);
    return s == WS_OK ? 0 : 1;
}

#ifdef WS_FAULT_INJECTION
/* wallet-service-faulty only (the test twin, see store/fault.c): WS_FAULT_START_DELAY_MS=D
 * makes the start wait D ms after the I/O threads serve and before the data directory is
 * opened, so that a test can watch a start that takes a while (/ready answering
 * "starting"). */
static void fault_start_delay(void) {
    const char *v = getenv("WS_FAULT_START_DELAY_MS");
    uint64_t ms;
    if (v == NULL || v[0] == '\0') {
        return;
    }
    if (!parse_count("WS_FAULT_START_DELAY_MS", v, 1, 60000, &ms)) {
        abort(); /* a misconfigured fault test must not pass by testing nothing */
    }
    fprintf(stderr, "wallet-service: fault injection: the start waits %llu ms\n",
            (unsigned long long)ms);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
#endif

/* The address as printed: [v6]:port or v4:port, into out (ADDRESS_MAX bytes). */
#define ADDRESS_MAX 80
static const char *address(char *out, const options *o, const http_server *http) {
    bool v6 = strchr(o->http.bind, ':') != NULL;
    snprintf(out, ADDRESS_MAX, "%s%s%s:%u", v6 ? "[" : "", o->http.bind, v6 ? "]" : "",
             (unsigned)http_port(http));
    return out;
}

/* Opens the store and loads the state; false (after saying why) if it cannot. */
static bool start_service(const options *o, store **st, service **svc) {
    if (isatty(STDERR_FILENO)) {
        store_set_progress(stderr); /* a format-1 migration's progress, on a terminal only */
    }
    if (store_open(o->data_dir, false, st) != WS_OK) {
        ws_log(WS_LOG_ERROR, WS_FIELDS(WS_LOG_STR("data_dir", o->data_dir)),
               "cannot open the data directory %s", o->data_dir);
        return false;
    }
    ws_status s = service_start(*st, &o->service, svc);
    if (s != WS_OK) {
        ws_log(WS_LOG_ERROR, WS_NO_FIELDS, "cannot start: %s", ws_status_message(s));
        store_close(*st);
        return false;
    }
    return true;
}

static int serve(const options *o) {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL); /* inherited by every thread */
    signal(SIGPIPE, SIG_IGN);
    /* Each connection is a file descriptor; the soft limit (often 1024) is raised to the
     * hard one so that the connection count, not an accident of the shell, is the limit. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
    }

    store *st;
    service *svc;
    http_server *http;
    ws_status s = http_listen(&o->http, &http);
    if (s != WS_OK) {
        return s == WS_INVALID_PARAMETER ? EXIT_USAGE : 1;
    }
    if (http_serve(http) != WS_OK) {
        return 1;
    }
    char addr[ADDRESS_MAX];
    address(addr, o, http);
    ws_log(WS_LOG_INFO,
           WS_FIELDS(WS_LOG_STR("event", "starting"), WS_LOG_STR("address", addr),
                     WS_LOG_STR("data_dir", o->data_dir), WS_LOG_STR("version", WS_VERSION)),
           "starting on %s: loading the state; until then only /health, /ready, /metrics, "
           "/openapi.json and /ui answer",
           addr);
#ifdef WS_FAULT_INJECTION
    fault_start_delay();
#endif
    if (!start_service(o, &st, &svc)) {
        http_stop_accepting(http);
        http_stop(http);
        return 1;
    }
    http_attach(http, svc, st);
    if (o->http.auth != NULL) {
        ws_log(WS_LOG_INFO, WS_FIELDS(WS_LOG_NUM("api_keys", auth_key_count(o->http.auth))),
               "API keys required on every endpoint but /health and /ready (%zu key(s) loaded)",
               auth_key_count(o->http.auth));
    }
    if (o->http.tls_cert_path != NULL) {
        ws_log(WS_LOG_INFO, WS_NO_FIELDS, "serving HTTPS (TLS 1.2 or later, HTTP/1.1)");
    }
    ws_log(WS_LOG_INFO, WS_FIELDS(WS_LOG_STR("event", "listening"), WS_LOG_STR("address", addr)),
           "listening on %s", addr);
    printf("listening on %s\n", addr); /* stdout: what scripts wait for */
    fflush(stdout);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    const char *signame = sig == SIGINT ? "SIGINT" : "SIGTERM";
    ws_log(WS_LOG_INFO, WS_FIELDS(WS_LOG_STR("event", "stopping"), WS_LOG_STR("signal", signame)),
           "%s received, stopping", signame);
    http_stop_accepting(http);
    service_stop(svc); /* every queued write is decided, synced and answered */
    http_stop(http);   /* no thread can submit any more */
    service_free(svc);
    store_close(st);
    ws_log(WS_LOG_INFO, WS_FIELDS(WS_LOG_STR("event", "stopped")), "stopped cleanly");
    return 0;
}

int main(int argc, char **argv) {
    options o;
    int code = parse_args(&o, argc, argv);
    if (code >= 0) {
        return code;
    }
    if (o.verify) {
        return run_verify(&o);
    }
    /* The keys are read before anything is bound or opened, and wiped on every way out. */
    http_auth *auth = NULL;
    if (o.api_key_file != NULL) {
        if (auth_load_file(o.api_key_file, &auth) != WS_OK) {
            return EXIT_USAGE;
        }
        o.http.auth = auth;
    }
    code = serve(&o);
    auth_free(auth);
    return code;
}
