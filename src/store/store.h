/* The store: everything that touches RocksDB, behind one small interface.
 *
 * Data format 2. A data directory holds two RocksDB databases:
 *   log/   the truth, written only by the writer, every write synced:
 *            'F'                   -> format (2) and the idempotency fingerprint key
 *            'L' be64(first lsn)   -> a block of records (core/record.h)
 *            'S' be64(first seq)   -> be64(first lsn): where the block whose first event
 *                                     is seq lies (blocks with events only)
 *   proj/  projections, derived from the log and written by the checkpointer without a
 *          write-ahead log, each checkpoint one atomic write (flushed as checkpoint.h
 *          says):
 *            'm'                   -> the checkpoint: the lsn and seq it covers up to, the
 *                                     account count, the money, the record counts
 *            'd' be32(chunk)       -> the IDs of accounts chunk*1024 .. +1023, in order
 *            'b' be32(chunk)       -> their balances as of the checkpoint
 *            'p' be32(index)       -> an account's currency and limits, for the accounts
 *                                     whose currency is not XXX or that have limits
 *            'x' id 0x00 be64(seq) -> seqs of the account's events from seq on (one
 *                                     checkpoint's worth): the per-account index
 *            'y' id 0x00 be64(seq) -> the same, of the events of its two-phase records
 *                                     only: where its pending totals changed
 *            'Q' be64(lsn)         -> the pending transfers made in one checkpoint's range,
 *                                     the first at lsn, in lsn order, as of the range's
 *                                     end: each one's lsn, status, accounts, amount,
 *                                     expiry time and the hash of its transferID
 *            'q' be64(lsn)         -> the same of one pending transfer (its TransferPending
 *                                     at lsn) resolved in a later checkpoint's range; it
 *                                     overrides the entry in its pack
 *            'i' be64(lsn) be32(n) -> idempotency fingerprints of the records from lsn on
 * Format 1 (one RocksDB database straight in the data directory: balances, events, index,
 * idempotency records and meta, all written by every commit) is migrated in place by the
 * first read-write open (store/migrate.c).
 *
 * Threads: the reads may be called from any thread at once. A store_batch belongs to one
 * thread (the writer), which alone calls store_commit; a store_ckpt to another (the
 * checkpointer), which alone calls store_ckpt_commit. */
#ifndef WS_STORE_STORE_H
#define WS_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/accounts.h"
#include "core/event.h"
#include "core/idem.h"
#include "core/parse.h"
#include "core/pending.h"
#include "core/record.h"
#include "core/siphash.h"
#include "core/status.h"

#define STORE_FORMAT 2
/* Accounts per directory and balance chunk of the checkpoint. */
#define STORE_CHUNK_ACCOUNTS 1024
/* Seqs per 'x' value: an account's events of one checkpoint are split into values of at
 * most this many. */
#define STORE_INDEX_SEQS_MAX 1024
/* Idempotency entries per 'i' value. */
#define STORE_IDEM_PART_MAX 65536
/* Pending transfers per 'Q' value. */
#define STORE_PENDING_PACK_MAX 4096

typedef struct store store;
typedef struct store_batch store_batch;
typedef struct store_ckpt store_ckpt;

/* Opens the data directory dir, creating it (unless read_only) or migrating a format-1
 * one in place (unless read_only). read_only opens without taking the locks, for --verify
 * beside a running service; it refuses a format-1 directory with WS_INVALID_PARAMETER and a
 * message saying how to migrate. Other failures print why on stderr. */
WS_MUST_USE ws_status store_open(const char *dir, bool read_only, store **out);
/* Flushes (unless read-only or failed) and closes. */
void store_close(store *st);

/* The data directory's idempotency fingerprint key, made when the log was created. */
ws_hash_key store_fp_key(const store *st);

/* ---- the log: written by the writer ------------------------------------------------ */

WS_MUST_USE store_batch *store_batch_new(void); /* NULL on out of memory */
void store_batch_free(store_batch *b);
/* Starts the records of one group commit; first_lsn and first_seq are the ledger's next. */
void store_batch_begin(store_batch *b, uint64_t first_lsn, uint64_t first_seq,
                       uint64_t timestamp_us);
/* Appends r, the next record (blocks of WS_BLOCK_RECORDS_MAX are cut as it fills). */
void store_batch_add(store_batch *b, const ws_record *r);
/* Records added since store_batch_begin. */
size_t store_batch_count(const store_batch *b);
/* Writes the batch's blocks and their 'S' entries in one synced write, then empties b.
 * WS_UNAVAILABLE if RocksDB reports any failure; the caller must then treat the store as
 * failed (nothing is retried here). A batch with no record writes nothing. */
WS_MUST_USE ws_status store_commit(store *st, store_batch *b);

/* ---- the log: reads, any thread -------------------------------------------------- */

/* The record numbered lsn. WS_NOT_FOUND if the log has no such record. */
WS_MUST_USE ws_status store_read_record(store *st, uint64_t lsn, ws_record *out);

/* Calls fn for every record from lsn from_lsn to the end of the log, in order, with its
 * first seq and its block's timestamp. Stops at fn's first status other than WS_OK and
 * returns it. WS_CORRUPT if a block fails its checks or the numbering has a gap. */
typedef ws_status (*store_record_fn)(void *ctx, const ws_record *r, uint64_t lsn, uint64_t seq,
                                     uint64_t timestamp_us);
WS_MUST_USE ws_status store_scan_log(store *st, uint64_t from_lsn, store_record_fn fn, void *ctx);

/* The next lsn and seq after the newest block: (1, 1) on an empty log; and the newest
 * block's timestamp (0 on an empty log) if timestamp_us is not NULL. */
WS_MUST_USE ws_status store_log_end(store *st, uint64_t *next_lsn, uint64_t *next_seq,
                                    uint64_t *timestamp_us);

/* Calls fn for each event with seq > after, oldest first, at most limit events, only those
 * of account acct if acct_len > 0 (from the per-account index of the newest checkpoint and
 * the log after it). Sets *more if further events exist past the last one given. fn
 * returning anything but WS_OK stops the scan and is returned. */
typedef ws_status (*store_event_fn)(void *ctx, const ws_event *e);
WS_MUST_USE ws_status store_scan_events(store *st, uint64_t after, size_t limit, const char *acct,
                                        size_t acct_len, store_event_fn fn, void *ctx, bool *more);

/* ---- an account's history ------------------------------------------------------------- */

/* The events with lo <= seq < hi, oldest first or (reverse) newest first, at most limit;
 * only those of two-phase records if two_phase (where the account's pending totals
 * changed). */
typedef struct {
    uint64_t lo;
    uint64_t hi;
    size_t limit;
    bool reverse;
    bool two_phase;
} store_range;

/* Calls fn for account acct's events in r (from the per-account index of the newest
 * checkpoint and the log after it, in either direction). Sets *more if further events of
 * the range exist past the last one given. */
WS_MUST_USE ws_status store_scan_account(store *st, const char *acct, size_t len,
                                         const store_range *r, store_event_fn fn, void *ctx,
                                         bool *more);

/* The account's newest event with seq below `below` (of a two-phase record, if two_phase):
 * *found false if it has none. */
WS_MUST_USE ws_status store_account_last(store *st, const char *acct, size_t len, uint64_t below,
                                         bool two_phase, ws_event *out, bool *found);

/* The first seq whose event is later than t_us, the log's next seq if none is: the events
 * at or before t_us are those below it. A binary search over the log's blocks (each probe
 * one 'S' seek and one block read), which needs their timestamps not to decrease: the
 * writer keeps its clock monotonic. */
WS_MUST_USE ws_status store_seq_after_time(store *st, uint64_t t_us, uint64_t *out);

/* ---- the checkpoint ----------------------------------------------------------------- */

typedef struct {
    uint64_t next_lsn; /* covers the records before it; 1: no checkpoint yet */
    uint64_t next_seq;
    uint64_t account_count;
    ws_u128 total_money;
    uint64_t transfers;
    uint64_t refusals;
} store_ckpt_meta;

/* The newest complete checkpoint, or the empty one (next_lsn = next_seq = 1). */
WS_MUST_USE ws_status store_ckpt_meta_get(store *st, store_ckpt_meta *out);

/* Loading a checkpoint: every account below count with its balance, in index order; then
 * every idempotency entry. */
typedef ws_status (*store_account_fn)(void *ctx, uint32_t index, const char *id, size_t len,
                                      int64_t balance);
WS_MUST_USE ws_status store_ckpt_load_accounts(store *st, uint64_t count, store_account_fn fn,
                                               void *ctx);
/* Then the parameters of every account that has other than the defaults, by index. */
typedef ws_status (*store_params_fn)(void *ctx, uint32_t index, const ws_account_params *p);
WS_MUST_USE ws_status store_ckpt_load_params(store *st, store_params_fn fn, void *ctx);
WS_MUST_USE ws_status store_ckpt_load_idem(store *st, ws_idem_fn fn, void *ctx);
/* Then every pending transfer the log held up to the checkpoint, in lsn order. */
typedef ws_status (*store_pending_fn)(void *ctx, const ws_pending_entry *e);
WS_MUST_USE ws_status store_ckpt_load_pending(store *st, store_pending_fn fn, void *ctx);

/* The balances of one chunk in the newest checkpoint (n = 0 if it has none yet), for the
 * checkpointer to patch. out holds STORE_CHUNK_ACCOUNTS values. */
WS_MUST_USE ws_status store_ckpt_balances(store *st, uint32_t chunk, int64_t *out, size_t *n);

/* Building a checkpoint: the puts are staged, then written in one write without a
 * write-ahead log and flushed. */
WS_MUST_USE store_ckpt *store_ckpt_new(void);
void store_ckpt_free(store_ckpt *c);
void store_ckpt_put_directory(store_ckpt *c, uint32_t chunk, const char *const *ids,
                              const uint8_t *lens, size_t n);
void store_ckpt_put_balances(store_ckpt *c, uint32_t chunk, const int64_t *balances, size_t n);
/* The parameters of an account created in the checkpoint's range, if not the defaults. */
void store_ckpt_put_params(store_ckpt *c, uint32_t index, const ws_account_params *a);
/* The two per-account indexes: every event of the account ('x'), and only the events of its
 * two-phase records ('y': where its pending totals changed). */
typedef enum { STORE_INDEX_EVENTS = 'x', STORE_INDEX_TWO_PHASE = 'y' } store_index;
/* The seqs (ascending, all > any earlier checkpoint's for this account) of id's events in
 * index ix; split into values of STORE_INDEX_SEQS_MAX. */
void store_ckpt_put_index(store_ckpt *c, store_index ix, const char *id, size_t len,
                          const uint64_t *seqs, size_t n);
/* Idempotency entries of the records from first_lsn on (at most STORE_IDEM_PART_MAX per
 * part; part numbers from 0). */
void store_ckpt_put_idem(store_ckpt *c, uint64_t first_lsn, uint32_t part, const uint64_t *fp,
                         const uint64_t *lsn, size_t n);
/* The pending transfers made in the checkpoint's range, as of its end: n (at most
 * STORE_PENDING_PACK_MAX) in ascending lsn order, one 'Q' value. */
void store_ckpt_put_pending_pack(store_ckpt *c, const ws_pending_entry *e, size_t n);
/* A pending transfer made before the checkpoint's range and resolved in it, as of its end
 * (a later put of the same lsn in one checkpoint replaces an earlier one). */
void store_ckpt_put_pending(store_ckpt *c, const ws_pending_entry *e);
void store_ckpt_put_meta(store_ckpt *c, const store_ckpt_meta *m);
/* Writes c in one write without a write-ahead log: the checkpoint is the newest for every
 * read of this store once this returns WS_OK, and durable once the projection is flushed
 * (store_ckpt_flush, RocksDB's own flush of a full memtable, or the close). A crash before
 * that leaves an older checkpoint whole, never part of one (a write is never split between
 * flushes). Empties c either way. WS_UNAVAILABLE on failure. */
WS_MUST_USE ws_status store_ckpt_write(store *st, store_ckpt *c);
/* Makes every checkpoint written so far durable. WS_UNAVAILABLE on failure. */
WS_MUST_USE ws_status store_ckpt_flush(store *st);
/* store_ckpt_write, then store_ckpt_flush. */
WS_MUST_USE ws_status store_ckpt_commit(store *st, store_ckpt *c);

/* ---- the audit ---------------------------------------------------------------------- */

/* Where the long operations (--verify's replay, the format-1 migration) show their progress
 * (done, rate, time left), rewritten in place: a terminal, or NULL (the default) for none.
 * Main thread, before any store_open. */
void store_set_progress(FILE *out);

/* Offline audit: replays the whole log from empty through the ledger's state machine and
 * checks the log's own structure, then the newest checkpoint against the replay (every
 * account, balance, index entry and idempotency entry). Prints a summary (and the first
 * problems found) to out. WS_OK if all is consistent, WS_CORRUPT otherwise. */
typedef struct {
    uint64_t records;
    uint64_t events;
    uint64_t accounts;
    uint64_t transfers;
    uint64_t refusals;
    uint64_t problems;
} store_verify_report;
WS_MUST_USE ws_status store_verify(store *st, FILE *out, store_verify_report *report);

#endif
