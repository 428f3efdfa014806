/* The idempotency index: open addressing with linear probing over 16-byte entries; an
 * entry with fp 0 is empty (fingerprints are never 0).
 *
 * Growing never stops the writer: when the array passes 75% a new one of twice the size is
 * made, and every add then moves MOVE_PER_ADD slots of the old array into it, so the move is
 * done long before the new array fills (it starts three eighths full, and the old array is
 * emptied at four slots an add). While a move is under way a lookup probes both
 * arrays. A moved (or removed) slot of the old array becomes a tombstone (its lsn 0), so
 * that the probe runs through it still reach what lies behind; the old array is freed when
 * the move ends. At 6 million entries a stop-the-world rehash had held a batch for 0.56 s. */
#include "core/idem.h"

#include <stdbool.h>
#include <stdlib.h>

#define CAP_MIN 1024
#define MOVE_PER_ADD 4

typedef struct {
    uint64_t fp;
    uint64_t lsn; /* 0 in the old array: moved or removed */
} slot;

struct ws_idem {
    slot *slots;
    size_t cap; /* a power of two */
    size_t count;
    slot *old; /* the array being moved out, NULL when none */
    size_t old_cap;
    size_t moved; /* slots of old visited */
};

uint64_t ws_idem_fp(ws_hash_key key, const char *id, size_t len) {
    uint64_t h = ws_siphash(key, id, len);
    return h ? h : 1;
}

uint64_t ws_idem_key_fp(ws_hash_key key, const char *id, size_t len) {
    ws_hash_key k = {key.k0 ^ 0x6b65792d6b657931ull, key.k1 ^ 0x4964656d706f7465ull};
    return ws_idem_fp(k, id, len);
}

uint64_t ws_idem_record_fp(ws_hash_key key, const ws_record *r) {
    switch (r->kind) {
    case WS_REC_TRANSFER:
    case WS_REC_TRANSFER_REFUSED:
    case WS_REC_PENDING:
    case WS_REC_STEP_REFUSED:
        return ws_idem_fp(key, r->txn, r->txn_len);
    case WS_REC_RESOLVED:
        /* an expiry has no transferID of its own, and is not indexed */
        return r->txn_len > 0 ? ws_idem_fp(key, r->txn, r->txn_len) : 0;
    case WS_REC_REQUEST_KEY:
        return ws_idem_key_fp(key, r->txn, r->txn_len);
    case WS_REC_ACCOUNT_CREATED:
        break;
    }
    return 0;
}

ws_idem *ws_idem_new(void) {
    ws_idem *t = calloc(1, sizeof(*t));
    if (t) {
        t->cap = CAP_MIN;
        t->slots = calloc(t->cap, sizeof(slot));
        if (!t->slots) {
            free(t);
            t = NULL;
        }
    }
    return t;
}

void ws_idem_free(ws_idem *t) {
    if (t) {
        free(t->old);
        free(t->slots);
        free(t);
    }
}

static void place(slot *slots, size_t cap, uint64_t fp, uint64_t lsn) {
    size_t i = (size_t)fp & (cap - 1);
    while (slots[i].fp != 0) {
        i = (i + 1) & (cap - 1);
    }
    slots[i] = (slot){fp, lsn};
}

/* Moves up to n slots of the old array; frees it once every slot was visited. */
static void move_some(ws_idem *t, size_t n) {
    for (; n > 0 && t->moved < t->old_cap; n--, t->moved++) {
        slot *o = &t->old[t->moved];
        if (o->fp != 0 && o->lsn != 0) {
            place(t->slots, t->cap, o->fp, o->lsn);
            o->lsn = 0; /* a tombstone: the run behind it stays reachable */
        }
    }
    if (t->moved == t->old_cap) {
        free(t->old);
        t->old = NULL;
    }
}

static WS_MUST_USE ws_status grow(ws_idem *t) {
    if (t->old) {
        move_some(t, t->old_cap); /* cannot happen with MOVE_PER_ADD >= 2; finish anyway */
    }
    slot *slots = calloc(t->cap * 2, sizeof(slot));
    if (!slots) {
        return WS_INTERNAL;
    }
    t->old = t->slots;
    t->old_cap = t->cap;
    t->moved = 0;
    t->slots = slots;
    t->cap *= 2;
    return WS_OK;
}

ws_status ws_idem_add(ws_idem *t, uint64_t fp, uint64_t lsn) {
    WS_ASSERT(fp != 0 && lsn != 0);
    if (t->old) {
        move_some(t, MOVE_PER_ADD);
    }
    if ((t->count + 1) * 4 > t->cap * 3 && grow(t) != WS_OK) {
        return WS_INTERNAL;
    }
    place(t->slots, t->cap, fp, lsn);
    t->count++;
    return WS_OK;
}

/* True if an entry whose home is h must stay at slot i when slot j (before i in the same
 * probe run, cyclically) is emptied: it must if its home lies cyclically in (j, i], since
 * moved to j it would sit before its home, where no probe for it looks. */
static bool stays(size_t h, size_t j, size_t i) {
    return j <= i ? (h > j && h <= i) : (h > j || h <= i);
}

/* Removes (fp, lsn) from the new array with backward-shift deletion, which keeps every other
 * entry on its probe run; false if it is not there. */
static bool remove_new(ws_idem *t, uint64_t fp, uint64_t lsn) {
    size_t mask = t->cap - 1;
    size_t j = (size_t)fp & mask;
    while (!(t->slots[j].fp == fp && t->slots[j].lsn == lsn)) {
        if (t->slots[j].fp == 0) {
            return false;
        }
        j = (j + 1) & mask;
    }
    for (size_t i = (j + 1) & mask; t->slots[i].fp != 0; i = (i + 1) & mask) {
        if (!stays((size_t)t->slots[i].fp & mask, j, i)) {
            t->slots[j] = t->slots[i];
            j = i;
        }
    }
    t->slots[j] = (slot){0, 0};
    return true;
}

void ws_idem_remove(ws_idem *t, uint64_t fp, uint64_t lsn) {
    if (!remove_new(t, fp, lsn)) {
        /* Not moved yet: a tombstone in the old array. */
        WS_ASSERT(t->old != NULL);
        size_t mask = t->old_cap - 1;
        size_t i = (size_t)fp & mask;
        while (!(t->old[i].fp == fp && t->old[i].lsn == lsn)) {
            WS_ASSERT(t->old[i].fp != 0); /* the entry must be there */
            i = (i + 1) & mask;
        }
        t->old[i].lsn = 0;
    }
    t->count--;
}

/* pos: 0 before the first call; then the next slot to look at, + 1, in the new array, or
 * OLD_PHASE + that in the old one. */
#define OLD_PHASE ((size_t)1 << (sizeof(size_t) * 8 - 1))

static uint64_t next_in(const slot *slots, size_t cap, uint64_t fp, size_t *i) {
    size_t mask = cap - 1;
    for (;;) {
        const slot *s = &slots[*i & mask];
        *i = (*i + 1) & mask;
        if (s->fp == 0) {
            return 0;
        }
        if (s->fp == fp && s->lsn != 0) {
            return s->lsn;
        }
    }
}

uint64_t ws_idem_next(const ws_idem *t, uint64_t fp, size_t *pos) {
    if (!(*pos & OLD_PHASE)) {
        size_t i = *pos == 0 ? (size_t)fp & (t->cap - 1) : *pos - 1;
        uint64_t lsn = next_in(t->slots, t->cap, fp, &i);
        if (lsn != 0) {
            *pos = i + 1;
            return lsn;
        }
        if (!t->old) {
            *pos = 0;
            return 0;
        }
        *pos = OLD_PHASE | (((size_t)fp & (t->old_cap - 1)) + 1);
    }
    if (!t->old) {
        return 0;
    }
    size_t i = (*pos & ~OLD_PHASE) - 1;
    uint64_t lsn = next_in(t->old, t->old_cap, fp, &i);
    *pos = lsn != 0 ? OLD_PHASE | (i + 1) : 0;
    return lsn;
}

size_t ws_idem_count(const ws_idem *t) { return t->count; }

size_t ws_idem_bytes(const ws_idem *t) {
    return (t->cap + (t->old ? t->old_cap : 0)) * sizeof(slot);
}

void ws_idem_prefetch(const ws_idem *t, uint64_t fp) {
    __builtin_prefetch(&t->slots[(size_t)fp & (t->cap - 1)], 1);
}

ws_status ws_idem_each(const ws_idem *t, ws_idem_fn fn, void *ctx) {
    for (int a = 0; a < 2; a++) {
        const slot *slots = a == 0 ? t->slots : t->old;
        size_t cap = a == 0 ? t->cap : t->old_cap;
        for (size_t i = 0; slots && i < cap; i++) {
            if (slots[i].fp != 0 && slots[i].lsn != 0) {
                ws_status s = fn(ctx, slots[i].fp, slots[i].lsn);
                if (s != WS_OK) {
                    return s;
                }
            }
        }
    }
    return WS_OK;
}
