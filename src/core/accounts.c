/* Open-addressing hash table. Slots hold a pointer into the ID arena, the balance, a
 * 32-bit hash (to skip most string compares) and the ID length. The table doubles at 70%
 * load; accounts are never deleted, so there are no tombstones. */
#include "core/accounts.h"

#include <stdlib.h>
#include <string.h>

#include "core/siphash.h"

#define ARENA_CHUNK (1u << 20)

typedef struct {
    const char *id; /* NULL: empty slot */
    uint64_t balance;
    uint32_t hash;
    uint32_t len;
} slot;

typedef struct chunk {
    struct chunk *next;
    size_t used;
    char data[];
} chunk;

struct ws_accounts {
    ws_hash_key key;
    uint32_t (*hash_override)(const char *id, size_t len); /* tests only */
    slot *slots;
    size_t cap; /* a power of two */
    size_t count;
    chunk *arena;
    size_t arena_bytes;
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
    chunk *c = t->arena;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(t->slots);
    free(t);
}

static slot *probe(slot *slots, size_t cap, const char *id, size_t len, uint32_t h) {
    size_t i = h & (cap - 1);
    for (;;) {
        slot *s = &slots[i];
        if (!s->id || (s->hash == h && s->len == len && memcmp(s->id, id, len) == 0)) {
            return s;
        }
        i = (i + 1) & (cap - 1);
    }
}

uint64_t *ws_accounts_find(ws_accounts *t, const char *id, size_t len) {
    slot *s = probe(t->slots, t->cap, id, len, hash_id(t, id, len));
    return s->id ? &s->balance : NULL;
}

static WS_MUST_USE ws_status grow(ws_accounts *t) {
    size_t cap = t->cap * 2;
    slot *slots = calloc(cap, sizeof(slot));
    if (!slots) {
        return WS_INTERNAL;
    }
    for (size_t i = 0; i < t->cap; i++) {
        slot *s = &t->slots[i];
        if (s->id) {
            *probe(slots, cap, s->id, s->len, s->hash) = *s;
        }
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return WS_OK;
}

static const char *arena_copy(ws_accounts *t, const char *id, size_t len) {
    if (!t->arena || t->arena->used + len > ARENA_CHUNK) {
        chunk *c = malloc(sizeof(chunk) + ARENA_CHUNK);
        if (!c) {
            return NULL;
        }
        c->next = t->arena;
        c->used = 0;
        t->arena = c;
        t->arena_bytes += sizeof(chunk) + ARENA_CHUNK;
    }
    char *p = t->arena->data + t->arena->used;
    memcpy(p, id, len);
    t->arena->used += len;
    return p;
}

ws_status ws_accounts_insert(ws_accounts *t, const char *id, size_t len, uint64_t balance) {
    WS_ASSERT(len > 0 && len <= ARENA_CHUNK);
    if ((t->count + 1) * 10 > t->cap * 7 && grow(t) != WS_OK) {
        return WS_INTERNAL;
    }
    uint32_t h = hash_id(t, id, len);
    slot *s = probe(t->slots, t->cap, id, len, h);
    WS_ASSERT(s->id == NULL);
    const char *copy = arena_copy(t, id, len);
    if (!copy) {
        return WS_INTERNAL;
    }
    *s = (slot){copy, balance, h, (uint32_t)len};
    t->count++;
    return WS_OK;
}

size_t ws_accounts_count(const ws_accounts *t) { return t->count; }

size_t ws_accounts_bytes(const ws_accounts *t) { return t->cap * sizeof(slot) + t->arena_bytes; }
