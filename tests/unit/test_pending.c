/* Unit tests for core/pending: the table of pending transfers by lsn, and the order in which
 * the open ones with a timeout expire.
 *
 * Lookup: every field an entry was added with comes back, by lsn and in lsn order; an lsn
 * never added is not found. Removal of the newest entry (a chain taken back) is tested with
 * lsns chosen so that their home slots collide in two clusters, one of them wrapping past
 * the end of the slot array, so that every lookup walks a long probe run: after each removal
 * the removed entry is gone and every other one is still found. Expiry: open entries come
 * out in (expires_us, lsn) order, one at a time (the caller expires each), exactly at their
 * time and not a microsecond before; posted, voided, expired and removed entries and entries
 * whose expiry changed are skipped; an entry without a timeout never expires; a removed lsn
 * reused by a new entry expires once, at the new entry's time. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/pending.h"

static ws_pending *t;

static void setup(void) {
    t = ws_pending_new();
    cr_assert_not_null(t);
}

static void teardown(void) {
    ws_pending_free(t);
    t = NULL;
}

TestSuite(pending, .init = setup, .fini = teardown, .timeout = 60);

/* An open entry whose other fields are derived from lsn, so that a lookup can check them. */
static ws_pending_entry entry(uint64_t lsn, uint64_t expires_us) {
    return (ws_pending_entry){.lsn = lsn,
                              .id_hash = lsn * 0x9e3779b97f4a7c15ull ^ 0x5555,
                              .amount = lsn * 3 + 1,
                              .expires_us = expires_us,
                              .from = (uint32_t)(lsn % 1000),
                              .to = (uint32_t)(lsn % 1000 + 1),
                              .status = WS_PENDING_OPEN};
}

static void add(const ws_pending_entry *e) {
    cr_assert_eq(ws_pending_add(t, e), WS_OK, "add lsn %llu", (unsigned long long)e->lsn);
}

static void assert_entry_eq(const ws_pending_entry *got, const ws_pending_entry *want) {
    cr_assert_not_null(got, "lsn %llu not found", (unsigned long long)want->lsn);
    cr_assert_eq(got->lsn, want->lsn);
    cr_assert_eq(got->id_hash, want->id_hash, "lsn %llu: id_hash", (unsigned long long)want->lsn);
    cr_assert_eq(got->amount, want->amount, "lsn %llu: amount", (unsigned long long)want->lsn);
    cr_assert_eq(got->expires_us, want->expires_us, "lsn %llu: expires_us",
                 (unsigned long long)want->lsn);
    cr_assert_eq(got->from, want->from, "lsn %llu: from", (unsigned long long)want->lsn);
    cr_assert_eq(got->to, want->to, "lsn %llu: to", (unsigned long long)want->lsn);
    cr_assert_eq(got->status, want->status, "lsn %llu: status", (unsigned long long)want->lsn);
}

/* The entry that expires next at now_us, and its expiry by the caller; 0 if none is due. */
static uint64_t expire_next(uint64_t now_us) {
    ws_pending_entry *e = ws_pending_next_expired(t, now_us);
    if (!e) {
        return 0;
    }
    cr_assert_eq(e->status, WS_PENDING_OPEN, "lsn %llu: a closed entry was returned",
                 (unsigned long long)e->lsn);
    cr_assert_neq(e->expires_us, 0, "lsn %llu: an entry without a timeout was returned",
                  (unsigned long long)e->lsn);
    cr_assert_leq(e->expires_us, now_us, "lsn %llu: returned before its time",
                  (unsigned long long)e->lsn);
    e->status = WS_PENDING_EXPIRED;
    return e->lsn;
}

/* ---- add, get, at ------------------------------------------------------------------------- */

Test(pending, new_table_is_empty) {
    cr_assert_eq(ws_pending_count(t), 0);
    cr_assert_null(ws_pending_get(t, 1));
    cr_assert_null(ws_pending_next_expired(t, UINT64_MAX));
}

Test(pending, add_then_get_and_at) {
    const uint64_t lsns[] = {3, 4, 10, 11, 1000, 1u << 20, UINT64_MAX / 2, UINT64_MAX - 1};
    const size_t n = sizeof(lsns) / sizeof(lsns[0]);
    for (size_t i = 0; i < n; i++) {
        ws_pending_entry e = entry(lsns[i], i % 2 ? 0 : 1000 + i);
        e.status = (ws_pending_status)(WS_PENDING_OPEN + i % 4);
        add(&e);
        cr_assert_eq(ws_pending_count(t), i + 1);
    }
    for (size_t i = 0; i < n; i++) {
        ws_pending_entry want = entry(lsns[i], i % 2 ? 0 : 1000 + i);
        want.status = (ws_pending_status)(WS_PENDING_OPEN + i % 4);
        assert_entry_eq(ws_pending_get(t, lsns[i]), &want);
        assert_entry_eq(ws_pending_at(t, i), &want);
    }
    /* lsns never added: below, between and above */
    const uint64_t absent[] = {0, 1, 2, 5, 9, 12, 999, 1001, UINT64_MAX};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        cr_assert_null(ws_pending_get(t, absent[i]), "lsn %llu was never added",
                       (unsigned long long)absent[i]);
    }
}

/* The pointer get returns is the entry itself: a status set through it is kept. */
Test(pending, get_returns_the_entry_itself) {
    ws_pending_entry e = entry(7, 0);
    add(&e);
    ws_pending_entry *p = ws_pending_get(t, 7);
    cr_assert_not_null(p);
    p->status = WS_PENDING_POSTED;
    cr_assert_eq(ws_pending_get(t, 7)->status, WS_PENDING_POSTED);
    cr_assert_eq(ws_pending_at(t, 0)->status, WS_PENDING_POSTED);
}

Test(pending, add_of_an_lsn_not_above_the_last_asserts, .signal = SIGABRT) {
    ws_pending_entry e = entry(10, 0);
    add(&e);
    e = entry(10, 0);
    ws_status s = ws_pending_add(t, &e);
    cr_log_error("added lsn 10 twice: %s", ws_status_code(s));
}

Test(pending, at_past_the_count_asserts, .signal = SIGABRT) {
    ws_pending_entry e = entry(10, 0);
    add(&e);
    (void)ws_pending_at(t, 1);
    cr_log_error("read entry 1 of 1");
}

/* Many entries through several doublings of the slots and the entry array. */
Test(pending, growth_keeps_every_entry) {
    const size_t n = 20000;
    for (size_t i = 0; i < n; i++) {
        ws_pending_entry e = entry(2 * i + 1, i % 3 ? 0 : i + 1);
        add(&e);
    }
    cr_assert_eq(ws_pending_count(t), n);
    for (size_t i = 0; i < n; i++) {
        ws_pending_entry want = entry(2 * i + 1, i % 3 ? 0 : i + 1);
        assert_entry_eq(ws_pending_get(t, 2 * i + 1), &want);
        cr_assert_null(ws_pending_get(t, 2 * i + 2));
        cr_assert_eq(ws_pending_at(t, i)->lsn, 2 * i + 1);
    }
}

/* ---- remove_last ---------------------------------------------------------------------------- */

Test(pending, remove_last_then_add_the_same_lsn_again) {
    ws_pending_entry a = entry(5, 0);
    ws_pending_entry b = entry(6, 100);
    add(&a);
    add(&b);
    ws_pending_remove_last(t, 6);
    cr_assert_eq(ws_pending_count(t), 1);
    cr_assert_null(ws_pending_get(t, 6));
    assert_entry_eq(ws_pending_get(t, 5), &a);
    /* the lsn is free again, with other fields */
    ws_pending_entry c = entry(6, 0);
    c.amount = 42;
    c.id_hash = 99;
    add(&c);
    assert_entry_eq(ws_pending_get(t, 6), &c);
    assert_entry_eq(ws_pending_at(t, 1), &c);
    ws_pending_remove_last(t, 6);
    ws_pending_remove_last(t, 5);
    cr_assert_eq(ws_pending_count(t), 0);
    cr_assert_null(ws_pending_get(t, 5));
}

Test(pending, remove_last_of_another_lsn_asserts, .signal = SIGABRT) {
    ws_pending_entry a = entry(5, 0);
    ws_pending_entry b = entry(6, 0);
    add(&a);
    add(&b);
    ws_pending_remove_last(t, 5);
    cr_log_error("removed an entry that was not the newest");
}

Test(pending, remove_last_of_an_empty_table_asserts, .signal = SIGABRT) {
    ws_pending_remove_last(t, 1);
    cr_log_error("removed from an empty table");
}

/* The home slot of lsn in a table of cap slots: pending.c's own hash, copied here only to
 * choose lsns that collide. Were it to change, the test would still check the same
 * behaviour, over shorter probe runs. */
static size_t home_of(uint64_t lsn, size_t cap) {
    return (size_t)((lsn * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

#define COLLIDE_N 5000
#define COLLIDE_CAP 16384 /* the slots of 5000 entries: at most half full */

/* Checks that the first n of lsns are found with their fields, every stride-th from start. */
static void assert_found(const uint64_t *lsns, size_t n, size_t start, size_t stride) {
    for (size_t i = start; i < n; i += stride) {
        ws_pending_entry want = entry(lsns[i], 0);
        assert_entry_eq(ws_pending_get(t, lsns[i]), &want);
    }
}

Test(pending, remove_last_keeps_colliding_entries_findable) {
    static uint64_t lsns[COLLIDE_N];
    size_t wrap = 0;
    size_t mid = 0;
    /* Half the entries have a home in the 80 slots around the end of the array (a run that
     * wraps past slot 0), half in 80 slots in the middle. */
    for (uint64_t lsn = 1; wrap + mid < COLLIDE_N && lsn < (1u << 24); lsn++) {
        size_t h = home_of(lsn, COLLIDE_CAP);
        bool in_wrap = h >= COLLIDE_CAP - 40 || h < 40;
        bool in_mid = h >= 8000 && h < 8080;
        if ((in_wrap && wrap < COLLIDE_N / 2) || (in_mid && mid < COLLIDE_N / 2)) {
            wrap += in_wrap;
            mid += in_mid;
            lsns[wrap + mid - 1] = lsn;
        }
    }
    cr_assert_eq(wrap + mid, COLLIDE_N, "found %zu colliding lsns", wrap + mid);
    for (size_t i = 0; i < COLLIDE_N; i++) {
        ws_pending_entry e = entry(lsns[i], 0);
        add(&e);
    }
    assert_found(lsns, COLLIDE_N, 0, 1);
    for (size_t n = COLLIDE_N; n-- > 0;) {
        ws_pending_remove_last(t, lsns[n]);
        cr_assert_eq(ws_pending_count(t), n);
        cr_assert_null(ws_pending_get(t, lsns[n]), "lsn %llu found after its removal",
                       (unsigned long long)lsns[n]);
        /* every remaining entry now and then, and near the end; a sample otherwise */
        if (n % 250 == 0 || n < 64) {
            assert_found(lsns, n, 0, 1);
        } else {
            assert_found(lsns, n, n % 97, 97);
            if (n >= 4) {
                assert_found(lsns, n, n - 4, 1);
            }
        }
    }
    cr_assert_eq(ws_pending_count(t), 0);
    /* and the table takes them all again */
    for (size_t i = 0; i < COLLIDE_N; i++) {
        ws_pending_entry e = entry(lsns[i], 0);
        add(&e);
    }
    assert_found(lsns, COLLIDE_N, 0, 1);
}

/* ---- next_expired --------------------------------------------------------------------------- */

Test(pending, next_expired_exactly_at_its_time) {
    ws_pending_entry e = entry(1, 1000);
    add(&e);
    cr_assert_null(ws_pending_next_expired(t, 0));
    cr_assert_null(ws_pending_next_expired(t, 999), "returned a microsecond early");
    ws_pending_entry *p = ws_pending_next_expired(t, 1000);
    cr_assert_not_null(p, "not returned at its expiry time");
    cr_assert_eq(p->lsn, 1);
    /* It stays open and is returned again until the caller expires it. */
    cr_assert_eq(ws_pending_next_expired(t, 1000), p);
    cr_assert_eq(ws_pending_next_expired(t, UINT64_MAX), p);
    cr_assert_eq(p->status, WS_PENDING_OPEN, "next_expired changed the status");
    p->status = WS_PENDING_EXPIRED;
    cr_assert_null(ws_pending_next_expired(t, UINT64_MAX));
    cr_assert_eq(ws_pending_count(t), 1, "an expired entry stays in the table");
}

/* Open entries come out in (expires_us, lsn) order, ties by lsn, whatever the order of
 * their expiries in lsn order. */
Test(pending, next_expired_in_expiry_then_lsn_order) {
    enum { N = 3000 };
    static uint64_t expires[N + 1];
    uint64_t s = 0x243f6a8885a308d3ull;
    for (uint64_t lsn = 1; lsn <= N; lsn++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        expires[lsn] = 1 + (s >> 33) % 500; /* many ties */
        ws_pending_entry e = entry(lsn, expires[lsn]);
        add(&e);
    }
    uint64_t prev_exp = 0;
    uint64_t prev_lsn = 0;
    size_t got = 0;
    for (uint64_t now = 0; now <= 501; now++) {
        uint64_t lsn;
        while ((lsn = expire_next(now)) != 0) {
            cr_assert_leq(got, N, "more expiries than entries");
            cr_assert_eq(expires[lsn], now, "lsn %llu (expires %llu) came out at %llu",
                         (unsigned long long)lsn, (unsigned long long)expires[lsn],
                         (unsigned long long)now);
            cr_assert(expires[lsn] > prev_exp || (expires[lsn] == prev_exp && lsn > prev_lsn),
                      "lsn %llu (expires %llu) after lsn %llu (expires %llu)",
                      (unsigned long long)lsn, (unsigned long long)expires[lsn],
                      (unsigned long long)prev_lsn, (unsigned long long)prev_exp);
            prev_exp = expires[lsn];
            prev_lsn = lsn;
            got++;
        }
    }
    cr_assert_eq(got, N, "%zu of %d entries expired", got, N);
}

Test(pending, next_expired_skips_closed_and_removed_entries) {
    ws_pending_entry es[6] = {entry(1, 10), entry(2, 20), entry(3, 30),
                              entry(4, 40), entry(5, 50), entry(6, 60)};
    for (size_t i = 0; i < 6; i++) {
        add(&es[i]);
    }
    ws_pending_get(t, 1)->status = WS_PENDING_POSTED;
    ws_pending_get(t, 2)->status = WS_PENDING_VOIDED;
    ws_pending_get(t, 4)->status = WS_PENDING_EXPIRED;
    ws_pending_remove_last(t, 6);
    cr_assert_null(ws_pending_next_expired(t, 29), "a posted or voided entry expired");
    cr_assert_eq(expire_next(30), 3);
    cr_assert_null(ws_pending_next_expired(t, 49), "an entry already expired expired again");
    cr_assert_eq(expire_next(UINT64_MAX), 5);
    cr_assert_null(ws_pending_next_expired(t, UINT64_MAX), "a removed entry expired");
}

/* An entry whose expiry changed after it was added is not returned for its old expiry. */
Test(pending, next_expired_skips_an_entry_whose_expiry_changed) {
    ws_pending_entry a = entry(1, 10);
    ws_pending_entry b = entry(2, 20);
    add(&a);
    add(&b);
    ws_pending_get(t, 1)->expires_us = 15;
    cr_assert_eq(expire_next(UINT64_MAX), 2, "the entry came out for its old expiry");
    cr_assert_null(ws_pending_next_expired(t, UINT64_MAX));
    cr_assert_eq(ws_pending_get(t, 1)->status, WS_PENDING_OPEN);
}

/* The earliest is in the future: NULL, however many there are, and nothing is lost. */
Test(pending, next_expired_null_while_the_earliest_is_in_the_future) {
    for (uint64_t lsn = 1; lsn <= 100; lsn++) {
        ws_pending_entry e = entry(lsn, 1000 + lsn);
        add(&e);
    }
    for (int i = 0; i < 3; i++) {
        cr_assert_null(ws_pending_next_expired(t, 1000));
    }
    cr_assert_eq(expire_next(1001), 1);
    cr_assert_null(ws_pending_next_expired(t, 1001));
    for (uint64_t lsn = 2; lsn <= 100; lsn++) {
        cr_assert_eq(expire_next(2000), lsn);
    }
    cr_assert_null(ws_pending_next_expired(t, UINT64_MAX));
}

Test(pending, next_expired_ignores_entries_without_a_timeout) {
    ws_pending_entry never = entry(1, 0);
    ws_pending_entry soon = entry(2, 5);
    ws_pending_entry never2 = entry(3, 0);
    add(&never);
    add(&soon);
    add(&never2);
    cr_assert_eq(expire_next(UINT64_MAX), 2);
    cr_assert_null(ws_pending_next_expired(t, UINT64_MAX), "an entry without a timeout expired");
    cr_assert_eq(ws_pending_get(t, 1)->status, WS_PENDING_OPEN);
    cr_assert_eq(ws_pending_get(t, 3)->status, WS_PENDING_OPEN);
}

/* A chain taken back leaves its entry's heap item behind; an entry added later at the same
 * lsn expires once, at its own time. */
Test(pending, removed_lsn_reused_expires_once_at_the_new_time) {
    ws_pending_entry a = entry(1, 100);
    ws_pending_entry b = entry(2, 50);
    add(&a);
    add(&b);
    ws_pending_remove_last(t, 2);
    ws_pending_entry b2 = entry(2, 70);
    add(&b2);
    cr_assert_null(ws_pending_next_expired(t, 69), "expired at the removed entry's time");
    cr_assert_eq(expire_next(70), 2);
    cr_assert_null(ws_pending_next_expired(t, 99));
    cr_assert_eq(expire_next(100), 1);
    cr_assert_null(ws_pending_next_expired(t, UINT64_MAX));
    /* the same again with the same expiry: two heap items for one entry */
    ws_pending_entry c = entry(3, 200);
    add(&c);
    ws_pending_remove_last(t, 3);
    add(&c);
    cr_assert_eq(expire_next(200), 3);
    cr_assert_null(ws_pending_next_expired(t, UINT64_MAX), "one entry expired twice");
    /* and a reused lsn without a timeout never expires */
    ws_pending_entry d = entry(4, 300);
    add(&d);
    ws_pending_remove_last(t, 4);
    ws_pending_entry d2 = entry(4, 0);
    add(&d2);
    cr_assert_null(ws_pending_next_expired(t, UINT64_MAX), "expired by a removed entry's item");
}
