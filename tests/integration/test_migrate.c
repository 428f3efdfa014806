/* The data-format migration (format 1 -> format 2, in place at the first start) must change
 * nothing a client can observe. tests/fixtures holds data directories written by release
 * 0.1.0 (format 1, commit 071230d) and made by tests/fixtures/make_format1.sh: one after a
 * clean stop (everything in table files) and one after kill -9 (everything still in the
 * write-ahead log), each with the exact answers the old binary gave at the end of the
 * scenario (format1-<name>-expected.txt, one line per request:
 * PATH <TAB> STATUS <TAB> REPLAYED <TAB> BODY; none of those requests changes anything).
 *
 * For each fixture: extract it into a fresh data directory, start WS_BINARY on it, and
 * require every answer byte for byte (status, Idempotent-Replayed, body); restart (the
 * directory is format 2 by now and must open without migrating again) and require them once
 * more; stop cleanly; --verify exits 0. And --verify on a directory not yet migrated must
 * refuse (exit 2) and say it is format 1.
 *
 * WS_FIXTURES names the fixtures directory (ctest sets it to tests/fixtures). Against the
 * format-1 binary itself every answer holds too (its own format); only the --verify refusal
 * does not. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TAR_TIMEOUT_MS 30000
#define EXPECTED_MAX 1000 /* lines per expected file */
#define VERIFY_OUT_SIZE 16384

static void teardown(void) { ws_cleanup_all(); }

TestSuite(migrate, .fini = teardown, .timeout = 120);

/* ---- the fixtures -------------------------------------------------------------------- */

static const char *fixtures_dir(void) {
    const char *d = getenv("WS_FIXTURES");
    cr_assert(d != NULL && d[0] != '\0',
              "WS_FIXTURES is not set: point it at the repository's tests/fixtures "
              "(ctest sets it)");
    return d;
}

/* DIR/format1-<name><suffix>, which must be a readable file. */
static void fixture_path(char *out, size_t size, const char *name, const char *suffix) {
    int n = snprintf(out, size, "%s/format1-%s%s", fixtures_dir(), name, suffix);
    cr_assert(n > 0 && (size_t)n < size, "fixture path too long");
    cr_assert(access(out, R_OK) == 0,
              "fixture %s: %s (WS_FIXTURES=%s; make it with "
              "tests/fixtures/make_format1.sh)",
              out, strerror(errno), fixtures_dir());
}

/* Runs argv (argv[0] looked up in PATH), waiting at most timeout_ms. The exit code, or -1
 * if it could not run, died of a signal or had to be killed. */
static int run_command(char *const argv[], int timeout_ms) {
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "test_migrate: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        ws_sleep_ms(10);
    }
    fprintf(stderr, "test_migrate: %s did not finish within %d ms\n", argv[0], timeout_ms);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* Extracts format1-<name>.tar.gz into the (empty) data directory of s. */
static void extract_fixture(ws_server *s, const char *name) {
    char tarball[WS_PATH_MAX];
    fixture_path(tarball, sizeof tarball, name, ".tar.gz");
    char *argv[] = {"tar", "-xzf", tarball, "-C", s->data_dir, NULL};
    int rc = run_command(argv, TAR_TIMEOUT_MS);
    cr_assert_eq(rc, 0, "tar -xzf %s -C %s exited %d", tarball, s->data_dir, rc);
}

/* ---- the expected answers ------------------------------------------------------------ */

typedef struct {
    char *path;
    long status;
    bool replayed;
    char *body;
} expected_line;

typedef struct {
    char file[WS_PATH_MAX];
    expected_line *lines; /* each line's fields point into text */
    size_t count;
    char *text;
} expected_file;

/* Loads format1-<name>-expected.txt; asserts it is well formed. */
static void expected_load(expected_file *e, const char *name) {
    memset(e, 0, sizeof *e);
    fixture_path(e->file, sizeof e->file, name, "-expected.txt");
    FILE *f = fopen(e->file, "rb");
    cr_assert_not_null(f, "open %s: %s", e->file, strerror(errno));
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    cr_assert(size > 0 && size < (64L << 20), "%s: size %ld", e->file, size);
    rewind(f);
    e->text = malloc((size_t)size + 1);
    cr_assert_not_null(e->text);
    cr_assert_eq(fread(e->text, 1, (size_t)size, f), (size_t)size, "read %s", e->file);
    fclose(f);
    e->text[size] = '\0';
    cr_assert_eq(strlen(e->text), (size_t)size, "%s holds a NUL byte", e->file);
    cr_assert_eq(e->text[size - 1], '\n', "%s does not end with a newline", e->file);
    e->lines = calloc(EXPECTED_MAX, sizeof *e->lines);
    cr_assert_not_null(e->lines);

    char *p = e->text;
    while (*p != '\0') {
        cr_assert(e->count < EXPECTED_MAX, "%s: more than %d lines", e->file, EXPECTED_MAX);
        size_t lineno = e->count + 1;
        char *end = strchr(p, '\n'); /* there is one: the text ends with '\n' */
        *end = '\0';
        char *field[4];
        field[0] = p;
        for (int i = 1; i < 4; i++) {
            char *tab = strchr(field[i - 1], '\t');
            cr_assert_not_null(tab, "%s:%zu: fewer than 4 tab-separated fields", e->file, lineno);
            *tab = '\0';
            field[i] = tab + 1;
        }
        cr_assert(strchr(field[3], '\t') == NULL, "%s:%zu: more than 4 fields", e->file, lineno);
        cr_assert(field[0][0] == '/', "%s:%zu: path '%s'", e->file, lineno, field[0]);
        char *rest = NULL;
        long status = strtol(field[1], &rest, 10);
        cr_assert(rest != field[1] && *rest == '\0' && status >= 100 && status <= 599,
                  "%s:%zu: status '%s'", e->file, lineno, field[1]);
        cr_assert(strcmp(field[2], "0") == 0 || strcmp(field[2], "1") == 0, "%s:%zu: replayed '%s'",
                  e->file, lineno, field[2]);
        cr_assert(field[3][0] != '\0', "%s:%zu: empty body", e->file, lineno);
        e->lines[e->count++] = (expected_line){
            .path = field[0],
            .status = status,
            .replayed = field[2][0] == '1',
            .body = field[3],
        };
        p = end + 1;
    }
    cr_assert(e->count > 0, "%s: no lines", e->file);
}

static void expected_free(expected_file *e) {
    free(e->lines);
    free(e->text);
    memset(e, 0, sizeof *e);
}

/* Sends every request of e to the running server; each answer must be the expected one. */
static void expect_answers(ws_server *s, const expected_file *e, const char *when) {
    ws_client *c = ws_client_new(s);
    cr_assert_not_null(c);
    ws_response r = WS_RESPONSE_INIT;
    for (size_t i = 0; i < e->count; i++) {
        const expected_line *x = &e->lines[i];
        long st = ws_get(c, &r, "%s", x->path);
        const char *body = r.body != NULL ? r.body : "(none)";
        if (st != x->status || r.replayed != x->replayed || strcmp(body, x->body) != 0) {
            ws_server_dump_log(s, 4096);
        }
        cr_assert_eq(st, x->status, "%s, %s:%zu, GET %s: status %ld, expected %ld; body %s", when,
                     e->file, i + 1, x->path, st, x->status, body);
        cr_assert_eq(r.replayed, x->replayed,
                     "%s, %s:%zu, GET %s: Idempotent-Replayed %s, expected %s", when, e->file,
                     i + 1, x->path, r.replayed ? "present" : "absent",
                     x->replayed ? "present" : "absent");
        cr_assert_str_eq(body, x->body, "%s, %s:%zu, GET %s: body\n  got      %s\n  expected %s",
                         when, e->file, i + 1, x->path, body, x->body);
        cr_assert_eq(r.body_len, strlen(x->body), "%s, %s:%zu, GET %s: body length", when, e->file,
                     i + 1, x->path);
    }
    ws_response_free(&r);
    ws_client_free(c);
}

static void start(ws_server *s, const char *when) {
    cr_assert(ws_server_start(s), "%s: the server did not start on the data (log above)", when);
}

static void stop_and_verify(ws_server *s, const char *when) {
    int rc = ws_server_stop(s);
    cr_assert_eq(rc, 0, "%s: the server exited %d on SIGTERM", when, rc);
    char out[VERIFY_OUT_SIZE];
    rc = ws_server_verify(s, out, sizeof out);
    cr_assert_eq(rc, 0, "%s: --verify exited %d:\n%s", when, rc, out);
}

/* The first start migrates; the second opens format 2 as it is. Both answer as format 1
 * did. */
static void migrate_fixture(const char *name) {
    expected_file e;
    expected_load(&e, name);
    ws_server *s = ws_server_new(NULL);
    cr_assert_not_null(s, "could not prepare a server (is WS_BINARY set?)");
    extract_fixture(s, name);

    start(s, "first start (migration)");
    expect_answers(s, &e, "first start (migration)");
    cr_assert_eq(ws_server_stop(s), 0, "first start: the server did not exit 0 on SIGTERM");

    start(s, "second start (already migrated)");
    expect_answers(s, &e, "second start (already migrated)");
    stop_and_verify(s, "after the second start");

    ws_server_destroy(s);
    expected_free(&e);
}

Test(migrate, clean_stop_fixture) { migrate_fixture("clean"); }

Test(migrate, crashed_fixture) { migrate_fixture("crashed"); }

/* --verify opens the data read-only, so it cannot migrate: on a format-1 directory it must
 * refuse with exit 2 and say that the data is format 1 (and how to migrate), and it must
 * leave the directory as it was, so that a start still migrates it and answers as before. */
static void verify_unmigrated(const char *name) {
    expected_file e;
    expected_load(&e, name);
    ws_server *s = ws_server_new(NULL);
    cr_assert_not_null(s, "could not prepare a server (is WS_BINARY set?)");
    extract_fixture(s, name);

    char out[VERIFY_OUT_SIZE];
    int rc = ws_server_verify(s, out, sizeof out);
    cr_assert_eq(rc, 2, "--verify on the unmigrated %s fixture exited %d, expected 2:\n%s", name,
                 rc, out);
    cr_assert(strcasestr(out, "format 1") != NULL,
              "--verify on the unmigrated %s fixture should say it is format 1:\n%s", name, out);

    start(s, "start after the refused --verify");
    expect_answers(s, &e, "start after the refused --verify");
    stop_and_verify(s, "after the refused --verify and a start");

    ws_server_destroy(s);
    expected_free(&e);
}

Test(migrate, verify_refuses_format1_clean) { verify_unmigrated("clean"); }

Test(migrate, verify_refuses_format1_crashed) { verify_unmigrated("crashed"); }
