/* The ledger's state machine against an independent reference model. A random command
 * stream, in batches with a clock, is decided by ws_ledger driven as engine/sm.c drives it
 * (the expiry of what is due at the start of each batch, then each command, or each linked
 * chain all-or-nothing with its members taken back newest first) and by a plain model
 * written here from the rules of docs/api.md, with arrays of its own and no ledger code:
 * account creations with currencies and limits; transfers and pending transfers with and
 * without a client transferID and a timeout; posts (all of it, part of it, more than is
 * pending) and voids of pending transfers, of plain transfers and of IDs never used;
 * expiries as the clock advances, to the microsecond of an expiry and past it; linked chains
 * that mix all of these, with undo; retries of earlier transferIDs of every step with the
 * same or other parameters; amounts near the maximum. Every outcome, every answer's balances
 * and pending totals, every expiry, and after every batch every account's balance, pending
 * debits and pending credits must agree; the pending totals must match the open pending
 * transfers, money must be conserved per currency, and no account may be past its limits
 * counting what is reserved. Also one test per code, in the documented order.
 *
 * WS_MODEL_COMMANDS sets the command count (default 1,000,000, in RUNS runs of a fresh
 * ledger each, so that the checks that walk every pending transfer stay cheap); the seeds
 * are fixed and printed, and the last commands before a disagreement are printed with it,
 * so a failure replays (a run's stream does not depend on its length). WS_MODEL_TALLY=1
 * prints how often each step came to each code. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ledger.h"

#define ACCOUNTS 24
#define IDS (ACCOUNTS + 2) /* the last two are never created */
#define CURRENCIES 3
#define TXNS 8192         /* the last TXNS transferIDs may be retried */
#define RECENT 64         /* posts and voids mostly name one of the last RECENT pendings */
#define CHAIN_MAX 4       /* members of a linked chain, at most */
#define BATCH_MAX 64      /* commands of a batch, at most */
#define EXPIRIES_MAX 1024 /* engine/sm.c: the most expiries one batch appends */
#define RUNS 16
#define NAME_MISSING 0x80000000u /* transferIDs from here on are never used */
#define T0_US 1700000000000000ull
#define JOURNAL_MAX (CHAIN_MAX * 8)
#define TRACE 48

static const char *const currencies[CURRENCIES] = {"XXX", "USD", "EUR"};

/* ---- requests and what they come to ---------------------------------------------------- */

/* A transferID is a number, its name: "x<name>", or "n<name>" for one never used. */
static uint8_t name_id(uint32_t name, char *out) {
    return (uint8_t)(name >= NAME_MISSING ? sprintf(out, "n%u", name - NAME_MISSING)
                                          : sprintf(out, "x%u", name));
}

static uint8_t account_id(int i, char *out) { return (uint8_t)sprintf(out, "a%d", i); }

typedef struct {
    ws_step step;
    int from, to;       /* a transfer's or a pending transfer's */
    uint64_t amount;    /* a post: 0 asks for all of it; a void: 0 */
    uint32_t timeout_s; /* a pending transfer's: 0 never expires */
    uint32_t target;    /* a post's or void's: the pending transfer's transferID */
    uint32_t name;      /* its own transferID */
    bool given;         /* the client chose it (else the service generated it) */
} req;

typedef struct {
    ws_status status;
    uint8_t missing_side;
    bool replayed;
    int64_t fb, tb; /* the balances after */
    /* A two-phase step that succeeded: its accounts, the amount it reserved, posted or
     * released, and the pending totals after. */
    int from, to;
    uint64_t moved;
    uint64_t from_pd, from_pc, to_pd, to_pc;
} outcome;

/* The last commands, printed when the ledger and the model disagree. */
typedef enum { TRACE_COMMAND, TRACE_MEMBER, TRACE_BATCH, TRACE_CREATE } trace_kind;

typedef struct {
    uint64_t n;
    trace_kind kind;
    req q; /* an account creation: q.from is the account */
    uint64_t clock_us;
    ws_status model;
} trace_entry;

static trace_entry trail[TRACE];
static uint64_t trail_count;
static uint64_t run_seed;

static void trace(uint64_t n, trace_kind kind, const req *q, uint64_t clock_us) {
    trace_entry *t = &trail[trail_count++ % TRACE];
    *t = (trace_entry){n, kind, {0}, clock_us, WS_OK};
    if (q) {
        t->q = *q;
    }
}

static void describe(const req *q, char *out, size_t cap) {
    char self[16], target[16];
    name_id(q->name, self);
    name_id(q->target, target);
    const char *how = q->given ? "" : " (generated transferID)";
    switch (q->step) {
    case WS_STEP_NONE:
        snprintf(out, cap, "%s: transfer a%d -> a%d %llu%s", self, q->from, q->to,
                 (unsigned long long)q->amount, how);
        break;
    case WS_STEP_PENDING:
        snprintf(out, cap, "%s: pending a%d -> a%d %llu timeout %us%s", self, q->from, q->to,
                 (unsigned long long)q->amount, q->timeout_s, how);
        break;
    case WS_STEP_POST:
        snprintf(out, cap, "%s: post %s amount %llu%s", self, target, (unsigned long long)q->amount,
                 how);
        break;
    default:
        snprintf(out, cap, "%s: void %s%s", self, target, how);
        break;
    }
}

static void trace_dump(void) {
    uint64_t from = trail_count > TRACE ? trail_count - TRACE : 0;
    fprintf(stderr, "ledger_model: the last commands of the run of seed %llx:\n",
            (unsigned long long)run_seed);
    for (uint64_t i = from; i < trail_count; i++) {
        const trace_entry *t = &trail[i % TRACE];
        char d[160];
        describe(&t->q, d, sizeof(d));
        if (t->kind == TRACE_BATCH) {
            fprintf(stderr, "  -- batch, clock %llu us\n", (unsigned long long)t->clock_us);
        } else if (t->kind == TRACE_CREATE) {
            fprintf(stderr, "  %llu: create a%d\n", (unsigned long long)t->n, t->q.from);
        } else {
            fprintf(stderr, "  %llu:%s %s  (model: %s)\n", (unsigned long long)t->n,
                    t->kind == TRACE_MEMBER ? " linked" : "", d, ws_status_code(t->model));
        }
    }
}

/* ---- the reference model --------------------------------------------------------------- */

typedef struct {
    bool exists;
    int currency;
    int64_t balance;
    uint64_t overdraft;
    uint64_t max;    /* WS_AMOUNT_MAX: none */
    uint64_t pd, pc; /* pending debits and credits: the open pending transfers from and to it */
} ref_account;

typedef enum { REF_OPEN, REF_POSTED, REF_VOIDED, REF_EXPIRED } ref_state;

typedef struct {
    uint32_t name;
    int from, to;
    uint64_t amount;
    uint64_t expires_us; /* 0: never */
    ref_state state;
} ref_pending;

/* What a transferID the client chose was first asked for, and what it came to. */
typedef struct {
    bool used;
    uint32_t name;
    req q;
    outcome o;
    uint64_t held; /* a post that succeeded: the amount its pending transfer held */
} ref_txn;

static ref_account ref[IDS];
static ref_txn ref_txns[TXNS]; /* by name % TXNS: the last TXNS names */
static ref_pending *ref_pend;  /* every pending transfer made, in order */
static size_t ref_pend_count;
static int32_t *name_pend;  /* by name: its pending transfer's index in ref_pend, or -1 */
static uint32_t *ref_timed; /* the pending transfers with a timeout, some no longer open */
static size_t ref_timed_count;
static uint64_t ref_now_us;
static uint32_t names_max;

/* Refusals that only what is reserved explains, counted to show the stream reaches them. */
static uint64_t reserved_refusals[2];

/* A chain's undo: what each change of the model overwrote, put back newest first. */
typedef struct {
    void *p;
    size_t n;
    unsigned char old[sizeof(ref_txn)];
} journal_entry;

_Static_assert(sizeof(ref_account) <= sizeof(ref_txn) && sizeof(ref_pending) <= sizeof(ref_txn),
               "the journal keeps any change");

static journal_entry journal[JOURNAL_MAX];
static size_t journal_count;
static bool journal_on;

/* Called before the model changes the n bytes at p. */
static void keep(void *p, size_t n) {
    if (!journal_on) {
        return;
    }
    cr_assert(journal_count < JOURNAL_MAX && n <= sizeof(journal[0].old));
    journal_entry *j = &journal[journal_count++];
    j->p = p;
    j->n = n;
    memcpy(j->old, p, n);
}

static void rollback(void) {
    while (journal_count > 0) {
        journal_entry *j = &journal[--journal_count];
        memcpy(j->p, j->old, j->n);
    }
}

/* The checks of a transfer or a pending transfer, in their order. */
static ws_status ref_check(int from, int to, uint64_t amount, uint8_t *side) {
    const ref_account *f = &ref[from];
    const ref_account *t = &ref[to];
    *side = 0;
    if (from == to) {
        return WS_SAME_ACCOUNT;
    }
    if (!f->exists || !t->exists) {
        *side = f->exists ? 2 : 1;
        return WS_ACCOUNT_NOT_FOUND;
    }
    if (f->currency != t->currency) {
        return WS_CURRENCY_MISMATCH;
    }
    ws_i128 left = (ws_i128)f->balance - (ws_i128)amount;
    if (left - (ws_i128)f->pd < -(ws_i128)f->overdraft) {
        reserved_refusals[0] += left >= -(ws_i128)f->overdraft;
        return WS_INSUFFICIENT_FUNDS;
    }
    ws_i128 after = (ws_i128)t->balance + (ws_i128)amount;
    bool limited = t->max < WS_AMOUNT_MAX;
    if (after + (ws_i128)t->pc > (ws_i128)(limited ? t->max : WS_AMOUNT_MAX)) {
        reserved_refusals[1] += after <= (ws_i128)(limited ? t->max : WS_AMOUNT_MAX);
        return limited ? WS_BALANCE_LIMIT_EXCEEDED : WS_BALANCE_OVERFLOW;
    }
    return WS_OK;
}

/* The answer of a two-phase step that succeeded, from its accounts as they are after it. */
static outcome ref_answer(int from, int to, uint64_t moved) {
    return (outcome){.status = WS_OK,
                     .fb = ref[from].balance,
                     .tb = ref[to].balance,
                     .from = from,
                     .to = to,
                     .moved = moved,
                     .from_pd = ref[from].pd,
                     .from_pc = ref[from].pc,
                     .to_pd = ref[to].pd,
                     .to_pc = ref[to].pc};
}

/* A new transfer or pending transfer. */
static outcome ref_transfer(const req *q) {
    outcome o = {.status = WS_OK};
    o.status = ref_check(q->from, q->to, q->amount, &o.missing_side);
    if (o.status != WS_OK) {
        return o;
    }
    ref_account *f = &ref[q->from];
    ref_account *t = &ref[q->to];
    keep(f, sizeof(*f));
    keep(t, sizeof(*t));
    if (q->step == WS_STEP_NONE) {
        f->balance -= (int64_t)q->amount;
        t->balance += (int64_t)q->amount;
        o.fb = f->balance;
        o.tb = t->balance;
        return o;
    }
    f->pd += q->amount;
    t->pc += q->amount;
    uint64_t expires = q->timeout_s ? ref_now_us + (uint64_t)q->timeout_s * 1000000u : 0;
    cr_assert(ref_pend_count < names_max);
    ref_pend[ref_pend_count] = (ref_pending){q->name, q->from, q->to, q->amount, expires, REF_OPEN};
    keep(&name_pend[q->name], sizeof(name_pend[0]));
    name_pend[q->name] = (int32_t)ref_pend_count;
    if (q->timeout_s) {
        keep(&ref_timed_count, sizeof(ref_timed_count));
        ref_timed[ref_timed_count++] = (uint32_t)ref_pend_count;
    }
    keep(&ref_pend_count, sizeof(ref_pend_count));
    ref_pend_count++;
    return ref_answer(q->from, q->to, q->amount);
}

/* The pending transfer named target, or -1: a name no pending transfer has. */
static int ref_find(uint32_t target) { return target < names_max ? name_pend[target] : -1; }

/* A new post or void. */
static outcome ref_resolve(const req *q) {
    int i = ref_find(q->target);
    ref_pending *p = i >= 0 ? &ref_pend[i] : NULL;
    ws_status s = !p                        ? WS_PENDING_TRANSFER_NOT_FOUND
                  : p->state == REF_POSTED  ? WS_PENDING_TRANSFER_ALREADY_POSTED
                  : p->state == REF_VOIDED  ? WS_PENDING_TRANSFER_ALREADY_VOIDED
                  : p->state == REF_EXPIRED ? WS_PENDING_TRANSFER_EXPIRED
                  : p->expires_us != 0 && p->expires_us <= ref_now_us ? WS_PENDING_TRANSFER_EXPIRED
                  : q->step == WS_STEP_POST && q->amount > p->amount  ? WS_EXCEEDS_PENDING_AMOUNT
                                                                      : WS_OK;
    if (s != WS_OK) {
        return (outcome){.status = s};
    }
    ref_account *f = &ref[p->from];
    ref_account *t = &ref[p->to];
    keep(p, sizeof(*p));
    keep(f, sizeof(*f));
    keep(t, sizeof(*t));
    uint64_t posted = q->step == WS_STEP_VOID ? 0 : q->amount ? q->amount : p->amount;
    f->balance -= (int64_t)posted;
    t->balance += (int64_t)posted;
    f->pd -= p->amount;
    t->pc -= p->amount;
    p->state = q->step == WS_STEP_POST ? REF_POSTED : REF_VOIDED;
    return ref_answer(p->from, p->to, q->step == WS_STEP_VOID ? p->amount : posted);
}

/* Whether q asks what t's first request asked: the same step and parameters. */
static bool ref_same(const ref_txn *t, const req *q) {
    const req *first = &t->q;
    if (first->step != q->step) {
        return false;
    }
    switch (q->step) {
    case WS_STEP_POST:
        if (first->target != q->target) {
            return false;
        }
        if (t->o.status != WS_OK) {
            return first->amount == q->amount;
        }
        /* "all of it" is the amount a post of all of it posted */
        return q->amount == t->o.moved || (q->amount == 0 && t->o.moved == t->held);
    case WS_STEP_VOID:
        return first->target == q->target;
    default:
        return first->from == q->from && first->to == q->to && first->amount == q->amount &&
               first->timeout_s == q->timeout_s;
    }
}

/* One request: a retry replays (or conflicts); a new one is decided and remembered when the
 * client chose its transferID (a generated one is never asked again). */
static outcome ref_decide(const req *q) {
    ref_txn *t = &ref_txns[q->name % TXNS];
    if (q->given && t->used && t->name == q->name) {
        if (!ref_same(t, q)) {
            return (outcome){.status = WS_TRANSFER_ID_CONFLICT};
        }
        outcome o = t->o;
        o.replayed = true;
        return o;
    }
    bool resolve = q->step == WS_STEP_POST || q->step == WS_STEP_VOID;
    int p = resolve ? ref_find(q->target) : -1;
    outcome o = resolve ? ref_resolve(q) : ref_transfer(q);
    if (q->given) {
        keep(t, sizeof(*t));
        *t = (ref_txn){true, q->name, *q, o, p >= 0 ? ref_pend[p].amount : 0};
    }
    return o;
}

/* A linked chain: first[] as each member is decided, want[] the answers. */
static void ref_chain(const req *q, int m, outcome *first, outcome *want) {
    journal_on = true;
    journal_count = 0;
    int failed = -1;
    for (int i = 0; i < m; i++) {
        first[i] = ref_decide(&q[i]);
        if (failed < 0 && first[i].status != WS_OK) {
            failed = i;
        }
    }
    journal_on = false;
    memcpy(want, first, (size_t)m * sizeof(*want));
    if (failed < 0) {
        return;
    }
    rollback();
    for (int i = 0; i < m; i++) {
        if (first[i].replayed || first[i].status == WS_TRANSFER_ID_CONFLICT) {
            continue; /* answered on its own: the original answer, or the ID names another */
        }
        bool own = i == failed;
        want[i] = (outcome){.status = own ? first[i].status : WS_LINKED_EVENT_FAILED,
                            .missing_side = own ? first[i].missing_side : 0};
        ref_txns[q[i].name % TXNS] = (ref_txn){true, q[i].name, q[i], want[i], 0};
    }
}

typedef struct {
    uint32_t pend;
    outcome after; /* the accounts after the expiry */
} ref_expiry;

static int by_expiry(const void *a, const void *b) {
    uint32_t i = *(const uint32_t *)a;
    uint32_t k = *(const uint32_t *)b;
    if (ref_pend[i].expires_us != ref_pend[k].expires_us) {
        return ref_pend[i].expires_us < ref_pend[k].expires_us ? -1 : 1;
    }
    return i < k ? -1 : i > k;
}

/* The start of a batch: every open pending transfer whose time has come expires, the one
 * that expires first first (then the older). Returns how many, their effects in out. */
static size_t ref_expire_due(ref_expiry *out) {
    uint32_t due[EXPIRIES_MAX];
    size_t n = 0;
    size_t kept = 0;
    for (size_t i = 0; i < ref_timed_count; i++) {
        const ref_pending *p = &ref_pend[ref_timed[i]];
        if (p->state != REF_OPEN) {
            continue;
        }
        if (p->expires_us > ref_now_us) {
            ref_timed[kept++] = ref_timed[i];
            continue;
        }
        cr_assert(n < EXPIRIES_MAX,
                  "the stream made more pendings due at once than a batch expires");
        due[n++] = ref_timed[i];
    }
    ref_timed_count = kept;
    qsort(due, n, sizeof(due[0]), by_expiry);
    for (size_t i = 0; i < n; i++) {
        ref_pending *p = &ref_pend[due[i]];
        p->state = REF_EXPIRED;
        ref[p->from].pd -= p->amount;
        ref[p->to].pc -= p->amount;
        out[i] = (ref_expiry){due[i], ref_answer(p->from, p->to, p->amount)};
    }
    return n;
}

/* ---- the service's ledger, driven as engine/sm.c drives it ------------------------------- */

static ws_ledger led;

/* The record holding each of the last TXNS transferIDs, as the idempotency index finds it. */
typedef struct {
    bool has;
    uint32_t name;
    uint64_t lsn;
    ws_record rec;
} real_txn;

static real_txn real_txns[TXNS];
/* The lsn and the transferID of each TransferPending applied, in lsn order (what expire_due
 * reads back from the log). */
static uint64_t *real_plsn;
static uint32_t *real_pname;
static size_t real_pcount;
static int model_of[IDS]; /* by ledger account index: the model's account */

/* A request as the writer gets it: the IDs, and the ws_transfer_req pointing at them. */
typedef struct {
    char from[8], to[8], txn[16], pending[16];
    ws_transfer_req r;
} wire;

static void wire_of(const req *q, wire *w) {
    bool resolve = q->step == WS_STEP_POST || q->step == WS_STEP_VOID;
    uint8_t fl = account_id(q->from, w->from);
    uint8_t tl = account_id(q->to, w->to);
    uint8_t xl = name_id(q->name, w->txn);
    uint8_t pl = name_id(q->target, w->pending);
    /* a post or void names no accounts (engine/sm.c request_of) */
    w->r = (ws_transfer_req){.from = w->from,
                             .from_len = resolve ? 0 : fl,
                             .to = w->to,
                             .to_len = resolve ? 0 : tl,
                             .amount = q->amount,
                             .txn = w->txn,
                             .txn_len = xl,
                             .txn_given = q->given,
                             .step = q->step,
                             .timeout_s = q->timeout_s,
                             .pending = w->pending,
                             .pending_len = resolve ? pl : 0};
}

static void apply_or_die(const ws_record *r) {
    ws_effect eff;
    const char *why;
    ws_status s = ws_ledger_apply(&led, r, led.next_lsn, led.next_seq, &eff, &why);
    cr_assert_eq(s, WS_OK, "apply: %s", why);
}

/* Whether the idempotency index holds lsn under id's fingerprint (lsn 0: holds nothing). */
static bool idem_holds(const char *id, uint8_t len, uint64_t lsn) {
    uint64_t fp = ws_idem_fp(led.fp_key, id, len);
    size_t pos = 0;
    for (uint64_t at = ws_idem_next(led.idem, fp, &pos); at != 0;
         at = ws_idem_next(led.idem, fp, &pos)) {
        if (at == lsn || lsn == 0) {
            return lsn != 0;
        }
    }
    return lsn == 0;
}

/* decide_transfer: with the earlier record holding the transferID, if the client chose it
 * and there is one. */
static void real_decide(const wire *w, const req *q, ws_decision *d) {
    const real_txn *x = &real_txns[q->name % TXNS];
    const ws_record *prior = NULL;
    if (q->given && x->has && x->name == q->name) {
        cr_assert(idem_holds(w->txn, w->r.txn_len, x->lsn), "%s: not in the idempotency index",
                  w->txn);
        prior = &x->rec;
    } else {
        cr_assert(idem_holds(w->txn, w->r.txn_len, 0), "%s: new, yet in the idempotency index",
                  w->txn);
    }
    ws_ledger_decide_transfer(&led, &w->r, prior, d);
}

static void real_apply(const ws_record *r, const req *q) {
    uint64_t lsn = led.next_lsn;
    apply_or_die(r);
    if (q->given) {
        real_txns[q->name % TXNS] = (real_txn){true, q->name, lsn, *r};
    }
    if (r->kind == WS_REC_PENDING) {
        real_plsn[real_pcount] = lsn;
        real_pname[real_pcount++] = q->name;
    }
}

static void real_undo(const ws_record *r, const req *q) {
    ws_ledger_undo(&led, r, led.next_lsn - 1);
    if (q->given) {
        real_txns[q->name % TXNS].has = false;
    }
    if (r->kind == WS_REC_PENDING) {
        cr_assert(real_pcount > 0 && real_plsn[real_pcount - 1] == led.next_lsn);
        real_pcount--;
    }
}

/* The transferID of the TransferPending at lsn. */
static uint32_t real_name_at(uint64_t lsn) {
    size_t lo = 0;
    size_t hi = real_pcount;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (real_plsn[mid] < lsn) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    cr_assert(lo < real_pcount && real_plsn[lo] == lsn, "no pending transfer at lsn %llu",
              (unsigned long long)lsn);
    return real_pname[lo];
}

/* What the writer answers (engine/sm.c set_result). */
static outcome outcome_of(const ws_decision *d, const req *q) {
    outcome o = {
        d->status, d->missing_side, d->replayed, d->from_balance, d->to_balance, 0, 0, 0, 0, 0, 0,
        0};
    if (d->status == WS_OK && q->step != WS_STEP_NONE) {
        cr_assert(d->from < IDS && d->to < IDS);
        o.from = model_of[d->from];
        o.to = model_of[d->to];
        o.moved = d->amount;
        o.from_pd = d->from_pd;
        o.from_pc = d->from_pc;
        o.to_pd = d->to_pd;
        o.to_pc = d->to_pc;
    }
    return o;
}

static bool outcomes_agree(const outcome *a, const outcome *b, ws_step step) {
    if (a->status != b->status || a->missing_side != b->missing_side ||
        a->replayed != b->replayed) {
        return false;
    }
    if (a->status != WS_OK) {
        return true;
    }
    if (a->fb != b->fb || a->tb != b->tb) {
        return false;
    }
    return step == WS_STEP_NONE || (a->from == b->from && a->to == b->to && a->moved == b->moved &&
                                    a->from_pd == b->from_pd && a->from_pc == b->from_pc &&
                                    a->to_pd == b->to_pd && a->to_pc == b->to_pc);
}

static void same(const outcome *got, const outcome *want, const req *q, uint64_t n,
                 const char *what) {
    if (outcomes_agree(got, want, q->step)) {
        return;
    }
    trace_dump();
    char d[160];
    describe(q, d, sizeof(d));
    cr_assert_fail("command %llu (%s %s): ledger %s%s side %u, balances %lld/%lld, a%d->a%d "
                   "moved %llu pd/pc %llu/%llu %llu/%llu; model %s%s side %u, balances "
                   "%lld/%lld, a%d->a%d moved %llu pd/pc %llu/%llu %llu/%llu",
                   (unsigned long long)n, what, d, ws_status_code(got->status),
                   got->replayed ? " (replayed)" : "", got->missing_side, (long long)got->fb,
                   (long long)got->tb, got->from, got->to, (unsigned long long)got->moved,
                   (unsigned long long)got->from_pd, (unsigned long long)got->from_pc,
                   (unsigned long long)got->to_pd, (unsigned long long)got->to_pc,
                   ws_status_code(want->status), want->replayed ? " (replayed)" : "",
                   want->missing_side, (long long)want->fb, (long long)want->tb, want->from,
                   want->to, (unsigned long long)want->moved, (unsigned long long)want->from_pd,
                   (unsigned long long)want->from_pc, (unsigned long long)want->to_pd,
                   (unsigned long long)want->to_pc);
}

/* expire_due: each open pending transfer that is due, in the order the table gives, as the
 * model expires them. */
static void real_expire_due(const ref_expiry *want, size_t count, uint64_t n) {
    size_t i = 0;
    for (; i < EXPIRIES_MAX; i++) {
        ws_pending_entry *e = ws_pending_next_expired(led.pending, led.now_us);
        if (!e) {
            break;
        }
        char id[16];
        uint32_t name = real_name_at(e->lsn);
        uint8_t len = name_id(name, id);
        ws_record r;
        ws_ledger_expire(&led, e, id, len, &r);
        apply_or_die(&r);
        if (i >= count || ref_pend[want[i].pend].name != name) {
            trace_dump();
        }
        cr_assert(i < count, "before command %llu: %s expired, the model expires %zu only",
                  (unsigned long long)n, id, count);
        const outcome *w = &want[i].after;
        cr_assert(ref_pend[want[i].pend].name == name && r.pending_amount == w->moved &&
                      r.from_balance == w->fb && r.to_balance == w->tb && r.from_pd == w->from_pd &&
                      r.from_pc == w->from_pc && r.to_pd == w->to_pd && r.to_pc == w->to_pc,
                  "before command %llu: expiry %zu is of %s (%llu), the model's of x%u (%llu)",
                  (unsigned long long)n, i, id, (unsigned long long)r.pending_amount,
                  ref_pend[want[i].pend].name, (unsigned long long)w->moved);
    }
    if (i < count) {
        trace_dump();
    }
    cr_assert_eq(i, count, "before command %llu: %zu expiries, the model's %zu",
                 (unsigned long long)n, i, count);
}

/* After every batch: each account as the model has it and within its limits counting what
 * is reserved, the pending totals those of the open pending transfers, money conserved. */
static void check_accounts(uint64_t n) {
    for (int i = 0; i < IDS; i++) {
        char id[8];
        uint8_t len = account_id(i, id);
        uint32_t x = ws_accounts_find(led.accounts, id, len);
        cr_assert_eq(x != WS_ACCOUNT_NONE, ref[i].exists, "command %llu: a%d exists",
                     (unsigned long long)n, i);
        if (x == WS_ACCOUNT_NONE) {
            continue;
        }
        int64_t b = ws_accounts_balance(led.accounts, x);
        uint64_t pd = ws_accounts_pending_debits(led.accounts, x);
        uint64_t pc = ws_accounts_pending_credits(led.accounts, x);
        if (b != ref[i].balance || pd != ref[i].pd || pc != ref[i].pc) {
            trace_dump();
        }
        cr_assert(b == ref[i].balance && pd == ref[i].pd && pc == ref[i].pc,
                  "after command %llu: a%d balance %lld, pending debits %llu, credits %llu; "
                  "model %lld, %llu, %llu",
                  (unsigned long long)n, i, (long long)b, (unsigned long long)pd,
                  (unsigned long long)pc, (long long)ref[i].balance, (unsigned long long)ref[i].pd,
                  (unsigned long long)ref[i].pc);
        cr_assert((ws_i128)b - pd >= -(ws_i128)ws_accounts_overdraft(led.accounts, x) &&
                      (ws_i128)b + pc <= (ws_i128)ws_accounts_max_balance(led.accounts, x),
                  "after command %llu: a%d is past its limits", (unsigned long long)n, i);
    }
    cr_assert(ws_ledger_pending_consistent(&led), "after command %llu: pending totals",
              (unsigned long long)n);
    cr_assert(ws_ledger_money_conserved(&led), "after command %llu: money per currency",
              (unsigned long long)n);
}

/* Now and then: the pending table entry by entry against the model's (it walks them all). */
static void check_pendings(uint64_t n) {
    static const ws_pending_status status_of[] = {WS_PENDING_OPEN, WS_PENDING_POSTED,
                                                  WS_PENDING_VOIDED, WS_PENDING_EXPIRED};
    cr_assert(ws_pending_count(led.pending) == ref_pend_count && real_pcount == ref_pend_count,
              "after command %llu: %zu pending transfers, the model's %zu", (unsigned long long)n,
              ws_pending_count(led.pending), ref_pend_count);
    for (size_t i = 0; i < ref_pend_count; i++) {
        const ws_pending_entry *e = ws_pending_at(led.pending, i);
        const ref_pending *p = &ref_pend[i];
        cr_assert(e->lsn == real_plsn[i] && real_pname[i] == p->name && e->amount == p->amount &&
                      e->expires_us == p->expires_us && model_of[e->from] == p->from &&
                      model_of[e->to] == p->to && e->status == status_of[p->state],
                  "after command %llu: pending transfer x%u differs from the model's",
                  (unsigned long long)n, p->name);
        char id[16];
        uint8_t len = name_id(p->name, id);
        cr_assert_eq(ws_ledger_find_pending(&led, id, len), e->lsn);
    }
}

/* ---- the command stream ------------------------------------------------------------------ */

static uint64_t rng;
static uint64_t next(void) {
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t below(uint64_t n) { return next() % n; }

static uint32_t next_name;   /* the next transferID never used */
static uint64_t clock_us;    /* the writer's clock: never runs back */
static int run_currencies;   /* this run's currencies: fewer means more same-currency pairs */
static bool in_chain;        /* generating a chain's members */
static uint32_t chain_first; /* the name of the chain's first member */
static uint32_t chain_pendings[CHAIN_MAX];
static int chain_pending_count;

/* What the stream came to, by step and outcome code, to show that it reaches every case. */
static uint64_t tally[4][32];
static uint64_t replays[4][2]; /* by step: a replayed success, a replayed refusal */
static uint64_t creates, chains, chains_failed, undone[5], expiries;
static uint64_t partial_posts, posts_all, posts_exact;

static void create(uint64_t n) {
    int i = (int)below(IDS - 2);
    int cur = (int)below((uint64_t)run_currencies);
    uint64_t r = below(16);
    uint64_t od = r == 0 ? WS_AMOUNT_MAX : r < 6 ? below(1000) : 0;
    r = below(16);
    uint64_t max = r == 0 ? WS_AMOUNT_MAX - below(100) : r < 6 ? 1 + below(5000) : WS_AMOUNT_MAX;
    uint64_t amount = below(16) == 0 ? WS_AMOUNT_MAX - below(3000) : below(2000);
    amount = amount > max ? max : amount;
    ws_account_params p = {.currency_len = 3, .overdraft = od, .max_balance = max};
    memcpy(p.currency, currencies[cur], 3);
    char id[8];
    uint8_t len = account_id(i, id);
    req q = {.from = i};
    trace(n, TRACE_CREATE, &q, 0);
    ws_decision d;
    ws_ledger_decide_create(&led, id, len, amount, &p, &d);
    ws_status want = ref[i].exists ? WS_ACCOUNT_EXISTS : WS_CREATED;
    cr_assert_eq(d.status, want, "command %llu: create a%d", (unsigned long long)n, i);
    if (d.append) {
        apply_or_die(&d.rec);
        ref[i] = (ref_account){true, cur, (int64_t)amount, od, max, 0, 0};
        model_of[ws_accounts_find(led.accounts, id, len)] = i;
    }
    creates++;
}

static uint64_t random_amount(void) {
    uint64_t r = below(25);
    return r == 0   ? WS_AMOUNT_MAX - below(3000) /* overflow and limits at the top */
           : r == 1 ? 1
           : r < 16 ? 1 + below(300)
                    : 1 + below(1500);
}

/* An account: mostly one that exists, else any (some never exist). */
static int random_account(void) {
    for (int tries = 0; tries < 4 && below(100) < 92; tries++) {
        int i = (int)below(IDS - 2);
        if (ref[i].exists) {
            return i;
        }
    }
    return (int)below(IDS);
}

/* The account a transfer from `from` goes to: mostly another of its currency, else any. */
static int random_to(int from) {
    for (int tries = 0; tries < 6 && below(100) < 85; tries++) {
        int i = (int)below(IDS - 2);
        if (i != from && ref[i].exists && ref[i].currency == ref[from].currency) {
            return i;
        }
    }
    return random_account();
}

static uint32_t random_timeout(void) {
    uint64_t r = below(100);
    return r < 35   ? 0
           : r < 80 ? 1 + (uint32_t)below(5)
           : r < 93 ? 6 + (uint32_t)below(25)
           : r < 97 ? 3600
                    : WS_TIMEOUT_MAX;
}

/* The pending transfer a post or void names: mostly a recent one, else any, one made earlier
 * in the same chain, a transferID of anything, or one never used. */
static uint32_t random_target(void) {
    uint64_t r = below(100);
    if (in_chain && chain_pending_count > 0 && r < 35) {
        return chain_pendings[below((uint64_t)chain_pending_count)];
    }
    if (ref_pend_count > 0 && r < 82) {
        size_t back = ref_pend_count < RECENT ? ref_pend_count : RECENT;
        size_t i = ref_pend_count - 1 - below(back);
        for (int tries = 0; tries < 3 && ref_pend[i].state != REF_OPEN; tries++) {
            i = ref_pend_count - 1 - below(back); /* an open one, mostly */
        }
        return ref_pend[i].name;
    }
    if (ref_pend_count > 0 && r < 89) {
        return ref_pend[below(ref_pend_count)].name;
    }
    if (next_name > 0 && r < 96) {
        return next_name - 1 - (uint32_t)below(next_name < 256 ? next_name : 256);
    }
    return NAME_MISSING + (uint32_t)below(1000);
}

/* A post's amount: all of it, exactly, less, more, the largest, or any. */
static uint64_t random_post_amount(uint32_t target) {
    int i = ref_find(target);
    uint64_t p = i >= 0 ? ref_pend[i].amount : random_amount();
    uint64_t r = below(100);
    if (r < 25) {
        return 0;
    }
    if (r < 40) {
        return p;
    }
    if (r < 65) {
        return p > 1 ? 1 + below(p - 1) : p;
    }
    if (r < 80 && p < WS_AMOUNT_MAX) {
        uint64_t room = WS_AMOUNT_MAX - p;
        return p + 1 + below(room < 100 ? room : 100);
    }
    return r < 85 ? WS_AMOUNT_MAX : random_amount();
}

static void random_params(req *q, ws_step step) {
    q->step = step;
    q->from = q->to = 0;
    q->amount = 0;
    q->timeout_s = 0;
    q->target = 0;
    if (step == WS_STEP_NONE || step == WS_STEP_PENDING) {
        q->from = random_account();
        q->to = random_to(q->from);
        q->amount = random_amount();
        q->timeout_s = step == WS_STEP_PENDING ? random_timeout() : 0;
    } else {
        q->target = random_target();
        q->amount = step == WS_STEP_POST ? random_post_amount(q->target) : 0;
    }
}

/* A retry with other parameters: another step, amount, account, target or timeout. */
static void conflicting(req *q) {
    switch (below(4)) {
    case 0: {
        ws_step s = (ws_step)below(3);
        random_params(q, s >= q->step ? (ws_step)(s + 1) : s);
        break;
    }
    case 1:
        if (q->step == WS_STEP_VOID) {
            q->target = random_target();
        } else {
            q->amount = q->amount < WS_AMOUNT_MAX ? q->amount + 1 : 1;
        }
        break;
    case 2:
        if (q->step == WS_STEP_NONE || q->step == WS_STEP_PENDING) {
            q->to = (q->to + 1) % IDS;
        } else {
            q->target = random_target();
        }
        break;
    default:
        if (q->step == WS_STEP_PENDING) {
            q->timeout_s = q->timeout_s == WS_TIMEOUT_MAX ? 0 : q->timeout_s + 1;
        } else if (q->step == WS_STEP_NONE) {
            q->step = WS_STEP_PENDING; /* the same transfer, as a pending one */
        } else if (q->step == WS_STEP_POST) {
            q->amount = q->amount ? 0 : 1;
        } else {
            q->step = WS_STEP_POST; /* a post of the pending transfer the void named */
        }
        break;
    }
}

/* A retry of one of the last TXNS transferIDs the client chose (none of the chain's own):
 * the same request, or another. False if none was found. */
static bool random_retry(req *q) {
    uint32_t lo = next_name > TXNS ? next_name - TXNS : 0;
    uint32_t hi = in_chain ? chain_first : next_name;
    for (int tries = 0; tries < 8 && hi > lo; tries++) {
        uint32_t name = lo + (uint32_t)below(hi - lo);
        const ref_txn *t = &ref_txns[name % TXNS];
        if (!t->used || t->name != name) {
            continue;
        }
        *q = t->q;
        if (below(100) >= (in_chain ? 80 : 60)) {
            conflicting(q);
        } else if (q->step == WS_STEP_POST && t->o.status == WS_OK && below(2) == 0) {
            /* all of it, asked as the amount it was, or the other way round */
            q->amount = q->amount == 0 ? t->o.moved : t->o.moved == t->held ? 0 : q->amount;
        }
        return true;
    }
    return false;
}

/* What from may still send (balance - pending debits + overdraft) and to may still take. */
static ws_i128 spendable(int from) {
    return (ws_i128)ref[from].balance - (ws_i128)ref[from].pd + (ws_i128)ref[from].overdraft;
}
static ws_i128 room(int to) {
    return (ws_i128)ref[to].max - (ws_i128)ref[to].balance - (ws_i128)ref[to].pc;
}

/* An open pending transfer: one of the chain's, or a recent one. False if none was found. */
static bool open_target(uint32_t *target) {
    if (in_chain && chain_pending_count > 0 && below(100) < 60) {
        *target = chain_pendings[below((uint64_t)chain_pending_count)];
        return true;
    }
    size_t back = ref_pend_count < RECENT ? ref_pend_count : RECENT;
    for (int tries = 0; tries < 6 && back > 0; tries++) {
        const ref_pending *p = &ref_pend[ref_pend_count - 1 - below(back)];
        if (p->state == REF_OPEN) {
            *target = p->name;
            return true;
        }
    }
    return false;
}

/* A request drawn to succeed, by the model's balances: funds, room, an open pending
 * transfer and an amount it holds. False if none was found. */
static bool careful_params(req *q, ws_step step) {
    random_params(q, step);
    if (step == WS_STEP_POST || step == WS_STEP_VOID) {
        if (!open_target(&q->target)) {
            return false;
        }
        int i = ref_find(q->target);
        uint64_t p = i >= 0 ? ref_pend[i].amount : 1;
        q->amount = step == WS_STEP_VOID || below(100) < 40 ? 0 : 1 + below(p);
        return true;
    }
    for (int tries = 0; tries < 8; tries++) {
        int from = (int)below(IDS - 2);
        int to = random_to(from);
        if (!ref[from].exists || !ref[to].exists || from == to ||
            ref[from].currency != ref[to].currency) {
            continue;
        }
        ws_i128 most = spendable(from) < room(to) ? spendable(from) : room(to);
        if (most >= 1) {
            q->from = from;
            q->to = to;
            q->amount = 1 + below(most < 500 ? (uint64_t)most : 500);
            return true;
        }
    }
    return false;
}

/* A request: careful (drawn to succeed) or not, new or a retry. */
static void random_request(req *q, bool careful) {
    uint64_t r = below(100);
    if (r >= (careful ? 95 : 80) && random_retry(q)) {
        return;
    }
    ws_step s = r < 24   ? WS_STEP_NONE
                : r < 50 ? WS_STEP_PENDING
                : r < 68 ? WS_STEP_POST
                : r < 80 ? WS_STEP_VOID
                         : WS_STEP_PENDING;
    if (!careful || !careful_params(q, s)) {
        random_params(q, s);
    }
    q->given = in_chain || below(4) != 0; /* a chain's members always name themselves */
    q->name = next_name++;
    cr_assert(next_name < names_max);
}

static void count(const req *q, const outcome *o) {
    tally[q->step][ws_outcome_code(o->status)]++;
    if (o->replayed) {
        replays[q->step][o->status != WS_OK]++;
    }
    if (o->status == WS_OK && !o->replayed && q->step == WS_STEP_POST) {
        uint64_t held = ref_pend[ref_find(q->target)].amount;
        partial_posts += q->amount != 0 && q->amount < held;
        posts_exact += q->amount == held;
        posts_all += q->amount == 0;
    }
}

static void single(uint64_t n) {
    if (n < 48 || below(100) < 3) {
        create(n);
        return;
    }
    req q;
    random_request(&q, below(100) < 35);
    trace(n, TRACE_COMMAND, &q, 0);
    outcome want = ref_decide(&q);
    trail[(trail_count - 1) % TRACE].model = want.status;
    wire w;
    wire_of(&q, &w);
    ws_decision d;
    real_decide(&w, &q, &d);
    if (d.append) {
        real_apply(&d.rec, &q);
    }
    outcome got = outcome_of(&d, &q);
    same(&got, &want, &q, n, "command");
    count(&q, &want);
}

/* The writer's decide_chain: each member decided against what the earlier ones left and
 * applied tentatively; if one fails, the applied ones are taken back newest first and every
 * member not answered on its own is remembered refused. */
static void real_chain(const req *q, wire *w, int m, const outcome *first, outcome *got,
                       uint64_t n) {
    ws_record recs[CHAIN_MAX];
    const req *of[CHAIN_MAX];
    int napplied = 0;
    int failed = -1;
    for (int i = 0; i < m; i++) {
        ws_decision d;
        wire_of(&q[i], &w[i]);
        real_decide(&w[i], &q[i], &d);
        if (d.status == WS_OK && !d.replayed) {
            real_apply(&d.rec, &q[i]);
            recs[napplied] = d.rec;
            of[napplied++] = &q[i];
        }
        got[i] = outcome_of(&d, &q[i]);
        same(&got[i], &first[i], &q[i], n + (uint64_t)i, "chain member, as decided");
        if (failed < 0 && got[i].status != WS_OK) {
            failed = i;
        }
    }
    if (failed < 0) {
        return;
    }
    while (napplied > 0) {
        napplied--;
        undone[recs[napplied].kind == WS_REC_TRANSFER ? 0 : of[napplied]->step]++;
        real_undo(&recs[napplied], of[napplied]);
    }
    for (int i = 0; i < m; i++) {
        if (got[i].replayed || got[i].status == WS_TRANSFER_ID_CONFLICT) {
            continue;
        }
        bool own = i == failed;
        ws_status s = own ? got[i].status : WS_LINKED_EVENT_FAILED;
        uint8_t side = own ? got[i].missing_side : 0;
        ws_record r;
        ws_ledger_refusal(&w[i].r, s, side, &r);
        real_apply(&r, &q[i]);
        got[i] = (outcome){.status = s, .missing_side = side};
    }
    chains_failed++;
}

static void chain(uint64_t n, int m) {
    req q[CHAIN_MAX];
    wire w[CHAIN_MAX];
    in_chain = true;
    chain_first = next_name;
    chain_pending_count = 0;
    /* a careful chain, maybe with a random last member (which may take the others back), or
     * a random one */
    bool careful = below(100) < 60;
    bool last_random = below(100) < 40;
    for (int i = 0; i < m; i++) {
        random_request(&q[i], careful && !(last_random && i == m - 1));
        if (q[i].step == WS_STEP_PENDING && q[i].name >= chain_first) {
            chain_pendings[chain_pending_count++] = q[i].name;
        }
    }
    in_chain = false;
    outcome first[CHAIN_MAX], want[CHAIN_MAX], got[CHAIN_MAX];
    ref_chain(q, m, first, want);
    for (int i = 0; i < m; i++) {
        trace(n + (uint64_t)i, TRACE_MEMBER, &q[i], 0);
        trail[(trail_count - 1) % TRACE].model = want[i].status;
    }
    real_chain(q, w, m, first, got, n);
    for (int i = 0; i < m; i++) {
        same(&got[i], &want[i], &q[i], n + (uint64_t)i, "chain member");
        count(&q[i], &want[i]);
    }
    chains++;
}

/* The clock between batches: still, a little, whole seconds (so that an expiry falls on a
 * batch exactly), a lot, ten minutes or an hour, or to the microsecond of the next expiry
 * or just before it. */
static void advance_clock(void) {
    uint64_t r = below(100);
    if (r < 45) {
        return;
    }
    if (r < 70) {
        clock_us += below(300000);
    } else if (r < 88) {
        clock_us += (1 + below(3)) * 1000000u;
    } else if (r < 94) {
        clock_us += below(8000000);
    } else if (r == 94) {
        clock_us += below(2) ? 600000000u : 3600000000u; /* long timeouts run out too */
    } else {
        uint64_t soonest = UINT64_MAX;
        for (size_t i = 0; i < ref_timed_count; i++) {
            const ref_pending *p = &ref_pend[ref_timed[i]];
            if (p->state == REF_OPEN && p->expires_us < soonest) {
                soonest = p->expires_us;
            }
        }
        uint64_t to = r < 98 ? soonest : soonest - 1;
        clock_us = soonest != UINT64_MAX && to > clock_us ? to : clock_us;
    }
}

/* One batch: its clock, the expiries due, then its commands and chains (up to end). */
static void batch(uint64_t *n, uint64_t end) {
    static ref_expiry want[EXPIRIES_MAX];
    advance_clock();
    ref_now_us = led.now_us = clock_us;
    trace(*n, TRACE_BATCH, NULL, clock_us);
    size_t due = ref_expire_due(want);
    real_expire_due(want, due, *n);
    expiries += due;
    uint64_t size = 1 + below(BATCH_MAX);
    for (uint64_t j = 0; j < size && *n < end;) {
        if (*n >= 48 && below(100) < 10) {
            int m = 2 + (int)below(CHAIN_MAX - 1);
            chain(*n, m);
            *n += (uint64_t)m;
            j += (uint64_t)m;
        } else {
            single(*n);
            (*n)++;
            j++;
        }
    }
    check_accounts(*n);
}

/* One run: a fresh ledger and model, commands (at least) from seed. */
static void run(uint64_t seed, uint64_t commands, uint64_t *done) {
    rng = run_seed = seed;
    names_max = (uint32_t)(commands + CHAIN_MAX + 16);
    ref_pend = calloc(names_max, sizeof(*ref_pend));
    name_pend = malloc(names_max * sizeof(*name_pend));
    ref_timed = calloc(names_max, sizeof(*ref_timed));
    real_plsn = calloc(names_max, sizeof(*real_plsn));
    real_pname = calloc(names_max, sizeof(*real_pname));
    cr_assert(ref_pend && name_pend && ref_timed && real_plsn && real_pname);
    memset(name_pend, 0xff, names_max * sizeof(*name_pend)); /* -1: no pending transfer */
    memset(ref, 0, sizeof(ref));
    memset(ref_txns, 0, sizeof(ref_txns));
    memset(real_txns, 0, sizeof(real_txns));
    ref_pend_count = ref_timed_count = real_pcount = 0;
    next_name = 0;
    clock_us = ref_now_us = T0_US;
    run_currencies = 1 + (int)(seed % CURRENCIES);
    cr_assert_eq(ws_ledger_init(&led, (ws_hash_key){seed, 2}), WS_OK);
    uint64_t n = 0;
    for (uint64_t batches = 1; n < commands; batches++) {
        batch(&n, commands);
        if (batches % 1024 == 0) {
            check_pendings(n);
        }
    }
    check_pendings(n);
    *done += n;
    ws_ledger_free(&led);
    free(ref_pend);
    free(name_pend);
    free(ref_timed);
    free(real_plsn);
    free(real_pname);
}

/* The codes each step must have come to at least once, to show the stream reaches them. */
static void check_coverage(void) {
    static const ws_status transfer[] = {WS_OK,
                                         WS_SAME_ACCOUNT,
                                         WS_ACCOUNT_NOT_FOUND,
                                         WS_CURRENCY_MISMATCH,
                                         WS_INSUFFICIENT_FUNDS,
                                         WS_BALANCE_LIMIT_EXCEEDED,
                                         WS_BALANCE_OVERFLOW,
                                         WS_TRANSFER_ID_CONFLICT,
                                         WS_LINKED_EVENT_FAILED};
    static const ws_status resolve[] = {WS_OK,
                                        WS_PENDING_TRANSFER_NOT_FOUND,
                                        WS_PENDING_TRANSFER_ALREADY_POSTED,
                                        WS_PENDING_TRANSFER_ALREADY_VOIDED,
                                        WS_PENDING_TRANSFER_EXPIRED,
                                        WS_TRANSFER_ID_CONFLICT,
                                        WS_LINKED_EVENT_FAILED};
    for (int step = WS_STEP_NONE; step <= WS_STEP_VOID; step++) {
        bool moves = step == WS_STEP_NONE || step == WS_STEP_PENDING;
        const ws_status *want = moves ? transfer : resolve;
        size_t n =
            moves ? sizeof(transfer) / sizeof(transfer[0]) : sizeof(resolve) / sizeof(resolve[0]);
        for (size_t i = 0; i < n; i++) {
            cr_expect(tally[step][ws_outcome_code(want[i])] > 0, "step %d never came to %s", step,
                      ws_status_code(want[i]));
        }
        cr_expect(replays[step][0] > 0 && replays[step][1] > 0,
                  "step %d: no replayed success or refusal", step);
        cr_expect(undone[step] > 0, "step %d: no chain took one back", step);
    }
    cr_expect(tally[WS_STEP_POST][ws_outcome_code(WS_EXCEEDS_PENDING_AMOUNT)] > 0);
    cr_expect(partial_posts > 0 && posts_exact > 0 && posts_all > 0 && expiries > 0);
    cr_expect(chains_failed > 0 && chains > chains_failed, "chains that failed, and that held");
    cr_expect(reserved_refusals[0] > 0 && reserved_refusals[1] > 0,
              "no refusal that only the reserved amounts explain");
}

Test(ledger_model, a_million_random_commands_agree_with_the_model, .timeout = 600) {
    uint64_t commands = 1000000;
    const char *env = getenv("WS_MODEL_COMMANDS");
    if (env && *env) {
        commands = strtoull(env, NULL, 10);
    }
    uint64_t per_run = commands / RUNS + (commands % RUNS != 0);
    fprintf(stderr, "ledger_model: %llu commands in %d runs, seeds %llx + run\n",
            (unsigned long long)commands, RUNS, 0x5eed2026ull);
    memset(tally, 0, sizeof(tally));
    uint64_t done = 0;
    for (uint64_t i = 0; i < RUNS && done < commands; i++) {
        uint64_t left = commands - done;
        run(0x5eed2026ull + i, left < per_run ? left : per_run, &done);
    }
    cr_assert(done >= commands);
    uint64_t *t = tally[0];
    fprintf(stderr,
            "ledger_model: %llu commands: %llu creates; transfers %llu ok; pendings %llu ok; "
            "posts %llu ok (%llu partial, %llu of all), %llu exceeding, %llu expired; voids %llu "
            "ok; %llu conflicts; %llu replays; %llu chains (%llu failed); %llu expiries\n",
            (unsigned long long)done, (unsigned long long)creates, (unsigned long long)t[7],
            (unsigned long long)tally[1][7], (unsigned long long)tally[2][7],
            (unsigned long long)partial_posts, (unsigned long long)posts_all,
            (unsigned long long)tally[2][18], (unsigned long long)tally[2][17],
            (unsigned long long)tally[3][7],
            (unsigned long long)(t[10] + tally[1][10] + tally[2][10] + tally[3][10]),
            (unsigned long long)(replays[0][0] + replays[0][1] + replays[1][0] + replays[1][1] +
                                 replays[2][0] + replays[2][1] + replays[3][0] + replays[3][1]),
            (unsigned long long)chains, (unsigned long long)chains_failed,
            (unsigned long long)expiries);
    if (getenv("WS_MODEL_TALLY")) {
        for (int st = 0; st < 4; st++) {
            for (int c = 0; c < 32; c++) {
                if (tally[st][c]) {
                    fprintf(stderr, "  step %d %-34s %llu\n", st,
                            ws_status_code(ws_outcome_status((uint8_t)c)),
                            (unsigned long long)tally[st][c]);
                }
            }
        }
    }
    if (commands >= 100000) {
        check_coverage();
    }
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
    ws_transfer_req q = {from,
                         (uint8_t)strlen(from),
                         to,
                         (uint8_t)strlen(to),
                         amount,
                         "x",
                         1,
                         false,
                         WS_STEP_NONE,
                         0,
                         "",
                         0};
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

/* A two-phase step with a client transferID: decided (with the record of an earlier use of
 * the ID, if any, kept in steps[]) and applied when it is to be remembered. */
typedef struct {
    const char *txn;
    ws_record rec;
} kept_step;

static kept_step steps[32];
static size_t step_count;

static ws_decision try_step(const char *txn, ws_step s, const char *from, const char *to,
                            uint64_t amount, uint32_t timeout_s, const char *pending) {
    bool resolve = s == WS_STEP_POST || s == WS_STEP_VOID;
    ws_transfer_req q = {from,
                         (uint8_t)strlen(from),
                         to,
                         (uint8_t)strlen(to),
                         amount,
                         txn,
                         (uint8_t)strlen(txn),
                         true,
                         s,
                         timeout_s,
                         pending,
                         (uint8_t)(resolve ? strlen(pending) : 0)};
    const ws_record *prior = NULL;
    for (size_t i = 0; i < step_count; i++) {
        prior = strcmp(steps[i].txn, txn) == 0 ? &steps[i].rec : prior;
    }
    ws_decision d;
    ws_ledger_decide_transfer(&led, &q, prior, &d);
    if (d.append) {
        apply_or_die(&d.rec);
        cr_assert(step_count < sizeof(steps) / sizeof(steps[0]));
        steps[step_count++] = (kept_step){txn, d.rec};
    }
    return d;
}

static ws_status post(const char *txn, const char *pending, uint64_t amount) {
    return try_step(txn, WS_STEP_POST, "", "", amount, 0, pending).status;
}

static ws_status void_step(const char *txn, const char *pending) {
    return try_step(txn, WS_STEP_VOID, "", "", 0, 0, pending).status;
}

Test(ledger_model, two_phase_codes_in_their_order) {
    cr_assert_eq(ws_ledger_init(&led, (ws_hash_key){1, 2}), WS_OK);
    step_count = 0;
    led.now_us = T0_US;
    open_account("u1", "USD", 100, 0, WS_AMOUNT_MAX);
    open_account("u2", "USD", 0, 0, 150);
    open_account("u3", "USD", 1000, 0, WS_AMOUNT_MAX);
    ws_decision d = try_step("p1", WS_STEP_PENDING, "u1", "u2", 60, 10, "");
    cr_assert(d.status == WS_OK && d.from_balance == 100 && d.from_pd == 60 && d.to_pc == 60);
    /* what is reserved counts: 100 - 60 - 50 < 0, and 0 + 60 + 91 > 150 */
    cr_assert_eq(try_step("p2", WS_STEP_PENDING, "u1", "u2", 50, 0, "").status,
                 WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(try_step("p3", WS_STEP_PENDING, "u3", "u2", 91, 0, "").status,
                 WS_BALANCE_LIMIT_EXCEEDED);
    cr_assert_eq(try_transfer("u3", "u2", 91), WS_BALANCE_LIMIT_EXCEEDED);
    /* not_found (an ID never used, a refused pending's, a plain transfer's) before posted,
     * before voided, before expired, before exceeds_pending_amount */
    cr_assert_eq(post("q1", "nope", 0), WS_PENDING_TRANSFER_NOT_FOUND);
    cr_assert_eq(post("q2", "p2", 0), WS_PENDING_TRANSFER_NOT_FOUND);
    cr_assert_eq(try_step("t1", WS_STEP_NONE, "u3", "u1", 5, 0, "").status, WS_OK);
    cr_assert_eq(void_step("q3", "t1"), WS_PENDING_TRANSFER_NOT_FOUND);
    cr_assert_eq(post("q4", "p1", 61), WS_EXCEEDS_PENDING_AMOUNT);
    d = try_step("q5", WS_STEP_POST, "", "", 20, 0, "p1");
    cr_assert(d.status == WS_OK && d.amount == 20 && d.from_balance == 85 && d.to_balance == 20 &&
              d.from_pd == 0 && d.to_pc == 0);
    cr_assert_eq(post("q6", "p1", 0), WS_PENDING_TRANSFER_ALREADY_POSTED);
    cr_assert_eq(void_step("q7", "p1"), WS_PENDING_TRANSFER_ALREADY_POSTED);
    cr_assert_eq(try_step("p4", WS_STEP_PENDING, "u1", "u2", 10, 0, "").status, WS_OK);
    cr_assert_eq(void_step("v1", "p4"), WS_OK);
    cr_assert_eq(post("q8", "p4", 100), WS_PENDING_TRANSFER_ALREADY_VOIDED);
    /* open but due, before the sweep reaches it: expired; then the sweep expires it */
    cr_assert_eq(try_step("p5", WS_STEP_PENDING, "u1", "u2", 10, 1, "").status, WS_OK);
    led.now_us = T0_US + 1000000;
    cr_assert_eq(post("q9", "p5", 100), WS_PENDING_TRANSFER_EXPIRED);
    cr_assert_eq(void_step("v2", "p5"), WS_PENDING_TRANSFER_EXPIRED);
    for (ws_pending_entry *e; (e = ws_pending_next_expired(led.pending, led.now_us));) {
        ws_record r;
        ws_ledger_expire(&led, e, "p5", 2, &r);
        apply_or_die(&r);
    }
    cr_assert_eq(post("q10", "p5", 0), WS_PENDING_TRANSFER_EXPIRED);
    cr_assert(ws_ledger_pending_consistent(&led) && ws_ledger_money_conserved(&led));
    /* retries: the same request replays, another conflicts */
    cr_assert(post("q5", "p1", 20) == WS_OK && post("q5", "p1", 0) == WS_TRANSFER_ID_CONFLICT);
    cr_assert_eq(post("q4", "p1", 61), WS_EXCEEDS_PENDING_AMOUNT);
    cr_assert_eq(post("q4", "p1", 60), WS_TRANSFER_ID_CONFLICT);
    cr_assert_eq(void_step("q5", "p1"), WS_TRANSFER_ID_CONFLICT);
    d = try_step("v1", WS_STEP_VOID, "", "", 0, 0, "p4");
    cr_assert(d.status == WS_OK && d.replayed && d.amount == 10,
              "a void retried as it was: %s, not its replay", ws_status_code(d.status));
    ws_ledger_free(&led);
}
