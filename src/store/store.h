/* The store: everything that touches RocksDB, behind one small interface.
 *
 * Key layout (one column family; the first byte names the kind):
 *   'a' id                      -> u64le balance                 (the projection)
 *   'e' be64(seq)               -> event record (core/event.h)   (the log, in order)
 *   'x' id 0x00 be64(seq)       -> empty                         (per-account event index)
 *   't' transactionID           -> transfer record               (idempotency)
 *   'm'                         -> meta: format, next_seq, account_count, total money
 * Every write goes through one store_batch committed by store_commit with sync=true, so a
 * batch is either wholly on disk or not at all.
 *
 * Threads: the read functions may be called from any thread at once. A store_batch belongs
 * to one thread (the writer); store_commit is called from that thread only. */
#ifndef WS_STORE_STORE_H
#define WS_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/event.h"
#include "core/parse.h"
#include "core/status.h"

typedef struct store store;
typedef struct store_batch store_batch;

typedef struct {
    uint64_t next_seq; /* the seq the next event gets; 1 on an empty store */
    uint64_t account_count;
    ws_u128 total_money; /* sum of every start amount ever created == sum of balances */
} store_meta;

/* Opens (creating if needed, unless read_only) the database in dir. read_only opens
 * without taking the lock, for --verify beside a running service. */
WS_MUST_USE ws_status store_open(const char *dir, bool read_only, store **out);
void store_close(store *st);

/* Reads. WS_ACCOUNT_NOT_FOUND / WS_NOT_FOUND when absent, WS_UNAVAILABLE on I/O failure,
 * WS_CORRUPT on a record that fails its checks. */
WS_MUST_USE ws_status store_get_balance(store *st, const char *id, size_t len, uint64_t *out);
WS_MUST_USE ws_status store_get_transfer(store *st, const char *id, size_t len,
                                         ws_transfer_record *out);
WS_MUST_USE ws_status store_get_meta(store *st, store_meta *out);

/* Calls fn for each event with seq > after, oldest first, at most limit events, only those
 * of account acct if acct_len > 0. Sets *more if further events exist past the last one
 * given. fn returning anything but WS_OK stops the scan and is returned. */
typedef ws_status (*store_event_fn)(void *ctx, const ws_event *e);
WS_MUST_USE ws_status store_scan_events(store *st, uint64_t after, size_t limit, const char *acct,
                                        size_t acct_len, store_event_fn fn, void *ctx, bool *more);

/* Calls fn for every account, in key order. */
typedef ws_status (*store_account_fn)(void *ctx, const char *id, size_t len, uint64_t balance);
WS_MUST_USE ws_status store_scan_accounts(store *st, store_account_fn fn, void *ctx);

/* The seq of the newest event, 0 if the log is empty. */
WS_MUST_USE ws_status store_last_seq(store *st, uint64_t *out);

/* Batches: built by the writer, committed whole. */
WS_MUST_USE store_batch *store_batch_new(void); /* NULL on out of memory */
void store_batch_free(store_batch *b);
void store_batch_clear(store_batch *b);
size_t store_batch_count(const store_batch *b);
void store_batch_put_account(store_batch *b, const char *id, size_t len, uint64_t balance);
void store_batch_put_event(store_batch *b, const ws_event *e); /* also its index entry */
void store_batch_put_transfer(store_batch *b, const char *id, size_t len,
                              const ws_transfer_record *r);
void store_batch_put_meta(store_batch *b, const store_meta *m);

/* Writes b atomically with sync=true. WS_UNAVAILABLE if RocksDB reports any failure; the
 * caller must then treat the store as failed (nothing is retried here). */
WS_MUST_USE ws_status store_commit(store *st, store_batch *b);

/* Offline audit: replays the whole event log and checks it against every stored balance,
 * the per-account index, the idempotency records and the meta. Prints a summary (and the
 * first problems found) to out. WS_OK if all is consistent, WS_CORRUPT otherwise. */
typedef struct {
    uint64_t events;
    uint64_t accounts;
    uint64_t transfers;
    uint64_t problems;
} store_verify_report;
WS_MUST_USE ws_status store_verify(store *st, FILE *out, store_verify_report *report);

#endif
