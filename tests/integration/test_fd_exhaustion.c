/* Running out of file descriptors. Idle clients take every descriptor the server may
 * open; it must not spin on its listener (it used to burn a full core), it must keep
 * serving the connections it has, and it must accept again once clients leave. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define NOFILE 128
#define IDLE_CLIENTS 160

static ws_server *srv;

static void teardown(void) { ws_cleanup_all(); }

/* The server's user+system CPU time in clock ticks, from /proc. */
static long cpu_ticks(pid_t pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    long utime = 0;
    long stime = 0;
    /* Fields 14 and 15; the command name (field 2) has no spaces here. */
    int n =
        fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime);
    fclose(f);
    cr_assert_eq(n, 2);
    return utime + stime;
}

static int connect_idle(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

Test(fd_exhaustion, no_spin_and_recovery, .fini = teardown, .timeout = 60) {
    static const char *const args[] = {"--io-threads", "1", NULL};
    srv = ws_server_new(args);
    cr_assert_not_null(srv);
    srv->nofile_limit = NOFILE;
    cr_assert(ws_server_start(srv));
    ws_client *c = ws_client_new(srv);
    ws_response r = WS_RESPONSE_INIT;
    cr_assert_eq(ws_get(c, &r, "/health"), 200); /* this connection stays open */

    int fds[IDLE_CLIENTS];
    for (int i = 0; i < IDLE_CLIENTS; i++) {
        fds[i] = connect_idle(srv->port); /* the kernel completes them; the server cannot */
    }
    ws_sleep_ms(300);
    long before = cpu_ticks(srv->pid);
    ws_sleep_ms(2000);
    long spent = cpu_ticks(srv->pid) - before;
    cr_assert_lt(spent, 50, "the server used %ld ticks in 2 s with no descriptors left", spent);
    cr_assert_eq(ws_get(c, &r, "/health"), 200, "an open connection must still be served");

    for (int i = 0; i < IDLE_CLIENTS; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    ws_client *fresh = NULL;
    long status = 0;
    for (int attempt = 0; attempt < 50 && status != 200; attempt++) { /* at most ~5 s */
        ws_sleep_ms(100);
        ws_client_free(fresh);
        fresh = ws_client_new(srv);
        ws_client_set_timeout_ms(fresh, 1000);
        status = ws_get(fresh, &r, "/health");
    }
    cr_assert_eq(status, 200, "no new connection accepted after the idle clients left");
    ws_response_free(&r);
    ws_client_free(fresh);
    ws_client_free(c);
    cr_assert_eq(ws_server_stop(srv), 0);
}
