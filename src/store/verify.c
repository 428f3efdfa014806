/* Offline audit of a data directory: the log is the truth, and everything else must be what
 * replaying it gives. Runs on a read-only store, so it can audit a live service's data.
 *
 *   1. The log: every block decodes and checks, lsns and seqs have no gap, and every record
 *      applies through the ledger's state machine (ws_ledger_apply: accounts created once,
 *      transfers between existing accounts, no negative or overflowing balance, each
 *      balance after equal to the replay). Every transactionID is used by one record only.
 *   2. The seq index ('S'): one entry for each block with events, naming that block.
 *   4. The state at the end of the log: every currency's balances add up to the start amounts
 *      created in it, the pending totals are the sums of the open pending transfers, and no
 *      balance less its pending debits is below -overdraft, nor with its pending credits
 *      above its maximum. (Each pending transfer resolved at most once, and never after it
 *      expired, is checked by the replay: apply refuses anything else.)
 *   3. The newest checkpoint, against the replay stopped at the lsn it covers: the meta,
 *      every account's ID and balance, every idempotency entry, every pending transfer, and
 *      the per-account indexes ('x': each entry an event of its account, each event below
 *      the checkpoint listed once; 'y': the same of the events of two-phase records). */
#include <stdlib.h>
#include <string.h>

#include "core/accounts.h"
#include "core/ledger.h"
#include "store/internal.h"

#define PROBLEMS_PRINTED_MAX 20

typedef struct {
    store *st;
    FILE *out;
    store_verify_report *report;
    ws_ledger ledger;
    store_ckpt_meta ckpt;
    bool ckpt_checked;
    uint32_t *event_account;   /* seq - 1 -> the account of that event, below the checkpoint */
    uint8_t *two_phase;        /* bit seq - 1: that event is of a two-phase record */
    uint64_t two_phase_events; /* below the checkpoint */
    uint64_t ckpt_entries;     /* idempotency entries loaded from the checkpoint */
    store_progress_ progress;
} audit;

static void problem(audit *a, const char *what, uint64_t at) {
    if (a->report->problems++ < PROBLEMS_PRINTED_MAX) {
        fprintf(a->out, "problem: %s (%llu)\n", what, (unsigned long long)at);
    }
}

/* ---- 3. the checkpoint --------------------------------------------------------------------- */

static ws_status check_account(void *ctx, uint32_t index, const char *id, size_t len,
                               int64_t balance) {
    audit *a = ctx;
    uint8_t have_len;
    const char *have = index < ws_accounts_count(a->ledger.accounts)
                           ? ws_accounts_id(a->ledger.accounts, index, &have_len)
                           : NULL;
    if (!have || have_len != len || memcmp(have, id, len) != 0) {
        problem(a, "checkpoint: an account's ID differs from the log's (account index)", index);
    } else if (ws_accounts_balance(a->ledger.accounts, index) != balance) {
        fprintf(a->out, "account %.*s: checkpoint %lld, replayed %lld\n", (int)len, id,
                (long long)balance, (long long)ws_accounts_balance(a->ledger.accounts, index));
        problem(a, "checkpoint: a balance differs from the replay (account index)", index);
    }
    return WS_OK;
}

/* Every 'p' value is the replay's parameters of its account; those not there have the
 * defaults (counted, to compare). */
typedef struct {
    audit *a;
    uint64_t n;
} params_check;

static ws_status check_params(void *ctx, uint32_t index, const ws_account_params *p) {
    params_check *pc = ctx;
    const ws_accounts *t = pc->a->ledger.accounts;
    ws_account_params have;
    pc->n++;
    if (index >= ws_accounts_count(t)) {
        problem(pc->a, "checkpoint: the parameters of an account that does not exist (index)",
                index);
        return WS_OK;
    }
    ws_accounts_params(t, index, &have);
    if (have.currency_len != p->currency_len ||
        memcmp(have.currency, p->currency, p->currency_len) != 0 ||
        have.overdraft != p->overdraft || have.max_balance != p->max_balance) {
        problem(pc->a, "checkpoint: an account's currency or limits differ from the log's (index)",
                index);
    }
    return WS_OK;
}

static uint64_t accounts_with_params(const ws_ledger *l) {
    uint64_t n = 0;
    for (size_t i = 0; i < ws_accounts_count(l->accounts); i++) {
        ws_account_params p;
        ws_accounts_params(l->accounts, (uint32_t)i, &p);
        n += !ws_account_params_is_default(&p);
    }
    return n;
}

/* The state at the end of the log. */
static void check_final(audit *a) {
    const ws_ledger *l = &a->ledger;
    if (!ws_ledger_money_conserved(l)) {
        problem(a, "a currency's balances do not add up to the money created in it", 0);
    }
    if (!ws_ledger_pending_consistent(l)) {
        problem(a, "the pending totals differ from the sums of the open pending transfers", 0);
    }
    const ws_accounts *t = l->accounts;
    for (uint32_t i = 0; i < ws_accounts_count(t); i++) {
        /* with what is reserved counted: pending debits as spent, credits as received */
        ws_i128 b = ws_accounts_balance(t, i);
        if (b - ws_accounts_pending_debits(t, i) < -(ws_i128)ws_accounts_overdraft(t, i) ||
            b + ws_accounts_pending_credits(t, i) > (ws_i128)ws_accounts_max_balance(t, i)) {
            problem(a, "a balance is past its account's limits (account index)", i);
        }
    }
}

/* Every 'q' value is the replay's pending transfer at its lsn, and there is one for each. */
typedef struct {
    audit *a;
    uint64_t n;
} pending_check;

static ws_status check_pending(void *ctx, const ws_pending_entry *e) {
    pending_check *pc = ctx;
    pc->n++;
    const ws_pending_entry *have = ws_pending_get(pc->a->ledger.pending, e->lsn);
    if (!have || have->status != e->status || have->from != e->from || have->to != e->to ||
        have->amount != e->amount || have->id_hash != e->id_hash ||
        (e->status == WS_PENDING_OPEN && have->expires_us != e->expires_us)) {
        problem(pc->a, "checkpoint: a pending transfer differs from the replay's (lsn)", e->lsn);
    }
    return WS_OK;
}

static ws_status check_idem(void *ctx, uint64_t fp, uint64_t lsn) {
    audit *a = ctx;
    a->ckpt_entries++;
    size_t pos = 0;
    for (uint64_t at = ws_idem_next(a->ledger.idem, fp, &pos); at != 0;
         at = ws_idem_next(a->ledger.idem, fp, &pos)) {
        if (at == lsn) {
            return WS_OK;
        }
    }
    problem(a, "checkpoint: an idempotency entry names no such record (lsn)", lsn);
    return WS_OK;
}

static bool is_two_phase(const audit *a, uint64_t seq) {
    return (a->two_phase[(seq - 1) / 8] >> ((seq - 1) % 8)) & 1;
}

/* Every value of index ix: its account, its seqs below the checkpoint and each an event of
 * it (of a two-phase record, for 'y'). */
static void check_index(audit *a, store_index ix) {
    const char prefix = (char)ix;
    const bool two_phase = ix == STORE_INDEX_TWO_PHASE;
    rocksdb_iterator_t *it = store_iter_(a->st, &a->st->proj, &prefix, 1, true);
    uint64_t entries = 0;
    uint64_t last_seq = 0;
    char last_id[WS_ID_LEN_MAX];
    size_t last_len = 0;
    uint64_t seqs[STORE_INDEX_SEQS_MAX];
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen < 1 || k[0] != prefix) {
            break;
        }
        const char *v = rocksdb_iter_value(it, &vlen);
        size_t id_len = klen >= 11 ? klen - 10 : 0;
        uint32_t index = id_len > 0 && k[klen - 9] == '\0'
                             ? ws_accounts_find(a->ledger.accounts, k + 1, id_len)
                             : WS_ACCOUNT_NONE;
        long n = index == WS_ACCOUNT_NONE
                     ? -1
                     : store_index_decode_((const unsigned char *)v, vlen,
                                           ws_get_u64be((const unsigned char *)k + klen - 8), seqs,
                                           STORE_INDEX_SEQS_MAX);
        if (n < 0) {
            problem(a,
                    two_phase ? "two-phase index: a value of no account or failing its checks"
                              : "index: a value of no account or failing its checks",
                    entries);
            continue;
        }
        bool same = last_len == id_len && memcmp(last_id, k + 1, id_len) == 0;
        for (long i = 0; i < n; i++) {
            uint64_t seq = seqs[i];
            if (seq >= a->ckpt.next_seq || a->event_account[seq - 1] != index ||
                (same && seq <= last_seq) || (two_phase && !is_two_phase(a, seq))) {
                problem(a,
                        two_phase ? "two-phase index: an entry is not a two-phase event of its "
                                    "account (seq)"
                                  : "index: an entry is not an event of its account (seq)",
                        seq);
            }
            same = true;
            last_seq = seq;
        }
        memcpy(last_id, k + 1, id_len);
        last_len = id_len;
        entries += (uint64_t)n;
    }
    if (store_iter_status_(it) != WS_OK) {
        problem(a, two_phase ? "two-phase index: unreadable" : "index: unreadable", entries);
    }
    rocksdb_iter_destroy(it);
    if (entries != (two_phase ? a->two_phase_events : a->ckpt.next_seq - 1)) {
        problem(a,
                two_phase ? "two-phase index: the entry count differs from the two-phase events "
                            "below the checkpoint"
                          : "index: the entry count differs from the events below the checkpoint",
                entries);
    }
}

/* The replay has reached the checkpoint's lsn: compare. */
static void check_checkpoint(audit *a) {
    a->ckpt_checked = true;
    const store_ckpt_meta *c = &a->ckpt;
    const ws_ledger *l = &a->ledger;
    if (c->next_seq != l->next_seq || c->account_count != ws_accounts_count(l->accounts) ||
        c->total_money != l->total_money || c->transfers != l->transfers ||
        c->refusals != l->refusals) {
        problem(a, "checkpoint: its meta differs from the replay (lsn)", c->next_lsn);
        return; /* what follows compares against a state that is not the checkpoint's */
    }
    if (store_ckpt_load_accounts(a->st, c->account_count, check_account, a) != WS_OK) {
        problem(a, "checkpoint: the accounts are unreadable or fail their checks", 0);
    }
    params_check pc = {a, 0};
    if (store_ckpt_load_params(a->st, check_params, &pc) != WS_OK) {
        problem(a, "checkpoint: the account parameters are unreadable or fail their checks", 0);
    } else if (pc.n != accounts_with_params(l)) {
        problem(a, "checkpoint: an account with a currency or limits has no parameters entry",
                pc.n);
    }
    if (store_ckpt_load_idem(a->st, check_idem, a) != WS_OK) {
        problem(a, "checkpoint: the idempotency entries are unreadable", 0);
    }
    pending_check qc = {a, 0};
    if (store_ckpt_load_pending(a->st, check_pending, &qc) != WS_OK) {
        problem(a, "checkpoint: the pending transfers are unreadable or fail their checks", 0);
    } else if (qc.n != ws_pending_count(l->pending)) {
        problem(a, "checkpoint: the pending transfers differ in number from the log's", qc.n);
    }
    if (a->ckpt_entries != ws_idem_count(l->idem)) {
        problem(a, "checkpoint: the idempotency entries differ in number from the records",
                a->ckpt_entries);
    }
    check_index(a, STORE_INDEX_EVENTS);
    if (store_ckpt_version_(a->st) == 1) {
        fprintf(a->out, "verify: note: the checkpoint predates the two-phase index ('y'); the "
                        "service rebuilds it at its next start\n");
    } else {
        check_index(a, STORE_INDEX_TWO_PHASE);
    }
}

/* ---- 1. the log -------------------------------------------------------------------------- */

/* A transactionID (or an Idempotency-Key) must not be in the log twice: the earlier records
 * under its fingerprint are read back and compared. */
static void check_unique(audit *a, const ws_record *r, uint64_t lsn) {
    uint64_t fp = ws_idem_record_fp(a->ledger.fp_key, r);
    bool key = r->kind == WS_REC_REQUEST_KEY;
    size_t pos = 0;
    for (uint64_t at = ws_idem_next(a->ledger.idem, fp, &pos); at != 0;
         at = ws_idem_next(a->ledger.idem, fp, &pos)) {
        ws_record o;
        if (store_read_record(a->st, at, &o) != WS_OK) {
            problem(a, "an idempotency entry names a record that cannot be read (lsn)", at);
        } else if ((o.kind == WS_REC_REQUEST_KEY) == key && o.txn_len == r->txn_len &&
                   memcmp(o.txn, r->txn, r->txn_len) == 0) {
            problem(a,
                    key ? "an Idempotency-Key used by two records (lsn)"
                        : "a transactionID used by two records (lsn)",
                    lsn);
        }
    }
}

static ws_status replay_one(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq,
                            uint64_t timestamp_us) {
    audit *a = ctx;
    store_progress_tick_(&a->progress, lsn);
    if (lsn == a->ckpt.next_lsn && !a->ckpt_checked) {
        check_checkpoint(a);
    }
    if (ws_idem_record_fp(a->ledger.fp_key, r) != 0) {
        check_unique(a, r, lsn);
    }
    a->ledger.now_us = timestamp_us; /* the log's clock decides expiries */
    if (r->kind == WS_REC_RESOLVED) {
        /* the writer found the pending transfer by two hashes of its ID: check the ID */
        ws_record p;
        if (store_read_record(a->st, r->pending_lsn, &p) != WS_OK || p.kind != WS_REC_PENDING ||
            p.txn_len != r->pending_len || memcmp(p.txn, r->pending, p.txn_len) != 0) {
            problem(a, "a post, void or expiry names a pending transfer by another ID (lsn)", lsn);
        }
    }
    ws_effect eff;
    const char *why;
    if (ws_ledger_apply(&a->ledger, r, lsn, seq, &eff, &why) != WS_OK) {
        problem(a, why, lsn);
        return WS_CORRUPT; /* every later record would be judged against a wrong state */
    }
    a->report->records++;
    if (seq < a->ckpt.next_seq) {
        uint32_t acct = eff.touched[0];
        bool two_phase = r->kind == WS_REC_PENDING || r->kind == WS_REC_RESOLVED;
        for (unsigned i = 0; i < ws_record_event_count(r->kind); i++) {
            uint64_t at = seq - 1 + i;
            a->event_account[at] = i == 0 ? acct : eff.touched[1];
            a->two_phase[at / 8] |= (uint8_t)(two_phase << (at % 8));
            a->two_phase_events += two_phase;
        }
    }
    return WS_OK;
}

/* ---- 2. the seq index ---------------------------------------------------------------------- */

static void check_seq_index(audit *a) {
    rocksdb_iterator_t *b = store_iter_(a->st, &a->st->log, "L", 1, true);
    rocksdb_iterator_t *s = store_iter_(a->st, &a->st->log, "S", 1, false);
    uint64_t blocks = 0;
    for (; rocksdb_iter_valid(b); rocksdb_iter_next(b), blocks++) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(b, &klen);
        if (klen != 9 || k[0] != 'L') {
            break;
        }
        const char *v = rocksdb_iter_value(b, &vlen);
        ws_block_header h;
        ws_block_cursor c;
        if (ws_block_open((const unsigned char *)v, vlen, &h, &c) != WS_OK || h.events == 0) {
            continue; /* a bad block was reported by the replay */
        }
        const char *sk = rocksdb_iter_valid(s) ? rocksdb_iter_key(s, &klen) : NULL;
        const char *sv = sk ? rocksdb_iter_value(s, &vlen) : NULL;
        if (!sk || klen != 9 || sk[0] != 'S' || vlen != 8 ||
            ws_get_u64be((const unsigned char *)sk + 1) != h.first_seq ||
            ws_get_u64be((const unsigned char *)sv) != h.first_lsn) {
            problem(a, "seq index: no entry for a block with events (lsn)", h.first_lsn);
            continue;
        }
        rocksdb_iter_next(s);
    }
    size_t klen;
    if (rocksdb_iter_valid(s) && rocksdb_iter_key(s, &klen)[0] == 'S') {
        problem(a, "seq index: an entry for no block", blocks);
    }
    rocksdb_iter_destroy(s);
    rocksdb_iter_destroy(b);
}

ws_status store_verify(store *st, FILE *out, store_verify_report *report) {
    memset(report, 0, sizeof(*report));
    audit a = {.st = st, .out = out, .report = report};
    WS_ASSERT(ws_ledger_init(&a.ledger, store_fp_key(st)) == WS_OK);
    if (store_ckpt_meta_get(st, &a.ckpt) != WS_OK) {
        problem(&a, "checkpoint: its meta is unreadable or fails its checks", 0);
        a.ckpt = (store_ckpt_meta){.next_lsn = 1, .next_seq = 1};
    }
    a.event_account = calloc(a.ckpt.next_seq, sizeof(uint32_t));
    a.two_phase = calloc(a.ckpt.next_seq / 8 + 1, 1);
    WS_ASSERT(a.event_account && a.two_phase);
    uint64_t end_lsn = 1;
    uint64_t end_seq;
    if (store_log_end(st, &end_lsn, &end_seq, NULL) != WS_OK) {
        end_lsn = 1; /* the replay reports the log unreadable */
    }
    store_progress_begin_(&a.progress, "verify", "records", end_lsn - 1);
    ws_status s = store_scan_log(st, 1, replay_one, &a);
    store_progress_end_(&a.progress, a.ledger.next_lsn - 1);
    if (s != WS_OK && s != WS_CORRUPT) {
        problem(&a, "the log is unreadable", a.ledger.next_lsn);
    } else if (s == WS_CORRUPT && report->problems == 0) {
        problem(&a, "a block fails its checks, or the log has a gap (lsn)", a.ledger.next_lsn);
    }
    if (s == WS_OK && !a.ckpt_checked) {
        if (a.ckpt.next_lsn == a.ledger.next_lsn) {
            check_checkpoint(&a);
        } else {
            problem(&a, "checkpoint: it covers records the log does not have (lsn)",
                    a.ckpt.next_lsn);
        }
    }
    check_seq_index(&a);
    if (s == WS_OK) {
        check_final(&a);
    }
    report->events = a.ledger.next_seq - 1;
    report->accounts = ws_accounts_count(a.ledger.accounts);
    report->transfers = a.ledger.transfers;
    report->refusals = a.ledger.refusals;
    fprintf(out,
            "verify: %llu events, %llu accounts, %llu transfers, total money %llu%s, "
            "%llu problems\n",
            (unsigned long long)report->events, (unsigned long long)report->accounts,
            (unsigned long long)report->transfers, (unsigned long long)a.ledger.total_money,
            a.ledger.total_money >> 64 ? " (low 64 bits)" : "",
            (unsigned long long)report->problems);
    fprintf(out, "verify: %llu records (%llu refusals), checkpoint covering %llu of them\n",
            (unsigned long long)report->records, (unsigned long long)report->refusals,
            (unsigned long long)(a.ckpt.next_lsn - 1));
    free(a.event_account);
    free(a.two_phase);
    ws_ledger_free(&a.ledger);
    return report->problems == 0 ? WS_OK : WS_CORRUPT;
}
