/* A ring buffer of group pointers under one mutex. The consumer is signalled only on the
 * empty -> non-empty transition, the one moment it can be asleep. The ring has a slot for
 * every command the queue may hold, so it never fills before the command bound does. */
#include "engine/mq.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct mq {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    ws_group **ring;
    size_t capacity; /* commands, and ring slots */
    size_t head;     /* next to pop */
    size_t count;    /* groups */
    size_t commands; /* their commands */
    bool closed;
};

mq *mq_new(size_t capacity) {
    WS_ASSERT(capacity >= 1);
    mq *q = calloc(1, sizeof(*q));
    if (!q) {
        return NULL;
    }
    q->ring = calloc(capacity, sizeof(*q->ring));
    if (!q->ring) {
        free(q);
        return NULL;
    }
    q->capacity = capacity;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    return q;
}

void mq_free(mq *q) {
    if (!q) {
        return;
    }
    WS_ASSERT(q->count == 0 || q->closed);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->lock);
    free(q->ring);
    free(q);
}

ws_status mq_push(mq *q, ws_group *g) {
    WS_ASSERT(g != NULL && g->n >= 1);
    pthread_mutex_lock(&q->lock);
    ws_status s = WS_OK;
    if (q->closed) {
        s = WS_UNAVAILABLE;
    } else if (q->count == q->capacity || (q->commands > 0 && (q->commands >= q->capacity ||
                                                               g->n > q->capacity - q->commands))) {
        /* A group larger than the whole capacity is still taken into an empty queue, or a
         * batch could never pass a small --queue-max; nothing is taken beside it. */
        s = WS_OVERLOADED;
    } else {
        q->ring[(q->head + q->count) % q->capacity] = g;
        q->commands += g->n;
        if (q->count++ == 0) {
            pthread_cond_signal(&q->not_empty);
        }
    }
    pthread_mutex_unlock(&q->lock);
    return s;
}

size_t mq_pop_batch(mq *q, ws_group **out, size_t max_groups, size_t max_commands) {
    bool timed_out;
    return mq_pop_batch_until(q, out, max_groups, max_commands, 0, &timed_out);
}

size_t mq_pop_batch_until(mq *q, ws_group **out, size_t max_groups, size_t max_commands,
                          uint64_t deadline_us, bool *timed_out) {
    WS_ASSERT(max_groups >= 1);
    struct timespec ts = {.tv_sec = (time_t)(deadline_us / 1000000u),
                          .tv_nsec = (long)(deadline_us % 1000000u) * 1000};
    *timed_out = false;
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed && !*timed_out) {
        if (deadline_us == 0) {
            pthread_cond_wait(&q->not_empty, &q->lock);
        } else {
            *timed_out = pthread_cond_timedwait(&q->not_empty, &q->lock, &ts) == ETIMEDOUT;
        }
    }
    *timed_out = *timed_out && q->count == 0 && !q->closed;
    size_t n = 0;
    size_t commands = 0;
    while (n < q->count && n < max_groups &&
           (n == 0 || commands + q->ring[q->head]->n <= max_commands)) {
        out[n] = q->ring[q->head];
        commands += out[n++]->n;
        q->head = (q->head + 1) % q->capacity;
    }
    q->count -= n;
    q->commands -= commands;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void mq_close(mq *q) {
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

size_t mq_depth(mq *q) {
    pthread_mutex_lock(&q->lock);
    size_t n = q->commands;
    pthread_mutex_unlock(&q->lock);
    return n;
}
