/* The account table (see accounts.h for the concurrency contract). Entries live in chunks
 * of ENTRY_CHUNK entries, IDs in chunks of ID_CHUNK bytes (an ID never straddles two), both
 * reached through fixed directories of chunk pointers allocated once: nothing a reader can
 * hold is ever moved. Only the slot array is replaced, when it passes 70% load. */
#include "core/accounts.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/siphash.h"

#define ENTRY_CHUNK_BITS 16
#define ENTRY_CHUNK (1u << ENTRY_CHUNK_BITS)
#define ENTRY_CHUNKS (WS_ACCOUNTS_MAX / ENTRY_CHUNK)
#define ID_CHUNK (1u << 20)
#define ID_CHUNKS ((size_t)WS_ACCOUNTS_MAX * 64 / ID_CHUNK)
#define UNPUBLISHED UINT64_MAX
#define SLOTS_MIN 1024

typedef struct {
    _Atomic uint64_t committed; /* readers; UNPUBLISHED until the first publish */
    uint64_t balance;           /* the owner's working balance */
    uint32_t id_off;            /* offset inside its ID chunk */
    uint16_t id_chunk;
    uint8_t id_len;
    uint8_t unused;
} entry;

/* A slot: (entry index + 1) << 32 | hash; 0 is empty. */
typedef struct {
    size_t cap; /* a power of two */
    _Atomic uint64_t s[];
} slot_array;

struct ws_accounts {
    ws_hash_key key;
    uint32_t (*hash_override)(const char *id, size_t len); /* tests only */
    _Atomic(slot_array *) slots;
    entry **entries; /* ENTRY_CHUNKS chunk pointers */
    char **ids;      /* ID_CHUNKS chunk pointers */
    size_t count;
    size_t id_chunk; /* the chunk new IDs go to, and how full it is */
    size_t id_used;
    size_t bytes;
    void (*retire)(void *ctx, void *p);
    void *retire_ctx;
};

static uint32_t hash_id(const ws_accounts *t, const char *s, size_t len) {
    if (t->hash_override) {
        return t->hash_override(s, len);
    }
    uint64_t h = ws_siphash(t->key, s, len);
    return (uint32_t)(h ^ (h >> 32));
}

static slot_array *slots_new(size_t cap) {
    slot_array *a = calloc(1, sizeof(*a) + cap * sizeof(a->s[0]));
    if (a) {
        a->cap = cap;
    }
    return a;
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
    t->entries = calloc(ENTRY_CHUNKS, sizeof(entry *));
    t->ids = calloc(ID_CHUNKS, sizeof(char *));
    slot_array *a = slots_new(SLOTS_MIN);
    if (!t->entries || !t->ids || !a) {
        free(a);
        free(t->ids);
        free(t->entries);
        free(t);
        return NULL;
    }
    atomic_init(&t->slots, a);
    t->bytes = sizeof(*a) + SLOTS_MIN * sizeof(a->s[0]);
    return t;
}

void ws_accounts_free(ws_accounts *t) {
    if (!t) {
        return;
    }
    for (size_t i = 0; i < ENTRY_CHUNKS && t->entries[i]; i++) {
        free(t->entries[i]);
    }
    for (size_t i = 0; i <= t->id_chunk && t->ids[i]; i++) {
        free(t->ids[i]);
    }
    free(t->entries);
    free(t->ids);
    free(atomic_load(&t->slots));
    free(t);
}

void ws_accounts_set_retire(ws_accounts *t, void (*retire)(void *ctx, void *p), void *ctx) {
    t->retire = retire;
    t->retire_ctx = ctx;
}

static entry *entry_at(const ws_accounts *t, uint32_t index) {
    return &t->entries[index >> ENTRY_CHUNK_BITS][index & (ENTRY_CHUNK - 1)];
}

static const char *id_of(const ws_accounts *t, const entry *e) {
    return t->ids[e->id_chunk] + e->id_off;
}

/* Probes a for id: the index of its entry, or WS_ACCOUNT_NONE with *empty at the free slot
 * where it would go. Safe for readers: each slot is one atomic load, and an entry a slot
 * points at was complete before the slot was stored. */
static uint32_t probe(const ws_accounts *t, const slot_array *a, const char *id, size_t len,
                      uint32_t h, size_t *empty) {
    size_t mask = a->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint64_t v = atomic_load_explicit(&a->s[i], memory_order_acquire);
        if (v == 0) {
            *empty = i;
            return WS_ACCOUNT_NONE;
        }
        if ((uint32_t)v == h) {
            uint32_t index = (uint32_t)(v >> 32) - 1;
            const entry *e = entry_at(t, index);
            if (e->id_len == len && memcmp(id_of(t, e), id, len) == 0) {
                return index;
            }
        }
    }
}

static uint32_t lookup(const ws_accounts *t, const char *id, size_t len) {
    if (len == 0 || len > UINT8_MAX) {
        return WS_ACCOUNT_NONE;
    }
    const slot_array *a = atomic_load_explicit(&t->slots, memory_order_acquire);
    size_t empty;
    return probe(t, a, id, len, hash_id(t, id, len), &empty);
}

uint32_t ws_accounts_find(const ws_accounts *t, const char *id, size_t len) {
    return lookup(t, id, len);
}

/* Rehashing needs no string compares: every ID in the table is distinct. The new array is
 * complete before it is published; readers still on the old one find what it holds. */
static WS_MUST_USE ws_status grow_slots(ws_accounts *t) {
    slot_array *old = atomic_load_explicit(&t->slots, memory_order_relaxed);
    slot_array *a = slots_new(old->cap * 2);
    if (!a) {
        return WS_INTERNAL;
    }
    for (size_t i = 0; i < old->cap; i++) {
        uint64_t v = atomic_load_explicit(&old->s[i], memory_order_relaxed);
        if (v) {
            size_t j = (uint32_t)v & (a->cap - 1);
            while (atomic_load_explicit(&a->s[j], memory_order_relaxed)) {
                j = (j + 1) & (a->cap - 1);
            }
            atomic_store_explicit(&a->s[j], v, memory_order_relaxed);
        }
    }
    atomic_store_explicit(&t->slots, a, memory_order_release);
    t->bytes += a->cap * sizeof(a->s[0]) - old->cap * sizeof(old->s[0]);
    if (t->retire) {
        t->retire(t->retire_ctx, old);
    } else {
        free(old);
    }
    return WS_OK;
}

/* Copies id into the ID chunks; false on out of memory. */
static bool store_id(ws_accounts *t, const char *id, size_t len, entry *e) {
    if (t->ids[t->id_chunk] != NULL && t->id_used + len > ID_CHUNK) {
        t->id_chunk++;
        t->id_used = 0;
    }
    if (t->id_chunk >= ID_CHUNKS) {
        return false;
    }
    if (t->ids[t->id_chunk] == NULL) {
        /* Pages never written stay out of the resident set, so a fresh chunk costs only
         * what its IDs fill. */
        t->ids[t->id_chunk] = malloc(ID_CHUNK);
        if (t->ids[t->id_chunk] == NULL) {
            return false;
        }
        t->bytes += ID_CHUNK;
    }
    memcpy(t->ids[t->id_chunk] + t->id_used, id, len);
    e->id_chunk = (uint16_t)t->id_chunk;
    e->id_off = (uint32_t)t->id_used;
    e->id_len = (uint8_t)len;
    t->id_used += len;
    return true;
}

ws_status ws_accounts_insert(ws_accounts *t, const char *id, size_t len, uint64_t balance,
                             uint32_t *index) {
    WS_ASSERT(len > 0 && len <= UINT8_MAX && balance != UNPUBLISHED);
    if (t->count >= WS_ACCOUNTS_MAX) {
        return WS_INTERNAL;
    }
    slot_array *a = atomic_load_explicit(&t->slots, memory_order_relaxed);
    if ((t->count + 1) * 10 > a->cap * 7) {
        if (grow_slots(t) != WS_OK) {
            return WS_INTERNAL;
        }
        a = atomic_load_explicit(&t->slots, memory_order_relaxed);
    }
    uint32_t n = (uint32_t)t->count;
    entry **chunk = &t->entries[n >> ENTRY_CHUNK_BITS];
    if (*chunk == NULL) {
        *chunk = malloc(ENTRY_CHUNK * sizeof(entry));
        if (*chunk == NULL) {
            return WS_INTERNAL;
        }
        t->bytes += ENTRY_CHUNK * sizeof(entry);
    }
    entry *e = entry_at(t, n);
    if (!store_id(t, id, len, e)) {
        return WS_INTERNAL;
    }
    e->balance = balance;
    e->unused = 0;
    atomic_init(&e->committed, UNPUBLISHED);
    uint32_t h = hash_id(t, id, len);
    size_t empty;
    WS_ASSERT(probe(t, a, id, len, h, &empty) == WS_ACCOUNT_NONE);
    /* The entry and its ID are complete: publish the slot that points at them. */
    atomic_store_explicit(&a->s[empty], (uint64_t)(n + 1) << 32 | h, memory_order_release);
    t->count++;
    *index = n;
    return WS_OK;
}

uint64_t ws_accounts_balance(const ws_accounts *t, uint32_t index) {
    WS_ASSERT(index < t->count);
    return entry_at(t, index)->balance;
}

void ws_accounts_set_balance(ws_accounts *t, uint32_t index, uint64_t balance) {
    WS_ASSERT(index < t->count && balance <= INT64_MAX);
    entry_at(t, index)->balance = balance;
}

void ws_accounts_publish(ws_accounts *t, uint32_t index) {
    WS_ASSERT(index < t->count);
    entry *e = entry_at(t, index);
    atomic_store_explicit(&e->committed, e->balance, memory_order_release);
}

size_t ws_accounts_count(const ws_accounts *t) { return t->count; }

size_t ws_accounts_bytes(const ws_accounts *t) {
    return t->bytes + ENTRY_CHUNKS * sizeof(entry *) + ID_CHUNKS * sizeof(char *);
}

bool ws_accounts_read(const ws_accounts *t, const char *id, size_t len, uint64_t *balance) {
    uint32_t index = lookup(t, id, len);
    if (index == WS_ACCOUNT_NONE) {
        return false;
    }
    uint64_t v = atomic_load_explicit(&entry_at(t, index)->committed, memory_order_acquire);
    if (v == UNPUBLISHED) {
        return false;
    }
    *balance = v;
    return true;
}

uint32_t ws_accounts_read_index(const ws_accounts *t, const char *id, size_t len) {
    uint32_t index = lookup(t, id, len);
    if (index != WS_ACCOUNT_NONE &&
        atomic_load_explicit(&entry_at(t, index)->committed, memory_order_acquire) == UNPUBLISHED) {
        return WS_ACCOUNT_NONE;
    }
    return index;
}

const char *ws_accounts_id(const ws_accounts *t, uint32_t index, uint8_t *len) {
    const entry *e = entry_at(t, index);
    *len = e->id_len;
    return id_of(t, e);
}
