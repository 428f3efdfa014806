/* The ledger's state machine against an independent reference model: random commands
 * (account creations with currencies and limits, transfers with and without a client
 * transferID, retries of earlier transferIDs with the same or other parameters, huge
 * amounts near the maximum, linked chains) decided by ws_ledger and by a plain model
 * written here from the rules in docs/api.md; every outcome, every balance after and the
 * money per currency must agree. Also one test per transfer code, in the documented order.
 *
 * WS_MODEL_COMMANDS sets the command count (default 1,000,000); the seed is fixed and
 * printed, so a failure replays. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ledger.h"

#define ACCOUNTS 24
#define IDS (ACCOUNTS + 2) /* the last two are never created */
#define TXNS 4096          /* client transferIDs t0..: retried at random */
#define CURRENCIES 3

static const char *const currencies[CURRENCIES] = {"XXX", "USD", "EUR"};

/* ---- the reference model ------------------------------------------------------------ */

typedef struct {
    bool exists;
    int currency;
    int64_t balance;
    uint64_t overdraft;
    uint64_t max; /* WS_AMOUNT_MAX: none */
} ref_account;

typedef struct {
    bool used;
    int from, to;
    uint64_t amount;
    ws_status status;
    uint8_t missing_side;
    int64_t fb, tb;
} ref_txn;

static ref_account ref[IDS];
static ref_txn ref_txns[TXNS];

typedef struct {
    ws_status status;
    uint8_t missing_side;
    bool replayed;
    int64_t fb, tb;
} outcome;

static outcome ref_rule(int from, int to, uint64_t amount) {
    outcome o = {WS_OK, 0, false, 0, 0};
    if (from == to) {
        o.status = WS_SAME_ACCOUNT;
    } else if (!ref[from].exists || !ref[to].exists) {
        o.status = WS_ACCOUNT_NOT_FOUND;
        o.missing_side = ref[from].exists ? 2 : 1;
    } else if (ref[from].currency != ref[to].currency) {
        o.status = WS_CURRENCY_MISMATCH;
    } else if ((ws_i128)ref[from].balance - (ws_i128)amount < -(ws_i128)ref[from].overdraft) {
        o.status = WS_INSUFFICIENT_FUNDS;
    } else if ((ws_i128)ref[to].balance + (ws_i128)amount > (ws_i128)ref[to].max) {
        o.status = ref[to].max < WS_AMOUNT_MAX ? WS_BALANCE_LIMIT_EXCEEDED : WS_BALANCE_OVERFLOW;
    } else {
        ref[from].balance -= (int64_t)amount;
        ref[to].balance += (int64_t)amount;
        o.fb = ref[from].balance;
        o.tb = ref[to].balance;
    }
    return o;
}

/* A transfer with client transferID k (-1: a generated one, never retried). */
static outcome ref_transfer(int from, int to, uint64_t amount, int k) {
    if (k >= 0 && ref_txns[k].used) {
        ref_txn *t = &ref_txns[k];
        if (t->from != from || t->to != to || t->amount != amount) {
            return (outcome){WS_TRANSFER_ID_CONFLICT, 0, false, 0, 0};
        }
        return (outcome){t->status, t->missing_side, true, t->fb, t->tb};
    }
    outcome o = ref_rule(from, to, amount);
    if (k >= 0) {
        ref_txns[k] = (ref_txn){true, from, to, amount, o.status, o.missing_side, o.fb, o.tb};
    }
    return o;
}

/* ---- the service's ledger, driven as the writer drives it ---------------------------- */

static ws_ledger led;
static ws_record applied[TXNS]; /* the record holding each client transferID */
static bool has_applied[TXNS];
static uint64_t generated;

static void id_of(int i, char *out, uint8_t *len) { *len = (uint8_t)sprintf(out, "a%d", i); }

static void apply_or_die(const ws_record *r) {
    ws_effect eff;
    const char *why;
    ws_status s = ws_ledger_apply(&led, r, led.next_lsn, led.next_seq, &eff, &why);
    cr_assert_eq(s, WS_OK, "apply: %s", why);
}

static outcome real_transfer(int from, int to, uint64_t amount, int k, bool apply_ok) {
    char f[8], t[8], txn[24];
    uint8_t fl, tl, xl;
    id_of(from, f, &fl);
    id_of(to, t, &tl);
    xl = k >= 0 ? (uint8_t)sprintf(txn, "t%d", k)
                : (uint8_t)sprintf(txn, "g%llu", (unsigned long long)generated++);
    ws_transfer_req q = {f, fl, t, tl, amount, txn, xl, k >= 0, WS_STEP_NONE, 0, NULL, 0};
    ws_decision d;
    ws_ledger_decide_transfer(&led, &q, k >= 0 && has_applied[k] ? &applied[k] : NULL, &d);
    if (d.append && (apply_ok || d.status != WS_OK)) {
        apply_or_die(&d.rec);
        if (k >= 0) {
            applied[k] = d.rec;
            has_applied[k] = true;
        }
    }
    return (outcome){d.status, d.missing_side, d.replayed, d.from_balance, d.to_balance};
}

static void same(const outcome *a, const outcome *b, uint64_t n, const char *what) {
    cr_assert_eq(a->status, b->status, "command %llu (%s): ledger %s, model %s",
                 (unsigned long long)n, what, ws_status_code(a->status), ws_status_code(b->status));
    cr_assert_eq(a->missing_side, b->missing_side, "command %llu: missing side",
                 (unsigned long long)n);
    cr_assert_eq(a->replayed, b->replayed, "command %llu: replayed", (unsigned long long)n);
    if (a->status == WS_OK) {
        cr_assert(a->fb == b->fb && a->tb == b->tb,
                  "command %llu: balances %lld/%lld, model %lld/%lld", (unsigned long long)n,
                  (long long)a->fb, (long long)a->tb, (long long)b->fb, (long long)b->tb);
    }
}

static void same_state(uint64_t n) {
    for (int i = 0; i < IDS; i++) {
        char id[8];
        uint8_t len;
        id_of(i, id, &len);
        uint32_t x = ws_accounts_find(led.accounts, id, len);
        cr_assert_eq(x != WS_ACCOUNT_NONE, ref[i].exists, "command %llu: a%d exists",
                     (unsigned long long)n, i);
        if (ref[i].exists) {
            cr_assert_eq(ws_accounts_balance(led.accounts, x), ref[i].balance,
                         "command %llu: a%d balance", (unsigned long long)n, i);
        }
    }
    cr_assert(ws_ledger_money_conserved(&led), "command %llu: money per currency",
              (unsigned long long)n);
}

static uint64_t rng;
static uint64_t next(void) {
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t below(uint64_t n) { return next() % n; }

static void create(uint64_t n) {
    int i = (int)below(IDS - 2);
    int cur = (int)below(CURRENCIES);
    uint64_t od = below(3) == 0 ? below(1000) : 0;
    uint64_t max = below(3) == 0 ? below(5000) : WS_AMOUNT_MAX;
    uint64_t amount = below(2000);
    amount = amount > max ? max : amount;
    ws_account_params p = {.currency_len = 3, .overdraft = od, .max_balance = max};
    memcpy(p.currency, currencies[cur], 3);
    char id[8];
    uint8_t len;
    id_of(i, id, &len);
    ws_decision d;
    ws_ledger_decide_create(&led, id, len, amount, &p, &d);
    outcome want = {ref[i].exists ? WS_ACCOUNT_EXISTS : WS_CREATED, 0, false, 0, 0};
    cr_assert_eq(d.status, want.status, "command %llu: create a%d", (unsigned long long)n, i);
    if (d.append) {
        apply_or_die(&d.rec);
        ref[i] = (ref_account){true, cur, (int64_t)amount, od, max};
    }
}

static uint64_t random_amount(void) {
    switch (below(20)) {
    case 0:
        return WS_AMOUNT_MAX - below(3000); /* overflow and limits at the top */
    case 1:
        return 1;
    default:
        return 1 + below(1500);
    }
}

/* A chain of 2-3 transfers with fresh generated IDs: all or nothing. */
static void chain(uint64_t n) {
    int m = 2 + (int)below(2);
    int from[3], to[3];
    uint64_t amount[3];
    ref_account saved[IDS];
    memcpy(saved, ref, sizeof(ref));
    outcome want[3], got[3];
    int failed = -1;
    for (int i = 0; i < m; i++) {
        from[i] = (int)below(IDS);
        to[i] = (int)below(IDS);
        amount[i] = random_amount();
        want[i] = ref_rule(from[i], to[i], amount[i]);
        if (failed < 0 && want[i].status != WS_OK) {
            failed = i;
        }
    }
    ws_record recs[3];
    int napplied = 0;
    for (int i = 0; i < m; i++) {
        char f[8], t[8], txn[24];
        uint8_t fl, tl;
        id_of(from[i], f, &fl);
        id_of(to[i], t, &tl);
        uint8_t xl = (uint8_t)sprintf(txn, "c%llu", (unsigned long long)generated++);
        ws_transfer_req q = {f, fl, t, tl, amount[i], txn, xl, true, WS_STEP_NONE, 0, NULL, 0};
        ws_decision d;
        ws_ledger_decide_transfer(&led, &q, NULL, &d);
        got[i] = (outcome){d.status, d.missing_side, false, d.from_balance, d.to_balance};
        if (d.status == WS_OK) {
            apply_or_die(&d.rec);
            recs[napplied++] = d.rec;
        }
        same(&got[i], &want[i], n, "chain member");
    }
    if (failed >= 0) {
        while (napplied > 0) {
            napplied--;
            ws_ledger_undo(&led, &recs[napplied], led.next_lsn - 1);
        }
        memcpy(ref, saved, sizeof(ref)); /* the model's rollback */
    }
}

Test(ledger_model, a_million_random_commands_agree_with_the_model, .timeout = 600) {
    uint64_t commands = 1000000;
    const char *env = getenv("WS_MODEL_COMMANDS");
    if (env && *env) {
        commands = strtoull(env, NULL, 10);
    }
    uint64_t seed = 0x5eed2026u;
    rng = seed;
    fprintf(stderr, "ledger_model: %llu commands, seed %llx\n", (unsigned long long)commands,
            (unsigned long long)seed);
    memset(ref, 0, sizeof(ref));
    memset(ref_txns, 0, sizeof(ref_txns));
    memset(has_applied, 0, sizeof(has_applied));
    cr_assert_eq(ws_ledger_init(&led, (ws_hash_key){1, 2}), WS_OK);
    uint64_t counts[4] = {0};
    for (uint64_t n = 0; n < commands; n++) {
        uint64_t kind = below(100);
        if (kind < 8 || n < 64) {
            create(n);
            counts[0]++;
        } else if (kind < 95) {
            int from = (int)below(IDS), to = (int)below(IDS);
            uint64_t amount = random_amount();
            int k = below(10) < 7 ? (int)below(TXNS) : -1;
            if (k >= 0 && ref_txns[k].used && below(2) == 0) {
                from = ref_txns[k].from; /* a retry with the same parameters */
                to = ref_txns[k].to;
                amount = ref_txns[k].amount;
                counts[3]++;
            }
            outcome want = ref_transfer(from, to, amount, k);
            outcome got = real_transfer(from, to, amount, k, true);
            same(&got, &want, n, "transfer");
            counts[1]++;
        } else {
            chain(n);
            counts[2]++;
        }
        if (n % 10000 == 0) {
            same_state(n);
        }
    }
    same_state(commands);
    fprintf(stderr, "ledger_model: %llu creates, %llu transfers (%llu retries), %llu chains\n",
            (unsigned long long)counts[0], (unsigned long long)counts[1],
            (unsigned long long)counts[3], (unsigned long long)counts[2]);
    ws_ledger_free(&led);
}

/* ---- one test per code, in the order they are checked ---------------------------------- */

static void open_account(const char *id, const char *cur, int64_t amount, uint64_t od,
                         uint64_t max) {
    ws_account_params p = {
        .currency_len = (uint8_t)strlen(cur), .overdraft = od, .max_balance = max};
    memcpy(p.currency, cur, p.currency_len);
    ws_decision d;
    ws_ledger_decide_create(&led, id, (uint8_t)strlen(id), (uint64_t)amount, &p, &d);
    cr_assert_eq(d.status, WS_CREATED);
    apply_or_die(&d.rec);
}

static ws_status try_transfer(const char *from, const char *to, uint64_t amount) {
    ws_transfer_req q = {from, (uint8_t)strlen(from), to, (uint8_t)strlen(to), amount, "x", 1,
                         false, WS_STEP_NONE, 0, NULL, 0};
    ws_decision d;
    ws_ledger_decide_transfer(&led, &q, NULL, &d);
    if (d.status == WS_OK) {
        apply_or_die(&d.rec);
    }
    return d.status;
}

Test(ledger_model, codes_in_their_order) {
    cr_assert_eq(ws_ledger_init(&led, (ws_hash_key){1, 2}), WS_OK);
    open_account("u1", "USD", 100, 50, 1000);
    open_account("u2", "USD", 0, 0, 120);
    open_account("u3", "USD", 0, 0, WS_AMOUNT_MAX);
    open_account("e1", "EUR", 100, 0, WS_AMOUNT_MAX);
    /* same_account before account_not_found, before currency_mismatch ... */
    cr_assert_eq(try_transfer("zz", "zz", 1), WS_SAME_ACCOUNT);
    cr_assert_eq(try_transfer("zz", "e1", 1), WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(try_transfer("e1", "u1", 1000000), WS_CURRENCY_MISMATCH);
    /* ... before insufficient_funds, before balance_limit_exceeded */
    cr_assert_eq(try_transfer("u1", "u2", 151), WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(try_transfer("u1", "u2", 121), WS_BALANCE_LIMIT_EXCEEDED);
    cr_assert_eq(try_transfer("u1", "u2", 120), WS_OK); /* exactly the maximum */
    cr_assert_eq(try_transfer("u1", "u3", 30), WS_OK);  /* exactly -overdraft */
    cr_assert_eq(ws_accounts_balance(led.accounts, ws_accounts_find(led.accounts, "u1", 2)), -50);
    cr_assert_eq(try_transfer("u1", "u3", 1), WS_INSUFFICIENT_FUNDS);
    /* no maximum: balance_overflow past 2^63-1 */
    open_account("big", "USD", (int64_t)WS_AMOUNT_MAX, 0, WS_AMOUNT_MAX);
    cr_assert_eq(try_transfer("u2", "big", 1), WS_BALANCE_OVERFLOW);
    cr_assert(ws_ledger_money_conserved(&led));
    /* a record that would pass a limit does not apply, and changes nothing */
    ws_record r = {.kind = WS_REC_TRANSFER, .status = WS_OK, .amount = 1};
    r.account_len = 2;
    memcpy(r.account, "u1", 2);
    r.to_len = 2;
    memcpy(r.to, "u3", 2);
    r.txn_len = 2;
    memcpy(r.txn, "bad", 2);
    r.from_balance = -51;
    r.to_balance = 31;
    ws_effect eff;
    const char *why;
    uint64_t lsn = led.next_lsn;
    cr_assert_eq(ws_ledger_apply(&led, &r, led.next_lsn, led.next_seq, &eff, &why), WS_CORRUPT);
    cr_assert_eq(led.next_lsn, lsn);
    cr_assert_eq(ws_accounts_balance(led.accounts, ws_accounts_find(led.accounts, "u1", 2)), -50);
    ws_ledger_free(&led);
}
