/* The integration-test harness: process control for the real binary, a small libcurl
 * client and a reader for the server's compact JSON. See harness.h for the contract. */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/ledger.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 15000
#define KILL_TIMEOUT_MS 10000
#define VERIFY_TIMEOUT_MS 60000
#define POLL_MS 10
#define BODY_MAX (8u << 20)
#define SERVERS_MAX 16
#define CHILD_FDS_MAX 4096

/* ---- time ------------------------------------------------------------------------------ */

int64_t ws_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ws_sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- processes ------------------------------------------------------------------------- */

long ws_process_cpu_ticks(pid_t pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    long utime = 0;
    long stime = 0;
    /* Fields 14 and 15; the command name (field 2) has no spaces for our binaries. */
    int n =
        fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime);
    fclose(f);
    return n == 2 ? utime + stime : -1;
}

static ws_server *registry[SERVERS_MAX];

static const char *binary_path(void) {
    const char *b = getenv("WS_BINARY");
    if (b == NULL || b[0] == '\0') {
        fprintf(stderr, "harness: WS_BINARY is not set (path of the wallet-service binary)\n");
        return NULL;
    }
    return b;
}

/* Between fork and exec only async-signal-safe calls: the test process may have threads. */
static void child_exec(const char *const *argv, char *const *envp, const char *out_path,
                       long fsize_limit, long nofile_limit) {
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        _exit(126);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, 0);
    }
    dup2(fd, 1);
    dup2(fd, 2);
    for (int i = 3; i < CHILD_FDS_MAX; i++) {
        close(i); /* the tests' curl sockets must not leak into the server */
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    /* If the test process dies (timeout, crash), its servers die with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (fsize_limit > 0) {
        struct rlimit lim = {.rlim_cur = (rlim_t)fsize_limit, .rlim_max = (rlim_t)fsize_limit};
        signal(SIGXFSZ, SIG_IGN); /* ignored dispositions survive exec */
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
            _exit(125);
        }
    }
    if (nofile_limit > 0) {
        struct rlimit lim = {.rlim_cur = (rlim_t)nofile_limit, .rlim_max = (rlim_t)nofile_limit};
        if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
            _exit(125);
        }
    }
    execve(argv[0], (char *const *)argv, envp != NULL ? envp : environ);
    _exit(127);
}

static pid_t spawn(const char *const *argv, char *const *envp, const char *out_path,
                   long fsize_limit, long nofile_limit) {
    pid_t pid = fork();
    if (pid == 0) {
        child_exec(argv, envp, out_path, fsize_limit, nofile_limit);
    }
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
    }
    return pid;
}

/* Waits at most timeout_ms for pid. Returns true and sets *status if it exited. */
static bool wait_bounded(pid_t pid, int timeout_ms, int *status) {
    int64_t deadline = ws_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) {
            return true;
        }
        if (r < 0 && errno != EINTR) {
            return false;
        }
        if (ws_now_ms() >= deadline) {
            return false;
        }
        ws_sleep_ms(POLL_MS);
    }
}

static int decode_status(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 1000 + WTERMSIG(status);
    }
    return -1;
}

static void kill_and_reap(pid_t pid) {
    int status;
    kill(pid, SIGKILL);
    if (!wait_bounded(pid, KILL_TIMEOUT_MS, &status)) {
        fprintf(stderr, "harness: pid %d survived SIGKILL for %d ms\n", (int)pid, KILL_TIMEOUT_MS);
    }
}

/* Reads at most max bytes of a file, from its end when tail is set; malloc'd. */
static char *read_file(const char *path, size_t max, bool tail) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    long size = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        size = ftell(f);
    }
    long start = 0;
    if (tail && size > (long)max) {
        start = size - (long)max;
    }
    fseek(f, start, SEEK_SET);
    char *buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, max, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

void ws_server_dump_log(const ws_server *s, size_t max_bytes) {
    if (s == NULL || s->log_path[0] == '\0') {
        return;
    }
    char *log = read_file(s->log_path, max_bytes, true);
    fprintf(stderr, "---- %s (last %zu bytes) ----\n%s\n---- end of log ----\n", s->log_path,
            max_bytes, log != NULL ? log : "(unreadable)");
    free(log);
}

ws_server *ws_server_new(const char *const *extra_args) {
    if (binary_path() == NULL) {
        return NULL;
    }
    signal(SIGPIPE, SIG_IGN);
    ws_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    snprintf(s->root, sizeof s->root, "/tmp/ws-it-XXXXXX");
    if (mkdtemp(s->root) == NULL) {
        fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
        free(s);
        return NULL;
    }
    snprintf(s->data_dir, sizeof s->data_dir, "%s/data", s->root);
    if (mkdir(s->data_dir, 0755) != 0) {
        fprintf(stderr, "harness: mkdir %s: %s\n", s->data_dir, strerror(errno));
        rmdir(s->root);
        free(s);
        return NULL;
    }
    for (int i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
        if (i >= WS_EXTRA_ARGS_MAX) {
            fprintf(stderr, "harness: too many extra args\n");
            break;
        }
        snprintf(s->extra[i], sizeof s->extra[i], "%s", extra_args[i]);
        s->extra_count = i + 1;
    }
    for (int i = 0; i < SERVERS_MAX; i++) {
        if (registry[i] == NULL) {
            registry[i] = s;
            break;
        }
    }
    return s;
}

/* Looks for "listening on 127.0.0.1:PORT" followed by a newline in the log (the stdout
 * line; with --log-format json the stderr line says it inside a JSON string first). */
static int find_port(const char *log) {
    const char *marker = "listening on 127.0.0.1:";
    for (const char *p = strstr(log, marker); p != NULL; p = strstr(p, marker)) {
        p += strlen(marker);
        char *end;
        long port = strtol(p, &end, 10);
        if (end != p && *end == '\n' && port > 0 && port <= 65535) {
            return (int)port;
        }
    }
    return 0;
}

bool ws_server_add_env(ws_server *s, const char *name, const char *value) {
    if (s->env_count >= WS_EXTRA_ENV_MAX) {
        return false;
    }
    int n = snprintf(s->env[s->env_count], sizeof s->env[0], "%s=%s", name, value);
    if (n < 0 || (size_t)n >= sizeof s->env[0]) {
        return false;
    }
    s->env_count++;
    return true;
}

/* The child's environment: s's extra entries first (getenv takes the first match), then
 * the inherited ones. Built before fork, since the child may not allocate. NULL (inherit
 * as is) when there are no extras or no memory; free the result. */
static char **server_env(ws_server *s) {
    if (s->env_count == 0) {
        return NULL;
    }
    size_t inherited = 0;
    while (environ[inherited] != NULL) {
        inherited++;
    }
    char **envp = malloc((inherited + (size_t)s->env_count + 1) * sizeof *envp);
    if (envp == NULL) {
        return NULL;
    }
    size_t n = 0;
    for (int i = 0; i < s->env_count; i++) {
        envp[n++] = s->env[i];
    }
    for (size_t i = 0; i < inherited; i++) {
        envp[n++] = environ[i];
    }
    envp[n] = NULL;
    return envp;
}

bool ws_server_start(ws_server *s) {
    const char *bin = binary_path();
    if (bin == NULL || s == NULL || s->pid != 0) {
        return false;
    }
    s->starts++;
    snprintf(s->log_path, sizeof s->log_path, "%s/server.%d.log", s->root, s->starts);
    const char *argv[16 + WS_EXTRA_ARGS_MAX];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--data-dir";
    argv[n++] = s->data_dir;
    argv[n++] = "--io-threads";
    argv[n++] = "2";
    for (int i = 0; i < s->extra_count; i++) {
        argv[n++] = s->extra[i];
    }
    argv[n] = NULL;
    char **envp = server_env(s);
    pid_t pid = spawn(argv, envp, s->log_path, s->fsize_limit_bytes, s->nofile_limit);
    free(envp);
    if (pid < 0) {
        return false;
    }
    s->pid = pid;
    int64_t deadline = ws_now_ms() + START_TIMEOUT_MS;
    while (ws_now_ms() < deadline) {
        char *log = read_file(s->log_path, 1u << 20, false);
        int port = log != NULL ? find_port(log) : 0;
        free(log);
        if (port != 0) {
            s->port = port;
            snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", port);
            return true;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "harness: server exited during startup (status %d)\n",
                    decode_status(status));
            ws_server_dump_log(s, 4096);
            s->pid = 0;
            return false;
        }
        ws_sleep_ms(POLL_MS);
    }
    fprintf(stderr, "harness: no listening line within %d ms\n", START_TIMEOUT_MS);
    ws_server_dump_log(s, 4096);
    kill_and_reap(pid);
    s->pid = 0;
    return false;
}

int ws_server_stop(ws_server *s) { return ws_server_stop_signal(s, SIGTERM); }

int ws_server_stop_signal(ws_server *s, int sig) {
    if (s == NULL || s->pid == 0) {
        return -1;
    }
    pid_t pid = s->pid;
    s->pid = 0;
    s->port = 0;
    kill(pid, sig);
    int status;
    if (!wait_bounded(pid, STOP_TIMEOUT_MS, &status)) {
        fprintf(stderr, "harness: server ignored signal %d for %d ms; SIGKILL\n", sig,
                STOP_TIMEOUT_MS);
        ws_server_dump_log(s, 4096);
        kill_and_reap(pid);
        return -1;
    }
    int code = decode_status(status);
    if (code != 0) {
        fprintf(stderr, "harness: server exit status %d after signal %d\n", code, sig);
        ws_server_dump_log(s, 4096);
    }
    return code;
}

bool ws_server_kill9(ws_server *s) {
    if (s == NULL || s->pid == 0) {
        return false;
    }
    pid_t pid = s->pid;
    s->pid = 0;
    s->port = 0;
    if (kill(pid, SIGKILL) != 0) {
        return false;
    }
    int status;
    if (!wait_bounded(pid, KILL_TIMEOUT_MS, &status)) {
        return false;
    }
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fprintf(stderr, "harness: the server had already ended (status %d) before kill -9\n",
                decode_status(status));
        ws_server_dump_log(s, 4096);
        return false;
    }
    return true;
}

int ws_run_binary(const char *const *args, char *out, size_t out_size, int timeout_ms) {
    const char *bin = binary_path();
    if (bin == NULL) {
        return -1;
    }
    const char *argv[32];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; args[i] != NULL && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char path[] = "/tmp/ws-it-run-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    pid_t pid = spawn(argv, NULL, path, 0, 0);
    int code = -1;
    if (pid > 0) {
        int status;
        if (wait_bounded(pid, timeout_ms, &status)) {
            code = decode_status(status);
        } else {
            fprintf(stderr, "harness: %s did not finish within %d ms\n", bin, timeout_ms);
            kill_and_reap(pid);
        }
    }
    if (out != NULL && out_size > 0) {
        char *text = read_file(path, out_size - 1, false);
        snprintf(out, out_size, "%s", text != NULL ? text : "");
        free(text);
    }
    unlink(path);
    return code;
}

int ws_server_verify(ws_server *s, char *out, size_t out_size) {
    const char *args[] = {"--verify", "--data-dir", s->data_dir, NULL};
    return ws_run_binary(args, out, out_size, VERIFY_TIMEOUT_MS);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0) {
        fprintf(stderr, "harness: remove %s: %s\n", path, strerror(errno));
    }
    return 0;
}

void ws_server_destroy(ws_server *s) {
    if (s == NULL) {
        return;
    }
    if (s->pid != 0) {
        /* Still supposed to run: if it died behind the test's back, say how. */
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            fprintf(stderr, "harness: the server had exited unexpectedly (status %d)\n",
                    decode_status(status));
            ws_server_dump_log(s, 4096);
        } else {
            kill_and_reap(s->pid);
        }
        s->pid = 0;
    }
    if (getenv("WS_KEEP_TMP") == NULL && strncmp(s->root, "/tmp/ws-it-", 11) == 0) {
        nftw(s->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    } else {
        fprintf(stderr, "harness: kept %s\n", s->root);
    }
    for (int i = 0; i < SERVERS_MAX; i++) {
        if (registry[i] == s) {
            registry[i] = NULL;
        }
    }
    free(s);
}

void ws_cleanup_all(void) {
    for (int i = 0; i < SERVERS_MAX; i++) {
        if (registry[i] != NULL) {
            ws_server_destroy(registry[i]);
        }
    }
}

/* ---- HTTP ------------------------------------------------------------------------------ */

struct ws_client {
    CURL *curl;
    char url[64];
    long timeout_ms;
    struct curl_slist *headers; /* extra request headers, NULL for none */
    bool tls;
    char ca_file[WS_PATH_MAX]; /* "" : the system's CAs */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

ws_client *ws_client_new(const ws_server *s) {
    pthread_once(&curl_once, curl_init_once);
    if (s == NULL || s->port == 0) {
        return NULL;
    }
    ws_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        return NULL;
    }
    snprintf(c->url, sizeof c->url, "%s", s->url);
    c->timeout_ms = 10000;
    return c;
}

void ws_client_free(ws_client *c) {
    if (c != NULL) {
        curl_easy_cleanup(c->curl);
        curl_slist_free_all(c->headers);
        free(c);
    }
}

void ws_client_set_timeout_ms(ws_client *c, long timeout_ms) { c->timeout_ms = timeout_ms; }

bool ws_client_add_header(ws_client *c, const char *line) {
    struct curl_slist *l = curl_slist_append(c->headers, line);
    if (l == NULL) {
        return false;
    }
    c->headers = l;
    return true;
}

void ws_client_clear_headers(ws_client *c) {
    curl_slist_free_all(c->headers);
    c->headers = NULL;
}

void ws_client_use_tls(ws_client *c, const char *ca_file) {
    size_t len = strlen(c->url);
    if (!c->tls && strncmp(c->url, "http://", 7) == 0 && len + 2 <= sizeof c->url) {
        memmove(c->url + 5, c->url + 4, len - 4 + 1); /* "http://..." -> "https://..." */
        c->url[4] = 's';
    }
    c->tls = true;
    snprintf(c->ca_file, sizeof c->ca_file, "%s", ca_file != NULL ? ca_file : "");
}

/* A new client to c's server with c's timeout, headers and TLS settings, for a helper
 * thread; NULL on failure. */
static ws_client *client_clone(const ws_client *c) {
    ws_client *d = calloc(1, sizeof *d);
    CURL *curl = d != NULL ? curl_easy_init() : NULL;
    if (curl == NULL) {
        free(d);
        return NULL;
    }
    *d = (ws_client){.curl = curl, .timeout_ms = c->timeout_ms, .tls = c->tls};
    snprintf(d->url, sizeof d->url, "%s", c->url);
    snprintf(d->ca_file, sizeof d->ca_file, "%s", c->ca_file);
    bool ok = true;
    for (const struct curl_slist *h = c->headers; h != NULL && ok; h = h->next) {
        ok = ws_client_add_header(d, h->data);
    }
    if (!ok) {
        ws_client_free(d);
        return NULL;
    }
    return d;
}

void ws_response_free(ws_response *r) {
    free(r->body);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx) {
    ws_response *r = ctx;
    size_t n = size * nmemb;
    if (r->body_len + n > BODY_MAX) {
        return 0; /* abort: a runaway body is a failure, not an allocation */
    }
    char *grown = realloc(r->body, r->body_len + n + 1);
    if (grown == NULL) {
        return 0;
    }
    r->body = grown;
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

/* Copies the trimmed value of header line h if its name is `name`, else returns false. */
static bool header_value(const char *h, size_t len, const char *name, char *out, size_t cap) {
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(h, name, nlen) != 0 || h[nlen] != ':') {
        return false;
    }
    size_t i = nlen + 1;
    while (i < len && (h[i] == ' ' || h[i] == '\t')) {
        i++;
    }
    size_t end = len;
    while (end > i && (h[end - 1] == '\r' || h[end - 1] == '\n' || h[end - 1] == ' ')) {
        end--;
    }
    size_t n = end - i < cap - 1 ? end - i : cap - 1;
    memcpy(out, h + i, n);
    out[n] = '\0';
    return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx) {
    ws_response *r = ctx;
    size_t n = size * nmemb;
    char v[96];
    if (header_value(data, n, "Idempotent-Replayed", v, sizeof v)) {
        r->replayed = strcmp(v, "true") == 0;
    } else if (header_value(data, n, "Retry-After", v, sizeof v)) {
        r->has_retry_after = true;
        snprintf(r->retry_after, sizeof r->retry_after, "%s", v);
    } else if (header_value(data, n, "Content-Type", v, sizeof v)) {
        snprintf(r->content_type, sizeof r->content_type, "%s", v);
    } else if (header_value(data, n, "WWW-Authenticate", v, sizeof v)) {
        snprintf(r->www_authenticate, sizeof r->www_authenticate, "%s", v);
    }
    return n;
}

/* c's handle set up for one request to url, its answer into r. */
static CURL *setup_handle(ws_client *c, const char *url, ws_response *r,
                          size_t (*header_fn)(char *, size_t, size_t, void *),
                          struct curl_slist *headers) {
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_fn);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (c->tls) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        if (c->ca_file[0] != '\0') {
            curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
        }
    }
    return h;
}

static long perform(ws_client *c, const char *method, ws_response *r, const char *fmt, va_list ap) {
    ws_response_free(r);
    r->body = calloc(1, 1);
    char path[4096];
    int plen = vsnprintf(path, sizeof path, fmt, ap);
    if (r->body == NULL || plen < 0 || (size_t)plen >= sizeof path) {
        r->curl_code = -1;
        return 0;
    }
    char url[4200];
    snprintf(url, sizeof url, "%s%s", c->url, path);
    CURL *h = setup_handle(c, url, r, on_header, c->headers);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    r->curl_code = (int)rc;
    if (rc != CURLE_OK) {
        r->status = 0;
        return 0;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    return r->status;
}

long ws_get(ws_client *c, ws_response *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    long status = perform(c, "GET", r, fmt, ap);
    va_end(ap);
    return status;
}

long ws_request(ws_client *c, const char *method, ws_response *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    long status = perform(c, method, r, fmt, ap);
    va_end(ap);
    /* A custom method must not stick to the reused handle. */
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    return status;
}

/* The header lines of the calling thread's last ws_send, for ws_last_header: only the final
 * response's (a new status line, as after a 100 Continue, starts the list again). */
#define SEND_HEADERS_MAX 8192
static _Thread_local char send_headers[SEND_HEADERS_MAX];
static _Thread_local size_t send_headers_len;

static size_t on_header_kept(char *data, size_t size, size_t nmemb, void *ctx) {
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        send_headers_len = 0;
    }
    if (send_headers_len + n < SEND_HEADERS_MAX) {
        memcpy(send_headers + send_headers_len, data, n);
        send_headers_len += n;
    }
    send_headers[send_headers_len] = '\0';
    return on_header(data, size, nmemb, ctx);
}

/* c's headers, then Content-Type (or an empty one, which makes libcurl send none), then an
 * empty Expect (no 100-continue wait before a large body), then extra_header. NULL on out
 * of memory. */
static struct curl_slist *send_header_list(const ws_client *c, const char *content_type,
                                           const char *extra_header) {
    struct curl_slist *list = NULL;
    char line[512];
    bool ok = true;
    for (const struct curl_slist *h = c->headers; h != NULL && ok; h = h->next) {
        struct curl_slist *l = curl_slist_append(list, h->data);
        ok = l != NULL;
        list = ok ? l : list;
    }
    snprintf(line, sizeof line, "Content-Type:%s%s", content_type != NULL ? " " : "",
             content_type != NULL ? content_type : "");
    const char *more[] = {line, "Expect:", extra_header};
    for (size_t i = 0; i < 3 && ok; i++) {
        if (more[i] != NULL) {
            struct curl_slist *l = curl_slist_append(list, more[i]);
            ok = l != NULL;
            list = ok ? l : list;
        }
    }
    if (!ok) {
        curl_slist_free_all(list);
        return NULL;
    }
    return list;
}

long ws_send(ws_client *c, const char *method, ws_response *r, const char *path,
             const char *content_type, const char *body, size_t len, const char *extra_header) {
    ws_response_free(r);
    send_headers_len = 0;
    send_headers[0] = '\0';
    r->body = calloc(1, 1);
    char url[4200];
    int ulen = snprintf(url, sizeof url, "%s%s", c->url, path);
    struct curl_slist *headers = send_header_list(c, content_type, extra_header);
    if (r->body == NULL || ulen < 0 || (size_t)ulen >= sizeof url || headers == NULL) {
        curl_slist_free_all(headers);
        r->curl_code = -1;
        return 0;
    }
    CURL *h = setup_handle(c, url, r, on_header_kept, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(h);
    r->curl_code = (int)rc;
    r->status = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    }
    /* Nothing of this request may stick to the reused handle: the next ws_get must be a
     * GET with c's own headers. */
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_slist_free_all(headers);
    return r->status;
}

long ws_post(ws_client *c, ws_response *r, const char *path, const char *content_type,
             const char *body, size_t len, const char *extra_header) {
    return ws_send(c, "POST", r, path, content_type, body, len, extra_header);
}

bool ws_last_header(const char *name, char *out, size_t out_size) {
    out[0] = '\0';
    for (const char *line = send_headers; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t n = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (header_value(line, n, name, out, out_size)) {
            return true;
        }
        line += n + (eol != NULL);
    }
    return false;
}

/* ---- JSON ------------------------------------------------------------------------------ */

/* Points just past "key": in json, or NULL. */
static const char *find_key(const char *json, const char *key) {
    if (json == NULL) {
        return NULL;
    }
    char pat[96];
    int n = snprintf(pat, sizeof pat, "\"%s\":", key);
    if (n < 0 || (size_t)n >= sizeof pat) {
        return NULL;
    }
    const char *p = strstr(json, pat);
    return p != NULL ? p + n : NULL;
}

bool ws_json_u64(const char *json, const char *key, uint64_t *out) {
    const char *p = find_key(json, key);
    if (p == NULL || *p < '0' || *p > '9') {
        return false;
    }
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (*p != ',' && *p != '}') {
        return false;
    }
    *out = v;
    return true;
}

/* The signed integer value of "key":N or "key":-N (first occurrence), within int64_t. */
static bool json_i64(const char *json, const char *key, int64_t *out) {
    const char *p = find_key(json, key);
    if (p == NULL) {
        return false;
    }
    bool negative = *p == '-';
    p += negative;
    if (*p < '0' || *p > '9') {
        return false;
    }
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (*p != ',' && *p != '}') {
        return false;
    }
    *out = negative ? -(int64_t)v : (int64_t)v;
    return true;
}

int ws_json_str(const char *json, const char *key, char *out, size_t out_size) {
    const char *p = find_key(json, key);
    if (p == NULL) {
        return -1;
    }
    if (strncmp(p, "null", 4) == 0 && (p[4] == ',' || p[4] == '}')) {
        out[0] = '\0';
        return 0;
    }
    if (*p != '"') {
        return -1;
    }
    p++;
    size_t n = 0;
    while (p[n] != '\0' && p[n] != '"') {
        if (p[n] == '\\') {
            n++; /* keep escapes verbatim; IDs never need them */
            if (p[n] == '\0') {
                return -1;
            }
        }
        n++;
    }
    if (p[n] != '"' || n >= out_size) {
        return -1;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

bool ws_json_is_error(const char *json, const char *code) {
    if (json == NULL || strncmp(json, "{\"error\":{", 10) != 0) {
        return false;
    }
    char got[64];
    return ws_json_str(json, "code", got, sizeof got) == 1 && strcmp(got, code) == 0;
}

void ws_json_error_message(const char *json, char *out, size_t out_size) {
    if (ws_json_str(json, "message", out, out_size) != 1) {
        out[0] = '\0';
    }
}

bool ws_is_uuid(const char *s) {
    if (s == NULL || strlen(s) != 36) {
        return false;
    }
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return false;
            }
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

void ws_event_list_free(ws_event_list *l) {
    free(l->items);
    memset(l, 0, sizeof *l);
}

static bool parse_event(const char *obj, ws_event_rec *e) {
    memset(e, 0, sizeof *e);
    if (!ws_json_u64(obj, "seq", &e->seq) || !ws_json_u64(obj, "amount", &e->amount) ||
        !ws_json_u64(obj, "balance", &e->balance)) {
        return false;
    }
    if (ws_json_str(obj, "type", e->type, sizeof e->type) != 1 ||
        ws_json_str(obj, "accountID", e->account, sizeof e->account) != 1 ||
        ws_json_str(obj, "timestamp", e->timestamp, sizeof e->timestamp) != 1) {
        return false;
    }
    int t = ws_json_str(obj, "transactionID", e->txn, sizeof e->txn);
    int c = ws_json_str(obj, "counterparty", e->counterparty, sizeof e->counterparty);
    if (t < 0 || c < 0) {
        return false;
    }
    e->txn_null = t == 0;
    e->counterparty_null = c == 0;
    /* The events of two-phase transfers carry the pending figures; a post's, void's or
     * expiry's the pendingID too. No other event has any of them. */
    e->two_phase = find_key(obj, "pendingCredits") != NULL;
    bool has_pending_id = find_key(obj, "pendingID") != NULL;
    if (!e->two_phase) {
        return find_key(obj, "available") == NULL && !has_pending_id;
    }
    return ws_json_u64(obj, "pendingCredits", &e->pending_credits) &&
           json_i64(obj, "available", &e->available) &&
           (!has_pending_id ||
            ws_json_str(obj, "pendingID", e->pending_id, sizeof e->pending_id) == 1);
}

bool ws_events_parse(const char *json, ws_event_list *l) {
    const char *prefix = "{\"events\":[";
    if (json == NULL || strncmp(json, prefix, strlen(prefix)) != 0) {
        return false;
    }
    const char *p = json + strlen(prefix);
    for (size_t guard = 0; guard < 100000; guard++) {
        if (*p == ']') {
            p++;
            break;
        }
        if (*p != '{') {
            return false;
        }
        const char *end = strchr(p, '}'); /* events hold no nested objects */
        if (end == NULL || end - p >= 1024) {
            return false;
        }
        char obj[1024];
        memcpy(obj, p, (size_t)(end - p + 1));
        obj[end - p + 1] = '\0';
        if (l->count == l->cap) {
            size_t cap = l->cap != 0 ? l->cap * 2 : 256;
            ws_event_rec *items = realloc(l->items, cap * sizeof *items);
            if (items == NULL) {
                return false;
            }
            l->items = items;
            l->cap = cap;
        }
        if (!parse_event(obj, &l->items[l->count])) {
            return false;
        }
        l->count++;
        p = end + 1;
        if (*p == ',') {
            p++;
        }
    }
    if (strncmp(p, ",\"next\":", 8) != 0) {
        return false;
    }
    p += 8;
    if (strcmp(p, "null}") == 0) {
        l->has_next = false;
        l->next = 0;
        return true;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || errno != 0 || strcmp(end, "}") != 0) {
        return false;
    }
    l->has_next = true;
    l->next = v;
    return true;
}

bool ws_events_fetch_all(ws_client *c, const char *acct, ws_event_list *out) {
    ws_response r = WS_RESPONSE_INIT;
    uint64_t after = 0;
    bool ok = false;
    for (int page = 0; page < 10000; page++) {
        long st;
        if (acct != NULL) {
            st = ws_get(c, &r, "/api/1.0/wallet/events?after=%llu&limit=1000&accountID=%s",
                        (unsigned long long)after, acct);
        } else {
            st = ws_get(c, &r, "/api/1.0/wallet/events?after=%llu&limit=1000",
                        (unsigned long long)after);
        }
        if (st != 200 || !ws_events_parse(r.body, out)) {
            fprintf(stderr, "harness: events page after=%llu: status %ld body %.300s\n",
                    (unsigned long long)after, st, r.body != NULL ? r.body : "");
            break;
        }
        if (!out->has_next) {
            ok = true;
            break;
        }
        if (out->next <= after) {
            fprintf(stderr, "harness: events next=%llu does not advance past %llu\n",
                    (unsigned long long)out->next, (unsigned long long)after);
            break;
        }
        after = out->next;
    }
    out->has_next = false;
    ws_response_free(&r);
    return ok;
}

bool ws_balance(ws_client *c, const char *acct, uint64_t *out) {
    ws_response r = WS_RESPONSE_INIT;
    bool ok = ws_get(c, &r, "/api/1.0/wallet/get_balance?accountID=%s", acct) == 200 &&
              ws_json_u64(r.body, "balance", out);
    if (!ok) {
        fprintf(stderr, "harness: get_balance %s: status %ld body %.300s\n", acct, r.status,
                r.body != NULL ? r.body : "");
    }
    ws_response_free(&r);
    return ok;
}

/* ---- load ------------------------------------------------------------------------------ */

uint64_t ws_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__attribute__((format(printf, 2, 3))) static void load_other(ws_load *l, const char *fmt, ...) {
    if (l->other++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->first_other, sizeof l->first_other, fmt, ap);
        va_end(ap);
    }
}

static bool load_push_ok(ws_load *l, const ws_transfer_ok *t) {
    if (l->ok_count == l->ok_cap) {
        size_t cap = l->ok_cap == 0 ? 256 : l->ok_cap * 2;
        ws_transfer_ok *grown = realloc(l->ok, cap * sizeof *grown);
        if (grown == NULL) {
            return false;
        }
        l->ok = grown;
        l->ok_cap = cap;
    }
    l->ok[l->ok_count++] = *t;
    return true;
}

static bool push_id(char (**list)[72], size_t *count, size_t *cap, const char *id) {
    if (id[0] == '\0') {
        return true;
    }
    if (*count == *cap) {
        size_t grown_cap = *cap == 0 ? 256 : *cap * 2;
        char(*grown)[72] = realloc(*list, grown_cap * sizeof *grown);
        if (grown == NULL) {
            return false;
        }
        *list = grown;
        *cap = grown_cap;
    }
    snprintf((*list)[(*count)++], 72, "%s", id);
    return true;
}

/* Checks a 200 against the request and records it. */
static void load_on_ok(ws_load *l, const ws_response *r, const char *id, const char *from,
                       const char *to, uint64_t amount) {
    ws_transfer_ok t;
    memset(&t, 0, sizeof t);
    uint64_t got_amount = 0;
    bool shape = ws_json_str(r->body, "transactionID", t.txn, sizeof t.txn) == 1 &&
                 ws_json_str(r->body, "fromAccount", t.from, sizeof t.from) == 1 &&
                 ws_json_str(r->body, "toAccount", t.to, sizeof t.to) == 1 &&
                 ws_json_u64(r->body, "amount", &got_amount) &&
                 ws_json_u64(r->body, "fromBalance", &t.from_balance) &&
                 ws_json_u64(r->body, "toBalance", &t.to_balance);
    if (!shape || strcmp(t.from, from) != 0 || strcmp(t.to, to) != 0 || got_amount != amount ||
        (id[0] != '\0' ? strcmp(t.txn, id) != 0 : !ws_is_uuid(t.txn)) || r->replayed ||
        r->body_len >= sizeof t.body) {
        load_other(l, "200 does not match %s->%s %llu id '%s' (replayed %d): %s", from, to,
                   (unsigned long long)amount, id, r->replayed, r->body);
        return;
    }
    t.amount = amount;
    t.explicit_id = id[0] != '\0';
    memcpy(t.body, r->body, r->body_len + 1);
    if (!load_push_ok(l, &t)) {
        load_other(l, "out of memory");
        return;
    }
    if (l->acked != NULL) {
        atomic_fetch_add(l->acked, 1);
    }
}

/* One request of a load thread: a transfer, or a step of a two-phase transfer. */
typedef struct {
    ws_ack_kind kind;
    const char *id; /* "": generated (transfers only) */
    const char *from;
    const char *to;
    uint64_t amount;         /* a transfer's or pending transfer's; a post's, 0 for all of it */
    uint32_t timeout_s;      /* a pending transfer's: sent, or of the one a post or void names */
    const char *pending_id;  /* post, void */
    uint64_t pending_amount; /* post, void: what the pending transfer holds */
} load_req;

/* The JSON body of a two-phase step (amount 0 on a post: all of it) into out; its length,
 * or 0 if it does not fit. */
static size_t step_body(char *out, size_t cap, ws_ack_kind kind, const char *id, const char *from,
                        const char *to, uint64_t amount, uint32_t timeout_s,
                        const char *pending_id) {
    char tail[48] = "";
    int n;
    if (kind == WS_ACK_PENDING) {
        if (timeout_s != 0) {
            snprintf(tail, sizeof tail, ",\"timeoutSeconds\":%u", (unsigned)timeout_s);
        }
        n = snprintf(out, cap,
                     "{\"transferID\":\"%s\",\"fromAccount\":\"%s\",\"toAccount\":\"%s\","
                     "\"amount\":%llu,\"pending\":true%s}",
                     id, from, to, (unsigned long long)amount, tail);
    } else if (kind == WS_ACK_POST) {
        if (amount != 0) {
            snprintf(tail, sizeof tail, ",\"amount\":%llu", (unsigned long long)amount);
        }
        n = snprintf(out, cap, "{\"transferID\":\"%s\",\"postPendingID\":\"%s\"%s}", id, pending_id,
                     tail);
    } else {
        n = snprintf(out, cap, "{\"transferID\":\"%s\",\"voidPendingID\":\"%s\"}", id, pending_id);
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static long post_step(ws_client *c, ws_response *r, const char *body, size_t len) {
    return ws_post(c, r, "/api/1.0/wallet/transfers", "application/json", body, len, NULL);
}

/* Checks a 200 to a two-phase step against the request and records it. */
static void load_on_step_ok(ws_load *l, const ws_response *r, const load_req *q) {
    static const char *const statuses[] = {
        [WS_ACK_PENDING] = "pending", [WS_ACK_POST] = "posted", [WS_ACK_VOID] = "voided"};
    ws_transfer_ok t;
    memset(&t, 0, sizeof t);
    char status[16] = "";
    char pending_id[72] = "";
    uint64_t amount = 0, timeout_s = 0;
    bool shape = ws_json_str(r->body, "transactionID", t.txn, sizeof t.txn) == 1 &&
                 ws_json_str(r->body, "fromAccount", t.from, sizeof t.from) == 1 &&
                 ws_json_str(r->body, "toAccount", t.to, sizeof t.to) == 1 &&
                 ws_json_u64(r->body, "amount", &amount) &&
                 ws_json_str(r->body, "status", status, sizeof status) == 1 &&
                 ws_json_u64(r->body, "fromBalance", &t.from_balance) &&
                 json_i64(r->body, "fromAvailable", &t.from_available) &&
                 ws_json_u64(r->body, "toBalance", &t.to_balance) &&
                 ws_json_u64(r->body, "toPendingCredits", &t.to_pending_credits);
    if (q->kind == WS_ACK_PENDING) {
        shape = shape && ws_json_u64(r->body, "timeoutSeconds", &timeout_s) &&
                timeout_s == q->timeout_s && find_key(r->body, "pendingID") == NULL;
    } else {
        shape = shape && ws_json_str(r->body, "pendingID", pending_id, sizeof pending_id) == 1 &&
                strcmp(pending_id, q->pending_id) == 0;
    }
    uint64_t want = q->kind == WS_ACK_PENDING             ? q->amount
                    : q->kind == WS_ACK_POST && q->amount ? q->amount
                                                          : q->pending_amount;
    if (!shape || strcmp(status, statuses[q->kind]) != 0 || strcmp(t.txn, q->id) != 0 ||
        strcmp(t.from, q->from) != 0 || strcmp(t.to, q->to) != 0 || amount != want || r->replayed ||
        r->body_len >= sizeof t.body) {
        load_other(l, "200 does not match the %s %s of %s->%s %llu (replayed %d): %s",
                   statuses[q->kind], q->id, q->from, q->to, (unsigned long long)want, r->replayed,
                   r->body);
        return;
    }
    t.kind = q->kind;
    t.amount = want;
    t.explicit_id = true;
    t.timeout_s = q->kind == WS_ACK_PENDING ? q->timeout_s : 0;
    t.amount_given = q->kind == WS_ACK_POST && q->amount != 0;
    if (q->kind != WS_ACK_PENDING) {
        snprintf(t.pending_id, sizeof t.pending_id, "%s", q->pending_id);
    }
    memcpy(t.body, r->body, r->body_len + 1);
    if (!load_push_ok(l, &t)) {
        load_other(l, "out of memory");
        return;
    }
    l->pendings += q->kind == WS_ACK_PENDING;
    l->posts += q->kind == WS_ACK_POST;
    l->voids += q->kind == WS_ACK_VOID;
    if (l->acked != NULL) {
        atomic_fetch_add(l->acked, 1);
    }
}

/* Whether a refusal is one the load expects (and counts it): 1 yes, 0 no, -1 no and already
 * reported. */
static int load_expected(ws_load *l, const ws_response *r, const load_req *q) {
    bool same = strcmp(q->from, q->to) == 0;
    bool moves = q->kind == WS_ACK_TRANSFER || q->kind == WS_ACK_PENDING;
    if (r->status == 422 && !r->replayed) {
        if (moves && !same && ws_json_is_error(r->body, "insufficient_funds")) {
            l->insufficient++;
            return 1;
        }
        if (q->kind == WS_ACK_TRANSFER && same && ws_json_is_error(r->body, "same_account")) {
            l->same_account++;
            return 1;
        }
    }
    if (r->status == 409 && !r->replayed && !moves && q->timeout_s != 0 &&
        ws_json_is_error(r->body, "pending_transfer_expired")) {
        l->expired++;
        return 1;
    }
    if (r->status == 503 && l->allow_overloaded && ws_json_is_error(r->body, "overloaded")) {
        char *end = NULL;
        long secs = r->has_retry_after ? strtol(r->retry_after, &end, 10) : -1;
        if (secs >= 0 && end != r->retry_after && *end == '\0') {
            l->overloaded++;
            return 1;
        }
        load_other(l, "503 overloaded without a valid Retry-After ('%s'): %s", r->retry_after,
                   r->body);
        return -1;
    }
    if (r->status == 503 && l->allow_unavailable && ws_json_is_error(r->body, "unavailable")) {
        l->unavailable++;
        return 1;
    }
    return 0;
}

static void load_classify(ws_load *l, const ws_response *r, const load_req *q) {
    if (r->status == 200) {
        if (q->kind == WS_ACK_TRANSFER) {
            load_on_ok(l, r, q->id, q->from, q->to, q->amount);
        } else {
            load_on_step_ok(l, r, q);
        }
        return;
    }
    int expected = load_expected(l, r, q);
    if (expected <= 0) {
        if (expected == 0) {
            load_other(l, "unexpected %ld for %s->%s %llu id '%s' (step %d, pending '%s'): %s",
                       r->status, q->from, q->to, (unsigned long long)q->amount, q->id,
                       (int)q->kind, q->pending_id != NULL ? q->pending_id : "", r->body);
        }
        return;
    }
    bool pushed = push_id(&l->rejected, &l->rejected_count, &l->rejected_cap, q->id);
    if (pushed && r->status == 503) {
        pushed = push_id(&l->refused, &l->refused_count, &l->refused_cap, q->id);
    }
    if (!pushed) {
        load_other(l, "out of memory");
    }
}

/* The open pending transfers of a load thread, the ones it may post or void. */
#define LOAD_OPEN_MAX 16

typedef struct {
    char id[72];
    const char *from;
    const char *to;
    uint64_t amount;
    uint32_t timeout_s;
} load_open;

typedef struct {
    load_open items[LOAD_OPEN_MAX];
    size_t count;
} load_opens;

/* Turns q into a two-phase step about one time in three: a pending transfer (a quarter
 * of the amount range), or a post or void of an open one, which is then taken out of o
 * into *taken (q points into it). */
static void load_pick_step(const ws_load *l, uint64_t *rng, load_opens *o, load_open *taken,
                           load_req *q) {
    unsigned u = (unsigned)(ws_splitmix64(rng) % 9);
    if (u < 6) {
        return;
    }
    ws_ack_kind kind = u == 6 ? WS_ACK_PENDING : u == 7 ? WS_ACK_POST : WS_ACK_VOID;
    if (kind != WS_ACK_PENDING && o->count == 0) {
        kind = WS_ACK_PENDING;
    } else if (kind == WS_ACK_PENDING && o->count == LOAD_OPEN_MAX) {
        kind = WS_ACK_POST;
    }
    q->kind = kind;
    if (kind == WS_ACK_PENDING) {
        q->amount = 1 + ws_splitmix64(rng) % (l->amount_max / 4 + 1);
        unsigned t = (unsigned)(ws_splitmix64(rng) % 4);
        q->timeout_s = t < 1 ? 1 : t == 1 ? 3600 : 0;
        return;
    }
    size_t pick = (size_t)(ws_splitmix64(rng) % o->count);
    *taken = o->items[pick];
    o->items[pick] = o->items[--o->count];
    q->from = taken->from;
    q->to = taken->to;
    q->pending_id = taken->id;
    q->pending_amount = taken->amount;
    q->timeout_s = taken->timeout_s;
    q->amount = kind == WS_ACK_POST && (ws_splitmix64(rng) & 1) != 0
                    ? 1 + ws_splitmix64(rng) % taken->amount
                    : 0;
}

/* Sends q: a transfer through balance_transfer, a step through POST /transfers. */
static long load_send(ws_client *c, ws_response *r, const load_req *q) {
    if (q->kind != WS_ACK_TRANSFER) {
        char body[512];
        size_t len = step_body(body, sizeof body, q->kind, q->id, q->from, q->to, q->amount,
                               q->timeout_s, q->pending_id);
        return post_step(c, r, body, len);
    }
    if (q->id[0] != '\0') {
        return ws_get(c, r,
                      "/api/1.0/wallet/balance_transfer?fromAccount=%s&toAccount=%s"
                      "&amount=%llu&transferID=%s",
                      q->from, q->to, (unsigned long long)q->amount, q->id);
    }
    return ws_get(c, r,
                  "/api/1.0/wallet/balance_transfer?fromAccount=%s&toAccount=%s"
                  "&amount=%llu",
                  q->from, q->to, (unsigned long long)q->amount);
}

void *ws_load_thread(void *arg) {
    ws_load *l = arg;
    ws_client *c = ws_client_new(l->srv);
    if (c == NULL || l->account_count < 2 || l->amount_max == 0) {
        load_other(l, "bad load setup or no client");
        ws_client_free(c);
        return NULL;
    }
    ws_response r = WS_RESPONSE_INIT;
    uint64_t rng = l->seed * 1000003u + (uint64_t)l->thread_index;
    int64_t deadline = ws_now_ms() + (l->time_limit_ms > 0 ? l->time_limit_ms : 120000);
    const char *prefix = l->id_prefix != NULL ? l->id_prefix : "w";
    load_opens opens = {.count = 0};
    for (size_t i = 0; i < l->transfers_max; i++) {
        if ((l->stop != NULL && atomic_load(l->stop)) || ws_now_ms() > deadline) {
            break;
        }
        size_t n = l->account_count;
        size_t f = (size_t)(ws_splitmix64(&rng) % n);
        size_t t = (size_t)(ws_splitmix64(&rng) % n);
        bool same = i % 20 == 19;
        if (same) {
            t = f;
            l->planned_same++;
        } else if (t == f) {
            t = (f + 1 + (size_t)(ws_splitmix64(&rng) % (n - 1))) % n;
        }
        uint64_t amount = 1 + ws_splitmix64(&rng) % l->amount_max;
        if (!same && l->amount_huge != 0 && i % 50 == 49) {
            amount = l->amount_huge;
            l->planned_huge++;
        }
        char id[72] = "";
        load_open taken;
        load_req q = {.kind = WS_ACK_TRANSFER,
                      .id = id,
                      .from = l->accounts[f],
                      .to = l->accounts[t],
                      .amount = amount};
        if (l->two_phase && !same) {
            load_pick_step(l, &rng, &opens, &taken, &q);
        }
        if (l->all_explicit || (i & 1) != 0 || q.kind != WS_ACK_TRANSFER) {
            snprintf(id, sizeof id, "%s-%d-%zu", prefix, l->thread_index, i);
        }
        l->attempts = i + 1;
        snprintf(l->last_id, sizeof l->last_id, "%s", id);
        l->last_answered = false;
        long status = load_send(c, &r, &q);
        if (status == 0) {
            l->transport_errors++;
            if (l->stop_on_disconnect) {
                break;
            }
            load_other(l, "transport error (curl %d) on %s->%s", r.curl_code, q.from, q.to);
            continue;
        }
        l->last_answered = true;
        size_t acked_before = l->ok_count;
        load_classify(l, &r, &q);
        if (q.kind == WS_ACK_PENDING && l->ok_count > acked_before && opens.count < LOAD_OPEN_MAX) {
            load_open *o = &opens.items[opens.count++];
            snprintf(o->id, sizeof o->id, "%s", id);
            o->from = q.from;
            o->to = q.to;
            o->amount = q.amount;
            o->timeout_s = q.timeout_s;
        }
    }
    ws_response_free(&r);
    ws_client_free(c);
    return NULL;
}

void ws_load_free(ws_load *l) {
    free(l->ok);
    free(l->rejected);
    free(l->refused);
    l->ok = NULL;
    l->rejected = NULL;
    l->refused = NULL;
    l->refused_count = l->refused_cap = 0;
    l->ok_count = l->ok_cap = 0;
    l->rejected_count = l->rejected_cap = 0;
}

/* ---- invariants ------------------------------------------------------------------------ */

__extension__ typedef unsigned __int128 u128;

typedef struct {
    const char *txn;
    size_t index;
} txn_ref;

static int txn_ref_cmp(const void *a, const void *b) {
    return strcmp(((const txn_ref *)a)->txn, ((const txn_ref *)b)->txn);
}

/* A sorted index of n strings; NULL when n == 0. */
static txn_ref *index_txns(const char *(*name)(const void *, size_t), const void *base, size_t n) {
    if (n == 0) {
        return NULL;
    }
    txn_ref *refs = malloc(n * sizeof *refs);
    if (refs == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        refs[i].txn = name(base, i);
        refs[i].index = i;
    }
    qsort(refs, n, sizeof *refs, txn_ref_cmp);
    return refs;
}

static long find_txn(const txn_ref *refs, size_t n, const char *txn) {
    if (refs == NULL) {
        return -1;
    }
    txn_ref key = {.txn = txn};
    const txn_ref *hit = bsearch(&key, refs, n, sizeof *refs, txn_ref_cmp);
    return hit != NULL ? (long)hit->index : -1;
}

static const char *acked_name(const void *base, size_t i) {
    return ((const ws_transfer_ok *)base)[i].txn;
}

static const char *str_name(const void *base, size_t i) { return ((const char *const *)base)[i]; }

static long find_account(const ws_expect *e, const char *id) {
    for (size_t i = 0; i < e->account_count; i++) {
        if (strcmp(e->accounts[i], id) == 0) {
            return (long)i;
        }
    }
    return -1;
}

void ws_state_free(ws_state *s) {
    free(s->maybe_in_log);
    free(s->balances);
    memset(s, 0, sizeof *s);
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, err_size, __VA_ARGS__);                                                      \
        goto done;                                                                                 \
    } while (0)

bool ws_event_equal(const ws_event_rec *a, const ws_event_rec *b) {
    return a->seq == b->seq && strcmp(a->type, b->type) == 0 &&
           strcmp(a->account, b->account) == 0 && a->amount == b->amount &&
           a->balance == b->balance && strcmp(a->txn, b->txn) == 0 && a->txn_null == b->txn_null &&
           strcmp(a->counterparty, b->counterparty) == 0 &&
           a->counterparty_null == b->counterparty_null &&
           strcmp(a->timestamp, b->timestamp) == 0 && a->two_phase == b->two_phase &&
           a->available == b->available && a->pending_credits == b->pending_credits &&
           strcmp(a->pending_id, b->pending_id) == 0;
}

/* Each account's filtered event list equals its events in the full log. */
static bool check_account_filters(ws_client *c, const ws_expect *e, const ws_event_list *all,
                                  char *err, size_t err_size) {
    bool ok = false;
    ws_event_list mine = {0};
    for (size_t a = 0; a < e->account_count; a++) {
        ws_event_list_free(&mine);
        if (!ws_events_fetch_all(c, e->accounts[a], &mine)) {
            FAIL("events?accountID=%s failed", e->accounts[a]);
        }
        size_t k = 0;
        for (size_t i = 0; i < all->count; i++) {
            if (strcmp(all->items[i].account, e->accounts[a]) != 0) {
                continue;
            }
            if (k >= mine.count || !ws_event_equal(&mine.items[k], &all->items[i])) {
                FAIL("events?accountID=%s: entry %zu differs from seq %llu of the full log",
                     e->accounts[a], k, (unsigned long long)all->items[i].seq);
            }
            k++;
        }
        /* The writer appends expiries by itself, so events may have come after the full
         * log was read: only those up to its last seq are compared. */
        uint64_t last = all->count ? all->items[all->count - 1].seq : 0;
        size_t upto = 0;
        while (upto < mine.count && mine.items[upto].seq <= last) {
            upto++;
        }
        if (k != upto) {
            FAIL("events?accountID=%s returned %zu events up to seq %llu, the log has %zu",
                 e->accounts[a], upto, (unsigned long long)last, k);
        }
    }
    ok = true;
done:
    ws_event_list_free(&mine);
    return ok;
}

/* What a record's pair of events is, by the first of them (the fromAccount's). */
typedef enum {
    PAIR_NONE,
    PAIR_TRANSFER, /* Debit, Credit */
    PAIR_PENDING,  /* PendingDebit, PendingCredit */
    PAIR_POST,     /* Debit, Credit, both with a pendingID */
    PAIR_VOID,     /* PendingVoided twice */
    PAIR_EXPIRE,   /* PendingExpired twice, with the pending transfer's transactionID */
} pair_kind;

static pair_kind pair_of(const ws_event_rec *ev) {
    if (strcmp(ev->type, "Debit") == 0) {
        return ev->two_phase ? PAIR_POST : PAIR_TRANSFER;
    }
    if (strcmp(ev->type, "PendingDebit") == 0) {
        return PAIR_PENDING;
    }
    if (strcmp(ev->type, "PendingVoided") == 0) {
        return PAIR_VOID;
    }
    return strcmp(ev->type, "PendingExpired") == 0 ? PAIR_EXPIRE : PAIR_NONE;
}

static bool resolves(pair_kind k) { return k == PAIR_POST || k == PAIR_VOID || k == PAIR_EXPIRE; }

/* The first event of a pair at i must be followed by its second at i+1: the same
 * transaction, amount, pendingID and timestamp (one record, one block), accounts mirrored;
 * a Debit by its Credit, a PendingDebit by its PendingCredit, a PendingVoided or
 * PendingExpired by another. A plain transfer's carry no two-phase fields, a two-phase
 * step's do; a post, void or expiry names its pending transfer, an expiry by its own ID. */
static bool check_pair(const ws_event_list *all, size_t i, pair_kind kind, char *err,
                       size_t err_size) {
    static const char *const second[] = {[PAIR_TRANSFER] = "Credit",
                                         [PAIR_PENDING] = "PendingCredit",
                                         [PAIR_POST] = "Credit",
                                         [PAIR_VOID] = "PendingVoided",
                                         [PAIR_EXPIRE] = "PendingExpired"};
    const ws_event_rec *d = &all->items[i];
    if (d->txn_null || d->counterparty_null || strcmp(d->account, d->counterparty) == 0 ||
        (kind != PAIR_TRANSFER) != d->two_phase || resolves(kind) != (d->pending_id[0] != '\0') ||
        (kind == PAIR_EXPIRE && strcmp(d->txn, d->pending_id) != 0)) {
        snprintf(err, err_size,
                 "%s seq %llu lacks a transaction or counterparty, or has the wrong two-phase "
                 "fields",
                 d->type, (unsigned long long)d->seq);
        return false;
    }
    const ws_event_rec *c = i + 1 < all->count ? &all->items[i + 1] : NULL;
    if (c == NULL || strcmp(c->type, second[kind]) != 0 || c->txn_null ||
        strcmp(c->txn, d->txn) != 0 || c->amount != d->amount ||
        strcmp(c->account, d->counterparty) != 0 || c->counterparty_null ||
        strcmp(c->counterparty, d->account) != 0 || c->two_phase != d->two_phase ||
        strcmp(c->pending_id, d->pending_id) != 0 || strcmp(c->timestamp, d->timestamp) != 0) {
        snprintf(err, err_size, "%s seq %llu (%s) is not followed by its %s", d->type,
                 (unsigned long long)d->seq, d->txn, second[kind]);
        return false;
    }
    return true;
}

/* Copies an event's ID field into a record's (false if it cannot be an ID). */
static bool copy_id(char *dst, uint8_t *dst_len, const char *src) {
    size_t n = strlen(src);
    if (n == 0 || n > WS_ID_LEN_MAX) {
        return false;
    }
    memcpy(dst, src, n);
    *dst_len = (uint8_t)n;
    return true;
}

bool ws_timestamp_us(const char *ts, uint64_t *out) {
    struct tm tm = {0};
    int us = 0;
    int used = 0;
    if (sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%6d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us, &used) != 7 ||
        strcmp(ts + used, "Z") != 0 || used != 26) {
        return false;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t < 0) {
        return false;
    }
    *out = (uint64_t)t * 1000000u + (uint64_t)us;
    return true;
}

/* The pending totals after a two-phase event: its balance less its available is the
 * account's pending debits. False if available is above the balance. */
static bool event_totals(const ws_event_rec *ev, uint64_t *pd, uint64_t *pc) {
    if ((int64_t)ev->balance < ev->available) {
        return false;
    }
    *pd = (uint64_t)((int64_t)ev->balance - ev->available);
    *pc = ev->pending_credits;
    return true;
}

/* What the oracle knows of the record a pair of events stands for beyond the events: the
 * pending transfer a post, void or expiry resolves (its lsn in the oracle's numbering), and
 * whether a pending transfer expires later in the log. */
typedef struct {
    uint64_t pending_lsn;
    bool expires;
} pair_context;

/* Fills a TransferPending or PendingResolved record from its two events. The events do not
 * carry a timeout: a pending transfer that expires later gets the least one, 1 s, so the
 * state machine checks its expiry came no sooner; the others none (a post or void of one
 * is then never late). */
static bool fill_step(ws_ledger *l, const ws_event_rec *ev, const ws_event_rec *cr, pair_kind kind,
                      const pair_context *ctx, ws_record *r, const char **why) {
    if (!event_totals(ev, &r->from_pd, &r->from_pc) || !event_totals(cr, &r->to_pd, &r->to_pc)) {
        *why = "an event's available is above its balance";
        return false;
    }
    if (kind == PAIR_PENDING) {
        r->kind = WS_REC_PENDING;
        r->step = WS_STEP_PENDING;
        r->timeout_s = ctx->expires ? 1 : 0;
        r->expires_us = ctx->expires ? l->now_us + 1000000u : 0;
        return true;
    }
    const ws_pending_entry *p = ws_pending_get(l->pending, ctx->pending_lsn);
    if (p == NULL || !copy_id(r->pending, &r->pending_len, ev->pending_id)) {
        *why = "a post, void or expiry of no pending transfer earlier in the log";
        return false;
    }
    if (kind != PAIR_POST && ev->amount != p->amount) {
        *why = "a void or expiry releases another amount than its pending transfer holds";
        return false;
    }
    r->kind = WS_REC_RESOLVED;
    r->step = kind == PAIR_POST ? WS_STEP_POST : kind == PAIR_VOID ? WS_STEP_VOID : WS_STEP_EXPIRE;
    r->pending_lsn = ctx->pending_lsn;
    r->pending_amount = p->amount;
    r->amount = kind == PAIR_POST ? ev->amount : 0;
    if (kind == PAIR_EXPIRE) {
        r->txn_len = 0; /* an expiry has no transferID of its own */
        memset(r->txn, 0, sizeof r->txn);
    }
    return true;
}

/* Applies the record an AccountCreated (cr NULL) or a pair of events stands for to the
 * oracle's ledger, at the events' own seq and at their timestamp; false with *why set if
 * the state machine refuses it. */
static bool apply_event(ws_ledger *l, const ws_event_rec *ev, const ws_event_rec *cr,
                        pair_kind kind, const pair_context *ctx, ws_record *r, const char **why) {
    memset(r, 0, sizeof(*r));
    r->kind = cr ? WS_REC_TRANSFER : WS_REC_ACCOUNT_CREATED;
    r->status = WS_OK;
    r->amount = ev->amount;
    r->from_balance = (int64_t)ev->balance;
    r->to_balance = cr ? (int64_t)cr->balance : 0;
    if (!cr) {
        ws_record_set_params(r, NULL); /* the oracle's accounts have the defaults */
    }
    if (!ws_timestamp_us(ev->timestamp, &l->now_us)) {
        *why = "a malformed timestamp";
        return false;
    }
    bool ids =
        copy_id(r->account, &r->account_len, ev->account) &&
        (!cr || (copy_id(r->to, &r->to_len, cr->account) && copy_id(r->txn, &r->txn_len, ev->txn)));
    if (!ids) {
        *why = "an ID that cannot be an ID";
        return false;
    }
    if (cr && kind != PAIR_TRANSFER && !fill_step(l, ev, cr, kind, ctx, r, why)) {
        return false;
    }
    ws_effect eff;
    return ws_ledger_apply(l, r, l->next_lsn, ev->seq, &eff, why) == WS_OK;
}

/* A sorted index of the transactionIDs of the events of one type (index: the event's
 * position); NULL with *count 0 if there are none, or on out of memory (*oom set). */
static txn_ref *index_events(const ws_event_list *all, const char *type, size_t *count, bool *oom) {
    *count = 0;
    for (size_t i = 0; i < all->count; i++) {
        *count += strcmp(all->items[i].type, type) == 0;
    }
    if (*count == 0) {
        return NULL;
    }
    txn_ref *refs = malloc(*count * sizeof *refs);
    if (refs == NULL) {
        *oom = true;
        *count = 0;
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < all->count; i++) {
        if (strcmp(all->items[i].type, type) == 0) {
            refs[k++] = (txn_ref){.txn = all->items[i].txn, .index = i};
        }
    }
    qsort(refs, *count, sizeof *refs, txn_ref_cmp);
    return refs;
}

static ws_ack_kind ack_kind_of(pair_kind k) {
    return k == PAIR_PENDING ? WS_ACK_PENDING
           : k == PAIR_POST  ? WS_ACK_POST
           : k == PAIR_VOID  ? WS_ACK_VOID
                             : WS_ACK_TRANSFER;
}

/* An acknowledged transfer or step t against the pair of events (ev, cr) holding it. */
static bool ack_matches(const ws_transfer_ok *t, pair_kind kind, const ws_event_rec *ev,
                        const ws_event_rec *cr) {
    bool same = t->kind == ack_kind_of(kind) && strcmp(t->from, ev->account) == 0 &&
                strcmp(t->to, cr->account) == 0 && t->amount == ev->amount &&
                t->from_balance == ev->balance && t->to_balance == cr->balance;
    if (!same || kind == PAIR_TRANSFER) {
        return same;
    }
    return t->from_available == ev->available && t->to_pending_credits == cr->pending_credits &&
           (kind == PAIR_PENDING || strcmp(t->pending_id, ev->pending_id) == 0);
}

/* GET /accounts/ID's balance, available and pendingCredits equal the replay's. */
static bool check_account_figures(ws_client *c, const ws_ledger *l, const char *id, char *err,
                                  size_t err_size) {
    ws_response r = WS_RESPONSE_INIT;
    int64_t balance = 0, available = 0;
    uint64_t pending_credits = 0;
    bool ok = ws_get(c, &r, "/api/1.0/wallet/accounts/%s", id) == 200 &&
              json_i64(r.body, "balance", &balance) && json_i64(r.body, "available", &available) &&
              ws_json_u64(r.body, "pendingCredits", &pending_credits);
    uint32_t idx = ws_accounts_find(l->accounts, id, strlen(id));
    if (!ok || idx == WS_ACCOUNT_NONE) {
        snprintf(err, err_size, "GET /accounts/%s: %ld %.300s", id, r.status,
                 r.body != NULL ? r.body : "");
        ok = false;
    } else {
        int64_t want_balance = ws_accounts_balance(l->accounts, idx);
        int64_t want_available =
            want_balance - (int64_t)ws_accounts_pending_debits(l->accounts, idx);
        uint64_t want_pc = ws_accounts_pending_credits(l->accounts, idx);
        ok = balance == want_balance && available == want_available && pending_credits == want_pc;
        if (!ok) {
            snprintf(err, err_size,
                     "GET /accounts/%s: %s; the replay of the log gives balance %lld, available "
                     "%lld, pendingCredits %llu",
                     id, r.body, (long long)want_balance, (long long)want_available,
                     (unsigned long long)want_pc);
        }
    }
    ws_response_free(&r);
    return ok;
}

/* ---- an account's history: GET /accounts/{id}/events and /accounts/{id}/balance?at= ---- */

/* The replay's figures of an event's account right after the event's record. */
typedef struct {
    int64_t balance;
    int64_t available;
    uint64_t pending_credits;
} replay_figures;

static replay_figures figures_of(const ws_ledger *l, const char *id) {
    uint32_t idx = ws_accounts_find(l->accounts, id, strlen(id));
    if (idx == WS_ACCOUNT_NONE) {
        return (replay_figures){0};
    }
    int64_t balance = ws_accounts_balance(l->accounts, idx);
    return (replay_figures){.balance = balance,
                            .available =
                                balance - (int64_t)ws_accounts_pending_debits(l->accounts, idx),
                            .pending_credits = ws_accounts_pending_credits(l->accounts, idx)};
}

#define HISTORY_ACCOUNTS_MAX 64 /* accounts whose history a check reads (a sample past it) */
#define HISTORY_AT_MAX 16       /* balance?at= probes per account */
#define HISTORY_AT_TOTAL 128    /* and per check (each one can scan the log after the checkpoint) */
#define HISTORY_PAGE 1000
#define HISTORY_PAGES_MAX 10000

/* One account's events in the full log: their positions in it, oldest first. */
typedef struct {
    const char *id;
    const ws_event_list *all;
    size_t *pos; /* malloc'd */
    size_t count;
} account_events;

static const ws_event_rec *nth(const account_events *ae, size_t k) {
    return &ae->all->items[ae->pos[k]];
}

/* Walks every page of accounts/ID/events with limit 1000, oldest first or newest first, and
 * checks they hold exactly the account's events of the full log, in that order: each page
 * in order, at most full, full and with `next` its last seq when it is not the last, and
 * `next` null on the last. The log may have grown since it was read: events past its last
 * seq are skipped (forward: at the end, reverse: at the start). */
static bool check_history_pages(ws_client *c, const account_events *ae, bool reverse, char *err,
                                size_t err_size) {
    const char *dir = reverse ? "reverse" : "forward";
    uint64_t last = ae->all->items[ae->all->count - 1].seq;
    ws_response r = WS_RESPONSE_INIT;
    ws_event_list page = {0};
    bool ok = false;
    size_t matched = 0;
    uint64_t prev = 0;
    bool has_after = false;
    uint64_t after = 0;
    for (int n = 0; n < HISTORY_PAGES_MAX; n++) {
        char cursor[40] = "";
        if (has_after) {
            snprintf(cursor, sizeof cursor, "&after=%llu", (unsigned long long)after);
        }
        ws_event_list_free(&page);
        long st = ws_get(c, &r, "/api/1.0/wallet/accounts/%s/events?limit=%d%s%s", ae->id,
                         HISTORY_PAGE, reverse ? "&reverse=true" : "", cursor);
        if (st != 200 || !ws_events_parse(r.body, &page)) {
            FAIL("accounts/%s/events %s%s: %ld %.300s", ae->id, dir, cursor, st,
                 r.body != NULL ? r.body : "");
        }
        if (page.count > HISTORY_PAGE || (page.has_next && page.count != HISTORY_PAGE) ||
            (page.has_next && page.next != page.items[page.count - 1].seq) ||
            (has_after && page.count == 0)) {
            FAIL("accounts/%s/events %s%s: %zu events with next %s%llu: not a full page ending "
                 "at next, or nothing after a next",
                 ae->id, dir, cursor, page.count, page.has_next ? "" : "null ",
                 (unsigned long long)page.next);
        }
        for (size_t i = 0; i < page.count; i++) {
            const ws_event_rec *ev = &page.items[i];
            if ((n > 0 || i > 0) && (reverse ? ev->seq >= prev : ev->seq <= prev)) {
                FAIL("accounts/%s/events %s%s: seq %llu after %llu", ae->id, dir, cursor,
                     (unsigned long long)ev->seq, (unsigned long long)prev);
            }
            prev = ev->seq;
            if (ev->seq > last) {
                continue; /* appended after the full log was read */
            }
            const ws_event_rec *want =
                matched < ae->count ? nth(ae, reverse ? ae->count - 1 - matched : matched) : NULL;
            if (want == NULL || !ws_event_equal(ev, want)) {
                FAIL("accounts/%s/events %s%s: entry %zu (seq %llu) is not the account's event "
                     "seq %llu of the full log",
                     ae->id, dir, cursor, matched, (unsigned long long)ev->seq,
                     want != NULL ? (unsigned long long)want->seq : 0ull);
            }
            matched++;
        }
        if (!page.has_next) {
            if (matched != ae->count) {
                FAIL("accounts/%s/events %s: %zu events, the full log has %zu", ae->id, dir,
                     matched, ae->count);
            }
            ok = true;
            goto done;
        }
        has_after = true;
        after = page.next;
    }
    FAIL("accounts/%s/events %s: more than %d pages", ae->id, dir, HISTORY_PAGES_MAX);
done:
    ws_event_list_free(&page);
    ws_response_free(&r);
    return ok;
}

/* The seqs probed with balance?at= for one of `accounts` accounts: the one before its first
 * event (it did not exist yet), its first and last events, a seq between two of its events
 * when there is one, the full log's last seq, and events of it spread between, up to
 * HISTORY_AT_MAX probes and HISTORY_AT_TOTAL over all accounts (at least 6 each). */
static size_t history_probes(const account_events *ae, size_t accounts, uint64_t *at) {
    size_t want = HISTORY_AT_TOTAL / accounts;
    want = want < 6 ? 6 : want > HISTORY_AT_MAX ? HISTORY_AT_MAX : want;
    size_t n = 0;
    at[n++] = nth(ae, 0)->seq - 1;
    at[n++] = nth(ae, 0)->seq;
    at[n++] = nth(ae, ae->count - 1)->seq;
    at[n++] = ae->all->items[ae->all->count - 1].seq;
    for (size_t k = ae->count / 2; k > 0 && k < ae->count; k++) {
        if (nth(ae, k)->seq - 1 > nth(ae, k - 1)->seq) {
            at[n++] = nth(ae, k)->seq - 1;
            break;
        }
    }
    size_t spread = want - n; /* events strictly between the first and the last */
    for (size_t k = 1; k <= spread && ae->count > 2; k++) {
        at[n++] = nth(ae, 1 + (k - 1) * (ae->count - 2) / spread)->seq;
    }
    return n;
}

/* balance?at=S for the probes: as of the account's last event at or before S, with the
 * replay's figures after it and its seq and timestamp; 404 before the account existed. */
static bool check_history_balances(ws_client *c, const account_events *ae, size_t accounts,
                                   const replay_figures *figs, char *err, size_t err_size) {
    uint64_t at[HISTORY_AT_MAX];
    size_t n = history_probes(ae, accounts, at);
    ws_response r = WS_RESPONSE_INIT;
    bool ok = false;
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = ae->count; /* the account's events at or before at[i]: [0, lo) */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (nth(ae, mid)->seq <= at[i]) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        long st = ws_get(c, &r, "/api/1.0/wallet/accounts/%s/balance?at=%llu", ae->id,
                         (unsigned long long)at[i]);
        const char *body = r.body != NULL ? r.body : "";
        if (lo == 0) {
            char msg[256];
            ws_json_error_message(body, msg, sizeof msg);
            if (st != 404 || !ws_json_is_error(body, "account_not_found") ||
                strstr(msg, "did not exist yet") == NULL) {
                FAIL("accounts/%s/balance?at=%llu, before its first event: %ld %.300s", ae->id,
                     (unsigned long long)at[i], st, body);
            }
            continue;
        }
        const ws_event_rec *ev = nth(ae, lo - 1);
        const replay_figures *f = &figs[ae->pos[lo - 1]];
        char want[512];
        snprintf(
            want, sizeof want,
            "{\"accountID\":\"%s\",\"balance\":%lld,\"available\":%lld,\"pendingCredits\":%llu,"
            "\"seq\":%llu,\"timestamp\":\"%s\"}",
            ae->id, (long long)f->balance, (long long)f->available,
            (unsigned long long)f->pending_credits, (unsigned long long)ev->seq, ev->timestamp);
        if (st != 200 || strcmp(body, want) != 0) {
            FAIL("accounts/%s/balance?at=%llu: %ld %.300s; the replay gives %s", ae->id,
                 (unsigned long long)at[i], st, body, want);
        }
    }
    ok = true;
done:
    ws_response_free(&r);
    return ok;
}

/* The history checks of one part of the accounts: the sample's k-th account for every k with
 * k % parts == part (a sample of HISTORY_ACCOUNTS_MAX past that many, every n/64-th). */
typedef struct {
    ws_client *c;
    const ws_expect *e;
    const ws_event_list *all;
    const replay_figures *figs; /* one per event of all */
    size_t part, parts;
    bool ok;
    char err[1024];
} history_job;

static void *history_run(void *arg) {
    history_job *j = arg;
    char *err = j->err;
    size_t err_size = sizeof j->err;
    size_t n = j->e->account_count;
    size_t sample = n < HISTORY_ACCOUNTS_MAX ? n : HISTORY_ACCOUNTS_MAX;
    account_events ae = {.all = j->all, .pos = malloc((j->all->count + 1) * sizeof(size_t))};
    j->ok = false;
    if (ae.pos == NULL) {
        FAIL("out of memory");
    }
    for (size_t k = j->part; k < sample; k += j->parts) {
        ae.id = j->e->accounts[k * n / sample];
        ae.count = 0;
        for (size_t i = 0; i < j->all->count; i++) {
            if (strcmp(j->all->items[i].account, ae.id) == 0) {
                ae.pos[ae.count++] = i;
            }
        }
        if (ae.count == 0) {
            FAIL("account %s has no events", ae.id);
        }
        if (!check_history_pages(j->c, &ae, false, err, err_size) ||
            !check_history_pages(j->c, &ae, true, err, err_size) ||
            !check_history_balances(j->c, &ae, sample, j->figs, err, err_size)) {
            goto done;
        }
    }
    j->ok = true;
done:
    free(ae.pos);
    return NULL;
}

/* The history routes of the accounts against the full log and the replay's figures. Each
 * walk costs the server about what /events?accountID= does (reading the index costs it a few
 * microseconds an event), so the accounts are split over two connections, one on a helper
 * thread (the server has two I/O threads), which takes a quarter off the wall time on two
 * cores. On the calling thread alone if the helper cannot start. */
static bool check_account_history(ws_client *c, const ws_expect *e, const ws_event_list *all,
                                  const replay_figures *figs, char *err, size_t err_size) {
    history_job jobs[2] = {{.c = c, .e = e, .all = all, .figs = figs, .part = 0, .parts = 2},
                           {.e = e, .all = all, .figs = figs, .part = 1, .parts = 2}};
    pthread_t helper;
    jobs[1].c = client_clone(c);
    bool threaded = jobs[1].c != NULL && pthread_create(&helper, NULL, history_run, &jobs[1]) == 0;
    if (!threaded) {
        jobs[0].parts = 1;
    }
    history_run(&jobs[0]);
    if (threaded) {
        pthread_join(helper, NULL);
    }
    ws_client_free(jobs[1].c);
    for (size_t i = 0; i < 2; i++) {
        if (i < (threaded ? 2u : 1u) && !jobs[i].ok) {
            snprintf(err, err_size, "%s", jobs[i].err);
            return false;
        }
    }
    return true;
}

static bool check_state_once(ws_client *c, const ws_expect *e, ws_state *out, char *err,
                             size_t err_size);

/* The writer appends expiries by itself, so the log can grow while it is being checked and a
 * figure read after it can be newer than the replay. A check that fails while the log grew
 * is run again (at most 3 times); one that fails on a still log fails. */
bool ws_check_state(ws_client *c, const ws_expect *e, ws_state *out, char *err, size_t err_size) {
    for (int attempt = 0;; attempt++) {
        if (check_state_once(c, e, out, err, err_size)) {
            return true;
        }
        ws_event_list now = {0};
        bool grew = attempt < 2 && ws_events_fetch_all(c, NULL, &now) && now.count > out->events;
        ws_event_list_free(&now);
        if (!grew) {
            return false;
        }
        ws_state_free(out);
    }
}

static bool check_state_once(ws_client *c, const ws_expect *e, ws_state *out, char *err,
                             size_t err_size) {
    bool ok = false;
    memset(out, 0, sizeof *out);
    err[0] = '\0';
    size_t n = e->account_count;
    ws_event_list all = {0};
    ws_ledger ledger;
    bool ledger_ready = false;
    bool oom = false;
    size_t pending_count = 0, expired_count = 0;
    txn_ref *pendings = NULL, *expired = NULL;
    uint64_t *lsn_at = NULL;     /* the oracle's lsn of the PendingDebit at each position */
    replay_figures *figs = NULL; /* the replay's figures after each event, of its account */
    bool *created = calloc(n + 1, sizeof *created);
    size_t *ack_debit = calloc(e->acked_count + 1, sizeof *ack_debit);
    size_t *maybe_debits = calloc(e->maybe_count + 1, sizeof *maybe_debits);
    txn_ref *acked = index_txns(acked_name, e->acked, e->acked_count);
    txn_ref *maybe = index_txns(str_name, e->maybe, e->maybe_count);
    txn_ref *rejected = index_txns(str_name, e->rejected, e->rejected_count);
    out->balances = calloc(n + 1, sizeof *out->balances);
    out->maybe_in_log = calloc(e->maybe_count + 1, sizeof *out->maybe_in_log);
    if (created == NULL || ack_debit == NULL || maybe_debits == NULL || out->balances == NULL ||
        out->maybe_in_log == NULL || (e->acked_count > 0 && acked == NULL) ||
        (e->maybe_count > 0 && maybe == NULL) || (e->rejected_count > 0 && rejected == NULL)) {
        FAIL("out of memory");
    }
    for (size_t i = 1; acked != NULL && i < e->acked_count; i++) {
        if (strcmp(acked[i - 1].txn, acked[i].txn) == 0) {
            FAIL("transactionID %s was acknowledged twice", acked[i].txn);
        }
    }

    /* Money is conserved. */
    u128 sum_start = 0, sum_balance = 0;
    for (size_t a = 0; a < n; a++) {
        if (!ws_balance(c, e->accounts[a], &out->balances[a])) {
            FAIL("get_balance %s failed", e->accounts[a]);
        }
        sum_start += e->start_amounts[a];
        sum_balance += out->balances[a];
    }
    if (sum_start != sum_balance) {
        FAIL("sum of balances %llu != sum of start amounts %llu", (unsigned long long)sum_balance,
             (unsigned long long)sum_start);
    }

    if (!ws_events_fetch_all(c, NULL, &all)) {
        FAIL("fetching /events failed");
    }
    pendings = index_events(&all, "PendingDebit", &pending_count, &oom);
    expired = index_events(&all, "PendingExpired", &expired_count, &oom);
    lsn_at = calloc(all.count + 1, sizeof *lsn_at);
    figs = calloc(all.count + 1, sizeof *figs);
    if (oom || lsn_at == NULL || figs == NULL) {
        FAIL("out of memory");
    }
    /* The log is replayed through the service's own state machine (core/ledger.h), which
     * checks every balance after, pending total, overdraft, overflow, unknown account, and
     * that each pending transfer is resolved at most once; what is checked here besides is
     * what only the test knows: the accounts and start amounts it made, and which
     * transfers and steps it was told about. */
    if (ws_ledger_init(&ledger, ws_hash_key_random()) != WS_OK) {
        FAIL("out of memory");
    }
    ledger_ready = true;
    out->events = all.count;
    for (size_t i = 0; i < all.count; i++) {
        const ws_event_rec *ev = &all.items[i];
        if (ev->seq != i + 1) {
            FAIL("event %zu has seq %llu: the log is not gapless from 1", i,
                 (unsigned long long)ev->seq);
        }
        long a = find_account(e, ev->account);
        if (a < 0) {
            FAIL("seq %llu names unknown account %s", (unsigned long long)ev->seq, ev->account);
        }
        ws_record rec;
        const char *why = "";
        pair_context ctx = {0};
        if (strcmp(ev->type, "AccountCreated") == 0) {
            if (created[a] || ev->amount != e->start_amounts[a] || !ev->txn_null ||
                !ev->counterparty_null || ev->two_phase) {
                FAIL("AccountCreated seq %llu for %s is wrong or repeated",
                     (unsigned long long)ev->seq, ev->account);
            }
            created[a] = true;
            if (!apply_event(&ledger, ev, NULL, PAIR_NONE, &ctx, &rec, &why)) {
                FAIL("AccountCreated seq %llu: %s", (unsigned long long)ev->seq, why);
            }
            figs[i] = figures_of(&ledger, ev->account);
            continue;
        }
        pair_kind kind = pair_of(ev);
        if (kind == PAIR_NONE) {
            FAIL("seq %llu is a %s that does not follow the first event of its pair",
                 (unsigned long long)ev->seq, ev->type);
        }
        if (!check_pair(&all, i, kind, err, err_size)) {
            goto done;
        }
        const ws_event_rec *cr = &all.items[++i]; /* the pair is judged as one record */
        if (resolves(kind)) {
            long k = find_txn(pendings, pending_count, ev->pending_id);
            ctx.pending_lsn = k >= 0 ? lsn_at[k] : 0;
        } else if (kind == PAIR_PENDING) {
            ctx.expires = find_txn(expired, expired_count, ev->txn) >= 0;
        }
        uint64_t lsn = ledger.next_lsn;
        if (!apply_event(&ledger, ev, cr, kind, &ctx, &rec, &why)) {
            FAIL("%s %s at seq %llu: %s", kind == PAIR_TRANSFER ? "transfer" : ev->type, ev->txn,
                 (unsigned long long)ev->seq, why);
        }
        figs[i - 1] = figures_of(&ledger, ev->account);
        figs[i] = figures_of(&ledger, cr->account);
        if (kind == PAIR_PENDING) {
            lsn_at[i - 1] = lsn;
        }
        if (kind == PAIR_EXPIRE) {
            out->expiries++; /* the writer's own: no client acknowledged or sent it */
            continue;
        }
        out->transfers++;
        long k = find_txn(acked, e->acked_count, ev->txn);
        if (k >= 0) {
            const ws_transfer_ok *t = &e->acked[k];
            if (ack_debit[k] != 0) {
                FAIL("transaction %s is in the log twice (seq %llu and %zu)", ev->txn,
                     (unsigned long long)ev->seq, ack_debit[k]);
            }
            ack_debit[k] = (size_t)ev->seq;
            if (!ack_matches(t, kind, ev, cr)) {
                FAIL("transaction %s: log (%s %s->%s %llu, balances %llu/%llu) differs from its "
                     "200 response %s",
                     ev->txn, ev->type, ev->account, cr->account, (unsigned long long)ev->amount,
                     (unsigned long long)ev->balance, (unsigned long long)cr->balance, t->body);
            }
            continue;
        }
        k = find_txn(maybe, e->maybe_count, ev->txn);
        if (k >= 0) {
            if (maybe_debits[k]++ != 0) {
                FAIL("in-flight transaction %s is in the log twice", ev->txn);
            }
            out->maybe_in_log[k] = true;
            out->maybe_found++;
            continue;
        }
        if (find_txn(rejected, e->rejected_count, ev->txn) >= 0) {
            FAIL("transaction %s was answered with an error but is in the log (seq %llu)", ev->txn,
                 (unsigned long long)ev->seq);
        }
        FAIL("transaction %s (seq %llu) in the log was never acknowledged", ev->txn,
             (unsigned long long)ev->seq);
    }
    for (size_t k = 0; k < e->acked_count; k++) {
        if (ack_debit[k] == 0) {
            FAIL("acknowledged transaction %s (%s) is missing from the log", e->acked[k].txn,
                 e->acked[k].body);
        }
    }
    if (!ws_ledger_pending_consistent(&ledger)) {
        FAIL("the replay's pending totals disagree with its open pending transfers");
    }
    for (size_t a = 0; a < n; a++) {
        if (!created[a]) {
            FAIL("account %s has no AccountCreated event", e->accounts[a]);
        }
        uint32_t idx = ws_accounts_find(ledger.accounts, e->accounts[a], strlen(e->accounts[a]));
        uint64_t replayed = idx == WS_ACCOUNT_NONE ? 0 : ws_accounts_balance(ledger.accounts, idx);
        if (replayed != out->balances[a]) {
            FAIL("account %s: get_balance %llu, replay of the log %llu", e->accounts[a],
                 (unsigned long long)out->balances[a], (unsigned long long)replayed);
        }
        if (!check_account_figures(c, &ledger, e->accounts[a], err, err_size)) {
            goto done;
        }
    }
    if (!check_account_filters(c, e, &all, err, err_size) ||
        (all.count > 0 && !check_account_history(c, e, &all, figs, err, err_size))) {
        goto done;
    }
    ok = true;
done:
    ws_event_list_free(&all);
    if (ledger_ready) {
        ws_ledger_free(&ledger);
    }
    free(created);
    free(ack_debit);
    free(maybe_debits);
    free(acked);
    free(maybe);
    free(rejected);
    free(pendings);
    free(expired);
    free(lsn_at);
    free(figs);
    return ok;
}

/* ---- raw TCP ----------------------------------------------------------------------------- */

#define RAW_READ_MAX (1u << 20)

int ws_raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Waits at most until deadline for fd to be ready for events; false on a timeout. */
static bool raw_wait(int fd, short events, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - ws_now_ms();
        if (left <= 0) {
            return false;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0) {
            return true;
        }
        if (r < 0 && errno != EINTR) {
            return false;
        }
    }
}

bool ws_raw_send(int fd, const void *data, size_t len, int timeout_ms) {
    int64_t deadline = ws_now_ms() + timeout_ms;
    const char *p = data;
    while (len > 0) {
        if (!raw_wait(fd, POLLOUT, deadline)) {
            return false;
        }
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Case-insensitive search for a header line "name: value" within head[0..len). */
static const char *raw_header(const char *head, size_t len, const char *name, size_t *vlen) {
    size_t nl = strlen(name);
    for (const char *line = head; line < head + len;) {
        const char *eol = memchr(line, '\n', (size_t)(head + len - line));
        if (eol == NULL) {
            break;
        }
        if ((size_t)(eol - line) > nl + 1 && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') {
                v++;
            }
            const char *end = eol > v && eol[-1] == '\r' ? eol - 1 : eol;
            *vlen = (size_t)(end - v);
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

/* Parses one response at buf[0..len). Returns the bytes it takes, or 0 if incomplete or
 * malformed (then the status stays 0). */
static size_t raw_parse(const char *buf, size_t len, bool head_only, ws_raw_response *r) {
    memset(r, 0, sizeof(*r));
    const char *end = NULL;
    for (size_t i = 0; i + 3 < len && end == NULL; i++) {
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
            end = buf + i + 4;
        }
    }
    if (end == NULL || len < 12 || memcmp(buf, "HTTP/1.", 7) != 0) {
        return 0;
    }
    size_t hlen = (size_t)(end - buf);
    size_t vlen;
    const char *v = raw_header(buf, hlen, "content-length", &vlen);
    size_t body_len = v != NULL ? strtoul(v, NULL, 10) : 0;
    size_t take = hlen + (head_only ? 0 : body_len);
    if (take > len) {
        return 0;
    }
    r->status = atoi(buf + 9);
    r->body_len = head_only ? 0 : body_len;
    size_t copy = r->body_len < sizeof(r->body) - 1 ? r->body_len : sizeof(r->body) - 1;
    memcpy(r->body, end, copy);
    r->body[copy] = '\0';
    if ((v = raw_header(buf, hlen, "content-type", &vlen)) != NULL) {
        snprintf(r->content_type, sizeof(r->content_type), "%.*s", (int)vlen, v);
    }
    r->close = (v = raw_header(buf, hlen, "connection", &vlen)) != NULL && vlen == 5 &&
               strncasecmp(v, "close", 5) == 0;
    r->has_retry_after = raw_header(buf, hlen, "retry-after", &vlen) != NULL;
    return take;
}

int ws_raw_read(int fd, ws_raw_response *out, int want, const bool *head, int timeout_ms,
                bool *closed) {
    int64_t deadline = ws_now_ms() + timeout_ms;
    char *buf = malloc(RAW_READ_MAX);
    size_t len = 0;
    size_t used = 0;
    int got = 0;
    bool eof = false;
    if (buf == NULL) {
        return 0;
    }
    while (got < want) {
        size_t n = raw_parse(buf + used, len - used, head != NULL && head[got], &out[got]);
        if (n > 0) {
            used += n;
            got++;
            continue;
        }
        if (eof || len == RAW_READ_MAX || !raw_wait(fd, POLLIN, deadline)) {
            break;
        }
        ssize_t r = recv(fd, buf + len, RAW_READ_MAX - len, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        eof = r <= 0; /* a reset counts as closed too */
        len += r > 0 ? (size_t)r : 0;
    }
    if (closed != NULL) {
        /* Still open unless the peer closed: a short wait tells them apart. */
        if (!eof && raw_wait(fd, POLLIN, ws_now_ms() + (got < want ? 0 : 50))) {
            char c;
            eof = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) <= 0;
        }
        *closed = eof;
    }
    free(buf);
    return got;
}

int ws_raw_exchange(int port, const void *data, size_t len, ws_raw_response *out, int want,
                    int timeout_ms) {
    int fd = ws_raw_connect(port);
    if (fd < 0) {
        return -1;
    }
    /* A server that refuses a request early may close before all of it is sent; its answer
     * can still be waiting to be read, so a failed send is not the end. */
    bool sent = ws_raw_send(fd, data, len, timeout_ms);
    int got = ws_raw_read(fd, out, want, NULL, timeout_ms, NULL);
    if (!sent && got == 0) {
        got = -1;
    }
    close(fd);
    return got;
}

bool ws_env_number(const char *name, uint64_t max, uint64_t fallback, uint64_t *out) {
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        *out = fallback;
        return true;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < 1 || n > max) {
        fprintf(stderr, "harness: %s=%s: expected a number in 1..%llu\n", name, v,
                (unsigned long long)max);
        return false;
    }
    *out = n;
    return true;
}

bool ws_transfer_list_add(ws_transfer_list *l, const ws_transfer_ok *t) {
    if (l->count == l->cap) {
        size_t cap = l->cap == 0 ? 4096 : l->cap * 2;
        ws_transfer_ok *items = realloc(l->items, cap * sizeof *items);
        if (items == NULL) {
            return false;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = *t;
    return true;
}

bool ws_create_named_accounts(ws_client *c, const char *prefix, int n, uint64_t base, uint64_t step,
                              char (*names)[16], const char **ids, uint64_t *starts, char *err,
                              size_t err_size) {
    ws_response r = WS_RESPONSE_INIT;
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        snprintf(names[i], sizeof names[i], "%s-%02d", prefix, i);
        ids[i] = names[i];
        starts[i] = base + (uint64_t)i * step;
        long st = 0;
        for (int attempt = 0; attempt < 50; attempt++) {
            st = ws_get(c, &r, "/api/1.0/wallet/create_account?startAmount=%llu&accountID=%s",
                        (unsigned long long)starts[i], ids[i]);
            if (st != 503) {
                break;
            }
            ws_sleep_ms(20);
        }
        if (st != 201) {
            snprintf(err, err_size, "create %s: %ld %s", ids[i], st, r.body ? r.body : "");
            ok = false;
        }
    }
    ws_response_free(&r);
    return ok;
}

bool ws_replays_match(ws_client *c, const ws_transfer_list *acked, size_t last, char *err,
                      size_t err_size) {
    ws_response r = WS_RESPONSE_INIT;
    bool ok = true;
    for (size_t i = acked->count > last ? acked->count - last : 0; i < acked->count && ok; i++) {
        const ws_transfer_ok *a = &acked->items[i];
        if (a->kind != WS_ACK_TRANSFER) {
            char body[512];
            size_t len = step_body(body, sizeof body, a->kind, a->txn, a->from, a->to,
                                   a->kind == WS_ACK_POST && !a->amount_given ? 0 : a->amount,
                                   a->timeout_s, a->pending_id);
            post_step(c, &r, body, len);
        } else {
            ws_get(c, &r,
                   "/api/1.0/wallet/balance_transfer?fromAccount=%s&toAccount=%s&amount=%llu&"
                   "transferID=%s",
                   a->from, a->to, (unsigned long long)a->amount, a->txn);
        }
        ok = r.status == 200 && r.replayed && r.body != NULL && strcmp(r.body, a->body) == 0;
        if (!ok) {
            snprintf(err, err_size, "replay of %s: %ld%s %s (acknowledged as %s)", a->txn, r.status,
                     r.replayed ? " replayed" : "", r.body ? r.body : "", a->body);
        }
    }
    ws_response_free(&r);
    return ok;
}

void ws_transfer_list_free(ws_transfer_list *l) {
    free(l->items);
    *l = (ws_transfer_list){0};
}
