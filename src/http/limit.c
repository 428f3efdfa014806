/* The request-body limit of each path. The batch route (POST /transfers) has its own limit
 * (--max-batch-body-bytes, sized for 8,190 transfers); every other route keeps the small one
 * (--max-body-bytes).
 *
 * h2o 2.2 has one body limit per configuration (h2o_globalconf_t.max_request_entity_size),
 * and its HTTP/1 parser applies it the moment a request's head is parsed, before any handler
 * runs: a declared Content-Length past it is answered 413 at once, without waiting for the
 * body (and without a 100 Continue). To keep that for every route with two limits, each I/O
 * thread has its own configuration, and the limit in it is set from the request's path right
 * after the head is parsed and before the body is looked at: this file defines
 * phr_parse_request, the picohttpparser function libh2o calls (through its PLT) to parse a
 * request head, and the dynamic linker binds libh2o's call to this definition, which calls
 * libh2o's own and then sets the limit (store/fault.c interposes fdatasync the same way).
 * The parser runs on the loop thread of the connection, just before h2o reads the limit, so
 * the thread-local pointer to the loop's configuration is all the state needed.
 * tests/integration/test_json.c shows both limits at work: a batch past the small limit is
 * taken, and every route but the batch one still refuses a declared body past the small
 * limit without reading it. */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "http/internal.h"

/* picohttpparser's interface, as libh2o exports it (its header is not installed). */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

typedef int (*parse_fn)(const char *buf, size_t len, const char **method, size_t *method_len,
                        const char **path, size_t *path_len, int *minor_version,
                        struct phr_header *headers, size_t *num_headers, size_t last_len);

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len);

static parse_fn real_parse;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void find_real(void) {
    void *sym = dlsym(RTLD_NEXT, "phr_parse_request");
    WS_ASSERT(sym != NULL);                        /* libh2o exports it */
    memcpy(&real_parse, &sym, sizeof(real_parse)); /* ISO C has no object-to-function cast */
}

/* The loop thread's configuration and the limits (NULL on other threads). */
static _Thread_local h2o_globalconf_t *loop_conf;
static _Thread_local const http_config *loop_cfg;

void http_limit_thread(h2o_globalconf_t *gc, const http_config *cfg) {
    loop_conf = gc;
    loop_cfg = cfg;
}

size_t http_body_limit(const http_config *cfg, const char *path, size_t len) {
    static const char batch[] = API "transfers";
    size_t n = len;
    for (size_t i = 0; i < len; i++) {
        if (path[i] == '?') {
            n = i; /* the query is not part of the route */
            break;
        }
    }
    return n == sizeof(batch) - 1 && memcmp(path, batch, n) == 0 ? cfg->max_batch_body_bytes
                                                                 : cfg->max_body_bytes;
}

size_t http_loop_body_limit(const char *path, size_t len) {
    WS_ASSERT(loop_cfg != NULL);
    return http_body_limit(loop_cfg, path, len);
}

static bool chunked(const struct phr_header *headers, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (headers[i].name_len == 17 &&
            strncasecmp(headers[i].name, "transfer-encoding", 17) == 0) {
            return true;
        }
    }
    return false;
}

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len) {
    pthread_once(&real_once, find_real);
    int r = real_parse(buf, len, method, method_len, path, path_len, minor_version, headers,
                       num_headers, last_len);
    if (r > 0 && loop_conf != NULL) {
        /* h2o refuses a Content-Length past the limit but a chunked body that reaches it
         * (its chunked reader compares with >=): one more byte for a chunked body makes both
         * take a body of exactly the limit. (A request with both is refused, framing.c.) */
        size_t limit = http_body_limit(loop_cfg, *path, *path_len);
        loop_conf->max_request_entity_size = limit + (chunked(headers, *num_headers) ? 1 : 0);
    }
    return r;
}
