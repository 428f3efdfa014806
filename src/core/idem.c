/* The idempotency index: open addressing with linear probing over 16-byte entries; an
 * entry with fp 0 is empty (fingerprints are never 0). Entries are never removed. */
#include "core/idem.h"

#include <stdlib.h>

#define CAP_MIN 1024

typedef struct {
    uint64_t fp;
    uint64_t lsn;
} slot;

struct ws_idem {
    slot *slots;
    size_t cap; /* a power of two */
    size_t count;
};

uint64_t ws_idem_fp(ws_hash_key key, const char *id, size_t len) {
    uint64_t h = ws_siphash(key, id, len);
    return h ? h : 1;
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

static WS_MUST_USE ws_status grow(ws_idem *t) {
    size_t cap = t->cap * 2;
    slot *slots = calloc(cap, sizeof(slot));
    if (!slots) {
        return WS_INTERNAL;
    }
    /* Start right after an empty slot: a probe run that wraps past the end of the array is
     * then moved from its first entry on, so the entries of one fingerprint keep their
     * order (the table is never full, so an empty slot exists). */
    size_t mask = t->cap - 1;
    size_t empty = 0;
    while (t->slots[empty].fp != 0) {
        empty++;
    }
    for (size_t k = 1; k <= t->cap; k++) {
        const slot *o = &t->slots[(empty + k) & mask];
        if (o->fp) {
            place(slots, cap, o->fp, o->lsn);
        }
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return WS_OK;
}

ws_status ws_idem_add(ws_idem *t, uint64_t fp, uint64_t lsn) {
    WS_ASSERT(fp != 0 && lsn != 0);
    if ((t->count + 1) * 4 > t->cap * 3 && grow(t) != WS_OK) {
        return WS_INTERNAL;
    }
    place(t->slots, t->cap, fp, lsn);
    t->count++;
    return WS_OK;
}

uint64_t ws_idem_next(const ws_idem *t, uint64_t fp, size_t *pos) {
    size_t mask = t->cap - 1;
    size_t i = *pos == 0 ? (size_t)fp & mask : *pos & mask;
    for (;;) {
        const slot *s = &t->slots[i];
        i = (i + 1) & mask;
        if (s->fp == 0) {
            return 0;
        }
        if (s->fp == fp) {
            /* pos is never 0 after the first call: index 0 is stored as cap. */
            *pos = i == 0 ? t->cap : i;
            return s->lsn;
        }
    }
}

void ws_idem_prefetch(const ws_idem *t, uint64_t fp) {
    __builtin_prefetch(&t->slots[(size_t)fp & (t->cap - 1)], 1);
}

size_t ws_idem_count(const ws_idem *t) { return t->count; }

size_t ws_idem_bytes(const ws_idem *t) { return t->cap * sizeof(slot); }

ws_status ws_idem_each(const ws_idem *t, ws_idem_fn fn, void *ctx) {
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].fp) {
            ws_status s = fn(ctx, t->slots[i].fp, t->slots[i].lsn);
            if (s != WS_OK) {
                return s;
            }
        }
    }
    return WS_OK;
}
