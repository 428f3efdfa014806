/* The writer's state machine: LISTEN -> VALIDATE -> APPLY -> LISTEN.
 *
 * LISTEN (in service.c) waits on the queue and drains up to batch_max commands.
 * VALIDATE (sm_validate) decides every command of the batch in arrival order against the
 *   writer-owned state, which already includes the effects of the earlier commands of the
 *   same batch, and stages the writes of the accepted ones into one store batch. Rejected
 *   commands stage nothing (except the idempotency record of a transfer whose client chose
 *   its transferID, so that a retry gets the same answer).
 * APPLY (sm_apply) writes the staged batch with one synced RocksDB write. Only then are
 *   the callers answered (by service.c). If the write fails, every command of the batch is
 *   failed with WS_UNAVAILABLE and the machine turns read-only for good: its in-memory
 *   state ran ahead of the disk and can no longer be trusted.
 *
 * Durability: no caller learns an outcome before the batch that holds it is synced, and a
 * batch is one WriteBatch, so it is on disk whole or not at all.
 *
 * Thread: everything here runs on the writer thread only (sm_open on the starting thread,
 * before the writer exists). */
#ifndef WS_ENGINE_SM_H
#define WS_ENGINE_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/command.h"
#include "store/store.h"

typedef struct sm sm;

/* Loads every account into memory and checks the data is consistent: the sum of balances
 * equals the money ever created, the account count and the newest event's seq agree with
 * the meta. WS_CORRUPT (with a line on stderr) if not. batch_max bounds sm_validate's n. */
WS_MUST_USE ws_status sm_open(store *st, size_t batch_max, sm **out);
void sm_free(sm *m);

/* VALIDATE: sets the result of every command; returns true if anything was staged. */
bool sm_validate(sm *m, ws_command **cmds, size_t n, uint64_t now_us);

/* APPLY: commits what sm_validate staged. On failure sets every command's status to
 * WS_UNAVAILABLE, turns the machine read-only and returns WS_UNAVAILABLE. */
WS_MUST_USE ws_status sm_apply(sm *m, ws_command **cmds, size_t n);

bool sm_read_only(const sm *m);
size_t sm_account_count(const sm *m);
/* The sum of all balances as the writer sees it (for invariant checks). */
ws_u128 sm_total_money(const sm *m);

#endif
