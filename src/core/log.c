/* The log (see log.h): formatting, and one write(2) a line. */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"

#define LOG_LINE_MAX 4096
#define LOG_MESSAGE_MAX 2048

static ws_log_format log_format = WS_LOG_TEXT;

void ws_log_set_format(ws_log_format f) { log_format = f; }

ws_log_format ws_log_get_format(void) { return log_format; }

static const char *level_name(ws_log_level l) {
    return l == WS_LOG_ERROR ? "error" : l == WS_LOG_WARN ? "warn" : "info";
}

/* A bounded writer into a buffer; stops (and remembers it) when the next piece would not
 * fit with room left for the closing bytes. */
typedef struct {
    char *p;
    size_t len;
    size_t cap; /* usable, the closing bytes reserved */
    bool full;
} line;

static void put(line *l, const char *s, size_t n) {
    if (l->full || n > l->cap - l->len) {
        l->full = true;
        return;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void put_str(line *l, const char *s) { put(l, s, strlen(s)); }

/* A JSON string, quoted; escapes per RFC 8259 (control characters as \u00XX). Bytes past
 * 0x7f are copied: the messages the service writes are ASCII, and a path is what it is. */
static void put_json_str(line *l, const char *s) {
    put(l, "\"", 1);
    for (; *s && !l->full; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(l, esc, 6);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
    l->full = false; /* a cut string still closes */
    put(l, "\"", 1);
}

size_t ws_log_json_line(char *out, size_t cap, uint64_t timestamp_us, ws_log_level level,
                        const char *message, const ws_log_field *fields, size_t n) {
    /* room kept for the closing "}}\n" and the NUL, and for a closing quote of a cut string */
    WS_ASSERT(cap >= 64);
    line l = {out, 0, cap - 8, false};
    char ts[WS_TIMESTAMP_LEN + 1];
    ws_format_timestamp(timestamp_us, ts);
    put_str(&l, "{\"timestamp\":\"");
    put_str(&l, ts);
    put_str(&l, "\",\"level\":\"");
    put_str(&l, level_name(level));
    put_str(&l, "\",\"message\":");
    l.cap -= 2; /* the message may be cut, never the line's shape */
    put_json_str(&l, message);
    l.cap += 2;
    put_str(&l, ",\"fields\":{");
    for (size_t i = 0; i < n && !l.full; i++) {
        size_t at = l.len;
        if (i > 0) {
            put(&l, ",", 1);
        }
        put_json_str(&l, fields[i].key);
        put(&l, ":", 1);
        if (fields[i].str) {
            put_json_str(&l, fields[i].str);
        } else {
            char num[24];
            put(&l, num, (size_t)snprintf(num, sizeof(num), "%lld", (long long)fields[i].num));
        }
        if (l.full) {
            l.len = at; /* a field that does not fit is left out whole */
        }
    }
    l.cap = cap - 1;
    l.full = false;
    put_str(&l, "}}\n");
    out[l.len] = '\0';
    return l.len;
}

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void ws_log(ws_log_level level, const ws_log_field *fields, size_t n, const char *fmt, ...) {
    char message[LOG_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (m < 0) {
        return;
    }
    char out[LOG_LINE_MAX];
    size_t len;
    if (log_format == WS_LOG_JSON) {
        len = ws_log_json_line(out, sizeof(out), now_us(), level, message, fields, n);
    } else {
        int k = snprintf(out, sizeof(out), "wallet-service: %s\n", message);
        len = k < 0 ? 0 : (size_t)k < sizeof(out) ? (size_t)k : sizeof(out) - 1;
        out[len > 0 ? len - 1 : 0] = '\n'; /* a cut line still ends its line */
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(STDERR_FILENO, out + done, len - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return; /* nowhere to log to: nothing better to do */
        }
        done += (size_t)w;
    }
}
