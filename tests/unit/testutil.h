/* Helpers shared by the unit tests: a fresh temporary directory per test (for the tests
 * that open a real RocksDB store) and its recursive removal, and bounded-wait clocks.
 * Header-only: tests/CMakeLists.txt makes one binary per .c file. */
#ifndef WS_TEST_TESTUTIL_H
#define WS_TEST_TESTUTIL_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static inline int tmpdir_remove_entry(const char *path, const struct stat *sb, int flag,
                                      struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Copies template (ending in XXXXXX) into dir and creates the directory; asserts. */
static inline void tmpdir_make(char *dir, const char *template, size_t size) {
    memcpy(dir, template, size);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", template);
}

/* Removes dir and everything below it. */
static inline void tmpdir_remove(const char *dir) {
    nftw(dir, tmpdir_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Milliseconds on CLOCK_MONOTONIC, for deadlines. */
static inline uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#endif
