/* The bounded multi-producer, single-consumer command queue: the only crossing point
 * between the I/O threads and the writer. A mutex and one condition variable; producers
 * never block (a full queue is refused at once, which the http layer turns into 503), the
 * consumer sleeps while the queue is empty, so an idle service uses no CPU. FIFO. */
#ifndef WS_ENGINE_MQ_H
#define WS_ENGINE_MQ_H

#include <stddef.h>

#include "core/command.h"

typedef struct mq mq;

/* capacity >= 1. NULL on out of memory. */
WS_MUST_USE mq *mq_new(size_t capacity);
/* Frees the queue; it must be empty or closed with no thread inside. */
void mq_free(mq *q);

/* Any thread. WS_OK: queued. WS_OVERLOADED: full. WS_UNAVAILABLE: closed. */
WS_MUST_USE ws_status mq_push(mq *q, ws_command *cmd);

/* The consumer. Blocks until at least one command is queued, then moves up to max of them,
 * oldest first, into out. Returns 0 only when the queue is closed and empty. */
size_t mq_pop_batch(mq *q, ws_command **out, size_t max);

/* Any thread. Refuses further pushes; the consumer drains what is queued, then gets 0. */
void mq_close(mq *q);

size_t mq_depth(mq *q);

#endif
