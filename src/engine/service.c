/* The writer thread. Its loop is the state machine of sm.h made explicit:
 *
 *   LISTEN   -> wait for commands, drain up to batch_max                -> VALIDATE (or exit)
 *   VALIDATE -> decide each command; if nothing to write                -> answer, LISTEN
 *   APPLY    -> one synced log write, publish, then answer every caller -> LISTEN
 *
 * Answers go out only after APPLY, so a caller never sees an outcome that a crash could
 * take back. After each batch the writer frees what readers can no longer hold (epoch.h)
 * and tells the checkpointer how far the log has grown. */
#include "engine/service.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/epoch.h"
#include "engine/mq.h"
#include "engine/sm.h"

typedef enum { STATE_LISTEN, STATE_VALIDATE, STATE_APPLY, STATE_DONE } writer_state;

struct service_reader {
    service *svc;
    int slot;
};

/* The writer's counters for GET /metrics (single-writer, engine/stats.h). Allocated on cache
 * lines of their own: service_submit reads read_only on every write from the I/O threads,
 * and a line the writer stores to on every batch would make each of those reads a miss. */
typedef struct {
    stats_counter commands[WS_STATUS_COUNT_];
    stats_counter replays;
    stats_histogram batch_commands;
    stats_histogram commit_ns;
    stats_counter accounts; /* gauges, set after each successful commit */
    stats_counter pending_open;
} service_stats;

#define CACHE_LINE 64

/* Commands per group commit: powers of two up to the largest batch (--batch-max 65536). */
static const stats_bounds batch_bounds = {
    17, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536}};
/* The synced write, in ns: 100 us .. 1 s (an fdatasync takes ~0.5 ms on the 2-core machine;
 * past a second the disk is failing). */
static const stats_bounds commit_bounds = {13,
                                           {100000, 250000, 500000, 1000000, 2500000, 5000000,
                                            10000000, 25000000, 50000000, 100000000, 250000000,
                                            500000000, 1000000000}};

struct service {
    mq *queue;
    sm *machine;
    epoch *epoch;
    ckpt *checkpointer;
    ws_accounts *accounts;
    service_reader readers[EPOCH_READERS_MAX];
    size_t batch_max;
    ws_group **batch; /* the groups of the current batch */
    pthread_t writer;
    atomic_bool read_only;
    service_stats *stats; /* written by the writer only (and by service_start before it) */
    /* Written by the writer only; read after it is joined. */
    uint64_t batches;
    uint64_t commands;
    uint64_t commits;               /* batches that had something to write (one fsync each) */
    uint64_t stats_log_interval_us; /* 0: no periodic statistics */
};

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Counts the outcome of every command of the batch, before the answers hand the groups back
 * (after done() a group may be freed). */
static void count_outcomes(service_stats *st, ws_group **groups, size_t n) {
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < groups[i]->n; k++) {
            const ws_command *c = &groups[i]->cmds[k];
            WS_ASSERT(c->status >= 0 && c->status < WS_STATUS_COUNT_);
            stats_add(&st->commands[c->status], 1);
            if (c->replayed) {
                stats_add(&st->replays, 1);
            }
        }
    }
}

/* The gauges of the committed state, after a commit (and at start). Writer. */
static void set_gauges(service *svc) {
    stats_set(&svc->stats->accounts, sm_account_count(svc->machine));
    stats_set(&svc->stats->pending_open, sm_pending_open(svc->machine));
}

static void answer(ws_group **groups, size_t n) {
    for (size_t i = 0; i < n; i++) {
        groups[i]->done(groups[i]);
    }
}

/* The writer's statistics since its last periodic log line. */
typedef struct {
    uint64_t since_us;
    uint64_t batches;
    uint64_t commands;
    uint64_t commits;
    uint64_t commit_ns_total;
    uint64_t commit_ns_max;
} period;

/* Counts one batch into p and logs p once the interval has passed since its start: from
 * the writer, after a batch, so an idle writer logs nothing. */
static void period_batch(service *svc, period *p, uint64_t commands, bool committed) {
    if (svc->stats_log_interval_us == 0) {
        return;
    }
    uint64_t now = now_us();
    if (p->since_us == 0) {
        p->since_us = now;
    }
    p->batches++;
    p->commands += commands;
    if (committed) {
        uint64_t ns = sm_last_commit_ns(svc->machine);
        p->commits++;
        p->commit_ns_total += ns;
        p->commit_ns_max = ns > p->commit_ns_max ? ns : p->commit_ns_max;
    }
    if (now < p->since_us || now - p->since_us < svc->stats_log_interval_us) {
        return;
    }
    double secs = (double)(now - p->since_us) / 1e6;
    double mean_ms = p->commits ? (double)p->commit_ns_total / 1e6 / (double)p->commits : 0;
    ws_log(WS_LOG_INFO,
           WS_FIELDS(WS_LOG_STR("event", "batch_stats"),
                     WS_LOG_NUM("period_ms", (int64_t)((now - p->since_us) / 1000)),
                     WS_LOG_NUM("batches", p->batches), WS_LOG_NUM("commands", p->commands),
                     WS_LOG_NUM("commits", p->commits),
                     WS_LOG_NUM("commit_us_mean", (int64_t)(mean_ms * 1000)),
                     WS_LOG_NUM("commit_us_max", p->commit_ns_max / 1000),
                     WS_LOG_NUM("queue_depth", mq_depth(svc->queue))),
           "writer: %llu commands in %llu batches in %.1f s (%.1f per batch, %.0f/s), commit "
           "%.2f ms on average, %.2f ms the longest",
           (unsigned long long)p->commands, (unsigned long long)p->batches, secs,
           p->batches ? (double)p->commands / (double)p->batches : 0.0,
           secs > 0 ? (double)p->commands / secs : 0.0, mean_ms, (double)p->commit_ns_max / 1e6);
    *p = (period){.since_us = now};
}

static void *writer_main(void *arg) {
    service *svc = arg;
    pthread_setname_np(pthread_self(), "ws-writer"); /* for top -H, perf and /proc */
    period stats_period = {0};
    writer_state state = STATE_LISTEN;
    size_t n = 0;
    uint64_t commands = 0; /* of the current batch */
    while (state != STATE_DONE) {
        switch (state) {
        case STATE_LISTEN: {
            /* wake for the next pending transfer's expiry even when no command comes */
            bool timed_out;
            n = mq_pop_batch_until(svc->queue, svc->batch, svc->batch_max, svc->batch_max,
                                   sm_next_expiry(svc->machine), &timed_out);
            state = n == 0 && !timed_out ? STATE_DONE : STATE_VALIDATE;
            svc->batches += n > 0;
            commands = 0;
            for (size_t i = 0; i < n; i++) {
                commands += svc->batch[i]->n;
            }
            svc->commands += commands;
            break;
        }
        case STATE_VALIDATE:
            if (sm_validate(svc->machine, svc->batch, n, now_us())) {
                state = STATE_APPLY;
            } else {
                count_outcomes(svc->stats, svc->batch, n);
                answer(svc->batch, n);
                period_batch(svc, &stats_period, commands, false);
                state = STATE_LISTEN;
            }
            break;
        case STATE_APPLY:
            svc->commits++;
            if (sm_apply(svc->machine, svc->batch, n) != WS_OK) {
                atomic_store(&svc->read_only, true);
            } else {
                set_gauges(svc);
            }
            stats_observe(&svc->stats->batch_commands, commands);
            stats_observe(&svc->stats->commit_ns, sm_last_commit_ns(svc->machine));
            count_outcomes(svc->stats, svc->batch, n);
            answer(svc->batch, n);
            period_batch(svc, &stats_period, commands, true);
            epoch_reclaim(svc->epoch);
            ckpt_poke(svc->checkpointer, atomic_load_explicit(&sm_committed(svc->machine)->next_lsn,
                                                              memory_order_relaxed));
            state = STATE_LISTEN;
            break;
        case STATE_DONE:
            break;
        }
    }
    return NULL;
}

/* The checkpointer's failure hook: writes stop, as after a failed commit. */
static void on_checkpoint_failure(void *ctx) {
    service *svc = ctx;
    atomic_store(&svc->read_only, true);
    sm_set_read_only(svc->machine);
    ws_log(WS_LOG_ERROR,
           WS_FIELDS(WS_LOG_STR("event", "read_only"), WS_LOG_STR("cause", "checkpoint")),
           "a checkpoint failed; now read-only until restart");
}

static WS_MUST_USE ws_status start_threads(service *svc, store *st, const service_config *cfg) {
    ckpt_config cc = {.st = st,
                      .accounts = svc->accounts,
                      .epoch = svc->epoch,
                      .committed = sm_committed(svc->machine),
                      .from = *sm_loaded_checkpoint(svc->machine),
                      .interval_ms = cfg->checkpoint_interval_ms ? cfg->checkpoint_interval_ms
                                                                 : CKPT_INTERVAL_MS_DEFAULT,
                      .flush_records = cfg->checkpoint_flush_records,
                      .on_failure = on_checkpoint_failure,
                      .ctx = svc};
    if (ckpt_start(&cc, &svc->checkpointer) != WS_OK) {
        return WS_INTERNAL;
    }
    if (pthread_create(&svc->writer, NULL, writer_main, svc) != 0) {
        ckpt_stop(svc->checkpointer);
        ckpt_free(svc->checkpointer);
        return WS_INTERNAL;
    }
    return WS_OK;
}

ws_status service_start(store *st, const service_config *cfg, service **out) {
    WS_ASSERT(cfg->queue_max >= 1 && cfg->queue_max <= SERVICE_QUEUE_MAX_LIMIT);
    WS_ASSERT(cfg->batch_max >= 1 && cfg->batch_max <= SERVICE_BATCH_MAX_LIMIT);
    service *svc = calloc(1, sizeof(*svc));
    if (!svc) {
        return WS_INTERNAL;
    }
    svc->batch_max = cfg->batch_max;
    svc->stats_log_interval_us = cfg->stats_log_interval_ms * 1000;
    svc->batch = calloc(cfg->batch_max, sizeof(*svc->batch));
    size_t stats_size = (sizeof(service_stats) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    svc->stats = aligned_alloc(CACHE_LINE, stats_size);
    if (svc->stats) {
        memset(svc->stats, 0, stats_size);
        stats_histogram_init(&svc->stats->batch_commands, &batch_bounds);
        stats_histogram_init(&svc->stats->commit_ns, &commit_bounds);
    }
    svc->queue = mq_new(cfg->queue_max);
    svc->epoch = epoch_new();
    ws_status s = svc->batch && svc->stats && svc->queue && svc->epoch ? WS_OK : WS_INTERNAL;
    if (s == WS_OK) {
        s = sm_open(st, cfg->batch_max, &svc->machine);
    }
    if (s == WS_OK) {
        svc->accounts = sm_accounts(svc->machine);
        /* Readers may now be inside the table: replaced slot arrays wait for them. */
        ws_accounts_set_retire(svc->accounts, epoch_retire_hook, svc->epoch);
        set_gauges(svc); /* before the writer exists: pthread_create orders it first */
        s = start_threads(svc, st, cfg);
    }
    if (s != WS_OK) {
        sm_free(svc->machine);
        epoch_free(svc->epoch);
        mq_free(svc->queue);
        free(svc->stats);
        free(svc->batch);
        free(svc);
        return s;
    }
    *out = svc;
    return WS_OK;
}

ws_status service_submit(service *svc, ws_group *g) {
    WS_ASSERT(g->n >= 1 && g->n <= WS_GROUP_MAX);
    if (atomic_load_explicit(&svc->read_only, memory_order_relaxed)) {
        return WS_UNAVAILABLE;
    }
    return mq_push(svc->queue, g);
}

bool service_read_only(service *svc) { return atomic_load(&svc->read_only); }

void service_stop(service *svc) {
    mq_close(svc->queue);
    pthread_join(svc->writer, NULL);
    ckpt_stop(svc->checkpointer);
    ws_log(WS_LOG_INFO,
           WS_FIELDS(WS_LOG_STR("event", "writer_stats"), WS_LOG_NUM("commands", svc->commands),
                     WS_LOG_NUM("batches", svc->batches), WS_LOG_NUM("commits", svc->commits)),
           "writer: %llu commands in %llu batches (%.1f per batch), %llu synced commits",
           (unsigned long long)svc->commands, (unsigned long long)svc->batches,
           svc->batches ? (double)svc->commands / (double)svc->batches : 0.0,
           (unsigned long long)svc->commits);
    uint64_t n = ckpt_count(svc->checkpointer);
    uint64_t newest = ckpt_next_lsn(svc->checkpointer) - 1;
    ws_log(WS_LOG_INFO,
           WS_FIELDS(WS_LOG_STR("event", "checkpointer_stats"), WS_LOG_NUM("checkpoints", n),
                     WS_LOG_NUM("flushes", ckpt_flushes(svc->checkpointer)),
                     WS_LOG_NUM("lsn", newest),
                     WS_LOG_NUM("us_total", ckpt_us_total(svc->checkpointer)),
                     WS_LOG_NUM("us_max", ckpt_us_max(svc->checkpointer))),
           "checkpointer: %llu checkpoints (%llu flushes), the newest up to lsn %llu, %.1f ms "
           "each on average, %.1f ms the longest",
           (unsigned long long)n, (unsigned long long)ckpt_flushes(svc->checkpointer),
           (unsigned long long)newest,
           n ? (double)ckpt_us_total(svc->checkpointer) / 1000.0 / (double)n : 0.0,
           (double)ckpt_us_max(svc->checkpointer) / 1000.0);
}

void service_free(service *svc) {
    WS_ASSERT(mq_depth(svc->queue) == 0);
    ckpt_free(svc->checkpointer);
    sm_free(svc->machine);
    epoch_free(svc->epoch);
    mq_free(svc->queue);
    free(svc->stats);
    free(svc->batch);
    free(svc);
}

void service_metrics_read(service *svc, service_metrics *out) {
    const service_stats *st = svc->stats;
    for (int i = 0; i < WS_STATUS_COUNT_; i++) {
        out->commands[i] = stats_get(&st->commands[i]);
    }
    out->replays = stats_get(&st->replays);
    stats_histogram_read(&st->batch_commands, &out->batch_commands);
    stats_histogram_read(&st->commit_ns, &out->commit_ns);
    out->queue_depth = mq_depth(svc->queue);
    out->accounts = stats_get(&st->accounts);
    out->pending_open = stats_get(&st->pending_open);
    /* The flushed checkpoint first: it only follows the committed position, so the lag read
     * after it cannot come out negative. It is what a start after a crash replays from. */
    uint64_t checkpointed = ckpt_durable_lsn(svc->checkpointer);
    const sm_position *p = sm_committed(svc->machine);
    uint64_t next_lsn = atomic_load_explicit(&p->next_lsn, memory_order_acquire);
    uint64_t next_seq = atomic_load_explicit(&p->next_seq, memory_order_acquire);
    out->last_lsn = next_lsn - 1;
    out->last_seq = next_seq - 1;
    out->checkpoint_lag = next_lsn > checkpointed ? next_lsn - checkpointed : 0;
    out->read_only = service_read_only(svc);
}

uint64_t service_committed_seq(const service *svc) {
    return atomic_load_explicit(&sm_committed(svc->machine)->next_seq, memory_order_acquire) - 1;
}

service_reader *service_reader_new(service *svc) {
    int slot = epoch_reader_add(svc->epoch);
    if (slot < 0) {
        return NULL;
    }
    svc->readers[slot] = (service_reader){svc, slot};
    return &svc->readers[slot];
}

ws_status service_account_get(service_reader *r, const char *id, size_t len, service_account *out) {
    epoch_enter(r->svc->epoch, r->slot);
    uint32_t index = ws_accounts_read_index(r->svc->accounts, id, len);
    if (index != WS_ACCOUNT_NONE) {
        ws_accounts_read_totals(r->svc->accounts, index, &out->balance, &out->pending_debits,
                                &out->pending_credits);
        ws_accounts_params(r->svc->accounts, index, &out->params);
    }
    epoch_exit(r->svc->epoch, r->slot);
    return index != WS_ACCOUNT_NONE ? WS_OK : WS_ACCOUNT_NOT_FOUND;
}

ws_status service_balance(service_reader *r, const char *id, size_t len, int64_t *balance) {
    epoch_enter(r->svc->epoch, r->slot);
    bool found = ws_accounts_read(r->svc->accounts, id, len, balance);
    epoch_exit(r->svc->epoch, r->slot);
    return found ? WS_OK : WS_ACCOUNT_NOT_FOUND;
}
