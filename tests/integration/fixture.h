/* The one-server fixture of the JSON API tests (test_json, test_ledger_api, test_pending_api,
 * test_history_api): a server started from its arguments, a client on it, restarts on the
 * same data, and JSON written with ' for ". Once per test program: it defines them. */
#ifndef WS_TEST_FIXTURE_H
#define WS_TEST_FIXTURE_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>

#include "harness.h"

static ws_server *srv;
static ws_client *cli;

/* Starts a server with args (NULL-terminated extra flags) and a client on it. */
__attribute__((unused)) static void start(const char *const *args) {
    srv = ws_server_new(args);
    cr_assert_not_null(srv, "could not prepare a server (is WS_BINARY set?)");
    cr_assert(ws_server_start(srv), "server did not start");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
}

/* Stops the server (kill -9, or SIGTERM: a clean stop, so a checkpoint) and starts it on the
 * same data, with a new client. */
__attribute__((unused)) static void restart(bool kill9) {
    ws_client_free(cli);
    cli = NULL;
    if (kill9) {
        cr_assert(ws_server_kill9(srv), "kill -9");
    } else {
        cr_assert_eq(ws_server_stop(srv), 0, "clean stop");
    }
    cr_assert(ws_server_start(srv), "server did not start again");
    cli = ws_client_new(srv);
    cr_assert_not_null(cli);
}

/* s with every ' turned into " and every ` into ', in one of a few rotating static buffers. */
#define DQ_SLOTS 4
#define DQ_MAX (64u << 10)
__attribute__((unused)) static const char *dq(const char *s) {
    static char bufs[DQ_SLOTS][DQ_MAX];
    static int next;
    char *b = bufs[next];
    next = (next + 1) % DQ_SLOTS;
    size_t n = strlen(s);
    cr_assert_lt(n, DQ_MAX, "test text too long");
    for (size_t i = 0; i <= n; i++) {
        b[i] = s[i] == '\'' ? '"' : s[i] == '`' ? '\'' : s[i];
    }
    return b;
}

#endif
