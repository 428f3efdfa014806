/* The pending transfers: every TransferPending the log holds, by its lsn, with what became
 * of it (open, posted, voided, expired), and the open ones that have a timeout in the order
 * they expire. The ledger's (core/ledger.h): one owner, no concurrent readers.
 *
 * Entries live in one dense array in lsn order; a hash index finds one by lsn and a binary
 * min-heap of (expires_us, lsn) gives the next to expire. The heap is cleaned lazily: an
 * entry posted or voided stays in it until it reaches the top and is dropped there, so
 * resolving a pending transfer costs nothing here but its status.
 *
 * Memory: a 48-byte entry, an 8-byte slot (at most half full) and a 16-byte heap item: about
 * 80 bytes a pending transfer ever made. */
#ifndef WS_CORE_PENDING_H
#define WS_CORE_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "core/assert.h"
#include "core/status.h"

typedef enum {
    WS_PENDING_OPEN = 1,
    WS_PENDING_POSTED = 2,
    WS_PENDING_VOIDED = 3,
    WS_PENDING_EXPIRED = 4,
} ws_pending_status;

typedef struct {
    uint64_t lsn;        /* of its TransferPending record */
    uint64_t id_hash;    /* of its transferID (ws_ledger_pending_id_hash) */
    uint64_t amount;     /* reserved */
    uint64_t expires_us; /* 0: never */
    uint32_t from;       /* account indexes */
    uint32_t to;
    ws_pending_status status;
} ws_pending_entry;

typedef struct ws_pending ws_pending;

/* NULL on out of memory. */
WS_MUST_USE ws_pending *ws_pending_new(void);
void ws_pending_free(ws_pending *t);

/* Adds e, whose lsn must be above every entry's. WS_INTERNAL on out of memory (nothing
 * added). */
WS_MUST_USE ws_status ws_pending_add(ws_pending *t, const ws_pending_entry *e);
/* The entry of the TransferPending at lsn; NULL if there is none. The pointer stays valid
 * until the next add or remove. */
ws_pending_entry *ws_pending_get(ws_pending *t, uint64_t lsn);
/* Removes the newest entry, which must be at lsn (a chain taken back). */
void ws_pending_remove_last(ws_pending *t, uint64_t lsn);

/* The open entry that expires first, if it expires at or before now_us; NULL if none does.
 * It stays open: the caller expires it (sets its status), and the next call moves on. */
ws_pending_entry *ws_pending_next_expired(ws_pending *t, uint64_t now_us);

/* Entries ever added, and the i-th of them in lsn order (i < count). */
size_t ws_pending_count(const ws_pending *t);
const ws_pending_entry *ws_pending_at(const ws_pending *t, size_t i);

#endif
