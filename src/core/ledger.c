/* decide and apply (see ledger.h). The rules of a transfer are written once, in
 * transfer_rule; apply checks a Transfer record by asking the same rule. */
#include "core/ledger.h"

#include <stdlib.h>
#include <string.h>

ws_status ws_ledger_init(ws_ledger *l, ws_hash_key fp_key) {
    *l = (ws_ledger){.fp_key = fp_key, .next_lsn = 1, .next_seq = 1};
    l->accounts = ws_accounts_new();
    l->idem = ws_idem_new();
    l->pending = ws_pending_new();
    if (!l->accounts || !l->idem || !l->pending) {
        ws_ledger_free(l);
        return WS_INTERNAL;
    }
    return WS_OK;
}

void ws_ledger_free(ws_ledger *l) {
    ws_accounts_free(l->accounts);
    ws_idem_free(l->idem);
    ws_pending_free(l->pending);
    l->accounts = NULL;
    l->idem = NULL;
    l->pending = NULL;
}

static bool same_id(const char *a, size_t alen, const char *b, size_t blen) {
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* The step a record was decided from. */
static ws_step step_of(const ws_record *r) {
    return r->kind == WS_REC_TRANSFER || r->kind == WS_REC_TRANSFER_REFUSED ? WS_STEP_NONE
                                                                            : r->step;
}

bool ws_ledger_same_transfer(const ws_record *r, const ws_transfer_req *q) {
    if (step_of(r) != q->step) {
        return false;
    }
    if (q->step == WS_STEP_POST || q->step == WS_STEP_VOID) {
        /* a post of "all of it" asked again is the same post */
        bool amount = r->kind == WS_REC_RESOLVED && q->step == WS_STEP_POST && q->amount == 0
                          ? r->amount == r->pending_amount
                          : r->amount == q->amount;
        return amount && same_id(r->pending, r->pending_len, q->pending, q->pending_len);
    }
    return r->amount == q->amount && r->timeout_s == q->timeout_s &&
           same_id(r->account, r->account_len, q->from, q->from_len) &&
           same_id(r->to, r->to_len, q->to, q->to_len);
}

void ws_ledger_decide_create(const ws_ledger *l, const char *id, uint8_t len, uint64_t amount,
                             const ws_account_params *params, ws_decision *d) {
    WS_ASSERT(ws_id_valid(id, len) && amount <= params->max_balance &&
              params->max_balance <= WS_AMOUNT_MAX && params->overdraft <= WS_AMOUNT_MAX &&
              ws_currency_valid(params->currency, params->currency_len));
    memset(d, 0, offsetof(ws_decision, rec));
    if (ws_accounts_find(l->accounts, id, len) != WS_ACCOUNT_NONE) {
        d->status = WS_ACCOUNT_EXISTS;
        return;
    }
    if (ws_accounts_currency_find(l->accounts, params->currency, params->currency_len) < 0 &&
        ws_accounts_currency_count(l->accounts) >= WS_CURRENCIES_MAX) {
        d->status = WS_TOO_MANY_CURRENCIES;
        return;
    }
    if (ws_accounts_count(l->accounts) >= WS_ACCOUNTS_MAX) {
        d->status = WS_INTERNAL;
        return;
    }
    d->status = WS_CREATED;
    d->from_balance = (int64_t)amount;
    d->append = true;
    d->rec = (ws_record){.kind = WS_REC_ACCOUNT_CREATED,
                         .status = WS_OK,
                         .account_len = len,
                         .amount = amount,
                         .from_balance = (int64_t)amount};
    memcpy(d->rec.account, id, len);
    ws_record_set_params(&d->rec, params);
}

/* The rules of a transfer, in the order they are checked. */
/* The index of account id. hint, if not WS_ACCOUNT_NONE, is where the caller believes it is
 * (where the decision that made a record found it): taken once the account there is seen to
 * hold id, so a wrong hint costs the lookup, never a wrong account. Applying a record right
 * after deciding it so looks up neither account again (two of the writer's four lookups). */
static uint32_t find_id(const ws_ledger *l, const char *id, size_t len, uint32_t hint) {
    if (hint < ws_accounts_count(l->accounts)) {
        uint8_t n;
        const char *at = ws_accounts_id(l->accounts, hint, &n);
        if (same_id(at, n, id, len)) {
            return hint;
        }
    }
    return ws_accounts_find(l->accounts, id, len);
}

/* *from and *to come in as hints (find_id) and go out as the accounts' indexes. */
static ws_status transfer_rule(const ws_ledger *l, const ws_transfer_req *q, uint32_t *from,
                               uint32_t *to, uint8_t *missing_side) {
    *missing_side = 0;
    if (same_id(q->from, q->from_len, q->to, q->to_len)) {
        return WS_SAME_ACCOUNT;
    }
    *from = find_id(l, q->from, q->from_len, *from);
    *to = find_id(l, q->to, q->to_len, *to);
    if (*from == WS_ACCOUNT_NONE || *to == WS_ACCOUNT_NONE) {
        *missing_side = *from == WS_ACCOUNT_NONE ? 1 : 2;
        return WS_ACCOUNT_NOT_FOUND;
    }
    const ws_accounts *t = l->accounts;
    if (ws_accounts_currency(t, *from) != ws_accounts_currency(t, *to)) {
        return WS_CURRENCY_MISMATCH;
    }
    /* what is reserved counts: pending debits as spent, pending credits as received */
    if ((ws_i128)ws_accounts_balance(t, *from) - ws_accounts_pending_debits(t, *from) - q->amount <
        -(ws_i128)ws_accounts_overdraft(t, *from)) {
        return WS_INSUFFICIENT_FUNDS;
    }
    uint64_t max = ws_accounts_max_balance(t, *to);
    if ((ws_i128)ws_accounts_balance(t, *to) + ws_accounts_pending_credits(t, *to) + q->amount >
        (ws_i128)max) {
        return max < WS_AMOUNT_MAX ? WS_BALANCE_LIMIT_EXCEEDED : WS_BALANCE_OVERFLOW;
    }
    return WS_OK;
}

/* The answer a two-phase record gives: its accounts, balances and totals after. */
static void step_answer(const ws_ledger *l, const ws_record *r, ws_decision *d) {
    d->status = WS_OK;
    d->from = find_id(l, r->account, r->account_len, d->from); /* d's are hints */
    d->to = find_id(l, r->to, r->to_len, d->to);
    d->from_balance = r->from_balance;
    d->to_balance = r->to_balance;
    d->amount =
        r->kind == WS_REC_RESOLVED && r->step == WS_STEP_VOID ? r->pending_amount : r->amount;
    d->from_pd = r->from_pd;
    d->from_pc = r->from_pc;
    d->to_pd = r->to_pd;
    d->to_pc = r->to_pc;
}

static void replay(const ws_ledger *l, const ws_record *prior, const ws_transfer_req *q,
                   ws_decision *d) {
    if (!ws_ledger_same_transfer(prior, q)) {
        d->status = WS_TRANSFER_ID_CONFLICT;
        return;
    }
    d->replayed = true;
    if (prior->kind == WS_REC_TRANSFER) {
        d->status = WS_OK;
        d->from_balance = prior->from_balance;
        d->to_balance = prior->to_balance;
    } else if (prior->kind == WS_REC_PENDING || prior->kind == WS_REC_RESOLVED) {
        step_answer(l, prior, d);
    } else {
        d->status = prior->status;
        d->missing_side = prior->missing_side;
    }
}

static void fill_transfer(ws_record *r, ws_record_kind kind, const ws_transfer_req *q) {
    *r = (ws_record){.kind = kind,
                     .status = WS_OK,
                     .account_len = q->from_len,
                     .to_len = q->to_len,
                     .txn_len = q->txn_len,
                     .amount = q->amount};
    memcpy(r->account, q->from, q->from_len);
    memcpy(r->to, q->to, q->to_len);
    memcpy(r->txn, q->txn, q->txn_len);
    if (q->step != WS_STEP_NONE) {
        r->step = q->step;
        r->timeout_s = q->timeout_s;
        r->pending_len = q->pending_len;
        if (q->pending_len > 0) { /* a pending transfer's request may have no pointer */
            memcpy(r->pending, q->pending, q->pending_len);
        }
    }
}

/* The record remembering q refused with status. */
static void fill_refusal(ws_record *r, const ws_transfer_req *q, ws_status status,
                         uint8_t missing_side) {
    fill_transfer(r, q->step == WS_STEP_NONE ? WS_REC_TRANSFER_REFUSED : WS_REC_STEP_REFUSED, q);
    r->status = status;
    r->missing_side = missing_side;
}

/* Sets r's balances and pending totals to those of its two accounts now. */
static void fill_totals(const ws_ledger *l, ws_record *r, uint32_t from, uint32_t to) {
    const ws_accounts *t = l->accounts;
    r->from_balance = ws_accounts_balance(t, from);
    r->to_balance = ws_accounts_balance(t, to);
    r->from_pd = ws_accounts_pending_debits(t, from);
    r->from_pc = ws_accounts_pending_credits(t, from);
    r->to_pd = ws_accounts_pending_debits(t, to);
    r->to_pc = ws_accounts_pending_credits(t, to);
}

uint64_t ws_ledger_pending_id_hash(ws_hash_key fp_key, const char *id, size_t len) {
    ws_hash_key k = {fp_key.k0 ^ 0x70656e64696e672dull, fp_key.k1 ^ 0x69642d6861736831ull};
    return ws_siphash(k, id, len);
}

uint64_t ws_ledger_find_pending(const ws_ledger *l, const char *id, size_t len) {
    uint64_t h = ws_ledger_pending_id_hash(l->fp_key, id, len);
    size_t pos = 0;
    uint64_t fp = ws_idem_fp(l->fp_key, id, len);
    for (uint64_t lsn = ws_idem_next(l->idem, fp, &pos); lsn != 0;
         lsn = ws_idem_next(l->idem, fp, &pos)) {
        const ws_pending_entry *e = ws_pending_get(l->pending, lsn);
        if (e && e->id_hash == h) {
            return lsn;
        }
    }
    return 0;
}

/* The state of the pending transfer a post or void names, as a refusal (WS_OK: open). */
static ws_status pending_rule(const ws_ledger *l, const ws_transfer_req *q,
                              const ws_pending_entry **out) {
    uint64_t lsn = ws_ledger_find_pending(l, q->pending, q->pending_len);
    const ws_pending_entry *e = lsn ? ws_pending_get(l->pending, lsn) : NULL;
    *out = e;
    if (!e) {
        return WS_PENDING_TRANSFER_NOT_FOUND;
    }
    if (e->status == WS_PENDING_POSTED) {
        return WS_PENDING_TRANSFER_ALREADY_POSTED;
    }
    if (e->status == WS_PENDING_VOIDED) {
        return WS_PENDING_TRANSFER_ALREADY_VOIDED;
    }
    if (e->status == WS_PENDING_EXPIRED || (e->expires_us != 0 && e->expires_us <= l->now_us)) {
        return WS_PENDING_TRANSFER_EXPIRED;
    }
    if (q->step == WS_STEP_POST && q->amount > e->amount) {
        return WS_EXCEEDS_PENDING_AMOUNT;
    }
    return WS_OK;
}

/* The PendingResolved record of resolving e (the pending transfer with transferID id) by
 * step, posting amount: its accounts are e's. */
static void fill_resolved(const ws_ledger *l, ws_record *r, const ws_pending_entry *e,
                          const char *id, uint8_t id_len, ws_step step, uint64_t amount) {
    *r = (ws_record){.kind = WS_REC_RESOLVED,
                     .status = WS_OK,
                     .step = step,
                     .pending_len = id_len,
                     .pending_lsn = e->lsn,
                     .amount = amount,
                     .pending_amount = e->amount};
    const char *a = ws_accounts_id(l->accounts, e->from, &r->account_len);
    memcpy(r->account, a, r->account_len);
    a = ws_accounts_id(l->accounts, e->to, &r->to_len);
    memcpy(r->to, a, r->to_len);
    memcpy(r->pending, id, id_len);
    fill_totals(l, r, e->from, e->to);
    r->from_balance = (int64_t)((ws_i128)r->from_balance - amount);
    r->to_balance = (int64_t)((ws_i128)r->to_balance + amount);
    r->from_pd -= e->amount;
    r->to_pc -= e->amount;
}

void ws_ledger_expire(const ws_ledger *l, const ws_pending_entry *e, const char *id, uint8_t id_len,
                      ws_record *out) {
    WS_ASSERT(e->status == WS_PENDING_OPEN && e->expires_us != 0 && e->expires_us <= l->now_us &&
              e->id_hash == ws_ledger_pending_id_hash(l->fp_key, id, id_len));
    fill_resolved(l, out, e, id, id_len, WS_STEP_EXPIRE, 0);
}

/* A post or void of the pending transfer q names. */
static void decide_resolve(const ws_ledger *l, const ws_transfer_req *q, ws_decision *d) {
    const ws_pending_entry *e;
    d->status = pending_rule(l, q, &e);
    if (d->status != WS_OK) {
        d->append = q->txn_given;
        if (d->append) {
            fill_refusal(&d->rec, q, d->status, 0);
        }
        return;
    }
    uint64_t amount = q->step == WS_STEP_VOID ? 0 : q->amount ? q->amount : e->amount;
    fill_resolved(l, &d->rec, e, q->pending, q->pending_len, q->step, amount);
    d->rec.txn_len = q->txn_len;
    memcpy(d->rec.txn, q->txn, q->txn_len);
    d->append = true;
    step_answer(l, &d->rec, d);
}

/* When a pending transfer asked now with timeout_s expires; 0 never. */
static uint64_t expiry(const ws_ledger *l, uint32_t timeout_s) {
    return timeout_s ? l->now_us + (uint64_t)timeout_s * 1000000u : 0;
}

void ws_ledger_decide_transfer(const ws_ledger *l, const ws_transfer_req *q, const ws_record *prior,
                               ws_decision *d) {
    bool resolve = q->step == WS_STEP_POST || q->step == WS_STEP_VOID;
    WS_ASSERT(q->amount <= WS_AMOUNT_MAX && (q->amount >= 1 || resolve) &&
              ws_id_valid(q->txn, q->txn_len) && q->step != WS_STEP_EXPIRE &&
              (resolve ? ws_id_valid(q->pending, q->pending_len) : q->pending_len == 0));
    memset(d, 0, offsetof(ws_decision, rec));
    d->from = d->to = WS_ACCOUNT_NONE;
    if (prior) {
        WS_ASSERT(prior->kind != WS_REC_ACCOUNT_CREATED &&
                  same_id(prior->txn, prior->txn_len, q->txn, q->txn_len));
        replay(l, prior, q, d);
        return;
    }
    if (resolve) {
        decide_resolve(l, q, d);
        return;
    }
    uint32_t from = WS_ACCOUNT_NONE;
    uint32_t to = WS_ACCOUNT_NONE;
    d->status = transfer_rule(l, q, &from, &to, &d->missing_side);
    if (d->status != WS_OK) {
        /* Only a refusal the client can retry (it chose the transferID) is remembered. */
        d->append = q->txn_given;
        if (d->append) {
            fill_refusal(&d->rec, q, d->status, d->missing_side);
        }
        return;
    }
    d->append = true;
    d->from = from;
    d->to = to;
    if (q->step == WS_STEP_PENDING) {
        fill_transfer(&d->rec, WS_REC_PENDING, q);
        d->rec.expires_us = expiry(l, q->timeout_s);
        fill_totals(l, &d->rec, from, to);
        d->rec.from_pd += q->amount;
        d->rec.to_pc += q->amount;
        step_answer(l, &d->rec, d);
        return;
    }
    d->from_balance = (int64_t)((ws_i128)ws_accounts_balance(l->accounts, from) - q->amount);
    d->to_balance = (int64_t)((ws_i128)ws_accounts_balance(l->accounts, to) + q->amount);
    fill_transfer(&d->rec, WS_REC_TRANSFER, q);
    d->rec.from_balance = d->from_balance;
    d->rec.to_balance = d->to_balance;
}

void ws_ledger_refusal(const ws_transfer_req *q, ws_status status, uint8_t missing_side,
                       ws_record *out) {
    fill_refusal(out, q, status, missing_side);
    WS_ASSERT(ws_record_valid(out));
}

/* Sets an account's balance and pending totals. */
static void set_totals(ws_ledger *l, uint32_t index, int64_t balance, uint64_t pd, uint64_t pc) {
    ws_accounts_set_balance(l->accounts, index, balance);
    ws_accounts_set_pending(l->accounts, index, pd, pc);
}

/* r's accounts; *from and *to come in as hints (find_id). */
static void find_both(const ws_ledger *l, const ws_record *r, uint32_t *from, uint32_t *to) {
    *from = find_id(l, r->account, r->account_len, *from);
    *to = find_id(l, r->to, r->to_len, *to);
}

void ws_ledger_undo(ws_ledger *l, const ws_record *r, uint64_t lsn) {
    WS_ASSERT(lsn + 1 == l->next_lsn && r->kind != WS_REC_ACCOUNT_CREATED &&
              r->kind != WS_REC_REQUEST_KEY && r->step != WS_STEP_EXPIRE);
    ws_idem_remove(l->idem, ws_idem_record_fp(l->fp_key, r), lsn);
    uint32_t from = WS_ACCOUNT_NONE;
    uint32_t to = WS_ACCOUNT_NONE;
    if (r->kind == WS_REC_TRANSFER || r->kind == WS_REC_PENDING || r->kind == WS_REC_RESOLVED) {
        find_both(l, r, &from, &to);
        WS_ASSERT(from != WS_ACCOUNT_NONE && to != WS_ACCOUNT_NONE);
        WS_ASSERT(ws_accounts_balance(l->accounts, from) == r->from_balance &&
                  ws_accounts_balance(l->accounts, to) == r->to_balance);
        l->transfers--;
    } else {
        l->refusals--;
    }
    if (r->kind == WS_REC_TRANSFER) {
        ws_accounts_set_balance(l->accounts, from, (int64_t)((ws_i128)r->from_balance + r->amount));
        ws_accounts_set_balance(l->accounts, to, (int64_t)((ws_i128)r->to_balance - r->amount));
    } else if (r->kind == WS_REC_PENDING) {
        ws_pending_remove_last(l->pending, lsn);
        set_totals(l, from, r->from_balance, r->from_pd - r->amount, r->from_pc);
        set_totals(l, to, r->to_balance, r->to_pd, r->to_pc - r->amount);
    } else if (r->kind == WS_REC_RESOLVED) {
        ws_pending_entry *e = ws_pending_get(l->pending, r->pending_lsn);
        WS_ASSERT(e && e->status != WS_PENDING_OPEN);
        e->status = WS_PENDING_OPEN;
        set_totals(l, from, (int64_t)((ws_i128)r->from_balance + r->amount),
                   r->from_pd + r->pending_amount, r->from_pc);
        set_totals(l, to, (int64_t)((ws_i128)r->to_balance - r->amount), r->to_pd,
                   r->to_pc + r->pending_amount);
    }
    l->next_lsn--;
    l->next_seq -= ws_record_event_count(r->kind);
}

static ws_status apply_created(ws_ledger *l, const ws_record *r, ws_effect *eff, const char **why) {
    if (ws_accounts_find(l->accounts, r->account, r->account_len) != WS_ACCOUNT_NONE) {
        *why = "account created twice";
        return WS_CORRUPT;
    }
    ws_account_params p = ws_record_params(r);
    uint32_t index;
    ws_status s =
        ws_accounts_insert(l->accounts, r->account, r->account_len, (int64_t)r->amount, &p, &index);
    if (s == WS_TOO_MANY_CURRENCIES) {
        *why = "an account of a currency past the most the service holds";
        return WS_CORRUPT;
    }
    if (s != WS_OK) {
        *why = "out of memory";
        return WS_INTERNAL;
    }
    l->total_money += r->amount;
    l->money_by_currency[ws_accounts_currency(l->accounts, index)] += r->amount;
    eff->touched[eff->count++] = index;
    return WS_OK;
}

/* Adds r's transactionID to the idempotency index; false on out of memory. */
static bool remember(ws_ledger *l, const ws_record *r, uint64_t lsn, const char **why) {
    if (ws_idem_add(l->idem, ws_idem_record_fp(l->fp_key, r), lsn) != WS_OK) {
        *why = "out of memory";
        return false;
    }
    return true;
}

static const char *rule_why(ws_status rule) {
    return rule == WS_SAME_ACCOUNT             ? "a transfer from an account to itself"
           : rule == WS_ACCOUNT_NOT_FOUND      ? "a transfer of an account never created"
           : rule == WS_CURRENCY_MISMATCH      ? "a transfer between two currencies"
           : rule == WS_INSUFFICIENT_FUNDS     ? "a debit takes a balance below its overdraft limit"
           : rule == WS_BALANCE_LIMIT_EXCEEDED ? "a credit takes a balance past its maximum"
                                               : "a credit overflows a balance";
}

/* The same balances and pending totals as the state gives after: r's own. */
static bool same_totals(const ws_record *r, const ws_record *want) {
    return r->from_balance == want->from_balance && r->to_balance == want->to_balance &&
           r->from_pd == want->from_pd && r->from_pc == want->from_pc && r->to_pd == want->to_pd &&
           r->to_pc == want->to_pc;
}

/* A transfer's or pending transfer's record must pass the transfer rule in the state it is
 * applied to: its accounts (in from, to, which come in as hints) exist, share a currency and
 * have room. */
static bool record_passes_rule(const ws_ledger *l, const ws_record *r, uint32_t *from, uint32_t *to,
                               const char **why) {
    ws_transfer_req q = {.from = r->account,
                         .from_len = r->account_len,
                         .to = r->to,
                         .to_len = r->to_len,
                         .amount = r->amount};
    uint8_t side;
    ws_status rule = transfer_rule(l, &q, from, to, &side);
    if (rule != WS_OK) {
        *why = rule_why(rule);
        return false;
    }
    return true;
}

static ws_status apply_transfer(ws_ledger *l, const ws_record *r, uint64_t lsn,
                                const uint32_t hint[2], ws_effect *eff, const char **why) {
    uint32_t from = hint[0];
    uint32_t to = hint[1];
    if (!record_passes_rule(l, r, &from, &to, why)) {
        return WS_CORRUPT;
    }
    int64_t from_after = (int64_t)((ws_i128)ws_accounts_balance(l->accounts, from) - r->amount);
    int64_t to_after = (int64_t)((ws_i128)ws_accounts_balance(l->accounts, to) + r->amount);
    if (from_after != r->from_balance || to_after != r->to_balance) {
        *why = "a balance after a transfer differs from the replayed balance";
        return WS_CORRUPT;
    }
    if (!remember(l, r, lsn, why)) {
        return WS_INTERNAL;
    }
    ws_i128 before =
        (ws_i128)ws_accounts_balance(l->accounts, from) + ws_accounts_balance(l->accounts, to);
    ws_accounts_set_balance(l->accounts, from, from_after);
    ws_accounts_set_balance(l->accounts, to, to_after);
    WS_ASSERT((ws_i128)from_after + to_after == before); /* money is conserved */
    eff->touched[eff->count++] = from;
    eff->touched[eff->count++] = to;
    l->transfers++;
    return WS_OK;
}

/* Makes room for both accounts' pending totals; false on out of memory. */
static bool reserve_both(ws_ledger *l, uint32_t from, uint32_t to, const char **why) {
    if (ws_accounts_reserve_pending(l->accounts, from) != WS_OK ||
        ws_accounts_reserve_pending(l->accounts, to) != WS_OK) {
        *why = "out of memory";
        return false;
    }
    return true;
}

/* Sets both accounts to r's balances and totals after, and says they changed. */
static void take_totals(ws_ledger *l, const ws_record *r, uint32_t from, uint32_t to,
                        ws_effect *eff) {
    set_totals(l, from, r->from_balance, r->from_pd, r->from_pc);
    set_totals(l, to, r->to_balance, r->to_pd, r->to_pc);
    eff->touched[eff->count++] = from;
    eff->touched[eff->count++] = to;
    l->transfers++;
}

static ws_status apply_pending(ws_ledger *l, const ws_record *r, uint64_t lsn,
                               const uint32_t hint[2], ws_effect *eff, const char **why) {
    uint32_t from = hint[0];
    uint32_t to = hint[1];
    if (!record_passes_rule(l, r, &from, &to, why)) {
        return WS_CORRUPT;
    }
    ws_record want = *r;
    fill_totals(l, &want, from, to);
    want.from_pd += r->amount;
    want.to_pc += r->amount;
    if (!same_totals(r, &want) || r->expires_us != expiry(l, r->timeout_s)) {
        *why = "a pending transfer's balances, totals or expiry differ from the replayed ones";
        return WS_CORRUPT;
    }
    ws_pending_entry e = {.lsn = lsn,
                          .id_hash = ws_ledger_pending_id_hash(l->fp_key, r->txn, r->txn_len),
                          .amount = r->amount,
                          .expires_us = r->expires_us,
                          .from = from,
                          .to = to,
                          .status = WS_PENDING_OPEN};
    if (!reserve_both(l, from, to, why) || !remember(l, r, lsn, why)) {
        return WS_INTERNAL;
    }
    if (ws_pending_add(l->pending, &e) != WS_OK) {
        ws_idem_remove(l->idem, ws_idem_record_fp(l->fp_key, r), lsn);
        *why = "out of memory";
        return WS_INTERNAL;
    }
    take_totals(l, r, from, to, eff);
    return WS_OK;
}

static ws_status apply_resolved(ws_ledger *l, const ws_record *r, uint64_t lsn,
                                const uint32_t hint[2], ws_effect *eff, const char **why) {
    ws_pending_entry *e = ws_pending_get(l->pending, r->pending_lsn);
    uint32_t from = hint[0];
    uint32_t to = hint[1];
    find_both(l, r, &from, &to);
    if (!e || e->from != from || e->to != to || e->amount != r->pending_amount ||
        e->id_hash != ws_ledger_pending_id_hash(l->fp_key, r->pending, r->pending_len)) {
        *why = "a post, void or expiry of a pending transfer the log does not hold";
        return WS_CORRUPT;
    }
    if (e->status != WS_PENDING_OPEN) {
        *why = "a pending transfer resolved twice";
        return WS_CORRUPT;
    }
    bool due = e->expires_us != 0 && e->expires_us <= l->now_us;
    if (due != (r->step == WS_STEP_EXPIRE)) {
        *why = due ? "a post or void of an expired pending transfer"
                   : "an expiry before the pending transfer's expiry time";
        return WS_CORRUPT;
    }
    ws_record want;
    fill_resolved(l, &want, e, r->pending, r->pending_len, r->step, r->amount);
    if (!same_totals(r, &want)) {
        *why = "the balances or totals after a post, void or expiry differ from the replayed ones";
        return WS_CORRUPT;
    }
    if (r->txn_len > 0 && !remember(l, r, lsn, why)) {
        return WS_INTERNAL;
    }
    e->status = r->step == WS_STEP_POST   ? WS_PENDING_POSTED
                : r->step == WS_STEP_VOID ? WS_PENDING_VOIDED
                                          : WS_PENDING_EXPIRED;
    take_totals(l, r, from, to, eff);
    return WS_OK;
}

ws_status ws_ledger_apply(ws_ledger *l, const ws_record *r, uint64_t lsn, uint64_t seq,
                          ws_effect *effect, const char **why) {
    return ws_ledger_apply_hinted(l, r, lsn, seq, WS_ACCOUNT_NONE, WS_ACCOUNT_NONE, effect, why);
}

ws_status ws_ledger_apply_hinted(ws_ledger *l, const ws_record *r, uint64_t lsn, uint64_t seq,
                                 uint32_t from_hint, uint32_t to_hint, ws_effect *effect,
                                 const char **why) {
    const uint32_t hint[2] = {from_hint, to_hint};
    effect->count = 0;
    *why = "";
    if (!ws_record_valid(r)) {
        *why = "a malformed record";
        return WS_CORRUPT;
    }
    if (lsn != l->next_lsn || seq != l->next_seq) {
        *why = "a gap or disorder in the record or event numbering";
        return WS_CORRUPT;
    }
    ws_status s = WS_OK;
    if (r->kind == WS_REC_ACCOUNT_CREATED) {
        s = apply_created(l, r, effect, why);
    } else if (r->kind == WS_REC_TRANSFER) {
        s = apply_transfer(l, r, lsn, hint, effect, why);
    } else if (r->kind == WS_REC_PENDING) {
        s = apply_pending(l, r, lsn, hint, effect, why);
    } else if (r->kind == WS_REC_RESOLVED) {
        s = apply_resolved(l, r, lsn, hint, effect, why);
    } else if (!remember(l, r, lsn, why)) {
        s = WS_INTERNAL;
    } else if (r->kind == WS_REC_REQUEST_KEY) {
        l->keys++;
    } else {
        l->refusals++;
    }
    if (s != WS_OK) {
        return s;
    }
    l->next_lsn++;
    l->next_seq += ws_record_event_count(r->kind);
    return WS_OK;
}

bool ws_ledger_pending_consistent(const ws_ledger *l) {
    size_t n = ws_accounts_count(l->accounts);
    uint64_t *sums = calloc(2 * n + 2, sizeof(uint64_t));
    WS_ASSERT(sums);
    for (size_t i = 0; i < ws_pending_count(l->pending); i++) {
        const ws_pending_entry *e = ws_pending_at(l->pending, i);
        if (e->status == WS_PENDING_OPEN) {
            sums[2 * (size_t)e->from] += e->amount;
            sums[2 * (size_t)e->to + 1] += e->amount;
        }
    }
    bool ok = true;
    for (uint32_t i = 0; ok && i < n; i++) {
        ok = ws_accounts_pending_debits(l->accounts, i) == sums[2 * (size_t)i] &&
             ws_accounts_pending_credits(l->accounts, i) == sums[2 * (size_t)i + 1];
    }
    free(sums);
    return ok;
}

/* The sum of the balances by currency, and in all. */
static ws_u128 sum_money(const ws_ledger *l, ws_u128 *by_currency) {
    memset(by_currency, 0, WS_CURRENCIES_MAX * sizeof(ws_u128));
    ws_u128 sum = 0;
    for (size_t i = 0; i < ws_accounts_count(l->accounts); i++) {
        /* modulo 2^128: a negative balance adds as its two's complement, and the true sums
         * are far inside the range, so equality of the sums is equality of the totals */
        ws_u128 b = (ws_u128)(ws_i128)ws_accounts_balance(l->accounts, (uint32_t)i);
        by_currency[ws_accounts_currency(l->accounts, (uint32_t)i)] += b;
        sum += b;
    }
    return sum;
}

void ws_ledger_count_money(ws_ledger *l) { (void)sum_money(l, l->money_by_currency); }

bool ws_ledger_money_conserved(const ws_ledger *l) {
    ws_u128 *by = malloc(WS_CURRENCIES_MAX * sizeof(ws_u128));
    WS_ASSERT(by); /* 4 KiB */
    bool ok = sum_money(l, by) == l->total_money &&
              memcmp(by, l->money_by_currency, WS_CURRENCIES_MAX * sizeof(ws_u128)) == 0;
    free(by);
    return ok;
}
