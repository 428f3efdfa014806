/* Unit tests for core/idem: the idempotency index of fingerprint -> lsn. They cover the
 * fingerprint (keyed, never 0), several lsns under one fingerprint (in no particular order,
 * idem.h), fingerprints that share a home slot, a probe run that wraps past the end of the
 * array, growth through many doublings keeping every entry, the walk over all entries, and
 * removal (backward-shift deletion): from the middle of a probe run, of a wrapped run, of one
 * of several entries under one fingerprint, while a doubling moves entries, and many random
 * adds and removes against a plain array. */
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

static int by_value(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The lsns under fp are exactly want[0..n), in any order (idem.h promises none). */
static void assert_lsns(uint64_t fp, const uint64_t *want, size_t n) {
    uint64_t got[64];
    uint64_t sorted[64];
    cr_assert_leq(n, 64);
    size_t m = lsns_of(fp, got, 64);
    cr_assert_eq(m, n, "fp %llx: %zu lsns, want %zu", (unsigned long long)fp, m, n);
    memcpy(sorted, want, n * sizeof(*want));
    qsort(got, m, sizeof(*got), by_value);
    qsort(sorted, n, sizeof(*sorted), by_value);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(got[i], sorted[i], "fp %llx: lsn %llu missing or unexpected",
                     (unsigned long long)fp, (unsigned long long)sorted[i]);
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

Test(idem, several_lsns_under_one_fp) {
    const uint64_t want[5] = {9, 3, 100, 4, 1};
    for (size_t i = 0; i < 5; i++) {
        add(0xABCDEF, want[i]);
    }
    assert_lsns(0xABCDEF, want, 5);
    cr_assert_eq(ws_idem_count(t), 5);
}

/* Fingerprints with the same low bits share a home slot and one probe run: each must still
 * find only its own lsns. */
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
 * the lsns of one fingerprint must all still be found. */
Test(idem, wrapped_run_keeps_its_entries_through_growth) {
    const uint64_t want[3] = {1, 2, 3};
    for (size_t i = 0; i < 3; i++) {
        add(UINT64_MAX, want[i]);
    }
    size_t bytes0 = ws_idem_bytes(t);
    for (uint64_t i = 0; i < 10000; i++) {
        add(2 + i, 10 + i); /* homes 2, 3, ...: clear of the wrapped slots 0 and 1 at first */
    }
    cr_assert_gt(ws_idem_bytes(t), bytes0, "the array did not grow");
    assert_lsns(UINT64_MAX, want, 3);
    for (uint64_t i = 0; i < 10000; i += 97) {
        uint64_t w[1] = {10 + i};
        assert_lsns(2 + i, w, 1);
    }
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
    /* 16 bytes an entry in an array at least 37.5% full, and while a doubling is under way
     * the old array of half its size: at most 64 bytes an entry. */
    cr_assert_leq(ws_idem_bytes(t), (size_t)64 * (N + N / 1000));
    for (uint64_t i = 1; i <= N; i++) {
        uint64_t got[4];
        size_t n = lsns_of(mix(i), got, 4);
        if (i % 1000 == 0) {
            cr_assert_eq(n, 2, "fp of %llu: %zu lsns", (unsigned long long)i, n);
            cr_assert((got[0] == i && got[1] == N + i) || (got[0] == N + i && got[1] == i),
                      "fp of %llu: %llu and %llu", (unsigned long long)i,
                      (unsigned long long)got[0], (unsigned long long)got[1]);
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
    qsort(w.lsn, w.n, 8, by_value);
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

/* ---- remove: backward-shift deletion --------------------------------------------------------- */

static void assert_absent(uint64_t fp) {
    size_t pos = 0;
    uint64_t lsn = ws_idem_next(t, fp, &pos);
    cr_assert_eq(lsn, 0, "fp %llx still gives lsn %llu", (unsigned long long)fp,
                 (unsigned long long)lsn);
}

/* An fp whose home slot is h in every array of up to 2^40 slots, and k tells it apart. */
static uint64_t homed(uint64_t h, uint64_t k) { return h | (k + 1) << 40; }

Test(idem, remove_the_only_entry) {
    add(77, 5);
    ws_idem_remove(t, 77, 5);
    cr_assert_eq(ws_idem_count(t), 0);
    assert_absent(77);
    add(77, 6); /* and the slot is usable again */
    uint64_t want[1] = {6};
    assert_lsns(77, want, 1);
}

/* Five fingerprints with one home, in five consecutive slots: removing one in the middle
 * must leave the entries behind it reachable from their home. */
Test(idem, remove_from_the_middle_of_a_probe_run) {
    for (uint64_t k = 0; k < 5; k++) {
        add(homed(100, k), 10 + k);
    }
    ws_idem_remove(t, homed(100, 2), 12);
    cr_assert_eq(ws_idem_count(t), 4);
    assert_absent(homed(100, 2));
    for (uint64_t k = 0; k < 5; k++) {
        if (k != 2) {
            uint64_t want[1] = {10 + k};
            assert_lsns(homed(100, k), want, 1);
        }
    }
    /* Then the run's first and last. */
    ws_idem_remove(t, homed(100, 0), 10);
    ws_idem_remove(t, homed(100, 4), 14);
    uint64_t w1[1] = {11};
    uint64_t w3[1] = {13};
    assert_lsns(homed(100, 1), w1, 1);
    assert_lsns(homed(100, 3), w3, 1);
    cr_assert_eq(ws_idem_count(t), 2);
}

/* An entry that sits at its own home right after the removed one must not move: moved
 * before its home it could not be found. */
Test(idem, remove_leaves_an_entry_at_its_home) {
    add(homed(200, 0), 1); /* slot 200 */
    add(homed(201, 0), 2); /* slot 201, its home */
    add(homed(202, 0), 3); /* slot 202, its home */
    ws_idem_remove(t, homed(200, 0), 1);
    assert_absent(homed(200, 0));
    uint64_t w2[1] = {2};
    uint64_t w3[1] = {3};
    assert_lsns(homed(201, 0), w2, 1);
    assert_lsns(homed(202, 0), w3, 1);
}

/* A run with entries of two homes interleaved: homes 300 (x3) and 301 (x2), added so that
 * they alternate. Removing each in turn keeps all the others reachable. */
Test(idem, remove_from_a_run_of_two_homes) {
    const uint64_t fps[5] = {homed(300, 0), homed(301, 0), homed(300, 1), homed(301, 1),
                             homed(300, 2)};
    for (int victim = 0; victim < 5; victim++) {
        ws_idem_free(t);
        t = ws_idem_new();
        cr_assert_not_null(t);
        for (size_t i = 0; i < 5; i++) {
            add(fps[i], 1 + i);
        }
        ws_idem_remove(t, fps[victim], 1 + (uint64_t)victim);
        for (size_t i = 0; i < 5; i++) {
            if ((int)i == victim) {
                assert_absent(fps[i]);
            } else {
                uint64_t want[1] = {1 + i};
                assert_lsns(fps[i], want, 1);
            }
        }
    }
}

/* UINT64_MAX's run starts in the last slot and wraps to slot 0; a fingerprint homed at 0
 * sits behind it. */
Test(idem, remove_from_a_wrapped_run) {
    for (uint64_t lsn = 1; lsn <= 4; lsn++) {
        add(UINT64_MAX, lsn); /* slots last, 0, 1, 2 */
    }
    add(homed(0, 0), 50);             /* slot 3 */
    add(homed(1, 0), 51);             /* slot 4 */
    ws_idem_remove(t, UINT64_MAX, 2); /* slot 0: the wrap itself */
    uint64_t w1[3] = {1, 3, 4};
    assert_lsns(UINT64_MAX, w1, 3);
    uint64_t w50[1] = {50};
    uint64_t w51[1] = {51};
    assert_lsns(homed(0, 0), w50, 1);
    assert_lsns(homed(1, 0), w51, 1);
    ws_idem_remove(t, UINT64_MAX, 1); /* the last slot: what follows shifts across the end */
    uint64_t w2[2] = {3, 4};
    assert_lsns(UINT64_MAX, w2, 2);
    assert_lsns(homed(0, 0), w50, 1);
    assert_lsns(homed(1, 0), w51, 1);
    ws_idem_remove(t, homed(0, 0), 50);
    assert_lsns(UINT64_MAX, w2, 2);
    assert_lsns(homed(1, 0), w51, 1);
    cr_assert_eq(ws_idem_count(t), 3);
}

/* Several lsns under one fingerprint (colliding IDs): one is removed, the rest stay. */
Test(idem, remove_one_of_several_under_one_fp) {
    const uint64_t lsns[5] = {9, 3, 100, 4, 1};
    for (size_t i = 0; i < 5; i++) {
        add(0xABCDEF, lsns[i]);
    }
    ws_idem_remove(t, 0xABCDEF, 100);
    const uint64_t w1[4] = {9, 3, 4, 1};
    assert_lsns(0xABCDEF, w1, 4);
    ws_idem_remove(t, 0xABCDEF, 9);
    const uint64_t w2[3] = {3, 4, 1};
    assert_lsns(0xABCDEF, w2, 3);
    ws_idem_remove(t, 0xABCDEF, 1);
    const uint64_t w3[2] = {3, 4};
    assert_lsns(0xABCDEF, w3, 2);
    cr_assert_eq(ws_idem_count(t), 2);
}

Test(idem, remove_of_an_absent_entry_asserts, .signal = SIGABRT) {
    add(77, 5);
    ws_idem_remove(t, 77, 6);
    cr_log_error("removed an entry that was never added");
}

/* Removal while a doubling is moving the entries: some are still in the old array. */
Test(idem, remove_while_growing) {
    enum { N = 800 }; /* past 768, 75% of the first 1024 slots: the array doubles */
    size_t bytes0 = ws_idem_bytes(t);
    for (uint64_t i = 1; i <= N; i++) {
        add(mix(i), i);
    }
    cr_assert_gt(ws_idem_bytes(t), 2 * bytes0, "no doubling under way (old array gone?)");
    for (uint64_t k = 0; 3 * k < N; k++) { /* N, N - 3, ..., 2 */
        ws_idem_remove(t, mix(N - 3 * k), N - 3 * k);
    }
    for (uint64_t i = 1; i <= N; i++) {
        if ((N - i) % 3 == 0) {
            assert_absent(mix(i));
        } else {
            uint64_t want[1] = {i};
            assert_lsns(mix(i), want, 1);
        }
    }
    /* More adds finish the move; everything is still where it should be. */
    for (uint64_t i = N + 1; i <= 2 * N; i++) {
        add(mix(i), i);
    }
    for (uint64_t i = 1; i <= 2 * N; i++) {
        if (i <= N && (N - i) % 3 == 0) {
            assert_absent(mix(i));
        } else {
            uint64_t want[1] = {i};
            assert_lsns(mix(i), want, 1);
        }
    }
}

/* Random adds and removes, checked against a plain array. The fingerprints come from a small
 * pool whose low 16 bits lie in 32 values around the end of the array (0xFFF0..0x000F), so
 * that the runs are long, share homes and wrap past the end at every size up to 65,536 slots;
 * several entries share each fingerprint. The table doubles a few times on the way. */
Test(idem, random_adds_and_removes_against_a_plain_array) {
    enum { POOL = 96, STEPS = 30000, LIVE_MAX = 6000, CHECK_EVERY = 500 };
    uint64_t pool[POOL];
    for (size_t k = 0; k < POOL; k++) {
        uint64_t low = (0xFFF0u + k % 32) & 0xFFFFu;
        pool[k] = (mix(k + 1) & ~0xFFFFull) | low;
    }
    static uint64_t ref_fp[LIVE_MAX];
    static uint64_t ref_lsn[LIVE_MAX];
    size_t live = 0;
    uint64_t next_lsn = 1;
    uint64_t x = 42;
    size_t adds = 0;
    size_t removes = 0;
    for (size_t step = 1; step <= STEPS; step++) {
        x = mix(x + step);
        bool do_add = live == 0 || (live < LIVE_MAX && x % 100 < (step < STEPS / 2 ? 65 : 40));
        if (do_add) {
            uint64_t fp = pool[(x >> 8) % POOL];
            add(fp, next_lsn);
            ref_fp[live] = fp;
            ref_lsn[live++] = next_lsn++;
            adds++;
        } else {
            size_t i = (size_t)((x >> 8) % live);
            ws_idem_remove(t, ref_fp[i], ref_lsn[i]);
            ref_fp[i] = ref_fp[live - 1];
            ref_lsn[i] = ref_lsn[--live];
            removes++;
        }
        cr_assert_eq(ws_idem_count(t), live, "step %zu: count %zu, want %zu", step,
                     ws_idem_count(t), live);
        if (step % CHECK_EVERY != 0 && step != STEPS) {
            continue;
        }
        for (size_t k = 0; k < POOL; k++) {
            static uint64_t want[LIVE_MAX];
            static uint64_t got[LIVE_MAX];
            size_t n = 0;
            for (size_t i = 0; i < live; i++) {
                if (ref_fp[i] == pool[k]) {
                    want[n++] = ref_lsn[i];
                }
            }
            size_t pos = 0;
            size_t m = 0;
            for (uint64_t lsn = ws_idem_next(t, pool[k], &pos); lsn != 0;
                 lsn = ws_idem_next(t, pool[k], &pos)) {
                cr_assert_lt(m, LIVE_MAX, "step %zu: fp %zu gives more lsns than exist", step, k);
                got[m++] = lsn;
            }
            qsort(want, n, sizeof(*want), by_value);
            qsort(got, m, sizeof(*got), by_value);
            cr_assert_eq(m, n, "step %zu: fp %zu (low bits %04llx) gives %zu lsns, want %zu", step,
                         k, (unsigned long long)(pool[k] & 0xFFFF), m, n);
            for (size_t i = 0; i < n; i++) {
                cr_assert_eq(got[i], want[i], "step %zu: fp %zu: lsn %llu missing", step, k,
                             (unsigned long long)want[i]);
            }
        }
    }
    cr_assert_gt(removes, STEPS / 4);
    cr_assert_gt(ws_idem_bytes(t), (size_t)16 * 4096, "the table never grew");
    cr_log_info("%zu adds, %zu removes, %zu left", adds, removes, live);
}
