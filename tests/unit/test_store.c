/* Unit tests for store/: the RocksDB-backed store and its offline verifier, on a fresh
 * temporary directory per test. The store is driven directly through batches, without the
 * state machine, so that the tests can write exactly the log they want: a consistent one
 * that verify must accept, and ones with a single defect (a missing Credit, a gap, a wrong
 * balance, a wrong meta) that verify must report. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "testutil.h"

#define NOW_US 1700000000000000u

#define DIR_TEMPLATE "/tmp/ws_store_test_XXXXXX"

static char dir[sizeof(DIR_TEMPLATE)];
static store *st;
static store *st_ro;

static void setup(void) {
    tmpdir_make(dir, DIR_TEMPLATE, sizeof(DIR_TEMPLATE));
    cr_assert_eq(store_open(dir, false, &st), WS_OK);
}

static void teardown(void) {
    store_close(st_ro);
    store_close(st);
    st_ro = NULL;
    st = NULL;
    tmpdir_remove(dir);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static void set_id(char *dst, uint8_t *len, const char *src) {
    *len = (uint8_t)strlen(src);
    memcpy(dst, src, *len);
}

static ws_event ev_created(uint64_t seq, const char *id, uint64_t amount) {
    ws_event e;
    memset(&e, 0, sizeof(e));
    e.seq = seq;
    e.type = WS_EVENT_ACCOUNT_CREATED;
    e.amount = amount;
    e.balance = amount;
    e.timestamp_us = NOW_US + seq;
    set_id(e.account, &e.account_len, id);
    return e;
}

static ws_event ev_leg(uint64_t seq, ws_event_type type, const char *acct, const char *peer,
                       const char *tx, uint64_t amount, uint64_t balance) {
    ws_event e;
    memset(&e, 0, sizeof(e));
    e.seq = seq;
    e.type = type;
    e.amount = amount;
    e.balance = balance;
    e.timestamp_us = NOW_US + seq;
    set_id(e.account, &e.account_len, acct);
    set_id(e.counterparty, &e.counterparty_len, peer);
    set_id(e.transaction, &e.transaction_len, tx);
    return e;
}

static ws_transfer_record ok_record(const char *from, const char *to, uint64_t amount,
                                    uint64_t from_balance, uint64_t to_balance, uint64_t seq) {
    ws_transfer_record r;
    memset(&r, 0, sizeof(r));
    r.status = WS_OK;
    r.amount = amount;
    r.from_balance = from_balance;
    r.to_balance = to_balance;
    r.seq = seq;
    set_id(r.from, &r.from_len, from);
    set_id(r.to, &r.to_len, to);
    return r;
}

static void put_meta(store_batch *b, uint64_t next_seq, uint64_t count, ws_u128 total) {
    store_meta m = {.next_seq = next_seq, .account_count = count, .total_money = total};
    store_batch_put_meta(b, &m);
}

static void commit(store_batch *b) {
    cr_assert_eq(store_commit(st, b), WS_OK);
    store_batch_free(b);
}

static store_batch *new_batch(void) {
    store_batch *b = store_batch_new();
    cr_assert_not_null(b);
    return b;
}

/* The defects the fixture can plant in an otherwise consistent log. */
typedef enum {
    DEFECT_NONE,
    DEFECT_NO_CREDIT,   /* the transfer's Credit was never written */
    DEFECT_SEQ_GAP,     /* the Debit and Credit sit at 4 and 5, nothing at 3 */
    DEFECT_BAD_BALANCE, /* the Credit says B has 31 where the replay gives 30 */
    DEFECT_META_TOTAL,  /* the meta claims 101 units were created */
    DEFECT_STORED_BAL,  /* B's stored balance is 29 */
    DEFECT_CREDIT_PEER, /* the Credit names the wrong transaction */
} defect;

/* alice created with 100, bob with 0, then tx-1 moves 30 from alice to bob. */
static void write_log(defect d) {
    store_batch *b = new_batch();
    ws_event e = ev_created(1, "alice", 100);
    store_batch_put_event(b, &e);
    e = ev_created(2, "bob", 0);
    store_batch_put_event(b, &e);
    uint64_t debit_seq = d == DEFECT_SEQ_GAP ? 4 : 3;
    e = ev_leg(debit_seq, WS_EVENT_DEBIT, "alice", "bob", "tx-1", 30, 70);
    store_batch_put_event(b, &e);
    uint64_t next_seq = debit_seq + 1;
    uint64_t bob = 30;
    if (d == DEFECT_NO_CREDIT) {
        bob = 0;
    } else {
        e = ev_leg(next_seq++, WS_EVENT_CREDIT, "bob", "alice",
                   d == DEFECT_CREDIT_PEER ? "tx-2" : "tx-1", 30,
                   d == DEFECT_BAD_BALANCE ? 31 : 30);
        store_batch_put_event(b, &e);
        if (d == DEFECT_BAD_BALANCE) {
            bob = 31;
        }
        ws_transfer_record r = ok_record("alice", "bob", 30, 70, 30, debit_seq);
        store_batch_put_transfer(b, "tx-1", 4, &r);
    }
    store_batch_put_account(b, "alice", 5, 70);
    store_batch_put_account(b, "bob", 3, d == DEFECT_STORED_BAL ? 29 : bob);
    put_meta(b, next_seq, 2, d == DEFECT_META_TOTAL ? 101 : 100);
    commit(b);
}

/* Runs verify with its report captured; returns the report and the printed text. */
static ws_status verify(store *s, store_verify_report *rep, char *text, size_t text_max) {
    FILE *out = tmpfile();
    cr_assert_not_null(out);
    ws_status status = store_verify(s, out, rep);
    rewind(out);
    size_t n = fread(text, 1, text_max - 1, out);
    text[n] = '\0';
    fclose(out);
    return status;
}

static void assert_verify_reports(defect d, const char *what) {
    write_log(d);
    store_verify_report rep;
    char text[4096];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_CORRUPT, "defect %d passed verify", d);
    cr_assert_gt(rep.problems, 0);
    cr_assert_not_null(strstr(text, what), "expected \"%s\" in:\n%s", what, text);
}

Test(store, open_creates_and_close_reopens) {
    store_close(st);
    st = NULL;
    cr_assert_eq(store_open(dir, false, &st), WS_OK);
    uint64_t seq = 99;
    cr_assert_eq(store_last_seq(st, &seq), WS_OK);
    cr_assert_eq(seq, 0);
}

Test(store, read_only_open_of_missing_dir_fails) {
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    store *s = NULL;
    cr_assert_eq(store_open(missing, true, &s), WS_UNAVAILABLE);
}

Test(store, second_writable_open_is_refused) {
    store *s = NULL;
    cr_assert_eq(store_open(dir, false, &s), WS_UNAVAILABLE, "the lock was not taken");
}

Test(store, missing_records) {
    uint64_t bal = 7;
    cr_assert_eq(store_get_balance(st, "alice", 5, &bal), WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(bal, 7, "out written on a miss");
    ws_transfer_record r;
    cr_assert_eq(store_get_transfer(st, "tx-1", 4, &r), WS_NOT_FOUND);
}

Test(store, empty_meta) {
    store_meta m;
    memset(&m, 0xAB, sizeof(m));
    cr_assert_eq(store_get_meta(st, &m), WS_OK);
    cr_assert_eq(m.next_seq, 1);
    cr_assert_eq(m.account_count, 0);
    cr_assert(m.total_money == 0);
}

static ws_status count_event(void *ctx, const ws_event *e) {
    (void)e;
    (*(size_t *)ctx)++;
    return WS_OK;
}

Test(store, empty_scans) {
    size_t n = 0;
    bool more = true;
    cr_assert_eq(store_scan_events(st, 0, 100, NULL, 0, count_event, &n, &more), WS_OK);
    cr_assert_eq(n, 0);
    cr_assert_not(more);
    more = true;
    cr_assert_eq(store_scan_events(st, 0, 100, "alice", 5, count_event, &n, &more), WS_OK);
    cr_assert_eq(n, 0);
    cr_assert_not(more);
    store_verify_report rep;
    char text[1024];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_OK, "%s", text);
    cr_assert_eq(rep.events, 0);
    cr_assert_eq(rep.problems, 0);
}

Test(store, batch_is_invisible_until_commit) {
    store_batch *b = new_batch();
    cr_assert_eq(store_batch_count(b), 0);
    store_batch_put_account(b, "alice", 5, 100);
    ws_transfer_record r = ok_record("alice", "bob", 5, 95, 5, 3);
    store_batch_put_transfer(b, "tx-1", 4, &r);
    put_meta(b, 4, 2, (ws_u128)1 << 70);
    cr_assert_eq(store_batch_count(b), 3);
    uint64_t bal;
    cr_assert_eq(store_get_balance(st, "alice", 5, &bal), WS_ACCOUNT_NOT_FOUND);

    cr_assert_eq(store_commit(st, b), WS_OK);
    cr_assert_eq(store_get_balance(st, "alice", 5, &bal), WS_OK);
    cr_assert_eq(bal, 100);
    ws_transfer_record got;
    cr_assert_eq(store_get_transfer(st, "tx-1", 4, &got), WS_OK);
    cr_assert_eq(got.status, WS_OK);
    cr_assert_eq(got.amount, 5);
    cr_assert_eq(got.from_balance, 95);
    cr_assert_eq(got.to_balance, 5);
    cr_assert_eq(got.seq, 3);
    cr_assert_eq(got.from_len, 5);
    cr_assert_eq(memcmp(got.from, "alice", 5), 0);
    cr_assert_eq(got.to_len, 3);
    cr_assert_eq(memcmp(got.to, "bob", 3), 0);
    store_meta m;
    cr_assert_eq(store_get_meta(st, &m), WS_OK);
    cr_assert_eq(m.next_seq, 4);
    cr_assert_eq(m.account_count, 2);
    cr_assert(m.total_money == (ws_u128)1 << 70, "128-bit total lost its high part");

    /* Clear empties the batch for reuse; a later put overwrites. */
    store_batch_clear(b);
    cr_assert_eq(store_batch_count(b), 0);
    store_batch_put_account(b, "alice", 5, 0);
    cr_assert_eq(store_commit(st, b), WS_OK);
    cr_assert_eq(store_get_balance(st, "alice", 5, &bal), WS_OK);
    cr_assert_eq(bal, 0);
    /* A prefix of an ID is a different account. */
    cr_assert_eq(store_get_balance(st, "alic", 4, &bal), WS_ACCOUNT_NOT_FOUND);
    store_batch_free(b);
}

Test(store, last_put_of_a_key_in_a_batch_wins) {
    /* The writer updates one account several times in a batch; only the last may stick. */
    store_batch *b = new_batch();
    store_batch_put_account(b, "alice", 5, 1);
    store_batch_put_account(b, "bob", 3, 7);
    store_batch_put_account(b, "alice", 5, 2);
    put_meta(b, 1, 0, 5);
    store_batch_put_account(b, "alice", 5, 3);
    put_meta(b, 1, 0, 6);
    commit(b);
    uint64_t bal;
    cr_assert_eq(store_get_balance(st, "alice", 5, &bal), WS_OK);
    cr_assert_eq(bal, 3);
    cr_assert_eq(store_get_balance(st, "bob", 3, &bal), WS_OK);
    cr_assert_eq(bal, 7);
    store_meta m;
    cr_assert_eq(store_get_meta(st, &m), WS_OK);
    cr_assert(m.total_money == 6);
}

Test(store, committed_data_survives_reopen) {
    write_log(DEFECT_NONE);
    store_close(st);
    st = NULL;
    cr_assert_eq(store_open(dir, false, &st), WS_OK);
    uint64_t bal;
    cr_assert_eq(store_get_balance(st, "bob", 3, &bal), WS_OK);
    cr_assert_eq(bal, 30);
    uint64_t seq;
    cr_assert_eq(store_last_seq(st, &seq), WS_OK);
    cr_assert_eq(seq, 4);
}

typedef struct {
    ws_event events[64];
    size_t n;
    size_t stop_after; /* return WS_INTERNAL from the callback after this many, 0: never */
} collected;

static ws_status collect(void *ctx, const ws_event *e) {
    collected *c = ctx;
    cr_assert_lt(c->n, 64);
    c->events[c->n++] = *e;
    return c->stop_after && c->n == c->stop_after ? WS_INTERNAL : WS_OK;
}

/* Eight accounts a0..a7 created with 10 each, then three transfers a0 -> a1, a1 -> a2,
 * a0 -> a2 of 1 each: events 1..8 created, 9..14 the legs. */
static void write_longer_log(void) {
    store_batch *b = new_batch();
    char id[3] = "a0";
    for (uint64_t i = 0; i < 8; i++) {
        id[1] = (char)('0' + i);
        ws_event e = ev_created(i + 1, id, 10);
        store_batch_put_event(b, &e);
    }
    const char *legs[3][3] = {{"a0", "a1", "t1"}, {"a1", "a2", "t2"}, {"a0", "a2", "t3"}};
    const uint64_t bal[3][2] = {{9, 11}, {10, 11}, {8, 12}};
    for (uint64_t k = 0; k < 3; k++) {
        ws_event d =
            ev_leg(9 + 2 * k, WS_EVENT_DEBIT, legs[k][0], legs[k][1], legs[k][2], 1, bal[k][0]);
        ws_event c =
            ev_leg(10 + 2 * k, WS_EVENT_CREDIT, legs[k][1], legs[k][0], legs[k][2], 1, bal[k][1]);
        store_batch_put_event(b, &d);
        store_batch_put_event(b, &c);
        ws_transfer_record r =
            ok_record(legs[k][0], legs[k][1], 1, bal[k][0], bal[k][1], 9 + 2 * k);
        store_batch_put_transfer(b, legs[k][2], 2, &r);
    }
    const uint64_t final[8] = {8, 10, 12, 10, 10, 10, 10, 10};
    for (uint64_t i = 0; i < 8; i++) {
        id[1] = (char)('0' + i);
        store_batch_put_account(b, id, 2, final[i]);
    }
    put_meta(b, 15, 8, 80);
    commit(b);
}

Test(store, last_seq) {
    write_longer_log();
    uint64_t seq = 0;
    cr_assert_eq(store_last_seq(st, &seq), WS_OK);
    cr_assert_eq(seq, 14);
    /* Keys sorting after the log ('m', 't', 'x') must not confuse it. */
    store_batch *b = new_batch();
    ws_event e = ev_created(15, "zz", 1);
    store_batch_put_event(b, &e);
    commit(b);
    cr_assert_eq(store_last_seq(st, &seq), WS_OK);
    cr_assert_eq(seq, 15);
}

Test(store, scan_all_events_in_order) {
    write_longer_log();
    collected c = {.n = 0};
    bool more = true;
    cr_assert_eq(store_scan_events(st, 0, 100, NULL, 0, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 14);
    cr_assert_not(more);
    for (size_t i = 0; i < c.n; i++) {
        cr_assert_eq(c.events[i].seq, i + 1);
        cr_assert_eq(c.events[i].timestamp_us, NOW_US + i + 1);
    }
    cr_assert_eq(c.events[8].type, WS_EVENT_DEBIT);
    cr_assert_eq(c.events[8].balance, 9);
    cr_assert_eq(memcmp(c.events[8].transaction, "t1", 2), 0);
    cr_assert_eq(c.events[9].type, WS_EVENT_CREDIT);
    cr_assert_eq(memcmp(c.events[9].account, "a1", 2), 0);
}

Test(store, scan_after_limit_more) {
    write_longer_log();
    collected c = {.n = 0};
    bool more = false;
    /* A page in the middle: more, since events follow. */
    cr_assert_eq(store_scan_events(st, 3, 5, NULL, 0, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 5);
    cr_assert_eq(c.events[0].seq, 4);
    cr_assert_eq(c.events[4].seq, 8);
    cr_assert(more);
    /* A page ending exactly at the last event: no more. */
    c.n = 0;
    cr_assert_eq(store_scan_events(st, 9, 5, NULL, 0, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 5);
    cr_assert_eq(c.events[0].seq, 10);
    cr_assert_eq(c.events[4].seq, 14);
    cr_assert_not(more, "more set although the page ends at the newest event");
    /* One short of the end: more. */
    c.n = 0;
    cr_assert_eq(store_scan_events(st, 8, 5, NULL, 0, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 5);
    cr_assert(more);
    /* Past the end, and at the largest cursor. */
    c.n = 0;
    more = true;
    cr_assert_eq(store_scan_events(st, 14, 5, NULL, 0, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 0);
    cr_assert_not(more);
    more = true;
    cr_assert_eq(store_scan_events(st, UINT64_MAX, 5, NULL, 0, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 0);
    cr_assert_not(more);
    /* limit 0: nothing given, but more tells whether anything is there. */
    cr_assert_eq(store_scan_events(st, 0, 0, NULL, 0, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 0);
    cr_assert(more);
}

Test(store, scan_stops_on_callback_status) {
    write_longer_log();
    collected c = {.n = 0, .stop_after = 3};
    bool more = false;
    cr_assert_eq(store_scan_events(st, 0, 100, NULL, 0, collect, &c, &more), WS_INTERNAL);
    cr_assert_eq(c.n, 3);
}

Test(store, scan_per_account) {
    write_longer_log();
    collected c = {.n = 0};
    bool more = true;
    /* a2: created (3), Credit from a1 (12), Credit from a0 (14). */
    cr_assert_eq(store_scan_events(st, 0, 100, "a2", 2, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 3);
    cr_assert_not(more);
    const uint64_t want[3] = {3, 12, 14};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(c.events[i].seq, want[i]);
        cr_assert_eq(c.events[i].account_len, 2);
        cr_assert_eq(memcmp(c.events[i].account, "a2", 2), 0);
    }
    cr_assert_eq(c.events[2].balance, 12);
    /* Paging through one account's events. */
    c.n = 0;
    cr_assert_eq(store_scan_events(st, 0, 2, "a0", 2, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.events[0].seq, 1);
    cr_assert_eq(c.events[1].seq, 9);
    cr_assert(more);
    c.n = 0;
    cr_assert_eq(store_scan_events(st, 9, 2, "a0", 2, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.events[0].seq, 13);
    cr_assert_not(more);
    /* An account with only its creation, and one that does not exist. */
    c.n = 0;
    cr_assert_eq(store_scan_events(st, 0, 100, "a7", 2, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.events[0].seq, 8);
    c.n = 0;
    more = true;
    cr_assert_eq(store_scan_events(st, 0, 100, "a", 1, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 0, "a prefix of an ID matched its events");
    cr_assert_not(more);
    cr_assert_eq(store_scan_events(st, UINT64_MAX, 100, "a0", 2, collect, &c, &more), WS_OK);
    cr_assert_eq(c.n, 0);
}

typedef struct {
    char ids[16][8];
    uint64_t balances[16];
    size_t n;
} account_list;

static ws_status list_account(void *ctx, const char *id, size_t len, uint64_t balance) {
    account_list *l = ctx;
    cr_assert_lt(l->n, 16);
    cr_assert_lt(len, 8);
    memcpy(l->ids[l->n], id, len);
    l->ids[l->n][len] = '\0';
    l->balances[l->n++] = balance;
    return WS_OK;
}

Test(store, scan_accounts_in_key_order) {
    write_longer_log();
    account_list l = {.n = 0};
    cr_assert_eq(store_scan_accounts(st, list_account, &l), WS_OK);
    cr_assert_eq(l.n, 8);
    cr_assert_str_eq(l.ids[0], "a0");
    cr_assert_str_eq(l.ids[7], "a7");
    cr_assert_eq(l.balances[0], 8);
    cr_assert_eq(l.balances[2], 12);
}

Test(store, read_only_open_beside_writer) {
    write_log(DEFECT_NONE);
    cr_assert_eq(store_open(dir, true, &st_ro), WS_OK, "read-only open beside the writer");
    uint64_t bal;
    cr_assert_eq(store_get_balance(st_ro, "alice", 5, &bal), WS_OK);
    cr_assert_eq(bal, 70);
    uint64_t seq;
    cr_assert_eq(store_last_seq(st_ro, &seq), WS_OK);
    cr_assert_eq(seq, 4);
    store_verify_report rep;
    char text[1024];
    cr_assert_eq(verify(st_ro, &rep, text, sizeof(text)), WS_OK, "%s", text);
    cr_assert_eq(rep.events, 4);
    /* The writer keeps working while the reader is open. */
    store_batch *b = new_batch();
    store_batch_put_account(b, "carol", 5, 0);
    commit(b);
}

Test(store, verify_accepts_consistent_log) {
    write_log(DEFECT_NONE);
    store_verify_report rep;
    char text[4096];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_OK, "%s", text);
    cr_assert_eq(rep.events, 4);
    cr_assert_eq(rep.accounts, 2);
    cr_assert_eq(rep.transfers, 1);
    cr_assert_eq(rep.problems, 0);
    cr_assert_not_null(strstr(text, "0 problems"), "%s", text);
}

Test(store, verify_accepts_longer_log) {
    write_longer_log();
    store_verify_report rep;
    char text[4096];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_OK, "%s", text);
    cr_assert_eq(rep.events, 14);
    cr_assert_eq(rep.accounts, 8);
    cr_assert_eq(rep.transfers, 3);
}

Test(store, verify_detects_missing_credit) {
    assert_verify_reports(DEFECT_NO_CREDIT, "Debit without its Credit");
}

Test(store, verify_detects_seq_gap) { assert_verify_reports(DEFECT_SEQ_GAP, "gap or disorder"); }

Test(store, verify_detects_event_balance) {
    assert_verify_reports(DEFECT_BAD_BALANCE, "event balance differs from the replayed balance");
}

Test(store, verify_detects_meta_total) {
    assert_verify_reports(DEFECT_META_TOTAL, "total money in meta differs");
}

Test(store, verify_detects_stored_balance) {
    assert_verify_reports(DEFECT_STORED_BAL, "stored balance differs from the replay");
}

Test(store, verify_detects_credit_of_another_transaction) {
    assert_verify_reports(DEFECT_CREDIT_PEER, "Credit does not match the Debit");
}

Test(store, verify_detects_meta_next_seq_and_count) {
    write_log(DEFECT_NONE);
    store_batch *b = new_batch();
    put_meta(b, 9, 3, 100);
    commit(b);
    store_verify_report rep;
    char text[4096];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_CORRUPT);
    cr_assert_geq(rep.problems, 2);
    cr_assert_not_null(strstr(text, "meta next_seq differs"), "%s", text);
    cr_assert_not_null(strstr(text, "account count differs"), "%s", text);
}

Test(store, verify_detects_record_without_debit) {
    write_log(DEFECT_NONE);
    store_batch *b = new_batch();
    ws_transfer_record r = ok_record("alice", "bob", 5, 65, 35, 99);
    store_batch_put_transfer(b, "tx-9", 4, &r);
    commit(b);
    store_verify_report rep;
    char text[4096];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_CORRUPT);
    cr_assert_not_null(strstr(text, "idempotency record does not match its Debit"), "%s", text);
}

/* A replay answers from the idempotency record alone, so verify checks every field it
 * would return against the Debit and the Credit. */
static void assert_record_field_checked(ws_transfer_record r) {
    write_log(DEFECT_NONE);
    store_batch *b = new_batch();
    store_batch_put_transfer(b, "tx-1", 4, &r);
    commit(b);
    store_verify_report rep;
    char text[4096];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_CORRUPT, "%s", text);
    cr_assert_not_null(strstr(text, "idempotency record does not match its Debit and Credit"), "%s",
                       text);
}

Test(store, verify_detects_record_fields_that_differ_from_the_log) {
    assert_record_field_checked(ok_record("alice", "bob", 30, 70, 31, 3)); /* to_balance */
    teardown();
    setup();
    assert_record_field_checked(ok_record("alice", "bob", 30, 71, 30, 3)); /* from_balance */
    teardown();
    setup();
    assert_record_field_checked(ok_record("alice", "carol", 30, 70, 30, 3)); /* to */
}

Test(store, verify_accepts_rejected_record) {
    /* A rejection's record points at no event; verify must not count it as a transfer. */
    write_log(DEFECT_NONE);
    store_batch *b = new_batch();
    ws_transfer_record r = ok_record("alice", "bob", 500, 0, 0, 0);
    r.status = WS_INSUFFICIENT_FUNDS;
    store_batch_put_transfer(b, "tx-2", 4, &r);
    commit(b);
    store_verify_report rep;
    char text[4096];
    cr_assert_eq(verify(st, &rep, text, sizeof(text)), WS_OK, "%s", text);
    cr_assert_eq(rep.transfers, 1);
}
