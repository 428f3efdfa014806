/* VALIDATE, APPLY and PUBLISH, and the start that loads a checkpoint and replays the log
 * after it. The writer owns the whole state in memory, so a command is decided without a
 * storage read; the only read on this path is that of the earlier record when a client's
 * transferID matches one in the idempotency index (a retry). The batch's records, the
 * touched-account list and the store batch are reused, so the hot path does not allocate
 * per command. */
#include "engine/sm.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sm {
    store *st;
    ws_ledger ledger;
    store_batch *batch;
    atomic_bool read_only; /* the writer's, or a failed checkpoint's (another thread) */
    size_t batch_max;
    size_t commands_max; /* in one sm_validate: batch_max, or one group of WS_GROUP_MAX */
    store_ckpt_meta loaded;
    sm_position committed;
    /* The current batch: its records by lsn - first_lsn (a retry within the batch finds
     * the earlier record here), and the accounts whose balances it changed. */
    ws_record *records;
    size_t record_count;
    uint64_t first_lsn;
    uint32_t *touched;
    size_t touched_count;
    size_t records_max;
    uint64_t clock_us; /* the newest block's timestamp: the log's clock never runs back */
    /* For GET /metrics, read by the writer after each sm_apply: the open pending transfers
     * of the working state (a TransferPending record opens one, a PendingResolved closes
     * one), and how long the last sm_apply's store_commit took. */
    int64_t pending_open;
    uint64_t last_commit_ns;
};

/* How a record changes the number of open pending transfers: +1, -1 or 0. */
static int pending_delta(const ws_record *r) {
    return r->kind == WS_REC_PENDING ? 1 : r->kind == WS_REC_RESOLVED ? -1 : 0;
}

/* The most expiries one batch appends (the rest wait for the next). */
#define EXPIRIES_MAX 1024

/* ---- start ---------------------------------------------------------------------------------- */

static ws_status load_account(void *ctx, uint32_t index, const char *id, size_t len,
                              int64_t balance) {
    ws_ledger *l = ctx;
    uint32_t at;
    if (!ws_id_valid(id, len) || ws_accounts_find(l->accounts, id, len) != WS_ACCOUNT_NONE) {
        return WS_CORRUPT;
    }
    ws_status s = ws_accounts_insert(l->accounts, id, len, balance, NULL, &at);
    if (s == WS_OK) {
        WS_ASSERT(at == index);
        ws_accounts_publish(l->accounts, at);
    }
    return s;
}

/* An account's parameters: set before the service serves, so no reader sees the change. */
static ws_status load_params(void *ctx, uint32_t index, const ws_account_params *p) {
    ws_ledger *l = ctx;
    if (index >= ws_accounts_count(l->accounts)) {
        return WS_CORRUPT;
    }
    ws_status s = ws_accounts_set_params(l->accounts, index, p);
    return s == WS_TOO_MANY_CURRENCIES ? WS_CORRUPT : s;
}

static ws_status load_idem(void *ctx, uint64_t fp, uint64_t lsn) {
    return ws_idem_add(((ws_ledger *)ctx)->idem, fp, lsn);
}

/* A pending transfer of the checkpoint: into the table, and if open into its accounts'
 * pending totals (published: no reader is in the table yet). */
static ws_status load_pending(void *ctx, const ws_pending_entry *e) {
    sm *m = ctx;
    ws_ledger *l = &m->ledger;
    size_t n = ws_pending_count(l->pending);
    if (e->from >= ws_accounts_count(l->accounts) || e->to >= ws_accounts_count(l->accounts) ||
        (n > 0 && ws_pending_at(l->pending, n - 1)->lsn >= e->lsn) || e->lsn >= l->next_lsn) {
        return WS_CORRUPT;
    }
    ws_status s = ws_pending_add(l->pending, e);
    if (s != WS_OK || e->status != WS_PENDING_OPEN) {
        return s;
    }
    m->pending_open++;
    ws_accounts *t = l->accounts;
    if (ws_accounts_reserve_pending(t, e->from) != WS_OK ||
        ws_accounts_reserve_pending(t, e->to) != WS_OK) {
        return WS_INTERNAL;
    }
    ws_accounts_set_pending(t, e->from, ws_accounts_pending_debits(t, e->from) + e->amount,
                            ws_accounts_pending_credits(t, e->from));
    ws_accounts_set_pending(t, e->to, ws_accounts_pending_debits(t, e->to),
                            ws_accounts_pending_credits(t, e->to) + e->amount);
    ws_accounts_publish(t, e->from);
    ws_accounts_publish(t, e->to);
    return WS_OK;
}

typedef struct {
    ws_ledger *l;
    const char *why;
    uint64_t lsn;
    int64_t *pending_open;
} replay_ctx;

static ws_status replay_record(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq,
                               uint64_t timestamp_us) {
    replay_ctx *rc = ctx;
    ws_effect eff;
    rc->lsn = lsn;
    rc->l->now_us = timestamp_us;
    ws_status s = ws_ledger_apply(rc->l, r, lsn, seq, &eff, &rc->why);
    for (unsigned i = 0; s == WS_OK && i < eff.count; i++) {
        ws_accounts_publish(rc->l->accounts, eff.touched[i]);
    }
    if (s == WS_OK) {
        *rc->pending_open += pending_delta(r);
    }
    return s;
}

static WS_MUST_USE ws_status inconsistent(const char *what, uint64_t lsn) {
    ws_log(WS_LOG_ERROR,
           WS_FIELDS(WS_LOG_STR("event", "inconsistent"), WS_LOG_STR("what", what),
                     WS_LOG_NUM("lsn", lsn)),
           "data is inconsistent: %s (lsn %llu); run --verify", what, (unsigned long long)lsn);
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
        s = store_ckpt_load_params(m->st, load_params, l);
    }
    if (s == WS_OK) {
        s = store_ckpt_load_idem(m->st, load_idem, l);
    }
    l->next_lsn = c->next_lsn;
    if (s == WS_OK) {
        s = store_ckpt_load_pending(m->st, load_pending, m);
    }
    if (s != WS_OK) {
        return s == WS_CORRUPT ? inconsistent("the checkpoint fails its checks", c->next_lsn) : s;
    }
    l->next_seq = c->next_seq;
    l->total_money = c->total_money;
    l->transfers = c->transfers;
    l->refusals = c->refusals;
    ws_ledger_count_money(l);
    if (!ws_ledger_money_conserved(l)) {
        return inconsistent("the checkpoint's balances do not add up to its money", c->next_lsn);
    }
    replay_ctx rc = {l, "", c->next_lsn, &m->pending_open};
    s = store_scan_log(m->st, c->next_lsn, replay_record, &rc);
    if (s == WS_CORRUPT) {
        return inconsistent(rc.why[0] ? rc.why : "a block fails its checks or is missing", rc.lsn);
    }
    uint64_t end_lsn;
    uint64_t end_seq;
    if (s == WS_OK) {
        s = store_log_end(m->st, &end_lsn, &end_seq, &m->clock_us);
    }
    if (s == WS_OK && !ws_ledger_pending_consistent(l)) {
        return inconsistent("the pending totals differ from the open pending transfers",
                            l->next_lsn);
    }
    if (s == WS_OK && (end_lsn != l->next_lsn || end_seq != l->next_seq)) {
        return inconsistent("the checkpoint covers records the log does not hold", end_lsn);
    }
    if (s == WS_OK && !ws_ledger_money_conserved(l)) {
        return inconsistent("the balances of a currency do not add up to the money created in it",
                            l->next_lsn);
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
    m->commands_max = batch_max > WS_GROUP_MAX ? batch_max : WS_GROUP_MAX;
    /* a keyed command makes two records (its own and its RequestKey), and expiries come on
     * top: calloc, so the pages never used stay out of the resident set */
    m->records_max = 2 * m->commands_max + EXPIRIES_MAX;
    m->records = calloc(m->records_max, sizeof(*m->records));
    m->touched = calloc(2 * m->records_max, sizeof(*m->touched));
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

/* The record at lsn: in this batch, or read back from the log into buf. NULL with *err set
 * if the log could not be read. */
static const ws_record *record_at(sm *m, uint64_t lsn, ws_record *buf, ws_status *err) {
    if (lsn >= m->first_lsn) {
        return &m->records[lsn - m->first_lsn];
    }
    if ((*err = store_read_record(m->st, lsn, buf)) != WS_OK) {
        *err = *err == WS_NOT_FOUND ? WS_CORRUPT : *err;
        return NULL;
    }
    return buf;
}

/* The record under fingerprint fp whose ID (a transactionID, or an Idempotency-Key when
 * key) is id, and its lsn: in this batch, or in the log (read back). NULL if none; *err
 * set if the log could not be read. */
static const ws_record *find_record(sm *m, uint64_t fp, bool key, const char *id, size_t len,
                                    ws_record *buf, uint64_t *at, ws_status *err) {
    size_t pos = 0;
    *err = WS_OK;
    for (uint64_t lsn = ws_idem_next(m->ledger.idem, fp, &pos); lsn != 0;
         lsn = ws_idem_next(m->ledger.idem, fp, &pos)) {
        const ws_record *r = record_at(m, lsn, buf, err);
        if (!r) {
            return NULL;
        }
        if ((r->kind == WS_REC_REQUEST_KEY) == key && r->txn_len == len &&
            memcmp(r->txn, id, len) == 0) {
            *at = lsn;
            return r;
        }
    }
    return NULL;
}

/* The record already holding transactionID id. */
static const ws_record *find_prior(sm *m, const char *id, size_t len, ws_record *buf, uint64_t *at,
                                   ws_status *err) {
    uint64_t fp = ws_idem_fp(m->ledger.fp_key, id, len);
    return find_record(m, fp, false, id, len, buf, at, err);
}

/* Commands decided ahead of which the idempotency slot is prefetched: every insert into a
 * large table is a cache miss. */
#define PREFETCH_AHEAD 8

static void prefetch(sm *m, const ws_command *c) {
    if (c->kind == WS_CMD_TRANSFER) {
        ws_idem_prefetch(m->ledger.idem,
                         ws_idem_fp(m->ledger.fp_key, c->transfer_id, c->transfer_id_len));
    }
}

/* Applies a decided record to the state (kept in the batch's records, where a retry later in
 * the batch finds it); false (nothing changed) if the state machine ran out of memory. d, if
 * not NULL, is the decision that made r: where it found the accounts (ws_ledger_apply_hinted). */
static bool apply_record(sm *m, const ws_record *r, const ws_decision *d) {
    ws_effect eff;
    const char *why;
    ws_status s = ws_ledger_apply_hinted(&m->ledger, r, m->ledger.next_lsn, m->ledger.next_seq,
                                         d ? d->from : WS_ACCOUNT_NONE, d ? d->to : WS_ACCOUNT_NONE,
                                         &eff, &why);
    if (s == WS_INTERNAL) {
        return false;
    }
    WS_ASSERT(s == WS_OK); /* decide just produced it from this very state */
    WS_ASSERT(m->record_count < m->records_max);
    m->records[m->record_count++] = *r;
    m->pending_open += pending_delta(r);
    for (unsigned i = 0; i < eff.count; i++) {
        m->touched[m->touched_count++] = eff.touched[i];
    }
    return true;
}

static void set_result(sm *m, ws_command *c, const ws_decision *d) {
    c->status = d->status;
    c->replayed = d->replayed;
    c->missing_side = d->missing_side;
    c->from_balance = d->from_balance;
    c->to_balance = d->to_balance;
    if (c->step == WS_STEP_NONE || d->status != WS_OK) {
        return;
    }
    /* a two-phase step answers with its accounts (a post's or void's are the pending
     * transfer's) and their pending totals */
    c->moved = d->amount;
    c->from_pd = d->from_pd;
    c->from_pc = d->from_pc;
    c->to_pd = d->to_pd;
    c->to_pc = d->to_pc;
    const char *id = ws_accounts_id(m->ledger.accounts, d->from, &c->account_len);
    memcpy(c->account, id, c->account_len);
    id = ws_accounts_id(m->ledger.accounts, d->to, &c->to_len);
    memcpy(c->to, id, c->to_len);
}

/* The request c made. A post or void names no accounts: the ones its command holds are
 * those of an answer (set_result). */
static ws_transfer_req request_of(const ws_command *c) {
    bool resolve = c->step == WS_STEP_POST || c->step == WS_STEP_VOID;
    return (ws_transfer_req){.from = c->account,
                             .from_len = resolve ? 0 : c->account_len,
                             .to = c->to,
                             .to_len = resolve ? 0 : c->to_len,
                             .amount = c->amount,
                             .txn = c->transfer_id,
                             .txn_len = c->transfer_id_len,
                             .txn_given = c->transfer_id_given,
                             .step = c->step,
                             .timeout_s = c->timeout_s,
                             .pending = c->pending,
                             .pending_len = c->pending_len};
}

/* Decides the transfer c, with the earlier record holding its transactionID if there is
 * one. False (c->status saying why) if the log could not be read. */
static bool decide_transfer(sm *m, ws_command *c, ws_decision *d) {
    ws_transfer_req q = request_of(c);
    ws_record buf;
    ws_status err = WS_OK;
    uint64_t at = 0;
    const ws_record *prior =
        c->transfer_id_given ? find_prior(m, c->transfer_id, c->transfer_id_len, &buf, &at, &err)
                             : NULL;
    if (err != WS_OK) {
        c->status = err;
        return false;
    }
    ws_ledger_decide_transfer(&m->ledger, &q, prior, d);
    return true;
}

/* One command on its own: decide, apply, stage. */
static void decide(sm *m, ws_command *c) {
    ws_decision d;
    if (c->kind == WS_CMD_CREATE_ACCOUNT) {
        ws_account_params p = ws_command_params(c);
        ws_ledger_decide_create(&m->ledger, c->account, c->account_len, c->amount, &p, &d);
    } else if (!decide_transfer(m, c, &d)) {
        return;
    }
    if (d.append && !apply_record(m, &d.rec, &d)) {
        d = (ws_decision){.status = WS_INTERNAL};
    } else if (d.append) {
        store_batch_add(m->batch, &d.rec);
    }
    set_result(m, c, &d);
}

/* The digest of what a keyed request asked: its operation and the fields its client sent
 * (not the IDs the service generated for it), under a key derived from the data
 * directory's, so that a retry with the same Idempotency-Key is the same request exactly
 * when these agree ({"amount":5} and {"amount":"5"} do). */
static uint64_t request_digest(const sm *m, const ws_command *c) {
    unsigned char buf[2 + 4 * (1 + WS_ID_LEN_MAX) + 8 + 1 + WS_CURRENCY_LEN_MAX + 16 + 5];
    size_t n = 0;
    bool create = c->kind == WS_CMD_CREATE_ACCOUNT;
    const char *id = create ? c->account : c->transfer_id;
    uint8_t id_len = (create ? c->account_given : c->transfer_id_given)
                         ? (create ? c->account_len : c->transfer_id_len)
                         : 0;
    buf[n++] = (unsigned char)c->kind;
    buf[n++] = id_len;
    memcpy(buf + n, id, id_len);
    n += id_len;
    if (!create) {
        buf[n++] = c->account_len;
        memcpy(buf + n, c->account, c->account_len);
        n += c->account_len;
        buf[n++] = c->to_len;
        memcpy(buf + n, c->to, c->to_len);
        n += c->to_len;
    }
    ws_put_u64le(buf + n, c->amount);
    n += 8;
    ws_account_params p = ws_command_params(c);
    if (create && !ws_account_params_is_default(&p)) {
        /* only past the defaults, so a key recorded before accounts had currencies and
         * limits still digests the same */
        buf[n++] = p.currency_len;
        memcpy(buf + n, p.currency, p.currency_len);
        n += p.currency_len;
        ws_put_u64le(buf + n, p.overdraft);
        ws_put_u64le(buf + n + 8, p.max_balance);
        n += 16;
    }
    if (!create && c->step != WS_STEP_NONE) {
        /* only for a two-phase step, so a plain transfer's key digests as it always did */
        buf[n++] = (unsigned char)c->step;
        buf[n++] = (unsigned char)c->timeout_s;
        buf[n++] = (unsigned char)(c->timeout_s >> 8);
        buf[n++] = (unsigned char)(c->timeout_s >> 16);
        buf[n++] = (unsigned char)(c->timeout_s >> 24);
        buf[n++] = c->pending_len;
        memcpy(buf + n, c->pending, c->pending_len);
        n += c->pending_len;
    }
    ws_hash_key k = {m->ledger.fp_key.k0 ^ 0x7265712d64696765ull,
                     m->ledger.fp_key.k1 ^ 0x6469676573742d31ull};
    return ws_siphash(k, buf, n);
}

/* A single write sent with an Idempotency-Key: the answer recorded under the key if there is
 * one (idempotency_key_conflict if it was for another request), else decided as usual and
 * its outcome recorded as a RequestKey record in the same commit. */
static void decide_keyed(sm *m, ws_command *c) {
    ws_record buf;
    ws_status err;
    uint64_t fp = ws_idem_key_fp(m->ledger.fp_key, c->idem_key, c->idem_key_len);
    uint64_t at;
    const ws_record *k = find_record(m, fp, true, c->idem_key, c->idem_key_len, &buf, &at, &err);
    if (err != WS_OK) {
        c->status = err;
        return;
    }
    bool create = c->kind == WS_CMD_CREATE_ACCOUNT;
    ws_record_op op = create ? WS_OP_CREATE_ACCOUNT : WS_OP_TRANSFER;
    uint64_t digest = request_digest(m, c);
    if (k) {
        if (k->op != op || k->digest != digest) {
            c->status = WS_IDEMPOTENCY_KEY_CONFLICT;
            return;
        }
        if (k->status == WS_OK && c->step != WS_STEP_NONE) {
            /* a two-phase step's answer is its record's: replay it by its transferID */
            memcpy(c->transfer_id, k->account, k->account_len);
            c->transfer_id_len = k->account_len;
            c->transfer_id_given = true;
            decide(m, c);
            if (c->status == WS_OK && !c->replayed) {
                c->status = WS_CORRUPT; /* the key names a record the log lacks */
            }
            return;
        }
        ws_decision d = {.status = k->status,
                         .replayed = true,
                         .missing_side = k->missing_side,
                         .from_balance = k->from_balance,
                         .to_balance = k->to_balance};
        set_result(m, c, &d);
        memcpy(create ? c->account : c->transfer_id, k->account, k->account_len);
        *(create ? &c->account_len : &c->transfer_id_len) = k->account_len;
        return;
    }
    decide(m, c);
    if (ws_outcome_code(c->status) == 0) {
        return; /* a storage error is not an answer to remember */
    }
    ws_record r = {.kind = WS_REC_REQUEST_KEY,
                   .status = c->status,
                   .op = op,
                   .digest = digest,
                   .missing_side = c->missing_side,
                   .account_len = create ? c->account_len : c->transfer_id_len,
                   .txn_len = c->idem_key_len,
                   .from_balance = c->from_balance,
                   .to_balance = c->to_balance};
    memcpy(r.account, create ? c->account : c->transfer_id, r.account_len);
    memcpy(r.txn, c->idem_key, c->idem_key_len);
    if (apply_record(m, &r, NULL)) {
        store_batch_add(m->batch, &r);
    }
}

/* Remembers a chain member refused with status as a TransferRefused record (applied and
 * staged), so that a retry gets the same answer. */
static void refuse_member(sm *m, ws_command *c, ws_status status, uint8_t missing_side) {
    ws_transfer_req q = request_of(c);
    ws_record r;
    ws_ledger_refusal(&q, status, missing_side, &r);
    ws_decision d = {.status = status, .missing_side = missing_side};
    if (!apply_record(m, &r, NULL)) {
        d = (ws_decision){.status = WS_INTERNAL};
    } else {
        store_batch_add(m->batch, &r);
    }
    set_result(m, c, &d);
}

/* Whether a chain member's answer stands as decided when the chain fails: a replay of an
 * earlier outcome, a conflict (its transferID names another record) or a storage error. */
static bool answered_alone(const ws_command *c) {
    return c->replayed || c->status == WS_TRANSFER_ID_CONFLICT || c->status == WS_UNAVAILABLE ||
           c->status == WS_CORRUPT || c->status == WS_INTERNAL;
}

/* A linked chain, cmds[0..k): all of it is applied, or none of it. Each member is decided
 * against the state its predecessors leave and applied tentatively (to the state, not yet to
 * the batch's blocks). If one fails, the tentative ones are taken back newest first; the
 * first failure answers with its own code and every other member with linked_event_failed,
 * each remembered as a TransferRefused record. A member whose transferID is already in the
 * log replays its original outcome (it was decided when first sent, and is not undone): a
 * replayed success leaves the chain whole, a replayed refusal fails it, since that member
 * can never apply. One that reuses a transferID with other parameters fails the chain
 * (transfer_id_conflict, not recorded: the ID names another record). An open chain (its
 * group ends inside it) fails whole, every new member answering linked_event_chain_open. */
static void decide_chain(sm *m, ws_command *cmds, size_t k, bool open) {
    size_t records_at = m->record_count;
    size_t touched_at = m->touched_count;
    long failed = -1;
    for (size_t i = 0; i < k; i++) {
        ws_command *c = &cmds[i];
        ws_decision d;
        if (!decide_transfer(m, c, &d)) {
            d = (ws_decision){.status = c->status};
        } else if (open && !d.replayed && d.status != WS_TRANSFER_ID_CONFLICT) {
            d = (ws_decision){.status = WS_LINKED_EVENT_CHAIN_OPEN};
        } else if (d.status == WS_OK && !d.replayed && !apply_record(m, &d.rec, &d)) {
            d = (ws_decision){.status = WS_INTERNAL};
        }
        set_result(m, c, &d);
        if (failed < 0 && c->status != WS_OK) {
            failed = (long)i;
        }
    }
    if (failed < 0) {
        for (size_t r = records_at; r < m->record_count; r++) {
            store_batch_add(m->batch, &m->records[r]); /* the chain holds: stage it whole */
        }
        return;
    }
    while (m->record_count > records_at) {
        m->record_count--;
        ws_ledger_undo(&m->ledger, &m->records[m->record_count], m->ledger.next_lsn - 1);
        m->pending_open -= pending_delta(&m->records[m->record_count]);
    }
    m->touched_count = touched_at;
    for (size_t i = 0; i < k; i++) {
        ws_command *c = &cmds[i];
        if (answered_alone(c)) {
            continue;
        }
        bool own = open || (long)i == failed;
        refuse_member(m, c, own ? c->status : WS_LINKED_EVENT_FAILED, own ? c->missing_side : 0);
    }
}

/* One group: its commands in order; a run of linked transfers, with the one after the last
 * linked, is one chain. */
static void decide_group(sm *m, ws_group *g) {
    for (size_t i = 0; i < g->n && i < PREFETCH_AHEAD; i++) {
        prefetch(m, &g->cmds[i]);
    }
    for (size_t i = 0; i < g->n;) {
        if (!g->cmds[i].linked) {
            if (i + PREFETCH_AHEAD < g->n) {
                prefetch(m, &g->cmds[i + PREFETCH_AHEAD]);
            }
            ws_command *c = &g->cmds[i++];
            if (c->idem_key_len > 0) {
                decide_keyed(m, c);
            } else {
                decide(m, c);
            }
            continue;
        }
        size_t j = i;
        while (j < g->n && g->cmds[j].linked) {
            WS_ASSERT(g->cmds[j].kind == WS_CMD_TRANSFER);
            j++;
        }
        bool open = j == g->n;
        size_t end = open ? g->n : j + 1;
        decide_chain(m, g->cmds + i, end - i, open);
        i = end;
    }
}

/* Appends the expiry of every open pending transfer whose time has come (at most
 * EXPIRIES_MAX a batch; the rest are next). A read that fails leaves the rest for later. */
static void expire_due(sm *m) {
    for (size_t i = 0; i < EXPIRIES_MAX; i++) {
        ws_pending_entry *e = ws_pending_next_expired(m->ledger.pending, m->ledger.now_us);
        if (!e) {
            return;
        }
        ws_record buf;
        ws_status err = WS_OK;
        const ws_record *p = record_at(m, e->lsn, &buf, &err);
        if (!p || p->kind != WS_REC_PENDING) {
            ws_log(WS_LOG_ERROR,
                   WS_FIELDS(WS_LOG_STR("event", "read_only"), WS_LOG_STR("cause", "read"),
                             WS_LOG_NUM("lsn", e->lsn)),
                   "the pending transfer at lsn %llu could not be read; now read-only until "
                   "restart",
                   (unsigned long long)e->lsn);
            atomic_store(&m->read_only, true);
            return;
        }
        ws_record r;
        ws_ledger_expire(&m->ledger, e, p->txn, p->txn_len, &r);
        if (!apply_record(m, &r, NULL)) {
            return;
        }
        store_batch_add(m->batch, &r);
    }
}

bool sm_validate(sm *m, ws_group **groups, size_t n, uint64_t now_us) {
    size_t commands = 0;
    for (size_t i = 0; i < n; i++) {
        commands += groups[i]->n;
    }
    WS_ASSERT(commands <= m->commands_max);
    WS_ASSERT(store_batch_count(m->batch) == 0);
    /* the log's clock: never behind the newest block, so expiries replay as decided */
    m->clock_us = now_us > m->clock_us ? now_us : m->clock_us;
    m->ledger.now_us = m->clock_us;
    store_batch_begin(m->batch, m->ledger.next_lsn, m->ledger.next_seq, m->clock_us);
    m->first_lsn = m->ledger.next_lsn;
    m->record_count = 0;
    m->touched_count = 0;
    bool read_only = atomic_load_explicit(&m->read_only, memory_order_relaxed);
    if (!read_only) {
        expire_due(m);
    }
    for (size_t i = 0; i < n; i++) {
        ws_group *g = groups[i];
        for (size_t k = 0; k < g->n; k++) {
            /* Results are written here only: clear them, so that nothing a caller left in
             * the command can reach an answer. */
            ws_command *c = &g->cmds[k];
            c->status = read_only ? WS_UNAVAILABLE : WS_OK;
            c->replayed = false;
            c->missing_side = 0;
            c->from_balance = 0;
            c->to_balance = 0;
            c->moved = 0;
            c->from_pd = c->from_pc = c->to_pd = c->to_pc = 0;
        }
        if (!read_only) {
            decide_group(m, g);
        }
    }
    return store_batch_count(m->batch) > 0;
}

/* ---- APPLY and PUBLISH ---------------------------------------------------------------- */

ws_status sm_apply(sm *m, ws_group **groups, size_t n) {
    m->last_commit_ns = 0;
    if (store_batch_count(m->batch) == 0) {
        return WS_OK;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ws_status s = store_commit(m->st, m->batch);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    m->last_commit_ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec -
                        (uint64_t)t0.tv_nsec;
    if (s != WS_OK) {
        atomic_store(&m->read_only, true);
        ws_log(WS_LOG_ERROR,
               WS_FIELDS(WS_LOG_STR("event", "read_only"), WS_LOG_STR("cause", "commit"),
                         WS_LOG_NUM("requests", n), WS_LOG_NUM("lsn", m->ledger.next_lsn)),
               "a batch of %zu requests failed to commit; now read-only until restart", n);
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < groups[i]->n; k++) {
                groups[i]->cmds[k].status = WS_UNAVAILABLE;
                groups[i]->cmds[k].replayed = false;
            }
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

uint64_t sm_next_expiry(sm *m) {
    if (atomic_load_explicit(&m->read_only, memory_order_relaxed)) {
        return 0; /* nothing is appended any more */
    }
    ws_pending_entry *e = ws_pending_next_expired(m->ledger.pending, UINT64_MAX);
    return e ? e->expires_us : 0;
}

void sm_set_read_only(sm *m) { atomic_store(&m->read_only, true); }

bool sm_read_only(const sm *m) { return atomic_load(&m->read_only); }

ws_accounts *sm_accounts(sm *m) { return m->ledger.accounts; }

const sm_position *sm_committed(const sm *m) { return &m->committed; }

const store_ckpt_meta *sm_loaded_checkpoint(const sm *m) { return &m->loaded; }

size_t sm_account_count(const sm *m) { return ws_accounts_count(m->ledger.accounts); }

uint64_t sm_pending_open(const sm *m) {
    WS_ASSERT(m->pending_open >= 0);
    return (uint64_t)m->pending_open;
}

uint64_t sm_last_commit_ns(const sm *m) { return m->last_commit_ns; }

ws_u128 sm_total_money(const sm *m) { return m->ledger.total_money; }
