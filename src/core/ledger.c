/* decide and apply (see ledger.h). The rules of a transfer are written once, in
 * transfer_rule; apply checks a Transfer record by asking the same rule. */
#include "core/ledger.h"

#include <stdlib.h>
#include <string.h>

ws_status ws_ledger_init(ws_ledger *l, ws_hash_key fp_key) {
    *l = (ws_ledger){.fp_key = fp_key, .next_lsn = 1, .next_seq = 1};
    l->accounts = ws_accounts_new();
    l->idem = ws_idem_new();
    if (!l->accounts || !l->idem) {
        ws_ledger_free(l);
        return WS_INTERNAL;
    }
    return WS_OK;
}

void ws_ledger_free(ws_ledger *l) {
    ws_accounts_free(l->accounts);
    ws_idem_free(l->idem);
    l->accounts = NULL;
    l->idem = NULL;
}

static bool same_id(const char *a, size_t alen, const char *b, size_t blen) {
    return alen == blen && memcmp(a, b, alen) == 0;
}

bool ws_ledger_same_transfer(const ws_record *r, const ws_transfer_req *q) {
    return r->amount == q->amount && same_id(r->account, r->account_len, q->from, q->from_len) &&
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
static ws_status transfer_rule(const ws_ledger *l, const ws_transfer_req *q, uint32_t *from,
                               uint32_t *to, uint8_t *missing_side) {
    *missing_side = 0;
    if (same_id(q->from, q->from_len, q->to, q->to_len)) {
        return WS_SAME_ACCOUNT;
    }
    *from = ws_accounts_find(l->accounts, q->from, q->from_len);
    *to = ws_accounts_find(l->accounts, q->to, q->to_len);
    if (*from == WS_ACCOUNT_NONE || *to == WS_ACCOUNT_NONE) {
        *missing_side = *from == WS_ACCOUNT_NONE ? 1 : 2;
        return WS_ACCOUNT_NOT_FOUND;
    }
    const ws_accounts *t = l->accounts;
    if (ws_accounts_currency(t, *from) != ws_accounts_currency(t, *to)) {
        return WS_CURRENCY_MISMATCH;
    }
    if ((ws_i128)ws_accounts_balance(t, *from) - q->amount <
        -(ws_i128)ws_accounts_overdraft(t, *from)) {
        return WS_INSUFFICIENT_FUNDS;
    }
    uint64_t max = ws_accounts_max_balance(t, *to);
    if ((ws_i128)ws_accounts_balance(t, *to) + q->amount > (ws_i128)max) {
        return max < WS_AMOUNT_MAX ? WS_BALANCE_LIMIT_EXCEEDED : WS_BALANCE_OVERFLOW;
    }
    return WS_OK;
}

static void replay(const ws_record *prior, const ws_transfer_req *q, ws_decision *d) {
    if (!ws_ledger_same_transfer(prior, q)) {
        d->status = WS_TRANSFER_ID_CONFLICT;
        return;
    }
    d->replayed = true;
    if (prior->kind == WS_REC_TRANSFER) {
        d->status = WS_OK;
        d->from_balance = prior->from_balance;
        d->to_balance = prior->to_balance;
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
}

void ws_ledger_decide_transfer(const ws_ledger *l, const ws_transfer_req *q, const ws_record *prior,
                               ws_decision *d) {
    WS_ASSERT(q->amount >= 1 && q->amount <= WS_AMOUNT_MAX && ws_id_valid(q->txn, q->txn_len));
    memset(d, 0, offsetof(ws_decision, rec));
    if (prior) {
        WS_ASSERT(prior->kind != WS_REC_ACCOUNT_CREATED &&
                  same_id(prior->txn, prior->txn_len, q->txn, q->txn_len));
        replay(prior, q, d);
        return;
    }
    uint32_t from = WS_ACCOUNT_NONE;
    uint32_t to = WS_ACCOUNT_NONE;
    d->status = transfer_rule(l, q, &from, &to, &d->missing_side);
    if (d->status != WS_OK) {
        /* Only a refusal the client can retry (it chose the transferID) is remembered. */
        d->append = q->txn_given;
        if (d->append) {
            fill_transfer(&d->rec, WS_REC_TRANSFER_REFUSED, q);
            d->rec.status = d->status;
            d->rec.missing_side = d->missing_side;
        }
        return;
    }
    d->from_balance = (int64_t)((ws_i128)ws_accounts_balance(l->accounts, from) - q->amount);
    d->to_balance = (int64_t)((ws_i128)ws_accounts_balance(l->accounts, to) + q->amount);
    d->append = true;
    fill_transfer(&d->rec, WS_REC_TRANSFER, q);
    d->rec.from_balance = d->from_balance;
    d->rec.to_balance = d->to_balance;
}

void ws_ledger_refusal(const ws_transfer_req *q, ws_status status, uint8_t missing_side,
                       ws_record *out) {
    fill_transfer(out, WS_REC_TRANSFER_REFUSED, q);
    out->status = status;
    out->missing_side = missing_side;
    WS_ASSERT(ws_record_valid(out));
}

void ws_ledger_undo(ws_ledger *l, const ws_record *r, uint64_t lsn) {
    WS_ASSERT(lsn + 1 == l->next_lsn &&
              (r->kind == WS_REC_TRANSFER || r->kind == WS_REC_TRANSFER_REFUSED));
    ws_idem_remove(l->idem, ws_idem_record_fp(l->fp_key, r), lsn);
    if (r->kind == WS_REC_TRANSFER) {
        uint32_t from = ws_accounts_find(l->accounts, r->account, r->account_len);
        uint32_t to = ws_accounts_find(l->accounts, r->to, r->to_len);
        WS_ASSERT(from != WS_ACCOUNT_NONE && to != WS_ACCOUNT_NONE);
        WS_ASSERT(ws_accounts_balance(l->accounts, from) == r->from_balance &&
                  ws_accounts_balance(l->accounts, to) == r->to_balance);
        ws_accounts_set_balance(l->accounts, from, (int64_t)((ws_i128)r->from_balance + r->amount));
        ws_accounts_set_balance(l->accounts, to, (int64_t)((ws_i128)r->to_balance - r->amount));
        l->transfers--;
    } else {
        l->refusals--;
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

static ws_status apply_transfer(ws_ledger *l, const ws_record *r, uint64_t lsn, ws_effect *eff,
                                const char **why) {
    ws_transfer_req q = {r->account, r->account_len, r->to,      r->to_len,
                         r->amount,  r->txn,         r->txn_len, true};
    uint32_t from;
    uint32_t to;
    uint8_t side;
    ws_status rule = transfer_rule(l, &q, &from, &to, &side);
    if (rule != WS_OK) {
        *why = rule == WS_SAME_ACCOUNT         ? "a transfer from an account to itself"
               : rule == WS_ACCOUNT_NOT_FOUND  ? "a transfer of an account never created"
               : rule == WS_CURRENCY_MISMATCH  ? "a transfer between two currencies"
               : rule == WS_INSUFFICIENT_FUNDS ? "a debit takes a balance below its overdraft limit"
               : rule == WS_BALANCE_LIMIT_EXCEEDED ? "a credit takes a balance past its maximum"
                                                   : "a credit overflows a balance";
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

ws_status ws_ledger_apply(ws_ledger *l, const ws_record *r, uint64_t lsn, uint64_t seq,
                          ws_effect *effect, const char **why) {
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
        s = apply_transfer(l, r, lsn, effect, why);
    } else if (!remember(l, r, lsn, why)) {
        s = WS_INTERNAL;
    } else if (r->kind == WS_REC_TRANSFER_REFUSED) {
        l->refusals++;
    } else {
        l->keys++;
    }
    if (s != WS_OK) {
        return s;
    }
    l->next_lsn++;
    l->next_seq += ws_record_event_count(r->kind);
    return WS_OK;
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
