/* VALIDATE and APPLY. The writer owns every balance in memory (loaded at start), so a
 * command is decided without a storage read; the only read on this path is the idempotency
 * lookup of a client-chosen transferID. The staged WriteBatch, the event buffer and the
 * per-batch transferID table are reused, so the hot path does not allocate per command
 * (RocksDB's WriteBatch grows its buffer to the largest batch, then keeps it). */
#include "engine/sm.h"

#include <stdlib.h>
#include <string.h>

#include "core/accounts.h"
#include "core/siphash.h"

struct sm {
    store *st;
    ws_accounts *accounts;
    store_meta meta; /* includes the staged batch once validated */
    store_batch *batch;
    bool read_only;
    size_t batch_max;
    /* The transferIDs first used in the current batch: slot -> index + 1 into the batch. */
    uint32_t *seen;
    size_t seen_cap;      /* a power of two, >= 2 * batch_max */
    uint32_t *seen_used;  /* the slots to clear after the batch */
    ws_hash_key seen_key; /* transferIDs are client-chosen: hash them with a secret key */
    size_t seen_nused;
};

typedef struct {
    sm *m;
    ws_u128 sum;
} load_ctx;

static ws_status load_account(void *ctx, const char *id, size_t len, uint64_t balance) {
    load_ctx *l = ctx;
    if (balance > WS_AMOUNT_MAX || ws_accounts_find(l->m->accounts, id, len)) {
        return WS_CORRUPT;
    }
    l->sum += balance;
    return ws_accounts_insert(l->m->accounts, id, len, balance);
}

static WS_MUST_USE ws_status check_loaded(sm *m, ws_u128 sum) {
    uint64_t last_seq;
    ws_status s = store_last_seq(m->st, &last_seq);
    if (s != WS_OK) {
        return s;
    }
    const char *bad = NULL;
    if (sum != m->meta.total_money) {
        bad = "the balances do not add up to the money created";
    } else if (ws_accounts_count(m->accounts) != m->meta.account_count) {
        bad = "the account count differs from the meta record";
    } else if (last_seq + 1 != m->meta.next_seq) {
        bad = "the newest event differs from the meta record";
    }
    if (bad) {
        fprintf(stderr, "wallet-service: data is inconsistent: %s; run --verify\n", bad);
        return WS_CORRUPT;
    }
    return WS_OK;
}

ws_status sm_open(store *st, size_t batch_max, sm **out) {
    WS_ASSERT(batch_max >= 1 && batch_max <= UINT32_MAX / 4);
    sm *m = calloc(1, sizeof(*m));
    if (!m) {
        return WS_INTERNAL;
    }
    m->st = st;
    m->batch_max = batch_max;
    m->seen_key = ws_hash_key_random();
    m->seen_cap = 16;
    while (m->seen_cap < 2 * batch_max) {
        m->seen_cap *= 2;
    }
    m->seen = calloc(m->seen_cap, sizeof(*m->seen));
    m->seen_used = calloc(batch_max, sizeof(*m->seen_used));
    m->accounts = ws_accounts_new();
    m->batch = store_batch_new();
    ws_status s = m->seen && m->seen_used && m->accounts && m->batch ? WS_OK : WS_INTERNAL;
    if (s == WS_OK) {
        s = store_get_meta(st, &m->meta);
    }
    load_ctx l = {m, 0};
    if (s == WS_OK) {
        s = store_scan_accounts(st, load_account, &l);
    }
    if (s == WS_OK) {
        s = check_loaded(m, l.sum);
    }
    if (s != WS_OK) {
        sm_free(m);
        return s;
    }
    *out = m;
    return WS_OK;
}

void sm_free(sm *m) {
    if (!m) {
        return;
    }
    store_batch_free(m->batch);
    ws_accounts_free(m->accounts);
    free(m->seen_used);
    free(m->seen);
    free(m);
}

static bool create_account(sm *m, ws_command *c, uint64_t now_us) {
    if (ws_accounts_find(m->accounts, c->account, c->account_len)) {
        c->status = WS_ACCOUNT_EXISTS;
        return false;
    }
    if (ws_accounts_insert(m->accounts, c->account, c->account_len, c->amount) != WS_OK) {
        c->status = WS_INTERNAL;
        return false;
    }
    ws_event e = {.seq = m->meta.next_seq++,
                  .type = WS_EVENT_ACCOUNT_CREATED,
                  .amount = c->amount,
                  .balance = c->amount,
                  .timestamp_us = now_us,
                  .account_len = c->account_len};
    memcpy(e.account, c->account, c->account_len);
    store_batch_put_account(m->batch, c->account, c->account_len, c->amount);
    store_batch_put_event(m->batch, &e);
    m->meta.account_count++;
    m->meta.total_money += c->amount;
    c->status = WS_CREATED;
    c->from_balance = c->amount;
    return true;
}

static bool same_params(const ws_command *c, const char *from, size_t from_len, const char *to,
                        size_t to_len, uint64_t amount) {
    return c->amount == amount && c->account_len == from_len && c->to_len == to_len &&
           memcmp(c->account, from, from_len) == 0 && memcmp(c->to, to, to_len) == 0;
}

static void replay(ws_command *c, ws_status status, uint8_t missing_side, uint64_t from_balance,
                   uint64_t to_balance) {
    c->status = status;
    c->missing_side = missing_side;
    c->from_balance = from_balance;
    c->to_balance = to_balance;
    c->replayed = true;
}

static uint32_t *seen_slot(sm *m, ws_command **cmds, const ws_command *c) {
    uint64_t h = ws_siphash(m->seen_key, c->transfer_id, c->transfer_id_len);
    for (size_t i = (size_t)h & (m->seen_cap - 1);; i = (i + 1) & (m->seen_cap - 1)) {
        uint32_t v = m->seen[i];
        if (v == 0) {
            return &m->seen[i];
        }
        const ws_command *o = cmds[v - 1];
        if (o->transfer_id_len == c->transfer_id_len &&
            memcmp(o->transfer_id, c->transfer_id, c->transfer_id_len) == 0) {
            return &m->seen[i];
        }
    }
}

/* Settles a retried transferID against its first use. Returns true if c was a retry. */
static bool settle_retry(sm *m, ws_command **cmds, size_t idx) {
    ws_command *c = cmds[idx];
    uint32_t *slot = seen_slot(m, cmds, c);
    if (*slot) {
        const ws_command *o = cmds[*slot - 1];
        if (same_params(c, o->account, o->account_len, o->to, o->to_len, o->amount)) {
            replay(c, o->status, o->missing_side, o->from_balance, o->to_balance);
        } else {
            c->status = WS_TRANSFER_ID_CONFLICT;
        }
        return true;
    }
    ws_transfer_record r;
    ws_status s = store_get_transfer(m->st, c->transfer_id, c->transfer_id_len, &r);
    if (s == WS_OK) {
        if (same_params(c, r.from, r.from_len, r.to, r.to_len, r.amount)) {
            replay(c, r.status, r.missing_side, r.from_balance, r.to_balance);
        } else {
            c->status = WS_TRANSFER_ID_CONFLICT;
        }
        return true;
    }
    if (s != WS_NOT_FOUND) {
        c->status = s;
        return true;
    }
    *slot = (uint32_t)idx + 1;
    m->seen_used[m->seen_nused++] = (uint32_t)(slot - m->seen);
    return false;
}

static void put_record(sm *m, const ws_command *c, uint64_t seq) {
    ws_transfer_record r = {.status = c->status,
                            .amount = c->amount,
                            .from_balance = c->from_balance,
                            .to_balance = c->to_balance,
                            .seq = seq,
                            .missing_side = c->missing_side,
                            .from_len = c->account_len,
                            .to_len = c->to_len};
    memcpy(r.from, c->account, c->account_len);
    memcpy(r.to, c->to, c->to_len);
    store_batch_put_transfer(m->batch, c->transfer_id, c->transfer_id_len, &r);
}

static void stage_leg(sm *m, const ws_command *c, ws_event_type type, uint64_t balance,
                      uint64_t now_us) {
    bool debit = type == WS_EVENT_DEBIT;
    ws_event e = {.seq = m->meta.next_seq++,
                  .type = type,
                  .amount = c->amount,
                  .balance = balance,
                  .timestamp_us = now_us,
                  .account_len = debit ? c->account_len : c->to_len,
                  .transaction_len = c->transfer_id_len,
                  .counterparty_len = debit ? c->to_len : c->account_len};
    memcpy(e.account, debit ? c->account : c->to, e.account_len);
    memcpy(e.counterparty, debit ? c->to : c->account, e.counterparty_len);
    memcpy(e.transaction, c->transfer_id, c->transfer_id_len);
    store_batch_put_account(m->batch, e.account, e.account_len, balance);
    store_batch_put_event(m->batch, &e);
}

static bool transfer(sm *m, ws_command **cmds, size_t idx, uint64_t now_us) {
    ws_command *c = cmds[idx];
    if (c->transfer_id_given && settle_retry(m, cmds, idx)) {
        return false;
    }
    uint64_t *from = ws_accounts_find(m->accounts, c->account, c->account_len);
    uint64_t *to = ws_accounts_find(m->accounts, c->to, c->to_len);
    bool same = c->account_len == c->to_len && memcmp(c->account, c->to, c->to_len) == 0;
    c->status = ws_check_transfer(same, from != NULL, from ? *from : 0, to != NULL, to ? *to : 0,
                                  c->amount);
    if (c->status != WS_OK) {
        c->missing_side = c->status == WS_ACCOUNT_NOT_FOUND ? (from ? 2 : 1) : 0;
        if (c->transfer_id_given) {
            put_record(m, c, 0);
        }
        return c->transfer_id_given;
    }
    ws_u128 before = (ws_u128)*from + *to;
    *from -= c->amount;
    *to += c->amount;
    WS_ASSERT((ws_u128)*from + *to == before); /* money is conserved */
    c->from_balance = *from;
    c->to_balance = *to;
    uint64_t debit_seq = m->meta.next_seq;
    stage_leg(m, c, WS_EVENT_DEBIT, *from, now_us);
    stage_leg(m, c, WS_EVENT_CREDIT, *to, now_us);
    put_record(m, c, debit_seq);
    return true;
}

bool sm_validate(sm *m, ws_command **cmds, size_t n, uint64_t now_us) {
    WS_ASSERT(n >= 1 && n <= m->batch_max);
    WS_ASSERT(store_batch_count(m->batch) == 0);
    bool staged = false;
    for (size_t i = 0; i < n; i++) {
        ws_command *c = cmds[i];
        /* Results are written here only: clear them, so that nothing a caller left in
         * the command can reach an idempotency record. */
        c->replayed = false;
        c->missing_side = 0;
        c->from_balance = 0;
        c->to_balance = 0;
        if (m->read_only) {
            c->status = WS_UNAVAILABLE;
        } else if (c->kind == WS_CMD_CREATE_ACCOUNT) {
            staged |= create_account(m, c, now_us);
        } else {
            WS_ASSERT(c->kind == WS_CMD_TRANSFER);
            staged |= transfer(m, cmds, i, now_us);
        }
    }
    for (size_t i = 0; i < m->seen_nused; i++) {
        m->seen[m->seen_used[i]] = 0;
    }
    m->seen_nused = 0;
    return staged;
}

ws_status sm_apply(sm *m, ws_command **cmds, size_t n) {
    if (store_batch_count(m->batch) == 0) {
        return WS_OK;
    }
    store_batch_put_meta(m->batch, &m->meta);
    ws_status s = store_commit(m->st, m->batch);
    store_batch_clear(m->batch);
    if (s != WS_OK) {
        m->read_only = true;
        fprintf(stderr,
                "wallet-service: a batch of %zu commands failed to commit; now read-only until "
                "restart\n",
                n);
        for (size_t i = 0; i < n; i++) {
            cmds[i]->status = WS_UNAVAILABLE;
            cmds[i]->replayed = false;
        }
    }
    return s;
}

bool sm_read_only(const sm *m) { return m->read_only; }

size_t sm_account_count(const sm *m) { return ws_accounts_count(m->accounts); }

ws_u128 sm_total_money(const sm *m) { return m->meta.total_money; }
