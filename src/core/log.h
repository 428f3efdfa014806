/* The service's log: one line per event on stderr, as text (what the service has always
 * printed: "wallet-service: " and the message) or, with --log-format json, one JSON object
 * a line: {"timestamp":"...Z","level":"info","message":"...","fields":{...}}. Fields carry
 * what a machine would filter on (an lsn, a path, a count); text shows only the message,
 * which already says it in words. Never log an API key or a request body.
 *
 * The one piece of I/O in core, as assert.h is: every layer logs, and core is the layer all
 * of them include. Each line is one write(2) to fd 2, so lines of different threads never
 * interleave. Any thread; ws_log_set_format on the main thread before any other starts. */
#ifndef WS_CORE_LOG_H
#define WS_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { WS_LOG_INFO, WS_LOG_WARN, WS_LOG_ERROR } ws_log_level;
typedef enum { WS_LOG_TEXT, WS_LOG_JSON } ws_log_format;

/* One field: a string (str != NULL) or a number. */
typedef struct {
    const char *key;
    const char *str;
    int64_t num;
} ws_log_field;

#define WS_LOG_STR(k, v) ((ws_log_field){(k), (v), 0})
#define WS_LOG_NUM(k, v) ((ws_log_field){(k), NULL, (int64_t)(v)})
/* The fields argument pair of ws_log: WS_FIELDS(WS_LOG_NUM("lsn", 7), ...) or WS_NO_FIELDS. */
#define WS_FIELDS(...)                                                                             \
    (const ws_log_field[]){__VA_ARGS__},                                                           \
        sizeof((const ws_log_field[]){__VA_ARGS__}) / sizeof(ws_log_field)
#define WS_NO_FIELDS NULL, 0

void ws_log_set_format(ws_log_format f);
ws_log_format ws_log_get_format(void);

/* Logs the printf-style message with level and the n fields. A line is cut at 4 KB. */
void ws_log(ws_log_level level, const ws_log_field *fields, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The JSON line of a message into out (cap bytes, NUL-terminated, cut to fit and still
 * valid JSON); its length. timestamp_us: microseconds since the epoch. Pure: for tests. */
size_t ws_log_json_line(char *out, size_t cap, uint64_t timestamp_us, ws_log_level level,
                        const char *message, const ws_log_field *fields, size_t n);

#endif
