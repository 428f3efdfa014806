/* The account table: ID -> account, written by one owner (the writer) and read at the same
 * time by any number of readers (the I/O threads answering get_balance, the checkpointer).
 *
 * An account has two balances. `balance` is the owner's working value: it already holds
 * the effects of a batch that is not yet synced, and only the owner reads it. `committed`
 * is what readers see: the owner copies balance into it (ws_accounts_publish) once the
 * batch that made it is durable. A new account is invisible to readers until its first
 * publish, so nothing unsynced is ever visible.
 *
 * How readers and the owner share the table without a lock:
 *   - Accounts are numbered in creation order (their index, from 0) and never deleted or
 *     moved: entries and ID bytes live in fixed chunks that are never reallocated, so a
 *     pointer to an entry or an ID stays valid for the table's life. An entry's ID and
 *     index are written before the slot that points at it is published (release) and never
 *     change after.
 *   - The hash index is an open-addressing array of 64-bit slots (entry index + 1 and a
 *     32-bit hash), each written with one atomic store. When it grows the owner builds a
 *     new array, publishes it with one atomic pointer store and hands the old one to the
 *     retire hook: readers that started on the old array may still be probing it, so the
 *     owner must free it only once no reader can hold it (an epoch scheme in the engine;
 *     without a hook the old array is freed at once, for single-threaded use).
 *   - committed is an atomic 64-bit value; UINT64_MAX means "not yet published".
 * IDs are client-chosen, so the hash is SipHash under a key drawn when the table is made.
 *
 * Memory: an 8-byte slot (at most 70% full), a 24-byte entry and the ID bytes an account:
 * about 71 bytes for a 36-byte ID at 1,000,000 accounts. */
#ifndef WS_CORE_ACCOUNTS_H
#define WS_CORE_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/assert.h"
#include "core/status.h"

typedef struct ws_accounts ws_accounts;

/* An account's index, 0 for the first account created. */
#define WS_ACCOUNT_NONE UINT32_MAX
#define WS_ACCOUNTS_MAX (1u << 28) /* 268 million: the entry directory's size */

/* Owner's thread. NULL on out of memory. */
WS_MUST_USE ws_accounts *ws_accounts_new(void);
/* For tests: a table that hashes with the given function (e.g. a constant, so that every
 * ID collides). */
WS_MUST_USE ws_accounts *ws_accounts_new_with_hash(uint32_t (*hash)(const char *id, size_t len));
/* Frees the table; no reader may be inside it. Slot arrays already handed to the retire
 * hook are the hook's to free. */
void ws_accounts_free(ws_accounts *t);
/* Hands replaced slot arrays to retire(ctx, p) instead of freeing them; retire must free(p)
 * once no reader can still be reading it. */
void ws_accounts_set_retire(ws_accounts *t, void (*retire)(void *ctx, void *p), void *ctx);

/* ---- the owner (one thread) ---------------------------------------------------------- */

/* The index of id, published or not; WS_ACCOUNT_NONE if absent. */
uint32_t ws_accounts_find(const ws_accounts *t, const char *id, size_t len);
/* Inserts id (absent) with balance, unpublished; its index is the count before the call.
 * WS_INTERNAL on out of memory or past WS_ACCOUNTS_MAX. */
WS_MUST_USE ws_status ws_accounts_insert(ws_accounts *t, const char *id, size_t len,
                                         uint64_t balance, uint32_t *index);
uint64_t ws_accounts_balance(const ws_accounts *t, uint32_t index);
void ws_accounts_set_balance(ws_accounts *t, uint32_t index, uint64_t balance);
/* Makes the working balance of index the one readers see (and the account visible). */
void ws_accounts_publish(ws_accounts *t, uint32_t index);
/* Accounts inserted, published or not. */
size_t ws_accounts_count(const ws_accounts *t);
/* Bytes held by the table: slots, entry chunks, ID chunks. */
size_t ws_accounts_bytes(const ws_accounts *t);

/* ---- readers (any thread, concurrently with the owner) ------------------------------ */

/* The committed balance of id; false if absent or not yet published. */
bool ws_accounts_read(const ws_accounts *t, const char *id, size_t len, uint64_t *balance);
/* The index of a published account; WS_ACCOUNT_NONE if absent or unpublished. */
uint32_t ws_accounts_read_index(const ws_accounts *t, const char *id, size_t len);
/* The ID of an account a reader knows exists (by its index): valid for the table's life.
 * Also the owner's. */
const char *ws_accounts_id(const ws_accounts *t, uint32_t index, uint8_t *len);

#endif
