/* The idempotency index: every transactionID the log holds (every Transfer and every
 * TransferRefused record), as a 64-bit keyed fingerprint and the lsn of its record. A lookup
 * of a transactionID never seen costs a few memory probes and no storage read; a fingerprint
 * that matches names the record to read from the log and compare, so a collision (2^-64
 * per probe under a secret key) costs one read and is never mistaken for a match.
 *
 * The table is derived from the log alone: replaying the records rebuilds it exactly, and
 * the checkpoint stores its entries so that a start does not replay the whole history.
 *
 * Memory: 16 bytes an entry in an array kept between 37.5% and 75% full, so 21 to 43 bytes
 * (about 28 on average) per transfer ever made, and for a while after each doubling the old
 * array too. Growing never stops the writer: the entries move a few at each add. One owner;
 * not thread-safe. */
#ifndef WS_CORE_IDEM_H
#define WS_CORE_IDEM_H

#include <stddef.h>
#include <stdint.h>

#include "core/assert.h"
#include "core/record.h"
#include "core/siphash.h"
#include "core/status.h"

typedef struct ws_idem ws_idem;

/* NULL on out of memory. */
WS_MUST_USE ws_idem *ws_idem_new(void);
void ws_idem_free(ws_idem *t);

/* The fingerprint of a transactionID under the data directory's key (kept in the log, so
 * that fingerprints stored in a checkpoint stay valid): never 0. */
uint64_t ws_idem_fp(ws_hash_key key, const char *id, size_t len);
/* The fingerprint of an Idempotency-Key: the same, under a key of its own, so that a key and
 * a transactionID that are the same string are different entries. */
uint64_t ws_idem_key_fp(ws_hash_key key, const char *id, size_t len);
/* The entry a record adds: its transactionID's fingerprint (Transfer, TransferRefused and the
 * two-phase kinds) or its key's (RequestKey). AccountCreated and an expiry add none (0). */
uint64_t ws_idem_record_fp(ws_hash_key key, const ws_record *r);

/* Adds (fp, lsn). The same fingerprint may be added more than once (different IDs that
 * collide). WS_INTERNAL on out of memory. */
WS_MUST_USE ws_status ws_idem_add(ws_idem *t, uint64_t fp, uint64_t lsn);

/* Removes the entry (fp, lsn), which must be there (the writer takes back a linked chain
 * that failed). */
void ws_idem_remove(ws_idem *t, uint64_t fp, uint64_t lsn);

/* The lsns stored under fp, in no particular order: start with *pos = 0 and call until it
 * returns 0 (no lsn is 0). The table must not change between the calls. */
uint64_t ws_idem_next(const ws_idem *t, uint64_t fp, size_t *pos);

/* A hint: the slot fp will be added at is about to be needed (the writer prefetches a few
 * commands ahead, since every add to a large table is a cache miss). Changes nothing. */
void ws_idem_prefetch(const ws_idem *t, uint64_t fp);

size_t ws_idem_count(const ws_idem *t);
size_t ws_idem_bytes(const ws_idem *t);

/* Every entry, in table order (for the checkpoint and --verify). fn returning anything but
 * WS_OK stops the walk and is returned. */
typedef ws_status (*ws_idem_fn)(void *ctx, uint64_t fp, uint64_t lsn);
WS_MUST_USE ws_status ws_idem_each(const ws_idem *t, ws_idem_fn fn, void *ctx);

#endif
