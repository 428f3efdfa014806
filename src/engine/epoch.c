/* Epoch-based reclamation (see epoch.h). The retired list is small: the account table
 * replaces its slot array about log2(accounts) times in a life. */
#include "engine/epoch.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct retired {
    struct retired *next;
    void *p;
    uint64_t ticket;
} retired;

struct epoch {
    _Atomic uint64_t now; /* from 1 */
    _Atomic int readers;
    _Atomic uint64_t slot[EPOCH_READERS_MAX]; /* 0: outside; else the epoch read at entry */
    retired *list;
};

epoch *epoch_new(void) {
    epoch *e = calloc(1, sizeof(*e));
    if (e) {
        atomic_init(&e->now, 1);
    }
    return e;
}

void epoch_free(epoch *e) {
    if (!e) {
        return;
    }
    while (e->list) {
        retired *r = e->list;
        e->list = r->next;
        free(r->p);
        free(r);
    }
    free(e);
}

int epoch_reader_add(epoch *e) {
    int r = atomic_fetch_add(&e->readers, 1);
    return r < EPOCH_READERS_MAX ? r : -1;
}

void epoch_enter(epoch *e, int reader) {
    WS_ASSERT(reader >= 0 && reader < EPOCH_READERS_MAX);
    atomic_store(&e->slot[reader], atomic_load(&e->now));
}

void epoch_exit(epoch *e, int reader) {
    atomic_store_explicit(&e->slot[reader], 0, memory_order_release);
}

void epoch_retire(epoch *e, void *p) {
    retired *r = malloc(sizeof(*r));
    WS_ASSERT(r); /* a few bytes, a few dozen times in a life */
    r->p = p;
    r->ticket = atomic_fetch_add(&e->now, 1);
    r->next = e->list;
    e->list = r;
}

void epoch_retire_hook(void *ctx, void *p) { epoch_retire(ctx, p); }

/* True if no reader can be inside with an epoch at or below ticket. */
static bool quiet_since(epoch *e, uint64_t ticket) {
    int n = atomic_load(&e->readers);
    for (int i = 0; i < n && i < EPOCH_READERS_MAX; i++) {
        uint64_t v = atomic_load(&e->slot[i]);
        if (v != 0 && v <= ticket) {
            return false;
        }
    }
    return true;
}

void epoch_reclaim(epoch *e) {
    for (retired **at = &e->list; *at;) {
        retired *r = *at;
        if (quiet_since(e, r->ticket)) {
            *at = r->next;
            free(r->p);
            free(r);
        } else {
            at = &r->next;
        }
    }
}
