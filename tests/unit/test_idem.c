/* Unit tests for core/idem: the idempotency index of fingerprint -> lsn. They cover the
 * fingerprint (keyed, never 0), several lsns under one fingerprint coming back oldest first,
 * fingerprints that share a home slot, a probe run that wraps past the end of the array,
 * growth through many doublings keeping every entry, and the walk over all entries. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/idem.h"

static ws_idem *t;

static void setup(void) {
    t = ws_idem_new();
    cr_assert_not_null(t);
}

static void teardown(void) {
    ws_idem_free(t);
    t = NULL;
}

TestSuite(idem, .init = setup, .fini = teardown, .timeout = 60);

static void add(uint64_t fp, uint64_t lsn) {
    cr_assert_eq(ws_idem_add(t, fp, lsn), WS_OK, "add %llx -> %llu", (unsigned long long)fp,
                 (unsigned long long)lsn);
}

/* Every lsn under fp, in the order ws_idem_next gives them (at most max). */
static size_t lsns_of(uint64_t fp, uint64_t *out, size_t max) {
    size_t pos = 0;
    size_t n = 0;
    for (uint64_t lsn = ws_idem_next(t, fp, &pos); lsn != 0; lsn = ws_idem_next(t, fp, &pos)) {
        cr_assert_lt(n, max, "more lsns under %llx than were added", (unsigned long long)fp);
        out[n++] = lsn;
    }
    return n;
}

static void assert_lsns(uint64_t fp, const uint64_t *want, size_t n) {
    uint64_t got[64];
    size_t m = lsns_of(fp, got, 64);
    cr_assert_eq(m, n, "fp %llx: %zu lsns, want %zu", (unsigned long long)fp, m, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(got[i], want[i], "fp %llx: lsn %zu is %llu, want %llu", (unsigned long long)fp,
                     i, (unsigned long long)got[i], (unsigned long long)want[i]);
    }
}

Test(idem, empty) {
    cr_assert_eq(ws_idem_count(t), 0);
    cr_assert_gt(ws_idem_bytes(t), 0);
    size_t pos = 0;
    cr_assert_eq(ws_idem_next(t, 12345, &pos), 0);
    pos = 0;
    cr_assert_eq(ws_idem_next(t, UINT64_MAX, &pos), 0);
}

Test(idem, fp_is_keyed_deterministic_and_never_zero) {
    ws_hash_key k1 = {1, 2};
    ws_hash_key k2 = {1, 3};
    char id[32];
    size_t differ = 0;
    for (unsigned i = 0; i < 20000; i++) {
        int n = snprintf(id, sizeof(id), "txn-%u", i);
        uint64_t a = ws_idem_fp(k1, id, (size_t)n);
        cr_assert_neq(a, 0, "fp 0 for %s", id);
        cr_assert_eq(a, ws_idem_fp(k1, id, (size_t)n), "fp not deterministic");
        uint64_t sip = ws_siphash(k1, id, (size_t)n);
        cr_assert_eq(a, sip ? sip : 1, "fp is not the SipHash of the ID");
        uint64_t b = ws_idem_fp(k2, id, (size_t)n);
        cr_assert_neq(b, 0);
        differ += a != b;
    }
    cr_assert_gt(differ, 19990, "the key barely changes the fingerprint");
    /* The length counts, not a terminator. */
    cr_assert_neq(ws_idem_fp(k1, "abc", 2), ws_idem_fp(k1, "abc", 3));
}

Test(idem, one_lsn) {
    add(77, 5);
    cr_assert_eq(ws_idem_count(t), 1);
    uint64_t want[1] = {5};
    assert_lsns(77, want, 1);
    size_t pos = 0;
    cr_assert_eq(ws_idem_next(t, 78, &pos), 0, "an unknown fp found an lsn");
}

Test(idem, several_lsns_under_one_fp_in_insertion_order) {
    const uint64_t want[5] = {9, 3, 100, 4, 1};
    for (size_t i = 0; i < 5; i++) {
        add(0xABCDEF, want[i]);
    }
    assert_lsns(0xABCDEF, want, 5);
    cr_assert_eq(ws_idem_count(t), 5);
}

/* Fingerprints with the same low bits share a home slot and one probe run: each must still
 * find only its own lsns, oldest first. */
Test(idem, fps_sharing_a_home_slot) {
    const uint64_t base = 0x10;
    for (uint64_t i = 0; i < 12; i++) {
        uint64_t fp = base + ((i % 3) << 40); /* same low 40 bits */
        add(fp, 100 + i);
    }
    for (uint64_t k = 0; k < 3; k++) {
        uint64_t want[4] = {100 + k, 103 + k, 106 + k, 109 + k};
        assert_lsns(base + (k << 40), want, 4);
    }
    size_t pos = 0;
    cr_assert_eq(ws_idem_next(t, base + (3ull << 40), &pos), 0);
}

/* UINT64_MAX has its home in the last slot whatever the array's size, so its run wraps past
 * the end of the array to slot 0. */
Test(idem, run_wrapping_past_the_end) {
    const uint64_t want[4] = {1, 2, 3, 4};
    for (size_t i = 0; i < 4; i++) {
        add(UINT64_MAX, want[i]);
    }
    assert_lsns(UINT64_MAX, want, 4);
    /* A fingerprint homed at slot 0 probes past the wrapped entries. */
    add(1ull << 40, 50);
    uint64_t w50[1] = {50};
    assert_lsns(1ull << 40, w50, 1);
    assert_lsns(UINT64_MAX, want, 4);
}

/* The same wrapped run, then enough other entries to make the array double several times:
 * the lsns of one fingerprint must still come back oldest first (idem.h). */
Test(idem, wrapped_run_keeps_its_order_through_growth) {
    const uint64_t want[3] = {1, 2, 3};
    for (size_t i = 0; i < 3; i++) {
        add(UINT64_MAX, want[i]);
    }
    size_t bytes0 = ws_idem_bytes(t);
    for (uint64_t i = 0; i < 10000; i++) {
        add(2 + i, 10 + i); /* homes 2, 3, ...: clear of the wrapped slots 0 and 1 at first */
    }
    cr_assert_gt(ws_idem_bytes(t), bytes0, "the array did not grow");
    uint64_t got[8];
    size_t n = lsns_of(UINT64_MAX, got, 8);
    cr_assert_eq(n, 3, "lsns lost in growth");
    cr_assert(got[0] == 1 && got[1] == 2 && got[2] == 3,
              "after growth the lsns of one fingerprint come back as %llu, %llu, %llu, not "
              "oldest first",
              (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)got[2]);
}

/* A cheap mixer, so that the test's fingerprints spread over the slots like real ones. */
static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x ? x : 1;
}

Test(idem, growth_keeps_every_entry) {
    enum { N = 200000 };
    size_t bytes_prev = ws_idem_bytes(t);
    int grows = 0;
    for (uint64_t i = 1; i <= N; i++) {
        add(mix(i), i);
        /* Every 1000th fingerprint is added a second time, as two colliding IDs would be. */
        if (i % 1000 == 0) {
            add(mix(i), N + i);
        }
        grows += ws_idem_bytes(t) > bytes_prev;
        bytes_prev = ws_idem_bytes(t);
    }
    cr_assert_eq(ws_idem_count(t), N + N / 1000);
    cr_assert_geq(grows, 7, "from 1024 slots, 200,200 entries need at least 8 doublings");
    /* 16 bytes an entry, the array at most 4/3 * 2 the entries. */
    cr_assert_leq(ws_idem_bytes(t), (size_t)16 * 3 * (N + N / 1000));
    for (uint64_t i = 1; i <= N; i++) {
        uint64_t got[4];
        size_t n = lsns_of(mix(i), got, 4);
        if (i % 1000 == 0) {
            cr_assert_eq(n, 2, "fp of %llu: %zu lsns", (unsigned long long)i, n);
            cr_assert(got[0] == i && got[1] == N + i, "fp of %llu: order", (unsigned long long)i);
        } else {
            cr_assert_eq(n, 1, "fp of %llu: %zu lsns", (unsigned long long)i, n);
            cr_assert_eq(got[0], i);
        }
    }
    for (uint64_t i = N + 1; i <= N + 1000; i++) {
        size_t pos = 0;
        cr_assert_eq(ws_idem_next(t, mix(i), &pos), 0, "an fp never added found an lsn");
    }
}

typedef struct {
    uint64_t *fp;
    uint64_t *lsn;
    size_t n;
    size_t cap;
    size_t stop_at; /* return WS_INTERNAL at this entry (1-based); 0 never */
} walk;

static ws_status visit(void *ctx, uint64_t fp, uint64_t lsn) {
    walk *w = ctx;
    cr_assert_lt(w->n, w->cap, "the walk visited more entries than there are");
    w->fp[w->n] = fp;
    w->lsn[w->n++] = lsn;
    return w->stop_at != 0 && w->n == w->stop_at ? WS_INTERNAL : WS_OK;
}

static int by_lsn(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(idem, each_visits_every_entry_once) {
    enum { N = 5000 };
    for (uint64_t i = 1; i <= N; i++) {
        add(i % 7 == 0 ? 0x77 : mix(i), i); /* some entries share one fingerprint */
    }
    walk w = {.fp = calloc(N + 1, 8), .lsn = calloc(N + 1, 8), .cap = N + 1};
    cr_assert(w.fp && w.lsn);
    cr_assert_eq(ws_idem_each(t, visit, &w), WS_OK);
    cr_assert_eq(w.n, N);
    for (size_t i = 0; i < w.n; i++) {
        uint64_t lsn = w.lsn[i];
        cr_assert_eq(w.fp[i], lsn % 7 == 0 ? 0x77 : mix(lsn), "lsn %llu with the wrong fp",
                     (unsigned long long)lsn);
    }
    qsort(w.lsn, w.n, 8, by_lsn);
    for (size_t i = 0; i < w.n; i++) {
        cr_assert_eq(w.lsn[i], i + 1, "an entry visited twice or never");
    }
    free(w.fp);
    free(w.lsn);
}

Test(idem, each_stops_at_a_status) {
    for (uint64_t i = 1; i <= 100; i++) {
        add(mix(i), i);
    }
    uint64_t fp[100];
    uint64_t lsn[100];
    walk w = {.fp = fp, .lsn = lsn, .cap = 100, .stop_at = 10};
    cr_assert_eq(ws_idem_each(t, visit, &w), WS_INTERNAL);
    cr_assert_eq(w.n, 10);
}

Test(idem, each_of_empty_visits_nothing) {
    uint64_t fp[1];
    uint64_t lsn[1];
    walk w = {.fp = fp, .lsn = lsn, .cap = 0};
    cr_assert_eq(ws_idem_each(t, visit, &w), WS_OK);
    cr_assert_eq(w.n, 0);
}

/* Prefetching is a hint: it changes nothing, on an empty table or a full one. */
Test(idem, prefetch_changes_nothing) {
    ws_idem_prefetch(t, 1);
    ws_idem_prefetch(t, UINT64_MAX);
    for (uint64_t i = 1; i <= 700; i++) {
        ws_idem_prefetch(t, mix(i));
        add(mix(i), i);
    }
    ws_idem_prefetch(t, 12345);
    cr_assert_eq(ws_idem_count(t), 700);
    uint64_t want[1] = {7};
    assert_lsns(mix(7), want, 1);
}

/* 0 marks an empty slot and ends ws_idem_next: neither may be added. */
Test(idem, add_of_fp_zero_asserts, .signal = SIGABRT) {
    ws_status s = ws_idem_add(t, 0, 1);
    cr_log_error("returned %d instead of aborting", (int)s);
}

Test(idem, add_of_lsn_zero_asserts, .signal = SIGABRT) {
    ws_status s = ws_idem_add(t, 1, 0);
    cr_log_error("returned %d instead of aborting", (int)s);
}

Test(idem, free_null_is_a_no_op) {
    ws_idem_free(NULL);
    cr_assert_not_null(t);
}
