/* VALIDATE, APPLY and PUBLISH, and the start that loads a checkpoint and replays the log
 * after it. The writer owns the whole state in memory, so a command is decided without a
 * storage read; the only read on this path is that of the earlier record when a client's
 * transferID matches one in the idempotency index (a retry). The batch's records, the
 * touched-account list and the store batch are reused, so the hot path does not allocate
 * per command. */
#include "engine/sm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sm {
    store *st;
    ws_ledger ledger;
    store_batch *batch;
    atomic_bool read_only; /* the writer's, or a failed checkpoint's (another thread) */
    size_t batch_max;
    store_ckpt_meta loaded;
    sm_position committed;
    /* The current batch: its records by lsn - first_lsn (a retry within the batch finds
     * the earlier record here), and the accounts whose balances it changed. */
    ws_record *records;
    size_t record_count;
    uint64_t first_lsn;
    uint32_t *touched;
    size_t touched_count;
};

/* ---- start ---------------------------------------------------------------------------------- */

static ws_status load_account(void *ctx, uint32_t index, const char *id, size_t len,
                              uint64_t balance) {
    ws_ledger *l = ctx;
    uint32_t at;
    if (!ws_id_valid(id, len) || ws_accounts_find(l->accounts, id, len) != WS_ACCOUNT_NONE) {
        return WS_CORRUPT;
    }
    ws_status s = ws_accounts_insert(l->accounts, id, len, balance, &at);
    if (s == WS_OK) {
        WS_ASSERT(at == index);
        ws_accounts_publish(l->accounts, at);
    }
    return s;
}

static ws_status load_idem(void *ctx, uint64_t fp, uint64_t lsn) {
    return ws_idem_add(((ws_ledger *)ctx)->idem, fp, lsn);
}

typedef struct {
    ws_ledger *l;
    const char *why;
    uint64_t lsn;
} replay_ctx;

static ws_status replay_record(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq,
                               uint64_t timestamp_us) {
    (void)timestamp_us;
    replay_ctx *rc = ctx;
    ws_effect eff;
    rc->lsn = lsn;
    ws_status s = ws_ledger_apply(rc->l, r, lsn, seq, &eff, &rc->why);
    for (unsigned i = 0; s == WS_OK && i < eff.count; i++) {
        ws_accounts_publish(rc->l->accounts, eff.touched[i]);
    }
    return s;
}

static ws_u128 sum_balances(const ws_ledger *l) {
    ws_u128 sum = 0;
    for (size_t i = 0; i < ws_accounts_count(l->accounts); i++) {
        sum += ws_accounts_balance(l->accounts, (uint32_t)i);
    }
    return sum;
}

static WS_MUST_USE ws_status inconsistent(const char *what, uint64_t lsn) {
    fprintf(stderr, "wallet-service: data is inconsistent: %s (lsn %llu); run --verify\n", what,
            (unsigned long long)lsn);
    return WS_CORRUPT;
}

/* The checkpoint, then the log after it, through the state machine. */
static WS_MUST_USE ws_status load(sm *m) {
    ws_ledger *l = &m->ledger;
    const store_ckpt_meta *c = &m->loaded;
    ws_status s = store_ckpt_meta_get(m->st, &m->loaded);
    if (s == WS_OK) {
        s = store_ckpt_load_accounts(m->st, c->account_count, load_account, l);
    }
    if (s == WS_OK) {
        s = store_ckpt_load_idem(m->st, load_idem, l);
    }
    if (s != WS_OK) {
        return s == WS_CORRUPT ? inconsistent("the checkpoint fails its checks", c->next_lsn) : s;
    }
    l->next_lsn = c->next_lsn;
    l->next_seq = c->next_seq;
    l->total_money = c->total_money;
    l->transfers = c->transfers;
    l->refusals = c->refusals;
    if (sum_balances(l) != l->total_money) {
        return inconsistent("the checkpoint's balances do not add up to its money", c->next_lsn);
    }
    replay_ctx rc = {l, "", c->next_lsn};
    s = store_scan_log(m->st, c->next_lsn, replay_record, &rc);
    if (s == WS_CORRUPT) {
        return inconsistent(rc.why[0] ? rc.why : "a block fails its checks or is missing",
                            rc.lsn);
    }
    uint64_t end_lsn;
    uint64_t end_seq;
    if (s == WS_OK) {
        s = store_log_end(m->st, &end_lsn, &end_seq);
    }
    if (s == WS_OK && (end_lsn != l->next_lsn || end_seq != l->next_seq)) {
        return inconsistent("the checkpoint covers records the log does not hold", end_lsn);
    }
    if (s == WS_OK && sum_balances(l) != l->total_money) {
        return inconsistent("the balances do not add up to the money created", l->next_lsn);
    }
    return s;
}

ws_status sm_open(store *st, size_t batch_max, sm **out) {
    WS_ASSERT(batch_max >= 1 && batch_max <= UINT32_MAX / 4);
    sm *m = calloc(1, sizeof(*m));
    if (!m) {
        return WS_INTERNAL;
    }
    m->st = st;
    m->batch_max = batch_max;
    m->records = calloc(batch_max, sizeof(*m->records));
    m->touched = calloc(2 * batch_max, sizeof(*m->touched));
    m->batch = store_batch_new();
    ws_status s = m->records && m->touched && m->batch ? WS_OK : WS_INTERNAL;
    if (s == WS_OK) {
        s = ws_ledger_init(&m->ledger, store_fp_key(st));
    }
    if (s == WS_OK) {
        s = load(m);
    }
    if (s != WS_OK) {
        sm_free(m);
        return s;
    }
    atomic_init(&m->committed.next_lsn, m->ledger.next_lsn);
    atomic_init(&m->committed.next_seq, m->ledger.next_seq);
    *out = m;
    return WS_OK;
}

void sm_free(sm *m) {
    if (!m) {
        return;
    }
    store_batch_free(m->batch);
    ws_ledger_free(&m->ledger);
    free(m->touched);
    free(m->records);
    free(m);
}

/* ---- VALIDATE ---------------------------------------------------------------------------- */

/* The record already holding c's transactionID: in this batch, or in the log (read back).
 * NULL if none; *err set if the log could not be read. */
static const ws_record *find_prior(sm *m, const ws_command *c, ws_record *buf, ws_status *err) {
    uint64_t fp = ws_idem_fp(m->ledger.fp_key, c->transfer_id, c->transfer_id_len);
    size_t pos = 0;
    *err = WS_OK;
    for (uint64_t lsn = ws_idem_next(m->ledger.idem, fp, &pos); lsn != 0;
         lsn = ws_idem_next(m->ledger.idem, fp, &pos)) {
        const ws_record *r = buf;
        if (lsn >= m->first_lsn) {
            r = &m->records[lsn - m->first_lsn];
        } else if ((*err = store_read_record(m->st, lsn, buf)) != WS_OK) {
            *err = *err == WS_NOT_FOUND ? WS_CORRUPT : *err;
            return NULL;
        }
        if (r->txn_len == c->transfer_id_len &&
            memcmp(r->txn, c->transfer_id, c->transfer_id_len) == 0) {
            return r;
        }
    }
    return NULL;
}

/* Applies a decided record to the state and the batch; false (nothing changed) if the
 * state machine ran out of memory. */
static bool append(sm *m, const ws_record *r) {
    ws_effect eff;
    const char *why;
    ws_status s = ws_ledger_apply(&m->ledger, r, m->ledger.next_lsn, m->ledger.next_seq, &eff,
                                  &why);
    if (s == WS_INTERNAL) {
        return false;
    }
    WS_ASSERT(s == WS_OK); /* decide just produced it from this very state */
    store_batch_add(m->batch, r);
    m->records[m->record_count++] = *r;
    for (unsigned i = 0; i < eff.count; i++) {
        m->touched[m->touched_count++] = eff.touched[i];
    }
    return true;
}

static void decide(sm *m, ws_command *c) {
    ws_decision d;
    if (c->kind == WS_CMD_CREATE_ACCOUNT) {
        ws_ledger_decide_create(&m->ledger, c->account, c->account_len, c->amount, &d);
    } else {
        WS_ASSERT(c->kind == WS_CMD_TRANSFER);
        ws_transfer_req q = {c->account,     c->account_len,        c->to,
                             c->to_len,      c->amount,             c->transfer_id,
                             c->transfer_id_len, c->transfer_id_given};
        ws_record buf;
        ws_status err = WS_OK;
        const ws_record *prior = c->transfer_id_given ? find_prior(m, c, &buf, &err) : NULL;
        if (err != WS_OK) {
            c->status = err;
            return;
        }
        ws_ledger_decide_transfer(&m->ledger, &q, prior, &d);
    }
    if (d.append && !append(m, &d.rec)) {
        d.status = WS_INTERNAL;
    }
    c->status = d.status;
    c->replayed = d.replayed;
    c->missing_side = d.missing_side;
    c->from_balance = d.from_balance;
    c->to_balance = d.to_balance;
}

/* Commands decided ahead of which the idempotency slot is prefetched. */
#define PREFETCH_AHEAD 8

static void prefetch(sm *m, const ws_command *c) {
    if (c->kind == WS_CMD_TRANSFER) {
        ws_idem_prefetch(m->ledger.idem,
                         ws_idem_fp(m->ledger.fp_key, c->transfer_id, c->transfer_id_len));
    }
}

bool sm_validate(sm *m, ws_command **cmds, size_t n, uint64_t now_us) {
    WS_ASSERT(n >= 1 && n <= m->batch_max);
    WS_ASSERT(store_batch_count(m->batch) == 0);
    store_batch_begin(m->batch, m->ledger.next_lsn, m->ledger.next_seq, now_us);
    m->first_lsn = m->ledger.next_lsn;
    m->record_count = 0;
    m->touched_count = 0;
    for (size_t i = 0; i < n && i < PREFETCH_AHEAD; i++) {
        prefetch(m, cmds[i]);
    }
    for (size_t i = 0; i < n; i++) {
        ws_command *c = cmds[i];
        if (i + PREFETCH_AHEAD < n) {
            prefetch(m, cmds[i + PREFETCH_AHEAD]);
        }
        /* Results are written here only: clear them, so that nothing a caller left in the
         * command can reach an answer. */
        c->replayed = false;
        c->missing_side = 0;
        c->from_balance = 0;
        c->to_balance = 0;
        if (atomic_load_explicit(&m->read_only, memory_order_relaxed)) {
            c->status = WS_UNAVAILABLE;
        } else {
            decide(m, c);
        }
    }
    return store_batch_count(m->batch) > 0;
}

/* ---- APPLY and PUBLISH ---------------------------------------------------------------- */

ws_status sm_apply(sm *m, ws_command **cmds, size_t n) {
    if (store_batch_count(m->batch) == 0) {
        return WS_OK;
    }
    ws_status s = store_commit(m->st, m->batch);
    if (s != WS_OK) {
        atomic_store(&m->read_only, true);
        fprintf(stderr,
                "wallet-service: a batch of %zu commands failed to commit; now read-only until "
                "restart\n",
                n);
        for (size_t i = 0; i < n; i++) {
            cmds[i]->status = WS_UNAVAILABLE;
            cmds[i]->replayed = false;
        }
        return s;
    }
    for (size_t i = 0; i < m->touched_count; i++) {
        ws_accounts_publish(m->ledger.accounts, m->touched[i]);
    }
    atomic_store_explicit(&m->committed.next_seq, m->ledger.next_seq, memory_order_release);
    atomic_store_explicit(&m->committed.next_lsn, m->ledger.next_lsn, memory_order_release);
    return WS_OK;
}

void sm_set_read_only(sm *m) { atomic_store(&m->read_only, true); }

bool sm_read_only(const sm *m) { return atomic_load(&m->read_only); }

ws_accounts *sm_accounts(sm *m) { return m->ledger.accounts; }

const sm_position *sm_committed(const sm *m) { return &m->committed; }

const store_ckpt_meta *sm_loaded_checkpoint(const sm *m) { return &m->loaded; }

size_t sm_account_count(const sm *m) { return ws_accounts_count(m->ledger.accounts); }

ws_u128 sm_total_money(const sm *m) { return m->ledger.total_money; }
