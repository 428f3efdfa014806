/* A ring buffer of command pointers under one mutex. The consumer is signalled only on the
 * empty -> non-empty transition, the one moment it can be asleep. */
#include "engine/mq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct mq {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    ws_command **ring;
    size_t capacity;
    size_t head; /* next to pop */
    size_t count;
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

ws_status mq_push(mq *q, ws_command *cmd) {
    WS_ASSERT(cmd != NULL);
    pthread_mutex_lock(&q->lock);
    ws_status s = WS_OK;
    if (q->closed) {
        s = WS_UNAVAILABLE;
    } else if (q->count == q->capacity) {
        s = WS_OVERLOADED;
    } else {
        q->ring[(q->head + q->count) % q->capacity] = cmd;
        if (q->count++ == 0) {
            pthread_cond_signal(&q->not_empty);
        }
    }
    pthread_mutex_unlock(&q->lock);
    return s;
}

size_t mq_pop_batch(mq *q, ws_command **out, size_t max) {
    WS_ASSERT(max >= 1);
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed) {
        pthread_cond_wait(&q->not_empty, &q->lock);
    }
    size_t n = q->count < max ? q->count : max;
    for (size_t i = 0; i < n; i++) {
        out[i] = q->ring[q->head];
        q->head = (q->head + 1) % q->capacity;
    }
    q->count -= n;
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
    size_t n = q->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}
