/* Unit tests for core/ledger: the state machine that decides commands and applies records.
 *
 * decide: every outcome of create_account and balance_transfer at its exact boundary, the
 * order of the rules (ledger.h: idempotency, same_account, account_not_found with the
 * fromAccount first, insufficient_funds, balance_overflow) pinned by cases where two rules
 * fail at once, since the client sees only the first; the record each outcome appends (none
 * for a refusal without a client's transferID); replays and conflicts against a prior record;
 * and that deciding changes nothing.
 * apply: the state each record kind leads to, and every record apply must refuse (WS_CORRUPT,
 * a reason, the state untouched).
 * Two-phase transfers: each result of a pending transfer and of a post or void in the order
 * ledger.h checks them, each with a case where an earlier check outranks it; reservations
 * counted against funds and limits (a plain transfer's too); what a partial post, a void and
 * an expiry do (at their exact times); the two-phase records apply refuses; undo of each step
 * restoring the balances, pending totals, pending table and idempotency index exactly; and
 * the pending totals agreeing with the pending table after every step. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "core/ledger.h"
#include "recordutil.h"

/* The default account parameters: currency XXX, no overdraft, no maximum. */
static const ws_account_params XXX_PARAMS = {3, "XXX", 0, WS_AMOUNT_MAX};

static ws_ledger l;
static const ws_hash_key KEY = {0x0123456789abcdefull, 0xfedcba9876543210ull};

static void setup(void) { cr_assert_eq(ws_ledger_init(&l, KEY), WS_OK); }

static void teardown(void) { ws_ledger_free(&l); }

TestSuite(ledger, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ----------------------------------------------------------------------------------
 */

/* Applies r as the ledger's next record; asserts it is accepted. */
static ws_effect apply_ok(const ws_record *r) {
    ws_effect eff;
    const char *why = NULL;
    ws_status s = ws_ledger_apply(&l, r, l.next_lsn, l.next_seq, &eff, &why);
    cr_assert_eq(s, WS_OK, "apply refused: %s", why ? why : "(no reason)");
    return eff;
}

/* Creates an account through decide and apply; returns its index. */
static uint32_t create(const char *id, uint64_t amount) {
    ws_decision d;
    ws_ledger_decide_create(&l, id, (uint8_t)strlen(id), amount, &XXX_PARAMS, &d);
    cr_assert_eq(d.status, WS_CREATED, "create %s", id);
    cr_assert(d.append);
    ws_effect eff = apply_ok(&d.rec);
    cr_assert_eq(eff.count, 1);
    return eff.touched[0];
}

static uint64_t balance(const char *id) {
    uint32_t i = ws_accounts_find(l.accounts, id, strlen(id));
    cr_assert_neq(i, WS_ACCOUNT_NONE, "no account %s", id);
    return ws_accounts_balance(l.accounts, i);
}

static ws_transfer_req req(const char *from, const char *to, uint64_t amount, const char *txn,
                           bool given) {
    return (ws_transfer_req){.from = from,
                             .from_len = (uint8_t)strlen(from),
                             .to = to,
                             .to_len = (uint8_t)strlen(to),
                             .amount = amount,
                             .txn = txn,
                             .txn_len = (uint8_t)strlen(txn),
                             .txn_given = given};
}

static ws_decision decide(const char *from, const char *to, uint64_t amount, const char *txn,
                          bool given, const ws_record *prior) {
    ws_transfer_req q = req(from, to, amount, txn, given);
    ws_decision d;
    memset(&d, 0xEE, sizeof(d)); /* decide must set every field it answers with */
    ws_ledger_decide_transfer(&l, &q, prior, &d);
    return d;
}

/* Decides and, if the decision appends a record, applies it. */
static ws_decision transfer(const char *from, const char *to, uint64_t amount, const char *txn,
                            bool given) {
    ws_decision d = decide(from, to, amount, txn, given, NULL);
    if (d.append) {
        apply_ok(&d.rec);
    }
    return d;
}

/* Everything apply may change. */
typedef struct {
    uint64_t next_lsn;
    uint64_t next_seq;
    ws_u128 total_money;
    uint64_t transfers;
    uint64_t refusals;
    size_t accounts;
    uint64_t balances[16];
    size_t idem;
} snapshot;

static snapshot snap(void) {
    snapshot s;
    memset(&s, 0, sizeof(s));
    s.next_lsn = l.next_lsn;
    s.next_seq = l.next_seq;
    s.total_money = l.total_money;
    s.transfers = l.transfers;
    s.refusals = l.refusals;
    s.accounts = ws_accounts_count(l.accounts);
    cr_assert_leq(s.accounts, 16);
    for (size_t i = 0; i < s.accounts; i++) {
        s.balances[i] = ws_accounts_balance(l.accounts, (uint32_t)i);
    }
    s.idem = ws_idem_count(l.idem);
    return s;
}

static void assert_same(const snapshot *a, const snapshot *b, const char *what) {
    cr_assert_eq(a->next_lsn, b->next_lsn, "%s: next_lsn changed", what);
    cr_assert_eq(a->next_seq, b->next_seq, "%s: next_seq changed", what);
    cr_assert(a->total_money == b->total_money, "%s: total_money changed", what);
    cr_assert_eq(a->transfers, b->transfers, "%s: transfers changed", what);
    cr_assert_eq(a->refusals, b->refusals, "%s: refusals changed", what);
    cr_assert_eq(a->accounts, b->accounts, "%s: account count changed", what);
    for (size_t i = 0; i < a->accounts; i++) {
        cr_assert_eq(a->balances[i], b->balances[i], "%s: balance %zu changed", what, i);
    }
    cr_assert_eq(a->idem, b->idem, "%s: idempotency entries changed", what);
}

/* The lsns the idempotency index holds for txn (at most 8). */
static size_t idem_lsns(const char *txn, uint64_t *out) {
    uint64_t fp = ws_idem_fp(l.fp_key, txn, strlen(txn));
    size_t pos = 0;
    size_t n = 0;
    for (uint64_t lsn = ws_idem_next(l.idem, fp, &pos); lsn != 0 && n < 8;
         lsn = ws_idem_next(l.idem, fp, &pos)) {
        out[n++] = lsn;
    }
    return n;
}

/* apply must refuse r as record (lsn, seq): WS_CORRUPT, a reason, nothing changed. */
static void assert_apply_refused(const ws_record *r, uint64_t lsn, uint64_t seq, const char *what) {
    snapshot before = snap();
    ws_effect eff;
    const char *why = NULL;
    ws_status s = ws_ledger_apply(&l, r, lsn, seq, &eff, &why);
    cr_assert_eq(s, WS_CORRUPT, "%s: apply returned %s", what, ws_status_code(s));
    cr_assert_not_null(why, "%s: no reason given", what);
    cr_assert_gt(strlen(why), 0, "%s: an empty reason", what);
    snapshot after = snap();
    assert_same(&before, &after, what);
    cr_log_info("%s: %s", what, why);
}

static void assert_refused_at_next(const ws_record *r, const char *what) {
    assert_apply_refused(r, l.next_lsn, l.next_seq, what);
}

/* ---- the empty ledger and create_account ----------------------------------------------------- */

Test(ledger, init_is_empty) {
    cr_assert_eq(l.next_lsn, 1);
    cr_assert_eq(l.next_seq, 1);
    cr_assert(l.total_money == 0);
    cr_assert_eq(l.transfers, 0);
    cr_assert_eq(l.refusals, 0);
    cr_assert_eq(ws_accounts_count(l.accounts), 0);
    cr_assert_eq(ws_idem_count(l.idem), 0);
    cr_assert_eq(l.fp_key.k0, KEY.k0);
    cr_assert_eq(l.fp_key.k1, KEY.k1);
}

Test(ledger, create_decides_then_applies) {
    snapshot before = snap();
    ws_decision d;
    ws_ledger_decide_create(&l, "alice", 5, 100, &XXX_PARAMS, &d);
    cr_assert_eq(d.status, WS_CREATED);
    cr_assert_not(d.replayed);
    cr_assert_eq(d.missing_side, 0);
    cr_assert_eq(d.from_balance, 100);
    cr_assert(d.append);
    ws_record want = rec_created("alice", 100);
    rec_assert_eq(&d.rec, &want, "created record");
    snapshot mid = snap();
    assert_same(&before, &mid, "decide_create");

    ws_effect eff = apply_ok(&d.rec);
    cr_assert_eq(eff.count, 1);
    cr_assert_eq(eff.touched[0], 0);
    cr_assert_eq(l.next_lsn, 2);
    cr_assert_eq(l.next_seq, 2);
    cr_assert(l.total_money == 100);
    cr_assert_eq(ws_accounts_count(l.accounts), 1);
    cr_assert_eq(balance("alice"), 100);
    cr_assert_eq(l.transfers, 0);
    cr_assert_eq(ws_idem_count(l.idem), 0, "a creation took an idempotency entry");
    int64_t b;
    cr_assert_not(ws_accounts_read(l.accounts, "alice", 5, &b),
                  "apply published: publishing is the writer's, after the sync");

    ws_ledger_decide_create(&l, "alice", 5, 7, &XXX_PARAMS, &d);
    cr_assert_eq(d.status, WS_ACCOUNT_EXISTS);
    cr_assert_not(d.append);
    cr_assert_not(d.replayed);
    cr_assert_eq(balance("alice"), 100);
    /* A prefix or an extension of an ID is another account. */
    ws_ledger_decide_create(&l, "alic", 4, 7, &XXX_PARAMS, &d);
    cr_assert_eq(d.status, WS_CREATED);
    ws_ledger_decide_create(&l, "alicee", 6, 7, &XXX_PARAMS, &d);
    cr_assert_eq(d.status, WS_CREATED);
}

Test(ledger, create_amount_extremes_and_128_bit_total) {
    create("zero", 0);
    create("max1", WS_AMOUNT_MAX);
    create("max2", WS_AMOUNT_MAX);
    create("max3", WS_AMOUNT_MAX);
    cr_assert_eq(balance("zero"), 0);
    cr_assert_eq(balance("max3"), WS_AMOUNT_MAX);
    cr_assert(l.total_money == (ws_u128)WS_AMOUNT_MAX * 3, "the total lost its high bits");
    cr_assert_eq(l.next_lsn, 5);
    cr_assert_eq(l.next_seq, 5);
}

/* ---- balance_transfer: success --------------------------------------------------------------- */

Test(ledger, transfer_decides_then_applies) {
    create("A", 100);
    create("B", 0);
    snapshot before = snap();
    ws_decision d = decide("A", "B", 30, "t1", false, NULL);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_not(d.replayed);
    cr_assert_eq(d.missing_side, 0);
    cr_assert_eq(d.from_balance, 70);
    cr_assert_eq(d.to_balance, 30);
    cr_assert(d.append);
    ws_record want = rec_transfer("A", "B", "t1", 30, 70, 30);
    rec_assert_eq(&d.rec, &want, "transfer record");
    snapshot mid = snap();
    assert_same(&before, &mid, "decide_transfer");

    ws_effect eff = apply_ok(&d.rec);
    cr_assert_eq(eff.count, 2);
    cr_assert_eq(eff.touched[0], 0);
    cr_assert_eq(eff.touched[1], 1);
    cr_assert_eq(balance("A"), 70);
    cr_assert_eq(balance("B"), 30);
    cr_assert_eq(l.next_lsn, 4);
    cr_assert_eq(l.next_seq, 5, "a transfer is two events");
    cr_assert_eq(l.transfers, 1);
    cr_assert_eq(l.refusals, 0);
    cr_assert(l.total_money == 100, "a transfer changed the money");
    uint64_t lsns[8];
    cr_assert_eq(idem_lsns("t1", lsns), 1);
    cr_assert_eq(lsns[0], 3);
}

/* A generated transactionID (the client gave none) is remembered as well: the log's
 * transfers all carry one. */
Test(ledger, generated_txn_is_remembered) {
    create("A", 100);
    create("B", 0);
    ws_decision d = transfer("A", "B", 1, "gen-1", false);
    cr_assert_eq(d.status, WS_OK);
    uint64_t lsns[8];
    cr_assert_eq(idem_lsns("gen-1", lsns), 1);
    cr_assert_eq(lsns[0], 3);
}

Test(ledger, amounts_at_the_extremes) {
    create("A", WS_AMOUNT_MAX);
    create("B", 0);
    ws_decision d = transfer("A", "B", WS_AMOUNT_MAX, "all", false);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.from_balance, 0);
    cr_assert_eq(d.to_balance, WS_AMOUNT_MAX);
    cr_assert_eq(balance("A"), 0);
    cr_assert_eq(balance("B"), WS_AMOUNT_MAX);
    d = transfer("A", "B", 1, "one", false);
    cr_assert_eq(d.status, WS_INSUFFICIENT_FUNDS, "a debit from 0");
    d = transfer("B", "A", 1, "back-1", false);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.from_balance, WS_AMOUNT_MAX - 1);
    cr_assert_eq(d.to_balance, 1);
    d = transfer("B", "A", WS_AMOUNT_MAX - 1, "back-rest", false);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(balance("A"), WS_AMOUNT_MAX);
    cr_assert_eq(balance("B"), 0);
    cr_assert(l.total_money == WS_AMOUNT_MAX);
    cr_assert_eq(l.transfers, 3);
}

Test(ledger, insufficient_funds_boundary) {
    create("A", 100);
    create("B", 0);
    cr_assert_eq(decide("A", "B", 101, "t", false, NULL).status, WS_INSUFFICIENT_FUNDS);
    ws_decision d = decide("A", "B", 100, "t", false, NULL);
    cr_assert_eq(d.status, WS_OK, "the whole balance is movable");
    cr_assert_eq(d.from_balance, 0);
    cr_assert_eq(decide("B", "A", 1, "t", false, NULL).status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(decide("A", "B", WS_AMOUNT_MAX, "t", false, NULL).status, WS_INSUFFICIENT_FUNDS);
}

Test(ledger, balance_overflow_boundary) {
    create("A", 100);
    create("B", WS_AMOUNT_MAX - 10);
    create("C", WS_AMOUNT_MAX);
    /* to + amount == 2^63-1 is the largest legal balance; one more overflows. */
    ws_decision d = decide("A", "B", 10, "t", false, NULL);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.to_balance, WS_AMOUNT_MAX);
    cr_assert_eq(decide("A", "B", 11, "t", false, NULL).status, WS_BALANCE_OVERFLOW);
    cr_assert_eq(decide("A", "C", 1, "t", false, NULL).status, WS_BALANCE_OVERFLOW);
    cr_assert_eq(decide("C", "B", WS_AMOUNT_MAX, "t", false, NULL).status, WS_BALANCE_OVERFLOW);
    cr_assert_eq(decide("B", "C", 1, "t", false, NULL).status, WS_BALANCE_OVERFLOW);
}

/* ---- balance_transfer: refusals ----------------------------------------------------------------
 */

typedef struct {
    const char *from;
    const char *to;
    uint64_t amount;
    ws_status status;
    uint8_t side;
} refusal_case;

/* A has 10, B has 2^63-1; X and Y do not exist. */
static const refusal_case refusal_cases[] = {
    {"A", "A", 5, WS_SAME_ACCOUNT, 0},        {"X", "B", 5, WS_ACCOUNT_NOT_FOUND, 1},
    {"A", "X", 5, WS_ACCOUNT_NOT_FOUND, 2},   {"X", "Y", 5, WS_ACCOUNT_NOT_FOUND, 1},
    {"A", "AB", 5, WS_ACCOUNT_NOT_FOUND, 2}, /* "A" + "B" is no account */
    {"A", "B", 11, WS_INSUFFICIENT_FUNDS, 0}, {"A", "B", 1, WS_BALANCE_OVERFLOW, 0},
};
#define REFUSAL_CASES (sizeof(refusal_cases) / sizeof(refusal_cases[0]))

static void refusal_accounts(void) {
    create("A", 10);
    create("B", WS_AMOUNT_MAX);
}

Test(ledger, refusals_without_client_txn_append_nothing) {
    refusal_accounts();
    snapshot before = snap();
    for (size_t i = 0; i < REFUSAL_CASES; i++) {
        const refusal_case *c = &refusal_cases[i];
        ws_decision d = decide(c->from, c->to, c->amount, "gen", false, NULL);
        cr_assert_eq(d.status, c->status, "case %zu: %s", i, ws_status_code(d.status));
        cr_assert_eq(d.missing_side, c->side, "case %zu: side %u", i, d.missing_side);
        cr_assert_not(d.replayed, "case %zu", i);
        cr_assert_not(d.append, "case %zu: a refusal without a client's transferID appends", i);
        cr_assert_eq(d.from_balance, 0, "case %zu", i);
        cr_assert_eq(d.to_balance, 0, "case %zu", i);
    }
    snapshot after = snap();
    assert_same(&before, &after, "refusals");
}

Test(ledger, refusals_with_client_txn_append_a_refusal) {
    refusal_accounts();
    for (size_t i = 0; i < REFUSAL_CASES; i++) {
        const refusal_case *c = &refusal_cases[i];
        char txn[16];
        snprintf(txn, sizeof(txn), "client-%zu", i);
        ws_decision d = decide(c->from, c->to, c->amount, txn, true, NULL);
        cr_assert_eq(d.status, c->status, "case %zu", i);
        cr_assert_eq(d.missing_side, c->side, "case %zu", i);
        cr_assert(d.append, "case %zu: the refusal is not remembered", i);
        ws_record want = rec_refused(c->status, c->side, c->from, c->to, txn, c->amount);
        rec_assert_eq(&d.rec, &want, "refusal record");

        snapshot before = snap();
        ws_effect eff = apply_ok(&d.rec);
        cr_assert_eq(eff.count, 0, "case %zu: a refusal touched a balance", i);
        cr_assert_eq(l.next_lsn, before.next_lsn + 1);
        cr_assert_eq(l.next_seq, before.next_seq, "case %zu: a refusal took a seq", i);
        cr_assert_eq(l.refusals, before.refusals + 1);
        cr_assert_eq(l.transfers, before.transfers);
        cr_assert_eq(balance("A"), 10);
        cr_assert_eq(balance("B"), WS_AMOUNT_MAX);
        uint64_t lsns[8];
        cr_assert_eq(idem_lsns(txn, lsns), 1, "case %zu", i);
        cr_assert_eq(lsns[0], before.next_lsn);
    }
    cr_assert_eq(l.refusals, REFUSAL_CASES);
}

/* Two rules fail at once: the one checked first is the answer. */
Test(ledger, order_of_checks) {
    create("A", 0);
    create("B", WS_AMOUNT_MAX);
    create("C", 4);
    /* same_account before account_not_found and insufficient_funds. */
    cr_assert_eq(decide("Z", "Z", 5, "t", false, NULL).status, WS_SAME_ACCOUNT);
    cr_assert_eq(decide("A", "A", 5, "t", false, NULL).status, WS_SAME_ACCOUNT);
    cr_assert_eq(decide("B", "B", 5, "t", false, NULL).status, WS_SAME_ACCOUNT);
    /* fromAccount missing before toAccount missing. */
    ws_decision d = decide("X", "Y", 5, "t", false, NULL);
    cr_assert_eq(d.status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(d.missing_side, 1);
    /* account_not_found before insufficient_funds and balance_overflow. */
    d = decide("A", "X", 5, "t", false, NULL); /* A has nothing */
    cr_assert_eq(d.status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(d.missing_side, 2);
    d = decide("X", "B", 5, "t", false, NULL); /* B is full */
    cr_assert_eq(d.status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(d.missing_side, 1);
    /* insufficient_funds before balance_overflow. */
    cr_assert_eq(decide("C", "B", 5, "t", false, NULL).status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(decide("A", "B", 1, "t", false, NULL).status, WS_INSUFFICIENT_FUNDS);
}

/* Idempotency is checked before every other rule. */
Test(ledger, idempotency_before_every_rule) {
    create("A", 100);
    create("B", 0);
    ws_decision first = transfer("A", "B", 100, "t1", true);
    cr_assert_eq(first.status, WS_OK);
    ws_record prior = first.rec;
    /* A now has nothing: a fresh transfer would be insufficient_funds; the retry replays. */
    ws_decision d = decide("A", "B", 100, "t1", true, &prior);
    cr_assert_eq(d.status, WS_OK);
    cr_assert(d.replayed);
    /* A same-account request with a used transactionID is a conflict, not same_account. */
    d = decide("A", "A", 100, "t1", true, &prior);
    cr_assert_eq(d.status, WS_TRANSFER_ID_CONFLICT);
    /* One naming a missing account is a conflict, not account_not_found. */
    d = decide("A", "X", 100, "t1", true, &prior);
    cr_assert_eq(d.status, WS_TRANSFER_ID_CONFLICT);
    cr_assert_eq(d.missing_side, 0);
    /* A refusal replays even after the state changed: X -> B was account_not_found, and X
     * exists now. */
    ws_decision r = transfer("X", "B", 5, "t2", true);
    cr_assert_eq(r.status, WS_ACCOUNT_NOT_FOUND);
    ws_record refused = r.rec;
    create("X", 50);
    d = decide("X", "B", 5, "t2", true, &refused);
    cr_assert_eq(d.status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(d.missing_side, 1);
    cr_assert(d.replayed);
    cr_assert_not(d.append);
}

/* ---- replays and conflicts ---------------------------------------------------------------------
 */

Test(ledger, replay_of_a_transfer_gives_its_balances) {
    create("A", 100);
    create("B", 0);
    ws_decision first = transfer("A", "B", 30, "t1", true);
    ws_record prior = first.rec;
    transfer("A", "B", 5, "t2", true); /* the balances move on */
    snapshot before = snap();
    ws_decision d = decide("A", "B", 30, "t1", true, &prior);
    cr_assert_eq(d.status, WS_OK);
    cr_assert(d.replayed);
    cr_assert_eq(d.from_balance, 70, "the replay did not answer the original balances");
    cr_assert_eq(d.to_balance, 30);
    cr_assert_eq(d.missing_side, 0);
    cr_assert_not(d.append, "a replay appends a record");
    snapshot after = snap();
    assert_same(&before, &after, "replay");
}

Test(ledger, replay_of_each_refusal_gives_its_code) {
    refusal_accounts();
    for (size_t i = 0; i < REFUSAL_CASES; i++) {
        const refusal_case *c = &refusal_cases[i];
        ws_record prior = rec_refused(c->status, c->side, c->from, c->to, "client", c->amount);
        ws_decision d = decide(c->from, c->to, c->amount, "client", true, &prior);
        cr_assert_eq(d.status, c->status, "case %zu", i);
        cr_assert_eq(d.missing_side, c->side, "case %zu", i);
        cr_assert(d.replayed, "case %zu", i);
        cr_assert_not(d.append, "case %zu", i);
        cr_assert_eq(d.from_balance, 0);
        cr_assert_eq(d.to_balance, 0);
    }
}

Test(ledger, conflict_when_parameters_differ) {
    create("A", 100);
    create("B", 0);
    create("C", 0);
    ws_record prior = transfer("A", "B", 30, "t1", true).rec;
    ws_record refused = transfer("A", "B", 500, "t2", true).rec;
    cr_assert_eq(refused.kind, WS_REC_TRANSFER_REFUSED);
    const struct {
        const char *from;
        const char *to;
        uint64_t amount;
    } other[] = {
        {"A", "B", 31}, {"A", "B", 29},  {"B", "A", 30},  {"A", "C", 30},
        {"C", "B", 30}, {"A", "BB", 30}, {"AA", "B", 30},
    };
    snapshot before = snap();
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        ws_decision d = decide(other[i].from, other[i].to, other[i].amount, "t1", true, &prior);
        cr_assert_eq(d.status, WS_TRANSFER_ID_CONFLICT, "case %zu against a transfer", i);
        cr_assert_not(d.replayed);
        cr_assert_not(d.append);
        cr_assert_eq(d.from_balance, 0);
        cr_assert_eq(d.to_balance, 0);
        uint64_t amount = other[i].amount == 30 ? 500 : other[i].amount;
        d = decide(other[i].from, other[i].to, amount, "t2", true, &refused);
        cr_assert_eq(d.status, WS_TRANSFER_ID_CONFLICT, "case %zu against a refusal", i);
        cr_assert_not(d.replayed);
    }
    snapshot after = snap();
    assert_same(&before, &after, "conflicts");
}

Test(ledger, same_transfer) {
    ws_record r = rec_transfer("A", "B", "t", 30, 70, 30);
    ws_transfer_req q = req("A", "B", 30, "t", true);
    cr_assert(ws_ledger_same_transfer(&r, &q));
    q = req("A", "B", 30, "other-txn", false);
    cr_assert(ws_ledger_same_transfer(&r, &q), "the transactionID is not a parameter");
    q = req("A", "B", 31, "t", true);
    cr_assert_not(ws_ledger_same_transfer(&r, &q));
    q = req("B", "A", 30, "t", true);
    cr_assert_not(ws_ledger_same_transfer(&r, &q));
    q = req("A", "BC", 30, "t", true);
    cr_assert_not(ws_ledger_same_transfer(&r, &q));
    q = req("AB", "B", 30, "t", true);
    cr_assert_not(ws_ledger_same_transfer(&r, &q));
    ws_record x = rec_refused(WS_SAME_ACCOUNT, 0, "A", "A", "t", 5);
    q = req("A", "A", 5, "t", true);
    cr_assert(ws_ledger_same_transfer(&x, &q));
}

/* A prior record is the one with the same transactionID: anything else is the caller's
 * bug. */
Test(ledger, prior_with_another_txn_asserts, .signal = SIGABRT) {
    create("A", 100);
    create("B", 0);
    ws_record prior = rec_transfer("A", "B", "other", 30, 70, 30);
    ws_decision d = decide("A", "B", 30, "t1", true, &prior);
    cr_log_error("decided %d instead of aborting", (int)d.status);
}

Test(ledger, decide_changes_nothing) {
    create("A", 100);
    create("B", 0);
    ws_record prior = transfer("A", "B", 10, "t1", true).rec;
    snapshot before = snap();
    ws_decision d;
    for (int i = 0; i < 3; i++) {
        ws_ledger_decide_create(&l, "new", 3, 5, &XXX_PARAMS, &d);
        ws_ledger_decide_create(&l, "A", 1, 5, &XXX_PARAMS, &d);
        (void)decide("A", "B", 1, "x", true, NULL);
        (void)decide("A", "B", 1000, "y", true, NULL);
        (void)decide("A", "Q", 1, "z", true, NULL);
        (void)decide("A", "B", 10, "t1", true, &prior);
        (void)decide("A", "B", 11, "t1", true, &prior);
    }
    snapshot after = snap();
    assert_same(&before, &after, "decisions");
    uint64_t lsns[8];
    cr_assert_eq(idem_lsns("x", lsns), 0);
}

/* ---- apply -------------------------------------------------------------------------------------
 */

Test(ledger, apply_each_kind_in_sequence) {
    ws_record recs[5] = {
        rec_created("A", 100),
        rec_created("B", 5),
        rec_transfer("A", "B", "t1", 40, 60, 45),
        rec_refused(WS_INSUFFICIENT_FUNDS, 0, "B", "A", "t2", 1000),
        rec_transfer("B", "A", "t3", 45, 0, 105),
    };
    const uint64_t seq_after[5] = {2, 3, 5, 5, 7};
    for (size_t i = 0; i < 5; i++) {
        apply_ok(&recs[i]);
        cr_assert_eq(l.next_lsn, i + 2);
        cr_assert_eq(l.next_seq, seq_after[i], "record %zu", i);
    }
    cr_assert_eq(balance("A"), 105);
    cr_assert_eq(balance("B"), 0);
    cr_assert(l.total_money == 105);
    cr_assert_eq(l.transfers, 2);
    cr_assert_eq(l.refusals, 1);
    cr_assert_eq(ws_idem_count(l.idem), 3);
    uint64_t lsns[8];
    cr_assert_eq(idem_lsns("t2", lsns), 1);
    cr_assert_eq(lsns[0], 4);
    cr_assert_eq(idem_lsns("t3", lsns), 1);
    cr_assert_eq(lsns[0], 5);
}

Test(ledger, apply_refuses_wrong_numbering) {
    create("A", 100);
    create("B", 0);
    ws_record r = rec_transfer("A", "B", "t1", 1, 99, 1);
    assert_apply_refused(&r, l.next_lsn + 1, l.next_seq, "an lsn one ahead");
    assert_apply_refused(&r, l.next_lsn - 1, l.next_seq, "an lsn one behind");
    assert_apply_refused(&r, 0, l.next_seq, "lsn 0");
    assert_apply_refused(&r, l.next_lsn, l.next_seq + 1, "a seq one ahead");
    assert_apply_refused(&r, l.next_lsn, l.next_seq - 1, "a seq one behind");
    ws_record c = rec_created("C", 1);
    assert_apply_refused(&c, l.next_lsn, l.next_seq + 2, "a creation with a seq gap");
    apply_ok(&r); /* and the right numbers are accepted */
}

Test(ledger, apply_refuses_double_creation) {
    create("A", 100);
    ws_record r = rec_created("A", 100);
    assert_refused_at_next(&r, "the same account created again");
    r = rec_created("A", 0);
    assert_refused_at_next(&r, "the same account created again with 0");
}

Test(ledger, apply_refuses_transfer_of_missing_account) {
    create("A", 100);
    ws_record r = rec_transfer("X", "A", "t1", 1, 0, 101);
    assert_refused_at_next(&r, "a transfer from a missing account");
    r = rec_transfer("A", "X", "t1", 1, 99, 1);
    assert_refused_at_next(&r, "a transfer to a missing account");
}

Test(ledger, apply_refuses_same_account_transfer) {
    create("A", 100);
    ws_record r = rec_transfer("A", "A", "t1", 1, 99, 101);
    assert_refused_at_next(&r, "a transfer from an account to itself");
}

Test(ledger, apply_refuses_debit_past_zero) {
    create("A", 10);
    create("B", 0);
    ws_record r = rec_transfer("A", "B", "t1", 11, 0, 11);
    assert_refused_at_next(&r, "a debit of 11 from 10");
}

Test(ledger, apply_refuses_credit_past_max) {
    create("A", 10);
    create("B", WS_AMOUNT_MAX);
    /* The record's own balances are in range: only the state says it overflows. */
    ws_record r = rec_transfer("A", "B", "t1", 1, 9, WS_AMOUNT_MAX);
    assert_refused_at_next(&r, "a credit past 2^63-1");
}

Test(ledger, apply_refuses_balances_after_that_differ) {
    create("A", 100);
    create("B", 0);
    ws_record r = rec_transfer("A", "B", "t1", 30, 71, 30);
    assert_refused_at_next(&r, "a fromAccount balance one too high");
    r = rec_transfer("A", "B", "t1", 30, 70, 29);
    assert_refused_at_next(&r, "a toAccount balance one too low");
    r = rec_transfer("A", "B", "t1", 30, 30, 70);
    assert_refused_at_next(&r, "the balances swapped");
    r = rec_transfer("A", "B", "t1", 30, 70, 30);
    apply_ok(&r);
}

Test(ledger, apply_refuses_malformed_record) {
    create("A", 100);
    create("B", 0);
    ws_record r = rec_transfer("A", "B", "t1", 0, 100, 0);
    assert_refused_at_next(&r, "a transfer of 0");
    r = rec_created("C", WS_AMOUNT_MAX + 1);
    r.from_balance = r.amount;
    assert_refused_at_next(&r, "a start amount past 2^63-1");
    r = rec_refused(WS_TRANSFER_ID_CONFLICT, 0, "A", "B", "t2", 1);
    assert_refused_at_next(&r, "a refusal that is not a stored refusal");
    r = rec_refused(WS_ACCOUNT_NOT_FOUND, 0, "A", "X", "t2", 1);
    assert_refused_at_next(&r, "account_not_found without its side");
}

/* ---- undo: the writer takes back the members of a linked chain that failed ----------------- */

/* Applies r as the next record; returns its lsn. */
static uint64_t apply_next(const ws_record *r) {
    uint64_t lsn = l.next_lsn;
    apply_ok(r);
    return lsn;
}

/* The one lsn the idempotency index holds for txn; 0 if none (asserts there is at most one). */
static uint64_t idem_lsn(const char *txn) {
    uint64_t lsns[8];
    size_t n = idem_lsns(txn, lsns);
    cr_assert_leq(n, 1, "%zu lsns for %s", n, txn);
    return n ? lsns[0] : 0;
}

Test(ledger, undo_of_a_transfer_restores_the_state) {
    create("A", 100);
    create("B", 5);
    cr_assert_eq(transfer("A", "B", 10, "t1", true).status, WS_OK);
    ws_record r1 = transfer("A", "Q", 1, "r1", true).rec; /* a refusal, remembered */
    cr_assert_eq(r1.kind, WS_REC_TRANSFER_REFUSED);
    snapshot before = snap();
    ws_decision d = decide("A", "B", 30, "t2", true, NULL);
    cr_assert_eq(d.status, WS_OK);
    uint64_t lsn = apply_next(&d.rec);
    cr_assert_eq(balance("A"), 60);
    cr_assert_eq(idem_lsn("t2"), lsn);

    ws_ledger_undo(&l, &d.rec, lsn);
    snapshot after = snap();
    assert_same(&before, &after, "undo of a transfer");
    cr_assert_eq(balance("A"), 90);
    cr_assert_eq(balance("B"), 15);
    cr_assert_eq(idem_lsn("t2"), 0, "the undone transfer's idempotency entry is still there");
    cr_assert_eq(idem_lsn("t1"), 3, "another transfer's entry went");
    cr_assert_eq(idem_lsn("r1"), 4, "a refusal's entry went");
    /* The numbers are free again: the same record applies at the same lsn and seq. */
    cr_assert_eq(apply_next(&d.rec), lsn);
    cr_assert_eq(balance("A"), 60);
    cr_assert_eq(l.next_seq, before.next_seq + 2);
}

Test(ledger, undo_of_a_refusal_restores_the_state) {
    create("A", 100);
    create("B", 0);
    (void)transfer("A", "B", 10, "t1", true);
    snapshot before = snap();
    ws_decision d = decide("A", "B", 1000, "r1", true, NULL);
    cr_assert_eq(d.status, WS_INSUFFICIENT_FUNDS);
    cr_assert(d.append);
    uint64_t lsn = apply_next(&d.rec);
    cr_assert_eq(l.refusals, 1);
    cr_assert_eq(l.next_seq, before.next_seq, "a refusal has no event");
    cr_assert_eq(idem_lsn("r1"), lsn);

    ws_ledger_undo(&l, &d.rec, lsn);
    snapshot after = snap();
    assert_same(&before, &after, "undo of a refusal");
    cr_assert_eq(idem_lsn("r1"), 0);
    cr_assert_eq(idem_lsn("t1"), 3);
}

/* A chain's members are taken back newest first, each the last record applied. */
Test(ledger, undo_of_several_newest_first) {
    create("A", 100);
    create("B", 0);
    create("C", 0);
    snapshot before = snap();
    ws_record recs[4];
    uint64_t lsns[4];
    const char *txn[4] = {"c1", "c2", "c3", "c4"};
    const char *from[4] = {"A", "B", "A", "C"};
    const char *to[4] = {"B", "C", "C", "B"};
    const uint64_t amount[4] = {50, 20, 30, 45};
    for (size_t i = 0; i < 4; i++) {
        ws_decision d = decide(from[i], to[i], amount[i], txn[i], true, NULL);
        cr_assert_eq(d.status, WS_OK, "member %zu", i);
        recs[i] = d.rec;
        lsns[i] = apply_next(&recs[i]);
    }
    cr_assert_eq(balance("B"), 75);
    for (size_t i = 4; i-- > 0;) {
        ws_ledger_undo(&l, &recs[i], lsns[i]);
    }
    snapshot after = snap();
    assert_same(&before, &after, "undo of four transfers");
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(idem_lsn(txn[i]), 0, "%s", txn[i]);
    }
}

/* Only the last record applied can be taken back, and never an account's creation. */
Test(ledger, undo_of_a_record_not_last_asserts, .signal = SIGABRT) {
    create("A", 100);
    create("B", 0);
    ws_record t1 = transfer("A", "B", 1, "t1", true).rec;
    (void)transfer("A", "B", 2, "t2", true);
    ws_ledger_undo(&l, &t1, l.next_lsn - 2);
    cr_log_error("undid a record that was not the last");
}

Test(ledger, undo_of_a_creation_asserts, .signal = SIGABRT) {
    ws_record c = rec_created("A", 100);
    uint64_t lsn = apply_next(&c);
    ws_ledger_undo(&l, &c, lsn);
    cr_log_error("undid a creation");
}

/* The low 16 bits of txn's fingerprint: its home slot in any table of up to 65,536 slots is
 * their low bits. */
static uint16_t fp16(const char *txn) { return (uint16_t)ws_idem_fp(KEY, txn, strlen(txn)); }

/* An ID prefix-N whose fingerprint's low 16 bits are bits. */
static void id_with_fp16(char *out, size_t size, const char *prefix, uint16_t bits) {
    for (unsigned n = 0; n < 4u << 20; n++) {
        snprintf(out, size, "%s-%u", prefix, n);
        if (fp16(out) == bits) {
            return;
        }
    }
    cr_assert_fail("no ID found");
}

/* The undone record's entry sits just before the entry of an earlier transfer, in one probe
 * run: taking it back must leave the other findable. */
Test(ledger, undo_keeps_the_entries_sharing_its_probe_run) {
    create("A", 100);
    create("B", 0);
    const char *x = "x-0";
    char a[24];
    id_with_fp16(a, sizeof(a), "a", (uint16_t)(fp16(x) - 1));
    ws_record rx = transfer("A", "B", 10, x, true).rec;
    uint64_t lsn_x = l.next_lsn - 1;
    cr_assert_eq(rx.kind, WS_REC_TRANSFER);
    cr_assert_eq(idem_lsn(x), lsn_x);
    snapshot before = snap();
    ws_decision d = decide("A", "B", 20, a, true, NULL);
    uint64_t lsn_a = apply_next(&d.rec);
    cr_assert_eq(idem_lsn(a), lsn_a);
    cr_assert_eq(idem_lsn(x), lsn_x);
    ws_ledger_undo(&l, &d.rec, lsn_a);
    snapshot after = snap();
    assert_same(&before, &after, "undo");
    cr_assert_eq(idem_lsn(a), 0);
    cr_assert_eq(idem_lsn(x), lsn_x, "%s (fingerprint ...%04x) is lost after undoing %s (...%04x)",
                 x, fp16(x), a, fp16(a));
}

/* ---- refusal: the record of a failed chain member ------------------------------------------ */

Test(ledger, refusal_builds_a_valid_record_of_every_refusal) {
    create("A", 100);
    create("B", 0);
    const ws_status status[7] = {
        WS_ACCOUNT_NOT_FOUND, WS_ACCOUNT_NOT_FOUND,   WS_INSUFFICIENT_FUNDS,     WS_SAME_ACCOUNT,
        WS_BALANCE_OVERFLOW,  WS_LINKED_EVENT_FAILED, WS_LINKED_EVENT_CHAIN_OPEN};
    const uint8_t side[7] = {1, 2, 0, 0, 0, 0, 0};
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    ws_block_builder b;
    ws_block_begin(&b, buf, l.next_lsn, l.next_seq, 1700000000000000u);
    ws_record made[7];
    for (size_t i = 0; i < 7; i++) {
        char txn[8];
        snprintf(txn, sizeof(txn), "m%zu", i);
        ws_transfer_req q = req("A", "B", 10 + i, txn, true);
        memset(&made[i], 0xEE, sizeof(made[i])); /* every field must be set */
        ws_ledger_refusal(&q, status[i], side[i], &made[i]);
        ws_record want = rec_refused(status[i], side[i], "A", "B", txn, 10 + i);
        rec_assert_eq(&made[i], &want, ws_status_code(status[i]));
        cr_assert(ws_record_valid(&made[i]), "%s", ws_status_code(status[i]));
        cr_assert(ws_block_add(&b, &made[i]));
        /* It applies, and a retry decides against it as a replay of the refusal. */
        snapshot before = snap();
        apply_ok(&made[i]);
        cr_assert_eq(l.refusals, before.refusals + 1);
        cr_assert_eq(l.next_seq, before.next_seq);
        cr_assert_eq(balance("A"), 100);
        ws_decision d = decide("A", "B", 10 + i, txn, true, &made[i]);
        cr_assert_eq(d.status, status[i]);
        cr_assert(d.replayed);
        cr_assert_eq(d.missing_side, side[i]);
        cr_assert_not(d.append);
    }
    /* And it survives the log's encoding. */
    size_t len = ws_block_finish(&b);
    ws_block_header h;
    ws_block_cursor c;
    cr_assert_eq(ws_block_open(buf, len, &h, &c), WS_OK);
    cr_assert_eq(h.count, 7);
    cr_assert_eq(h.events, 0);
    ws_record r;
    uint64_t lsn;
    uint64_t seq;
    for (size_t i = 0; i < 7; i++) {
        cr_assert(ws_block_next(&c, &r, &lsn, &seq));
        rec_assert_eq(&r, &made[i], "decoded");
    }
    cr_assert_not(ws_block_next(&c, &r, &lsn, &seq));
}

Test(ledger, refusal_of_a_status_that_is_no_refusal_asserts, .signal = SIGABRT) {
    ws_transfer_req q = req("A", "B", 1, "t", true);
    ws_record r;
    ws_ledger_refusal(&q, WS_TRANSFER_ID_CONFLICT, 0, &r);
    cr_log_error("built a refusal of transfer_id_conflict");
}

Test(ledger, refusal_of_account_not_found_without_side_asserts, .signal = SIGABRT) {
    ws_transfer_req q = req("A", "B", 1, "t", true);
    ws_record r;
    ws_ledger_refusal(&q, WS_ACCOUNT_NOT_FOUND, 0, &r);
    cr_log_error("built account_not_found without its side");
}

/* ---- currencies and limits: each code in its place in the order of checks ----------------- */

/* Creates id in currency with an overdraft limit and a maximum balance, through decide and
 * apply. */
static void create_with(const char *id, const char *currency, uint64_t amount, uint64_t overdraft,
                        uint64_t max) {
    ws_account_params p = {
        .currency_len = (uint8_t)strlen(currency), .overdraft = overdraft, .max_balance = max};
    memcpy(p.currency, currency, p.currency_len);
    ws_decision d;
    ws_ledger_decide_create(&l, id, (uint8_t)strlen(id), amount, &p, &d);
    cr_assert_eq(d.status, WS_CREATED, "create %s: %s", id, ws_status_code(d.status));
    cr_assert_eq(d.from_balance, (int64_t)amount);
    ws_effect eff = apply_ok(&d.rec);
    cr_assert_eq(eff.count, 1);
    uint32_t x = eff.touched[0];
    cr_assert_eq(ws_accounts_overdraft(l.accounts, x), overdraft, "%s: overdraft", id);
    cr_assert_eq(ws_accounts_max_balance(l.accounts, x), max, "%s: max", id);
}

/* The signed balance of id. */
static int64_t sbalance(const char *id) {
    uint32_t i = ws_accounts_find(l.accounts, id, strlen(id));
    cr_assert_neq(i, WS_ACCOUNT_NONE, "no account %s", id);
    return ws_accounts_balance(l.accounts, i);
}

/* The money the ledger counts in currency (which some account holds). */
static ws_u128 money_in(const char *currency) {
    int x = ws_accounts_currency_find(l.accounts, currency, strlen(currency));
    cr_assert_geq(x, 0, "no currency %s", currency);
    return l.money_by_currency[x];
}

Test(ledger, currency_mismatch_outranks_insufficient_funds) {
    create_with("U1", "USD", 10, 0, WS_AMOUNT_MAX);
    create_with("U2", "USD", 0, 0, WS_AMOUNT_MAX);
    create_with("E1", "EUR", 0, 0, 5);
    create_with("E2", "EUR", WS_AMOUNT_MAX, 0, WS_AMOUNT_MAX);
    create("X1", 10); /* XXX */
    snapshot before = snap();
    /* U1 has too little for 1000 and E1's maximum is 5: the currencies are checked first */
    ws_decision d = decide("U1", "E1", 1000, "t", true, NULL);
    cr_assert_eq(d.status, WS_CURRENCY_MISMATCH);
    cr_assert_eq(d.missing_side, 0);
    cr_assert(d.append, "a refusal with a client's transferID is remembered");
    ws_record want = rec_refused(WS_CURRENCY_MISMATCH, 0, "U1", "E1", "t", 1000);
    rec_assert_eq(&d.rec, &want, "currency_mismatch record");
    cr_assert_eq(decide("U2", "E2", 1, "t", false, NULL).status, WS_CURRENCY_MISMATCH,
                 "before balance_overflow");
    cr_assert_eq(decide("X1", "U2", 11, "t", false, NULL).status, WS_CURRENCY_MISMATCH,
                 "the default currency is a currency");
    cr_assert_eq(decide("U1", "X1", 1, "t", false, NULL).status, WS_CURRENCY_MISMATCH);
    /* account_not_found and same_account come before it */
    d = decide("U1", "NOPE", 1, "t", false, NULL);
    cr_assert_eq(d.status, WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(d.missing_side, 2);
    cr_assert_eq(decide("E1", "E1", 1, "t", false, NULL).status, WS_SAME_ACCOUNT);
    /* the control: within one currency the same amount is insufficient_funds */
    cr_assert_eq(decide("U1", "U2", 1000, "t", false, NULL).status, WS_INSUFFICIENT_FUNDS);
    snapshot after = snap();
    assert_same(&before, &after, "deciding refusals");
}

Test(ledger, insufficient_funds_with_overdraft_stops_at_minus_the_limit) {
    create_with("A", "USD", 10, 50, WS_AMOUNT_MAX);
    create_with("B", "USD", 0, 0, WS_AMOUNT_MAX);
    /* 10 + 50 may go; 61 would leave -51 */
    ws_decision d = decide("A", "B", 61, "t1", true, NULL);
    cr_assert_eq(d.status, WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(d.from_balance, 0);
    d = transfer("A", "B", 60, "t2", true);
    cr_assert_eq(d.status, WS_OK, "down to exactly -overdraft");
    cr_assert_eq(d.from_balance, -50);
    cr_assert_eq(d.to_balance, 60);
    cr_assert_eq(sbalance("A"), -50);
    cr_assert_eq(decide("A", "B", 1, "t3", false, NULL).status, WS_INSUFFICIENT_FUNDS,
                 "-overdraft-1 is refused");
    /* an account without an overdraft cannot go below zero */
    cr_assert_eq(decide("B", "A", 61, "t4", false, NULL).status, WS_INSUFFICIENT_FUNDS);
    /* a negative balance is credited normally */
    d = transfer("B", "A", 55, "t5", true);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.to_balance, 5);
    cr_assert_eq(sbalance("A"), 5);
    cr_assert_eq(sbalance("B"), 5);
    cr_assert(money_in("USD") == 10);
    cr_assert(ws_ledger_money_conserved(&l));
}

Test(ledger, insufficient_funds_at_the_largest_overdraft) {
    create_with("A", "USD", 0, WS_AMOUNT_MAX, WS_AMOUNT_MAX);
    create_with("B", "USD", 0, 0, WS_AMOUNT_MAX);
    ws_decision d = transfer("A", "B", WS_AMOUNT_MAX, "t1", true);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.from_balance, -(int64_t)WS_AMOUNT_MAX);
    cr_assert_eq(sbalance("A"), -(int64_t)WS_AMOUNT_MAX);
    cr_assert_eq(sbalance("B"), (int64_t)WS_AMOUNT_MAX);
    cr_assert_eq(decide("A", "B", 1, "t2", false, NULL).status, WS_INSUFFICIENT_FUNDS,
                 "insufficient_funds before balance_overflow, never INT64_MIN");
    cr_assert(money_in("USD") == 0);
    cr_assert(ws_ledger_money_conserved(&l));
}

Test(ledger, balance_limit_exceeded_outranks_balance_overflow) {
    create_with("A", "USD", WS_AMOUNT_MAX, 0, WS_AMOUNT_MAX);
    create_with("B", "USD", 90, 0, 100);
    create_with("C", "USD", WS_AMOUNT_MAX - 1, 0, WS_AMOUNT_MAX - 1);
    create_with("D", "USD", 1, 0, WS_AMOUNT_MAX);
    create_with("Z", "USD", 0, 0, 0);
    /* exactly the maximum is allowed, one more is refused */
    cr_assert_eq(decide("A", "B", 11, "t1", false, NULL).status, WS_BALANCE_LIMIT_EXCEEDED);
    ws_decision d = transfer("A", "B", 10, "t2", true);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.to_balance, 100);
    d = decide("A", "B", 1, "t3", true, NULL);
    cr_assert_eq(d.status, WS_BALANCE_LIMIT_EXCEEDED);
    cr_assert(d.append);
    ws_record want = rec_refused(WS_BALANCE_LIMIT_EXCEEDED, 0, "A", "B", "t3", 1);
    rec_assert_eq(&d.rec, &want, "balance_limit_exceeded record");
    apply_ok(&d.rec);
    cr_assert_eq(decide("A", "B", 1, "t3", false, &d.rec).status, WS_BALANCE_LIMIT_EXCEEDED);
    cr_assert(decide("A", "B", 1, "t3", false, &d.rec).replayed);
    /* past both the maximum and 2^63-1: the maximum is named */
    cr_assert_eq(decide("A", "C", 2, "t4", false, NULL).status, WS_BALANCE_LIMIT_EXCEEDED);
    cr_assert_eq(decide("A", "C", WS_AMOUNT_MAX - 20, "t4", false, NULL).status,
                 WS_BALANCE_LIMIT_EXCEEDED);
    cr_assert_eq(decide("D", "Z", 1, "t5", false, NULL).status, WS_BALANCE_LIMIT_EXCEEDED,
                 "a maximum of 0");
    /* insufficient_funds comes before it */
    cr_assert_eq(decide("D", "B", 2, "t6", false, NULL).status, WS_INSUFFICIENT_FUNDS);
    cr_assert(ws_ledger_money_conserved(&l));
}

Test(ledger, balance_overflow_without_a_maximum) {
    create_with("A", "USD", 0, 100, WS_AMOUNT_MAX);
    create_with("B", "USD", WS_AMOUNT_MAX - 5, 0, WS_AMOUNT_MAX);
    create_with("M", "USD", 10, 0, WS_AMOUNT_MAX - 1);
    ws_decision d = transfer("A", "B", 5, "t1", true);
    cr_assert_eq(d.status, WS_OK, "from an overdraft up to exactly 2^63-1");
    cr_assert_eq(d.from_balance, -5);
    cr_assert_eq(d.to_balance, (int64_t)WS_AMOUNT_MAX);
    d = decide("A", "B", 1, "t2", true, NULL);
    cr_assert_eq(d.status, WS_BALANCE_OVERFLOW);
    ws_record want = rec_refused(WS_BALANCE_OVERFLOW, 0, "A", "B", "t2", 1);
    rec_assert_eq(&d.rec, &want, "balance_overflow record");
    cr_assert_eq(decide("M", "B", 10, "t3", false, NULL).status, WS_BALANCE_OVERFLOW);
    cr_assert_eq(sbalance("A"), -5);
    cr_assert_eq(sbalance("B"), (int64_t)WS_AMOUNT_MAX);
    cr_assert(money_in("USD") == (ws_u128)WS_AMOUNT_MAX - 5 + 10);
    cr_assert(ws_ledger_money_conserved(&l));
}

Test(ledger, too_many_currencies_on_the_257th_code) {
    cr_assert_eq(ws_accounts_currency_count(l.accounts), 1, "XXX is always there");
    char id[16];
    char code[8];
    for (unsigned i = 0; i < WS_CURRENCIES_MAX - 1; i++) {
        snprintf(id, sizeof(id), "acct%u", i);
        snprintf(code, sizeof(code), "C%03u", i);
        create_with(id, code, i, 0, WS_AMOUNT_MAX);
    }
    cr_assert_eq(ws_accounts_currency_count(l.accounts), WS_CURRENCIES_MAX);
    size_t accounts = ws_accounts_count(l.accounts);
    uint64_t lsn = l.next_lsn;
    ws_account_params p = {.currency_len = 4, .currency = "C255", .max_balance = WS_AMOUNT_MAX};
    ws_decision d;
    ws_ledger_decide_create(&l, "new", 3, 7, &p, &d);
    cr_assert_eq(d.status, WS_TOO_MANY_CURRENCIES);
    cr_assert_not(d.append);
    /* account_exists comes first */
    ws_ledger_decide_create(&l, "acct0", 5, 7, &p, &d);
    cr_assert_eq(d.status, WS_ACCOUNT_EXISTS);
    /* a record naming the 257th code does not apply */
    ws_record r = rec_created("new", 7);
    ws_record_set_params(&r, &p);
    ws_effect eff;
    const char *why = NULL;
    cr_assert_eq(ws_ledger_apply(&l, &r, l.next_lsn, l.next_seq, &eff, &why), WS_CORRUPT);
    cr_assert_eq(ws_accounts_count(l.accounts), accounts);
    cr_assert_eq(l.next_lsn, lsn);
    cr_assert_eq(ws_accounts_currency_count(l.accounts), WS_CURRENCIES_MAX);
    /* codes already held are still creatable, XXX too */
    create_with("again", "C000", 3, 0, WS_AMOUNT_MAX);
    create_with("again2", "C254", 4, 0, WS_AMOUNT_MAX);
    create("again3", 5);
    cr_assert(money_in("C000") == 3);
    cr_assert(money_in("C254") == 254 + 4);
    cr_assert(money_in("XXX") == 5);
    cr_assert(ws_ledger_money_conserved(&l));
}

Test(ledger, apply_refuses_records_that_break_limits) {
    create_with("A", "USD", 10, 5, WS_AMOUNT_MAX);
    create_with("B", "USD", 0, 0, 20);
    create_with("E", "EUR", 0, 0, WS_AMOUNT_MAX);
    create_with("F", "USD", WS_AMOUNT_MAX, 0, WS_AMOUNT_MAX);
    create_with("G", "USD", WS_AMOUNT_MAX - 1, 0, WS_AMOUNT_MAX);
    ws_u128 usd = money_in("USD");
    /* consistent balances after, so that only the limit is wrong */
    ws_record r = rec_transfer("A", "B", "t1", 16, -6, 16);
    assert_refused_at_next(&r, "a debit past the overdraft limit");
    r = rec_transfer("F", "B", "t2", 21, (int64_t)WS_AMOUNT_MAX - 21, 21);
    assert_refused_at_next(&r, "a credit past the maximum");
    r = rec_transfer("A", "E", "t3", 1, 9, 1);
    assert_refused_at_next(&r, "a transfer between currencies");
    r = rec_transfer("A", "G", "t4", 2, 8, (int64_t)WS_AMOUNT_MAX); /* as if clamped */
    assert_refused_at_next(&r, "a credit past 2^63-1");
    r = rec_created("H", 30);
    ws_account_params p = {.currency_len = 3, .currency = "USD", .max_balance = 29};
    ws_record_set_params(&r, &p);
    assert_refused_at_next(&r, "an account created above its maximum");
    cr_assert(money_in("USD") == usd);
    cr_assert_eq(sbalance("A"), 10);
    cr_assert(ws_ledger_money_conserved(&l));
    /* the control: the same debit to exactly -overdraft applies */
    r = rec_transfer("A", "B", "t1", 15, -5, 15);
    apply_ok(&r);
    cr_assert_eq(sbalance("A"), -5);
}

Test(ledger, undo_restores_a_negative_balance) {
    create_with("A", "USD", 0, 100, WS_AMOUNT_MAX);
    create_with("B", "USD", 0, 0, WS_AMOUNT_MAX);
    cr_assert_eq(transfer("A", "B", 30, "t1", true).status, WS_OK);
    cr_assert_eq(sbalance("A"), -30);
    snapshot before = snap();
    ws_u128 usd = money_in("USD");
    /* a chain: further into the overdraft, then back in part */
    ws_record recs[2];
    uint64_t lsns[2];
    ws_decision d = decide("A", "B", 70, "c1", true, NULL);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.from_balance, -100);
    recs[0] = d.rec;
    lsns[0] = apply_next(&recs[0]);
    d = decide("B", "A", 40, "c2", true, NULL);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.to_balance, -60);
    recs[1] = d.rec;
    lsns[1] = apply_next(&recs[1]);
    ws_ledger_undo(&l, &recs[1], lsns[1]);
    cr_assert_eq(sbalance("A"), -100);
    ws_ledger_undo(&l, &recs[0], lsns[0]);
    cr_assert_eq(sbalance("A"), -30, "the negative balance is restored exactly");
    cr_assert_eq(sbalance("B"), 30);
    snapshot after = snap();
    assert_same(&before, &after, "undo into an overdraft");
    cr_assert(money_in("USD") == usd);
    cr_assert(ws_ledger_money_conserved(&l));
}

/* ---- two-phase transfers ------------------------------------------------------------------- */

/* The ledger's clock in the two-phase tests, and a second of it. */
#define T0_US 1700000000000000ull
#define SEC_US 1000000ull

static uint32_t idx(const char *id) {
    uint32_t i = ws_accounts_find(l.accounts, id, strlen(id));
    cr_assert_neq(i, WS_ACCOUNT_NONE, "no account %s", id);
    return i;
}

static uint64_t pd(const char *id) { return ws_accounts_pending_debits(l.accounts, idx(id)); }
static uint64_t pc(const char *id) { return ws_accounts_pending_credits(l.accounts, idx(id)); }

/* A pending transfer with a client's transferID. */
static ws_transfer_req pending_req(const char *from, const char *to, uint64_t amount,
                                   const char *txn, uint32_t timeout_s) {
    ws_transfer_req q = req(from, to, amount, txn, true);
    q.step = WS_STEP_PENDING;
    q.timeout_s = timeout_s;
    q.pending = ""; /* as the writer gives it (a command's empty array); see below for NULL */
    return q;
}

/* A post (amount 0: all of it) or a void of the pending transfer whose transferID is
 * pending: no fromAccount or toAccount. */
static ws_transfer_req resolve_req(ws_step step, const char *pending, uint64_t amount,
                                   const char *txn, bool given) {
    return (ws_transfer_req){.from = "",
                             .to = "",
                             .amount = amount,
                             .txn = txn,
                             .txn_len = (uint8_t)strlen(txn),
                             .txn_given = given,
                             .step = step,
                             .pending = pending,
                             .pending_len = (uint8_t)strlen(pending)};
}

static ws_transfer_req post_req(const char *pending, uint64_t amount, const char *txn) {
    return resolve_req(WS_STEP_POST, pending, amount, txn, true);
}

static ws_transfer_req void_req(const char *pending, const char *txn) {
    return resolve_req(WS_STEP_VOID, pending, 0, txn, true);
}

static ws_decision decide_q(const ws_transfer_req *q, const ws_record *prior) {
    ws_decision d;
    memset(&d, 0xEE, sizeof(d)); /* decide must set every field it answers with */
    ws_ledger_decide_transfer(&l, q, prior, &d);
    return d;
}

/* Decides q and, if the decision appends a record, applies it; the pending totals must
 * agree with the pending table after it. */
static ws_decision step(const ws_transfer_req *q) {
    ws_decision d = decide_q(q, NULL);
    if (d.append) {
        apply_ok(&d.rec);
    }
    cr_assert(ws_ledger_pending_consistent(&l), "pending totals inconsistent after a step");
    cr_assert(ws_ledger_money_conserved(&l), "money not conserved after a step");
    return d;
}

/* A step that must succeed; its record, and its lsn in *lsn (if lsn is not NULL). */
static ws_record step_ok(const ws_transfer_req *q, uint64_t *lsn) {
    uint64_t at = l.next_lsn;
    ws_decision d = step(q);
    cr_assert_eq(d.status, WS_OK, "step %.*s: %s", (int)q->txn_len, q->txn,
                 ws_status_code(d.status));
    cr_assert(d.append);
    cr_assert_eq(l.next_lsn, at + 1);
    if (lsn) {
        *lsn = at;
    }
    return d.rec;
}

static ws_record pend(const char *from, const char *to, uint64_t amount, const char *txn,
                      uint32_t timeout_s, uint64_t *lsn) {
    ws_transfer_req q = pending_req(from, to, amount, txn, timeout_s);
    return step_ok(&q, lsn);
}

/* The pending table's entry of the pending transfer whose transferID is txn. */
static ws_pending_entry *entry_of(const char *txn) {
    uint64_t lsn = ws_ledger_find_pending(&l, txn, strlen(txn));
    cr_assert_neq(lsn, 0, "no pending transfer %s", txn);
    ws_pending_entry *e = ws_pending_get(l.pending, lsn);
    cr_assert_not_null(e);
    return e;
}

/* Asserts a decision refused q with status, appending the StepRefused record that
 * remembers it (the client chose the transferID), and applies that record. */
static void assert_step_refused(const ws_transfer_req *q, ws_status status, uint8_t side,
                                const char *what) {
    snapshot before = snap();
    ws_decision d = decide_q(q, NULL);
    cr_assert_eq(d.status, status, "%s: %s, want %s", what, ws_status_code(d.status),
                 ws_status_code(status));
    cr_assert_eq(d.missing_side, side, "%s: side", what);
    cr_assert_not(d.replayed, "%s", what);
    cr_assert_eq(d.from, WS_ACCOUNT_NONE, "%s: a refusal named accounts", what);
    cr_assert_eq(d.to, WS_ACCOUNT_NONE, "%s", what);
    cr_assert_eq(d.from_balance, 0, "%s", what);
    cr_assert_eq(d.to_balance, 0, "%s", what);
    cr_assert_eq(d.amount, 0, "%s", what);
    cr_assert_eq(d.append, q->txn_given, "%s: append", what);
    if (!d.append) {
        return;
    }
    const ws_record *r = &d.rec;
    cr_assert_eq(r->kind, WS_REC_STEP_REFUSED, "%s: kind", what);
    cr_assert_eq(r->status, status, "%s", what);
    cr_assert_eq(r->step, q->step, "%s: step", what);
    cr_assert_eq(r->missing_side, side, "%s", what);
    cr_assert_eq(r->amount, q->amount, "%s: amount", what);
    cr_assert_eq(r->timeout_s, q->timeout_s, "%s: timeout", what);
    cr_assert_eq(r->account_len, q->from_len, "%s", what);
    cr_assert_eq(memcmp(r->account, q->from, q->from_len), 0, "%s", what);
    cr_assert_eq(r->to_len, q->to_len, "%s", what);
    cr_assert_eq(memcmp(r->to, q->to, q->to_len), 0, "%s", what);
    cr_assert_eq(r->txn_len, q->txn_len, "%s", what);
    cr_assert_eq(memcmp(r->txn, q->txn, q->txn_len), 0, "%s", what);
    cr_assert_eq(r->pending_len, q->pending_len, "%s", what);
    cr_assert_eq(memcmp(r->pending, q->pending, q->pending_len), 0, "%s", what);
    cr_assert_eq(r->expires_us, 0, "%s", what);
    cr_assert_eq(r->from_pd + r->from_pc + r->to_pd + r->to_pc, 0, "%s", what);
    cr_assert(ws_record_valid(r), "%s: the StepRefused is not valid", what);
    ws_effect eff = apply_ok(r);
    cr_assert_eq(eff.count, 0, "%s: a refusal touched an account", what);
    cr_assert_eq(l.refusals, before.refusals + 1, "%s", what);
    cr_assert_eq(l.transfers, before.transfers, "%s", what);
    cr_assert_eq(l.next_seq, before.next_seq, "%s: a refusal took a seq", what);
    cr_assert_eq(idem_lsn(q->txn), l.next_lsn - 1, "%s: not remembered", what);
    cr_assert(ws_ledger_pending_consistent(&l));
    /* a retry replays it */
    ws_decision again = decide_q(q, r);
    cr_assert_eq(again.status, status, "%s: the retry", what);
    cr_assert(again.replayed, "%s", what);
    cr_assert_eq(again.missing_side, side, "%s", what);
    cr_assert_not(again.append, "%s", what);
}

/* The status of deciding q with no prior record (nothing applied). */
static ws_status decide_status(const ws_transfer_req *q) { return decide_q(q, NULL).status; }

/* Everything apply may change, the two-phase state included: the pending totals, every
 * pending table entry, and every idempotency entry. */
typedef struct {
    uint64_t fp;
    uint64_t lsn;
} idem_pair;

typedef struct {
    snapshot base;
    uint64_t keys;
    uint64_t pd[16];
    uint64_t pc[16];
    size_t pending;
    ws_pending_entry entries[16];
    size_t idem_n;
    idem_pair idem[64];
} psnapshot;

static ws_status collect_idem(void *ctx, uint64_t fp, uint64_t lsn) {
    psnapshot *s = ctx;
    cr_assert_lt(s->idem_n, 64);
    s->idem[s->idem_n++] = (idem_pair){fp, lsn};
    return WS_OK;
}

static int by_pair(const void *pa, const void *pb) {
    const idem_pair *a = pa;
    const idem_pair *b = pb;
    if (a->fp != b->fp) {
        return a->fp < b->fp ? -1 : 1;
    }
    return a->lsn < b->lsn ? -1 : a->lsn > b->lsn;
}

static psnapshot psnap(void) {
    psnapshot s;
    memset(&s, 0, sizeof(s));
    s.base = snap();
    s.keys = l.keys;
    for (size_t i = 0; i < s.base.accounts; i++) {
        s.pd[i] = ws_accounts_pending_debits(l.accounts, (uint32_t)i);
        s.pc[i] = ws_accounts_pending_credits(l.accounts, (uint32_t)i);
    }
    s.pending = ws_pending_count(l.pending);
    cr_assert_leq(s.pending, 16);
    for (size_t i = 0; i < s.pending; i++) {
        s.entries[i] = *ws_pending_at(l.pending, i);
    }
    cr_assert_eq(ws_idem_each(l.idem, collect_idem, &s), WS_OK);
    qsort(s.idem, s.idem_n, sizeof(s.idem[0]), by_pair);
    return s;
}

static void assert_psame(const psnapshot *a, const psnapshot *b, const char *what) {
    assert_same(&a->base, &b->base, what);
    cr_assert_eq(a->keys, b->keys, "%s: keys changed", what);
    for (size_t i = 0; i < a->base.accounts; i++) {
        cr_assert_eq(a->pd[i], b->pd[i], "%s: pending debits of account %zu", what, i);
        cr_assert_eq(a->pc[i], b->pc[i], "%s: pending credits of account %zu", what, i);
    }
    cr_assert_eq(a->pending, b->pending, "%s: pending table size", what);
    for (size_t i = 0; i < a->pending; i++) {
        const ws_pending_entry *x = &a->entries[i];
        const ws_pending_entry *y = &b->entries[i];
        cr_assert(x->lsn == y->lsn && x->id_hash == y->id_hash && x->amount == y->amount &&
                      x->expires_us == y->expires_us && x->from == y->from && x->to == y->to,
                  "%s: pending entry %zu changed", what, i);
        cr_assert_eq(x->status, y->status, "%s: pending entry %zu (lsn %llu) status %d -> %d", what,
                     i, (unsigned long long)x->lsn, (int)x->status, (int)y->status);
    }
    cr_assert_eq(a->idem_n, b->idem_n, "%s: idempotency entries %zu -> %zu", what, a->idem_n,
                 b->idem_n);
    for (size_t i = 0; i < a->idem_n; i++) {
        cr_assert(a->idem[i].fp == b->idem[i].fp && a->idem[i].lsn == b->idem[i].lsn,
                  "%s: idempotency entry %zu differs", what, i);
    }
}

/* apply must refuse r as the next record: WS_CORRUPT, a reason, nothing changed (the
 * two-phase state included). */
static void assert_refused_2p(const ws_record *r, const char *what) {
    psnapshot before = psnap();
    ws_effect eff;
    const char *why = NULL;
    ws_status s = ws_ledger_apply(&l, r, l.next_lsn, l.next_seq, &eff, &why);
    cr_assert_eq(s, WS_CORRUPT, "%s: apply returned %s", what, ws_status_code(s));
    cr_assert_not_null(why, "%s: no reason given", what);
    cr_assert_gt(strlen(why), 0, "%s: an empty reason", what);
    psnapshot after = psnap();
    assert_psame(&before, &after, what);
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_log_info("%s: %s", what, why);
}

/* ---- a pending transfer: what it decides and what it does ---- */

Test(ledger, pending_decides_then_applies) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    psnapshot before = psnap();
    ws_transfer_req q = pending_req("A", "B", 30, "p1", 10);
    ws_decision d = decide_q(&q, NULL);
    psnapshot mid = psnap();
    assert_psame(&before, &mid, "deciding a pending transfer");
    cr_assert_eq(d.status, WS_OK);
    cr_assert_not(d.replayed);
    cr_assert_eq(d.missing_side, 0);
    cr_assert(d.append);
    cr_assert_eq(d.from, 0);
    cr_assert_eq(d.to, 1);
    cr_assert_eq(d.amount, 30);
    cr_assert_eq(d.from_balance, 100, "a pending transfer moved a balance");
    cr_assert_eq(d.to_balance, 0);
    cr_assert_eq(d.from_pd, 30);
    cr_assert_eq(d.from_pc, 0);
    cr_assert_eq(d.to_pd, 0);
    cr_assert_eq(d.to_pc, 30);
    const ws_record *r = &d.rec;
    cr_assert_eq(r->kind, WS_REC_PENDING);
    cr_assert_eq(r->step, WS_STEP_PENDING);
    ws_record want = rec_transfer("A", "B", "p1", 30, 100, 0);
    want.kind = WS_REC_PENDING;
    rec_assert_eq(r, &want, "pending record");
    cr_assert_eq(r->timeout_s, 10);
    cr_assert_eq(r->expires_us, T0_US + 10 * SEC_US, "expires at now + timeout");
    cr_assert_eq(r->from_pd, 30);
    cr_assert_eq(r->from_pc, 0);
    cr_assert_eq(r->to_pd, 0);
    cr_assert_eq(r->to_pc, 30);
    cr_assert_eq(r->pending_lsn, 0);
    cr_assert_eq(r->pending_amount, 0);
    cr_assert_eq(r->pending_len, 0);
    cr_assert(ws_record_valid(r));

    ws_effect eff = apply_ok(r);
    cr_assert_eq(eff.count, 2);
    cr_assert_eq(eff.touched[0], 0);
    cr_assert_eq(eff.touched[1], 1);
    cr_assert_eq(l.next_lsn, 4);
    cr_assert_eq(l.next_seq, 5, "a pending transfer is two events");
    cr_assert_eq(l.transfers, 1);
    cr_assert_eq(balance("A"), 100);
    cr_assert_eq(balance("B"), 0);
    cr_assert_eq(pd("A"), 30);
    cr_assert_eq(pc("A"), 0);
    cr_assert_eq(pd("B"), 0);
    cr_assert_eq(pc("B"), 30);
    cr_assert_eq(idem_lsn("p1"), 3);
    cr_assert_eq(ws_pending_count(l.pending), 1);
    cr_assert_eq(ws_ledger_find_pending(&l, "p1", 2), 3);
    cr_assert_eq(ws_ledger_find_pending(&l, "p2", 2), 0);
    cr_assert_eq(ws_ledger_find_pending(&l, "p", 1), 0);
    const ws_pending_entry *e = ws_pending_get(l.pending, 3);
    cr_assert_not_null(e);
    cr_assert_eq(e->amount, 30);
    cr_assert_eq(e->expires_us, T0_US + 10 * SEC_US);
    cr_assert_eq(e->from, 0);
    cr_assert_eq(e->to, 1);
    cr_assert_eq(e->status, WS_PENDING_OPEN);
    cr_assert_eq(e->id_hash, ws_ledger_pending_id_hash(KEY, "p1", 2));
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_assert(ws_ledger_money_conserved(&l));
    /* without a timeout it never expires */
    ws_record r2 = pend("A", "B", 5, "p2", 0, NULL);
    cr_assert_eq(r2.timeout_s, 0);
    cr_assert_eq(r2.expires_us, 0);
    cr_assert_eq(r2.from_pd, 35);
    cr_assert_eq(r2.to_pc, 35);
    cr_assert_eq(entry_of("p2")->expires_us, 0);
    /* the longest timeout */
    ws_record r3 = pend("A", "B", 1, "p3", WS_TIMEOUT_MAX, NULL);
    cr_assert_eq(r3.expires_us, T0_US + (uint64_t)WS_TIMEOUT_MAX * SEC_US);
}

/* ---- a pending transfer's refusals, one per code in the order they are checked ---- */

Test(ledger, pending_same_account_comes_first) {
    create_with("U1", "USD", 10, 0, 20);
    l.now_us = T0_US;
    /* before account_not_found (neither exists) and insufficient_funds */
    ws_transfer_req q = pending_req("Z", "Z", 5, "s1", 0);
    assert_step_refused(&q, WS_SAME_ACCOUNT, 0, "Z to Z");
    q = pending_req("U1", "U1", 1000, "s2", 7);
    assert_step_refused(&q, WS_SAME_ACCOUNT, 0, "U1 to U1 past its funds and maximum");
    q = pending_req("U1", "U1", 5, "gen", 0);
    q.txn_given = false;
    assert_step_refused(&q, WS_SAME_ACCOUNT, 0, "without a client's transferID");
    cr_assert_eq(pd("U1"), 0);
    cr_assert_eq(ws_pending_count(l.pending), 0);
}

Test(ledger, pending_account_not_found_from_first) {
    create_with("U1", "USD", 0, 0, WS_AMOUNT_MAX);
    create_with("E1", "EUR", 0, 0, 5);
    l.now_us = T0_US;
    ws_transfer_req q = pending_req("X", "Y", 5, "n1", 3);
    assert_step_refused(&q, WS_ACCOUNT_NOT_FOUND, 1, "both missing: the fromAccount");
    q = pending_req("U1", "X", 5, "n2", 0);
    assert_step_refused(&q, WS_ACCOUNT_NOT_FOUND, 2, "the toAccount missing, U1 empty");
    q = pending_req("X", "E1", 1000, "n3", 0);
    assert_step_refused(&q, WS_ACCOUNT_NOT_FOUND, 1, "before currency, funds and maximum");
    q = pending_req("X", "U1", 1, "gen", 0);
    q.txn_given = false;
    assert_step_refused(&q, WS_ACCOUNT_NOT_FOUND, 1, "without a client's transferID");
    /* a refused pending transfer is no pending transfer */
    cr_assert_eq(ws_ledger_find_pending(&l, "n1", 2), 0);
    cr_assert_eq(ws_pending_count(l.pending), 0);
    ws_transfer_req p = post_req("n1", 0, "c1");
    cr_assert_eq(decide_status(&p), WS_PENDING_TRANSFER_NOT_FOUND);
}

Test(ledger, pending_currency_mismatch_before_funds_and_limits) {
    create_with("U1", "USD", 10, 0, WS_AMOUNT_MAX);
    create_with("E1", "EUR", 0, 0, 5);
    create_with("E2", "EUR", 0, 0, WS_AMOUNT_MAX);
    l.now_us = T0_US;
    ws_transfer_req q = pending_req("U1", "E1", 1000, "m1", 0);
    assert_step_refused(&q, WS_CURRENCY_MISMATCH, 0, "past U1's funds and E1's maximum");
    q = pending_req("E2", "U1", 1, "m2", 60);
    assert_step_refused(&q, WS_CURRENCY_MISMATCH, 0, "from an empty account");
    /* the control: within one currency the same is insufficient_funds */
    q = pending_req("E2", "E1", 1, "m3", 0);
    cr_assert_eq(decide_status(&q), WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(ws_pending_count(l.pending), 0);
}

Test(ledger, pending_insufficient_funds_counts_pending_debits) {
    create_with("A", "USD", 100, 20, WS_AMOUNT_MAX);
    create_with("B", "USD", 0, 0, WS_AMOUNT_MAX);
    create_with("C", "USD", 0, 0, 10);
    l.now_us = T0_US;
    (void)pend("A", "B", 70, "p1", 0, NULL);
    /* available 100 - 70 = 30, and 20 of overdraft: 50 more may be reserved */
    ws_transfer_req q = pending_req("A", "B", 51, "f1", 0);
    assert_step_refused(&q, WS_INSUFFICIENT_FUNDS, 0, "a reservation past balance - pending");
    ws_record r = pend("A", "B", 50, "p2", 0, NULL);
    cr_assert_eq(r.from_balance, 100);
    cr_assert_eq(r.from_pd, 120, "down to exactly -overdraft available");
    cr_assert_eq(sbalance("A"), 100);
    q = pending_req("A", "B", 1, "f2", 0);
    assert_step_refused(&q, WS_INSUFFICIENT_FUNDS, 0, "one more");
    /* before balance_limit_exceeded: C's maximum is 10 */
    q = pending_req("A", "C", 11, "f3", 0);
    assert_step_refused(&q, WS_INSUFFICIENT_FUNDS, 0, "past the funds and C's maximum");
    cr_assert_eq(pd("A"), 120);
    cr_assert_eq(pc("B"), 120);
}

Test(ledger, pending_balance_limit_exceeded_counts_pending_credits) {
    create_with("A", "USD", 1000, 0, WS_AMOUNT_MAX);
    create_with("B", "USD", 50, 0, 100);
    create_with("C", "USD", WS_AMOUNT_MAX - 1, 0, WS_AMOUNT_MAX - 1);
    l.now_us = T0_US;
    (void)pend("A", "B", 30, "p1", 0, NULL);
    /* 50 + 30 reserved: 20 more fit under the maximum of 100 */
    ws_transfer_req q = pending_req("A", "B", 21, "f1", 0);
    assert_step_refused(&q, WS_BALANCE_LIMIT_EXCEEDED, 0, "past max - balance - pending");
    ws_record r = pend("A", "B", 20, "p2", 0, NULL);
    cr_assert_eq(r.to_balance, 50);
    cr_assert_eq(r.to_pc, 50);
    q = pending_req("A", "B", 1, "f2", 0);
    assert_step_refused(&q, WS_BALANCE_LIMIT_EXCEEDED, 0, "one more");
    /* past both the maximum and 2^63-1: the maximum is named, not balance_overflow */
    q = pending_req("A", "C", 2, "f3", 0);
    assert_step_refused(&q, WS_BALANCE_LIMIT_EXCEEDED, 0, "past both");
    cr_assert_eq(pc("B"), 50);
    cr_assert_eq(pd("A"), 50);
}

Test(ledger, pending_balance_overflow_counts_pending_credits) {
    create_with("A", "USD", WS_AMOUNT_MAX, 0, WS_AMOUNT_MAX);
    create_with("B", "USD", WS_AMOUNT_MAX - 10, 0, WS_AMOUNT_MAX);
    l.now_us = T0_US;
    (void)pend("A", "B", 6, "p1", 0, NULL);
    ws_transfer_req q = pending_req("A", "B", 5, "f1", 0);
    assert_step_refused(&q, WS_BALANCE_OVERFLOW, 0, "past 2^63-1 with what is reserved");
    ws_record r = pend("A", "B", 4, "p2", 0, NULL);
    cr_assert_eq(r.to_pc, 10);
    q = pending_req("A", "B", 1, "f2", 0);
    assert_step_refused(&q, WS_BALANCE_OVERFLOW, 0, "one more");
    /* a plain transfer counts the reservation too */
    ws_decision d = decide("A", "B", 1, "t1", false, NULL);
    cr_assert_eq(d.status, WS_BALANCE_OVERFLOW);
    cr_assert_eq(sbalance("B"), (int64_t)WS_AMOUNT_MAX - 10);
}

/* A pending transfer is checked for idempotency first, as a transfer is. */
Test(ledger, pending_idempotency_first) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    ws_transfer_req q = pending_req("A", "B", 100, "p1", 10);
    ws_decision first = step(&q);
    cr_assert_eq(first.status, WS_OK);
    ws_record prior = first.rec;
    psnapshot before = psnap();
    /* A has nothing available now: a fresh one would be insufficient_funds */
    cr_assert_eq(decide_status(&q), WS_INSUFFICIENT_FUNDS);
    ws_decision d = decide_q(&q, &prior);
    cr_assert_eq(d.status, WS_OK);
    cr_assert(d.replayed);
    cr_assert_not(d.append);
    cr_assert_eq(d.amount, 100);
    cr_assert_eq(d.from_balance, 100);
    cr_assert_eq(d.from_pd, 100);
    cr_assert_eq(d.to_pc, 100);
    cr_assert_eq(d.from, 0);
    cr_assert_eq(d.to, 1);
    /* any other parameter is a conflict, before every rule */
    ws_transfer_req other[] = {
        pending_req("A", "B", 99, "p1", 10),
        pending_req("A", "B", 100, "p1", 11),
        pending_req("A", "B", 100, "p1", 0),
        pending_req("A", "A", 100, "p1", 10),
        pending_req("X", "B", 100, "p1", 10),
        req("A", "B", 100, "p1", true),
        post_req("p1", 0, "p1"),
        void_req("p1", "p1"),
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        d = decide_q(&other[i], &prior);
        cr_assert_eq(d.status, WS_TRANSFER_ID_CONFLICT, "case %zu: %s", i,
                     ws_status_code(d.status));
        cr_assert_not(d.replayed, "case %zu", i);
        cr_assert_not(d.append, "case %zu", i);
        cr_assert_eq(d.missing_side, 0, "case %zu", i);
    }
    /* a pending transfer retried against a plain transfer of the same parameters */
    ws_record plain = rec_transfer("A", "B", "p1", 100, 0, 100);
    cr_assert_eq(decide_q(&q, &plain).status, WS_TRANSFER_ID_CONFLICT);
    psnapshot after = psnap();
    assert_psame(&before, &after, "replays and conflicts");
}

/* A plain transfer is checked against the available balance: refused when the balance
 * covers it but balance - pending debits does not. */
Test(ledger, transfer_counts_what_is_reserved) {
    create_with("A", "USD", 100, 0, WS_AMOUNT_MAX);
    create_with("B", "USD", 0, 0, 100);
    create_with("C", "USD", 0, 0, WS_AMOUNT_MAX);
    l.now_us = T0_US;
    (void)pend("A", "C", 60, "p1", 0, NULL);
    ws_decision d = decide("A", "B", 41, "t1", true, NULL);
    cr_assert_eq(d.status, WS_INSUFFICIENT_FUNDS, "balance 100 covers 41, available 40 does not");
    d = transfer("A", "B", 40, "t2", true);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.from_balance, 60);
    cr_assert_eq(decide("A", "B", 1, "t3", false, NULL).status, WS_INSUFFICIENT_FUNDS);
    /* and against the credits reserved: B's maximum of 100 holds 40 + 60 reserved */
    create_with("D", "USD", 200, 0, WS_AMOUNT_MAX);
    (void)pend("D", "B", 60, "p2", 0, NULL);
    cr_assert_eq(decide("D", "B", 1, "t5", false, NULL).status, WS_BALANCE_LIMIT_EXCEEDED,
                 "balance 40 + pending credits 60 + 1 passes the maximum of 100");
    cr_assert_eq(sbalance("A"), 60);
    cr_assert_eq(pd("A"), 60);
    cr_assert(ws_ledger_pending_consistent(&l));
}

/* ---- a post or void: each result in the order it is checked ---- */

/* A: 100, B: 0 and p1, a pending transfer of all of A's 100 to B that expires after 60 s. */
static uint64_t resolve_setup(void) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    uint64_t lsn;
    (void)pend("A", "B", 100, "p1", 60, &lsn);
    return lsn;
}

/* 1: idempotency. A post retried replays its answer whatever became of its pending transfer
 * since; another request with its transferID is a conflict, before every other check. */
Test(ledger, resolve_idempotency_first) {
    (void)resolve_setup();
    ws_transfer_req q = post_req("p1", 30, "c1");
    ws_record prior = step_ok(&q, NULL);
    cr_assert_eq(prior.kind, WS_REC_RESOLVED);
    (void)transfer("A", "B", 10, "t1", true); /* the balances move on */
    psnapshot before = psnap();
    /* p1 is posted and past its expiry: a fresh post would be refused */
    l.now_us = T0_US + 61 * SEC_US;
    cr_assert_eq(decide_status(&q), WS_PENDING_TRANSFER_ALREADY_POSTED);
    ws_decision d = decide_q(&q, &prior);
    cr_assert_eq(d.status, WS_OK);
    cr_assert(d.replayed);
    cr_assert_not(d.append);
    cr_assert_eq(d.amount, 30);
    cr_assert_eq(d.from_balance, 70, "the replay did not answer the original balances");
    cr_assert_eq(d.to_balance, 30);
    cr_assert_eq(d.from_pd, 0);
    cr_assert_eq(d.to_pc, 0);
    cr_assert_eq(d.from, 0);
    cr_assert_eq(d.to, 1);
    ws_transfer_req other[] = {
        post_req("p1", 31, "c1"),      post_req("p1", 29, "c1"),
        post_req("p1", 0, "c1"), /* all of it is 100, not 30 */
        post_req("p1", 1000, "c1"),    void_req("p1", "c1"),
        post_req("p0", 30, "c1"), /* no such pending transfer */
        req("A", "B", 30, "c1", true), pending_req("A", "B", 30, "c1", 0),
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        d = decide_q(&other[i], &prior);
        cr_assert_eq(d.status, WS_TRANSFER_ID_CONFLICT, "case %zu: %s", i,
                     ws_status_code(d.status));
        cr_assert_not(d.replayed, "case %zu", i);
        cr_assert_not(d.append, "case %zu", i);
    }
    /* a post whose own transferID is its pending transfer's: that ID names the pending one */
    l.now_us = T0_US;
    ws_transfer_req own = post_req("p1", 1, "p1");
    cr_assert_eq(decide_status(&own), WS_PENDING_TRANSFER_ALREADY_POSTED, "the control");
    uint64_t plsn = ws_ledger_find_pending(&l, "p1", 2);
    cr_assert_neq(plsn, 0);
    ws_record pending_rec = rec_transfer("A", "B", "p1", 100, 100, 0);
    pending_rec.kind = WS_REC_PENDING;
    pending_rec.step = WS_STEP_PENDING;
    pending_rec.timeout_s = 60;
    cr_assert_eq(decide_q(&own, &pending_rec).status, WS_TRANSFER_ID_CONFLICT);
    psnapshot after = psnap();
    assert_psame(&before, &after, "replays and conflicts");
}

/* A post of "all of it" retried replays, and so does the same post with the whole amount
 * spelled out; a refused post retried replays its refusal even once it would succeed. */
Test(ledger, resolve_replays_of_all_of_it_and_of_a_refusal) {
    (void)resolve_setup();
    ws_transfer_req q = post_req("p1", 0, "c1");
    ws_record prior = step_ok(&q, NULL);
    cr_assert_eq(prior.amount, 100);
    cr_assert_eq(prior.pending_amount, 100);
    ws_decision d = decide_q(&q, &prior);
    cr_assert_eq(d.status, WS_OK);
    cr_assert(d.replayed);
    cr_assert_eq(d.amount, 100);
    ws_transfer_req whole = post_req("p1", 100, "c1");
    d = decide_q(&whole, &prior);
    cr_assert_eq(d.status, WS_OK, "the whole amount spelled out: %s", ws_status_code(d.status));
    cr_assert(d.replayed);
    /* a refusal */
    ws_transfer_req early = post_req("p2", 0, "c2");
    d = step(&early);
    cr_assert_eq(d.status, WS_PENDING_TRANSFER_NOT_FOUND);
    ws_record refused = d.rec;
    create("C", 50);
    (void)pend("C", "B", 50, "p2", 0, NULL);
    cr_assert_eq(decide_status(&early), WS_OK, "the control: p2 exists now");
    d = decide_q(&early, &refused);
    cr_assert_eq(d.status, WS_PENDING_TRANSFER_NOT_FOUND);
    cr_assert(d.replayed);
    cr_assert_not(d.append);
    ws_transfer_req other = post_req("p2", 1, "c2");
    cr_assert_eq(decide_q(&other, &refused).status, WS_TRANSFER_ID_CONFLICT);
    ws_transfer_req v = void_req("p2", "c2");
    cr_assert_eq(decide_q(&v, &refused).status, WS_TRANSFER_ID_CONFLICT);
}

/* A void retried with its transferID replays (ledger.h: the same request is "the pendingID
 * of a void"). A regression test: the "all of it" rule of a post (q->amount == 0 against a
 * PendingResolved compares its amount with the pending amount) was applied to voids too,
 * whose record holds amount 0, so a void retried answered transfer_id_conflict. */
Test(ledger, resolve_void_retried_replays) {
    (void)resolve_setup();
    ws_transfer_req q = void_req("p1", "v1");
    ws_record prior = step_ok(&q, NULL);
    cr_assert_eq(prior.step, WS_STEP_VOID);
    cr_assert_eq(prior.amount, 0);
    cr_assert_eq(prior.pending_amount, 100);
    cr_assert(ws_ledger_same_transfer(&prior, &q),
              "ws_ledger_same_transfer: a void is not the same as itself");
    ws_decision d = decide_q(&q, &prior);
    cr_assert_eq(d.status, WS_OK, "the same void retried: %s, want ok (a replay)",
                 ws_status_code(d.status));
    cr_assert(d.replayed);
    cr_assert_not(d.append);
    cr_assert_eq(d.amount, 100, "a void's answer is the amount it released");
    cr_assert_eq(d.from_balance, 100);
    cr_assert_eq(d.from_pd, 0);
}

/* 2: pending_transfer_not_found: no pending transfer has the ID (a plain transfer's and a
 * refused pending transfer's included); before exceeds_pending_amount. */
Test(ledger, resolve_pending_transfer_not_found) {
    (void)resolve_setup();
    create("C", 10);
    cr_assert_eq(transfer("C", "B", 5, "t2", true).status, WS_OK);
    ws_transfer_req refused_pending = pending_req("X", "B", 5, "rp", 0);
    cr_assert_eq(step(&refused_pending).status, WS_ACCOUNT_NOT_FOUND);
    ws_transfer_req q = post_req("nope", 1000, "c1");
    assert_step_refused(&q, WS_PENDING_TRANSFER_NOT_FOUND, 0, "an unknown ID, past any amount");
    q = void_req("nope", "v1");
    assert_step_refused(&q, WS_PENDING_TRANSFER_NOT_FOUND, 0, "a void of an unknown ID");
    q = post_req("t2", 1, "c2");
    assert_step_refused(&q, WS_PENDING_TRANSFER_NOT_FOUND, 0, "a plain transfer's ID");
    q = void_req("rp", "v2");
    assert_step_refused(&q, WS_PENDING_TRANSFER_NOT_FOUND, 0, "a refused pending's ID");
    q = post_req("p", 1, "c3");
    assert_step_refused(&q, WS_PENDING_TRANSFER_NOT_FOUND, 0, "a prefix of a pending's ID");
    q = post_req("p11", 1, "c4");
    assert_step_refused(&q, WS_PENDING_TRANSFER_NOT_FOUND, 0, "an extension of it");
    q = resolve_req(WS_STEP_POST, "nope", 0, "gen", false);
    assert_step_refused(&q, WS_PENDING_TRANSFER_NOT_FOUND, 0, "without a client's ID");
    /* the control: p1 itself is found */
    q = post_req("p1", 1000, "c5");
    cr_assert_eq(decide_status(&q), WS_EXCEEDS_PENDING_AMOUNT);
    cr_assert_eq(entry_of("p1")->status, WS_PENDING_OPEN);
    cr_assert_eq(pd("A"), 100);
}

/* 3: pending_transfer_already_posted; before expired and exceeds_pending_amount. */
Test(ledger, resolve_pending_transfer_already_posted) {
    (void)resolve_setup();
    ws_transfer_req q = post_req("p1", 40, "c1");
    (void)step_ok(&q, NULL);
    cr_assert_eq(entry_of("p1")->status, WS_PENDING_POSTED);
    q = post_req("p1", 10, "c2");
    assert_step_refused(&q, WS_PENDING_TRANSFER_ALREADY_POSTED, 0, "a second post");
    q = void_req("p1", "v1");
    assert_step_refused(&q, WS_PENDING_TRANSFER_ALREADY_POSTED, 0, "a void after a post");
    q = post_req("p1", 1000, "c3");
    assert_step_refused(&q, WS_PENDING_TRANSFER_ALREADY_POSTED, 0, "past the pending amount");
    l.now_us = T0_US + 60 * SEC_US;
    q = post_req("p1", 1000, "c4");
    assert_step_refused(&q, WS_PENDING_TRANSFER_ALREADY_POSTED, 0, "at its expiry time");
    q = void_req("p1", "v2");
    assert_step_refused(&q, WS_PENDING_TRANSFER_ALREADY_POSTED, 0, "a void past it");
    cr_assert_eq(sbalance("A"), 60);
    cr_assert_eq(sbalance("B"), 40);
    cr_assert_eq(pd("A"), 0);
    cr_assert_eq(pc("B"), 0);
    cr_assert_null(ws_pending_next_expired(l.pending, UINT64_MAX), "a posted transfer expires");
}

/* 4: pending_transfer_already_voided; before expired and exceeds_pending_amount. */
Test(ledger, resolve_pending_transfer_already_voided) {
    (void)resolve_setup();
    ws_transfer_req q = void_req("p1", "v1");
    (void)step_ok(&q, NULL);
    cr_assert_eq(entry_of("p1")->status, WS_PENDING_VOIDED);
    q = void_req("p1", "v2");
    assert_step_refused(&q, WS_PENDING_TRANSFER_ALREADY_VOIDED, 0, "a second void");
    q = post_req("p1", 0, "c1");
    assert_step_refused(&q, WS_PENDING_TRANSFER_ALREADY_VOIDED, 0, "a post after a void");
    q = post_req("p1", 1000, "c2");
    assert_step_refused(&q, WS_PENDING_TRANSFER_ALREADY_VOIDED, 0, "past the pending amount");
    l.now_us = T0_US + 61 * SEC_US;
    q = post_req("p1", 1000, "c3");
    assert_step_refused(&q, WS_PENDING_TRANSFER_ALREADY_VOIDED, 0, "past its expiry time");
    cr_assert_eq(sbalance("A"), 100);
    cr_assert_eq(pd("A"), 0);
    cr_assert_eq(pc("B"), 0);
}

/* 5: pending_transfer_expired: its expiry applied, or open with the ledger's clock at or
 * past its expiry time; before exceeds_pending_amount. */
Test(ledger, resolve_pending_transfer_expired) {
    (void)resolve_setup(); /* p1 expires at T0 + 60 s */
    create("C", 10);
    uint64_t p2_lsn;
    (void)pend("C", "B", 10, "p2", 5, &p2_lsn); /* expires at T0 + 5 s */
    /* a microsecond before its expiry time it still posts */
    l.now_us = T0_US + 5 * SEC_US - 1;
    ws_transfer_req q = post_req("p2", 10, "c1");
    cr_assert_eq(decide_status(&q), WS_OK);
    q = void_req("p2", "v0");
    cr_assert_eq(decide_status(&q), WS_OK);
    /* open, its expiry not yet applied, at its expiry time */
    l.now_us = T0_US + 5 * SEC_US;
    cr_assert_eq(entry_of("p2")->status, WS_PENDING_OPEN);
    q = post_req("p2", 1, "c2");
    assert_step_refused(&q, WS_PENDING_TRANSFER_EXPIRED, 0, "open at its expiry time");
    q = post_req("p2", 1000, "c3");
    assert_step_refused(&q, WS_PENDING_TRANSFER_EXPIRED, 0, "past the pending amount");
    q = void_req("p2", "v1");
    assert_step_refused(&q, WS_PENDING_TRANSFER_EXPIRED, 0, "a void at its expiry time");
    l.now_us = T0_US + 30 * SEC_US;
    q = post_req("p2", 0, "c4");
    assert_step_refused(&q, WS_PENDING_TRANSFER_EXPIRED, 0, "past its expiry time");
    q = post_req("p1", 1, "c5");
    cr_assert_eq(decide_status(&q), WS_OK, "the control: p1 expires later");
    cr_assert_eq(pd("C"), 10, "a refusal released the reservation");
    /* expired: its expiry applied; refused by its status whatever the clock says */
    ws_pending_entry *e = ws_pending_next_expired(l.pending, l.now_us);
    cr_assert_not_null(e);
    cr_assert_eq(e->lsn, p2_lsn);
    ws_record x;
    ws_ledger_expire(&l, e, "p2", 2, &x);
    apply_ok(&x);
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_assert_eq(entry_of("p2")->status, WS_PENDING_EXPIRED);
    cr_assert_eq(pd("C"), 0);
    cr_assert_eq(pc("B"), 100);
    l.now_us = T0_US;
    q = post_req("p2", 1000, "c6");
    assert_step_refused(&q, WS_PENDING_TRANSFER_EXPIRED, 0, "expired, past the amount");
    q = void_req("p2", "v2");
    assert_step_refused(&q, WS_PENDING_TRANSFER_EXPIRED, 0, "a void of an expired one");
    /* one without a timeout never expires */
    (void)pend("C", "A", 5, "p3", 0, NULL);
    l.now_us = T0_US + 3000000000ull * SEC_US; /* 95 years on */
    q = post_req("p3", 5, "c7");
    cr_assert_eq(decide_status(&q), WS_OK);
}

/* 6: exceeds_pending_amount: a post of more than the pending amount. */
Test(ledger, resolve_exceeds_pending_amount) {
    (void)resolve_setup();
    ws_transfer_req q = post_req("p1", 101, "c1");
    assert_step_refused(&q, WS_EXCEEDS_PENDING_AMOUNT, 0, "one more than the pending amount");
    q = post_req("p1", WS_AMOUNT_MAX, "c2");
    assert_step_refused(&q, WS_EXCEEDS_PENDING_AMOUNT, 0, "the largest amount");
    q = resolve_req(WS_STEP_POST, "p1", 101, "gen", false);
    assert_step_refused(&q, WS_EXCEEDS_PENDING_AMOUNT, 0, "without a client's transferID");
    cr_assert_eq(entry_of("p1")->status, WS_PENDING_OPEN);
    cr_assert_eq(pd("A"), 100);
    cr_assert_eq(pc("B"), 100);
    q = post_req("p1", 100, "c3");
    ws_record r = step_ok(&q, NULL);
    cr_assert_eq(r.amount, 100, "exactly the pending amount posts");
    cr_assert_eq(sbalance("A"), 0);
    cr_assert_eq(sbalance("B"), 100);
}

/* ---- what a post, a void and an expiry do ---- */

Test(ledger, partial_post_moves_part_and_releases_all) {
    create("A", 500);
    create("B", 0);
    l.now_us = T0_US;
    uint64_t p1_lsn;
    (void)pend("A", "B", 100, "p1", 60, &p1_lsn);
    (void)pend("A", "B", 50, "p2", 0, NULL);
    cr_assert_eq(pd("A"), 150);
    cr_assert_eq(pc("B"), 150);
    psnapshot before = psnap();
    ws_transfer_req q = post_req("p1", 30, "c1");
    ws_decision d = decide_q(&q, NULL);
    psnapshot mid = psnap();
    assert_psame(&before, &mid, "deciding a post");
    cr_assert_eq(d.status, WS_OK);
    cr_assert_not(d.replayed);
    cr_assert(d.append);
    cr_assert_eq(d.missing_side, 0);
    cr_assert_eq(d.from, 0);
    cr_assert_eq(d.to, 1);
    cr_assert_eq(d.amount, 30);
    cr_assert_eq(d.from_balance, 470);
    cr_assert_eq(d.to_balance, 30);
    cr_assert_eq(d.from_pd, 50, "all 100 released from the pending debits");
    cr_assert_eq(d.from_pc, 0);
    cr_assert_eq(d.to_pd, 0);
    cr_assert_eq(d.to_pc, 50, "all 100 released from the pending credits");
    const ws_record *r = &d.rec;
    ws_record want = rec_transfer("A", "B", "c1", 30, 470, 30);
    want.kind = WS_REC_RESOLVED;
    rec_assert_eq(r, &want, "post record");
    cr_assert_eq(r->step, WS_STEP_POST);
    cr_assert_eq(r->pending_len, 2);
    cr_assert_eq(memcmp(r->pending, "p1", 2), 0);
    cr_assert_eq(r->pending_lsn, p1_lsn);
    cr_assert_eq(r->pending_amount, 100);
    cr_assert_eq(r->from_pd, 50);
    cr_assert_eq(r->from_pc, 0);
    cr_assert_eq(r->to_pd, 0);
    cr_assert_eq(r->to_pc, 50);
    cr_assert_eq(r->timeout_s, 0);
    cr_assert_eq(r->expires_us, 0);
    cr_assert(ws_record_valid(r));

    uint64_t lsn = l.next_lsn;
    ws_effect eff = apply_ok(r);
    cr_assert_eq(eff.count, 2);
    cr_assert_eq(eff.touched[0], 0);
    cr_assert_eq(eff.touched[1], 1);
    cr_assert_eq(l.next_seq, before.base.next_seq + 2, "a post is two events");
    cr_assert_eq(l.transfers, before.base.transfers + 1);
    cr_assert_eq(sbalance("A"), 470);
    cr_assert_eq(sbalance("B"), 30);
    cr_assert_eq(pd("A"), 50);
    cr_assert_eq(pc("B"), 50);
    cr_assert_eq(pc("A"), 0);
    cr_assert_eq(pd("B"), 0);
    cr_assert_eq(idem_lsn("c1"), lsn);
    cr_assert_eq(entry_of("p1")->status, WS_PENDING_POSTED);
    cr_assert_eq(entry_of("p2")->status, WS_PENDING_OPEN);
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_assert(ws_ledger_money_conserved(&l));
    /* what was released is available again: 470 - 50 */
    ws_transfer_req more = pending_req("A", "B", 421, "p3", 0);
    cr_assert_eq(decide_status(&more), WS_INSUFFICIENT_FUNDS);
    more = pending_req("A", "B", 420, "p3", 0);
    cr_assert_eq(decide_status(&more), WS_OK);
    /* a posted transfer does not expire */
    cr_assert_null(ws_pending_next_expired(l.pending, UINT64_MAX));
}

Test(ledger, post_of_all_moves_the_pending_amount) {
    (void)resolve_setup();
    ws_transfer_req q = post_req("p1", 0, "c1");
    ws_decision d = step(&q);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.amount, 100);
    cr_assert_eq(d.from_balance, 0);
    cr_assert_eq(d.to_balance, 100);
    cr_assert_eq(d.rec.amount, 100);
    cr_assert_eq(d.rec.pending_amount, 100);
    cr_assert_eq(sbalance("A"), 0);
    cr_assert_eq(sbalance("B"), 100);
    cr_assert_eq(pd("A"), 0);
    cr_assert_eq(pc("B"), 0);
}

Test(ledger, void_releases_all) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    (void)pend("A", "B", 60, "p1", 30, NULL);
    (void)pend("A", "B", 40, "p2", 0, NULL);
    ws_transfer_req q = pending_req("A", "B", 1, "p3", 0);
    cr_assert_eq(decide_status(&q), WS_INSUFFICIENT_FUNDS, "the control: all 100 reserved");
    psnapshot before = psnap();
    ws_transfer_req v = void_req("p1", "v1");
    ws_decision d = decide_q(&v, NULL);
    cr_assert_eq(d.status, WS_OK);
    cr_assert(d.append);
    cr_assert_eq(d.amount, 60, "a void answers the amount it released");
    cr_assert_eq(d.from_balance, 100);
    cr_assert_eq(d.to_balance, 0);
    cr_assert_eq(d.from_pd, 40);
    cr_assert_eq(d.to_pc, 40);
    cr_assert_eq(d.rec.kind, WS_REC_RESOLVED);
    cr_assert_eq(d.rec.step, WS_STEP_VOID);
    cr_assert_eq(d.rec.amount, 0);
    cr_assert_eq(d.rec.pending_amount, 60);
    cr_assert_eq(d.rec.from_balance, 100);
    cr_assert_eq(d.rec.to_balance, 0);
    cr_assert(ws_record_valid(&d.rec));
    uint64_t lsn = apply_next(&d.rec);
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_assert_eq(l.next_seq, before.base.next_seq + 2, "a void is two events");
    cr_assert_eq(sbalance("A"), 100, "a void moved money");
    cr_assert_eq(sbalance("B"), 0);
    cr_assert_eq(pd("A"), 40);
    cr_assert_eq(pc("B"), 40);
    cr_assert_eq(idem_lsn("v1"), lsn);
    cr_assert_eq(entry_of("p1")->status, WS_PENDING_VOIDED);
    q = pending_req("A", "B", 61, "p3", 0);
    cr_assert_eq(decide_status(&q), WS_INSUFFICIENT_FUNDS);
    q = pending_req("A", "B", 60, "p3", 0);
    cr_assert_eq(decide_status(&q), WS_OK, "the 60 released are available again");
    cr_assert_null(ws_pending_next_expired(l.pending, UINT64_MAX), "a voided one expires");
}

Test(ledger, expire_applies_only_at_its_time) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    uint64_t p1_lsn;
    uint64_t p2_lsn;
    (void)pend("A", "B", 40, "p1", 10, &p1_lsn);
    (void)pend("A", "B", 10, "p2", 20, &p2_lsn);
    const uint64_t at = T0_US + 10 * SEC_US;
    cr_assert_null(ws_pending_next_expired(l.pending, at - 1));
    l.now_us = at;
    ws_pending_entry *e = ws_pending_next_expired(l.pending, l.now_us);
    cr_assert_not_null(e);
    cr_assert_eq(e->lsn, p1_lsn);
    ws_record x;
    memset(&x, 0xEE, sizeof(x)); /* every field must be set */
    ws_ledger_expire(&l, e, "p1", 2, &x);
    cr_assert_eq(x.kind, WS_REC_RESOLVED);
    cr_assert_eq(x.status, WS_OK);
    cr_assert_eq(x.step, WS_STEP_EXPIRE);
    cr_assert_eq(x.txn_len, 0, "an expiry has no transferID of its own");
    cr_assert_eq(x.pending_len, 2);
    cr_assert_eq(memcmp(x.pending, "p1", 2), 0);
    cr_assert_eq(x.pending_lsn, p1_lsn);
    cr_assert_eq(x.amount, 0);
    cr_assert_eq(x.pending_amount, 40);
    cr_assert_eq(x.account_len, 1);
    cr_assert_eq(x.account[0], 'A');
    cr_assert_eq(x.to_len, 1);
    cr_assert_eq(x.to[0], 'B');
    cr_assert_eq(x.from_balance, 100);
    cr_assert_eq(x.to_balance, 0);
    cr_assert_eq(x.from_pd, 10);
    cr_assert_eq(x.from_pc, 0);
    cr_assert_eq(x.to_pd, 0);
    cr_assert_eq(x.to_pc, 10);
    cr_assert_eq(x.missing_side, 0);
    cr_assert_eq(x.timeout_s, 0);
    cr_assert_eq(x.expires_us, 0);
    cr_assert(ws_record_valid(&x));
    /* a microsecond before its time it is refused */
    l.now_us = at - 1;
    assert_refused_2p(&x, "an expiry a microsecond before its time");
    l.now_us = at;
    psnapshot before = psnap();
    ws_effect eff = apply_ok(&x);
    cr_assert_eq(eff.count, 2);
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_assert_eq(l.next_seq, before.base.next_seq + 2, "an expiry is two events");
    cr_assert_eq(l.transfers, before.base.transfers + 1);
    cr_assert_eq(ws_idem_count(l.idem), before.base.idem, "an expiry took an idempotency entry");
    cr_assert_eq(entry_of("p1")->status, WS_PENDING_EXPIRED);
    cr_assert_eq(pd("A"), 10);
    cr_assert_eq(pc("B"), 10);
    cr_assert_eq(sbalance("A"), 100);
    cr_assert_null(ws_pending_next_expired(l.pending, at), "expired twice");
    /* well past its time it applies too */
    l.now_us = T0_US + 100 * SEC_US;
    e = ws_pending_next_expired(l.pending, l.now_us);
    cr_assert_not_null(e);
    cr_assert_eq(e->lsn, p2_lsn);
    ws_ledger_expire(&l, e, "p2", 2, &x);
    apply_ok(&x);
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_assert_eq(pd("A"), 0);
    cr_assert_eq(pc("B"), 0);
    cr_assert_null(ws_pending_next_expired(l.pending, UINT64_MAX));
}

Test(ledger, expire_before_its_time_asserts, .signal = SIGABRT) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    (void)pend("A", "B", 40, "p1", 10, NULL);
    ws_record x;
    ws_ledger_expire(&l, entry_of("p1"), "p1", 2, &x);
    cr_log_error("built the expiry of a pending transfer before its time");
}

/* ---- apply refuses two-phase records the state does not allow ---- */

Test(ledger, apply_refuses_a_post_or_void_at_or_after_the_expiry_time) {
    (void)resolve_setup(); /* p1 expires at T0 + 60 s */
    const uint64_t at = T0_US + 60 * SEC_US;
    l.now_us = at - 1;
    ws_transfer_req q = post_req("p1", 30, "c1");
    ws_decision post = decide_q(&q, NULL);
    cr_assert_eq(post.status, WS_OK);
    q = void_req("p1", "v1");
    ws_decision voided = decide_q(&q, NULL);
    cr_assert_eq(voided.status, WS_OK);
    l.now_us = at;
    assert_refused_2p(&post.rec, "a post at the expiry time");
    assert_refused_2p(&voided.rec, "a void at the expiry time");
    l.now_us = at + 1;
    assert_refused_2p(&post.rec, "a post past the expiry time");
    l.now_us = at - 1;
    apply_ok(&post.rec); /* the control */
    cr_assert(ws_ledger_pending_consistent(&l));
}

/* r, a post, void or expiry of the pending transfer at r->pending_lsn, with the balances and
 * totals the state gives now: so that apply has nothing to refuse in them. */
static ws_record with_totals_now(ws_record r) {
    const ws_pending_entry *e = ws_pending_get(l.pending, r.pending_lsn);
    cr_assert_not_null(e);
    const ws_accounts *t = l.accounts;
    r.from_balance = ws_accounts_balance(t, e->from) - (int64_t)r.amount;
    r.to_balance = ws_accounts_balance(t, e->to) + (int64_t)r.amount;
    r.from_pd = ws_accounts_pending_debits(t, e->from) - e->amount;
    r.from_pc = ws_accounts_pending_credits(t, e->from);
    r.to_pd = ws_accounts_pending_debits(t, e->to);
    r.to_pc = ws_accounts_pending_credits(t, e->to) - e->amount;
    return r;
}

/* A pending transfer is resolved once: a second post, void or expiry is refused even when
 * its balances and totals are what the state would give (another pending transfer of the
 * same accounts keeps the totals high enough). */
Test(ledger, apply_refuses_a_second_resolution) {
    create("A", 300);
    create("B", 0);
    l.now_us = T0_US;
    (void)pend("A", "B", 100, "p1", 60, NULL);
    (void)pend("A", "B", 100, "p2", 0, NULL);
    const uint64_t at = T0_US + 60 * SEC_US;
    ws_transfer_req q = post_req("p1", 30, "c1");
    ws_decision post = decide_q(&q, NULL);
    q = post_req("p1", 10, "c2");
    ws_decision post2 = decide_q(&q, NULL);
    q = void_req("p1", "v1");
    ws_decision voided = decide_q(&q, NULL);
    cr_assert(post.status == WS_OK && post2.status == WS_OK && voided.status == WS_OK);
    l.now_us = at;
    ws_record expiry;
    ws_ledger_expire(&l, entry_of("p1"), "p1", 2, &expiry);
    l.now_us = T0_US;
    apply_ok(&post.rec);
    cr_assert_eq(pd("A"), 100, "p2 is still reserved");
    ws_record again = with_totals_now(post.rec);
    assert_refused_2p(&again, "the same post again");
    ws_record second = with_totals_now(post2.rec);
    assert_refused_2p(&second, "a second post");
    ws_record v = with_totals_now(voided.rec);
    assert_refused_2p(&v, "a void after a post");
    l.now_us = at;
    ws_record x = with_totals_now(expiry);
    assert_refused_2p(&x, "an expiry after a post");
    assert_refused_2p(&expiry, "an expiry after a post, its totals from before");
    l.now_us = T0_US;
    assert_refused_2p(&voided.rec, "a void after a post, its totals from before");
    cr_assert_eq(entry_of("p1")->status, WS_PENDING_POSTED);
    cr_assert_eq(entry_of("p2")->status, WS_PENDING_OPEN);
    /* the control: the same construction for p2, still open, applies */
    q = void_req("p2", "v2");
    ws_decision v2 = decide_q(&q, NULL);
    cr_assert_eq(v2.status, WS_OK);
    ws_record v2now = with_totals_now(v2.rec);
    apply_ok(&v2now);
    cr_assert(ws_ledger_pending_consistent(&l));
}

/* A pending transfer is found by its ID's fingerprint and confirmed by a second hash of the
 * ID: an entry of another ID under the same fingerprint (a collision, made here by hand) is
 * no match. */
Test(ledger, find_pending_confirms_the_id_hash) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    uint64_t lsn;
    (void)pend("A", "B", 40, "p1", 0, &lsn);
    cr_assert_eq(ws_ledger_find_pending(&l, "p1", 2), lsn);
    cr_assert_eq(ws_ledger_find_pending(&l, "other", 5), 0);
    cr_assert_eq(ws_idem_add(l.idem, ws_idem_fp(KEY, "other", 5), lsn), WS_OK);
    cr_assert_eq(ws_ledger_find_pending(&l, "other", 5), 0,
                 "a fingerprint collision was taken for the pending transfer");
    ws_transfer_req q = post_req("other", 0, "c1");
    cr_assert_eq(decide_status(&q), WS_PENDING_TRANSFER_NOT_FOUND);
    cr_assert_eq(ws_ledger_find_pending(&l, "p1", 2), lsn);
    cr_assert_neq(ws_ledger_pending_id_hash(KEY, "p1", 2), ws_ledger_pending_id_hash(KEY, "p2", 2));
    cr_assert_neq(ws_ledger_pending_id_hash(KEY, "p1", 2), ws_idem_fp(KEY, "p1", 2),
                  "the second hash is the fingerprint");
    ws_hash_key other = {KEY.k0 + 1, KEY.k1};
    cr_assert_neq(ws_ledger_pending_id_hash(KEY, "p1", 2),
                  ws_ledger_pending_id_hash(other, "p1", 2), "the second hash is not keyed");
}

/* An expiry of a pending transfer that has no timeout, and one before its time. */
Test(ledger, apply_refuses_an_expiry_before_its_time) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    (void)pend("A", "B", 40, "never", 0, NULL);
    (void)pend("A", "B", 10, "later", 10, NULL);
    ws_transfer_req q = void_req("never", "v1");
    ws_decision d = decide_q(&q, NULL);
    cr_assert_eq(d.status, WS_OK);
    ws_record x = d.rec; /* the same totals as an expiry would have */
    x.step = WS_STEP_EXPIRE;
    x.txn_len = 0;
    cr_assert(ws_record_valid(&x));
    l.now_us = T0_US + 1000000 * SEC_US;
    assert_refused_2p(&x, "an expiry of a pending transfer without a timeout");
    l.now_us = T0_US + 10 * SEC_US;
    ws_record y;
    ws_ledger_expire(&l, entry_of("later"), "later", 5, &y);
    l.now_us = T0_US + 10 * SEC_US - 1;
    assert_refused_2p(&y, "an expiry a microsecond early");
    l.now_us = T0_US;
    assert_refused_2p(&y, "an expiry at the time the pending transfer was made");
}

/* Records whose totals, expiry or pending transfer differ from what the state gives. */
Test(ledger, apply_refuses_wrong_two_phase_records) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    (void)transfer("A", "B", 1, "t1", true); /* A 99, B 1 */
    uint64_t t1_lsn = l.next_lsn - 1;
    uint64_t p0_lsn;
    (void)pend("A", "B", 9, "p0", 0, &p0_lsn); /* A pd 9, B pc 9 */
    ws_transfer_req q = pending_req("A", "B", 30, "p1", 10);
    ws_decision d = decide_q(&q, NULL);
    cr_assert_eq(d.status, WS_OK);
    const ws_record p = d.rec;
    cr_assert_eq(p.from_pd, 39);
    struct {
        const char *what;
        ws_record r;
    } bad[16];
    size_t n = 0;
#define BAD(text, stmt)                                                                            \
    do {                                                                                           \
        bad[n].what = text;                                                                        \
        bad[n].r = p;                                                                              \
        ws_record *r = &bad[n].r;                                                                  \
        stmt;                                                                                      \
        cr_assert(ws_record_valid(r), "%s: not even a valid record", text);                        \
        n++;                                                                                       \
    } while (0)
    BAD("a fromAccount balance one too high", r->from_balance++);
    BAD("a toAccount balance one too low", r->to_balance--);
    BAD("the fromAccount's pending debits one too high", r->from_pd++);
    BAD("the fromAccount's pending debits one too low", r->from_pd--);
    BAD("the fromAccount's pending credits", r->from_pc++);
    BAD("the toAccount's pending debits", r->to_pd++);
    BAD("the toAccount's pending credits one too low", r->to_pc--);
    BAD("an expiry a microsecond late", r->expires_us++);
    BAD("an expiry a microsecond early", r->expires_us--);
    BAD("another timeout with the same expiry", r->timeout_s++);
    BAD("another amount with the same totals", r->amount++);
    BAD("a reservation past the funds", (r->amount = 91, r->from_pd = 100, r->to_pc = 100));
    BAD("a reservation from the other account",
        (r->account[0] = 'B', r->to[0] = 'A', r->from_balance = 1, r->to_balance = 99,
         r->from_pd = 30, r->from_pc = 9, r->to_pd = 9, r->to_pc = 30, r->amount = 30));
    BAD("a reservation from a missing account", r->account[0] = 'X');
    for (size_t i = 0; i < n; i++) {
        assert_refused_2p(&bad[i].r, bad[i].what);
    }
    uint64_t p1_lsn = apply_next(&p); /* the control */
    cr_assert(ws_ledger_pending_consistent(&l));
    q = post_req("p1", 20, "c1");
    d = decide_q(&q, NULL);
    cr_assert_eq(d.status, WS_OK);
    const ws_record post = d.rec;
    n = 0;
#undef BAD
#define BAD(text, stmt)                                                                            \
    do {                                                                                           \
        bad[n].what = text;                                                                        \
        bad[n].r = post;                                                                           \
        ws_record *r = &bad[n].r;                                                                  \
        stmt;                                                                                      \
        cr_assert(ws_record_valid(r), "%s: not even a valid record", text);                        \
        n++;                                                                                       \
    } while (0)
    BAD("a fromAccount balance one too high", r->from_balance++);
    BAD("a toAccount balance one too high", r->to_balance++);
    BAD("pending debits one too high", r->from_pd++);
    BAD("pending credits of the fromAccount", r->from_pc++);
    BAD("pending debits of the toAccount", r->to_pd++);
    BAD("pending credits one too high", r->to_pc++);
    BAD("another amount with the same totals", r->amount = 21);
    BAD("another pending amount", r->pending_amount = 31);
    BAD("the lsn of a plain transfer", r->pending_lsn = t1_lsn);
    BAD("the lsn of another pending transfer", r->pending_lsn = p0_lsn);
    BAD("an lsn past the log", r->pending_lsn = p1_lsn + 1);
    BAD("another pendingID at the right lsn", r->pending[1] = '0');
    BAD("the accounts swapped", (r->account[0] = 'B', r->to[0] = 'A'));
    BAD("a void with the totals of a post", (r->step = WS_STEP_VOID, r->amount = 0));
    for (size_t i = 0; i < n; i++) {
        assert_refused_2p(&bad[i].r, bad[i].what);
    }
#undef BAD
    apply_ok(&post); /* the control */
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_assert_eq(sbalance("A"), 79);
    cr_assert_eq(pd("A"), 9);
}

/* ---- undo of the two-phase records ---- */

Test(ledger, undo_of_a_pending_transfer_restores_the_state) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    (void)pend("A", "B", 10, "p0", 0, NULL);
    (void)transfer("A", "B", 5, "t1", true);
    psnapshot before = psnap();
    ws_transfer_req q = pending_req("A", "B", 30, "p1", 5);
    ws_decision d = decide_q(&q, NULL);
    cr_assert_eq(d.status, WS_OK);
    uint64_t lsn = apply_next(&d.rec);
    cr_assert_eq(pd("A"), 40);
    cr_assert_eq(ws_ledger_find_pending(&l, "p1", 2), lsn);

    ws_ledger_undo(&l, &d.rec, lsn);
    psnapshot after = psnap();
    assert_psame(&before, &after, "undo of a pending transfer");
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_assert_eq(pd("A"), 10);
    cr_assert_eq(pc("B"), 10);
    cr_assert_eq(idem_lsn("p1"), 0);
    cr_assert_eq(ws_ledger_find_pending(&l, "p1", 2), 0);
    cr_assert_neq(ws_ledger_find_pending(&l, "p0", 2), 0, "another pending transfer went");
    ws_transfer_req p = post_req("p1", 0, "c1");
    cr_assert_eq(decide_status(&p), WS_PENDING_TRANSFER_NOT_FOUND);
    cr_assert_null(ws_pending_next_expired(l.pending, UINT64_MAX),
                   "the undone pending transfer still expires");
    /* the numbers are free again: the same record applies at the same lsn */
    cr_assert_eq(apply_next(&d.rec), lsn);
    cr_assert_eq(ws_ledger_find_pending(&l, "p1", 2), lsn);
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_assert_not_null(ws_pending_next_expired(l.pending, T0_US + 5 * SEC_US));
}

Test(ledger, undo_of_a_post_a_void_and_a_refusal_restores_the_state) {
    (void)resolve_setup(); /* p1: 100 from A to B, expires at T0 + 60 s */
    create("C", 50);
    (void)pend("C", "B", 20, "p2", 0, NULL);
    psnapshot before = psnap();
    const ws_transfer_req qs[] = {post_req("p1", 30, "c1"), post_req("p1", 0, "c2"),
                                  void_req("p1", "v1"), post_req("nope", 1, "c3"),
                                  post_req("p1", 101, "c4")};
    const ws_status want[] = {WS_OK, WS_OK, WS_OK, WS_PENDING_TRANSFER_NOT_FOUND,
                              WS_EXCEEDS_PENDING_AMOUNT};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        ws_decision d = decide_q(&qs[i], NULL);
        cr_assert_eq(d.status, want[i], "case %zu: %s", i, ws_status_code(d.status));
        cr_assert(d.append);
        uint64_t lsn = apply_next(&d.rec);
        cr_assert_eq(idem_lsn(qs[i].txn), lsn);
        ws_ledger_undo(&l, &d.rec, lsn);
        psnapshot after = psnap();
        assert_psame(&before, &after, "undo");
        cr_assert(ws_ledger_pending_consistent(&l), "case %zu", i);
        cr_assert_eq(idem_lsn(qs[i].txn), 0, "case %zu", i);
        cr_assert_eq(entry_of("p1")->status, WS_PENDING_OPEN, "case %zu", i);
    }
    /* reopened, p1 still expires at its time, and can be resolved */
    cr_assert_null(ws_pending_next_expired(l.pending, T0_US + 60 * SEC_US - 1));
    ws_pending_entry *e = ws_pending_next_expired(l.pending, T0_US + 60 * SEC_US);
    cr_assert_not_null(e);
    cr_assert_eq(e, entry_of("p1"));
    ws_transfer_req q = post_req("p1", 100, "c5");
    (void)step_ok(&q, NULL);
    cr_assert_eq(sbalance("B"), 100);
}

/* A chain taken back newest first: a pending transfer, its post, another pending one. */
Test(ledger, undo_of_a_chain_of_steps_newest_first) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    psnapshot before = psnap();
    const ws_transfer_req qs[3] = {pending_req("A", "B", 60, "k1", 30), post_req("k1", 20, "k2"),
                                   pending_req("B", "A", 20, "k3", 0)};
    ws_record recs[3];
    uint64_t lsns[3];
    for (size_t i = 0; i < 3; i++) {
        recs[i] = step_ok(&qs[i], &lsns[i]);
    }
    cr_assert_eq(sbalance("B"), 20);
    cr_assert_eq(pd("B"), 20);
    for (size_t i = 3; i-- > 0;) {
        ws_ledger_undo(&l, &recs[i], lsns[i]);
        cr_assert(ws_ledger_pending_consistent(&l), "after undoing member %zu", i);
    }
    psnapshot after = psnap();
    assert_psame(&before, &after, "undo of a chain");
    cr_assert_eq(ws_ledger_find_pending(&l, "k1", 2), 0);
}

Test(ledger, undo_of_an_expiry_asserts, .signal = SIGABRT) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    (void)pend("A", "B", 40, "p1", 1, NULL);
    l.now_us = T0_US + SEC_US;
    ws_record x;
    ws_ledger_expire(&l, entry_of("p1"), "p1", 2, &x);
    uint64_t lsn = apply_next(&x);
    ws_ledger_undo(&l, &x, lsn);
    cr_log_error("undid an expiry");
}

/* The consistency check can fail: totals that disagree with the open pending transfers. */
Test(ledger, pending_consistent_detects_wrong_totals) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    (void)pend("A", "B", 30, "p1", 0, NULL);
    cr_assert(ws_ledger_pending_consistent(&l));
    uint32_t a = idx("A");
    uint32_t b = idx("B");
    ws_accounts_set_pending(l.accounts, a, 31, 0);
    cr_assert_not(ws_ledger_pending_consistent(&l), "pending debits one too high");
    ws_accounts_set_pending(l.accounts, a, 30, 0);
    cr_assert(ws_ledger_pending_consistent(&l));
    ws_accounts_set_pending(l.accounts, b, 0, 29);
    cr_assert_not(ws_ledger_pending_consistent(&l), "pending credits one too low");
    ws_accounts_set_pending(l.accounts, b, 1, 30);
    cr_assert_not(ws_ledger_pending_consistent(&l), "pending debits on the toAccount");
    ws_accounts_set_pending(l.accounts, b, 0, 30);
    cr_assert(ws_ledger_pending_consistent(&l));
    entry_of("p1")->status = WS_PENDING_POSTED;
    cr_assert_not(ws_ledger_pending_consistent(&l), "totals of a transfer no longer open");
    entry_of("p1")->status = WS_PENDING_OPEN;
    cr_assert(ws_ledger_pending_consistent(&l));
}

/* The record of a two-phase chain member that failed: a valid StepRefused. */
Test(ledger, refusal_of_two_phase_steps) {
    const ws_transfer_req qs[] = {pending_req("A", "B", 5, "m1", 9), post_req("p1", 0, "m2"),
                                  post_req("p1", 7, "m3"), void_req("p1", "m4")};
    const ws_status status[] = {WS_LINKED_EVENT_FAILED, WS_LINKED_EVENT_CHAIN_OPEN,
                                WS_LINKED_EVENT_FAILED, WS_LINKED_EVENT_FAILED};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        ws_record r;
        memset(&r, 0xEE, sizeof(r));
        ws_ledger_refusal(&qs[i], status[i], 0, &r);
        cr_assert_eq(r.kind, WS_REC_STEP_REFUSED, "case %zu", i);
        cr_assert_eq(r.status, status[i], "case %zu", i);
        cr_assert_eq(r.step, qs[i].step, "case %zu", i);
        cr_assert_eq(r.amount, qs[i].amount, "case %zu", i);
        cr_assert_eq(r.timeout_s, qs[i].timeout_s, "case %zu", i);
        cr_assert_eq(r.pending_len, qs[i].pending_len, "case %zu", i);
        cr_assert_eq(r.account_len, qs[i].from_len, "case %zu", i);
        cr_assert(ws_record_valid(&r), "case %zu", i);
        cr_assert(ws_ledger_same_transfer(&r, &qs[i]), "case %zu: not the same request", i);
    }
}

/* A pending transfer's request may leave pending NULL (ledger.h gives it only to a post or
 * void, and pending_len is 0), as a plain transfer's does: fill_transfer must not pass the
 * NULL to memcpy (undefined behaviour, which the sanitizer build stops at). */
Test(ledger, pending_request_with_a_null_pending_pointer) {
    create("A", 100);
    create("B", 0);
    l.now_us = T0_US;
    ws_transfer_req q = pending_req("A", "B", 30, "p1", 10);
    q.pending = NULL;
    ws_decision d = step(&q);
    cr_assert_eq(d.status, WS_OK);
    cr_assert_eq(d.rec.pending_len, 0);
    q = pending_req("A", "X", 30, "p2", 10);
    q.pending = NULL;
    d = step(&q);
    cr_assert_eq(d.status, WS_ACCOUNT_NOT_FOUND, "the refusal's record is filled the same way");
    cr_assert_eq(d.rec.kind, WS_REC_STEP_REFUSED);
}

/* ---- applying with the decision's account indexes as hints ------------------------------------
 */

/* ws_ledger_apply_hinted gives ws_ledger_apply's outcome whatever the hints: right, swapped,
 * another account's, out of range or none; for a transfer, a pending transfer and a post;
 * and a record whose balances are wrong is refused with the right hints too. */
Test(ledger, apply_hinted_outcome_does_not_depend_on_the_hints) {
    create_with("ha", "XXX", 1000, 0, WS_AMOUNT_MAX);
    create_with("hb", "XXX", 0, 0, WS_AMOUNT_MAX);
    create_with("hc", "XXX", 0, 0, WS_AMOUNT_MAX);
    uint32_t a = idx("ha");
    uint32_t b = idx("hb");
    uint32_t c = idx("hc");
    const uint32_t hints[][2] = {
        {a, b},          {b, a}, {c, c}, {WS_ACCOUNT_NONE, WS_ACCOUNT_NONE},
        {999, 1u << 30}, {a, a}, {b, b}};
    size_t n = sizeof(hints) / sizeof(hints[0]);
    for (size_t i = 0; i < n; i++) {
        char txn[16];
        snprintf(txn, sizeof(txn), "ht%zu", i);
        ws_transfer_req q = req("ha", "hb", 1, txn, true);
        if (i % 2 == 1) {
            q = pending_req("ha", "hb", 1, txn, 0);
        }
        ws_decision d = decide_q(&q, NULL);
        cr_assert_eq(d.status, WS_OK);
        cr_assert_eq(d.from, a, "the decision names the accounts it found");
        cr_assert_eq(d.to, b);
        ws_record bad = d.rec;
        bad.from_balance++;
        ws_effect eff;
        const char *why;
        cr_assert_eq(ws_ledger_apply_hinted(&l, &bad, l.next_lsn, l.next_seq, a, b, &eff, &why),
                     WS_CORRUPT, "hints %zu: a wrong balance", i);
        int64_t ba = (int64_t)balance("ha");
        cr_assert_eq(ws_ledger_apply_hinted(&l, &d.rec, l.next_lsn, l.next_seq, hints[i][0],
                                            hints[i][1], &eff, &why),
                     WS_OK, "hints %zu: %s", i, why);
        cr_assert_eq(eff.count, 2);
        cr_assert_eq(eff.touched[0], a, "hints %zu", i);
        cr_assert_eq(eff.touched[1], b, "hints %zu", i);
        cr_assert_eq((int64_t)balance("ha"), q.step == WS_STEP_PENDING ? ba : ba - 1);
        cr_assert(ws_ledger_pending_consistent(&l));
    }
    /* a post, whose decision names the pending transfer's accounts */
    ws_transfer_req q = post_req("ht1", 0, "hp");
    ws_decision d = decide_q(&q, NULL);
    cr_assert_eq(d.status, WS_OK);
    ws_effect eff;
    const char *why;
    cr_assert_eq(ws_ledger_apply_hinted(&l, &d.rec, l.next_lsn, l.next_seq, b, c, &eff, &why),
                 WS_OK, "%s", why);
    cr_assert_eq(eff.touched[0], a);
    cr_assert_eq(eff.touched[1], b);
    cr_assert_eq(pd("ha"), 2); /* ht3 and ht5 still pending */
    cr_assert(ws_ledger_pending_consistent(&l));
    cr_assert(ws_ledger_money_conserved(&l));
}
