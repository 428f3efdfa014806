/* Offline audit of a data directory: the event log is the truth, and everything else
 * (balances, per-account index, idempotency records, meta) must be what replaying it gives.
 * Runs on a read-only store, so it can audit a live service's data. */
#include <string.h>

#include "core/accounts.h"
#include "store/internal.h"

#define PROBLEMS_PRINTED_MAX 20

typedef struct {
    store *st;
    FILE *out;
    store_verify_report *report;
    ws_accounts *balances; /* replayed */
    ws_u128 total;
    uint64_t expect_seq;
    ws_event debit; /* the Debit waiting for its Credit; seq 0 when none */
} audit;

static void problem(audit *a, const char *what, uint64_t seq) {
    if (a->report->problems++ < PROBLEMS_PRINTED_MAX) {
        fprintf(a->out, "problem: %s (seq %llu)\n", what, (unsigned long long)seq);
    }
}

static bool same_id(const char *a, size_t alen, const char *b, size_t blen) {
    return alen == blen && memcmp(a, b, alen) == 0;
}

static void replay_created(audit *a, const ws_event *e) {
    if (ws_accounts_find(a->balances, e->account, e->account_len)) {
        problem(a, "account created twice", e->seq);
        return;
    }
    if (e->balance != e->amount) {
        problem(a, "AccountCreated balance differs from its amount", e->seq);
    }
    WS_ASSERT(ws_accounts_insert(a->balances, e->account, e->account_len, e->amount) == WS_OK);
    a->total += e->amount;
}

static void replay_credit(audit *a, const ws_event *e, uint64_t *bal) {
    const ws_event *d = &a->debit;
    if (d->seq == 0 ||
        !same_id(d->transaction, d->transaction_len, e->transaction, e->transaction_len) ||
        !same_id(d->counterparty, d->counterparty_len, e->account, e->account_len) ||
        !same_id(d->account, d->account_len, e->counterparty, e->counterparty_len) ||
        d->amount != e->amount) {
        problem(a, "Credit does not match the Debit before it", e->seq);
    }
    if (*bal > WS_AMOUNT_MAX - e->amount) {
        problem(a, "Credit overflows the balance", e->seq);
        return;
    }
    *bal += e->amount;
    a->report->transfers++;
}

static ws_status replay_one(void *ctx, const ws_event *e) {
    audit *a = ctx;
    if (e->seq != a->expect_seq) {
        problem(a, "gap or disorder in the event sequence", e->seq);
    }
    a->expect_seq = e->seq + 1;
    a->report->events++;
    if (e->type == WS_EVENT_ACCOUNT_CREATED) {
        replay_created(a, e);
        return WS_OK;
    }
    uint64_t *bal = ws_accounts_find(a->balances, e->account, e->account_len);
    if (!bal) {
        problem(a, "event for an account never created", e->seq);
        return WS_OK;
    }
    if (e->type == WS_EVENT_DEBIT) {
        if (a->debit.seq != 0) {
            problem(a, "Debit without its Credit", a->debit.seq);
        }
        if (*bal < e->amount) {
            problem(a, "Debit takes the balance below zero", e->seq);
        } else {
            *bal -= e->amount;
        }
        a->debit = *e;
    } else {
        replay_credit(a, e, bal);
        a->debit.seq = 0;
    }
    if (*bal != e->balance) {
        problem(a, "event balance differs from the replayed balance", e->seq);
    }
    return WS_OK;
}

static ws_status check_account(void *ctx, const char *id, size_t len, uint64_t balance) {
    audit *a = ctx;
    a->report->accounts++;
    uint64_t *bal = ws_accounts_find(a->balances, id, len);
    if (!bal) {
        problem(a, "stored account has no AccountCreated event", 0);
    } else if (*bal != balance) {
        fprintf(a->out, "account %.*s: stored %llu, replayed %llu\n", (int)len, id,
                (unsigned long long)balance, (unsigned long long)*bal);
        problem(a, "stored balance differs from the replay", 0);
    }
    return WS_OK;
}

static void check_meta(audit *a) {
    store_meta m;
    if (store_get_meta(a->st, &m) != WS_OK) {
        problem(a, "meta record unreadable", 0);
        return;
    }
    if (m.next_seq != a->expect_seq) {
        problem(a, "meta next_seq differs from the log", m.next_seq);
    }
    if (m.account_count != ws_accounts_count(a->balances) ||
        a->report->accounts != ws_accounts_count(a->balances)) {
        problem(a, "account count differs between meta, balances and the log", 0);
    }
    if (m.total_money != a->total) {
        problem(a, "total money in meta differs from the sum of start amounts", 0);
    }
}

/* Every index entry names an event of its own account, and every event has one entry. */
static void check_index(audit *a) {
    rocksdb_iterator_t *it = store_scan_iterator_(a->st, "x", 1);
    uint64_t entries = 0;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (k[0] != 'x') {
            break;
        }
        entries++;
        const char *nul = klen > 10 ? memchr(k, '\0', klen - 8) : NULL;
        ws_event e;
        uint64_t seq = klen > 10 ? ws_get_u64be((const unsigned char *)k + klen - 8) : 0;
        if (!nul || (size_t)(nul - k) != klen - 9 || store_event_(a->st, seq, &e) != WS_OK ||
            !same_id(e.account, e.account_len, k + 1, klen - 10)) {
            problem(a, "index entry does not match an event of its account", seq);
        }
    }
    rocksdb_iter_destroy(it);
    if (entries != a->report->events) {
        problem(a, "index entry count differs from the event count", 0);
    }
}

/* A successful idempotency record must hold exactly what its transfer's events say, since
 * a replay answers from the record alone: accounts, amount and both balances after. */
static bool record_matches_log(store *st, const ws_transfer_record *r, const char *txn,
                               size_t txn_len) {
    ws_event d;
    ws_event c;
    if (r->missing_side != 0 || r->seq == UINT64_MAX || store_event_(st, r->seq, &d) != WS_OK ||
        store_event_(st, r->seq + 1, &c) != WS_OK) {
        return false;
    }
    return d.type == WS_EVENT_DEBIT && c.type == WS_EVENT_CREDIT &&
           same_id(d.transaction, d.transaction_len, txn, txn_len) &&
           same_id(c.transaction, c.transaction_len, txn, txn_len) &&
           same_id(d.account, d.account_len, r->from, r->from_len) &&
           same_id(c.account, c.account_len, r->to, r->to_len) && d.amount == r->amount &&
           c.amount == r->amount && d.balance == r->from_balance && c.balance == r->to_balance;
}

/* Every successful idempotency record points at the Debit of its transaction. */
static void check_transfers(audit *a) {
    rocksdb_iterator_t *it = store_scan_iterator_(a->st, "t", 1);
    uint64_t ok = 0;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (k[0] != 't') {
            break;
        }
        const char *v = rocksdb_iter_value(it, &vlen);
        ws_transfer_record r;
        if (ws_transfer_record_decode((const unsigned char *)v, vlen, &r) != WS_OK) {
            problem(a, "idempotency record fails its checksum", 0);
            continue;
        }
        if (r.status != WS_OK) {
            continue;
        }
        ok++;
        if (!record_matches_log(a->st, &r, k + 1, klen - 1)) {
            problem(a, "idempotency record does not match its Debit and Credit", r.seq);
        }
    }
    rocksdb_iter_destroy(it);
    if (ok != a->report->transfers) {
        problem(a, "successful idempotency records differ from the transfers in the log", 0);
    }
}

ws_status store_verify(store *st, FILE *out, store_verify_report *report) {
    memset(report, 0, sizeof(*report));
    audit a = {.st = st, .out = out, .report = report, .expect_seq = 1};
    a.balances = ws_accounts_new();
    WS_ASSERT(a.balances);
    bool more = false;
    ws_status s = store_scan_events(st, 0, SIZE_MAX, NULL, 0, replay_one, &a, &more);
    if (s != WS_OK) {
        problem(&a, s == WS_CORRUPT ? "an event fails its checksum" : "the log is unreadable",
                a.expect_seq);
    }
    if (a.debit.seq != 0) {
        problem(&a, "Debit without its Credit at the end of the log", a.debit.seq);
    }
    if (store_scan_accounts(st, check_account, &a) != WS_OK) {
        problem(&a, "the balances are unreadable", 0);
    }
    check_meta(&a);
    check_index(&a);
    check_transfers(&a);
    fprintf(out,
            "verify: %llu events, %llu accounts, %llu transfers, total money %llu%s, "
            "%llu problems\n",
            (unsigned long long)report->events, (unsigned long long)report->accounts,
            (unsigned long long)report->transfers, (unsigned long long)a.total,
            a.total >> 64 ? " (low 64 bits)" : "", (unsigned long long)report->problems);
    ws_accounts_free(a.balances);
    return report->problems == 0 ? WS_OK : WS_CORRUPT;
}
