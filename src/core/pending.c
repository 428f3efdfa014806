/* The pending-transfer table (see pending.h). */
#include "core/pending.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t expires_us;
    uint64_t lsn;
} heap_item;

struct ws_pending {
    ws_pending_entry *entries;
    size_t count, cap;
    uint32_t *slots; /* entry index + 1; 0 empty */
    size_t slot_cap; /* a power of two */
    heap_item *heap;
    size_t heap_count, heap_cap;
};

#define SLOTS_MIN 1024

static size_t slot_of(uint64_t lsn, size_t cap) {
    return (size_t)((lsn * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

ws_pending *ws_pending_new(void) {
    ws_pending *t = calloc(1, sizeof(*t));
    if (t && !(t->slots = calloc(SLOTS_MIN, sizeof(uint32_t)))) {
        free(t);
        return NULL;
    }
    if (t) {
        t->slot_cap = SLOTS_MIN;
    }
    return t;
}

void ws_pending_free(ws_pending *t) {
    if (t) {
        free(t->entries);
        free(t->slots);
        free(t->heap);
        free(t);
    }
}

static bool grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) {
        return true;
    }
    size_t n = *cap ? *cap * 2 : 1024;
    void *q = realloc(*p, n * size);
    if (!q) {
        return false;
    }
    *p = q;
    *cap = n;
    return true;
}

static void slot_put(uint32_t *slots, size_t cap, uint64_t lsn, uint32_t value) {
    size_t i = slot_of(lsn, cap);
    while (slots[i]) {
        i = (i + 1) & (cap - 1);
    }
    slots[i] = value;
}

/* Keeps the slots at most half full. */
static bool grow_slots(ws_pending *t) {
    if ((t->count + 1) * 2 <= t->slot_cap) {
        return true;
    }
    size_t cap = t->slot_cap * 2;
    uint32_t *s = calloc(cap, sizeof(uint32_t));
    if (!s) {
        return false;
    }
    for (size_t i = 0; i < t->count; i++) {
        slot_put(s, cap, t->entries[i].lsn, (uint32_t)i + 1);
    }
    free(t->slots);
    t->slots = s;
    t->slot_cap = cap;
    return true;
}

static bool earlier(heap_item a, heap_item b) {
    return a.expires_us < b.expires_us || (a.expires_us == b.expires_us && a.lsn < b.lsn);
}

static void heap_push(ws_pending *t, heap_item it) {
    size_t i = t->heap_count++;
    while (i > 0 && earlier(it, t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = it;
}

static void heap_pop(ws_pending *t) {
    heap_item last = t->heap[--t->heap_count];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->heap_count) {
            break;
        }
        if (c + 1 < t->heap_count && earlier(t->heap[c + 1], t->heap[c])) {
            c++;
        }
        if (!earlier(t->heap[c], last)) {
            break;
        }
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (t->heap_count > 0) {
        t->heap[i] = last;
    }
}

ws_status ws_pending_add(ws_pending *t, const ws_pending_entry *e) {
    WS_ASSERT(t->count == 0 || e->lsn > t->entries[t->count - 1].lsn);
    WS_ASSERT(t->count < UINT32_MAX - 1);
    if (!grow((void **)&t->entries, &t->cap, t->count + 1, sizeof(*e)) || !grow_slots(t) ||
        (e->expires_us &&
         !grow((void **)&t->heap, &t->heap_cap, t->heap_count + 1, sizeof(heap_item)))) {
        return WS_INTERNAL;
    }
    t->entries[t->count] = *e;
    slot_put(t->slots, t->slot_cap, e->lsn, (uint32_t)t->count + 1);
    t->count++;
    if (e->expires_us && e->status == WS_PENDING_OPEN) {
        heap_push(t, (heap_item){e->expires_us, e->lsn});
    }
    return WS_OK;
}

/* The slot holding lsn, or SIZE_MAX. */
static size_t find_slot(const ws_pending *t, uint64_t lsn) {
    for (size_t i = slot_of(lsn, t->slot_cap);; i = (i + 1) & (t->slot_cap - 1)) {
        uint32_t v = t->slots[i];
        if (v == 0) {
            return SIZE_MAX;
        }
        if (t->entries[v - 1].lsn == lsn) {
            return i;
        }
    }
}

ws_pending_entry *ws_pending_get(ws_pending *t, uint64_t lsn) {
    size_t i = find_slot(t, lsn);
    return i == SIZE_MAX ? NULL : &t->entries[t->slots[i] - 1];
}

void ws_pending_remove_last(ws_pending *t, uint64_t lsn) {
    WS_ASSERT(t->count > 0 && t->entries[t->count - 1].lsn == lsn);
    size_t i = find_slot(t, lsn);
    WS_ASSERT(i != SIZE_MAX);
    /* Backward-shift deletion keeps every other entry reachable from its home slot. */
    size_t mask = t->slot_cap - 1;
    for (size_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        size_t home = slot_of(t->entries[t->slots[j] - 1].lsn, t->slot_cap);
        /* j's entry may move to i if i lies cyclically in [home, j) */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = 0;
    t->count--;
    /* its heap item, if any, is stale now and is dropped when it reaches the top */
}

ws_pending_entry *ws_pending_next_expired(ws_pending *t, uint64_t now_us) {
    while (t->heap_count > 0) {
        heap_item top = t->heap[0];
        ws_pending_entry *e = ws_pending_get(t, top.lsn);
        if (!e || e->status != WS_PENDING_OPEN || e->expires_us != top.expires_us) {
            heap_pop(t);
            continue;
        }
        return top.expires_us <= now_us ? e : NULL;
    }
    return NULL;
}

size_t ws_pending_count(const ws_pending *t) { return t->count; }

const ws_pending_entry *ws_pending_at(const ws_pending *t, size_t i) {
    WS_ASSERT(i < t->count);
    return &t->entries[i];
}
