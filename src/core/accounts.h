/* The writer's in-memory account table: ID -> balance, open addressing with linear
 * probing, hashed with SipHash under a random key drawn when the table is made (IDs are
 * client-chosen: an unkeyed hash would let a client pile them into one probe run). An 8-byte
 * slot points at a 16-byte entry (balance and ID position); IDs are copied into one growing
 * buffer, so inserting an account does not allocate per account. About 32 bytes plus the ID
 * per account. Not thread-safe: one owner (the writer). */
#ifndef WS_CORE_ACCOUNTS_H
#define WS_CORE_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/assert.h"
#include "core/status.h"

typedef struct ws_accounts ws_accounts;

WS_MUST_USE ws_accounts *ws_accounts_new(void); /* NULL on out of memory */
/* For tests: a table that hashes with the given function instead (e.g. a constant, so that
 * every ID collides). */
WS_MUST_USE ws_accounts *ws_accounts_new_with_hash(uint32_t (*hash)(const char *id, size_t len));
void ws_accounts_free(ws_accounts *t);

/* Returns a pointer to the balance of id, or NULL if absent. The pointer stays valid until
 * the next insert. */
uint64_t *ws_accounts_find(ws_accounts *t, const char *id, size_t len);

/* Inserts id with balance; id must be absent. WS_INTERNAL on out of memory. */
WS_MUST_USE ws_status ws_accounts_insert(ws_accounts *t, const char *id, size_t len,
                                         uint64_t balance);

size_t ws_accounts_count(const ws_accounts *t);
/* Bytes held by the table and its arena. */
size_t ws_accounts_bytes(const ws_accounts *t);

#endif
