/* The service: the command queue, the writer thread that runs the state machine, the
 * checkpointer thread behind it, and the committed view that readers query without a lock.
 *
 * Threads: service_start, service_stop and service_free on the main thread; service_submit,
 * service_read_only, service_metrics_read and service_reader_new from any thread; a
 * service_reader by the thread that made it. Every submitted group gets exactly one done() call, on
 * the writer thread, after its commands' outcomes are durable (or final, for refusals). */
#ifndef WS_ENGINE_SERVICE_H
#define WS_ENGINE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/command.h"
#include "engine/checkpoint.h"
#include "engine/stats.h"
#include "store/store.h"

#define SERVICE_QUEUE_MAX_DEFAULT 65536
#define SERVICE_BATCH_MAX_DEFAULT 4096
#define SERVICE_STATS_LOG_INTERVAL_MS_DEFAULT 60000
#define SERVICE_QUEUE_MAX_LIMIT (1u << 24)
#define SERVICE_BATCH_MAX_LIMIT (1u << 16)

typedef struct service service;

typedef struct {
    size_t queue_max; /* commands waiting; past it, submit is refused with WS_OVERLOADED */
    size_t batch_max; /* commands per group commit */
    uint64_t checkpoint_interval_ms; /* 0: CKPT_INTERVAL_MS_DEFAULT */
    uint64_t checkpoint_flush_records; /* 0: CKPT_FLUSH_RECORDS_DEFAULT */
    /* how often the writer logs its batch statistics while it has work (0: never) */
    uint64_t stats_log_interval_ms;
} service_config;

/* Loads the state (sm_open: the newest checkpoint and the log after it) and starts the
 * writer and the checkpointer. The store must outlive the service. */
WS_MUST_USE ws_status service_start(store *st, const service_config *cfg, service **out);

/* Queues g (1..WS_GROUP_MAX commands, decided together in one commit). WS_OK: g->done(g)
 * will be called later. WS_OVERLOADED: the queue cannot take its commands now (queue_max
 * counts commands; a group larger than queue_max waits for an empty queue). WS_UNAVAILABLE: the
 * service is stopping or read-only. On refusal done() is not called. */
WS_MUST_USE ws_status service_submit(service *svc, ws_group *g);

/* True once a commit failed; writes are refused from then on. */
bool service_read_only(service *svc);

/* Refuses new commands (service_submit answers WS_UNAVAILABLE from now on), lets the
 * writer finish and sync every queued one, joins it, then makes a last checkpoint and joins
 * the checkpointer. The service stays allocated: other threads may still call
 * service_submit and read until they are stopped too. */
void service_stop(service *svc);

/* Frees a stopped service, once no thread can call service_submit or read any more. */
void service_free(service *svc);

/* ---- metrics (GET /metrics) ----------------------------------------------------------------- */

/* What the writer counts and the state's gauges, as of one read. The writer keeps its
 * counters and histograms single-writer (engine/stats.h), so reading them takes no lock and
 * costs the writer nothing but the relaxed stores it makes anyway. */
typedef struct {
    /* Commands decided by the writer, by outcome: WS_OK and WS_CREATED for successes, a
     * refusal's code, WS_UNAVAILABLE for a command of a batch whose commit failed or that
     * arrived once the service was read-only. Commands refused before they reach the
     * writer (a full queue, a stopping service) are not counted here. */
    uint64_t commands[WS_STATUS_COUNT_];
    uint64_t replays;                    /* of those, answered with an earlier outcome */
    stats_histogram_view batch_commands; /* commands per group commit */
    stats_histogram_view commit_ns;      /* each group commit's synced write (store_commit) */
    uint64_t queue_depth;                /* commands waiting for the writer */
    uint64_t accounts;                   /* accounts committed */
    uint64_t last_seq;                   /* the newest committed event's seq (0: none) */
    uint64_t last_lsn;                   /* the newest committed record's lsn (0: none) */
    uint64_t checkpoint_lag; /* committed records the newest flushed checkpoint lacks */
    uint64_t pending_open;               /* open pending transfers, as of the last commit */
    bool read_only;
} service_metrics;

/* Any thread, while the service is allocated. Takes the queue's mutex once (for its depth)
 * and no other lock. */
void service_metrics_read(service *svc, service_metrics *out);

/* The seq of the newest committed (synced and published) event, 0 if none: every event up
 * to it can be read from the store. One atomic load (acquire); any thread, while the
 * service is allocated. The event stream (http/stream.c) never reads past it. */
uint64_t service_committed_seq(const service *svc);

/* ---- reads from committed memory ------------------------------------------------------------ */

/* A reader: one per thread that reads (each I/O thread). Freed with the service. NULL if
 * EPOCH_READERS_MAX readers exist already. */
typedef struct service_reader service_reader;
WS_MUST_USE service_reader *service_reader_new(service *svc);

/* The balance of an account as of the newest synced batch: every write acknowledged before
 * the call is seen, nothing unsynced ever is. WS_ACCOUNT_NOT_FOUND if the account does not
 * exist (or its creation is not yet synced). Takes no lock. */
WS_MUST_USE ws_status service_balance(service_reader *r, const char *id, size_t len,
                                      int64_t *balance);

/* The same, with the account's currency and limits (fixed at its creation). */
typedef struct {
    int64_t balance;
    uint64_t pending_debits; /* of the same publish as balance */
    uint64_t pending_credits;
    ws_account_params params;
} service_account;
WS_MUST_USE ws_status service_account_get(service_reader *r, const char *id, size_t len,
                                          service_account *out);

#endif
