/* The checkpointer: a thread that projects the committed log into the checkpoint, behind
 * the writer and off its path.
 *
 * Each checkpoint covers the records from the previous one's next_lsn up to the committed
 * position of the moment it starts (sm_position). It reads those records back from the log
 * and writes, in one write of the projection database (store_ckpt_*):
 * the IDs of the accounts created, the balances as of its last record of every account
 * those records touched (the other balances of each chunk are the previous checkpoint's),
 * the per-account index of their events, their idempotency fingerprints, and the meta that
 * names the lsn covered. It runs every interval_ms while there is something new, at once
 * when the log has grown by records_max records past the newest checkpoint, and a last time
 * when it is stopped, so that a start after a clean stop replays nothing.
 *
 * A checkpoint is flushed (made durable) only once the checkpoints written since the last
 * flush cover flush_records records, and at the stop; RocksDB also flushes on its own when
 * the projection's memtable fills. Flushing every checkpoint made one small file a second,
 * each spanning every account's index keys, and compacting them into the first level
 * rewrote that whole level every few seconds: under the transfer load this took a sixth of
 * the service's CPU after a minute and more the longer it ran (docs/design.md). So a start
 * after a crash replays up to flush_records records more than the newest checkpoint's lag.
 *
 * Nothing depends on a checkpoint for correctness: a start loads the newest complete one
 * and replays the log after it. A failed checkpoint write turns the service read-only
 * (through on_failure), as a failed commit does: the disk is failing.
 *
 * Threads: ckpt_start, ckpt_stop and ckpt_free on the main thread; ckpt_poke from the
 * writer. */
#ifndef WS_ENGINE_CHECKPOINT_H
#define WS_ENGINE_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/epoch.h"
#include "engine/sm.h"
#include "store/store.h"

#define CKPT_INTERVAL_MS_DEFAULT 1000
#define CKPT_INTERVAL_MS_MIN 10
#define CKPT_INTERVAL_MS_MAX 3600000
#define CKPT_RECORDS_MAX (1u << 18)
#define CKPT_FLUSH_RECORDS_DEFAULT CKPT_RECORDS_MAX

typedef struct ckpt ckpt;

typedef struct {
    store *st;
    const ws_accounts *accounts; /* read as a reader, inside the epoch */
    epoch *epoch;
    const sm_position *committed;
    store_ckpt_meta from; /* the checkpoint the state was loaded from */
    uint64_t interval_ms;
    uint64_t flush_records; /* 0: CKPT_FLUSH_RECORDS_DEFAULT */
    void (*on_failure)(void *ctx);
    void *ctx;
} ckpt_config;

/* Starts the thread. WS_INTERNAL on failure. */
WS_MUST_USE ws_status ckpt_start(const ckpt_config *cfg, ckpt **out);
/* Writer: the committed position moved to next_lsn; wakes the thread when the log has grown
 * by CKPT_RECORDS_MAX records past the newest checkpoint. Cheap otherwise. */
void ckpt_poke(ckpt *c, uint64_t next_lsn);
/* Makes a last checkpoint up to the committed position (call once the writer has stopped)
 * and joins the thread. */
void ckpt_stop(ckpt *c);
void ckpt_free(ckpt *c);

/* Checkpoints written, and the lsn the newest covers up to. */
uint64_t ckpt_count(ckpt *c);
/* The longest checkpoint and all of them together, from its scan to its write (and its
 * flush, when it made one), in us. */
uint64_t ckpt_us_max(ckpt *c);
uint64_t ckpt_us_total(ckpt *c);
uint64_t ckpt_next_lsn(ckpt *c);
/* The lsn the newest flushed checkpoint covers up to (+1), and the flushes made: a start
 * after a crash replays the log from there at most. */
uint64_t ckpt_durable_lsn(ckpt *c);
uint64_t ckpt_flushes(ckpt *c);

#endif
