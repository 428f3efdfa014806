/* Unit tests for engine/sm: the writer's VALIDATE/APPLY state machine, on a real store in a
 * fresh temporary directory per test. Commands are built by hand, put in groups (one command
 * a group for single requests, several for a batch request) and fed in batches of groups the
 * way the writer thread would. The tests check each command's result; what reached the log (the
 * records, read back with store_read_record, and the events); that nothing is in the log or
 * visible to readers (ws_accounts_read) before APPLY; that a batch's commands see each
 * other's effects; that a retried transferID replays instead of applying twice, within a
 * batch and across batches (the earlier record read back from the log); that a machine
 * opened again, from the log alone or from a checkpoint and the log after it, is in the same
 * state; that a linked chain applies whole or not at all (sm.c's decide_chain: the first
 * failure keeps its code, the other members linked_event_failed, an open chain
 * linked_event_chain_open, a replayed success leaves it whole and a replayed refusal fails
 * it, a conflict fails it unrecorded, failed members are remembered so that a retry answers
 * the same) and leaves the state as it was when it fails; and that sm_open refuses data that
 * does not add up. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/checkpoint.h"
#include "engine/sm.h"
#include "recordutil.h"
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

TestSuite(sm, .init = setup, .fini = teardown, .timeout = 120);

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

/* Groups of one command each over cmds[0..n), as single requests make them, and the pointer
 * array sm_validate takes. */
static ws_group single_groups[BATCH_MAX];
static ws_group *group_ptrs[BATCH_MAX];

static ws_group **as_singles(ws_command *cmds, size_t n) {
    cr_assert(n >= 1 && n <= BATCH_MAX);
    for (size_t i = 0; i < n; i++) {
        single_groups[i] = (ws_group){.cmds = &cmds[i], .n = 1};
        group_ptrs[i] = &single_groups[i];
    }
    return group_ptrs;
}

/* VALIDATE then APPLY of groups[0..n), which must succeed. Returns sm_validate's answer. */
static bool run_groups(ws_group **groups, size_t n) {
    bool staged = sm_validate(m, groups, n, NOW_US);
    cr_assert_eq(sm_apply(m, groups, n), WS_OK);
    return staged;
}

/* The same for one group of the commands cmds[0..n) (a batch request). */
static bool run_group(ws_command *cmds, size_t n) {
    ws_group g = {.cmds = cmds, .n = n};
    ws_group *p = &g;
    return run_groups(&p, 1);
}

/* The same with every command its own group. */
static bool run(ws_command *cmds, size_t n) { return run_groups(as_singles(cmds, n), n); }

/* The balance readers see; UINT64_MAX if they see no such account. */
static uint64_t published(const char *id) {
    int64_t b = 0;
    return ws_accounts_read(sm_accounts(m), id, strlen(id), &b) ? (uint64_t)b : UINT64_MAX;
}

static uint64_t balance(const char *id) {
    uint64_t b = published(id);
    cr_assert_neq(b, UINT64_MAX, "no published account %s", id);
    return b;
}

static void log_end(uint64_t *lsn, uint64_t *seq) {
    cr_assert_eq(store_log_end(st, lsn, seq, NULL), WS_OK);
}

static uint64_t log_next_lsn(void) {
    uint64_t lsn;
    uint64_t seq;
    log_end(&lsn, &seq);
    return lsn;
}

static uint64_t last_seq(void) {
    uint64_t lsn;
    uint64_t seq;
    log_end(&lsn, &seq);
    return seq - 1;
}

static ws_record record_at(uint64_t lsn) {
    ws_record r;
    cr_assert_eq(store_read_record(st, lsn, &r), WS_OK, "no record %llu", (unsigned long long)lsn);
    return r;
}

/* The committed position matches the log's end. */
static void assert_committed_at_log_end(void) {
    uint64_t lsn;
    uint64_t seq;
    log_end(&lsn, &seq);
    cr_assert_eq(atomic_load(&sm_committed(m)->next_lsn), lsn);
    cr_assert_eq(atomic_load(&sm_committed(m)->next_seq), seq);
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

/* Creates two accounts in one batch, checking both succeed. */
static void setup_accounts(const char *a, uint64_t a_amount, const char *b, uint64_t b_amount) {
    ws_command c[2] = {create(a, a_amount), create(b, b_amount)};
    cr_assert(run(c, 2));
    cr_assert_eq(c[0].status, WS_CREATED);
    cr_assert_eq(c[1].status, WS_CREATED);
}

/* The checkpointer, run once up to the committed position (as at a stop). */
static int ckpt_failures;

static void on_ckpt_failure(void *ctx) {
    (void)ctx;
    ckpt_failures++;
}

static void checkpoint_now(void) {
    epoch *e = epoch_new();
    cr_assert_not_null(e);
    ws_accounts_set_retire(sm_accounts(m), epoch_retire_hook, e);
    store_ckpt_meta newest;
    cr_assert_eq(store_ckpt_meta_get(st, &newest), WS_OK);
    ckpt_config cc = {.st = st,
                      .accounts = sm_accounts(m),
                      .epoch = e,
                      .committed = sm_committed(m),
                      .from = newest,
                      .interval_ms = CKPT_INTERVAL_MS_MAX,
                      .on_failure = on_ckpt_failure,
                      .ctx = NULL};
    ckpt *c = NULL;
    cr_assert_eq(ckpt_start(&cc, &c), WS_OK);
    ckpt_stop(c);
    uint64_t covered = ckpt_next_lsn(c);
    uint64_t written = ckpt_count(c);
    cr_assert_eq(written, covered > newest.next_lsn ? 1 : 0, "%llu checkpoints written",
                 (unsigned long long)written);
    cr_assert_leq(ckpt_us_max(c), ckpt_us_total(c));
    ckpt_free(c);
    ws_accounts_set_retire(sm_accounts(m), NULL, NULL);
    epoch_free(e);
    cr_assert_eq(ckpt_failures, 0, "the checkpoint failed");
    cr_assert_eq(covered, atomic_load(&sm_committed(m)->next_lsn));
    store_ckpt_meta now;
    cr_assert_eq(store_ckpt_meta_get(st, &now), WS_OK);
    cr_assert_eq(now.next_lsn, covered);
}

/* Everything a restart must restore, for comparing two machines. */
typedef struct {
    size_t accounts;
    ws_u128 total;
    uint64_t next_lsn;
    uint64_t next_seq;
    int64_t balances[2048];
} state;

static void capture(state *s) {
    memset(s, 0, sizeof(*s));
    ws_accounts *t = sm_accounts(m);
    s->accounts = sm_account_count(m);
    cr_assert_leq(s->accounts, 2048);
    s->total = sm_total_money(m);
    s->next_lsn = atomic_load(&sm_committed(m)->next_lsn);
    s->next_seq = atomic_load(&sm_committed(m)->next_seq);
    for (size_t i = 0; i < s->accounts; i++) {
        uint8_t len;
        const char *id = ws_accounts_id(t, (uint32_t)i, &len);
        cr_assert(ws_accounts_read(t, id, len, &s->balances[i]), "account %zu unpublished", i);
        cr_assert_eq(ws_accounts_find(t, id, len), i);
    }
}

static void assert_same_state(const state *a, const state *b) {
    cr_assert_eq(a->accounts, b->accounts);
    cr_assert(a->total == b->total);
    cr_assert_eq(a->next_lsn, b->next_lsn);
    cr_assert_eq(a->next_seq, b->next_seq);
    for (size_t i = 0; i < a->accounts; i++) {
        cr_assert_eq(a->balances[i], b->balances[i], "account %zu", i);
    }
}

/* ---- the empty machine --------------------------------------------------------------------- */

Test(sm, empty_store) {
    cr_assert_eq(sm_account_count(m), 0);
    cr_assert(sm_total_money(m) == 0);
    cr_assert_not(sm_read_only(m));
    cr_assert_eq(atomic_load(&sm_committed(m)->next_lsn), 1);
    cr_assert_eq(atomic_load(&sm_committed(m)->next_seq), 1);
    cr_assert_eq(sm_loaded_checkpoint(m)->next_lsn, 1);
    cr_assert_eq(sm_loaded_checkpoint(m)->next_seq, 1);
}

/* ---- creates ------------------------------------------------------------------------------ */

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
    cr_assert_eq(log_next_lsn(), 3, "the refused create wrote a record");
    ws_record r = record_at(2);
    cr_assert_eq(r.kind, WS_REC_ACCOUNT_CREATED);
    cr_assert_eq(memcmp(r.account, "bob", 3), 0);
    assert_committed_at_log_end();

    /* In a later batch the duplicate is refused too, and stages nothing. */
    ws_command again = create("bob", 7);
    cr_assert_not(run(&again, 1));
    cr_assert_eq(again.status, WS_ACCOUNT_EXISTS);
    cr_assert_eq(balance("bob"), 0);
    cr_assert_eq(log_next_lsn(), 3);
    assert_verify_ok();
}

/* VALIDATE decides against the writer's working state; nothing reaches the log or the
 * readers before APPLY, and then everything does. */
Test(sm, nothing_visible_before_apply) {
    setup_accounts("A", 100, "B", 0);
    ws_command c[3] = {create("C", 5), transfer("A", "B", 60, "g-1", false),
                       transfer("A", "C", 40, "client-1", true)};
    ws_group **ptrs = as_singles(c, 3);
    cr_assert(sm_validate(m, ptrs, 3, NOW_US));
    cr_assert_eq(c[0].status, WS_CREATED);
    cr_assert_eq(c[1].status, WS_OK);
    cr_assert_eq(c[2].status, WS_OK);
    cr_assert_eq(c[2].from_balance, 0);
    cr_assert_eq(published("C"), UINT64_MAX, "a reader saw an account not yet synced");
    cr_assert_eq(published("A"), 100, "a reader saw a balance not yet synced");
    cr_assert_eq(published("B"), 0);
    cr_assert_eq(log_next_lsn(), 3, "VALIDATE wrote to the log");
    cr_assert_eq(atomic_load(&sm_committed(m)->next_lsn), 3);
    cr_assert_eq(sm_account_count(m), 3, "the writer's own state holds the new account");

    cr_assert_eq(sm_apply(m, ptrs, 3), WS_OK);
    cr_assert_eq(published("A"), 0);
    cr_assert_eq(published("B"), 60);
    cr_assert_eq(published("C"), 45);
    cr_assert_eq(log_next_lsn(), 6);
    assert_committed_at_log_end();
}

Test(sm, batch_sees_its_own_effects) {
    ws_command c[5] = {
        create("A", 100),
        create("B", 0),
        transfer("A", "B", 60, "g-1", false),
        transfer("B", "A", 10, "g-2", false),
        transfer("A", "B", 60, "g-3", false), /* A has 50 by now */
    };
    ws_group **ptrs = as_singles(c, 5);
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
    cr_assert_eq(last_seq(), 0, "VALIDATE wrote to the log");

    cr_assert_eq(sm_apply(m, ptrs, 5), WS_OK);
    cr_assert_eq(balance("A"), 50);
    cr_assert_eq(balance("B"), 50);
    cr_assert_eq(last_seq(), 6);
    cr_assert_eq(log_next_lsn(), 5, "a refusal without a client transferID was recorded");
    cr_assert(sm_total_money(m) == 100);
    /* Generated transactionIDs are in the log's transfers too. */
    ws_record r = record_at(3);
    cr_assert_eq(r.kind, WS_REC_TRANSFER);
    cr_assert_eq(r.txn_len, 3);
    cr_assert_eq(memcmp(r.txn, "g-1", 3), 0);
    cr_assert_eq(r.from_balance, 40);
    cr_assert_eq(r.to_balance, 60);
    assert_verify_ok();
}

/* ---- refusals ------------------------------------------------------------------------------- */

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
    checkpoint_now();
    cr_assert_eq(reopen(), WS_OK);
    cr_assert(sm_total_money(m) == want, "the 128-bit total did not survive a checkpoint");
    assert_verify_ok();
}

/* ---- idempotency ----------------------------------------------------------------------------- */

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
    cr_assert_eq(log_next_lsn(), 4, "a replay was recorded");

    /* A retry in a later batch replays from the record read back from the log. */
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
    /* In a later batch, against the record in the log. */
    ws_command later = transfer("A", "B", 29, "client-1", true);
    cr_assert_not(run(&later, 1));
    cr_assert_eq(later.status, WS_TRANSFER_ID_CONFLICT);
    cr_assert_not(later.replayed);
    cr_assert_eq(balance("A"), 70);
    cr_assert_eq(balance("B"), 30);
    cr_assert_eq(log_next_lsn(), 4, "a conflict was recorded");
    assert_verify_ok();
}

Test(sm, refusal_with_client_id_is_recorded) {
    setup_accounts("A", 10, "B", 0);
    ws_command c[2] = {transfer("A", "B", 50, "client-1", true),
                       transfer("A", "Q", 5, "client-2", true)};
    cr_assert(run(c, 2), "the refusals' records were not staged");
    cr_assert_eq(c[0].status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(c[1].status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(c[1].missing_side, 2);
    cr_assert_eq(last_seq(), 2, "a refusal wrote an event");
    ws_record r = record_at(3);
    cr_assert_eq(r.kind, WS_REC_TRANSFER_REFUSED);
    cr_assert_eq(r.status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(r.amount, 50);
    cr_assert_eq(memcmp(r.txn, "client-1", 8), 0);
    r = record_at(4);
    cr_assert_eq(r.status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(r.missing_side, 2);

    /* The money and the account arrive, then both are retried: the refusals replay. */
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

Test(sm, refused_retry_in_same_batch_replays_refusal) {
    setup_accounts("A", 10, "B", 0);
    ws_command c[2] = {transfer("X", "B", 5, "client-1", true),
                       transfer("X", "B", 5, "client-1", true)};
    cr_assert(run(c, 2));
    cr_assert_eq(c[0].status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_not(c[0].replayed);
    cr_assert_eq(c[1].status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(c[1].missing_side, 1);
    cr_assert(c[1].replayed);
    cr_assert_eq(log_next_lsn(), 4, "the replay was recorded as well as the refusal");
}

Test(sm, refusals_without_client_id_stage_nothing) {
    setup_accounts("A", 10, "B", 0);
    ws_command c[4] = {
        transfer("A", "B", 50, "g-1", false),
        transfer("A", "A", 5, "g-2", false),
        transfer("A", "X", 5, "g-3", false),
        create("A", 1),
    };
    cr_assert_not(run(c, 4), "a batch of plain refusals staged something");
    cr_assert_eq(c[0].status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(c[1].status, WS_SAME_ACCOUNT);
    cr_assert_eq(c[2].status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(c[3].status, WS_ACCOUNT_EXISTS);
    cr_assert_eq(log_next_lsn(), 3);
    cr_assert_eq(last_seq(), 2);
    /* A later client request with a generated ID's value is no retry of it. */
    ws_command later = transfer("A", "B", 5, "g-1", true);
    cr_assert(run(&later, 1));
    cr_assert_eq(later.status, WS_OK);
    cr_assert_not(later.replayed);
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
    /* 200 distinct client IDs, each sent twice in the same batch, then the same again in a
     * second batch, which finds the earlier records in the log. */
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

/* A fingerprint that matches names a record to read and compare, never a match by itself:
 * an idempotency entry giving "client-2" the fingerprint of client-1's record (a collision,
 * planted in the checkpoint) must not make client-2 a replay of client-1. */
Test(sm, fingerprint_collision_is_not_a_replay) {
    setup_accounts("A", 100, "B", 0);
    ws_command first = transfer("A", "B", 30, "client-1", true);
    cr_assert(run(&first, 1));
    checkpoint_now();
    const uint64_t fp[1] = {ws_idem_fp(store_fp_key(st), "client-2", 8)};
    const uint64_t lsn[1] = {3}; /* client-1's Transfer */
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    store_ckpt_put_idem(c, 1000, 0, fp, lsn, 1);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    cr_assert_eq(reopen(), WS_OK);
    ws_command second = transfer("A", "B", 30, "client-2", true);
    cr_assert(run(&second, 1), "the colliding transfer was not applied");
    cr_assert_eq(second.status, WS_OK);
    cr_assert_not(second.replayed, "a fingerprint collision was taken for a retry");
    cr_assert_eq(second.from_balance, 40);
    cr_assert_eq(balance("A"), 40);
    /* And client-1 still replays. */
    ws_command retry = transfer("A", "B", 30, "client-1", true);
    cr_assert_not(run(&retry, 1));
    cr_assert(retry.replayed);
    cr_assert_eq(retry.from_balance, 70);
}

Test(sm, stale_result_fields_are_cleared) {
    /* The result fields belong to the writer: whatever a reused command still holds must not
     * reach its answer. */
    setup_accounts("A", 10, "B", 0);
    ws_command c = transfer("A", "B", 50, "client-1", true);
    c.from_balance = 1234;
    c.to_balance = 5678;
    c.replayed = true;
    c.missing_side = 2;
    cr_assert(run(&c, 1));
    cr_assert_eq(c.status, WS_INSUFFICIENT_FUNDS);
    cr_assert_not(c.replayed);
    cr_assert_eq(c.missing_side, 0);
    cr_assert_eq(c.from_balance, 0);
    cr_assert_eq(c.to_balance, 0);
    ws_record r = record_at(3);
    cr_assert_eq(r.from_balance, 0);
    cr_assert_eq(r.to_balance, 0);
}

/* ---- linked chains -------------------------------------------------------------------------
 *
 * A run of commands with `linked` set, and the one after the last of them, is one chain of
 * its group: all of it applies or none of it (decide_chain in sm.c). */

static ws_command linked(ws_command c) {
    c.linked = true;
    return c;
}

/* Asserts one command's answer. */
static void assert_answer(const ws_command *c, ws_status status, bool replayed, uint64_t from,
                          uint64_t to, const char *what) {
    cr_assert_eq(c->status, status, "%s: status %s, want %s", what, ws_status_code(c->status),
                 ws_status_code(status));
    cr_assert_eq(c->replayed, replayed, "%s: replayed %d", what, c->replayed);
    cr_assert_eq(c->from_balance, from, "%s: from_balance %llu", what,
                 (unsigned long long)c->from_balance);
    cr_assert_eq(c->to_balance, to, "%s: to_balance %llu", what, (unsigned long long)c->to_balance);
}

/* Every record from lsn on, read with store_scan_log. */
typedef struct {
    ws_record recs[64];
    uint64_t lsns[64];
    size_t n;
} scanned;

static ws_status scan_into(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq, uint64_t ts) {
    (void)seq;
    (void)ts;
    scanned *s = ctx;
    cr_assert_lt(s->n, 64);
    s->recs[s->n] = *r;
    s->lsns[s->n++] = lsn;
    return WS_OK;
}

static size_t scan_from(uint64_t lsn, scanned *out) {
    out->n = 0;
    cr_assert_eq(store_scan_log(st, lsn, scan_into, out), WS_OK);
    return out->n;
}

/* The log from lsn on holds exactly want[0..n): read back one by one and by a scan. */
static void assert_log_from(uint64_t lsn, const ws_record *want, size_t n) {
    static scanned s;
    cr_assert_eq(scan_from(lsn, &s), n, "%zu records from lsn %llu, want %zu", s.n,
                 (unsigned long long)lsn, n);
    for (size_t i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof(what), "record %llu", (unsigned long long)(lsn + i));
        cr_assert_eq(s.lsns[i], lsn + i);
        rec_assert_eq(&s.recs[i], &want[i], what);
        ws_record r = record_at(lsn + i);
        rec_assert_eq(&r, &want[i], what);
    }
}

static void create_abc(uint64_t a, uint64_t b, uint64_t c) {
    ws_command acc[3] = {create("A", a), create("B", b), create("C", c)};
    cr_assert(run(acc, 3));
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(acc[i].status, WS_CREATED);
    }
}

static void assert_balances(uint64_t a, uint64_t b, uint64_t c) {
    cr_assert_eq(balance("A"), a, "A is %llu, want %llu", (unsigned long long)balance("A"),
                 (unsigned long long)a);
    cr_assert_eq(balance("B"), b, "B is %llu, want %llu", (unsigned long long)balance("B"),
                 (unsigned long long)b);
    cr_assert_eq(balance("C"), c, "C is %llu, want %llu", (unsigned long long)balance("C"),
                 (unsigned long long)c);
}

Test(sm, chain_that_holds_applies_every_member_in_one_commit) {
    create_abc(100, 0, 0);
    ws_command c[3] = {linked(transfer("A", "B", 30, "c-1", true)),
                       linked(transfer("B", "C", 10, "c-2", true)),
                       transfer("A", "C", 20, "c-3", true)};
    ws_group g = {.cmds = c, .n = 3};
    ws_group *p = &g;
    cr_assert(sm_validate(m, &p, 1, NOW_US));
    assert_answer(&c[0], WS_OK, false, 70, 30, "c-1");
    assert_answer(&c[1], WS_OK, false, 20, 10, "c-2");
    assert_answer(&c[2], WS_OK, false, 50, 30, "c-3");
    /* Nothing of the chain is in the log or visible before the one commit... */
    cr_assert_eq(log_next_lsn(), 4);
    assert_balances(100, 0, 0);
    cr_assert_eq(sm_apply(m, &p, 1), WS_OK);
    /* ...and all of it after it. */
    assert_balances(50, 20, 30);
    cr_assert(sm_total_money(m) == 100);
    cr_assert_eq(last_seq(), 3 + 6);
    const ws_record want[3] = {rec_transfer("A", "B", "c-1", 30, 70, 30),
                               rec_transfer("B", "C", "c-2", 10, 20, 10),
                               rec_transfer("A", "C", "c-3", 20, 50, 30)};
    assert_log_from(4, want, 3);
    assert_committed_at_log_end();
    assert_verify_ok();
}

Test(sm, chain_whose_second_member_fails_applies_nothing) {
    create_abc(100, 0, 0);
    state before;
    capture(&before);
    ws_command c[3] = {linked(transfer("A", "B", 30, "f-1", true)),
                       linked(transfer("A", "C", 500, "f-2", true)),
                       transfer("B", "C", 10, "f-3", true)}; /* would hold after f-1 */
    cr_assert(run_group(c, 3), "the failed members' refusals were not staged");
    assert_answer(&c[0], WS_LINKED_EVENT_FAILED, false, 0, 0, "f-1");
    assert_answer(&c[1], WS_INSUFFICIENT_FUNDS, false, 0, 0, "f-2");
    assert_answer(&c[2], WS_LINKED_EVENT_FAILED, false, 0, 0, "f-3");
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(c[i].missing_side, 0);
    }
    assert_balances(100, 0, 0);
    cr_assert(sm_total_money(m) == 100);
    cr_assert_eq(last_seq(), 3, "a failed chain wrote events");
    /* Three TransferRefused records, with their on-disk codes 5, 2, 5. */
    const ws_record want[3] = {rec_refused(WS_LINKED_EVENT_FAILED, 0, "A", "B", "f-1", 30),
                               rec_refused(WS_INSUFFICIENT_FUNDS, 0, "A", "C", "f-2", 500),
                               rec_refused(WS_LINKED_EVENT_FAILED, 0, "B", "C", "f-3", 10)};
    assert_log_from(4, want, 3);
    cr_assert_eq(ws_refusal_code(record_at(4).status), 5);
    cr_assert_eq(ws_refusal_code(record_at(5).status), 2);
    cr_assert_eq(ws_refusal_code(record_at(6).status), 5);
    state after;
    capture(&after);
    before.next_lsn += 3; /* the three refusals, and nothing else */
    assert_same_state(&before, &after);

    /* The same batch again: the same answers, as replays, and nothing written. */
    ws_command r[3] = {linked(transfer("A", "B", 30, "f-1", true)),
                       linked(transfer("A", "C", 500, "f-2", true)),
                       transfer("B", "C", 10, "f-3", true)};
    cr_assert_not(run_group(r, 3), "a retried batch staged something");
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(r[i].status, c[i].status, "retry %zu", i);
        cr_assert(r[i].replayed, "retry %zu not replayed", i);
        cr_assert_eq(r[i].missing_side, c[i].missing_side);
        cr_assert_eq(r[i].from_balance, 0);
        cr_assert_eq(r[i].to_balance, 0);
    }
    cr_assert_eq(log_next_lsn(), 7);
    assert_balances(100, 0, 0);
    assert_verify_ok();
}

Test(sm, chain_member_sees_its_predecessors_effect) {
    create_abc(100, 0, 0);
    ws_command c[2] = {linked(transfer("A", "B", 100, "d-1", true)),
                       transfer("B", "C", 100, "d-2", true)}; /* B starts at 0 */
    cr_assert(run_group(c, 2));
    assert_answer(&c[0], WS_OK, false, 0, 100, "d-1");
    assert_answer(&c[1], WS_OK, false, 0, 100, "d-2");
    assert_balances(0, 0, 100);
    /* The other way round the first member finds no money, and the second is not applied
     * although it alone would hold. */
    ws_command r[2] = {linked(transfer("B", "A", 100, "d-3", true)),
                       transfer("C", "B", 100, "d-4", true)};
    cr_assert(run_group(r, 2));
    assert_answer(&r[0], WS_INSUFFICIENT_FUNDS, false, 0, 0, "d-3");
    assert_answer(&r[1], WS_LINKED_EVENT_FAILED, false, 0, 0, "d-4");
    assert_balances(0, 0, 100);
    assert_verify_ok();
}

Test(sm, open_chain_fails_whole) {
    create_abc(100, 0, 0);
    /* The group ends inside the chain. */
    ws_command g1[2] = {linked(transfer("A", "B", 10, "o-1", true)),
                        linked(transfer("A", "C", 10, "o-2", true))};
    cr_assert(run_group(g1, 2));
    assert_answer(&g1[0], WS_LINKED_EVENT_CHAIN_OPEN, false, 0, 0, "o-1");
    assert_answer(&g1[1], WS_LINKED_EVENT_CHAIN_OPEN, false, 0, 0, "o-2");
    assert_balances(100, 0, 0);
    const ws_record want[2] = {rec_refused(WS_LINKED_EVENT_CHAIN_OPEN, 0, "A", "B", "o-1", 10),
                               rec_refused(WS_LINKED_EVENT_CHAIN_OPEN, 0, "A", "C", "o-2", 10)};
    assert_log_from(4, want, 2);
    cr_assert_eq(ws_refusal_code(record_at(4).status), 6);

    /* An unlinked transfer before the open chain stands on its own. */
    ws_command g2[2] = {transfer("A", "B", 5, "o-3", true),
                        linked(transfer("A", "C", 5, "o-4", true))};
    cr_assert(run_group(g2, 2));
    assert_answer(&g2[0], WS_OK, false, 95, 5, "o-3");
    assert_answer(&g2[1], WS_LINKED_EVENT_CHAIN_OPEN, false, 0, 0, "o-4");

    /* A single transfer marked linked (no transferID of the client's) is an open chain. */
    ws_command one = linked(transfer("A", "B", 1, "gen-1", false));
    run_group(&one, 1);
    cr_assert_eq(one.status, WS_LINKED_EVENT_CHAIN_OPEN);
    cr_assert_not(one.replayed);

    /* A replay inside an open chain answers its original outcome. */
    ws_command g3[2] = {linked(transfer("A", "B", 5, "o-3", true)),
                        linked(transfer("A", "C", 1, "o-5", true))};
    cr_assert(run_group(g3, 2));
    assert_answer(&g3[0], WS_OK, true, 95, 5, "o-3 again");
    assert_answer(&g3[1], WS_LINKED_EVENT_CHAIN_OPEN, false, 0, 0, "o-5");
    assert_balances(95, 5, 0);

    /* And the open chain's retry replays its refusals. */
    ws_command r1[2] = {linked(transfer("A", "B", 10, "o-1", true)),
                        linked(transfer("A", "C", 10, "o-2", true))};
    cr_assert_not(run_group(r1, 2));
    assert_answer(&r1[0], WS_LINKED_EVENT_CHAIN_OPEN, true, 0, 0, "o-1 again");
    assert_answer(&r1[1], WS_LINKED_EVENT_CHAIN_OPEN, true, 0, 0, "o-2 again");
    assert_balances(95, 5, 0);
    assert_verify_ok();
}

Test(sm, two_chains_and_unlinked_transfers_in_one_group) {
    create_abc(100, 0, 0);
    ws_command c[8] = {
        transfer("A", "B", 1, "m-1", true),          /* A 99, B 1 */
        linked(transfer("A", "B", 10, "m-2", true)), /* chain 1: A 89, B 11 */
        transfer("A", "C", 10, "m-3", true),         /* A 79, C 10: chain 1 holds */
        transfer("A", "X", 1, "m-4", true),          /* no X: refused on its own */
        linked(transfer("A", "B", 10, "m-5", true)), /* chain 2 */
        linked(transfer("B", "Q", 1, "m-6", true)),  /* no Q: chain 2 fails */
        transfer("A", "C", 1, "m-7", true),
        transfer("B", "A", 2, "m-8", true), /* B is 11 again: B 9, A 81 */
    };
    cr_assert(run_group(c, 8));
    assert_answer(&c[0], WS_OK, false, 99, 1, "m-1");
    assert_answer(&c[1], WS_OK, false, 89, 11, "m-2");
    assert_answer(&c[2], WS_OK, false, 79, 10, "m-3");
    assert_answer(&c[3], WS_ACCOUNT_NOT_FOUND, false, 0, 0, "m-4");
    cr_assert_eq(c[3].missing_side, 2);
    assert_answer(&c[4], WS_LINKED_EVENT_FAILED, false, 0, 0, "m-5");
    assert_answer(&c[5], WS_ACCOUNT_NOT_FOUND, false, 0, 0, "m-6");
    cr_assert_eq(c[5].missing_side, 2, "the failing member lost its missing side");
    assert_answer(&c[6], WS_LINKED_EVENT_FAILED, false, 0, 0, "m-7");
    cr_assert_eq(c[6].missing_side, 0);
    assert_answer(&c[7], WS_OK, false, 9, 81, "m-8");
    assert_balances(81, 9, 10);
    cr_assert(sm_total_money(m) == 100);
    const ws_record want[8] = {
        rec_transfer("A", "B", "m-1", 1, 99, 1),
        rec_transfer("A", "B", "m-2", 10, 89, 11),
        rec_transfer("A", "C", "m-3", 10, 79, 10),
        rec_refused(WS_ACCOUNT_NOT_FOUND, 2, "A", "X", "m-4", 1),
        rec_refused(WS_LINKED_EVENT_FAILED, 0, "A", "B", "m-5", 10),
        rec_refused(WS_ACCOUNT_NOT_FOUND, 2, "B", "Q", "m-6", 1),
        rec_refused(WS_LINKED_EVENT_FAILED, 0, "A", "C", "m-7", 1),
        rec_transfer("B", "A", "m-8", 2, 9, 81),
    };
    assert_log_from(4, want, 8);
    assert_committed_at_log_end();
    assert_verify_ok();
}

Test(sm, chain_member_replaying_a_committed_transfer) {
    create_abc(100, 0, 0);
    ws_command first = transfer("A", "B", 10, "t-1", true);
    cr_assert(run(&first, 1));
    cr_assert_eq(first.status, WS_OK);
    uint64_t lsn = log_next_lsn();
    /* The same parameters under the same transferID: a replay of a success, which applies
     * nothing again and leaves the chain whole, so its new members apply. */
    ws_command c[3] = {linked(transfer("A", "C", 5, "n-1", true)),
                       linked(transfer("A", "B", 10, "t-1", true)),
                       transfer("A", "C", 20, "n-2", true)};
    cr_assert(run_group(c, 3));
    assert_answer(&c[0], WS_OK, false, 85, 5, "n-1");
    assert_answer(&c[1], WS_OK, true, 90, 10, "t-1");
    assert_answer(&c[2], WS_OK, false, 65, 25, "n-2");
    assert_balances(65, 10, 25);
    const ws_record want[2] = {rec_transfer("A", "C", "n-1", 5, 85, 5),
                               rec_transfer("A", "C", "n-2", 20, 65, 25)};
    assert_log_from(lsn, want, 2);
    assert_verify_ok();
}

/* sm.c's decide_chain: a replayed refusal fails the chain (that member can never apply); it
 * answers its original refusal, the new members linked_event_failed. */
Test(sm, chain_member_replaying_a_refusal_fails_the_chain) {
    create_abc(100, 0, 0);
    ws_command first = transfer("A", "B", 1000, "r-1", true);
    cr_assert(run(&first, 1));
    cr_assert_eq(first.status, WS_INSUFFICIENT_FUNDS);
    uint64_t lsn = log_next_lsn();
    ws_command c[3] = {linked(transfer("A", "C", 5, "n-1", true)),
                       linked(transfer("A", "B", 1000, "r-1", true)),
                       transfer("A", "C", 20, "n-2", true)};
    cr_assert(run_group(c, 3));
    assert_answer(&c[0], WS_LINKED_EVENT_FAILED, false, 0, 0, "n-1");
    assert_answer(&c[1], WS_INSUFFICIENT_FUNDS, true, 0, 0, "r-1");
    assert_answer(&c[2], WS_LINKED_EVENT_FAILED, false, 0, 0, "n-2");
    assert_balances(100, 0, 0);
    const ws_record want[2] = {rec_refused(WS_LINKED_EVENT_FAILED, 0, "A", "C", "n-1", 5),
                               rec_refused(WS_LINKED_EVENT_FAILED, 0, "A", "C", "n-2", 20)};
    assert_log_from(lsn, want, 2);
    assert_verify_ok();
}

Test(sm, chain_member_reusing_a_transfer_id_fails_the_chain) {
    create_abc(100, 0, 0);
    ws_command first = transfer("A", "B", 10, "t-1", true);
    cr_assert(run(&first, 1));
    uint64_t lsn = log_next_lsn();
    ws_command c[3] = {linked(transfer("A", "C", 5, "k-1", true)),
                       linked(transfer("A", "B", 11, "t-1", true)), /* another amount */
                       transfer("A", "C", 5, "k-3", true)};
    cr_assert(run_group(c, 3));
    assert_answer(&c[0], WS_LINKED_EVENT_FAILED, false, 0, 0, "k-1");
    assert_answer(&c[1], WS_TRANSFER_ID_CONFLICT, false, 0, 0, "t-1");
    assert_answer(&c[2], WS_LINKED_EVENT_FAILED, false, 0, 0, "k-3");
    assert_balances(90, 10, 0);
    /* The conflict is not recorded: its transferID names the first transfer alone. */
    const ws_record want[2] = {rec_refused(WS_LINKED_EVENT_FAILED, 0, "A", "C", "k-1", 5),
                               rec_refused(WS_LINKED_EVENT_FAILED, 0, "A", "C", "k-3", 5)};
    assert_log_from(lsn, want, 2);
    ws_record orig = record_at(lsn - 1);
    ws_record want_orig = rec_transfer("A", "B", "t-1", 10, 90, 10);
    rec_assert_eq(&orig, &want_orig, "the first t-1");
    /* The retry: the same answers, the refusals replayed, the conflict again a conflict. */
    ws_command r[3] = {linked(transfer("A", "C", 5, "k-1", true)),
                       linked(transfer("A", "B", 11, "t-1", true)),
                       transfer("A", "C", 5, "k-3", true)};
    cr_assert_not(run_group(r, 3));
    assert_answer(&r[0], WS_LINKED_EVENT_FAILED, true, 0, 0, "k-1 again");
    assert_answer(&r[1], WS_TRANSFER_ID_CONFLICT, false, 0, 0, "t-1 again");
    assert_answer(&r[2], WS_LINKED_EVENT_FAILED, true, 0, 0, "k-3 again");
    /* And t-1 with its own parameters still replays the transfer. */
    ws_command t = transfer("A", "B", 10, "t-1", true);
    cr_assert_not(run(&t, 1));
    assert_answer(&t, WS_OK, true, 90, 10, "t-1 replay");
    assert_verify_ok();
}

/* Five groups, chains among them, decided in one sm_validate and committed by one sm_apply:
 * each chain against the state the groups before it left. */
static void several_groups(ws_command c[7]) {
    c[0] = linked(transfer("A", "B", 50, "s-1", true)); /* g1 holds: A 50, B 0, C 50 */
    c[1] = transfer("B", "C", 50, "s-2", true);
    c[2] = linked(transfer("B", "C", 10, "s-3", true)); /* g2 fails: B has 0 */
    c[3] = transfer("C", "A", 10, "s-4", true);
    c[4] = linked(transfer("C", "A", 50, "s-5", true)); /* g3 holds: A 0, B 100, C 0 */
    c[5] = transfer("A", "B", 100, "s-6", true);
    c[6] = transfer("B", "C", 10, "s-3", true); /* g4: a retry of s-3, in the same batch */
}

Test(sm, chains_across_several_groups_in_one_batch) {
    create_abc(100, 0, 0);
    ws_command c[8];
    several_groups(c);
    c[7] = linked(transfer("A", "C", 1, "s-7", true)); /* g5: open */
    ws_group g[5] = {{.cmds = &c[0], .n = 2},
                     {.cmds = &c[2], .n = 2},
                     {.cmds = &c[4], .n = 2},
                     {.cmds = &c[6], .n = 1},
                     {.cmds = &c[7], .n = 1}};
    ws_group *p[5] = {&g[0], &g[1], &g[2], &g[3], &g[4]};
    cr_assert(sm_validate(m, p, 5, NOW_US));
    assert_answer(&c[0], WS_OK, false, 50, 50, "s-1");
    assert_answer(&c[1], WS_OK, false, 0, 50, "s-2");
    assert_answer(&c[2], WS_INSUFFICIENT_FUNDS, false, 0, 0, "s-3");
    assert_answer(&c[3], WS_LINKED_EVENT_FAILED, false, 0, 0, "s-4");
    assert_answer(&c[4], WS_OK, false, 0, 100, "s-5");
    assert_answer(&c[5], WS_OK, false, 0, 100, "s-6");
    assert_answer(&c[6], WS_INSUFFICIENT_FUNDS, true, 0, 0, "s-3 retried in the batch");
    assert_answer(&c[7], WS_LINKED_EVENT_CHAIN_OPEN, false, 0, 0, "s-7");
    assert_balances(100, 0, 0);
    cr_assert_eq(log_next_lsn(), 4, "VALIDATE wrote to the log");
    cr_assert_eq(sm_apply(m, p, 5), WS_OK);
    assert_balances(0, 100, 0);
    const ws_record want[7] = {
        rec_transfer("A", "B", "s-1", 50, 50, 50),
        rec_transfer("B", "C", "s-2", 50, 0, 50),
        rec_refused(WS_INSUFFICIENT_FUNDS, 0, "B", "C", "s-3", 10),
        rec_refused(WS_LINKED_EVENT_FAILED, 0, "C", "A", "s-4", 10),
        rec_transfer("C", "A", "s-5", 50, 0, 100),
        rec_transfer("A", "B", "s-6", 100, 0, 100),
        rec_refused(WS_LINKED_EVENT_CHAIN_OPEN, 0, "A", "C", "s-7", 1),
    };
    assert_log_from(4, want, 7);
    assert_committed_at_log_end();
    assert_verify_ok();
}

/* sm.c's decide_chain: a failed chain leaves the state as it was, but for the refusals it
 * records. The machine's idempotency index is not exposed, so it is checked by what it
 * answers: every transferID committed before still replays its outcome, and the chain's
 * replay their refusals. */
Test(sm, failed_chain_leaves_the_state_as_it_was) {
    enum { ACCTS = 8, EARLIER = 40, CHAIN = 8 };
    ws_command acc[ACCTS];
    char id[16];
    char to[16];
    char tid[16];
    for (size_t i = 0; i < ACCTS; i++) {
        snprintf(id, sizeof(id), "acct-%zu", i);
        acc[i] = create(id, 1000);
    }
    cr_assert(run(acc, ACCTS));
    static ws_command earlier[EARLIER];
    for (size_t i = 0; i < EARLIER; i++) {
        snprintf(id, sizeof(id), "acct-%zu", i % ACCTS);
        snprintf(to, sizeof(to), "acct-%zu", (i * 3 + 1) % ACCTS);
        snprintf(tid, sizeof(tid), "e-%zu", i);
        earlier[i] = transfer(id, to, i % 5 == 4 ? 5000 : 10 + i, tid, true); /* some refused */
    }
    cr_assert(run(earlier, EARLIER));
    state before;
    capture(&before);

    /* A chain round the accounts that fails at its last member: seven tentative transfers
     * taken back. */
    ws_command c[CHAIN];
    for (size_t i = 0; i < CHAIN; i++) {
        snprintf(id, sizeof(id), "acct-%zu", i);
        snprintf(to, sizeof(to), "acct-%zu", (i + 1) % ACCTS);
        snprintf(tid, sizeof(tid), "x-%zu", i);
        c[i] = transfer(id, to, i + 1 < CHAIN ? 100 : 1000000, tid, true);
        c[i].linked = i + 1 < CHAIN;
    }
    cr_assert(run_group(c, CHAIN));
    for (size_t i = 0; i < CHAIN; i++) {
        cr_assert_eq(c[i].status, i + 1 < CHAIN ? WS_LINKED_EVENT_FAILED : WS_INSUFFICIENT_FUNDS,
                     "member %zu: %s", i, ws_status_code(c[i].status));
    }
    state after;
    capture(&after);
    before.next_lsn += CHAIN; /* the refusals; no event */
    assert_same_state(&before, &after);

    /* Every earlier transferID answers as it did. */
    static ws_command again[EARLIER];
    memcpy(again, earlier, sizeof(again));
    cr_assert_not(run(again, EARLIER), "a retry of an earlier transfer staged something");
    for (size_t i = 0; i < EARLIER; i++) {
        cr_assert(again[i].replayed, "e-%zu no longer replays after the failed chain", i);
        cr_assert_eq(again[i].status, earlier[i].status, "e-%zu", i);
        cr_assert_eq(again[i].from_balance, earlier[i].from_balance, "e-%zu", i);
        cr_assert_eq(again[i].to_balance, earlier[i].to_balance, "e-%zu", i);
    }
    ws_command r[CHAIN];
    memcpy(r, c, sizeof(r));
    cr_assert_not(run_group(r, CHAIN));
    for (size_t i = 0; i < CHAIN; i++) {
        cr_assert(r[i].replayed, "x-%zu", i);
        cr_assert_eq(r[i].status, c[i].status, "x-%zu", i);
    }
    capture(&after);
    assert_same_state(&before, &after);
    assert_verify_ok();
}

/* The first 16 bits of a transferID's fingerprint: its home slot in any idempotency table of
 * up to 65,536 slots is these bits' low bits. */
static uint16_t fp16(const char *id) {
    return (uint16_t)ws_idem_fp(store_fp_key(st), id, strlen(id));
}

/* Finds prefix-N whose fingerprint's low 16 bits satisfy ok(bits, arg). */
static void find_id(char *out, size_t size, const char *prefix, bool (*ok)(uint16_t, uint16_t),
                    uint16_t arg) {
    for (unsigned n = 0; n < 4u << 20; n++) {
        snprintf(out, size, "%s-%u", prefix, n);
        if (ok(fp16(out), arg)) {
            return;
        }
    }
    cr_assert_fail("no %s ID found", prefix);
}

static bool home_before(uint16_t bits, uint16_t x) { return bits == (uint16_t)(x - 1); }

static bool home_far(uint16_t bits, uint16_t x) {
    unsigned d = (uint16_t)(bits - x) % 1024u;
    return d >= 8 && d <= 1016;
}

static bool home_inside(uint16_t bits, uint16_t unused) {
    (void)unused;
    return bits % 1024u >= 8 && bits % 1024u <= 1016;
}

/* A failed chain must take back its own idempotency entries and nothing else. Here a chain
 * member's transferID has its home slot just before that of an earlier committed transfer
 * (X), so the member's entry and X's share one probe run; after the chain fails, a retry of
 * X must still be found and replayed, not applied a second time. */
Test(sm, failed_chain_keeps_transfer_ids_sharing_its_probe_run) {
    char x[24];
    char a[24];
    char f[24];
    find_id(x, sizeof(x), "x", home_inside, 0);
    find_id(a, sizeof(a), "a", home_before, fp16(x));
    find_id(f, sizeof(f), "f", home_far, fp16(x));
    setup_accounts("P", 100, "Q", 0);
    ws_command first = transfer("P", "Q", 10, x, true);
    cr_assert(run(&first, 1));
    assert_answer(&first, WS_OK, false, 90, 10, x);
    ws_command c[2] = {linked(transfer("P", "Q", 20, a, true)), transfer("P", "Q", 1000, f, true)};
    cr_assert(run_group(c, 2));
    cr_assert_eq(c[0].status, WS_LINKED_EVENT_FAILED);
    cr_assert_eq(c[1].status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(balance("P"), 90);

    ws_command retry = transfer("P", "Q", 10, x, true);
    run(&retry, 1);
    cr_assert(retry.replayed,
              "the retry of %s was applied again after the failed chain [%s, %s]: P is now %llu", x,
              a, f, (unsigned long long)balance("P"));
    assert_answer(&retry, WS_OK, true, 90, 10, x);
    cr_assert_eq(balance("P"), 90);
    ws_command ra = transfer("P", "Q", 20, a, true);
    run(&ra, 1);
    cr_assert(ra.replayed && ra.status == WS_LINKED_EVENT_FAILED, "%s: %s replayed %d", a,
              ws_status_code(ra.status), ra.replayed);
}

/* One group of WS_GROUP_MAX transfers, all one chain failing at its last member: thousands
 * of tentative transfers taken back (the idempotency index grows under them), nothing
 * applied, the transferIDs committed before still replaying. */
Test(sm, chain_of_a_whole_group_fails_whole) {
    enum { EARLIER = 300 };
    setup_accounts("A", 1000000000, "B", 0);
    static ws_command earlier[EARLIER];
    char tid[24];
    for (size_t i = 0; i < EARLIER; i++) {
        snprintf(tid, sizeof(tid), "pre-%zu", i);
        earlier[i] = transfer("A", "B", 1 + i, tid, true);
    }
    cr_assert(run(earlier, EARLIER));
    uint64_t a = balance("A");
    uint64_t b = balance("B");
    uint64_t lsn = log_next_lsn();

    static ws_command c[WS_GROUP_MAX];
    for (size_t i = 0; i < WS_GROUP_MAX; i++) {
        snprintf(tid, sizeof(tid), "big-%zu", i);
        c[i] = transfer("A", "B", i + 1 < WS_GROUP_MAX ? 1 : 1000000000000ull, tid, true);
        c[i].linked = i + 1 < WS_GROUP_MAX;
    }
    cr_assert(run_group(c, WS_GROUP_MAX));
    for (size_t i = 0; i < WS_GROUP_MAX; i++) {
        ws_status want = i + 1 < WS_GROUP_MAX ? WS_LINKED_EVENT_FAILED : WS_INSUFFICIENT_FUNDS;
        cr_assert_eq(c[i].status, want, "member %zu: %s", i, ws_status_code(c[i].status));
    }
    cr_assert_eq(balance("A"), a);
    cr_assert_eq(balance("B"), b);
    cr_assert_eq(log_next_lsn(), lsn + WS_GROUP_MAX);

    static ws_command again[EARLIER];
    memcpy(again, earlier, sizeof(again));
    cr_assert_not(run(again, EARLIER));
    for (size_t i = 0; i < EARLIER; i++) {
        cr_assert(again[i].replayed, "pre-%zu no longer replays", i);
        cr_assert_eq(again[i].from_balance, earlier[i].from_balance, "pre-%zu", i);
    }
    cr_assert_eq(balance("A"), a);
    assert_verify_ok();
}

/* Chains that held, failed and were open survive a restart: the state replayed from the log
 * (and from a checkpoint) is the same, and every member's retry answers the same. */
Test(sm, restart_replays_chains_to_the_same_state) {
    create_abc(100, 0, 0);
    ws_command c[8];
    several_groups(c);
    c[7] = linked(transfer("A", "C", 1, "s-7", true));
    ws_group g[5] = {{.cmds = &c[0], .n = 2},
                     {.cmds = &c[2], .n = 2},
                     {.cmds = &c[4], .n = 2},
                     {.cmds = &c[6], .n = 1},
                     {.cmds = &c[7], .n = 1}};
    ws_group *p[5] = {&g[0], &g[1], &g[2], &g[3], &g[4]};
    cr_assert(run_groups(p, 5));
    state before;
    capture(&before);

    for (int pass = 0; pass < 2; pass++) {
        cr_assert_eq(reopen(), WS_OK, "pass %d", pass);
        state after;
        capture(&after);
        assert_same_state(&before, &after);
        assert_balances(0, 100, 0);
        ws_command r[8];
        several_groups(r);
        r[7] = linked(transfer("A", "C", 1, "s-7", true));
        for (size_t i = 0; i < 5; i++) {
            g[i].cmds = r + (g[i].cmds - c);
        }
        cr_assert_not(run_groups(p, 5), "pass %d: a retry staged something", pass);
        for (size_t i = 0; i < 8; i++) {
            cr_assert(r[i].replayed, "pass %d: member %zu not replayed", pass, i);
            cr_assert_eq(r[i].status, c[i].status, "pass %d: member %zu", pass, i);
            cr_assert_eq(r[i].from_balance, c[i].from_balance, "pass %d: member %zu", pass, i);
            cr_assert_eq(r[i].to_balance, c[i].to_balance, "pass %d: member %zu", pass, i);
        }
        for (size_t i = 0; i < 5; i++) {
            g[i].cmds = c + (g[i].cmds - r);
        }
        checkpoint_now(); /* the second pass loads the checkpoint */
    }
    cr_assert_eq(sm_loaded_checkpoint(m)->next_lsn, before.next_lsn);
    assert_verify_ok();
}

/* ---- read-only ------------------------------------------------------------------------------ */

Test(sm, read_only_refuses_everything) {
    setup_accounts("A", 10, "B", 0);
    sm_set_read_only(m);
    cr_assert(sm_read_only(m));
    ws_command c[3] = {create("C", 1), transfer("A", "B", 5, "client-1", true),
                       transfer("A", "B", 5, "g-1", false)};
    cr_assert_not(run(c, 3), "a read-only machine staged something");
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(c[i].status, WS_UNAVAILABLE, "command %zu", i);
    }
    cr_assert_eq(log_next_lsn(), 3);
    cr_assert_eq(balance("A"), 10);
    cr_assert_eq(published("C"), UINT64_MAX);
}

/* ---- restarts ------------------------------------------------------------------------------- */

Test(sm, state_reloads_from_the_log) {
    setup_accounts("A", 100, "B", 0);
    ws_command t[2] = {transfer("A", "B", 60, "client-1", true),
                       transfer("A", "B", 90, "client-2", true)};
    cr_assert(run(t, 2));
    cr_assert_eq(t[0].status, WS_OK);
    cr_assert_eq(t[1].status, WS_INSUFFICIENT_FUNDS);

    cr_assert_eq(reopen(), WS_OK);
    cr_assert_eq(sm_loaded_checkpoint(m)->next_lsn, 1, "a checkpoint appeared");
    cr_assert_eq(sm_account_count(m), 2);
    cr_assert(sm_total_money(m) == 100);
    assert_committed_at_log_end();
    /* Balances were reloaded and are visible to readers. */
    cr_assert_eq(balance("A"), 40);
    cr_assert_eq(balance("B"), 60);
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
    /* The numbering continues after the reloaded one. */
    cr_assert_eq(last_seq(), 6);
    ws_command dup = create("A", 1);
    cr_assert_not(run(&dup, 1));
    cr_assert_eq(dup.status, WS_ACCOUNT_EXISTS, "reloaded accounts are not known");
    assert_verify_ok();
}

/* A checkpoint, more batches after it, a restart: the checkpoint is loaded, the tail
 * replayed, and both the checkpoint's transferIDs and the tail's still replay. */
Test(sm, state_reloads_from_checkpoint_and_tail) {
    setup_accounts("A", 100, "B", 0);
    ws_command t[2] = {transfer("A", "B", 60, "client-1", true),
                       transfer("A", "B", 90, "client-2", true)};
    cr_assert(run(t, 2));
    checkpoint_now();
    uint64_t covered = atomic_load(&sm_committed(m)->next_lsn);
    ws_command u[3] = {create("C", 7), transfer("B", "C", 10, "client-3", true),
                       transfer("C", "X", 1, "client-4", true)};
    cr_assert(run(u, 3));
    state before;
    capture(&before);

    cr_assert_eq(reopen(), WS_OK);
    cr_assert_eq(sm_loaded_checkpoint(m)->next_lsn, covered, "the checkpoint was not loaded");
    cr_assert_eq(sm_loaded_checkpoint(m)->account_count, 2);
    state after;
    capture(&after);
    assert_same_state(&before, &after);
    cr_assert_eq(balance("B"), 50);
    cr_assert_eq(balance("C"), 17);
    ws_command retry[4] = {
        transfer("A", "B", 60, "client-1", true), transfer("A", "B", 90, "client-2", true),
        transfer("B", "C", 10, "client-3", true), transfer("C", "X", 1, "client-4", true)};
    cr_assert_not(run(retry, 4));
    cr_assert_eq(retry[0].status, WS_OK);
    cr_assert_eq(retry[0].from_balance, 40);
    cr_assert_eq(retry[1].status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(retry[2].status, WS_OK);
    cr_assert_eq(retry[2].to_balance, 17);
    cr_assert_eq(retry[3].status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(retry[3].missing_side, 2);
    for (size_t i = 0; i < 4; i++) {
        cr_assert(retry[i].replayed, "retry %zu", i);
    }
    ws_command dup = create("A", 1);
    cr_assert_not(run(&dup, 1));
    cr_assert_eq(dup.status, WS_ACCOUNT_EXISTS, "an account of the checkpoint is not known");
    assert_verify_ok();
}

/* The state from a checkpoint equals the state from the whole log, over several checkpoints
 * and more accounts than one checkpoint chunk holds (the second checkpoint patches chunks). */
Test(sm, checkpoints_give_the_same_state_as_the_log) {
    enum { N = 1100 };
    static ws_command c[BATCH_MAX];
    char id[16];
    for (size_t done = 0; done < N;) {
        size_t n = N - done < BATCH_MAX ? N - done : BATCH_MAX;
        for (size_t i = 0; i < n; i++) {
            snprintf(id, sizeof(id), "acct-%zu", done + i);
            c[i] = create(id, 1000 + done + i);
        }
        cr_assert(run(c, n));
        done += n;
    }
    checkpoint_now();
    /* Transfers touching only the second chunk, then some touching both. */
    for (size_t i = 0; i < 20; i++) {
        char from[16];
        char to[16];
        char tid[16];
        snprintf(from, sizeof(from), "acct-%zu", 1024 + i);
        snprintf(to, sizeof(to), "acct-%zu", 1050 + i);
        snprintf(tid, sizeof(tid), "x-%zu", i);
        c[i] = transfer(from, to, 1 + i, tid, true);
    }
    cr_assert(run(c, 20));
    checkpoint_now();
    for (size_t i = 0; i < 20; i++) {
        char from[16];
        char to[16];
        char tid[16];
        snprintf(from, sizeof(from), "acct-%zu", i);
        snprintf(to, sizeof(to), "acct-%zu", 1090 - i);
        snprintf(tid, sizeof(tid), "y-%zu", i);
        c[i] = transfer(from, to, 100, tid, i % 2 == 0);
    }
    cr_assert(run(c, 20));
    state with_tail;
    capture(&with_tail);
    checkpoint_now();
    assert_verify_ok();

    cr_assert_eq(reopen(), WS_OK);
    cr_assert_eq(sm_loaded_checkpoint(m)->next_lsn, with_tail.next_lsn);
    static state from_ckpt;
    capture(&from_ckpt);
    assert_same_state(&with_tail, &from_ckpt);

    /* The same state from the log alone: a copy of the data directory without proj/. */
    sm_free(m);
    m = NULL;
    store_close(st);
    st = NULL;
    char proj[sizeof(DIR_TEMPLATE) + 8];
    snprintf(proj, sizeof(proj), "%s/proj", dir);
    tmpdir_remove(proj);
    cr_assert_eq(store_open(dir, false, &st), WS_OK);
    cr_assert_eq(sm_open(st, BATCH_MAX, &m), WS_OK);
    cr_assert_eq(sm_loaded_checkpoint(m)->next_lsn, 1);
    static state from_log;
    capture(&from_log);
    assert_same_state(&with_tail, &from_log);
}

/* ---- events --------------------------------------------------------------------------------- */

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
        transfer("A", "B", 60, "g-2", false), /* refused: no events */
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

    /* One account's events, before and after a checkpoint. */
    const uint64_t want[4] = {1, 3, 6, 8};
    for (int pass = 0; pass < 2; pass++) {
        collected a = {.n = 0};
        cr_assert_eq(store_scan_events(st, 0, 100, "A", 1, collect, &a, &more), WS_OK);
        cr_assert_eq(a.n, 4, "pass %d", pass);
        for (size_t i = 0; i < 4; i++) {
            cr_assert_eq(a.events[i].seq, want[i], "pass %d", pass);
        }
        checkpoint_now();
    }
    assert_verify_ok();
}

/* ---- data that does not add up ------------------------------------------------------------ */

/* sm_open (and verify) must refuse the store as it now is. */
static void assert_open_refused(void) {
    sm_free(m);
    m = NULL;
    cr_assert_eq(sm_open(st, BATCH_MAX, &m), WS_CORRUPT, "sm_open accepted inconsistent data");
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

/* Appends r to the log behind the machine's back. */
static void append_behind(const ws_record *r, uint64_t lsn_skip) {
    uint64_t lsn;
    uint64_t seq;
    log_end(&lsn, &seq);
    store_batch *b = store_batch_new();
    cr_assert_not_null(b);
    store_batch_begin(b, lsn + lsn_skip, seq, NOW_US);
    store_batch_add(b, r);
    cr_assert_eq(store_commit(st, b), WS_OK);
    store_batch_free(b);
}

static ws_record record(ws_record_kind kind, const char *from, const char *to, const char *txn,
                        uint64_t amount, uint64_t fb, uint64_t tb) {
    ws_record r;
    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.status = WS_OK;
    set_id(r.account, &r.account_len, from);
    r.amount = amount;
    r.from_balance = fb;
    if (to) {
        set_id(r.to, &r.to_len, to);
        set_id(r.txn, &r.txn_len, txn);
    }
    r.to_balance = tb;
    if (kind == WS_REC_ACCOUNT_CREATED) {
        ws_record_set_params(&r, NULL);
    }
    return r;
}

Test(sm, open_refuses_record_that_does_not_apply) {
    workload();
    ws_record r = record(WS_REC_TRANSFER, "A", "B", "g-9", 50, 0, 110); /* A has only 40 */
    append_behind(&r, 0);
    assert_open_refused();
}

Test(sm, open_refuses_gap_in_log) {
    workload();
    ws_record r = record(WS_REC_ACCOUNT_CREATED, "C", NULL, NULL, 5, 5, 0);
    append_behind(&r, 1);
    assert_open_refused();
}

Test(sm, open_refuses_checkpoint_that_does_not_add_up) {
    workload();
    checkpoint_now();
    int64_t bal[STORE_CHUNK_ACCOUNTS];
    size_t n;
    cr_assert_eq(store_ckpt_balances(st, 0, bal, &n), WS_OK);
    cr_assert_eq(n, 2);
    bal[0] += 1;
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    store_ckpt_put_balances(c, 0, bal, n);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    assert_open_refused();
}

Test(sm, open_refuses_checkpoint_past_log_end) {
    workload();
    checkpoint_now();
    store_ckpt_meta meta;
    cr_assert_eq(store_ckpt_meta_get(st, &meta), WS_OK);
    meta.next_lsn += 1;
    store_ckpt *c = store_ckpt_new();
    cr_assert_not_null(c);
    store_ckpt_put_meta(c, &meta);
    cr_assert_eq(store_ckpt_commit(st, c), WS_OK);
    store_ckpt_free(c);
    assert_open_refused();
}
