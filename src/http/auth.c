/* API keys: loading the keys file and checking bearer tokens in constant time.
 *
 * Each key is stored in a fixed-width slot: two bytes of length, the key, zero padding.
 * A presented token is laid out the same way and compared with every configured key by
 * CRYPTO_memcmp (OpenSSL's constant-time compare) over the whole slot, and the verdicts
 * are OR-ed without branching. So the work is the same for every key, whatever its length
 * or content and whichever key matches: no early exit on the first differing byte, the
 * first matching key, or a length mismatch (the length is part of the compared bytes).
 * What remains visible is the number of keys and the time to copy the token, which
 * depends only on the token's own length, known to whoever sent it.
 *
 * The slots live in one page-aligned block that is locked in memory when the system allows
 * (so keys are not written to swap) and excluded from core dumps, and is wiped with
 * explicit_bzero before it is freed. The file's bytes are wiped as soon as they are
 * parsed. */
#include "http/auth.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT_BYTES (2 + AUTH_KEY_LEN_MAX)
#define PAGE_ALIGN 4096

struct http_auth {
    size_t count;
    unsigned char slots[AUTH_KEYS_MAX][SLOT_BYTES];
};

/* RFC 6750 b64token characters; '=' is accepted anywhere, not only as trailing padding. */
static bool token_char(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static void slot_fill(unsigned char *slot, const char *key, size_t len) {
    WS_ASSERT(len <= AUTH_KEY_LEN_MAX);
    memset(slot, 0, SLOT_BYTES);
    slot[0] = (unsigned char)(len >> 8);
    slot[1] = (unsigned char)(len & 0xff);
    memcpy(slot + 2, key, len);
}

static http_auth *auth_alloc(void) {
    void *p = NULL;
    size_t size = (sizeof(http_auth) + PAGE_ALIGN - 1) / PAGE_ALIGN * PAGE_ALIGN;
    if (posix_memalign(&p, PAGE_ALIGN, size) != 0) {
        return NULL;
    }
    memset(p, 0, size);
    (void)madvise(p, size, MADV_DONTDUMP); /* best effort, like mlock */
    (void)mlock(p, size);
    return p;
}

void auth_free(http_auth *a) {
    if (a == NULL) {
        return;
    }
    size_t size = (sizeof(http_auth) + PAGE_ALIGN - 1) / PAGE_ALIGN * PAGE_ALIGN;
    explicit_bzero(a, size);
    (void)munlock(a, size);
    free(a);
}

/* Checks one trimmed, non-comment line and stores it. False with a reason otherwise. */
static bool add_key(http_auth *a, const char *key, size_t len, size_t line, char *why,
                    size_t why_size) {
    if (len < AUTH_KEY_LEN_MIN || len > AUTH_KEY_LEN_MAX) {
        snprintf(why, why_size, "line %zu: a key must be %d to %d characters long", line,
                 AUTH_KEY_LEN_MIN, AUTH_KEY_LEN_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!token_char((unsigned char)key[i])) {
            snprintf(why, why_size,
                     "line %zu: a key may hold only A-Z a-z 0-9 - . _ ~ + / = (one key per line)",
                     line);
            return false;
        }
    }
    if (a->count == AUTH_KEYS_MAX) {
        snprintf(why, why_size, "more than %d keys", AUTH_KEYS_MAX);
        return false;
    }
    slot_fill(a->slots[a->count++], key, len);
    return true;
}

ws_status auth_parse(const char *text, size_t len, http_auth **out, char *why, size_t why_size) {
    http_auth *a = auth_alloc();
    if (a == NULL) {
        snprintf(why, why_size, "out of memory");
        return WS_INVALID_PARAMETER;
    }
    size_t line = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        size_t b = pos, e = end;
        line++;
        pos = end + 1;
        while (b < e && blank(text[b])) {
            b++;
        }
        while (e > b && blank(text[e - 1])) {
            e--;
        }
        if (b == e || text[b] == '#') {
            continue;
        }
        if (!add_key(a, text + b, e - b, line, why, why_size)) {
            auth_free(a);
            return WS_INVALID_PARAMETER;
        }
    }
    if (a->count == 0) {
        snprintf(why, why_size, "no key in it (one key per line; '#' starts a comment)");
        auth_free(a);
        return WS_INVALID_PARAMETER;
    }
    *out = a;
    return WS_OK;
}

size_t auth_key_count(const http_auth *a) { return a->count; }

auth_verdict auth_check(const http_auth *a, const char *value, size_t len) {
    static const char scheme[] = "Bearer";
    size_t n = sizeof(scheme) - 1;
    if (len <= n || strncasecmp(value, scheme, n) != 0 || value[n] != ' ') {
        return AUTH_MALFORMED;
    }
    size_t b = n, e = len;
    while (b < e && value[b] == ' ') {
        b++;
    }
    while (e > b && blank(value[e - 1])) {
        e--;
    }
    if (b == e) {
        return AUTH_MALFORMED;
    }
    if (e - b > AUTH_KEY_LEN_MAX) {
        return AUTH_WRONG; /* no key is that long; only the public maximum is revealed */
    }
    unsigned char presented[SLOT_BYTES];
    slot_fill(presented, value + b, e - b);
    unsigned match = 0;
    for (size_t i = 0; i < a->count; i++) {
        match |= (unsigned)(CRYPTO_memcmp(presented, a->slots[i], SLOT_BYTES) == 0);
    }
    explicit_bzero(presented, sizeof(presented));
    return match != 0 ? AUTH_OK : AUTH_WRONG;
}

/* Reads the whole regular file behind fd (at most AUTH_FILE_BYTES_MAX) into a malloc'ed
 * buffer. NULL with a reason otherwise. */
static char *read_keys_file(int fd, size_t *len, char *why, size_t why_size) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_size, "%s", strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "not a regular file");
        return NULL;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        snprintf(why, why_size,
                 "group or others may access it (mode %03o); make it readable by this user "
                 "only: chmod 600",
                 (unsigned)(st.st_mode & 0777));
        return NULL;
    }
    if (st.st_size > AUTH_FILE_BYTES_MAX) {
        snprintf(why, why_size, "larger than %d bytes", AUTH_FILE_BYTES_MAX);
        return NULL;
    }
    char *buf = malloc(AUTH_FILE_BYTES_MAX + 1);
    if (buf == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, AUTH_FILE_BYTES_MAX + 1 - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            snprintf(why, why_size, "%s", strerror(errno));
            break;
        }
        if (r == 0) {
            *len = got;
            return buf;
        }
        got += (size_t)r;
        if (got > AUTH_FILE_BYTES_MAX) {
            snprintf(why, why_size, "larger than %d bytes", AUTH_FILE_BYTES_MAX);
            break;
        }
    }
    explicit_bzero(buf, AUTH_FILE_BYTES_MAX + 1);
    free(buf);
    return NULL;
}

ws_status auth_load_file(const char *path, http_auth **out) {
    char why[200] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    ws_status s = WS_INVALID_PARAMETER;
    if (fd < 0) {
        snprintf(why, sizeof(why), "%s", strerror(errno));
    } else {
        size_t len = 0;
        char *text = read_keys_file(fd, &len, why, sizeof(why));
        close(fd);
        if (text != NULL) {
            s = auth_parse(text, len, out, why, sizeof(why));
            explicit_bzero(text, AUTH_FILE_BYTES_MAX + 1);
            free(text);
        }
    }
    if (s != WS_OK) {
        ws_log(WS_LOG_ERROR, WS_FIELDS(WS_LOG_STR("path", path)), "--api-key-file %s: %s", path,
               why); /* the path and the rule broken, never a key */
    }
    return s;
}
