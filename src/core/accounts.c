/* The account table (see accounts.h for the concurrency contract). Entries live in chunks
 * of ENTRY_CHUNK entries, IDs in chunks of ID_CHUNK bytes (an ID never straddles two), both
 * reached through fixed directories of chunk pointers allocated once: nothing a reader can
 * hold is ever moved. Only the slot array is replaced, when it passes 70% load. */
#include "core/accounts.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "core/siphash.h"

#define ENTRY_CHUNK_BITS 16
#define ENTRY_CHUNK (1u << ENTRY_CHUNK_BITS)
#define ENTRY_CHUNKS (WS_ACCOUNTS_MAX / ENTRY_CHUNK)
#define ID_CHUNK (1u << 20)
#define ID_CHUNKS ((size_t)WS_ACCOUNTS_MAX * 64 / ID_CHUNK)
#define UNPUBLISHED INT64_MIN
#define SLOTS_MIN 1024

typedef struct {
    _Atomic int64_t committed; /* readers; UNPUBLISHED until the first publish */
    int64_t balance;           /* the owner's working balance */
    uint32_t id_off;           /* offset inside its ID chunk */
    uint16_t id_chunk;
    uint8_t id_len;
    uint8_t currency; /* index into the currency list */
} entry;

/* An account's limits, in a side chunk: zero is the default (no overdraft, no maximum), so
 * a fresh (zeroed) chunk holds the defaults. */
typedef struct {
    uint64_t overdraft;
    uint64_t max_gap; /* WS_AMOUNT_MAX - max_balance */
} acct_limits;

/* An account's pending totals, in a side chunk allocated when an account of its entry chunk
 * first takes part in a pending transfer. The owner's working values, and the committed
 * ones readers see: published together with the committed balance under a sequence lock
 * (odd while the owner writes), so a reader never pairs a balance with totals of another
 * batch. */
typedef struct {
    uint64_t debits; /* the owner's */
    uint64_t credits;
    _Atomic uint32_t seq;
    _Atomic uint64_t c_debits;
    _Atomic uint64_t c_credits;
} acct_pending;

/* A slot: (entry index + 1) << 32 | hash; 0 is empty. */
typedef struct {
    size_t cap; /* a power of two */
    _Atomic uint64_t s[];
} slot_array;

struct ws_accounts {
    ws_hash_key key;
    uint32_t (*hash_override)(const char *id, size_t len); /* tests only */
    _Atomic(slot_array *) slots;
    entry **entries;      /* ENTRY_CHUNKS chunk pointers */
    acct_limits **limits; /* ENTRY_CHUNKS chunk pointers, NULL where no account has a limit */
    /* ENTRY_CHUNKS chunk pointers, NULL where no account ever had a pending transfer */
    _Atomic(acct_pending *) *pending;
    char currencies[WS_CURRENCIES_MAX][WS_CURRENCY_LEN_MAX];
    uint8_t currency_lens[WS_CURRENCIES_MAX];
    unsigned currency_count;
    char **ids; /* ID_CHUNKS chunk pointers */
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
    t->limits = calloc(ENTRY_CHUNKS, sizeof(acct_limits *));
    t->pending = calloc(ENTRY_CHUNKS, sizeof(t->pending[0])); /* NULL pointers */
    t->ids = calloc(ID_CHUNKS, sizeof(char *));
    slot_array *a = slots_new(SLOTS_MIN);
    memcpy(t->currencies[0], WS_DEFAULT_CURRENCY, 3);
    t->currency_lens[0] = 3;
    t->currency_count = 1;
    if (!t->entries || !t->ids || !a || !t->limits || !t->pending) {
        free(a);
        free(t->pending);
        free(t->limits);
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
    for (size_t i = 0; i < ENTRY_CHUNKS; i++) {
        free(t->limits[i]);
        free(atomic_load_explicit(&t->pending[i], memory_order_relaxed));
    }
    free(t->limits);
    free(t->pending);
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

static ws_status set_params(ws_accounts *t, uint32_t n, entry *e, const ws_account_params *p);

ws_account_params ws_account_params_default(void) {
    ws_account_params p = {.currency_len = 3, .overdraft = 0, .max_balance = WS_AMOUNT_MAX};
    memcpy(p.currency, WS_DEFAULT_CURRENCY, 3);
    return p;
}

bool ws_account_params_is_default(const ws_account_params *p) {
    return p->currency_len == 3 && memcmp(p->currency, WS_DEFAULT_CURRENCY, 3) == 0 &&
           p->overdraft == 0 && p->max_balance == WS_AMOUNT_MAX;
}

ws_status ws_accounts_set_params(ws_accounts *t, uint32_t index, const ws_account_params *params) {
    WS_ASSERT(index < t->count);
    return set_params(t, index, entry_at(t, index), params);
}

int ws_accounts_currency_find(const ws_accounts *t, const char *code, size_t len) {
    for (unsigned i = 0; i < t->currency_count; i++) {
        if (t->currency_lens[i] == len && memcmp(t->currencies[i], code, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

unsigned ws_accounts_currency_count(const ws_accounts *t) { return t->currency_count; }

/* Sets e's currency and limits from p (valid), adding the currency to the list if new. */
static ws_status set_params(ws_accounts *t, uint32_t n, entry *e, const ws_account_params *p) {
    int cur = ws_accounts_currency_find(t, p->currency, p->currency_len);
    if (cur < 0) {
        if (t->currency_count == WS_CURRENCIES_MAX) {
            return WS_TOO_MANY_CURRENCIES;
        }
        cur = (int)t->currency_count;
        memcpy(t->currencies[cur], p->currency, p->currency_len);
        t->currency_lens[cur] = p->currency_len;
        t->currency_count++; /* readers reach it only through an account published later */
    }
    e->currency = (uint8_t)cur;
    acct_limits **chunk = &t->limits[n >> ENTRY_CHUNK_BITS];
    if (p->overdraft == 0 && p->max_balance == WS_AMOUNT_MAX) {
        if (*chunk) {
            (*chunk)[n & (ENTRY_CHUNK - 1)] = (acct_limits){0, 0};
        }
        return WS_OK;
    }
    if (*chunk == NULL) {
        /* calloc: the pages of accounts without limits are never written, so stay out of the
         * resident set. */
        *chunk = calloc(ENTRY_CHUNK, sizeof(acct_limits));
        if (*chunk == NULL) {
            return WS_INTERNAL;
        }
        t->bytes += ENTRY_CHUNK * sizeof(acct_limits);
    }
    (*chunk)[n & (ENTRY_CHUNK - 1)] = (acct_limits){p->overdraft, WS_AMOUNT_MAX - p->max_balance};
    return WS_OK;
}

ws_status ws_accounts_insert(ws_accounts *t, const char *id, size_t len, int64_t balance,
                             const ws_account_params *params, uint32_t *index) {
    WS_ASSERT(len > 0 && len <= UINT8_MAX && balance != UNPUBLISHED);
    ws_account_params dflt;
    if (!params) {
        dflt = ws_account_params_default();
        params = &dflt;
    }
    WS_ASSERT(ws_currency_valid(params->currency, params->currency_len) &&
              params->overdraft <= WS_AMOUNT_MAX && params->max_balance <= WS_AMOUNT_MAX);
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
    ws_status ps = set_params(t, n, e, params);
    if (ps != WS_OK) {
        return ps;
    }
    if (!store_id(t, id, len, e)) {
        return WS_INTERNAL;
    }
    e->balance = balance;
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

int64_t ws_accounts_balance(const ws_accounts *t, uint32_t index) {
    WS_ASSERT(index < t->count);
    return entry_at(t, index)->balance;
}

void ws_accounts_set_balance(ws_accounts *t, uint32_t index, int64_t balance) {
    WS_ASSERT(index < t->count && balance != UNPUBLISHED);
    entry_at(t, index)->balance = balance;
}

unsigned ws_accounts_currency(const ws_accounts *t, uint32_t index) {
    return entry_at(t, index)->currency;
}

static const acct_limits *limits_at(const ws_accounts *t, uint32_t index) {
    const acct_limits *chunk = t->limits[index >> ENTRY_CHUNK_BITS];
    return chunk ? &chunk[index & (ENTRY_CHUNK - 1)] : NULL;
}

uint64_t ws_accounts_overdraft(const ws_accounts *t, uint32_t index) {
    const acct_limits *l = limits_at(t, index);
    return l ? l->overdraft : 0;
}

uint64_t ws_accounts_max_balance(const ws_accounts *t, uint32_t index) {
    const acct_limits *l = limits_at(t, index);
    return WS_AMOUNT_MAX - (l ? l->max_gap : 0);
}

const char *ws_accounts_currency_code(const ws_accounts *t, unsigned i, uint8_t *len) {
    WS_ASSERT(i < WS_CURRENCIES_MAX);
    *len = t->currency_lens[i];
    return t->currencies[i];
}

void ws_accounts_params(const ws_accounts *t, uint32_t index, ws_account_params *out) {
    uint8_t len;
    const char *code = ws_accounts_currency_code(t, ws_accounts_currency(t, index), &len);
    *out = (ws_account_params){.currency_len = len,
                               .overdraft = ws_accounts_overdraft(t, index),
                               .max_balance = ws_accounts_max_balance(t, index)};
    memcpy(out->currency, code, len);
}

static acct_pending *pending_chunk(const ws_accounts *t, uint32_t index) {
    return atomic_load_explicit(&t->pending[index >> ENTRY_CHUNK_BITS], memory_order_acquire);
}

uint64_t ws_accounts_pending_debits(const ws_accounts *t, uint32_t index) {
    WS_ASSERT(index < t->count);
    const acct_pending *c = pending_chunk(t, index);
    return c ? c[index & (ENTRY_CHUNK - 1)].debits : 0;
}

uint64_t ws_accounts_pending_credits(const ws_accounts *t, uint32_t index) {
    WS_ASSERT(index < t->count);
    const acct_pending *c = pending_chunk(t, index);
    return c ? c[index & (ENTRY_CHUNK - 1)].credits : 0;
}

ws_status ws_accounts_reserve_pending(ws_accounts *t, uint32_t index) {
    WS_ASSERT(index < t->count);
    if (pending_chunk(t, index)) {
        return WS_OK;
    }
    /* zeroed: every account of the chunk has no pending totals, committed or not */
    acct_pending *c = calloc(ENTRY_CHUNK, sizeof(acct_pending));
    if (!c) {
        return WS_INTERNAL;
    }
    t->bytes += ENTRY_CHUNK * sizeof(acct_pending);
    atomic_store_explicit(&t->pending[index >> ENTRY_CHUNK_BITS], c, memory_order_release);
    return WS_OK;
}

void ws_accounts_set_pending(ws_accounts *t, uint32_t index, uint64_t debits, uint64_t credits) {
    acct_pending *c = pending_chunk(t, index);
    WS_ASSERT(index < t->count && (c || (debits == 0 && credits == 0)));
    if (c) {
        c[index & (ENTRY_CHUNK - 1)].debits = debits;
        c[index & (ENTRY_CHUNK - 1)].credits = credits;
    }
}

void ws_accounts_publish(ws_accounts *t, uint32_t index) {
    WS_ASSERT(index < t->count);
    entry *e = entry_at(t, index);
    acct_pending *c = pending_chunk(t, index);
    if (!c) {
        atomic_store_explicit(&e->committed, e->balance, memory_order_release);
        return;
    }
    acct_pending *p = &c[index & (ENTRY_CHUNK - 1)];
    uint32_t seq = atomic_load_explicit(&p->seq, memory_order_relaxed);
    atomic_store_explicit(&p->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&p->c_debits, p->debits, memory_order_relaxed);
    atomic_store_explicit(&p->c_credits, p->credits, memory_order_relaxed);
    atomic_store_explicit(&e->committed, e->balance, memory_order_release);
    atomic_store_explicit(&p->seq, seq + 2, memory_order_release);
}

void ws_accounts_read_totals(const ws_accounts *t, uint32_t index, int64_t *balance,
                             uint64_t *pending_debits, uint64_t *pending_credits) {
    const entry *e = entry_at(t, index);
    const acct_pending *c = pending_chunk(t, index);
    if (!c) {
        *balance = atomic_load_explicit(&e->committed, memory_order_acquire);
        /* A chunk stored before the balance was published holds totals as new as it. */
        c = pending_chunk(t, index);
        if (!c) {
            *pending_debits = *pending_credits = 0;
            return;
        }
    }
    const acct_pending *p = &c[index & (ENTRY_CHUNK - 1)];
    /* The owner holds the lock for a few stores once a batch: the retries are few. */
    for (;;) {
        uint32_t s1 = atomic_load_explicit(&p->seq, memory_order_acquire);
        if (s1 & 1) {
            continue;
        }
        *pending_debits = atomic_load_explicit(&p->c_debits, memory_order_relaxed);
        *pending_credits = atomic_load_explicit(&p->c_credits, memory_order_relaxed);
        *balance = atomic_load_explicit(&e->committed, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&p->seq, memory_order_relaxed) == s1) {
            return;
        }
    }
}

size_t ws_accounts_count(const ws_accounts *t) { return t->count; }

size_t ws_accounts_bytes(const ws_accounts *t) {
    return t->bytes +
           ENTRY_CHUNKS * (sizeof(entry *) + sizeof(acct_limits *) + sizeof(t->pending[0])) +
           ID_CHUNKS * sizeof(char *);
}

bool ws_accounts_read(const ws_accounts *t, const char *id, size_t len, int64_t *balance) {
    uint32_t index = lookup(t, id, len);
    if (index == WS_ACCOUNT_NONE) {
        return false;
    }
    int64_t v = atomic_load_explicit(&entry_at(t, index)->committed, memory_order_acquire);
    if (v == UNPUBLISHED) {
        return false;
    }
    *balance = v;
    return true;
}

int64_t ws_accounts_read_balance(const ws_accounts *t, uint32_t index) {
    return atomic_load_explicit(&entry_at(t, index)->committed, memory_order_acquire);
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
