/* The bounded multi-producer, single-consumer queue of command groups (core/command.h): the
 * only crossing point between the I/O threads and the writer. A mutex and one condition
 * variable; producers never block (a full queue is refused at once, which the http layer
 * turns into 503), the consumer sleeps while the queue is empty, so an idle service uses no
 * CPU. FIFO. The bound counts commands, not groups: a batch of 8,190 transfers weighs as
 * much as 8,190 single ones. */
#ifndef WS_ENGINE_MQ_H
#define WS_ENGINE_MQ_H

#include <stddef.h>

#include "core/command.h"

typedef struct mq mq;

/* capacity: the most commands queued at once, >= 1. NULL on out of memory. */
WS_MUST_USE mq *mq_new(size_t capacity);
/* Frees the queue; it must be empty or closed with no thread inside. */
void mq_free(mq *q);

/* Any thread. WS_OK: queued. WS_OVERLOADED: its commands do not fit beside those queued (a
 * group larger than the capacity is taken only into an empty queue). WS_UNAVAILABLE:
 * closed. */
WS_MUST_USE ws_status mq_push(mq *q, ws_group *g);

/* The consumer. Blocks until a group is queued, then moves groups, oldest first, into out
 * (room for max_groups) while their commands add up to at most max_commands; the first group
 * is taken whatever its size, and a group is never split. Returns the number of groups, 0
 * only when the queue is closed and empty. */
size_t mq_pop_batch(mq *q, ws_group **out, size_t max_groups, size_t max_commands);
/* The same, but waits no later than deadline_us (CLOCK_REALTIME, us since the epoch; 0: no
 * deadline): then returns 0 with *timed_out set (the queue is not closed). */
size_t mq_pop_batch_until(mq *q, ws_group **out, size_t max_groups, size_t max_commands,
                          uint64_t deadline_us, bool *timed_out);

/* Any thread. Refuses further pushes; the consumer drains what is queued, then gets 0. */
void mq_close(mq *q);

/* Commands queued. */
size_t mq_depth(mq *q);

#endif
