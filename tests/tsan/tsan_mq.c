/* ThreadSanitizer test of engine/mq: many producers race one consumer through a small
 * queue, so pushes meet a full queue and the consumer sleeps and wakes often. Checks that
 * nothing is lost, duplicated or reordered per producer, and that closing the queue while
 * producers still push refuses the rest cleanly: the consumer gets exactly the accepted
 * commands, then 0. Every wait is bounded. */
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "engine/mq.h"

enum { PRODUCERS = 8, PER_PRODUCER = 20000, CAPACITY = 64, BATCH = 16 };
#define DEADLINE_MS 120000u

typedef struct {
    mq *q;
    size_t index;
    ws_command *cmds;
    size_t pushed;        /* accepted pushes */
    ws_status stopped_by; /* WS_OK if all were pushed, else the refusal that ended it */
    uint64_t deadline_ms;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    for (size_t i = 0; i < PER_PRODUCER; i++) {
        ws_status s;
        for (uint64_t tries = 0; (s = mq_push(p->q, &p->cmds[i])) == WS_OVERLOADED; tries++) {
            if (tries % 1024 == 1023 && now_ms() > p->deadline_ms) {
                p->stopped_by = WS_OVERLOADED;
                return NULL;
            }
            sched_yield();
        }
        if (s != WS_OK) {
            p->stopped_by = s;
            return NULL;
        }
        p->pushed++;
    }
    return NULL;
}

typedef struct {
    mq *q;
    size_t next[PRODUCERS];
    size_t received;
    bool bad; /* out of order, duplicate, unknown or an oversized batch */
} consumer;

static void *consume(void *arg) {
    consumer *c = arg;
    ws_command *out[BATCH];
    size_t n;
    while ((n = mq_pop_batch(c->q, out, BATCH)) != 0) {
        if (n > BATCH) {
            c->bad = true;
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            size_t pid = (size_t)(out[i]->amount >> 32);
            size_t idx = (size_t)(out[i]->amount & 0xFFFFFFFFu);
            if (pid >= PRODUCERS || idx != c->next[pid]) {
                c->bad = true;
                continue;
            }
            c->next[pid]++;
            c->received++;
        }
    }
    return NULL;
}

/* Runs PRODUCERS producers and one consumer. With close_early the queue is closed while
 * the producers are (most likely) still pushing; the checks hold whatever the timing. */
static void run(bool close_early) {
    ws_command *cmds = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof(*cmds));
    CHECK(cmds != NULL, "out of memory");
    mq *q = mq_new(CAPACITY);
    CHECK(q != NULL, "mq_new");
    uint64_t deadline = now_ms() + DEADLINE_MS;
    producer prods[PRODUCERS];
    for (size_t p = 0; p < PRODUCERS; p++) {
        prods[p] = (producer){.q = q,
                              .index = p,
                              .cmds = cmds + p * PER_PRODUCER,
                              .stopped_by = WS_OK,
                              .deadline_ms = deadline};
        for (size_t i = 0; i < PER_PRODUCER; i++) {
            prods[p].cmds[i].kind = WS_CMD_TRANSFER;
            prods[p].cmds[i].amount = (uint64_t)p << 32 | i;
        }
    }
    consumer cons = {.q = q};
    pthread_t ct;
    pthread_t pt[PRODUCERS];
    CHECK(pthread_create(&ct, NULL, consume, &cons) == 0, "pthread_create");
    for (size_t p = 0; p < PRODUCERS; p++) {
        CHECK(pthread_create(&pt[p], NULL, produce, &prods[p]) == 0, "pthread_create");
    }
    if (close_early) {
        sleep_ms(20);
        mq_close(q);
    }
    for (size_t p = 0; p < PRODUCERS; p++) {
        CHECK(join_within(pt[p], DEADLINE_MS), "producer %zu stuck", p);
    }
    if (!close_early) {
        mq_close(q);
    }
    CHECK(join_within(ct, DEADLINE_MS), "consumer did not finish after close");

    size_t pushed = 0;
    for (size_t p = 0; p < PRODUCERS; p++) {
        if (!close_early) {
            CHECK(prods[p].stopped_by == WS_OK, "producer %zu stopped by %d", p,
                  prods[p].stopped_by);
        } else {
            CHECK(prods[p].stopped_by == WS_OK || prods[p].stopped_by == WS_UNAVAILABLE,
                  "producer %zu stopped by %d", p, prods[p].stopped_by);
        }
        CHECK(cons.next[p] == prods[p].pushed, "producer %zu: %zu pushed, %zu received", p,
              prods[p].pushed, cons.next[p]);
        pushed += prods[p].pushed;
    }
    CHECK(!cons.bad, "a command was lost, duplicated or reordered");
    CHECK(cons.received == pushed, "%zu received of %zu pushed", cons.received, pushed);
    if (!close_early) {
        CHECK(pushed == (size_t)PRODUCERS * PER_PRODUCER, "%zu pushed", pushed);
    }
    CHECK(mq_depth(q) == 0, "queue not drained");
    ws_command extra = {.kind = WS_CMD_TRANSFER};
    CHECK(mq_push(q, &extra) == WS_UNAVAILABLE, "push after close accepted");
    printf("tsan_mq: %s: %zu commands through the queue\n",
           close_early ? "closed while pushing" : "closed after pushing", pushed);
    mq_free(q);
    free(cmds);
}

int main(void) {
    run(false);
    run(true);
    return 0;
}
