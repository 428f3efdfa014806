/* Unit tests for engine/sm: the writer's VALIDATE/APPLY state machine, on a real RocksDB
 * store in a fresh temporary directory per test. Commands are built by hand and fed in
 * batches the way the writer thread would; the tests check each command's result, what
 * reached the store (balances, events, idempotency records), that a batch's commands see
 * each other's effects, that a retried transferID replays instead of applying twice, that
 * a reopened machine carries on where it stopped, and that it refuses tampered data. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sm.h"
#include "testutil.h"

#define NOW_US 1700000000000000u
#define BATCH_MAX 512
#define DIR_TEMPLATE "/tmp/ws_sm_test_XXXXXX"

static char dir[sizeof(DIR_TEMPLATE)];
static store *st;
static sm *m;

static void setup(void) {
    tmpdir_make(dir, DIR_TEMPLATE, sizeof(DIR_TEMPLATE));
    cr_assert_eq(store_open(dir, false, &st), WS_OK);
    cr_assert_eq(sm_open(st, BATCH_MAX, &m), WS_OK);
}

static void teardown(void) {
    sm_free(m);
    store_close(st);
    m = NULL;
    st = NULL;
    tmpdir_remove(dir);
}

TestSuite(sm, .init = setup, .fini = teardown, .timeout = 60);

/* Closes everything and opens the same directory again, as a restart would. */
static ws_status reopen(void) {
    sm_free(m);
    store_close(st);
    m = NULL;
    st = NULL;
    cr_assert_eq(store_open(dir, false, &st), WS_OK);
    return sm_open(st, BATCH_MAX, &m);
}

static void set_id(char *dst, uint8_t *len, const char *src) {
    size_t n = strlen(src);
    cr_assert(n >= 1 && n <= WS_ID_LEN_MAX);
    *len = (uint8_t)n;
    memcpy(dst, src, n);
}

static ws_command create(const char *id, uint64_t amount) {
    ws_command c;
    memset(&c, 0, sizeof(c));
    c.kind = WS_CMD_CREATE_ACCOUNT;
    c.amount = amount;
    set_id(c.account, &c.account_len, id);
    return c;
}

/* A transfer; tid is the client's transferID if given, else the generated transactionID. */
static ws_command transfer(const char *from, const char *to, uint64_t amount, const char *tid,
                           bool given) {
    ws_command c;
    memset(&c, 0, sizeof(c));
    c.kind = WS_CMD_TRANSFER;
    c.amount = amount;
    set_id(c.account, &c.account_len, from);
    set_id(c.to, &c.to_len, to);
    set_id(c.transfer_id, &c.transfer_id_len, tid);
    c.transfer_id_given = given;
    return c;
}

/* VALIDATE then, if anything was staged, APPLY, which must succeed. Returns sm_validate's
 * answer. */
static bool run(ws_command *cmds, size_t n) {
    cr_assert(n >= 1 && n <= BATCH_MAX);
    ws_command *ptrs[BATCH_MAX];
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = &cmds[i];
    }
    bool staged = sm_validate(m, ptrs, n, NOW_US);
    cr_assert_eq(sm_apply(m, ptrs, n), WS_OK);
    return staged;
}

static uint64_t balance(const char *id) {
    uint64_t b = UINT64_MAX;
    cr_assert_eq(store_get_balance(st, id, strlen(id), &b), WS_OK, "balance of %s", id);
    return b;
}

static uint64_t last_seq(void) {
    uint64_t seq = UINT64_MAX;
    cr_assert_eq(store_last_seq(st, &seq), WS_OK);
    return seq;
}

static void assert_verify_ok(void) {
    FILE *out = fopen("/dev/null", "w");
    cr_assert_not_null(out);
    store_verify_report rep;
    ws_status s = store_verify(st, out, &rep);
    fclose(out);
    cr_assert_eq(s, WS_OK, "verify found %llu problems", (unsigned long long)rep.problems);
    cr_assert_eq(rep.problems, 0);
}

/* Creates accounts one batch each, checking each succeeds. */
static void setup_accounts(const char *a, uint64_t a_amount, const char *b, uint64_t b_amount) {
    ws_command c[2] = {create(a, a_amount), create(b, b_amount)};
    cr_assert(run(c, 2));
    cr_assert_eq(c[0].status, WS_CREATED);
    cr_assert_eq(c[1].status, WS_CREATED);
}

Test(sm, empty_store) {
    cr_assert_eq(sm_account_count(m), 0);
    cr_assert(sm_total_money(m) == 0);
    cr_assert_not(sm_read_only(m));
}

Test(sm, create_and_duplicate_in_same_batch) {
    ws_command c[3] = {create("alice", 100), create("alice", 5), create("bob", 0)};
    cr_assert(run(c, 3));
    cr_assert_eq(c[0].status, WS_CREATED);
    cr_assert_eq(c[0].from_balance, 100);
    cr_assert_eq(c[1].status, WS_ACCOUNT_EXISTS);
    cr_assert_eq(c[2].status, WS_CREATED);
    cr_assert_eq(c[2].from_balance, 0);
    cr_assert_eq(balance("alice"), 100, "the duplicate overwrote the first create");
    cr_assert_eq(balance("bob"), 0);
    cr_assert_eq(sm_account_count(m), 2);
    cr_assert(sm_total_money(m) == 100);
    cr_assert_eq(last_seq(), 2, "the refused create wrote an event");
    store_meta meta;
    cr_assert_eq(store_get_meta(st, &meta), WS_OK);
    cr_assert_eq(meta.next_seq, 3);
    cr_assert_eq(meta.account_count, 2);
    cr_assert(meta.total_money == 100);

    /* In a later batch the duplicate is refused too, and stages nothing. */
    ws_command again = create("bob", 7);
    cr_assert_not(run(&again, 1));
    cr_assert_eq(again.status, WS_ACCOUNT_EXISTS);
    cr_assert_eq(balance("bob"), 0);
    assert_verify_ok();
}

Test(sm, batch_sees_its_own_effects) {
    ws_command c[5] = {
        create("A", 100),
        create("B", 0),
        transfer("A", "B", 60, "g-1", false),
        transfer("B", "A", 10, "g-2", false),
        transfer("A", "B", 60, "g-3", false), /* A has 50 by now */
    };
    ws_command *ptrs[5];
    for (size_t i = 0; i < 5; i++) {
        ptrs[i] = &c[i];
    }
    cr_assert(sm_validate(m, ptrs, 5, NOW_US));
    cr_assert_eq(c[0].status, WS_CREATED);
    cr_assert_eq(c[1].status, WS_CREATED);
    cr_assert_eq(c[2].status, WS_OK);
    cr_assert_eq(c[2].from_balance, 40);
    cr_assert_eq(c[2].to_balance, 60);
    cr_assert_eq(c[3].status, WS_OK);
    cr_assert_eq(c[3].from_balance, 50); /* B */
    cr_assert_eq(c[3].to_balance, 50);   /* A */
    cr_assert_eq(c[4].status, WS_INSUFFICIENT_FUNDS);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_not(c[i].replayed);
    }
    /* Nothing is on disk before APPLY. */
    uint64_t b;
    cr_assert_eq(store_get_balance(st, "A", 1, &b), WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(last_seq(), 0);

    cr_assert_eq(sm_apply(m, ptrs, 5), WS_OK);
    cr_assert_eq(balance("A"), 50);
    cr_assert_eq(balance("B"), 50);
    cr_assert_eq(last_seq(), 6);
    cr_assert(sm_total_money(m) == 100);
    /* Generated transactionIDs get records too (the log's transfers need them to verify). */
    ws_transfer_record r;
    cr_assert_eq(store_get_transfer(st, "g-1", 3, &r), WS_OK);
    cr_assert_eq(r.status, WS_OK);
    cr_assert_eq(r.seq, 3);
    cr_assert_eq(store_get_transfer(st, "g-3", 3, &r), WS_NOT_FOUND,
                 "a rejection without a client transferID left a record");
    assert_verify_ok();
}

Test(sm, same_account) {
    setup_accounts("A", 100, "B", 0);
    ws_command c = transfer("A", "A", 10, "g-1", false);
    cr_assert_not(run(&c, 1));
    cr_assert_eq(c.status, WS_SAME_ACCOUNT);
    cr_assert_eq(c.missing_side, 0);
    /* Same account is checked first, even when the account does not exist. */
    c = transfer("Z", "Z", 10, "g-2", false);
    cr_assert_not(run(&c, 1));
    cr_assert_eq(c.status, WS_SAME_ACCOUNT);
    cr_assert_eq(balance("A"), 100);
    cr_assert_eq(last_seq(), 2);
}

Test(sm, account_not_found_sides) {
    setup_accounts("A", 100, "B", 0);
    ws_command c[4] = {
        transfer("X", "B", 10, "g-1", false), transfer("A", "X", 10, "g-2", false),
        transfer("X", "Y", 10, "g-3", false),
        transfer("A", "AB", 10, "g-4", false), /* "A" + "B" is not an account */
    };
    cr_assert_not(run(c, 4));
    const uint8_t side[4] = {1, 2, 1, 2};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(c[i].status, WS_ACCOUNT_NOT_FOUND, "command %zu", i);
        cr_assert_eq(c[i].missing_side, side[i], "command %zu", i);
    }
    cr_assert_eq(balance("A"), 100);
    cr_assert_eq(last_seq(), 2);
}

Test(sm, balance_overflow_at_max) {
    setup_accounts("A", WS_AMOUNT_MAX, "B", 1);
    cr_assert(sm_total_money(m) == (ws_u128)WS_AMOUNT_MAX + 1);
    ws_command c[4] = {
        transfer("B", "A", 1, "g-1", false),                 /* A would pass 2^63-1 */
        transfer("A", "B", WS_AMOUNT_MAX - 1, "g-2", false), /* B reaches exactly the max */
        transfer("A", "B", 1, "g-3", false),                 /* now B would pass it */
        transfer("B", "A", WS_AMOUNT_MAX - 1, "g-4", false), /* back to the start */
    };
    cr_assert(run(c, 4));
    cr_assert_eq(c[0].status, WS_BALANCE_OVERFLOW);
    cr_assert_eq(c[1].status, WS_OK);
    cr_assert_eq(c[1].from_balance, 1);
    cr_assert_eq(c[1].to_balance, WS_AMOUNT_MAX);
    cr_assert_eq(c[2].status, WS_BALANCE_OVERFLOW);
    cr_assert_eq(c[3].status, WS_OK);
    cr_assert_eq(c[3].from_balance, 1);
    cr_assert_eq(c[3].to_balance, WS_AMOUNT_MAX);
    cr_assert_eq(balance("A"), WS_AMOUNT_MAX);
    cr_assert_eq(balance("B"), 1);
    assert_verify_ok();
}

Test(sm, totals_past_64_bits) {
    ws_command c[3] = {create("A", WS_AMOUNT_MAX), create("B", WS_AMOUNT_MAX),
                       create("C", WS_AMOUNT_MAX)};
    cr_assert(run(c, 3));
    ws_u128 want = (ws_u128)WS_AMOUNT_MAX * 3;
    cr_assert(sm_total_money(m) == want);
    cr_assert_eq(reopen(), WS_OK);
    cr_assert(sm_total_money(m) == want, "the 128-bit total did not survive a restart");
    cr_assert_eq(sm_account_count(m), 3);
    assert_verify_ok();
}

Test(sm, retry_in_same_batch_applies_once) {
    setup_accounts("A", 100, "B", 0);
    ws_command c[3] = {
        transfer("A", "B", 30, "client-1", true),
        transfer("A", "B", 30, "client-1", true),
        transfer("A", "B", 30, "client-1", true),
    };
    cr_assert(run(c, 3));
    cr_assert_eq(c[0].status, WS_OK);
    cr_assert_not(c[0].replayed);
    cr_assert_eq(c[0].from_balance, 70);
    cr_assert_eq(c[0].to_balance, 30);
    for (size_t i = 1; i < 3; i++) {
        cr_assert_eq(c[i].status, WS_OK);
        cr_assert(c[i].replayed, "retry %zu not marked replayed", i);
        cr_assert_eq(c[i].from_balance, 70);
        cr_assert_eq(c[i].to_balance, 30);
    }
    cr_assert_eq(balance("A"), 70, "the retry was applied again");
    cr_assert_eq(balance("B"), 30);
    cr_assert_eq(last_seq(), 4, "one Debit and one Credit expected");

    /* A retry in a later batch replays from the stored record and stages nothing. */
    ws_command again = transfer("A", "B", 30, "client-1", true);
    cr_assert_not(run(&again, 1));
    cr_assert_eq(again.status, WS_OK);
    cr_assert(again.replayed);
    cr_assert_eq(again.from_balance, 70);
    cr_assert_eq(again.to_balance, 30);
    cr_assert_eq(balance("A"), 70);
    cr_assert_eq(last_seq(), 4);
    assert_verify_ok();
}

Test(sm, transfer_id_conflict) {
    setup_accounts("A", 100, "B", 0);
    ws_command c[4] = {
        transfer("A", "B", 30, "client-1", true),
        transfer("A", "B", 31, "client-1", true), /* another amount */
        transfer("B", "A", 30, "client-1", true), /* other direction */
        transfer("A", "C", 30, "client-1", true), /* another destination */
    };
    cr_assert(run(c, 4));
    cr_assert_eq(c[0].status, WS_OK);
    for (size_t i = 1; i < 4; i++) {
        cr_assert_eq(c[i].status, WS_TRANSFER_ID_CONFLICT, "command %zu", i);
        cr_assert_not(c[i].replayed);
    }
    cr_assert_eq(balance("A"), 70);
    /* In a later batch, against the stored record. */
    ws_command later = transfer("A", "B", 29, "client-1", true);
    cr_assert_not(run(&later, 1));
    cr_assert_eq(later.status, WS_TRANSFER_ID_CONFLICT);
    cr_assert_not(later.replayed);
    cr_assert_eq(balance("A"), 70);
    cr_assert_eq(balance("B"), 30);
    assert_verify_ok();
}

Test(sm, rejected_transfer_with_client_id_is_recorded) {
    setup_accounts("A", 10, "B", 0);
    ws_command c[2] = {transfer("A", "B", 50, "client-1", true),
                       transfer("A", "Q", 5, "client-2", true)};
    cr_assert(run(c, 2), "the rejections' records were not staged");
    cr_assert_eq(c[0].status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(c[1].status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(c[1].missing_side, 2);
    cr_assert_eq(last_seq(), 2, "a rejection wrote an event");
    ws_transfer_record r;
    cr_assert_eq(store_get_transfer(st, "client-1", 8, &r), WS_OK);
    cr_assert_eq(r.status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(r.seq, 0);
    cr_assert_eq(r.amount, 50);

    /* The money arrives, then both are retried: the rejections are replayed. */
    ws_command more[3] = {
        create("C", 100),
        transfer("C", "A", 100, "g-1", false),
        create("Q", 0),
    };
    cr_assert(run(more, 3));
    cr_assert_eq(more[1].status, WS_OK);
    cr_assert_eq(more[1].to_balance, 110);
    ws_command retry[2] = {transfer("A", "B", 50, "client-1", true),
                           transfer("A", "Q", 5, "client-2", true)};
    cr_assert_not(run(retry, 2));
    cr_assert_eq(retry[0].status, WS_INSUFFICIENT_FUNDS);
    cr_assert(retry[0].replayed);
    cr_assert_eq(retry[1].status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(retry[1].missing_side, 2);
    cr_assert(retry[1].replayed);
    cr_assert_eq(balance("A"), 110);
    cr_assert_eq(balance("B"), 0);
    /* A fresh transferID with the same parameters now succeeds. */
    ws_command fresh = transfer("A", "B", 50, "client-3", true);
    cr_assert(run(&fresh, 1));
    cr_assert_eq(fresh.status, WS_OK);
    cr_assert_eq(balance("A"), 60);
    assert_verify_ok();
}

Test(sm, rejected_retry_in_same_batch_replays_rejection) {
    setup_accounts("A", 10, "B", 0);
    ws_command c[2] = {transfer("X", "B", 5, "client-1", true),
                       transfer("X", "B", 5, "client-1", true)};
    cr_assert(run(c, 2));
    cr_assert_eq(c[1].status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(c[1].missing_side, 1);
    cr_assert(c[1].replayed);
}

Test(sm, rejections_without_client_id_stage_nothing) {
    setup_accounts("A", 10, "B", 0);
    store_meta before;
    cr_assert_eq(store_get_meta(st, &before), WS_OK);
    ws_command c[4] = {
        transfer("A", "B", 50, "g-1", false),
        transfer("A", "A", 5, "g-2", false),
        transfer("A", "X", 5, "g-3", false),
        create("A", 1),
    };
    cr_assert_not(run(c, 4), "a batch of plain rejections staged something");
    cr_assert_eq(c[0].status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(c[1].status, WS_SAME_ACCOUNT);
    cr_assert_eq(c[2].status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(c[3].status, WS_ACCOUNT_EXISTS);
    ws_transfer_record r;
    for (int i = 1; i <= 3; i++) {
        char id[4] = {'g', '-', (char)('0' + i), 0};
        cr_assert_eq(store_get_transfer(st, id, 3, &r), WS_NOT_FOUND);
    }
    store_meta after;
    cr_assert_eq(store_get_meta(st, &after), WS_OK);
    cr_assert_eq(after.next_seq, before.next_seq);
    cr_assert_eq(last_seq(), 2);
}

Test(sm, replays_only_stage_nothing) {
    setup_accounts("A", 10, "B", 0);
    ws_command first = transfer("A", "B", 5, "client-1", true);
    cr_assert(run(&first, 1));
    ws_command c[2] = {transfer("A", "B", 5, "client-1", true),
                       transfer("A", "B", 6, "client-1", true)};
    cr_assert_not(run(c, 2));
    cr_assert(c[0].replayed);
    cr_assert_eq(c[1].status, WS_TRANSFER_ID_CONFLICT);
    cr_assert_eq(balance("A"), 5);
}

Test(sm, many_transfer_ids_in_one_batch) {
    /* 200 distinct client IDs, each sent twice in the same batch, in an interleaving that
     * makes the per-batch ID table probe. Then the same again in a second batch, which
     * must see a cleared table and the stored records. */
    enum { IDS = 200 };
    setup_accounts("A", 1000000, "B", 0);
    static ws_command c[2 * IDS];
    char tid[32];
    for (size_t i = 0; i < IDS; i++) {
        snprintf(tid, sizeof(tid), "id-%zu", i);
        c[i] = transfer("A", "B", i + 1, tid, true);
        c[2 * IDS - 1 - i] = transfer("A", "B", i + 1, tid, true);
    }
    cr_assert(run(c, 2 * IDS));
    uint64_t sum = 0;
    for (size_t i = 0; i < IDS; i++) {
        cr_assert_eq(c[i].status, WS_OK, "id %zu", i);
        cr_assert_not(c[i].replayed, "id %zu", i);
        const ws_command *r = &c[2 * IDS - 1 - i];
        cr_assert_eq(r->status, WS_OK, "retry of id %zu", i);
        cr_assert(r->replayed, "retry of id %zu", i);
        cr_assert_eq(r->from_balance, c[i].from_balance);
        cr_assert_eq(r->to_balance, c[i].to_balance);
        sum += i + 1;
    }
    cr_assert_eq(balance("B"), sum);
    cr_assert_eq(last_seq(), 2 + 2 * IDS);
    for (size_t i = 0; i < 2 * IDS; i++) {
        snprintf(tid, sizeof(tid), "id-%zu", i % IDS);
        c[i] = transfer("A", "B", i % IDS + 1, tid, true);
    }
    cr_assert_not(run(c, 2 * IDS));
    for (size_t i = 0; i < 2 * IDS; i++) {
        cr_assert(c[i].replayed, "command %zu", i);
    }
    cr_assert_eq(balance("B"), sum);
    assert_verify_ok();
}

Test(sm, state_reloads_after_reopen) {
    setup_accounts("A", 100, "B", 0);
    ws_command t[2] = {transfer("A", "B", 60, "client-1", true),
                       transfer("A", "B", 90, "client-2", true)};
    cr_assert(run(t, 2));
    cr_assert_eq(t[0].status, WS_OK);
    cr_assert_eq(t[1].status, WS_INSUFFICIENT_FUNDS);

    cr_assert_eq(reopen(), WS_OK);
    cr_assert_eq(sm_account_count(m), 2);
    cr_assert(sm_total_money(m) == 100);
    /* Balances were reloaded: A has exactly 40. */
    ws_command probe[2] = {transfer("A", "B", 41, "g-1", false),
                           transfer("A", "B", 40, "g-2", false)};
    cr_assert(run(probe, 2));
    cr_assert_eq(probe[0].status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(probe[1].status, WS_OK);
    cr_assert_eq(probe[1].from_balance, 0);
    cr_assert_eq(probe[1].to_balance, 100);
    /* Old transferIDs replay their original outcomes. */
    ws_command retry[2] = {transfer("A", "B", 60, "client-1", true),
                           transfer("A", "B", 90, "client-2", true)};
    cr_assert_not(run(retry, 2));
    cr_assert_eq(retry[0].status, WS_OK);
    cr_assert(retry[0].replayed);
    cr_assert_eq(retry[0].from_balance, 40);
    cr_assert_eq(retry[0].to_balance, 60);
    cr_assert_eq(retry[1].status, WS_INSUFFICIENT_FUNDS);
    cr_assert(retry[1].replayed);
    /* The sequence continues after the reloaded one. */
    cr_assert_eq(last_seq(), 6);
    ws_command dup = create("A", 1);
    cr_assert_not(run(&dup, 1));
    cr_assert_eq(dup.status, WS_ACCOUNT_EXISTS, "reloaded accounts are not known");
    assert_verify_ok();
}

typedef struct {
    ws_event events[32];
    size_t n;
} collected;

static ws_status collect(void *ctx, const ws_event *e) {
    collected *c = ctx;
    cr_assert_lt(c->n, 32);
    c->events[c->n++] = *e;
    return WS_OK;
}

static void assert_event(const ws_event *e, uint64_t seq, ws_event_type type, const char *acct,
                         uint64_t amount, uint64_t bal, const char *tx, const char *peer) {
    cr_assert_eq(e->seq, seq);
    cr_assert_eq(e->type, type, "seq %llu", (unsigned long long)seq);
    cr_assert_eq(e->account_len, strlen(acct), "seq %llu", (unsigned long long)seq);
    cr_assert_eq(memcmp(e->account, acct, e->account_len), 0, "seq %llu", (unsigned long long)seq);
    cr_assert_eq(e->amount, amount, "seq %llu", (unsigned long long)seq);
    cr_assert_eq(e->balance, bal, "seq %llu", (unsigned long long)seq);
    cr_assert_eq(e->timestamp_us, NOW_US);
    cr_assert_eq(e->transaction_len, strlen(tx), "seq %llu", (unsigned long long)seq);
    cr_assert_eq(memcmp(e->transaction, tx, e->transaction_len), 0);
    cr_assert_eq(e->counterparty_len, strlen(peer), "seq %llu", (unsigned long long)seq);
    cr_assert_eq(memcmp(e->counterparty, peer, e->counterparty_len), 0);
}

Test(sm, events_written) {
    ws_command c[5] = {
        create("A", 100),
        create("B", 0),
        transfer("A", "B", 60, "client-1", true),
        transfer("B", "A", 10, "g-1", false),
        transfer("A", "B", 60, "g-2", false), /* rejected: no events */
    };
    cr_assert(run(c, 5));
    ws_command d = transfer("B", "A", 1, "g-3", false);
    cr_assert(run(&d, 1));

    collected all = {.n = 0};
    bool more = true;
    cr_assert_eq(store_scan_events(st, 0, 100, NULL, 0, collect, &all, &more), WS_OK);
    cr_assert_not(more);
    cr_assert_eq(all.n, 8);
    for (size_t i = 0; i < all.n; i++) {
        cr_assert_eq(all.events[i].seq, i + 1, "the log has a gap");
    }
    assert_event(&all.events[0], 1, WS_EVENT_ACCOUNT_CREATED, "A", 100, 100, "", "");
    assert_event(&all.events[1], 2, WS_EVENT_ACCOUNT_CREATED, "B", 0, 0, "", "");
    assert_event(&all.events[2], 3, WS_EVENT_DEBIT, "A", 60, 40, "client-1", "B");
    assert_event(&all.events[3], 4, WS_EVENT_CREDIT, "B", 60, 60, "client-1", "A");
    assert_event(&all.events[4], 5, WS_EVENT_DEBIT, "B", 10, 50, "g-1", "A");
    assert_event(&all.events[5], 6, WS_EVENT_CREDIT, "A", 10, 50, "g-1", "B");
    assert_event(&all.events[6], 7, WS_EVENT_DEBIT, "B", 1, 49, "g-3", "A");
    assert_event(&all.events[7], 8, WS_EVENT_CREDIT, "A", 1, 51, "g-3", "B");

    /* The per-account index names exactly A's events. */
    collected a = {.n = 0};
    cr_assert_eq(store_scan_events(st, 0, 100, "A", 1, collect, &a, &more), WS_OK);
    cr_assert_eq(a.n, 4);
    const uint64_t want[4] = {1, 3, 6, 8};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(a.events[i].seq, want[i]);
    }
    /* The idempotency record points at the Debit. */
    ws_transfer_record r;
    cr_assert_eq(store_get_transfer(st, "client-1", 8, &r), WS_OK);
    cr_assert_eq(r.seq, 3);
    cr_assert_eq(r.from_balance, 40);
    cr_assert_eq(r.to_balance, 60);
    store_meta meta;
    cr_assert_eq(store_get_meta(st, &meta), WS_OK);
    cr_assert_eq(meta.next_seq, 9);
    assert_verify_ok();
}

Test(sm, rejection_does_not_record_stale_result_fields) {
    /* The result fields belong to the writer. A command whose result fields still hold
     * values (a reused struct) must not get them written into its idempotency record: a
     * rejection's record has balances 0, and a retry must replay exactly that. */
    setup_accounts("A", 10, "B", 0);
    ws_command c = transfer("A", "B", 50, "client-1", true);
    c.from_balance = 1234;
    c.to_balance = 5678;
    cr_assert(run(&c, 1));
    cr_assert_eq(c.status, WS_INSUFFICIENT_FUNDS);
    ws_transfer_record r;
    cr_assert_eq(store_get_transfer(st, "client-1", 8, &r), WS_OK);
    cr_assert_eq(r.from_balance, 0, "stale from_balance %llu recorded",
                 (unsigned long long)r.from_balance);
    cr_assert_eq(r.to_balance, 0, "stale to_balance %llu recorded",
                 (unsigned long long)r.to_balance);
}

/* Opens a store whose data was changed behind the machine's back. */
static void assert_open_refused(void) {
    sm_free(m);
    m = NULL;
    cr_assert_eq(sm_open(st, BATCH_MAX, &m), WS_CORRUPT, "sm_open accepted tampered data");
    cr_assert_null(m);
    FILE *out = fopen("/dev/null", "w");
    cr_assert_not_null(out);
    store_verify_report rep;
    cr_assert_eq(store_verify(st, out, &rep), WS_CORRUPT);
    fclose(out);
    cr_assert_gt(rep.problems, 0);
}

static void workload(void) {
    setup_accounts("A", 100, "B", 0);
    ws_command t = transfer("A", "B", 60, "g-1", false);
    cr_assert(run(&t, 1));
    assert_verify_ok();
}

Test(sm, open_refuses_tampered_balance) {
    workload();
    store_batch *b = store_batch_new();
    cr_assert_not_null(b);
    store_batch_put_account(b, "A", 1, 1000);
    cr_assert_eq(store_commit(st, b), WS_OK);
    store_batch_free(b);
    assert_open_refused();
}

Test(sm, open_refuses_account_without_meta) {
    workload();
    store_batch *b = store_batch_new();
    cr_assert_not_null(b);
    store_batch_put_account(b, "C", 1, 0); /* adds no money, but one account too many */
    cr_assert_eq(store_commit(st, b), WS_OK);
    store_batch_free(b);
    assert_open_refused();
}

Test(sm, open_refuses_meta_seq_mismatch) {
    workload();
    store_batch *b = store_batch_new();
    cr_assert_not_null(b);
    store_meta meta;
    cr_assert_eq(store_get_meta(st, &meta), WS_OK);
    meta.next_seq++;
    store_batch_put_meta(b, &meta);
    cr_assert_eq(store_commit(st, b), WS_OK);
    store_batch_free(b);
    assert_open_refused();
}
