/* Open-addressing hash table over a dense entry array. A slot is 8 bytes: the entry's
 * index + 1 (0: empty) and its 32-bit hash, so probing compares hashes without touching the
 * entries. An entry is 16 bytes: the balance and where the ID lies in one contiguous ID
 * buffer. The three arrays grow by doubling with realloc, which for large blocks remaps pages
 * instead of copying them, and pages never written stay out of the RSS. The slot table doubles
 * at 70% load; accounts are never deleted, so there are no tombstones. At 1,000,000 accounts
 * with 36-byte IDs that is 16 + 16 + 36 = 68 bytes an account. */
#include "core/accounts.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/siphash.h"

typedef struct {
    uint32_t entry; /* index + 1 into entries; 0: empty */
    uint32_t hash;
} slot;

typedef struct {
    uint64_t balance;
    uint32_t id_at; /* offset into ids */
    uint32_t id_len;
} entry;

struct ws_accounts {
    ws_hash_key key;
    uint32_t (*hash_override)(const char *id, size_t len); /* tests only */
    slot *slots;
    size_t cap; /* slots; a power of two */
    entry *entries;
    size_t count, entries_cap;
    char *ids;
    size_t ids_used, ids_cap; /* ids_cap < 4 GiB: offsets are 32-bit */
};

static uint32_t hash_id(const ws_accounts *t, const char *s, size_t len) {
    if (t->hash_override) {
        return t->hash_override(s, len);
    }
    uint64_t h = ws_siphash(t->key, s, len);
    return (uint32_t)(h ^ (h >> 32));
}

ws_accounts *ws_accounts_new_with_hash(uint32_t (*hash)(const char *id, size_t len)) {
    ws_accounts *t = ws_accounts_new();
    if (t) {
        t->hash_override = hash;
    }
    return t;
}

ws_accounts *ws_accounts_new(void) {
    ws_accounts *t = calloc(1, sizeof(*t));
    if (!t) {
        return NULL;
    }
    t->key = ws_hash_key_random();
    t->cap = 1024;
    t->slots = calloc(t->cap, sizeof(slot));
    if (!t->slots) {
        free(t);
        return NULL;
    }
    return t;
}

void ws_accounts_free(ws_accounts *t) {
    if (!t) {
        return;
    }
    free(t->ids);
    free(t->entries);
    free(t->slots);
    free(t);
}

static slot *probe(const ws_accounts *t, slot *slots, size_t cap, const char *id, size_t len,
                   uint32_t h) {
    size_t i = h & (cap - 1);
    for (;;) {
        slot *s = &slots[i];
        if (s->entry == 0) {
            return s;
        }
        if (s->hash == h) {
            const entry *e = &t->entries[s->entry - 1];
            if (e->id_len == len && memcmp(t->ids + e->id_at, id, len) == 0) {
                return s;
            }
        }
        i = (i + 1) & (cap - 1);
    }
}

uint64_t *ws_accounts_find(ws_accounts *t, const char *id, size_t len) {
    slot *s = probe(t, t->slots, t->cap, id, len, hash_id(t, id, len));
    return s->entry ? &t->entries[s->entry - 1].balance : NULL;
}

/* Rehashing needs no string compares: every ID in the table is distinct. */
static WS_MUST_USE ws_status grow_slots(ws_accounts *t) {
    size_t cap = t->cap * 2;
    slot *slots = calloc(cap, sizeof(slot));
    if (!slots) {
        return WS_INTERNAL;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].entry) {
            size_t j = t->slots[i].hash & (cap - 1);
            while (slots[j].entry) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = t->slots[i];
        }
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return WS_OK;
}

/* Makes room for n more elements of size each in *buf (capacity *cap, in elements), doubling
 * from min; false if out of memory or past max elements. */
static bool reserve(void **buf, size_t *cap, size_t used, size_t n, size_t size, size_t min,
                    size_t max) {
    if (used + n <= *cap) {
        return true;
    }
    size_t want = *cap ? *cap : min;
    while (want < used + n) {
        want *= 2;
    }
    if (want > max) {
        want = max;
        if (used + n > want) {
            return false;
        }
    }
    void *p = realloc(*buf, want * size);
    if (!p) {
        return false;
    }
    *buf = p;
    *cap = want;
    return true;
}

ws_status ws_accounts_insert(ws_accounts *t, const char *id, size_t len, uint64_t balance) {
    WS_ASSERT(len > 0 && len <= UINT32_MAX);
    if ((t->count + 1) * 10 > t->cap * 7 && grow_slots(t) != WS_OK) {
        return WS_INTERNAL;
    }
    if (!reserve((void **)&t->entries, &t->entries_cap, t->count, 1, sizeof(entry), 256,
                 UINT32_MAX - 1) ||
        !reserve((void **)&t->ids, &t->ids_cap, t->ids_used, len, 1, 64u << 10, UINT32_MAX)) {
        return WS_INTERNAL;
    }
    uint32_t h = hash_id(t, id, len);
    slot *s = probe(t, t->slots, t->cap, id, len, h);
    WS_ASSERT(s->entry == 0);
    memcpy(t->ids + t->ids_used, id, len);
    t->entries[t->count] = (entry){balance, (uint32_t)t->ids_used, (uint32_t)len};
    t->ids_used += len;
    t->count++;
    *s = (slot){(uint32_t)t->count, h};
    return WS_OK;
}

size_t ws_accounts_count(const ws_accounts *t) { return t->count; }

size_t ws_accounts_bytes(const ws_accounts *t) {
    return t->cap * sizeof(slot) + t->entries_cap * sizeof(entry) + t->ids_cap;
}
