/* The service: the command queue plus the writer thread that runs the state machine.
 *
 * Threads: service_start, service_stop and service_free on the main thread; service_submit and
 * service_read_only from any thread. Every submitted command gets exactly one done() call,
 * on the writer thread, after its outcome is durable (or final, for a refusal). */
#ifndef WS_ENGINE_SERVICE_H
#define WS_ENGINE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/command.h"
#include "store/store.h"

#define SERVICE_QUEUE_MAX_DEFAULT 65536
#define SERVICE_BATCH_MAX_DEFAULT 4096
#define SERVICE_QUEUE_MAX_LIMIT (1u << 24)
#define SERVICE_BATCH_MAX_LIMIT (1u << 16)

typedef struct service service;

typedef struct {
    size_t queue_max; /* commands waiting; past it, submit is refused with WS_OVERLOADED */
    size_t batch_max; /* commands per group commit */
} service_config;

/* Loads the state (sm_open) and starts the writer. The store must outlive the service. */
WS_MUST_USE ws_status service_start(store *st, const service_config *cfg, service **out);

/* Queues cmd. WS_OK: done(cmd) will be called later. WS_OVERLOADED: the queue is full.
 * WS_UNAVAILABLE: the service is stopping or read-only. On refusal done() is not called. */
WS_MUST_USE ws_status service_submit(service *svc, ws_command *cmd);

/* True once a commit failed; writes are refused from then on. */
bool service_read_only(service *svc);

/* Refuses new commands (service_submit answers WS_UNAVAILABLE from now on), lets the
 * writer finish and sync every queued one, and joins it. The service stays allocated: other
 * threads may still call service_submit until they are stopped too. */
void service_stop(service *svc);

/* Frees a stopped service, once no thread can call service_submit any more. */
void service_free(service *svc);

#endif
