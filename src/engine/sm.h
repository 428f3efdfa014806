/* The writer's state machine: LISTEN -> VALIDATE -> APPLY -> LISTEN.
 *
 * LISTEN (in service.c) waits on the queue and drains groups (one request's commands each,
 *   never split) up to batch_max commands.
 * VALIDATE (sm_validate) decides every command of the batch in arrival order with the
 *   ledger's state machine (core/ledger.h; a linked chain of a group all-or-nothing, see
 *   decide_chain in sm.c), against the writer's state, which already holds the effects of
 *   the earlier commands of the same batch, and applies the record of each
 *   outcome that must be remembered (an account, a transfer, a refusal with a client's
 *   transferID) to that state and to the batch's log blocks. Nothing else is written.
 * APPLY (sm_apply) appends the blocks with one synced write: the log is the only thing the
 *   hot path writes. Only then does it PUBLISH: the balances the batch changed are copied
 *   to the committed view the I/O threads read, and the committed position advances (the
 *   checkpointer projects up to it). Then service.c answers the callers. If the write
 *   fails, every command of the batch is failed with WS_UNAVAILABLE, nothing is published,
 *   and the machine turns read-only for good: its working state ran ahead of the disk.
 *
 * Durability: no caller learns an outcome before the write that holds it is synced, and a
 * batch is one RocksDB write, so it is on disk whole or not at all. Nothing unsynced is
 * ever visible to a reader: reads see only published balances and the synced log.
 *
 * Start (sm_open): load the newest checkpoint, replay the log after it through the same
 * state machine, and check that the balances add up to the money created.
 *
 * Thread: everything here runs on the writer thread only (sm_open on the starting thread,
 * before the writer exists), but for sm_set_read_only and sm_read_only; sm_position may be
 * read from any thread. */
#ifndef WS_ENGINE_SM_H
#define WS_ENGINE_SM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/command.h"
#include "core/ledger.h"
#include "store/store.h"

typedef struct sm sm;

/* The committed position: every record below next_lsn (events below next_seq) is synced
 * and published. Written by the writer after each publish, read by the checkpointer. */
typedef struct {
    _Atomic uint64_t next_lsn;
    _Atomic uint64_t next_seq;
} sm_position;

/* Loads the newest checkpoint and replays the log after it. WS_CORRUPT (with a line on
 * stderr) if the data is inconsistent. batch_max bounds the commands of one sm_validate
 * (but one group may hold up to WS_GROUP_MAX whatever batch_max is). */
WS_MUST_USE ws_status sm_open(store *st, size_t batch_max, sm **out);
void sm_free(sm *m);

/* VALIDATE: first appends the expiry of the pending transfers whose time has come (the
 * clock: now_us, or the newest block's timestamp if that is later), then sets the result of
 * every command of the n groups (decided in order; a linked chain all-or-nothing); returns
 * true if anything is to be written. n may be 0: expiries only. */
bool sm_validate(sm *m, ws_group **groups, size_t n, uint64_t now_us);

/* When the next open pending transfer expires (us since the epoch); 0 if none has a
 * timeout. For the writer to wake up in time when no command comes. */
uint64_t sm_next_expiry(sm *m);

/* APPLY: commits what sm_validate staged, then publishes it. On failure sets every
 * command's status to WS_UNAVAILABLE, turns the machine read-only and returns
 * WS_UNAVAILABLE. */
WS_MUST_USE ws_status sm_apply(sm *m, ws_group **groups, size_t n);

/* Refuses every later command with WS_UNAVAILABLE (a failed checkpoint). Any thread. */
void sm_set_read_only(sm *m);
bool sm_read_only(const sm *m);

/* The account table (readers may read it concurrently) and the committed position. */
ws_accounts *sm_accounts(sm *m);
const sm_position *sm_committed(const sm *m);
/* The checkpoint the state was loaded from. */
const store_ckpt_meta *sm_loaded_checkpoint(const sm *m);
size_t sm_account_count(const sm *m);
/* The open pending transfers of the writer's state (after a successful sm_apply, those of
 * the committed state). */
uint64_t sm_pending_open(const sm *m);
/* How long the last sm_apply's synced write (store_commit) took, in ns; 0 if it wrote
 * nothing. */
uint64_t sm_last_commit_ns(const sm *m);
/* The sum of all balances as the writer sees it (for invariant checks). */
ws_u128 sm_total_money(const sm *m);

#endif
